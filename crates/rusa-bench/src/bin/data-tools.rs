//! `data-tools`: how long the data tools take beside loading the same project, in one
//! process, with the library functions the commands call (no process start, no telemetry):
//!
//! - `data split nlu` (read the NLU data, split, write the four files) and `data convert
//!   nlu` to YAML and to JSON (read, write) on BANKING77's `train.yml` (10,003 examples),
//!   beside `Project::load` of a project made of that file, a domain listing its intents
//!   and a config;
//! - `visualize` (read stories and rules, build the graph, lay it out, write the HTML page)
//!   on the largest fixture with stories, beside `Project::load` of that project.
//!
//! Each figure is the median (and min) of `--runs` runs after one unmeasured run. It prints
//! figures and asserts nothing about time. `scripts/bench-data-tools.sh` builds it in
//! release and runs it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use rusa_bench::stats::Samples;
use rusa_project::{Project, ProjectPaths, nlu_formats, nlu_writer, split};

#[derive(Debug, Parser)]
#[command(name = "data-tools")]
struct Args {
    /// The shared fixtures directory
    #[arg(long, value_name = "DIR", default_value = "../shared/fixtures")]
    fixtures: PathBuf,
    /// Measured runs of each step
    #[arg(long, default_value_t = 10)]
    runs: usize,
}

fn time(runs: usize, mut f: impl FnMut() -> anyhow::Result<()>) -> anyhow::Result<Samples> {
    f()?;
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        samples.push(start.elapsed());
    }
    Ok(Samples::new(samples))
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn row(what: &str, s: &Samples, base: Option<&Samples>) {
    let ratio = base
        .map(|b| {
            format!(
                "{:.2}x load",
                s.median().as_secs_f64() / b.median().as_secs_f64().max(1e-9)
            )
        })
        .unwrap_or_default();
    println!(
        "| {what} | {} | {} | {ratio} |",
        ms(s.median()),
        ms(s.min())
    );
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runs = args.runs.max(1);
    let work = tempfile::tempdir()?;

    // BANKING77 as a project: data/train.yml, a domain with its intents, a config.
    let banking = args.fixtures.join("banking77/train.yml");
    let project = work.path().join("banking77");
    std::fs::create_dir_all(project.join("data"))?;
    std::fs::copy(&banking, project.join("data/train.yml"))
        .with_context(|| format!("cannot read {}", banking.display()))?;
    let loaded = nlu_formats::load_training_data(std::slice::from_ref(&banking), "en")?;
    let mut domain = String::from("version: \"3.1\"\nintents:\n");
    for intent in loaded.data.nlu.intents() {
        domain.push_str(&format!("  - {intent}\n"));
    }
    std::fs::write(project.join("domain.yml"), domain)?;
    std::fs::write(project.join("config.yml"), "language: en\n")?;
    let paths = ProjectPaths::in_dir(&project);
    let examples = loaded.data.nlu.examples.len();

    println!("BANKING77 train.yml ({examples} examples), {runs} runs each, median and min:\n");
    println!("| step | median | min | vs. load |\n|---|---|---|---|");
    let load = time(runs, || {
        Project::load(&paths)?;
        Ok(())
    })?;
    row("load the project (Project::load)", &load, None);
    let out = work.path().join("split");
    let split_nlu = time(runs, || {
        let data = nlu_formats::load_training_data(&[project.join("data")], "en")?;
        let s = split::split_nlu(&data.data, 0.8, 42);
        std::fs::create_dir_all(&out)?;
        std::fs::write(
            out.join("training_data.yml"),
            nlu_writer::nlu_yaml(&s.train.nlu),
        )?;
        std::fs::write(out.join("test_data.yml"), nlu_writer::nlu_yaml(&s.test.nlu))?;
        std::fs::write(
            out.join("nlg_training_data.yml"),
            nlu_writer::responses_yaml(&s.train.responses),
        )?;
        std::fs::write(
            out.join("nlg_test_data.yml"),
            nlu_writer::responses_yaml(&s.test.responses),
        )?;
        Ok(())
    })?;
    row(
        "data split nlu (read, split, write 4 files)",
        &split_nlu,
        Some(&load),
    );
    let convert = |json: bool| {
        let target = work.path().join(if json { "nlu.json" } else { "nlu.yml" });
        let project = project.clone();
        move || -> anyhow::Result<()> {
            let data = nlu_formats::load_training_data(&[project.join("data")], "en")?;
            let text = if json {
                nlu_writer::training_data_json(&data.data.nlu)
            } else {
                nlu_writer::training_data_yaml(&data.data)
            };
            std::fs::write(&target, text)?;
            Ok(())
        }
    };
    let to_yaml = time(runs, convert(false))?;
    row(
        "data convert nlu -f yaml (read, write)",
        &to_yaml,
        Some(&load),
    );
    let to_json = time(runs, convert(true))?;
    row(
        "data convert nlu -f json (read, write)",
        &to_json,
        Some(&load),
    );
    // And back: reading the Rasa JSON file.
    let json_file = work.path().join("nlu.json");
    let from_json = time(runs, || {
        let data = nlu_formats::load_training_data(std::slice::from_ref(&json_file), "en")?;
        std::fs::write(
            work.path().join("back.yml"),
            nlu_writer::training_data_yaml(&data.data),
        )?;
        Ok(())
    })?;
    row(
        "data convert nlu, Rasa JSON to YAML",
        &from_json,
        Some(&load),
    );

    // The largest fixture with stories.
    let (name, dir) = largest_story_project(&args.fixtures)?;
    let paths = ProjectPaths::in_dir(&dir);
    let p = Project::load(&paths)?;
    println!(
        "\n{name} ({} stories, {} rules), {runs} runs each:\n",
        p.stories.len(),
        p.rules.len()
    );
    println!("| step | median | min | vs. load |\n|---|---|---|---|");
    let load = time(runs, || {
        Project::load(&paths)?;
        Ok(())
    })?;
    row("load the project (Project::load)", &load, None);
    let html = work.path().join("graph.html");
    let mut nodes = 0;
    let visualize = time(runs, || {
        let mut warnings = Vec::new();
        rusa_project::load_domain(&paths.domain, &mut warnings)?;
        let (stories, rules) =
            rusa_project::load_stories_and_rules(&dir.join("data"), &mut warnings)?;
        let sequences = rusa_core::story_graph::sequences_from_project(&stories, &rules);
        let options = rusa_core::story_graph::GraphOptions::default();
        let graph = rusa_core::story_graph::build(&sequences, &options);
        nodes = graph.nodes.len();
        std::fs::write(
            &html,
            rusa_core::story_graph::to_html(&graph, &options.title),
        )?;
        Ok(())
    })?;
    row(
        &format!("visualize (read, build, lay out {nodes} nodes, write HTML)"),
        &visualize,
        Some(&load),
    );
    Ok(())
}

/// The fixture project (with a domain and stories) whose stories and rules are the most.
fn largest_story_project(fixtures: &Path) -> anyhow::Result<(String, PathBuf)> {
    let mut best: Option<(usize, String, PathBuf)> = None;
    let mut candidates = Vec::new();
    for entry in std::fs::read_dir(fixtures)?.flatten() {
        let dir = entry.path();
        candidates.push(dir.clone());
        if let Ok(sub) = std::fs::read_dir(&dir) {
            candidates.extend(sub.flatten().map(|e| e.path()));
        }
    }
    for dir in candidates {
        if !dir.join("domain.yml").is_file() || !dir.join("data").is_dir() {
            continue;
        }
        let Ok(p) = Project::load(&ProjectPaths::in_dir(&dir)) else {
            continue;
        };
        let size = p.stories.len() + p.rules.len();
        if best.as_ref().is_none_or(|(n, _, _)| size > *n) {
            let name = dir
                .strip_prefix(fixtures)
                .unwrap_or(&dir)
                .display()
                .to_string();
            best = Some((size, name, dir));
        }
    }
    best.map(|(_, n, d)| (n, d))
        .context("no fixture project with stories")
}
