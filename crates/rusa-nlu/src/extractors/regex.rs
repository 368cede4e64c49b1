//! `RegexEntityExtractor`: entities found by the regexes and lookup tables named after them.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::Result;
use crate::featurizers::regex::compile_named;
use crate::message::{ExtractedEntity, Message, byte_to_char, char_slice};
use crate::params::Params;
use crate::training::TrainingView;
use crate::vocab::{RegexSet, lookup_pattern};

/// Extracts an entity wherever a regex or lookup table with the entity's name matches.
/// Only patterns named after an entity annotated in the training data are used (as in
/// Rasa). Parameters: `case_sensitive` (false), `use_lookup_tables` (true), `use_regexes`
/// (true), `use_word_boundaries` (true, for lookup tables).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegexEntityExtractor {
    pub case_sensitive: bool,
    pub use_lookup_tables: bool,
    pub use_regexes: bool,
    pub use_word_boundaries: bool,
    entities: Vec<String>,
    patterns: RegexSet,
}

impl Default for RegexEntityExtractor {
    fn default() -> Self {
        Self {
            case_sensitive: false,
            use_lookup_tables: true,
            use_regexes: true,
            use_word_boundaries: true,
            entities: Vec::new(),
            patterns: RegexSet::default(),
        }
    }
}

impl RegexEntityExtractor {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        let d = Self::default();
        Ok(Self {
            case_sensitive: p.bool("case_sensitive", d.case_sensitive)?,
            use_lookup_tables: p.bool("use_lookup_tables", d.use_lookup_tables)?,
            use_regexes: p.bool("use_regexes", d.use_regexes)?,
            use_word_boundaries: p.bool("use_word_boundaries", d.use_word_boundaries)?,
            ..d
        })
    }
}

impl NluComponent for RegexEntityExtractor {
    fn name(&self) -> &'static str {
        "RegexEntityExtractor"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        let entities = data.entity_names();
        let mut named = Vec::new();
        if self.use_regexes {
            for r in data.regexes.iter().filter(|r| entities.contains(&r.name)) {
                for (p, _) in &r.patterns {
                    named.push((r.name.clone(), p.clone()));
                }
            }
        }
        if self.use_lookup_tables {
            for l in data.lookups.iter().filter(|l| entities.contains(&l.name)) {
                named.push((
                    l.name.clone(),
                    lookup_pattern(&l.elements, self.use_word_boundaries),
                ));
            }
        }
        if named.is_empty() {
            tracing::warn!(
                "RegexEntityExtractor: no regex or lookup table is named after an annotated entity; it will extract nothing"
            );
        }
        let (names, set) = compile_named(named, self.case_sensitive)?;
        self.entities = names;
        self.patterns = set;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let compiled = self.patterns.compiled();
        if compiled.is_empty() {
            return;
        }
        let table = byte_to_char(&message.text);
        for (entity, re) in self.entities.iter().zip(compiled) {
            let Some(re) = re else { continue };
            for m in re.find_iter(&message.text) {
                if m.start() == m.end() {
                    continue;
                }
                let (start, end) = (table[m.start()], table[m.end()]);
                message.entities.push(ExtractedEntity {
                    entity: entity.clone(),
                    start,
                    end,
                    confidence_entity: None,
                    role: None,
                    group: None,
                    value: serde_json::Value::String(char_slice(&message.text, start, end)),
                    extractor: "RegexEntityExtractor".to_owned(),
                    processors: Vec::new(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::training::TrainingExample;
    use rusa_project::{EntitySpan, LookupTable, Pos, RegexPattern};

    fn pos() -> Pos {
        Pos::new(std::sync::Arc::from(std::path::Path::new("nlu.yml")), 1, 1)
    }

    #[test]
    fn extracts_by_regex_and_lookup() {
        let span = |entity: &str| EntitySpan {
            start: 0,
            end: 1,
            entity: entity.into(),
            value: "x".into(),
            role: None,
            group: None,
        };
        let data = TrainingView {
            examples: vec![TrainingExample {
                intent: "i".into(),
                entities: vec![span("zip"), span("city")],
                message: Message::new("x"),
            }],
            regexes: vec![
                RegexPattern {
                    name: "zip".into(),
                    patterns: vec![(r"\d{5}".into(), pos())],
                    pos: pos(),
                },
                RegexPattern {
                    name: "not_an_entity".into(),
                    patterns: vec![("from".into(), pos())],
                    pos: pos(),
                },
            ],
            lookups: vec![LookupTable {
                name: "city".into(),
                elements: vec!["köln".into(), "york".into()],
                pos: pos(),
            }],
            ..TrainingView::default()
        };
        let mut x = RegexEntityExtractor::default();
        x.train(&data, 0).unwrap();
        let mut m = Message::new("from Köln to yorkshire 50667");
        x.process(&mut m);
        let found: Vec<(&str, usize, usize, &str)> = m
            .entities
            .iter()
            .map(|e| (e.entity.as_str(), e.start, e.end, e.value.as_str().unwrap()))
            .collect();
        assert_eq!(found, [("zip", 23, 28, "50667"), ("city", 5, 9, "Köln")]);
    }
}
