//! Entity extractors and the synonym mapper.

mod chain;
pub mod crf;
pub mod regex;
pub mod synonyms;
