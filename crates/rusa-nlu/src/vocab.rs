//! Vocabularies and regex sets whose lookup structures are rebuilt after loading.

use std::collections::HashMap;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// An ordered list of terms; a term's index is its feature index. Saved as the list only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct Vocab {
    terms: Vec<String>,
    #[serde(skip)]
    index: OnceLock<HashMap<String, u32>>,
}

impl Vocab {
    pub(crate) fn new(terms: Vec<String>) -> Self {
        Self {
            terms,
            index: OnceLock::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.terms.len()
    }

    pub(crate) fn terms(&self) -> &[String] {
        &self.terms
    }

    pub(crate) fn get(&self, term: &str) -> Option<u32> {
        self.index
            .get_or_init(|| {
                self.terms
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.clone(), i as u32))
                    .collect()
            })
            .get(term)
            .copied()
    }
}

/// Regular expressions saved as their source and compiled on first use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct RegexSet {
    pub(crate) patterns: Vec<String>,
    pub(crate) case_sensitive: bool,
    #[serde(skip)]
    compiled: OnceLock<Vec<Option<Regex>>>,
}

impl RegexSet {
    /// Compiles every pattern now; the error names the failing pattern's index.
    pub(crate) fn new(
        patterns: Vec<String>,
        case_sensitive: bool,
    ) -> Result<Self, (usize, regex::Error)> {
        let mut compiled = Vec::with_capacity(patterns.len());
        for (i, p) in patterns.iter().enumerate() {
            compiled.push(Some(compile(p, case_sensitive).map_err(|e| (i, e))?));
        }
        let set = Self {
            patterns,
            case_sensitive,
            compiled: OnceLock::new(),
        };
        set.compiled
            .set(compiled)
            .expect("a fresh OnceLock is empty");
        Ok(set)
    }

    /// The compiled patterns; a pattern that no longer compiles (a hand-edited saved
    /// model) is `None` and never matches.
    pub(crate) fn compiled(&self) -> &[Option<Regex>] {
        self.compiled.get_or_init(|| {
            self.patterns
                .iter()
                .map(|p| compile(p, self.case_sensitive).ok())
                .collect()
        })
    }
}

fn compile(pattern: &str, case_sensitive: bool) -> Result<Regex, regex::Error> {
    RegexBuilder::new(pattern)
        .case_insensitive(!case_sensitive)
        .size_limit(1 << 24)
        .build()
}

/// A lookup table as one pattern: the escaped elements as alternatives.
pub(crate) fn lookup_pattern(elements: &[String], word_boundaries: bool) -> String {
    let mut sorted: Vec<&String> = elements.iter().filter(|e| !e.trim().is_empty()).collect();
    // Longer elements first, so "new york city" wins over "new york".
    sorted.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    sorted.dedup();
    let body = sorted
        .iter()
        .map(|e| regex::escape(e.trim()))
        .collect::<Vec<_>>()
        .join("|");
    if body.is_empty() {
        // Matches nothing.
        return r"[^\s\S]".to_owned();
    }
    if word_boundaries {
        format!(r"\b(?:{body})\b")
    } else {
        format!("(?:{body})")
    }
}
