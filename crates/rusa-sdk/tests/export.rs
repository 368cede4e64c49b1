//! The action server's tracing comes from the endpoints file as the rusa server's does, and
//! its `service_name` is honoured for OTLP too (rasa-sdk ignores it there): the spans a
//! receiver decodes from the exported bytes carry it.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use rusa_otel::testing::Receiver;
use rusa_sdk::serde_json::json;
use rusa_sdk::{Action, ActionError, ActionServer, Dispatcher, Domain, Event, Tracker};
use tower::ServiceExt as _;
use tracing_subscriber::prelude::*;

struct Hello;

#[rusa_sdk::async_trait]
impl Action for Hello {
    fn name(&self) -> &str {
        "action_hello"
    }
    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        dispatcher.utter_text("hello");
        Ok(vec![])
    }
}

#[test]
fn the_service_name_of_the_endpoints_file_reaches_the_otlp_back_end() {
    let receiver = Receiver::http();
    let dir = tempfile::tempdir().unwrap();
    let endpoints = dir.path().join("endpoints.yml");
    std::fs::write(
        &endpoints,
        format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}/v1/traces\n  \
             service_name: weather_actions\n",
            receiver.addr.port()
        ),
    )
    .unwrap();
    let (pipeline, notes) = rusa_sdk::start_tracing(&endpoints).unwrap();
    let pipeline = pipeline.unwrap_or_else(|| panic!("tracing is off: {notes:?}"));
    tracing_subscriber::registry().with(pipeline.layer()).init();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let status = runtime.block_on(async {
        let body =
            json!({"next_action": "action_hello", "tracker": {"sender_id": "u"}, "domain": {}});
        ActionServer::new()
            .action(Hello)
            .router()
            .unwrap()
            .oneshot(
                Request::post("/webhook")
                    .body(Body::from(body.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let report = pipeline.shutdown(Duration::from_secs(5));
    assert_eq!(report.lost(), 0);
    let spans = receiver.spans();
    let webhook = spans
        .iter()
        .find(|s| s.name == "create_app.webhook")
        .unwrap_or_else(|| panic!("{spans:#?}"));
    assert_eq!(webhook.service_name, "weather_actions");
    assert!(spans.iter().all(|s| s.service_name == "weather_actions"));
    assert!(spans.iter().any(|s| s.name == "ActionExecutor.run"));
}

#[test]
fn without_an_endpoints_file_tracing_is_off() {
    let (pipeline, _) =
        rusa_sdk::start_tracing(std::path::Path::new("/nonexistent/endpoints.yml")).unwrap();
    assert!(pipeline.is_none());
}
