//! Splitting training data into a training and a test part (`rusa data split nlu|stories`).
//!
//! NLU data is split as Rasa 3.6 splits it: stratified per intent, each retrieval sub-intent
//! (`faq/ask_name`) its own class, classes in ascending order of size (retrieval classes
//! first), a running count so the totals match the fraction, and every class with two or
//! more examples keeps at least one on each side. Unlike Rasa, a class with a single example
//! stays in the training part (Rasa puts it only in the test part, where the model can never
//! learn it); the caller warns about those. Synonyms, regexes and lookup tables go to both
//! parts; each part gets the responses of the retrieval intents it has examples of, and
//! responses no example uses stay with the training part.
//!
//! Stories are split per file, not stratified, as Rasa does; the training file keeps the
//! original text of everything but the stories that went to the test file (comments
//! included), and a file with one story keeps it for training instead of failing.
//!
//! The shuffles use a small seeded generator (SplitMix64), so a split depends only on the
//! seed and the input, never on a dependency's version.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use crate::error::ProjectError;
use crate::nlu_formats::TrainingData;
use crate::yaml::Document;
use crate::yaml_writer::{TRAINING_DATA_FORMAT_VERSION, quoted, to_yaml};

/// A small seeded random number generator (SplitMix64).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Fisher–Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A seed for a split the user gave none for, different on every run; it is printed so the
/// split can be made again.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    // Keep it short enough to type back (below 2^32).
    h.finish() & 0xFFFF_FFFF
}

/// A stable 64-bit hash of a class name (FNV-1a), so each class gets its own shuffle.
fn class_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The two parts of an NLU split and what the caller should tell the user.
#[derive(Debug, Clone)]
pub struct NluSplit {
    pub train: TrainingData,
    pub test: TrainingData,
    /// Intents with a single example, kept in the training part only.
    pub single_example_intents: Vec<String>,
    /// There are too few examples to put every class on both sides and keep the fraction:
    /// the real fraction differs (Rasa's warning).
    pub fraction_differs: bool,
}

/// Splits `data`, putting about `fraction` (0 < fraction < 1) of each intent's examples in
/// the training part. The same data and seed give the same split.
pub fn split_nlu(data: &TrainingData, fraction: f64, seed: u64) -> NluSplit {
    // Classes in first-appearance order, with the indices of their examples.
    let mut classes: IndexMap<&str, Vec<usize>> = IndexMap::new();
    for (i, e) in data.nlu.examples.iter().enumerate() {
        classes.entry(e.intent.as_str()).or_default().push(i);
    }
    let mut order: Vec<(&str, Vec<usize>)> = classes.into_iter().collect();
    // Retrieval classes first, then by size; stable, so ties keep their order.
    order.sort_by_key(|(name, members)| (!name.contains('/'), members.len()));

    let total = data.nlu.examples.len();
    let fraction_differs = !order.is_empty()
        && ((fraction.min(1.0 - fraction) * total as f64) as usize) + 1 < order.len();

    let mut in_train = vec![false; total];
    let mut single_example_intents = Vec::new();
    let (mut run_count, mut run_train) = (0i64, 0i64);
    for (name, mut members) in order {
        let len = members.len() as i64;
        let n_train = if len == 1 {
            single_example_intents.push(name.to_owned());
            1
        } else {
            let target = ((run_count + len) as f64 * fraction) as i64 - run_train;
            target.clamp(1, len - 1)
        };
        Rng::new(seed ^ class_hash(name)).shuffle(&mut members);
        for &i in &members[..n_train as usize] {
            in_train[i] = true;
        }
        run_count += len;
        run_train += n_train;
    }

    let part = |train: bool| {
        let mut nlu = data.nlu.clone();
        nlu.examples = data
            .nlu
            .examples
            .iter()
            .zip(&in_train)
            .filter(|(_, t)| **t == train)
            .map(|(e, _)| e.clone())
            .collect();
        nlu
    };
    let (train_nlu, test_nlu) = (part(true), part(false));
    let needed = |nlu: &crate::nlu::NluData| -> Vec<String> {
        nlu.examples
            .iter()
            .filter_map(|e| e.response_key().map(|k| format!("utter_{k}")))
            .collect()
    };
    let (train_keys, test_keys) = (needed(&train_nlu), needed(&test_nlu));
    let mut train_responses = IndexMap::new();
    let mut test_responses = IndexMap::new();
    for (name, variations) in &data.responses {
        let in_test = test_keys.contains(name);
        if train_keys.contains(name) || !in_test {
            train_responses.insert(name.clone(), variations.clone());
        }
        if in_test {
            test_responses.insert(name.clone(), variations.clone());
        }
    }
    NluSplit {
        train: TrainingData {
            nlu: train_nlu,
            responses: train_responses,
        },
        test: TrainingData {
            nlu: test_nlu,
            responses: test_responses,
        },
        single_example_intents,
        fraction_differs,
    }
}

/// The two files a stories file is split into.
#[derive(Debug, Clone)]
pub struct StoryFileSplit {
    /// The whole original file with only the training stories in `stories:`.
    pub train: String,
    /// `version` and the test stories.
    pub test: String,
    pub train_stories: usize,
    pub test_stories: usize,
}

/// How many of `n` stories go to the test part: Rasa's (scikit-learn's) `ceil((1 - fraction)
/// * n)`, but at least one story stays for training.
fn test_count(n: usize, fraction: f64) -> usize {
    if n < 2 {
        return 0;
    }
    (((1.0 - fraction) * n as f64).ceil() as usize).clamp(1, n - 1)
}

/// Splits the stories of one stories file. `None` when the file has no `stories:` section
/// (rules-only files are not split, as in Rasa).
pub fn split_story_file(
    doc: &Document,
    fraction: f64,
    seed: u64,
) -> Result<Option<StoryFileSplit>, ProjectError> {
    let Some(root) = doc.root.as_ref() else {
        return Ok(None);
    };
    let Some(entries) = root.as_map() else {
        return Ok(None);
    };
    let Some(at) = entries
        .iter()
        .position(|(k, _)| k.as_str() == Some("stories"))
    else {
        return Ok(None);
    };
    // Checks the stories as the loader would, so broken stories are reported, not copied.
    let mut warnings = Vec::new();
    crate::stories::read_stories(doc, &entries[at].1, &mut warnings)?;
    let items = entries[at].1.as_seq().unwrap_or(&[]);
    let n = items.len();
    let mut order: Vec<usize> = (0..n).collect();
    let file_name = doc
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Rng::new(seed ^ class_hash(&file_name)).shuffle(&mut order);
    let mut is_test = vec![false; n];
    for &i in &order[..test_count(n, fraction)] {
        is_test[i] = true;
    }
    let n_test = is_test.iter().filter(|t| **t).count();
    let next_key_line = entries.get(at + 1).map(|(k, _)| k.line);
    let (train, test) = match slice_items(&doc.text, items, next_key_line) {
        Some(ranges) => {
            let lines: Vec<&str> = doc.text.split_inclusive('\n').collect();
            let first = ranges.first().map_or(0, |r| r.0);
            let last = ranges.last().map_or(0, |r| r.1);
            let mut train = lines[..first].concat();
            let mut test = format!(
                "version: {}\nstories:\n",
                quoted(TRAINING_DATA_FORMAT_VERSION)
            );
            for (i, (from, to)) in ranges.iter().enumerate() {
                let text = lines[*from..*to].concat();
                let target = if is_test[i] { &mut test } else { &mut train };
                target.push_str(&text);
                if !target.ends_with('\n') {
                    target.push('\n');
                }
            }
            train.push_str(&lines[last..].concat());
            (train, test)
        }
        None => {
            // Flow-style or unusual layout: write the file anew (comments are lost).
            let mut json = root.to_json();
            let pick = |want_test: bool| {
                Value::Array(
                    items
                        .iter()
                        .zip(&is_test)
                        .filter(|(_, t)| **t == want_test)
                        .map(|(item, _)| item.to_json())
                        .collect(),
                )
            };
            json["stories"] = pick(false);
            let test = serde_json::json!({
                "version": TRAINING_DATA_FORMAT_VERSION,
                "stories": pick(true),
            });
            (to_yaml(&json), to_yaml(&test))
        }
    };
    Ok(Some(StoryFileSplit {
        train,
        test,
        train_stories: n - n_test,
        test_stories: n_test,
    }))
}

/// The 0-based line range `[from, to)` of each item of a block list in `text`, each from its
/// `-` line to the line before the next item (the last one to the line before
/// `next_key_line`, or the end). `None` when the list is not written in block style.
fn slice_items(
    text: &str,
    items: &[crate::yaml::Node],
    next_key_line: Option<u32>,
) -> Option<Vec<(usize, usize)>> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut starts = Vec::with_capacity(items.len());
    for item in items {
        let index = (item.line as usize).checked_sub(1)?;
        let line = lines.get(index)?.trim_start();
        if !line.starts_with('-') {
            return None;
        }
        if starts.last().is_some_and(|&s| s >= index) {
            return None;
        }
        starts.push(index);
    }
    let end = next_key_line.map_or(lines.len(), |l| (l as usize).saturating_sub(1));
    let mut ranges = Vec::with_capacity(starts.len());
    for (i, &start) in starts.iter().enumerate() {
        let to = starts.get(i + 1).copied().unwrap_or(end);
        if to <= start {
            return None;
        }
        ranges.push((start, to));
    }
    if ranges.is_empty() {
        return None;
    }
    Some(ranges)
}

/// The output file names of a stories file: `train_<name>` and `test_<name>`, as Rasa.
pub fn story_split_names(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stories.yml".to_owned());
    (format!("train_{name}"), format!("test_{name}"))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::nlu::{Example, NluData};

    fn data(counts: &[(&str, usize)]) -> TrainingData {
        let pos = crate::error::Pos::new(Arc::from(Path::new("nlu.yml")), 1, 1);
        let mut nlu = NluData::default();
        for (intent, n) in counts {
            for i in 0..*n {
                nlu.examples.push(Example {
                    intent: (*intent).to_owned(),
                    text: format!("{intent} example {i}"),
                    entities: Vec::new(),
                    metadata: None,
                    pos: pos.clone(),
                });
            }
        }
        TrainingData {
            nlu,
            responses: IndexMap::new(),
        }
    }

    fn texts(d: &TrainingData) -> Vec<String> {
        d.nlu.examples.iter().map(|e| e.text.clone()).collect()
    }

    #[test]
    fn stratified_with_each_class_on_both_sides() {
        let d = data(&[("greet", 10), ("bye", 5), ("faq/ask_age", 3), ("lonely", 1)]);
        let s = split_nlu(&d, 0.8, 42);
        assert_eq!(s.single_example_intents, ["lonely"]);
        let count =
            |p: &TrainingData, i: &str| p.nlu.examples.iter().filter(|e| e.intent == i).count();
        for intent in ["greet", "bye", "faq/ask_age"] {
            assert!(
                count(&s.train, intent) >= 1 && count(&s.test, intent) >= 1,
                "{intent}"
            );
        }
        assert_eq!(count(&s.train, "lonely"), 1);
        assert_eq!(count(&s.test, "lonely"), 0);
        assert_eq!(s.train.nlu.examples.len() + s.test.nlu.examples.len(), 19);
        // Running count: 80 % of 19 examples, rounded down, per cumulative class.
        assert_eq!(s.train.nlu.examples.len(), 15);
    }

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let d = data(&[("greet", 30), ("bye", 30)]);
        let a = split_nlu(&d, 0.7, 1);
        let b = split_nlu(&d, 0.7, 1);
        let c = split_nlu(&d, 0.7, 2);
        assert_eq!(texts(&a.train), texts(&b.train));
        assert_eq!(texts(&a.test), texts(&b.test));
        assert_ne!(texts(&a.test), texts(&c.test));
    }

    #[test]
    fn responses_follow_their_examples() {
        let mut d = data(&[("faq/ask_age", 4), ("greet", 4)]);
        d.responses.insert(
            "utter_faq/ask_age".into(),
            serde_json::json!([{"text": "3"}]),
        );
        d.responses.insert(
            "utter_faq/unused".into(),
            serde_json::json!([{"text": "x"}]),
        );
        let s = split_nlu(&d, 0.5, 7);
        assert!(s.train.responses.contains_key("utter_faq/ask_age"));
        assert!(s.test.responses.contains_key("utter_faq/ask_age"));
        assert!(s.train.responses.contains_key("utter_faq/unused"));
        assert!(!s.test.responses.contains_key("utter_faq/unused"));
    }

    #[test]
    fn too_few_examples_for_the_fraction_is_reported() {
        let d = data(&[("a", 2), ("b", 2), ("c", 2)]);
        assert!(split_nlu(&d, 0.8, 0).fraction_differs);
        let d = data(&[("a", 50), ("b", 50)]);
        assert!(!split_nlu(&d, 0.8, 0).fraction_differs);
    }

    fn doc(text: &str) -> Document {
        crate::yaml::parse(Arc::from(Path::new("stories.yml")), text).unwrap()
    }

    #[test]
    fn story_files_keep_their_text_and_a_single_story_stays_for_training() {
        let text = "version: \"3.1\"\n# my stories\nstories:\n- story: one\n  steps:\n  - intent: greet\n  - action: utter_greet\n\n- story: two # second\n  steps:\n  - intent: bye\n  - action: utter_bye\n- story: three\n  steps:\n  - intent: thanks\n  - action: utter_welcome\nrules:\n- rule: r\n  steps:\n  - intent: greet\n  - action: utter_greet\n";
        let s = split_story_file(&doc(text), 0.5, 3).unwrap().unwrap();
        assert_eq!((s.train_stories, s.test_stories), (1, 2));
        assert!(
            s.train
                .starts_with("version: \"3.1\"\n# my stories\nstories:\n")
        );
        assert!(s.train.contains("rules:\n- rule: r\n"));
        let train = doc(&s.train);
        let test = doc(&s.test);
        let count = |d: &Document| {
            d.root
                .as_ref()
                .unwrap()
                .get("stories")
                .unwrap()
                .as_seq()
                .unwrap()
                .len()
        };
        assert_eq!((count(&train), count(&test)), (1, 2));
        assert!(test.root.as_ref().unwrap().get("version").is_some());

        let one = "stories:\n- story: only\n  steps:\n  - intent: greet\n";
        let s = split_story_file(&doc(one), 0.8, 3).unwrap().unwrap();
        assert_eq!((s.train_stories, s.test_stories), (1, 0));

        let flow =
            "stories: [{story: a, steps: [{intent: greet}]}, {story: b, steps: [{intent: bye}]}]\n";
        let s = split_story_file(&doc(flow), 0.5, 3).unwrap().unwrap();
        assert_eq!((s.train_stories, s.test_stories), (1, 1));
        assert_eq!(count(&doc(&s.train)), 1);
    }
}
