//! NLU training data: intent examples with entity annotations, synonyms, regexes and
//! lookup tables.

use crate::error::{Diagnostic, Pos};
use crate::reader::{Reader, Result};
use crate::yaml::{Document, Node, Value};

/// All NLU data of a project.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NluData {
    pub examples: Vec<Example>,
    pub synonyms: Vec<Synonym>,
    pub regexes: Vec<RegexPattern>,
    pub lookups: Vec<LookupTable>,
}

/// One training example: a text, its intent and the entities annotated in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The full intent name; for a retrieval intent `faq/ask_name`.
    pub intent: String,
    /// The text with the annotation markup removed.
    pub text: String,
    pub entities: Vec<EntitySpan>,
    pub metadata: Option<serde_json::Value>,
    pub pos: Pos,
}

impl Example {
    /// The intent without a retrieval suffix: `faq` for `faq/ask_name`.
    pub fn base_intent(&self) -> &str {
        self.intent
            .split_once('/')
            .map_or(&self.intent, |(base, _)| base)
    }

    /// For a retrieval intent, the full `faq/ask_name` key its response is found under.
    pub fn response_key(&self) -> Option<&str> {
        self.intent.contains('/').then_some(self.intent.as_str())
    }
}

/// An entity annotated in an example. `start` and `end` count characters (Unicode scalar
/// values) of the plain text, as Rasa's offsets do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitySpan {
    pub start: usize,
    pub end: usize,
    pub entity: String,
    /// The normalised value (`[NYC](city:New York)` → "New York"); else the annotated text.
    pub value: String,
    pub role: Option<String>,
    pub group: Option<String>,
}

/// Texts that are normalised to one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Synonym {
    pub value: String,
    pub examples: Vec<String>,
    pub pos: Pos,
}

/// A named regular expression, for features and for extraction.
#[derive(Debug, Clone, PartialEq)]
pub struct RegexPattern {
    pub name: String,
    pub patterns: Vec<(String, Pos)>,
    pub pos: Pos,
}

/// A named list of values an entity may take.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupTable {
    pub name: String,
    pub elements: Vec<String>,
    pub pos: Pos,
}

impl NluData {
    pub fn merge(&mut self, other: NluData) {
        self.examples.extend(other.examples);
        self.synonyms.extend(other.synonyms);
        self.regexes.extend(other.regexes);
        self.lookups.extend(other.lookups);
    }

    /// Examples with at least one entity annotation.
    pub fn entity_examples(&self) -> impl Iterator<Item = &Example> {
        self.examples.iter().filter(|e| !e.entities.is_empty())
    }

    /// Distinct intents of the examples, in order of first appearance (full names).
    pub fn intents(&self) -> Vec<&str> {
        let mut seen = indexmap::IndexSet::new();
        for e in &self.examples {
            seen.insert(e.intent.as_str());
        }
        seen.into_iter().collect()
    }
}

const ITEM_KEYS: &[&str] = &[
    "intent", "synonym", "regex", "lookup", "examples", "metadata",
];

/// Reads the `nlu:` list of a training data file.
pub(crate) fn read_nlu(
    doc: &Document,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<NluData> {
    let mut r = Reader::new(doc, warnings);
    let mut data = NluData::default();
    for item in r.seq(node, "'nlu'")? {
        let entries = r.map(item, "an item of 'nlu'")?;
        r.check_keys(entries, ITEM_KEYS, "an NLU item");
        let kinds: Vec<&str> = ["intent", "synonym", "regex", "lookup"]
            .into_iter()
            .filter(|k| item.get(k).is_some())
            .collect();
        let kind = match kinds.as_slice() {
            [kind] => *kind,
            [] => return Err(r.err_hint(item, "an NLU item needs one of 'intent', 'synonym', 'regex' or 'lookup'", "write `- intent: greet` followed by `examples: |`")),
            _ => return Err(r.err(item, format!("an NLU item must have only one of 'intent', 'synonym', 'regex', 'lookup'; found {}", kinds.join(", ")))),
        };
        let name_node = item.get(kind).expect("the kind was found among the keys");
        let name = r.name(name_node, &format!("the {kind} name"))?;
        let Some(examples) = item.get("examples") else {
            return Err(r.err(item, format!("{kind} '{name}' has no 'examples'")));
        };
        let lines = example_lines(&mut r, examples, &name)?;
        match kind {
            "intent" => {
                let intent_metadata = item.get("metadata").map(Node::to_json);
                for (text, metadata, pos) in lines {
                    match parse_annotated(&text) {
                        Ok((plain, entities)) => {
                            if plain.trim().is_empty() {
                                r.warnings.push(Diagnostic::warning(
                                    pos,
                                    format!(
                                        "an example of intent '{name}' is empty; it is skipped"
                                    ),
                                ));
                                continue;
                            }
                            data.examples.push(Example {
                                intent: name.clone(),
                                text: plain,
                                entities,
                                metadata: metadata.or_else(|| intent_metadata.clone()),
                                pos,
                            });
                        }
                        Err(message) => {
                            return Err(crate::ProjectError::Invalid {
                                pos,
                                message: format!("an example of intent '{name}': {message}"),
                                hint: Some("entities are written [text](entity), [text](entity:value) or [text]{\"entity\": \"name\", \"role\": \"r\", \"group\": \"g\", \"value\": \"v\"}".into()),
                            });
                        }
                    }
                }
            }
            "synonym" => data.synonyms.push(Synonym {
                value: name,
                examples: lines.into_iter().map(|(t, _, _)| t).collect(),
                pos: r.pos(name_node),
            }),
            "regex" => {
                for (pattern, _, pos) in &lines {
                    if let Err(e) = regex::Regex::new(pattern) {
                        let first = e
                            .to_string()
                            .lines()
                            .last()
                            .unwrap_or("invalid")
                            .trim()
                            .to_owned();
                        return Err(crate::ProjectError::invalid(
                            pos.clone(),
                            format!("regex '{name}' has an invalid pattern '{pattern}': {first}"),
                        ));
                    }
                }
                data.regexes.push(RegexPattern {
                    name,
                    patterns: lines.into_iter().map(|(t, _, p)| (t, p)).collect(),
                    pos: r.pos(name_node),
                });
            }
            _ => data.lookups.push(LookupTable {
                name,
                elements: lines.into_iter().map(|(t, _, _)| t).collect(),
                pos: r.pos(name_node),
            }),
        }
    }
    Ok(data)
}

/// The examples of an item: a block of `- text` lines, or a list of strings or of
/// `{text, metadata}` mappings. Each with its own position.
fn example_lines(
    r: &mut Reader<'_>,
    node: &Node,
    name: &str,
) -> Result<Vec<(String, Option<serde_json::Value>, Pos)>> {
    match &node.value {
        Value::Str(block) => {
            // A block scalar's position is its first content line; one example per line.
            let mut out = Vec::new();
            for (i, raw) in block.lines().enumerate() {
                let line = raw.trim();
                let line_no = node.line + i as u32;
                let column = r.doc.indent_of(line_no) + 1;
                let pos = Pos::new(r.doc.path.clone(), line_no, column);
                if line.is_empty() {
                    continue;
                }
                let Some(text) = line.strip_prefix('-') else {
                    r.warnings.push(Diagnostic::warning(pos, format!("a line of the examples of '{name}' does not start with '- '; it is skipped")));
                    continue;
                };
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                out.push((text.to_owned(), None, pos));
            }
            Ok(out)
        }
        Value::Seq(items) => {
            let mut out = Vec::new();
            for item in items {
                match &item.value {
                    Value::Map(_) => {
                        let Some(text) = item.get("text") else {
                            return Err(
                                r.err(item, format!("an example of '{name}' needs a 'text'"))
                            );
                        };
                        let text = r.text(text, "an example's 'text'")?;
                        out.push((
                            text.trim().to_owned(),
                            item.get("metadata").map(Node::to_json),
                            r.pos(item),
                        ));
                    }
                    _ => out.push((
                        r.text(item, "an example")?.trim().to_owned(),
                        None,
                        r.pos(item),
                    )),
                }
            }
            Ok(out)
        }
        Value::Null => Ok(Vec::new()),
        _ => Err(r.err(
            node,
            format!(
                "the examples of '{name}' must be a block of '- ' lines, found {}",
                node.type_name()
            ),
        )),
    }
}

/// Splits an annotated example into plain text and entity spans. Understands
/// `[text](entity)`, `[text](entity:value)`, `[text]{"entity": ...}` and
/// `[text][{"entity": ...}, {...}]` (several entities on one span). Square brackets that are
/// not followed by an annotation stay in the text as written.
pub fn parse_annotated(input: &str) -> std::result::Result<(String, Vec<EntitySpan>), String> {
    let mut plain = String::with_capacity(input.len());
    let mut plain_chars = 0usize;
    let mut entities = Vec::new();
    let mut rest = input;
    while let Some(open) = rest.find('[') {
        let before = &rest[..open];
        plain.push_str(before);
        plain_chars += before.chars().count();
        let after_open = &rest[open + 1..];
        let Some(close) = after_open.find(']') else {
            plain.push('[');
            plain_chars += 1;
            rest = after_open;
            continue;
        };
        let span_text = &after_open[..close];
        let tail = &after_open[close + 1..];
        let (annotations, consumed) = match tail.chars().next() {
            Some('(') => match tail.find(')') {
                Some(end) => (Some(parse_paren(&tail[1..end], span_text)?), end + 1),
                None => (None, 0),
            },
            Some('{') => match tail.find('}') {
                Some(end) => (
                    Some(vec![parse_json_annotation(&tail[..=end], span_text)?]),
                    end + 1,
                ),
                None => (None, 0),
            },
            Some('[') if tail[1..].trim_start().starts_with('{') => match tail.find("}]") {
                Some(end) => {
                    let list: Vec<serde_json::Value> = serde_json::from_str(&tail[..end + 2])
                        .map_err(|e| {
                            format!("the entity list after [{span_text}] is not valid JSON: {e}")
                        })?;
                    let mut parsed = Vec::new();
                    for item in list {
                        parsed.push(annotation_from_json(&item, span_text)?);
                    }
                    (Some(parsed), end + 2)
                }
                None => (None, 0),
            },
            _ => (None, 0),
        };
        match annotations {
            Some(list) if !span_text.is_empty() => {
                let start = plain_chars;
                let len = span_text.chars().count();
                plain.push_str(span_text);
                plain_chars += len;
                for (entity, value, role, group) in list {
                    entities.push(EntitySpan {
                        start,
                        end: start + len,
                        entity,
                        value,
                        role,
                        group,
                    });
                }
                rest = &tail[consumed..];
            }
            _ => {
                // Not an annotation: keep the '[' and go on after it.
                plain.push('[');
                plain_chars += 1;
                rest = after_open;
            }
        }
    }
    plain.push_str(rest);
    Ok((plain, entities))
}

type Annotation = (String, String, Option<String>, Option<String>);

fn parse_paren(inside: &str, span_text: &str) -> std::result::Result<Vec<Annotation>, String> {
    let (entity, value) = match inside.split_once(':') {
        Some((e, v)) => (e.trim(), Some(v.trim())),
        None => (inside.trim(), None),
    };
    if entity.is_empty() {
        return Err(format!("the annotation of [{span_text}] names no entity"));
    }
    let value = value.filter(|v| !v.is_empty()).unwrap_or(span_text);
    Ok(vec![(entity.to_owned(), value.to_owned(), None, None)])
}

fn parse_json_annotation(json: &str, span_text: &str) -> std::result::Result<Annotation, String> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| format!("the annotation {json} of [{span_text}] is not valid JSON: {e}"))?;
    annotation_from_json(&value, span_text)
}

fn annotation_from_json(
    value: &serde_json::Value,
    span_text: &str,
) -> std::result::Result<Annotation, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| format!("the annotation of [{span_text}] must be a JSON object"))?;
    for key in obj.keys() {
        if !matches!(key.as_str(), "entity" | "value" | "role" | "group") {
            return Err(format!(
                "the annotation of [{span_text}] has the unknown key '{key}' (known: entity, value, role, group)"
            ));
        }
    }
    let text_of = |key: &str| -> Option<String> {
        obj.get(key).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        })
    };
    let entity = text_of("entity")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| format!("the annotation of [{span_text}] has no \"entity\""))?;
    Ok((
        entity,
        text_of("value").unwrap_or_else(|| span_text.to_owned()),
        text_of("role"),
        text_of("group"),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::yaml::parse;

    fn span(start: usize, end: usize, entity: &str, value: &str) -> EntitySpan {
        EntitySpan {
            start,
            end,
            entity: entity.into(),
            value: value.into(),
            role: None,
            group: None,
        }
    }

    #[test]
    fn all_three_annotation_syntaxes() {
        let (text, ents) =
            parse_annotated("fly from [Berlin](city) to [NYC](city:New York)").unwrap();
        assert_eq!(text, "fly from Berlin to NYC");
        assert_eq!(
            ents,
            vec![
                span(9, 15, "city", "Berlin"),
                span(19, 22, "city", "New York")
            ]
        );

        let (text, ents) = parse_annotated(
            r#"two [large]{"entity": "size", "role": "first", "group": "1", "value": "L"} pizzas"#,
        )
        .unwrap();
        assert_eq!(text, "two large pizzas");
        assert_eq!(ents[0].role.as_deref(), Some("first"));
        assert_eq!(ents[0].group.as_deref(), Some("1"));
        assert_eq!(ents[0].value, "L");
        assert_eq!((ents[0].start, ents[0].end), (4, 9));

        let (text, ents) = parse_annotated(
            r#"in [Paris][{"entity": "city"}, {"entity": "location", "role": "to"}]"#,
        )
        .unwrap();
        assert_eq!(text, "in Paris");
        assert_eq!(ents.len(), 2);
        assert_eq!(ents[1].role.as_deref(), Some("to"));
    }

    #[test]
    fn offsets_count_characters_not_bytes() {
        let (text, ents) = parse_annotated("größe [Köln](stadt) ok").unwrap();
        assert_eq!(text, "größe Köln ok");
        assert_eq!((ents[0].start, ents[0].end), (6, 10));
        assert_eq!(text.chars().skip(6).take(4).collect::<String>(), "Köln");
    }

    #[test]
    fn plain_brackets_stay_text() {
        let (text, ents) = parse_annotated("see [this] and [that").unwrap();
        assert_eq!(text, "see [this] and [that");
        assert!(ents.is_empty());
    }

    #[test]
    fn broken_json_is_an_error() {
        assert!(
            parse_annotated(r#"[x]{"entity": }"#)
                .unwrap_err()
                .contains("not valid JSON")
        );
        assert!(
            parse_annotated(r#"[x]{"value": "y"}"#)
                .unwrap_err()
                .contains("no \"entity\"")
        );
    }

    #[test]
    fn reads_items_with_positions() {
        let text = "nlu:\n- intent: faq/ask_name\n  examples: |\n    - what is your [name](thing)?\n    - who are you\n- synonym: NYC\n  examples: |\n    - new york\n- regex: zip\n  examples: |\n    - \\d{5}\n- lookup: city\n  examples: |\n    - Berlin\n    - Paris\n";
        let doc = parse(Arc::from(Path::new("nlu.yml")), text).unwrap();
        let mut warnings = Vec::new();
        let root = doc.root.clone().unwrap();
        let data = read_nlu(&doc, root.get("nlu").unwrap(), &mut warnings).unwrap();
        assert_eq!(data.examples.len(), 2);
        assert_eq!(data.examples[0].pos.line, 4);
        assert_eq!(data.examples[1].pos.line, 5);
        assert_eq!(data.examples[0].base_intent(), "faq");
        assert_eq!(data.examples[0].response_key(), Some("faq/ask_name"));
        assert_eq!(data.synonyms[0].examples, ["new york"]);
        assert_eq!(data.regexes[0].patterns[0].0, "\\d{5}");
        assert_eq!(data.lookups[0].elements, ["Berlin", "Paris"]);
    }
}
