//! `CRFEntityExtractor`: a linear-chain conditional random field over BILOU tags.

// Loops over label and token indices read best as index loops.
#![allow(clippy::needless_range_loop)]

use std::collections::{BTreeSet, HashMap};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::chain::{Chain, Lattice, Potentials};
use crate::component::NluComponent;
use crate::error::Result;
use crate::featurizers::lexical::lexical_value;
use crate::message::{ExtractedEntity, Message, char_slice};
use crate::params::Params;
use crate::persist::{f32_base64, u32_base64};
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

/// The CRF feature names: Rasa's (without spaCy's `pos`/`pos2` and dense features) and
/// rusa's `shape` (see [`shape`]), `bigram` (the token and the one before it, lower case) and
/// `intent` (the message's intent: the annotated one in training, the one the intent
/// classifier before the CRF predicted when parsing).
pub const CRF_FEATURES: &[&str] = &[
    "BOS", "EOS", "low", "upper", "title", "digit", "prefix5", "prefix2", "suffix5", "suffix3",
    "suffix2", "bias", "pattern", "shape", "intent", "bigram",
];

/// The default CRF `features`: for the token before, the token itself and the token after.
/// Rasa's, plus `shape` and `intent` for the token itself. On HWU64 (54 entity types) the
/// intent raised entity micro-F1 from 0.72 to 0.76 (`examples/hwu64.rs`); the shape and
/// `BOS`/`EOS` let a lone word (the answer to "Which city?") be told from a greeting.
pub fn default_crf_features() -> Vec<Vec<String>> {
    let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    vec![
        owned(&["low", "title", "upper"]),
        owned(&[
            "BOS", "EOS", "low", "bias", "prefix5", "prefix2", "suffix5", "suffix3", "suffix2",
            "upper", "title", "digit", "pattern", "shape", "intent",
        ]),
        owned(&["low", "title", "upper"]),
    ]
}

/// A linear-chain CRF learned from the annotated examples. Labels are BILOU prefixes
/// (`BILOU_flag`, default true) over joint tags `entity` + `role` + `group`, so roles and
/// groups are learned with the entity. Features per token come from a window (`features`,
/// Rasa's names; `pattern` uses the `RegexFeaturizer`'s token features, with the token's
/// place in a run of matching tokens, `shape` is the token's letter/digit shape).
///
/// As in CRFsuite (which Rasa's extractor uses), a feature has a weight only for the labels
/// it was seen with in training, so an update touches a handful of weights per token. Only
/// legal BILOU successions are scored, with transitions factored so that a token costs time
/// linear in the number of labels (see `chain.rs`). Trained by minimising the negative
/// log-likelihood (forward-backward) plus `L2_c`·‖w‖² with mini-batch Adam, the step
/// decaying linearly over the epochs: 400,000 token updates' worth, at least 8 and at most
/// `max_iterations` (so small data gets many passes and large data few; HWU64's 66,000
/// tokens get 8); decoded with Viterbi. `confidence_entity` is the mean marginal probability of the
/// entity's token labels.
///
/// Parameters: `features` (Rasa's default), `BILOU_flag` (true), `max_iterations` (50
/// epochs at most), `L2_c` (0.1), `split_entities_by_comma` (true, or a map per entity),
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
    /// Whether an intent classifier runs before this extractor in its pipeline (set by
    /// [`crate::Pipeline`]); the `intent` feature is used only then, so that training does
    /// not lean on an intent that parsing will not have.
    #[serde(default)]
    pub intent_known: bool,
    tags: Vec<EntityTag>,
    /// The token features (attributes) seen in training; a feature's position is its id.
    vocab: Vocab,
    /// The labels feature `a` has weights for: `feature_labels[feature_offsets[a]..feature_offsets[a + 1]]`.
    #[serde(with = "u32_base64")]
    feature_offsets: Vec<u32>,
    #[serde(with = "u32_base64")]
    feature_labels: Vec<u32>,
    /// `[emission weight of each (feature, label) pair | transitions (chain.rs layout)]`.
    #[serde(with = "f32_base64")]
    params: Vec<f32>,
    /// Whether the arrays above fit together (checked once after loading).
    #[serde(skip)]
    consistent: OnceLock<bool>,
    /// `exp` of the transition weights, for parsing (computed on first use).
    #[serde(skip)]
    potentials: OnceLock<Box<Potentials>>,
    /// Epochs the last training ran (early stopping may end it before `max_iterations`).
    #[serde(skip)]
    epochs_trained: usize,
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
            intent_known: false,
            tags: Vec::new(),
            vocab: Vocab::default(),
            feature_offsets: vec![0],
            feature_labels: Vec::new(),
            params: Vec::new(),
            consistent: OnceLock::new(),
            potentials: OnceLock::new(),
            epochs_trained: 0,
        }
    }
}

/// Token updates a training aims at: data of fewer tokens gets more epochs (up to
/// `max_iterations`), data of more gets [`MIN_EPOCHS`].
const TOKEN_UPDATES: usize = 400_000;
/// The fewest epochs a training runs (unless `max_iterations` is smaller).
const MIN_EPOCHS: usize = 8;

/// The number of epochs for `tokens` training tokens: `TOKEN_UPDATES / tokens` within
/// `MIN_EPOCHS..=max_iterations`.
fn epochs_for(tokens: usize, max_iterations: usize) -> usize {
    (TOKEN_UPDATES / tokens.max(1))
        .max(MIN_EPOCHS)
        .min(max_iterations)
        .max(1)
}

/// A label whose marginal probability is at most this gets no gradient from a token (unless
/// it is the gold label): below it the update is lost in rounding anyway, and skipping it
/// keeps the cost of a token independent of the number of labels a common feature has.
const GRADIENT_FLOOR: f64 = 1e-5;

/// Work space of training: emission scores, the lattice, per-label gradients of a token and
/// the labels that have one.
type Scratch = (Vec<f64>, Lattice, Vec<f32>, Vec<u32>);

/// Token-level data of one sentence for training.
struct Sequence {
    feats: Vec<Vec<u32>>,
    labels: Vec<usize>,
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

    /// How many epochs the last training in this process ran (0 for a loaded model).
    pub fn epochs_trained(&self) -> usize {
        self.epochs_trained
    }

    fn chain(&self) -> Chain {
        Chain {
            bilou: self.bilou_flag,
            n_tags: self.tags.len(),
        }
    }

    fn n_emission(&self) -> usize {
        self.feature_labels.len()
    }

    /// Whether the learned arrays fit together, so `process` cannot index out of bounds
    /// on a hand-edited saved model.
    fn is_consistent(&self) -> bool {
        *self.consistent.get_or_init(|| {
            let l = self.chain().n_labels() as u32;
            let offsets_ok = self.feature_offsets.len() == self.vocab.len() + 1
                && self.feature_offsets.first() == Some(&0)
                && self.feature_offsets.windows(2).all(|w| w[0] <= w[1])
                && self.feature_offsets.last().copied() == Some(self.feature_labels.len() as u32);
            offsets_ok
                && self.feature_labels.iter().all(|&y| y < l)
                && self.params.len() == self.n_emission() + self.chain().n_transition_params()
        })
    }

    /// Calls `f` with the feature keys of token `i`. `intent` is the message's intent (the
    /// annotated one in training, the classifier's when parsing) for the `intent` feature.
    fn for_each_feature(
        &self,
        message: &Message,
        intent: Option<&str>,
        i: usize,
        mut f: impl FnMut(&str),
    ) {
        use std::fmt::Write;
        // One buffer for every key: parsing builds a key per feature and token.
        let mut buf = String::new();
        macro_rules! emit {
            ($($arg:tt)*) => {{
                buf.clear();
                let _ = write!(buf, $($arg)*);
                f(&buf);
            }};
        }
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
                    "bias" => emit!("{pos}:bias"),
                    "pattern" => {
                        // The pattern, and where the token lies in a run of tokens it
                        // matches (so a lookup table's "San Francisco" reads as one value).
                        let has = |k: usize, p: u32| {
                            patterns
                                .and_then(|b| b.tokens.get(k))
                                .is_some_and(|tf| tf.iter().any(|(q, _)| *q == p))
                        };
                        if let Some(tf) = patterns.and_then(|b| b.tokens.get(j)) {
                            for (p, _) in tf {
                                emit!("{pos}:pattern:{p}");
                                let before = j > 0 && has(j - 1, *p);
                                let after = has(j + 1, *p);
                                let place = match (before, after) {
                                    (false, false) => 'U',
                                    (false, true) => 'B',
                                    (true, true) => 'I',
                                    (true, false) => 'L',
                                };
                                emit!("{pos}:pattern:{p}:{place}");
                            }
                        }
                    }
                    "shape" => emit!("{pos}:shape:{}", shape(&tokens[j].text)),
                    "bigram" => {
                        let before = if j == 0 {
                            "^".to_owned()
                        } else {
                            tokens[j - 1].text.to_lowercase()
                        };
                        emit!("{pos}:bigram:{before}|{}", tokens[j].text.to_lowercase());
                    }
                    "intent" => {
                        if let Some(intent) = intent {
                            emit!("{pos}:intent:{intent}");
                        }
                    }
                    other => {
                        if let Some(v) = lexical_value(other, tokens, j) {
                            emit!("{pos}:{other}:{v}");
                        }
                    }
                }
            }
        }
    }

    /// The known feature ids of each token.
    fn token_features(&self, message: &Message) -> Vec<Vec<u32>> {
        (0..message.tokens.len())
            .map(|i| {
                let mut ids = Vec::new();
                let intent = message
                    .intent
                    .as_ref()
                    .filter(|_| self.intent_known)
                    .map(|i| i.name.as_str());
                self.for_each_feature(message, intent, i, |k| {
                    if let Some(id) = self.vocab.get(k) {
                        ids.push(id);
                    }
                });
                ids
            })
            .collect()
    }

    /// Emission scores `[t * L + y]`.
    fn emissions(&self, feats: &[Vec<u32>], out: &mut Vec<f64>) {
        let l = self.chain().n_labels();
        out.clear();
        out.resize(feats.len() * l, 0.0);
        for (t, fs) in feats.iter().enumerate() {
            let row = &mut out[t * l..(t + 1) * l];
            for &f in fs {
                let range = self.feature_offsets[f as usize] as usize
                    ..self.feature_offsets[f as usize + 1] as usize;
                for (&y, &w) in self.feature_labels[range.clone()]
                    .iter()
                    .zip(&self.params[range])
                {
                    row[y as usize] += w as f64;
                }
            }
        }
    }

    /// `(prefix, tag)` of a label; `None` for `O`. Without BILOU every label is `U`.
    fn unlabel(&self, label: usize) -> Option<(char, usize)> {
        let chain = self.chain();
        let tag = chain.tag(label)?;
        Some(match chain.kind(label) {
            super::chain::Kind::B => ('B', tag),
            super::chain::Kind::I => ('I', tag),
            super::chain::Kind::L => ('L', tag),
            _ if !self.bilou_flag => ('I', tag),
            _ => ('U', tag),
        })
    }

    /// Viterbi labels and the marginal probability of each chosen label.
    fn decode(&self, feats: &[Vec<u32>]) -> (Vec<usize>, Vec<f64>) {
        let chain = self.chain();
        let l = chain.n_labels();
        let trans = &self.params[self.n_emission()..];
        let mut emit = Vec::new();
        self.emissions(feats, &mut emit);
        let labels = chain.viterbi(trans, &emit);
        let mut lattice = Lattice::default();
        let potentials = self
            .potentials
            .get_or_init(|| Box::new(chain.potentials(trans)));
        chain.forward_backward(potentials, &emit, &mut lattice);
        let conf = labels
            .iter()
            .enumerate()
            .map(|(t, &y)| lattice.marginal(l, t, y))
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
                labels[*i] = self.chain().label(prefix, tag);
            }
        }
        labels
    }

    /// Adds the gradient of one sequence's negative log-likelihood to `grad` and returns
    /// the loss.
    fn accumulate_gradient(
        &self,
        chain: &Chain,
        pot: &Potentials,
        seq: &Sequence,
        scratch: &mut Scratch,
        grad: &mut [f32],
    ) -> f64 {
        let l = chain.n_labels();
        let n_emit = self.n_emission();
        let (emit, lattice) = (&mut scratch.0, &mut scratch.1);
        self.emissions(&seq.feats, emit);
        let log_z = chain.forward_backward(pot, emit, lattice);
        let (grad_emit, grad_trans) = grad.split_at_mut(n_emit);
        let mut score =
            chain.add_observed_transitions(&self.params[n_emit..], &seq.labels, grad_trans);
        chain.add_expected_transitions(pot, lattice, grad_trans);
        // Per token, the labels whose gradient is not negligible (the gold one and those with
        // a marginal above `GRADIENT_FLOOR`); a feature seen with many labels (`bias`) is
        // updated for those only.
        let (dense, active) = (&mut scratch.2, &mut scratch.3);
        dense.clear();
        dense.resize(l, 0.0);
        for (t, fs) in seq.feats.iter().enumerate() {
            let gold = seq.labels[t];
            active.clear();
            for y in 0..l {
                let p = lattice.marginal(l, t, y);
                if p > GRADIENT_FLOOR || y == gold {
                    let g = (p - if y == gold { 1.0 } else { 0.0 }) as f32;
                    dense[y] = g;
                    active.push(y as u32);
                }
            }
            for &f in fs {
                let start = self.feature_offsets[f as usize] as usize;
                let end = self.feature_offsets[f as usize + 1] as usize;
                let labels = &self.feature_labels[start..end];
                if labels.len() <= 2 * active.len() + 4 {
                    for (k, &y) in (start..end).zip(labels) {
                        grad_emit[k] += dense[y as usize];
                    }
                } else {
                    for &y in active.iter() {
                        if let Ok(i) = labels.binary_search(&y) {
                            grad_emit[start + i] += dense[y as usize];
                        }
                    }
                }
                if let Ok(i) = labels.binary_search(&(gold as u32)) {
                    score += self.params[start + i] as f64;
                }
            }
            for &y in active.iter() {
                dense[y as usize] = 0.0;
            }
        }
        log_z - score
    }
}

/// The letter/digit shape of a token: `Berlin` → `Xx`, `10:30` → `d:d`, `iPhone` → `xXx`
/// (upper-case letters `X`, other letters `x`, digits `d`, other characters as they are;
/// runs collapsed).
pub(crate) fn shape(text: &str) -> String {
    let mut out = String::new();
    let mut last = None;
    for c in text.chars() {
        let s = if c.is_uppercase() {
            'X'
        } else if c.is_alphabetic() {
            'x'
        } else if c.is_numeric() {
            'd'
        } else {
            c
        };
        if last != Some(s) {
            out.push(s);
            last = Some(s);
        }
    }
    out
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
        self.feature_offsets = vec![0];
        self.feature_labels = Vec::new();
        self.params = Vec::new();
        self.consistent = OnceLock::new();
        self.potentials = OnceLock::new();
        if self.tags.is_empty() {
            return Ok(());
        }
        let chain = self.chain();
        // Features of every token, numbered in order of first appearance.
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut terms: Vec<String> = Vec::new();
        let mut seqs: Vec<Sequence> = Vec::new();
        let mut skipped = 0usize;
        for ex in data
            .examples
            .iter()
            .filter(|e| !e.message.tokens.is_empty())
        {
            let labels = self.gold_labels(&ex.message, &ex.entities);
            if !chain.is_legal(&labels) {
                skipped += 1;
                continue;
            }
            let feats = (0..ex.message.tokens.len())
                .map(|i| {
                    let mut fs = Vec::new();
                    let intent = self.intent_known.then(|| ex.base_intent());
                    self.for_each_feature(&ex.message, intent, i, |k| {
                        let id = match ids.get(k) {
                            Some(id) => *id,
                            None => {
                                let id = ids.len() as u32;
                                ids.insert(k.to_owned(), id);
                                terms.push(k.to_owned());
                                id
                            }
                        };
                        fs.push(id);
                    });
                    fs
                })
                .collect();
            seqs.push(Sequence { feats, labels });
        }
        if skipped > 0 {
            tracing::debug!(
                skipped,
                "CRFEntityExtractor: examples whose annotation gives no legal label sequence were left out"
            );
        }
        // The labels each feature is seen with: its weights.
        let mut pairs: Vec<(u32, u32)> = seqs
            .iter()
            .flat_map(|s| {
                s.feats
                    .iter()
                    .zip(&s.labels)
                    .flat_map(|(fs, &y)| fs.iter().map(move |&f| (f, y as u32)))
            })
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let mut offsets = vec![0u32; terms.len() + 1];
        for &(f, _) in &pairs {
            offsets[f as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        self.feature_labels = pairs.iter().map(|p| p.1).collect();
        self.feature_offsets = offsets;
        self.vocab = Vocab::new(terms);
        drop(ids);
        let n_emit = self.feature_labels.len();
        let n_params = n_emit + chain.n_transition_params();
        self.params = vec![0.0; n_params];

        let n = seqs.len() as f32;
        let batch = 16usize;
        let mut rng = Rng::new(self.random_seed.unwrap_or(seed));
        let mut order: Vec<usize> = (0..seqs.len()).collect();
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut m = vec![0.0f32; n_params];
        let mut v = vec![0.0f32; n_params];
        let mut grad = vec![0.0f32; n_params];
        let mut stamp = vec![u32::MAX; self.vocab.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut scratch: Scratch = Default::default();
        let mut step = 0u32;
        let tokens: usize = seqs.iter().map(|s| s.labels.len()).sum();
        let epochs = epochs_for(tokens, self.max_iterations);
        let total = (epochs * seqs.len().div_ceil(batch)) as f32;
        for epoch in 0..epochs {
            self.epochs_trained = epoch + 1;
            rng.shuffle(&mut order);
            let mut loss = 0.0;
            for chunk in order.chunks(batch) {
                step += 1;
                touched.clear();
                let pot = chain.potentials(&self.params[n_emit..]);
                for &i in chunk {
                    loss +=
                        self.accumulate_gradient(&chain, &pot, &seqs[i], &mut scratch, &mut grad);
                    for fs in &seqs[i].feats {
                        for &f in fs {
                            if stamp[f as usize] != step {
                                stamp[f as usize] = step;
                                touched.push(f);
                            }
                        }
                    }
                }
                let lr = self.learning_rate * (1.0 - 0.9 * step as f32 / total).max(0.1);
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
                    let range = self.feature_offsets[f as usize] as usize
                        ..self.feature_offsets[f as usize + 1] as usize;
                    for k in range {
                        update(k, &mut self.params, &mut grad);
                    }
                }
                for k in n_emit..n_params {
                    update(k, &mut self.params, &mut grad);
                }
            }
            tracing::debug!(
                epoch,
                mean_loss = loss / seqs.len().max(1) as f64,
                "CRFEntityExtractor epoch"
            );
        }
        Ok(())
    }

    fn process(&self, message: &mut Message) {
        if self.tags.is_empty() || message.tokens.is_empty() {
            return;
        }
        if !self.is_consistent() {
            tracing::debug!(
                "CRFEntityExtractor: the saved weights do not fit together; no entities extracted"
            );
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
