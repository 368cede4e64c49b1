//! What can go wrong setting up tracing.

/// A tracing configuration the user must fix; the command stops with it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key of the `tracing:` entry has a value that cannot be used.
    #[error("{pos}: tracing: `{key}` {message}")]
    Invalid {
        pos: String,
        key: String,
        message: String,
    },
    /// A key the entry's type needs is missing.
    #[error("{pos}: tracing: {message}")]
    Missing {
        pos: String,
        key: String,
        message: String,
    },
    /// An `OTEL_*` variable has a value that cannot be used.
    #[error("environment variable {name}: {message}")]
    Environment { name: String, message: String },
}

/// The exporter could not be built (a bad URL, no local UDP socket, no TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the trace exporter: {message}")]
pub struct SetupError {
    pub message: String,
}
