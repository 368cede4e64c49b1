//! Shared set-up: a telemetry configuration rooted in a temporary directory.
#![allow(dead_code)]

use std::path::Path;

use rusa_telemetry::TelemetryConfig;

pub const WRITE_KEY: &str = "test-write-key";

/// A configuration whose files all live under `dir`, with no environment variable set.
pub fn config(dir: &Path, endpoint: &str) -> TelemetryConfig {
    let home = dir.join("home");
    let mut config = TelemetryConfig::from_lookup(|name| match name {
        "HOME" => Some(home.to_string_lossy().into_owned()),
        _ => None,
    });
    config.endpoint = endpoint.to_owned();
    config.write_key = Some(WRITE_KEY.to_owned());
    config.cwd = Some(dir.join("project"));
    config
}

/// The same, with telemetry already enabled (global.yml written, not a first run).
pub fn enabled_config(dir: &Path, endpoint: &str) -> TelemetryConfig {
    let config = config(dir, endpoint);
    rusa_telemetry::enable(&config).expect("enable");
    config
}

/// Opens one connection with a probe request and waits until the server logged it; returns
/// the number of connections the server accepted besides the probe. Connections are
/// accepted in order, so one made before the probe is counted without any sleep.
pub fn probe(server: &rusa_telemetry::testing::TestServer) -> usize {
    use std::io::Write;
    let before = server.requests().len();
    let addr = server.url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(addr).expect("probe connect");
    stream
        .write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .expect("probe write");
    let requests = server.wait_for_requests(before + 1, std::time::Duration::from_secs(10));
    assert!(requests.iter().any(|r| r.path == "/probe"));
    server.connections() - 1
}
