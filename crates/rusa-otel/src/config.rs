//! The tracing configuration: the `tracing:` entry of the endpoints file and the `OTEL_*`
//! environment, resolved into the settings the pipeline uses (tracing spec §1).
//!
//! Raw values are read and checked here; nothing is connected. A malformed value is an
//! error naming file, line and key; an unknown `type` or key is a note the caller logs.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use rusa_project::{EndpointConfig, did_you_mean};

use crate::error::ConfigError;

/// The service name when neither the file nor the environment names one.
pub const DEFAULT_SERVICE_NAME: &str = "rusa";
/// The Jaeger agent's host when the file names none.
pub const DEFAULT_JAEGER_HOST: &str = "localhost";
/// The Jaeger agent's compact-thrift UDP port.
pub const DEFAULT_JAEGER_UDP_PORT: u16 = 6831;
/// Jaeger's own OTLP gRPC receiver, for `protocol: otlp`.
pub const DEFAULT_JAEGER_OTLP_PORT: u16 = 4317;
/// The OTLP/HTTP port: an endpoint on it is spoken to over HTTP unless `protocol` says.
pub const OTLP_HTTP_PORT: u16 = 4318;
/// The path of the traces signal on an OTLP/HTTP receiver.
pub const OTLP_HTTP_TRACES_PATH: &str = "/v1/traces";

/// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting for export; more are dropped and counted.
pub const DEFAULT_MAX_QUEUE_SIZE: usize = 2048;
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: spans per export.
pub const DEFAULT_MAX_EXPORT_BATCH_SIZE: usize = 512;
/// `OTEL_BSP_SCHEDULE_DELAY` (milliseconds): the longest a finished span waits for export.
pub const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(5000);
/// `OTEL_BSP_EXPORT_TIMEOUT` (milliseconds): the longest one export may take.
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);
/// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds): the OTLP client's request timeout.
pub const DEFAULT_OTLP_TIMEOUT: Duration = Duration::from_millis(10_000);

/// Every environment variable tracing reads, with what it means (docs/tracing.md lists them).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "OTEL_SDK_DISABLED",
        "`true` turns tracing off whatever the endpoints file says",
    ),
    (
        "OTEL_SERVICE_NAME",
        "the service name when the file has no `service_name`",
    ),
    (
        "TRACING_SERVICE_NAME",
        "the service name when neither the file nor OTEL_SERVICE_NAME has one",
    ),
    (
        "OTEL_RESOURCE_ATTRIBUTES",
        "`key=value,...` added to every span's resource",
    ),
    (
        "OTEL_TRACES_SAMPLER",
        "always_on, always_off, traceidratio, parentbased_always_on (default), parentbased_always_off, parentbased_traceidratio",
    ),
    (
        "OTEL_TRACES_SAMPLER_ARG",
        "the ratio for the traceidratio samplers (0 to 1, default 1)",
    ),
    (
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "spans waiting for export (default 2048); more are dropped and counted",
    ),
    (
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "spans per export (default 512)",
    ),
    (
        "OTEL_BSP_SCHEDULE_DELAY",
        "milliseconds between exports (default 5000)",
    ),
    (
        "OTEL_BSP_EXPORT_TIMEOUT",
        "milliseconds one export may take (default 30000)",
    ),
    (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "with no `tracing:` entry: export OTLP here (`/v1/traces` is appended for HTTP)",
    ),
    (
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "with no `tracing:` entry: export OTLP traces to this exact URL",
    ),
    (
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "grpc or http/protobuf (…_TRACES_PROTOCOL wins); default: from the port or path",
    ),
    (
        "OTEL_EXPORTER_OTLP_HEADERS",
        "`key=value,...` request headers (…_TRACES_HEADERS wins)",
    ),
    (
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "milliseconds per request (default 10000; …_TRACES_TIMEOUT wins)",
    ),
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "a CA bundle (PEM) to trust for TLS (…_TRACES_CERTIFICATE wins)",
    ),
    (
        "OTEL_EXPORTER_OTLP_INSECURE",
        "`true`: plaintext for an endpoint without a scheme (…_TRACES_INSECURE wins)",
    ),
    (
        "TRACEPARENT",
        "a command line's spans become part of this W3C trace (with TRACESTATE)",
    ),
];

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// An OTLP receiver: an OpenTelemetry Collector, Jaeger's OTLP port, any OTLP back end.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// A full URL: `http(s)://host:port` for gRPC, `.../v1/traces` for HTTP.
    pub endpoint: String,
    pub protocol: Protocol,
    /// A CA bundle (PEM) to trust besides nothing else; `None`: the system's roots.
    pub root_certificates: Option<Vec<u8>>,
    /// Extra request headers (HTTP headers or gRPC metadata), Basic auth included.
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

impl std::fmt::Debug for OtlpConfig {
    // Header values may be API keys: only their names are shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol.as_str())
            .field("root_certificates", &self.root_certificates.is_some())
            .field(
                "headers",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Where spans go.
#[derive(Debug, Clone, PartialEq)]
pub enum ExporterConfig {
    Otlp(OtlpConfig),
    /// The Jaeger agent's `emitBatch` in compact thrift over UDP.
    JaegerUdp {
        host: String,
        port: u16,
    },
}

/// How finished spans wait for export (tracing spec §4).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchConfig {
    pub max_queue_size: usize,
    pub max_export_batch_size: usize,
    pub schedule_delay: Duration,
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: DEFAULT_MAX_QUEUE_SIZE,
            max_export_batch_size: DEFAULT_MAX_EXPORT_BATCH_SIZE,
            schedule_delay: DEFAULT_SCHEDULE_DELAY,
            export_timeout: DEFAULT_EXPORT_TIMEOUT,
        }
    }
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerConfig {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

/// Tracing as configured: on, with everything the pipeline needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    pub service_name: String,
    pub exporter: ExporterConfig,
    /// Export each span as it ends (still off the request path) instead of in batches.
    pub sync_export: bool,
    pub batch: BatchConfig,
    pub sampler: SamplerConfig,
    /// `OTEL_RESOURCE_ATTRIBUTES`: added to the resource of every span.
    pub resource_attributes: Vec<(String, String)>,
    /// Where the configuration came from: `endpoints.yml:12:1` or an environment variable.
    pub source: String,
}

/// Something worth one log line, said by the caller once logging is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    Debug(String),
    Info(String),
    Warn(String),
}

/// The outcome of reading the configuration: tracing on or off, and what to tell the user.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resolved {
    pub config: Option<TracingConfig>,
    pub notes: Vec<Note>,
}

/// Reads the environment; tests pass a map instead of the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment, for [`resolve`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

const JAEGER_KEYS: &[&str] = &[
    "type",
    "host",
    "port",
    "service_name",
    "sync_export",
    "protocol",
    "username",
    "password",
    "insecure",
    "root_certificates",
];
const OTLP_KEYS: &[&str] = &[
    "type",
    "endpoint",
    "insecure",
    "service_name",
    "root_certificates",
    "protocol",
    "headers",
    "sync_export",
    "timeout",
];
const TYPES: &[&str] = &["jaeger", "otlp"];

/// Resolves the `tracing:` entry (`None` when absent or empty) of `endpoints_file` and the
/// environment into tracing on or off. `default_service` is the service name when nothing
/// names one (`rusa`; the action server SDK says `rusa_sdk`).
pub fn resolve(
    tracing: Option<&EndpointConfig>,
    endpoints_file: &Path,
    env: Env<'_>,
    default_service: &str,
) -> Result<Resolved, ConfigError> {
    let mut notes = Vec::new();
    if env("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true")) {
        notes.push(Note::Info(
            "tracing is off: OTEL_SDK_DISABLED is true".into(),
        ));
        return Ok(Resolved {
            config: None,
            notes,
        });
    }
    let (exporter, sync_export, file_service, source) = match tracing {
        Some(entry) => match from_file(entry, &mut notes)? {
            Some((exporter, sync, service)) => (exporter, sync, service, entry.pos.to_string()),
            None => {
                return Ok(Resolved {
                    config: None,
                    notes,
                });
            }
        },
        None => match from_otlp_env(env, &mut notes)? {
            Some((exporter, source)) => (exporter, false, None, source.to_owned()),
            None => {
                notes.push(Note::Info(format!(
                    "tracing is off: {} has no `tracing:` entry",
                    endpoints_file.display()
                )));
                return Ok(Resolved {
                    config: None,
                    notes,
                });
            }
        },
    };
    let service_name = file_service
        .or_else(|| env("OTEL_SERVICE_NAME").filter(|s| !s.trim().is_empty()))
        .or_else(|| env("TRACING_SERVICE_NAME").filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| default_service.to_owned());
    let config = TracingConfig {
        service_name,
        exporter,
        sync_export,
        batch: batch_from_env(env, &mut notes),
        sampler: sampler_from_env(env, &mut notes),
        resource_attributes: env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|v| parse_header_list(&v))
            .unwrap_or_default(),
        source,
    };
    Ok(Resolved {
        config: Some(config),
        notes,
    })
}

/// The exporter, `sync_export` and service name of a `tracing:` entry; `None` (with a
/// warning) for an unknown or missing type.
fn from_file(
    entry: &EndpointConfig,
    notes: &mut Vec<Note>,
) -> Result<Option<(ExporterConfig, bool, Option<String>)>, ConfigError> {
    let file = entry.pos.path.display().to_string();
    let kind = match entry.kind.as_deref() {
        Some(kind) => kind.to_owned(),
        None => {
            let hint = entry
                .params
                .keys()
                .find_map(|k| (did_you_mean(k, ["type"]) == Some("type")).then_some(k.as_str()))
                .map(|k| format!(" (is `{k}` meant to be `type`?)"))
                .unwrap_or_default();
            notes.push(Note::Warn(format!(
                "{}: the `tracing:` entry has no `type`{hint}; tracing is off (types: jaeger, otlp)",
                entry.pos
            )));
            return Ok(None);
        }
    };
    let keys = match kind.to_ascii_lowercase().as_str() {
        "jaeger" => JAEGER_KEYS,
        "otlp" => OTLP_KEYS,
        _ => {
            let hint = did_you_mean(&kind, TYPES.iter().copied())
                .map(|t| format!("; did you mean `{t}`?"))
                .unwrap_or_default();
            notes.push(Note::Warn(format!(
                "{}: unknown tracing type `{kind}` in {file}{hint}; tracing is off (types: jaeger, otlp)",
                entry.pos_of("type")
            )));
            return Ok(None);
        }
    };
    for key in entry.params.keys() {
        if !keys.contains(&key.as_str()) && key != "url" {
            let hint = did_you_mean(key, keys.iter().copied())
                .map(|k| format!("; did you mean `{k}`?"))
                .unwrap_or_default();
            notes.push(Note::Warn(format!(
                "{}: unknown key `{key}` in the `tracing:` entry is ignored{hint}",
                entry.pos_of(key)
            )));
        }
    }
    let field = Field { entry };
    let sync_export = field.bool("sync_export")?.unwrap_or(false);
    let service = field.string("service_name")?;
    let exporter = if kind.eq_ignore_ascii_case("jaeger") {
        jaeger(&field)?
    } else {
        otlp(&field)?
    };
    Ok(Some((exporter, sync_export, service)))
}

fn jaeger(field: &Field<'_>) -> Result<ExporterConfig, ConfigError> {
    let host = field
        .string("host")?
        .unwrap_or_else(|| DEFAULT_JAEGER_HOST.to_owned());
    let protocol = field.string("protocol")?;
    match protocol.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("udp") => {
            let port = field.port("port")?.unwrap_or(DEFAULT_JAEGER_UDP_PORT);
            if field.string("username")?.is_some() {
                return Err(field.invalid(
                    "username",
                    "Basic auth needs `protocol: otlp`; the agent's UDP protocol has none",
                ));
            }
            Ok(ExporterConfig::JaegerUdp { host, port })
        }
        Some("otlp") | Some("grpc") => {
            let port = field.port("port")?.unwrap_or(DEFAULT_JAEGER_OTLP_PORT);
            // Jaeger's OTLP receiver is plaintext unless told otherwise.
            let insecure = field.bool("insecure")?.unwrap_or(true);
            let root_certificates = field.certificates("root_certificates")?;
            let scheme = if insecure && root_certificates.is_none() {
                "http"
            } else {
                "https"
            };
            let mut headers = Vec::new();
            if let Some(user) = field.string("username")? {
                let password = field.string("password")?.unwrap_or_default();
                use base64::Engine as _;
                let token =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                headers.push(("authorization".to_owned(), format!("Basic {token}")));
            }
            Ok(ExporterConfig::Otlp(OtlpConfig {
                endpoint: format!("{scheme}://{}:{port}", bracket_ipv6(&host)),
                protocol: Protocol::Grpc,
                root_certificates,
                headers,
                timeout: DEFAULT_OTLP_TIMEOUT,
            }))
        }
        Some(_) => Err(field.invalid("protocol", "must be `udp` or `otlp`")),
    }
}

fn otlp(field: &Field<'_>) -> Result<ExporterConfig, ConfigError> {
    let endpoint = match field.string("endpoint")? {
        Some(e) if !e.trim().is_empty() => e,
        // Rasa's own examples name the endpoint `url` in places; take it too.
        _ => match field.entry.url.clone() {
            Some(url) => url,
            None => {
                return Err(ConfigError::Missing {
                    pos: field.entry.pos.to_string(),
                    key: "endpoint".into(),
                    message: "`type: otlp` needs an `endpoint` (host:port or a URL)".into(),
                });
            }
        },
    };
    let insecure = field.bool("insecure")?.unwrap_or(false);
    let root_certificates = field.certificates("root_certificates")?;
    let protocol = match field.string("protocol")? {
        Some(p) => Some(
            parse_protocol(&p)
                .ok_or_else(|| field.invalid("protocol", "must be `grpc` or `http/protobuf`"))?,
        ),
        None => None,
    };
    let headers = match field.entry.params.get("headers") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), value_text(v)))
            .collect(),
        Some(_) => return Err(field.invalid("headers", "must be a mapping of names to values")),
    };
    let timeout = match field.entry.params.get("timeout") {
        None | Some(Value::Null) => DEFAULT_OTLP_TIMEOUT,
        Some(v) => match value_text(v).trim().parse::<f64>() {
            Ok(secs) if secs > 0.0 && secs.is_finite() => Duration::from_secs_f64(secs),
            _ => return Err(field.invalid("timeout", "must be a positive number of seconds")),
        },
    };
    let (endpoint, protocol) = otlp_endpoint(&endpoint, insecure, protocol, true)
        .map_err(|message| field.invalid("endpoint", &message))?;
    Ok(ExporterConfig::Otlp(OtlpConfig {
        endpoint,
        protocol,
        root_certificates,
        headers,
        timeout,
    }))
}

/// `OTEL_EXPORTER_OTLP_*` when the file has no `tracing:` entry.
fn from_otlp_env(
    env: Env<'_>,
    notes: &mut Vec<Note>,
) -> Result<Option<(ExporterConfig, &'static str)>, ConfigError> {
    let var = |traces: &'static str, general: &'static str| {
        env(traces)
            .filter(|v| !v.trim().is_empty())
            .map(|v| (v, traces))
            .or_else(|| {
                env(general)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (v, general))
            })
    };
    let (endpoint, source, exact) = match (
        env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.trim().is_empty()),
        env("OTEL_EXPORTER_OTLP_ENDPOINT").filter(|v| !v.trim().is_empty()),
    ) {
        (Some(e), _) => (e, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", true),
        (None, Some(e)) => (e, "OTEL_EXPORTER_OTLP_ENDPOINT", false),
        (None, None) => return Ok(None),
    };
    let env_error = |name: &str, message: String| ConfigError::Environment {
        name: name.to_owned(),
        message,
    };
    let protocol = match var(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ) {
        Some((p, name)) => match parse_protocol(&p) {
            Some(p) => Some(p),
            None if p.trim().eq_ignore_ascii_case("http/json") => {
                notes.push(Note::Warn(format!(
                    "{name}=http/json is not supported; using http/protobuf"
                )));
                Some(Protocol::HttpProtobuf)
            }
            None => {
                return Err(env_error(
                    name,
                    format!("`{p}` is not `grpc` or `http/protobuf`"),
                ));
            }
        },
        None => None,
    };
    let insecure = var(
        "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
        "OTEL_EXPORTER_OTLP_INSECURE",
    )
    .is_some_and(|(v, _)| v.trim().eq_ignore_ascii_case("true"));
    let root_certificates = match var(
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    ) {
        Some((path, name)) => {
            Some(read_certificates(Path::new(path.trim())).map_err(|m| env_error(name, m))?)
        }
        None => None,
    };
    let headers = var(
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    )
    .map(|(v, _)| parse_header_list(&v))
    .unwrap_or_default();
    let timeout = match var(
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ) {
        Some((v, name)) => match v.trim().parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                return Err(env_error(
                    name,
                    format!("`{v}` is not a positive number of milliseconds"),
                ));
            }
        },
        None => DEFAULT_OTLP_TIMEOUT,
    };
    let (endpoint, protocol) =
        otlp_endpoint(&endpoint, insecure, protocol, !exact).map_err(|m| env_error(source, m))?;
    Ok(Some((
        ExporterConfig::Otlp(OtlpConfig {
            endpoint,
            protocol,
            root_certificates,
            headers,
            timeout,
        }),
        source,
    )))
}

fn parse_protocol(text: &str) -> Option<Protocol> {
    match text.trim().to_ascii_lowercase().as_str() {
        "grpc" => Some(Protocol::Grpc),
        "http/protobuf" | "http" | "http/proto" => Some(Protocol::HttpProtobuf),
        _ => None,
    }
}

/// The exporter's URL and protocol for an endpoint written as `host:port` or a URL.
///
/// Without a scheme, `insecure` picks `http` (plaintext) or `https`. Without `protocol`,
/// port 4318 or a path ending in `/v1/traces` means OTLP/HTTP, anything else gRPC. For
/// HTTP, `/v1/traces` is appended to a general endpoint (`append_path`) that lacks it.
pub(crate) fn otlp_endpoint(
    written: &str,
    insecure: bool,
    protocol: Option<Protocol>,
    append_path: bool,
) -> Result<(String, Protocol), String> {
    let written = written.trim();
    let with_scheme = if written.contains("://") {
        written.to_owned()
    } else {
        format!("{}://{written}", if insecure { "http" } else { "https" })
    };
    let (scheme, rest) = with_scheme
        .split_once("://")
        .ok_or_else(|| format!("`{written}` is not host:port or a URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{written}`: the scheme must be http or https, not `{scheme}`"
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(format!(
            "`{written}` has no host (write host:port or a URL)"
        ));
    }
    let port = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => {
            if port.is_empty() || (authority.starts_with('[') && !host.ends_with(']')) {
                None
            } else {
                Some(
                    port.parse::<u16>()
                        .map_err(|_| format!("`{written}`: the port `{port}` is not a number"))?,
                )
            }
        }
        _ => None,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let protocol = protocol.unwrap_or(
        if port == Some(OTLP_HTTP_PORT)
            || path.trim_end_matches('/').ends_with(OTLP_HTTP_TRACES_PATH)
        {
            Protocol::HttpProtobuf
        } else {
            Protocol::Grpc
        },
    );
    let url = match protocol {
        Protocol::Grpc => format!("{scheme}://{authority}"),
        Protocol::HttpProtobuf => {
            let trimmed = path.trim_end_matches('/');
            if trimmed.ends_with(OTLP_HTTP_TRACES_PATH) || (!append_path && !trimmed.is_empty()) {
                format!("{scheme}://{authority}{trimmed}")
            } else {
                format!("{scheme}://{authority}{trimmed}{OTLP_HTTP_TRACES_PATH}")
            }
        }
    };
    Ok((url, protocol))
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `key=value,key2=value2`, values percent-decoded (the OTel environment's header form).
fn parse_header_list(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_owned(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && text.is_char_boundary(i + 1)
            && text.is_char_boundary(i + 3)
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_certificates(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the certificate file {}: {e}", path.display()))?;
    if !String::from_utf8_lossy(&bytes).contains("-----BEGIN CERTIFICATE-----") {
        return Err(format!(
            "{} is not a PEM certificate bundle (no BEGIN CERTIFICATE block)",
            path.display()
        ));
    }
    Ok(bytes)
}

fn batch_from_env(env: Env<'_>, notes: &mut Vec<Note>) -> BatchConfig {
    let mut batch = BatchConfig::default();
    let mut number = |name: &str| -> Option<u64> {
        let text = env(name)?;
        match text.trim().parse::<u64>() {
            Ok(n) if n > 0 => Some(n),
            _ => {
                notes.push(Note::Warn(format!(
                    "{name}=`{text}` is not a positive whole number; the default is used"
                )));
                None
            }
        }
    };
    if let Some(n) = number("OTEL_BSP_MAX_QUEUE_SIZE") {
        batch.max_queue_size = n as usize;
    }
    if let Some(n) = number("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
        batch.max_export_batch_size = n as usize;
    }
    if let Some(n) = number("OTEL_BSP_SCHEDULE_DELAY") {
        batch.schedule_delay = Duration::from_millis(n);
    }
    if let Some(n) = number("OTEL_BSP_EXPORT_TIMEOUT") {
        batch.export_timeout = Duration::from_millis(n);
    }
    // The OpenTelemetry specification: a batch is never larger than the queue.
    batch.max_export_batch_size = batch.max_export_batch_size.min(batch.max_queue_size);
    batch
}

fn sampler_from_env(env: Env<'_>, notes: &mut Vec<Note>) -> SamplerConfig {
    let Some(name) = env("OTEL_TRACES_SAMPLER") else {
        return SamplerConfig::ParentBasedAlwaysOn;
    };
    let name = name.trim().to_ascii_lowercase();
    let mut ratio = || match env("OTEL_TRACES_SAMPLER_ARG") {
        None => 1.0,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                notes.push(Note::Warn(format!(
                    "OTEL_TRACES_SAMPLER_ARG=`{text}` is not a number from 0 to 1; 1 is used"
                )));
                1.0
            }
        },
    };
    match name.as_str() {
        "always_on" => SamplerConfig::AlwaysOn,
        "always_off" => SamplerConfig::AlwaysOff,
        "traceidratio" => SamplerConfig::TraceIdRatio(ratio()),
        "parentbased_always_on" => SamplerConfig::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerConfig::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerConfig::ParentBasedTraceIdRatio(ratio()),
        other => {
            notes.push(Note::Warn(format!(
                "OTEL_TRACES_SAMPLER=`{other}` is not supported; parentbased_always_on is used"
            )));
            SamplerConfig::ParentBasedAlwaysOn
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Typed reads of an entry's keys, each error naming file, line and key.
struct Field<'a> {
    entry: &'a EndpointConfig,
}

impl Field<'_> {
    fn invalid(&self, key: &str, message: &str) -> ConfigError {
        ConfigError::Invalid {
            pos: self.entry.pos_of(key).to_string(),
            key: key.to_owned(),
            message: message.to_owned(),
        }
    }

    fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.entry.params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(_) => Err(self.invalid(key, "must be a single value, not a list or mapping")),
        }
    }

    fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.entry.params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(_) => Err(self.invalid(key, "must be true or false")),
        }
    }

    fn port(&self, key: &str) -> Result<Option<u16>, ConfigError> {
        match self.entry.params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match value_text(v).trim().parse::<u16>() {
                Ok(p) if p > 0 => Ok(Some(p)),
                _ => Err(self.invalid(
                    key,
                    &format!("`{}` is not a port number (1-65535)", value_text(v)),
                )),
            },
        }
    }

    fn certificates(&self, key: &str) -> Result<Option<Vec<u8>>, ConfigError> {
        match self.string(key)? {
            None => Ok(None),
            Some(path) => read_certificates(Path::new(path.trim()))
                .map(Some)
                .map_err(|m| self.invalid(key, &m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(yaml: &str) -> EndpointConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("endpoints.yml");
        std::fs::write(&path, yaml).unwrap();
        let mut warnings = Vec::new();
        rusa_project::load_endpoints(&path, &mut warnings)
            .unwrap()
            .unwrap()
            .tracing
            .unwrap()
    }

    fn resolve_with(
        tracing: Option<&EndpointConfig>,
        vars: &[(&str, &str)],
    ) -> Result<Resolved, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(
            tracing,
            Path::new("endpoints.yml"),
            &move |name| map.get(name).cloned(),
            DEFAULT_SERVICE_NAME,
        )
    }

    fn otlp_of(resolved: &Resolved) -> &OtlpConfig {
        match &resolved.config.as_ref().unwrap().exporter {
            ExporterConfig::Otlp(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_users_page_lists_every_variable() {
        let page = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/tracing.md"),
        )
        .unwrap();
        for (name, _) in ENVIRONMENT {
            assert!(
                page.contains(name),
                "docs/tracing.md does not mention {name}"
            );
        }
    }

    #[test]
    fn protocol_follows_the_port_and_path() {
        let cases = [
            ("localhost:4318", false, "https://localhost:4318/v1/traces"),
            (
                "http://collector:4318",
                false,
                "http://collector:4318/v1/traces",
            ),
            ("localhost:4317", true, "http://localhost:4317"),
            (
                "https://otlp.example.com/v1/traces",
                false,
                "https://otlp.example.com/v1/traces",
            ),
            (
                "https://otlp.example.com:443/api/v1/traces/",
                false,
                "https://otlp.example.com:443/api/v1/traces",
            ),
            ("[::1]:4317", true, "http://[::1]:4317"),
        ];
        for (written, insecure, url) in cases {
            let (got, _) = otlp_endpoint(written, insecure, None, true).unwrap();
            assert_eq!(got, url, "{written}");
        }
        let (_, p) = otlp_endpoint("localhost:4318", true, None, true).unwrap();
        assert_eq!(p, Protocol::HttpProtobuf);
        let (_, p) = otlp_endpoint("localhost:4317", true, None, true).unwrap();
        assert_eq!(p, Protocol::Grpc);
        let (url, p) = otlp_endpoint("localhost:4318", true, Some(Protocol::Grpc), true).unwrap();
        assert_eq!((url.as_str(), p), ("http://localhost:4318", Protocol::Grpc));
        assert!(otlp_endpoint("localhost:43x8", true, None, true).is_err());
        assert!(otlp_endpoint("ftp://h:1", true, None, true).is_err());
    }

    #[test]
    fn otlp_entry_is_read_with_its_keys() {
        let e = entry(
            "tracing:\n  type: otlp\n  endpoint: localhost:4317\n  insecure: true\n  service_name: my-bot\n  headers:\n    x-api-key: secret\n  sync_export: true\n",
        );
        let r = resolve_with(Some(&e), &[("OTEL_SERVICE_NAME", "other")]).unwrap();
        let config = r.config.as_ref().unwrap();
        assert_eq!(config.service_name, "my-bot");
        assert!(config.sync_export);
        let o = otlp_of(&r);
        assert_eq!(o.endpoint, "http://localhost:4317");
        assert_eq!(o.protocol, Protocol::Grpc);
        assert_eq!(o.headers, vec![("x-api-key".into(), "secret".into())]);
        // The secret never shows in debug output.
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn service_name_resolution() {
        let e = entry("tracing:\n  type: jaeger\n");
        let name = |vars: &[(&str, &str)]| {
            resolve_with(Some(&e), vars)
                .unwrap()
                .config
                .unwrap()
                .service_name
        };
        assert_eq!(name(&[]), "rusa");
        assert_eq!(name(&[("TRACING_SERVICE_NAME", "t")]), "t");
        assert_eq!(
            name(&[("TRACING_SERVICE_NAME", "t"), ("OTEL_SERVICE_NAME", "o")]),
            "o"
        );
    }

    #[test]
    fn jaeger_defaults_and_otlp_protocol() {
        let e = entry("tracing:\n  type: jaeger\n");
        let r = resolve_with(Some(&e), &[]).unwrap();
        assert_eq!(
            r.config.unwrap().exporter,
            ExporterConfig::JaegerUdp {
                host: "localhost".into(),
                port: 6831
            }
        );
        let e = entry(
            "tracing:\n  type: jaeger\n  host: jaeger\n  protocol: otlp\n  username: u\n  password: p\n",
        );
        let r = resolve_with(Some(&e), &[]).unwrap();
        let o = otlp_of(&r);
        assert_eq!(o.endpoint, "http://jaeger:4317");
        assert_eq!(o.headers[0], ("authorization".into(), "Basic dTpw".into()));
    }

    #[test]
    fn unknown_or_missing_type_warns_and_turns_tracing_off() {
        let e = entry("tracing:\n  type: zipkin\n  port: 9411\n");
        let r = resolve_with(Some(&e), &[]).unwrap();
        assert!(r.config.is_none());
        let Note::Warn(w) = &r.notes[0] else {
            panic!("{:?}", r.notes)
        };
        assert!(
            w.contains("unknown tracing type `zipkin`") && w.contains("endpoints.yml:2"),
            "{w}"
        );
        let e = entry("tracing:\n  tpye: jaeger\n");
        let r = resolve_with(Some(&e), &[]).unwrap();
        assert!(r.config.is_none());
        assert!(
            matches!(&r.notes[0], Note::Warn(w) if w.contains("no `type`") && w.contains("`tpye`")),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn malformed_values_name_file_line_and_key() {
        let e = entry("tracing:\n  type: jaeger\n  port: sixty\n");
        let err = resolve_with(Some(&e), &[]).unwrap_err().to_string();
        assert!(
            err.contains("endpoints.yml:3") && err.contains("`port`") && err.contains("sixty"),
            "{err}"
        );
        let e = entry(
            "tracing:\n  type: otlp\n  endpoint: h:4317\n  root_certificates: /no/such/ca.pem\n",
        );
        let err = resolve_with(Some(&e), &[]).unwrap_err().to_string();
        assert!(
            err.contains("endpoints.yml:4") && err.contains("root_certificates"),
            "{err}"
        );
        let e = entry("tracing:\n  type: otlp\n");
        let err = resolve_with(Some(&e), &[]).unwrap_err().to_string();
        assert!(err.contains("endpoint"), "{err}");
    }

    #[test]
    fn unknown_keys_warn_with_a_suggestion() {
        let e = entry("tracing:\n  type: otlp\n  endpoint: h:4317\n  insecur: true\n");
        let r = resolve_with(Some(&e), &[]).unwrap();
        assert!(r.config.is_some());
        assert!(
            r.notes
                .iter()
                .any(|n| matches!(n, Note::Warn(w) if w.contains("did you mean `insecure`"))),
            "{:?}",
            r.notes
        );
    }

    #[test]
    fn environment_alone_configures_otlp_and_can_disable() {
        let r = resolve_with(
            None,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=a%20b,x=y"),
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
                ("OTEL_TRACES_SAMPLER", "traceidratio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ],
        )
        .unwrap();
        let o = otlp_of(&r);
        assert_eq!(o.endpoint, "http://collector:4318/v1/traces");
        assert_eq!(o.headers[0], ("api-key".into(), "a b".into()));
        let config = r.config.as_ref().unwrap();
        assert_eq!(config.batch.max_queue_size, 100);
        assert_eq!(config.batch.max_export_batch_size, 100);
        assert_eq!(config.sampler, SamplerConfig::TraceIdRatio(0.25));
        assert_eq!(config.source, "OTEL_EXPORTER_OTLP_ENDPOINT");

        let r = resolve_with(None, &[]).unwrap();
        assert!(r.config.is_none());
        assert!(matches!(&r.notes[0], Note::Info(i) if i.contains("no `tracing:` entry")));

        let e = entry("tracing:\n  type: jaeger\n");
        let r = resolve_with(Some(&e), &[("OTEL_SDK_DISABLED", "TRUE")]).unwrap();
        assert!(r.config.is_none());
    }
}
