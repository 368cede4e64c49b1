//! The server through its router, as an HTTP client sees it: the REST channel answers as
//! Rasa did, the API has Rasa's routes and error shape, auth works, and a turn produces the
//! spans of the tracing spec.

use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use rusa_core::actions::NoActionServer;
use rusa_server::{AppState, MessageProcessor, ServerConfig, app};
use rusa_stores::{InMemoryLockStore, InMemoryTrackerStore};
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod moodbot;

use moodbot::{fixtures, moodbot_agent};

fn state(config: ServerConfig) -> AppState {
    state_on(config, Arc::new(InMemoryTrackerStore::new()))
}

fn state_on(config: ServerConfig, store: Arc<InMemoryTrackerStore>) -> AppState {
    let processor = MessageProcessor::new(
        Some(moodbot_agent()),
        store,
        Arc::new(InMemoryLockStore::new()),
        None,
        Arc::new(NoActionServer),
    );
    AppState {
        processor: Arc::new(processor),
        config: Arc::new(config),
    }
}

fn api() -> ServerConfig {
    ServerConfig {
        enable_api: true,
        ..ServerConfig::default()
    }
}

async fn send(
    state: &AppState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value, String) {
    send_as(state, None, method, uri, body).await
}

/// [`send`] with `Authorization: Bearer <jwt>` when `jwt` is given.
async fn send_as(
    state: &AppState,
    jwt: Option<&str>,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, Value, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json");
    if let Some(jwt) = jwt {
        request = request.header("authorization", format!("Bearer {jwt}"));
    }
    let request = request
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_owned())))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

#[tokio::test]
async fn the_rest_channel_answers_rasas_recorded_conversation() {
    let state = state(ServerConfig::default());
    let recorded = std::fs::read_to_string(
        fixtures().join("moodbot/samples/rest_conversation_demo_sad_path.jsonl"),
    )
    .unwrap();
    for line in recorded.lines().filter(|l| !l.trim().is_empty()) {
        let exchange: Value = serde_json::from_str(line).unwrap();
        let (status, answer, _) = send(
            &state,
            "POST",
            "/webhooks/rest/webhook",
            Some(&exchange["request"].to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            answer, exchange["response"],
            "reply to {}",
            exchange["request"]
        );
    }
    let (status, health, _) = send(&state, "GET", "/webhooks/rest/", None).await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test]
async fn streaming_sends_one_json_line_per_reply() {
    let state = state(ServerConfig::default());
    send(
        &state,
        "POST",
        "/webhooks/rest/webhook",
        Some(r#"{"sender": "s1", "message": "hi"}"#),
    )
    .await;
    let (status, _, text) = send(
        &state,
        "POST",
        "/webhooks/rest/webhook?stream=true",
        Some(r#"{"sender": "s1", "message": "I am sad"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(
        lines[1],
        json!({"recipient_id": "s1", "image": "https://i.imgur.com/nGF1K8f.jpg"})
    );
}

#[tokio::test]
async fn bad_requests_get_rasas_error_shape() {
    let state = state(api());
    let (status, error, _) =
        send(&state, "POST", "/webhooks/rest/webhook", Some("{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for key in [
        "version", "status", "message", "reason", "details", "help", "code",
    ] {
        assert!(error.get(key).is_some(), "{key} missing in {error}");
    }
    assert_eq!(error["status"], "failure");
    assert_eq!(error["code"], 400);
    // JSON that is not a message object: serde would read an array as the struct's fields.
    for body in ["[]", r#" ["x", "hi"]"#, "null", "5"] {
        let (status, error, _) = send(&state, "POST", "/webhooks/rest/webhook", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }
    let big = format!(
        r#"{{"sender": "x", "message": "{}"}}"#,
        "a".repeat(2 * 1024 * 1024)
    );
    let (status, error, _) = send(&state, "POST", "/webhooks/rest/webhook", Some(&big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error["reason"], "PayloadTooLarge");
    let (status, error, _) = send(&state, "GET", "/no/such/route", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["status"], "failure");
}

/// Every API route that takes a body refuses broken JSON (400), events that are not events
/// (400) and bodies over the limit (413), in Rasa's error shape; a route asked with the
/// wrong method answers 405; a conversation nobody started is shown with a new session,
/// unsaved, as in Rasa, not an error.
#[tokio::test]
async fn bad_bodies_wrong_methods_and_unknown_conversations_are_answered_as_rasa_does() {
    let store = Arc::new(InMemoryTrackerStore::new());
    let state = state_on(api(), store.clone());
    let big = format!(r#"{{"text": "{}"}}"#, "a".repeat(2 * 1024 * 1024));
    for uri in [
        "/model/parse",
        "/conversations/c9/messages",
        "/conversations/c9/tracker/events",
        "/conversations/c9/execute",
        "/conversations/c9/trigger_intent",
    ] {
        let (status, error, _) = send(&state, "POST", uri, Some("{not json")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {error}");
        assert_eq!(
            (&error["status"], &error["code"]),
            (&json!("failure"), &json!(400)),
            "{uri}"
        );
        let (status, error, _) = send(&state, "POST", uri, Some(&big)).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{uri}: {error}");
        assert_eq!(error["reason"], "PayloadTooLarge", "{uri}");
    }
    let (status, error, _) = send(
        &state,
        "POST",
        "/conversations/c9/tracker/events",
        Some(r#"[{"event": "no_such_event"}]"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");

    let (status, _, _) = send(&state, "GET", "/webhooks/rest/webhook", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, _) = send(&state, "DELETE", "/conversations/c9/tracker", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    let (status, tracker, _) = send(
        &state,
        "GET",
        "/conversations/never-seen/tracker?include_events=ALL",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tracker}");
    assert_eq!(tracker["sender_id"], "never-seen");
    let names: Vec<&str> = tracker["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["action", "session_started", "action"], "{tracker}");
    assert_eq!(tracker["latest_action_name"], "action_listen", "{tracker}");
    // Shown, not saved.
    let stored = rusa_core::stores::TrackerStore::retrieve(store.as_ref(), "never-seen")
        .await
        .unwrap();
    assert!(stored.is_none_or(|events| events.is_empty()));
    let (status, _, story) = send(&state, "GET", "/conversations/never-seen/story", None).await;
    assert_eq!(status, StatusCode::OK, "{story}");
}

#[tokio::test]
async fn the_api_parses_and_shows_trackers() {
    let state = state(api());
    let (status, parse, _) =
        send(&state, "POST", "/model/parse", Some(r#"{"text": "hello"}"#)).await;
    assert_eq!(status, StatusCode::OK);
    let rasa: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("moodbot/samples/model_parse_hello.json"))
            .unwrap(),
    )
    .unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&parse), keys(&rasa));
    assert_eq!(parse["intent"]["name"], "greet");

    send(
        &state,
        "POST",
        "/webhooks/rest/webhook",
        Some(r#"{"sender": "t1", "message": "hello"}"#),
    )
    .await;
    let (status, tracker, _) = send(
        &state,
        "GET",
        "/conversations/t1/tracker?include_events=ALL",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("moodbot/samples/tracker_u1_after_hello.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(keys(&tracker), keys(&sample));
    let types: Vec<&str> = tracker["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let sample_types: Vec<&str> = sample["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(types, sample_types);
    assert_eq!(
        tracker["events"][3]["metadata"]["model_id"],
        "test-model-id"
    );

    let (status, status_json, _) = send(&state, "GET", "/status", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(status_json["model_id"], "test-model-id");
    let (_, version, _) = send(&state, "GET", "/version", None).await;
    assert_eq!(
        version,
        json!({"version": "3.6.21", "minimum_compatible_version": "3.5.0", "rusa_version": env!("CARGO_PKG_VERSION")})
    );
    let (status, domain, _) = send(&state, "GET", "/domain", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        domain["intents"].as_array().is_some_and(|i| i.len() == 7),
        "{domain}"
    );
}

#[tokio::test]
async fn conversations_can_be_driven_through_the_api() {
    let state = state(api());
    let (status, tracker, _) = send(
        &state,
        "POST",
        "/conversations/c1/messages",
        Some(r#"{"text": "hello", "sender": "user"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tracker["latest_message"]["intent"]["name"], "greet");
    let (_, prediction, _) = send(&state, "POST", "/conversations/c1/predict", None).await;
    assert_eq!(prediction["scores"][0]["action"], "utter_greet");
    // Every action of the domain (Rasa's default actions included), most probable first,
    // ties by name, as Rasa sorts them.
    let scores = prediction["scores"].as_array().unwrap();
    assert_eq!(
        scores.len(),
        19,
        "moodbot has 19 actions in Rasa: {prediction}"
    );
    assert!(
        scores
            .windows(2)
            .all(|w| w[0]["score"].as_f64() > w[1]["score"].as_f64()
                || (w[0]["score"] == w[1]["score"]
                    && w[0]["action"].as_str() < w[1]["action"].as_str())),
        "{prediction}"
    );
    assert_eq!(scores[0]["score"], prediction["confidence"]);
    assert!(scores.iter().any(|s| s["action"] == "action_restart"));
    let (status, executed, _) = send(
        &state,
        "POST",
        "/conversations/c1/execute",
        Some(r#"{"name": "utter_greet"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(executed["messages"][0]["text"], "Hey! How are you?");
    send(
        &state,
        "POST",
        "/conversations/c1/execute",
        Some(r#"{"name": "action_listen"}"#),
    )
    .await;
    let (status, triggered, _) = send(
        &state,
        "POST",
        "/conversations/c1/trigger_intent",
        Some(r#"{"name": "mood_great"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(triggered["messages"][0]["text"], "Great, carry on!");
    let (status, _, story) = send(&state, "GET", "/conversations/c1/story", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        story.contains("- intent: mood_great\n") && story.contains("- action: utter_happy\n"),
        "{story}"
    );
    let events = r#"[{"event": "slot", "name": "session_started_metadata", "value": {"a": 1}}]"#;
    let (status, tracker, _) = send(
        &state,
        "POST",
        "/conversations/c1/tracker/events",
        Some(events),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        tracker["slots"]["session_started_metadata"],
        json!({"a": 1})
    );
    let (status, tracker, _) = send(
        &state,
        "PUT",
        "/conversations/c1/tracker/events",
        Some("[]"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(tracker["events"], json!([]));
    let (status, error, _) = send(
        &state,
        "POST",
        "/conversations/c1/trigger_intent",
        Some(r#"{"name": "no_such_intent"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
}

#[tokio::test]
async fn the_model_can_be_unloaded_and_loaded_again() {
    let state = state(api());
    let (status, _, _) = send(&state, "DELETE", "/model", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, error, _) = send(
        &state,
        "POST",
        "/webhooks/rest/webhook",
        Some(r#"{"sender": "m", "message": "hi"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{error}");
    let body = json!({"model_file": moodbot_agent().1}).to_string();
    let (status, _, text) = send(&state, "PUT", "/model", Some(&body)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let (status, _, _) = send(
        &state,
        "POST",
        "/webhooks/rest/webhook",
        Some(r#"{"sender": "m", "message": "hi"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_token_guards_the_api_but_not_the_channels() {
    let state = state(ServerConfig {
        auth_token: Some("s3cret".into()),
        ..api()
    });
    let (status, error, _) = send(&state, "GET", "/status", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["reason"], "NotAuthenticated");
    let (status, _, _) = send(&state, "GET", "/status?token=s3cret", None).await;
    assert_eq!(status, StatusCode::OK);
    // Channels are not behind the token.
    let (status, _, _) = send(
        &state,
        "POST",
        "/webhooks/rest/webhook",
        Some(r#"{"sender": "x", "message": "hi"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

/// An HS256 JWT of `claims`, signed with `secret` (written out here, not with the server's
/// own signing code, so that a mistake there cannot hide in the test).
fn jwt(claims: &Value, secret: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signed = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(signed.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
            .unwrap();
    format!("{signed}.{signature}")
}

#[tokio::test]
async fn jwts_reach_what_their_role_allows() {
    let state = state(ServerConfig {
        jwt: Some(rusa_server::JwtConfig::new("HS256", "jwt-secret").unwrap()),
        ..api()
    });
    let user = |name: &str| {
        jwt(
            &json!({"user": {"username": name, "role": "user"}}),
            "jwt-secret",
        )
    };
    let ann = user("ann");
    let admin = jwt(
        &json!({"user": {"username": "root", "role": "admin"}}),
        "jwt-secret",
    );

    // No token at all, a forged one, or one that is not a JWT: 401.
    for bearer in [
        None,
        Some(jwt(&json!({"user": {"role": "admin"}}), "guess")),
    ] {
        let (status, error, _) = send_as(&state, bearer.as_deref(), "GET", "/status", None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{error}");
        assert_eq!(error["reason"], "NotAuthenticated");
    }
    let (status, _, _) = send_as(&state, Some("a.b"), "GET", "/status", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A user reaches their own conversation, and through every route of it.
    let (status, tracker, text) = send_as(
        &state,
        Some(&ann),
        "GET",
        "/conversations/ann/tracker",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(tracker["sender_id"], "ann");
    let message = r#"{"text": "hello", "sender": "user"}"#;
    let (status, _, text) = send_as(
        &state,
        Some(&ann),
        "POST",
        "/conversations/ann/messages",
        Some(message),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");

    // ... but neither someone else's conversation nor routes of no conversation: 403.
    for (method, uri) in [
        ("GET", "/conversations/bob/tracker"),
        ("GET", "/conversations/anna/tracker"),
        ("POST", "/conversations/bob/messages"),
        ("GET", "/status"),
        ("GET", "/domain"),
        ("DELETE", "/model"),
    ] {
        let body = (method == "POST").then_some(message);
        let (status, error, _) = send_as(&state, Some(&ann), method, uri, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {error}");
        assert_eq!(error["reason"], "NotAuthorized");
        assert_eq!(error["code"], 403);
    }

    // A conversation id is compared as the route reads it: percent-decoded.
    let (status, tracker, text) = send_as(
        &state,
        Some(&user("ann smith/1")),
        "GET",
        "/conversations/ann%20smith%2F1/tracker",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(tracker["sender_id"], "ann smith/1");

    // Roles other than admin and user, and a user without a name, reach nothing.
    for claims in [
        json!({"user": {"username": "ann", "role": "guest"}}),
        json!({"user": {"username": "ann"}}),
        json!({"user": {"role": "user"}}),
    ] {
        let token = jwt(&claims, "jwt-secret");
        let (status, _, _) = send_as(
            &state,
            Some(&token),
            "GET",
            "/conversations/ann/tracker",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{claims}");
    }

    // An admin reaches everything.
    for uri in ["/status", "/domain", "/conversations/bob/tracker"] {
        let (status, _, text) = send_as(&state, Some(&admin), "GET", uri, None).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {text}");
    }
    // An expired token is refused.
    let expired = jwt(
        &json!({"user": {"username": "root", "role": "admin"}, "exp": 1_000_000}),
        "jwt-secret",
    );
    let (status, _, _) = send_as(&state, Some(&expired), "GET", "/status", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_openapi_document_lists_every_route() {
    let state = state(api());
    let (status, doc, _) = send(&state, "GET", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.0.3");
    for (method, path) in rusa_server::openapi::routes() {
        assert!(
            doc["paths"][path][method.to_ascii_lowercase()].is_object(),
            "{method} {path} undocumented"
        );
        // And the route exists: anything but 404/405 for a request with an empty JSON body.
        let uri = path.replace("{conversation_id}", "doc");
        let (status, _, _) = send(&state, method, &uri, Some("{}")).await;
        assert!(
            status != StatusCode::NOT_FOUND && status != StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {status}"
        );
    }
}

/// Replays Rasa's recorded REST conversation, each message sent to the server `pick`
/// chooses, and checks every answer.
async fn replay_recorded(pick: impl Fn(usize) -> AppState, uri: &str) -> Vec<Value> {
    let recorded = std::fs::read_to_string(
        fixtures().join("moodbot/samples/rest_conversation_demo_sad_path.jsonl"),
    )
    .unwrap();
    let mut expected = Vec::new();
    for (i, line) in recorded
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
    {
        let exchange: Value = serde_json::from_str(line).unwrap();
        let (status, answer, text) = send(
            &pick(i),
            "POST",
            uri,
            Some(&exchange["request"].to_string()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{text}");
        if uri.contains("/rest/") {
            assert_eq!(
                answer, exchange["response"],
                "reply to {}",
                exchange["request"]
            );
        } else {
            assert_eq!(text, "success");
        }
        expected.extend(exchange["response"].as_array().unwrap().iter().cloned());
    }
    expected
}

/// A real callback server on 127.0.0.1 that records the JSON bodies POSTed to it (and
/// answers the first with a 500 when `fail_first`), and the endpoint of its URL.
async fn callback_server(fail_first: bool) -> (Arc<Mutex<Vec<Value>>>, rusa_actions::HttpEndpoint) {
    use axum::routing::post;
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = received.clone();
    let callback_app = axum::Router::new().route(
        "/bot",
        post(move |body: axum::body::Bytes| {
            let log = log.clone();
            async move {
                let mut log = log.lock().unwrap();
                log.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
                if fail_first && log.len() == 1 {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, callback_app).await });
    let endpoint = rusa_project::EndpointConfig {
        kind: None,
        url: Some(format!("http://{addr}/bot")),
        params: serde_json::Map::new(),
        key_pos: Default::default(),
        pos: rusa_project::Pos::new(std::path::Path::new("credentials.yml").into(), 1, 1),
    };
    let endpoint =
        rusa_actions::HttpEndpoint::new(&endpoint, std::time::Duration::from_secs(5)).unwrap();
    (received, endpoint)
}

/// `trigger_intent` logs an external event as Rasa 3.6 does (text `EXTERNAL: <intent>`,
/// metadata `is_external`, no NLU, the latest input channel, entities from the short-hand
/// object or a list); `?output_channel=callback` (or `latest`, after a callback message)
/// POSTs the bot's messages to the callback server; `execute` on a new conversation
/// starts its session first.
#[tokio::test]
async fn external_events_are_logged_as_rasa_logs_them_and_can_go_to_the_callback() {
    let (received, endpoint) = callback_server(false).await;
    let state = state(ServerConfig {
        callback: Some(endpoint),
        ..api()
    });
    let (status, _, text) = send(
        &state,
        "POST",
        "/webhooks/callback/webhook",
        Some(r#"{"sender": "ext", "message": "hello"}"#),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "success"));
    assert_eq!(
        received.lock().unwrap().len(),
        1,
        "the greeting went to the callback"
    );

    let (status, triggered, text) = send(
        &state,
        "POST",
        "/conversations/ext/trigger_intent?output_channel=latest",
        Some(r#"{"name": "mood_great", "entities": {"mood": "fine"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(triggered["messages"][0]["text"], "Great, carry on!");
    let posted = received.lock().unwrap().clone();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert_eq!(
        posted[1],
        json!({"recipient_id": "ext", "text": "Great, carry on!"})
    );
    let events = triggered["tracker"]["events"].as_array().unwrap();
    let user = events.iter().rev().find(|e| e["event"] == "user").unwrap();
    assert_eq!(user["text"], "EXTERNAL: mood_great");
    assert_eq!(user["input_channel"], "callback");
    assert_eq!(user["message_id"], Value::Null);
    assert_eq!(user["metadata"]["is_external"], true);
    assert_eq!(user["parse_data"]["intent"], json!({"name": "mood_great"}));
    assert_eq!(
        user["parse_data"]["entities"],
        json!([{"entity": "mood", "value": "fine"}])
    );
    assert_eq!(user["parse_data"]["metadata"], json!({"is_external": true}));
    // Its session did not take the external marker for the user's metadata.
    assert_eq!(
        triggered["tracker"]["slots"]["session_started_metadata"],
        Value::Null
    );

    // Without output_channel the messages are only answered; a list of entities is taken
    // as it is, anything else is refused.
    let (status, triggered, _) = send(
        &state,
        "POST",
        "/conversations/ext/trigger_intent",
        Some(r#"{"name": "greet", "entities": [{"entity": "name", "value": "Ann", "start": 0, "end": 3}]}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(triggered["messages"][0]["text"], "Hey! How are you?");
    assert_eq!(received.lock().unwrap().len(), 2);
    let user = triggered["tracker"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|e| e["event"] == "user")
        .unwrap()
        .clone();
    assert_eq!(user["parse_data"]["entities"][0]["start"], 0);
    let (status, _, _) = send(
        &state,
        "POST",
        "/conversations/ext/trigger_intent",
        Some(r#"{"name": "greet", "entities": "Ann"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // execute: a conversation that does not exist is a 404 (Rasa's
    // `ensure_conversation_exists`), and nothing is stored for it.
    let (status, error, text) = send(
        &state,
        "POST",
        "/conversations/fresh/execute?output_channel=callback",
        Some(r#"{"name": "utter_greet"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    assert_eq!(error["reason"], "NotFound");
    let stored = state
        .processor
        .tracker_store
        .retrieve("fresh")
        .await
        .unwrap();
    assert!(stored.is_none(), "{stored:?}");
    // An empty or unknown action name is refused, and no event is stored for it.
    let posted_before = received.lock().unwrap().len();
    let (_, before, _) = send(&state, "GET", "/conversations/ext/tracker", None).await;
    for body in [
        r#"{"name": ""}"#,
        r#"{"name": "   "}"#,
        r#"{"name": "action_that_does_not_exist"}"#,
        r#"{"name": "utter_nothing"}"#,
        r#"{}"#,
    ] {
        let (status, error, text) =
            send(&state, "POST", "/conversations/ext/execute", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {text}");
        assert_eq!(error["status"], "failure");
    }
    let (_, after, _) = send(&state, "GET", "/conversations/ext/tracker", None).await;
    assert_eq!(before["events"], after["events"]);
    // A known one runs; output_channel=callback sends its messages.
    let (status, executed, text) = send(
        &state,
        "POST",
        "/conversations/ext/execute?output_channel=callback",
        Some(r#"{"name": "utter_greet"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let names: Vec<&str> = executed["tracker"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["name"].as_str().or(e["event"].as_str()))
        .collect();
    assert_eq!(names[names.len() - 2..], ["utter_greet", "bot"]);
    let posted = received.lock().unwrap().clone();
    assert_eq!(posted.len(), posted_before + 1);
    assert_eq!(posted[posted_before]["recipient_id"], "ext");
}

#[tokio::test]
async fn the_callback_channel_posts_each_reply_to_the_callback_url() {
    // The callback server's first answer is a 500, which must not stop the next replies.
    let (received, endpoint) = callback_server(true).await;
    let config = ServerConfig {
        rest: false,
        callback: Some(endpoint),
        ..ServerConfig::default()
    };
    let server = state(config);
    let expected = replay_recorded(|_| server.clone(), "/webhooks/callback/webhook").await;
    // Each reply was POSTed before the webhook answered, in order, shaped as the REST
    // channel's replies.
    assert!(!expected.is_empty());
    assert_eq!(*received.lock().unwrap(), expected);
    let (status, health, _) = send(&server, "GET", "/webhooks/callback/", None).await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
    // The REST channel is not served when credentials.yml names only the callback.
    let (status, _, _) = send(&server, "POST", "/webhooks/rest/webhook", Some("{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Two servers on one tracker store and lock store, as behind a load balancer: each keeps
/// trackers in memory between turns, and must notice the turns the other one handled.
#[tokio::test]
async fn servers_sharing_a_store_see_each_others_turns() {
    let store = Arc::new(InMemoryTrackerStore::new());
    let locks = Arc::new(InMemoryLockStore::new());
    let server = || {
        // Every conversation is kept in memory, however short.
        let processor = MessageProcessor::new(
            Some(moodbot_agent()),
            store.clone(),
            locks.clone(),
            None,
            Arc::new(NoActionServer),
        )
        .with_tracker_cache(rusa_server::DEFAULT_TRACKER_CACHE_EVENTS, 1);
        AppState {
            processor: Arc::new(processor),
            config: Arc::new(api()),
        }
    };
    let (a, b) = (server(), server());
    // Both have the conversation in memory after the first two messages; from then on
    // they alternate, so each turn starts from a tracker the other one changed.
    let pick = |i: usize| {
        if i < 2 || i.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        }
    };
    replay_recorded(pick, "/webhooks/rest/webhook").await;
    let recorded = std::fs::read_to_string(
        fixtures().join("moodbot/samples/rest_conversation_demo_sad_path.jsonl"),
    )
    .unwrap();
    let sender = serde_json::from_str::<Value>(recorded.lines().next().unwrap()).unwrap()
        ["request"]["sender"]
        .as_str()
        .unwrap()
        .to_owned();
    let uri = format!("/conversations/{sender}/tracker");
    let (_, from_a, _) = send(&a, "GET", &uri, None).await;
    let (_, from_b, _) = send(&b, "GET", &uri, None).await;
    assert_eq!(from_a["events"], from_b["events"]);
    let users = from_a["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "user")
        .count();
    assert_eq!(
        users,
        recorded.lines().filter(|l| !l.trim().is_empty()).count()
    );

    // Replacing the events through one server is seen by the other's next turn.
    let (status, _, text) = send(&a, "PUT", &format!("{uri}/events"), Some("[]")).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    // (An empty conversation is shown with a new session, as Rasa shows it.)
    let (_, tracker, _) = send(&b, "GET", &uri, None).await;
    let names: Vec<&Value> = tracker["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["event"])
        .collect();
    assert_eq!(names, ["action", "session_started", "action"], "{tracker}");
}

/// A model server that serves whatever archive and ETag the test sets, answers 304 to a
/// matching `If-None-Match`, and records the `If-None-Match` it got.
#[tokio::test]
async fn the_model_is_pulled_from_a_model_server_and_replaced_when_it_changes() {
    use axum::http::HeaderMap;
    use axum::routing::get;
    use rusa_server::model_server::{ModelServer, PullError, Pulled};

    #[derive(Default)]
    struct Served {
        archive: Option<(Vec<u8>, String)>,
        seen: Vec<Option<String>>,
    }
    let served: Arc<Mutex<Served>> = Arc::default();
    let shared = served.clone();
    let model_app = axum::Router::new().route(
        "/models/default",
        get(move |headers: HeaderMap| {
            let shared = shared.clone();
            async move {
                let mut served = shared.lock().unwrap();
                let asked = headers
                    .get("if-none-match")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                served.seen.push(asked.clone());
                match served.archive.clone() {
                    None => (StatusCode::NOT_FOUND, HeaderMap::new(), Vec::new()),
                    Some((_, etag)) if asked.as_deref() == Some(etag.as_str()) => {
                        (StatusCode::NOT_MODIFIED, HeaderMap::new(), Vec::new())
                    }
                    Some((bytes, etag)) => {
                        let mut h = HeaderMap::new();
                        h.insert("etag", etag.parse().unwrap());
                        (StatusCode::OK, h, bytes)
                    }
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, model_app).await });

    // Two archives: moodbot, and moodbot under another model id.
    let (_, first_path) = moodbot_agent();
    let first = std::fs::read(&first_path).unwrap();
    let mut archive = rusa_core::archive::ModelArchive::read(&first_path).unwrap();
    archive.metadata.model_id = "second-model-id".into();
    let dir = tempfile::tempdir().unwrap();
    let second_path = dir.path().join("second.tar.gz");
    archive.write(&second_path, &|_| {}).unwrap();
    let second = std::fs::read(&second_path).unwrap();
    let second_bytes = second.clone();

    let config = rusa_project::EndpointConfig {
        kind: None,
        url: Some(format!("http://{addr}/models/default")),
        params: serde_json::Map::from_iter([("wait_time_between_pulls".to_owned(), Value::Null)]),
        key_pos: Default::default(),
        pos: rusa_project::Pos::new(std::path::Path::new("endpoints.yml").into(), 1, 1),
    };
    let downloads = dir.path().join("downloads");
    let server = ModelServer::new(&config, downloads.clone()).unwrap();
    assert_eq!(server.wait_between_pulls, None);
    let processor = MessageProcessor::new(
        None,
        Arc::new(InMemoryTrackerStore::new()),
        Arc::new(InMemoryLockStore::new()),
        None,
        Arc::new(NoActionServer),
    );
    let model_id = |p: &MessageProcessor| p.agent().map(|a| a.metadata.model_id.clone());

    // Nothing served yet: the server stays without a model.
    assert!(matches!(
        server.pull(&processor).await,
        Err(PullError::NotFound)
    ));
    assert_eq!(model_id(&processor), None);

    served.lock().unwrap().archive = Some((first, "\"v1\"".into()));
    assert_eq!(
        server.pull(&processor).await.unwrap(),
        Pulled::Loaded {
            etag: Some("\"v1\"".into())
        }
    );
    assert_eq!(model_id(&processor).as_deref(), Some("test-model-id"));
    // Unchanged: the server is asked with the ETag and answers 304.
    assert_eq!(server.pull(&processor).await.unwrap(), Pulled::Unchanged);

    // A turn holds the model it started with while the model is replaced.
    let before = processor.agent().unwrap();
    served.lock().unwrap().archive = Some((second, "\"v2\"".into()));
    assert!(matches!(
        server.pull(&processor).await.unwrap(),
        Pulled::Loaded { .. }
    ));
    assert_eq!(model_id(&processor).as_deref(), Some("second-model-id"));
    assert_eq!(before.metadata.model_id, "test-model-id");
    // The first download was removed when replaced; the loaded one is kept.
    assert_eq!(std::fs::read_dir(&downloads).unwrap().count(), 1);

    let seen = served.lock().unwrap().seen.clone();
    assert_eq!(
        seen,
        vec![None, None, Some("\"v1\"".into()), Some("\"v1\"".into())]
    );
    // A broken archive leaves the loaded model in place.
    served.lock().unwrap().archive = Some((b"not a model".to_vec(), "\"v3\"".into()));
    assert!(matches!(
        server.pull(&processor).await,
        Err(PullError::Load(_))
    ));
    assert_eq!(model_id(&processor).as_deref(), Some("second-model-id"));

    // PUT /model with a model_server pulls from it (Rasa's request body); one that has
    // nothing loadable, no url, or remote_storage, is a 400 and the model stays.
    let state = state(api());
    let url = format!("http://{addr}/models/default");
    for body in [
        json!({"model_server": {"url": url, "wait_time_between_pulls": null}}),
        json!({"model_server": {"token": "t"}}),
        json!({"model_file": "models/x.tar.gz", "remote_storage": "aws"}),
        json!({}),
    ] {
        let (status, error, _) = send(&state, "PUT", "/model", Some(&body.to_string())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
    }
    let (_, status_before, _) = send(&state, "GET", "/status", None).await;
    assert_eq!(status_before["model_id"], "test-model-id");
    served.lock().unwrap().archive = Some((second_bytes, "\"v4\"".into()));
    let body = json!({"model_server": {"url": url, "wait_time_between_pulls": null}});
    let (status, _, text) = send(&state, "PUT", "/model", Some(&body.to_string())).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{text}");
    let (_, status_after, _) = send(&state, "GET", "/status", None).await;
    assert_eq!(status_after["model_id"], "second-model-id");
}

#[tokio::test]
async fn the_story_keeps_entities_and_writes_slot_values_as_yaml() {
    let state = state(api());
    let events = r#"[
        {"event": "action", "name": "action_listen", "timestamp": 1},
        {"event": "user", "text": "/greet", "timestamp": 2, "parse_data": {
            "intent": {"name": "greet", "confidence": 1.0},
            "entities": [{"entity": "city", "value": "Berlin", "start": 0, "end": 6},
                         {"entity": "city", "value": "Bad Ems", "role": "to"}]}},
        {"event": "slot", "name": "city", "value": "Berlin", "timestamp": 3},
        {"event": "slot", "name": "count", "value": 2, "timestamp": 4},
        {"event": "slot", "name": "flag", "value": null, "timestamp": 5},
        {"event": "action", "name": "utter_greet", "timestamp": 6}
    ]"#;
    let (status, _, _) = send(
        &state,
        "PUT",
        "/conversations/s1/tracker/events",
        Some(events),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, story) = send(&state, "GET", "/conversations/s1/story", None).await;
    assert_eq!(status, StatusCode::OK);
    let expected = "  - intent: greet
    entities:
    - city: Berlin
    - entity: city
      value: Bad Ems
      role: to
  - slot_was_set:
    - city: Berlin
  - slot_was_set:
    - count: 2
  - slot_was_set:
    - flag: null
  - action: utter_greet
";
    assert!(story.ends_with(expected), "{story}");
}

#[tokio::test]
async fn slash_entities_carry_rasas_span_and_extractor_in_model_parse() {
    let state = state(api());
    // moodbot declares no entities: Rasa leaves unknown entity types out.
    let (status, parse, _) = send(
        &state,
        "POST",
        "/model/parse",
        Some(r#"{"text": "/greet{\"city\": \"Berlin\"}"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(parse["intent"]["name"], "greet");
    assert_eq!(parse["entities"], json!([]));
}

/// Sends `body` with its content type; answers the status and the JSON.
async fn send_typed(
    state: &AppState,
    uri: &str,
    content_type: &str,
    body: &str,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header("content-type", content_type)
        .body(Body::from(body.to_owned()))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = to_bytes(response.into_body(), 16 * 1024 * 1024)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn test_stories_answers_rasas_evaluation() {
    let state = state(api());
    let stories =
        std::fs::read_to_string(fixtures().join("moodbot/tests/test_stories.yml")).unwrap();
    let (status, report) = send_typed(
        &state,
        "/model/test/stories",
        "application/x-yaml",
        &stories,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    for key in [
        "report",
        "precision",
        "f1",
        "accuracy",
        "actions",
        "in_training_data_fraction",
    ] {
        assert!(report.get(key).is_some(), "{key} missing: {report}");
    }
    assert_eq!(report["is_end_to_end_evaluation"], false);
    let actions = report["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    for a in actions {
        assert!(a["action"].is_string() && a["predicted"].is_string() && a["policy"].is_string());
        assert!(a["confidence"].is_number());
    }
    assert!(
        report["report"]["utter_greet"]["support"].as_u64() > Some(0),
        "{report}"
    );
    // A story that goes wrong lowers the accuracy below 1.
    let wrong = "version: \"3.1\"\nstories:\n- story: wrong\n  steps:\n  - intent: greet\n  - action: utter_goodbye\n";
    let (status, bad) = send_typed(
        &state,
        "/model/test/stories?e2e=false",
        "application/x-yaml",
        wrong,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{bad}");
    assert!(bad["accuracy"].as_f64() < Some(1.0), "{bad}");
    assert!(
        bad["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "utter_goodbye" && a["predicted"] == "utter_greet"),
        "{bad}"
    );
    let (status, error) = send_typed(&state, "/model/test/stories", "application/x-yaml", "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        error["message"],
        "You must provide some stories in the request body."
    );
    let (status, error) = send_typed(
        &state,
        "/model/test/stories",
        "application/x-yaml",
        "stories: [1, 2",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(
        !error["message"].as_str().unwrap().contains("rusa-api-"),
        "{error}"
    );
}

#[tokio::test]
async fn test_intents_answers_rasas_evaluation() {
    let state = state(api());
    let nlu = "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - hello\n    - hey there\n- intent: goodbye\n  examples: |\n    - bye bye\n";
    let (status, result) =
        send_typed(&state, "/model/test/intents", "application/x-yaml", nlu).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    let intents = &result["intent_evaluation"];
    for key in [
        "report",
        "precision",
        "f1_score",
        "accuracy",
        "predictions",
        "errors",
    ] {
        assert!(intents.get(key).is_some(), "{key} missing: {result}");
    }
    assert_eq!(
        intents["predictions"].as_array().unwrap().len(),
        3,
        "{result}"
    );
    assert!(result.get("entity_evaluation").is_some());
    assert_eq!(result["response_selection_evaluation"], Value::Null);
    let json_nlu = r#"{"rasa_nlu_data": {"common_examples": [{"text": "hello", "intent": "greet", "entities": []}]}}"#;
    let (status, result) =
        send_typed(&state, "/model/test/intents", "application/json", json_nlu).await;
    assert_eq!(status, StatusCode::OK, "{result}");
    assert_eq!(
        result["intent_evaluation"]["predictions"][0]["intent"], "greet",
        "{result}"
    );
    let (status, _) = send_typed(&state, "/model/test/intents", "application/json", " ").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// A trainer as `rusa run` gives the server, on the library calls `rusa train` makes:
/// load the project the request was split into, train, write the archive.
fn library_trainer() -> rusa_server::Trainer {
    rusa_server::Trainer(Arc::new(|request: &rusa_server::TrainRequest| {
        let paths = rusa_project::ProjectPaths {
            domain: request.domain.clone(),
            data: vec![request.data.clone()],
            config: request.config.clone(),
        };
        let project = rusa_project::Project::load(&paths)
            .map_err(|e| rusa_server::TrainFailure::Invalid(e.to_string()))?;
        let plan = rusa_core::graph::TrainingPlan {
            training_type: rusa_core::graph::TrainingType::Both,
            pipeline: rusa_nlu::Pipeline::from_config(project.config.pipeline.as_deref(), false)
                .map_err(|e| rusa_server::TrainFailure::Invalid(e.to_string()))?,
            policies: rusa_core::policies::default_policies(),
            random_seed: 42,
            output_filename: "api.tar.gz".into(),
            is_finetuning: false,
        };
        let graph = rusa_core::graph::GraphTrainer::new(None)
            .train(&project, &plan)
            .map_err(|e| rusa_server::TrainFailure::Failed(e.to_string()))?;
        std::fs::create_dir_all(&request.out).unwrap();
        let path = request.out.join("20260101-000000-api.tar.gz");
        rusa_core::archive::ModelArchive {
            metadata: rusa_core::archive::ModelMetadata::unsaved(
                "api-model",
                rusa_core::graph::TrainingType::Both,
                "en",
            ),
            domain: project.domain.clone(),
            nlu: graph.nlu,
            policies: graph.policies,
        }
        .write(&path, &|_| {})
        .map_err(|e| rusa_server::TrainFailure::Failed(e.to_string()))?;
        Ok(path)
    }))
}

#[tokio::test]
async fn model_train_answers_the_archive_of_the_yaml_body() {
    let state = state(ServerConfig {
        trainer: Some(library_trainer()),
        ..api()
    });
    let moodbot = fixtures().join("moodbot");
    let read = |p: &str| std::fs::read_to_string(moodbot.join(p)).unwrap();
    let strip = |t: String| t.replace("version: \"3.1\"\n", "");
    let body = format!(
        "version: \"3.1\"\n{}\n{}\n{}\n{}\n",
        strip(read("config.yml")),
        strip(read("domain.yml")),
        strip(read("data/nlu.yml")),
        strip(read("data/stories.yml")),
    );
    let request = Request::builder()
        .method("POST")
        .uri(
            "/model/train?save_to_default_model_directory=false&force_training=true&augmentation=0",
        )
        .header("content-type", "application/x-yaml")
        .body(Body::from(body))
        .unwrap();
    let response = app(state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(response.headers()["filename"], "20260101-000000-api.tar.gz");
    let bytes = to_bytes(response.into_body(), 64 * 1024 * 1024)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.tar.gz");
    std::fs::write(&path, &bytes).unwrap();
    let agent = rusa_core::agent::Agent::load(&path).unwrap();
    assert_eq!(agent.parse("hello")["intent"]["name"], "greet");

    // A mistake is a 400 naming the request body's line, not a temporary file.
    let (status, error) = send_typed(
        &state,
        "/model/train?save_to_default_model_directory=false",
        "application/x-yaml",
        "version: \"3.1\"\nintents:\n- greet\nslots:\n  mood:\n    type: no_such_type\n",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the request body (domain)") && !message.contains("rusa-api-train"),
        "{message}"
    );
    let (status, _) = send_typed(&state, "/model/train", "application/json", "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send_typed(&state, "/model/train", "application/x-yaml", "  \n").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Without a trainer (a server embedded without one) the route says so.
    let bare = crate::state(api());
    let (status, error) = send_typed(
        &bare,
        "/model/train",
        "application/x-yaml",
        "version: \"3.1\"\n",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{error}");
}
