//! Where telemetry keeps its files, where it sends, and the environment it decides on —
//! resolved once from the environment, every item injectable for tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::env;

/// How the sender paces delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryMode {
    /// A CLI command: send as soon as events arrive, wait at most `exit_budget` at exit.
    Cli,
    /// A long-running server: send every `flush_interval`, wait at most `shutdown_budget`
    /// at graceful shutdown.
    Server { flush_interval: Duration },
}

/// Everything the telemetry of one process depends on.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// global.yml; `None` when there is no config directory (telemetry off).
    pub config_file: Option<PathBuf>,
    /// Rasa's own global.yml (`~/.config/rasa/global.yml`, as Rasa finds it): a user who ran
    /// `rasa telemetry disable` is opted out of rusa's telemetry too.
    pub rasa_config_file: Option<PathBuf>,
    /// Directory of the spool, the sent log and the back-off state.
    pub state_dir: Option<PathBuf>,
    /// Base URL of the Segment-compatible API.
    pub endpoint: String,
    /// Segment write key; `None`: nothing is sent.
    pub write_key: Option<String>,
    /// Sentry DSN; `None`: no crash reports.
    pub sentry_dsn: Option<String>,
    /// Debug mode (§3).
    pub debug: bool,
    /// `RUSA_LICENSE`, hashed into `license_hash`.
    pub license: Option<String>,
    /// Raw value of `DO_NOT_TRACK`.
    pub do_not_track: Option<String>,
    /// Raw value of `RUSA_TELEMETRY_ENABLED`.
    pub rusa_telemetry_enabled: Option<String>,
    /// Raw value of `RASA_TELEMETRY_ENABLED`.
    pub rasa_telemetry_enabled: Option<String>,
    /// Whether a CI variable is present.
    pub in_ci: bool,
    /// The working directory (hashed into `directory`, its git remote into `project`).
    pub cwd: Option<PathBuf>,
    /// Home directory and user name: only used to scrub them from crash reports.
    pub home: Option<PathBuf>,
    pub user_name: Option<String>,
    /// Version reported as `rusa` in the context.
    pub app_version: String,
    /// How long a CLI command waits at exit.
    pub exit_budget: Duration,
    /// Capacity of the in-memory queue.
    pub queue_capacity: usize,
    /// CLI or server pacing.
    pub mode: DeliveryMode,
}

impl TelemetryConfig {
    /// Resolves the configuration from the process environment (see [`crate::env`]).
    pub fn from_env() -> Self {
        let mut config = Self::from_lookup(|name| std::env::var(name).ok());
        config.cwd = std::env::current_dir().ok();
        config
    }

    /// Resolves the configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let home = non_empty(env::HOME).map(PathBuf::from);
        let config_base = non_empty(env::XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".config")));
        let state_base = non_empty(env::XDG_STATE_HOME)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| home.as_ref().map(|h| h.join(".local").join("state")));
        Self {
            config_file: config_base.map(|b| b.join("rusa").join("global.yml")),
            rasa_config_file: home
                .as_ref()
                .map(|h| h.join(".config").join("rasa").join("global.yml")),
            state_dir: state_base.map(|b| b.join("rusa").join("telemetry")),
            endpoint: non_empty(env::RUSA_TELEMETRY_ENDPOINT)
                .unwrap_or_else(|| env::DEFAULT_ENDPOINT.to_owned())
                .trim_end_matches('/')
                .to_owned(),
            write_key: non_empty(env::RUSA_TELEMETRY_WRITE_KEY).or_else(|| {
                env::BUILD_WRITE_KEY
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
            }),
            sentry_dsn: non_empty(env::RUSA_SENTRY_DSN).or_else(|| {
                env::BUILD_SENTRY_DSN
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
            }),
            debug: lookup(env::RUSA_TELEMETRY_DEBUG).is_some_and(|v| is_true(&v)),
            license: non_empty(env::RUSA_LICENSE),
            do_not_track: lookup(env::DO_NOT_TRACK),
            rusa_telemetry_enabled: lookup(env::RUSA_TELEMETRY_ENABLED),
            rasa_telemetry_enabled: lookup(env::RASA_TELEMETRY_ENABLED),
            in_ci: env::CI_VARIABLES.iter().any(|v| lookup(v).is_some()),
            cwd: None,
            home,
            user_name: non_empty(env::USER).or_else(|| non_empty(env::LOGNAME)),
            app_version: env!("CARGO_PKG_VERSION").to_owned(),
            exit_budget: env::CLI_EXIT_BUDGET,
            queue_capacity: env::QUEUE_CAPACITY,
            mode: DeliveryMode::Cli,
        }
    }

    /// The batch URL: `{endpoint}/v1/batch`.
    pub fn batch_url(&self) -> String {
        format!("{}/v1/batch", self.endpoint)
    }

    /// `path` with the home directory shown as `~`, for messages to the user.
    pub fn display_path(&self, path: &Path) -> String {
        if let Some(home) = &self.home
            && let Ok(rest) = path.strip_prefix(home)
        {
            return format!("~/{}", rest.display());
        }
        path.display().to_string()
    }

    pub(crate) fn spool_dir(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join("spool"))
    }

    pub(crate) fn sent_log(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join("sent.jsonl"))
    }

    pub(crate) fn backoff_file(&self) -> Option<PathBuf> {
        self.state_dir.as_ref().map(|d| d.join("backoff.json"))
    }
}

/// `true` in any letter case.
pub(crate) fn is_true(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("true")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> TelemetryConfig {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        TelemetryConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn xdg_directories_win_over_home() {
        let c = config(&[
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/c"),
            ("XDG_STATE_HOME", "/s"),
        ]);
        assert_eq!(
            c.config_file.as_deref(),
            Some(Path::new("/c/rusa/global.yml"))
        );
        assert_eq!(c.state_dir.as_deref(), Some(Path::new("/s/rusa/telemetry")));
        let c = config(&[("HOME", "/h")]);
        assert_eq!(
            c.config_file.as_deref(),
            Some(Path::new("/h/.config/rusa/global.yml"))
        );
        assert_eq!(
            c.state_dir.as_deref(),
            Some(Path::new("/h/.local/state/rusa/telemetry"))
        );
    }

    #[test]
    fn relative_xdg_is_ignored_and_no_home_means_no_file() {
        let c = config(&[("XDG_CONFIG_HOME", "relative")]);
        assert!(c.config_file.is_none());
    }

    #[test]
    fn endpoint_default_and_override() {
        assert_eq!(config(&[]).batch_url(), "https://api.segment.io/v1/batch");
        let c = config(&[("RUSA_TELEMETRY_ENDPOINT", "http://127.0.0.1:9/")]);
        assert_eq!(c.batch_url(), "http://127.0.0.1:9/v1/batch");
    }

    #[test]
    fn ci_is_detected_by_presence() {
        assert!(config(&[("bamboo.buildKey", "")]).in_ci);
        assert!(!config(&[]).in_ci);
    }
}
