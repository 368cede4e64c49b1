//! Distributed tracing for rusa (shared/spec/tracing.md): reads the `tracing:` entry of the
//! endpoints file and the `OTEL_*` environment, builds an OpenTelemetry pipeline that exports
//! to an OTLP back end (gRPC or HTTP) or a Jaeger agent (compact thrift over UDP), and gives
//! the binary a `tracing` layer that turns rusa's spans into OpenTelemetry spans. It also
//! carries W3C trace context in and out of HTTP requests.
//!
//! It does not define spans: the libraries emit `tracing` spans named as the spec says, and
//! know nothing of OpenTelemetry beyond the propagation helpers here.

pub mod config;
mod error;
pub mod jaeger;
mod pipeline;
pub mod processor;
pub mod propagation;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::{Note, Resolved, TracingConfig, resolve};
pub use error::{ConfigError, SetupError};
pub use pipeline::{CLI_FLUSH_TIMEOUT, Pipeline, SERVER_FLUSH_TIMEOUT};
pub use processor::Report;
