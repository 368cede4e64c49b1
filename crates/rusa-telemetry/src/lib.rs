//! Anonymous usage telemetry and crash reporting for rusa.
//!
//! What it is for: deciding consent (global.yml and the environment), describing every event
//! in one registry, delivering events to a Segment-compatible endpoint without ever slowing a
//! command, keeping the spool and the log of sent events that `rusa telemetry show` prints,
//! and reporting panics to a Sentry-compatible endpoint, scrubbed.
//!
//! What it is not: it knows nothing of dialogue, projects or models. Callers pass plain
//! values (counts, names, booleans); the binary maps its data to them. The specification is
//! `shared/spec/telemetry.md`; each public item names the function of the Python original's
//! `rasa.telemetry` module it corresponds to.

mod config;
mod consent;
mod context;
mod control;
mod delivery;
mod error;
mod error_reporting;
mod lockfile;
mod payload;
mod state;
mod telemetry;

pub mod env;
pub mod events;
#[cfg(any(test, feature = "test-support"))]
pub mod testing;

pub use config::{DeliveryMode, TelemetryConfig};
pub use consent::{
    Consent, FIRST_RUN_NOTICE, GlobalConfig, Rule, decide_from_environment,
    print_telemetry_reporting_info, read_global, resolve as resolve_consent,
};
pub use context::{
    build_context, git_remote_url, in_continuous_integration, keyed_hash,
    with_default_context_fields,
};
pub use control::{
    DisabledEvent, StatusReport, ToggleOutcome, disable, enable, pending_events, reset,
    sent_events, status,
};
pub use error::TelemetryError;
pub use error_reporting::{
    Scrubber, USER_ERROR_TAG, before_send, crate_relative_path, filter_errors,
    initialize_error_reporting, initialize_error_reporting_with, report_internal_error,
    strip_sensitive_data_from_sentry_event,
};
pub use events::{
    ConvertDataType, Event, ModelType, NluTestStats, OutputFormat, ServerStart, TrainingStats,
};
pub use payload::{batch_body, segment_request_header, segment_request_payload};
/// Keeps crash reporting alive; dropping it flushes pending reports (bounded).
pub use sentry::ClientInitGuard as ErrorReportingGuard;
pub use state::{Backoff, load_backoff};
pub use telemetry::{
    DEBUG_MARKER, Mode, Telemetry, TelemetryHandle, TrainingGuard, consent, get_telemetry_id,
    initialize_server_telemetry, initialize_telemetry, is_telemetry_enabled, print_telemetry_event,
    sentry_dsn, telemetry_write_key, track, track_core_model_test, track_data_convert,
    track_data_split, track_interactive_learning_start, track_model_training, track_nlu_model_test,
    track_project_init, track_server_start, track_shell_started, track_telemetry_disabled,
    track_tracker_export, track_validate_files, track_visualization,
};

/// Sets `metrics.enabled` in global.yml (seed: `toggle_telemetry_reporting`).
pub fn toggle_telemetry_reporting(enabled: bool) -> Result<GlobalConfig, TelemetryError> {
    let config = TelemetryConfig::from_env();
    let path = config.config_file.ok_or(TelemetryError::NoConfigDir)?;
    consent::toggle_telemetry_reporting(&path, enabled)
}
