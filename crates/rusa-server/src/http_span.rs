//! The server span of an HTTP request that carries a message (tracing spec §2): named
//! `{method} {route}` and attributed as OpenTelemetry's HTTP conventions say
//! (`http.request.method`, `http.route`, `http.response.status_code`), kind server. It is the
//! parent of the turn's spans, `Agent.handle_message` first: the handlers run their turn in a
//! task of its own instrumented with the current span, and a streamed turn keeps the span
//! open until its last reply is out.
//!
//! A `traceparent` (with `tracestate` and `baggage`) on the request makes the caller's span
//! this span's parent (tracing spec §3); a malformed one is ignored. The answer of a traced
//! request carries `traceresponse: 00-<trace id>-<this span's id>-<flags>`.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument as _;

/// One span per route: a `tracing` span's name is fixed when it is compiled.
macro_rules! server_span {
    ($method:literal, $route:literal) => {
        tracing::info_span!(
            concat!($method, " ", $route),
            otel.kind = "server",
            http.request.method = $method,
            http.route = $route,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        )
    };
}

/// Middleware for the routes that carry a message (see [`crate::app`]).
pub(crate) async fn message_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let span = match (request.method().as_str(), route) {
        ("POST", Some("/webhooks/rest/webhook")) => server_span!("POST", "/webhooks/rest/webhook"),
        ("POST", Some("/webhooks/callback/webhook")) => {
            server_span!("POST", "/webhooks/callback/webhook")
        }
        ("POST", Some("/conversations/{conversation_id}/messages")) => {
            server_span!("POST", "/conversations/{conversation_id}/messages")
        }
        ("POST", Some("/conversations/{conversation_id}/trigger_intent")) => {
            server_span!("POST", "/conversations/{conversation_id}/trigger_intent")
        }
        ("POST", Some("/conversations/{conversation_id}/execute")) => {
            server_span!("POST", "/conversations/{conversation_id}/execute")
        }
        ("POST", Some("/model/train")) => server_span!("POST", "/model/train"),
        ("POST", Some("/model/test/stories")) => server_span!("POST", "/model/test/stories"),
        ("POST", Some("/model/test/intents")) => server_span!("POST", "/model/test/intents"),
        _ => return next.run(request).await,
    };
    rusa_otel::propagation::continue_from_headers(&span, request.headers());
    let mut response = next.run(request).instrument(span.clone()).await;
    if let Some(value) = rusa_otel::propagation::traceresponse(&span)
        .and_then(|v| axum::http::HeaderValue::from_str(&v).ok())
    {
        response
            .headers_mut()
            .insert(rusa_otel::propagation::TRACERESPONSE, value);
    }
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    // OpenTelemetry's rule for server spans: only a 5xx is the server's error.
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    response
}
