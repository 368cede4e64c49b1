//! The `rusa` binary, run as a user runs it: exit codes, stdout and stderr.

mod common;

use std::path::Path;

use common::*;

#[test]
fn moodbot_validates_clean() {
    let r = run(&fixtures().join("moodbot"), &["data", "validate"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_eq!(r.stderr, "");
    insta::assert_snapshot!(r.stdout, @"the project is valid: 7 intents, 68 examples, 3 stories, 2 rules, 6 responses (story conflicts compared over all turns)");
}

#[test]
fn moodbot_validates_clean_with_fail_on_warnings() {
    let r = run(
        &fixtures().join("moodbot"),
        &["data", "validate", "--fail-on-warnings"],
    );
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn the_other_fixture_projects_load() {
    // Their data has real inconsistencies (validation findings), but every file loads.
    for project in [
        "helpdesk-assistant",
        "rasa-examples/concertbot",
        "rasa-examples/e2ebot",
        "rasa-examples/reminderbot",
        "rasa-examples/responseselectorbot",
        "rasa-examples/rules",
    ] {
        let r = run(&fixtures().join(project), &["data", "validate"]);
        assert!(r.code == 0 || r.code == 1, "{project}: {}", r.stderr);
        assert!(
            !r.stderr.contains("error:"),
            "{project} failed to load: {}",
            r.stderr
        );
        assert!(
            r.stdout.contains("the project is valid") || r.stdout.contains("validation failed"),
            "{project}: {}",
            r.stdout
        );
    }
}

#[test]
fn a_valid_project_passes() {
    let r = run(&projects().join("base"), &["data", "validate"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
}

#[test]
fn bad_yaml_names_file_line_and_column() {
    let r = run(&projects().join("bad-yaml"), &["data", "validate"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    insta::assert_snapshot!(r.stderr, @"error: data/nlu.yml:5:9: illegal placement of ':' indicator");
}

#[test]
fn undefined_intent_in_a_story() {
    let r = run(&projects().join("undefined-intent"), &["data", "validate"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn conflicting_stories() {
    let r = run(
        &projects().join("conflicting-stories"),
        &["data", "validate"],
    );
    // A warning, as in Rasa 3.6; `--fail-on-warnings` makes it fail.
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
    let strict = run(
        &projects().join("conflicting-stories"),
        &["data", "validate", "--fail-on-warnings"],
    );
    assert_eq!(strict.code, 1, "{}", strict.stdout);
}

#[test]
fn conflicts_are_found_with_a_short_history_too() {
    let r = run(
        &projects().join("conflicting-stories"),
        &["data", "validate", "--max-history", "1"],
    );
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("compared over the last 1 action(s)"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("conversation: intent thank\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn duplicate_examples_warn_and_fail_only_with_fail_on_warnings() {
    let r = run(
        &projects().join("duplicate-examples"),
        &["data", "validate"],
    );
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
    let strict = run(
        &projects().join("duplicate-examples"),
        &["data", "validate", "--fail-on-warnings"],
    );
    assert_eq!(strict.code, 1);
    assert!(strict.stdout.contains("validation failed"));
}

#[test]
fn unknown_slot_type() {
    let r = run(&projects().join("unknown-slot-type"), &["data", "validate"]);
    assert_eq!(r.code, 1);
    insta::assert_snapshot!(r.stderr, @r"
    error: domain.yml:10:11: slot 'city' has the unknown type 'string'
    hint: slot types are text, bool, categorical, float, list, any
    ");
}

#[test]
fn a_missing_domain_names_the_path_and_the_flag() {
    let r = run(
        &projects().join("base"),
        &["data", "validate", "--domain", "nowhere.yml"],
    );
    assert_eq!(r.code, 1);
    insta::assert_snapshot!(r.stderr, @r"
    error: the domain 'nowhere.yml' does not exist
    hint: run the command in the project's directory, or name the path with --domain
    ");
}

#[test]
fn flags_override_the_default_paths() {
    let base = projects().join("base");
    let r = run(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &[
            "data",
            "validate",
            "--domain",
            base.join("domain.yml").to_str().unwrap(),
            "--config",
            base.join("config.yml").to_str().unwrap(),
            "--data",
            base.join("data").to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
}

#[test]
fn a_domain_directory_is_merged() {
    let dir = tempfile::tempdir().unwrap();
    let base = projects().join("base");
    std::fs::create_dir_all(dir.path().join("domain/more")).unwrap();
    std::fs::copy(base.join("config.yml"), dir.path().join("config.yml")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::copy(base.join("data/nlu.yml"), dir.path().join("data/nlu.yml")).unwrap();
    std::fs::copy(
        base.join("data/stories.yml"),
        dir.path().join("data/stories.yml"),
    )
    .unwrap();
    let domain = std::fs::read_to_string(base.join("domain.yml")).unwrap();
    let (head, responses) = domain.split_once("responses:").unwrap();
    std::fs::write(dir.path().join("domain/main.yml"), head).unwrap();
    std::fs::write(
        dir.path().join("domain/more/responses.yml"),
        format!("version: \"3.1\"\nresponses:{responses}"),
    )
    .unwrap();
    let r = run(dir.path(), &["data", "validate", "--domain", "domain"]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("3 responses"), "{}", r.stdout);
}

#[test]
fn a_bad_command_line_exits_2() {
    let r = run(
        &projects().join("base"),
        &["data", "validate", "--max-history", "many"],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--max-history"), "{}", r.stderr);
    assert_eq!(run(&projects().join("base"), &["frobnicate"]).code, 2);
}

#[test]
fn help_lists_every_command() {
    let r = run(&projects().join("base"), &["--help"]);
    assert_eq!(r.code, 0);
    insta::assert_snapshot!(r.stdout);
}

#[test]
fn every_command_has_help() {
    let commands: &[&[&str]] = &[
        &["init"],
        &["train"],
        &["train", "nlu"],
        &["train", "core"],
        &["test"],
        &["test", "nlu"],
        &["test", "core"],
        &["shell"],
        &["shell", "nlu"],
        &["run"],
        &["run", "actions"],
        &["data", "split", "nlu"],
        &["data", "split", "stories"],
        &["data", "validate"],
        &["data", "convert", "nlu"],
        &["data", "migrate"],
        &["export"],
        &["visualize"],
        &["interactive"],
        &["telemetry"],
        &["telemetry", "status"],
        &["telemetry", "enable"],
        &["telemetry", "disable"],
        &["telemetry", "show"],
        &["telemetry", "reset"],
        &["completions"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let r = run(&projects().join("base"), &args);
        assert_eq!(r.code, 0, "{command:?}: {}", r.stderr);
        assert!(r.stdout.contains("Usage: rusa"), "{command:?}");
    }
}

#[test]
fn version_reports_build_information() {
    let r = run(&projects().join("base"), &["--version"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout
            .starts_with(concat!("rusa ", env!("CARGO_PKG_VERSION"))),
        "{}",
        r.stdout
    );
    for field in ["commit:", "target:", "compiler: rustc"] {
        assert!(r.stdout.contains(field), "{field} missing: {}", r.stdout);
    }
}

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let r = run(&projects().join("base"), &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.stdout.contains("validate"), "{shell}");
    }
}

#[test]
fn quiet_hides_the_summary_of_a_valid_project() {
    let r = run(
        &fixtures().join("moodbot"),
        &["--quiet", "data", "validate"],
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "");
}
