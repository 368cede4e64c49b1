//! One turn through the server with a custom action on a real (local) action server
//! produces the span tree of the tracing spec, with its attributes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::http::Request;
use rusa_core::agent::Agent;
use rusa_core::span_capture::{CapturedSpan, SpanCapture};
use rusa_server::{AppState, MessageProcessor, ServerConfig, app};
use rusa_stores::{InMemoryLockStore, InMemoryTrackerStore};
use tower::ServiceExt as _;
use tracing_subscriber::prelude::*;

/// A one-request-at-a-time action server: answers every call with a bot message.
fn action_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
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
    url
}

fn project(dir: &Path) -> rusa_project::Project {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("config.yml"), "language: en\n").unwrap();
    std::fs::write(
        dir.join("domain.yml"),
        "version: \"3.1\"\nintents: [greet]\nactions: [action_hello]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/nlu.yml"),
        "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi\n",
    )
    .unwrap();
    std::fs::write(dir.join("data/rules.yml"), "rules:\n- rule: greet with the action server\n  steps:\n  - intent: greet\n  - action: action_hello\n").unwrap();
    rusa_project::Project::load(&rusa_project::ProjectPaths::in_dir(dir)).unwrap()
}

#[tokio::test]
async fn one_turn_with_a_custom_action_has_the_spec_span_tree() {
    let dir = std::env::temp_dir().join(format!("rusa-spans-{}", std::process::id()));
    let project = project(&dir);
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
    let url = action_server();
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
    let state = AppState {
        processor: Arc::new(processor),
        config: Arc::new(ServerConfig::default()),
    };

    let capture = SpanCapture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
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
    assert_eq!(stream.fields["broker_class"], "None");
    assert!(
        stream.fields["number_of_streamed_events"]
            .parse::<usize>()
            .unwrap()
            > 0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
