//! One benchmark client: a keep-alive HTTP/1.1 connection to the server that sends webhook
//! turns, checks every reply, and tallies what went wrong.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{CONTENT_TYPE, HOST, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// Requests sent and failures seen, over all clients; failures are grouped by message.
#[derive(Debug, Default)]
pub struct Tally {
    requests: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
}

impl Tally {
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Failures, most frequent first.
    pub fn failures(&self) -> Vec<(String, u64)> {
        let failures = self
            .failures
            .lock()
            .expect("no client panics holding the lock");
        let mut list: Vec<_> = failures.iter().map(|(m, n)| (m.clone(), *n)).collect();
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        list
    }

    fn fail(&self, message: String) {
        *self
            .failures
            .lock()
            .expect("no client panics holding the lock")
            .entry(message)
            .or_default() += 1;
    }
}

/// A client with its own connection (reopened after a transport error).
pub struct Client {
    addr: SocketAddr,
    host: HeaderValue,
    conn: Option<SendRequest<Full<Bytes>>>,
    tally: Arc<Tally>,
}

impl Client {
    /// Opens the connection now, so that no timed request pays for it.
    pub async fn connect(addr: SocketAddr, tally: Arc<Tally>) -> anyhow::Result<Self> {
        let mut client = Self {
            addr,
            host: HeaderValue::from_str(&addr.to_string())?,
            conn: None,
            tally,
        };
        client.conn = Some(client.open().await?);
        Ok(client)
    }

    async fn open(&self) -> anyhow::Result<SendRequest<Full<Bytes>>> {
        let stream = tokio::net::TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// Sends one request and reads the whole reply.
    async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Bytes,
    ) -> Result<(StatusCode, Bytes), String> {
        let mut conn = match self.conn.take() {
            Some(conn) if !conn.is_closed() => conn,
            _ => self
                .open()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?,
        };
        conn.ready()
            .await
            .map_err(|e| format!("connection lost: {e}"))?;
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.host.clone())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let response = conn
            .send_request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("reply cut off: {e}"))?
            .to_bytes();
        self.conn = Some(conn);
        Ok((status, body))
    }

    /// One webhook turn: `text` from `sender`. Returns its latency, or `None` when it failed
    /// (the failure is tallied).
    pub async fn turn(&mut self, sender: &str, text: &str) -> Option<Duration> {
        let body = serde_json::json!({"sender": sender, "message": text}).to_string();
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let result = self
            .request(Method::POST, "/webhooks/rest/webhook", Bytes::from(body))
            .await;
        let elapsed = started.elapsed();
        match result.and_then(|(status, body)| check_reply(status, &body, sender)) {
            Ok(()) => Some(elapsed),
            Err(message) => {
                self.tally.fail(format!("webhook: {message}"));
                None
            }
        }
    }

    /// How many events `GET /conversations/{sender}/tracker` reports.
    pub async fn event_count(&mut self, sender: &str) -> Option<usize> {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let path = format!("/conversations/{sender}/tracker");
        let result = self
            .request(Method::GET, &path, Bytes::new())
            .await
            .and_then(|(status, body)| {
                if status != StatusCode::OK {
                    return Err(format!("HTTP {status}: {}", snippet(&body)));
                }
                let tracker: Value = serde_json::from_slice(&body)
                    .map_err(|e| format!("the tracker is not JSON: {e}"))?;
                tracker
                    .get("events")
                    .and_then(Value::as_array)
                    .map(Vec::len)
                    .ok_or_else(|| "the tracker has no events array".to_owned())
            });
        result
            .map_err(|message| self.tally.fail(format!("tracker: {message}")))
            .ok()
    }
}

/// A good reply is a 200 with a non-empty JSON array of bot messages for this sender.
fn check_reply(status: StatusCode, body: &[u8], sender: &str) -> Result<(), String> {
    if status != StatusCode::OK {
        return Err(format!("HTTP {status}: {}", snippet(body)));
    }
    let reply: Value =
        serde_json::from_slice(body).map_err(|e| format!("the reply is not JSON: {e}"))?;
    let messages = reply
        .as_array()
        .ok_or_else(|| format!("the reply is not a JSON array: {}", snippet(body)))?;
    if messages.is_empty() {
        return Err("the reply has no bot message".into());
    }
    for message in messages {
        match message.get("recipient_id").and_then(Value::as_str) {
            Some(recipient) if recipient == sender => {}
            Some(_) => return Err("a bot message is addressed to another sender".into()),
            None => return Err(format!("a bot message has no recipient_id: {message}")),
        }
    }
    Ok(())
}

/// The start of a reply body, for failure messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(160).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_must_be_a_non_empty_array_of_messages_for_the_sender() {
        let ok = br#"[{"recipient_id": "s1", "text": "Hey! How are you?"}]"#;
        assert_eq!(check_reply(StatusCode::OK, ok, "s1"), Ok(()));
        let failures = [
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                &br#"{"status": "failure"}"#[..],
                "HTTP 500",
            ),
            (StatusCode::OK, b"not json", "not JSON"),
            (StatusCode::OK, br#"{"text": "hi"}"#, "not a JSON array"),
            (StatusCode::OK, b"[]", "no bot message"),
            (
                StatusCode::OK,
                br#"[{"recipient_id": "s2", "text": "hi"}]"#,
                "another sender",
            ),
            (StatusCode::OK, br#"[{"text": "hi"}]"#, "no recipient_id"),
        ];
        for (status, body, expected) in failures {
            let message = check_reply(status, body, "s1").unwrap_err();
            assert!(message.contains(expected), "{message}");
        }
    }
}
