//! The callback channel (`callback:` in credentials.yml): `POST /webhooks/callback/webhook`
//! takes a message as the REST channel does, and each reply is POSTed as JSON to the
//! configured `url` as it is produced. The webhook answers `success` once the turn is
//! handled and its replies were handed to the callback server, as Rasa's does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rusa_actions::HttpEndpoint;
use rusa_core::responses::BotMessage;
use serde_json::Value;
use tracing::Instrument as _;

use crate::error::ApiError;
use crate::rest::{health, incoming_message, turn_error};
use crate::{AppState, Incoming};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/callback/", get(health))
        .route("/webhooks/callback", get(health))
        .route("/webhooks/callback/webhook", post(webhook))
}

async fn webhook(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let Some(endpoint) = state.config.callback.clone() else {
        return Err(ApiError::not_found(
            "the callback channel is not configured",
        ));
    };
    let incoming = incoming_message(body, state.config.body_limit, "callback")?;
    turn_with_callback(&state, endpoint, incoming).await?;
    Ok((StatusCode::OK, "success").into_response())
}

/// Runs a turn in a task of its own (so that a client that hangs up does not cut it short)
/// and POSTs each reply to `endpoint` as it is produced, one at a time, in order. Answers
/// the replies once the turn is handled and they were handed to the callback server.
pub(crate) async fn turn_with_callback(
    state: &AppState,
    endpoint: HttpEndpoint,
    incoming: Incoming,
) -> Result<Vec<BotMessage>, ApiError> {
    let recipient = incoming.sender_id.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let delivery = tokio::spawn(
        async move {
            while let Some(payload) = rx.recv().await {
                deliver(&endpoint, &payload).await;
            }
        }
        .instrument(tracing::Span::current()),
    );
    let processor = std::sync::Arc::clone(&state.processor);
    let turn = tokio::spawn(
        async move {
            let mut emit = move |m: &BotMessage| {
                for payload in m.rest_payloads(&recipient) {
                    let _ = tx.send(payload);
                }
            };
            processor.handle_message(incoming, Some(&mut emit)).await
        }
        .instrument(tracing::Span::current()),
    );
    let result = turn.await.map_err(|e| ApiError::internal(&e))?;
    if delivery.await.is_err() {
        tracing::error!("the callback delivery task failed");
    }
    result.map_err(turn_error)
}

/// POSTs the replies of `messages` to `endpoint`, one at a time, in order.
pub(crate) async fn deliver_all(endpoint: &HttpEndpoint, messages: &[BotMessage], recipient: &str) {
    for message in messages {
        for payload in message.rest_payloads(recipient) {
            deliver(endpoint, &payload).await;
        }
    }
}

/// POSTs one reply; a failure is logged and the next reply is still sent (as Rasa).
async fn deliver(endpoint: &HttpEndpoint, payload: &Value) {
    let body = payload.to_string();
    let span = endpoint.request_span(body.len());
    let request = endpoint.request(reqwest::Method::POST).body(body);
    let sent = rusa_actions::with_trace_context(request, &span)
        .send()
        .instrument(span.clone())
        .await;
    match sent {
        Ok(answer) => {
            span.record("http.response.status_code", answer.status().as_u16());
            if !answer.status().is_success() {
                rusa_core::span_status::record_failure(
                    &span,
                    "HttpError",
                    &format!(
                        "the callback server answered HTTP {}",
                        answer.status().as_u16()
                    ),
                );
                tracing::warn!(
                    parent: &span,
                    status = answer.status().as_u16(),
                    "the callback server did not accept a reply"
                );
            }
        }
        Err(e) => {
            let text = HttpEndpoint::error_text(&e);
            rusa_core::span_status::record_failure(&span, "HttpError", &text);
            tracing::warn!(parent: &span, error = %text, "a reply could not be sent to the callback server");
        }
    }
}
