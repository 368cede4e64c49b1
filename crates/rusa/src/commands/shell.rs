//! `rusa shell` (talk to the assistant) and `rusa shell nlu` (see how messages are parsed).
//!
//! Reads one message per line from stdin, a terminal or a pipe. In a terminal it shows a
//! prompt; buttons are numbered and typing the number sends the button's payload. `/stop`
//! or end of input (Ctrl-D) ends the session. A conversation runs on the message processor
//! of `rusa run`, in process, with the tracker store, lock store, event broker and action
//! server of `--endpoints` (none: in memory).

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use rusa_core::agent::Agent;
use rusa_core::responses::BotMessage;
use rusa_server::Incoming;
use serde_json::Value;

use super::serving::{self, BROKER_FLUSH_BUDGET};
use crate::cli::{ShellArgs, ShellCommon, ShellPart};
use crate::error::{Outcome, UserError};

pub fn run(args: ShellArgs) -> anyhow::Result<Outcome> {
    match args.part {
        None => talk(&args.common),
        Some(ShellPart::Nlu(common)) => parse_lines(&common),
    }
}

fn load(common: &ShellCommon) -> anyhow::Result<Agent> {
    Agent::load(&common.model).map_err(|e| {
        UserError::new(serving::error_chain(&e))
            .with_hint("train a model with `rusa train`, or name one with --model")
            .into()
    })
}

/// How long the shell waits for the action server.
const ACTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `rusa shell nlu`: prints each parse in the `/model/parse` JSON shape.
fn parse_lines(common: &ShellCommon) -> anyhow::Result<Outcome> {
    let agent = load(common)?;
    if agent.nlu.is_none() {
        return Err(UserError::new(
            "the model has no NLU pipeline (it was trained with `rusa train core`)",
        )
        .into());
    }
    crate::usage::shell_started(rusa_telemetry::ModelType::Nlu);
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "NLU model loaded. Type a message and press enter to parse it (/stop or Ctrl-D to exit)."
        );
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    prompt(&mut out, interactive)?;
    for line in stdin.lock().lines() {
        let line = line?;
        let text = line.trim();
        if text == "/stop" {
            break;
        }
        if !text.is_empty() {
            // The `/model/parse` shape: the parse and the text, without message id or metadata.
            let mut parse = rusa_core::processor::shortcut_parse(&agent.dialogue.domain, text)
                .unwrap_or_else(|| agent.parse(text));
            if let Some(obj) = parse.as_object_mut() {
                obj.insert("text".into(), Value::String(text.to_owned()));
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&parse)?)?;
        }
        prompt(&mut out, interactive)?;
    }
    Ok(Outcome::Success)
}

/// `rusa shell`: a conversation with the assistant.
fn talk(common: &ShellCommon) -> anyhow::Result<Outcome> {
    let agent = load(common)?;
    if !agent.has_policies {
        return Err(UserError::new(
            "the model has no dialogue policies (it was trained with `rusa train nlu`)",
        )
        .with_hint("use `rusa shell nlu` to see how it parses messages")
        .into());
    }
    let model_type = if agent.nlu.is_some() {
        rusa_telemetry::ModelType::Rasa
    } else {
        rusa_telemetry::ModelType::Core
    };
    crate::usage::shell_started(model_type);
    let mut warnings = Vec::new();
    let endpoints =
        rusa_project::load_endpoints(&common.endpoints, &mut warnings)?.unwrap_or_default();
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    // A shell session is a server on the command-line channel, as in Rasa.
    crate::usage::server_started(&crate::usage::ServerStartInfo {
        input_channels: vec!["cmdline".into()],
        api_enabled: false,
        endpoints: &endpoints,
        model_fingerprint: Some(agent.metadata.project_fingerprint.clone())
            .filter(|f| !f.is_empty()),
    });
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("Assistant loaded. Type a message and press enter (/stop or Ctrl-D to exit).");
    }
    let sender = common
        .sender_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    // One single-threaded runtime serves the session: the stores, broker and action server
    // clients run on tokio.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e).context("cannot start the async runtime"))?;
    // The same message processor as `rusa run`, on the stores of the endpoints file.
    let model_path =
        rusa_core::archive::newest_model(&common.model).unwrap_or_else(|| common.model.clone());
    let processor = runtime.block_on(serving::processor(
        &endpoints,
        Some((Arc::new(agent), model_path)),
        ACTION_TIMEOUT,
    ))?;
    let mut last_buttons: Vec<Value> = Vec::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    prompt(&mut out, interactive)?;
    for line in stdin.lock().lines() {
        let line = line?;
        let mut text = line.trim().to_owned();
        if text == "/stop" {
            break;
        }
        if text.is_empty() {
            prompt(&mut out, interactive)?;
            continue;
        }
        // A number picks a button of the last message.
        if let Some(payload) = text
            .parse::<usize>()
            .ok()
            .and_then(|n| last_buttons.get(n.wrapping_sub(1)))
            .and_then(|b| b.get("payload"))
            .and_then(Value::as_str)
        {
            text = payload.to_owned();
        }
        let incoming = Incoming {
            sender_id: sender.clone(),
            text,
            input_channel: "cmdline".into(),
            ..Incoming::default()
        };
        let messages = runtime
            .block_on(processor.handle_message(incoming, None))
            .map_err(|e| UserError::new(format!("the message could not be handled: {e}")))?;
        last_buttons.clear();
        for m in &messages {
            print_message(&mut out, m, &mut last_buttons)?;
        }
        prompt(&mut out, interactive)?;
    }
    if let Some(broker) = &processor.broker {
        runtime.block_on(broker.flush(BROKER_FLUSH_BUDGET));
    }
    Ok(Outcome::Success)
}

fn print_message(
    out: &mut impl Write,
    m: &BotMessage,
    buttons: &mut Vec<Value>,
) -> std::io::Result<()> {
    if let Some(text) = &m.text {
        writeln!(out, "{text}")?;
    }
    if let Some(image) = &m.image {
        writeln!(out, "Image: {image}")?;
    }
    for (i, b) in m.buttons.iter().enumerate() {
        let title = b.get("title").and_then(Value::as_str).unwrap_or_default();
        let payload = b.get("payload").and_then(Value::as_str).unwrap_or_default();
        writeln!(out, "{}: {title} ({payload})", i + 1)?;
        buttons.push(b.clone());
    }
    if let Some(custom) = &m.custom {
        writeln!(out, "{custom}")?;
    }
    Ok(())
}

fn prompt(out: &mut impl Write, interactive: bool) -> std::io::Result<()> {
    if interactive {
        write!(out, "Your input -> ")?;
        out.flush()?;
    }
    Ok(())
}
