//! The HTTP client of the action server: one request per custom action, in Rasa's shape.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;
use tracing::Instrument as _;

use rusa_core::actions::{ActionError, ActionOutcome, BoxFuture, CustomActionExecutor};
use rusa_core::{DialogueStateTracker, EventVerbosity};
use rusa_project::{Domain, EndpointConfig};

use crate::answer;
use crate::endpoint::HttpEndpoint;
use crate::error::ConfigError;

/// The Rasa version rusa announces to action servers (`version` of each call).
///
/// It is the version whose wire format rusa reproduces (the recorded call in
/// `shared/fixtures/moodbot/samples/action_server_real_call_from_rasa_3.6.21.json`). The
/// Python rasa-sdk only compares it with its own version to log a compatibility warning;
/// it never changes what the server does.
pub const RASA_VERSION: &str = "3.6.21";

/// The endpoint key that limits the domain to the actions declared with `send_domain`.
const SELECTIVE_DOMAIN: &str = "enable_selective_domain";

/// The endpoint key that sets the largest answer read from the action server, in bytes.
pub const MAX_ANSWER_BYTES_KEY: &str = "max_answer_bytes";

/// The largest answer read from the action server unless the endpoint's
/// `max_answer_bytes` says otherwise: 4 MiB. A larger answer fails the action as a
/// closed port does (the bot says nothing of it, nothing of it is stored).
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Runs custom actions on an action server over HTTP, as Rasa's `RemoteAction` does.
///
/// Cloning is cheap: clones share the connection pool.
#[derive(Clone)]
pub struct HttpActionExecutor {
    client: reqwest::Client,
    /// The `url` with `token` and `params` as query parameters.
    url: Url,
    /// The `url` without query string or credentials: what logs and spans show.
    display_url: Arc<str>,
    basic_auth: Option<(String, Option<String>)>,
    /// With `enable_selective_domain`, only actions declared with `send_domain: true` get
    /// the domain.
    selective_domain: bool,
    /// The largest answer read ([`DEFAULT_MAX_ANSWER_BYTES`], `max_answer_bytes`).
    max_answer_bytes: usize,
}

impl std::fmt::Debug for HttpActionExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpActionExecutor")
            .field("url", &self.display_url)
            .finish_non_exhaustive()
    }
}

impl HttpActionExecutor {
    /// A client for the `action_endpoint` of the endpoints file: `url`; `token` (sent as
    /// the query parameter `token_name`, default `token`); `params` (more query
    /// parameters); `headers`; `basic_auth` (`username`, `password`);
    /// `enable_selective_domain` (default false; when true, only actions declared with
    /// `send_domain: true` receive the domain, as in Rasa). Each call sends the domain of
    /// the model that runs the action (serialized per call, so that a model loaded later
    /// is described rightly); `timeout` bounds each call from connecting to the last byte
    /// of the answer (`rusa run --response-timeout`); `max_answer_bytes` (default
    /// [`DEFAULT_MAX_ANSWER_BYTES`]) bounds the answer's size.
    pub fn new(endpoint: &EndpointConfig, timeout: Duration) -> Result<Self, ConfigError> {
        let HttpEndpoint {
            client,
            url,
            display_url,
            basic_auth,
        } = HttpEndpoint::new(endpoint, timeout)?;
        let selective_domain = endpoint
            .params
            .get(SELECTIVE_DOMAIN)
            .is_some_and(|v| v == &Value::Bool(true) || v.as_str() == Some("true"));
        let max_answer_bytes = match endpoint.params.get(MAX_ANSWER_BYTES_KEY) {
            None | Some(Value::Null) => DEFAULT_MAX_ANSWER_BYTES,
            Some(value) => value
                .as_u64()
                .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
                .filter(|n| *n > 0)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(ConfigError::InvalidMaxAnswerBytes)?,
        };
        Ok(Self {
            client,
            url,
            display_url,
            basic_auth,
            selective_domain,
            max_answer_bytes,
        })
    }

    /// The action server's URL without query string and credentials.
    pub fn url(&self) -> &str {
        &self.display_url
    }

    /// The JSON body of the call of `action`, exactly as Rasa 3.6 sends it.
    pub fn request_body(
        &self,
        action: &str,
        tracker: &DialogueStateTracker,
        domain: &Domain,
    ) -> String {
        let tracker_json = tracker.current_state(EventVerbosity::All);
        let string = |s: &str| Value::String(s.to_owned()).to_string();
        let mut body = format!(
            "{{\"next_action\":{},\"sender_id\":{},\"tracker\":{},\"version\":{}",
            string(action),
            string(&tracker.sender_id),
            tracker_json,
            string(RASA_VERSION),
        );
        let send_domain = !self.selective_domain
            || domain
                .actions
                .iter()
                .any(|a| a.name == action && a.send_domain);
        if send_domain {
            body.push_str(",\"domain\":");
            body.push_str(&domain.to_rasa_json().to_string());
        }
        body.push('}');
        body
    }

    async fn call(
        &self,
        action: &str,
        tracker: &DialogueStateTracker,
        domain: &Domain,
    ) -> Result<ActionOutcome, ActionError> {
        let body = self.request_body(action, tracker, domain);
        let span = crate::endpoint::request_span(&self.display_url, body.len());
        let mut request = self.client.post(self.url.clone());
        if let Some((user, password)) = &self.basic_auth {
            request = request.basic_auth(user, password.as_deref());
        }
        request = crate::endpoint::with_trace_context(request, &span);
        let failed = |message: String| ActionError::Failed {
            action: action.to_owned(),
            message,
        };
        let result = async {
            let mut response = request.body(body).send().await.map_err(|e| {
                tracing::debug!(error = %e, "the request to the action server failed");
                failed(self.transport_message(&e))
            })?;
            let status = response.status();
            tracing::Span::current().record("http.response.status_code", status.as_u16());
            let too_large = || {
                failed(format!(
                    "the action server's answer is larger than {} bytes (max_answer_bytes)",
                    self.max_answer_bytes
                ))
            };
            if response
                .content_length()
                .is_some_and(|n| n > self.max_answer_bytes as u64)
            {
                return Err(too_large());
            }
            let mut bytes = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(|e| {
                tracing::debug!(error = %e, "reading the action server's answer failed");
                failed(self.transport_message(&e))
            })? {
                if bytes.len() + chunk.len() > self.max_answer_bytes {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            self.interpret(action, status, &bytes, tracker, domain)
        }
        .instrument(span.clone())
        .await;
        if let Err(err) = &result {
            // A rejection is an answer of the action server, not a failure of the call.
            if !matches!(err, ActionError::Rejected { .. }) {
                rusa_core::span_status::record_failure(&span, "ActionError", &err.to_string());
            }
            span.in_scope(|| {
                tracing::warn!(
                    action,
                    url = &*self.display_url,
                    error = %err,
                    "the action server did not run the action"
                );
            });
        }
        result
    }

    fn transport_message(&self, err: &reqwest::Error) -> String {
        if err.is_timeout() {
            "timed out waiting for the action server".into()
        } else if err.is_connect() {
            format!(
                "could not connect to the action server at {}; is it running?",
                self.display_url
            )
        } else {
            "the request to the action server failed".into()
        }
    }

    fn interpret(
        &self,
        action: &str,
        status: StatusCode,
        body: &[u8],
        tracker: &DialogueStateTracker,
        domain: &Domain,
    ) -> Result<ActionOutcome, ActionError> {
        let failed = |message: String| ActionError::Failed {
            action: action.to_owned(),
            message,
        };
        match status {
            StatusCode::OK => {
                let json: Value = serde_json::from_slice(body).map_err(|e| {
                    tracing::debug!(error = %e, "the action server's answer is not JSON");
                    failed("the action server's answer is not valid JSON".into())
                })?;
                let outcome = answer::outcome(&json, tracker, domain);
                // A name no store can keep fails the action as a bad answer does, on every
                // store alike, instead of failing the turn when the store writes it.
                rusa_core::events::check_event_names(&outcome.events)
                    .map_err(|e| failed(format!("the action server's answer is refused: {e}")))?;
                Ok(outcome)
            }
            StatusCode::BAD_REQUEST => {
                let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
                tracing::debug!(answer = %json, "the action server rejected the action");
                let message = json
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the action server rejected the action")
                    .to_owned();
                let action = json
                    .get("action_name")
                    .and_then(Value::as_str)
                    .unwrap_or(action)
                    .to_owned();
                Err(ActionError::Rejected { action, message })
            }
            StatusCode::NOT_FOUND => Err(failed("action not found on the action server".into())),
            other => {
                tracing::debug!(
                    status = other.as_u16(),
                    body = %String::from_utf8_lossy(body),
                    "the action server answered with an error"
                );
                Err(failed(format!(
                    "the action server answered with HTTP status {}",
                    other.as_u16()
                )))
            }
        }
    }
}

impl CustomActionExecutor for HttpActionExecutor {
    fn run<'a>(
        &'a self,
        action: &'a str,
        tracker: &'a DialogueStateTracker,
        domain: &'a Domain,
    ) -> BoxFuture<'a, Result<ActionOutcome, ActionError>> {
        Box::pin(self.call(action, tracker, domain))
    }
}
