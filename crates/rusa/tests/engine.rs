//! The engine commands on real projects (`train`, `shell`, `init`, `test`): the moodbot
//! fixture trains unchanged, talks as Rasa 3.6 did, passes its test stories, and retrains
//! only what changed.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// A writable copy of a fixture project.
fn copy_project(rel: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join(rel), dir.path());
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

fn rusa(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rusa").unwrap();
    let home = dir.join(".home");
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG");
    cmd
}

fn run(dir: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    let out = rusa(dir)
        .args(args)
        .write_stdin(stdin.to_owned())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn models(dir: &Path) -> Vec<PathBuf> {
    let mut list: Vec<PathBuf> = std::fs::read_dir(dir.join("models"))
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    list.sort();
    list
}

#[test]
fn moodbot_trains_unchanged_and_talks_as_rasa_did() {
    let dir = copy_project("moodbot");
    let (code, out, err) = run(dir.path(), &["train"], "");
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Your model is saved at 'models/"), "{out}");
    assert_eq!(models(dir.path()).len(), 1);
    assert!(models(dir.path())[0].to_string_lossy().ends_with(".tar.gz"));

    // The conversation Rasa 3.6 had (samples/rest_conversation_demo_sad_path.jsonl), piped in.
    let recorded = std::fs::read_to_string(
        fixtures().join("moodbot/samples/rest_conversation_demo_sad_path.jsonl"),
    )
    .unwrap();
    let mut input = String::new();
    let mut expected = String::new();
    for line in recorded.lines().filter(|l| !l.trim().is_empty()) {
        let exchange: Value = serde_json::from_str(line).unwrap();
        input.push_str(exchange["request"]["message"].as_str().unwrap());
        input.push('\n');
        for reply in exchange["response"].as_array().unwrap() {
            if let Some(text) = reply.get("text").and_then(Value::as_str) {
                expected.push_str(text);
                expected.push('\n');
            }
            if let Some(image) = reply.get("image").and_then(Value::as_str) {
                expected.push_str(&format!("Image: {image}\n"));
            }
        }
    }
    let (code, out, err) = run(dir.path(), &["shell"], &input);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, expected);
}

#[test]
fn shell_nlu_prints_the_model_parse_shape() {
    let dir = copy_project("moodbot");
    assert_eq!(run(dir.path(), &["train"], "").0, 0);
    let (code, out, err) = run(dir.path(), &["shell", "nlu"], "hello\n");
    assert_eq!(code, 0, "{err}");
    let ours: Value = serde_json::from_str(&out).unwrap();
    let rasa: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("moodbot/samples/model_parse_hello.json"))
            .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours), keys(&rasa));
    assert_eq!(ours["intent"]["name"], "greet");
    assert_eq!(
        ours["intent_ranking"].as_array().unwrap().len(),
        rasa["intent_ranking"].as_array().unwrap().len()
    );
    assert_eq!(
        keys(&ours["response_selector"]),
        keys(&rasa["response_selector"])
    );
}

#[test]
fn an_unchanged_project_is_not_trained_again() {
    let dir = copy_project("moodbot");
    assert_eq!(run(dir.path(), &["train"], "").0, 0);
    let (code, out, _) = run(dir.path(), &["train"], "");
    assert_eq!(code, 0);
    assert!(out.starts_with("Nothing changed."), "{out}");
    assert_eq!(models(dir.path()).len(), 1);
    // --force trains anyway and, as in Rasa, without the cache: nothing is restored.
    let (code, out, _) = run(
        dir.path(),
        &["train", "--force", "--fixed-model-name", "again"],
        "",
    );
    assert_eq!(code, 0);
    assert!(out.starts_with("Trained "), "{out}");
    assert!(!out.contains("restored from .rusa/cache"), "{out}");
    assert!(dir.path().join("models/again.tar.gz").is_file());
}

#[test]
fn a_changed_example_retrains_only_the_nlu_nodes() {
    let dir = copy_project("moodbot");
    assert_eq!(run(dir.path(), &["train"], "").0, 0);
    let nlu = dir.path().join("data/nlu.yml");
    let text = std::fs::read_to_string(&nlu)
        .unwrap()
        .replace("    - hey dude\n", "    - hey buddy\n");
    std::fs::write(&nlu, text).unwrap();
    let (code, out, err) = run(dir.path(), &["train", "--fixed-model-name", "changed"], "");
    assert_eq!(code, 0, "{err}");
    let archive =
        rusa_core::archive::ModelArchive::read_metadata(&dir.path().join("models/changed.tar.gz"))
            .unwrap();
    for node in &archive.nodes {
        let is_policy = node.component_class.ends_with("Policy");
        // The tokenizer has no trained state worth recomputing but sits on the data too.
        assert_eq!(node.from_cache, is_policy, "{} ({out})", node.node_name);
    }
}

#[test]
fn strict_components_refuses_substitutions() {
    let dir = copy_project("helpdesk-assistant");
    let (code, _, err) = run(dir.path(), &["train", "--strict-components"], "");
    assert_eq!(code, 1);
    assert!(err.contains("DIETClassifier"), "{err}");
    let (code, out, err) = run(dir.path(), &["train"], "");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("rusa has no DIETClassifier; it uses LogisticRegressionClassifier + CRFEntityExtractor instead"),
        "{err}"
    );
    assert!(
        err.lines()
            .any(|l| l.starts_with("warning: config.yml:11:5:") && l.contains("DIETClassifier")),
        "{err}"
    );
    assert_eq!(
        err.matches("DIETClassifier").count(),
        1,
        "one warning per substitution: {err}"
    );
    assert!(out.contains("Your model is saved"), "{out}");
}

#[test]
fn models_of_another_format_are_refused() {
    let dir = copy_project("moodbot");
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    // A gzipped tar whose metadata says format 99.
    let path = dir.path().join("models/old.tar.gz");
    let file = std::fs::File::create(&path).unwrap();
    let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let body = br#"{"format_version": 99, "rusa_version": "9.9.9"}"#;
    let mut header = tar::Header::new_gnu();
    header.set_size(body.len() as u64);
    header.set_cksum();
    tar.append_data(&mut header, "metadata.json", &body[..])
        .unwrap();
    tar.into_inner().unwrap().finish().unwrap();
    let (code, _, err) = run(
        dir.path(),
        &["shell", "--model", "models/old.tar.gz"],
        "hi\n",
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("archive format 99 (by rusa 9.9.9)") && err.contains("train the model again"),
        "{err}"
    );
}

#[test]
fn finetune_says_it_is_not_supported() {
    let dir = copy_project("moodbot");
    let (code, _, err) = run(dir.path(), &["train", "--finetune"], "");
    assert_eq!(code, 1);
    assert!(err.contains("--finetune is not supported"), "{err}");
}

#[test]
fn init_writes_the_starter_project_trains_it_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["init", "bot", "--no-prompt"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Your model is saved"), "{out}");
    let bot = dir.path().join("bot");
    for file in [
        "config.yml",
        "domain.yml",
        "endpoints.yml",
        "credentials.yml",
        "data/nlu.yml",
        "data/rules.yml",
        "data/stories.yml",
        "tests/test_stories.yml",
    ] {
        assert!(bot.join(file).is_file(), "{file}");
    }
    assert!(
        std::fs::read_to_string(bot.join("endpoints.yml"))
            .unwrap()
            .contains("#  dialect: sqlite")
    );
    assert_eq!(models(&bot).len(), 1);
    // The starter assistant runs its form.
    let (code, out, _) = run(&bot, &["shell"], "what's the weather\nin Quito\nthanks\n");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "For which city would you like the forecast?\nHere is the forecast for Quito: mild, with a chance of sun.\nGlad to help.\n"
    );
    // A second init into the same directory changes nothing.
    let (code, _, err) = run(dir.path(), &["init", "bot", "--no-prompt"], "");
    assert_eq!(code, 1);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn moodbot_test_stories_pass_and_a_wrong_one_is_reported() {
    let dir = copy_project("moodbot");
    assert_eq!(run(dir.path(), &["train"], "").0, 0);
    let (code, out, err) = run(dir.path(), &["test", "--successes"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Test stories: 7 of 7 passed"), "{out}");
    let successes: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/intent_successes.json")).unwrap(),
    )
    .unwrap();
    assert!(successes.as_array().is_some_and(|s| !s.is_empty()));
    // Entities are reported per extractor, as Rasa does (rusa's default pipeline extracts
    // with its CRF).
    let crf: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/CRFEntityExtractor_report.json"))
            .unwrap(),
    )
    .unwrap();
    assert!(crf.get("weighted avg").is_some(), "{crf}");
    assert!(
        dir.path()
            .join("results/CRFEntityExtractor_errors.json")
            .exists()
    );
    assert!(out.contains("Intents on 68 examples"), "{out}");
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/intent_report.json")).unwrap(),
    )
    .unwrap();
    assert!(report["greet"]["f1-score"].as_f64().unwrap() > 0.9);
    assert!(report.get("macro avg").is_some());
    for plot in ["intent_confusion_matrix.png", "intent_histogram.png"] {
        let bytes = std::fs::read(dir.path().join("results").join(plot)).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() > 1000,
            "{plot} is a PNG image"
        );
    }

    // A test story that expects the wrong answer fails, and says what was predicted.
    std::fs::write(
        dir.path().join("tests/test_wrong.yml"),
        "stories:\n- story: wrong answer\n  steps:\n  - user: |\n      hello\n    intent: greet\n  - action: utter_goodbye\n",
    )
    .unwrap();
    let (code, out, _) = run(dir.path(), &["test", "core"], "");
    assert_eq!(
        code, 0,
        "without --fail-on-prediction-errors a failed story is a report, not an error"
    );
    assert!(
        out.contains("7 of 8 passed") && out.contains("failed: wrong answer"),
        "{out}"
    );
    let failed =
        std::fs::read_to_string(dir.path().join("results/failed_test_stories.yml")).unwrap();
    assert!(
        failed.contains("- action: utter_goodbye  # predicted: utter_greet"),
        "{failed}"
    );
    let (code, _, _) = run(
        dir.path(),
        &["test", "core", "--fail-on-prediction-errors"],
        "",
    );
    assert_eq!(code, 1);
}

#[test]
fn nlu_cross_validation_writes_per_fold_scores() {
    let dir = copy_project("moodbot");
    // Reports of an earlier run are not left to be read as this run's.
    std::fs::create_dir_all(dir.path().join("results")).unwrap();
    std::fs::write(dir.path().join("results/intent_histogram.png"), "stale").unwrap();
    std::fs::write(dir.path().join("results/notes.txt"), "mine").unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["test", "nlu", "--cross-validation", "--folds", "3"],
        "",
    );
    assert!(!dir.path().join("results/intent_histogram.png").exists());
    assert!(
        dir.path().join("results/notes.txt").exists(),
        "only rusa's reports are removed"
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Cross-validation over 3 folds of 68 examples"),
        "{out}"
    );
    let cv: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("results/cross_validation.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(cv["folds"].as_array().unwrap().len(), 3);
    let mean = cv["accuracy"]["mean"].as_f64().unwrap();
    assert!(
        mean > 1.0 / 7.0,
        "better than chance over 7 intents: {mean}"
    );
}

/// A local action server for one request: answers with a bot message.
fn one_shot_action_server() -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let answer = r#"{"events": [], "responses": [{"text": "Hello from the action server"}]}"#;
        let mut stream = stream;
        write!(stream, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}", answer.len()).unwrap();
        String::from_utf8_lossy(&body).into_owned()
    });
    (url, handle)
}

#[test]
fn shell_runs_custom_actions_on_the_configured_action_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("config.yml"), "language: en\n").unwrap();
    std::fs::write(
        root.join("domain.yml"),
        "version: \"3.1\"\nintents: [greet]\nactions: [action_hello]\n",
    )
    .unwrap();
    std::fs::write(
        root.join("data/nlu.yml"),
        "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi\n",
    )
    .unwrap();
    std::fs::write(
        root.join("data/rules.yml"),
        "rules:\n- rule: greet through the action server\n  steps:\n  - intent: greet\n  - action: action_hello\n",
    )
    .unwrap();
    assert_eq!(run(root, &["train"], "").0, 0);
    let (url, server) = one_shot_action_server();
    std::fs::write(
        root.join("endpoints.yml"),
        format!("action_endpoint:\n  url: {url}\n"),
    )
    .unwrap();
    let (code, out, err) = run(root, &["shell"], "hello\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "Hello from the action server\n");
    let request: Value = serde_json::from_str(&server.join().unwrap()).unwrap();
    assert_eq!(request["next_action"], "action_hello");
}

#[test]
fn run_refuses_a_callback_channel_without_url() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |credentials: &str| {
        std::fs::write(dir.path().join("credentials.yml"), credentials).unwrap();
        run(
            dir.path(),
            &["run", "--port", "0", "--interface", "127.0.0.1"],
            "",
        )
    };
    // The callback channel needs the url to send replies to.
    let (code, _, err) = serve("callback:\n  token: x\n");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("credentials.yml:1:1: callback: the `url` to send replies to is missing"),
        "{err}"
    );
}

/// A writable copy of one of our test projects (`tests/projects`).
fn copy_own_project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/projects")
            .join(name),
        dir.path(),
    );
    dir
}

/// `rusa test core` as Rasa's: the stories' intents as written (NLU only with `--e2e`), a
/// form interrupted by an intent counts as rejecting it, Rasa's report files.
#[test]
fn test_core_scores_dialogue_as_rasa_does() {
    let dir = copy_own_project("form-test-stories");
    let (code, _, err) = run(dir.path(), &["train"], "");
    assert_eq!(code, 0, "{err}");
    let results = dir.path().join("results");

    let (code, out, err) = run(dir.path(), &["test", "core", "--successes"], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Test stories: 2 of 2 passed"), "{out}");
    let failed = std::fs::read_to_string(results.join("failed_test_stories.yml")).unwrap();
    assert_eq!(failed, "# None of the test stories failed - all good!");
    let successes = std::fs::read_to_string(results.join("successful_test_stories.yml")).unwrap();
    assert!(
        successes.contains("- story: chitchat during the order (tests/test_stories.yml)")
            && successes.contains("- story: thanks written as chitchat"),
        "{successes}"
    );
    let matrix = std::fs::read(results.join("story_confusion_matrix.png")).unwrap();
    assert!(matrix.starts_with(b"\x89PNG\r\n\x1a\n"));
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(results.join("story_report.json")).unwrap())
            .unwrap();
    assert_eq!(report["pizza_form"]["f1-score"], 1.0, "{report}");

    // End to end, the text "cheers" is a thanks: that story fails, named with the intent.
    let (code, out, err) = run(
        dir.path(),
        &["test", "core", "--e2e", "--fail-on-prediction-errors"],
        "",
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("Test stories: 1 of 2 passed")
            && out.contains("failed: thanks written as chitchat"),
        "{out}"
    );
    let failed = std::fs::read_to_string(results.join("failed_test_stories.yml")).unwrap();
    assert!(
        failed.contains("intent: chitchat  # predicted: thank"),
        "{failed}"
    );
    assert!(!failed.contains("chitchat during the order"), "{failed}");

    // The NLU's entity reports carry the name of config.yml's extractor, DIETClassifier,
    // which rusa's CRF extractor stands in for (Rasa's file names).
    let (code, _, err) = run(dir.path(), &["test", "nlu"], "");
    assert_eq!(code, 0, "{err}");
    let diet: Value = serde_json::from_str(
        &std::fs::read_to_string(results.join("DIETClassifier_report.json")).unwrap(),
    )
    .unwrap();
    assert!(diet["size"]["support"].as_u64().unwrap() > 0, "{diet}");
}

#[test]
fn the_starter_assistant_takes_a_lone_city_as_the_answer() {
    // The form asks "For which city…?"; the user answers with the name alone, as people do.
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(dir.path(), &["init", "bot", "--no-prompt"], "");
    assert_eq!(code, 0, "{err}");
    let bot = dir.path().join("bot");
    let (code, out, _) = run(&bot, &["shell"], "what's the weather\nBerlin\n");
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "For which city would you like the forecast?\nHere is the forecast for Berlin: mild, with a chance of sun.\n"
    );
}
