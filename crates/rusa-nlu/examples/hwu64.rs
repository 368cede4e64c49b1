//! HWU64 (NLU-Evaluation-Data, fold 1 of the DIET paper's split): intent and entity
//! quality and the cost of rusa's default NLU pipeline with 54 entity types.
//!
//! `cargo run --release -p rusa-nlu --example hwu64 [-- options]`
//!
//! Trains on `shared/fixtures/hwu64/train.yml`, evaluates on `test.yml` and prints:
//! training time, peak RSS while training (Linux: `VmHWM` after resetting it through
//! `/proc/self/clear_refs`), the median and p99 time of one parse, intent accuracy and
//! macro-F1, and entity micro-F1 over exact spans and labels (entity, role and group must
//! match; an entity counts once), beside the DIET paper's figures for this data set.
//!
//! Options (for capped experiments while profiling):
//! - `--limit N`: train on every k-th example so that about N remain;
//! - `--crf-max-iterations N`: the CRF's `max_iterations` (epochs);
//! - `--pipeline '<json>'`: a JSON list of components (`[{"name": "...", ...}]`) instead of
//!   the default pipeline;
//! - `--errors N`: print up to N entity errors of the test set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusa_nlu::{AnyComponent, NluComponent, NluModel, Pipeline, TrainingView};
use rusa_project::{Component, NluData, Pos, Project, ProjectPaths};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

fn load(data: &Path) -> NluData {
    let moodbot = fixtures().join("moodbot");
    let paths = ProjectPaths {
        domain: moodbot.join("domain.yml"),
        data: vec![data.to_path_buf()],
        config: moodbot.join("config.yml"),
    };
    Project::load(&paths).expect("fixture loads").nlu
}

/// Intent accuracy and macro-F1 over the gold labels.
fn intent_scores(gold: &[String], predicted: &[String]) -> (f64, f64) {
    let mut stats: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new(); // tp, fp, fn
    let mut correct = 0;
    for (g, p) in gold.iter().zip(predicted) {
        stats.entry(g).or_default();
        if g == p {
            correct += 1;
            stats.entry(g).or_default().0 += 1.0;
        } else {
            stats.entry(p).or_default().1 += 1.0;
            stats.entry(g).or_default().2 += 1.0;
        }
    }
    let labels: Vec<_> = stats
        .iter()
        .filter(|(l, _)| gold.iter().any(|g| g == *l))
        .collect();
    let f1: f64 = labels.iter().map(|(_, s)| f1(s.0, s.1, s.2)).sum::<f64>() / labels.len() as f64;
    (correct as f64 / gold.len() as f64, f1)
}

fn f1(tp: f64, fp: f64, fn_: f64) -> f64 {
    let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    if p + r > 0.0 {
        2.0 * p * r / (p + r)
    } else {
        0.0
    }
}

/// An entity as scored: `(start, end, entity, role, group)`.
type Span = (usize, usize, String, Option<String>, Option<String>);

/// The entity label of each token, aligned as `rasa test nlu` does: the label of the entity
/// whose characters overlap the token most, `None` when none does. Role and group, when
/// present, are joined to the type with dots, as Rasa joins them.
fn token_labels(text: &str, spans: &[Span]) -> Vec<Option<String>> {
    rusa_nlu::tokenize(text)
        .iter()
        .map(|t| {
            spans
                .iter()
                .map(|s| (s.1.min(t.end).saturating_sub(s.0.max(t.start)), s))
                .filter(|(overlap, _)| *overlap > 0)
                .max_by_key(|(overlap, _)| *overlap)
                .map(|(_, s)| {
                    let mut label = s.2.clone();
                    for part in [&s.3, &s.4].into_iter().flatten() {
                        label.push('.');
                        label.push_str(part);
                    }
                    label
                })
        })
        .collect()
}

/// Token-level entity scores as `rasa test nlu` reports them (sklearn's report over the
/// labels of the gold tokens, `no_entity` left out of the labels but still counted as a
/// miss or a false alarm).
struct TokenScores {
    micro: f64,
    macro_: f64,
    weighted: f64,
    gold: usize,
    predicted: usize,
    correct: usize,
}

fn token_level_scores(examples: &[(String, Vec<Span>, Vec<Span>)]) -> TokenScores {
    let mut stats: BTreeMap<String, (f64, f64, f64)> = BTreeMap::new(); // tp, fp, fn
    let (mut gold_n, mut predicted_n, mut correct) = (0, 0, 0);
    for (text, gold, found) in examples {
        let g = token_labels(text, gold);
        let p = token_labels(text, found);
        for (g, p) in g.into_iter().zip(p) {
            gold_n += usize::from(g.is_some());
            predicted_n += usize::from(p.is_some());
            match (g, p) {
                (Some(g), Some(p)) if g == p => {
                    correct += 1;
                    stats.entry(g).or_default().0 += 1.0;
                }
                (g, p) => {
                    if let Some(p) = p {
                        stats.entry(p).or_default().1 += 1.0;
                    }
                    if let Some(g) = g {
                        stats.entry(g).or_default().2 += 1.0;
                    }
                }
            }
        }
    }
    // sklearn's `labels=` are the gold labels: a label only ever predicted is not a class,
    // and its false alarms do not count in the micro average either.
    let classes: Vec<&(f64, f64, f64)> = stats.values().filter(|s| s.0 + s.2 > 0.0).collect();
    let (tp, fp, fn_) = classes
        .iter()
        .fold((0.0, 0.0, 0.0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
    let support: f64 = classes.iter().map(|s| s.0 + s.2).sum();
    TokenScores {
        micro: f1(tp, fp, fn_),
        macro_: classes.iter().map(|s| f1(s.0, s.1, s.2)).sum::<f64>()
            / classes.len().max(1) as f64,
        weighted: classes
            .iter()
            .map(|s| f1(s.0, s.1, s.2) * (s.0 + s.2))
            .sum::<f64>()
            / support.max(1.0),
        gold: gold_n,
        predicted: predicted_n,
        correct,
    }
}

/// Entity micro-F1 as the evaluation script of the DIET paper's NLU-Benchmark runs (taken
/// from HERMIT, Vanzo et al. 2019) computes it: an entity is its type and the texts of its
/// tokens; a gold entity is found when a predicted entity of the same type shares a token
/// text with it, and a predicted one is right on the same terms. Role and group are not
/// looked at.
fn overlap_f1(examples: &[(String, Vec<Span>, Vec<Span>)]) -> f64 {
    let as_sets = |text: &str, spans: &[Span]| -> Vec<(String, BTreeSet<String>)> {
        let tokens = rusa_nlu::tokenize(text);
        spans
            .iter()
            .map(|s| {
                let words = tokens
                    .iter()
                    .filter(|t| t.start < s.1 && s.0 < t.end)
                    .map(|t| t.text.clone())
                    .collect();
                (s.2.clone(), words)
            })
            .collect()
    };
    let (mut found_gold, mut missed_gold, mut wrong_predicted) = (0.0, 0.0, 0.0);
    for (text, gold, found) in examples {
        let g = as_sets(text, gold);
        let p = as_sets(text, found);
        let meets = |a: &(String, BTreeSet<String>), b: &(String, BTreeSet<String>)| {
            a.0 == b.0 && !a.1.is_disjoint(&b.1)
        };
        for e in &g {
            if p.iter().any(|q| meets(e, q)) {
                found_gold += 1.0;
            } else {
                missed_gold += 1.0;
            }
        }
        wrong_predicted += p.iter().filter(|q| !g.iter().any(|e| meets(e, q))).count() as f64;
    }
    f1(found_gold, wrong_predicted, missed_gold)
}

/// Peak RSS of this process in KiB since the last reset (`VmHWM`), if the kernel tells.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets the peak RSS to the current RSS (Linux ≥ 4.0); false when not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time (user + system) this process has used, in seconds, from `/proc/self/stat`
/// (10 ms ticks); `None` off Linux. On a busy machine it says more than wall time.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pipeline: Option<Vec<Component>> = arg(&args, "--pipeline").map(|json| {
        let list: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(json).expect("--pipeline takes a JSON list of objects");
        list.into_iter()
            .map(|mut params| Component {
                name: params
                    .remove("name")
                    .and_then(|n| n.as_str().map(str::to_owned))
                    .expect("each component has a name"),
                params,
                pos: Pos::new(std::sync::Arc::from(Path::new("--pipeline")), 1, 1),
            })
            .collect()
    });
    let limit: Option<usize> = arg(&args, "--limit").map(|n| n.parse().expect("--limit N"));
    let crf_iterations: Option<usize> =
        arg(&args, "--crf-max-iterations").map(|n| n.parse().expect("--crf-max-iterations N"));
    let show_errors: usize = arg(&args, "--errors").map_or(0, |n| n.parse().expect("--errors N"));

    let dir = fixtures().join("hwu64");
    let mut train = load(&dir.join("train.yml"));
    let test = load(&dir.join("test.yml"));
    if let Some(n) = limit {
        let step = train.examples.len().div_ceil(n.max(1));
        train.examples = train.examples.into_iter().step_by(step).collect();
    }
    let entity_types: BTreeSet<&str> = train
        .examples
        .iter()
        .flat_map(|e| e.entities.iter().map(|s| s.entity.as_str()))
        .collect();
    let tokens: usize = train
        .examples
        .iter()
        .map(|e| rusa_nlu::tokenize(&e.text).len())
        .sum();
    println!(
        "HWU64 fold 1: train {} examples ({tokens} tokens, {} entity types), test {} examples",
        train.examples.len(),
        entity_types.len(),
        test.examples.len()
    );

    let mut built = Pipeline::from_config(pipeline.as_deref(), false).expect("pipeline builds");
    if let Some(n) = crf_iterations {
        for c in &mut built.components {
            if let AnyComponent::CrfEntityExtractor(crf) = c {
                crf.max_iterations = n;
            }
        }
    }

    let rss_reset = reset_peak_rss();
    let rss_before = peak_rss_kib();
    let started = Instant::now();
    // The pipeline's own training loop, timed per component.
    let mut view = TrainingView::from_nlu(&train);
    let mut timings = Vec::new();
    let cpu_start = cpu_seconds();
    for c in &mut built.components {
        let t = Instant::now();
        let cpu = cpu_seconds();
        c.train(&view, rusa_nlu::DEFAULT_RANDOM_SEED)
            .expect("trains");
        if c.annotates_training_data() {
            for ex in &mut view.examples {
                c.process(&mut ex.message);
            }
        }
        let mut name = c.name().to_owned();
        if let AnyComponent::CrfEntityExtractor(crf) = c {
            name = format!("{name} ({} epochs)", crf.epochs_trained());
        }
        timings.push((
            name,
            t.elapsed(),
            cpu_seconds().zip(cpu).map(|(b, a)| b - a),
        ));
    }
    let model = NluModel {
        components: built.components,
        substitutions: built.substitutions,
    };
    let training = started.elapsed();
    let training_cpu = cpu_seconds().zip(cpu_start).map(|(b, a)| b - a);
    let rss_peak = peak_rss_kib();
    for s in &model.substitutions {
        println!("  substitution: {s}");
    }

    let mut times = Vec::with_capacity(test.examples.len());
    let mut gold_intents = Vec::new();
    let mut predicted_intents = Vec::new();
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    let mut errors = Vec::new();
    let mut scored: Vec<(String, Vec<Span>, Vec<Span>)> = Vec::with_capacity(test.examples.len());
    for e in &test.examples {
        let t = Instant::now();
        let parsed = model.parse(&e.text);
        times.push(t.elapsed());
        let top = parsed
            .intent_ranking
            .iter()
            .find(|i| i.name != rusa_nlu::FALLBACK_INTENT)
            .map(|i| i.name.clone())
            .unwrap_or_default();
        gold_intents.push(e.intent.clone());
        predicted_intents.push(top);
        let gold: BTreeSet<Span> = e
            .entities
            .iter()
            .map(|s| {
                (
                    s.start,
                    s.end,
                    s.entity.clone(),
                    s.role.clone(),
                    s.group.clone(),
                )
            })
            .collect();
        let found: BTreeSet<Span> = parsed
            .entities
            .iter()
            .map(|s| {
                (
                    s.start,
                    s.end,
                    s.entity.clone(),
                    s.role.clone(),
                    s.group.clone(),
                )
            })
            .collect();
        let hits = gold.intersection(&found).count() as f64;
        tp += hits;
        fp += found.len() as f64 - hits;
        fn_ += gold.len() as f64 - hits;
        if gold != found && errors.len() < show_errors {
            errors.push((e.text.clone(), gold.clone(), found.clone()));
        }
        scored.push((
            e.text.clone(),
            gold.into_iter().collect(),
            found.into_iter().collect(),
        ));
    }
    let token_scores = token_level_scores(&scored);
    let overlap = overlap_f1(&scored);
    times.sort();
    let (accuracy, macro_f1) = intent_scores(&gold_intents, &predicted_intents);
    let entity_f1 = f1(tp, fp, fn_);
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
    let mib = |k: Option<u64>| {
        k.map_or("n/a".to_owned(), |k| {
            format!("{:.1} MiB", k as f64 / 1024.0)
        })
    };
    println!(
        "training {:.2} s (CPU {}); peak RSS while training {} (at start {}{})",
        training.as_secs_f64(),
        training_cpu.map_or("n/a".to_owned(), |c| format!("{c:.2} s")),
        mib(rss_peak),
        mib(rss_before),
        if rss_reset {
            ""
        } else {
            "; peak not reset, includes loading"
        }
    );
    for (name, t, cpu) in &timings {
        println!(
            "  {name:<40} {:.2} s (CPU {})",
            t.as_secs_f64(),
            cpu.map_or("n/a".to_owned(), |c| format!("{c:.2} s"))
        );
    }
    println!(
        "parse median {:.1} µs, p99 {:.1} µs",
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 99 / 100].as_secs_f64() * 1e6,
    );
    println!("intent accuracy {accuracy:.4}, macro-F1 {macro_f1:.4}");
    println!(
        "entity micro-F1 {entity_f1:.4} (precision {precision:.4}, recall {recall:.4}; {} gold, {} found, {} correct)",
        tp + fn_,
        tp + fp,
        tp
    );
    println!(
        "entity F1 per token as `rasa test nlu` scores it (entity type per token, no BILOU prefix, \
         tokens without entity not a class): micro {:.4}, macro {:.4}, weighted {:.4} \
         ({} gold tokens, {} predicted, {} correct)",
        token_scores.micro,
        token_scores.macro_,
        token_scores.weighted,
        token_scores.gold,
        token_scores.predicted,
        token_scores.correct
    );
    println!(
        "entity micro-F1 as the DIET paper's NLU-Benchmark script scores it (HERMIT's, \
         RasaHQ/DIET-paper evaluation_scripts/evaluation_nlu_evaluation_data.py: a gold entity \
         counts when a predicted one of its type shares a token): {overlap:.4}"
    );
    println!(
        "DIET paper (Bunk et al. 2020, arXiv 2004.09936, Table 1 and Table 3, NLU-Benchmark, \
         mean over 10 folds): figures not quoted, the tables' text could not be retrieved \
         (docs/performance.md, \"Against DIET\")"
    );
    // Where a parse's time goes: each component over the whole test set.
    let mut per_component = vec![std::time::Duration::ZERO; model.components.len()];
    for e in &test.examples {
        let mut message = rusa_nlu::Message::new(e.text.clone());
        for (c, total) in model.components.iter().zip(&mut per_component) {
            let t = Instant::now();
            c.process(&mut message);
            *total += t.elapsed();
        }
    }
    println!("one parse, mean per component:");
    for (c, total) in model.components.iter().zip(&per_component) {
        println!(
            "  {:<30} {:.1} µs",
            c.name(),
            total.as_secs_f64() * 1e6 / test.examples.len() as f64
        );
    }
    for (text, gold, found) in errors {
        println!("  {text:?}\n    gold  {gold:?}\n    found {found:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: usize, end: usize, entity: &str) -> Span {
        (start, end, entity.to_owned(), None, None)
    }

    #[test]
    fn token_level_counts_each_token_and_ignores_bilou() {
        // "wake me at ten am": gold time = "ten am" (11..17); predicted only "ten".
        let text = "wake me at ten am".to_owned();
        let examples = vec![(text, vec![span(11, 17, "time")], vec![span(11, 14, "time")])];
        let s = token_level_scores(&examples);
        assert_eq!((s.gold, s.predicted, s.correct), (2, 1, 1));
        // precision 1, recall 0.5
        assert!((s.micro - 2.0 / 3.0).abs() < 1e-9);
        assert!((s.macro_ - 2.0 / 3.0).abs() < 1e-9);
        // The strict span score would be 0; the overlap score counts it as found.
        assert!((overlap_f1(&examples) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn token_level_macro_averages_over_gold_labels_only() {
        let text = "play jazz in kitchen".to_owned();
        let examples = vec![(
            text,
            vec![span(5, 9, "music_genre"), span(13, 20, "house_place")],
            vec![span(5, 9, "music_genre"), span(13, 20, "place_name")],
        )];
        let s = token_level_scores(&examples);
        // music_genre F1 1, house_place F1 0; place_name is not a gold label.
        assert!((s.macro_ - 0.5).abs() < 1e-9);
        // micro: tp 1, fn 1, fp 0 (place_name's false alarm is outside the labels)
        assert!((s.micro - 2.0 / 3.0).abs() < 1e-9);
        assert!((overlap_f1(&examples) - 0.5).abs() < 1e-9);
    }
}
