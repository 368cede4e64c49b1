//! `rusa test [nlu|core]`: evaluates a trained model on test stories and NLU data, and
//! writes reports to `results/`.
//!
//! Files written: `story_report.json` (per action), `failed_test_stories.yml`,
//! `story_confusion_matrix.png`, with `--successes` `successful_test_stories.yml` and
//! `intent_successes.json`,
//! `intent_report.json`, `intent_errors.json`, `intent_confusion_matrix.json` and `.png`,
//! `intent_histogram.png`, `entity_report.json` (all extractors together) and per entity
//! extractor `<extractor>_report.json` and `<extractor>_errors.json`, named as in Rasa, and with `--cross-validation` the same NLU reports of the
//! out-of-fold predictions plus `cross_validation.json` (per-fold scores).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use rusa_core::agent::Agent;
use rusa_core::evaluate::{
    CoreEvaluation, NluEvaluation, Report, StoryResult, evaluate_nlu, evaluate_stories,
};
use rusa_nlu::{DEFAULT_RANDOM_SEED, Pipeline};
use rusa_project::{Example, NluData};
use serde_json::json;

use crate::cli::{TestArgs, TestCommon, TestPart};
use crate::error::{Outcome, UserError};

pub fn run(args: TestArgs) -> anyhow::Result<Outcome> {
    let (core, nlu, common) = match args.part {
        None => (true, true, args.common),
        Some(TestPart::Core(c)) => (true, false, c),
        Some(TestPart::Nlu(c)) => (false, true, c),
    };
    crate::cli::print_notices(&common.rasa_only.notices());
    std::fs::create_dir_all(&common.out)
        .with_context(|| format!("cannot create '{}'", common.out.display()))?;
    let mut failed = false;
    if nlu && common.cross_validation {
        failed |= cross_validate(&common)?;
    } else {
        let agent = Agent::load(&common.model).map_err(|e| {
            UserError::new(format!("{e}"))
                .with_hint("train a model with `rusa train`, or name one with --model")
        })?;
        if core {
            failed |= test_core(&agent, &common)?;
        }
        if nlu {
            failed |= test_nlu(&agent, &common)?;
        }
    }
    Ok(if failed && common.fail_on_prediction_errors {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

fn test_core(agent: &Agent, common: &TestCommon) -> anyhow::Result<bool> {
    if !agent.has_policies {
        return Err(UserError::new(
            "the model has no dialogue policies; test it with `rusa test nlu`",
        )
        .into());
    }
    let mut warnings = Vec::new();
    let stories = rusa_project::load_test_stories(&common.stories, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    let evaluation = evaluate_stories(agent, &stories, common.e2e);
    crate::usage::core_model_tested(
        stories.len(),
        evaluation.end_to_end,
        &agent.metadata.project_fingerprint,
    );
    write_core_reports(&evaluation, &common.out, common.successes)?;
    let passed = evaluation.stories.iter().filter(|s| s.passed).count();
    let total = evaluation.stories.len();
    let mut text = format!(
        "Test stories: {passed} of {total} passed ({:.1}%), action accuracy {:.3}",
        percent(passed, total),
        evaluation.actions.accuracy
    );
    if evaluation.end_to_end {
        let _ = write!(text, ", intent accuracy {:.3}", evaluation.intents.accuracy);
    }
    let _ = writeln!(text, ".");
    for story in evaluation.stories.iter().filter(|s| !s.passed) {
        let _ = writeln!(text, "  failed: {}", story.name);
    }
    let _ = writeln!(text, "Reports are in '{}'.", common.out.display());
    crate::output::print(&text)?;
    Ok(passed < total)
}

fn write_core_reports(
    evaluation: &CoreEvaluation,
    out: &Path,
    successes: bool,
) -> anyhow::Result<()> {
    write_json(
        &out.join("story_report.json"),
        &evaluation.actions.to_json(),
    )?;
    write_stories(
        &out.join("failed_test_stories.yml"),
        evaluation.stories.iter().filter(|s| !s.passed),
        "None of the test stories failed - all good!",
    )?;
    if successes {
        write_stories(
            &out.join("successful_test_stories.yml"),
            evaluation.stories.iter().filter(|s| s.passed),
            "None of the test stories succeeded :(",
        )?;
    }
    let (labels, matrix) = &evaluation.action_confusion;
    if let Err(e) = super::plots::confusion_matrix(
        &out.join("story_confusion_matrix.png"),
        "Action confusion matrix",
        labels,
        matrix,
    ) {
        eprintln!("warning: the plot story_confusion_matrix.png could not be drawn: {e}");
    }
    Ok(())
}

/// Writes test stories with their annotations as Rasa does: a YAML stories file whose
/// stories are named `<name> (<file>)`, or only the comment `# <none>` when there are none.
fn write_stories<'a>(
    path: &Path,
    stories: impl Iterator<Item = &'a StoryResult>,
    none: &str,
) -> anyhow::Result<()> {
    let mut yaml = String::from("version: \"3.1\"\nstories:\n");
    let mut any = false;
    for story in stories {
        any = true;
        // Rasa names each story with its file.
        let _ = writeln!(yaml, "- story: {} ({})", story.name, story.source.display());
        let _ = writeln!(yaml, "  steps:");
        for step in &story.annotated_steps {
            let _ = writeln!(yaml, "  {}", step.replace('\n', "\n  "));
        }
    }
    if !any {
        // Rasa's file holds only this comment, without a line end.
        yaml = format!("# {none}");
    }
    std::fs::write(path, yaml).with_context(|| format!("cannot write '{}'", path.display()))
}

fn load_nlu(common: &TestCommon) -> anyhow::Result<NluData> {
    let mut warnings = Vec::new();
    let data = rusa_project::load_nlu_data(std::slice::from_ref(&common.nlu), &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    if data.examples.is_empty() {
        return Err(UserError::new(format!(
            "no NLU examples were found in '{}'",
            common.nlu.display()
        ))
        .with_hint("name the test data with --nlu")
        .into());
    }
    Ok(data)
}

fn test_nlu(agent: &Agent, common: &TestCommon) -> anyhow::Result<bool> {
    if agent.nlu.is_none() {
        return Err(
            UserError::new("the model has no NLU pipeline; test it with `rusa test core`").into(),
        );
    }
    let data = load_nlu(common)?;
    crate::usage::nlu_model_tested(&data);
    let evaluation = evaluate_nlu(agent, &data.examples);
    write_nlu_reports(&evaluation, &common.out)?;
    if common.successes {
        write_json(
            &common.out.join("intent_successes.json"),
            &json!(evaluation.successes),
        )?;
    }
    crate::output::print(&nlu_summary(&evaluation, data.examples.len(), &common.out))?;
    Ok(!evaluation.errors.is_empty())
}

fn nlu_summary(evaluation: &NluEvaluation, n: usize, out: &Path) -> String {
    let mut text = format!(
        "Intents on {n} examples: accuracy {:.3}, macro F1 {:.3}, weighted F1 {:.3}.\n",
        evaluation.intents.accuracy,
        evaluation.intents.macro_avg.f1,
        evaluation.intents.weighted_avg.f1
    );
    let entity_labels = evaluation
        .entities
        .labels
        .keys()
        .filter(|k| *k != "no_entity")
        .count();
    if entity_labels > 0 {
        let _ = writeln!(
            text,
            "Entities ({entity_labels} types): macro F1 {:.3}.",
            macro_f1_without_no_entity(&evaluation.entities)
        );
    }
    let _ = writeln!(text, "Reports are in '{}'.", out.display());
    text
}

fn macro_f1_without_no_entity(report: &Report) -> f64 {
    let scores: Vec<f64> = report
        .labels
        .iter()
        .filter(|(k, _)| *k != "no_entity")
        .map(|(_, s)| s.f1)
        .collect();
    if scores.is_empty() {
        0.0
    } else {
        scores.iter().sum::<f64>() / scores.len() as f64
    }
}

fn write_nlu_reports(evaluation: &NluEvaluation, out: &Path) -> anyhow::Result<()> {
    write_json(
        &out.join("intent_report.json"),
        &evaluation.intents.to_json(),
    )?;
    write_json(&out.join("intent_errors.json"), &json!(evaluation.errors))?;
    let (labels, matrix) = &evaluation.confusion;
    write_json(
        &out.join("intent_confusion_matrix.json"),
        &json!({"labels": labels, "matrix": matrix}),
    )?;
    write_json(
        &out.join("intent_confidences.json"),
        &json!(
            evaluation
                .confidences
                .iter()
                .map(|(c, ok)| json!({"confidence": c, "correct": ok}))
                .collect::<Vec<_>>()
        ),
    )?;
    write_json(
        &out.join("entity_report.json"),
        &evaluation.entities.to_json(),
    )?;
    // Rasa's per-extractor reports: `<extractor>_report.json`, `<extractor>_errors.json`.
    for (extractor, (report, errors)) in &evaluation.extractors {
        write_json(
            &out.join(format!("{extractor}_report.json")),
            &report.to_json(),
        )?;
        write_json(
            &out.join(format!("{extractor}_errors.json")),
            &json!(errors),
        )?;
    }
    let plots = [
        (
            "intent_confusion_matrix.png",
            super::plots::confusion_matrix(
                &out.join("intent_confusion_matrix.png"),
                "Intent confusion matrix",
                labels,
                matrix,
            ),
        ),
        (
            "intent_histogram.png",
            super::plots::confidence_histogram(
                &out.join("intent_histogram.png"),
                &evaluation.confidences,
            ),
        ),
    ];
    for (name, result) in plots {
        if let Err(e) = result {
            eprintln!("warning: the plot {name} could not be drawn: {e}");
        }
    }
    Ok(())
}

/// The files `rusa test nlu` writes, with or without `--cross-validation`.
const NLU_REPORT_FILES: &[&str] = &[
    "intent_report.json",
    "intent_errors.json",
    "intent_confusion_matrix.json",
    "intent_confusion_matrix.png",
    "intent_confidences.json",
    "intent_histogram.png",
    "entity_report.json",
    "intent_successes.json",
    "cross_validation.json",
];

/// Trains the config's pipeline on all folds but one and tests on that one, for each fold;
/// writes the reports of the out-of-fold predictions and the per-fold scores.
fn cross_validate(common: &TestCommon) -> anyhow::Result<bool> {
    let folds = common.folds.max(2) as usize;
    let data = load_nlu(common)?;
    // The NLU reports of an earlier run would read as this run's: remove them first.
    for name in NLU_REPORT_FILES {
        let path = common.out.join(name);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| {
                format!("cannot remove the earlier report '{}'", path.display())
            })?;
        }
    }
    let config = rusa_project::load_config(&common.config, &mut Vec::new())?;
    let (domain, _) = rusa_project::load_domain(&common.domain, &mut Vec::new())?;
    let assignment = stratified_folds(&data.examples, folds);
    let mut fold_scores = Vec::new();
    let mut all_pairs: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    for fold in 0..folds {
        let mut train = data.clone();
        train.examples = data
            .examples
            .iter()
            .zip(&assignment)
            .filter(|(_, f)| **f != fold)
            .map(|(e, _)| e.clone())
            .collect();
        let test: Vec<Example> = data
            .examples
            .iter()
            .zip(&assignment)
            .filter(|(_, f)| **f == fold)
            .map(|(e, _)| e.clone())
            .collect();
        let pipeline = Pipeline::from_config(config.pipeline.as_deref(), false)
            .map_err(|e| UserError::new(e.to_string()))?;
        let nlu = pipeline
            .train(&train, DEFAULT_RANDOM_SEED)
            .map_err(|e| UserError::new(e.to_string()))?;
        let archive = rusa_core::archive::ModelArchive {
            metadata: rusa_core::archive::ModelMetadata::unsaved(
                "cross-validation",
                rusa_core::graph::TrainingType::Nlu,
                &config.language,
            ),
            domain: domain.clone(),
            nlu: Some(nlu),
            policies: None,
        };
        let agent = Agent::from_archive(archive, format!("fold-{fold}"));
        let evaluation = evaluate_nlu(&agent, &test);
        fold_scores.push(json!({"fold": fold, "examples": test.len(), "accuracy": evaluation.intents.accuracy, "macro_f1": evaluation.intents.macro_avg.f1}));
        for e in &test {
            let predicted = agent.parse_untraced(&e.text)["intent"]["name"]
                .as_str()
                .unwrap_or("None")
                .to_owned();
            all_pairs.push((e.base_intent().to_owned(), predicted));
        }
        errors.extend(evaluation.errors);
    }
    let report = Report::from_pairs(all_pairs.iter().map(|(g, p)| (g.as_str(), p.as_str())));
    write_json(&common.out.join("intent_report.json"), &report.to_json())?;
    write_json(&common.out.join("intent_errors.json"), &json!(errors))?;
    let accs: Vec<f64> = fold_scores
        .iter()
        .filter_map(|f| f["accuracy"].as_f64())
        .collect();
    let f1s: Vec<f64> = fold_scores
        .iter()
        .filter_map(|f| f["macro_f1"].as_f64())
        .collect();
    write_json(
        &common.out.join("cross_validation.json"),
        &json!({"folds": fold_scores, "accuracy": mean_std(&accs), "macro_f1": mean_std(&f1s)}),
    )?;
    let (am, asd) = mean_std_pair(&accs);
    let (fm, fsd) = mean_std_pair(&f1s);
    crate::output::print(&format!(
        "Cross-validation over {folds} folds of {} examples: intent accuracy {am:.3} ± {asd:.3}, macro F1 {fm:.3} ± {fsd:.3}.\nReports are in '{}'.\n",
        data.examples.len(),
        common.out.display()
    ))?;
    Ok(!errors.is_empty())
}

/// Assigns each example a fold, round-robin within each intent (stratified, deterministic).
fn stratified_folds(examples: &[Example], folds: usize) -> Vec<usize> {
    let mut counters: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    examples
        .iter()
        .map(|e| {
            let c = counters.entry(e.intent.as_str()).or_default();
            let fold = *c % folds;
            *c += 1;
            fold
        })
        .collect()
}

fn mean_std_pair(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let mean = xs.iter().sum::<f64>() / xs.len() as f64;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / xs.len() as f64;
    (mean, var.sqrt())
}

fn mean_std(xs: &[f64]) -> serde_json::Value {
    let (mean, std) = mean_std_pair(xs);
    json!({"mean": mean, "std": std})
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 {
        100.0
    } else {
        100.0 * a as f64 / b as f64
    }
}

fn write_json(path: &Path, value: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    std::fs::write(path, text).with_context(|| format!("cannot write '{}'", path.display()))
}
