//! Limits every request meets before its handler runs, each refused in Rasa's error shape:
//! a request target over [`MAX_URI_BYTES`] (414), more than [`MAX_REQUEST_HEADERS`] headers
//! or over [`MAX_HEADER_BYTES`] of them (431), a declared `Content-Length` over the body
//! limit (413 at once, before a byte of the body is read), and a body not received whole
//! within the body read timeout (408). The body is read here, so handlers get it whole.
//!
//! hyper has larger limits of its own (a 64 KB target, 400 headers, ~400 KB of head) that
//! it answers itself without a body; the ones here are lower so that a client sees
//! Rasa's JSON shape for every refusal that reaches the router.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use rusa_core::Event;

use crate::error::ApiError;

/// The longest conversation id, intent, action or slot name the server stores (see
/// [`rusa_core::events::MAX_NAME_CHARS`]).
pub const MAX_NAME_CHARS: usize = rusa_core::events::MAX_NAME_CHARS;

/// A conversation id every store can keep: at most [`MAX_NAME_CHARS`] characters, no NUL.
pub(crate) fn check_conversation_id(id: &str) -> Result<(), ApiError> {
    rusa_core::events::check_name("conversation id", id)
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

/// The names of events from a client (intents, actions, slots, loops, reminders) as
/// [`check_conversation_id`] checks an id.
pub(crate) fn check_events(events: &[Event]) -> Result<(), ApiError> {
    rusa_core::events::check_event_names(events).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// Route layer of the conversation routes: refuses an id no store can keep.
pub(crate) async fn conversation_id(request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    let params =
        <axum::extract::RawPathParams as axum::extract::FromRequestParts<()>>::from_request_parts(
            &mut parts,
            &(),
        )
        .await;
    if let Ok(params) = params {
        for (key, value) in params.iter() {
            if key == "conversation_id"
                && let Err(e) = check_conversation_id(value)
            {
                return e.into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// The longest request target (path and query) the router accepts.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most headers a request may have.
pub const MAX_REQUEST_HEADERS: usize = 100;
/// The most bytes of header names and values a request may have.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// Seconds a client has to send a request's whole body (`--request-body-timeout`).
pub const DEFAULT_BODY_READ_TIMEOUT_SECS: u64 = 30;

/// What [`limit_request`] enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLimits {
    pub body_limit: usize,
    pub body_read_timeout: Duration,
}

/// Refuses requests over the limits, then reads the body whole within the timeout.
pub(crate) async fn limit_request(
    State(limits): State<RequestLimits>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().to_string().len() > MAX_URI_BYTES {
        return closing(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "URITooLong",
            format!("the request target is longer than {MAX_URI_BYTES} bytes"),
        ));
    }
    let headers = request.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if headers.len() > MAX_REQUEST_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return closing(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "HeadersTooLarge",
            format!(
                "the request has more than {MAX_REQUEST_HEADERS} headers or more than {MAX_HEADER_BYTES} bytes of them"
            ),
        ));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_limit as u64) {
        return closing(ApiError::payload_too_large(limits.body_limit));
    }
    if declared == Some(0) || request.body().is_end_stream_hint() {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.body_limit);
    let bytes = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_length_limit(&e) => {
            return closing(ApiError::payload_too_large(limits.body_limit));
        }
        Ok(Err(_)) => {
            return closing(ApiError::bad_request(
                "the request body could not be read whole",
            ));
        }
        Err(_) => {
            return closing(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeout",
                format!(
                    "the request body was not received within {} seconds",
                    limits.body_read_timeout.as_secs()
                ),
            ));
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// An error answer after which the connection is closed (its body may be unread).
fn closing(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(
        header::CONNECTION,
        header::HeaderValue::from_static("close"),
    );
    response
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = e.source();
    }
    false
}

trait EndStreamHint {
    fn is_end_stream_hint(&self) -> bool;
}

impl EndStreamHint for Body {
    /// A body known to be empty (a GET without one): nothing to read.
    fn is_end_stream_hint(&self) -> bool {
        use axum::body::HttpBody as _;
        self.is_end_stream() || self.size_hint().exact() == Some(0)
    }
}
