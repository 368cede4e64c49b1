//! The live story graph of a session, served on 127.0.0.1 only (never on all interfaces,
//! never the HTTP API) from its own thread.
//!
//! The page is `rusa visualize`'s graph ([`rusa_core::story_graph`]) of the project's
//! stories and rules with the conversation so far as one more path, drawn highlighted, as
//! Rasa's interactive page shows it. It is self-contained (no script or style from the
//! network); a few inline lines poll `/version` on the same origin and reload the page when
//! the conversation changed. The graph is drawn by the server thread, only when the page is
//! asked for after a change, so the session's prompt never waits for the layout.
//! `/story.yml` serves the conversation as a story in YAML.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use rusa_core::Event;
use rusa_core::story_graph::{self, GraphEvent, GraphOptions};

/// The title of the page.
const TITLE: &str = "rusa interactive: the stories, this conversation highlighted";

/// What the page draws, shared between the session and the server.
#[derive(Clone, Default)]
pub struct LiveStory(Arc<Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    /// The paths of the project's stories and rules.
    project: Vec<Vec<GraphEvent>>,
    /// The path of the conversation so far.
    conversation: Vec<GraphEvent>,
    /// The conversation as a story in YAML.
    yaml: String,
    /// Counts changes of the conversation.
    version: u64,
    /// The page drawn for `version`, once asked for.
    page: Option<(u64, Arc<String>)>,
}

impl LiveStory {
    /// A graph over the paths of the project's stories and rules.
    pub fn new(project: Vec<Vec<GraphEvent>>) -> Self {
        Self(Arc::new(Mutex::new(Inner {
            project,
            ..Inner::default()
        })))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the conversation (the tracker's events) and its story in YAML.
    pub fn set(&self, events: &[Event], yaml: String) {
        let conversation = story_graph::sequence_from_events(events);
        let mut inner = self.lock();
        if inner.conversation != conversation || inner.yaml != yaml {
            inner.conversation = conversation;
            inner.yaml = yaml;
            inner.version += 1;
        }
    }

    fn version(&self) -> u64 {
        self.lock().version
    }

    fn yaml(&self) -> String {
        self.lock().yaml.clone()
    }

    /// The page for the current conversation (drawn again only after a change).
    fn page(&self) -> Arc<String> {
        let (version, sequences) = {
            let inner = self.lock();
            if let Some((v, page)) = &inner.page
                && *v == inner.version
            {
                return page.clone();
            }
            let mut sequences = inner.project.clone();
            sequences.push(inner.conversation.clone());
            (inner.version, sequences)
        };
        let page = Arc::new(live_page(&sequences, version));
        let mut inner = self.lock();
        if inner.version == version {
            inner.page = Some((version, page.clone()));
        }
        page
    }
}

/// The page of the graph of `sequences`, the last one (the conversation) highlighted, with
/// the script that reloads it once `/version` is no longer `version`.
pub fn live_page(sequences: &[Vec<GraphEvent>], version: u64) -> String {
    let options = GraphOptions {
        highlight: sequences.len().checked_sub(1),
        title: TITLE.to_owned(),
        ..GraphOptions::default()
    };
    let html = story_graph::story_graph_html(sequences, &options);
    let script = format!(
        "<script>(function(){{var seen='{version}';setInterval(function(){{\
fetch('/version',{{cache:'no-store'}}).then(function(r){{return r.text();}})\
.then(function(v){{if(v.trim()!==seen){{location.reload();}}}}).catch(function(){{}});}},2000);}})();</script>\n"
    );
    match html.rfind("</body>") {
        Some(at) => format!("{}{script}{}", &html[..at], &html[at..]),
        None => html + &script,
    }
}

async fn page(State(story): State<LiveStory>) -> impl IntoResponse {
    let page = tokio::task::spawn_blocking(move || story.page())
        .await
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| "the graph could not be drawn".to_owned());
    ([(header::CACHE_CONTROL, "no-cache")], Html(page))
}

async fn version(State(story): State<LiveStory>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
        ],
        story.version().to_string(),
    )
}

async fn yaml(State(story): State<LiveStory>) -> impl IntoResponse {
    (
        [
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_TYPE, "text/yaml; charset=utf-8"),
        ],
        story.yaml(),
    )
}

/// The server's routes: `/` and `/visualization.html` (the page), `/version` (what the page
/// polls), `/story.yml` (the conversation as a story).
pub fn app(story: LiveStory) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/visualization.html", get(page))
        .route("/version", get(version))
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

    fn events(json: serde_json::Value) -> Vec<Event> {
        serde_json::from_value(json).unwrap()
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut body = String::new();
        stream.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        body
    }

    fn user(intent: &str) -> GraphEvent {
        GraphEvent::User {
            intent: Some(intent.into()),
            entities: Vec::new(),
            text: None,
        }
    }

    #[test]
    fn the_page_draws_the_project_and_highlights_the_conversation() {
        let project = vec![vec![
            user("greet"),
            GraphEvent::Action("utter_greet".into()),
        ]];
        let story = LiveStory::new(project);
        let events = events(serde_json::json!([
            {"event": "user", "text": "sad", "parse_data": {"intent": {"name": "mood_unhappy"}}},
            {"event": "action", "name": "utter_cheer_up"},
        ]));
        story.set(&events, "- story: s\n".into());
        let page = story.page();
        // The project's path and the conversation's are both nodes of the graph.
        for label in ["greet", "utter_greet", "mood_unhappy", "utter_cheer_up"] {
            assert!(page.contains(&format!(">{label}<")), "{label}");
        }
        // The conversation's nodes are drawn highlighted, the project's alone are not.
        let node_class = |label: &str| {
            let at = page.find(&format!(">{label}<")).unwrap();
            let start = page[..at].rfind("class=\"node").unwrap();
            page[start..at].split('"').nth(1).unwrap().to_owned()
        };
        assert!(node_class("utter_cheer_up").contains("active"));
        assert!(node_class("mood_unhappy").contains("active"));
        assert!(!node_class("utter_greet").contains("active"));
        // Self-contained: nothing from the network; it polls its own origin only.
        for needle in ["http:", "https:", "//cdn", "<script src", "<link"] {
            assert!(!page.contains(needle), "{needle}");
        }
        assert!(page.contains("fetch('/version'"));
    }

    #[test]
    fn a_change_of_the_conversation_changes_the_version_and_the_page() {
        let story = LiveStory::new(Vec::new());
        let first = story.page();
        let v = story.version();
        let events = events(serde_json::json!([{"event": "action", "name": "utter_greet"}]));
        story.set(&events, String::new());
        assert_ne!(story.version(), v);
        let second = story.page();
        assert!(!first.contains(">utter_greet<") && second.contains(">utter_greet<"));
        // The same conversation again is no change.
        let v = story.version();
        story.set(&events, String::new());
        assert_eq!(story.version(), v);
    }

    #[test]
    fn it_serves_on_loopback_only() {
        let story = LiveStory::new(vec![vec![user("greet")]]);
        story.set(&[], "- story: s\n".into());
        let addr = serve(0, story.clone()).unwrap();
        assert!(addr.ip().is_loopback());
        assert!(get(addr, "/story.yml").ends_with("- story: s\n"));
        let version = get(addr, "/version");
        assert!(
            version.ends_with(&format!("\r\n\r\n{}", story.version())),
            "{version}"
        );
        let page = get(addr, "/visualization.html");
        assert!(page.contains(">greet<"), "{page}");
        // Nothing listens on the other interfaces.
        let port = addr.port();
        for ip in local_non_loopback() {
            assert!(std::net::TcpStream::connect((ip, port)).is_err(), "{ip}");
        }
    }

    /// The machine's addresses other than loopback, as far as the routing table tells.
    fn local_non_loopback() -> Vec<std::net::IpAddr> {
        let Ok(socket) = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)) else {
            return Vec::new();
        };
        if socket.connect((Ipv4Addr::new(192, 0, 2, 1), 9)).is_err() {
            return Vec::new();
        }
        socket
            .local_addr()
            .map(|a| a.ip())
            .into_iter()
            .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
            .collect()
    }
}
