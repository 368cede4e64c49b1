//! The HTTP action server: rasa-sdk's routes, bodies and status codes, served by axum.
//!
//! Where rasa-sdk is wrong, this server is right (docs/action-server.md lists each case):
//! unknown routes are 404 and wrong methods 405 (rasa-sdk: 500); a 500 never echoes the
//! request; invalid JSON is a JSON 400; gzip bodies are accepted besides deflate; a slow or
//! blocking action never holds up other requests.

use std::io::Read as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use indexmap::IndexMap;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::cors::Cors;
use crate::error::RequestError;
use crate::executor::{Call, Executor};
use crate::{Action, FormValidationAction, Tracker, ValidationAction, forms};

/// The port rasa-sdk listens on.
pub const DEFAULT_PORT: u16 = 5055;
/// The largest request body, compressed or not (Sanic's `REQUEST_MAX_SIZE`, 100 MB).
pub const MAX_BODY_BYTES: usize = 100 * 1024 * 1024;

/// The actions of a server, registered before it starts.
///
/// ```
/// use rusa_sdk::{Action, ActionError, ActionServer, Dispatcher, Domain, Event, Tracker};
///
/// struct Hello;
///
/// #[rusa_sdk::async_trait]
/// impl Action for Hello {
///     fn name(&self) -> &str { "action_hello" }
///     async fn run(&self, d: &mut Dispatcher, _t: &Tracker, _domain: &Domain)
///         -> Result<Vec<Event>, ActionError> {
///         d.utter_text("Hello!");
///         Ok(vec![])
///     }
/// }
///
/// let server = ActionServer::new().action(Hello);
/// assert_eq!(server.action_names(), ["action_hello"]);
/// // In `main`: `server.run_from_args()` parses rasa-sdk's flags and serves.
/// ```
#[derive(Default)]
pub struct ActionServer {
    actions: IndexMap<String, Arc<dyn Action>>,
    problems: Vec<String>,
    pub(crate) cors: Vec<String>,
}

impl std::fmt::Debug for ActionServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActionServer")
            .field("actions", &self.action_names())
            .finish_non_exhaustive()
    }
}

impl ActionServer {
    /// A server with no actions yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn register(mut self, action: Arc<dyn Action>) -> Self {
        let name = action.name().to_owned();
        if name.is_empty() {
            self.problems.push("an action has an empty name".into());
            return self;
        }
        if self.actions.insert(name.clone(), action).is_some() {
            tracing::info!("Re-registered function for '{name}'.");
        } else {
            tracing::info!("Registered function for '{name}'.");
        }
        self
    }

    /// Registers a custom action under its name (a second action of the same name replaces
    /// the first, as in rasa-sdk).
    pub fn action(self, action: impl Action) -> Self {
        self.register(Arc::new(action))
    }

    /// Registers a form validation action (`validate_<form>`).
    pub fn form_validation_action(mut self, action: impl FormValidationAction) -> Self {
        match forms::form_action(action) {
            Ok(action) => self.register(action),
            Err(problem) => {
                self.problems.push(problem);
                self
            }
        }
    }

    /// Registers the global slot validation action (`action_validate_slot_mappings`).
    pub fn validation_action(mut self, action: impl ValidationAction) -> Self {
        match forms::global_action(action) {
            Ok(action) => self.register(action),
            Err(problem) => {
                self.problems.push(problem);
                self
            }
        }
    }

    /// The registered action names, in registration order.
    pub fn action_names(&self) -> Vec<&str> {
        self.actions.keys().map(String::as_str).collect()
    }

    /// Origins allowed by CORS (`--cors`): `*`, exact origins, globs such as
    /// `https://*.example.com`, or regular expressions. None: no CORS headers.
    pub fn cors(mut self, origins: Vec<String>) -> Self {
        self.cors = origins;
        self
    }

    /// The axum app, for tests and for embedding; fails when a registration was wrong.
    pub fn router(self) -> Result<Router, crate::SetupError> {
        if let Some(problem) = self.problems.first() {
            return Err(crate::SetupError::Registration(problem.clone()));
        }
        let cors = Cors::new(&self.cors).map_err(crate::SetupError::Cors)?;
        let state = Arc::new(AppState {
            executor: Executor::new(self.actions),
        });
        Ok(Router::new()
            .route("/health", get(health))
            .route("/actions", get(actions))
            .route("/webhook", post(webhook))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(cors),
                crate::cors::middleware,
            ))
            .layer(axum::middleware::from_fn(log_request))
            .with_state(state))
    }
}

pub(crate) struct AppState {
    executor: Executor,
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"null".to_vec());
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        bytes,
    )
        .into_response()
}

async fn health() -> Response {
    json_response(StatusCode::OK, &json!({"status": "ok"}))
}

async fn actions(State(state): State<Arc<AppState>>) -> Response {
    let names: Vec<Value> = state
        .executor
        .names()
        .map(|name| json!({ "name": name }))
        .collect();
    json_response(StatusCode::OK, &Value::Array(names))
}

async fn not_found(uri: OriginalUri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("Requested URL {} not found", uri.path())}),
    )
}

async fn method_not_allowed(method: Method, uri: OriginalUri) -> Response {
    json_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &json!({"error": format!("Method {method} not allowed for URL {}", uri.path())}),
    )
}

/// One debug line per request, with the route but no body.
async fn log_request(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    tracing::debug!(%method, path, status = response.status().as_u16(), "answered a request");
    response
}

/// The request body as JSON: `deflate` (zlib, as rasa-sdk) or `gzip` content encoding is
/// undone first, with the same size limit as the body.
fn decode_body(headers: &HeaderMap, body: &Bytes) -> Result<Option<Call>, RequestError> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    let inflated;
    let bytes: &[u8] = match encoding.as_deref() {
        None | Some("" | "identity") => body,
        Some(kind @ ("deflate" | "gzip")) => {
            let mut out = Vec::new();
            let limit = MAX_BODY_BYTES as u64 + 1;
            let read = if kind == "deflate" {
                flate2::read::ZlibDecoder::new(&body[..])
                    .take(limit)
                    .read_to_end(&mut out)
            } else {
                flate2::read::MultiGzDecoder::new(&body[..])
                    .take(limit)
                    .read_to_end(&mut out)
            };
            read.map_err(|e| {
                RequestError::BadRequest(format!("the {kind} request body cannot be read: {e}"))
            })?;
            if out.len() > MAX_BODY_BYTES {
                return Err(RequestError::BadRequest(format!(
                    "the request body is larger than {MAX_BODY_BYTES} bytes once inflated"
                )));
            }
            inflated = out;
            &inflated
        }
        Some(other) => {
            return Err(RequestError::BadRequest(format!(
                "unsupported content encoding '{other}' (deflate and gzip are)"
            )));
        }
    };
    let text = bytes.trim_ascii_start();
    if text.is_empty() {
        return Ok(None);
    }
    let parse_error = |e: serde_json::Error| {
        RequestError::BadRequest(format!("Failed when parsing body as json: {e}"))
    };
    if !text.starts_with(b"{") {
        let value: Value = serde_json::from_slice(text).map_err(parse_error)?;
        if value.is_null() {
            return Ok(None);
        }
        return Err(RequestError::BadRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    serde_json::from_slice(text).map(Some).map_err(parse_error)
}

async fn webhook(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let span = tracing::info_span!(
        "create_app.webhook",
        otel.kind = "server",
        http.method = "POST",
        http.route = "/webhook",
        next_action = tracing::field::Empty,
        version = tracing::field::Empty,
        sender_id = tracing::field::Empty,
        message_id = tracing::field::Empty,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        otel.status_message = tracing::field::Empty,
    );
    rusa_otel::propagation::continue_from_headers(&span, &headers);
    let mut response = answer(&state, &headers, &body)
        .instrument(span.clone())
        .await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if !status.is_success() {
        span.record("otel.status_code", "ERROR");
    }
    if let Some(value) =
        rusa_otel::propagation::traceresponse(&span).and_then(|v| HeaderValue::from_str(&v).ok())
    {
        response
            .headers_mut()
            .insert(rusa_otel::propagation::TRACERESPONSE, value);
    }
    response
}

async fn answer(state: &AppState, headers: &HeaderMap, body: &Bytes) -> Response {
    let span = tracing::Span::current();
    let error = |e: RequestError| {
        // The action's own message may carry user data: the span says only that it failed
        // (the log, at error level, has the message).
        let message = match &e {
            RequestError::Failed { .. } => "the action failed".to_owned(),
            other => other.to_string(),
        };
        span.record("otel.status_message", message.as_str());
        json_response(e.status(), &e.body())
    };
    let call = match decode_body(headers, body) {
        Ok(Some(call)) => call,
        Ok(None) => return error(RequestError::BadRequest("Invalid body request".into())),
        Err(e) => return error(e),
    };
    let action_name = match &call.next_action {
        Value::Null => String::new(),
        Value::String(name) => name.clone(),
        _ => {
            return error(RequestError::BadRequest(
                "`next_action` must be a string".into(),
            ));
        }
    };
    span.record("next_action", action_name.as_str());
    if let Some(version) = call.version.as_str() {
        span.record("version", version);
    }
    let tracker = call.tracker.as_deref().map(Tracker::from_raw);
    if let Some(Ok(tracker)) = &tracker {
        span.record("sender_id", tracker.sender_id.as_str());
        span.record("message_id", tracker.latest_message_id().as_str());
    }
    if action_name.is_empty() {
        tracing::warn!("Received an action call without an action.");
        return json_response(StatusCode::OK, &Value::Null);
    }
    match state.executor.run(&call, tracker, &action_name).await {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_inflated_from_deflate_and_gzip() {
        use std::io::Write as _;
        let json = br#"{"next_action": "a"}"#;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        zlib.write_all(json).unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(json).unwrap();
        for (encoding, body) in [
            ("deflate", zlib.finish().unwrap()),
            ("gzip", gzip.finish().unwrap()),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
            let call = decode_body(&headers, &Bytes::from(body)).unwrap().unwrap();
            assert_eq!(call.next_action, "a");
        }
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static("deflate"),
        );
        assert!(decode_body(&headers, &Bytes::from_static(b"not zlib")).is_err());
    }
}
