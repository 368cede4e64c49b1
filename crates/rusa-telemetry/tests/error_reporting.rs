//! A real local HTTP server plays the Sentry endpoint and receives a scrubbed panic report
//! (§7). Alone in its test binary: the panic hook is process-wide.

use std::time::Duration;

use rusa_telemetry::testing::TestServer;
use rusa_telemetry::{TelemetryConfig, USER_ERROR_TAG, initialize_error_reporting_with};

const CANARY_USER: &str = "canaryuserq7";

#[test]
fn a_panic_is_reported_scrubbed_and_a_user_error_is_not() {
    let server = TestServer::start(vec![]);
    let home = format!("/home/{CANARY_USER}");
    let cwd = format!("{home}/canaryproject");
    let mut config = TelemetryConfig::from_lookup(|_| None);
    config.home = Some(home.clone().into());
    config.cwd = Some(cwd.clone().into());
    config.user_name = Some(CANARY_USER.into());
    let port = server.url().rsplit(':').next().unwrap().to_owned();
    config.sentry_dsn = Some(format!("http://publickey@127.0.0.1:{port}/42"));
    let id = "0123456789abcdef0123456789abcdef";

    let guard = initialize_error_reporting_with(&config, id).expect("initialised with a DSN");
    // A user error: must never be sent.
    sentry::with_scope(
        |scope| scope.set_tag(USER_ERROR_TAG, "true"),
        || {
            sentry::capture_message(
                &format!("bad yaml in {cwd}/domain.yml"),
                sentry::Level::Error,
            )
        },
    );
    let result = std::panic::catch_unwind(|| {
        panic!("cannot open {cwd}/data/nlu.yml (home {home}, user {CANARY_USER})");
    });
    assert!(result.is_err());
    drop(guard); // flushes (bounded by the client's shutdown timeout)

    let requests = server.wait_for_requests(1, Duration::from_secs(20));
    assert_eq!(requests.len(), 1, "exactly the panic report: {requests:?}");
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert!(
        request.path.starts_with("/api/42/envelope"),
        "{}",
        request.path
    );
    let body = String::from_utf8_lossy(&request.body).into_owned();
    for secret in [CANARY_USER, home.as_str(), cwd.as_str(), "canaryproject"] {
        assert!(!body.contains(secret), "report contains {secret}: {body}");
    }
    // Paths of frames are crate-relative, never absolute build paths.
    let build_dir = env!("CARGO_MANIFEST_DIR");
    assert!(
        !body.contains(build_dir),
        "absolute build path in report: {body}"
    );
    assert!(body.contains("<cwd>/data/nlu.yml"), "{body}");
    assert!(
        body.contains(&format!("\"server_name\":\"{id}\"")),
        "{body}"
    );
    assert!(body.contains("\"release\":\"rusa@"), "{body}");
    assert!(body.contains("\"environment\":\"production\""), "{body}");
    assert!(!body.contains("bad yaml"), "a user error was reported");

    // Debug mode: the report is printed, not sent.
    config.debug = true;
    let connections_before = server.connections();
    let guard = initialize_error_reporting_with(&config, id).expect("initialised with a DSN");
    let result = std::panic::catch_unwind(|| panic!("second panic, debug mode"));
    assert!(result.is_err());
    drop(guard);
    use std::io::Write;
    let mut probe =
        std::net::TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
    probe
        .write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let requests = server.wait_for_requests(2, Duration::from_secs(20));
    assert_eq!(requests.last().unwrap().path, "/probe");
    assert_eq!(
        server.connections(),
        connections_before + 1,
        "debug mode sent a crash report"
    );
    assert!(body.contains("\"frames\""), "a stack trace: {body}");
}

#[test]
fn no_dsn_means_no_reporting() {
    let config = TelemetryConfig::from_lookup(|_| None);
    assert!(initialize_error_reporting_with(&config, "x").is_none());
}
