//! `HttpActionExecutor` against a real HTTP server on 127.0.0.1 that records each request
//! and answers as configured.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;

use rusa_core::EventKind;
use rusa_core::actions::{ActionError, CustomActionExecutor};

use common::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What the server received.
#[derive(Debug)]
struct Recorded {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Value,
}

/// How the server answers.
#[derive(Clone)]
enum Reply {
    Json(u16, Value),
    /// Reads the request and never answers (until the test process ends).
    Hang,
}

/// An HTTP/1.1 server on a free port that answers every request with `reply` and sends
/// what it received into the returned channel.
fn serve(reply: Reply) -> (String, mpsc::Receiver<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            let reply = reply.clone();
            thread::spawn(move || handle(stream, &reply, &tx));
        }
    });
    (format!("http://{addr}/webhook"), rx)
}

fn handle(stream: TcpStream, reply: &Reply, tx: &mpsc::Sender<Recorded>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header");
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    let mut body = vec![0; length];
    reader.read_exact(&mut body).expect("body");
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = tx.send(Recorded {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    });
    let mut stream = stream;
    match reply {
        Reply::Json(status, value) => {
            let body = value.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Reply::Hang => thread::sleep(Duration::from_secs(3600)),
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().expect("an object").keys().cloned().collect()
}

fn rasa_sdk_hello_answer() -> Value {
    rasa_call_sample()["response_body"].clone()
}

#[tokio::test]
async fn request_has_rasas_shape_and_answer_is_applied() {
    let sample = rasa_call_sample();
    let expected = &sample["request_body"];
    let domain = recorded_call_domain();
    let (url, requests) = serve(Reply::Json(200, rasa_sdk_hello_answer()));
    let executor = executor(&url, "", TIMEOUT);
    let tracker = tracker_after(&domain, "act1", "are you a bot?", "bot_challenge");

    let outcome = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect("the action runs");

    let request = requests.recv().expect("a request");
    assert_eq!(request.request_line, "POST /webhook HTTP/1.1");
    assert!(
        request
            .headers
            .contains(&("content-type".into(), "application/json".into()))
    );
    let body = &request.body;
    assert_eq!(keys(body), keys(expected));
    assert_eq!(body["next_action"], "action_hello_world");
    assert_eq!(body["sender_id"], "act1");
    assert_eq!(body["version"], expected["version"]);
    assert_eq!(keys(&body["tracker"]), keys(&expected["tracker"]));
    assert_eq!(body["tracker"]["events"].as_array().map(Vec::len), Some(4));
    assert_eq!(body["tracker"]["latest_message"]["text"], "are you a bot?");
    // The domain of the recorded call, key for key and value for value.
    assert_eq!(body["domain"], expected["domain"]);
    // Events of the kinds both trackers have carry the same keys as Rasa's.
    for kind in ["action", "session_started", "user"] {
        let find = |events: &Value| {
            events
                .as_array()
                .expect("events")
                .iter()
                .find(|e| e["event"] == kind)
                .map(keys)
                .expect("an event of this kind")
        };
        let ours = find(&body["tracker"]["events"]);
        let rasas = find(&expected["tracker"]["events"]);
        assert_eq!(ours, rasas, "keys of the '{kind}' event");
    }

    // Rasa's answer: the bot message, its bot event, then the slot event.
    assert_eq!(outcome.messages.len(), 1);
    assert_eq!(
        outcome.messages[0].text.as_deref(),
        Some("Hello World! you said: are you a bot?")
    );
    let kinds: Vec<&str> = outcome.events.iter().map(|e| e.type_name()).collect();
    assert_eq!(kinds, ["bot", "slot"]);
    assert!(matches!(
        &outcome.events[1].kind,
        EventKind::Slot { name, value } if name == "greeted" && *value == json!(true)
    ));
}

#[tokio::test]
async fn token_params_and_headers_of_the_endpoint_are_sent() {
    let domain = recorded_call_domain();
    let (url, requests) = serve(Reply::Json(200, json!({"events": [], "responses": []})));
    let executor = executor(
        &url,
        "  token: \"s3cret&x\"\n  headers:\n    X-Team: bots\n",
        TIMEOUT,
    );
    assert!(!executor.url().contains("s3cret"));
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let outcome = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect("runs");
    assert!(outcome.events.is_empty() && outcome.messages.is_empty());
    let request = requests.recv().expect("a request");
    assert_eq!(
        request.request_line,
        "POST /webhook?token=s3cret%26x HTTP/1.1"
    );
    assert!(request.headers.contains(&("x-team".into(), "bots".into())));
}

#[tokio::test]
async fn a_400_is_a_rejection() {
    let domain = recorded_call_domain();
    let (url, _requests) = serve(Reply::Json(
        400,
        json!({"action_name": "action_hello_world", "error": "not now"}),
    ));
    let executor = executor(&url, "", TIMEOUT);
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let err = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect_err("rejected");
    assert_eq!(
        err,
        ActionError::Rejected {
            action: "action_hello_world".into(),
            message: "not now".into()
        }
    );
}

#[tokio::test]
async fn a_404_means_the_action_server_does_not_know_the_action() {
    let domain = recorded_call_domain();
    let (url, _requests) = serve(Reply::Json(404, json!({"error": "no such action"})));
    let executor = executor(&url, "", TIMEOUT);
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let err = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect_err("fails");
    assert_eq!(
        err,
        ActionError::Failed {
            action: "action_hello_world".into(),
            message: "action not found on the action server".into()
        }
    );
}

#[tokio::test]
async fn a_500_fails_without_echoing_the_body() {
    let domain = recorded_call_domain();
    let (url, _requests) = serve(Reply::Json(500, json!({"secret": "user data"})));
    let executor = executor(&url, "", TIMEOUT);
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let err = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect_err("fails");
    let ActionError::Failed { message, .. } = err else {
        panic!("expected Failed, got {err:?}")
    };
    assert!(
        message.contains("500") && !message.contains("user data"),
        "{message}"
    );
}

#[tokio::test]
async fn an_answer_over_the_size_limit_fails_the_action() {
    let domain = recorded_call_domain();
    let big_text = "x".repeat(rusa_actions::DEFAULT_MAX_ANSWER_BYTES);
    let answer = json!({"events": [], "responses": [{"text": big_text}]});
    let (url, _requests) = serve(Reply::Json(200, answer.clone()));
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    // Over the default, and over a limit set on the endpoint.
    let small = rasa_sdk_hello_answer();
    let (small_url, _small_requests) = serve(Reply::Json(200, small.clone()));
    let limit = small.to_string().len() - 1;
    for executor in [
        executor(&url, "", TIMEOUT),
        executor(
            &small_url,
            &format!("  max_answer_bytes: {limit}\n"),
            TIMEOUT,
        ),
    ] {
        let err = executor
            .run("action_hello_world", &tracker, &domain)
            .await
            .expect_err("fails");
        let ActionError::Failed { message, .. } = err else {
            panic!("expected Failed, got {err:?}")
        };
        assert!(message.contains("max_answer_bytes"), "{message}");
    }
    // Raised on the endpoint, the same answer is taken.
    let raised = format!("  max_answer_bytes: {}\n", answer.to_string().len());
    executor(&url, &raised, TIMEOUT)
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect("an answer within the raised limit");
}

#[tokio::test]
async fn an_answer_with_names_no_store_can_keep_fails_the_action() {
    let domain = recorded_call_domain();
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let long = "n".repeat(rusa_core::events::MAX_NAME_CHARS + 1);
    let at_limit = "é".repeat(rusa_core::events::MAX_NAME_CHARS);
    let refused = [
        json!({"event": "slot", "name": long, "value": 1}),
        json!({"event": "action", "name": long}),
        json!({"event": "active_loop", "name": long}),
        json!({"event": "user", "text": "x", "parse_data": {"intent": {"name": long}}}),
        json!({"event": "slot", "name": "a\u{0}b", "value": 1}),
    ];
    for event in refused {
        let (url, _requests) = serve(Reply::Json(
            200,
            json!({"events": [event], "responses": []}),
        ));
        let err = executor(&url, "", TIMEOUT)
            .run("action_hello_world", &tracker, &domain)
            .await
            .expect_err("a name over the limit fails the action");
        let ActionError::Failed { message, .. } = err else {
            panic!("expected Failed, got {err:?}")
        };
        assert!(message.contains("refused"), "{message}");
        assert!(
            !message.contains(&long),
            "the name is not echoed: {message}"
        );
    }
    // A name of 255 characters (not bytes) is kept.
    let (url, _requests) = serve(Reply::Json(
        200,
        json!({"events": [{"event": "slot", "name": at_limit, "value": 1}], "responses": []}),
    ));
    let outcome = executor(&url, "", TIMEOUT)
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect("a name at the limit is taken");
    assert_eq!(outcome.events.len(), 1);
}

#[tokio::test]
async fn a_slow_action_server_times_out() {
    let domain = recorded_call_domain();
    let (url, _requests) = serve(Reply::Hang);
    let executor = executor(&url, "", Duration::from_millis(300));
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let err = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect_err("times out");
    let ActionError::Failed { message, .. } = err else {
        panic!("expected Failed, got {err:?}")
    };
    assert!(message.contains("timed out"), "{message}");
}

#[tokio::test]
async fn a_closed_port_fails_with_a_connection_message() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let domain = recorded_call_domain();
    let executor = executor(&format!("http://127.0.0.1:{port}/webhook"), "", TIMEOUT);
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let err = executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect_err("fails");
    let ActionError::Failed { message, .. } = err else {
        panic!("expected Failed, got {err:?}")
    };
    assert!(message.contains("could not connect"), "{message}");
}

/// Records the name and fields of every span.
#[derive(Clone, Default)]
struct SpanRecorder(Arc<Mutex<Vec<RecordedSpan>>>);

/// A span's name and its fields as text.
type RecordedSpan = (String, Vec<(String, String)>);

struct FieldVisitor<'a>(&'a mut Vec<(String, String)>);

impl Visit for FieldVisitor<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> tracing_subscriber::Layer<S>
    for SpanRecorder
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: Context<'_, S>,
    ) {
        let mut fields = Vec::new();
        attrs.record(&mut FieldVisitor(&mut fields));
        self.0
            .lock()
            .expect("lock")
            .push((attrs.metadata().name().to_owned(), fields));
    }
}

#[tokio::test]
async fn each_request_has_an_endpoint_config_request_span() {
    // One global recorder for the whole test binary: a thread-local subscriber would race
    // with the other tests over tracing's per-callsite interest cache.
    static RECORDER: OnceLock<(SpanRecorder, rusa_otel::testing::InMemory)> = OnceLock::new();
    let (recorder, memory) = RECORDER.get_or_init(|| {
        let recorder = SpanRecorder::default();
        let memory = rusa_otel::testing::InMemory::new();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry()
                .with(recorder.clone())
                .with(memory.layer()),
        )
        .expect("no other global subscriber in this test binary");
        (recorder, memory)
    });

    let domain = recorded_call_domain();
    let (url, requests) = serve(Reply::Json(200, json!({"events": [], "responses": []})));
    let executor = executor(&url, "  token: abc\n", TIMEOUT);
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    executor
        .run("action_hello_world", &tracker, &domain)
        .await
        .expect("runs");
    let request = requests.recv().expect("a request");
    let body_len = serde_json::to_vec(&request.body).expect("json").len();

    let spans = recorder.0.lock().expect("lock").clone();
    let (_, fields) = spans
        .iter()
        .find(|(name, fields)| {
            name == "EndpointConfig.request" && fields.iter().any(|(k, v)| k == "url" && *v == url)
        })
        .expect("the EndpointConfig.request span of this request");
    let field = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("otel.kind").as_deref(), Some("client"));
    let size: usize = field("request_body_size_in_bytes")
        .expect("size field")
        .parse()
        .expect("a number");
    // The recorded body was re-serialized compactly; Rasa's key order is kept by rusa.
    assert_eq!(size, body_len);
    // The request carries the context of its own EndpointConfig.request span.
    memory.flush();
    let exported = memory
        .spans()
        .into_iter()
        .rev()
        .find(|s| {
            s.name == "EndpointConfig.request"
                && s.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "url" && kv.value.to_string() == url)
        })
        .expect("the exported span of this request");
    let expected = format!(
        "00-{}-{}-01",
        exported.span_context.trace_id(),
        exported.span_context.span_id()
    );
    assert!(
        request
            .headers
            .iter()
            .any(|(n, v)| n == "traceparent" && *v == expected),
        "{:?}",
        request.headers
    );
}

/// One turn of the trip assistant with `executor` as its action server.
async fn trip_turn(
    model: &rusa_core::processor::DialogueModel,
    tracker: &mut rusa_core::DialogueStateTracker,
    executor: &rusa_actions::HttpActionExecutor,
    text: &str,
) -> Vec<rusa_core::responses::BotMessage> {
    let nlu = TableNlu(std::collections::HashMap::from([(
        "I feel great",
        ("mood_great", json!([])),
    )]));
    let now = || 10.0;
    let mut first = |_: usize| 0;
    let mut env = rusa_core::processor::TurnEnv::new(&now, &mut first);
    let message = rusa_core::processor::UserMessage {
        text: text.into(),
        input_channel: Some("rest".into()),
        ..Default::default()
    };
    model
        .handle_message(tracker, &nlu, executor, &message, &mut env)
        .await
        .messages
}

#[tokio::test]
async fn a_rejection_is_logged_as_action_execution_rejected_and_the_turn_goes_on() {
    let (_dir, model) = trip_model();
    let (url, _requests) = serve(Reply::Json(
        400,
        json!({"action_name": "action_remember_mood", "error": "no"}),
    ));
    let executor = executor(&url, "", TIMEOUT);
    let mut tracker = model.new_tracker("rejected");
    let messages = trip_turn(&model, &mut tracker, &executor, "I feel great").await;
    assert!(messages.is_empty());
    let rejected = tracker.events().iter().any(|e| {
        matches!(&e.kind, EventKind::ActionExecutionRejected { name, .. } if name == "action_remember_mood")
    });
    assert!(rejected, "action_execution_rejected is logged");
    assert_eq!(tracker.latest_action_name(), Some("action_listen"));
}

#[tokio::test]
async fn an_unreachable_action_server_does_not_stop_the_turn() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    let (_dir, model) = trip_model();
    let executor = executor(&format!("http://127.0.0.1:{port}/webhook"), "", TIMEOUT);
    let mut tracker = model.new_tracker("down");
    let messages = trip_turn(&model, &mut tracker, &executor, "I feel great").await;
    assert!(messages.is_empty());
    // As in Rasa: the failed action counts as run (without events), then the assistant listens.
    let ran = tracker.events().iter().any(|e| {
        matches!(&e.kind, EventKind::Action(a) if a.name.as_deref() == Some("action_remember_mood"))
    });
    assert!(ran);
    assert_eq!(tracker.latest_action_name(), Some("action_listen"));
    assert_eq!(tracker.slot("mood"), Some(&Value::Null));
}

#[test]
fn with_selective_domain_only_actions_declaring_send_domain_get_the_domain() {
    let domain = load_domain_yaml(
        "intents: [greet]\nactions:\n  - action_needs_domain:\n      send_domain: true\n  - action_plain\n",
    );
    let tracker = tracker_after(&domain, "u1", "hi", "greet");
    let body = |executor: &rusa_actions::HttpActionExecutor, action: &str| -> Value {
        serde_json::from_str(&executor.request_body(action, &tracker, &domain)).expect("JSON body")
    };
    let selective = executor(
        "http://127.0.0.1:9/webhook",
        "  enable_selective_domain: true\n",
        TIMEOUT,
    );
    assert!(body(&selective, "action_plain").get("domain").is_none());
    assert_eq!(
        body(&selective, "action_needs_domain")["domain"]["actions"],
        json!([{"action_needs_domain": {"send_domain": true}}, "action_plain"])
    );
    let everyone = executor("http://127.0.0.1:9/webhook", "", TIMEOUT);
    assert!(body(&everyone, "action_plain").get("domain").is_some());
}
