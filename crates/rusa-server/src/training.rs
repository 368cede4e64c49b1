//! `POST /model/train`: trains the project of a YAML request body (config, domain and
//! training data in one document, as Rasa 3.6 takes it) with `rusa train`'s code and answers
//! the model archive.

use std::path::{Path, PathBuf};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::error::ApiError;
use crate::{AppState, TrainFailure, TrainRequest};

/// Top-level keys of config.yml; the training data's are `nlu`, `stories`, `rules`,
/// `responses` belongs to the domain (Rasa reads it there), `version` goes to every part.
const CONFIG_KEYS: &[&str] = &["recipe", "language", "pipeline", "policies", "assistant_id"];
const DATA_KEYS: &[&str] = &["nlu", "stories", "rules"];

/// Rasa's query parameters of the route.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct TrainQuery {
    save_to_default_model_directory: Option<String>,
    force_training: Option<String>,
    augmentation: Option<String>,
    num_threads: Option<String>,
    callback_url: Option<String>,
}

/// Rasa's `bool_arg`: `true` (any case) is true, `false` false, else the default.
fn bool_arg(value: Option<&str>, default: bool) -> bool {
    match value {
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        _ => default,
    }
}

/// Which part (config, domain, data) each line of the body belongs to: a line that starts a
/// top-level key starts that key's part; other lines stay in the current part. `version`
/// belongs to every part.
fn split_parts(text: &str) -> [String; 3] {
    let mut parts: [String; 3] = Default::default();
    let mut current: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let starts_key = line
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '"' || c == '\'')
            && line.contains(':');
        if starts_key {
            let key = line
                .split(':')
                .next()
                .unwrap_or_default()
                .trim()
                .trim_matches(|c| c == '"' || c == '\'');
            current = if key == "version" {
                None
            } else if CONFIG_KEYS.contains(&key) {
                Some(0)
            } else if DATA_KEYS.contains(&key) {
                Some(2)
            } else {
                Some(1)
            };
            if key == "version" {
                for part in &mut parts {
                    part.push_str(line);
                }
                continue;
            }
        }
        // Every part keeps every line (blank where it is not its own), so that what the
        // loaders say names the body's line numbers.
        for (i, part) in parts.iter_mut().enumerate() {
            if current == Some(i) {
                part.push_str(line);
            } else if line.ends_with('\n') {
                part.push('\n');
            }
        }
    }
    parts
}

/// A temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self, ApiError> {
        let path =
            std::env::temp_dir().join(format!("rusa-api-train-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(path.join("data")).map_err(|e| ApiError::internal(&e))?;
        Ok(Self(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes the body's parts as `config.yml`, `domain.yml` and `data/data.yml` in `dir`.
fn write_project(dir: &Path, text: &str) -> Result<TrainRequest, ApiError> {
    let [config, domain, data] = split_parts(text);
    let paths = (
        dir.join("config.yml"),
        dir.join("domain.yml"),
        dir.join("data").join("data.yml"),
    );
    for (path, content) in [(&paths.0, config), (&paths.1, domain), (&paths.2, data)] {
        std::fs::write(path, content).map_err(|e| ApiError::internal(&e))?;
    }
    Ok(TrainRequest {
        config: paths.0,
        domain: paths.1,
        data: dir.join("data"),
        out: dir.join("models"),
        force: false,
    })
}

/// A trainer's message with the temporary paths named as parts of the request body.
fn readable(message: &str, dir: &Path) -> String {
    let dir = dir.display().to_string();
    message
        .replace(
            &format!("{dir}/data/data.yml"),
            "the request body (training data)",
        )
        .replace(&format!("{dir}/domain.yml"), "the request body (domain)")
        .replace(&format!("{dir}/config.yml"), "the request body (config)")
        .replace(&dir, "the request")
}

pub(crate) async fn train(
    State(state): State<AppState>,
    Query(query): Query<TrainQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let bytes = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => {
            ApiError::payload_too_large(state.config.body_limit)
        }
        other => ApiError::bad_request(other.body_text()),
    })?;
    let is_yaml = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-yaml") || v.starts_with("application/yaml"));
    if !is_yaml {
        return Err(ApiError::bad_request(
            "the training data must be YAML with Content-Type: application/x-yaml (config, domain, nlu, stories and rules in one document)",
        ));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("the request body is not valid UTF-8"))?;
    if text.trim().is_empty() {
        return Err(ApiError::bad_request(
            "You must provide training data in the request body in order to train your model.",
        ));
    }
    for (flag, value) in [
        ("augmentation", &query.augmentation),
        ("num_threads", &query.num_threads),
    ] {
        if value.is_some() {
            tracing::info!(
                flag,
                "accepted and ignored: rusa trains on the stories as written, on one thread"
            );
        }
    }
    let Some(trainer) = state.config.trainer.clone() else {
        return Err(ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "this server was started without a trainer",
        ));
    };
    let dir = TempDir::new()?;
    let mut request = write_project(&dir.0, text)?;
    request.force = bool_arg(query.force_training.as_deref(), false);
    if bool_arg(query.save_to_default_model_directory.as_deref(), true) {
        request.out = PathBuf::from("models");
    }
    let run = move || {
        let result = (trainer.0)(&request);
        let result = match result {
            Ok(path) => std::fs::read(&path)
                .map(|bytes| (path, bytes))
                .map_err(|e| TrainFailure::Failed(e.to_string())),
            Err(e) => Err(e),
        };
        (result, dir)
    };
    if let Some(url) = query.callback_url {
        // Rasa trains in the background and POSTs the archive to the callback URL.
        tokio::spawn(async move {
            let Ok((result, _dir)) = tokio::task::spawn_blocking(run).await else {
                return;
            };
            let client = reqwest::Client::new();
            let sent = match result {
                Ok((path, bytes)) => {
                    client
                        .post(&url)
                        .header("filename", file_name(&path))
                        .body(bytes)
                        .send()
                        .await
                }
                Err(_) => client.post(&url).send().await,
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, "the trained model could not be sent to the callback URL");
            }
        });
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let (result, dir) = tokio::task::spawn_blocking(run)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match result {
        Ok((path, bytes)) => {
            let name = file_name(&path);
            let mut response = Response::new(Body::from(bytes));
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            if let Ok(value) = HeaderValue::from_str(&name) {
                headers.insert("filename", value);
            }
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                headers.insert(header::CONTENT_DISPOSITION, value);
            }
            Ok(response)
        }
        Err(TrainFailure::Invalid(message)) => Err(ApiError::bad_request(format!(
            "the project sent is not valid: {}",
            readable(&message, &dir.0)
        ))),
        Err(TrainFailure::Failed(message)) => {
            tracing::error!(error = %readable(&message, &dir.0), "training failed");
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "TrainingError",
                "the model could not be trained; the server log has the details",
            ))
        }
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model.tar.gz".into())
}

#[cfg(test)]
mod tests {
    use super::split_parts;

    #[test]
    fn the_body_is_split_by_top_level_key_keeping_line_numbers() {
        let body = "version: \"3.1\"\nlanguage: en\npipeline:\n- name: WhitespaceTokenizer\nintents:\n- greet\nnlu:\n- intent: greet\n  examples: |\n    - hi\nresponses:\n  utter_hi:\n  - text: hi\n";
        let [config, domain, data] = split_parts(body);
        let lines = body.lines().count();
        for part in [&config, &domain, &data] {
            assert_eq!(part.lines().count(), lines, "{part}");
            assert!(part.starts_with("version: \"3.1\"\n"));
        }
        assert_eq!(config.lines().nth(3), Some("- name: WhitespaceTokenizer"));
        assert_eq!(domain.lines().nth(5), Some("- greet"));
        assert_eq!(domain.lines().nth(12), Some("  - text: hi"));
        assert_eq!(data.lines().nth(9), Some("    - hi"));
        assert_eq!(config.lines().nth(9), Some(""));
    }
}
