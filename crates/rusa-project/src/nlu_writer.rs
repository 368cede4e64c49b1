//! Writing NLU training data as Rasa YAML (`version: "3.1"`, `nlu:` items with
//! `examples: |` blocks) or as Rasa JSON (`rasa_nlu_data`), the two formats
//! `rusa data convert nlu` writes and `rusa data split nlu` uses.
//!
//! Intents come in the order of their first example; each example is written back with its
//! entities annotated: `[text](entity)` when the value is the text, else the JSON form
//! `[text]{"entity": "city", "value": "New York"}` (also for roles and groups), and
//! `[text][{...}, {...}]` for several entities on one span.

use std::fmt::Write as _;

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::nlu::{EntitySpan, Example, NluData};
use crate::nlu_formats::TrainingData;
use crate::yaml_writer::{TRAINING_DATA_FORMAT_VERSION, quoted, scalar, to_yaml};

/// Rasa YAML: `version`, the `nlu:` section (intents, then synonyms, regexes and lookup
/// tables) and, when there are any, the `responses:` of retrieval intents.
pub fn training_data_yaml(data: &TrainingData) -> String {
    let mut out = format!("version: {}\n", quoted(TRAINING_DATA_FORMAT_VERSION));
    out.push_str(&nlu_section(&data.nlu));
    if !data.responses.is_empty() {
        out.push_str(&responses_section(&data.responses));
    }
    out
}

/// Rasa YAML with only the NLU data (`version` and `nlu:`).
pub fn nlu_yaml(nlu: &NluData) -> String {
    let mut out = format!("version: {}\n", quoted(TRAINING_DATA_FORMAT_VERSION));
    out.push_str(&nlu_section(nlu));
    out
}

/// Rasa YAML holding only responses (`nlg_*.yml` of `data split nlu`); only `version` when
/// there are none, so the file still loads.
pub fn responses_yaml(responses: &IndexMap<String, Value>) -> String {
    let mut out = format!("version: {}\n", quoted(TRAINING_DATA_FORMAT_VERSION));
    if !responses.is_empty() {
        out.push_str(&responses_section(responses));
    }
    out
}

fn responses_section(responses: &IndexMap<String, Value>) -> String {
    let map: Map<String, Value> = responses
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    to_yaml(&json!({ "responses": map }))
}

/// The `nlu:` section; empty text when there is no NLU data.
fn nlu_section(nlu: &NluData) -> String {
    if nlu.examples.is_empty()
        && nlu.synonyms.is_empty()
        && nlu.regexes.is_empty()
        && nlu.lookups.is_empty()
    {
        return String::new();
    }
    let mut out = String::from("nlu:\n");
    let mut by_intent: IndexMap<&str, Vec<&Example>> = IndexMap::new();
    for example in &nlu.examples {
        by_intent.entry(&example.intent).or_default().push(example);
    }
    for (intent, examples) in by_intent {
        let _ = writeln!(out, "- intent: {}", scalar(intent));
        if examples.iter().any(|e| e.metadata.is_some()) {
            // Examples with metadata are written as a list of {text, metadata}.
            out.push_str("  examples:\n");
            for e in examples {
                let _ = writeln!(out, "  - text: {}", quoted(&one_line(&annotate(e))));
                if let Some(metadata) = &e.metadata {
                    let _ = writeln!(
                        out,
                        "    metadata: {}",
                        crate::yaml_writer::inline(metadata)
                    );
                }
            }
        } else {
            out.push_str("  examples: |\n");
            for e in examples {
                let _ = writeln!(out, "    - {}", one_line(&annotate(e)));
            }
        }
    }
    for synonym in &nlu.synonyms {
        write_block_item(&mut out, "synonym", &synonym.value, &synonym.examples);
    }
    for regex in &nlu.regexes {
        let patterns: Vec<String> = regex.patterns.iter().map(|(p, _)| p.clone()).collect();
        write_block_item(&mut out, "regex", &regex.name, &patterns);
    }
    for lookup in &nlu.lookups {
        write_block_item(&mut out, "lookup", &lookup.name, &lookup.elements);
    }
    out
}

fn write_block_item(out: &mut String, kind: &str, name: &str, lines: &[String]) {
    let _ = writeln!(out, "- {kind}: {}", scalar(name));
    out.push_str("  examples: |\n");
    for line in lines {
        let _ = writeln!(out, "    - {}", one_line(line));
    }
}

/// An example line cannot hold a line break: it becomes a space.
fn one_line(text: &str) -> String {
    if text.contains(['\n', '\r']) {
        text.replace("\r\n", " ").replace(['\n', '\r'], " ")
    } else {
        text.to_owned()
    }
}

/// The example's text with its entities annotated in Rasa's markup. Entities on the same
/// span are written together; an entity that overlaps another span only partly cannot be
/// written in the markup and is left out (the first one written wins).
pub fn annotate(example: &Example) -> String {
    let mut entities: Vec<&EntitySpan> = example.entities.iter().collect();
    entities.sort_by_key(|e| (e.start, e.end));
    let chars: Vec<char> = example.text.chars().collect();
    let mut out = String::with_capacity(example.text.len() + 16 * entities.len());
    let mut at = 0usize;
    let mut i = 0;
    while i < entities.len() {
        let first = entities[i];
        let mut group = vec![first];
        while i + group.len() < entities.len()
            && (
                entities[i + group.len()].start,
                entities[i + group.len()].end,
            ) == (first.start, first.end)
        {
            group.push(entities[i + group.len()]);
        }
        i += group.len();
        if first.start < at || first.end > chars.len() || first.start >= first.end {
            continue;
        }
        out.extend(&chars[at..first.start]);
        let span: String = chars[first.start..first.end].iter().collect();
        out.push('[');
        out.push_str(&span);
        out.push(']');
        if group.len() == 1 {
            let e = group[0];
            if e.value == span && e.role.is_none() && e.group.is_none() {
                let _ = write!(out, "({})", e.entity);
            } else {
                out.push_str(&python_json(&annotation_json(e, &span)));
            }
        } else {
            let list: Vec<Value> = group.iter().map(|e| annotation_json(e, &span)).collect();
            out.push_str(&python_json(&Value::Array(list)));
        }
        at = first.end;
    }
    out.extend(&chars[at.min(chars.len())..]);
    out
}

/// JSON with the separators Python's `json.dumps` uses (`", "` and `": "`), as Rasa writes
/// annotations.
fn python_json(value: &Value) -> String {
    match value {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(python_json).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_string(),
    }
}

fn annotation_json(e: &EntitySpan, span: &str) -> Value {
    let mut map = Map::new();
    map.insert("entity".into(), json!(e.entity));
    if let Some(role) = &e.role {
        map.insert("role".into(), json!(role));
    }
    if let Some(group) = &e.group {
        map.insert("group".into(), json!(group));
    }
    if e.value != span {
        map.insert("value".into(), json!(e.value));
    }
    Value::Object(map)
}

/// Rasa JSON (`{"rasa_nlu_data": {...}}`, two-space indent, with a final newline). Examples
/// without entities have no `entities` key; responses are not part of this format and are
/// left out (the caller says so).
pub fn training_data_json(nlu: &NluData) -> String {
    let examples: Vec<Value> = nlu
        .examples
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("text".into(), json!(e.text));
            m.insert("intent".into(), json!(e.intent));
            if !e.entities.is_empty() {
                let entities: Vec<Value> = e
                    .entities
                    .iter()
                    .map(|s| {
                        let mut em = Map::new();
                        em.insert("start".into(), json!(s.start));
                        em.insert("end".into(), json!(s.end));
                        em.insert("value".into(), json!(s.value));
                        em.insert("entity".into(), json!(s.entity));
                        if let Some(role) = &s.role {
                            em.insert("role".into(), json!(role));
                        }
                        if let Some(group) = &s.group {
                            em.insert("group".into(), json!(group));
                        }
                        Value::Object(em)
                    })
                    .collect();
                m.insert("entities".into(), Value::Array(entities));
            }
            if let Some(metadata) = &e.metadata {
                m.insert("metadata".into(), metadata.clone());
            }
            Value::Object(m)
        })
        .collect();
    let regexes: Vec<Value> = nlu
        .regexes
        .iter()
        .flat_map(|r| {
            r.patterns
                .iter()
                .map(move |(p, _)| json!({"name": r.name, "pattern": p}))
        })
        .collect();
    let lookups: Vec<Value> = nlu
        .lookups
        .iter()
        .map(|l| json!({"name": l.name, "elements": l.elements}))
        .collect();
    let synonyms: Vec<Value> = nlu
        .synonyms
        .iter()
        .map(|s| json!({"value": s.value, "synonyms": s.examples}))
        .collect();
    let doc = json!({"rasa_nlu_data": {
        "common_examples": examples,
        "regex_features": regexes,
        "lookup_tables": lookups,
        "entity_synonyms": synonyms,
    }});
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON values always serialize");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::nlu::parse_annotated;
    use crate::nlu_formats::read_file;

    fn ex(annotated: &str) -> Example {
        let (text, entities) = parse_annotated(annotated).unwrap();
        Example {
            intent: "inform".into(),
            text,
            entities,
            metadata: None,
            pos: crate::error::Pos::new(std::sync::Arc::from(Path::new("x")), 1, 1),
        }
    }

    #[test]
    fn annotations_round_trip() {
        for s in [
            "take me to [paris](city)",
            r#"[NYC]{"entity": "city", "value": "New York"} please"#,
            r#"from [Berlin]{"entity": "city", "role": "from"} to [Köln](city)"#,
            r#"in [Paris][{"entity": "city"}, {"entity": "location", "role": "to"}]"#,
            "no entities [here] at all",
        ] {
            let e = ex(s);
            assert_eq!(annotate(&e), s);
            let again = ex(&annotate(&e));
            assert_eq!(again.entities, e.entities);
        }
    }

    #[test]
    fn yaml_and_json_outputs_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("nlu.yml");
        std::fs::write(&src, "version: \"3.1\"\nnlu:\n- intent: inform\n  examples: |\n    - take me to [paris](city)\n    - \"quoted\" yes\n- intent: faq/ask_age\n  examples: |\n    - how old are you\n- synonym: New York\n  examples: |\n    - NYC\n- regex: zipcode\n  examples: |\n    - [0-9]{5}\n- lookup: city\n  examples: |\n    - Berlin\nresponses:\n  utter_faq/ask_age:\n  - text: \"I am 3: and you?\"\n").unwrap();
        let mut w = Vec::new();
        let (data, _) = read_file(&src, "en", &mut w).unwrap();
        let data = data.unwrap();

        let yaml_path = dir.path().join("out.yml");
        std::fs::write(&yaml_path, training_data_yaml(&data)).unwrap();
        let (again, _) = read_file(&yaml_path, "en", &mut w).unwrap();
        let again = again.unwrap();
        let strip = |d: &NluData| {
            d.examples
                .iter()
                .map(|e| (e.intent.clone(), e.text.clone(), e.entities.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&again.nlu), strip(&data.nlu));
        assert_eq!(again.responses, data.responses);
        assert_eq!(again.nlu.synonyms[0].examples, ["NYC"]);

        let json_path = dir.path().join("out.json");
        std::fs::write(&json_path, training_data_json(&data.nlu)).unwrap();
        let (from_json, _) = read_file(&json_path, "en", &mut w).unwrap();
        let from_json = from_json.unwrap();
        assert_eq!(strip(&from_json.nlu), strip(&data.nlu));
        assert_eq!(from_json.nlu.lookups[0].elements, ["Berlin"]);
        assert_eq!(from_json.nlu.regexes[0].patterns[0].0, "[0-9]{5}");
        assert!(w.is_empty(), "{w:?}");
    }
}
