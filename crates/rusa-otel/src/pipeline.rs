//! The tracing pipeline: exporter, processor, tracer provider, and the `tracing` layer that
//! turns rusa's `tracing` spans into OpenTelemetry spans.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{ExporterConfig, OtlpConfig, Protocol, SamplerConfig, TracingConfig};
use crate::error::SetupError;
use crate::jaeger::JaegerUdpExporter;
use crate::processor::{BatchProcessor, Report, Stats};

/// The instrumentation scope of rusa's spans.
pub const SCOPE: &str = "rusa";

/// How long the end of a command line waits for pending spans.
pub const CLI_FLUSH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long the server, stopping, waits for pending spans.
pub const SERVER_FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// A running pipeline: spans of the layer go to the configured back end until
/// [`Pipeline::shutdown`].
#[derive(Debug)]
pub struct Pipeline {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    stats: Arc<Stats>,
    /// Whether spans of every crate are recorded, not only rusa's.
    all_targets: bool,
    /// What is exported where, for log lines (no credentials).
    pub destination: String,
}

impl Pipeline {
    /// Builds the exporter and starts the export thread. Connecting happens on first
    /// export: a back end that is down does not stop the command.
    pub fn start(config: &TracingConfig) -> Result<Self, SetupError> {
        Self::start_with_scope(config, SCOPE, false)
    }

    /// [`Pipeline::start`] for another program than rusa: its spans carry the
    /// instrumentation scope `scope`, and with `all_targets` the layer records the spans of
    /// every crate (an action server's own code opens spans under its crate's name), still
    /// at info level and above.
    pub fn start_with_scope(
        config: &TracingConfig,
        scope: &'static str,
        all_targets: bool,
    ) -> Result<Self, SetupError> {
        let resource = Resource::builder()
            .with_attributes(
                config
                    .resource_attributes
                    .iter()
                    .map(|(k, v)| opentelemetry::KeyValue::new(k.clone(), v.clone())),
            )
            .with_service_name(config.service_name.clone())
            .build();
        let stats = Arc::new(Stats::default());
        let (processor, destination) = match &config.exporter {
            ExporterConfig::JaegerUdp { host, port } => {
                let (host, port) = (host.clone(), *port);
                let oversized = Arc::clone(&stats.oversized);
                let destination = format!("the Jaeger agent at {host}:{port} (UDP)");
                let processor = BatchProcessor::start(
                    config.batch,
                    config.sync_export,
                    resource.clone(),
                    Arc::clone(&stats),
                    move || {
                        JaegerUdpExporter::new(&host, port)
                            .map(|e| e.with_oversized_counter(oversized))
                            .map_err(|e| SetupError {
                                message: format!("cannot open a UDP socket: {e}"),
                            })
                    },
                )?;
                (processor, destination)
            }
            ExporterConfig::Otlp(otlp) => {
                let destination = format!(
                    "OTLP {} at {}",
                    otlp.protocol.as_str(),
                    without_credentials(&otlp.endpoint)
                );
                let otlp = otlp.clone();
                let processor = BatchProcessor::start(
                    config.batch,
                    config.sync_export,
                    resource.clone(),
                    Arc::clone(&stats),
                    move || otlp_exporter(&otlp),
                )?;
                (processor, destination)
            }
        };
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(sampler(config.sampler))
            .with_resource(resource)
            .build();
        let tracer = provider.tracer(scope);
        Ok(Self {
            provider,
            tracer,
            stats,
            all_targets,
            destination,
        })
    }

    /// The `tracing` layer that records rusa's spans into this pipeline.
    pub fn layer<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        layer(self.tracer.clone(), self.all_targets)
    }

    /// Exports what is pending, waiting at most `timeout`, and stops the pipeline; returns
    /// what happened to the spans over its life.
    pub fn shutdown(self, timeout: Duration) -> Report {
        let _ = self.provider.shutdown_with_timeout(timeout);
        self.stats.report()
    }
}

/// The layer for a tracer: spans of rusa's crates at info level and above; events at warn
/// and above only (they become span events — debug lines may name a user, warnings never
/// do); no source locations, thread names or targets as attributes.
pub(crate) fn layer<S>(tracer: SdkTracer, all_targets: bool) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_context_activation(false)
        .with_filter(tracing_subscriber::filter::filter_fn(move |meta| {
            (all_targets || meta.target().starts_with("rusa"))
                && if meta.is_span() {
                    *meta.level() <= Level::INFO
                } else {
                    *meta.level() <= Level::WARN
                }
        }))
}

fn sampler(config: SamplerConfig) -> Sampler {
    match config {
        SamplerConfig::AlwaysOn => Sampler::AlwaysOn,
        SamplerConfig::AlwaysOff => Sampler::AlwaysOff,
        SamplerConfig::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        SamplerConfig::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerConfig::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerConfig::ParentBasedTraceIdRatio(r) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(r)))
        }
    }
}

fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// An OTLP exporter over gRPC (tonic) or HTTP/protobuf (reqwest), built inside the export
/// thread's runtime.
fn otlp_exporter(config: &OtlpConfig) -> Result<opentelemetry_otlp::SpanExporter, SetupError> {
    let failed = |e: &dyn std::fmt::Display| SetupError {
        message: e.to_string(),
    };
    match config.protocol {
        Protocol::Grpc => {
            let mut metadata = tonic::metadata::MetadataMap::new();
            for (name, value) in &config.headers {
                let key =
                    tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                        .map_err(|_| SetupError {
                            message: format!("`{name}` cannot be a gRPC header name"),
                        })?;
                let value = value.parse().map_err(|_| SetupError {
                    message: format!("the value of the header `{name}` is not valid"),
                })?;
                metadata.insert(key, value);
            }
            let mut builder = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(config.timeout)
                .with_metadata(metadata);
            if let Some(pem) = &config.root_certificates {
                let tls = tonic::transport::ClientTlsConfig::new()
                    .ca_certificate(tonic::transport::Certificate::from_pem(pem));
                builder = builder.with_tls_config(tls);
            } else if config.endpoint.starts_with("https:") {
                builder = builder
                    .with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
            }
            builder.build().map_err(|e| failed(&e))
        }
        Protocol::HttpProtobuf => {
            let client = http_client(config)?;
            let headers: HashMap<String, String> = config.headers.iter().cloned().collect();
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_endpoint(config.endpoint.clone())
                .with_timeout(config.timeout)
                .with_headers(headers)
                .with_http_client(client)
                .build()
                .map_err(|e| failed(&e))
        }
    }
}

/// The HTTP client of the OTLP/HTTP exporter: rustls with the ring provider the workspace
/// builds, trusting `root_certificates` when given, else the system's store.
fn http_client(config: &OtlpConfig) -> Result<reqwest::Client, SetupError> {
    let failed = |m: String| SetupError { message: m };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?;
    let tls = match &config.root_certificates {
        Some(pem) => {
            use rustls::pki_types::CertificateDer;
            use rustls::pki_types::pem::PemObject as _;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| failed(format!("root_certificates: {e}")))?;
                roots
                    .add(cert)
                    .map_err(|e| failed(format!("root_certificates: {e}")))?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        None => {
            use rustls_platform_verifier::BuilderVerifierExt as _;
            builder
                .with_platform_verifier()
                .map_err(|e| failed(format!("the system's certificate store: {e}")))?
                .with_no_client_auth()
        }
    };
    reqwest::Client::builder()
        .no_proxy()
        .timeout(config.timeout)
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| failed(e.to_string()))
}
