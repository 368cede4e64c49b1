//! `RegexFeaturizer`: one feature per regex pattern and lookup table of the training data.

use serde::{Deserialize, Serialize};

use crate::component::NluComponent;
use crate::error::{NluError, Result};
use crate::message::{FeatureBlock, Message, byte_to_char};
use crate::params::Params;
use crate::training::TrainingView;
use crate::vocab::{RegexSet, lookup_pattern};

/// Marks the tokens (and the message) that a regex or lookup table of the training data
/// matches. `case_sensitive` (default true) and `use_word_boundaries` (default true, for
/// lookup tables) as in Rasa.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegexFeaturizer {
    pub case_sensitive: bool,
    pub use_word_boundaries: bool,
    /// The name of each feature: the regex's or the lookup table's name.
    names: Vec<String>,
    patterns: RegexSet,
}

impl Default for RegexFeaturizer {
    fn default() -> Self {
        Self {
            case_sensitive: true,
            use_word_boundaries: true,
            names: Vec::new(),
            patterns: RegexSet::default(),
        }
    }
}

/// The patterns of the training data: each regex pattern, then each lookup table.
pub(crate) fn training_patterns(
    data: &TrainingView,
    word_boundaries: bool,
) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for r in &data.regexes {
        for (p, _) in &r.patterns {
            out.push((r.name.clone(), p.clone()));
        }
    }
    for l in &data.lookups {
        out.push((l.name.clone(), lookup_pattern(&l.elements, word_boundaries)));
    }
    out
}

pub(crate) fn compile_named(
    named: Vec<(String, String)>,
    case_sensitive: bool,
) -> Result<(Vec<String>, RegexSet)> {
    let (names, patterns): (Vec<String>, Vec<String>) = named.into_iter().unzip();
    let set =
        RegexSet::new(patterns.clone(), case_sensitive).map_err(|(i, e)| NluError::Regex {
            name: names[i].clone(),
            pattern: patterns[i].clone(),
            message: e.to_string(),
        })?;
    Ok((names, set))
}

impl RegexFeaturizer {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        Ok(Self {
            case_sensitive: p.bool("case_sensitive", true)?,
            use_word_boundaries: p.bool("use_word_boundaries", true)?,
            ..Self::default()
        })
    }

    /// The feature names (regex and lookup table names) in feature order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }
}

impl NluComponent for RegexFeaturizer {
    fn name(&self) -> &'static str {
        "RegexFeaturizer"
    }

    fn train(&mut self, data: &TrainingView, _seed: u64) -> Result<()> {
        let (names, patterns) = compile_named(
            training_patterns(data, self.use_word_boundaries),
            self.case_sensitive,
        )?;
        self.names = names;
        self.patterns = patterns;
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        let mut tokens = vec![Vec::new(); message.tokens.len()];
        let mut sentence = Vec::new();
        let compiled = self.patterns.compiled();
        if compiled.iter().any(Option::is_some) {
            let table = byte_to_char(&message.text);
            for (p, re) in compiled.iter().enumerate() {
                let Some(re) = re else { continue };
                let mut any = false;
                for m in re.find_iter(&message.text) {
                    if m.start() == m.end() {
                        continue;
                    }
                    any = true;
                    let (s, e) = (table[m.start()], table[m.end()]);
                    for (t, tok) in message.tokens.iter().enumerate() {
                        let overlaps = tok.start < e && s < tok.end;
                        if overlaps
                            && tokens[t]
                                .last()
                                .is_none_or(|l: &(u32, f32)| l.0 != p as u32)
                        {
                            tokens[t].push((p as u32, 1.0));
                        }
                    }
                }
                if any {
                    sentence.push((p as u32, 1.0));
                }
            }
        }
        message.features.push(FeatureBlock {
            origin: "RegexFeaturizer",
            dim: self.names.len() as u32,
            sentence,
            tokens,
        });
    }

    fn annotates_training_data(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::tokenize;
    use rusa_project::{LookupTable, Pos, RegexPattern};

    fn pos() -> Pos {
        Pos::new(std::sync::Arc::from(std::path::Path::new("nlu.yml")), 1, 1)
    }

    #[test]
    fn regex_and_lookup_features_per_token() {
        let data = TrainingView {
            regexes: vec![RegexPattern {
                name: "zip".into(),
                patterns: vec![(r"\d{5}".into(), pos())],
                pos: pos(),
            }],
            lookups: vec![LookupTable {
                name: "city".into(),
                elements: vec!["Köln".into(), "New York".into()],
                pos: pos(),
            }],
            ..TrainingView::default()
        };
        let mut f = RegexFeaturizer::default();
        f.train(&data, 0).unwrap();
        assert_eq!(f.feature_names(), ["zip", "city"]);
        let mut m = Message::new("from Köln to New York 12345");
        m.tokens = tokenize(&m.text);
        f.process(&mut m);
        let block = &m.features[0];
        assert_eq!(block.sentence, vec![(0, 1.0), (1, 1.0)]);
        assert_eq!(block.tokens[1], vec![(1, 1.0)]);
        assert!(block.tokens[2].is_empty());
        assert_eq!(block.tokens[3], vec![(1, 1.0)]);
        assert_eq!(block.tokens[4], vec![(1, 1.0)]);
        assert_eq!(block.tokens[5], vec![(0, 1.0)]);
        // Case sensitive by default.
        let mut m = Message::new("köln");
        m.tokens = tokenize(&m.text);
        f.process(&mut m);
        assert!(m.features[0].sentence.is_empty());
    }
}
