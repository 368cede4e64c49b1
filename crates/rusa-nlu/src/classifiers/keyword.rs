//! `KeywordIntentClassifier`: an intent whose example text appears in the message.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{IntentScore, Message};
use crate::params::Params;
use crate::training::TrainingView;

/// Recognises an intent when one of its example texts appears in the message as whole
/// words. `case_sensitive` (default true) as in Rasa. A keyword that is an example of two
/// intents is dropped with a warning. It sets the intent (confidence 1.0) when a keyword
/// matches and leaves the message alone otherwise.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeywordIntentClassifier {
    pub case_sensitive: bool,
    /// `(keyword, intent)`, longest keyword first.
    keywords: Vec<(String, String)>,
}

impl Default for KeywordIntentClassifier {
    fn default() -> Self {
        Self {
            case_sensitive: true,
            keywords: Vec::new(),
        }
    }
}

fn contains_words(haystack: &str, needle: &str) -> bool {
    let is_word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    haystack.match_indices(needle).any(|(i, m)| {
        !is_word(haystack[..i].chars().next_back())
            && !is_word(haystack[i + m.len()..].chars().next())
    })
}

impl KeywordIntentClassifier {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        Ok(Self {
            case_sensitive: p.bool("case_sensitive", true)?,
            keywords: Vec::new(),
        })
    }

    fn norm(&self, s: &str) -> String {
        if self.case_sensitive {
            s.to_owned()
        } else {
            s.to_lowercase()
        }
    }
}

impl NluComponent for KeywordIntentClassifier {
    fn name(&self) -> &'static str {
        "KeywordIntentClassifier"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        let mut map: indexmap::IndexMap<String, Option<String>> = indexmap::IndexMap::new();
        for ex in &data.examples {
            let key = self.norm(ex.message.text.trim());
            match map.get(&key) {
                Some(Some(intent)) if intent != &ex.intent => {
                    // The keyword is training text: it is logged at debug level only.
                    tracing::debug!(keyword = %key, "the keyword claimed by two intents");
                    tracing::warn!(first = %intent, second = %ex.intent, "KeywordIntentClassifier: an example is listed under two intents; it is dropped as a keyword");
                    map.insert(key, None);
                }
                Some(_) => {}
                None => {
                    map.insert(key, Some(ex.intent.clone()));
                }
            }
        }
        let mut keywords: Vec<(String, String)> = map
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        keywords.sort_by(|a, b| {
            b.0.chars()
                .count()
                .cmp(&a.0.chars().count())
                .then(a.0.cmp(&b.0))
        });
        self.keywords = keywords;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let text = self.norm(&message.text);
        let found = self
            .keywords
            .iter()
            .find(|(k, _)| contains_words(&text, k))
            .map(|(_, intent)| intent.clone());
        if let Some(name) = found {
            let score = IntentScore {
                name,
                confidence: 1.0,
            };
            message.intent = Some(score.clone());
            message.intent_ranking = vec![score];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::TrainingExample;

    #[test]
    fn finds_whole_word_keywords() {
        let ex = |intent: &str, text: &str| TrainingExample {
            intent: intent.into(),
            entities: Vec::new(),
            message: Message::new(text),
        };
        let data = TrainingView {
            examples: vec![
                ex("greet", "hello"),
                ex("goodbye", "bye"),
                ex("greet", "bye"),
            ],
            ..TrainingView::default()
        };
        let mut k = KeywordIntentClassifier::default();
        k.train(&data, 0).unwrap();
        let mut m = Message::new("well hello there");
        k.process(&mut m);
        assert_eq!(m.intent.unwrap().name, "greet");
        let mut m = Message::new("othello");
        k.process(&mut m);
        assert!(m.intent.is_none());
        let mut m = Message::new("bye");
        k.process(&mut m);
        assert!(m.intent.is_none(), "ambiguous keyword dropped");
        let mut m = Message::new("HELLO");
        k.process(&mut m);
        assert!(m.intent.is_none(), "case sensitive by default");
    }
}
