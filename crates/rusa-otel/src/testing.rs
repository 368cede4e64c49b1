//! An in-memory pipeline for tests: the same layer as the real one, spans kept in memory.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::pipeline::{SCOPE, layer};

/// Spans recorded by [`InMemory::layer`], exported as each ends.
#[derive(Debug, Clone)]
pub struct InMemory {
    exporter: InMemorySpanExporter,
    provider: SdkTracerProvider,
}

impl Default for InMemory {
    fn default() -> Self {
        Self::new()
    }
}

impl InMemory {
    pub fn new() -> Self {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_resource(Resource::builder().with_service_name("rusa-test").build())
            .build();
        Self { exporter, provider }
    }

    /// The layer rusa installs, writing to memory.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        layer(self.provider.tracer(SCOPE))
    }

    /// Makes sure every ended span is recorded.
    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }

    /// The spans ended so far, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        self.exporter.get_finished_spans().unwrap_or_default()
    }

    /// Forgets the spans recorded so far.
    pub fn clear(&self) {
        self.exporter.reset();
    }
}
