//! What telemetry adds to a command's wall time (§8): start, record one event, and end the
//! run, against an endpoint that (a) accepts connections and never answers, (b) does not
//! route, (c) does not resolve — compared with telemetry off. The budget is 50 ms.
//! Back-off is cleared before each run so every run pays the full cost of trying.

use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use rusa_telemetry::testing::TestServer;
use rusa_telemetry::{Event, Telemetry, TelemetryConfig};

fn config(dir: &std::path::Path, endpoint: &str) -> TelemetryConfig {
    let mut config = TelemetryConfig::from_lookup(|_| None);
    config.config_file = Some(dir.join("config/rusa/global.yml"));
    config.state_dir = Some(dir.join("state/rusa/telemetry"));
    config.write_key = Some("bench".into());
    config.endpoint = endpoint.to_owned();
    rusa_telemetry::enable(&config).expect("enable");
    config
}

fn one_run(config: &TelemetryConfig) {
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    drop(telemetry);
}

fn exit(c: &mut Criterion) {
    let silent = TestServer::never_answering();
    let mut group = c.benchmark_group("command_exit");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for (name, endpoint) in [
        ("silent_endpoint", silent.url()),
        ("unroutable_address", "http://10.255.255.1:81".to_owned()),
        ("unresolvable_name", "http://telemetry.invalid".to_owned()),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config(dir.path(), &endpoint);
        let state = config.state_dir.clone().expect("state dir");
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let _ = std::fs::remove_file(state.join("backoff.json"));
                    let _ = std::fs::remove_dir_all(state.join("spool"));
                },
                |()| one_run(&config),
                BatchSize::PerIteration,
            );
        });
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let mut off = config(dir.path(), "http://127.0.0.1:9");
    off.do_not_track = Some("1".into());
    group.bench_function("telemetry_off", |b| b.iter(|| one_run(&off)));
    group.finish();
}

criterion_group!(benches, exit);
criterion_main!(benches);
