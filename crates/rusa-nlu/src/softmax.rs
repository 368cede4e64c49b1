//! Multinomial logistic regression over sparse features, trained with mini-batch Adam
//! (sparse, "lazy" updates: only the rows of features seen in a batch change), and the
//! sentence encoding the classifiers share.

use serde::{Deserialize, Serialize};

use crate::message::{Message, SparseVec};
use crate::persist::f32_base64;
use crate::rng::Rng;

/// Turns the sentence features of a message's feature blocks into one sparse input:
/// blocks concatenated, each value `ln(1 + count) · idf`, each block scaled to unit length.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct SentenceEncoder {
    /// The dimension of each block, in the order the featurizers ran.
    dims: Vec<u32>,
    /// Smoothed inverse document frequency of each input feature.
    #[serde(with = "f32_base64")]
    idf: Vec<f32>,
}

impl SentenceEncoder {
    /// Learns the block layout and the idf weights from training messages.
    pub(crate) fn fit<'a>(messages: impl Iterator<Item = &'a Message> + Clone) -> Self {
        let dims: Vec<u32> = messages
            .clone()
            .next()
            .map(|m| m.features.iter().map(|b| b.dim).collect())
            .unwrap_or_default();
        let total: usize = dims.iter().map(|d| *d as usize).sum();
        let mut df = vec![0u32; total];
        let mut n = 0usize;
        let enc = Self {
            dims,
            idf: vec![1.0; total],
        };
        for m in messages {
            n += 1;
            for (i, _) in enc.raw(m) {
                df[i as usize] += 1;
            }
        }
        let idf = df
            .iter()
            .map(|d| (((1 + n) as f32) / ((1 + d) as f32)).ln() + 1.0)
            .collect();
        Self { idf, ..enc }
    }

    pub(crate) fn dim(&self) -> usize {
        self.idf.len()
    }

    /// Concatenated raw counts, with global indices.
    fn raw(&self, m: &Message) -> SparseVec {
        let mut out = Vec::new();
        let mut offset = 0u32;
        for (block, dim) in m.features.iter().zip(&self.dims) {
            for (i, v) in &block.sentence {
                if *i < *dim {
                    out.push((offset + i, *v));
                }
            }
            offset += dim;
        }
        out
    }

    pub(crate) fn encode(&self, m: &Message) -> SparseVec {
        let mut out = Vec::with_capacity(64);
        let mut offset = 0u32;
        for (block, dim) in m.features.iter().zip(&self.dims) {
            let start = out.len();
            let mut norm = 0.0f32;
            for (i, v) in &block.sentence {
                if *i < *dim && *v > 0.0 {
                    let g = offset + i;
                    let x = (1.0 + v).ln() * self.idf[g as usize];
                    norm += x * x;
                    out.push((g, x));
                }
            }
            if norm > 0.0 {
                let inv = 1.0 / norm.sqrt();
                out[start..].iter_mut().for_each(|p| p.1 *= inv);
            }
            offset += dim;
        }
        out
    }
}

/// How the softmax regression of the intent classifier and the response selector is trained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// Passes over the data; 0 picks `20,000 / examples`, at least 10 and at most 30.
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam's step size, decaying linearly to a tenth; 0 picks `25 / updates` within
    /// 0.01..=0.1, so small data sets learn confidently and large ones do not overfit.
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            epochs: 0,
            batch_size: 32,
            learning_rate: 0.0,
            l2: 1e-5,
        }
    }
}

/// Weights of a multinomial logistic regression, feature-major (`weights[f * classes + c]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Softmax {
    pub(crate) features: usize,
    pub(crate) classes: usize,
    #[serde(with = "f32_base64")]
    weights: Vec<f32>,
    #[serde(with = "f32_base64")]
    bias: Vec<f32>,
}

fn softmax_in_place(z: &mut [f32]) {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in z.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    z.iter_mut().for_each(|v| *v *= inv);
}

impl Softmax {
    /// Class probabilities for one input.
    pub(crate) fn predict(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let c = self.classes;
        let mut z = self.bias.clone();
        for &(f, v) in x {
            let f = f as usize;
            if f < self.features {
                let row = &self.weights[f * c..(f + 1) * c];
                z.iter_mut().zip(row).for_each(|(z, w)| *z += v * w);
            }
        }
        if c > 0 {
            softmax_in_place(&mut z);
        }
        z
    }

    /// Trains on `xs` with labels `ys` (< `classes`), deterministically for a seed.
    pub(crate) fn train(
        xs: &[SparseVec],
        ys: &[u32],
        features: usize,
        classes: usize,
        opt: &OptimizerConfig,
        seed: u64,
    ) -> Self {
        let mut model = Self {
            features,
            classes,
            weights: vec![0.0; features * classes],
            bias: vec![0.0; classes],
        };
        if xs.is_empty() || classes < 2 {
            return model;
        }
        let c = classes;
        let batch = opt.batch_size.max(1);
        let batches = xs.len().div_ceil(batch);
        let epochs = if opt.epochs > 0 {
            opt.epochs
        } else {
            20_000usize.div_ceil(xs.len()).clamp(10, 30)
        };
        let total_steps = (epochs * batches) as f32;
        let learning_rate = if opt.learning_rate > 0.0 {
            opt.learning_rate
        } else {
            (25.0 / total_steps).clamp(0.01, 0.1)
        };
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let mut m = vec![0.0f32; features * c];
        let mut v = vec![0.0f32; features * c];
        let mut grad = vec![0.0f32; features * c];
        let (mut mb, mut vb, mut gb) = (vec![0.0f32; c], vec![0.0f32; c], vec![0.0f32; c]);
        let mut stamp = vec![u32::MAX; features];
        let mut touched: Vec<u32> = Vec::new();
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = Rng::new(seed);
        let mut step = 0u32;
        let mut z = vec![0.0f32; c];
        for _ in 0..epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                step += 1;
                touched.clear();
                gb.iter_mut().for_each(|g| *g = 0.0);
                for &i in chunk {
                    let x = &xs[i];
                    z.copy_from_slice(&model.bias);
                    for &(f, val) in x {
                        let row = &model.weights[f as usize * c..(f as usize + 1) * c];
                        z.iter_mut().zip(row).for_each(|(z, w)| *z += val * w);
                    }
                    softmax_in_place(&mut z);
                    z[ys[i] as usize] -= 1.0;
                    gb.iter_mut().zip(&z).for_each(|(g, d)| *g += d);
                    for &(f, val) in x {
                        if stamp[f as usize] != step {
                            stamp[f as usize] = step;
                            touched.push(f);
                        }
                        let row = &mut grad[f as usize * c..(f as usize + 1) * c];
                        row.iter_mut().zip(&z).for_each(|(g, d)| *g += val * d);
                    }
                }
                // Linear decay to a tenth of the learning rate.
                let progress = step as f32 / total_steps;
                let lr = learning_rate * (1.0 - 0.9 * progress);
                let t = step as i32;
                let corr = (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
                let scale = 1.0 / chunk.len() as f32;
                for &f in &touched {
                    let range = f as usize * c..(f as usize + 1) * c;
                    let (w, g) = (&mut model.weights[range.clone()], &mut grad[range.clone()]);
                    let (m, v) = (&mut m[range.clone()], &mut v[range]);
                    for k in 0..c {
                        let gk = g[k] * scale + opt.l2 * w[k];
                        m[k] = b1 * m[k] + (1.0 - b1) * gk;
                        v[k] = b2 * v[k] + (1.0 - b2) * gk * gk;
                        w[k] -= lr * corr * m[k] / (v[k].sqrt() + eps);
                        g[k] = 0.0;
                    }
                }
                for k in 0..c {
                    let gk = gb[k] * scale;
                    mb[k] = b1 * mb[k] + (1.0 - b1) * gk;
                    vb[k] = b2 * vb[k] + (1.0 - b2) * gk * gk;
                    model.bias[k] -= lr * corr * mb[k] / (vb[k].sqrt() + eps);
                }
            }
        }
        model
    }
}

/// Indices of `probs` from most to least likely (ties: lower index first).
pub(crate) fn ranked(probs: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|a, b| probs[*b].total_cmp(&probs[*a]).then(a.cmp(b)));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem() {
        // Feature 0 → class 0, feature 1 → class 1, feature 2 → class 2; feature 3 is noise.
        let xs: Vec<SparseVec> = (0..30)
            .map(|i| vec![((i % 3) as u32, 1.0), (3, 0.5)])
            .collect();
        let ys: Vec<u32> = (0..30).map(|i| (i % 3) as u32).collect();
        let model = Softmax::train(&xs, &ys, 4, 3, &OptimizerConfig::default(), 1);
        for k in 0..3u32 {
            let p = model.predict(&[(k, 1.0), (3, 0.5)]);
            assert_eq!(ranked(&p)[0], k as usize);
            assert!(p[k as usize] > 0.8, "{p:?}");
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
        }
    }
}
