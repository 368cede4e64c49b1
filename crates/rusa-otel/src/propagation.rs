//! W3C Trace Context in and out (tracing spec §3): `traceparent`, `tracestate` and `baggage`
//! on incoming requests become a span's parent; outgoing requests carry the context of
//! their own span; answers carry a `traceresponse`.
//!
//! Every function here is a no-op when tracing is off (no OpenTelemetry layer installed).

use opentelemetry::propagation::{Extractor, TextMapCompositePropagator, TextMapPropagator};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header that carries the trace of an incoming request.
pub const TRACEPARENT: &str = "traceparent";
/// The header of W3C Trace Context level 2 that tells a caller the trace of its answer.
pub const TRACERESPONSE: &str = "traceresponse";

fn propagator() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct Pairs<'a>(&'a [(&'a str, String)]);

impl Extractor for Pairs<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.iter().map(|(k, _)| *k).collect()
    }
}

/// Makes the trace context of `headers` the parent of `span`, which must not have been
/// entered yet. Without a valid `traceparent` the span starts a new trace: a malformed
/// header is never an error.
pub fn continue_from_headers(span: &tracing::Span, headers: &http::HeaderMap) {
    if !headers.contains_key(TRACEPARENT) {
        return;
    }
    let cx = propagator().extract(&Headers(headers));
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// Makes the caller's trace in `TRACEPARENT` / `TRACESTATE` (from `env`) the current
/// OpenTelemetry context of this thread while the guard lives: a command line's root spans
/// become part of that trace. `None` when there is no valid `TRACEPARENT`.
pub fn attach_from_env(
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<opentelemetry::ContextGuard> {
    let parent = env("TRACEPARENT")?;
    let mut pairs = vec![("traceparent", parent)];
    if let Some(state) = env("TRACESTATE") {
        pairs.push(("tracestate", state));
    }
    let cx = TraceContextPropagator::new().extract(&Pairs(&pairs));
    cx.span().span_context().is_valid().then(|| cx.attach())
}

/// The headers that carry `span`'s context to the next service (`traceparent`, and
/// `tracestate` and `baggage` when there are any); empty when tracing is off.
pub fn inject(span: &tracing::Span) -> Vec<(String, String)> {
    let cx = span.context();
    if !cx.span().span_context().is_valid() {
        return Vec::new();
    }
    let mut map = std::collections::HashMap::new();
    propagator().inject_context(&cx, &mut map);
    let mut pairs: Vec<(String, String)> = map.into_iter().collect();
    pairs.sort();
    pairs
}

/// `00-<trace id>-<span id>-<flags>` of `span`: the `traceresponse` of an answer; `None`
/// when the span is not traced.
pub fn traceresponse(span: &tracing::Span) -> Option<String> {
    let cx = span.context();
    let span_ref = cx.span();
    let sc = span_ref.span_context();
    sc.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            sc.trace_id(),
            sc.span_id(),
            sc.trace_flags().to_u8()
        )
    })
}

/// The trace id and span id of the span `id` of `dispatch`, for a debug log line (tracing
/// spec §3); `None` when tracing is off. A formatter cannot look up the current dispatcher
/// while it writes an event (the lookup is not re-entrant), so it is passed in.
pub fn log_ids(id: &tracing::span::Id, dispatch: &tracing::Dispatch) -> Option<(String, String)> {
    let cx = tracing_opentelemetry::get_otel_context(id, dispatch)?;
    let span_ref = cx.span();
    let sc = span_ref.span_context();
    sc.is_valid()
        .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::*;
    use crate::testing::InMemory;

    const PARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn a_valid_traceparent_becomes_the_parent_and_flows_out() {
        let memory = InMemory::new();
        let subscriber = tracing_subscriber::registry().with(memory.layer());
        tracing::subscriber::with_default(subscriber, || {
            let mut headers = http::HeaderMap::new();
            headers.insert(TRACEPARENT, PARENT.parse().unwrap());
            headers.insert("tracestate", "vendor=1".parse().unwrap());
            headers.insert("baggage", "tenant=a".parse().unwrap());
            let span = tracing::info_span!("POST /webhooks/rest/webhook");
            continue_from_headers(&span, &headers);
            let response = traceresponse(&span).unwrap();
            assert!(response.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
            assert!(!response.contains("b7ad6b7169203331"));
            let child = tracing::info_span!(parent: &span, "EndpointConfig.request");
            let out = inject(&child);
            let traceparent = &out.iter().find(|(k, _)| k == TRACEPARENT).unwrap().1;
            assert!(traceparent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"));
            assert!(
                out.iter()
                    .any(|(k, v)| k == "tracestate" && v == "vendor=1")
            );
            assert!(out.iter().any(|(k, v)| k == "baggage" && v == "tenant=a"));
        });
        memory.flush();
        let spans = memory.spans();
        let root = spans
            .iter()
            .find(|s| s.name == "POST /webhooks/rest/webhook")
            .unwrap();
        assert_eq!(
            root.span_context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(root.parent_span_id.to_string(), "b7ad6b7169203331");
        assert!(root.parent_span_is_remote);
    }

    #[test]
    fn malformed_headers_start_a_new_trace() {
        let memory = InMemory::new();
        for bad in [
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "zz-not-a-trace",
            "",
        ] {
            let subscriber = tracing_subscriber::registry().with(memory.layer());
            tracing::subscriber::with_default(subscriber, || {
                let mut headers = http::HeaderMap::new();
                headers.insert(TRACEPARENT, bad.parse().unwrap());
                let span = tracing::info_span!("turn");
                continue_from_headers(&span, &headers);
                let response = traceresponse(&span).unwrap();
                assert!(!response.contains("0af7651916cd43dd"), "{bad}");
            });
        }
    }

    #[test]
    fn without_tracing_nothing_is_injected() {
        let span = tracing::info_span!("x");
        assert!(inject(&span).is_empty());
        assert!(traceresponse(&span).is_none());
    }

    #[test]
    fn traceparent_from_the_environment() {
        let memory = InMemory::new();
        let subscriber = tracing_subscriber::registry().with(memory.layer());
        tracing::subscriber::with_default(subscriber, || {
            let env = |name: &str| (name == "TRACEPARENT").then(|| PARENT.to_owned());
            let _guard = attach_from_env(&env).unwrap();
            let span = tracing::info_span!("GraphTrainer.train");
            span.in_scope(|| {});
        });
        memory.flush();
        let span = &memory.spans()[0];
        assert_eq!(span.parent_span_id.to_string(), "b7ad6b7169203331");
        assert!(attach_from_env(&|_| Some("garbage".into())).is_none());
    }
}
