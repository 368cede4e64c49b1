//! Error reporting (§7): panics go to a Sentry-compatible endpoint with the official `sentry`
//! crate, only with consent and a DSN, scrubbed of paths, the home and working directories
//! and the user name. Errors a user caused are never reported.

use std::sync::Arc;

use sentry::protocol::{Event, Level};
use serde_json::Value;

use crate::config::TelemetryConfig;

/// The tag that marks an event as caused by the user's input; such events are dropped.
pub const USER_ERROR_TAG: &str = "user_error";

/// What must never appear in a report: the home directory, the working directory and the
/// user name of this process.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    home: Option<String>,
    cwd: Option<String>,
    user: Option<String>,
}

impl Scrubber {
    /// From the values of a configuration (see [`TelemetryConfig::from_env`]).
    pub fn from_config(config: &TelemetryConfig) -> Self {
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map(|p| p.to_string_lossy().trim_end_matches('/').to_owned())
                .filter(|p| p.len() > 1)
        };
        Self {
            home: path(&config.home),
            cwd: path(&config.cwd),
            user: config.user_name.clone().filter(|u| !u.is_empty()),
        }
    }

    fn secrets(&self) -> impl Iterator<Item = &str> {
        [
            self.cwd.as_deref(),
            self.home.as_deref(),
            self.user.as_deref(),
        ]
        .into_iter()
        .flatten()
    }

    fn scrub_text(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Some(cwd) = &self.cwd {
            out = out.replace(cwd.as_str(), "<cwd>");
        }
        if let Some(home) = &self.home {
            out = out.replace(home.as_str(), "~");
        }
        if let Some(user) = &self.user {
            out = out.replace(user.as_str(), "<user>");
        }
        out
    }

    fn leaks(&self, text: &str) -> bool {
        self.secrets().any(|s| text.contains(s))
    }
}

/// A path made relative to its crate: `crates/rusa-core/src/x.rs`, `<dependency>/src/x.rs`,
/// `library/std/src/x.rs`; other absolute paths keep their last two components.
pub fn crate_relative_path(path: &str) -> String {
    if !path.starts_with('/') && !path.contains(":\\") {
        return path.to_owned();
    }
    if let Some(i) = path.rfind("/crates/") {
        return path[i + 1..].to_owned();
    }
    for marker in ["/registry/src/", "/git/checkouts/"] {
        if let Some(i) = path.find(marker) {
            // Skip the registry index (or checkout) directory.
            let rest = &path[i + marker.len()..];
            if let Some(j) = rest.find('/') {
                return rest[j + 1..].to_owned();
            }
        }
    }
    if let Some(i) = path.find("/library/") {
        return path[i + 1..].to_owned();
    }
    let parts: Vec<&str> = path.rsplit('/').filter(|p| !p.is_empty()).take(2).collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

fn scrub_value(value: Value, scrubber: &Scrubber, key: Option<&str>) -> Value {
    match value {
        Value::String(s) => {
            let s = match key {
                Some("abs_path" | "filename") => crate_relative_path(&s),
                _ => s,
            };
            Value::String(scrubber.scrub_text(&s))
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| scrub_value(v, scrubber, None))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(k, _)| {
                    !matches!(
                        k.as_str(),
                        "vars" | "pre_context" | "context_line" | "post_context"
                    )
                })
                .map(|(k, v)| {
                    let v = scrub_value(v, scrubber, Some(&k));
                    (scrubber.scrub_text(&k), v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// Drops events that must not be reported (seed: `filter_errors`): anything below error
/// level, and errors the user caused (tagged [`USER_ERROR_TAG`]).
pub fn filter_errors(event: Event<'static>) -> Option<Event<'static>> {
    if event.level < Level::Error || event.tags.contains_key(USER_ERROR_TAG) {
        return None;
    }
    Some(event)
}

/// Removes everything sensitive (seed: `strip_sensitive_data_from_sentry_event`): no user,
/// request, breadcrumbs, extra data or local variables; paths made crate-relative; the home
/// directory, working directory and user name replaced everywhere, messages included. An
/// event that still contains any of them, or cannot be rebuilt, is dropped.
pub fn strip_sensitive_data_from_sentry_event(
    mut event: Event<'static>,
    scrubber: &Scrubber,
) -> Option<Event<'static>> {
    event.user = None;
    event.request = None;
    event.breadcrumbs = Default::default();
    event.extra.clear();
    let value = serde_json::to_value(&event).ok()?;
    let scrubbed = scrub_value(value, scrubber, None);
    let text = serde_json::to_string(&scrubbed).ok()?;
    if scrubber.leaks(&text) {
        tracing::debug!("crash report dropped: it could not be scrubbed");
        return None;
    }
    serde_json::from_value(scrubbed).ok()
}

/// [`filter_errors`] then [`strip_sensitive_data_from_sentry_event`] (seed: `before_send`).
pub fn before_send(event: Event<'static>, scrubber: &Scrubber) -> Option<Event<'static>> {
    filter_errors(event).and_then(|e| strip_sensitive_data_from_sentry_event(e, scrubber))
}

/// Sets up crash reporting for this process when telemetry is enabled and a DSN is
/// configured (seed: `initialize_error_reporting`). Keep the guard alive for the whole run.
pub fn initialize_error_reporting() -> Option<sentry::ClientInitGuard> {
    // Nothing leaves the process in the run that showed the first-run notice.
    if !crate::telemetry::consent().may_send_this_run() {
        return None;
    }
    let id = crate::telemetry::get_telemetry_id()?;
    initialize_error_reporting_with(&TelemetryConfig::from_env(), &id)
}

/// [`initialize_error_reporting`] with an explicit configuration and telemetry id (the
/// caller has checked consent).
pub fn initialize_error_reporting_with(
    config: &TelemetryConfig,
    telemetry_id: &str,
) -> Option<sentry::ClientInitGuard> {
    let dsn: sentry::types::Dsn = config.sentry_dsn.as_deref()?.parse().ok()?;
    let scrubber = Scrubber::from_config(config);
    let debug = config.debug;
    let mut options = sentry::ClientOptions::default();
    options.dsn = Some(dsn);
    options.release = Some(format!("rusa@{}", config.app_version).into());
    options.environment = Some(
        if config.in_ci {
            "development"
        } else {
            "production"
        }
        .into(),
    );
    options.server_name = Some(telemetry_id.to_owned().into());
    options.send_default_pii = false;
    options.max_breadcrumbs = 0;
    options.attach_stacktrace = true;
    options.in_app_include = vec!["rusa"];
    options.before_send = Some(Arc::new(move |event| {
        let event = before_send(event, &scrubber)?;
        if debug {
            let payload = serde_json::to_value(&event).unwrap_or(Value::Null);
            eprintln!(
                "rusa crash report (debug mode, not sent):\n{}",
                serde_json::to_string_pretty(&payload).unwrap_or_default()
            );
            return None;
        }
        Some(event)
    }));
    Some(sentry::init(options))
}

/// Reports an unexpected internal error (never one the user caused).
pub fn report_internal_error(error: &(dyn std::error::Error + 'static)) {
    sentry::capture_error(error);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sentry::protocol::{Exception, Frame, Stacktrace};

    fn scrubber() -> Scrubber {
        Scrubber {
            home: Some("/home/canaryuser".into()),
            cwd: Some("/home/canaryuser/proj".into()),
            user: Some("canaryuser".into()),
        }
    }

    proptest::proptest! {
        #[test]
        fn relative_paths_never_panic_and_never_start_with_a_slash(path in "/?([a-z.]{0,6}/){0,8}[a-z.]{0,6}") {
            let out = crate_relative_path(&path);
            proptest::prop_assert!(!out.starts_with('/') || !path.starts_with('/'), "{out}");
        }
    }

    #[test]
    fn paths_become_crate_relative() {
        assert_eq!(
            crate_relative_path("/home/x/w/crates/rusa-core/src/a.rs"),
            "crates/rusa-core/src/a.rs"
        );
        assert_eq!(
            crate_relative_path(
                "/home/x/.cargo/registry/src/index.crates.io-1/serde-1.0.0/src/de.rs"
            ),
            "serde-1.0.0/src/de.rs"
        );
        assert_eq!(
            crate_relative_path("/rustc/abc/library/std/src/panicking.rs"),
            "library/std/src/panicking.rs"
        );
        assert_eq!(crate_relative_path("/opt/x/y/z.rs"), "y/z.rs");
        assert_eq!(crate_relative_path("src/main.rs"), "src/main.rs");
    }

    #[test]
    fn home_cwd_and_user_are_scrubbed_everywhere() {
        let mut event = Event::new();
        event.level = Level::Fatal;
        event.message = Some("cannot read /home/canaryuser/proj/data/nlu.yml as canaryuser".into());
        event.exception.values.push(Exception {
            ty: "panic".into(),
            value: Some("at /home/canaryuser/other".into()),
            stacktrace: Some(Stacktrace {
                frames: vec![Frame {
                    abs_path: Some("/home/canaryuser/proj/crates/rusa/src/main.rs".into()),
                    filename: Some("/home/canaryuser/proj/crates/rusa/src/main.rs".into()),
                    vars: [("secret".to_owned(), "x".into())].into_iter().collect(),
                    ..Frame::default()
                }],
                ..Stacktrace::default()
            }),
            ..Exception::default()
        });
        let out = before_send(event, &scrubber()).expect("kept");
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains("canaryuser"), "{text}");
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("crates/rusa/src/main.rs"), "{text}");
        assert!(text.contains("<cwd>/data/nlu.yml"), "{text}");
    }

    #[test]
    fn user_errors_and_low_levels_are_dropped() {
        let mut event = Event::new();
        event.level = Level::Error;
        event.tags.insert(USER_ERROR_TAG.into(), "true".into());
        assert!(filter_errors(event).is_none());
        let mut event = Event::new();
        event.level = Level::Warning;
        assert!(filter_errors(event).is_none());
        let mut event = Event::new();
        event.level = Level::Error;
        assert!(filter_errors(event).is_some());
    }
}
