//! The REST channel: `POST /webhooks/rest/webhook` (`?stream=true` streams the replies as
//! they are produced) and `GET /webhooks/rest/` (health).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::AppState;
use crate::error::ApiError;
use crate::processor::{Incoming, ProcessError};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/rest/", get(health))
        .route("/webhooks/rest", get(health))
        .route("/webhooks/rest/webhook", post(webhook))
}

pub(crate) async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

#[derive(Debug, Deserialize)]
struct RestMessage {
    /// Raw, so that an integer id keeps all its digits.
    #[serde(default)]
    sender: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    metadata: Option<Value>,
}

/// The message of a webhook body: `sender` (text or number; `default` when missing),
/// `message`, `metadata`.
pub(crate) fn incoming_message(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    channel: &str,
) -> Result<Incoming, ApiError> {
    // serde reads a struct from an array too (its fields in order); a webhook body is an object.
    if let Ok(bytes) = &body
        && bytes.trim_ascii_start().first() == Some(&b'[')
    {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object with `sender` and `message`, not an array",
        ));
    }
    let message: RestMessage = json_body(body, limit)?;
    let sender_id = sender_id(message.sender.as_deref())?;
    crate::request_limits::check_conversation_id(&sender_id)?;
    Ok(Incoming {
        sender_id,
        text: message.message.unwrap_or_default(),
        input_channel: channel.into(),
        metadata: message
            .metadata
            .and_then(|m| m.as_object().cloned())
            .unwrap_or_default(),
        ..Incoming::default()
    })
}

/// The conversation of a webhook body's `sender`: a string as it is, a number as written
/// (every digit of an integer kept), `default` when missing or `null`; anything else is a
/// 400, not the shared conversation `default`.
fn sender_id(raw: Option<&serde_json::value::RawValue>) -> Result<String, ApiError> {
    let Some(raw) = raw else {
        return Ok("default".to_owned());
    };
    let text = raw.get().trim();
    match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text)
            .map_err(|e| ApiError::bad_request(format!("`sender` is not a valid string: {e}"))),
        Some(b'-' | b'0'..=b'9') => Ok(text.to_owned()),
        _ if text == "null" => Ok("default".to_owned()),
        _ => Err(ApiError::bad_request(
            "`sender` must be a string or a number",
        )),
    }
}

#[derive(Debug, Deserialize, Default)]
struct StreamQuery {
    #[serde(default)]
    stream: Option<String>,
}

/// The deepest nesting of arrays and objects a JSON body may have: serde_json's own limit
/// for the values it builds, held for the parts a route ignores too.
pub const MAX_JSON_DEPTH: usize = 128;

/// The deepest nesting of `[` and `{` outside strings (of a body that may not be JSON).
fn nesting_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads a JSON body, answering Rasa's error shape for a body that is too large or not JSON.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::payload_too_large(limit),
        other => ApiError::bad_request(other.body_text()),
    })?;
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ApiError::bad_request("the request body is not valid UTF-8"));
    }
    if nesting_depth(&bytes) > MAX_JSON_DEPTH {
        return Err(ApiError::bad_request(format!(
            "the request body nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not valid JSON for this endpoint: {e}"
        ))
    })
}

async fn webhook(
    State(state): State<AppState>,
    Query(query): Query<StreamQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let incoming = incoming_message(body, state.config.body_limit, "rest")?;
    let sender_id = incoming.sender_id.clone();
    if query
        .stream
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
    {
        return Ok(stream_turn(state, incoming, sender_id));
    }
    let messages = complete_turn(&state, incoming).await?;
    let payloads: Vec<Value> = messages
        .iter()
        .flat_map(|m| m.rest_payloads(&sender_id))
        .collect();
    Ok(Json(payloads).into_response())
}

/// Handles a turn in a task of its own: a client that hangs up does not cut the turn short
/// (its custom actions may already have run; what happened is stored).
pub(crate) async fn complete_turn(
    state: &AppState,
    incoming: Incoming,
) -> Result<Vec<rusa_core::responses::BotMessage>, ApiError> {
    let processor = Arc::clone(&state.processor);
    let turn = async move { processor.handle_message(incoming, None).await };
    tokio::spawn(turn.instrument(tracing::Span::current()))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(turn_error)
}

/// Runs the turn in a task and streams each reply as one JSON line as soon as it exists.
fn stream_turn(state: AppState, incoming: Incoming, sender_id: String) -> Response {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Result<Bytes, std::io::Error>>();
    let turn = async move {
        let line_tx = tx.clone();
        let recipient = sender_id.clone();
        let mut emit = move |m: &rusa_core::responses::BotMessage| {
            for payload in m.rest_payloads(&recipient) {
                let _ = line_tx.send(Ok(Bytes::from(format!("{payload}\n"))));
            }
        };
        if let Err(e) = state
            .processor
            .handle_message(incoming, Some(&mut emit))
            .await
        {
            tracing::error!(error = %e, "a streamed turn failed");
        }
        drop(tx);
    }
    .instrument(tracing::Span::current());
    tokio::spawn(turn);
    let stream = tokio_stream::wrappers::UnboundedReceiverStream::new(rx);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| {
            ApiError::internal(&"the stream response could not be built").into_response()
        })
}

pub(crate) fn turn_error(e: ProcessError) -> ApiError {
    match e {
        ProcessError::NoModel => ApiError::conflict_no_model(),
        ProcessError::Store(err) => ApiError::internal(&err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings() {
        assert_eq!(nesting_depth(b"{}"), 1);
        assert_eq!(nesting_depth(br#"{"a": [[1], {"b": 2}]}"#), 3);
        assert_eq!(nesting_depth(br#"{"a": "[[[{{{\"[[["}"#), 1);
        assert_eq!(nesting_depth(b"not json"), 0);
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(nesting_depth(deep.as_bytes()), 200);
        let limit = 16;
        let body = Ok(Bytes::from(deep));
        assert!(json_body::<Value>(body, limit * 1024).is_err());
        let invalid = Ok(Bytes::from_static(b"{\"x\": \"\xff\"}"));
        assert!(json_body::<Value>(invalid, 1024).is_err());
    }
}
