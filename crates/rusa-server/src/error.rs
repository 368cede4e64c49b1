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
