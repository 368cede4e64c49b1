//! The one error type of the HTTP API: every failure becomes Rasa's JSON error shape
//! (`{"version", "status": "failure", "message", "reason", "details", "help", "code"}`).
//! 5xx bodies never carry internal details.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Rasa's `reason`, e.g. `BadRequest`, `NotAuthenticated`.
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            reason,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequest", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NotFound", message)
    }

    pub fn conflict_no_model() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "Conflict",
            "no model is loaded; load one with PUT /model",
        )
    }

    /// An internal failure: logged in full, answered without details.
    pub fn internal(error: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "ServerError",
            "an internal error occurred; the server log has the details",
        )
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLarge",
            format!("the request body is larger than {limit} bytes"),
        )
    }
}

/// Rasa's `reason` for an HTTP status that no handler named.
fn reason_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "BadRequest",
        401 => "NotAuthenticated",
        403 => "NotAuthorized",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        413 => "PayloadTooLarge",
        414 => "URITooLong",
        415 => "UnsupportedMediaType",
        422 => "UnprocessableEntity",
        431 => "HeadersTooLarge",
        s if s >= 500 => "ServerError",
        _ => "BadRequest",
    }
}

/// The most bytes of a plain-text error body kept as the JSON answer's message.
const MAX_PLAIN_MESSAGE_BYTES: usize = 4096;

/// Router-wide layer: an error answer that is not already JSON (axum's own 405, the
/// plain-text rejections of its extractors for a bad query string, a path that is not
/// UTF-8, ...) is answered in Rasa's error shape instead, with the same status and
/// headers. The plain text becomes the message of a 4xx; a 5xx says nothing of it.
pub(crate) async fn json_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_PLAIN_MESSAGE_BYTES)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty());
    let message = match text {
        Some(text) if status.is_client_error() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("the request failed")
            .to_lowercase(),
    };
    let answer = ApiError::new(status, reason_of(status), message).into_response();
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let (answer_parts, answer_body) = answer.into_parts();
    parts.headers.extend(answer_parts.headers);
    Response::from_parts(parts, answer_body)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "version": env!("CARGO_PKG_VERSION"),
            "status": "failure",
            "message": self.message,
            "reason": self.reason,
            "details": {},
            "help": null,
            "code": self.status.as_u16(),
        });
        (self.status, Json(body)).into_response()
    }
}
