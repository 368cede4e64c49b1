//! The `Agent`: a trained model loaded from its archive, ready to parse messages and hold
//! conversations.

use std::path::Path;
use std::sync::Arc;

use rusa_nlu::NluModel;
use serde_json::{Value, json};

use crate::archive::{ArchiveError, ModelArchive, ModelMetadata};
use crate::graph::node_span;
use crate::policies::PolicyEnsemble;
use crate::processor::{DialogueModel, Nlu};

/// A loaded model.
#[derive(Debug, Clone)]
pub struct Agent {
    pub metadata: ModelMetadata,
    /// The model's name: its archive's file name without `.tar.gz`.
    pub model_name: String,
    pub dialogue: DialogueModel,
    pub nlu: Option<Arc<NluModel>>,
    /// Whether the model has dialogue policies (`false` for an NLU-only model).
    pub has_policies: bool,
}

impl Agent {
    /// Loads an archive (a file, or the newest archive of a directory).
    pub fn load(path: &Path) -> Result<Self, ArchiveError> {
        let archive_path =
            crate::archive::newest_model(path).ok_or_else(|| ArchiveError::Read {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no model archive (*.tar.gz) was found there",
                ),
            })?;
        let archive = ModelArchive::read(&archive_path)?;
        let model_name = archive_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .trim_end_matches(".tar.gz")
            .to_owned();
        Ok(Self::from_archive(archive, model_name))
    }

    pub fn from_archive(archive: ModelArchive, model_name: String) -> Self {
        let has_policies = archive.policies.is_some();
        let policies = archive.policies.unwrap_or(PolicyEnsemble {
            policies: Vec::new(),
        });
        let dialogue = DialogueModel::new(
            Arc::new(archive.domain),
            policies,
            archive.metadata.model_id.clone(),
            archive.metadata.assistant_id.clone(),
        );
        Self {
            metadata: archive.metadata,
            model_name,
            dialogue,
            nlu: archive.nlu.map(Arc::new),
            has_policies,
        }
    }

    /// Parses a text as `POST /model/parse` answers (without `text`, `message_id`, `metadata`,
    /// which the caller adds). The response selector's `responses` are filled in from the
    /// domain.
    ///
    /// Each component runs in its `GraphNode.<Class>` span.
    pub fn parse(&self, text: &str) -> Value {
        self.parse_with(text, true)
    }

    /// [`Agent::parse`] without a span per component: for scoring thousands of examples,
    /// whose spans would only flood a tracing back end.
    pub fn parse_untraced(&self, text: &str) -> Value {
        self.parse_with(text, false)
    }

    fn parse_with(&self, text: &str, traced: bool) -> Value {
        let Some(nlu) = &self.nlu else {
            return json!({"intent": {"name": null, "confidence": 0.0}, "entities": [], "intent_ranking": []});
        };
        let mut message = rusa_nlu::Message::new(text);
        for (i, component) in nlu.components.iter().enumerate() {
            if traced {
                let class = rusa_nlu::NluComponent::name(component);
                let span = node_span(class, &format!("run_{class}{i}"), "process");
                let _entered = span.enter();
                rusa_nlu::NluComponent::process(component, &mut message);
            } else {
                rusa_nlu::NluComponent::process(component, &mut message);
            }
        }
        let mut parse = serde_json::to_value(message.into_parse_result()).unwrap_or(Value::Null);
        self.fill_selected_responses(&mut parse);
        parse
    }

    fn fill_selected_responses(&self, parse: &mut Value) {
        let Some(selector) = parse
            .get_mut("response_selector")
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for (key, result) in selector.iter_mut() {
            if key == "all_retrieval_intents" {
                continue;
            }
            let Some(response) = result.get_mut("response") else {
                continue;
            };
            let utter = response
                .get("utter_action")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if let Some(r) = self.dialogue.domain.responses.get(&utter) {
                let variations: Vec<Value> = r
                    .variations
                    .iter()
                    .map(|v| {
                        let mut o = serde_json::Map::new();
                        if let Some(t) = &v.text {
                            o.insert("text".into(), json!(t));
                        }
                        if let Some(i) = &v.image {
                            o.insert("image".into(), json!(i));
                        }
                        Value::Object(o)
                    })
                    .collect();
                response["responses"] = Value::Array(variations);
            }
        }
    }
}

impl Nlu for Agent {
    fn parse(&self, text: &str) -> Value {
        Agent::parse(self, text)
    }
}
