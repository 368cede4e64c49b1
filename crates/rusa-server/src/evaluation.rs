//! `POST /model/test/stories` and `POST /model/test/intents`: the evaluations of `rusa test
//! core` and `rusa test nlu` on data sent in the request, answered in Rasa 3.6's JSON.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use rusa_core::agent::Agent;
use rusa_core::evaluate::{CoreEvaluation, NluEvaluation, Report, evaluate_nlu, evaluate_stories};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;

/// A request body written to a file of its own for the project loaders, removed when
/// dropped.
struct BodyFile(PathBuf);

impl BodyFile {
    fn write(bytes: &[u8], extension: &str) -> Result<Self, ApiError> {
        let path = std::env::temp_dir().join(format!(
            "rusa-api-{}.{extension}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&path, bytes).map_err(|e| ApiError::internal(&e))?;
        Ok(Self(path))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for BodyFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The body as text: not empty (Rasa's message when it is), UTF-8, within the limit.
fn text_body(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
    empty: &str,
) -> Result<Bytes, ApiError> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::payload_too_large(limit),
        other => ApiError::bad_request(other.body_text()),
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(empty));
    }
    if std::str::from_utf8(&bytes).is_err() {
        return Err(ApiError::bad_request("the request body is not valid UTF-8"));
    }
    Ok(bytes)
}

/// A loader's complaint about the data sent: 400, naming the problem (the temporary file's
/// name is replaced by "the request body").
fn data_error(error: &dyn std::fmt::Display, file: &BodyFile) -> ApiError {
    let text = error
        .to_string()
        .replace(&file.path().display().to_string(), "the request body");
    ApiError::bad_request(format!("the data sent is not valid: {text}"))
}

fn loaded_agent(state: &AppState) -> Result<Arc<Agent>, ApiError> {
    state
        .processor
        .agent()
        .ok_or_else(ApiError::conflict_no_model)
}

/// Rasa's `bool_arg`: `true` (any case) is true, anything else false.
fn bool_arg(value: Option<&str>) -> bool {
    value.is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct StoriesQuery {
    e2e: Option<String>,
}

/// Replays the test stories of the body (YAML) with the loaded model, as `rusa test core`.
pub(crate) async fn test_stories(
    State(state): State<AppState>,
    Query(query): Query<StoriesQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = text_body(
        body,
        state.config.body_limit,
        "You must provide some stories in the request body.",
    )?;
    let agent = loaded_agent(&state)?;
    if !agent.has_policies {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            "the loaded model has no dialogue policies; train one with stories",
        ));
    }
    let e2e = bool_arg(query.e2e.as_deref());
    let file = BodyFile::write(&bytes, "yml")?;
    let evaluation = tokio::task::spawn_blocking(move || {
        let mut warnings = Vec::new();
        let stories = rusa_project::load_test_stories(file.path(), &mut warnings)
            .map_err(|e| data_error(&e, &file))?;
        if stories.is_empty() {
            return Err(ApiError::bad_request(
                "the request body holds no stories (a YAML document with `stories:`)",
            ));
        }
        Ok(evaluate_stories(&agent, &stories, e2e))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(stories_json(&evaluation)))
}

/// Rasa's answer: the per-action report, weighted precision and F1, accuracy, each
/// prediction, the share of predictions remembered from the training data, and `e2e`.
fn stories_json(evaluation: &CoreEvaluation) -> Value {
    let predictions = &evaluation.predictions;
    let remembered = predictions
        .iter()
        .filter(|p| p.policy.contains("Memoization") || p.policy.contains("Rule"))
        .count();
    let fraction = if predictions.is_empty() {
        0.0
    } else {
        remembered as f64 / predictions.len() as f64
    };
    json!({
        "report": evaluation.actions.to_json(),
        "precision": evaluation.actions.weighted_avg.precision,
        "f1": evaluation.actions.weighted_avg.f1,
        "accuracy": evaluation.actions.accuracy,
        "actions": predictions,
        "in_training_data_fraction": fraction,
        "is_end_to_end_evaluation": evaluation.end_to_end,
    })
}

#[derive(Debug, Deserialize, Default)]
pub(crate) struct IntentsQuery {
    model: Option<String>,
    cross_validation_folds: Option<String>,
}

/// Evaluates the NLU of the loaded model (or of the model file `?model=`) on the NLU data of
/// the body: YAML (`Content-Type: application/x-yaml`) or Rasa's JSON, as `rusa test nlu`.
pub(crate) async fn test_intents(
    State(state): State<AppState>,
    Query(query): Query<IntentsQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let bytes = text_body(
        body,
        state.config.body_limit,
        "You must provide some nlu data in the request body in order to evaluate your model.",
    )?;
    if query.cross_validation_folds.is_some() {
        return Err(ApiError::bad_request(
            "cross_validation_folds is not supported by the API; run `rusa test nlu --cross-validation`",
        ));
    }
    let is_yaml = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("yaml") || v.contains("yml"));
    let loaded = match &query.model {
        Some(_) => None,
        None => Some(loaded_agent(&state)?),
    };
    let model = query.model.clone();
    let file = BodyFile::write(&bytes, if is_yaml { "yml" } else { "json" })?;
    let evaluation = tokio::task::spawn_blocking(move || {
        let agent = match (loaded, model) {
            (Some(agent), _) => agent,
            (None, Some(path)) => Arc::new(Agent::load(Path::new(&path)).map_err(|e| {
                ApiError::bad_request(format!("the model '{path}' could not be loaded: {e}"))
            })?),
            (None, None) => return Err(ApiError::conflict_no_model()),
        };
        if agent.nlu.is_none() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Conflict",
                "the model has no NLU pipeline; train one with NLU data",
            ));
        }
        let mut warnings = Vec::new();
        let data = rusa_project::load_nlu_data(&[file.path().to_path_buf()], &mut warnings)
            .map_err(|e| data_error(&e, &file))?;
        if data.examples.is_empty() {
            return Err(ApiError::bad_request(
                "the request body holds no NLU examples",
            ));
        }
        Ok(evaluate_nlu(&agent, &data.examples))
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(intents_json(&evaluation)))
}

/// Rasa's `run_evaluation` with `report_as_dict`: the intent evaluation with every
/// prediction and the errors, and per entity extractor its report and errors.
fn intents_json(evaluation: &NluEvaluation) -> Value {
    let prediction = |record: &Value| {
        json!({
            "text": record["text"],
            "intent": record["intent"],
            "predicted": record["intent_prediction"]["name"],
            "confidence": record["intent_prediction"]["confidence"],
        })
    };
    let predictions: Vec<Value> = evaluation
        .successes
        .iter()
        .chain(
            evaluation
                .errors
                .iter()
                .filter(|e| e.get("intent_prediction").is_some()),
        )
        .map(prediction)
        .collect();
    let intent_errors: Vec<&Value> = evaluation
        .errors
        .iter()
        .filter(|e| e.get("intent_prediction").is_some())
        .collect();
    let scores = |report: &Report| {
        json!({
            "report": report.to_json(),
            "precision": report.weighted_avg.precision,
            "f1_score": report.weighted_avg.f1,
            "accuracy": report.accuracy,
        })
    };
    let mut intent = scores(&evaluation.intents);
    intent["predictions"] = json!(predictions);
    intent["errors"] = json!(intent_errors);
    let entities: serde_json::Map<String, Value> = evaluation
        .extractors
        .iter()
        .map(|(name, (report, errors))| {
            let mut v = scores(report);
            v["errors"] = json!(errors);
            (name.clone(), v)
        })
        .collect();
    json!({
        "intent_evaluation": intent,
        "entity_evaluation": if entities.is_empty() { Value::Null } else { Value::Object(entities) },
        "response_selection_evaluation": Value::Null,
    })
}
