//! The HTTP server of rusa: the REST channel, the HTTP API and the message processor that
//! runs each turn under the conversation's lock, over a tracker store, and publishes the
//! new events to an event broker.
//!
//! It is for serving a trained model; it does not train, and it knows stores only through
//! the traits of `rusa-core` (their implementations are in `rusa-stores`). [`app`] builds the
//! router without a socket, so tests call it directly.

mod api;
mod auth;
mod callback;
pub mod connections;
mod error;
mod evaluation;
mod http_span;
pub mod model_server;
pub mod openapi;
mod processor;
pub mod reminders;
pub mod request_limits;
mod rest;
mod tracker_cache;
mod training;

pub use api::API_ROUTES;
pub use connections::{ConnectionLimits, serve};
pub use error::ApiError;
pub use processor::{Incoming, MessageProcessor, ProcessError};
pub use request_limits::{MAX_HEADER_BYTES, MAX_REQUEST_HEADERS, MAX_URI_BYTES};
pub use tracker_cache::{DEFAULT_TRACKER_CACHE_EVENTS, MIN_CACHED_EVENTS};

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;

/// The largest request body the server accepts, when not configured otherwise.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// How the server is set up (from `rusa run`'s flags and credentials.yml).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Serve the HTTP API besides the channels.
    pub enable_api: bool,
    /// Token the API requires as `?token=`.
    pub auth_token: Option<String>,
    /// Secret and algorithm (`HS256`, `HS384`, `HS512`) of the JWTs the API accepts.
    pub jwt: Option<auth::JwtConfig>,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors: Vec<String>,
    /// The largest request body, in bytes ([`DEFAULT_BODY_LIMIT`]); a larger declared
    /// `Content-Length` is refused with 413 before the body is read.
    pub body_limit: usize,
    /// How long a client has to send a request's whole body (408 after it;
    /// [`request_limits::DEFAULT_BODY_READ_TIMEOUT_SECS`]).
    pub body_read_timeout: Duration,
    /// Serve the REST channel (`rest:` in credentials.yml).
    pub rest: bool,
    /// Serve the callback channel, POSTing replies here (`callback:` in credentials.yml).
    pub callback: Option<rusa_actions::HttpEndpoint>,
    /// Trains `POST /model/train`'s project (`rusa run` gives `rusa train`'s code); none:
    /// that route answers 501.
    pub trainer: Option<Trainer>,
}

/// The project files of a `POST /model/train` request, and where the archive goes.
#[derive(Debug, Clone)]
pub struct TrainRequest {
    pub domain: std::path::PathBuf,
    pub config: std::path::PathBuf,
    pub data: std::path::PathBuf,
    pub out: std::path::PathBuf,
    /// Train even when nothing changed (`force_training`).
    pub force: bool,
}

/// Why a training failed.
#[derive(Debug, Clone)]
pub enum TrainFailure {
    /// The project sent is not valid (answered 400).
    Invalid(String),
    /// Training itself failed (answered 500).
    Failed(String),
}

/// The function behind a [`Trainer`].
pub type TrainFn = dyn Fn(&TrainRequest) -> Result<std::path::PathBuf, TrainFailure> + Send + Sync;

/// A blocking function that trains a project and answers the archive's path.
#[derive(Clone)]
pub struct Trainer(pub Arc<TrainFn>);

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trainer")
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            enable_api: false,
            auth_token: None,
            jwt: None,
            cors: Vec::new(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: Duration::from_secs(request_limits::DEFAULT_BODY_READ_TIMEOUT_SECS),
            rest: true,
            callback: None,
            trainer: None,
        }
    }
}

pub use auth::JwtConfig;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub processor: Arc<MessageProcessor>,
    pub config: Arc<ServerConfig>,
}

/// The router: channels, and the API when enabled.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    if state.config.rest {
        router = router.merge(rest::routes());
    }
    if state.config.callback.is_some() {
        router = router.merge(callback::routes());
    }
    if state.config.enable_api {
        router = router.merge(api::routes(&state));
    } else {
        router = router.merge(api::public_routes());
    }
    let cors = cors_layer(&state.config.cors);
    let limit = state.config.body_limit;
    let limits = request_limits::RequestLimits {
        body_limit: limit,
        body_read_timeout: state.config.body_read_timeout,
    };
    let mut router = router
        .layer(axum::middleware::from_fn(http_span::message_request))
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            limits,
            request_limits::limit_request,
        ))
        .with_state(state);
    if let Some(cors) = cors {
        router = router.layer(cors);
    }
    // Outermost, so that every error answer of the layers above has Rasa's shape too.
    router.layer(axum::middleware::from_fn(error::json_errors))
}

fn cors_layer(origins: &[String]) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, Any, CorsLayer};
    if origins.is_empty() {
        return None;
    }
    // A browser front end may read the trace of an answer (tracing spec §3).
    let layer = CorsLayer::new()
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers([axum::http::HeaderName::from_static("traceresponse")]);
    if origins.iter().any(|o| o == "*") {
        return Some(layer.allow_origin(Any));
    }
    let list: Vec<axum::http::HeaderValue> =
        origins.iter().filter_map(|o| o.parse().ok()).collect();
    Some(layer.allow_origin(AllowOrigin::list(list)))
}
