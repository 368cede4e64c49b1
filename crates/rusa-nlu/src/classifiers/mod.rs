//! Intent classifiers.

pub mod fallback;
pub mod keyword;
pub mod logistic;
