//! One parse on a trained moodbot model, and on BANKING77 and HWU64 models when their
//! fixtures are present (HWU64: 64 intents and 54 entity types, so the CRF's decoding is in
//! the figure).

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use rusa_nlu::{NluModel, TrainOptions};
use rusa_project::{Project, ProjectPaths};

fn fixtures() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

fn train(data: &Path) -> Option<NluModel> {
    let moodbot = fixtures().join("moodbot");
    let paths = ProjectPaths {
        domain: moodbot.join("domain.yml"),
        data: vec![data.to_path_buf()],
        config: moodbot.join("config.yml"),
    };
    let project = Project::load(&paths).ok()?;
    NluModel::train(None, &project.nlu, &TrainOptions::default()).ok()
}

fn parse(c: &mut Criterion) {
    if let Some(model) = train(&fixtures().join("moodbot/data")) {
        c.bench_function("parse moodbot 'I am sad'", |b| {
            b.iter(|| black_box(model.parse(black_box("I am sad"))))
        });
    }
    if let Some(model) = train(&fixtures().join("banking77/train.yml")) {
        c.bench_function("parse banking77", |b| {
            b.iter(|| {
                black_box(model.parse(black_box(
                    "I requested a refund but am unable to see it in my account. Why is that?",
                )))
            })
        });
    }
}

fn parse_hwu64(c: &mut Criterion) {
    if let Some(model) = train(&fixtures().join("hwu64/train.yml")) {
        for text in [
            "wake me up at five am this week",
            "set a reminder for the meeting with john on friday at ten am in the office",
        ] {
            c.bench_function(&format!("parse hwu64 {text:?}"), |b| {
                b.iter(|| black_box(model.parse(black_box(text))))
            });
        }
    }
}

criterion_group!(benches, parse, parse_hwu64);
criterion_main!(benches);
