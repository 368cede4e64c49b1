//! Pulling the model from a model server (`models:` in endpoints.yml), as Rasa does: a GET
//! of the `url` with `If-None-Match` set to the ETag of the model loaded from it; `304`
//! means unchanged, `200` brings a new archive (its `ETag` is kept for the next pull),
//! which replaces the loaded model without disturbing turns in flight. With
//! `wait_time_between_pulls` (seconds, default 100; `null` pulls once at start) the pull
//! repeats in the background.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use tracing::Instrument as _;

use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH};
use rusa_actions::HttpEndpoint;
use rusa_core::agent::Agent;
use rusa_project::EndpointConfig;

use crate::MessageProcessor;

/// Where this server process keeps the archives it downloads (removed when it stops).
pub fn download_dir() -> PathBuf {
    std::env::temp_dir().join(format!("rusa-models-{}", std::process::id()))
}

/// Seconds between pulls when `wait_time_between_pulls` is not written.
pub const DEFAULT_WAIT_BETWEEN_PULLS: u64 = 100;

/// How long one pull may take, download included.
pub const PULL_TIMEOUT: Duration = Duration::from_secs(300);

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pulled {
    /// A new model was loaded (its ETag, if the server sent one).
    Loaded { etag: Option<String> },
    /// The server has the model that is loaded (`304`).
    Unchanged,
}

/// Why a pull failed; the loaded model stays.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("the model server has no model (404)")]
    NotFound,
    #[error("the model server answered {0}")]
    Status(u16),
    #[error("the model server could not be reached: {0}")]
    Request(String),
    #[error("the model from the model server could not be saved: {0}")]
    Save(std::io::Error),
    #[error("the model from the model server could not be loaded: {0}")]
    Load(String),
}

/// A model server and what was last loaded from it.
pub struct ModelServer {
    endpoint: HttpEndpoint,
    /// Seconds between pulls; `None`: only the pull at start.
    pub wait_between_pulls: Option<Duration>,
    /// Where downloaded archives are kept (the one loaded, while it is loaded).
    dir: PathBuf,
    etag: Mutex<Option<String>>,
}

impl std::fmt::Debug for ModelServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelServer")
            .field("url", &self.endpoint.display_url)
            .field("wait_between_pulls", &self.wait_between_pulls)
            .finish_non_exhaustive()
    }
}

impl ModelServer {
    /// The model server of `models:`; downloaded archives go to `dir`.
    pub fn new(config: &EndpointConfig, dir: PathBuf) -> Result<Self, String> {
        let endpoint = HttpEndpoint::new(config, PULL_TIMEOUT).map_err(|e| e.to_string())?;
        let wait_between_pulls = match config.params.get("wait_time_between_pulls") {
            None => Some(DEFAULT_WAIT_BETWEEN_PULLS),
            Some(serde_json::Value::Null) => None,
            Some(value) => Some(
                value
                    .as_u64()
                    .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                    .ok_or_else(|| {
                        format!(
                            "{}: wait_time_between_pulls must be a whole number of seconds or null",
                            config.pos_of("wait_time_between_pulls")
                        )
                    })?,
            ),
        }
        .map(|s| Duration::from_secs(s.max(1)));
        Ok(Self {
            endpoint,
            wait_between_pulls,
            dir,
            etag: Mutex::new(None),
        })
    }

    /// Where downloaded archives are kept (remove it when the server stops).
    pub fn download_dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The model server's URL without query string or credentials.
    pub fn url(&self) -> &str {
        &self.endpoint.display_url
    }

    /// Pulls once; a new model replaces the processor's.
    pub async fn pull(&self, processor: &MessageProcessor) -> Result<Pulled, PullError> {
        // The request's span covers the HTTP exchange; loading the archive is not part of it.
        let span = self.endpoint.request_span(0);
        let fetched = self.fetch(processor, &span).instrument(span.clone()).await;
        if let Err(e) = &fetched {
            rusa_core::span_status::record_failure(&span, "PullError", &e.to_string());
        }
        let Some((etag, bytes)) = fetched? else {
            return Ok(Pulled::Unchanged);
        };
        let dir = self.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || load_archive(&dir, &bytes))
            .await
            .map_err(|e| PullError::Load(e.to_string()))??;
        let previous = processor.model_path();
        processor.set_agent(Some(loaded));
        // The archive replaced is not needed any more (it was loaded into memory).
        if let Some(old) = previous.filter(|p| p.starts_with(&self.dir)) {
            let _ = std::fs::remove_file(old);
        }
        if let Ok(mut known) = self.etag.lock() {
            known.clone_from(&etag);
        }
        tracing::info!("a new model was loaded from the model server");
        Ok(Pulled::Loaded { etag })
    }

    /// Asks the model server for a model newer than the loaded one: its ETag and archive,
    /// or `None` when it has none (304).
    async fn fetch(
        &self,
        processor: &MessageProcessor,
        span: &tracing::Span,
    ) -> Result<Option<(Option<String>, axum::body::Bytes)>, PullError> {
        let known = self.etag.lock().ok().and_then(|e| e.clone());
        let mut request = self.endpoint.request(reqwest::Method::GET);
        // Only when the loaded model came from this server: a model loaded otherwise
        // (`PUT /model`) is replaced by the server's.
        if let Some(etag) = known.as_ref().filter(|_| processor.agent().is_some()) {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let answer = rusa_actions::with_trace_context(request, span)
            .send()
            .await
            .map_err(|e| PullError::Request(HttpEndpoint::error_text(&e)))?;
        span.record("http.response.status_code", answer.status().as_u16());
        match answer.status() {
            StatusCode::NOT_MODIFIED => return Ok(None),
            StatusCode::NOT_FOUND => return Err(PullError::NotFound),
            status if !status.is_success() => return Err(PullError::Status(status.as_u16())),
            _ => {}
        }
        let etag = answer
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = answer
            .bytes()
            .await
            .map_err(|e| PullError::Request(HttpEndpoint::error_text(&e)))?;
        Ok(Some((etag, bytes)))
    }

    /// Pulls every `wait_between_pulls` until the task is dropped (no-op without a wait).
    pub async fn keep_pulling(self: Arc<Self>, processor: Arc<MessageProcessor>) {
        let Some(wait) = self.wait_between_pulls else {
            return;
        };
        loop {
            tokio::time::sleep(wait).await;
            match self.pull(&processor).await {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "pulling the model failed; the loaded model stays")
                }
            }
        }
    }
}

/// Saves the downloaded archive under a fresh name in `dir` and loads it.
fn load_archive(dir: &std::path::Path, bytes: &[u8]) -> Result<(Arc<Agent>, PathBuf), PullError> {
    std::fs::create_dir_all(dir).map_err(PullError::Save)?;
    let path = dir.join(format!(
        "model-server-{}.tar.gz",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::write(&path, bytes).map_err(PullError::Save)?;
    match Agent::load(&path) {
        Ok(agent) => Ok((Arc::new(agent), path)),
        Err(e) => {
            let _ = std::fs::remove_file(&path);
            Err(PullError::Load(e.to_string()))
        }
    }
}
