//! Jaeger agent exporter: OpenTelemetry spans sent to a Jaeger agent as `Agent.emitBatch`
//! oneway calls (jaeger.thrift / agent.thrift), encoded in the Thrift compact protocol by the
//! small encoder below, one complete message per UDP datagram.
//!
//! A batch is split over as many datagrams as needed so that none exceeds
//! [`MAX_PACKET_SIZE`]; a span that does not fit in a datagram on its own is dropped and
//! counted ([`JaegerUdpExporter::oversized_counter`]).
//!
//! The agent's host is resolved on export, not when the exporter is made: an agent that is
//! not there yet does not stop the program. The resolved address is kept until a send fails.

use std::borrow::Cow;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry::trace::{SpanKind, Status};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Default agent port (compact thrift over UDP).
pub const DEFAULT_AGENT_PORT: u16 = 6831;
/// Largest datagram payload sent: a whole `emitBatch` message never exceeds it.
pub const MAX_PACKET_SIZE: usize = 65_000;

/// Service name used when the resource has no `service.name`.
const DEFAULT_SERVICE_NAME: &str = "rusa";
/// Upper bound on one blocking `send_to` (only reached if the socket's send buffer stays full).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Thrift compact protocol: the few pieces `emitBatch` needs.
mod compact {
    pub(super) const BOOL_TRUE: u8 = 1;
    pub(super) const BOOL_FALSE: u8 = 2;
    pub(super) const I32: u8 = 5;
    pub(super) const I64: u8 = 6;
    pub(super) const DOUBLE: u8 = 7;
    pub(super) const BINARY: u8 = 8;
    pub(super) const LIST: u8 = 9;
    pub(super) const STRUCT: u8 = 12;

    /// Protocol id, then version 1 with message type ONEWAY (4) in the top three bits.
    pub(super) const ONEWAY_HEADER: [u8; 2] = [0x82, 0x01 | (4 << 5)];
    /// The stop byte that ends a struct.
    pub(super) const STOP: u8 = 0;

    pub(super) fn varint(buf: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            buf.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        buf.push(v as u8);
    }

    pub(super) fn varint_len(mut v: u64) -> usize {
        let mut n = 1;
        while v >= 0x80 {
            v >>= 7;
            n += 1;
        }
        n
    }

    pub(super) fn zigzag32(v: i32) -> u64 {
        u64::from(((v << 1) ^ (v >> 31)) as u32)
    }

    pub(super) fn zigzag64(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    /// String or binary: varint length, then the bytes.
    pub(super) fn binary(buf: &mut Vec<u8>, bytes: &[u8]) {
        varint(buf, bytes.len() as u64);
        buf.extend_from_slice(bytes);
    }

    pub(super) fn list_header(buf: &mut Vec<u8>, size: usize, elem: u8) {
        if size < 15 {
            buf.push(((size as u8) << 4) | elem);
        } else {
            buf.push(0xf0 | elem);
            varint(buf, size as u64);
        }
    }

    pub(super) fn list_header_len(size: usize) -> usize {
        if size < 15 {
            1
        } else {
            1 + varint_len(size as u64)
        }
    }

    /// Writes the fields of one struct, delta-encoding field ids against the previous field
    /// of the same struct. A nested struct gets its own writer (ids start again from 0).
    pub(super) struct StructWriter<'a> {
        buf: &'a mut Vec<u8>,
        last: i16,
    }

    impl<'a> StructWriter<'a> {
        pub(super) fn new(buf: &'a mut Vec<u8>) -> Self {
            Self { buf, last: 0 }
        }

        /// The buffer, to write a field's value (a nested struct, list elements).
        pub(super) fn buf(&mut self) -> &mut Vec<u8> {
            self.buf
        }

        pub(super) fn header(&mut self, id: i16, ty: u8) {
            let delta = i32::from(id) - i32::from(self.last);
            if (1..=15).contains(&delta) {
                self.buf.push(((delta as u8) << 4) | ty);
            } else {
                self.buf.push(ty);
                varint(self.buf, zigzag32(i32::from(id)));
            }
            self.last = id;
        }

        pub(super) fn bool(&mut self, id: i16, v: bool) {
            self.header(id, if v { BOOL_TRUE } else { BOOL_FALSE });
        }

        pub(super) fn i32(&mut self, id: i16, v: i32) {
            self.header(id, I32);
            varint(self.buf, zigzag32(v));
        }

        pub(super) fn i64(&mut self, id: i16, v: i64) {
            self.header(id, I64);
            varint(self.buf, zigzag64(v));
        }

        pub(super) fn double(&mut self, id: i16, v: f64) {
            self.header(id, DOUBLE);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }

        pub(super) fn string(&mut self, id: i16, v: &str) {
            self.header(id, BINARY);
            binary(self.buf, v.as_bytes());
        }

        /// Field header and list header; the caller then writes `size` elements.
        pub(super) fn list(&mut self, id: i16, size: usize, elem: u8) {
            self.header(id, LIST);
            list_header(self.buf, size, elem);
        }

        /// Writes the stop byte.
        pub(super) fn end(self) {
            self.buf.push(STOP);
        }
    }
}

use compact::StructWriter;

// jaeger.thrift enums.
const TAG_STRING: i32 = 0;
const TAG_DOUBLE: i32 = 1;
const TAG_BOOL: i32 = 2;
const TAG_LONG: i32 = 3;
const SPAN_REF_FOLLOWS_FROM: i32 = 1;

/// A Jaeger tag's value.
enum TagValue<'a> {
    Str(Cow<'a, str>),
    Double(f64),
    Bool(bool),
    Long(i64),
}

impl<'a> From<&'a Value> for TagValue<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Bool(v) => TagValue::Bool(*v),
            Value::I64(v) => TagValue::Long(*v),
            Value::F64(v) => TagValue::Double(*v),
            Value::String(v) => TagValue::Str(Cow::Borrowed(v.as_str())),
            // Arrays (and any later kind of value) as their display form.
            other => TagValue::Str(other.as_str()),
        }
    }
}

/// `struct Tag { 1: key, 2: vType, 3: vStr | 4: vDouble | 5: vBool | 6: vLong }`
fn write_tag(buf: &mut Vec<u8>, key: &str, value: &TagValue<'_>) {
    let mut w = StructWriter::new(buf);
    w.string(1, key);
    match value {
        TagValue::Str(s) => {
            w.i32(2, TAG_STRING);
            w.string(3, s);
        }
        TagValue::Double(d) => {
            w.i32(2, TAG_DOUBLE);
            w.double(4, *d);
        }
        TagValue::Bool(b) => {
            w.i32(2, TAG_BOOL);
            w.bool(5, *b);
        }
        TagValue::Long(l) => {
            w.i32(2, TAG_LONG);
            w.i64(6, *l);
        }
    }
    w.end();
}

/// An optional `list<Tag>` field: attributes then `extra`; nothing when both are empty.
fn write_tags_field(
    w: &mut StructWriter<'_>,
    id: i16,
    attributes: &[KeyValue],
    extra: &[(&str, TagValue<'_>)],
) {
    let count = attributes.len() + extra.len();
    if count == 0 {
        return;
    }
    w.list(id, count, compact::STRUCT);
    for kv in attributes {
        write_tag(w.buf(), kv.key.as_str(), &TagValue::from(&kv.value));
    }
    for (key, value) in extra {
        write_tag(w.buf(), key, value);
    }
}

/// Microseconds since the Unix epoch (0 before it, saturating far after it).
fn micros_since_epoch(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// A 128-bit trace id as (high, low) signed halves of its big-endian bytes.
fn trace_id_parts(bytes: [u8; 16]) -> (i64, i64) {
    let mut high = [0u8; 8];
    let mut low = [0u8; 8];
    high.copy_from_slice(&bytes[..8]);
    low.copy_from_slice(&bytes[8..]);
    (i64::from_be_bytes(high), i64::from_be_bytes(low))
}

/// `struct Span`, including its stop byte.
fn write_span(buf: &mut Vec<u8>, span: &SpanData) {
    let (trace_high, trace_low) = trace_id_parts(span.span_context.trace_id().to_bytes());
    let mut w = StructWriter::new(buf);
    w.i64(1, trace_low);
    w.i64(2, trace_high);
    w.i64(
        3,
        i64::from_be_bytes(span.span_context.span_id().to_bytes()),
    );
    w.i64(4, i64::from_be_bytes(span.parent_span_id.to_bytes()));
    w.string(5, &span.name);

    // Links; the parent is given by parentSpanId alone.
    if !span.links.is_empty() {
        w.list(6, span.links.len(), compact::STRUCT);
        for link in span.links.iter() {
            let (high, low) = trace_id_parts(link.span_context.trace_id().to_bytes());
            let mut r = StructWriter::new(w.buf());
            r.i32(1, SPAN_REF_FOLLOWS_FROM);
            r.i64(2, low);
            r.i64(3, high);
            r.i64(
                4,
                i64::from_be_bytes(link.span_context.span_id().to_bytes()),
            );
            r.end();
        }
    }

    w.i32(7, i32::from(span.span_context.trace_flags().is_sampled()));
    let start = micros_since_epoch(span.start_time);
    let end = micros_since_epoch(span.end_time);
    w.i64(8, start);
    w.i64(9, end.saturating_sub(start).max(0));

    let mut extra: Vec<(&str, TagValue<'_>)> = Vec::with_capacity(5);
    let kind = match span.span_kind {
        SpanKind::Client => Some("client"),
        SpanKind::Server => Some("server"),
        SpanKind::Producer => Some("producer"),
        SpanKind::Consumer => Some("consumer"),
        SpanKind::Internal => None,
    };
    if let Some(kind) = kind {
        extra.push(("span.kind", TagValue::Str(Cow::Borrowed(kind))));
    }
    match &span.status {
        Status::Unset => {}
        Status::Ok => extra.push(("otel.status_code", TagValue::Str(Cow::Borrowed("OK")))),
        Status::Error { description } => {
            extra.push(("otel.status_code", TagValue::Str(Cow::Borrowed("ERROR"))));
            extra.push(("error", TagValue::Bool(true)));
            if !description.is_empty() {
                extra.push((
                    "otel.status_description",
                    TagValue::Str(Cow::Borrowed(description.as_ref())),
                ));
            }
        }
    }
    let scope = &span.instrumentation_scope;
    if !scope.name().is_empty() {
        extra.push((
            "otel.scope.name",
            TagValue::Str(Cow::Borrowed(scope.name())),
        ));
        if let Some(version) = scope.version().filter(|v| !v.is_empty()) {
            extra.push(("otel.scope.version", TagValue::Str(Cow::Borrowed(version))));
        }
    }
    write_tags_field(&mut w, 10, &span.attributes, &extra);

    // Events as logs: `struct Log { 1: timestamp, 2: fields }`, fields `event` then attributes.
    if !span.events.is_empty() {
        w.list(11, span.events.len(), compact::STRUCT);
        for event in span.events.iter() {
            let mut l = StructWriter::new(w.buf());
            l.i64(1, micros_since_epoch(event.timestamp));
            l.list(2, 1 + event.attributes.len(), compact::STRUCT);
            write_tag(l.buf(), "event", &TagValue::Str(Cow::Borrowed(&event.name)));
            for kv in &event.attributes {
                write_tag(l.buf(), kv.key.as_str(), &TagValue::from(&kv.value));
            }
            l.end();
        }
    }
    w.end();
}

/// Everything of an `emitBatch` message before the spans list header: message header, the
/// args struct's field 1 (Batch), the Batch's field 1 (Process) and the header of its field 2
/// (`list<Span>`). The message is completed by the list header, the spans and [`SUFFIX`].
fn message_prefix(service_name: &str, process_tags: &[KeyValue]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(64);
    buf.extend_from_slice(&compact::ONEWAY_HEADER);
    compact::varint(&mut buf, 0); // seq id
    compact::binary(&mut buf, b"emitBatch");
    let mut args = StructWriter::new(&mut buf);
    args.header(1, compact::STRUCT);
    let mut batch = StructWriter::new(args.buf());
    batch.header(1, compact::STRUCT);
    let mut process = StructWriter::new(batch.buf());
    process.string(1, service_name);
    write_tags_field(&mut process, 2, process_tags, &[]);
    process.end();
    // Field 2, list<Span>: its header only (the element list header is written per datagram).
    batch.header(2, compact::LIST);
    buf
}

/// Stop of the Batch struct, then stop of the args struct.
const SUFFIX: [u8; 2] = [compact::STOP, compact::STOP];

fn assemble(prefix: &[u8], count: usize, spans: &[u8]) -> Vec<u8> {
    let len = prefix.len() + compact::list_header_len(count) + spans.len() + SUFFIX.len();
    let mut datagram = Vec::with_capacity(len);
    datagram.extend_from_slice(prefix);
    compact::list_header(&mut datagram, count, compact::STRUCT);
    datagram.extend_from_slice(spans);
    datagram.extend_from_slice(&SUFFIX);
    datagram
}

/// Encodes spans into datagrams (each a complete compact-protocol `emitBatch` oneway message),
/// splitting so that no datagram exceeds `max_packet`; returns the datagrams and the number of
/// spans dropped because alone they exceed `max_packet`. Spans keep their order; each is
/// encoded once and the datagrams are filled greedily.
pub fn encode_batches(
    service_name: &str,
    process_tags: &[KeyValue],
    spans: &[SpanData],
    max_packet: usize,
) -> (Vec<Vec<u8>>, usize) {
    let prefix = message_prefix(service_name, process_tags);
    let fixed = prefix.len() + SUFFIX.len();
    let mut datagrams = Vec::new();
    let mut dropped = 0;
    let mut scratch = Vec::new();
    // Encoded spans of the datagram being filled, and how many.
    let mut pending: Vec<u8> = Vec::new();
    let mut count = 0usize;
    for span in spans {
        scratch.clear();
        write_span(&mut scratch, span);
        if fixed + compact::list_header_len(1) + scratch.len() > max_packet {
            dropped += 1;
            continue;
        }
        if count > 0
            && fixed + compact::list_header_len(count + 1) + pending.len() + scratch.len()
                > max_packet
        {
            datagrams.push(assemble(&prefix, count, &pending));
            pending.clear();
            count = 0;
        }
        pending.extend_from_slice(&scratch);
        count += 1;
    }
    if count > 0 {
        datagrams.push(assemble(&prefix, count, &pending));
    }
    (datagrams, dropped)
}

/// The local sockets, one per address family, bound when first needed (IPv4 in `new`).
#[derive(Debug, Default)]
struct Sockets {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
}

fn bind(ipv6: bool) -> io::Result<UdpSocket> {
    let local = if ipv6 {
        SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))
    } else {
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
    };
    let socket = UdpSocket::bind(local)?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    Ok(socket)
}

impl Sockets {
    fn for_target(&mut self, target: SocketAddr) -> io::Result<&UdpSocket> {
        let slot = if target.is_ipv6() {
            &mut self.v6
        } else {
            &mut self.v4
        };
        if slot.is_none() {
            *slot = Some(bind(target.is_ipv6())?);
        }
        slot.as_ref()
            .ok_or_else(|| io::Error::other("no local UDP socket"))
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends spans to a Jaeger agent over UDP (see the module documentation).
///
/// Sending uses a blocking `std::net::UdpSocket::send_to` from within the async `export`: a
/// UDP send only copies the datagram into the kernel and does not wait for the peer, and the
/// socket has a write timeout (one second) for the rare case of a full send buffer.
/// Export runs on the exporter's own thread, so this never holds up other tasks.
#[derive(Debug)]
pub struct JaegerUdpExporter {
    host: String,
    port: u16,
    service_name: String,
    process_tags: Vec<KeyValue>,
    sockets: Mutex<Sockets>,
    /// The agent's address, once resolved; forgotten after a failed send.
    target: Mutex<Option<SocketAddr>>,
    oversized: Arc<AtomicU64>,
    shut_down: AtomicBool,
}

impl JaegerUdpExporter {
    /// An exporter to the agent at `host` (name or IP) and `port`. The host is resolved on
    /// export, so an unknown host is not an error here; only failing to bind a local UDP
    /// socket is.
    pub fn new(host: &str, port: u16) -> io::Result<Self> {
        let mut sockets = Sockets::default();
        match bind(false) {
            Ok(socket) => sockets.v4 = Some(socket),
            // An IPv6-only machine: fall back to an IPv6 socket.
            Err(e4) => sockets.v6 = Some(bind(true).map_err(|_| e4)?),
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            service_name: DEFAULT_SERVICE_NAME.to_owned(),
            process_tags: Vec::new(),
            sockets: Mutex::new(sockets),
            target: Mutex::new(None),
            oversized: Arc::default(),
            shut_down: AtomicBool::new(false),
        })
    }

    /// Shared counter of spans dropped because a single span does not fit in one datagram.
    pub fn oversized_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.oversized)
    }

    /// Counts oversized spans into `counter` (shared with the caller's figures) instead of
    /// a counter of its own.
    pub fn with_oversized_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.oversized = counter;
        self
    }

    /// The agent's address: the cached one, or a fresh lookup (IPv4 preferred).
    async fn target(&self) -> Result<SocketAddr, String> {
        if let Some(addr) = *lock(&self.target) {
            return Ok(addr);
        }
        let host = self.host.as_str();
        let failed = |e: io::Error| format!("cannot resolve {host}:{}: {e}", self.port);
        // In a tokio runtime the lookup runs on its blocking pool (so an export timeout can
        // cut it short); elsewhere it runs here.
        let addrs: Vec<SocketAddr> = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::net::lookup_host((host, self.port))
                .await
                .map_err(failed)?
                .collect()
        } else {
            std::net::ToSocketAddrs::to_socket_addrs(&(host, self.port))
                .map_err(failed)?
                .collect()
        };
        let addr = addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| format!("cannot resolve {host}:{}: no address", self.port))?;
        *lock(&self.target) = Some(addr);
        Ok(addr)
    }

    /// Sends every datagram (going on after a failure); the first error, if any.
    fn send_all(&self, target: SocketAddr, datagrams: &[Vec<u8>]) -> Result<(), String> {
        let mut sockets = lock(&self.sockets);
        let socket = sockets
            .for_target(target)
            .map_err(|e| format!("cannot open a UDP socket for {target}: {e}"))?;
        let mut failed = 0usize;
        let mut first_error = None;
        for datagram in datagrams {
            if let Err(e) = socket.send_to(datagram, target) {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(format!(
                "{failed} of {} datagrams not sent to the Jaeger agent at {target}: {e}",
                datagrams.len()
            )),
        }
    }
}

impl SpanExporter for JaegerUdpExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let (datagrams, dropped) = encode_batches(
            &self.service_name,
            &self.process_tags,
            &batch,
            MAX_PACKET_SIZE,
        );
        drop(batch);
        if dropped > 0 {
            self.oversized.fetch_add(dropped as u64, Ordering::Relaxed);
            tracing::debug!(
                dropped,
                max = MAX_PACKET_SIZE,
                "Jaeger exporter: spans too large for one datagram dropped"
            );
        }
        if datagrams.is_empty() {
            return Ok(());
        }
        let target = self.target().await.map_err(OTelSdkError::InternalFailure)?;
        self.send_all(target, &datagrams).map_err(|e| {
            // Look the host up again next time: it may have moved.
            *lock(&self.target) = None;
            tracing::debug!(error = %e, "Jaeger exporter: send failed");
            OTelSdkError::InternalFailure(e)
        })
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        let mut service_name = None;
        let mut tags = Vec::new();
        for (key, value) in resource.iter() {
            if key.as_str() == "service.name" {
                service_name = Some(value.as_str().into_owned());
            } else {
                tags.push(KeyValue::new(key.clone(), value.clone()));
            }
        }
        self.service_name = service_name.unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        self.process_tags = tags;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{Event, Link, SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    use opentelemetry::{InstrumentationScope, KeyValue};
    use opentelemetry_sdk::trace::{SpanEvents, SpanLinks};
    use std::collections::BTreeSet;
    use thrift::protocol::TMessageType;

    use crate::testing::jaeger_wire::*;

    // ---- Span building ----

    const TRACE: [u8; 16] = [
        0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0xf8, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
        0x0f,
    ];

    fn span_id(n: u64) -> SpanId {
        SpanId::from_bytes((n | 0xa000_0000_0000_0000).to_be_bytes())
    }

    fn id_i64(n: u64) -> i64 {
        i64::from_be_bytes(span_id(n).to_bytes())
    }

    fn at(micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_micros(micros)
    }

    fn span(n: u64, parent: Option<u64>, name: &str) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(TRACE),
                span_id(n),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, span_id),
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: Cow::Owned(name.to_owned()),
            start_time: at(1_700_000_000_000_000 + n),
            end_time: at(1_700_000_000_000_000 + n + 250),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: SpanEvents::default(),
            links: SpanLinks::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("rusa-test").build(),
        }
    }

    fn receiver() -> (UdpSocket, u16) {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind receiver");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        let port = socket.local_addr().expect("local addr").port();
        (socket, port)
    }

    fn recv(socket: &UdpSocket) -> Vec<u8> {
        let mut buf = vec![0u8; 70_000];
        let (n, _) = socket.recv_from(&mut buf).expect("a datagram");
        buf.truncate(n);
        buf
    }

    fn str_tag(s: &DSpan, key: &str) -> String {
        let t = s.tag(key).unwrap_or_else(|| panic!("tag {key}"));
        assert_eq!(t.v_type, TAG_STRING, "{key}");
        t.v_str.clone().expect("vStr")
    }

    // ---- Tests ----

    #[tokio::test]
    async fn exports_spans_over_udp_and_they_decode() {
        let (rx, port) = receiver();
        let mut exporter = JaegerUdpExporter::new("127.0.0.1", port).expect("exporter");
        exporter.set_resource(
            &Resource::builder_empty()
                .with_attributes([
                    KeyValue::new("service.name", "svc-test"),
                    KeyValue::new("host.name", "box-1"),
                    KeyValue::new("process.pid", 4242_i64),
                ])
                .build(),
        );

        let mut root = span(1, None, "handle request");
        root.span_kind = SpanKind::Server;
        root.status = Status::Ok;
        root.attributes = vec![
            KeyValue::new("http.method", "POST"),
            KeyValue::new("http.status_code", 200_i64),
            KeyValue::new("cache.hit", true),
            KeyValue::new("ratio", 0.25_f64),
            KeyValue::new("list", Value::Array(opentelemetry::Array::I64(vec![1, 2]))),
        ];

        let mut child = span(2, Some(1), "call model");
        child.span_kind = SpanKind::Client;
        child.status = Status::error("model timed out");
        child.events.events.push(Event::new(
            "retry",
            at(1_700_000_000_000_100),
            vec![KeyValue::new("attempt", 2_i64)],
            0,
        ));
        let other_trace = [7u8; 16];
        child.links.links.push(Link::with_context(SpanContext::new(
            TraceId::from_bytes(other_trace),
            span_id(99),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )));

        let mut producer = span(3, Some(1), "enqueue");
        producer.span_kind = SpanKind::Producer;
        producer.status = Status::error("");
        producer.instrumentation_scope = InstrumentationScope::builder("").build();

        exporter
            .export(vec![root, child, producer])
            .await
            .expect("export");

        let datagram = recv(&rx);
        assert!(datagram.len() <= MAX_PACKET_SIZE);
        let (message, batch) = decode(&datagram);
        assert_eq!(message.name, "emitBatch");
        assert_eq!(message.message_type, TMessageType::OneWay);
        assert_eq!(batch.service_name, "svc-test");
        assert!(batch.process_tags.iter().any(|t| t.key == "host.name"
            && t.v_type == TAG_STRING
            && t.v_str.as_deref() == Some("box-1")));
        assert!(
            batch
                .process_tags
                .iter()
                .any(|t| t.key == "process.pid" && t.v_type == TAG_LONG && t.v_long == Some(4242))
        );
        assert!(!batch.process_tags.iter().any(|t| t.key == "service.name"));

        let names: Vec<&str> = batch
            .spans
            .iter()
            .map(|s| s.operation_name.as_str())
            .collect();
        assert_eq!(names, ["handle request", "call model", "enqueue"]);
        let (high, low) = trace_id_parts(TRACE);
        assert_eq!(high, i64::from_be_bytes([0x80, 1, 2, 3, 4, 5, 6, 7]));
        assert!(high < 0 && low < 0, "the sign bit is kept");
        for s in &batch.spans {
            assert_eq!((s.trace_high, s.trace_low), (high, low));
            assert_eq!(s.flags, 1);
            assert_eq!(s.duration, 250);
        }

        let [root, child, producer] = &batch.spans[..] else {
            panic!("three spans")
        };
        assert_eq!(root.span_id, id_i64(1));
        assert_eq!(root.parent_span_id, 0);
        assert_eq!(root.start_time, 1_700_000_000_000_001);
        assert_eq!(child.span_id, id_i64(2));
        assert_eq!(child.parent_span_id, id_i64(1));
        assert_eq!(producer.parent_span_id, id_i64(1));

        assert_eq!(str_tag(root, "span.kind"), "server");
        assert_eq!(str_tag(child, "span.kind"), "client");
        assert_eq!(str_tag(producer, "span.kind"), "producer");

        assert_eq!(str_tag(root, "http.method"), "POST");
        let code = root.tag("http.status_code").expect("int tag");
        assert_eq!((code.v_type, code.v_long), (TAG_LONG, Some(200)));
        let hit = root.tag("cache.hit").expect("bool tag");
        assert_eq!((hit.v_type, hit.v_bool), (TAG_BOOL, Some(true)));
        let ratio = root.tag("ratio").expect("float tag");
        assert_eq!((ratio.v_type, ratio.v_double), (TAG_DOUBLE, Some(0.25)));
        assert_eq!(str_tag(root, "list"), "[1,2]");
        assert_eq!(str_tag(root, "otel.status_code"), "OK");
        assert!(root.tag("error").is_none());
        assert_eq!(str_tag(root, "otel.scope.name"), "rusa-test");

        assert_eq!(str_tag(child, "otel.status_code"), "ERROR");
        let error = child.tag("error").expect("error tag");
        assert_eq!((error.v_type, error.v_bool), (TAG_BOOL, Some(true)));
        assert_eq!(str_tag(child, "otel.status_description"), "model timed out");
        assert_eq!(child.logs.len(), 1);
        let log = &child.logs[0];
        assert_eq!(log.timestamp, 1_700_000_000_000_100);
        assert_eq!(log.fields[0].key, "event");
        assert_eq!(log.fields[0].v_str.as_deref(), Some("retry"));
        assert_eq!(log.fields[1].key, "attempt");
        assert_eq!(log.fields[1].v_long, Some(2));
        assert_eq!(child.references.len(), 1);
        let link = &child.references[0];
        assert_eq!(link.ref_type, SPAN_REF_FOLLOWS_FROM);
        assert_eq!(link.trace_high, i64::from_be_bytes([7; 8]));
        assert_eq!(link.trace_low, i64::from_be_bytes([7; 8]));
        assert_eq!(link.span_id, id_i64(99));
        assert!(root.references.is_empty() && root.logs.is_empty());

        assert_eq!(str_tag(producer, "otel.status_code"), "ERROR");
        assert!(producer.tag("error").is_some());
        assert!(producer.tag("otel.status_description").is_none());
        assert!(producer.tag("otel.scope.name").is_none());
        assert_eq!(exporter.oversized_counter().load(Ordering::Relaxed), 0);
    }

    fn big_spans(count: u64) -> Vec<SpanData> {
        (0..count)
            .map(|n| {
                let mut s = span(n + 10, Some(1), &format!("op-{n}"));
                s.attributes = vec![
                    KeyValue::new("payload", "x".repeat(1000 + (n as usize % 50))),
                    KeyValue::new("n", n as i64),
                ];
                s
            })
            .collect()
    }

    fn ids(spans: &[SpanData]) -> Vec<i64> {
        spans
            .iter()
            .map(|s| i64::from_be_bytes(s.span_context.span_id().to_bytes()))
            .collect()
    }

    #[test]
    fn large_batches_are_split_under_the_packet_size() {
        let spans = big_spans(400);
        let tags = [KeyValue::new("host.name", "box-1")];
        let (datagrams, dropped) = encode_batches("svc-test", &tags, &spans, MAX_PACKET_SIZE);
        assert_eq!(dropped, 0);
        assert!(datagrams.len() >= 5, "{} datagrams", datagrams.len());
        let mut decoded = Vec::new();
        for (i, d) in datagrams.iter().enumerate() {
            assert!(d.len() <= MAX_PACKET_SIZE, "{} bytes", d.len());
            let (message, batch) = decode(d);
            assert_eq!(message.name, "emitBatch");
            assert_eq!(batch.service_name, "svc-test");
            assert_eq!(batch.process_tags.len(), 1);
            if i + 1 < datagrams.len() {
                assert!(batch.spans.len() >= 15, "the long list header is used");
            }
            decoded.extend(batch.spans.iter().map(|s| s.span_id));
        }
        assert_eq!(decoded, ids(&spans), "every span once, in order");
        // Greedy: every datagram but the last is too full for the next span.
        for d in &datagrams[..datagrams.len() - 1] {
            assert!(d.len() + 1_000 > MAX_PACKET_SIZE, "{} bytes", d.len());
        }

        // A small limit: many datagrams, each within it.
        let (small, dropped) = encode_batches("svc-test", &[], &spans[..30], 3_000);
        assert_eq!(dropped, 0);
        assert_eq!(small.len(), 15);
        assert!(small.iter().all(|d| d.len() <= 3_000));
    }

    #[tokio::test]
    async fn split_batches_arrive_over_udp() {
        // Three datagrams: fewer than the receiver's default buffer holds, so none is lost
        // even though the receiving thread may be slow to start.
        let spans = big_spans(150);
        let (expected, _) = encode_batches("rusa", &[], &spans, MAX_PACKET_SIZE);
        assert_eq!(expected.len(), 3);

        let (rx, port) = receiver();
        let receiving = std::thread::spawn(move || {
            (0..3)
                .map(|_| decode(&recv(&rx)).1)
                .collect::<Vec<DBatch>>()
        });
        let exporter = JaegerUdpExporter::new("127.0.0.1", port).expect("exporter");
        exporter.export(spans.clone()).await.expect("export");
        let batches = receiving.join().expect("receiver thread");
        let received: BTreeSet<i64> = batches
            .iter()
            .flat_map(|b| b.spans.iter().map(|s| s.span_id))
            .collect();
        assert_eq!(received, ids(&spans).into_iter().collect());
        assert!(batches.iter().all(|b| b.service_name == "rusa"));
    }

    #[tokio::test]
    async fn an_oversized_span_is_dropped_and_counted() {
        let mut spans = big_spans(3);
        spans[1]
            .attributes
            .push(KeyValue::new("huge", "y".repeat(70_000)));
        let (datagrams, dropped) = encode_batches("rusa", &[], &spans, MAX_PACKET_SIZE);
        assert_eq!((datagrams.len(), dropped), (1, 1));

        let (rx, port) = receiver();
        // By name, so the lookup path is used too.
        let exporter = JaegerUdpExporter::new("localhost", port).expect("exporter");
        let counter = exporter.oversized_counter();
        exporter.export(spans.clone()).await.expect("export");
        assert_eq!(counter.load(Ordering::Relaxed), 1);

        let (_, batch) = decode(&recv(&rx));
        let received: Vec<i64> = batch.spans.iter().map(|s| s.span_id).collect();
        assert_eq!(received, [ids(&spans)[0], ids(&spans)[2]]);
        assert_eq!(batch.service_name, DEFAULT_SERVICE_NAME);
    }

    #[tokio::test]
    async fn an_unresolvable_host_fails_the_export_only() {
        let exporter =
            JaegerUdpExporter::new("no-such-host.invalid", DEFAULT_AGENT_PORT).expect("new");
        for _ in 0..2 {
            match exporter.export(vec![span(1, None, "lost")]).await {
                Err(OTelSdkError::InternalFailure(message)) => {
                    assert!(message.contains("no-such-host.invalid"), "{message}")
                }
                other => panic!("expected a failure, got {other:?}"),
            }
        }
        // Nothing to send: nothing to resolve.
        assert!(exporter.export(Vec::new()).await.is_ok());
        assert!(exporter.shutdown().is_ok());
        assert!(matches!(
            exporter.export(vec![span(1, None, "late")]).await,
            Err(OTelSdkError::AlreadyShutdown)
        ));
    }

    #[test]
    fn compact_primitives() {
        let mut buf = Vec::new();
        compact::varint(&mut buf, 300);
        assert_eq!(buf, [0xac, 0x02]);
        assert_eq!(compact::varint_len(300), 2);
        assert_eq!(compact::zigzag64(-1), 1);
        assert_eq!(compact::zigzag64(1), 2);
        assert_eq!(compact::zigzag32(i32::MIN), u64::from(u32::MAX));
        // A field id jump over 15 uses the long form.
        let mut buf = Vec::new();
        let mut w = StructWriter::new(&mut buf);
        w.i32(1, 7);
        w.i32(20, -3);
        w.end();
        assert_eq!(buf, [0x15, 14, 0x05, 40, 5, 0]);
        let mut buf = Vec::new();
        compact::list_header(&mut buf, 15, compact::STRUCT);
        assert_eq!(buf, [0xfc, 15]);
        assert_eq!(compact::list_header_len(15), 2);
        assert_eq!(compact::list_header_len(14), 1);
    }
}
