//! `rusa telemetry [status|enable|disable|show|reset]`: the state of usage telemetry and why,
//! and every event waiting or sent. Results go to stdout; notes to stderr.

use std::io::Write;

use anyhow::Context;
use rusa_telemetry::{DisabledEvent, Rule, TelemetryConfig, TelemetryError};
use serde_json::{Value, json};

use crate::cli::{TelemetryArgs, TelemetryCommand, TelemetryShowArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: TelemetryArgs) -> anyhow::Result<Outcome> {
    let config = TelemetryConfig::from_env();
    let mut out = std::io::stdout().lock();
    match args.command.unwrap_or(TelemetryCommand::Status) {
        TelemetryCommand::Status => write!(out, "{}", rusa_telemetry::status(&config))?,
        TelemetryCommand::Enable => {
            let outcome = rusa_telemetry::enable(&config).map_err(user_error)?;
            writeln!(out, "Usage telemetry enabled in {}.", config_path(&config))?;
            if !outcome.consent_now.enabled {
                eprintln!(
                    "note: telemetry stays off because of {}",
                    outcome.consent_now.rule
                );
            }
        }
        TelemetryCommand::Disable => {
            let outcome = rusa_telemetry::disable(&config, rusa_telemetry::env::DISABLE_BUDGET)
                .map_err(user_error)?;
            writeln!(
                out,
                "Usage telemetry disabled in {}; events waiting to be sent were deleted.",
                config_path(&config)
            )?;
            match outcome.disabled_event {
                DisabledEvent::Sent => eprintln!("note: sent the Telemetry Disabled event"),
                DisabledEvent::NotDelivered => {
                    eprintln!(
                        "note: the Telemetry Disabled event could not be sent in time and was discarded"
                    )
                }
                DisabledEvent::Printed => eprintln!(
                    "note: debug mode: the Telemetry Disabled event was printed, not sent"
                ),
                DisabledEvent::NoWriteKey | DisabledEvent::NotApplicable => {}
            }
            if outcome.consent_now.enabled
                && let Rule::RusaTelemetryEnabled { .. } = outcome.consent_now.rule
            {
                eprintln!(
                    "note: telemetry stays on because of {}",
                    outcome.consent_now.rule
                );
            }
        }
        TelemetryCommand::Show(show_args) => show(&mut out, &config, &show_args)?,
        TelemetryCommand::Reset => {
            let reset = rusa_telemetry::reset(&config).map_err(user_error)?;
            if reset {
                writeln!(
                    out,
                    "New anonymous id and hash key written to {}; local event logs deleted.",
                    config_path(&config)
                )?;
            } else {
                writeln!(
                    out,
                    "No {} yet: nothing to reset; local event logs deleted.",
                    config_path(&config)
                )?;
            }
        }
    }
    Ok(Outcome::Success)
}

fn config_path(config: &TelemetryConfig) -> String {
    config
        .config_file
        .as_deref()
        .map(|p| config.display_path(p))
        .unwrap_or_else(|| "global.yml".to_owned())
}

fn user_error(err: TelemetryError) -> anyhow::Error {
    match err {
        TelemetryError::NoConfigDir => UserError::new(
            "cannot change telemetry settings: no configuration directory (set HOME or XDG_CONFIG_HOME)",
        )
        .into(),
        other => anyhow::Error::new(other).context("cannot change telemetry settings"),
    }
}

fn show(
    out: &mut impl Write,
    config: &TelemetryConfig,
    args: &TelemetryShowArgs,
) -> anyhow::Result<()> {
    let both = !args.pending && !args.sent;
    let pending = (both || args.pending).then(|| rusa_telemetry::pending_events(config));
    let sent = (both || args.sent).then(|| rusa_telemetry::sent_events(config));
    if args.json {
        let mut doc = serde_json::Map::new();
        if let Some(p) = pending {
            doc.insert("pending".into(), Value::Array(p));
        }
        if let Some(s) = sent {
            doc.insert("sent".into(), Value::Array(s));
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&json!(doc)).context("cannot format events")?
        )?;
        return Ok(());
    }
    if let Some(p) = pending {
        writeln!(out, "Waiting to be sent: {}", p.len())?;
        for m in &p {
            writeln!(out, "  {}", line(m))?;
        }
    }
    if let Some(s) = sent {
        writeln!(out, "Sent (kept locally, newest last): {}", s.len())?;
        for m in &s {
            writeln!(out, "  {}", line(m))?;
        }
    }
    if both {
        writeln!(out, "Use --json for the exact payloads.")?;
    }
    Ok(())
}

fn line(message: &Value) -> String {
    format!(
        "{}  {}  {}",
        message["timestamp"].as_str().unwrap_or("?"),
        message["event"].as_str().unwrap_or("?"),
        message["properties"]
    )
}
