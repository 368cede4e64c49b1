//! The HTTP API (`--enable-api`): server status, parsing, conversations, the domain and the
//! model. Routes, methods and answers follow Rasa's HTTP API; every error is an [`ApiError`].

use std::path::PathBuf;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts as _, Path, Query, RawPathParams, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use rusa_core::agent::Agent;
use rusa_core::processor::{
    ExternalIntent, TurnEnv, TurnOutput, UserMessage, parse_message, system_now,
};
use rusa_core::{DialogueStateTracker, Event, EventKind, EventVerbosity, UserUttered};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::auth::{Caller, authenticate};
use crate::error::ApiError;
use crate::processor::ProcessError;
use crate::rest::{json_body, turn_error};

/// Every route of the API, with its method. The OpenAPI document is generated from this
/// list, and a test checks that each of them answers (keep it in step with [`routes`]).
pub const API_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/version"),
    ("GET", "/status"),
    ("POST", "/model/parse"),
    ("PUT", "/model"),
    ("DELETE", "/model"),
    ("GET", "/domain"),
    ("GET", "/conversations/{conversation_id}/tracker"),
    ("POST", "/conversations/{conversation_id}/tracker/events"),
    ("PUT", "/conversations/{conversation_id}/tracker/events"),
    ("POST", "/conversations/{conversation_id}/messages"),
    ("POST", "/conversations/{conversation_id}/predict"),
    ("POST", "/conversations/{conversation_id}/execute"),
    ("POST", "/conversations/{conversation_id}/trigger_intent"),
    ("GET", "/conversations/{conversation_id}/story"),
    ("POST", "/model/train"),
    ("POST", "/model/test/stories"),
    ("POST", "/model/test/intents"),
    ("GET", "/openapi.json"),
];

/// Routes served without `--enable-api` too: the greeting, the version and the OpenAPI document.
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(hello))
        .route("/version", get(version))
        .route("/openapi.json", get(openapi))
}

pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/status", get(status))
        .route("/model/parse", post(parse))
        .route("/model", put(load_model).delete(unload_model))
        .route("/domain", get(domain))
        .route("/conversations/{conversation_id}/tracker", get(get_tracker))
        .route(
            "/conversations/{conversation_id}/tracker/events",
            post(append_events).put(replace_events),
        )
        .route(
            "/conversations/{conversation_id}/messages",
            post(add_message),
        )
        .route("/conversations/{conversation_id}/predict", post(predict))
        .route("/conversations/{conversation_id}/execute", post(execute))
        .route(
            "/conversations/{conversation_id}/trigger_intent",
            post(trigger_intent),
        )
        .route("/conversations/{conversation_id}/story", get(story))
        .route("/model/train", post(crate::training::train))
        .route("/model/test/stories", post(crate::evaluation::test_stories))
        .route("/model/test/intents", post(crate::evaluation::test_intents))
        .route_layer(middleware::from_fn(crate::request_limits::conversation_id))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_auth));
    public_routes().merge(protected)
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("there is no such endpoint")
}

#[derive(Debug, Deserialize, Default)]
struct TokenQuery {
    token: Option<String>,
}

/// Checks the token or JWT of API requests; a JWT user may only reach their own
/// conversation.
async fn require_auth(
    State(state): State<AppState>,
    Query(query): Query<TokenQuery>,
    headers: HeaderMap,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let caller = authenticate(
        state.config.auth_token.as_deref(),
        state.config.jwt.as_ref(),
        query.token.as_deref(),
        &headers,
    )
    .map_err(|reason| ApiError::new(StatusCode::UNAUTHORIZED, "NotAuthenticated", reason))?;
    let allowed = match &caller {
        Caller::Admin => true,
        Caller::NoScope => false,
        // The route's own, percent-decoded `conversation_id`, as the handler will see it.
        Caller::User(user) => {
            let (mut parts, body) = request.into_parts();
            let params = RawPathParams::from_request_parts(&mut parts, &())
                .await
                .ok();
            request = Request::from_parts(parts, body);
            params.is_some_and(|params| {
                params
                    .iter()
                    .any(|(key, value)| key == "conversation_id" && value == user)
            })
        }
    };
    if !allowed {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "NotAuthorized",
            "this token's user may not use this route: a JWT of role 'user' reaches only its own conversation's routes",
        ));
    }
    Ok(next.run(request).await)
}

async fn hello() -> String {
    format!("Hello from rusa: {}", env!("CARGO_PKG_VERSION"))
}

/// The Rasa version rusa answers as (the version the action server is told too).
pub const RASA_VERSION: &str = "3.6.21";
/// Rasa 3.6's `MINIMUM_COMPATIBLE_VERSION` (rasa/constants.py).
pub const RASA_MINIMUM_COMPATIBLE_VERSION: &str = "3.5.0";

/// Rasa's answer, the Rasa version rusa is compatible with, and rusa's own version.
async fn version() -> Json<Value> {
    Json(json!({
        "version": RASA_VERSION,
        "minimum_compatible_version": RASA_MINIMUM_COMPATIBLE_VERSION,
        "rusa_version": env!("CARGO_PKG_VERSION"),
    }))
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

fn agent(state: &AppState) -> Result<Arc<Agent>, ApiError> {
    state
        .processor
        .agent()
        .ok_or_else(ApiError::conflict_no_model)
}

async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let agent = agent(&state)?;
    let file = state
        .processor
        .model_path()
        .map(|p| p.display().to_string());
    Ok(Json(
        json!({"model_file": file, "model_id": agent.metadata.model_id, "num_active_training_jobs": 0}),
    ))
}

#[derive(Debug, Deserialize)]
struct ParseRequest {
    text: String,
    #[serde(default)]
    message_id: Option<String>,
}

async fn parse(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: ParseRequest = json_body(body, state.config.body_limit)?;
    let agent = agent(&state)?;
    let mut parse = rusa_core::processor::shortcut_parse(&agent.dialogue.domain, &request.text)
        .unwrap_or_else(|| agent.parse(&request.text));
    if let Some(obj) = parse.as_object_mut() {
        obj.insert("text".into(), json!(request.text));
        if let Some(id) = request.message_id {
            obj.insert("message_id".into(), json!(id));
        }
    }
    Ok(Json(parse))
}

#[derive(Debug, Deserialize)]
struct ModelRequest {
    model_file: Option<String>,
    model_server: Option<Value>,
    remote_storage: Option<Value>,
}

/// Loads the model of `model_file`, or pulls one from `model_server` (an endpoint: `url`,
/// `token`, `headers`, `wait_time_between_pulls`, ... as `models:` in endpoints.yml; with
/// a wait, pulling goes on in the background). Either replaces what a previous
/// `PUT /model` set to pull. Turns in flight finish on the model they started with.
async fn load_model(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let request: ModelRequest = json_body(body, state.config.body_limit)?;
    if request.remote_storage.is_some_and(|r| !r.is_null()) {
        return Err(ApiError::bad_request(
            "remote_storage (aws, gcs, azure) is not supported by rusa; give model_file or model_server",
        ));
    }
    if let Some(server) = request.model_server.filter(|s| !s.is_null()) {
        return load_from_model_server(&state, server).await;
    }
    let Some(file) = request.model_file else {
        return Err(ApiError::bad_request(
            "the request names neither model_file nor model_server",
        ));
    };
    state.processor.replace_model_pulling(None);
    let path = PathBuf::from(file);
    let agent = tokio::task::spawn_blocking({
        let path = path.clone();
        move || Agent::load(&path)
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|e| ApiError::bad_request(format!("the model could not be loaded: {e}")))?;
    state.processor.set_agent(Some((Arc::new(agent), path)));
    Ok(StatusCode::NO_CONTENT)
}

async fn load_from_model_server(state: &AppState, server: Value) -> Result<StatusCode, ApiError> {
    use crate::model_server::{ModelServer, download_dir};
    let Value::Object(mut params) = server else {
        return Err(ApiError::bad_request(
            "'model_server' must be an object with the model server's url",
        ));
    };
    let Some(Value::String(url)) = params.remove("url") else {
        return Err(ApiError::bad_request("'model_server' names no url"));
    };
    let config = rusa_project::EndpointConfig {
        kind: None,
        url: Some(url),
        params,
        key_pos: Default::default(),
        pos: rusa_project::Pos::new(std::path::Path::new("model_server").into(), 1, 1),
    };
    let server = ModelServer::new(&config, download_dir())
        .map_err(|e| ApiError::bad_request(format!("'model_server' is not valid: {e}")))?;
    server.pull(&state.processor).await.map_err(|e| {
        ApiError::bad_request(format!(
            "the model could not be loaded from the model server: {e}"
        ))
    })?;
    let pulling = server.wait_between_pulls.is_some().then(|| {
        tokio::spawn(Arc::new(server).keep_pulling(Arc::clone(&state.processor))).abort_handle()
    });
    state.processor.replace_model_pulling(pulling);
    Ok(StatusCode::NO_CONTENT)
}

async fn unload_model(State(state): State<AppState>) -> StatusCode {
    state.processor.replace_model_pulling(None);
    state.processor.set_agent(None);
    StatusCode::NO_CONTENT
}

async fn domain(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let agent = agent(&state)?;
    Ok(Json(crate::openapi::domain_json(&agent.dialogue.domain)))
}

#[derive(Debug, Deserialize, Default)]
struct TrackerQuery {
    include_events: Option<String>,
    until: Option<f64>,
}

fn verbosity(value: Option<&str>) -> Result<EventVerbosity, ApiError> {
    Ok(match value.map(str::to_ascii_uppercase).as_deref() {
        None | Some("AFTER_RESTART") => EventVerbosity::AfterRestart,
        Some("ALL") => EventVerbosity::All,
        Some("APPLIED") => EventVerbosity::Applied,
        Some("NONE") => EventVerbosity::None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "include_events must be ALL, APPLIED, AFTER_RESTART or NONE, not '{other}'"
            )));
        }
    })
}

async fn get_tracker(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<TrackerQuery>,
) -> Result<Json<Value>, ApiError> {
    let agent = agent(&state)?;
    let verbosity = verbosity(query.include_events.as_deref())?;
    let mut tracker = state
        .processor
        .get_tracker(&agent, &id)
        .await
        .map_err(turn_error)?;
    if tracker.events().is_empty() {
        // A conversation nobody started is shown with a new session, not saved (Rasa's
        // `fetch_full_tracker_with_initial_session`).
        let now = rusa_core::processor::system_now;
        let mut choose = rusa_core::responses::random_chooser();
        let mut env = rusa_core::processor::TurnEnv::new(&now, &mut choose);
        agent
            .dialogue
            .start_session(&mut tracker, state.processor.actions.as_ref(), &mut env)
            .await;
    }
    if let Some(until) = query.until {
        let events: Vec<Event> = tracker
            .events()
            .iter()
            .filter(|e| e.timestamp <= until)
            .cloned()
            .collect();
        tracker = DialogueStateTracker::from_events(&id, agent.dialogue.slot_specs.clone(), events);
    }
    Ok(Json(tracker.current_state(verbosity)))
}

/// Parses one event or a list of events.
fn events_from(value: Value) -> Result<Vec<Event>, ApiError> {
    let list = match value {
        Value::Array(items) => items,
        single => vec![single],
    };
    let events = list
        .into_iter()
        .map(|v| {
            serde_json::from_value::<Event>(v)
                .map_err(|e| ApiError::bad_request(format!("an event is not valid: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    crate::request_limits::check_events(&events)?;
    Ok(events)
}

/// Changes a conversation under its lock: `change` adds events to the tracker, the new
/// events are appended to the store and published, and the tracker is answered.
async fn change_tracker(
    state: &AppState,
    id: &str,
    verbosity: EventVerbosity,
    change: impl FnOnce(&mut DialogueStateTracker, &Agent) + Send,
) -> Result<Json<Value>, ApiError> {
    let agent = agent(state)?;
    let processor = &state.processor;
    let work = async {
        let mut tracker = processor.take_tracker(&agent, id).await?;
        let before = tracker.events().len();
        change(&mut tracker, &agent);
        let answer = tracker.current_state(verbosity);
        processor
            .save_tracker(&agent, tracker, before, &serde_json::Map::new())
            .await?;
        Ok(answer)
    };
    Ok(Json(processor.locked(id, work).await.map_err(turn_error)?))
}

async fn append_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<TrackerQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let value: Value = json_body(body, state.config.body_limit)?;
    let events = events_from(value)?;
    let verbosity = verbosity(query.include_events.as_deref())?;
    change_tracker(&state, &id, verbosity, |tracker, _| {
        for event in events {
            tracker.update(event);
        }
    })
    .await
}

async fn replace_events(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let value: Value = json_body(body, state.config.body_limit)?;
    let events = events_from(value)?;
    let agent = agent(&state)?;
    let processor = state.processor.clone();
    let work = async {
        processor.forget(&id);
        processor.tracker_store.replace(&id, &events).await?;
        let tracker = DialogueStateTracker::from_events(
            &id,
            agent.dialogue.slot_specs.clone(),
            events.clone(),
        );
        Ok(tracker.current_state(EventVerbosity::AfterRestart))
    };
    Ok(Json(processor.locked(&id, work).await.map_err(turn_error)?))
}

#[derive(Debug, Deserialize)]
struct MessageRequest {
    text: String,
    #[serde(default)]
    sender: Option<String>,
    #[serde(default)]
    parse_data: Option<Value>,
}

/// Adds a user message to the conversation without predicting what follows.
async fn add_message(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: MessageRequest = json_body(body, state.config.body_limit)?;
    if request.sender.as_deref().is_some_and(|s| s != "user") {
        return Err(ApiError::bad_request(
            "only messages from the user ('sender': 'user') can be added",
        ));
    }
    if let Some(intent) = request
        .parse_data
        .as_ref()
        .and_then(|p| p.get("intent"))
        .and_then(|i| i.get("name"))
        .and_then(Value::as_str)
    {
        let probe = Event::new(
            EventKind::User(UserUttered {
                text: None,
                parse_data: json!({"intent": {"name": intent}}).into(),
                input_channel: None,
                message_id: None,
            }),
            0.0,
        );
        crate::request_limits::check_events(std::slice::from_ref(&probe))?;
    }
    change_tracker(
        &state,
        &id,
        EventVerbosity::AfterRestart,
        |tracker, agent| {
            let message = UserMessage {
                text: request.text.clone(),
                input_channel: Some("rest".into()),
                message_id: Some(uuid::Uuid::new_v4().simple().to_string()),
                ..UserMessage::default()
            };
            let parse_data = request
                .parse_data
                .clone()
                .unwrap_or_else(|| parse_message(&agent.dialogue.domain, agent, &message));
            tracker.update(Event::new(
                EventKind::User(UserUttered {
                    text: Some(request.text.clone()),
                    parse_data: parse_data.into(),
                    input_channel: message.input_channel.clone(),
                    message_id: message.message_id.clone(),
                }),
                system_now(),
            ));
        },
    )
    .await
}

/// What the policies would do next, without doing it.
async fn predict(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let agent = agent(&state)?;
    let tracker = state
        .processor
        .get_tracker(&agent, &id)
        .await
        .map_err(turn_error)?;
    let prediction = agent
        .dialogue
        .policies
        .predict(&agent.dialogue.domain, &tracker);
    Ok(Json(json!({
        "scores": action_scores(&agent.dialogue.domain, &prediction.action, prediction.confidence),
        "policy": prediction.policy,
        "confidence": prediction.confidence,
        "tracker": tracker.current_state(EventVerbosity::AfterRestart),
    })))
}

/// Every action of the domain with its score, as Rasa answers `predict`: Rasa's default
/// actions, the declared actions, the responses (retrieval responses by their base name)
/// and the forms, most probable first, ties by name. The winning policy's prediction gives
/// the predicted action its confidence and every other action 0, as Rasa's rule and
/// memoization policies do.
fn action_scores(domain: &rusa_project::Domain, predicted: &str, confidence: f64) -> Vec<Value> {
    let mut names: std::collections::BTreeSet<&str> = rusa_project::validate::DEFAULT_ACTIONS
        .iter()
        .copied()
        .chain(["action_send_text"])
        .collect();
    names.extend(domain.actions.iter().map(|a| a.name.as_str()));
    names.extend(
        domain
            .responses
            .keys()
            .map(|k| k.split_once('/').map_or(k.as_str(), |(base, _)| base)),
    );
    names.extend(domain.forms.iter().map(|f| f.name.as_str()));
    names.insert(predicted);
    let mut scores: Vec<(&str, f64)> = names
        .into_iter()
        .map(|name| (name, if name == predicted { confidence } else { 0.0 }))
        .collect();
    scores.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    scores
        .into_iter()
        .map(|(action, score)| json!({"action": action, "score": score}))
        .collect()
}

#[derive(Debug, Deserialize)]
struct ExecuteRequest {
    name: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    confidence: Option<f64>,
}

/// `?output_channel=` of `execute` and `trigger_intent`.
#[derive(Debug, Deserialize, Default)]
struct OutputChannelQuery {
    output_channel: Option<String>,
}

impl OutputChannelQuery {
    /// The callback endpoint the bot's messages go to, as Rasa picks its output channel:
    /// the channel named (`latest`: the conversation's latest input channel) when it is one
    /// that sends replies itself, which of rusa's is `callback`. Otherwise (none named,
    /// `rest`, `collector`, a channel not served) the messages are only answered.
    fn callback(
        &self,
        state: &AppState,
        tracker: &DialogueStateTracker,
    ) -> Option<rusa_actions::HttpEndpoint> {
        let named = match self.output_channel.as_deref()? {
            "latest" => tracker.latest_input_channel()?,
            other => other,
        };
        (named == "callback")
            .then(|| state.config.callback.clone())
            .flatten()
    }
}

/// Runs the named action now (after a session start when the conversation needs one, as
/// Rasa's `execute_action`); answers the tracker and the bot messages.
async fn execute(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<OutputChannelQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: ExecuteRequest = json_body(body, state.config.body_limit)?;
    if request.name.trim().is_empty() {
        return Err(ApiError::bad_request(
            "name of the action not provided in request body",
        ));
    }
    let agent = agent(&state)?;
    if !is_known_action(&agent.dialogue.domain, &request.name) {
        return Err(ApiError::bad_request(format!(
            "the domain has no action '{}'",
            request.name
        )));
    }
    let processor = state.processor.clone();
    let work = async {
        let mut tracker = processor.take_tracker(&agent, &id).await?;
        if tracker.events().is_empty() {
            // Nothing is stored for a conversation that does not exist.
            return Ok(None);
        }
        let before = tracker.events().len();
        let prediction = rusa_core::policies::PolicyPrediction::new(
            &request.name,
            request.confidence.unwrap_or(1.0),
            request.policy.as_deref().unwrap_or("none"),
        );
        let now = system_now;
        let mut choose = rusa_core::responses::random_chooser();
        let mut env = TurnEnv::new(&now, &mut choose);
        let mut output = TurnOutput::default();
        agent
            .dialogue
            .update_session(&mut tracker, processor.actions.as_ref(), &mut env)
            .await;
        let message = UserMessage {
            input_channel: Some("rest".into()),
            ..UserMessage::default()
        };
        agent
            .dialogue
            .run_action(
                &mut tracker,
                processor.actions.as_ref(),
                &message,
                &mut env,
                &mut output,
                &prediction,
            )
            .await;
        let callback = query.callback(&state, &tracker);
        let answer = json!({
            "tracker": tracker.current_state(EventVerbosity::AfterRestart),
            "messages": output.messages.iter().flat_map(|m| m.rest_payloads(&id)).collect::<Vec<_>>(),
        });
        let new_events = tracker.events()[before..].to_vec();
        processor
            .save_tracker(&agent, tracker, before, &serde_json::Map::new())
            .await?;
        // A custom action run this way may set or cancel reminders, as in a turn.
        let channel = if callback.is_some() {
            "callback"
        } else {
            "rest"
        };
        processor.schedule_reminders(&id, channel, &new_events);
        Ok::<_, ProcessError>(Some((answer, output.messages, callback)))
    };
    let Some((answer, messages, callback)) =
        processor.locked(&id, work).await.map_err(turn_error)?
    else {
        return Err(ApiError::not_found(format!(
            "the conversation '{id}' does not exist"
        )));
    };
    if let Some(endpoint) = callback {
        crate::callback::deliver_all(&endpoint, &messages, &id).await;
    }
    Ok(Json(answer))
}

/// An action Rasa's `execute` would find: a default action, one the domain lists, a form,
/// a response, or a retrieval action.
fn is_known_action(domain: &rusa_project::Domain, name: &str) -> bool {
    let retrieval_prefix = format!("{name}/");
    rusa_project::validate::DEFAULT_ACTIONS.contains(&name)
        || domain.has_action(name)
        || domain.form(name).is_some()
        || domain.responses.contains_key(name)
        || (name.starts_with("utter_")
            && domain
                .responses
                .keys()
                .any(|k| k.starts_with(&retrieval_prefix)))
}

#[derive(Debug, Deserialize)]
struct TriggerRequest {
    name: String,
    #[serde(default)]
    entities: Option<Value>,
}

/// The entities of a `trigger_intent` request as the user event's: a list as it is, or
/// Rasa's short-hand object `{"entity": "value", ...}`.
fn trigger_entities(entities: Option<Value>) -> Result<Vec<Value>, ApiError> {
    match entities {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(map)) => Ok(ExternalIntent::shorthand_entities(&map)),
        Some(Value::Array(list)) if list.iter().all(Value::is_object) => Ok(list),
        Some(_) => Err(ApiError::bad_request(
            "'entities' must be an object of entity names and values, or a list of entity objects",
        )),
    }
}

/// Handles the intent as an external event: a user message `EXTERNAL: <intent>` (metadata
/// `is_external`, the conversation's latest input channel) that no NLU parsed, then the
/// prediction loop, as Rasa's `trigger_external_user_uttered`.
async fn trigger_intent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<OutputChannelQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let request: TriggerRequest = json_body(body, state.config.body_limit)?;
    if request.name.trim().is_empty() || request.name.contains(char::is_whitespace) {
        return Err(ApiError::bad_request("'name' must be an intent name"));
    }
    let entities = trigger_entities(request.entities)?;
    let agent = agent(&state)?;
    if agent.dialogue.domain.intent(&request.name).is_none() {
        return Err(ApiError::not_found(format!(
            "the domain has no intent '{}'",
            request.name
        )));
    }
    let incoming = crate::Incoming {
        sender_id: id.clone(),
        external: Some(ExternalIntent {
            intent: request.name.clone(),
            entities,
        }),
        ..crate::Incoming::default()
    };
    let callback = match query.output_channel {
        Some(_) => {
            let before = state
                .processor
                .get_tracker(&agent, &id)
                .await
                .map_err(turn_error)?;
            query.callback(&state, &before)
        }
        None => None,
    };
    let messages = match callback {
        Some(endpoint) => crate::callback::turn_with_callback(&state, endpoint, incoming).await?,
        None => crate::rest::complete_turn(&state, incoming).await?,
    };
    let tracker = state
        .processor
        .get_tracker(&agent, &id)
        .await
        .map_err(turn_error)?;
    Ok(Json(json!({
        "tracker": tracker.current_state(EventVerbosity::AfterRestart),
        "messages": messages.iter().flat_map(|m| m.rest_payloads(&id)).collect::<Vec<_>>(),
    })))
}

/// The conversation as a YAML story.
async fn story(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let agent = agent(&state)?;
    let tracker = state
        .processor
        .get_tracker(&agent, &id)
        .await
        .map_err(turn_error)?;
    let mut yaml = format!(
        "version: \"3.1\"\nstories:\n- story: {}\n  steps:\n",
        yaml_scalar(&id)
    );
    for event in tracker.applied_events() {
        match &event.kind {
            EventKind::User(u) => {
                if let Some(intent) = u.intent_name() {
                    yaml.push_str(&format!("  - intent: {}\n", yaml_scalar(intent)));
                    write_story_entities(&mut yaml, u.entities());
                }
            }
            EventKind::Action(a) => {
                if let Some(name) = a
                    .name
                    .as_deref()
                    .filter(|n| *n != "action_listen" && *n != "action_session_start")
                {
                    yaml.push_str(&format!("  - action: {}\n", yaml_scalar(name)));
                }
            }
            EventKind::Slot { name, value } => {
                yaml.push_str(&format!(
                    "  - slot_was_set:\n    - {}: {}\n",
                    yaml_scalar(name),
                    rusa_project::yaml_writer::inline(value)
                ));
            }
            EventKind::ActiveLoop { name } => {
                yaml.push_str(&format!(
                    "  - active_loop: {}\n",
                    name.as_deref().map_or("null".to_owned(), yaml_scalar)
                ));
            }
            _ => {}
        }
    }
    Ok((
        [(axum::http::header::CONTENT_TYPE, "text/yml; charset=utf-8")],
        yaml,
    )
        .into_response())
}

/// A string as a YAML scalar: plain, quoted when it could be read as something else.
fn yaml_scalar(s: &str) -> String {
    rusa_project::yaml_writer::scalar(s)
}

/// The entities of a user step as Rasa's story writer puts them: `- city: Berlin` for an
/// entity with a value, the mapping with its `role` and `group` when it has either, and
/// the bare name when it has no value.
fn write_story_entities(yaml: &mut String, entities: &[Value]) {
    let named: Vec<&Value> = entities
        .iter()
        .filter(|e| e.get("entity").and_then(Value::as_str).is_some())
        .collect();
    if named.is_empty() {
        return;
    }
    yaml.push_str("    entities:\n");
    for entity in named {
        let name = entity["entity"].as_str().unwrap_or_default();
        let Some(value) = entity.get("value") else {
            yaml.push_str(&format!("    - {}\n", yaml_scalar(name)));
            continue;
        };
        let extra: Vec<(&str, &Value)> = ["role", "group"]
            .into_iter()
            .filter_map(|key| entity.get(key).filter(|v| !v.is_null()).map(|v| (key, v)))
            .collect();
        if extra.is_empty() {
            yaml.push_str(&format!(
                "    - {}: {}\n",
                yaml_scalar(name),
                rusa_project::yaml_writer::inline(value)
            ));
        } else {
            yaml.push_str(&format!("    - entity: {}\n", yaml_scalar(name)));
            yaml.push_str(&format!(
                "      value: {}\n",
                rusa_project::yaml_writer::inline(value)
            ));
            for (key, v) in extra {
                yaml.push_str(&format!(
                    "      {key}: {}\n",
                    rusa_project::yaml_writer::inline(v)
                ));
            }
        }
    }
}
