//! The telemetry handle of a process: consent decided once, events recorded cheaply on the
//! calling thread and handed to delivery, a flush within the exit budget when it is dropped.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::config::{DeliveryMode, TelemetryConfig};
use crate::consent::{self, Consent, GlobalConfig, Rule};
use crate::context::keyed_hash;
use crate::delivery::{MessageFactory, Queue, Recorded};
use crate::env;
use crate::events::{
    ConvertDataType, Event, ModelType, NluTestStats, OutputFormat, ServerStart, TrainingStats,
};

/// What this process does with a recorded event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Consent is off (or this is the first run): recording costs nothing and does nothing.
    Off,
    /// Debug mode: each payload is printed to stderr; nothing is sent, spooled or connected.
    Debug,
    /// Consent is on but no write key is configured: nothing is sent.
    NoWriteKey,
    /// Events are delivered.
    Send,
}

#[derive(Debug)]
struct Inner {
    config: TelemetryConfig,
    consent: Consent,
    global: Option<GlobalConfig>,
    mode: Mode,
    factory: Option<Arc<MessageFactory>>,
    queue: Option<Arc<Queue>>,
}

/// The telemetry of this process (seed: the state behind `initialize_telemetry`). Dropping
/// it flushes: a CLI waits at most 50 ms and spools the rest; a server at most 2 s.
#[derive(Debug)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

/// A cheap clone of the process's telemetry for other threads; dropping it does nothing.
#[derive(Debug, Clone)]
pub struct TelemetryHandle {
    inner: Arc<Inner>,
}

static GLOBAL: OnceLock<Arc<Inner>> = OnceLock::new();

/// Reads or creates global.yml, decides consent, starts delivery, and makes the result the
/// process's telemetry for the `track_*` functions (seed: `initialize_telemetry`). Prints the
/// first-run notice (stderr) when this run created the file; nothing is sent in that run.
pub fn initialize_telemetry() -> Telemetry {
    let telemetry = Telemetry::start(TelemetryConfig::from_env());
    let _ = GLOBAL.set(Arc::clone(&telemetry.inner));
    telemetry
}

/// [`initialize_telemetry`] for a long-running server: events are sent every minute
/// ([`env::SERVER_FLUSH_INTERVAL`]) and dropping the handle at graceful shutdown waits at
/// most 2 s ([`env::SERVER_SHUTDOWN_BUDGET`]).
pub fn initialize_server_telemetry() -> Telemetry {
    let mut config = TelemetryConfig::from_env();
    config.mode = DeliveryMode::Server {
        flush_interval: env::SERVER_FLUSH_INTERVAL,
    };
    let telemetry = Telemetry::start(config);
    let _ = GLOBAL.set(Arc::clone(&telemetry.inner));
    telemetry
}

impl Telemetry {
    /// Starts telemetry with an explicit configuration (not registered for the `track_*`
    /// functions; tests and embedders use this).
    pub fn start(config: TelemetryConfig) -> Self {
        let resolved = consent::resolve(&config, true);
        if let Some(warning) = &resolved.warning {
            tracing::warn!("{warning}");
        }
        if matches!(resolved.consent.rule, Rule::FirstRun { .. }) {
            consent::print_telemetry_reporting_info();
        }
        Self::from_parts(config, resolved.consent, resolved.global)
    }

    fn from_parts(config: TelemetryConfig, consent: Consent, global: Option<GlobalConfig>) -> Self {
        let mode = match &global {
            Some(_) if consent.may_send_this_run() => {
                if config.debug {
                    Mode::Debug
                } else if config.write_key.is_none() {
                    Mode::NoWriteKey
                } else {
                    Mode::Send
                }
            }
            _ => Mode::Off,
        };
        let factory = match (&global, mode) {
            (Some(g), Mode::Debug | Mode::Send) => Some(Arc::new(MessageFactory::new(
                config.clone(),
                g.rusa_user_id.clone(),
                g.hash_key.clone(),
            ))),
            _ => None,
        };
        let queue = match (mode, &factory) {
            (Mode::Send, Some(f)) => Some(Queue::start(Arc::clone(f))),
            _ => None,
        };
        Self {
            inner: Arc::new(Inner {
                config,
                consent,
                global,
                mode,
                factory,
                queue,
            }),
        }
    }

    /// A handle for other threads.
    pub fn handle(&self) -> TelemetryHandle {
        TelemetryHandle {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Records an event (seed: the body of every `@ensure_telemetry_enabled` function): a
    /// no-op when telemetry is off.
    pub fn track(&self, event: Event) {
        self.inner.track(event);
    }

    /// Like [`Telemetry::track`], but builds the event only when telemetry is on.
    pub fn track_with(&self, make: impl FnOnce() -> Event) {
        if matches!(self.inner.mode, Mode::Debug | Mode::Send) {
            self.inner.track(make());
        }
    }

    /// The consent of this process and the rule that decided it.
    pub fn consent(&self) -> &Consent {
        &self.inner.consent
    }

    /// What this process does with events.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The install's telemetry id, when telemetry is enabled.
    pub fn telemetry_id(&self) -> Option<&str> {
        self.inner.telemetry_id()
    }

    /// Events dropped because the in-memory queue was full.
    pub fn dropped_events(&self) -> u64 {
        self.inner.queue.as_ref().map_or(0, |q| q.dropped())
    }

    /// Waits up to `timeout` for delivery; true when nothing is left undelivered.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.queue.as_ref().is_none_or(|q| q.flush(timeout))
    }

    /// Records Telemetry Disabled (when telemetry is on), gives it `budget` to go out, and
    /// stops delivery without spooling. For `rusa telemetry disable`. True when it went out.
    pub fn send_disabled_and_stop(self, budget: Duration) -> bool {
        self.track(Event::telemetry_disabled());
        let delivered = self.inner.queue.as_ref().is_none_or(|q| q.abandon(budget));
        std::mem::forget(self);
        delivered
    }

    /// Records Training Started and returns a guard that records Completed or Failed
    /// (seed: `track_model_training`).
    pub fn track_model_training(
        &self,
        stats: &TrainingStats,
        model_type: ModelType,
        is_finetuning: bool,
    ) -> TrainingGuard {
        TrainingGuard::start(self.handle(), stats, model_type, is_finetuning)
    }

    /// Records Project Created with the keyed hash of `path` (seed: `track_project_init`).
    pub fn track_project_init(&self, path: &Path) {
        if let Some(g) = self.inner.active_global() {
            self.track(Event::project_created(&keyed_hash(
                &g.hash_key,
                &path.to_string_lossy(),
            )));
        }
    }
}

impl TelemetryHandle {
    /// Records an event; see [`Telemetry::track`].
    pub fn track(&self, event: Event) {
        self.inner.track(event);
    }
}

impl Inner {
    fn track(&self, event: Event) {
        match self.mode {
            Mode::Off | Mode::NoWriteKey => {}
            Mode::Send => {
                if let Some(queue) = &self.queue {
                    queue.push(Recorded {
                        event,
                        at: SystemTime::now(),
                    });
                }
            }
            Mode::Debug => {
                if let Some(factory) = &self.factory {
                    print_telemetry_event(&factory.message(&Recorded {
                        event,
                        at: SystemTime::now(),
                    }));
                }
            }
        }
    }

    fn telemetry_id(&self) -> Option<&str> {
        self.global
            .as_ref()
            .filter(|_| self.consent.enabled)
            .map(|g| g.rusa_user_id.as_str())
    }

    /// The install's hash key (empty when telemetry is off: nothing is recorded then).
    fn hash_key(&self) -> &str {
        self.global.as_ref().map_or("", |g| g.hash_key.as_str())
    }

    fn active_global(&self) -> Option<&GlobalConfig> {
        self.global
            .as_ref()
            .filter(|_| matches!(self.mode, Mode::Debug | Mode::Send))
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(queue) = &self.inner.queue {
            let budget = match self.inner.config.mode {
                DeliveryMode::Cli => self
                    .inner
                    .config
                    .exit_budget
                    .saturating_sub(env::SPOOL_RESERVE),
                DeliveryMode::Server { .. } => env::SERVER_SHUTDOWN_BUDGET,
            };
            let dropped = queue.dropped();
            if dropped > 0 {
                tracing::debug!(
                    dropped,
                    "telemetry events dropped: the in-memory queue was full"
                );
            }
            let spooled = queue.shutdown(budget);
            if spooled > 0 {
                tracing::debug!(spooled, "telemetry events spooled for a later run");
            }
        }
    }
}

/// The marker line printed before each payload in debug mode.
pub const DEBUG_MARKER: &str = "rusa telemetry (debug mode, not sent):";

/// Prints a payload to stderr as pretty JSON (seed: `print_telemetry_event`).
pub fn print_telemetry_event(payload: &Value) {
    let pretty = serde_json::to_string_pretty(payload).expect("JSON values serialize");
    eprintln!("{DEBUG_MARKER}\n{pretty}");
}

/// Records Training Started when made, then exactly one Training Completed or Training
/// Failed: [`TrainingGuard::completed`], [`TrainingGuard::failed`], or Failed with
/// `error_code: "aborted"` when dropped unfinished (an early return or a panic).
#[derive(Debug)]
pub struct TrainingGuard {
    telemetry: TelemetryHandle,
    training_id: String,
    model_type: ModelType,
    started: Instant,
    finished: bool,
}

impl TrainingGuard {
    fn start(
        telemetry: TelemetryHandle,
        stats: &TrainingStats,
        model_type: ModelType,
        is_finetuning: bool,
    ) -> Self {
        let training_id = uuid::Uuid::new_v4().simple().to_string();
        telemetry.track(Event::training_started(
            stats,
            &training_id,
            model_type,
            is_finetuning,
        ));
        Self {
            telemetry,
            training_id,
            model_type,
            started: Instant::now(),
            finished: false,
        }
    }

    /// The id joining Started with Completed/Failed.
    pub fn training_id(&self) -> &str {
        &self.training_id
    }

    /// Records Training Completed.
    pub fn completed(mut self) {
        self.finished = true;
        self.telemetry.track(Event::training_completed(
            &self.training_id,
            self.model_type,
            self.started.elapsed(),
        ));
    }

    /// Records Training Failed with a stable error code (never message text).
    pub fn failed(mut self, error_code: &'static str) {
        self.finished = true;
        self.telemetry.track(Event::training_failed(
            &self.training_id,
            self.model_type,
            self.started.elapsed(),
            error_code,
        ));
    }
}

impl Drop for TrainingGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.telemetry.track(Event::training_failed(
                &self.training_id,
                self.model_type,
                self.started.elapsed(),
                "aborted",
            ));
        }
    }
}

fn global() -> Option<&'static Arc<Inner>> {
    GLOBAL.get()
}

/// Records an event with the process's telemetry; a no-op before [`initialize_telemetry`]
/// or when telemetry is off.
pub fn track(event: Event) {
    if let Some(inner) = global() {
        inner.track(event);
    }
}

/// The process's telemetry when it records events (debug or send mode).
fn active() -> Option<&'static Arc<Inner>> {
    global().filter(|inner| matches!(inner.mode, Mode::Debug | Mode::Send))
}

/// Builds the event only when telemetry is on: with telemetry off, a call costs one check.
fn track_lazy(make: impl FnOnce() -> Event) {
    if let Some(inner) = active() {
        inner.track(make());
    }
}

/// The consent of this process (after [`initialize_telemetry`]), else decided from the
/// environment and global.yml without creating anything.
pub fn consent() -> Consent {
    match global() {
        Some(inner) => inner.consent.clone(),
        None => consent::resolve(&TelemetryConfig::from_env(), false).consent,
    }
}

/// Whether usage reporting is enabled (seed: `is_telemetry_enabled`).
pub fn is_telemetry_enabled() -> bool {
    consent().enabled
}

/// The install's telemetry id when telemetry is enabled (seed: `get_telemetry_id`).
pub fn get_telemetry_id() -> Option<String> {
    match global() {
        Some(inner) => inner.telemetry_id().map(str::to_owned),
        None => {
            let resolved = consent::resolve(&TelemetryConfig::from_env(), false);
            resolved
                .global
                .filter(|_| resolved.consent.enabled)
                .map(|g| g.rusa_user_id)
        }
    }
}

/// The Segment write key: `RUSA_TELEMETRY_WRITE_KEY`, else the one baked in at build time
/// (seed: `telemetry_write_key`).
pub fn telemetry_write_key() -> Option<String> {
    TelemetryConfig::from_env().write_key
}

/// The Sentry DSN: `RUSA_SENTRY_DSN`, else the one baked in at build time (seed: `sentry_write_key`).
pub fn sentry_dsn() -> Option<String> {
    TelemetryConfig::from_env().sentry_dsn
}

/// Records Training Started and returns the guard for Completed/Failed (seed: `track_model_training`).
pub fn track_model_training(
    stats: &TrainingStats,
    model_type: ModelType,
    is_finetuning: bool,
) -> Option<TrainingGuard> {
    global().map(|inner| {
        TrainingGuard::start(
            TelemetryHandle {
                inner: Arc::clone(inner),
            },
            stats,
            model_type,
            is_finetuning,
        )
    })
}

/// Records Telemetry Disabled (seed: `track_telemetry_disabled`).
pub fn track_telemetry_disabled() {
    track_lazy(Event::telemetry_disabled);
}

/// Records Training Data Split (seed: `track_data_split`).
pub fn track_data_split(fraction: f64, data_type: ModelType) {
    track_lazy(|| Event::training_data_split(fraction, data_type));
}

/// Records Training Data Validated (seed: `track_validate_files`).
pub fn track_validate_files(validation_success: bool) {
    track_lazy(|| Event::training_data_validated(validation_success));
}

/// Records Training Data Converted (seed: `track_data_convert`).
pub fn track_data_convert(output_format: OutputFormat, data_type: ConvertDataType) {
    track_lazy(|| Event::training_data_converted(output_format, data_type));
}

/// Records Tracker Exported with the types of store and broker (seed: `track_tracker_export`).
pub fn track_tracker_export(
    number_of_exported_events: u64,
    tracker_store: &str,
    event_broker: &str,
) {
    track_lazy(|| Event::tracker_exported(event_broker, tracker_store, number_of_exported_events));
}

/// Records Interactive Learning Started (seed: `track_interactive_learning_start`).
pub fn track_interactive_learning_start(skip_visualization: bool, save_in_e2e: bool) {
    track_lazy(|| Event::interactive_learning_started(skip_visualization, save_in_e2e));
}

/// Records Server Started (seed: `track_server_start`). `start.project` is the served
/// model's project fingerprint; it is sent only as a keyed hash.
pub fn track_server_start(start: &ServerStart) {
    if let Some(inner) = active() {
        let mut start = start.clone();
        start.project = start.project.map(|f| keyed_hash(inner.hash_key(), &f));
        inner.track(Event::server_started(&start));
    }
}

/// Records Project Created with the keyed hash of `path` (seed: `track_project_init`).
pub fn track_project_init(path: &Path) {
    if let Some(g) = global().and_then(|inner| inner.active_global()) {
        track(Event::project_created(&keyed_hash(
            &g.hash_key,
            &path.to_string_lossy(),
        )));
    }
}

/// Records Shell Started (seed: `track_shell_started`).
pub fn track_shell_started(model_type: ModelType) {
    track_lazy(|| Event::shell_started(model_type));
}

/// Records Story Visualization Started (seed: `track_visualization`).
pub fn track_visualization() {
    track_lazy(Event::story_visualization_started);
}

/// Records Model Core Tested (seed: `track_core_model_test`). `model_fingerprint` is the
/// model's project fingerprint as stored in the model; it is sent only as a keyed hash
/// (HMAC-SHA256 with the install's hash key), never as it is.
pub fn track_core_model_test(num_story_steps: u64, e2e: bool, model_fingerprint: Option<&str>) {
    if let Some(inner) = active() {
        let project = model_fingerprint.map(|f| keyed_hash(inner.hash_key(), f));
        inner.track(Event::model_core_tested(
            project.as_deref(),
            num_story_steps,
            e2e,
        ));
    }
}

/// Records Model NLU Tested (seed: `track_nlu_model_test`).
pub fn track_nlu_model_test(stats: NluTestStats) {
    track_lazy(|| Event::model_nlu_tested(stats));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off_config(dir: &Path) -> TelemetryConfig {
        let mut c = TelemetryConfig::from_lookup(|_| None);
        c.config_file = Some(dir.join("global.yml"));
        c.state_dir = Some(dir.join("state"));
        c.do_not_track = Some("1".into());
        c
    }

    #[test]
    fn opted_out_telemetry_is_off_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::start(off_config(dir.path()));
        assert_eq!(t.mode(), Mode::Off);
        t.track(Event::training_data_validated(true));
        drop(t);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn training_guard_dropped_unfinished_counts_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let t = Telemetry::start(off_config(dir.path()));
        let guard = t.track_model_training(&TrainingStats::default(), ModelType::Rasa, false);
        assert_eq!(guard.training_id().len(), 32);
        drop(guard);
    }
}
