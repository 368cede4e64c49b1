//! Interoperability of rusa's tracing with the real Python action server (rasa-sdk 3.x):
//! rasa-sdk, with its own tracing configured by the `tracing:` entry of its endpoints file,
//! continues the trace of rusa's call. Both export to the same OTLP/gRPC receiver of the
//! test; rasa-sdk's `create_app.webhook` span must be a child of rusa's
//! `EndpointConfig.request` span, which only the W3C `traceparent` header rusa sends can
//! tell it.
//!
//! The action server comes from the harness of `rasa_sdk.rs` (`common/action_server.rs`):
//! without rasa-sdk the test prints `skipped: ...` and passes, unless
//! `RUSA_TEST_SERVICES=required`.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tracing::Instrument as _;
use tracing_subscriber::layer::SubscriberExt as _;

use rusa_core::actions::CustomActionExecutor as _;
use rusa_otel::testing::{DecodedSpan, Receiver};
use rusa_otel::{Pipeline, TracingConfig};

use common::action_server::{ActionServer, rasa_sdk_python};
use common::*;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long rusa's pipeline may take to export its spans when it shuts down.
const FLUSH_LIMIT: Duration = Duration::from_secs(20);
/// How long the test waits for rasa-sdk's spans to arrive (it exports in batches from its
/// Sanic worker) before it fails; never a sleep.
const ARRIVAL_LIMIT: Duration = Duration::from_secs(60);

/// The service name rasa-sdk reports. Its OTLP configuration takes it from the environment
/// variable `RASA_SDK_TRACING_SERVICE_NAME` (it ignores `service_name` in the file).
const SDK_SERVICE: &str = "action-server-test";
/// The span of rasa-sdk's `POST /webhook` handler (rasa_sdk/endpoint.py).
const SDK_WEBHOOK_SPAN: &str = "create_app.webhook";
/// rasa-sdk's span of `ActionExecutor.run`, inside the webhook's.
const SDK_RUN_SPAN: &str = "ActionExecutor.run";
const SENDER: &str = "tracing-sender";

/// rusa's tracing configuration from an endpoints file holding `yaml`, with an empty
/// environment (so that no `OTEL_*` variable of the test process changes it).
fn rusa_tracing_config(dir: &Path, yaml: &str) -> TracingConfig {
    let path = dir.join("endpoints.yml");
    std::fs::write(&path, yaml).expect("write endpoints");
    let endpoints = rusa_project::load_endpoints(&path, &mut Vec::new())
        .expect("endpoints load")
        .expect("endpoints present");
    let no_env: HashMap<String, String> = HashMap::new();
    rusa_otel::resolve(
        endpoints.tracing.as_ref(),
        &path,
        &move |name| no_env.get(name).cloned(),
        "rusa",
    )
    .expect("the tracing entry resolves")
    .config
    .expect("tracing is on")
}

fn find<'a>(spans: &'a [DecodedSpan], name: &str, service: &str) -> Option<&'a DecodedSpan> {
    spans
        .iter()
        .find(|s| s.name == name && s.service_name == service)
}

#[test]
fn rasa_sdk_continues_the_trace_of_rusas_action_call() {
    let Some(python) = rasa_sdk_python() else {
        return;
    };
    let receiver = Receiver::grpc(None);
    // One `tracing:` entry, read by both rasa-sdk and rusa.
    let tracing_yml = format!(
        "tracing:\n  type: otlp\n  endpoint: 127.0.0.1:{}\n  insecure: true\n",
        receiver.addr.port()
    );
    let server = ActionServer::start_with(
        &python,
        Some(&tracing_yml),
        &[
            ("RASA_SDK_TRACING_SERVICE_NAME", SDK_SERVICE),
            // The batch span processor's delay (5 s by default), in milliseconds.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let pipeline = Pipeline::start(&rusa_tracing_config(dir.path(), &tracing_yml))
        .expect("rusa's pipeline starts");

    let domain = load_domain_yaml(TRIP_DOMAIN_YML);
    let tracker = tracker_after(&domain, SENDER, "I feel great", "mood_great");
    let executor = executor(&server.url(), "", CALL_TIMEOUT);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let outcome = {
        let subscriber = tracing_subscriber::registry().with(pipeline.layer());
        let _default = tracing::subscriber::set_default(subscriber);
        let parent = tracing::info_span!(target: "rusa::test", "MessageProcessor._run_action");
        runtime.block_on(
            executor
                .run("action_remember_mood", &tracker, &domain)
                .instrument(parent),
        )
    };
    let outcome = outcome.unwrap_or_else(|e| panic!("{e}\n{}", server.log_text()));
    assert_eq!(
        outcome.messages[0].text.as_deref(),
        Some("I'll remember that you feel happy.")
    );

    let report = pipeline.shutdown(FLUSH_LIMIT);
    assert_eq!((report.exported, report.lost()), (2, 0), "{report:?}");
    let spans = receiver.wait_for(ARRIVAL_LIMIT, |spans| {
        find(spans, SDK_WEBHOOK_SPAN, SDK_SERVICE).is_some()
            && find(spans, SDK_RUN_SPAN, SDK_SERVICE).is_some()
    });
    let context = || {
        format!(
            "spans: {spans:#?}\naction server log:\n{}",
            server.log_text()
        )
    };

    // rusa's two spans: the test's parent and the call's own span, in one trace.
    let parent = find(&spans, "MessageProcessor._run_action", "rusa")
        .unwrap_or_else(|| panic!("no parent span of rusa; {}", context()));
    let request = find(&spans, "EndpointConfig.request", "rusa")
        .unwrap_or_else(|| panic!("no EndpointConfig.request span of rusa; {}", context()));
    assert_eq!(request.trace_id, parent.trace_id, "{}", context());
    assert_eq!(request.parent_span_id, parent.span_id, "{}", context());
    assert_eq!(parent.parent_span_id, "", "{}", context());
    assert_eq!(request.kind, 3, "client; {}", context());
    assert_eq!(request.trace_id.len(), 32);
    assert_ne!(request.trace_id, "0".repeat(32));
    assert_eq!(request.span_id.len(), 16);
    assert_ne!(request.span_id, "0".repeat(16));

    // rasa-sdk's span continues that trace, as a child of the call's span: it can only know
    // the call's span id from the `traceparent` header (without it, its span is a root span
    // of a trace of its own).
    let webhook = find(&spans, SDK_WEBHOOK_SPAN, SDK_SERVICE)
        .unwrap_or_else(|| panic!("no {SDK_WEBHOOK_SPAN} span of rasa-sdk; {}", context()));
    assert_eq!(webhook.trace_id, request.trace_id, "{}", context());
    assert_eq!(webhook.parent_span_id, request.span_id, "{}", context());
    assert_eq!(webhook.service_name, SDK_SERVICE);
    assert_eq!(request.service_name, "rusa");
    assert_eq!(parent.service_name, "rusa");

    // The attributes rasa-sdk 3.x sets on it (rasa_sdk/tracing/utils.py
    // `set_span_attributes`, and the HTTP method and route in endpoint.py), read from the
    // call rusa sent.
    let attribute = |key: &str| webhook.attributes.get(key).map(String::as_str);
    assert_eq!(attribute("next_action"), Some("action_remember_mood"));
    assert_eq!(attribute("sender_id"), Some(SENDER));
    assert_eq!(attribute("message_id"), Some("m1"));
    assert_eq!(attribute("version"), Some(rusa_actions::RASA_VERSION));
    assert_eq!(attribute("http.method"), Some("POST"));
    assert_eq!(attribute("http.route"), Some("/webhook"));
    // (rasa-sdk makes it an internal span, not a server span.)
    assert_eq!(webhook.kind, 1, "{}", context());

    // rasa-sdk's own tree below it.
    let run = find(&spans, SDK_RUN_SPAN, SDK_SERVICE)
        .unwrap_or_else(|| panic!("no {SDK_RUN_SPAN} span of rasa-sdk; {}", context()));
    assert_eq!(run.trace_id, request.trace_id, "{}", context());
    assert_eq!(run.parent_span_id, webhook.span_id, "{}", context());
    assert_eq!(
        run.attributes.get("action_name").map(String::as_str),
        Some("action_remember_mood")
    );
    assert_eq!(
        run.attributes.get("sender_id").map(String::as_str),
        Some(SENDER)
    );
}
