//! The label chain of the CRF entity extractor: BILOU labels with constrained, factored
//! transitions, and inference over it (forward-backward, Viterbi) in time linear in the
//! number of labels.
//!
//! Labels are `O` and, per entity tag `k`, `B`/`I`/`L`/`U` (`1 + 4k + prefix`), or one label
//! per tag without BILOU (`1 + k`, which behaves like `U`). Only legal successions have a
//! score: `B` and `I` of tag `k` are followed by `I` or `L` of the same tag (four weights per
//! tag); a *closing* label (`O`, `L`, `U`) is followed by an *opening* one (`O`, `B`, `U`)
//! with the score `kinds[kind(p)][kind(y)] + exit[p] + enter[y]`. A sequence starts with an
//! opening label (`start[y]`) and ends with a closing one (`end[y]`).
//!
//! A full matrix of label pairs would cost `L²` per token (with 54 entity types and BILOU,
//! L = 217: 47,000 terms, three times over in training); the factored form sums over the
//! closing labels once per kind, so a token costs a few passes over the labels. What it
//! gives up is a learned score for each pair of entity types in a row (`date` followed by
//! `time`); the window features of the next and previous token carry that evidence.

// Dynamic programming over label indices reads best with index loops.
#![allow(clippy::needless_range_loop)]

/// The kind of a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    O = 0,
    B = 1,
    I = 2,
    L = 3,
    U = 4,
}

const KINDS: usize = 5;
const OPENING: [Kind; 3] = [Kind::O, Kind::B, Kind::U];
const CLOSING: [Kind; 3] = [Kind::O, Kind::L, Kind::U];

impl Kind {
    fn opens(self) -> bool {
        matches!(self, Kind::O | Kind::B | Kind::U)
    }

    fn closes(self) -> bool {
        matches!(self, Kind::O | Kind::L | Kind::U)
    }
}

/// Continuation edges of one tag (BILOU only), in parameter order.
const BI: usize = 0;
const BL: usize = 1;
const II: usize = 2;
const IL: usize = 3;

/// The label set and the layout of the transition parameters:
/// `[kinds: 5×5 | exit: L | enter: L | start: L | end: L | continuation: 4 per tag]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain {
    pub(crate) bilou: bool,
    pub(crate) n_tags: usize,
}

/// `exp` of the transition parameters, computed once per set of weights.
#[derive(Debug, Clone)]
pub(crate) struct Potentials {
    kinds: [[f64; KINDS]; KINDS],
    exit: Vec<f64>,
    enter: Vec<f64>,
    start: Vec<f64>,
    end: Vec<f64>,
    cont: Vec<f64>,
}

/// Work space of forward-backward, reused between sequences.
#[derive(Default)]
pub(crate) struct Lattice {
    /// `exp(score - max)` of each token's emission scores, `[t * L + y]`.
    psi: Vec<f64>,
    alpha: Vec<f64>,
    beta: Vec<f64>,
    /// Per-token normaliser of `alpha` (`c[t]`), and the end's.
    scale: Vec<f64>,
    scale_end: f64,
}

impl Chain {
    pub(crate) fn n_labels(&self) -> usize {
        1 + self.n_tags * if self.bilou { 4 } else { 1 }
    }

    pub(crate) fn kind(&self, y: usize) -> Kind {
        if y == 0 {
            Kind::O
        } else if self.bilou {
            [Kind::B, Kind::I, Kind::L, Kind::U][(y - 1) % 4]
        } else {
            Kind::U
        }
    }

    pub(crate) fn tag(&self, y: usize) -> Option<usize> {
        match y {
            0 => None,
            _ if self.bilou => Some((y - 1) / 4),
            _ => Some(y - 1),
        }
    }

    /// The label of `prefix` (0 B, 1 I, 2 L, 3 U) of `tag`.
    pub(crate) fn label(&self, prefix: usize, tag: usize) -> usize {
        if self.bilou {
            1 + tag * 4 + prefix
        } else {
            1 + tag
        }
    }

    pub(crate) fn n_transition_params(&self) -> usize {
        let l = self.n_labels();
        KINDS * KINDS + 4 * l + if self.bilou { 4 * self.n_tags } else { 0 }
    }

    fn kinds_at(a: Kind, b: Kind) -> usize {
        a as usize * KINDS + b as usize
    }
    fn exit_at(&self, p: usize) -> usize {
        KINDS * KINDS + p
    }
    fn enter_at(&self, y: usize) -> usize {
        KINDS * KINDS + self.n_labels() + y
    }
    fn start_at(&self, y: usize) -> usize {
        KINDS * KINDS + 2 * self.n_labels() + y
    }
    fn end_at(&self, y: usize) -> usize {
        KINDS * KINDS + 3 * self.n_labels() + y
    }
    fn cont_at(&self, tag: usize, edge: usize) -> usize {
        KINDS * KINDS + 4 * self.n_labels() + 4 * tag + edge
    }

    /// The continuation edge from `p` to `y`, if `p` is `B`/`I` and `y` is `I`/`L` of the
    /// same tag.
    fn continuation(&self, p: usize, y: usize) -> Option<usize> {
        if !self.bilou || self.tag(p) != self.tag(y) {
            return None;
        }
        match (self.kind(p), self.kind(y)) {
            (Kind::B, Kind::I) => Some(BI),
            (Kind::B, Kind::L) => Some(BL),
            (Kind::I, Kind::I) => Some(II),
            (Kind::I, Kind::L) => Some(IL),
            _ => None,
        }
    }

    /// Whether a label sequence is one the chain can produce.
    pub(crate) fn is_legal(&self, labels: &[usize]) -> bool {
        let (Some(&first), Some(&last)) = (labels.first(), labels.last()) else {
            return true;
        };
        self.kind(first).opens()
            && self.kind(last).closes()
            && labels.windows(2).all(|w| {
                self.continuation(w[0], w[1]).is_some()
                    || (self.kind(w[0]).closes() && self.kind(w[1]).opens())
            })
    }

    pub(crate) fn potentials(&self, trans: &[f32]) -> Potentials {
        let l = self.n_labels();
        let e = |i: usize| (trans[i] as f64).exp();
        let mut kinds = [[0.0; KINDS]; KINDS];
        for a in CLOSING {
            for b in OPENING {
                kinds[a as usize][b as usize] = e(Self::kinds_at(a, b));
            }
        }
        Potentials {
            kinds,
            exit: (0..l).map(|p| e(self.exit_at(p))).collect(),
            enter: (0..l).map(|y| e(self.enter_at(y))).collect(),
            start: (0..l).map(|y| e(self.start_at(y))).collect(),
            end: (0..l).map(|y| e(self.end_at(y))).collect(),
            cont: (0..if self.bilou { 4 * self.n_tags } else { 0 })
                .map(|i| e(KINDS * KINDS + 4 * l + i))
                .collect(),
        }
    }

    /// Runs forward-backward over emission scores `emit` (`[t * L + y]`) and returns
    /// `log Z`. Afterwards [`Lattice::marginal`] gives each label's probability.
    pub(crate) fn forward_backward(
        &self,
        pot: &Potentials,
        emit: &[f64],
        lat: &mut Lattice,
    ) -> f64 {
        let l = self.n_labels();
        let t_len = emit.len() / l;
        lat.psi.clear();
        lat.psi.resize(emit.len(), 0.0);
        let mut log_z = 0.0;
        for t in 0..t_len {
            let row = &emit[t * l..(t + 1) * l];
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            log_z += max;
            for (p, s) in lat.psi[t * l..(t + 1) * l].iter_mut().zip(row) {
                *p = (s - max).exp();
            }
        }
        lat.alpha.clear();
        lat.alpha.resize(emit.len(), 0.0);
        lat.beta.clear();
        lat.beta.resize(emit.len(), 0.0);
        lat.scale.clear();
        lat.scale.resize(t_len, 0.0);
        // Forward.
        for y in 0..l {
            if self.kind(y).opens() {
                lat.alpha[y] = pot.start[y] * lat.psi[y];
            }
        }
        lat.scale[0] = normalise(&mut lat.alpha[..l]);
        for t in 1..t_len {
            let (prev, cur) = lat.alpha.split_at_mut(t * l);
            let prev = &prev[(t - 1) * l..];
            let cur = &mut cur[..l];
            let into = self.opening_inflow(pot, prev);
            let psi = &lat.psi[t * l..(t + 1) * l];
            for y in 0..l {
                cur[y] = psi[y]
                    * match self.kind(y) {
                        Kind::O | Kind::B | Kind::U => pot.enter[y] * into[self.kind(y) as usize],
                        Kind::I => {
                            let k = (y - 1) / 4;
                            prev[y - 1] * pot.cont[4 * k + BI] + prev[y] * pot.cont[4 * k + II]
                        }
                        Kind::L => {
                            let k = (y - 1) / 4;
                            prev[y - 2] * pot.cont[4 * k + BL] + prev[y - 1] * pot.cont[4 * k + IL]
                        }
                    };
            }
            lat.scale[t] = normalise(cur);
        }
        let last = &lat.alpha[(t_len - 1) * l..];
        lat.scale_end = (0..l)
            .filter(|&y| self.kind(y).closes())
            .map(|y| last[y] * pot.end[y])
            .sum::<f64>()
            .max(f64::MIN_POSITIVE);
        log_z += lat.scale.iter().map(|c| c.ln()).sum::<f64>() + lat.scale_end.ln();
        // Backward, with the same normalisers.
        for y in 0..l {
            if self.kind(y).closes() {
                lat.beta[(t_len - 1) * l + y] = pot.end[y] / lat.scale_end;
            }
        }
        for t in (0..t_len - 1).rev() {
            let (cur, next) = lat.beta.split_at_mut((t + 1) * l);
            let cur = &mut cur[t * l..];
            let next = &next[..l];
            let psi = &lat.psi[(t + 1) * l..(t + 2) * l];
            let out = self.out_of_closing(pot, psi, next);
            let c = lat.scale[t + 1];
            for p in 0..l {
                cur[p] = match self.kind(p) {
                    Kind::O | Kind::L | Kind::U => pot.exit[p] * out[self.kind(p) as usize],
                    Kind::B => {
                        let k = (p - 1) / 4;
                        pot.cont[4 * k + BI] * psi[p + 1] * next[p + 1]
                            + pot.cont[4 * k + BL] * psi[p + 2] * next[p + 2]
                    }
                    Kind::I => {
                        let k = (p - 1) / 4;
                        pot.cont[4 * k + II] * psi[p] * next[p]
                            + pot.cont[4 * k + IL] * psi[p + 1] * next[p + 1]
                    }
                } / c;
            }
        }
        log_z
    }

    /// Per opening kind `b`: `Σ_a Σ_{closing p of kind a} prev[p]·exit[p]·kinds[a][b]`.
    fn opening_inflow(&self, pot: &Potentials, prev: &[f64]) -> [f64; KINDS] {
        let s = self.closing_sums(pot, prev);
        let mut into = [0.0; KINDS];
        for b in OPENING {
            into[b as usize] = CLOSING
                .iter()
                .map(|&a| s[a as usize] * pot.kinds[a as usize][b as usize])
                .sum();
        }
        into
    }

    /// Per closing kind `a`: `Σ_{closing p of kind a} prev[p]·exit[p]`.
    fn closing_sums(&self, pot: &Potentials, prev: &[f64]) -> [f64; KINDS] {
        let mut s = [0.0; KINDS];
        for (p, v) in prev.iter().enumerate() {
            let k = self.kind(p);
            if k.closes() {
                s[k as usize] += v * pot.exit[p];
            }
        }
        s
    }

    /// Per opening kind `b`: `Σ_{opening y of kind b} enter[y]·psi[y]·next[y]`.
    fn opening_sums(&self, pot: &Potentials, psi: &[f64], next: &[f64]) -> [f64; KINDS] {
        let mut g = [0.0; KINDS];
        for y in 0..psi.len() {
            let k = self.kind(y);
            if k.opens() {
                g[k as usize] += pot.enter[y] * psi[y] * next[y];
            }
        }
        g
    }

    /// Per closing kind `a`: `Σ_b kinds[a][b]·G[b]`.
    fn out_of_closing(&self, pot: &Potentials, psi: &[f64], next: &[f64]) -> [f64; KINDS] {
        let g = self.opening_sums(pot, psi, next);
        let mut out = [0.0; KINDS];
        for a in CLOSING {
            out[a as usize] = OPENING
                .iter()
                .map(|&b| pot.kinds[a as usize][b as usize] * g[b as usize])
                .sum();
        }
        out
    }

    /// Adds the expected counts of the transition parameters (after
    /// [`Chain::forward_backward`] on the same lattice) to `grad` (the transition block).
    pub(crate) fn add_expected_transitions(
        &self,
        pot: &Potentials,
        lat: &Lattice,
        grad: &mut [f32],
    ) {
        let l = self.n_labels();
        let t_len = lat.scale.len();
        for y in 0..l {
            grad[self.start_at(y)] += lat.marginal(l, 0, y) as f32;
            grad[self.end_at(y)] += lat.marginal(l, t_len - 1, y) as f32;
        }
        for t in 1..t_len {
            let prev = &lat.alpha[(t - 1) * l..t * l];
            let psi = &lat.psi[t * l..(t + 1) * l];
            let next = &lat.beta[t * l..(t + 1) * l];
            let inv_c = 1.0 / lat.scale[t];
            let s = self.closing_sums(pot, prev);
            let g = self.opening_sums(pot, psi, next);
            let mut into = [0.0; KINDS];
            let mut out = [0.0; KINDS];
            for a in CLOSING {
                for b in OPENING {
                    let w = pot.kinds[a as usize][b as usize];
                    grad[Self::kinds_at(a, b)] +=
                        (s[a as usize] * w * g[b as usize] * inv_c) as f32;
                    into[b as usize] += s[a as usize] * w;
                    out[a as usize] += w * g[b as usize];
                }
            }
            for y in 0..l {
                let k = self.kind(y);
                if k.closes() {
                    grad[self.exit_at(y)] +=
                        (prev[y] * pot.exit[y] * out[k as usize] * inv_c) as f32;
                }
                if k.opens() {
                    grad[self.enter_at(y)] +=
                        (into[k as usize] * pot.enter[y] * psi[y] * next[y] * inv_c) as f32;
                }
            }
            if self.bilou {
                for tag in 0..self.n_tags {
                    let (b, i, last) = (1 + 4 * tag, 2 + 4 * tag, 3 + 4 * tag);
                    for (edge, from, to) in [(BI, b, i), (BL, b, last), (II, i, i), (IL, i, last)] {
                        let at = 4 * tag + edge;
                        grad[self.cont_at(tag, edge)] +=
                            (prev[from] * pot.cont[at] * psi[to] * next[to] * inv_c) as f32;
                    }
                }
            }
        }
    }

    /// Subtracts the counts of a (legal) gold label sequence from `grad` (the transition
    /// block) and returns its transition score.
    pub(crate) fn add_observed_transitions(
        &self,
        trans: &[f32],
        labels: &[usize],
        grad: &mut [f32],
    ) -> f64 {
        let mut score = 0.0;
        let mut hit = |i: usize, grad: &mut [f32]| {
            grad[i] -= 1.0;
            score += trans[i] as f64;
        };
        hit(self.start_at(labels[0]), grad);
        hit(self.end_at(labels[labels.len() - 1]), grad);
        for w in labels.windows(2) {
            let (p, y) = (w[0], w[1]);
            match self.continuation(p, y) {
                Some(edge) => hit(self.cont_at(self.tag(p).unwrap_or(0), edge), grad),
                None => {
                    hit(Self::kinds_at(self.kind(p), self.kind(y)), grad);
                    hit(self.exit_at(p), grad);
                    hit(self.enter_at(y), grad);
                }
            }
        }
        score
    }

    /// The best label sequence for emission scores `emit` (`[t * L + y]`).
    pub(crate) fn viterbi(&self, trans: &[f32], emit: &[f64]) -> Vec<usize> {
        let l = self.n_labels();
        let t_len = emit.len() / l;
        let w = |i: usize| trans[i] as f64;
        let mut delta = vec![f64::NEG_INFINITY; emit.len()];
        let mut back = vec![0usize; emit.len()];
        for y in 0..l {
            if self.kind(y).opens() {
                delta[y] = w(self.start_at(y)) + emit[y];
            }
        }
        for t in 1..t_len {
            let (prev, cur) = delta.split_at_mut(t * l);
            let prev = &prev[(t - 1) * l..];
            let cur = &mut cur[..l];
            // Best closing label of each kind, with its exit score.
            let mut best = [(f64::NEG_INFINITY, 0usize); KINDS];
            for p in 0..l {
                let k = self.kind(p);
                if k.closes() {
                    let v = prev[p] + w(self.exit_at(p));
                    if v > best[k as usize].0 {
                        best[k as usize] = (v, p);
                    }
                }
            }
            let mut into = [(f64::NEG_INFINITY, 0usize); KINDS];
            for b in OPENING {
                for a in CLOSING {
                    let v = best[a as usize].0 + w(Self::kinds_at(a, b));
                    if v > into[b as usize].0 {
                        into[b as usize] = (v, best[a as usize].1);
                    }
                }
            }
            let back = &mut back[t * l..(t + 1) * l];
            let e = &emit[t * l..(t + 1) * l];
            for y in 0..l {
                let (score, from) = match self.kind(y) {
                    Kind::O | Kind::B | Kind::U => {
                        let (v, p) = into[self.kind(y) as usize];
                        (v + w(self.enter_at(y)), p)
                    }
                    Kind::I | Kind::L => {
                        let k = (y - 1) / 4;
                        let (b, i) = (1 + 4 * k, 2 + 4 * k);
                        let (eb, ei) = if self.kind(y) == Kind::I {
                            (BI, II)
                        } else {
                            (BL, IL)
                        };
                        let vb = prev[b] + w(self.cont_at(k, eb));
                        let vi = prev[i] + w(self.cont_at(k, ei));
                        if vb >= vi { (vb, b) } else { (vi, i) }
                    }
                };
                cur[y] = score + e[y];
                back[y] = from;
            }
        }
        let last = &delta[(t_len - 1) * l..];
        let mut y = (0..l)
            .filter(|&y| self.kind(y).closes())
            .map(|y| (y, last[y] + w(self.end_at(y))))
            .fold(
                (0, f64::NEG_INFINITY),
                |acc, x| if x.1 > acc.1 { x } else { acc },
            )
            .0;
        let mut labels = vec![0; t_len];
        for t in (0..t_len).rev() {
            labels[t] = y;
            y = back[t * l + y];
        }
        labels
    }
}

impl Lattice {
    /// The probability of label `y` at token `t` (after forward-backward).
    pub(crate) fn marginal(&self, l: usize, t: usize, y: usize) -> f64 {
        self.alpha[t * l + y] * self.beta[t * l + y]
    }
}

/// Scales `v` to sum 1 and returns the sum (the smallest positive number for an empty sum).
fn normalise(v: &mut [f64]) -> f64 {
    let sum = v.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let inv = 1.0 / sum;
    v.iter_mut().for_each(|x| *x *= inv);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every legal label sequence of length `t_len`, by brute force.
    fn legal_sequences(chain: &Chain, t_len: usize) -> Vec<Vec<usize>> {
        let l = chain.n_labels();
        let mut out = vec![Vec::new()];
        for _ in 0..t_len {
            out = out
                .into_iter()
                .flat_map(|s| (0..l).map(move |y| [s.clone(), vec![y]].concat()))
                .collect();
        }
        out.into_iter().filter(|s| chain.is_legal(s)).collect()
    }

    fn score(chain: &Chain, trans: &[f32], emit: &[f64], labels: &[usize]) -> f64 {
        let l = chain.n_labels();
        let mut g = vec![0.0f32; trans.len()];
        chain.add_observed_transitions(trans, labels, &mut g)
            + labels
                .iter()
                .enumerate()
                .map(|(t, &y)| emit[t * l + y])
                .sum::<f64>()
    }

    fn pseudo(i: usize) -> f64 {
        ((i as f64 * 12.9898).sin() * 43758.5453).fract()
    }

    #[test]
    fn forward_backward_and_viterbi_match_brute_force() {
        for bilou in [true, false] {
            let chain = Chain { bilou, n_tags: 2 };
            let l = chain.n_labels();
            let trans: Vec<f32> = (0..chain.n_transition_params())
                .map(|i| pseudo(i) as f32)
                .collect();
            let t_len = 4;
            let emit: Vec<f64> = (0..t_len * l).map(|i| 2.0 * pseudo(i + 1000)).collect();
            let seqs = legal_sequences(&chain, t_len);
            let scores: Vec<f64> = seqs
                .iter()
                .map(|s| score(&chain, &trans, &emit, s))
                .collect();
            let log_z_brute = scores.iter().map(|s| s.exp()).sum::<f64>().ln();
            let pot = chain.potentials(&trans);
            let mut lat = Lattice::default();
            let log_z = chain.forward_backward(&pot, &emit, &mut lat);
            assert!(
                (log_z - log_z_brute).abs() < 1e-9,
                "{log_z} vs {log_z_brute}"
            );
            // Marginals.
            for t in 0..t_len {
                for y in 0..l {
                    let brute: f64 = seqs
                        .iter()
                        .zip(&scores)
                        .filter(|(s, _)| s[t] == y)
                        .map(|(_, sc)| (sc - log_z_brute).exp())
                        .sum();
                    assert!((lat.marginal(l, t, y) - brute).abs() < 1e-9);
                }
            }
            // Expected transition counts against the brute-force expectation.
            let mut expected = vec![0.0f32; trans.len()];
            chain.add_expected_transitions(&pot, &lat, &mut expected);
            let mut brute = vec![0.0f64; trans.len()];
            for (s, sc) in seqs.iter().zip(&scores) {
                let mut g = vec![0.0f32; trans.len()];
                chain.add_observed_transitions(&trans, s, &mut g);
                let p = (sc - log_z_brute).exp();
                for (b, gi) in brute.iter_mut().zip(&g) {
                    *b -= p * *gi as f64;
                }
            }
            for (i, (e, b)) in expected.iter().zip(&brute).enumerate() {
                assert!((*e as f64 - b).abs() < 1e-5, "param {i}: {e} vs {b}");
            }
            // Viterbi.
            let best = seqs
                .iter()
                .zip(&scores)
                .fold((None, f64::NEG_INFINITY), |acc, (s, sc)| {
                    if *sc > acc.1 { (Some(s), *sc) } else { acc }
                })
                .0
                .unwrap();
            assert_eq!(&chain.viterbi(&trans, &emit), best);
        }
    }
}
