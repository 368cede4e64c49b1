//! The action server's spans (tracing spec §2 "Action server", action-sdk spec §3): the
//! webhook continues the caller's trace as `create_app.webhook` (kind server) with its
//! attributes, also on error answers; `ActionExecutor.run` and
//! `ActionExecutor._create_api_response` below it; the validation spans of a form; and the
//! action's own spans nested under `ActionExecutor.run`.
//!
//! The spans are recorded in memory by the same OpenTelemetry layer the server installs
//! (every crate's spans, info and above). One subscriber for the whole test binary; the tests
//! run one at a time.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use opentelemetry::trace::{SpanKind, Status};
use opentelemetry_sdk::trace::SpanData;
use rusa_otel::testing::InMemory;
use rusa_sdk::serde_json::{Value, json};
use rusa_sdk::{
    Action, ActionError, ActionServer, Dispatcher, Domain, Event, FormValidationAction, Tracker,
    events,
};
use tower::ServiceExt as _;
use tracing_subscriber::prelude::*;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID: &str = "b7ad6b7169203331";
/// Text the user said: never in a span.
const USER_TEXT: &str = "my secret is hunter2";

fn memory() -> &'static InMemory {
    static MEMORY: OnceLock<InMemory> = OnceLock::new();
    MEMORY.get_or_init(|| {
        let memory = InMemory::new();
        tracing_subscriber::registry()
            .with(memory.layer_for_all_targets())
            .init();
        memory
    })
}

/// One test at a time: they share the recorded spans.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

struct Forecast;

#[rusa_sdk::async_trait]
impl Action for Forecast {
    fn name(&self) -> &str {
        "action_forecast"
    }
    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        let city = tracker
            .get_slot("city")
            .and_then(Value::as_str)
            .unwrap_or("nowhere")
            .to_owned();
        {
            let _span = tracing::info_span!("forecast.lookup", city_length = city.len()).entered();
        }
        dispatcher.utter_response("utter_forecast");
        Ok(vec![
            events::slot_set("city", city),
            events::followup_action("action_listen"),
        ])
    }
}

struct ValidateTripForm;

#[rusa_sdk::async_trait]
impl FormValidationAction for ValidateTripForm {
    fn name(&self) -> &str {
        "validate_trip_form"
    }
    fn validated_slots(&self) -> &[&str] {
        &["city"]
    }
    async fn validate_slot(
        &self,
        slot: &str,
        value: &Value,
        _dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Value, ActionError> {
        Ok(json!({ slot: value.as_str().map(str::to_uppercase) }))
    }
}

fn app() -> axum::Router {
    ActionServer::new()
        .action(Forecast)
        .form_validation_action(ValidateTripForm)
        .router()
        .unwrap()
}

fn call(action: &str, events: Value) -> Value {
    json!({
        "next_action": action,
        "sender_id": "top-level-sender",
        "version": "3.6.21",
        "tracker": {
            "sender_id": "conversation-7",
            "slots": {"city": "Lima"},
            "latest_message": {"text": USER_TEXT, "message_id": "m-42", "intent": {"name": "inform"}},
            "events": events,
        },
        "domain": {"forms": {"trip_form": {"required_slots": ["city"]}}, "slots": {"city": {}}},
    })
}

async fn post(body: &Value, traceparent: bool) -> (StatusCode, axum::http::HeaderMap, Value) {
    let mut request = Request::post("/webhook").header("content-type", "application/json");
    if traceparent {
        request = request.header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"));
    }
    let response = app()
        .oneshot(request.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn attributes(span: &SpanData) -> BTreeMap<String, String> {
    span.attributes
        .iter()
        .map(|kv| (kv.key.to_string(), kv.value.to_string()))
        .collect()
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no span {name} in {:?}", names(spans)))
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| s.name.to_string()).collect()
}

fn recorded() -> Vec<SpanData> {
    memory().flush();
    let spans = memory().spans();
    memory().clear();
    spans
}

fn assert_no_user_data(spans: &[SpanData]) {
    for span in spans {
        for (key, value) in attributes(span) {
            assert!(
                !value.contains("hunter2") && !value.contains("Lima"),
                "{}: {key}={value} carries user data",
                span.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_continues_the_callers_trace_with_rasa_sdks_spans() {
    let _serial = serial().await;
    memory();
    recorded();
    let (status, headers, body) = post(&call("action_forecast", json!([])), true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let spans = recorded();

    let webhook = named(&spans, "create_app.webhook");
    assert_eq!(webhook.span_kind, SpanKind::Server);
    assert_eq!(webhook.span_context.trace_id().to_string(), TRACE_ID);
    assert_eq!(webhook.parent_span_id.to_string(), PARENT_ID);
    let attrs = attributes(webhook);
    for (key, value) in [
        ("http.method", "POST"),
        ("http.route", "/webhook"),
        ("next_action", "action_forecast"),
        ("version", "3.6.21"),
        ("sender_id", "conversation-7"),
        ("message_id", "m-42"),
    ] {
        assert_eq!(
            attrs.get(key).map(String::as_str),
            Some(value),
            "{key} in {attrs:?}"
        );
    }
    assert_eq!(webhook.status, Status::Unset);
    let traceresponse = headers.get("traceresponse").unwrap().to_str().unwrap();
    assert_eq!(
        traceresponse,
        format!("00-{TRACE_ID}-{}-01", webhook.span_context.span_id())
    );

    let run = named(&spans, "ActionExecutor.run");
    assert_eq!(run.parent_span_id, webhook.span_context.span_id());
    let attrs = attributes(run);
    // As rasa-sdk: the top-level `sender_id` of the call here, the tracker's on the webhook.
    assert_eq!(attrs["sender_id"], "top-level-sender");
    assert_eq!(attrs["action_name"], "action_forecast");

    let api = named(&spans, "ActionExecutor._create_api_response");
    assert_eq!(api.parent_span_id, run.span_context.span_id());
    let attrs = attributes(api);
    assert_eq!(attrs["events"], r#"["slot","followup"]"#);
    assert_eq!(attrs["slots"], r#"["city"]"#);
    assert_eq!(attrs["utters"], r#"["utter_forecast"]"#);
    assert_eq!(attrs["message_count"], "1");

    // The action's own span nests under ActionExecutor.run, in the caller's trace.
    let own = named(&spans, "forecast.lookup");
    assert_eq!(own.parent_span_id, run.span_context.span_id());
    assert_eq!(own.span_context.trace_id().to_string(), TRACE_ID);
    assert_no_user_data(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_are_traced_with_their_attributes_and_status_error() {
    let _serial = serial().await;
    memory();
    recorded();
    let (status, _, body) = post(&call("action_nope", json!([])), true).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body,
        json!({"error": "No registered action found for name 'action_nope'.", "action_name": "action_nope"})
    );
    let spans = recorded();
    let webhook = named(&spans, "create_app.webhook");
    let attrs = attributes(webhook);
    assert_eq!(attrs["next_action"], "action_nope");
    assert_eq!(attrs["sender_id"], "conversation-7");
    assert_eq!(attrs["message_id"], "m-42");
    assert!(
        matches!(webhook.status, Status::Error { .. }),
        "{:?}",
        webhook.status
    );
    assert_eq!(webhook.span_context.trace_id().to_string(), TRACE_ID);
    assert_no_user_data(&spans);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_validation_has_the_validation_spans_of_rasa_sdk() {
    let _serial = serial().await;
    memory();
    recorded();
    let slot_events = json!([
        {"event": "action", "name": "trip_form"},
        {"event": "slot", "name": "city", "value": "lima"},
    ]);
    let (status, _, body) = post(&call("validate_trip_form", slot_events), false).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events"][0]["value"], "LIMA");
    let spans = recorded();
    let run = named(&spans, "ActionExecutor.run");
    let validation = named(&spans, "FormValidationAction.ValidateTripForm.run");
    assert_eq!(validation.parent_span_id, run.span_context.span_id());
    let attrs = attributes(validation);
    assert_eq!(attrs["class_name"], "ValidateTripForm");
    assert_eq!(attrs["sender_id"], "conversation-7");
    assert_eq!(attrs["slots_to_validate"], r#"["city"]"#);
    assert_eq!(attrs["action_name"], "validate_trip_form");
    let extract = named(
        &spans,
        "FormValidationAction.ValidateTripForm._extract_validation_events",
    );
    assert_eq!(extract.parent_span_id, validation.span_context.span_id());
    let attrs = attributes(extract);
    assert_eq!(attrs["validation_events"], r#"["slot"]"#);
    assert_eq!(attrs["slots"], r#"["city"]"#);
    // Without a traceparent the webhook starts a trace of its own.
    let webhook = named(&spans, "create_app.webhook");
    assert_eq!(webhook.parent_span_id.to_string(), "0000000000000000");
}
