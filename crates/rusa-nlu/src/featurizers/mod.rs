//! Featurizers: they turn tokens into sparse feature vectors.

pub mod count_vectors;
pub mod lexical;
pub mod regex;

/// Sorts a list of `(index, value)` pairs and sums duplicates.
pub(crate) fn to_sparse(mut pairs: Vec<(u32, f32)>) -> crate::message::SparseVec {
    pairs.sort_unstable_by_key(|p| p.0);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(pairs.len());
    for (i, v) in pairs {
        match out.last_mut() {
            Some(last) if last.0 == i => last.1 += v,
            _ => out.push((i, v)),
        }
    }
    out
}
