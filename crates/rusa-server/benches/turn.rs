//! One webhook turn through the message processor, in process and on the in-memory stores:
//! for a new sender, and for a sender whose conversation already has about 1,250 events
//! (performance.md wants the second within 1.2x of the first). Moodbot is trained once at
//! the start. No HTTP: `scripts/bench-serve.sh` measures the server as a client sees it.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use rusa_core::actions::NoActionServer;
use rusa_core::agent::Agent;
use rusa_core::stores::TrackerStore as _;
use rusa_server::{Incoming, MessageProcessor};
use rusa_stores::{InMemoryLockStore, InMemoryTrackerStore};

fn moodbot(dir: &Path) -> (Arc<Agent>, std::path::PathBuf) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot");
    let project =
        rusa_project::Project::load(&rusa_project::ProjectPaths::in_dir(&fixture)).unwrap();
    let plan = rusa_core::graph::TrainingPlan {
        training_type: rusa_core::graph::TrainingType::Both,
        pipeline: rusa_nlu::Pipeline::from_config(None, false).unwrap(),
        policies: rusa_core::policies::default_policies(),
        random_seed: 42,
        output_filename: "moodbot.tar.gz".into(),
        is_finetuning: false,
    };
    let graph = rusa_core::graph::GraphTrainer::new(None)
        .train(&project, &plan)
        .unwrap();
    let path = dir.join("moodbot.tar.gz");
    rusa_core::archive::ModelArchive {
        metadata: rusa_core::archive::ModelMetadata::unsaved(
            "bench-model-id",
            rusa_core::graph::TrainingType::Both,
            "en",
        ),
        domain: project.domain.clone(),
        nlu: graph.nlu,
        policies: graph.policies,
    }
    .write(&path, &|_| {})
    .unwrap();
    (Arc::new(Agent::load(&path).unwrap()), path)
}

fn incoming(sender: &str, text: &str) -> Incoming {
    Incoming {
        sender_id: sender.into(),
        text: text.into(),
        input_channel: "rest".into(),
        metadata: serde_json::Map::new(),
        ..Incoming::default()
    }
}

fn turn(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(InMemoryTrackerStore::new());
    let processor = MessageProcessor::new(
        Some(moodbot(dir.path())),
        store.clone(),
        Arc::new(InMemoryLockStore::new()),
        None,
        Arc::new(NoActionServer),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let texts = ["hello", "I am sad", "yes", "very good", "bye"];
    let next = AtomicU64::new(0);
    c.bench_function("turn, new sender", |b| {
        b.iter(|| {
            let sender = format!("fresh-{}", next.fetch_add(1, Ordering::Relaxed));
            black_box(
                runtime
                    .block_on(processor.handle_message(incoming(&sender, "hello"), None))
                    .unwrap(),
            )
        })
    });
    // The long conversation: built once, then put back to these events whenever the
    // measured turns have added 100 turns to it, so every measured turn sees 1,250 to
    // 1,750 events (as in scripts/bench-serve.sh), and it stays within the tracker cache.
    let mut i = 0;
    let history = loop {
        let agent = processor.agent().unwrap();
        let tracker = runtime
            .block_on(processor.get_tracker(&agent, "long"))
            .unwrap();
        if tracker.events().len() >= 1_250 {
            break tracker.events().to_vec();
        }
        runtime
            .block_on(processor.handle_message(incoming("long", texts[i % texts.len()]), None))
            .unwrap();
        i += 1;
    };
    c.bench_function("turn, after 1,250 events", |b| {
        b.iter_custom(|iters| {
            let mut spent = std::time::Duration::ZERO;
            for n in 0..iters {
                if n % 100 == 0 {
                    runtime.block_on(store.replace("long", &history)).unwrap();
                    processor.forget("long");
                    // Untimed: the turn that reads the conversation into memory again.
                    runtime
                        .block_on(processor.handle_message(incoming("long", "hello"), None))
                        .unwrap();
                }
                let started = std::time::Instant::now();
                let replies = runtime
                    .block_on(processor.handle_message(incoming("long", "hello"), None))
                    .unwrap();
                spent += started.elapsed();
                black_box(replies);
            }
            spent
        })
    });
}

criterion_group!(benches, turn);
criterion_main!(benches);
