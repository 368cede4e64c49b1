//! The per-turn costs that grow with a conversation when its tracker is not in memory:
//! reading its events from JSON and applying them, for the events of Rasa's moodbot
//! sad-path conversation repeated to 60 and to 1,200 events. Also one event written.

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rusa_core::{DialogueStateTracker, Event, SlotSpec};
use serde_json::Value;

fn sample_events() -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/moodbot/samples/tracker_demo_sad_path.json");
    let text = std::fs::read_to_string(path).expect("the moodbot sample is readable");
    let state: Value = serde_json::from_str(&text).expect("the sample is JSON");
    state["events"].as_array().expect("events").clone()
}

fn specs() -> Arc<[SlotSpec]> {
    Arc::from(vec![SlotSpec {
        name: "session_started_metadata".into(),
        initial_value: Value::Null,
    }])
}

fn tracker(c: &mut Criterion) {
    let sample = sample_events();
    for n in [60, 1200] {
        let stored: Vec<Vec<u8>> = sample
            .iter()
            .cycle()
            .take(n)
            .map(|e| serde_json::to_vec(e).unwrap())
            .collect();
        let events: Vec<Event> = stored
            .iter()
            .map(|b| serde_json::from_slice(b).unwrap())
            .collect();
        c.bench_function(&format!("decode {n} events"), |b| {
            b.iter(|| {
                let decoded: Vec<Event> = stored
                    .iter()
                    .map(|b| serde_json::from_slice(b).unwrap())
                    .collect();
                black_box(decoded)
            })
        });
        c.bench_function(&format!("apply {n} events"), |b| {
            b.iter_batched(
                || events.clone(),
                |events| black_box(DialogueStateTracker::from_events("s", specs(), events)),
                BatchSize::SmallInput,
            )
        });
        c.bench_function(&format!("clone {n} events"), |b| {
            b.iter(|| black_box(events.clone()))
        });
    }
    let user = sample
        .iter()
        .find(|e| e["event"] == "user")
        .map(|e| serde_json::from_value::<Event>(e.clone()).unwrap())
        .expect("the sample has a user event");
    c.bench_function("encode a user event", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&user)).unwrap()))
    });
}

criterion_group!(benches, tracker);
criterion_main!(benches);
