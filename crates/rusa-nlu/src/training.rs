//! The training data as the components see it.

use rusa_project::{EntitySpan, LookupTable, NluData, RegexPattern, Synonym};

use crate::message::Message;

/// One training example: its gold labels and the message the components annotate.
#[derive(Debug, Clone)]
pub struct TrainingExample {
    /// The full intent name (`faq/ask_name` for a retrieval intent).
    pub intent: String,
    pub entities: Vec<EntitySpan>,
    /// The text, tokenized and featurized by the components trained so far.
    pub message: Message,
}

impl TrainingExample {
    /// The intent without its retrieval suffix: `faq` for `faq/ask_name`.
    pub fn base_intent(&self) -> &str {
        self.intent
            .split_once('/')
            .map_or(self.intent.as_str(), |(base, _)| base)
    }

    /// The retrieval key `faq/ask_name`, for examples of a retrieval intent.
    pub fn response_key(&self) -> Option<&str> {
        self.intent.contains('/').then_some(self.intent.as_str())
    }
}

/// The training data of a pipeline: examples plus synonyms, regexes and lookup tables.
#[derive(Debug, Clone, Default)]
pub struct TrainingView {
    pub examples: Vec<TrainingExample>,
    pub synonyms: Vec<Synonym>,
    pub regexes: Vec<RegexPattern>,
    pub lookups: Vec<LookupTable>,
}

impl TrainingView {
    /// Wraps a project's NLU data; each example's message holds only its text.
    pub fn from_nlu(data: &NluData) -> Self {
        Self {
            examples: data
                .examples
                .iter()
                .map(|e| TrainingExample {
                    intent: e.intent.clone(),
                    entities: e.entities.clone(),
                    message: Message::new(e.text.clone()),
                })
                .collect(),
            synonyms: data.synonyms.clone(),
            regexes: data.regexes.clone(),
            lookups: data.lookups.clone(),
        }
    }

    /// Entity names annotated in the examples, sorted.
    pub fn entity_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .examples
            .iter()
            .flat_map(|e| e.entities.iter().map(|s| s.entity.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
    }
}
