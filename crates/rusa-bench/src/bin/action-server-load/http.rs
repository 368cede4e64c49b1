//! A minimal HTTP/1.1 client over one keep-alive connection, for load: the request is
//! prepared once and written with one call; the reply is read until its `content-length`
//! is complete. It costs the shared CPU as little as a client can (no header map, no body
//! copying), so that more of the machine is left to the server under test.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// How long one exchange may take before it counts as failed.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// `POST path` with a JSON body, as the bytes sent on the wire.
pub fn post_json(addr: SocketAddr, path: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// One keep-alive connection.
pub struct Connection {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buffer: Vec<u8>,
}

impl Connection {
    /// Opens the connection now, so that no timed request pays for it.
    pub async fn open(addr: SocketAddr) -> std::io::Result<Self> {
        let mut connection = Self {
            addr,
            stream: None,
            buffer: Vec::with_capacity(16 * 1024),
        };
        connection.stream = Some(connection.connect().await?);
        Ok(connection)
    }

    async fn connect(&self) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    /// Sends `request` and reads the reply: its status and body. After an error the
    /// connection is dropped, and the next exchange opens a new one.
    pub async fn exchange(&mut self, request: &[u8]) -> Result<(u16, &[u8]), String> {
        match tokio::time::timeout(REPLY_TIMEOUT, self.try_exchange(request)).await {
            Ok(Ok((status, body, keep_alive))) => {
                if !keep_alive {
                    self.stream = None;
                }
                Ok((status, &self.buffer[body]))
            }
            Ok(Err(message)) => {
                self.stream = None;
                Err(message)
            }
            Err(_) => {
                self.stream = None;
                Err(format!("no reply within {REPLY_TIMEOUT:?}"))
            }
        }
    }

    /// The status, where the body is in the buffer, and whether the connection stays open.
    async fn try_exchange(
        &mut self,
        request: &[u8],
    ) -> Result<(u16, std::ops::Range<usize>, bool), String> {
        let mut stream = match self.stream.take() {
            Some(stream) => stream,
            None => self
                .connect()
                .await
                .map_err(|e| format!("cannot connect: {e}"))?,
        };
        stream
            .write_all(request)
            .await
            .map_err(|e| format!("cannot send: {e}"))?;
        self.buffer.clear();
        let head = loop {
            if let Some(end) = find(&self.buffer, b"\r\n\r\n") {
                break parse_head(&self.buffer[..end])?;
            }
            read_more(&mut stream, &mut self.buffer).await?;
        };
        let body_start = head.length;
        let body_end = body_start + head.content_length;
        while self.buffer.len() < body_end {
            read_more(&mut stream, &mut self.buffer).await?;
        }
        if self.buffer.len() > body_end {
            return Err("more bytes than the reply's content-length".into());
        }
        self.stream = Some(stream);
        Ok((head.status, body_start..body_end, head.keep_alive))
    }
}

async fn read_more(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Result<(), String> {
    if buffer.capacity() - buffer.len() < 4096 {
        buffer.reserve(16 * 1024);
    }
    match stream.read_buf(buffer).await {
        Ok(0) => Err(if buffer.is_empty() {
            "the server closed the connection".into()
        } else {
            "the server closed the connection in the middle of a reply".into()
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("cannot read: {e}")),
    }
}

/// What the client needs of a reply's head.
#[derive(Debug, PartialEq)]
struct Head {
    status: u16,
    /// Bytes of the head, the blank line included.
    length: usize,
    content_length: usize,
    keep_alive: bool,
}

/// Parses a reply head (`end` is where its blank line starts).
fn parse_head(head: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(head).map_err(|_| "the reply head is not UTF-8".to_owned())?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP/1.1 status line: {status_line:?}"))?;
    let mut content_length = None;
    let mut keep_alive = true;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("bad header line {line:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| format!("bad content-length {value:?}"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "transfer-encoding {value} is not supported by the bench"
            ));
        } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
            keep_alive = false;
        }
    }
    Ok(Head {
        status,
        length: head.len() + 4,
        content_length: content_length.ok_or("the reply has no content-length")?,
        keep_alive,
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_heads() {
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\nContent-Type: application/json";
        assert_eq!(
            parse_head(head),
            Ok(Head {
                status: 200,
                length: head.len() + 4,
                content_length: 42,
                keep_alive: true
            })
        );
        let closing = parse_head(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close",
        );
        assert_eq!(closing.map(|h| (h.status, h.keep_alive)), Ok((500, false)));
        assert!(parse_head(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK").is_err());
        assert!(parse_head(b"HTTP/1.0 200 OK\r\ncontent-length: 1").is_err());
    }
}
