//! One turn through the server with a custom action on a real (local) action server
//! produces the span tree of the tracing spec, with its attributes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::http::Request;
mod common;

use common::project;
use rusa_core::agent::Agent;
use rusa_core::span_capture::{CapturedSpan, SpanCapture};
use rusa_server::{AppState, MessageProcessor, ServerConfig, app};
use rusa_stores::{InMemoryLockStore, InMemoryTrackerStore};
use tower::ServiceExt as _;
use tracing_subscriber::prelude::*;

/// The `traceparent` headers an action server received, one per call (`None`: none sent).
type Received = Arc<Mutex<Vec<Option<String>>>>;

/// A one-request-at-a-time action server: answers every call with a bot message.
fn action_server() -> String {
    action_server_recording().0
}

/// [`action_server`], recording the `traceparent` of each call.
fn action_server_recording() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let received = Received::default();
    let record = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            let mut traceparent = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("traceparent:") {
                    traceparent = Some(v.trim().to_owned());
                }
            }
            record.lock().unwrap().push(traceparent);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let answer =
                r#"{"events": [], "responses": [{"text": "Hello from the action server"}]}"#;
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, received)
}

/// A trained model served with in-memory stores and an action server at `url`.
fn state(dir: &Path, url: String) -> AppState {
    let project = project(dir);
    let plan = rusa_core::graph::TrainingPlan {
        training_type: rusa_core::graph::TrainingType::Both,
        pipeline: rusa_nlu::Pipeline::from_config(None, false).unwrap(),
        policies: rusa_core::policies::default_policies(),
        random_seed: 42,
        output_filename: "m.tar.gz".into(),
        is_finetuning: false,
    };
    let graph = rusa_core::graph::GraphTrainer::new(None)
        .train(&project, &plan)
        .unwrap();
    let archive = rusa_core::archive::ModelArchive {
        metadata: rusa_core::archive::ModelMetadata::unsaved(
            "span-model",
            rusa_core::graph::TrainingType::Both,
            "en",
        ),
        domain: project.domain.clone(),
        nlu: graph.nlu,
        policies: graph.policies,
    };
    let agent = Agent::from_archive(archive, "span-model".into());
    let endpoint = rusa_project::EndpointConfig {
        kind: None,
        url: Some(url),
        params: serde_json::Map::new(),
        key_pos: Default::default(),
        pos: project.config.pos.clone(),
    };
    let executor =
        rusa_actions::HttpActionExecutor::new(&endpoint, std::time::Duration::from_secs(5))
            .unwrap();
    let processor = MessageProcessor::new(
        Some((Arc::new(agent), dir.join("m.tar.gz"))),
        Arc::new(InMemoryTrackerStore::new()),
        Arc::new(InMemoryLockStore::new()),
        None,
        Arc::new(executor),
    );
    AppState {
        processor: Arc::new(processor),
        config: Arc::new(ServerConfig::default()),
    }
}

#[tokio::test]
async fn one_turn_with_a_custom_action_has_the_spec_span_tree() {
    let dir = std::env::temp_dir().join(format!("rusa-spans-{}", std::process::id()));
    let state = state(&dir, action_server());

    let capture = SpanCapture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();
    let request = Request::builder()
        .method("POST")
        .uri("/webhooks/rest/webhook")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"sender": "span-user", "message": "hello"}"#))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&body),
        r#"[{"recipient_id":"span-user","text":"Hello from the action server"}]"#
    );
    // The same turn streamed: its spans hang under the request's span too.
    let request = Request::builder()
        .method("POST")
        .uri("/webhooks/rest/webhook?stream=true")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"sender": "span-stream", "message": "hello"}"#,
        ))
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("Hello from the action server"));

    let spans: Vec<CapturedSpan> = capture.spans();
    let find = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    // The HTTP server span, by OpenTelemetry's HTTP conventions, is the turn's parent.
    let server: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.name == "POST /webhooks/rest/webhook")
        .collect();
    assert_eq!(server.len(), 2, "one server span per request");
    for span in &server {
        assert_eq!(span.parent, None);
        assert_eq!(span.fields["otel.kind"], "server");
        assert_eq!(span.fields["http.request.method"], "POST");
        assert_eq!(span.fields["http.route"], "/webhooks/rest/webhook");
        assert_eq!(span.fields["http.response.status_code"], "200");
        assert!(!span.fields.contains_key("otel.status_code"));
    }
    let turns: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.name == "Agent.handle_message")
        .collect();
    assert_eq!(turns.len(), 2);
    for turn in &turns {
        assert_eq!(turn.parent.as_deref(), Some("POST /webhooks/rest/webhook"));
    }
    let agent_span = find("Agent.handle_message");
    assert_eq!(agent_span.fields["input_channel"], "rest");
    assert_eq!(agent_span.fields["sender_id"], "span-user");
    assert_eq!(agent_span.fields["model_id"], "span-model");
    assert_eq!(agent_span.fields["model_name"], "span-model");
    assert_eq!(
        find("MessageProcessor.handle_message").parent.as_deref(),
        Some("Agent.handle_message")
    );
    let lock = find("InMemoryLockStore.lock");
    assert_eq!(
        lock.parent.as_deref(),
        Some("MessageProcessor.handle_message")
    );
    assert_eq!(lock.fields["lock_store_class"], "InMemoryLockStore");
    let get = find("MessageProcessor.get_tracker");
    assert_eq!(get.fields["number_of_events"], "0");
    assert_eq!(
        find("MessageProcessor.log_message").parent.as_deref(),
        Some("MessageProcessor.handle_message")
    );
    assert_eq!(
        find("MessageProcessor._run_prediction_loop")
            .parent
            .as_deref(),
        Some("MessageProcessor.handle_message")
    );
    let predict = find("MessageProcessor._predict_next_with_tracker");
    assert_eq!(
        predict.parent.as_deref(),
        Some("MessageProcessor._run_prediction_loop")
    );
    assert_eq!(predict.fields["intent_name"], "greet");
    let runs: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.name == "MessageProcessor._run_action")
        .collect();
    let custom = runs
        .iter()
        .find(|s| s.fields["action_name"] == "action_hello")
        .expect("the custom action ran in a span");
    assert_eq!(custom.fields["sender_id"], "span-user");
    assert!(custom.fields.contains_key("message_id"));
    let request_span = find("EndpointConfig.request");
    assert_eq!(
        request_span.parent.as_deref(),
        Some("MessageProcessor._run_action")
    );
    assert!(request_span.fields["url"].ends_with("/webhook"));
    let save = find("MessageProcessor.save_tracker");
    assert!(save.fields["number_of_events"].parse::<usize>().unwrap() > 0);
    let stream = find("InMemoryTrackerStore._stream_new_events");
    // No broker: the attribute is left out, never "None".
    assert!(!stream.fields.contains_key("broker_class"));
    assert!(
        stream.fields["number_of_streamed_events"]
            .parse::<usize>()
            .unwrap()
            > 0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The turn as the tracing back end sees it: the same spans as OpenTelemetry spans with
/// their kinds, ids and attributes; the caller's `traceparent` as the parent of the request's
/// span; the action server called with the `traceparent` of its own `EndpointConfig.request`
/// span; the trace id in the answer's `traceresponse`; the streamed webhook alike.
#[tokio::test]
async fn the_exported_trace_continues_the_callers_and_reaches_the_action_server() {
    use opentelemetry::trace::SpanKind;

    let dir = std::env::temp_dir().join(format!("rusa-otel-spans-{}", std::process::id()));
    let (url, received) = action_server_recording();
    let state = state(&dir, url);
    let memory = rusa_otel::testing::InMemory::new();
    let subscriber = tracing_subscriber::registry().with(memory.layer());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const CALLER_SPAN: &str = "00f067aa0ba902b7";
    let mut trace_ids = Vec::new();
    for (uri, sender) in [
        ("/webhooks/rest/webhook", "otel-user"),
        ("/webhooks/rest/webhook?stream=true", "otel-stream"),
    ] {
        memory.clear();
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", "application/json")
            .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
            .header("tracestate", "caller=1")
            .body(Body::from(format!(
                r#"{{"sender": "{sender}", "message": "hello"}}"#
            )))
            .unwrap();
        let response = app(state.clone()).oneshot(request).await.unwrap();
        let traceresponse = response
            .headers()
            .get("traceresponse")
            .expect("a traced answer names its trace")
            .to_str()
            .unwrap()
            .to_owned();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("Hello from the action server"));
        memory.flush();
        let spans = memory.spans();
        let names: std::collections::BTreeSet<&str> =
            spans.iter().map(|s| s.name.as_ref()).collect();
        let expected: std::collections::BTreeSet<&str> = [
            "POST /webhooks/rest/webhook",
            "Agent.handle_message",
            "MessageProcessor.handle_message",
            "InMemoryLockStore.lock",
            "MessageProcessor.get_tracker",
            "MessageProcessor.log_message",
            "MessageProcessor._run_prediction_loop",
            "MessageProcessor._predict_next_with_tracker",
            "MessageProcessor._run_action",
            "EndpointConfig.request",
            "MessageProcessor.save_tracker",
            "InMemoryTrackerStore._stream_new_events",
        ]
        .into_iter()
        .collect();
        let graph_nodes: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| n.starts_with("GraphNode."))
            .collect();
        let other: std::collections::BTreeSet<&str> = names
            .iter()
            .copied()
            .filter(|n| !n.starts_with("GraphNode."))
            .collect();
        assert_eq!(other, expected, "{uri}");
        assert!(!graph_nodes.is_empty(), "{uri}: {names:?}");
        let one = |name: &str| {
            let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
            assert_eq!(found.len(), 1, "{uri}: {name}");
            found[0]
        };
        let server = one("POST /webhooks/rest/webhook");
        // Every span is in the caller's trace; the request's span hangs under the caller's.
        assert!(
            spans
                .iter()
                .all(|s| s.span_context.trace_id().to_string() == CALLER_TRACE)
        );
        assert_eq!(server.parent_span_id.to_string(), CALLER_SPAN);
        assert!(server.parent_span_is_remote);
        assert_eq!(server.span_kind, SpanKind::Server);
        assert_eq!(
            traceresponse,
            format!("00-{CALLER_TRACE}-{}-01", server.span_context.span_id())
        );
        let by_id = |id: opentelemetry::trace::SpanId| {
            spans
                .iter()
                .find(|s| s.span_context.span_id() == id)
                .map(|s| s.name.as_ref())
        };
        let parent_of = |name: &str| by_id(one(name).parent_span_id);
        assert_eq!(
            parent_of("Agent.handle_message"),
            Some("POST /webhooks/rest/webhook")
        );
        assert_eq!(
            parent_of("MessageProcessor.handle_message"),
            Some("Agent.handle_message")
        );
        for name in [
            "InMemoryLockStore.lock",
            "MessageProcessor.log_message",
            "MessageProcessor._run_prediction_loop",
        ] {
            assert_eq!(
                parent_of(name),
                Some("MessageProcessor.handle_message"),
                "{name}"
            );
        }
        let request_span = one("EndpointConfig.request");
        assert_eq!(request_span.span_kind, SpanKind::Client);
        assert_eq!(
            parent_of("EndpointConfig.request"),
            Some("MessageProcessor._run_action")
        );
        let custom_action = spans
            .iter()
            .find(|s| s.span_context.span_id() == request_span.parent_span_id)
            .unwrap();
        assert_eq!(custom_action.span_kind, SpanKind::Client);
        let attr = |span: &opentelemetry_sdk::trace::SpanData, key: &str| {
            span.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(
            attr(custom_action, "action_name").as_deref(),
            Some("action_hello")
        );
        assert_eq!(attr(custom_action, "sender_id").as_deref(), Some(sender));
        assert!(attr(custom_action, "message_id").is_some());
        assert!(attr(request_span, "url").unwrap().ends_with("/webhook"));
        assert!(
            attr(request_span, "request_body_size_in_bytes")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                > 0
        );
        let agent = one("Agent.handle_message");
        assert_eq!(agent.span_kind, SpanKind::Internal);
        assert_eq!(attr(agent, "input_channel").as_deref(), Some("rest"));
        assert_eq!(attr(agent, "model_id").as_deref(), Some("span-model"));
        // Attributes whose value is unknown are left out, never "None"; otel.* fields and
        // tracing's own extras are not attributes.
        for span in &spans {
            for kv in &span.attributes {
                assert_ne!(kv.value.to_string(), "None", "{}: {}", span.name, kv.key);
                assert!(!kv.key.as_str().starts_with("otel."), "{}", kv.key);
                assert!(!kv.key.as_str().starts_with("code."), "{}", kv.key);
                assert!(!kv.key.as_str().starts_with("thread."), "{}", kv.key);
            }
        }
        // The action server got the context of this turn's EndpointConfig.request span.
        let sent = received.lock().unwrap().last().cloned().flatten();
        assert_eq!(
            sent,
            Some(format!(
                "00-{CALLER_TRACE}-{}-01",
                request_span.span_context.span_id()
            )),
            "{uri}"
        );
        trace_ids.push(server.span_context.span_id());
    }
    assert_ne!(trace_ids[0], trace_ids[1]);

    // Without a traceparent, a turn starts a trace of its own.
    memory.clear();
    let request = Request::builder()
        .method("POST")
        .uri("/webhooks/rest/webhook")
        .header("content-type", "application/json")
        .header("traceparent", "00-not-a-valid-header")
        .body(Body::from(r#"{"sender": "otel-new", "message": "hello"}"#))
        .unwrap();
    let response = app(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!traceresponse.contains(CALLER_TRACE));
    memory.flush();
    let root = memory
        .spans()
        .into_iter()
        .find(|s| s.name == "POST /webhooks/rest/webhook")
        .unwrap();
    assert_eq!(root.parent_span_id, opentelemetry::trace::SpanId::INVALID);
    let _ = std::fs::remove_dir_all(&dir);
}
