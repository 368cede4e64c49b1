//! Prints how well the dialogue policies predict held-out story continuations: each story
//! of a project is held out in turn (leave one out); the policies train on the other
//! stories and the rules; the held-out story is replayed and the next action predicted
//! before each of its actions. Compares the default ensemble (memoization, rules, learned
//! policy) with memoization and rules alone.
//!
//! `cargo run --release -p rusa-core --example policy_quality [PROJECT_DIR ...]`
//! (default: the fixture projects in ../shared/fixtures).

use std::path::{Path, PathBuf};

use rusa_core::agent::Agent;
use rusa_core::archive::{ModelArchive, ModelMetadata};
use rusa_core::evaluate::evaluate_stories;
use rusa_core::graph::TrainingType;
use rusa_core::policies::{PolicyEnsemble, PolicySpec, RulePolicyConfig, default_policies};
use rusa_project::{Project, ProjectPaths};

fn main() {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let projects = if args.is_empty() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures");
        [
            "moodbot",
            "helpdesk-assistant",
            "rasa-examples/concertbot",
            "rasa-examples/e2ebot",
        ]
        .iter()
        .map(|p| root.join(p))
        .collect()
    } else {
        args
    };
    for dir in projects {
        let project = match Project::load(&ProjectPaths::in_dir(&dir)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("{}: {e}", dir.display());
                continue;
            }
        };
        if project.stories.len() < 2 {
            println!(
                "{}: fewer than 2 stories, nothing to hold out",
                dir.display()
            );
            continue;
        }
        let memo_only = vec![
            PolicySpec::Memoization {
                max_history: 5,
                augmented: false,
            },
            PolicySpec::Rule(RulePolicyConfig {
                check_for_contradictions: false,
                ..RulePolicyConfig::default()
            }),
        ];
        let mut full = default_policies();
        for spec in &mut full {
            if let PolicySpec::Rule(c) = spec {
                c.check_for_contradictions = false;
            }
        }
        // (correct actions, predicted actions, whole stories right, stories)
        let mut totals = [[0usize; 4]; 2];
        for i in 0..project.stories.len() {
            let mut train = project.clone();
            let held_out = vec![train.stories.remove(i)];
            for (k, specs) in [&full, &memo_only].into_iter().enumerate() {
                let Ok(policies) = PolicyEnsemble::train(&train, specs) else {
                    continue;
                };
                let agent = Agent::from_archive(
                    ModelArchive {
                        metadata: ModelMetadata::unsaved("held-out", TrainingType::Core, "en"),
                        domain: project.domain.clone(),
                        nlu: None,
                        policies: Some(policies),
                    },
                    "held-out".into(),
                );
                let evaluation = evaluate_stories(&agent, &held_out, false);
                let support = evaluation.actions.macro_avg.support;
                totals[k][0] += (evaluation.actions.accuracy * support as f64).round() as usize;
                totals[k][1] += support;
                totals[k][2] += evaluation.stories.iter().filter(|s| s.passed).count();
                totals[k][3] += evaluation.stories.len();
            }
        }
        let acc = |t: [usize; 4]| {
            if t[1] == 0 {
                0.0
            } else {
                t[0] as f64 / t[1] as f64
            }
        };
        println!(
            "{}: {} stories, leave-one-out over {} predicted actions — accuracy: ensemble with learned policy {:.3} ({}/{} stories whole), memoization + rules alone {:.3} ({}/{})",
            dir.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            project.stories.len(),
            totals[0][1],
            acc(totals[0]),
            totals[0][2],
            totals[0][3],
            acc(totals[1]),
            totals[1][2],
            totals[1][3],
        );
    }
}
