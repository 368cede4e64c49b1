//! The data tools run as a user runs them: `rusa data split nlu|stories`, `rusa data convert
//! nlu` (on an example of each vendor format in `tests/data_tools/`), `rusa data migrate` on
//! a Rasa 2.x project and `rusa visualize`. Every file a command writes is loaded by rusa
//! and passes `rusa data validate`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data_tools")
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, 0, "{args:?}\n{}{}", r.stdout, r.stderr);
    r
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn moodbot_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("moodbot");
    copy_dir(&fixtures().join("moodbot"), &project);
    (dir, project)
}

/// `rusa data validate` of `data` against the project's domain and config passes.
fn validates(project: &Path, data: &[&Path]) {
    let mut args = vec!["data", "validate", "--data"];
    let data: Vec<String> = data
        .iter()
        .map(|d| d.to_string_lossy().into_owned())
        .collect();
    args.extend(data.iter().map(String::as_str));
    let r = run(project, &args);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("the project is valid"), "{}", r.stdout);
}

#[test]
fn split_nlu_is_stratified_reproducible_and_validates() {
    let (_dir, project) = moodbot_copy();
    // An intent with one example stays in training, with a warning.
    std::fs::write(
        project.join("data/lonely.yml"),
        "version: \"3.1\"\nnlu:\n- intent: lonely\n  examples: |\n    - all by myself\n",
    )
    .unwrap();
    let mut domain = std::fs::read_to_string(project.join("domain.yml")).unwrap();
    domain = domain.replacen("intents:\n", "intents:\n  - lonely\n", 1);
    std::fs::write(project.join("domain.yml"), domain).unwrap();

    let r = ok(
        &project,
        &["data", "split", "nlu", "--random-seed", "42", "--out", "a"],
    );
    assert!(r.stdout.contains("seed 42"), "{}", r.stdout);
    assert!(
        r.stderr.contains("single example") && r.stderr.contains("lonely"),
        "{}",
        r.stderr
    );
    ok(
        &project,
        &["data", "split", "nlu", "--random-seed", "42", "--out", "b"],
    );
    for name in [
        "training_data.yml",
        "test_data.yml",
        "nlg_training_data.yml",
        "nlg_test_data.yml",
    ] {
        let a = std::fs::read_to_string(project.join("a").join(name)).unwrap();
        let b = std::fs::read_to_string(project.join("b").join(name)).unwrap();
        assert_eq!(a, b, "{name} differs between two runs with the same seed");
    }
    let train = std::fs::read_to_string(project.join("a/training_data.yml")).unwrap();
    let test = std::fs::read_to_string(project.join("a/test_data.yml")).unwrap();
    assert!(train.contains("all by myself") && !test.contains("all by myself"));
    // 69 examples, 80 %: every intent with two or more examples on both sides.
    let count = |t: &str| t.lines().filter(|l| l.starts_with("    - ")).count();
    assert_eq!(count(&train) + count(&test), 69);
    assert!((54..=56).contains(&count(&train)), "{}", count(&train));
    for intent in [
        "greet",
        "goodbye",
        "affirm",
        "deny",
        "mood_great",
        "mood_unhappy",
        "bot_challenge",
    ] {
        let item = format!("- intent: {intent}\n");
        assert!(train.contains(&item) && test.contains(&item), "{intent}");
    }
    // Another seed, another split; no seed, a seed printed.
    ok(
        &project,
        &["data", "split", "nlu", "--random-seed", "7", "--out", "c"],
    );
    assert_ne!(
        test,
        std::fs::read_to_string(project.join("c/test_data.yml")).unwrap()
    );
    let r = ok(&project, &["data", "split", "nlu", "--out", "d"]);
    assert!(r.stdout.contains("pass --random-seed"), "{}", r.stdout);

    // The parts load and validate, alone and with the stories.
    let a = project.join("a");
    validates(
        &project,
        &[
            &a.join("training_data.yml"),
            &project.join("data/stories.yml"),
            &project.join("data/rules.yml"),
        ],
    );
    validates(&project, &[&a]);
}

#[test]
fn split_stories_writes_loadable_files_and_keeps_a_single_story() {
    let (_dir, project) = moodbot_copy();
    std::fs::write(
        project.join("data/one.yml"),
        "version: \"3.1\"\nstories:\n- story: only one\n  steps:\n  - intent: greet\n  - action: utter_greet\n",
    )
    .unwrap();
    let r = ok(
        &project,
        &[
            "data",
            "split",
            "stories",
            "--random-seed",
            "3",
            "--training-fraction",
            "0.5",
        ],
    );
    assert!(r.stdout.contains("seed 3"), "{}", r.stdout);
    let out = project.join("train_test_split");
    assert!(out.join("train_stories.yml").is_file());
    assert!(out.join("test_stories.yml").is_file());
    assert!(out.join("train_one.yml").is_file());
    assert!(!out.join("test_one.yml").exists());
    assert!(r.stderr.contains("single story"), "{}", r.stderr);
    // The test file has a version, and is read as test stories (test_ prefix).
    let test = std::fs::read_to_string(out.join("test_stories.yml")).unwrap();
    assert!(test.starts_with("version: \"3.1\"\nstories:\n"), "{test}");
    validates(
        &project,
        &[
            &out,
            &project.join("data/nlu.yml"),
            &project.join("data/rules.yml"),
        ],
    );
    // Same seed, same files.
    ok(
        &project,
        &[
            "data",
            "split",
            "stories",
            "--random-seed",
            "3",
            "--training-fraction",
            "0.5",
            "--out",
            "again",
        ],
    );
    assert_eq!(
        test,
        std::fs::read_to_string(project.join("again/test_stories.yml")).unwrap()
    );
}

#[test]
fn split_refuses_a_fraction_outside_zero_and_one() {
    let (_dir, project) = moodbot_copy();
    let r = run(
        &project,
        &["data", "split", "nlu", "--training-fraction", "1.5"],
    );
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--training-fraction"), "{}", r.stderr);
}

/// A domain and config for converted data: the intents and entities it uses.
fn project_for(nlu_yaml: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(nlu_yaml).unwrap();
    let mut intents = Vec::new();
    let mut entities = Vec::new();
    for line in text.lines() {
        if let Some(i) = line.strip_prefix("- intent: ") {
            intents.push(i.to_owned());
        }
        for part in line.split("\"entity\": \"").skip(1) {
            entities.push(part.split('"').next().unwrap().to_owned());
        }
        for part in line.split("](").skip(1) {
            entities.push(part.split([')', ':']).next().unwrap().to_owned());
        }
    }
    entities.sort();
    entities.dedup();
    let mut domain = String::from("version: \"3.1\"\nintents:\n");
    for i in &intents {
        domain.push_str(&format!("  - {i}\n"));
    }
    if !entities.is_empty() {
        domain.push_str("entities:\n");
        for e in &entities {
            domain.push_str(&format!("  - \"{e}\"\n"));
        }
    }
    std::fs::write(dir.path().join("domain.yml"), domain).unwrap();
    std::fs::write(dir.path().join("config.yml"), "language: en\n").unwrap();
    dir
}

#[test]
fn convert_reads_every_vendor_format_and_writes_files_that_validate() {
    let out = tempfile::tempdir().unwrap();
    // (input, examples, intents expected in the output)
    let cases: &[(&str, usize, &[&str])] = &[
        ("luis.json", 6, &["BookFlight", "Greeting", "None"]),
        ("wit.json", 5, &["get_weather", "greet", "out_of_scope"]),
        ("dialogflow", 5, &["greet", "order_pizza"]),
        ("nlu.md", 4, &["greet", "inform"]),
    ];
    for (input, n_examples, intents) in cases {
        for format in ["yaml", "json"] {
            let ext = if format == "yaml" { "yml" } else { "json" };
            let target = out
                .path()
                .join(format!("{input}.{ext}").replace('.', "_") + "." + ext);
            let r = ok(
                out.path(),
                &[
                    "data",
                    "convert",
                    "nlu",
                    "-f",
                    format,
                    "--data",
                    &examples().join(input).to_string_lossy(),
                    "--out",
                    &target.to_string_lossy(),
                ],
            );
            assert!(
                r.stdout.contains(&format!("{n_examples} examples")),
                "{input}: {}",
                r.stdout
            );
            // Read back through the YAML writer, whatever the format, to build a domain.
            let yaml = out
                .path()
                .join(format!("{input}_back.yml").replace('.', "_") + ".yml");
            ok(
                out.path(),
                &[
                    "data",
                    "convert",
                    "nlu",
                    "--data",
                    &target.to_string_lossy(),
                    "--out",
                    &yaml.to_string_lossy(),
                ],
            );
            let text = std::fs::read_to_string(&yaml).unwrap();
            for intent in *intents {
                assert!(
                    text.contains(&format!("- intent: {intent}\n")),
                    "{input} {format}: {text}"
                );
            }
            let project = project_for(&yaml);
            validates(project.path(), &[&target]);
        }
    }
    // The entities came through with their roles, values and offsets.
    let luis = std::fs::read_to_string(out.path().join("luis_json_yml.yml")).unwrap();
    assert!(luis.contains(r#"from [seattle]{"entity": "Location", "role": "Origin"} to [cairo]{"entity": "Location", "role": "Destination"}"#), "{luis}");
    let wit = std::fs::read_to_string(out.path().join("wit_json_yml.yml")).unwrap();
    assert!(
        wit.contains(r#"[Oslo]{"entity": "wit$location", "role": "location"} tomorrow"#),
        "{wit}"
    );
    let df = std::fs::read_to_string(out.path().join("dialogflow_yml.yml")).unwrap();
    assert!(
        df.contains("I want a [large](size) pizza") && df.contains("- synonym: large"),
        "{df}"
    );
    assert!(!df.contains("hallo"), "only the English examples: {df}");
    let md = std::fs::read_to_string(out.path().join("nlu_md_yml.yml")).unwrap();
    assert!(
        md.contains(r#"I am in [NYC]{"entity": "city", "value": "New York"}"#),
        "{md}"
    );
}

#[test]
fn convert_uses_every_data_path_and_skips_stories() {
    let (_dir, project) = moodbot_copy();
    let r = ok(
        &project,
        &[
            "data",
            "convert",
            "nlu",
            "--data",
            "data",
            &examples().join("wit.json").to_string_lossy(),
        ],
    );
    assert!(
        r.stdout.contains("skipped data/stories.yml"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("73 examples"), "68 + 5: {}", r.stdout);
    assert!(project.join("converted_data/nlu.yml").is_file());
    let r = run(
        &project,
        &["data", "convert", "nlu", "--data", "missing.json"],
    );
    assert_eq!(r.code, 1, "a missing input is an error: {}", r.stderr);
    let r = run(
        &project,
        &[
            "data", "convert", "nlu", "--data", "data", "--out", "x.json",
        ],
    );
    assert_eq!(r.code, 1, "yaml into a .json file: {}", r.stderr);
}

#[test]
fn training_reads_rasa_json_and_refuses_markdown_with_the_conversion_to_run() {
    let (_dir, project) = moodbot_copy();
    ok(
        &project,
        &[
            "data",
            "convert",
            "nlu",
            "-f",
            "json",
            "--data",
            "data/nlu.yml",
            "--out",
            "data/nlu.json",
        ],
    );
    std::fs::remove_file(project.join("data/nlu.yml")).unwrap();
    let r = ok(&project, &["data", "validate"]);
    assert!(r.stdout.contains("68 examples"), "{}", r.stdout);

    std::fs::copy(examples().join("nlu.md"), project.join("data/old.md")).unwrap();
    let r = run(&project, &["data", "validate"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("data/old.md") && r.stderr.contains("rusa data convert nlu"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
}

#[test]
fn a_2x_project_fails_with_migrate_named_then_migrates_trains_and_passes_its_tests() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("pizza");
    copy_dir(&projects().join("rasa2-pizza"), &project);
    for args in [&["train"][..], &["data", "validate"], &["visualize"]] {
        let r = run(&project, args);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("rusa data migrate"),
            "{args:?}: {}",
            r.stderr
        );
    }
    let r = ok(&project, &["data", "migrate"]);
    assert!(r.stdout.contains("new_domain.yml"), "{}", r.stdout);
    assert!(
        r.stderr.contains("order_note"),
        "custom mapping warned: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(project.join("original_domain.yml")).unwrap(),
        std::fs::read_to_string(projects().join("rasa2-pizza/domain.yml")).unwrap()
    );
    // Run again: refused, the backup exists.
    assert_eq!(run(&project, &["data", "migrate"]).code, 1);
    // Before the move, the error points at the migrated file.
    let r = run(&project, &["train"]);
    assert!(r.stderr.contains("new_domain.yml"), "{}", r.stderr);

    std::fs::rename(project.join("new_domain.yml"), project.join("domain.yml")).unwrap();
    std::fs::remove_file(project.join("original_domain.yml")).unwrap();
    let r = ok(&project, &["data", "validate"]);
    assert!(r.stdout.contains("the project is valid"), "{}", r.stdout);
    ok(&project, &["train"]);
    let r = ok(&project, &["test", "core", "--fail-on-prediction-errors"]);
    assert!(r.stdout.contains("1 of 1 passed"), "{}", r.stdout);
}

#[test]
fn visualize_writes_one_offline_page_that_is_the_same_every_time() {
    let dir = tempfile::tempdir().unwrap();
    let project = fixtures().join("helpdesk-assistant");
    let a = dir.path().join("a.html");
    let b = dir.path().join("b.html");
    let r = ok(&project, &["visualize", "--out", &a.to_string_lossy()]);
    assert!(r.stdout.contains("a.html"), "{}", r.stdout);
    ok(&project, &["visualize", "--out", &b.to_string_lossy()]);
    let page = std::fs::read_to_string(&a).unwrap();
    assert_eq!(page, std::fs::read_to_string(&b).unwrap());
    for address in [
        "http:", "https:", "www.", "//cdn", "src=", "<link", "@import",
    ] {
        assert!(!page.contains(address), "the page names '{address}'");
    }
    // Intents with their entities, active loops, rule snippets.
    assert!(
        page.contains("trigger_handoff") && page.contains("handoff_to: "),
        "entities on user turns"
    );
    assert!(page.contains("active loop: open_incident_form"));
    assert!(page.contains(">...<"));

    for format in ["svg", "dot"] {
        let out = dir.path().join(format!("g.{format}"));
        ok(
            &project,
            &[
                "visualize",
                "--format",
                format,
                "--out",
                &out.to_string_lossy(),
            ],
        );
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.contains("trigger_handoff"), "{format}");
    }
    let r = run(
        &project,
        &[
            "visualize",
            "-d",
            "missing.yml",
            "--out",
            &a.to_string_lossy(),
        ],
    );
    assert_eq!(r.code, 1, "an unloadable domain is an error: {}", r.stderr);
}
