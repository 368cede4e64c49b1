//! `rusa interactive` and `rusa interactive core`: talk to the assistant, confirm or correct
//! each parse and each action, and save the conversation as training data.
//!
//! Everything runs in process on the message processor's pieces: no HTTP API is opened.
//! Only the live story graph (the project's stories with the conversation highlighted) is served, on 127.0.0.1, unless `--skip-visualization`. Custom
//! actions run on the action server of `--endpoints`, as in `rusa shell`; the conversation
//! is kept in the endpoints' tracker store when there is one (see `session`).

mod graph;
mod save;
mod session;
mod terminal;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusa_core::actions::{CustomActionExecutor, NoActionServer};
use rusa_core::agent::Agent;
use rusa_core::archive::newest_model;
use rusa_core::graph::TrainingType;
use rusa_core::policies::PolicyPrediction;
use rusa_core::responses::BotMessage;
use rusa_core::tracker::ACTION_LISTEN;
use rusa_project::additions::NewStory;
use serde_json::Value;

use self::session::{Session, USER_CHOSEN, annotated_text};
use self::terminal::{Stop, Terminal};
use super::serving;
use crate::cli::{InteractiveArgs, InteractiveCommon, InteractivePart, LogArgs, ProjectArgs};
use crate::error::{Outcome, UserError};

/// How long a custom action may take on the action server.
const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

/// How many actions may follow one user message (the processor's limit).
const MAX_ACTIONS_PER_TURN: usize = rusa_core::processor::DEFAULT_MAX_NUMBER_OF_PREDICTIONS;

pub fn run(args: InteractiveArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let (core_only, mut common) = match args.part {
        None => (false, args.common),
        Some(InteractivePart::Core(c)) => (true, c),
    };
    if let Some(stories) = common.stories.take() {
        common.project.data = vec![stories];
    }
    for (given, flag) in [
        (common.augmentation.is_some(), "--augmentation"),
        (common.debug_plots, "--debug-plots"),
        (common.epoch_fraction.is_some(), "--epoch-fraction"),
        (common.persist_nlu_data, "--persist-nlu-data"),
    ] {
        if given {
            eprintln!("note: {flag} means nothing in rusa; it is ignored");
        }
    }
    if common.finetune.is_some() {
        return Err(UserError::new("--finetune is not supported: rusa trains from scratch").into());
    }
    let model_path = model(&common, core_only, log)?;
    let agent = Agent::load(&model_path).map_err(|e| UserError::new(serving::error_chain(&e)))?;
    if !agent.has_policies {
        return Err(
            UserError::new("cannot run interactive learning on an NLU-only model")
                .with_hint("train a model with dialogue policies with `rusa train`")
                .into(),
        );
    }
    let core_only = core_only || agent.nlu.is_none();
    let mut warnings = Vec::new();
    let endpoints =
        rusa_project::load_endpoints(&common.endpoints, &mut warnings)?.unwrap_or_default();
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    let actions: Arc<dyn CustomActionExecutor> = match &endpoints.action_endpoint {
        Some(endpoint) => Arc::new(
            rusa_actions::HttpActionExecutor::new(endpoint, ACTION_TIMEOUT)
                .map_err(|e| UserError::new(format!("{}: action_endpoint: {e}", endpoint.pos)))?,
        ),
        None => Arc::new(NoActionServer),
    };
    let sender = common
        .conversation_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut session = Session::new(
        Arc::new(agent),
        actions,
        sender,
        endpoints.tracker_store.as_ref(),
    )?;
    if session.has_store() && session.events_len() > 0 {
        println!(
            "Continuing the conversation the tracker store holds for this id ({} events).",
            session.events_len()
        );
    }
    let story = if common.skip_visualization {
        graph::LiveStory::default()
    } else {
        graph::LiveStory::new(project_paths(&common.project.data))
    };
    let graph_addr = if common.skip_visualization {
        None
    } else {
        Some(graph::serve(common.port, story.clone())?)
    };
    rusa_telemetry::track_interactive_learning_start(common.skip_visualization, common.e2e);
    // Ctrl-C is the session's menu key from here on (the line editor reads it).
    super::train::hand_over_interrupts();
    let mut terminal = Terminal::new()?;
    match graph_addr {
        Some(addr) => println!("Bot loaded. Visualisation at http://{addr}/visualization.html ."),
        None => println!("Bot loaded."),
    }
    if core_only {
        println!(
            "Type an intent as /intent (or /intent{{\"entity\": \"value\"}}) and press enter (press 'Ctrl-c' for the menu, 'Ctrl-d' to quit without saving)."
        );
    } else {
        println!(
            "Type a message and press enter (press 'Ctrl-c' for the menu, 'Ctrl-d' to quit without saving)."
        );
    }
    let default_stories = if common.e2e {
        PathBuf::from("tests/test_interactive_stories.yml")
    } else {
        PathBuf::from("data/stories.yml")
    };
    let settings = save::ExportSettings {
        data: &common.project.data,
        domain: &common.project.domain,
        default_stories,
        e2e: common.e2e,
    };
    let mut ui = Ui {
        session: &mut session,
        terminal: &mut terminal,
        story: &story,
        core_only,
        buttons: Vec::new(),
    };
    ui.run(&settings)
}

/// The model to start from: `--model`, else the newest one after training when the project
/// changed since (or with `--force`).
fn model(common: &InteractiveCommon, core_only: bool, log: LogArgs) -> anyhow::Result<PathBuf> {
    if let Some(m) = &common.model {
        return newest_model(m).ok_or_else(|| {
            UserError::new(format!("no model archive (*.tar.gz) at '{}'", m.display()))
                .with_hint("train one with `rusa train`, or leave out --model to train first")
                .into()
        });
    }
    let train = crate::cli::TrainCommon {
        project: ProjectArgs {
            domain: common.project.domain.clone(),
            data: common.project.data.clone(),
            config: common.project.config.clone(),
        },
        out: common.out.clone(),
        fixed_model_name: None,
        force: common.force,
        finetune: None,
        strict_components: false,
        skip_validation: false,
        fail_on_validation_warnings: false,
        validation_max_history: None,
        dry_run: false,
        rasa_only: Default::default(),
        endpoints: common.endpoints.clone(),
    };
    let kind = if core_only {
        TrainingType::Core
    } else {
        TrainingType::Both
    };
    let trained = super::train::train(kind, &train, log).map_err(|e| {
        e.context("could not train an initial model; fix the project or name a model with --model")
    })?;
    match trained.or_else(|| newest_model(&common.out)) {
        Some(p) => Ok(p),
        None => Err(UserError::new("training wrote no model").into()),
    }
}

/// The paths of the project's stories and rules for the live graph; data that does not
/// load is left out of the graph (training has already reported it).
fn project_paths(data: &[PathBuf]) -> Vec<Vec<rusa_core::story_graph::GraphEvent>> {
    let mut paths = Vec::new();
    for dir in data {
        let mut warnings = Vec::new();
        match rusa_project::load_stories_and_rules(dir, &mut warnings) {
            Ok((stories, rules)) => paths.extend(rusa_core::story_graph::sequences_from_project(
                &stories, &rules,
            )),
            Err(e) => eprintln!(
                "warning: the story graph leaves out '{}': {e}",
                dir.display()
            ),
        }
    }
    paths
}

/// What to do after the menu.
enum MenuChoice {
    Continue,
    Quit,
}

/// The session on the terminal.
struct Ui<'a> {
    session: &'a mut Session,
    terminal: &'a mut Terminal,
    story: &'a graph::LiveStory,
    core_only: bool,
    /// The buttons of the assistant's last message.
    buttons: Vec<Value>,
}

impl Ui<'_> {
    fn run(&mut self, settings: &save::ExportSettings<'_>) -> anyhow::Result<Outcome> {
        loop {
            self.refresh_graph();
            // Each finished turn, undo, fork or restart is kept in the tracker store.
            if self.session.is_listening()
                && let Err(e) = self.session.save_pending()
            {
                eprintln!(
                    "warning: the conversation could not be saved in the tracker store ({e}); the session goes on in memory"
                );
            }
            let step = if self.session.is_listening() {
                self.user_turn()
            } else {
                self.bot_turn()
            };
            match step {
                Ok(()) => {}
                Err(Stop::Io(e)) => return Err(e),
                Err(Stop::Eof) => {
                    println!("Ended without saving.");
                    return Ok(Outcome::Success);
                }
                Err(Stop::Interrupted) => match self.menu(settings)? {
                    MenuChoice::Continue => {}
                    MenuChoice::Quit => return Ok(Outcome::Success),
                },
            }
        }
    }

    fn refresh_graph(&self) {
        let stories: Vec<NewStory> = self
            .session
            .stories(true)
            .into_iter()
            .enumerate()
            .map(|(i, steps)| NewStory {
                name: format!("{}{}", save::STORY_PREFIX, i + 1),
                steps,
            })
            .collect();
        let text = rusa_project::additions::add_stories(
            std::path::Path::new("story.yml"),
            None,
            &stories,
            true,
        )
        .unwrap_or_default();
        self.story.set(self.session.tracker.events(), text);
    }

    /// Reads a message, confirms its parse and logs it.
    fn user_turn(&mut self) -> Result<(), Stop> {
        if !self.buttons.is_empty() {
            let mut choices: Vec<String> = self
                .buttons
                .iter()
                .map(|b| {
                    format!(
                        "{} ({})",
                        b["title"].as_str().unwrap_or_default(),
                        b["payload"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            choices.push("Type out your own message...".into());
            let i = self
                .terminal
                .select("Choose a button or type your own message", &choices)?;
            if let Some(payload) = self.buttons.get(i).and_then(|b| b["payload"].as_str()) {
                let payload = payload.to_owned();
                self.buttons.clear();
                return self.handle_text(&payload);
            }
            self.buttons.clear();
        }
        let text = self.terminal.message()?;
        if text.is_empty() {
            // An empty message opens the menu, as in Rasa.
            return Err(Stop::Interrupted);
        }
        self.handle_text(&text)
    }

    fn handle_text(&mut self, text: &str) -> Result<(), Stop> {
        if text == "/restart" {
            self.session.restart();
            println!("The conversation starts over.");
            return Ok(());
        }
        self.session.start_turn();
        let (parse, shortcut) = self.session.parse(text);
        let parse = if shortcut {
            parse
        } else if self.core_only {
            self.session.end_turn();
            println!(
                "Type an intent of the domain as /intent (interactive core does not use NLU)."
            );
            return Ok(());
        } else {
            self.confirm_parse(text, parse)?
        };
        let out = self.session.log_user_message(text, parse);
        self.print_messages(&out.messages);
        Ok(())
    }

    fn confirm_parse(&mut self, text: &str, parse: Value) -> Result<Value, Stop> {
        let intent = parse["intent"]["name"].as_str().map(str::to_owned);
        let entities: Vec<Value> = parse["entities"].as_array().cloned().unwrap_or_default();
        let md = annotated_text(text, &entities);
        let correct = match &intent {
            None => {
                println!("The NLU classified '{text}' with no intent.");
                false
            }
            Some(i) if entities.is_empty() => self.terminal.confirm(&format!(
                "Your NLU model classified '{md}' with intent '{i}' and there are no entities, is this correct?"
            ))?,
            Some(i) => self.terminal.confirm(&format!(
                "Is the intent '{i}' correct for '{md}' and are all entities labeled correctly?"
            ))?,
        };
        if correct {
            return Ok(parse);
        }
        let ranked = self.session.intent_choices(&parse);
        let mut choices = vec!["<create_new_intent>".to_owned()];
        choices.extend(ranked.iter().map(|(n, c)| format!("{c:03.2} {n}")));
        let chosen = self.terminal.select("What intent is it?", &choices)?;
        let intent = if chosen == 0 {
            self.terminal.name("Please type the intent name:")?
        } else {
            ranked[chosen - 1].0.clone()
        };
        loop {
            let annotated = self
                .terminal
                .text("Please mark the entities using [value](type) notation", &md)?;
            match self.session.corrected_parse(&intent, &annotated) {
                Ok(p) if p["text"].as_str() == Some(text) => return Ok(p),
                Ok(_) => println!("The text must stay '{text}'; only mark its entities."),
                Err(e) => println!("That annotation cannot be read: {e}"),
            }
        }
    }

    /// Predicts the next action, asks whether it is right, and runs the one chosen.
    /// What the chosen action means for the active form, as in Rasa: another action (not
    /// `action_listen`) rejects the form; the form chosen again after the user's next
    /// message, once rejected, asks whether it should validate that message ("no" logs
    /// `loop_interrupted`, so the form runs without checking the answer and the story keeps
    /// the form going).
    fn check_active_loop(&mut self, chosen: &str) -> Result<(), Stop> {
        let Some(active) = self.session.tracker.active_loop().cloned() else {
            return Ok(());
        };
        if chosen != active.name && chosen != ACTION_LISTEN {
            self.session.reject_active_loop(&active.name);
            return Ok(());
        }
        let after_user = self.session.tracker.latest_action_name() == Some(ACTION_LISTEN);
        if chosen == active.name && active.rejected && after_user {
            let slot = self
                .session
                .tracker
                .slot(rusa_core::tracker::REQUESTED_SLOT)
                .and_then(Value::as_str)
                .unwrap_or("null")
                .to_owned();
            let validate = self.terminal.confirm(&format!(
                "Should '{}' validate user input to fill the slot '{slot}'?",
                active.name
            ))?;
            if !validate {
                self.session.interrupt_active_loop(true);
            } else if !active.validate {
                self.terminal.confirm(
                    "ERROR: FormPolicy predicted no form validation based on previous training stories. Make sure to remove contradictory stories from training data. Otherwise predicting no form validation will not work as expected.",
                )?;
                self.session.interrupt_active_loop(false);
            }
        }
        Ok(())
    }

    fn bot_turn(&mut self) -> Result<(), Stop> {
        for _ in 0..MAX_ACTIONS_PER_TURN {
            if self.session.is_listening() {
                self.print_history();
                return Ok(());
            }
            let prediction = self.session.predict();
            let ok = self.terminal.confirm(&format!(
                "The bot wants to run '{}', correct?",
                prediction.action
            ))?;
            let chosen = if ok {
                prediction
            } else {
                let name = self.choose_action()?;
                PolicyPrediction::new(&name, 1.0, USER_CHOSEN)
            };
            self.check_active_loop(&chosen.action)?;
            let (ran, out) = self.session.run_action(&chosen);
            self.print_messages(&out.messages);
            if !ran {
                println!(
                    "'{}' rejected the message; choosing the next action.",
                    chosen.action
                );
            }
        }
        println!("The assistant ran the most actions one message may trigger; it listens now.");
        self.session
            .run_action(&PolicyPrediction::new(ACTION_LISTEN, 1.0, USER_CHOSEN));
        self.print_history();
        Ok(())
    }

    fn choose_action(&mut self) -> Result<String, Stop> {
        let ranked = self.session.action_choices();
        let mut names = vec!["<create new action>".to_owned()];
        let mut values = vec![String::new()];
        for a in self.session.learned.actions.clone() {
            names.push(a.clone());
            values.push(a);
        }
        for (r, _) in self.session.learned.responses.clone() {
            if !values.contains(&r) {
                names.push(r.clone());
                values.push(r);
            }
        }
        for (n, c) in ranked {
            names.push(format!("{c:03.2} {n}"));
            values.push(n);
        }
        let i = self
            .terminal
            .select("What is the next action of the bot?", &names)?;
        if i > 0 {
            return Ok(values[i].clone());
        }
        let name = self.terminal.name("Please type the action name:")?;
        if name.starts_with("utter_") && !self.session.domain().responses.contains_key(&name) {
            let text = self.terminal.text(
                &format!("Please type the message for your new bot response '{name}':"),
                "",
            )?;
            self.session.add_response(&name, &text);
        } else if !name.starts_with("utter_") {
            self.session.add_action(&name);
        }
        Ok(name)
    }

    fn print_messages(&mut self, messages: &[BotMessage]) {
        for m in messages {
            if let Some(t) = &m.text {
                println!("🤖 {t}");
            }
            if let Some(i) = &m.image {
                println!("🤖 Image: {i}");
            }
            if !m.buttons.is_empty() {
                self.buttons = m.buttons.clone();
            }
            if let Some(c) = &m.custom {
                println!("🤖 {c}");
            }
        }
    }

    /// The chat history and the current slots, as after each turn in Rasa.
    fn print_history(&self) {
        use rusa_core::events::EventKind;
        println!("------");
        println!("Chat History");
        println!();
        let mut n = 0;
        for event in self.session.tracker.applied_events() {
            match &event.kind {
                EventKind::Action(a) => {
                    let name = a.name.as_deref().unwrap_or_default();
                    n += 1;
                    println!(" {n:>3}  {name} {:.2}", a.confidence.unwrap_or(1.0));
                }
                EventKind::Bot(b) => {
                    if let Some(t) = &b.text {
                        println!("       {t}");
                    }
                }
                EventKind::User(u) => {
                    n += 1;
                    let md = annotated_text(u.text.as_deref().unwrap_or(""), u.entities());
                    println!(" {n:>3}  {:>44}", md);
                    println!(
                        "       {:>44}",
                        format!(
                            "intent: {} {:.2}",
                            u.intent_name().unwrap_or("None"),
                            u.intent_confidence().unwrap_or(0.0)
                        )
                    );
                }
                _ => {}
            }
        }
        println!();
        let slots: Vec<String> = self
            .session
            .tracker
            .slots()
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}",
                    if v.is_null() {
                        "None".into()
                    } else {
                        v.to_string()
                    }
                )
            })
            .collect();
        println!("Current slots: \n\t{}", slots.join(", "));
        println!("------");
    }

    fn menu(&mut self, settings: &save::ExportSettings<'_>) -> anyhow::Result<MenuChoice> {
        let choices: Vec<String> = [
            "Continue",
            "Undo Last",
            "Fork",
            "Start Fresh",
            "Export & Quit",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let chosen = match self.terminal.select("Do you want to stop?", &choices) {
            Ok(i) => i,
            // Ctrl-C again: Export & Quit, as in Rasa.
            Err(Stop::Interrupted) => 4,
            Err(Stop::Eof) => return Ok(MenuChoice::Quit),
            Err(Stop::Io(e)) => return Err(e),
        };
        match chosen {
            0 => {}
            1 => {
                if self.session.undo() {
                    println!("Undid the last step.");
                    if self.session.is_listening() {
                        self.print_history();
                    }
                } else {
                    println!("There is nothing to undo.");
                }
            }
            2 => {
                let messages = self.session.user_messages();
                if messages.is_empty() {
                    println!("There is no user message to fork at.");
                } else {
                    let labels: Vec<String> = messages.iter().map(|(_, t)| t.clone()).collect();
                    match self
                        .terminal
                        .select("Before which user message do you want to fork?", &labels)
                    {
                        Ok(i) => {
                            self.session.fork_before(messages[i].0);
                            self.print_history();
                        }
                        Err(Stop::Io(e)) => return Err(e),
                        Err(_) => {}
                    }
                }
            }
            3 => {
                self.session.start_fresh();
                println!("A new conversation starts.");
            }
            _ => loop {
                match save::export(self.session, self.terminal, settings) {
                    Ok(Ok(written)) => {
                        if written.files.is_empty() {
                            println!("There was nothing to save.");
                        }
                        for (path, what) in &written.files {
                            println!("Saved {what} to '{}'.", path.display());
                        }
                        return Ok(MenuChoice::Quit);
                    }
                    Ok(Err(e)) => {
                        println!("The export failed: {e:#}");
                        println!("Answer again with another file, or press Ctrl-C to go back.");
                    }
                    Err(Stop::Io(e)) => return Err(e),
                    Err(_) => return Ok(MenuChoice::Continue),
                }
            },
        }
        Ok(MenuChoice::Continue)
    }
}
