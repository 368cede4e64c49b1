//! `CRFEntityExtractor`: a linear-chain conditional random field over BILOU tags.

// Dynamic programming over label indices reads best with index loops.
#![allow(clippy::needless_range_loop)]

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::component::NluComponent;
use crate::error::Result;
use crate::featurizers::lexical::lexical_value;
use crate::message::{ExtractedEntity, Message, char_slice};
use crate::params::Params;
use crate::persist::f32_base64;
use crate::rng::Rng;
use crate::training::TrainingView;
use crate::vocab::Vocab;

/// What a tag stands for: an entity with an optional role and group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityTag {
    pub entity: String,
    pub role: Option<String>,
    pub group: Option<String>,
}

/// The CRF feature names (Rasa's, without spaCy's `pos`/`pos2` and dense features).
pub const CRF_FEATURES: &[&str] = &[
    "BOS", "EOS", "low", "upper", "title", "digit", "prefix5", "prefix2", "suffix5", "suffix3",
    "suffix2", "bias", "pattern",
];

/// Rasa's default CRF `features`: for the token before, the token itself and the token after.
pub fn default_crf_features() -> Vec<Vec<String>> {
    let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        owned(&["low", "title", "upper"]),
        owned(&[
            "low", "bias", "prefix5", "prefix2", "suffix5", "suffix3", "suffix2", "upper", "title",
            "digit", "pattern",
        ]),
        owned(&["low", "title", "upper"]),
    ]
}

/// A linear-chain CRF learned from the annotated examples. Labels are BILOU prefixes
/// (`BILOU_flag`, default true) over joint tags `entity` + `role` + `group`, so roles and
/// groups are learned with the entity. Features per token come from a window (`features`,
/// Rasa's names; `pattern` uses the `RegexFeaturizer`'s token features). Trained by
/// minimising the negative log-likelihood (forward-backward) plus `L2_c`·‖w‖² with
/// mini-batch Adam for `max_iterations` epochs; decoded with Viterbi. `confidence_entity`
/// is the mean marginal probability of the entity's token labels.
///
/// Parameters: `features` (Rasa's default), `BILOU_flag` (true), `max_iterations` (50
/// epochs), `L2_c` (0.1), `split_entities_by_comma` (true, or a map per entity),
/// `learning_rate` (0.05, rusa's own), `random_seed`. `L1_c` is accepted and ignored (no
/// L1 penalty); spaCy's `pos`/`pos2` and `text_dense_features` are skipped with a warning.
/// With no annotated entity in the data it learns nothing and extracts nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrfEntityExtractor {
    pub features: Vec<Vec<String>>,
    pub bilou_flag: bool,
    pub max_iterations: usize,
    /// `split_entities_by_comma` (default true): an entity whose tokens are separated by
    /// a comma in the text is split in two. Per-entity settings are given by
    /// `split_entities_by_comma_for`, which overrides it.
    pub split_entities_by_comma: bool,
    pub split_entities_by_comma_for: std::collections::BTreeMap<String, bool>,
    pub l2_c: f32,
    pub learning_rate: f32,
    pub random_seed: Option<u64>,
    tags: Vec<EntityTag>,
    vocab: Vocab,
    /// `[emissions: features × labels | transitions: labels × labels | start | end]`.
    #[serde(with = "f32_base64")]
    params: Vec<f32>,
}

impl Default for CrfEntityExtractor {
    fn default() -> Self {
        Self {
            features: default_crf_features(),
            bilou_flag: true,
            max_iterations: 50,
            split_entities_by_comma: true,
            split_entities_by_comma_for: Default::default(),
            l2_c: 0.1,
            learning_rate: 0.05,
            random_seed: None,
            tags: Vec::new(),
            vocab: Vocab::default(),
            params: Vec::new(),
        }
    }
}

const PREFIXES: [char; 4] = ['B', 'I', 'L', 'U'];

/// Token-level data of one sentence for training or decoding.
struct Sequence {
    feats: Vec<Vec<u32>>,
    labels: Vec<usize>,
}

fn logsumexp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let max = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    max + xs.map(|x| (x - max).exp()).sum::<f64>().ln()
}

impl CrfEntityExtractor {
    pub(crate) fn from_params(p: &Params<'_>) -> Result<Self> {
        let d = Self::default();
        let features = match p.map.get("features").filter(|v| !v.is_null()) {
            None => d.features.clone(),
            Some(v) => {
                let windows: Vec<Vec<String>> =
                    serde_json::from_value(v.clone()).map_err(|_| {
                        p.invalid("features", "must be a list of lists of feature names")
                    })?;
                windows
                    .into_iter()
                    .map(|names| {
                        names
                            .into_iter()
                            .filter(|n| {
                                let known = CRF_FEATURES.contains(&n.as_str());
                                if !known {
                                    tracing::warn!(feature = %n, "CRFEntityExtractor: feature is not available in rusa; it is skipped");
                                }
                                known
                            })
                            .collect()
                    })
                    .collect()
            }
        };
        // Rasa accepts a bool or a map `{entity: bool}`.
        let (split, split_for) = match p.map.get("split_entities_by_comma") {
            Some(Value::Object(map)) => {
                let mut per = std::collections::BTreeMap::new();
                for (k, v) in map {
                    let b = v.as_bool().ok_or_else(|| {
                        p.invalid(
                            "split_entities_by_comma",
                            "must be true, false or a map of entity to true/false",
                        )
                    })?;
                    per.insert(k.clone(), b);
                }
                (true, per)
            }
            _ => (p.bool("split_entities_by_comma", true)?, Default::default()),
        };
        Ok(Self {
            features,
            split_entities_by_comma: split,
            split_entities_by_comma_for: split_for,
            bilou_flag: p.bool("BILOU_flag", d.bilou_flag)?,
            max_iterations: p.usize("max_iterations", d.max_iterations)?,
            l2_c: p.f64("L2_c", d.l2_c as f64)? as f32,
            learning_rate: p.f64("learning_rate", d.learning_rate as f64)? as f32,
            random_seed: crate::classifiers::logistic::seed_from_params(p)?,
            ..d
        })
    }

    /// The entity tags it learned.
    pub fn tags(&self) -> &[EntityTag] {
        &self.tags
    }

    fn n_labels(&self) -> usize {
        1 + self.tags.len() * if self.bilou_flag { 4 } else { 1 }
    }

    fn label(&self, prefix: usize, tag: usize) -> usize {
        if self.bilou_flag {
            1 + tag * 4 + prefix
        } else {
            1 + tag
        }
    }

    /// `(prefix, tag)` of a label; `None` for `O`.
    fn unlabel(&self, label: usize) -> Option<(char, usize)> {
        if label == 0 {
            return None;
        }
        if self.bilou_flag {
            Some((PREFIXES[(label - 1) % 4], (label - 1) / 4))
        } else {
            Some(('I', label - 1))
        }
    }

    fn for_each_feature(&self, message: &Message, i: usize, mut f: impl FnMut(String)) {
        let tokens = &message.tokens;
        let half = self.features.len() as isize / 2;
        let patterns = message.block("RegexFeaturizer");
        for (w, names) in self.features.iter().enumerate() {
            let pos = w as isize - half;
            let j = i as isize + pos;
            if j < 0 || j as usize >= tokens.len() {
                continue;
            }
            let j = j as usize;
            for name in names {
                match name.as_str() {
                    "bias" => f(format!("{pos}:bias")),
                    "pattern" => {
                        if let Some(tf) = patterns.and_then(|b| b.tokens.get(j)) {
                            for (p, _) in tf {
                                f(format!("{pos}:pattern:{p}"));
                            }
                        }
                    }
                    other => {
                        if let Some(v) = lexical_value(other, tokens, j) {
                            f(format!("{pos}:{other}:{v}"));
                        }
                    }
                }
            }
        }
    }

    fn token_features(&self, message: &Message) -> Vec<Vec<u32>> {
        (0..message.tokens.len())
            .map(|i| {
                let mut ids = Vec::new();
                self.for_each_feature(message, i, |k| {
                    if let Some(id) = self.vocab.get(&k) {
                        ids.push(id);
                    }
                });
                ids
            })
            .collect()
    }

    /// Emission scores `[t][label]`.
    fn emissions(&self, feats: &[Vec<u32>]) -> Vec<Vec<f64>> {
        let l = self.n_labels();
        feats
            .iter()
            .map(|fs| {
                let mut e = vec![0.0f64; l];
                for &f in fs {
                    let row = &self.params[f as usize * l..(f as usize + 1) * l];
                    e.iter_mut().zip(row).for_each(|(e, w)| *e += *w as f64);
                }
                e
            })
            .collect()
    }

    fn trans_offset(&self) -> usize {
        self.vocab.len() * self.n_labels()
    }

    /// Forward-backward: `(alpha, beta, log Z)` in log space.
    #[allow(clippy::type_complexity)]
    fn forward_backward(&self, emit: &[Vec<f64>]) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, f64) {
        let l = self.n_labels();
        let t_len = emit.len();
        let off = self.trans_offset();
        let trans = |a: usize, b: usize| self.params[off + a * l + b] as f64;
        let start = |b: usize| self.params[off + l * l + b] as f64;
        let end = |a: usize| self.params[off + l * l + l + a] as f64;
        let mut alpha = vec![vec![0.0f64; l]; t_len];
        for y in 0..l {
            alpha[0][y] = start(y) + emit[0][y];
        }
        for t in 1..t_len {
            for y in 0..l {
                alpha[t][y] = logsumexp((0..l).map(|p| alpha[t - 1][p] + trans(p, y))) + emit[t][y];
            }
        }
        let mut beta = vec![vec![0.0f64; l]; t_len];
        for y in 0..l {
            beta[t_len - 1][y] = end(y);
        }
        for t in (0..t_len - 1).rev() {
            for y in 0..l {
                beta[t][y] =
                    logsumexp((0..l).map(|n| trans(y, n) + emit[t + 1][n] + beta[t + 1][n]));
            }
        }
        let log_z = logsumexp((0..l).map(|y| alpha[t_len - 1][y] + end(y)));
        (alpha, beta, log_z)
    }

    /// Adds the gradient of this sequence's negative log-likelihood to `grad`.
    fn accumulate_gradient(&self, seq: &Sequence, grad: &mut [f32]) -> f64 {
        let l = self.n_labels();
        let off = self.trans_offset();
        let emit = self.emissions(&seq.feats);
        let (alpha, beta, log_z) = self.forward_backward(&emit);
        let t_len = emit.len();
        // Observed minus expected, as gradient of NLL = expected - observed.
        let mut score = 0.0;
        for t in 0..t_len {
            let y = seq.labels[t];
            score += emit[t][y];
            for y2 in 0..l {
                let marginal = (alpha[t][y2] + beta[t][y2] - log_z).exp();
                let g = marginal - if y2 == y { 1.0 } else { 0.0 };
                for &f in &seq.feats[t] {
                    grad[f as usize * l + y2] += g as f32;
                }
            }
            if t > 0 {
                let p = seq.labels[t - 1];
                score += self.params[off + p * l + y] as f64;
                grad[off + p * l + y] -= 1.0;
                for a in 0..l {
                    for b in 0..l {
                        let m = (alpha[t - 1][a]
                            + self.params[off + a * l + b] as f64
                            + emit[t][b]
                            + beta[t][b]
                            - log_z)
                            .exp();
                        grad[off + a * l + b] += m as f32;
                    }
                }
            }
        }
        let (first, last) = (seq.labels[0], seq.labels[t_len - 1]);
        score +=
            self.params[off + l * l + first] as f64 + self.params[off + l * l + l + last] as f64;
        grad[off + l * l + first] -= 1.0;
        grad[off + l * l + l + last] -= 1.0;
        for y in 0..l {
            grad[off + l * l + y] += (alpha[0][y] + beta[0][y] - log_z).exp() as f32;
            grad[off + l * l + l + y] +=
                (alpha[t_len - 1][y] + beta[t_len - 1][y] - log_z).exp() as f32;
        }
        log_z - score
    }

    /// Viterbi labels and the marginal probability of each chosen label.
    fn decode(&self, feats: &[Vec<u32>]) -> (Vec<usize>, Vec<f64>) {
        let l = self.n_labels();
        let off = self.trans_offset();
        let emit = self.emissions(feats);
        let t_len = emit.len();
        let mut delta = vec![vec![0.0f64; l]; t_len];
        let mut back = vec![vec![0usize; l]; t_len];
        for y in 0..l {
            delta[0][y] = self.params[off + l * l + y] as f64 + emit[0][y];
        }
        for t in 1..t_len {
            for y in 0..l {
                let (best, score) = (0..l)
                    .map(|p| (p, delta[t - 1][p] + self.params[off + p * l + y] as f64))
                    .fold(
                        (0, f64::NEG_INFINITY),
                        |acc, x| if x.1 > acc.1 { x } else { acc },
                    );
                delta[t][y] = score + emit[t][y];
                back[t][y] = best;
            }
        }
        let mut y = (0..l)
            .map(|y| {
                (
                    y,
                    delta[t_len - 1][y] + self.params[off + l * l + l + y] as f64,
                )
            })
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            )
            .0;
        let mut labels = vec![0; t_len];
        for t in (0..t_len).rev() {
            labels[t] = y;
            y = back[t][y];
        }
        let (alpha, beta, log_z) = self.forward_backward(&emit);
        let conf = (0..t_len)
            .map(|t| (alpha[t][labels[t]] + beta[t][labels[t]] - log_z).exp())
            .collect();
        (labels, conf)
    }

    /// Whether the entity `tag` is split at a comma between tokens `t - 1` and `t`.
    fn comma_between(&self, message: &Message, t: usize, tag: usize) -> bool {
        let entity = &self.tags[tag].entity;
        let split = self
            .split_entities_by_comma_for
            .get(entity)
            .copied()
            .unwrap_or(self.split_entities_by_comma);
        split
            && t > 0
            && message
                .text
                .chars()
                .skip(message.tokens[t - 1].end)
                .take(
                    message.tokens[t]
                        .start
                        .saturating_sub(message.tokens[t - 1].end),
                )
                .any(|c| c == ',')
    }

    /// The gold label of each token of a training example.
    fn gold_labels(&self, message: &Message, spans: &[rusa_project::EntitySpan]) -> Vec<usize> {
        let mut labels = vec![0usize; message.tokens.len()];
        for span in spans {
            let tag = EntityTag {
                entity: span.entity.clone(),
                role: span.role.clone(),
                group: span.group.clone(),
            };
            let Ok(tag) = self.tags.binary_search(&tag) else {
                continue;
            };
            let inside: Vec<usize> = message
                .tokens
                .iter()
                .enumerate()
                .filter(|(_, t)| t.start < span.end && span.start < t.end)
                .map(|(i, _)| i)
                .collect();
            if inside.iter().any(|i| labels[*i] != 0) {
                continue; // a second entity on the same tokens: the first one is learned
            }
            for (k, i) in inside.iter().enumerate() {
                let prefix = match (k, inside.len()) {
                    (_, 1) => 3,
                    (0, _) => 0,
                    (k, n) if k + 1 == n => 2,
                    _ => 1,
                };
                labels[*i] = self.label(prefix, tag);
            }
        }
        labels
    }
}

impl NluComponent for CrfEntityExtractor {
    fn name(&self) -> &'static str {
        "CRFEntityExtractor"
    }

    fn train(&mut self, data: &TrainingView, seed: u64) -> Result<()> {
        let tags: BTreeSet<EntityTag> = data
            .examples
            .iter()
            .flat_map(|e| {
                e.entities.iter().map(|s| EntityTag {
                    entity: s.entity.clone(),
                    role: s.role.clone(),
                    group: s.group.clone(),
                })
            })
            .collect();
        self.tags = tags.into_iter().collect();
        self.vocab = Vocab::default();
        self.params = Vec::new();
        if self.tags.is_empty() {
            return Ok(());
        }
        let examples: Vec<_> = data
            .examples
            .iter()
            .filter(|e| !e.message.tokens.is_empty())
            .collect();
        let mut keys = BTreeSet::new();
        for ex in &examples {
            for i in 0..ex.message.tokens.len() {
                self.for_each_feature(&ex.message, i, |k| {
                    keys.insert(k);
                });
            }
        }
        self.vocab = Vocab::new(keys.into_iter().collect());
        let l = self.n_labels();
        let n_params = self.vocab.len() * l + l * l + 2 * l;
        self.params = vec![0.0; n_params];
        let seqs: Vec<Sequence> = examples
            .iter()
            .map(|ex| Sequence {
                feats: self.token_features(&ex.message),
                labels: self.gold_labels(&ex.message, &ex.entities),
            })
            .collect();
        let n = seqs.len() as f32;
        let batch = 16usize;
        let mut rng = Rng::new(self.random_seed.unwrap_or(seed));
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut m = vec![0.0f32; n_params];
        let mut v = vec![0.0f32; n_params];
        let mut grad = vec![0.0f32; n_params];
        let off = self.trans_offset();
        let mut stamp = vec![u32::MAX; self.vocab.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut step = 0u32;
        let total = (self.max_iterations.max(1) * seqs.len().div_ceil(batch)) as f32;
        for _ in 0..self.max_iterations.max(1) {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                step += 1;
                touched.clear();
                for &i in chunk {
                    self.accumulate_gradient(&seqs[i], &mut grad);
                    for fs in &seqs[i].feats {
                        for &f in fs {
                            if stamp[f as usize] != step {
                                stamp[f as usize] = step;
                                touched.push(f);
                            }
                        }
                    }
                }
                let lr = self.learning_rate * (1.0 - 0.9 * step as f32 / total);
                let t = step as i32;
                let corr = (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
                let scale = 1.0 / chunk.len() as f32;
                let decay = 2.0 * self.l2_c / n;
                let mut update = |k: usize, params: &mut [f32], grad: &mut [f32]| {
                    let g = grad[k] * scale + decay * params[k];
                    m[k] = b1 * m[k] + (1.0 - b1) * g;
                    v[k] = b2 * v[k] + (1.0 - b2) * g * g;
                    params[k] -= lr * corr * m[k] / (v[k].sqrt() + eps);
                    grad[k] = 0.0;
                };
                for &f in &touched {
                    for k in f as usize * l..(f as usize + 1) * l {
                        update(k, &mut self.params, &mut grad);
                    }
                }
                for k in off..n_params {
                    update(k, &mut self.params, &mut grad);
                }
            }
        }
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        if self.tags.is_empty() || message.tokens.is_empty() {
            return;
        }
        let feats = self.token_features(message);
        let (labels, conf) = self.decode(&feats);
        // (tag, first token, last token, confidences)
        let mut spans: Vec<(usize, usize, usize, Vec<f64>)> = Vec::new();
        let mut open: Option<(usize, usize, usize, Vec<f64>)> = None;
        for (t, &label) in labels.iter().enumerate() {
            let Some((prefix, tag)) = self.unlabel(label) else {
                spans.extend(open.take());
                continue;
            };
            let continues = matches!(&open, Some((otag, _, _, _)) if *otag == tag)
                && matches!(prefix, 'I' | 'L')
                && !self.comma_between(message, t, tag);
            if continues {
                let o = open.as_mut().expect("checked above");
                o.2 = t;
                o.3.push(conf[t]);
            } else {
                spans.extend(open.take());
                open = Some((tag, t, t, vec![conf[t]]));
            }
            if matches!(prefix, 'L' | 'U') && self.bilou_flag {
                spans.extend(open.take());
            }
        }
        spans.extend(open);
        for (tag, first, last, confs) in spans {
            let tag = &self.tags[tag];
            let (start, end) = (message.tokens[first].start, message.tokens[last].end);
            message.entities.push(ExtractedEntity {
                entity: tag.entity.clone(),
                start,
                end,
                confidence_entity: Some(confs.iter().sum::<f64>() / confs.len() as f64),
                role: tag.role.clone(),
                group: tag.group.clone(),
                value: serde_json::Value::String(char_slice(&message.text, start, end)),
                extractor: "CRFEntityExtractor".to_owned(),
                processors: Vec::new(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::component::NluComponent;
    use crate::tokenizer::WhitespaceTokenizer;
    use crate::training::TrainingExample;

    fn example(annotated: &str) -> TrainingExample {
        let (text, entities) = rusa_project::parse_annotated(annotated).unwrap();
        let mut message = Message::new(text);
        WhitespaceTokenizer::default().process(&mut message);
        TrainingExample {
            intent: "i".into(),
            entities,
            message,
        }
    }

    #[test]
    fn learns_a_toy_entity_task() {
        let mut examples = Vec::new();
        let cities = [
            "Berlin",
            "Paris",
            "New York",
            "San Francisco",
            "Rome",
            "Los Angeles",
        ];
        let templates = [
            "fly from [{a}]{{\"entity\": \"city\", \"role\": \"from\"}} to [{b}]{{\"entity\": \"city\", \"role\": \"to\"}}",
            "I want to go to [{b}]{{\"entity\": \"city\", \"role\": \"to\"}}",
            "book a [{n}](count) tickets to [{b}]{{\"entity\": \"city\", \"role\": \"to\"}} please",
            "hello there",
            "what is the weather",
        ];
        for (i, a) in cities.iter().enumerate() {
            let b = cities[(i + 1) % cities.len()];
            for t in templates {
                let text = t
                    .replace("{a}", a)
                    .replace("{b}", b)
                    .replace("{n}", &(i + 2).to_string())
                    .replace("{{", "{")
                    .replace("}}", "}");
                examples.push(example(&text));
            }
        }
        let data = TrainingView {
            examples,
            ..TrainingView::default()
        };
        let mut crf = CrfEntityExtractor::default();
        crf.train(&data, 42).unwrap();
        assert_eq!(crf.tags().len(), 3);
        let mut m = Message::new("fly from Rome to San Francisco");
        WhitespaceTokenizer::default().process(&mut m);
        crf.process(&mut m);
        let found: Vec<(String, Option<String>, usize, usize, String)> = m
            .entities
            .iter()
            .map(|e| {
                (
                    e.entity.clone(),
                    e.role.clone(),
                    e.start,
                    e.end,
                    e.value.as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(
            found,
            [
                ("city".into(), Some("from".into()), 9, 13, "Rome".into()),
                (
                    "city".into(),
                    Some("to".into()),
                    17,
                    30,
                    "San Francisco".into()
                ),
            ]
        );
        assert!(
            m.entities
                .iter()
                .all(|e| e.confidence_entity.unwrap() > 0.5)
        );
        let mut m = Message::new("hello there");
        WhitespaceTokenizer::default().process(&mut m);
        crf.process(&mut m);
        assert!(m.entities.is_empty());
    }

    #[test]
    fn training_is_deterministic_and_seeded() {
        let data = TrainingView {
            examples: vec![
                example("fly to [Berlin](city)"),
                example("fly to [Paris](city) from [Rome](city)"),
                example("hello"),
                example("[two](count) tickets to [Rome](city)"),
            ],
            ..TrainingView::default()
        };
        let train = |seed| {
            let mut crf = CrfEntityExtractor::default();
            crf.train(&data, seed).unwrap();
            serde_json::to_string(&crf).unwrap()
        };
        assert_eq!(train(1), train(1));
        assert_ne!(train(1), train(2));
        let restored: CrfEntityExtractor = serde_json::from_str(&train(1)).unwrap();
        let mut m = Message::new("fly to Paris");
        WhitespaceTokenizer::default().process(&mut m);
        restored.process(&mut m);
        assert_eq!(m.entities.len(), 1);
        assert_eq!(m.entities[0].value, "Paris");
    }

    #[test]
    fn entities_are_split_at_commas() {
        let mut examples = Vec::new();
        for (a, b) in [
            ("cheese", "ham"),
            ("onions", "olives"),
            ("tuna", "corn"),
            ("egg", "kale"),
        ] {
            examples.push(example(&format!(
                "a pizza with [{a}](topping) and [{b}](topping)"
            )));
            examples.push(example(&format!("pizza with [{a} {b}](topping) please")));
            examples.push(example("hello"));
        }
        let data = TrainingView {
            examples,
            ..TrainingView::default()
        };
        let mut crf = CrfEntityExtractor::default();
        crf.train(&data, 1).unwrap();
        let mut m = Message::new("pizza with cheese, ham please");
        WhitespaceTokenizer::default().process(&mut m);
        let mut unsplit = crf.clone();
        unsplit.split_entities_by_comma = false;
        let mut m2 = m.clone();
        crf.process(&mut m);
        unsplit.process(&mut m2);
        let values = |m: &Message| -> Vec<String> {
            m.entities
                .iter()
                .map(|e| e.value.as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(values(&m), ["cheese", "ham"]);
        assert_eq!(values(&m2), ["cheese, ham"]);
    }

    #[test]
    fn bilou_labels_and_decoding() {
        let ex = example("go to [New York City](city) now");
        let crf = CrfEntityExtractor {
            tags: vec![EntityTag {
                entity: "city".into(),
                role: None,
                group: None,
            }],
            ..CrfEntityExtractor::default()
        };
        let labels = crf.gold_labels(&ex.message, &ex.entities);
        let names: Vec<String> = labels
            .iter()
            .map(|l| match crf.unlabel(*l) {
                None => "O".into(),
                Some((p, _)) => p.to_string(),
            })
            .collect();
        assert_eq!(names, ["O", "O", "B", "I", "L", "O"]);
    }
}
