//! What the pipeline exports, decoded by receivers in the test: OTLP over gRPC (plaintext
//! and TLS with a CA made here), OTLP over HTTP; and what happens when the back end is down.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use rusa_otel::testing::{DecodedSpan, Receiver, TestCa};
use rusa_otel::{Pipeline, TracingConfig};
use tracing_subscriber::prelude::*;

/// How long a test waits for spans to arrive before it fails (never a sleep).
const PATIENCE: Duration = Duration::from_secs(20);

/// The tracing configuration of an endpoints file holding `yaml`, with `vars` as the
/// environment.
fn config(dir: &Path, yaml: &str, vars: &[(&str, &str)]) -> TracingConfig {
    let path = dir.join("endpoints.yml");
    std::fs::write(&path, yaml).unwrap();
    let mut warnings = Vec::new();
    let endpoints = rusa_project::load_endpoints(&path, &mut warnings)
        .unwrap()
        .unwrap();
    let env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    rusa_otel::resolve(
        endpoints.tracing.as_ref(),
        &path,
        &move |name| env.get(name).cloned(),
        "rusa",
    )
    .unwrap()
    .config
    .expect("tracing is on")
}

/// A small trace: a server span, an internal child, and a client grandchild that fails.
fn emit(pipeline: &Pipeline) {
    let subscriber = tracing_subscriber::registry().with(pipeline.layer());
    tracing::subscriber::with_default(subscriber, || {
        let server = tracing::info_span!(
            target: "rusa::test",
            "POST /webhooks/rest/webhook",
            otel.kind = "server",
            http.route = "/webhooks/rest/webhook",
        );
        let _s = server.enter();
        let agent = tracing::info_span!(
            target: "rusa::test",
            "Agent.handle_message",
            input_channel = "rest",
            model_id = "m-1",
        );
        let _a = agent.enter();
        let action = tracing::info_span!(
            target: "rusa::test",
            "EndpointConfig.request",
            otel.kind = "client",
            request_body_size_in_bytes = 42_u64,
        );
        rusa_core::span_status::record_failure(&action, "ActionError", "could not connect");
        action.in_scope(|| {});
    });
}

fn by_name<'a>(spans: &'a [DecodedSpan], name: &str) -> &'a DecodedSpan {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {spans:#?}"))
}

/// The three spans of [`emit`], with their tree, kinds, attributes and service name.
fn check_trace(spans: &[DecodedSpan], service: &str) {
    assert_eq!(spans.len(), 3, "{spans:#?}");
    let server = by_name(spans, "POST /webhooks/rest/webhook");
    let agent = by_name(spans, "Agent.handle_message");
    let action = by_name(spans, "EndpointConfig.request");
    assert_eq!(server.parent_span_id, "");
    assert_eq!(agent.parent_span_id, server.span_id);
    assert_eq!(action.parent_span_id, agent.span_id);
    assert!(spans.iter().all(|s| s.trace_id == server.trace_id));
    assert_eq!(server.trace_id.len(), 32);
    assert_ne!(server.trace_id, "0".repeat(32));
    assert_eq!((server.kind, agent.kind, action.kind), (2, 1, 3));
    assert_eq!(server.attributes["http.route"], "/webhooks/rest/webhook");
    assert_eq!(agent.attributes["input_channel"], "rest");
    assert_eq!(agent.attributes["model_id"], "m-1");
    assert_eq!(action.attributes["request_body_size_in_bytes"], "42");
    // The failed call: status ERROR and an exception event; the others unset.
    assert_eq!(action.status_code, 2);
    assert_eq!(action.event_names, vec!["exception"]);
    assert_eq!((server.status_code, agent.status_code), (0, 0));
    // otel.* fields configure the span; they are not attributes.
    assert!(!server.attributes.contains_key("otel.kind"));
    assert!(spans.iter().all(|s| s.service_name == service));
}

#[test]
fn otlp_grpc_plaintext() {
    let receiver = Receiver::grpc(None);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: 127.0.0.1:{}\n  insecure: true\n  service_name: grpc-bot\n  headers:\n    x-api-key: k-123\n",
            receiver.addr.port()
        ),
        &[],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!((report.exported, report.lost()), (3, 0), "{report:?}");
    check_trace(&receiver.spans(), "grpc-bot");
    assert!(
        receiver.headers()[0]
            .iter()
            .any(|(k, v)| k == "x-api-key" && v == "k-123")
    );
}

#[test]
fn otlp_grpc_over_tls_trusting_a_private_ca() {
    let ca = TestCa::new();
    let receiver = Receiver::grpc(Some((
        ca.server_cert_pem.clone(),
        ca.server_key_pem.clone(),
    )));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.ca_pem).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: localhost:{}\n  root_certificates: {}\n",
            receiver.addr.port(),
            ca_path.display()
        ),
        &[("OTEL_SERVICE_NAME", "tls-bot")],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!((report.exported, report.lost()), (3, 0), "{report:?}");
    check_trace(&receiver.spans(), "tls-bot");
}

#[test]
fn otlp_grpc_over_tls_refuses_an_unknown_ca() {
    let ca = TestCa::new();
    let other = TestCa::new();
    let receiver = Receiver::grpc(Some((
        ca.server_cert_pem.clone(),
        ca.server_key_pem.clone(),
    )));
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("other.pem");
    std::fs::write(&ca_path, &other.ca_pem).unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: localhost:{}\n  root_certificates: {}\n",
            receiver.addr.port(),
            ca_path.display()
        ),
        &[],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!(report.exported, 0, "{report:?}");
    assert_eq!(report.lost(), 3, "{report:?}");
    assert!(receiver.spans().is_empty());
}

#[test]
fn otlp_http_protobuf_inferred_from_the_path() {
    let receiver = Receiver::http();
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}/v1/traces\n  headers:\n    authorization: Bearer t-1\n",
            receiver.addr.port()
        ),
        &[("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!((report.exported, report.lost()), (3, 0), "{report:?}");
    let spans = receiver.spans();
    check_trace(&spans, "rusa");
    assert_eq!(spans[0].resource["deployment.environment"], "test");
    let headers = &receiver.headers()[0];
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "authorization" && v == "Bearer t-1")
    );
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v == "application/x-protobuf")
    );
}

#[test]
fn otlp_from_the_environment_alone() {
    let receiver = Receiver::http();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("http://127.0.0.1:{}", receiver.addr.port());
    let config = config(
        dir.path(),
        "action_endpoint:\n  url: http://localhost:5055/webhook\n",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &url),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("TRACING_SERVICE_NAME", "env-bot"),
        ],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    pipeline.shutdown(PATIENCE);
    check_trace(&receiver.spans(), "env-bot");
}

#[test]
fn sync_export_sends_spans_as_they_end() {
    let receiver = Receiver::grpc(None);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n  sync_export: true\n",
            receiver.addr.port()
        ),
        &[("OTEL_BSP_SCHEDULE_DELAY", "3600000")],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    // Without a flush or shutdown, and with an hour's batch delay: each span went alone.
    let spans = receiver.wait_for(PATIENCE, |s| s.len() == 3);
    check_trace(&spans, "rusa");
    assert_eq!(receiver.raw().len(), 3);
    pipeline.shutdown(PATIENCE);
}

#[test]
fn the_always_off_sampler_exports_nothing() {
    let receiver = Receiver::grpc(None);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n",
            receiver.addr.port()
        ),
        &[("OTEL_TRACES_SAMPLER", "always_off")],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    emit(&pipeline);
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!(report.exported + report.lost(), 0);
    assert!(receiver.spans().is_empty());
}

/// A port that accepts connections and never answers.
fn silent_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn a_back_end_that_is_down_loses_spans_counted_and_never_blocks() {
    let (_silent, silent) = silent_port();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n  timeout: 0.5\n",
            closed_port()
        ),
        format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}/v1/traces\n  timeout: 0.5\n",
            closed_port()
        ),
        format!("tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{silent}\n  timeout: 0.5\n"),
        format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{silent}/v1/traces\n  timeout: 0.5\n"
        ),
        "tracing:\n  type: otlp\n  endpoint: http://no-such-host.invalid:4317\n  timeout: 0.5\n"
            .to_owned(),
        "tracing:\n  type: jaeger\n  host: no-such-host.invalid\n".to_owned(),
    ];
    for yaml in cases {
        let config = config(dir.path(), &yaml, &[("OTEL_BSP_MAX_QUEUE_SIZE", "64")]);
        let pipeline = Pipeline::start(&config).unwrap();
        // Far more spans than the queue holds: ending them never waits for the exporter.
        for _ in 0..100 {
            emit(&pipeline);
        }
        let report = pipeline.shutdown(Duration::from_secs(2));
        assert_eq!(report.exported, 0, "{yaml}: {report:?}");
        assert_eq!(report.lost(), 300, "{yaml}: {report:?}");
        // Dropped at the full queue or failed in an export, depending on how fast the
        // exporter gives up; never waited for.
        assert_eq!(
            report.dropped_queue_full + report.failed + report.unsent_at_shutdown,
            300,
            "{yaml}: {report:?}"
        );
    }
}

#[test]
fn jaeger_agent_udp_with_a_batch_split_over_datagrams() {
    use rusa_otel::testing::jaeger_wire::decode;

    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    // The receiver reads as datagrams arrive (the socket's buffer holds only a few).
    let reader = std::thread::spawn(move || {
        let mut datagrams = Vec::new();
        let mut buf = vec![0u8; 70_000];
        let mut spans = 0;
        while spans < 600 {
            match socket.recv(&mut buf) {
                Ok(n) => {
                    let (_, batch) = decode(&buf[..n]);
                    spans += batch.spans.len();
                    datagrams.push(buf[..n].to_vec());
                }
                Err(_) => break,
            }
        }
        datagrams
    });
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &format!(
            "tracing:\n  type: jaeger\n  host: 127.0.0.1\n  port: {port}\n  service_name: jaeger-bot\n"
        ),
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4096"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096"),
        ],
    );
    let pipeline = Pipeline::start(&config).unwrap();
    // 600 spans: about two datagrams' worth, which the receiving socket's buffer holds
    // even if they come faster than it reads (UDP drops what does not fit).
    for _ in 0..200 {
        emit(&pipeline);
    }
    let report = pipeline.shutdown(PATIENCE);
    assert_eq!((report.exported, report.lost()), (600, 0), "{report:?}");
    let datagrams = reader.join().unwrap();
    assert!(datagrams.len() >= 2, "one export of 600 spans is split");
    let mut all = Vec::new();
    for datagram in &datagrams {
        assert!(datagram.len() <= 65_000);
        let (message, batch) = decode(datagram);
        assert_eq!(message.name, "emitBatch");
        assert_eq!(batch.service_name, "jaeger-bot");
        all.extend(batch.spans);
    }
    assert_eq!(all.len(), 600);
    let server = all
        .iter()
        .find(|s| s.operation_name == "POST /webhooks/rest/webhook")
        .unwrap();
    let agent = all
        .iter()
        .find(|s| s.operation_name == "Agent.handle_message" && s.parent_span_id == server.span_id)
        .expect("the agent span is the server span's child");
    assert_eq!(agent.trace_high, server.trace_high);
    assert_eq!(agent.trace_low, server.trace_low);
    assert_eq!(
        server
            .tag("span.kind")
            .and_then(|t| t.v_str.clone())
            .as_deref(),
        Some("server")
    );
    let failed = all
        .iter()
        .find(|s| s.operation_name == "EndpointConfig.request")
        .unwrap();
    assert_eq!(failed.tag("error").and_then(|t| t.v_bool), Some(true));
}
