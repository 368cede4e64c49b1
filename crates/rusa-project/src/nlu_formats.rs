//! NLU training data in every format Rasa 3.6 reads, for `rusa data convert nlu`,
//! `rusa data split nlu` and training: Rasa YAML, Rasa JSON (`rasa_nlu_data`), LUIS
//! (`luis_schema_version`), Wit.ai (`utterances`), a Dialogflow agent folder, and — so a
//! Rasa 1.x/2.x project can be brought over — Rasa's Markdown NLU format.
//!
//! The format of a JSON file is guessed from its keys in Rasa's order (`guess_format` of
//! `rasa.shared.nlu.training_data.loading`): Wit (`utterances` without
//! `luis_schema_version`), LUIS, Rasa JSON, Dialogflow agent (`supportedLanguages`),
//! Dialogflow package (`version` as the only key), Dialogflow intent (`responses`),
//! Dialogflow entity (`isEnum`), and by file name Dialogflow's `_usersays_` and `_entries_`
//! files. A Dialogflow intent or entity file is read together with its
//! `<name>_usersays_<language>.json` or `<name>_entries_<language>.json` file.
//!
//! What differs from Rasa, on purpose: a directory is filtered to NLU files (stories, rules
//! and domain files are skipped with a note, not an error); LUIS entities without a role
//! get none (Rasa gives them the role "O").

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::Value;

use crate::error::{Diagnostic, Pos, ProjectError};
use crate::nlu::{EntitySpan, Example, LookupTable, NluData, RegexPattern, Synonym};

/// NLU training data as the data tools read and write it: the NLU data and the responses
/// of retrieval intents (`utter_faq/ask_name`) kept as written (a list of variations each).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingData {
    pub nlu: NluData,
    pub responses: IndexMap<String, Value>,
}

impl TrainingData {
    /// Adds `other`'s data after this one's; a response defined twice keeps the first.
    pub fn merge(&mut self, other: TrainingData) {
        self.nlu.merge(other.nlu);
        for (name, variations) in other.responses {
            self.responses.entry(name).or_insert(variations);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nlu == NluData::default() && self.responses.is_empty()
    }
}

/// The format of one training data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NluFormat {
    RasaYaml,
    RasaJson,
    Luis,
    Wit,
    DialogflowAgent,
    DialogflowPackage,
    DialogflowIntent,
    DialogflowEntities,
    DialogflowIntentExamples,
    DialogflowEntityEntries,
    Markdown,
    /// Markdown stories of Rasa 1.x/2.x (`## story` with `* intent` lines).
    MarkdownStories,
    /// A YAML file with stories, rules or a domain, and no NLU data.
    OtherYaml,
    Unknown,
}

impl NluFormat {
    /// A short name for notes: "LUIS", "Wit.ai", ...
    pub fn name(self) -> &'static str {
        match self {
            Self::RasaYaml => "Rasa YAML",
            Self::RasaJson => "Rasa JSON",
            Self::Luis => "LUIS",
            Self::Wit => "Wit.ai",
            Self::DialogflowAgent => "Dialogflow agent",
            Self::DialogflowPackage => "Dialogflow package",
            Self::DialogflowIntent => "Dialogflow intent",
            Self::DialogflowEntities => "Dialogflow entity",
            Self::DialogflowIntentExamples => "Dialogflow intent examples",
            Self::DialogflowEntityEntries => "Dialogflow entity entries",
            Self::Markdown => "Rasa Markdown NLU",
            Self::MarkdownStories => "Rasa Markdown stories",
            Self::OtherYaml => "YAML without NLU data",
            Self::Unknown => "unknown",
        }
    }
}

/// Guesses the format of a JSON document from its keys and the file's name, in Rasa's order.
pub fn guess_json_format(js: &Value, path: &Path) -> NluFormat {
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let Some(obj) = js.as_object() else {
        // Dialogflow's example files are lists; they are known by name.
        return json_format_by_name(file_name);
    };
    let has = |k: &str| obj.contains_key(k);
    if has("utterances") && !has("luis_schema_version") {
        NluFormat::Wit
    } else if has("luis_schema_version") {
        NluFormat::Luis
    } else if has("rasa_nlu_data") {
        NluFormat::RasaJson
    } else if has("supportedLanguages") {
        NluFormat::DialogflowAgent
    } else if obj.len() == 1 && has("version") {
        NluFormat::DialogflowPackage
    } else if has("responses") {
        NluFormat::DialogflowIntent
    } else if has("isEnum") {
        NluFormat::DialogflowEntities
    } else {
        json_format_by_name(file_name)
    }
}

fn json_format_by_name(file_name: &str) -> NluFormat {
    if file_name.contains("_usersays_") {
        NluFormat::DialogflowIntentExamples
    } else if file_name.contains("_entries_") {
        NluFormat::DialogflowEntityEntries
    } else {
        NluFormat::Unknown
    }
}

/// The files below `path` (or `path` itself) that may hold training data: `.yml`, `.yaml`,
/// `.json` and `.md`, recursively, sorted, hidden entries skipped.
pub fn candidate_files(path: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    if !path.exists() {
        return Err(ProjectError::Missing {
            what: "training data path",
            path: path.to_path_buf(),
            flag: Some("--data"),
        });
    }
    crate::project::files_below(path, |p| {
        matches!(extension(p), "yml" | "yaml" | "json" | "md")
    })
}

fn extension(path: &Path) -> &str {
    path.extension().and_then(|e| e.to_str()).unwrap_or("")
}

/// What reading a set of paths found.
#[derive(Debug, Default)]
pub struct LoadedTrainingData {
    pub data: TrainingData,
    /// The files read, with their format.
    pub files: Vec<(PathBuf, NluFormat)>,
    /// Files skipped, with the reason ("holds stories, not NLU data").
    pub skipped: Vec<(PathBuf, String)>,
    pub warnings: Vec<Diagnostic>,
}

/// Reads the NLU data of every path (a file, or a directory searched recursively), in any
/// format of this module. `language` picks Dialogflow's example files. Files without NLU
/// data (stories, rules, domain, Dialogflow agent and package files, other JSON) are listed
/// in `skipped`; a file named explicitly that holds no NLU data is skipped the same way.
pub fn load_training_data(
    paths: &[PathBuf],
    language: &str,
) -> Result<LoadedTrainingData, ProjectError> {
    let mut loaded = LoadedTrainingData::default();
    for path in paths {
        for file in candidate_files(path)? {
            let (data, format) = read_file(&file, language, &mut loaded.warnings)?;
            match (format, data) {
                (_, Some(data)) => {
                    loaded.data.merge(data);
                    loaded.files.push((file, format));
                }
                (NluFormat::MarkdownStories, None) => {
                    return Err(markdown_stories_error(&file));
                }
                (format, None) => {
                    let why = match format {
                        NluFormat::OtherYaml => "it holds no NLU data".to_owned(),
                        NluFormat::Unknown => {
                            "its format is not one of rusa's NLU formats".to_owned()
                        }
                        NluFormat::DialogflowIntentExamples
                        | NluFormat::DialogflowEntityEntries => {
                            "it is read with its Dialogflow intent or entity file".to_owned()
                        }
                        other => format!("a {} file holds no training examples", other.name()),
                    };
                    loaded.skipped.push((file, why));
                }
            }
        }
    }
    Ok(loaded)
}

/// Reads one file in whatever format it is. `None` for a file that holds no NLU data.
pub fn read_file(
    path: &Path,
    language: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Option<TrainingData>, NluFormat), ProjectError> {
    match extension(path) {
        "yml" | "yaml" => read_yaml(path, warnings),
        "json" => {
            let js = read_json(path)?;
            let format = guess_json_format(&js, path);
            let data = read_json_format(&js, format, path, language, warnings)?;
            Ok((data, format))
        }
        "md" => {
            let text = read_text(path)?;
            match markdown_kind(&text) {
                Some(NluFormat::Markdown) => Ok((
                    Some(read_markdown_nlu(path, &text, warnings)?),
                    NluFormat::Markdown,
                )),
                Some(kind) => Ok((None, kind)),
                None => Ok((None, NluFormat::Unknown)),
            }
        }
        _ => Ok((None, NluFormat::Unknown)),
    }
}

fn read_text(path: &Path) -> Result<String, ProjectError> {
    let bytes = std::fs::read(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() as u32 + 1;
        ProjectError::invalid(pos(path, line), "the file is not valid UTF-8")
    })
}

fn pos(path: &Path, line: u32) -> Pos {
    Pos::new(Arc::from(path), line, 1)
}

fn read_json(path: &Path) -> Result<Value, ProjectError> {
    let text = read_text(path)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    serde_json::from_str(text).map_err(|e| ProjectError::Invalid {
        pos: Pos::new(Arc::from(path), e.line() as u32, e.column() as u32),
        message: format!("not valid JSON: {}", strip_location(&e.to_string())),
        hint: None,
    })
}

fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The NLU part of a Rasa YAML file: its `nlu:` and `responses:` sections.
fn read_yaml(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Option<TrainingData>, NluFormat), ProjectError> {
    let doc = crate::project::read_document(path)?;
    let Some(root) = doc.root.as_ref() else {
        return Ok((None, NluFormat::OtherYaml));
    };
    let Some(entries) = root.as_map() else {
        return Ok((None, NluFormat::OtherYaml));
    };
    let mut data = TrainingData::default();
    let mut found = false;
    for (key, value) in entries {
        match key.as_str().unwrap_or_default() {
            "nlu" => {
                data.nlu.merge(crate::nlu::read_nlu(&doc, value, warnings)?);
                found = true;
            }
            "responses" => {
                // Responses are read (and so checked) as the loader reads them, and kept as
                // written.
                let mut r = crate::reader::Reader::new(&doc, warnings);
                let mut typed = IndexMap::new();
                crate::domain::read_responses(&mut r, value, &mut typed)?;
                if let Value::Object(map) = value.to_json() {
                    for (name, variations) in map {
                        if typed.contains_key(&name) {
                            data.responses.entry(name).or_insert(variations);
                        }
                    }
                }
                found = true;
            }
            _ => {}
        }
    }
    Ok(if found {
        (Some(data), NluFormat::RasaYaml)
    } else {
        (None, NluFormat::OtherYaml)
    })
}

/// A JSON document in `format`; `None` for formats that hold no training examples.
pub fn read_json_format(
    js: &Value,
    format: NluFormat,
    path: &Path,
    language: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<TrainingData>, ProjectError> {
    let nlu = match format {
        NluFormat::RasaJson => read_rasa_json(js, path)?,
        NluFormat::Luis => read_luis(js, path, warnings)?,
        NluFormat::Wit => read_wit(js, path)?,
        NluFormat::DialogflowIntent => match read_dialogflow_intent(js, path, language)? {
            Some(nlu) => nlu,
            None => {
                warnings.push(Diagnostic::warning(
                    pos(path, 1),
                    format!("no training examples for language '{language}' next to this Dialogflow intent (expected {})", sibling(path, "usersays", language).display()),
                ));
                return Ok(None);
            }
        },
        NluFormat::DialogflowEntities => match read_dialogflow_entity(js, path, language)? {
            Some(nlu) => nlu,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(TrainingData {
        nlu,
        responses: IndexMap::new(),
    }))
}

/// An error about the JSON file `path` at `pointer` (e.g. `/utterances/3/text`).
fn json_err(path: &Path, pointer: &str, message: impl Into<String>) -> ProjectError {
    ProjectError::invalid(pos(path, 1), format!("{pointer}: {}", message.into()))
}

fn str_at<'a>(
    v: &'a Value,
    key: &str,
    path: &Path,
    pointer: &str,
) -> Result<&'a str, ProjectError> {
    v.get(key).and_then(Value::as_str).ok_or_else(|| {
        json_err(
            path,
            &format!("{pointer}/{key}"),
            "is missing or not a string",
        )
    })
}

fn usize_at(v: &Value, key: &str, path: &Path, pointer: &str) -> Result<usize, ProjectError> {
    v.get(key)
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .ok_or_else(|| {
            json_err(
                path,
                &format!("{pointer}/{key}"),
                "is missing or not a non-negative integer",
            )
        })
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Builds an example from a text and character-offset entities, checking the offsets.
fn example(
    text: &str,
    intent: &str,
    entities: Vec<EntitySpan>,
    metadata: Option<Value>,
    path: &Path,
    pointer: &str,
) -> Result<Example, ProjectError> {
    let len = text.chars().count();
    for e in &entities {
        if e.start >= e.end || e.end > len {
            return Err(json_err(
                path,
                pointer,
                format!(
                    "entity '{}' spans characters {}..{} of a text of {len} characters",
                    e.entity, e.start, e.end
                ),
            ));
        }
    }
    Ok(Example {
        intent: intent.to_owned(),
        text: text.to_owned(),
        entities,
        metadata,
        pos: pos(path, 1),
    })
}

fn char_slice(text: &str, start: usize, end: usize) -> String {
    text.chars()
        .skip(start)
        .take(end.saturating_sub(start))
        .collect()
}

/// Rasa's JSON format: `{"rasa_nlu_data": {"common_examples": [...], "regex_features": [...],
/// "lookup_tables": [...], "entity_synonyms": [...]}}` (`intent_examples` and
/// `entity_examples` of old versions too).
fn read_rasa_json(js: &Value, path: &Path) -> Result<NluData, ProjectError> {
    let root = js
        .get("rasa_nlu_data")
        .filter(|v| v.is_object())
        .ok_or_else(|| json_err(path, "/rasa_nlu_data", "must be an object"))?;
    let mut nlu = NluData::default();
    for section in ["common_examples", "intent_examples", "entity_examples"] {
        for (i, ex) in list(root, section).iter().enumerate() {
            let pointer = format!("/rasa_nlu_data/{section}/{i}");
            let text = str_at(ex, "text", path, &pointer)?;
            let Some(intent) = ex.get("intent").and_then(Value::as_str) else {
                // An example without an intent only teaches entities; rusa's examples all
                // have an intent, so it is left out (Rasa does not train the classifier on
                // it either).
                continue;
            };
            let mut entities = Vec::new();
            for (j, e) in list(ex, "entities").iter().enumerate() {
                let p = format!("{pointer}/entities/{j}");
                let start = usize_at(e, "start", path, &p)?;
                let end = usize_at(e, "end", path, &p)?;
                let entity = str_at(e, "entity", path, &p)?.to_owned();
                let value = opt_text(e, "value").unwrap_or_else(|| char_slice(text, start, end));
                entities.push(EntitySpan {
                    start,
                    end,
                    entity,
                    value,
                    role: opt_text(e, "role"),
                    group: opt_text(e, "group"),
                });
            }
            let metadata = ex.get("metadata").filter(|m| !m.is_null()).cloned();
            nlu.examples
                .push(example(text, intent, entities, metadata, path, &pointer)?);
        }
    }
    for (i, r) in list(root, "regex_features").iter().enumerate() {
        let pointer = format!("/rasa_nlu_data/regex_features/{i}");
        let name = str_at(r, "name", path, &pointer)?;
        let pattern = str_at(r, "pattern", path, &pointer)?;
        add_regex(&mut nlu, name, pattern, path, &pointer)?;
    }
    for (i, l) in list(root, "lookup_tables").iter().enumerate() {
        let pointer = format!("/rasa_nlu_data/lookup_tables/{i}");
        let name = str_at(l, "name", path, &pointer)?;
        let elements = match l.get("elements") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => {
                return Err(json_err(
                    path,
                    &format!("{pointer}/elements"),
                    "must be a list of strings (lookup tables in a separate file are not read)",
                ));
            }
        };
        nlu.lookups.push(LookupTable {
            name: name.to_owned(),
            elements,
            pos: pos(path, 1),
        });
    }
    for (i, s) in list(root, "entity_synonyms").iter().enumerate() {
        let pointer = format!("/rasa_nlu_data/entity_synonyms/{i}");
        let value = str_at(s, "value", path, &pointer)?;
        let examples = list(s, "synonyms")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        nlu.synonyms.push(Synonym {
            value: value.to_owned(),
            examples,
            pos: pos(path, 1),
        });
    }
    Ok(nlu)
}

fn add_regex(
    nlu: &mut NluData,
    name: &str,
    pattern: &str,
    path: &Path,
    pointer: &str,
) -> Result<(), ProjectError> {
    if let Err(e) = regex::Regex::new(pattern) {
        let reason = e.to_string();
        let reason = reason.lines().last().unwrap_or("invalid").trim().to_owned();
        return Err(json_err(
            path,
            pointer,
            format!("regex '{name}' has an invalid pattern '{pattern}': {reason}"),
        ));
    }
    match nlu.regexes.iter_mut().find(|r| r.name == name) {
        Some(existing) => existing.patterns.push((pattern.to_owned(), pos(path, 1))),
        None => nlu.regexes.push(RegexPattern {
            name: name.to_owned(),
            patterns: vec![(pattern.to_owned(), pos(path, 1))],
            pos: pos(path, 1),
        }),
    }
    Ok(())
}

/// The highest LUIS schema major version Rasa was tested with; newer ones get a warning.
const MAX_TESTED_LUIS_SCHEMA: u32 = 7;

/// LUIS app export: `utterances` with `intent` and entities by `startPos`/`endPos`
/// (inclusive), active `regex_features` and `regex_entities`.
fn read_luis(
    js: &Value,
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<NluData, ProjectError> {
    let version = js
        .get("luis_schema_version")
        .and_then(Value::as_str)
        .unwrap_or("");
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_none_or(|m| m > MAX_TESTED_LUIS_SCHEMA) {
        warnings.push(Diagnostic::warning(
            pos(path, 1),
            format!("LUIS schema version '{version}' is newer than the 7.x rusa (and Rasa) read; check the converted data"),
        ));
    }
    let mut nlu = NluData::default();
    for (i, r) in list(js, "regex_features").iter().enumerate() {
        if r.get("activated").and_then(Value::as_bool) == Some(true) {
            let pointer = format!("/regex_features/{i}");
            let name = str_at(r, "name", path, &pointer)?;
            let pattern = str_at(r, "pattern", path, &pointer)?;
            add_regex(&mut nlu, name, pattern, path, &pointer)?;
        }
    }
    for (i, r) in list(js, "regex_entities").iter().enumerate() {
        let pointer = format!("/regex_entities/{i}");
        let name = str_at(r, "name", path, &pointer)?;
        let pattern = str_at(r, "regexPattern", path, &pointer)?;
        add_regex(&mut nlu, name, pattern, path, &pointer)?;
    }
    for (i, u) in list(js, "utterances").iter().enumerate() {
        let pointer = format!("/utterances/{i}");
        let text = str_at(u, "text", path, &pointer)?;
        let intent = str_at(u, "intent", path, &pointer)?;
        let mut entities = Vec::new();
        for (j, e) in list(u, "entities").iter().enumerate() {
            let p = format!("{pointer}/entities/{j}");
            let start = usize_at(e, "startPos", path, &p)?;
            let end = usize_at(e, "endPos", path, &p)? + 1;
            entities.push(EntitySpan {
                start,
                end,
                entity: str_at(e, "entity", path, &p)?.to_owned(),
                value: char_slice(text, start, end),
                role: opt_text(e, "role").filter(|r| !r.is_empty()),
                group: None,
            });
        }
        nlu.examples
            .push(example(text, intent, entities, None, path, &pointer)?);
    }
    Ok(nlu)
}

/// Wit.ai app export (the `utterances` format): `intent` per utterance (`out_of_scope` when
/// absent, as Rasa), entities named `name:role` with `start`, `end` and `body`.
fn read_wit(js: &Value, path: &Path) -> Result<NluData, ProjectError> {
    let mut nlu = NluData::default();
    for (i, u) in list(js, "utterances").iter().enumerate() {
        let pointer = format!("/utterances/{i}");
        let text = str_at(u, "text", path, &pointer)?;
        let intent = u
            .get("intent")
            .and_then(Value::as_str)
            .unwrap_or("out_of_scope");
        let mut entities = Vec::new();
        for (j, e) in list(u, "entities").iter().enumerate() {
            let p = format!("{pointer}/entities/{j}");
            let full = str_at(e, "entity", path, &p)?;
            let (entity, role) = match full.rsplit_once(':') {
                Some((name, role)) => (name.to_owned(), Some(role.to_owned())),
                None => (full.to_owned(), None),
            };
            let start = usize_at(e, "start", path, &p)?;
            let end = usize_at(e, "end", path, &p)?;
            let value = opt_text(e, "body")
                .or_else(|| opt_text(e, "value"))
                .unwrap_or_else(|| char_slice(text, start, end));
            entities.push(EntitySpan {
                start,
                end,
                entity,
                value: value.trim_matches('"').to_owned(),
                role,
                group: None,
            });
        }
        nlu.examples
            .push(example(text, intent, entities, None, path, &pointer)?);
    }
    Ok(nlu)
}

/// `<dir>/<name>_<kind>_<language>.json` next to `<dir>/<name>.json`.
fn sibling(path: &Path, kind: &str, language: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    path.with_file_name(format!("{stem}_{kind}_{language}.json"))
}

/// A Dialogflow intent (`intents/<name>.json`) with its examples
/// (`intents/<name>_usersays_<language>.json`): each example is a list of text chunks, and a
/// chunk with `alias` or `meta` is an entity (`@sys.ignore` is not).
fn read_dialogflow_intent(
    js: &Value,
    path: &Path,
    language: &str,
) -> Result<Option<NluData>, ProjectError> {
    let examples_path = sibling(path, "usersays", language);
    if !examples_path.is_file() {
        return Ok(None);
    }
    let intent = str_at(js, "name", path, "")?;
    let examples = read_json(&examples_path)?;
    let Some(examples) = examples.as_array() else {
        return Err(json_err(&examples_path, "/", "must be a list of examples"));
    };
    let mut nlu = NluData::default();
    for (i, ex) in examples.iter().enumerate() {
        let pointer = format!("/{i}");
        let mut text = String::new();
        let mut chars = 0usize;
        let mut entities = Vec::new();
        for (j, chunk) in list(ex, "data").iter().enumerate() {
            let chunk_text = str_at(
                chunk,
                "text",
                &examples_path,
                &format!("{pointer}/data/{j}"),
            )?;
            let len = chunk_text.chars().count();
            let entity = chunk
                .get("alias")
                .and_then(Value::as_str)
                .or_else(|| chunk.get("meta").and_then(Value::as_str));
            if let Some(entity) = entity.filter(|e| *e != "@sys.ignore") {
                entities.push(EntitySpan {
                    start: chars,
                    end: chars + len,
                    entity: entity.to_owned(),
                    value: chunk_text.to_owned(),
                    role: None,
                    group: None,
                });
            }
            text.push_str(chunk_text);
            chars += len;
        }
        if text.trim().is_empty() {
            continue;
        }
        nlu.examples.push(example(
            &text,
            intent,
            entities,
            None,
            &examples_path,
            &pointer,
        )?);
    }
    Ok(Some(nlu))
}

/// A Dialogflow entity (`entities/<name>.json`) with its entries
/// (`entities/<name>_entries_<language>.json`): synonyms of each value, and a lookup table
/// (or, for `isRegexp` entities, regexes) of the entry synonyms.
fn read_dialogflow_entity(
    js: &Value,
    path: &Path,
    language: &str,
) -> Result<Option<NluData>, ProjectError> {
    let entries_path = sibling(path, "entries", language);
    if !entries_path.is_file() {
        return Ok(None);
    }
    let name = str_at(js, "name", path, "")?;
    let entries = read_json(&entries_path)?;
    let Some(entries) = entries.as_array() else {
        return Err(json_err(&entries_path, "/", "must be a list of entries"));
    };
    let mut nlu = NluData::default();
    let mut all_synonyms = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let pointer = format!("/{i}");
        let value = str_at(entry, "value", &entries_path, &pointer)?;
        let synonyms: Vec<String> = list(entry, "synonyms")
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        let others: Vec<String> = synonyms.iter().filter(|s| *s != value).cloned().collect();
        if !others.is_empty() {
            nlu.synonyms.push(Synonym {
                value: value.to_owned(),
                examples: others,
                pos: pos(&entries_path, 1),
            });
        }
        all_synonyms.extend(synonyms);
    }
    if js.get("isRegexp").and_then(Value::as_bool) == Some(true) {
        for pattern in &all_synonyms {
            add_regex(&mut nlu, name, pattern, &entries_path, "/")?;
        }
    } else {
        let elements: Vec<String> = all_synonyms
            .into_iter()
            .filter(|s| !s.contains('@'))
            .collect();
        if !elements.is_empty() {
            nlu.lookups.push(LookupTable {
                name: name.to_owned(),
                elements,
                pos: pos(&entries_path, 1),
            });
        }
    }
    Ok(Some(nlu))
}

/// Whether Markdown text is Rasa's NLU format, Rasa's stories format, or neither.
pub fn markdown_kind(text: &str) -> Option<NluFormat> {
    let mut headers = 0;
    for line in text.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix("##") {
            let header = header.trim();
            if ["intent:", "synonym:", "regex:", "lookup:"]
                .iter()
                .any(|p| header.starts_with(p))
            {
                return Some(NluFormat::Markdown);
            }
            headers += 1;
        } else if headers > 0 && line.starts_with("* ") {
            return Some(NluFormat::MarkdownStories);
        }
    }
    None
}

/// Rasa's Markdown NLU format (Rasa 1.x and 2.x): `## intent:name`, `## synonym:value`,
/// `## regex:name`, `## lookup:name` sections of `- item` lines; HTML comments are skipped.
pub fn read_markdown_nlu(
    path: &Path,
    text: &str,
    warnings: &mut Vec<Diagnostic>,
) -> Result<TrainingData, ProjectError> {
    enum Section {
        None,
        Intent(String),
        Synonym(usize),
        Regex(String),
        Lookup(usize),
    }
    let mut nlu = NluData::default();
    let mut section = Section::None;
    let mut in_comment = false;
    for (i, raw) in text.lines().enumerate() {
        let line_no = i as u32 + 1;
        let mut line = raw.trim().to_owned();
        // Comments may span lines.
        if in_comment {
            match line.find("-->") {
                Some(end) => {
                    line = line[end + 3..].trim().to_owned();
                    in_comment = false;
                }
                None => continue,
            }
        }
        while let Some(start) = line.find("<!--") {
            match line[start..].find("-->") {
                Some(end) => line.replace_range(start..start + end + 3, ""),
                None => {
                    line.truncate(start);
                    in_comment = true;
                }
            }
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix("##") {
            let header = header.trim();
            let Some((kind, name)) = header.split_once(':') else {
                warnings.push(Diagnostic::warning(
                    pos(path, line_no),
                    format!("the section '{header}' is not an NLU section; its lines are skipped"),
                ));
                section = Section::None;
                continue;
            };
            let name = name.trim().to_owned();
            section = match kind.trim() {
                "intent" => Section::Intent(name),
                "synonym" => {
                    nlu.synonyms.push(Synonym {
                        value: name,
                        examples: Vec::new(),
                        pos: pos(path, line_no),
                    });
                    Section::Synonym(nlu.synonyms.len() - 1)
                }
                "regex" => Section::Regex(name),
                "lookup" => {
                    nlu.lookups.push(LookupTable {
                        name,
                        elements: Vec::new(),
                        pos: pos(path, line_no),
                    });
                    Section::Lookup(nlu.lookups.len() - 1)
                }
                other => {
                    warnings.push(Diagnostic::warning(
                        pos(path, line_no),
                        format!("unknown section type '{other}'; its lines are skipped"),
                    ));
                    Section::None
                }
            };
            continue;
        }
        let Some(item) = line
            .strip_prefix("- ")
            .or_else(|| line.strip_prefix("* "))
            .or_else(|| line.strip_prefix("+ "))
        else {
            if let Section::Lookup(_) = section {
                warnings.push(Diagnostic::warning(
                    pos(path, line_no),
                    "a lookup table read from a file is not converted; list its elements as '- item' lines",
                ));
            }
            continue;
        };
        let item = item.trim();
        match &section {
            Section::Intent(intent) => match crate::nlu::parse_annotated(item) {
                Ok((plain, entities)) if !plain.trim().is_empty() => nlu.examples.push(Example {
                    intent: intent.clone(),
                    text: plain,
                    entities,
                    metadata: None,
                    pos: pos(path, line_no),
                }),
                Ok(_) => {}
                Err(message) => {
                    return Err(ProjectError::invalid(
                        pos(path, line_no),
                        format!("an example of intent '{intent}': {message}"),
                    ));
                }
            },
            Section::Synonym(i) => nlu.synonyms[*i].examples.push(item.to_owned()),
            Section::Regex(name) => {
                let name = name.clone();
                add_regex(&mut nlu, &name, item, path, &format!("line {line_no}"))?;
            }
            Section::Lookup(i) => nlu.lookups[*i].elements.push(item.to_owned()),
            Section::None => {}
        }
    }
    Ok(TrainingData {
        nlu,
        responses: IndexMap::new(),
    })
}

/// The error for a Markdown file among the training data: rusa reads YAML (and Rasa JSON);
/// the message names the conversion to run.
pub fn markdown_error(path: &Path, text: &str) -> Option<ProjectError> {
    match markdown_kind(text)? {
        NluFormat::Markdown => {
            let target = path.with_extension("yml");
            Some(ProjectError::Invalid {
                pos: pos(path, 1),
                message: "NLU data in Markdown, a format Rasa 3 and rusa no longer train on"
                    .to_owned(),
                hint: Some(format!(
                    "convert it with `rusa data convert nlu -f yaml --data {} --out {}`, then remove the .md file",
                    path.display(),
                    target.display()
                )),
            })
        }
        NluFormat::MarkdownStories => Some(markdown_stories_error(path)),
        _ => None,
    }
}

fn markdown_stories_error(path: &Path) -> ProjectError {
    ProjectError::Invalid {
        pos: pos(path, 1),
        message: "stories in Markdown, a format Rasa 3 and rusa no longer read".to_owned(),
        hint: Some(
            "convert them to YAML with Rasa 2.x's `rasa data convert core -f yaml`; rusa converts only NLU data (`rusa data convert nlu`)"
                .to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_guessed_in_rasas_order() {
        let p = Path::new("x.json");
        assert_eq!(
            guess_json_format(&json!({"utterances": []}), p),
            NluFormat::Wit
        );
        assert_eq!(
            guess_json_format(
                &json!({"utterances": [], "luis_schema_version": "7.0.0"}),
                p
            ),
            NluFormat::Luis
        );
        assert_eq!(
            guess_json_format(&json!({"rasa_nlu_data": {}}), p),
            NluFormat::RasaJson
        );
        assert_eq!(
            guess_json_format(&json!({"supportedLanguages": []}), p),
            NluFormat::DialogflowAgent
        );
        assert_eq!(
            guess_json_format(&json!({"version": "1.0.0"}), p),
            NluFormat::DialogflowPackage
        );
        assert_eq!(
            guess_json_format(&json!({"name": "x", "responses": []}), p),
            NluFormat::DialogflowIntent
        );
        assert_eq!(
            guess_json_format(&json!({"name": "x", "isEnum": false}), p),
            NluFormat::DialogflowEntities
        );
        assert_eq!(
            guess_json_format(&json!([]), Path::new("greet_usersays_en.json")),
            NluFormat::DialogflowIntentExamples
        );
        assert_eq!(guess_json_format(&json!([1]), p), NluFormat::Unknown);
    }

    #[test]
    fn luis_end_positions_are_inclusive() {
        let js = json!({"luis_schema_version": "7.0.0", "utterances": [
            {"text": "book a flight to paris", "intent": "book",
             "entities": [{"entity": "city", "startPos": 17, "endPos": 21, "role": "to"}]}]});
        let mut w = Vec::new();
        let nlu = read_luis(&js, Path::new("luis.json"), &mut w).unwrap();
        assert!(w.is_empty());
        let e = &nlu.examples[0].entities[0];
        assert_eq!((e.start, e.end, e.value.as_str()), (17, 22, "paris"));
        assert_eq!(e.role.as_deref(), Some("to"));
    }

    #[test]
    fn wit_entities_split_name_and_role() {
        let js = json!({"utterances": [
            {"text": "weather in Rome", "intent": "weather",
             "entities": [{"entity": "wit$location:location", "start": 11, "end": 15, "body": "Rome", "entities": []}]},
            {"text": "blah", "entities": []}]});
        let nlu = read_wit(&js, Path::new("wit.json")).unwrap();
        let e = &nlu.examples[0].entities[0];
        assert_eq!(e.entity, "wit$location");
        assert_eq!(e.role.as_deref(), Some("location"));
        assert_eq!(nlu.examples[1].intent, "out_of_scope");
    }

    #[test]
    fn entity_offsets_outside_the_text_are_an_error() {
        let js = json!({"rasa_nlu_data": {"common_examples": [
            {"text": "hi", "intent": "greet", "entities": [{"start": 0, "end": 9, "entity": "x"}]}]}});
        let err = read_rasa_json(&js, Path::new("d.json")).unwrap_err();
        assert!(
            err.to_string().contains("/rasa_nlu_data/common_examples/0"),
            "{err}"
        );
    }

    #[test]
    fn markdown_nlu_sections() {
        let text = "<!-- a comment -->\n## intent:greet\n- hey\n- hi [Berlin](city)\n\n## synonym:New York\n- NYC\n## regex:zip\n- [0-9]{5}\n## lookup:city\n- Paris\n";
        assert_eq!(markdown_kind(text), Some(NluFormat::Markdown));
        let mut w = Vec::new();
        let data = read_markdown_nlu(Path::new("nlu.md"), text, &mut w).unwrap();
        assert_eq!(data.nlu.examples.len(), 2);
        assert_eq!(data.nlu.examples[1].entities[0].entity, "city");
        assert_eq!(data.nlu.examples[1].pos.line, 4);
        assert_eq!(data.nlu.synonyms[0].examples, ["NYC"]);
        assert_eq!(data.nlu.regexes[0].patterns[0].0, "[0-9]{5}");
        assert_eq!(data.nlu.lookups[0].elements, ["Paris"]);
        assert_eq!(
            markdown_kind("## happy path\n* greet\n  - utter_greet\n"),
            Some(NluFormat::MarkdownStories)
        );
        assert_eq!(markdown_kind("# README\nsome text\n"), None);
    }
}
