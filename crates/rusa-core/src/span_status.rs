//! How a failed operation shows in its span (tracing spec §2): status ERROR and an
//! `exception` event, written as a `tracing` event so that the libraries need no
//! OpenTelemetry API. The tracing layer turns an error-level event into the span's error
//! status; the log layers leave events of [`EXCEPTION_TARGET`] out (the failure has its own
//! log line where it happens).

/// The target of exception events; log output filters it out.
pub const EXCEPTION_TARGET: &str = "rusa::exception";

/// Marks `span` failed with an `exception` event. `error_type` names the kind of failure
/// (`ActionError`, `LockError`, ...); `message` says what failed and must not carry a
/// user's text, slot values or ids.
pub fn record_failure(span: &tracing::Span, error_type: &str, message: &str) {
    tracing::event!(
        target: EXCEPTION_TARGET,
        parent: span,
        tracing::Level::ERROR,
        "exception.type" = error_type,
        exception.message = message,
        "exception"
    );
}
