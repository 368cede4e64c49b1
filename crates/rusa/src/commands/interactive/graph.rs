//! The live story graph of a session, served on 127.0.0.1 only (never on all interfaces,
//! never the HTTP API) from its own thread.
//!
//! For now the page is [`story_graph_html`]: the conversation so far as a story, in YAML,
//! refreshed every two seconds, self-contained (no script or style from the network). It is
//! the one place to change when `rusa visualize`'s renderer draws the graph instead.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

/// The current story, shared with the server.
#[derive(Clone, Default)]
pub struct LiveStory(Arc<Mutex<String>>);

impl LiveStory {
    pub fn set(&self, yaml: String) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = yaml;
    }

    fn get(&self) -> String {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The page of the story graph for a story written as YAML.
pub fn story_graph_html(story_yaml: &str) -> String {
    let escaped = story_yaml
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"2\">\
<title>rusa interactive: the story so far</title>\
<style>body{{font-family:sans-serif;margin:2em}}pre{{background:#f6f6f6;padding:1em;border-radius:4px}}</style>\
</head><body><h1>The story so far</h1><p>This page refreshes itself while you teach the assistant.</p>\
<pre>{escaped}</pre></body></html>\n"
    )
}

async fn page(State(story): State<LiveStory>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "no-cache")],
        Html(story_graph_html(&story.get())),
    )
}

async fn yaml(State(story): State<LiveStory>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_TYPE, "text/yaml; charset=utf-8"),
        ],
        story.get(),
    )
}

/// The server's routes: `/` and `/visualization.html` (the page), `/story.yml` (the text).
pub fn app(story: LiveStory) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/visualization.html", get(page))
        .route("/story.yml", get(yaml))
        .with_state(story)
}

/// Binds 127.0.0.1:`port` (a free port when that one is taken, or when `port` is 0) and
/// serves the graph from a background thread; returns the address it is bound to.
pub fn serve(port: u16, story: LiveStory) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .or_else(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .map_err(|e| {
            anyhow::anyhow!(e).context("cannot open a port on 127.0.0.1 for the story graph")
        })?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("story-graph".into())
        .spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                if let Err(e) = axum::serve(listener, app(story)).await {
                    tracing::warn!(error = %e, "the story graph server stopped");
                }
            });
        })?;
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_self_contained_and_escapes_the_story() {
        let html = story_graph_html("- story: a\n  steps:\n  - user: <b>hi</b>\n");
        assert!(html.contains("&lt;b&gt;hi&lt;/b&gt;"));
        assert!(!html.contains("<script src"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }

    #[test]
    fn it_serves_on_loopback_only() {
        let story = LiveStory::default();
        story.set("- story: s\n".into());
        let addr = serve(0, story).unwrap();
        assert!(addr.ip().is_loopback());
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream
            .write_all(b"GET /story.yml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        assert!(body.ends_with("- story: s\n"), "{body}");
    }
}
