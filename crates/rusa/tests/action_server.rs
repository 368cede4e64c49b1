//! rusa's server and a rusa-sdk action server end to end: the starter assistant with its
//! Rust actions (examples/weatherbot/actions) has a conversation with a form validated by
//! the SDK and a custom action, and the SDK's spans continue rusa's trace. Both export to
//! one OTLP receiver; the spans are decoded from the bytes they sent.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rusa_otel::testing::{DecodedSpan, Receiver};
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

const START_LIMIT: Duration = Duration::from_secs(60);

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot")
}

/// The starter project set up for its Rust actions: the domain lists them, the stories and
/// rules forecast with `action_forecast`.
fn project(dir: &Path, endpoints: &str) {
    for file in [
        "config.yml",
        "credentials.yml",
        "data/nlu.yml",
        "data/rules.yml",
        "data/stories.yml",
        "domain.yml",
    ] {
        let text = std::fs::read_to_string(examples().join(file)).unwrap();
        let text = text.replace("- action: utter_forecast", "- action: action_forecast");
        std::fs::create_dir_all(dir.join(file).parent().unwrap()).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }
    let mut domain = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("domain.yml"))
        .unwrap();
    writeln!(
        domain,
        "\nactions:\n  - action_forecast\n  - validate_weather_form"
    )
    .unwrap();
    std::fs::write(dir.join("endpoints.yml"), endpoints).unwrap();
}

fn rusa(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rusa"));
    let home = dir.join(".home");
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG");
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 exchange with `connection: close`; the status and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the assistant answers to `text`.
fn say(port: u16, sender: &str, text: &str) -> Vec<String> {
    let body = json!({"sender": sender, "message": text}).to_string();
    let (status, answer) = http(port, "POST", "/webhooks/rest/webhook", &body).unwrap();
    assert_eq!(status, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    answer
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["text"].as_str().map(str::to_owned))
        .collect()
}

fn find<'a>(spans: &'a [DecodedSpan], name: &str, service: &str) -> Vec<&'a DecodedSpan> {
    spans
        .iter()
        .filter(|s| s.name == name && s.service_name == service)
        .collect()
}

#[test]
fn a_conversation_with_rust_actions_is_one_trace_across_both_servers() {
    let receiver = Receiver::grpc(None);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();

    // The action server, in this process, tracing to the receiver as `rusa run actions`
    // would from its endpoints file.
    let sdk_endpoints = root.join("sdk-endpoints.yml");
    std::fs::write(
        &sdk_endpoints,
        format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n  insecure: true\n",
            receiver.addr.port()
        ),
    )
    .unwrap();
    let (pipeline, _notes) = rusa_sdk::start_tracing(&sdk_endpoints).unwrap();
    let pipeline = pipeline.expect("tracing is on");
    tracing_subscriber::registry().with(pipeline.layer()).init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = runtime
        .block_on(rusa_sdk::serve::bind("127.0.0.1:0"))
        .unwrap();
    let action_port = listener.local_addr().unwrap().port();
    let app = weatherbot_actions::server().router().unwrap();
    runtime.spawn(rusa_sdk::serve::serve(
        listener,
        app,
        None,
        std::future::pending(),
    ));

    // The assistant, tracing to the same receiver.
    project(
        root,
        &format!(
            "action_endpoint:\n  url: http://127.0.0.1:{action_port}/webhook\n\
             tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n  insecure: true\n",
            receiver.addr.port()
        ),
    );
    let trained = rusa(root).arg("train").output().unwrap();
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let port = free_port();
    let server = Killed(
        rusa(root)
            .args(["run", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + START_LIMIT;
    while !http(port, "GET", "/", "").is_ok_and(|(s, _)| s == 200) {
        assert!(Instant::now() < deadline, "rusa run did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The form asks for the city; the SDK refuses a fictional one; a real one is forecast by
    // the custom action.
    let asked = say(port, "traveller", "/ask_weather");
    assert_eq!(asked, ["For which city would you like the forecast?"]);
    let refused = say(port, "traveller", r#"/inform_city{"city": "Atlantis"}"#);
    assert_eq!(
        refused,
        [
            "I don't know the weather in \"Atlantis\": is it a real city?",
            "For which city would you like the forecast?",
        ]
    );
    let forecast = say(port, "traveller", r#"/inform_city{"city": "porto alegre"}"#);
    assert_eq!(forecast.len(), 1, "{forecast:?}");
    assert!(
        forecast[0].starts_with("Here is the forecast for Porto Alegre: "),
        "{forecast:?}"
    );

    // Both sides' spans arrive: rusa flushes its own when it stops on SIGTERM.
    let stopped = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let mut server = server;
    let status = server.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let report = pipeline.shutdown(Duration::from_secs(5));
    assert_eq!(report.lost(), 0, "{report:?}");
    receiver.wait_for(Duration::from_secs(20), |spans| {
        spans
            .iter()
            .filter(|s| s.name == "EndpointConfig.request")
            .count()
            >= 3
    });
    let spans = receiver.spans();

    // Every call to the action server: rusa's client span is the parent of the SDK's
    // webhook span, in the same trace.
    let requests = find(&spans, "EndpointConfig.request", "rusa");
    let webhooks = find(&spans, "create_app.webhook", "rusa_sdk");
    assert_eq!(webhooks.len(), 3, "{webhooks:#?}");
    for webhook in &webhooks {
        let request = requests
            .iter()
            .find(|r| r.span_id == webhook.parent_span_id)
            .unwrap_or_else(|| panic!("no rusa span is the parent of {webhook:#?}"));
        assert_eq!(request.trace_id, webhook.trace_id);
        assert_eq!(webhook.kind, 2, "kind server");
        assert_eq!(webhook.attributes["sender_id"], "traveller");
        assert_eq!(webhook.attributes["http.route"], "/webhook");
    }
    let actions: Vec<&str> = webhooks
        .iter()
        .map(|w| w.attributes["next_action"].as_str())
        .collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| **a == "validate_weather_form")
            .count(),
        2,
        "{actions:?}"
    );
    assert!(actions.contains(&"action_forecast"), "{actions:?}");

    // Below the webhook: ActionExecutor.run, the form's validation spans, and the action's
    // own span.
    let runs = find(&spans, "ActionExecutor.run", "rusa_sdk");
    assert_eq!(runs.len(), 3);
    let lookup = find(&spans, "forecast.lookup", "rusa_sdk");
    assert_eq!(lookup.len(), 1);
    let forecast_run = runs
        .iter()
        .find(|r| r.attributes["action_name"] == "action_forecast")
        .unwrap();
    assert_eq!(lookup[0].parent_span_id, forecast_run.span_id);
    assert_eq!(
        find(
            &spans,
            "FormValidationAction.ValidateWeatherForm.run",
            "rusa_sdk"
        )
        .len(),
        2
    );
    // The turn that ran the custom action is one trace from the REST request down.
    let trace = &lookup[0].trace_id;
    assert!(
        spans
            .iter()
            .any(|s| &s.trace_id == trace && s.name == "POST /webhooks/rest/webhook"),
        "{spans:#?}"
    );
    // No user text or slot value in any span of either service.
    for span in &spans {
        for (key, value) in &span.attributes {
            assert!(
                !value.contains("Atlantis") && !value.contains("Porto"),
                "{}: {key}={value}",
                span.name
            );
        }
    }
}
