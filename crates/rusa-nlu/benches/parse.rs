//! One parse on a trained moodbot model (and BANKING77, when its fixture is present).

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

criterion_group!(benches, parse);
criterion_main!(benches);
