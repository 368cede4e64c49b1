//! `rusa interactive` through a real pseudo-terminal: the binary is driven as a user would,
//! with answers typed, Ctrl-C for the menu and Ctrl-U to clear a prefilled answer. After the
//! export the project must validate, train and pass its tests, and the files the export did
//! not need to change must be byte for byte what they were.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::rusa_in_terminal;
use rexpect::session::PtySession;

/// Seconds a single question may take to appear (the first one waits for training).
const TIMEOUT_MS: u64 = 180_000;

fn rusa(dir: &Path) -> Command {
    rusa_in_terminal(dir)
}

fn run_ok(dir: &Path, args: &[&str]) -> String {
    let out = rusa(dir).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "rusa {args:?} failed:\n{text}");
    text
}

/// A new starter project (as `rusa init` writes it), not trained yet.
fn starter(dir: &Path) -> PathBuf {
    let project = dir.join("bot");
    run_ok(dir, &["init", "--no-prompt", &project.to_string_lossy()]);
    let _ = std::fs::remove_dir_all(project.join("models"));
    project
}

fn spawn(project: &Path, args: &[&str]) -> PtySession {
    let mut cmd = rusa(project);
    cmd.arg("interactive").args(args);
    rexpect::session::spawn_command(cmd, Some(TIMEOUT_MS)).unwrap()
}

/// Answers the message's parse question: "no", then the intent (by name, or a new one),
/// then the annotated text (replacing the prefilled one).
fn correct_parse(p: &mut PtySession, intent: &str, new_intent: bool, annotated: &str) {
    p.exp_regex(r"correct\?|correct for").unwrap();
    p.exp_string("(Y/n)").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("What intent is it?").unwrap();
    p.exp_string("Choose a number -> ").unwrap();
    if new_intent {
        p.send_line("1").unwrap();
        p.exp_string("Please type the intent name:").unwrap();
        p.exp_string("> ").unwrap();
    }
    p.send_line(intent).unwrap();
    p.exp_string("Please mark the entities using [value](type) notation")
        .unwrap();
    p.exp_string("> ").unwrap();
    // Clear the prefilled annotation, then type ours.
    p.send_control('u').unwrap();
    p.send_line(annotated).unwrap();
}

/// Waits for the question about the next action and returns the action's name.
fn next_action(p: &mut PtySession) -> String {
    let (_, matched) = p
        .exp_regex(r"The bot wants to run '[A-Za-z0-9_]+', correct\?")
        .unwrap();
    let name = matched.split('\'').nth(1).unwrap().to_owned();
    p.exp_string("(Y/n)").unwrap();
    name
}

fn accept(p: &mut PtySession) {
    p.send_line("y").unwrap();
}

/// Rejects the proposed action and picks `name` from the list.
fn reject_for(p: &mut PtySession, name: &str) {
    p.send_line("n").unwrap();
    p.exp_string("What is the next action of the bot?").unwrap();
    p.exp_string("Choose a number -> ").unwrap();
    p.send_line(name).unwrap();
}

/// Rejects the proposed action and creates a new response.
fn reject_for_new_response(p: &mut PtySession, name: &str, text: &str) {
    p.send_line("n").unwrap();
    p.exp_string("What is the next action of the bot?").unwrap();
    p.exp_string("Choose a number -> ").unwrap();
    p.send_line("1").unwrap();
    p.exp_string("Please type the action name:").unwrap();
    p.exp_string("> ").unwrap();
    p.send_line(name).unwrap();
    p.exp_string("Please type the message for your new bot response")
        .unwrap();
    p.exp_string("> ").unwrap();
    p.send_line(text).unwrap();
}

/// Until the assistant listens: runs `action_listen` when proposed, else rejects the
/// proposal in favour of `action_listen`.
fn then_listen(p: &mut PtySession) {
    let action = next_action(p);
    if action == "action_listen" {
        accept(p);
    } else {
        reject_for(p, "action_listen");
    }
    p.exp_string("Current slots:").unwrap();
}

fn input(p: &mut PtySession, text: &str) {
    p.exp_string("Your input -> ").unwrap();
    p.send_line(text).unwrap();
}

/// Ctrl-C at the input prompt, then the menu's choice number.
fn menu(p: &mut PtySession, choice: &str) {
    p.exp_string("Your input -> ").unwrap();
    p.send_control('c').unwrap();
    p.exp_string("Do you want to stop?").unwrap();
    p.exp_string("Choose a number -> ").unwrap();
    p.send_line(choice).unwrap();
}

/// Export & Quit, accepting the three proposed paths.
fn export_defaults(p: &mut PtySession) {
    menu(p, "5");
    for question in ["Export stories to", "Export NLU data to", "Export domain"] {
        p.exp_string(question).unwrap();
        p.exp_string("> ").unwrap();
        p.send_line("").unwrap();
    }
    p.exp_string("Saved").unwrap();
    p.exp_eof().unwrap();
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

fn check_project_trains_and_passes(project: &Path, domain: &str) {
    run_ok(project, &["data", "validate", "-d", domain]);
    run_ok(project, &["train", "-d", domain]);
    let tested = run_ok(
        project,
        &[
            "test",
            "core",
            "-d",
            domain,
            "--stories",
            "data/stories.yml",
            "--fail-on-prediction-errors",
        ],
    );
    assert!(!tested.contains("failed:"), "{tested}");
    // The project's own test stories still pass too.
    let tested = run_ok(
        project,
        &["test", "core", "-d", domain, "--fail-on-prediction-errors"],
    );
    assert!(!tested.contains("failed:"), "{tested}");
}

#[test]
fn a_whole_session_on_the_starter_project() {
    let dir = tempfile::tempdir().unwrap();
    let project = starter(dir.path());
    let stories_before = read(&project.join("data/stories.yml"));
    let mut p = spawn(&project, &["--skip-visualization"]);
    p.exp_string("Bot loaded.").unwrap();

    // A corrected intent.
    input(&mut p, "hey hey");
    correct_parse(&mut p, "greet", false, "hey hey");
    let action = next_action(&mut p);
    assert_eq!(action, "utter_greet");
    accept(&mut p);
    then_listen(&mut p);

    // A corrected entity; the forecast the model proposes is accepted.
    input(&mut p, "I am staying in Berlin");
    correct_parse(
        &mut p,
        "inform_city",
        false,
        "I am staying in [Berlin](city)",
    );
    let action = next_action(&mut p);
    if action == "utter_forecast" {
        accept(&mut p);
    } else {
        reject_for(&mut p, "utter_forecast");
    }
    p.exp_string("Here is the forecast for Berlin").unwrap();
    then_listen(&mut p);

    // A new intent, and a rejected action replaced by a new response.
    input(&mut p, "what can you do");
    correct_parse(&mut p, "ask_capabilities", true, "what can you do");
    next_action(&mut p);
    reject_for_new_response(
        &mut p,
        "utter_capabilities",
        "I tell you the weather in {city}.",
    );
    p.exp_string("I tell you the weather in Berlin.").unwrap();
    then_listen(&mut p);

    // A turn that is undone.
    input(&mut p, "see you soon");
    correct_parse(&mut p, "goodbye", false, "see you soon");
    let action = next_action(&mut p);
    if action == "utter_goodbye" {
        accept(&mut p);
    } else {
        reject_for(&mut p, "utter_goodbye");
    }
    then_listen(&mut p);
    menu(&mut p, "2");
    p.exp_string("Undid the last step.").unwrap();

    export_defaults(&mut p);

    let stories = read(&project.join("data/stories.yml"));
    assert!(stories.starts_with(&stories_before), "{stories}");
    let added = &stories[stories_before.len()..];
    assert!(added.contains("- story: interactive_story_1"), "{added}");
    assert!(
        added.contains("  - intent: greet\n  - action: utter_greet\n"),
        "{added}"
    );
    assert!(
        added.contains("    entities:\n    - city: Berlin\n"),
        "{added}"
    );
    assert!(
        added.contains("  - action: utter_forecast\n  - intent: ask_capabilities\n  - action: utter_capabilities\n"),
        "{added}"
    );
    assert!(
        !added.contains("goodbye"),
        "the undone turn was exported: {added}"
    );
    let nlu = read(&project.join("data/nlu.yml"));
    assert!(
        nlu.contains("    - I am staying in [Berlin](city)\n"),
        "{nlu}"
    );
    assert!(nlu.contains("    - hey hey\n"), "{nlu}");
    assert!(
        nlu.ends_with("- intent: ask_capabilities\n  examples: |\n    - what can you do\n"),
        "{nlu}"
    );
    assert!(!nlu.contains("see you soon"), "{nlu}");
    let domain = read(&project.join("domain.yml"));
    assert!(
        domain.contains("  utter_capabilities:\n  - text: \"I tell you the weather in {city}.\"\n"),
        "{domain}"
    );
    assert!(
        domain.contains("  - bot_challenge\n  - ask_capabilities\n"),
        "{domain}"
    );

    check_project_trains_and_passes(&project, "domain.yml");
}

/// The starter project with its rules at the end of the stories file and its domain split
/// over a folder of one file per part.
fn split_project(dir: &Path) -> PathBuf {
    let project = starter(dir);
    let stories = read(&project.join("data/stories.yml"));
    let rules = read(&project.join("data/rules.yml"));
    let rules_section = rules.trim_start_matches("version: \"3.1\"\n");
    std::fs::write(
        project.join("data/stories.yml"),
        format!("{stories}\n# rules live here too\n{rules_section}"),
    )
    .unwrap();
    std::fs::remove_file(project.join("data/rules.yml")).unwrap();
    let domain = read(&project.join("domain.yml"));
    let part = |from: &str, to: Option<&str>| {
        let start = domain.find(from).unwrap();
        let end = to.map_or(domain.len(), |t| domain.find(t).unwrap());
        domain[start..end].to_owned()
    };
    std::fs::create_dir(project.join("domain")).unwrap();
    std::fs::write(
        project.join("domain/intents.yml"),
        format!(
            "version: \"3.1\"\n# what users say\n{}",
            part("intents:", Some("slots:"))
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("domain/slots.yml"),
        format!("version: \"3.1\"\n{}", part("slots:", Some("responses:"))),
    )
    .unwrap();
    std::fs::write(
        project.join("domain/responses.yml"),
        format!("version: \"3.1\"\n{}", part("responses:", None)),
    )
    .unwrap();
    std::fs::remove_file(project.join("domain.yml")).unwrap();
    project
}

#[test]
fn export_into_a_stories_file_ending_with_rules_and_a_split_domain() {
    let dir = tempfile::tempdir().unwrap();
    let project = split_project(dir.path());
    let stories_before = read(&project.join("data/stories.yml"));
    let files = ["intents.yml", "slots.yml", "responses.yml"];
    let domain_before: Vec<String> = files
        .iter()
        .map(|f| read(&project.join("domain").join(f)))
        .collect();
    let mut p = spawn(&project, &["--skip-visualization", "-d", "domain"]);
    p.exp_string("Bot loaded.").unwrap();
    input(&mut p, "good evening sir");
    correct_parse(&mut p, "greet_formally", true, "good evening sir");
    next_action(&mut p);
    reject_for_new_response(&mut p, "utter_formal_greeting", "Good evening to you.");
    p.exp_string("Good evening to you.").unwrap();
    then_listen(&mut p);
    export_defaults(&mut p);

    // The story is inside the stories section, before the comment and the rules, which
    // are unchanged.
    let stories = read(&project.join("data/stories.yml"));
    let at = stories_before.find("\n# rules live here too").unwrap();
    let (head, tail) = stories_before.split_at(at);
    assert!(stories.starts_with(head), "{stories}");
    assert!(stories.ends_with(tail), "{stories}");
    let inserted = &stories[head.len()..stories.len() - tail.len()];
    assert_eq!(
        inserted,
        "- story: interactive_story_1\n  steps:\n  - intent: greet_formally\n  - action: utter_formal_greeting\n"
    );

    // Each domain file changed only by the lines added to its section.
    let intents = read(&project.join("domain/intents.yml"));
    let expected_intents = domain_before[0].replace(
        "  - bot_challenge\n",
        "  - bot_challenge\n  - greet_formally\n",
    );
    assert_eq!(intents, expected_intents);
    assert_eq!(read(&project.join("domain/slots.yml")), domain_before[1]);
    let responses = read(&project.join("domain/responses.yml"));
    assert_eq!(
        responses,
        domain_before[2].replace(
            "  - text: \"I am a bot, built with rusa.\"\n",
            "  - text: \"I am a bot, built with rusa.\"\n  utter_formal_greeting:\n  - text: \"Good evening to you.\"\n"
        )
    );
    assert!(!project.join("domain.yml").exists());
    let nlu = read(&project.join("data/nlu.yml"));
    assert!(
        nlu.ends_with("- intent: greet_formally\n  examples: |\n    - good evening sir\n"),
        "{nlu}"
    );

    check_project_trains_and_passes(&project, "domain");
}

/// Copies a fixture project (files only) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Figures for docs/performance.md, not a check: the time from starting `rusa interactive`
/// to its first prompt (training first, then with `--model`), and from pressing enter to
/// the next question. Run with
/// `cargo test -p rusa --test interactive figures -- --ignored --nocapture`; set
/// `RUSA_BIN` to time another build of the binary (a release one).
#[test]
#[ignore = "prints timings; run by hand"]
fn figures() {
    use std::time::Instant;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
    let dir = tempfile::tempdir().unwrap();
    let mut projects = vec![("starter", starter(dir.path()))];
    let helpdesk = dir.path().join("helpdesk");
    copy_dir(&fixtures.join("helpdesk-assistant"), &helpdesk);
    projects.push(("helpdesk-assistant", helpdesk));
    let bin = std::env::var("RUSA_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_rusa").into());
    for (name, project) in projects {
        let spawn_timed = |args: &[&str]| {
            let cmd = rusa(&project);
            let mut real = Command::new(&bin);
            real.current_dir(&project);
            for (k, v) in cmd.get_envs() {
                if let Some(v) = v {
                    real.env(k, v);
                }
            }
            real.arg("interactive").args(args);
            let started = Instant::now();
            let mut p = rexpect::session::spawn_command(real, Some(TIMEOUT_MS)).unwrap();
            p.exp_string("Your input -> ").unwrap();
            (p, started.elapsed())
        };
        let (mut p, first_trained) = spawn_timed(&["--skip-visualization"]);
        p.send_control('d').unwrap();
        p.exp_eof().unwrap();
        let (mut p, first_model) = spawn_timed(&["--skip-visualization", "--model", "models"]);
        let (_, with_graph) = {
            let (mut q, t) = spawn_timed(&["--model", "models", "-p", "0"]);
            q.send_control('d').unwrap();
            q.exp_eof().unwrap();
            (q, t)
        };
        // Enter → the parse question, and enter → the next action question, over 20 turns.
        let mut parse_times = Vec::new();
        let mut action_times = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            p.send_line("hello there").unwrap();
            p.exp_string("(Y/n)").unwrap();
            parse_times.push(t.elapsed());
            let t = Instant::now();
            p.send_line("y").unwrap();
            p.exp_regex(r"The bot wants to run '[A-Za-z0-9_]+', correct\? \(Y/n\)")
                .unwrap();
            action_times.push(t.elapsed());
            // Undo the turn so that every turn starts from the same conversation.
            p.send_control('c').unwrap();
            p.exp_string("Choose a number -> ").unwrap();
            p.send_line("2").unwrap();
            p.exp_string("Your input -> ").unwrap();
        }
        p.send_control('d').unwrap();
        p.exp_eof().unwrap();
        let median = |v: &mut Vec<std::time::Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        println!(
            "{name}: first prompt {:.2} s (training first), {:.3} s (--model), {:.3} s (--model, with the graph server); enter → parse question median {:.1} ms, enter → action question median {:.1} ms",
            first_trained.as_secs_f64(),
            first_model.as_secs_f64(),
            with_graph.as_secs_f64(),
            median(&mut parse_times).as_secs_f64() * 1000.0,
            median(&mut action_times).as_secs_f64() * 1000.0,
        );
    }
}

/// A small project with a form (`name_form`, asking for `name`) and a response with
/// buttons (`utter_greet`), on the starter project's configuration.
fn form_project(dir: &Path) -> PathBuf {
    let project = starter(dir);
    let _ = std::fs::remove_dir_all(project.join("tests"));
    std::fs::write(
        project.join("domain.yml"),
        r#"version: "3.1"
intents:
- greet
- request_name
- inform
- chitchat
entities:
- name
slots:
  name:
    type: text
    mappings:
    - type: from_entity
      entity: name
forms:
  name_form:
    required_slots:
    - name
responses:
  utter_greet:
  - text: "Hi! What next?"
    buttons:
    - title: "Tell my name"
      payload: "/request_name"
    - title: "Chat"
      payload: "/chitchat"
  utter_ask_name:
  - text: "What is your name?"
  utter_chitchat:
  - text: "Nice chatting."
  utter_done:
  - text: "Thanks, {name}."
session_config:
  session_expiration_time: 60
  carry_over_slots_to_new_session: true
"#,
    )
    .unwrap();
    std::fs::write(
        project.join("data/nlu.yml"),
        r#"version: "3.1"
nlu:
- intent: greet
  examples: |
    - hello
    - hi there
    - good morning
- intent: request_name
  examples: |
    - let me tell you my name
    - I want to give my name
    - take my name
- intent: inform
  examples: |
    - I am [Ada](name)
    - my name is [Grace](name)
    - call me [Linus](name)
- intent: chitchat
  examples: |
    - how is the weather
    - tell me a joke
    - what do you like
"#,
    )
    .unwrap();
    std::fs::write(
        project.join("data/rules.yml"),
        r#"version: "3.1"
rules:
- rule: greet
  steps:
  - intent: greet
  - action: utter_greet
- rule: chitchat
  steps:
  - intent: chitchat
  - action: utter_chitchat
- rule: start the form
  steps:
  - intent: request_name
  - action: name_form
  - active_loop: name_form
- rule: submit the form
  condition:
  - active_loop: name_form
  steps:
  - action: name_form
  - active_loop: null
  - slot_was_set:
    - requested_slot: null
  - action: utter_done
"#,
    )
    .unwrap();
    std::fs::write(
        project.join("data/stories.yml"),
        r#"version: "3.1"
stories:
- story: give the name
  steps:
  - intent: greet
  - action: utter_greet
  - intent: request_name
  - action: name_form
  - active_loop: name_form
  - intent: inform
    entities:
    - name: Ada
  - action: name_form
  - active_loop: null
  - action: utter_done
"#,
    )
    .unwrap();
    project
}

/// Accepts the proposed action when it is `name`, else picks `name` instead.
fn run_action(p: &mut PtySession, name: &str) {
    if next_action(p) == name {
        accept(p);
    } else {
        reject_for(p, name);
    }
}

#[test]
fn buttons_and_a_form_that_does_not_validate_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let project = form_project(dir.path());
    let mut p = spawn(&project, &["--skip-visualization"]);
    p.exp_string("Bot loaded.").unwrap();

    input(&mut p, "/greet");
    run_action(&mut p, "utter_greet");
    p.exp_string("Hi! What next?").unwrap();
    then_listen(&mut p);

    // The greeting's buttons are offered by number; the first one sends its payload.
    p.exp_string("Choose a button or type your own message")
        .unwrap();
    p.exp_string("1) Tell my name (/request_name)").unwrap();
    p.exp_string("2) Chat (/chitchat)").unwrap();
    p.exp_string("3) Type out your own message...").unwrap();
    p.exp_string("Choose a number -> ").unwrap();
    p.send_line("1").unwrap();
    run_action(&mut p, "name_form");
    p.exp_string("What is your name?").unwrap();
    then_listen(&mut p);

    // Chitchat inside the form: the form is not run (it is rejected) ...
    input(&mut p, "/chitchat");
    run_action(&mut p, "utter_chitchat");
    p.exp_string("Nice chatting.").unwrap();
    then_listen(&mut p);

    // ... and when it runs again, Rasa's question: "no" lets it go on without checking.
    input(&mut p, "/chitchat");
    run_action(&mut p, "name_form");
    p.exp_string("Should 'name_form' validate user input to fill the slot 'name'?")
        .unwrap();
    p.exp_string("(Y/n)").unwrap();
    p.send_line("n").unwrap();
    p.exp_string("What is your name?").unwrap();
    then_listen(&mut p);

    input(&mut p, r#"/inform{"name": "Ada"}"#);
    run_action(&mut p, "name_form");
    run_action(&mut p, "utter_done");
    p.exp_string("Thanks, Ada.").unwrap();
    then_listen(&mut p);
    export_defaults(&mut p);

    let stories = read(&project.join("data/stories.yml"));
    let story = &stories[stories.find("- story: interactive_story_1").unwrap()..];
    for step in [
        "  - intent: request_name\n  - action: name_form\n  - active_loop: name_form\n",
        "  - intent: chitchat\n  - action: utter_chitchat\n",
        "  - intent: chitchat\n  - action: name_form\n",
        "  - action: utter_done\n",
    ] {
        assert!(story.contains(step), "{step:?} missing from:\n{story}");
    }
    assert!(story.contains("active_loop: null"), "{story}");
    run_ok(&project, &["data", "validate"]);
}
