//! Recording one event on the calling thread (target: at most 1 µs), with telemetry on and
//! delivery running, and with telemetry off.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rusa_telemetry::{Event, Mode, Telemetry, TelemetryConfig};

fn config(dir: &std::path::Path) -> TelemetryConfig {
    let mut config = TelemetryConfig::from_lookup(|_| None);
    config.config_file = Some(dir.join("config/rusa/global.yml"));
    config.state_dir = Some(dir.join("state/rusa/telemetry"));
    config.write_key = Some("bench".into());
    config.endpoint = rusa_telemetry::testing::closed_port_url();
    config
}

fn record(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config(dir.path());
    rusa_telemetry::enable(&config).expect("enable");
    // Delivery paused by back-off: the sender keeps draining the queue (bounded), nothing
    // goes over the network, and the calling thread does exactly what it does in a real run.
    let state = config.state_dir.clone().expect("state dir");
    std::fs::create_dir_all(&state).expect("state dir");
    std::fs::write(
        state.join("backoff.json"),
        r#"{"consecutive_failures":3,"next_attempt_unix":99999999999,"delay_secs":900}"#,
    )
    .expect("backoff");
    let telemetry = Telemetry::start(config.clone());
    assert_eq!(telemetry.mode(), Mode::Send);
    c.bench_function("record_event_enabled", |b| {
        b.iter(|| telemetry.track(Event::training_data_validated(black_box(true))));
    });

    let mut off = config.clone();
    off.do_not_track = Some("1".into());
    let disabled = Telemetry::start(off);
    assert_eq!(disabled.mode(), Mode::Off);
    c.bench_function("record_event_disabled", |b| {
        b.iter(|| disabled.track(Event::training_data_validated(black_box(true))));
    });
    c.bench_function("record_event_disabled_lazy", |b| {
        b.iter(|| disabled.track_with(|| Event::training_data_validated(black_box(true))));
    });
    drop(telemetry);
}

criterion_group!(benches, record);
criterion_main!(benches);
