//! Test support (feature `test-support`): a real HTTP server on 127.0.0.1 that plays the
//! Segment or Sentry endpoint, and a checker of messages against the generated JSON Schema.
//! Used by this crate's tests and by the binary's tests; never part of a normal build.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// How the server answers.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status, extra headers, body.
    Status(u16, Vec<(String, String)>),
    /// Read the request and never answer (keep the connection open).
    Never,
}

#[derive(Debug, Default)]
struct Log {
    requests: Vec<Request>,
    connections: usize,
}

/// A real HTTP/1.1 server on 127.0.0.1:0, one thread per connection.
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    log: Arc<(Mutex<Log>, Condvar)>,
}

impl TestServer {
    /// Answers with `replies` in order, then 200 to everything.
    pub fn start(replies: Vec<Reply>) -> Self {
        Self::start_with(replies, Reply::Status(200, Vec::new()))
    }

    /// Accepts connections, reads requests, never answers.
    pub fn never_answering() -> Self {
        Self::start_with(Vec::new(), Reply::Never)
    }

    fn start_with(replies: Vec<Reply>, default: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let log: Arc<(Mutex<Log>, Condvar)> = Arc::default();
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                {
                    let (lock, cv) = &*log2;
                    lock.lock().unwrap().connections += 1;
                    cv.notify_all();
                }
                let log = Arc::clone(&log2);
                let replies = Arc::clone(&replies);
                let default = default.clone();
                std::thread::spawn(move || serve(stream, &log, &replies, &default));
            }
        });
        Self { addr, log }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.log.0.lock().unwrap().requests.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.log.0.lock().unwrap().connections
    }

    /// Waits (on a condition variable, no sleeping) until `n` requests arrived or `timeout`.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Request> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.log;
        let mut log = lock.lock().unwrap();
        while log.requests.len() < n {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            log = cv.wait_timeout(log, deadline - now).unwrap().0;
        }
        log.requests.clone()
    }
}

fn serve(
    stream: TcpStream,
    log: &(Mutex<Log>, Condvar),
    replies: &Mutex<VecDeque<Reply>>,
    default: &Reply,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut writer = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        {
            let (lock, cv) = log;
            lock.lock().unwrap().requests.push(Request {
                method,
                path,
                headers,
                body,
            });
            cv.notify_all();
        }
        let reply = replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| default.clone());
        match reply {
            Reply::Never => {
                // Hold the connection open until the client gives up.
                let mut sink = Vec::new();
                let _ = reader.read_to_end(&mut sink);
                return;
            }
            Reply::Status(status, extra) => {
                let body = b"{}";
                let mut head = format!(
                    "HTTP/1.1 {status} Status\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                if writer
                    .write_all(head.as_bytes())
                    .and_then(|_| writer.write_all(body))
                    .is_err()
                {
                    return;
                }
            }
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (connections are refused).
pub fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

/// Path of the committed schema, `docs/telemetry/events.schema.json`.
pub fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/telemetry/events.schema.json")
}

/// The committed schema.
pub fn committed_schema() -> Value {
    let text =
        std::fs::read_to_string(schema_path()).expect("docs/telemetry/events.schema.json exists");
    serde_json::from_str(&text).expect("schema is JSON")
}

/// Checks one message against the committed schema; panics with every violation.
pub fn assert_valid_message(message: &Value) {
    let schema = committed_schema();
    let errors = validate(&schema, &schema, message, "$");
    assert!(
        errors.is_empty(),
        "message does not match events.schema.json: {errors:#?}\n{message:#}"
    );
}

/// Checks a Segment batch request (method, path, auth, content type, shape, schema, unique
/// message ids) and returns its messages.
pub fn assert_segment_batch(request: &Request, write_key: &str) -> Vec<Value> {
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/batch");
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"))
    );
    assert_eq!(request.header("authorization"), Some(expected.as_str()));
    assert!(
        request
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json"))
    );
    let body = request.json();
    let object = body.as_object().expect("batch body is an object");
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["batch", "sentAt"]);
    assert!(body["sentAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    let messages = body["batch"].as_array().expect("batch is an array").clone();
    assert!(!messages.is_empty());
    for m in &messages {
        assert_valid_message(m);
    }
    messages
}

/// Asserts that no two messages share a messageId.
pub fn assert_unique_ids(messages: &[Value]) {
    let mut ids: Vec<&str> = messages
        .iter()
        .map(|m| m["messageId"].as_str().expect("messageId"))
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate messageId");
}

/// The payloads printed in debug mode in `stderr`, each checked against the schema.
pub fn debug_payloads(stderr: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for chunk in stderr.split(crate::telemetry::DEBUG_MARKER).skip(1) {
        let mut stream =
            serde_json::Deserializer::from_str(chunk.trim_start()).into_iter::<Value>();
        let value = stream
            .next()
            .expect("a payload after the marker")
            .expect("payload is JSON");
        assert_valid_message(&value);
        out.push(value);
    }
    out
}

/// A small JSON Schema validator for the keywords the generated schema uses. Unknown
/// keywords are an error, so the schema cannot silently outgrow the checker.
pub fn validate(root: &Value, schema: &Value, instance: &Value, at: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(schema) = schema.as_object() else {
        if schema == &Value::Bool(false) {
            errors.push(format!("{at}: not allowed"));
        }
        return errors;
    };
    for (keyword, value) in schema {
        match keyword.as_str() {
            "$schema" | "$id" | "$defs" | "title" | "description" => {}
            "$ref" => {
                let target = value
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/"))
                    .and_then(|p| p.split('/').try_fold(root, |v, k| v.get(k)));
                match target {
                    Some(t) => errors.extend(validate(root, t, instance, at)),
                    None => errors.push(format!("{at}: unresolvable $ref {value}")),
                }
            }
            "type" => {
                let types: Vec<&str> = match value {
                    Value::String(s) => vec![s.as_str()],
                    Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                    _ => vec![],
                };
                if !types.iter().any(|t| type_matches(t, instance)) {
                    errors.push(format!("{at}: expected type {value}, got {instance}"));
                }
            }
            "const" => {
                if instance != value {
                    errors.push(format!("{at}: expected {value}, got {instance}"));
                }
            }
            "enum" => {
                if !value.as_array().is_some_and(|a| a.contains(instance)) {
                    errors.push(format!("{at}: {instance} not in {value}"));
                }
            }
            "pattern" => {
                if let (Some(s), Some(p)) = (instance.as_str(), value.as_str())
                    && !regex::Regex::new(p).expect("valid pattern").is_match(s)
                {
                    errors.push(format!("{at}: {s:?} does not match {p}"));
                }
            }
            "minimum" => {
                if let (Some(n), Some(min)) = (instance.as_f64(), value.as_f64())
                    && n < min
                {
                    errors.push(format!("{at}: {n} < {min}"));
                }
            }
            "required" => {
                if let Some(obj) = instance.as_object() {
                    for key in value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                    {
                        if !obj.contains_key(key) {
                            errors.push(format!("{at}: missing {key}"));
                        }
                    }
                }
            }
            "properties" => {
                if let (Some(obj), Some(props)) = (instance.as_object(), value.as_object()) {
                    for (key, sub) in props {
                        if let Some(v) = obj.get(key) {
                            errors.extend(validate(root, sub, v, &format!("{at}.{key}")));
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let (Some(obj), Value::Bool(false)) = (instance.as_object(), value) {
                    let declared = schema.get("properties").and_then(Value::as_object);
                    for key in obj.keys() {
                        if !declared.is_some_and(|d| d.contains_key(key)) {
                            errors.push(format!("{at}: unexpected property {key}"));
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = instance.as_array() {
                    for (i, item) in items.iter().enumerate() {
                        errors.extend(validate(root, value, item, &format!("{at}[{i}]")));
                    }
                }
            }
            "oneOf" => {
                let branches = value.as_array().cloned().unwrap_or_default();
                let matching = branches
                    .iter()
                    .filter(|b| validate(root, b, instance, at).is_empty())
                    .count();
                if matching != 1 {
                    let detail: Vec<String> = branches
                        .iter()
                        .flat_map(|b| validate(root, b, instance, at))
                        .take(8)
                        .collect();
                    errors.push(format!(
                        "{at}: matches {matching} of oneOf (expected 1): {detail:?}"
                    ));
                }
            }
            other => errors.push(format!(
                "{at}: schema keyword {other} not supported by the checker"
            )),
        }
    }
    errors
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => v.is_u64() || v.is_i64(),
        _ => false,
    }
}
