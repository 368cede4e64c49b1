//! `EntitySynonymMapper`: normalises extracted entity values.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::message::{Message, char_slice};
use crate::training::TrainingView;

/// Replaces an extracted entity's value by its synonym's value, from the `synonym:` items
/// and from annotations `[text](entity:value)` whose value differs from their text.
/// Matching ignores case. A mapped entity lists `EntitySynonymMapper` in `processors`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EntitySynonymMapper {
    synonyms: BTreeMap<String, String>,
}

impl EntitySynonymMapper {
    /// The learned mapping, lowercased text → value.
    pub fn synonyms(&self) -> &BTreeMap<String, String> {
        &self.synonyms
    }
}

impl NluComponent for EntitySynonymMapper {
    fn name(&self) -> &'static str {
        "EntitySynonymMapper"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        let mut map = BTreeMap::new();
        for ex in &data.examples {
            for e in &ex.entities {
                let text = char_slice(&ex.message.text, e.start, e.end);
                if text != e.value {
                    map.insert(text.to_lowercase(), e.value.clone());
                }
            }
        }
        for s in &data.synonyms {
            for text in &s.examples {
                map.insert(text.trim().to_lowercase(), s.value.clone());
            }
        }
        self.synonyms = map;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        for e in &mut message.entities {
            let Some(text) = e.value.as_str() else {
                continue;
            };
            if let Some(value) = self
                .synonyms
                .get(&text.to_lowercase())
                .filter(|v| v.as_str() != text)
            {
                e.value = serde_json::Value::String(value.clone());
                e.processors.push("EntitySynonymMapper".to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ExtractedEntity;
    use crate::training::TrainingExample;
    use rusa_project::{EntitySpan, Pos, Synonym};

    #[test]
    fn maps_annotations_and_synonyms() {
        let pos = Pos::new(std::sync::Arc::from(std::path::Path::new("nlu.yml")), 1, 1);
        let data = TrainingView {
            examples: vec![TrainingExample {
                intent: "i".into(),
                entities: vec![EntitySpan {
                    start: 3,
                    end: 6,
                    entity: "city".into(),
                    value: "New York".into(),
                    role: None,
                    group: None,
                }],
                message: Message::new("to NYC"),
            }],
            synonyms: vec![Synonym {
                value: "high".into(),
                examples: vec!["super high".into(), "urgent".into()],
                pos,
            }],
            ..TrainingView::default()
        };
        let mut s = EntitySynonymMapper::default();
        s.train(&data, 0).unwrap();
        let entity = |v: &str| ExtractedEntity {
            entity: "x".into(),
            start: 0,
            end: 1,
            confidence_entity: None,
            role: None,
            group: None,
            value: v.into(),
            extractor: "CRFEntityExtractor".into(),
            processors: Vec::new(),
        };
        let mut m = Message::new("x");
        m.entities = vec![entity("nyc"), entity("Urgent"), entity("low")];
        s.process(&mut m);
        assert_eq!(m.entities[0].value, "New York");
        assert_eq!(m.entities[0].processors, ["EntitySynonymMapper"]);
        assert_eq!(m.entities[1].value, "high");
        assert_eq!(m.entities[2].value, "low");
        assert!(m.entities[2].processors.is_empty());
    }
}
