//! Every environment variable this crate reads, with its meaning and default, in one place.
//!
//! `docs/telemetry.md` carries the table made by [`markdown_table`]; a test fails when the
//! page and this list disagree.

use std::time::Duration;

/// Any value `1` or `true` turns telemetry off (rule 1 of the decision table).
pub const DO_NOT_TRACK: &str = "DO_NOT_TRACK";
/// `true` (case-insensitive) turns telemetry on, any other value off (rule 2).
pub const RUSA_TELEMETRY_ENABLED: &str = "RUSA_TELEMETRY_ENABLED";
/// Anything but `true` turns telemetry off: Rasa's opt-out is respected (rule 3).
pub const RASA_TELEMETRY_ENABLED: &str = "RASA_TELEMETRY_ENABLED";
/// `true`: print each payload to stderr; send, spool and connect nothing.
pub const RUSA_TELEMETRY_DEBUG: &str = "RUSA_TELEMETRY_DEBUG";

/// Base URL of the Segment-compatible API; events go to `{endpoint}/v1/batch`.
pub const RUSA_TELEMETRY_ENDPOINT: &str = "RUSA_TELEMETRY_ENDPOINT";
/// Default of [`RUSA_TELEMETRY_ENDPOINT`]: the public Segment API.
pub const DEFAULT_ENDPOINT: &str = "https://api.segment.io";

/// Segment write key; without one (and without a key baked in at build time) nothing is sent.
pub const RUSA_TELEMETRY_WRITE_KEY: &str = "RUSA_TELEMETRY_WRITE_KEY";
/// The write key baked in at build time (`RUSA_TELEMETRY_WRITE_KEY` set when compiling).
pub const BUILD_WRITE_KEY: Option<&str> = option_env!("RUSA_TELEMETRY_WRITE_KEY");

/// DSN of the Sentry-compatible endpoint for crash reports.
pub const RUSA_SENTRY_DSN: &str = "RUSA_SENTRY_DSN";
/// The DSN baked in at build time (`RUSA_SENTRY_DSN` set when compiling).
pub const BUILD_SENTRY_DSN: Option<&str> = option_env!("RUSA_SENTRY_DSN");

/// A license of a licensed edition; when set, its SHA-256 is reported as `license_hash`.
pub const RUSA_LICENSE: &str = "RUSA_LICENSE";

/// Base directory of global.yml: `$XDG_CONFIG_HOME/rusa/global.yml`.
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
/// Base directory of the spool, the sent log and the back-off state.
pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
/// Used when the XDG variables are not set (`~/.config`, `~/.local/state`); also scrubbed
/// from crash reports.
pub const HOME: &str = "HOME";
/// User name, scrubbed from crash reports.
pub const USER: &str = "USER";
/// User name (alternative), scrubbed from crash reports.
pub const LOGNAME: &str = "LOGNAME";

/// Proxy variables honoured by the HTTP client (with their lowercase forms).
pub const PROXY_VARIABLES: &[&str] = &["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"];

/// Variables whose presence (whatever the value) means "running in CI" (§4).
pub const CI_VARIABLES: &[&str] = &[
    "CI",
    "CONTINUOUS_INTEGRATION",
    "BUILD_ID",
    "BUILD_NUMBER",
    "BUILDKITE",
    "CIRCLECI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "HUDSON_URL",
    "JENKINS_URL",
    "TEAMCITY_VERSION",
    "TRAVIS",
    "TF_BUILD",
    "bamboo.buildKey",
    "CODEBUILD_BUILD_ARN",
    "CODEBUILD_BUILD_ID",
    "CODEBUILD_BATCH_BUILD_IDENTIFIER",
];

/// How long a CLI command waits for delivery at exit before spooling the rest.
pub const CLI_EXIT_BUDGET: Duration = Duration::from_millis(50);
/// Part of the exit budget kept for writing the spool: delivery is waited for at most
/// `CLI_EXIT_BUDGET - SPOOL_RESERVE`, so waiting plus spooling stays within the budget.
pub const SPOOL_RESERVE: Duration = Duration::from_millis(5);
/// How long `rusa telemetry disable` gives Telemetry Disabled to go out.
pub const DISABLE_BUDGET: Duration = Duration::from_millis(500);
/// The long-running server flushes on this interval.
pub const SERVER_FLUSH_INTERVAL: Duration = Duration::from_secs(60);
/// The long-running server waits at most this long at graceful shutdown.
pub const SERVER_SHUTDOWN_BUDGET: Duration = Duration::from_secs(2);
/// Longest wait for `global.yml.lock` or `state.lock` held by another process; then
/// telemetry is off for the run (global.yml) or the spool is not written (state).
pub const LOCK_WAIT: Duration = Duration::from_secs(1);
/// global.yml larger than this is not read (it is a few hundred bytes when rusa writes it).
pub const CONFIG_MAX_BYTES: u64 = 64 * 1024;
/// Connect timeout of one delivery request.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(1500);
/// Timeout of one whole delivery request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// Events waiting in memory; when full, new events are dropped and counted.
pub const QUEUE_CAPACITY: usize = 1000;
/// Most messages in one batch request.
pub const MAX_BATCH_LEN: usize = 100;
/// Upper bound of the spool on disk.
pub const SPOOL_MAX_BYTES: u64 = 1024 * 1024;
/// Spooled events older than this are deleted unsent.
pub const SPOOL_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Upper bound of the local log of sent events.
pub const SENT_LOG_MAX_BYTES: u64 = 1024 * 1024;
/// Consecutive failed deliveries before back-off starts.
pub const BACKOFF_AFTER_FAILURES: u32 = 3;
/// First back-off delay; it doubles on each further failure.
pub const BACKOFF_INITIAL: Duration = Duration::from_secs(15 * 60);
/// Longest back-off delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(24 * 60 * 60);
/// A `Retry-After` longer than this is not waited for in this run (the event is spooled).
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);

/// One environment variable of the registry.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The variable's name.
    pub name: &'static str,
    /// What it does.
    pub meaning: &'static str,
    /// What applies when it is not set.
    pub default: &'static str,
}

/// Every variable this crate reads.
pub const ENV_VARS: &[EnvVar] = &[
    EnvVar {
        name: DO_NOT_TRACK,
        meaning: "`1` or `true`: telemetry off (rule 1, wins over everything)",
        default: "not set",
    },
    EnvVar {
        name: RUSA_TELEMETRY_ENABLED,
        meaning: "`true` (any case): on; any other value: off (rule 2)",
        default: "not set: rules 3–5 decide",
    },
    EnvVar {
        name: RASA_TELEMETRY_ENABLED,
        meaning: "anything but `true`: off, so an opt-out from Rasa carries over (rule 3)",
        default: "not set",
    },
    EnvVar {
        name: RUSA_TELEMETRY_DEBUG,
        meaning: "`true`: print each payload to stderr; nothing is sent or spooled, no socket is opened",
        default: "`false`",
    },
    EnvVar {
        name: RUSA_TELEMETRY_ENDPOINT,
        meaning: "base URL of the Segment-compatible API (`{endpoint}/v1/batch`)",
        default: "`https://api.segment.io`",
    },
    EnvVar {
        name: RUSA_TELEMETRY_WRITE_KEY,
        meaning: "Segment write key; without a key nothing is sent",
        default: "the key baked in at build time, else none",
    },
    EnvVar {
        name: RUSA_SENTRY_DSN,
        meaning: "DSN for crash reports; without one no crash is reported",
        default: "the DSN baked in at build time, else none",
    },
    EnvVar {
        name: RUSA_LICENSE,
        meaning: "license of a licensed edition; its SHA-256 is sent as `license_hash`",
        default: "not set: no `license_hash`",
    },
    EnvVar {
        name: XDG_CONFIG_HOME,
        meaning: "directory of `rusa/global.yml` (consent, id, hash key)",
        default: "`~/.config`",
    },
    EnvVar {
        name: XDG_STATE_HOME,
        meaning: "directory of `rusa/telemetry/` (spool, sent log, back-off state)",
        default: "`~/.local/state`",
    },
    EnvVar {
        name: HOME,
        meaning: "home directory for the defaults above; scrubbed from crash reports",
        default: "none: telemetry is off",
    },
    EnvVar {
        name: USER,
        meaning: "user name, only read to scrub it from crash reports",
        default: "`LOGNAME`",
    },
    EnvVar {
        name: LOGNAME,
        meaning: "user name, only read to scrub it from crash reports",
        default: "not set",
    },
    EnvVar {
        name: "HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY",
        meaning: "proxy for delivery, and hosts that bypass it (lowercase forms too)",
        default: "no proxy",
    },
    EnvVar {
        name: "CI, CONTINUOUS_INTEGRATION, BUILD_ID, BUILD_NUMBER, BUILDKITE, CIRCLECI, GITHUB_ACTIONS, GITLAB_CI, HUDSON_URL, JENKINS_URL, TEAMCITY_VERSION, TRAVIS, TF_BUILD, bamboo.buildKey, CODEBUILD_BUILD_ARN, CODEBUILD_BUILD_ID, CODEBUILD_BATCH_BUILD_IDENTIFIER",
        meaning: "present (any value): events carry `ci: true`; crash reports use environment `development`",
        default: "not set: `ci: false`",
    },
];

/// The Markdown table of [`ENV_VARS`] for `docs/telemetry.md`.
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | meaning | default |\n|---|---|---|\n");
    for var in ENV_VARS {
        let names: Vec<String> = var.name.split(", ").map(|n| format!("`{n}`")).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            names.join(", "),
            var.meaning,
            var.default
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ci_variable_is_documented() {
        let ci_row = ENV_VARS
            .iter()
            .find(|v| v.name.starts_with("CI, "))
            .expect("ci row");
        let listed: Vec<&str> = ci_row.name.split(", ").collect();
        assert_eq!(listed, CI_VARIABLES);
    }

    #[test]
    fn table_has_one_row_per_entry() {
        assert_eq!(markdown_table().lines().count(), ENV_VARS.len() + 2);
    }
}
