//! The message a pipeline annotates, and the `/model/parse` output shape.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// A sparse vector: `(index, value)` pairs, sorted by index, indices unique.
pub type SparseVec = Vec<(u32, f32)>;

/// A token of the text; `start`/`end` count characters (Unicode scalar values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

/// Sparse features one featurizer added to a message.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBlock {
    /// The featurizer that produced the block (its Rasa name).
    pub origin: &'static str,
    /// The dimension of the block (its vocabulary size).
    pub dim: u32,
    /// Features of the whole message.
    pub sentence: SparseVec,
    /// Features per token, parallel to `Message::tokens`; empty when the featurizer
    /// produces only sentence features.
    pub tokens: Vec<SparseVec>,
}

/// An intent and its confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntentScore {
    pub name: String,
    pub confidence: f64,
}

/// An entity found in a message, in Rasa's output shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedEntity {
    pub entity: String,
    /// Character offset of the first character.
    pub start: usize,
    /// Character offset after the last character.
    pub end: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence_entity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub value: serde_json::Value,
    pub extractor: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub processors: Vec<String>,
}

/// One candidate response of a response selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseRanking {
    pub id: i64,
    pub confidence: f64,
    pub intent_response_key: String,
}

/// The chosen response of a response selector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectedResponse {
    /// The response variations of `utter_action`; the NLU pipeline has no domain, so it
    /// leaves this `None` and the caller fills it in from the domain's responses.
    pub responses: Option<serde_json::Value>,
    pub confidence: f64,
    pub intent_response_key: Option<String>,
    pub utter_action: String,
}

/// What one response selector predicted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectorResult {
    pub response: SelectedResponse,
    pub ranking: Vec<ResponseRanking>,
}

impl SelectorResult {
    /// Rasa's output when nothing was selected (`utter_None`).
    pub fn empty() -> Self {
        Self {
            response: SelectedResponse {
                responses: None,
                confidence: 0.0,
                intent_response_key: None,
                utter_action: "utter_None".to_owned(),
            },
            ranking: Vec::new(),
        }
    }
}

/// The `response_selector` part of a parse.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseSelectorOutput {
    pub all_retrieval_intents: Vec<String>,
    /// Keyed by the selector's `retrieval_intent`, or `default`.
    #[serde(flatten)]
    pub selectors: IndexMap<String, SelectorResult>,
}

impl Default for ResponseSelectorOutput {
    fn default() -> Self {
        let mut selectors = IndexMap::new();
        selectors.insert("default".to_owned(), SelectorResult::empty());
        Self {
            all_retrieval_intents: Vec::new(),
            selectors,
        }
    }
}

/// A user message as the pipeline annotates it, component by component.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    pub text: String,
    pub tokens: Vec<Token>,
    pub features: Vec<FeatureBlock>,
    pub intent: Option<IntentScore>,
    pub intent_ranking: Vec<IntentScore>,
    pub entities: Vec<ExtractedEntity>,
    pub response_selector: Option<ResponseSelectorOutput>,
}

impl Message {
    /// A message holding only its text.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// The feature block a featurizer added, if any.
    pub fn block(&self, origin: &str) -> Option<&FeatureBlock> {
        self.features.iter().find(|b| b.origin == origin)
    }

    /// The output of the pipeline in the `/model/parse` shape.
    pub fn into_parse_result(self) -> ParseResult {
        ParseResult {
            intent: self.intent.clone().map_or(
                ParsedIntent {
                    name: None,
                    confidence: 0.0,
                },
                |i| ParsedIntent {
                    name: Some(i.name),
                    confidence: i.confidence,
                },
            ),
            entities: self.entities,
            text_tokens: self.tokens.iter().map(|t| [t.start, t.end]).collect(),
            intent_ranking: self.intent_ranking,
            response_selector: self.response_selector.unwrap_or_default(),
            text: self.text,
        }
    }
}

/// The intent of a parse; `name` is `null` when no classifier ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParsedIntent {
    pub name: Option<String>,
    pub confidence: f64,
}

/// The result of parsing a message, serialising to exactly Rasa's `/model/parse` shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParseResult {
    pub text: String,
    pub intent: ParsedIntent,
    pub entities: Vec<ExtractedEntity>,
    pub text_tokens: Vec<[usize; 2]>,
    pub intent_ranking: Vec<IntentScore>,
    pub response_selector: ResponseSelectorOutput,
}

impl ParseResult {
    /// Fills each selected response's `responses` from the domain: `lookup` gets the
    /// `utter_action` (e.g. `utter_faq/ask_name`) and returns its response variations.
    pub fn fill_responses(&mut self, lookup: impl Fn(&str) -> Option<serde_json::Value>) {
        for selector in self.response_selector.selectors.values_mut() {
            if selector.response.intent_response_key.is_some() {
                selector.response.responses = lookup(&selector.response.utter_action);
            }
        }
    }
}

/// The characters `start..end` of `text` (character offsets).
pub(crate) fn char_slice(text: &str, start: usize, end: usize) -> String {
    text.chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect()
}

/// Byte offset → character offset table of `text` (one entry per byte plus the end).
pub(crate) fn byte_to_char(text: &str) -> Vec<usize> {
    let mut table = vec![0; text.len() + 1];
    let mut chars = 0;
    for (b, c) in text.char_indices() {
        for i in 0..c.len_utf8() {
            table[b + i] = chars;
        }
        chars += 1;
    }
    table[text.len()] = chars;
    table
}
