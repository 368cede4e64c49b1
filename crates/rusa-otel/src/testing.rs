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
        layer(self.provider.tracer(SCOPE), false)
    }

    /// The layer an action server installs: spans of every crate, writing to memory.
    pub fn layer_for_all_targets<S>(&self) -> impl Layer<S> + use<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        layer(self.provider.tracer(SCOPE), true)
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

pub use receiver::{DecodedSpan, Receiver, TestCa};

/// OTLP receivers for tests: they decode what arrives with the OpenTelemetry protocol's own
/// message types (independently of the exporter that encoded it).
mod receiver {
    use std::collections::BTreeMap;
    use std::net::SocketAddr;
    use std::sync::{Arc, Condvar, Mutex};
    use std::time::{Duration, Instant};

    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
        TraceService, TraceServiceServer,
    };
    use opentelemetry_proto::tonic::collector::trace::v1::{
        ExportTraceServiceRequest, ExportTraceServiceResponse,
    };
    use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
    use prost::Message as _;

    /// One span as a receiver decoded it.
    #[derive(Debug, Clone)]
    pub struct DecodedSpan {
        pub name: String,
        pub trace_id: String,
        pub span_id: String,
        /// Empty for a root span.
        pub parent_span_id: String,
        /// OTLP's numbers: 1 internal, 2 server, 3 client.
        pub kind: i32,
        pub attributes: BTreeMap<String, String>,
        /// 0 unset, 1 ok, 2 error.
        pub status_code: i32,
        pub event_names: Vec<String>,
        pub service_name: String,
        pub resource: BTreeMap<String, String>,
    }

    #[derive(Default)]
    struct Inbox {
        spans: Mutex<Vec<DecodedSpan>>,
        /// Raw request bodies, for byte-level checks (privacy canaries).
        raw: Mutex<Vec<Vec<u8>>>,
        /// Request headers (HTTP) or metadata (gRPC) of each request.
        headers: Mutex<Vec<Vec<(String, String)>>>,
        arrived: Condvar,
    }

    impl Inbox {
        fn take(&self, request: &ExportTraceServiceRequest, headers: Vec<(String, String)>) {
            let mut raw = self.raw.lock().unwrap_or_else(|e| e.into_inner());
            raw.push(request.encode_to_vec());
            drop(raw);
            self.headers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(headers);
            let mut spans = self.spans.lock().unwrap_or_else(|e| e.into_inner());
            for rs in &request.resource_spans {
                let resource: BTreeMap<String, String> = rs
                    .resource
                    .as_ref()
                    .map(|r| attributes(&r.attributes))
                    .unwrap_or_default();
                let service_name = resource.get("service.name").cloned().unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        spans.push(DecodedSpan {
                            name: s.name.clone(),
                            trace_id: hex(&s.trace_id),
                            span_id: hex(&s.span_id),
                            parent_span_id: hex(&s.parent_span_id),
                            kind: s.kind,
                            attributes: attributes(&s.attributes),
                            status_code: s.status.as_ref().map_or(0, |st| st.code),
                            event_names: s.events.iter().map(|e| e.name.clone()).collect(),
                            service_name: service_name.clone(),
                            resource: resource.clone(),
                        });
                    }
                }
            }
            self.arrived.notify_all();
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn attributes(
        kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
    ) -> BTreeMap<String, String> {
        kvs.iter()
            .map(|kv| {
                let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(AnyValue::StringValue(s)) => s.clone(),
                    Some(AnyValue::IntValue(i)) => i.to_string(),
                    Some(AnyValue::BoolValue(b)) => b.to_string(),
                    Some(AnyValue::DoubleValue(d)) => d.to_string(),
                    Some(other) => format!("{other:?}"),
                    None => String::new(),
                };
                (kv.key.clone(), value)
            })
            .collect()
    }

    /// A running receiver: OTLP/gRPC (plaintext or TLS) or OTLP/HTTP on 127.0.0.1.
    pub struct Receiver {
        pub addr: SocketAddr,
        inbox: Arc<Inbox>,
        _runtime: tokio::runtime::Runtime,
    }

    impl std::fmt::Debug for Receiver {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Receiver")
                .field("addr", &self.addr)
                .finish()
        }
    }

    struct Service(Arc<Inbox>);

    #[tonic::async_trait]
    impl TraceService for Service {
        async fn export(
            &self,
            request: tonic::Request<ExportTraceServiceRequest>,
        ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
            let headers = request
                .metadata()
                .iter()
                .filter_map(|kv| match kv {
                    tonic::metadata::KeyAndValueRef::Ascii(k, v) => {
                        Some((k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                    }
                    tonic::metadata::KeyAndValueRef::Binary(..) => None,
                })
                .collect();
            self.0.take(request.get_ref(), headers);
            Ok(tonic::Response::new(ExportTraceServiceResponse {
                partial_success: None,
            }))
        }
    }

    impl Receiver {
        /// OTLP over gRPC; with `tls` (certificate and key PEM), over TLS.
        pub fn grpc(tls: Option<(String, String)>) -> Self {
            let runtime = runtime();
            let inbox = Arc::new(Inbox::default());
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind a local port");
            let addr = listener.local_addr().expect("a local address");
            let service = TraceServiceServer::new(Service(Arc::clone(&inbox)));
            let mut builder = tonic::transport::Server::builder();
            if let Some((cert, key)) = tls {
                builder = builder
                    .tls_config(
                        tonic::transport::ServerTlsConfig::new()
                            .identity(tonic::transport::Identity::from_pem(cert, key)),
                    )
                    .expect("a TLS configuration");
            }
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            runtime.spawn(builder.add_service(service).serve_with_incoming(incoming));
            Self {
                addr,
                inbox,
                _runtime: runtime,
            }
        }

        /// OTLP over HTTP/protobuf at `/v1/traces`.
        pub fn http() -> Self {
            let runtime = runtime();
            let inbox = Arc::new(Inbox::default());
            let listener = runtime
                .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
                .expect("bind a local port");
            let addr = listener.local_addr().expect("a local address");
            let app_inbox = Arc::clone(&inbox);
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(
                    move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                        let inbox = Arc::clone(&app_inbox);
                        async move {
                            let headers = headers
                                .iter()
                                .map(|(k, v)| {
                                    (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                                })
                                .collect();
                            match ExportTraceServiceRequest::decode(body) {
                                Ok(request) => {
                                    inbox.take(&request, headers);
                                    (
                                        axum::http::StatusCode::OK,
                                        ExportTraceServiceResponse {
                                            partial_success: None,
                                        }
                                        .encode_to_vec(),
                                    )
                                }
                                Err(_) => (axum::http::StatusCode::BAD_REQUEST, Vec::new()),
                            }
                        }
                    },
                ),
            );
            runtime.spawn(async move { axum::serve(listener, app).await });
            Self {
                addr,
                inbox,
                _runtime: runtime,
            }
        }

        /// The spans received so far.
        pub fn spans(&self) -> Vec<DecodedSpan> {
            self.inbox
                .spans
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }

        /// The request bodies received so far, as they came (protobuf).
        pub fn raw(&self) -> Vec<Vec<u8>> {
            self.inbox
                .raw
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }

        /// The headers (or gRPC metadata) of the requests received so far.
        pub fn headers(&self) -> Vec<Vec<(String, String)>> {
            self.inbox
                .headers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        }

        /// Waits until `done` holds for the spans received, at most `limit`; returns them.
        pub fn wait_for(
            &self,
            limit: Duration,
            done: impl Fn(&[DecodedSpan]) -> bool,
        ) -> Vec<DecodedSpan> {
            let deadline = Instant::now() + limit;
            let mut spans = self.inbox.spans.lock().unwrap_or_else(|e| e.into_inner());
            while !done(&spans) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                spans = self
                    .inbox
                    .arrived
                    .wait_timeout(spans, deadline - now)
                    .map(|(s, _)| s)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            spans.clone()
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the receiver")
    }

    /// A certificate authority made for one test, and a server certificate for
    /// `localhost` and 127.0.0.1 signed by it.
    #[derive(Debug)]
    pub struct TestCa {
        pub ca_pem: String,
        pub server_cert_pem: String,
        pub server_key_pem: String,
    }

    impl TestCa {
        pub fn new() -> Self {
            let mut ca_params =
                rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
            ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            ca_params
                .distinguished_name
                .push(rcgen::DnType::CommonName, "rusa test CA");
            let ca_key = rcgen::KeyPair::generate().expect("a CA key");
            let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("a CA");
            let server_params =
                rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                    .expect("server parameters");
            let server_key = rcgen::KeyPair::generate().expect("a server key");
            let server = server_params
                .signed_by(&server_key, &ca)
                .expect("a server certificate");
            Self {
                ca_pem: ca.pem(),
                server_cert_pem: server.pem(),
                server_key_pem: server_key.serialize_pem(),
            }
        }
    }

    impl Default for TestCa {
        fn default() -> Self {
            Self::new()
        }
    }
}

/// A decoder of the Jaeger agent's `emitBatch` datagrams on the `thrift` crate's compact
/// protocol: independent of rusa's hand-written encoder, for tests.
pub mod jaeger_wire {
    #![allow(clippy::missing_panics_doc)]
    use std::io::Cursor;

    use thrift::protocol::{TCompactInputProtocol, TInputProtocol, TMessageIdentifier, TType};

    #[derive(Debug, Default, PartialEq)]
    pub struct DTag {
        pub key: String,
        pub v_type: i32,
        pub v_str: Option<String>,
        pub v_double: Option<f64>,
        pub v_bool: Option<bool>,
        pub v_long: Option<i64>,
        pub v_binary: Option<Vec<u8>>,
    }

    #[derive(Debug, Default)]
    pub struct DLog {
        pub timestamp: i64,
        pub fields: Vec<DTag>,
    }

    #[derive(Debug, Default)]
    pub struct DRef {
        pub ref_type: i32,
        pub trace_low: i64,
        pub trace_high: i64,
        pub span_id: i64,
    }

    #[derive(Debug, Default)]
    pub struct DSpan {
        pub trace_low: i64,
        pub trace_high: i64,
        pub span_id: i64,
        pub parent_span_id: i64,
        pub operation_name: String,
        pub references: Vec<DRef>,
        pub flags: i32,
        pub start_time: i64,
        pub duration: i64,
        pub tags: Vec<DTag>,
        pub logs: Vec<DLog>,
    }

    impl DSpan {
        pub fn tag(&self, key: &str) -> Option<&DTag> {
            self.tags.iter().find(|t| t.key == key)
        }
    }

    #[derive(Debug, Default)]
    pub struct DBatch {
        pub service_name: String,
        pub process_tags: Vec<DTag>,
        pub spans: Vec<DSpan>,
    }

    pub type R<T> = thrift::Result<T>;

    /// Reads a struct, calling `field` for each field (id, type); stop ends it.
    pub fn read_struct<P: TInputProtocol>(
        p: &mut P,
        mut field: impl FnMut(&mut P, i16, TType) -> R<()>,
    ) -> R<()> {
        p.read_struct_begin()?;
        loop {
            let f = p.read_field_begin()?;
            if f.field_type == TType::Stop {
                break;
            }
            let id = f.id.unwrap_or_else(|| panic!("field without id"));
            field(p, id, f.field_type)?;
            p.read_field_end()?;
        }
        p.read_struct_end()
    }

    pub fn read_list<P: TInputProtocol, T>(
        p: &mut P,
        mut elem: impl FnMut(&mut P) -> R<T>,
    ) -> R<Vec<T>> {
        let l = p.read_list_begin()?;
        assert_eq!(l.element_type, TType::Struct);
        let mut out = Vec::new();
        for _ in 0..l.size {
            out.push(elem(p)?);
        }
        p.read_list_end()?;
        Ok(out)
    }

    pub fn unexpected(what: &str, id: i16, ty: TType) -> ! {
        panic!("{what}: unexpected field {id} of type {ty:?}")
    }

    pub fn read_tag<P: TInputProtocol>(p: &mut P) -> R<DTag> {
        let mut t = DTag::default();
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::String) => t.key = p.read_string()?,
                (2, TType::I32) => t.v_type = p.read_i32()?,
                (3, TType::String) => t.v_str = Some(p.read_string()?),
                (4, TType::Double) => t.v_double = Some(p.read_double()?),
                (5, TType::Bool) => t.v_bool = Some(p.read_bool()?),
                (6, TType::I64) => t.v_long = Some(p.read_i64()?),
                (7, TType::String) => t.v_binary = Some(p.read_bytes()?),
                _ => unexpected("Tag", id, ty),
            }
            Ok(())
        })?;
        Ok(t)
    }

    pub fn read_log<P: TInputProtocol>(p: &mut P) -> R<DLog> {
        let mut l = DLog::default();
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::I64) => l.timestamp = p.read_i64()?,
                (2, TType::List) => l.fields = read_list(p, read_tag)?,
                _ => unexpected("Log", id, ty),
            }
            Ok(())
        })?;
        Ok(l)
    }

    pub fn read_ref<P: TInputProtocol>(p: &mut P) -> R<DRef> {
        let mut r = DRef::default();
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::I32) => r.ref_type = p.read_i32()?,
                (2, TType::I64) => r.trace_low = p.read_i64()?,
                (3, TType::I64) => r.trace_high = p.read_i64()?,
                (4, TType::I64) => r.span_id = p.read_i64()?,
                _ => unexpected("SpanRef", id, ty),
            }
            Ok(())
        })?;
        Ok(r)
    }

    pub fn read_span<P: TInputProtocol>(p: &mut P) -> R<DSpan> {
        let mut s = DSpan::default();
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::I64) => s.trace_low = p.read_i64()?,
                (2, TType::I64) => s.trace_high = p.read_i64()?,
                (3, TType::I64) => s.span_id = p.read_i64()?,
                (4, TType::I64) => s.parent_span_id = p.read_i64()?,
                (5, TType::String) => s.operation_name = p.read_string()?,
                (6, TType::List) => s.references = read_list(p, read_ref)?,
                (7, TType::I32) => s.flags = p.read_i32()?,
                (8, TType::I64) => s.start_time = p.read_i64()?,
                (9, TType::I64) => s.duration = p.read_i64()?,
                (10, TType::List) => s.tags = read_list(p, read_tag)?,
                (11, TType::List) => s.logs = read_list(p, read_log)?,
                _ => unexpected("Span", id, ty),
            }
            Ok(())
        })?;
        Ok(s)
    }

    pub fn read_batch<P: TInputProtocol>(p: &mut P) -> R<DBatch> {
        let mut b = DBatch::default();
        read_struct(p, |p, id, ty| {
            match (id, ty) {
                (1, TType::Struct) => read_struct(p, |p, id, ty| {
                    match (id, ty) {
                        (1, TType::String) => b.service_name = p.read_string()?,
                        (2, TType::List) => b.process_tags = read_list(p, read_tag)?,
                        _ => unexpected("Process", id, ty),
                    }
                    Ok(())
                })?,
                (2, TType::List) => b.spans = read_list(p, read_span)?,
                _ => unexpected("Batch", id, ty),
            }
            Ok(())
        })?;
        Ok(b)
    }

    /// Decodes one datagram; every byte must belong to the message.
    pub fn decode(datagram: &[u8]) -> (TMessageIdentifier, DBatch) {
        let mut cursor = Cursor::new(datagram);
        let (message, batch) = {
            let mut p = TCompactInputProtocol::new(&mut cursor);
            let message = p.read_message_begin().expect("message header");
            let mut batch = None;
            read_struct(&mut p, |p, id, ty| {
                match (id, ty) {
                    (1, TType::Struct) => batch = Some(read_batch(p)?),
                    _ => unexpected("emitBatch_args", id, ty),
                }
                Ok(())
            })
            .expect("emitBatch args");
            p.read_message_end().expect("message end");
            (message, batch.expect("batch field"))
        };
        assert_eq!(cursor.position() as usize, datagram.len(), "trailing bytes");
        (message, batch)
    }
}
