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

/// `rusa test core` ran: records Model Core Tested. The model's project fingerprint is a
/// plain hash of the project's content, so it is only sent through the install's keyed
/// hash (see `rusa_telemetry`); until that is wired, `project` is left null.
pub fn core_model_tested(num_story_steps: usize, end_to_end: bool, _project_fingerprint: &str) {
    rusa_telemetry::track_core_model_test(num_story_steps as u64, end_to_end, None);
}

/// `rusa test nlu` ran: records Model NLU Tested with counts of the test data.
pub fn nlu_model_tested(data: &rusa_project::NluData) {
    rusa_telemetry::track_nlu_model_test(rusa_telemetry::NluTestStats {
        num_intent_examples: data.examples.len() as u64,
        num_entity_examples: data.entity_examples().count() as u64,
        num_lookup_tables: data.lookups.len() as u64,
        num_synonyms: data.synonyms.len() as u64,
        num_regexes: data.regexes.len() as u64,
    });
}
