//! Rasa 3.6 parity of the command line, one small project of ours per pattern: YAML as
//! Rasa reads it, `data validate`'s verdict, `train` validating first, Rasa's flags.

mod common;

use std::path::Path;

use common::*;

/// A copy of a test project in a temporary directory (training writes models/ and .rusa/).
fn copy_project(name: &str) -> tempfile::TempDir {
    fn copy_dir(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy_dir(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&projects().join(name), dir.path());
    dir
}

// 1. YAML as Rasa reads it.

#[test]
fn a_quoted_text_continued_at_the_key_indentation_loads() {
    let r = run(&projects().join("quoted-multiline"), &["data", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "");
}

#[test]
fn a_missing_colon_is_reported_on_its_line() {
    let r = run(&projects().join("missing-colon"), &["data", "validate"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!(r.stderr, @"error: domain.yml:9:7: a ':' is missing after 'city' (the line below is indented as its value)");
}

// 2. `data validate` gives Rasa's verdict.

#[test]
fn what_rasa_only_warns_about_is_a_warning() {
    let r = run(&projects().join("rasa-verdict"), &["data", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stdout
            .contains("intent 'goodbye' has training examples but is not listed in the domain"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("entity 'day' is annotated"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("names intent 'ask_forecast', which is not listed"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("0 errors, 3 warnings"), "{}", r.stdout);
    assert!(
        r.stdout.contains("story conflicts compared over all turns"),
        "{}",
        r.stdout
    );
    // The warnings fail only when asked to.
    let strict = run(
        &projects().join("rasa-verdict"),
        &["data", "validate", "--fail-on-warnings"],
    );
    assert_eq!(strict.code, 1);
}

#[test]
fn stories_that_agree_on_their_last_turns_only_conflict_over_a_short_history() {
    // Over every preceding turn (Rasa's default) the stories differ; over 5 they do not.
    let r = run(
        &projects().join("rasa-verdict"),
        &["data", "validate", "--max-history", "5"],
    );
    // Found, and a warning as in Rasa 3.6 (exit 1 only with --fail-on-warnings).
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stdout.contains("story structure conflict"),
        "{}",
        r.stdout
    );
    let strict = run(
        &projects().join("rasa-verdict"),
        &[
            "data",
            "validate",
            "--max-history",
            "5",
            "--fail-on-warnings",
        ],
    );
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

// 3. `train` validates first.

#[test]
fn train_refuses_a_project_that_fails_validation() {
    for (project, finding) in [
        (
            "train-undefined-response",
            "response 'utter_goodbye' is used here but the domain has no response",
        ),
        (
            "train-domain-typo",
            "response 'utter_greet' is used here but the domain has no response",
        ),
        (
            "train-form-undefined-slot",
            "form 'weather_form' requires slot 'date', which the domain does not define",
        ),
        (
            "undefined-intent",
            "intent 'goodbye' is used here but is not listed in the domain",
        ),
    ] {
        let dir = copy_project(project);
        let r = run(dir.path(), &["train"]);
        assert_eq!(r.code, 1, "{project}: {}{}", r.stdout, r.stderr);
        assert!(r.stderr.contains(finding), "{project}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("error: the project did not pass validation; no model was trained"),
            "{project}: {}",
            r.stderr
        );
        assert!(
            !dir.path().join("models").exists()
                || std::fs::read_dir(dir.path().join("models"))
                    .unwrap()
                    .next()
                    .is_none(),
            "{project}: no model is written"
        );
    }
    let typo = run(&copy_project("train-domain-typo").keep(), &["train"]);
    assert!(
        typo.stderr
            .contains("unknown key 'respones' in the domain (did you mean 'responses'?)"),
        "{}",
        typo.stderr
    );
}

#[test]
fn skip_validation_trains_anyway_and_warnings_fail_only_when_asked() {
    let dir = copy_project("train-undefined-response");
    let r = run(dir.path(), &["train", "--skip-validation"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);

    let dir = copy_project("rasa-verdict");
    let r = run(dir.path(), &["train"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("validation found 3 warnings"),
        "{}",
        r.stderr
    );
    let strict = run(
        dir.path(),
        &["train", "--fail-on-validation-warnings", "--force"],
    );
    assert_eq!(strict.code, 1, "{}{}", strict.stdout, strict.stderr);
    let short = run(
        dir.path(),
        &[
            "train",
            "--validation-max-history",
            "5",
            "--fail-on-validation-warnings",
            "--force",
        ],
    );
    assert_eq!(short.code, 1, "{}", short.stderr);
    assert!(
        short.stderr.contains("story structure conflict"),
        "{}",
        short.stderr
    );
}

// 4. Rasa's flags.

#[test]
fn dry_run_answers_with_rasas_exit_codes() {
    let dir = copy_project("base");
    assert_eq!(run(dir.path(), &["train", "--dry-run"]).code, 1);
    assert!(
        !dir.path().join("models").exists(),
        "a dry run trains nothing"
    );
    assert_eq!(run(dir.path(), &["train"]).code, 0);
    let r = run(dir.path(), &["train", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.starts_with("Nothing changed"), "{}", r.stdout);
    assert_eq!(run(dir.path(), &["train", "--dry-run", "--force"]).code, 8);
}

#[test]
fn rasa_only_flags_are_accepted_with_one_line_each() {
    let dir = copy_project("base");
    let r = run(
        dir.path(),
        &[
            "train",
            "-vv",
            "--augmentation",
            "20",
            "--num-threads",
            "2",
            "--persist-nlu-data",
            "--epoch-fraction",
            "0.5",
            "--debug-plots",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for flag in [
        "note: --augmentation:",
        "note: --num-threads:",
        "note: --persist-nlu-data:",
        "note: --epoch-fraction:",
        "note: --debug-plots:",
    ] {
        assert_eq!(r.stderr.matches(flag).count(), 1, "{flag}: {}", r.stderr);
    }
    // -vv is --debug, which prints the configuration the training uses.
    assert!(
        r.stderr.contains("effective configuration:"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("  - WhitespaceTokenizer"), "{}", r.stderr);

    let r = run(
        dir.path(),
        &[
            "test",
            "--no-plot",
            "--no-errors",
            "--max-stories",
            "3",
            "--fail-on-prediction-errors",
        ],
    );
    assert_ne!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("note: --no-plot:"), "{}", r.stderr);
}

#[test]
fn server_flags_of_rasa_are_accepted() {
    for args in [&["run", "--help"][..], &["shell", "--help"][..]] {
        let r = run(&projects().join("base"), args);
        assert_eq!(r.code, 0);
        for flag in ["--ssl-certificate", "--remote-storage", "--connector"] {
            assert!(r.stdout.contains(flag), "{args:?} {flag}: {}", r.stdout);
        }
    }
    let r = run(&projects().join("base"), &["shell", "--help"]);
    assert!(r.stdout.contains("--conversation-id"), "{}", r.stdout);
}

#[test]
fn a_misspelt_component_is_an_error_and_a_custom_one_a_warning() {
    let dir = copy_project("base");
    std::fs::write(
        dir.path().join("config.yml"),
        "recipe: default.v1\nlanguage: en\npipeline:\n- name: WhitespaceTokenizer\n- name: CountVectorsFeaturizer\n- name: DIETClasifier\npolicies:\n- name: MemoizationPolicy\n",
    )
    .unwrap();
    let r = run(dir.path(), &["train"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("unknown component 'DIETClasifier' (did you mean 'DIETClassifier'?)"),
        "{}",
        r.stderr
    );
    std::fs::write(
        dir.path().join("config.yml"),
        "recipe: default.v1\nlanguage: en\npipeline:\n- name: WhitespaceTokenizer\n- name: CountVectorsFeaturizer\n- name: LogisticRegressionClassifier\n- name: addons.sentiment.SentimentAnalyzer\npolicies:\n- name: MemoizationPolicy\n",
    )
    .unwrap();
    let r = run(dir.path(), &["train"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("addons.sentiment.SentimentAnalyzer")
            && r.stderr.contains("custom component"),
        "{}",
        r.stderr
    );
}

// 6 and 7. The first hour.

#[test]
fn init_path_says_cd_path_next() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(dir.path(), &["init", "--no-prompt", "my bot"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Next: `cd 'my bot'`, then talk to it with `rusa shell`"),
        "{}",
        r.stdout
    );
}

#[test]
fn the_shell_skips_a_line_that_is_not_utf8_and_goes_on() {
    // Rasa's moodbot, trained, as a conversation partner.
    let dir = tempfile::tempdir().unwrap();
    let moodbot = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot");
    let paths = |name: &str| moodbot.join(name).to_str().unwrap().to_owned();
    let (domain, data, config) = (paths("domain.yml"), paths("data"), paths("config.yml"));
    let r = run(
        dir.path(),
        &[
            "train", "--domain", &domain, "--data", &data, "--config", &config,
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut input: Vec<u8> = b"\xff\xfe broken\n".to_vec();
    input.extend_from_slice(b"hello\n");
    let output = rusa(dir.path())
        .arg("shell")
        .write_stdin(input)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("not valid UTF-8; it was skipped"),
        "{stderr}"
    );
    // The session went on after the bad line.
    assert_eq!(stdout, "Hey! How are you?\n");
}

#[test]
fn train_core_and_nlu_take_rasas_short_data_flags() {
    let dir = copy_project("base");
    std::fs::rename(dir.path().join("data"), dir.path().join("training")).unwrap();
    let missing = run(dir.path(), &["train", "core"]);
    assert_ne!(missing.code, 0, "no data/ to train on: {}", missing.stderr);
    let core = run(
        dir.path(),
        &["train", "core", "-s", "training", "--out", "core-models"],
    );
    assert_eq!(core.code, 0, "{}{}", core.stdout, core.stderr);
    assert!(
        dir.path()
            .join("core-models")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
    let nlu = run(
        dir.path(),
        &["train", "nlu", "-u", "training", "--out", "nlu-models"],
    );
    assert_eq!(nlu.code, 0, "{}{}", nlu.stdout, nlu.stderr);
    assert!(
        dir.path()
            .join("nlu-models")
            .read_dir()
            .unwrap()
            .next()
            .is_some()
    );
    let long = run(
        dir.path(),
        &[
            "train",
            "nlu",
            "--nlu",
            "training",
            "--out",
            "nlu-models",
            "--force",
        ],
    );
    assert_eq!(long.code, 0, "{}{}", long.stdout, long.stderr);
    let both = run(
        dir.path(),
        &["train", "core", "-s", "training", "--data", "training"],
    );
    assert_eq!(
        both.code, 2,
        "-s and --data name the same thing: {}",
        both.stderr
    );
}
