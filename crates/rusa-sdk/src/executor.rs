//! Running one action call: finding the action, the domain (with rasa-sdk's digest cache),
//! the tracker, running the action apart from the other requests, and the answer.

use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use tracing::Instrument as _;

use crate::error::{ActionError, RequestError};
use crate::forms::json_list;
use crate::{Action, Dispatcher, Domain, Tracker};

/// The registered actions and the cached domain.
pub(crate) struct Executor {
    actions: IndexMap<String, Arc<dyn Action>>,
    cache: Mutex<DomainCache>,
}

/// The last domain Rasa sent and its digest (rasa-sdk ≥ 3.9, `update_and_return_domain`).
#[derive(Default)]
struct DomainCache {
    domain: Option<Arc<Domain>>,
    /// The JSON text the cached domain was read from.
    raw: Option<Box<str>>,
    digest: Option<String>,
}

/// The parts of a webhook request the executor reads; the tracker and the domain stay JSON
/// text until they are needed.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Call {
    #[serde(default)]
    pub(crate) next_action: Value,
    #[serde(default)]
    pub(crate) sender_id: Value,
    #[serde(default)]
    pub(crate) version: Value,
    #[serde(default)]
    pub(crate) tracker: Option<Box<RawValue>>,
    #[serde(default)]
    pub(crate) domain: Option<Box<RawValue>>,
    #[serde(default)]
    pub(crate) domain_digest: Value,
}

/// Python's truthiness of a JSON value.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

impl Executor {
    pub(crate) fn new(actions: IndexMap<String, Arc<dyn Action>>) -> Self {
        Self {
            actions,
            cache: Mutex::new(DomainCache::default()),
        }
    }

    /// The action names, in registration order (`GET /actions`).
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.actions.keys().map(String::as_str)
    }

    /// The domain for this call: the request's, cached when it is not empty; the cached one
    /// when the request has none and its digest matches the cache's; 449 otherwise. A domain
    /// whose JSON text is the cached one's is not read again.
    fn domain(&self, call: &Call, action: &str) -> Result<Arc<Domain>, RequestError> {
        let digest = call.domain_digest.as_str();
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let digest_valid = cache
            .digest
            .as_deref()
            .is_some_and(|cached| !cached.is_empty() && Some(cached) == digest);
        let Some(raw) = &call.domain else {
            if !digest_valid {
                return Err(RequestError::MissingDomain(action.to_owned()));
            }
            return Ok(cache.domain.clone().unwrap_or_default());
        };
        if let (Some(cached), Some(cached_raw)) = (&cache.domain, &cache.raw)
            && cached_raw.as_ref() == raw.get()
        {
            let cached = Arc::clone(cached);
            cache.digest = digest.map(str::to_owned);
            return Ok(cached);
        }
        let domain: Value = serde_json::from_str(raw.get())
            .map_err(|e| RequestError::BadRequest(format!("the domain cannot be read: {e}")))?;
        if truthy(&domain) {
            let domain = Arc::new(Domain::from_json(domain));
            cache.domain = Some(Arc::clone(&domain));
            cache.raw = Some(raw.get().into());
            cache.digest = digest.map(str::to_owned);
            Ok(domain)
        } else {
            Ok(cache.domain.clone().unwrap_or_default())
        }
    }

    /// Runs the call of `action_name` (`next_action`, not empty) on `tracker` (read from the
    /// call's `tracker`, `None` when it has none) and returns the answer's body:
    /// `{"events": [...], "responses": [...]}`.
    pub(crate) async fn run(
        &self,
        call: &Call,
        tracker: Option<Result<Tracker, RequestError>>,
        action_name: &str,
    ) -> Result<Value, RequestError> {
        let sender_id = match &call.sender_id {
            Value::String(s) => s.clone(),
            Value::Null => "None".to_owned(),
            other => other.to_string(),
        };
        let span = tracing::info_span!(
            "ActionExecutor.run",
            sender_id = %sender_id,
            action_name = action_name,
        );
        async {
            tracing::debug!("received a request to run '{action_name}'");
            let Some(action) = self.actions.get(action_name).cloned() else {
                return Err(RequestError::ActionNotFound(action_name.to_owned()));
            };
            let Some(tracker) = tracker else {
                return Err(RequestError::BadRequest(
                    "the request has no `tracker`".into(),
                ));
            };
            let domain = self.domain(call, action_name)?;
            let tracker = tracker?;
            let (result, messages) = run_apart(action, tracker, domain).await;
            let events = match result {
                Ok(events) => events,
                Err(ActionError::Rejected(rejection)) => {
                    tracing::debug!(
                        action = action_name,
                        "the action rejected its execution: {}",
                        rejection.message
                    );
                    return Err(RequestError::Rejected(rejection));
                }
                Err(ActionError::Failed(message)) => {
                    tracing::error!(action = action_name, "the action failed: {message}");
                    return Err(RequestError::Failed {
                        action_name: action_name.to_owned(),
                        message,
                    });
                }
            };
            let events: Vec<Value> = events
                .into_iter()
                .map(Value::from)
                .filter(|event| {
                    let valid = event.get("event").is_some_and(truthy);
                    if !valid {
                        tracing::error!(
                            action = action_name,
                            "an event without an `event` key was left out of the answer"
                        );
                    }
                    valid
                })
                .collect();
            Ok(api_response(events, messages))
        }
        .instrument(span)
        .await
    }
}

/// Runs the action on a thread of the blocking pool, driving it there: an action that
/// blocks holds up only its own request, and one that panics fails only its own request.
async fn run_apart(
    action: Arc<dyn Action>,
    tracker: Tracker,
    domain: Arc<Domain>,
) -> (Result<Vec<crate::Event>, ActionError>, Vec<Value>) {
    let handle = tokio::runtime::Handle::current();
    let span = tracing::Span::current();
    let name = action.name().to_owned();
    let joined = tokio::task::spawn_blocking(move || {
        handle.block_on(
            async move {
                let mut dispatcher = Dispatcher::new();
                let result = action.run(&mut dispatcher, &tracker, &domain).await;
                (result, dispatcher.into_messages())
            }
            .instrument(span),
        )
    })
    .await;
    match joined {
        Ok(outcome) => outcome,
        Err(e) => {
            let why = if e.is_panic() {
                "it panicked"
            } else {
                "it was cancelled"
            };
            (
                Err(ActionError::Failed(format!(
                    "the action '{name}' did not finish: {why}"
                ))),
                Vec::new(),
            )
        }
    }
}

/// `{"events", "responses"}`, in the span `ActionExecutor._create_api_response`.
fn api_response(events: Vec<Value>, messages: Vec<Value>) -> Value {
    let span = tracing::info_span!(
        "ActionExecutor._create_api_response",
        events = tracing::field::Empty,
        slots = tracing::field::Empty,
        utters = tracing::field::Empty,
        message_count = messages.len() as i64,
    );
    // The attributes are JSON lists: written only when the span is recorded.
    if !span.is_disabled() {
        let kinds = json_list(
            events
                .iter()
                .filter_map(|e| e.get("event").and_then(Value::as_str)),
        );
        let slots = json_list(
            events
                .iter()
                .filter(|e| e.get("event").and_then(Value::as_str) == Some("slot"))
                .filter_map(|e| e.get("name").and_then(Value::as_str))
                .filter(|name| *name != crate::tracker::REQUESTED_SLOT),
        );
        let utters: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.get("response").and_then(Value::as_str))
            .filter(|r| !r.is_empty())
            .collect();
        span.record("events", kinds.as_str());
        span.record("slots", slots.as_str());
        span.record(
            "utters",
            serde_json::to_string(&utters).unwrap_or_default().as_str(),
        );
    }
    let _entered = span.entered();
    let mut body = Map::new();
    body.insert("events".into(), Value::Array(events));
    body.insert("responses".into(), Value::Array(messages));
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(value: Value) -> Call {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_domain_cache_follows_rasa_sdk() {
        let executor = Executor::new(IndexMap::new());
        let d = |v: Value| executor.domain(&call(v), "a");
        // No domain, no digest: 449.
        assert!(matches!(d(json!({})), Err(RequestError::MissingDomain(_))));
        // A domain with digest d1 is cached; then no domain + d1 is the cached one.
        assert!(d(json!({"domain": {"intents": ["x"]}, "domain_digest": "d1"})).is_ok());
        let cached = d(json!({"domain_digest": "d1"})).unwrap();
        assert_eq!(cached.get("intents"), Some(&json!(["x"])));
        // Another digest: 449.
        assert!(matches!(
            d(json!({"domain_digest": "d2"})),
            Err(RequestError::MissingDomain(_))
        ));
        // `{}` is not cached and gets the cached domain, even with a stale digest.
        let empty = d(json!({"domain": {}, "domain_digest": "d2"})).unwrap();
        assert_eq!(empty.get("intents"), Some(&json!(["x"])));
        // A domain without a digest is cached with no digest: the next call without a
        // domain is a 449.
        assert!(d(json!({"domain": {"intents": []}})).is_ok());
        assert!(matches!(
            d(json!({"domain_digest": "d1"})),
            Err(RequestError::MissingDomain(_))
        ));
    }
}
