//! Entity extractors and the synonym mapper.

pub mod crf;
pub mod regex;
pub mod synonyms;
