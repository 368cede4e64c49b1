//! What `rusa telemetry status|enable|disable|show|reset` does, as library functions that
//! return values; the binary only prints them.

use std::fmt;

use serde_json::Value;

use crate::config::TelemetryConfig;
use crate::consent::{self, Consent, Rule};
use crate::env;
use crate::error::{Result, TelemetryError};
use crate::state;
use crate::telemetry::{Mode, Telemetry};

/// The state shown by `rusa telemetry status`.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub consent: Consent,
    /// global.yml, shown with `~` for the home directory.
    pub config_path: Option<String>,
    /// Whether a write key is configured (without one nothing can be sent).
    pub write_key_configured: bool,
    pub debug: bool,
    pub pending_events: usize,
    pub sent_events: usize,
    rule_text: String,
}

/// Decides consent as a command would, without creating any file.
pub fn status(config: &TelemetryConfig) -> StatusReport {
    let consent = consent::resolve(config, false).consent;
    let rule_text = match &consent.rule {
        Rule::ConfigFile { path } | Rule::FirstRun { path } => {
            format!("metrics.enabled in {}", config.display_path(path))
        }
        Rule::RasaConfigFile { path } => format!(
            "Rasa's telemetry is disabled in {} (`rasa telemetry disable`), so rusa's is too; `rasa telemetry enable`, or RUSA_TELEMETRY_ENABLED=true, lifts it",
            config.display_path(path)
        ),
        Rule::CorruptConfig { path, reason } => {
            format!(
                "{} cannot be parsed ({reason}); `rusa telemetry enable|disable` rewrites it",
                config.display_path(path)
            )
        }
        Rule::NoConfigYet { path: Some(path) } => format!(
            "no {} yet: the next command that reports usage creates it, shows a notice, and sends nothing in that run",
            config.display_path(path)
        ),
        Rule::Unwritable {
            path: Some(path),
            reason,
        } => format!("{} is not usable ({reason})", config.display_path(path)),
        other => other.to_string(),
    };
    StatusReport {
        config_path: config
            .config_file
            .as_deref()
            .map(|p| config.display_path(p)),
        write_key_configured: config.write_key.is_some(),
        debug: config.debug,
        pending_events: state::pending(config).len(),
        sent_events: state::sent(config).len(),
        rule_text,
        consent,
    }
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.consent.enabled {
            "enabled"
        } else if matches!(self.consent.rule, Rule::NoConfigYet { .. }) {
            "not enabled yet"
        } else {
            "disabled"
        };
        writeln!(f, "Usage telemetry: {state}")?;
        writeln!(f, "Decided by: {}", self.rule_text)?;
        writeln!(
            f,
            "Config file: {}",
            self.config_path
                .as_deref()
                .unwrap_or("none (no HOME or XDG_CONFIG_HOME)")
        )?;
        if self.write_key_configured {
            writeln!(f, "Write key: configured")?;
        } else {
            writeln!(
                f,
                "Write key: none: this build sends nothing (set {} to send)",
                env::RUSA_TELEMETRY_WRITE_KEY
            )?;
        }
        if self.debug {
            writeln!(
                f,
                "Debug mode: on ({}): events are printed to stderr, never sent",
                env::RUSA_TELEMETRY_DEBUG
            )?;
        }
        writeln!(
            f,
            "Events waiting: {}; events sent (kept locally): {}",
            self.pending_events, self.sent_events
        )?;
        if self.consent.decided_by_environment() {
            writeln!(
                f,
                "To change it: unset or change the environment variable above."
            )
        } else if self.consent.enabled {
            writeln!(
                f,
                "To turn it off: `rusa telemetry disable`, or set RUSA_TELEMETRY_ENABLED=false or DO_NOT_TRACK=1."
            )
        } else {
            writeln!(f, "To turn it on: `rusa telemetry enable`.")
        }
    }
}

/// What `enable` or `disable` did.
#[derive(Debug, Clone)]
pub struct ToggleOutcome {
    /// Whether Telemetry Disabled was recorded and went out (disable only).
    pub disabled_event: DisabledEvent,
    /// The consent after the change (an environment variable may still override the file).
    pub consent_now: Consent,
}

/// Telemetry Disabled: whether it was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisabledEvent {
    /// Telemetry was not enabled: nothing is sent.
    NotApplicable,
    /// Recorded and delivered within the budget.
    Sent,
    /// Recorded but not delivered within the budget (dropped with the spool).
    NotDelivered,
    /// Printed in debug mode, not sent.
    Printed,
    /// No write key: nothing is sent.
    NoWriteKey,
}

/// `rusa telemetry enable`: `enabled: true`, creating the id when missing. Sends nothing.
pub fn enable(config: &TelemetryConfig) -> Result<ToggleOutcome> {
    let path = config
        .config_file
        .as_deref()
        .ok_or(TelemetryError::NoConfigDir)?;
    consent::toggle_telemetry_reporting(path, true)?;
    Ok(ToggleOutcome {
        disabled_event: DisabledEvent::NotApplicable,
        consent_now: consent::resolve(config, false).consent,
    })
}

/// `rusa telemetry disable`: when telemetry is enabled at this moment, records Telemetry
/// Disabled and gives it `budget` to go out; then writes `enabled: false` and deletes the spool.
pub fn disable(config: &TelemetryConfig, budget: std::time::Duration) -> Result<ToggleOutcome> {
    let path = config
        .config_file
        .as_deref()
        .ok_or(TelemetryError::NoConfigDir)?;
    let disabled_event = if consent::resolve(config, false).consent.enabled {
        let telemetry = Telemetry::start(config.clone());
        match telemetry.mode() {
            Mode::Send => {
                if telemetry.send_disabled_and_stop(budget) {
                    DisabledEvent::Sent
                } else {
                    DisabledEvent::NotDelivered
                }
            }
            Mode::Debug => {
                telemetry.send_disabled_and_stop(budget);
                DisabledEvent::Printed
            }
            Mode::NoWriteKey => DisabledEvent::NoWriteKey,
            Mode::Off => DisabledEvent::NotApplicable,
        }
    } else {
        DisabledEvent::NotApplicable
    };
    consent::toggle_telemetry_reporting(path, false)?;
    state::clear_spool(config)?;
    Ok(ToggleOutcome {
        disabled_event,
        consent_now: consent::resolve(config, false).consent,
    })
}

/// `rusa telemetry reset`: new id and hash key (when global.yml exists); deletes the spool
/// and the sent log. Returns whether a file was reset.
pub fn reset(config: &TelemetryConfig) -> Result<bool> {
    let path = config
        .config_file
        .as_deref()
        .ok_or(TelemetryError::NoConfigDir)?;
    let reset = consent::reset(path)?.is_some();
    state::clear_spool(config)?;
    state::clear_sent(config)?;
    Ok(reset)
}

/// The events waiting in the spool, exactly as they will go over the wire.
pub fn pending_events(config: &TelemetryConfig) -> Vec<Value> {
    state::pending(config)
}

/// The last events sent (kept locally, capped at 1 MiB), exactly as they went over the wire.
pub fn sent_events(config: &TelemetryConfig) -> Vec<Value> {
    state::sent(config)
}
