//! The loader and the validator never panic, whatever the files say: they answer with a
//! positioned error or a report.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use rusa_project::validate::{ValidateOptions, validate};
use rusa_project::{Project, ProjectPaths};

fn moodbot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(moodbot().join(rel)).expect("moodbot fixture is readable")
}

/// Writes a project whose files are `domain`, `nlu`, `stories` and `config`, then loads and
/// validates it. Either outcome is fine; a panic fails the test.
fn load_and_validate(domain: &str, nlu: &str, stories: &str, config: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("domain.yml"), domain).unwrap();
    std::fs::write(root.join("data/nlu.yml"), nlu).unwrap();
    std::fs::write(root.join("data/stories.yml"), stories).unwrap();
    std::fs::write(root.join("config.yml"), config).unwrap();
    match Project::load(&ProjectPaths::in_dir(root)) {
        Ok(project) => {
            let report = validate(
                &project,
                &ValidateOptions {
                    max_history: Some(3),
                },
            );
            let _ = report.render();
        }
        Err(err) => {
            // Errors about a file's content name the file.
            let text = err.to_string();
            assert!(!text.is_empty());
        }
    }
}

/// Applies an edit to text: delete a range, insert a fragment, or duplicate a line.
fn mutate(text: &str, at: usize, len: usize, fragment: &str, kind: u8) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = at % (chars.len() + 1);
    let end = (at + len).min(chars.len());
    match kind % 3 {
        0 => chars[..at].iter().chain(&chars[end..]).collect(),
        1 => {
            let mut s: String = chars[..at].iter().collect();
            s.push_str(fragment);
            s.extend(&chars[at..]);
            s
        }
        _ => {
            let lines: Vec<&str> = text.lines().collect();
            if lines.is_empty() {
                return text.to_owned();
            }
            let i = at % lines.len();
            let mut out = lines[..=i].join("\n");
            out.push('\n');
            out.push_str(&lines[i..].join("\n"));
            out
        }
    }
}

/// Fragments that are meaningful to YAML and to the annotation syntax.
fn fragment() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "-",
            " ",
            "  ",
            "\n",
            ":",
            "[",
            "]",
            "(",
            ")",
            "{",
            "}",
            "\"",
            "'",
            "|",
            ">",
            "#",
            "&a",
            "*a",
            "!!str",
            "~",
            "null",
            "yes",
            "3.1",
            "- intent:",
            "examples: |",
            "entities:",
            "type: text",
            "{\"entity\": ",
            "\t",
            "é",
            "\u{0}",
            "steps:",
            "or:",
            "slot_was_set:",
            "checkpoint: x",
            "mappings:",
            "- type: from_entity",
            "<<: *a",
        ]),
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn mutated_moodbot_files_never_panic(
        which in 0u8..4,
        at in any::<usize>(),
        len in 0usize..40,
        frag in fragment(),
        kind in any::<u8>(),
    ) {
        let mut files = [read("domain.yml"), read("data/nlu.yml"), read("data/stories.yml"), read("config.yml")];
        let i = which as usize;
        files[i] = mutate(&files[i], at, len, &frag, kind);
        load_and_validate(&files[0], &files[1], &files[2], &files[3]);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}", which in 0u8..4) {
        let mut files = [read("domain.yml"), read("data/nlu.yml"), read("data/stories.yml"), read("config.yml")];
        files[which as usize] = text;
        load_and_validate(&files[0], &files[1], &files[2], &files[3]);
    }

    #[test]
    fn annotations_never_panic(text in "[\\[\\](){}:a-z\" ,é]{0,60}") {
        if let Ok((plain, entities)) = rusa_project::parse_annotated(&text) {
            let n = plain.chars().count();
            for e in entities {
                prop_assert!(e.start <= e.end && e.end <= n);
            }
        }
    }
}

#[test]
fn deeply_nested_and_aliased_yaml_is_refused_not_crashed() {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
    for text in [nested.as_str(), bomb] {
        load_and_validate(
            text,
            &read("data/nlu.yml"),
            &read("data/stories.yml"),
            &read("config.yml"),
        );
    }
}
