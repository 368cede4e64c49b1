//! Binary-side glue for usage telemetry: starts it for a command and maps the binary's plain
//! values to `rusa-telemetry` events. Commands call the functions here, never the telemetry
//! crate's delivery machinery.

use rusa_telemetry::{ErrorReportingGuard, Telemetry};

use crate::cli::Command;

/// Telemetry and crash reporting of this run. Dropping it (at the end of `main`, after the
/// output is written) gives delivery at most 50 ms, spools the rest and flushes crash reports.
pub struct Session {
    // Dropped in declaration order: crash reports first, then events.
    _errors: Option<ErrorReportingGuard>,
    _telemetry: Option<Telemetry>,
}

/// Starts telemetry for `command`. `rusa telemetry ...` manages telemetry itself and
/// `rusa completions` reports nothing, so neither starts it (no first-run file, no notice).
pub fn start(command: &Command) -> Session {
    match command {
        Command::Telemetry(_) | Command::Completions(_) => Session {
            _errors: None,
            _telemetry: None,
        },
        _ => {
            let telemetry = rusa_telemetry::initialize_telemetry();
            let errors = rusa_telemetry::initialize_error_reporting();
            Session {
                _errors: errors,
                _telemetry: Some(telemetry),
            }
        }
    }
}

/// `rusa data validate` reached its verdict: records Training Data Validated.
#[allow(dead_code)] // called from commands/data.rs once `data validate` is wired
pub fn validated(success: bool) {
    rusa_telemetry::track_validate_files(success);
}

/// `rusa init` wrote a project into `dir`: records Project Created (with a keyed hash of the
/// path, never the path).
pub fn project_created(dir: &std::path::Path) {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    rusa_telemetry::track_project_init(&absolute);
}
