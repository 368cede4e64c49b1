//! `rusa data split nlu` and `rusa data split stories`: a training and a test part of the
//! training data, with Rasa's file names.
//!
//! `nlu` writes `training_data.yml`, `test_data.yml`, `nlg_training_data.yml` and
//! `nlg_test_data.yml` into `--out` (Rasa YAML whatever the input format; the NLG files
//! hold the responses of retrieval intents, or only `version` when there are none).
//! `stories` writes `train_<file>` and `test_<file>` for each file with stories. The split
//! itself is `rusa_project::split`; the seed is printed so a split can be made again.

use std::fmt::Write as _;
use std::path::Path;

use rusa_project::nlu_formats::{NluFormat, load_training_data};
use rusa_project::split::{random_seed, split_nlu, split_story_file, story_split_names};
use rusa_project::{DEFAULT_LANGUAGE, nlu_writer};

use crate::cli::{DataSplitNluArgs, DataSplitWhat, LogArgs};
use crate::error::{Outcome, UserError};

/// The files `data split nlu` writes, as Rasa names them.
pub const TRAINING_DATA_FILE: &str = "training_data.yml";
pub const TEST_DATA_FILE: &str = "test_data.yml";
pub const NLG_TRAINING_DATA_FILE: &str = "nlg_training_data.yml";
pub const NLG_TEST_DATA_FILE: &str = "nlg_test_data.yml";

pub fn run(what: DataSplitWhat, log: LogArgs) -> anyhow::Result<Outcome> {
    match what {
        DataSplitWhat::Nlu(args) => split_nlu_data(&args, log),
        DataSplitWhat::Stories(args) => split_stories_data(&args, log),
    }
}

/// The fraction must leave something on both sides.
fn check_fraction(fraction: f64) -> Result<(), UserError> {
    if fraction > 0.0 && fraction < 1.0 {
        Ok(())
    } else {
        Err(UserError::new(format!(
            "--training-fraction must be between 0 and 1 (exclusive), got {fraction}"
        ))
        .with_hint("0.8 puts 80 % of the data in the training part"))
    }
}

fn seed_of(args: &DataSplitNluArgs) -> (u64, &'static str) {
    match args.random_seed {
        Some(seed) => (seed, "given"),
        None => (random_seed(), "new"),
    }
}

fn create_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot create '{}'", dir.display())))
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot write '{}'", path.display())))
}

fn split_nlu_data(args: &DataSplitNluArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    check_fraction(args.training_fraction)?;
    let loaded = load_training_data(std::slice::from_ref(&args.nlu), DEFAULT_LANGUAGE)?;
    for w in &loaded.warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    if loaded.data.nlu.examples.is_empty() {
        return Err(
            UserError::new(format!("no NLU examples found in '{}'", args.nlu.display()))
                .with_hint("name the NLU data with --nlu (a file or a directory)")
                .into(),
        );
    }
    let (seed, origin) = seed_of(args);
    let split = split_nlu(&loaded.data, args.training_fraction, seed);
    if !split.single_example_intents.is_empty() {
        eprintln!(
            "warning: {} with a single example: kept in the training part only (a test example \
             of an intent the model never learned could only fail): {}",
            if split.single_example_intents.len() == 1 {
                "1 intent"
            } else {
                "intents"
            },
            split.single_example_intents.join(", ")
        );
    }
    if split.fraction_differs {
        eprintln!(
            "warning: too few examples to put every intent in both parts and keep {} of the data \
             for training; the parts' sizes differ from that fraction",
            args.training_fraction
        );
    }

    create_dir(&args.out)?;
    let files = [
        (TRAINING_DATA_FILE, nlu_writer::nlu_yaml(&split.train.nlu)),
        (TEST_DATA_FILE, nlu_writer::nlu_yaml(&split.test.nlu)),
        (
            NLG_TRAINING_DATA_FILE,
            nlu_writer::responses_yaml(&split.train.responses),
        ),
        (
            NLG_TEST_DATA_FILE,
            nlu_writer::responses_yaml(&split.test.responses),
        ),
    ];
    for (name, text) in &files {
        write(&args.out.join(name), text)?;
    }
    crate::usage::data_split(args.training_fraction, rusa_telemetry::ModelType::Nlu);

    if !log.quiet {
        let mut text = String::new();
        let skipped: Vec<_> = loaded
            .skipped
            .iter()
            .filter(|(_, why)| !why.contains("no NLU data"))
            .collect();
        for (path, why) in skipped {
            let _ = writeln!(text, "skipped {}: {why}", path.display());
        }
        let read: Vec<String> = loaded
            .files
            .iter()
            .filter(|(_, f)| *f != NluFormat::RasaYaml)
            .map(|(p, f)| format!("{} ({})", p.display(), f.name()))
            .collect();
        if !read.is_empty() {
            let _ = writeln!(text, "read {}", read.join(", "));
        }
        let _ = writeln!(
            text,
            "split {} examples of {} intents with seed {seed} ({origin}; pass --random-seed {seed} to make this split again):",
            loaded.data.nlu.examples.len(),
            loaded.data.nlu.intents().len()
        );
        let _ = writeln!(
            text,
            "  {}  {} examples, {} responses",
            args.out.join(TRAINING_DATA_FILE).display(),
            split.train.nlu.examples.len(),
            split.train.responses.len()
        );
        let _ = writeln!(
            text,
            "  {}  {} examples, {} responses",
            args.out.join(TEST_DATA_FILE).display(),
            split.test.nlu.examples.len(),
            split.test.responses.len()
        );
        let _ = writeln!(
            text,
            "  responses in {} and {}",
            args.out.join(NLG_TRAINING_DATA_FILE).display(),
            args.out.join(NLG_TEST_DATA_FILE).display()
        );
        crate::output::print(&text)?;
    }
    Ok(Outcome::Success)
}

fn split_stories_data(args: &DataSplitNluArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    check_fraction(args.training_fraction)?;
    if !args.nlu.exists() {
        return Err(rusa_project::ProjectError::Missing {
            what: "training data path",
            path: args.nlu.clone(),
            flag: Some("--nlu"),
        }
        .into());
    }
    let (seed, origin) = seed_of(args);
    let mut text = String::new();
    let mut written = 0;
    for file in rusa_project::yaml_files(&args.nlu)? {
        let doc = rusa_project::read_document(&file)?;
        let Some(split) = split_story_file(&doc, args.training_fraction, seed)? else {
            if doc.root.as_ref().is_some_and(|r| r.get("rules").is_some()) {
                let _ = writeln!(
                    text,
                    "  {}: no stories (rules are not split), skipped",
                    file.display()
                );
            }
            continue;
        };
        if written == 0 {
            create_dir(&args.out)?;
        }
        let (train_name, test_name) = story_split_names(&file);
        let train_path = args.out.join(&train_name);
        write(&train_path, &split.train)?;
        written += 1;
        if split.test_stories == 0 {
            eprintln!(
                "warning: {}: a single story: it stays in the training part and no test file is written",
                file.display()
            );
            let _ = writeln!(
                text,
                "  {}: {} with 1 story",
                file.display(),
                train_path.display()
            );
            continue;
        }
        let test_path = args.out.join(&test_name);
        write(&test_path, &split.test)?;
        let _ = writeln!(
            text,
            "  {}: {} with {} stories, {} with {}",
            file.display(),
            train_path.display(),
            split.train_stories,
            test_path.display(),
            split.test_stories
        );
    }
    if written == 0 {
        return Err(UserError::new(format!(
            "no file with stories found in '{}'",
            args.nlu.display()
        ))
        .with_hint("name the stories with --nlu (a file or a directory); rules are not split")
        .into());
    }
    crate::usage::data_split(args.training_fraction, rusa_telemetry::ModelType::Core);
    if !log.quiet {
        let header = format!(
            "split the stories of {written} file{} with seed {seed} ({origin}; pass --random-seed {seed} to make this split again):\n",
            if written == 1 { "" } else { "s" }
        );
        crate::output::print(&(header + &text))?;
    }
    Ok(Outcome::Success)
}
