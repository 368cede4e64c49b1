//! BANKING77 intent quality and speed of rusa's default NLU pipeline.
//!
//! `cargo run --release -p rusa-nlu --example banking77 [-- --split] [-- --pipeline '<json>']`
//!
//! Prints, for the official split (train.yml → test.yml) and for an 80/20 stratified split
//! of train.yml (`--split`, or both with `--all`): intent accuracy, macro-F1, training time
//! and the median time of one parse. Also times training on moodbot. `--pipeline` takes a
//! JSON list of components (`[{"name": "...", ...}]`) in place of the default pipeline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusa_nlu::{NluModel, TrainOptions};
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

fn macro_f1(gold: &[String], predicted: &[String]) -> (f64, f64) {
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
    let f1: f64 = labels
        .iter()
        .map(|(_, (tp, fp, fn_))| {
            let p = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
            let r = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / labels.len() as f64;
    (correct as f64 / gold.len() as f64, f1)
}

fn evaluate(name: &str, pipeline: Option<&[Component]>, train: &NluData, test: &NluData) {
    let started = Instant::now();
    let model = NluModel::train(pipeline, train, &TrainOptions::default()).expect("trains");
    let training = started.elapsed();
    let mut times = Vec::with_capacity(test.examples.len());
    let mut predicted = Vec::with_capacity(test.examples.len());
    for e in &test.examples {
        let t = Instant::now();
        let parsed = model.parse(&e.text);
        times.push(t.elapsed());
        // The intent classifier's own prediction (the fallback may replace it).
        let top = parsed
            .intent_ranking
            .iter()
            .find(|i| i.name != rusa_nlu::FALLBACK_INTENT)
            .map(|i| i.name.clone())
            .unwrap_or_default();
        predicted.push(top);
    }
    times.sort();
    let gold: Vec<String> = test.examples.iter().map(|e| e.intent.clone()).collect();
    let (accuracy, f1) = macro_f1(&gold, &predicted);
    println!(
        "{name}: train {} / test {} examples; accuracy {accuracy:.4}, macro-F1 {f1:.4}; training {:.2} s; parse median {:.1} µs, p99 {:.1} µs",
        train.examples.len(),
        test.examples.len(),
        training.as_secs_f64(),
        times[times.len() / 2].as_secs_f64() * 1e6,
        times[times.len() * 99 / 100].as_secs_f64() * 1e6,
    );
}

/// 80/20 split per intent, deterministic.
fn stratified(data: &NluData) -> (NluData, NluData) {
    let mut by_intent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in data.examples.iter().enumerate() {
        by_intent.entry(&e.intent).or_default().push(i);
    }
    let (mut train, mut test) = (NluData::default(), NluData::default());
    let mut state = 12345u64;
    for idx in by_intent.values() {
        let mut idx = idx.clone();
        for i in (1..idx.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            idx.swap(i, (state >> 33) as usize % (i + 1));
        }
        let n_test = idx.len() / 5;
        for (k, i) in idx.into_iter().enumerate() {
            let target = if k < n_test { &mut test } else { &mut train };
            target.examples.push(data.examples[i].clone());
        }
    }
    (train, test)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pipeline: Option<Vec<Component>> = args
        .iter()
        .position(|a| a == "--pipeline")
        .and_then(|i| args.get(i + 1))
        .map(|json| {
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
    let split = args.iter().any(|a| a == "--split");
    let all = args.iter().any(|a| a == "--all");

    let moodbot = load(&fixtures().join("moodbot/data"));
    let mut runs = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        NluModel::train(pipeline.as_deref(), &moodbot, &TrainOptions::default()).expect("trains");
        runs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    runs.sort_by(f64::total_cmp);
    println!(
        "moodbot: {} examples; training median {:.2} ms (min {:.2} ms)",
        moodbot.examples.len(),
        runs[2],
        runs[0]
    );

    let model =
        NluModel::train(pipeline.as_deref(), &moodbot, &TrainOptions::default()).expect("trains");
    for text in [
        "hello",
        "I am sad",
        "you are a bot?",
        "not really",
        "that was great",
    ] {
        let p = model.parse(text);
        println!(
            "  {text:?} → {} {:.3}",
            p.intent.name.unwrap_or_default(),
            p.intent.confidence
        );
    }
    // Per component, once more, to see where training time goes.
    let mut view = rusa_nlu::TrainingView::from_nlu(&moodbot);
    let built = rusa_nlu::Pipeline::from_config(pipeline.as_deref(), false).expect("builds");
    for mut c in built.components {
        use rusa_nlu::NluComponent;
        let t = Instant::now();
        c.train(&view, 42).expect("trains");
        if c.annotates_training_data() {
            for ex in &mut view.examples {
                c.process(&mut ex.message);
            }
        }
        println!(
            "  {:<30} {:.2} ms",
            c.name(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    // Training time at 1×, 10× and 100× moodbot's data (copies with a numbered word, so
    // the vocabulary grows too).
    for factor in [1usize, 10, 100] {
        let mut data = NluData::default();
        for k in 0..factor {
            for e in &moodbot.examples {
                let mut e = e.clone();
                if k > 0 {
                    e.text = format!("{} w{k}", e.text);
                }
                data.examples.push(e);
            }
        }
        let t = Instant::now();
        NluModel::train(pipeline.as_deref(), &data, &TrainOptions::default()).expect("trains");
        println!(
            "moodbot ×{factor}: {} examples; training {:.1} ms",
            data.examples.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    // Other fixture projects with their own config.yml (substitutions included).
    for name in [
        "helpdesk-assistant",
        "rasa-examples/concertbot",
        "rasa-examples/responseselectorbot",
    ] {
        let project = Project::load(&ProjectPaths::in_dir(&fixtures().join(name))).expect("loads");
        let t = Instant::now();
        let model = NluModel::train(
            project.config.pipeline.as_deref(),
            &project.nlu,
            &TrainOptions::default(),
        )
        .expect("trains");
        println!(
            "{name}: {} examples; training {:.1} ms; substitutions: {}",
            project.nlu.examples.len(),
            t.elapsed().as_secs_f64() * 1e3,
            model
                .substitutions
                .iter()
                .map(|s| format!("{} → {}", s.rasa, s.rusa_display()))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    if args.iter().any(|a| a == "--moodbot") {
        return;
    }

    let train = load(&fixtures().join("banking77/train.yml"));
    if split || all {
        let (tr, te) = stratified(&train);
        evaluate(
            "BANKING77 80/20 split of train.yml",
            pipeline.as_deref(),
            &tr,
            &te,
        );
    }
    if !split || all {
        let test = load(&fixtures().join("banking77/test.yml"));
        evaluate(
            "BANKING77 train.yml → test.yml",
            pipeline.as_deref(),
            &train,
            &test,
        );
    }
}
