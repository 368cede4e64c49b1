//! `rusa shell` (talk to the assistant) and `rusa shell nlu` (see how messages are parsed).
//!
//! Reads one message per line from stdin, a terminal or a pipe. In a terminal it shows a
//! prompt; buttons are numbered and typing the number sends the button's payload. `/stop`
//! or end of input (Ctrl-D) ends the session. A conversation runs on the message processor
//! of `rusa run`, in process, with the tracker store, lock store, event broker and action
//! server of `--endpoints` (none: in memory).
//!
//! In a terminal, lines are edited with rustyline: arrow keys, Ctrl-R and the history of
//! the session (kept in memory only, so no message is written to disk). A line that is not
//! valid UTF-8 is skipped with a warning; the session goes on.

use std::io::{BufRead, IsTerminal, Write};

use rustyline::error::ReadlineError;
use std::sync::Arc;

use rusa_core::agent::Agent;
use rusa_core::responses::BotMessage;
use rusa_server::Incoming;
use serde_json::Value;

use super::serving::{self, BROKER_FLUSH_BUDGET};
use crate::cli::{ShellArgs, ShellCommon, ShellPart};
use crate::error::{Outcome, UserError};

pub fn run(args: ShellArgs) -> anyhow::Result<Outcome> {
    let common = match &args.part {
        None => &args.common,
        Some(ShellPart::Nlu(common)) => common,
    };
    crate::cli::print_notices(&common.rasa_only.notices());
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
    let mut lines = Lines::new(interactive)?;
    let mut out = std::io::stdout().lock();
    while let Some(line) = lines.next_line()? {
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
    if agent.nlu.is_none() {
        eprintln!(
            "warning: the model has no NLU pipeline (it was trained with `rusa train core`): free text is not understood; type an intent as /greet or /inform{{\"city\": \"Lisbon\"}}"
        );
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
    let mut lines = Lines::new(interactive)?;
    let mut out = std::io::stdout().lock();
    while let Some(line) = lines.next_line()? {
        let mut text = line.trim().to_owned();
        if text == "/stop" {
            break;
        }
        if text.is_empty() {
            continue;
        }
        // A number picks a button of the last message.
        if let Ok(n) = text.parse::<usize>()
            && !last_buttons.is_empty()
        {
            match button_payload(&last_buttons, n) {
                Some(payload) => text = payload.to_owned(),
                None => {
                    eprintln!(
                        "there is no button {n}: the last message has buttons 1 to {}",
                        last_buttons.len()
                    );
                    continue;
                }
            }
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
        out.flush()?;
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

/// The payload of button `n` (counted from 1) of the last message.
fn button_payload(buttons: &[Value], n: usize) -> Option<&str> {
    buttons
        .get(n.checked_sub(1)?)
        .and_then(|b| b.get("payload"))
        .and_then(Value::as_str)
}

const PROMPT: &str = "Your input -> ";

/// Where the shell's lines come from: a line editor on a terminal, else stdin as it is.
enum Lines {
    Terminal(Box<rustyline::DefaultEditor>),
    Pipe(std::io::StdinLock<'static>),
}

impl Lines {
    fn new(interactive: bool) -> anyhow::Result<Self> {
        if interactive {
            let editor = rustyline::DefaultEditor::new()
                .map_err(|e| anyhow::anyhow!(e).context("cannot set up line editing"))?;
            Ok(Self::Terminal(Box::new(editor)))
        } else {
            Ok(Self::Pipe(std::io::stdin().lock()))
        }
    }

    /// The next line, without its line break; `None` at the end of input (Ctrl-D) or on
    /// Ctrl-C. A line that is not valid UTF-8 is skipped with a warning.
    fn next_line(&mut self) -> anyhow::Result<Option<String>> {
        loop {
            match self {
                Self::Terminal(editor) => match editor.readline(PROMPT) {
                    Ok(line) => {
                        if !line.trim().is_empty() {
                            let _ = editor.add_history_entry(line.as_str());
                        }
                        return Ok(Some(line));
                    }
                    Err(ReadlineError::Eof | ReadlineError::Interrupted) => return Ok(None),
                    Err(ReadlineError::Signal(_)) => {}
                    Err(ReadlineError::Io(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                        eprintln!("warning: the line was not valid UTF-8; it was skipped");
                    }
                    Err(e) => {
                        return Err(anyhow::anyhow!(e).context("cannot read from the terminal"));
                    }
                },
                Self::Pipe(stdin) => {
                    let mut bytes = Vec::new();
                    if stdin.read_until(b'\n', &mut bytes)? == 0 {
                        return Ok(None);
                    }
                    match String::from_utf8(bytes) {
                        Ok(mut line) => {
                            if line.ends_with('\n') {
                                line.pop();
                                if line.ends_with('\r') {
                                    line.pop();
                                }
                            }
                            return Ok(Some(line));
                        }
                        Err(_) => {
                            eprintln!(
                                "warning: a line of input was not valid UTF-8; it was skipped"
                            );
                        }
                    }
                }
            }
        }
    }
}
