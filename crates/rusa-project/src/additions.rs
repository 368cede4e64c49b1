//! Additions to a project's files that leave everything else byte for byte as it was.
//!
//! Interactive learning saves what it learned into files the user wrote by hand: their
//! comments, order, quoting and layout must survive. So nothing here re-serializes a file.
//! Each file is parsed once to find where its sections start and end (every node knows its
//! line), and new text is inserted at the end of the right section:
//!
//! - stories go inside the `stories:` section, whatever section follows it (Rasa appends them
//!   at the end of the file, under `rules:` when that comes last); a new file is one valid
//!   document with a single `version:` key;
//! - NLU examples go at the end of their intent's `examples:` block; an intent the file does
//!   not have gets a new item at the end of the `nlu:` section;
//! - domain items go into the file of a (possibly split) domain that holds their section;
//!   a section no file has is added at the end of the fallback file.
//!
//! Comments and blank lines that end a section stay where they are, in front of whatever
//! follows them (a comment above `rules:` belongs to the rules). Flow-style sections
//! (`intents: [greet, bye]`) are not rewritten: that is an error naming the line.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crate::error::ProjectError;
use crate::yaml::{self, Document, Node, Value};

/// The training-data format version written at the top of a new file.
pub const NEW_FILE_VERSION: &str = "3.1";

/// One step of a story to add.
#[derive(Debug, Clone, PartialEq)]
pub enum NewStep {
    /// A user turn: the intent, its entities `(entity, value)`, and the user's text with
    /// `[value](entity)` annotations (written only in end-to-end format).
    User {
        intent: String,
        entities: Vec<(String, serde_json::Value)>,
        text: Option<String>,
    },
    /// The assistant ran an action.
    Action(String),
    /// A slot was set to a value.
    SlotWasSet(String, serde_json::Value),
    /// A loop (form) became active (`Some`), or the active one ended (`None`).
    ActiveLoop(Option<String>),
}

/// A story to add: its name and steps.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStory {
    pub name: String,
    pub steps: Vec<NewStep>,
}

/// `count` story names starting with `prefix` (`interactive_story_1`, ...) that are not in
/// `taken`.
pub fn unique_story_names(prefix: &str, taken: &HashSet<String>, count: usize) -> Vec<String> {
    let mut names = Vec::with_capacity(count);
    let mut n = 1usize;
    while names.len() < count {
        let name = format!("{prefix}{n}");
        if !taken.contains(&name) {
            names.push(name);
        }
        n += 1;
    }
    names
}

/// The names of the stories (and rules, whose names share the same space in reports) that
/// a training-data file defines. A file that does not parse has none.
pub fn story_names_in(text: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let Ok(doc) = yaml::parse(Arc::from(Path::new("")), text) else {
        return names;
    };
    for key in ["stories", "rules"] {
        let Some(items) = doc
            .root
            .as_ref()
            .and_then(|r| r.get(key))
            .and_then(Node::as_seq)
        else {
            continue;
        };
        for item in items {
            if let Some(name) = item
                .get("story")
                .or_else(|| item.get("rule"))
                .and_then(Node::scalar_text)
            {
                names.insert(name);
            }
        }
    }
    names
}

/// The text of a stories file with `stories` added inside its `stories:` section.
/// `existing` is the file's text, `None` when the file does not exist yet. With `e2e`, user
/// steps are written in test-story format (`user:` text and `intent:`).
pub fn add_stories(
    path: &Path,
    existing: Option<&str>,
    stories: &[NewStory],
    e2e: bool,
) -> Result<String, ProjectError> {
    let mut items = String::new();
    for story in stories {
        items.push_str(&story_yaml(story, e2e));
    }
    add_items_to_section(path, existing, "stories", &items)
}

/// The text of an NLU file with `examples` (`(intent, annotated text)`) added to their
/// intents. Examples the file already has are skipped.
pub fn add_nlu_examples(
    path: &Path,
    existing: Option<&str>,
    examples: &[(String, String)],
) -> Result<String, ProjectError> {
    let text = existing.unwrap_or_default().to_owned();
    let doc = parse(path, &text)?;
    let mut edits: Vec<(usize, String)> = Vec::new();
    let mut new_intents: Vec<(String, Vec<String>)> = Vec::new();
    let nlu_items = match section(&doc, "nlu") {
        Some((_, value)) => match &value.value {
            Value::Seq(items) => items.as_slice(),
            Value::Null => &[],
            _ => return Err(flow_error(&doc, value, "nlu")),
        },
        None => &[],
    };
    let mut seen: HashSet<(String, String)> = HashSet::new();
    for item in nlu_items {
        let Some(intent) = item.get("intent").and_then(Node::scalar_text) else {
            continue;
        };
        if let Some(ex) = item.get("examples").and_then(Node::as_str) {
            for line in ex.lines() {
                let t = line.trim().trim_start_matches('-').trim();
                if !t.is_empty() {
                    seen.insert((intent.clone(), t.to_owned()));
                }
            }
        }
    }
    for (intent, example) in examples {
        let example = example.trim();
        if example.is_empty() || !seen.insert((intent.clone(), example.to_owned())) {
            continue;
        }
        let target = nlu_items.iter().find(|item| {
            item.get("intent").and_then(Node::scalar_text).as_deref() == Some(intent.as_str())
                && item.get("examples").and_then(Node::as_str).is_some()
        });
        match target {
            Some(item) => {
                let (offset, indent) = examples_block_end(&doc, item)?;
                match edits.iter_mut().find(|(o, _)| *o == offset) {
                    Some((_, t)) => t.push_str(&format!("{indent}- {example}\n")),
                    None => edits.push((offset, format!("{indent}- {example}\n"))),
                }
            }
            None => match new_intents.iter_mut().find(|(i, _)| i == intent) {
                Some((_, list)) => list.push(example.to_owned()),
                None => new_intents.push((intent.clone(), vec![example.to_owned()])),
            },
        }
    }
    let mut out = apply_edits(&text, edits);
    if !new_intents.is_empty() {
        let mut items = String::new();
        for (intent, list) in &new_intents {
            items.push_str(&format!("- intent: {}\n  examples: |\n", scalar(intent)));
            for ex in list {
                items.push_str(&format!("    - {ex}\n"));
            }
        }
        out = add_items_to_section(path, Some(&out), "nlu", &items)?;
    }
    if existing.is_none() && out.is_empty() {
        out = format!("version: \"{NEW_FILE_VERSION}\"\nnlu: []\n");
    }
    Ok(out)
}

/// What interactive learning adds to the domain.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DomainAdditions {
    pub intents: Vec<String>,
    pub entities: Vec<String>,
    pub actions: Vec<String>,
    /// New responses: name and the text of their one variation.
    pub responses: Vec<(String, String)>,
}

impl DomainAdditions {
    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
            && self.entities.is_empty()
            && self.actions.is_empty()
            && self.responses.is_empty()
    }
}

/// A domain item to add: its name, and the text of a response's one variation.
type NamedItem = (String, Option<String>);

/// The new texts of the domain files that change: each addition goes into the first of
/// `files` (path and text, in the order the domain is read) whose top level has its section;
/// a section no file has is added to the end of `fallback` (one of `files`, or a new file).
/// Items a file already lists are not added again.
pub fn add_to_domain(
    files: &[(std::path::PathBuf, String)],
    fallback: &Path,
    additions: &DomainAdditions,
) -> Result<Vec<(std::path::PathBuf, String)>, ProjectError> {
    let mut texts: Vec<(std::path::PathBuf, String)> = files.to_vec();
    if !texts.iter().any(|(p, _)| p == fallback) {
        texts.push((fallback.to_path_buf(), String::new()));
    }
    let mut changed: Vec<usize> = Vec::new();
    let sections: [(&str, Vec<NamedItem>); 4] = [
        (
            "intents",
            additions
                .intents
                .iter()
                .map(|i| (i.clone(), None))
                .collect(),
        ),
        (
            "entities",
            additions
                .entities
                .iter()
                .map(|i| (i.clone(), None))
                .collect(),
        ),
        (
            "actions",
            additions
                .actions
                .iter()
                .map(|i| (i.clone(), None))
                .collect(),
        ),
        (
            "responses",
            additions
                .responses
                .iter()
                .map(|(n, t)| (n.clone(), Some(t.clone())))
                .collect(),
        ),
    ];
    for (key, wanted) in sections {
        if wanted.is_empty() {
            continue;
        }
        // The file that holds the section, else the fallback.
        let mut holder = None;
        for (i, (path, text)) in texts.iter().enumerate() {
            let doc = parse(path, text)?;
            if section(&doc, key).is_some() {
                holder = Some(i);
                break;
            }
        }
        let index = match holder {
            Some(i) => i,
            None => texts
                .iter()
                .position(|(p, _)| p == fallback)
                .expect("the fallback was added to the list above"),
        };
        let (path, text) = &texts[index];
        let doc = parse(path, text)?;
        let present = section_names(&doc, key);
        let mut items = String::new();
        let mut added: HashSet<&str> = HashSet::new();
        for (name, response) in &wanted {
            if present.contains(name) || !added.insert(name) {
                continue;
            }
            match response {
                None => items.push_str(&format!("- {}\n", scalar(name))),
                Some(t) => items.push_str(&format!("{}:\n- text: {}\n", scalar(name), quoted(t))),
            }
        }
        if items.is_empty() {
            continue;
        }
        let new_text = add_items_to_section(path, Some(text), key, &items)?;
        texts[index].1 = new_text;
        if !changed.contains(&index) {
            changed.push(index);
        }
    }
    changed.sort_unstable();
    Ok(changed.into_iter().map(|i| texts[i].clone()).collect())
}

/// The names a domain section lists (intents, entities and actions as list items, plain or
/// with properties; responses as keys).
fn section_names(doc: &Document, key: &str) -> HashSet<String> {
    let mut names = HashSet::new();
    let Some((_, value)) = section(doc, key) else {
        return names;
    };
    match &value.value {
        Value::Seq(items) => {
            for item in items {
                if let Some(n) = item.scalar_text() {
                    names.insert(n);
                } else if let Some(map) = item.as_map()
                    && let Some((k, _)) = map.first()
                    && let Some(n) = k.scalar_text()
                {
                    names.insert(n);
                }
            }
        }
        Value::Map(entries) => {
            for (k, _) in entries {
                if let Some(n) = k.scalar_text() {
                    names.insert(n);
                }
            }
        }
        _ => {}
    }
    names
}

fn parse(path: &Path, text: &str) -> Result<Document, ProjectError> {
    yaml::parse(Arc::from(path), text)
}

/// The key and value nodes of a top-level section.
fn section<'d>(doc: &'d Document, key: &str) -> Option<(&'d Node, &'d Node)> {
    doc.root
        .as_ref()?
        .as_map()?
        .iter()
        .find(|(k, _)| k.as_str() == Some(key))
        .map(|(k, v)| (k, v))
}

fn flow_error(doc: &Document, node: &Node, key: &str) -> ProjectError {
    ProjectError::Invalid {
        pos: doc.pos(node),
        message: format!("cannot add to `{key}:` written on one line (flow style)"),
        hint: Some(format!(
            "write `{key}:` as a block list, one item per line, and export again"
        )),
    }
}

/// Byte offsets of the start of each line, and the text length at the end.
fn line_starts(text: &str) -> Vec<usize> {
    let mut starts = vec![0];
    for (i, b) in text.bytes().enumerate() {
        if b == b'\n' {
            starts.push(i + 1);
        }
    }
    starts
}

/// The byte offset just after the last line in `first..end` (0-based line numbers, `end`
/// exclusive) that holds content: trailing blank and comment-only lines are left to what
/// follows. `None` when no line there has content.
fn after_last_content_line(text: &str, first: usize, end: usize) -> Option<usize> {
    let starts = line_starts(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let end = end.min(lines.len());
    (first..end)
        .rev()
        .find(|&i| {
            let t = lines[i].trim();
            !t.is_empty() && !t.starts_with('#')
        })
        .map(|i| starts.get(i + 1).copied().unwrap_or(text.len()))
}

/// Adds `items` (block-list or mapping text written at indentation 0, each line ending in
/// `\n`) to the end of the top-level section `key`, re-indented like the section's first
/// item. The section is created at the end of the file when there is none; a new file gets
/// a `version:` line first.
fn add_items_to_section(
    path: &Path,
    existing: Option<&str>,
    key: &str,
    items: &str,
) -> Result<String, ProjectError> {
    let Some(text) = existing.filter(|t| !t.trim().is_empty()) else {
        let mut out = format!("version: \"{NEW_FILE_VERSION}\"\n{key}:\n");
        out.push_str(items);
        return Ok(out);
    };
    let doc = parse(path, text)?;
    let Some(root_entries) = doc.root.as_ref().and_then(Node::as_map) else {
        return Err(ProjectError::invalid(
            doc.start(),
            "the file's top level is not a mapping of sections",
        ));
    };
    let Some(index) = root_entries
        .iter()
        .position(|(k, _)| k.as_str() == Some(key))
    else {
        // A new section at the end of the file.
        let mut out = text.to_owned();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{key}:\n"));
        out.push_str(items);
        return Ok(out);
    };
    let (key_node, value) = &root_entries[index];
    let key_line = key_node.line as usize - 1;
    let next_line = root_entries
        .get(index + 1)
        .map_or(usize::MAX, |(k, _)| k.line as usize - 1);
    let first_item_line = match &value.value {
        Value::Seq(s) => s.first().map(|n| n.line),
        Value::Map(m) => m.first().map(|(k, _)| k.line),
        Value::Null => None,
        _ => return Err(flow_error(&doc, value, key)),
    };
    // A flow collection starts on the key's line (`stories: []`, `intents: [a, b]`).
    if value.line == key_node.line && !value.is_null() {
        return Err(flow_error(&doc, value, key));
    }
    if first_item_line.is_none()
        && !value.is_null()
        && text
            .lines()
            .nth(key_line)
            .is_some_and(|l| l.contains('[') || l.contains('{'))
    {
        return Err(flow_error(&doc, value, key));
    }
    let indent = first_item_line.map_or(2, |line| doc.indent_of(line) as usize);
    let pad = " ".repeat(indent);
    let mut block = String::new();
    for line in items.lines() {
        if line.is_empty() {
            block.push('\n');
        } else {
            block.push_str(&pad);
            block.push_str(line);
            block.push('\n');
        }
    }
    let offset = after_last_content_line(text, key_line, next_line)
        .expect("the section's key line has content");
    let mut out = String::with_capacity(text.len() + block.len() + 1);
    out.push_str(&text[..offset]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&block);
    out.push_str(&text[offset..]);
    Ok(out)
}

/// Where new examples of an NLU item go: the byte offset after the last line of its
/// `examples:` block, and the indentation of the block's `- ` lines.
fn examples_block_end(doc: &Document, item: &Node) -> Result<(usize, String), ProjectError> {
    let map = item.as_map().unwrap_or_default();
    let (key, _) = map
        .iter()
        .find(|(k, _)| k.as_str() == Some("examples"))
        .expect("the caller checked the item has examples");
    let text: &str = &doc.text;
    let lines: Vec<&str> = text.split('\n').collect();
    let key_line = key.line as usize - 1;
    let key_indent = key.column as usize - 1;
    if !lines
        .get(key_line)
        .is_some_and(|l| l.trim_end().ends_with('|') || l.contains(": |"))
    {
        return Err(ProjectError::Invalid {
            pos: doc.pos(key),
            message: "cannot add an example to `examples:` that is not a `|` block".into(),
            hint: Some("write the examples as a `|` block of `- ` lines".into()),
        });
    }
    // The block's lines are those indented more than the key (blank lines inside too).
    let mut last = key_line;
    let mut indent = None;
    for (i, line) in lines.iter().enumerate().skip(key_line + 1) {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let ind = line.len() - line.trim_start().len();
        if ind <= key_indent {
            break;
        }
        if indent.is_none() {
            indent = Some(ind);
        }
        last = i;
    }
    let starts = line_starts(text);
    let offset = starts.get(last + 1).copied().unwrap_or(text.len());
    let indent = indent.unwrap_or(key_indent + 2);
    Ok((offset, " ".repeat(indent)))
}

/// Inserts each text at its byte offset (several at one offset keep their order).
fn apply_edits(text: &str, mut edits: Vec<(usize, String)>) -> String {
    edits.sort_by_key(|(o, _)| *o);
    let mut out =
        String::with_capacity(text.len() + edits.iter().map(|e| e.1.len()).sum::<usize>());
    let mut at = 0;
    for (offset, insert) in edits {
        out.push_str(&text[at..offset]);
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&insert);
        at = offset;
    }
    out.push_str(&text[at..]);
    out
}

/// A story as a block-list item at indentation 0.
fn story_yaml(story: &NewStory, e2e: bool) -> String {
    let mut out = format!("- story: {}\n  steps:\n", scalar(&story.name));
    for step in &story.steps {
        match step {
            NewStep::User {
                intent,
                entities,
                text,
            } => {
                if e2e && let Some(t) = text {
                    out.push_str(&format!(
                        "  - user: |-\n      {t}\n    intent: {}\n",
                        scalar(intent)
                    ));
                    continue;
                }
                out.push_str(&format!("  - intent: {}\n", scalar(intent)));
                if !entities.is_empty() {
                    out.push_str("    entities:\n");
                    for (entity, value) in entities {
                        out.push_str(&format!(
                            "    - {}: {}\n",
                            scalar(entity),
                            json_scalar(value)
                        ));
                    }
                }
            }
            NewStep::Action(name) => out.push_str(&format!("  - action: {}\n", scalar(name))),
            NewStep::SlotWasSet(slot, value) => out.push_str(&format!(
                "  - slot_was_set:\n    - {}: {}\n",
                scalar(slot),
                json_scalar(value)
            )),
            NewStep::ActiveLoop(name) => out.push_str(&format!(
                "  - active_loop: {}\n",
                name.as_deref().map_or_else(|| "null".to_owned(), scalar)
            )),
        }
    }
    out
}

/// A name as a YAML scalar: plain when that reads back as the same string, else quoted.
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
        && !s.starts_with(['-', '.', '/'])
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "null" | "true" | "false" | "yes" | "no" | "on" | "off" | "~"
        )
        && s.parse::<f64>().is_err();
    if plain { s.to_owned() } else { quoted(s) }
}

/// A double-quoted YAML scalar (JSON's escapes are YAML's).
fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// A JSON value as YAML: strings as [`scalar`], the rest in flow (JSON) form.
fn json_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => scalar(s),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn story(name: &str) -> NewStory {
        NewStory {
            name: name.into(),
            steps: vec![
                NewStep::User {
                    intent: "inform".into(),
                    entities: vec![("city".into(), serde_json::json!("Berlin"))],
                    text: Some("I live in [Berlin](city)".into()),
                },
                NewStep::SlotWasSet("city".into(), serde_json::json!("Berlin")),
                NewStep::Action("utter_ok".into()),
            ],
        }
    }

    fn p() -> &'static Path {
        Path::new("data/stories.yml")
    }

    #[test]
    fn stories_go_inside_the_stories_section_before_rules() {
        let text = "version: \"3.1\"\n# my stories\nstories:\n- story: a\n  steps:\n  - intent: greet\n  - action: utter_greet\n\n# the rules\nrules:\n- rule: r\n  steps:\n  - intent: bye\n  - action: utter_bye\n";
        let out = add_stories(p(), Some(text), &[story("interactive_story_1")], false).unwrap();
        let expected = "version: \"3.1\"\n# my stories\nstories:\n- story: a\n  steps:\n  - intent: greet\n  - action: utter_greet\n- story: interactive_story_1\n  steps:\n  - intent: inform\n    entities:\n    - city: Berlin\n  - slot_was_set:\n    - city: Berlin\n  - action: utter_ok\n\n# the rules\nrules:\n- rule: r\n  steps:\n  - intent: bye\n  - action: utter_bye\n";
        assert_eq!(out, expected);
        let doc = parse(p(), &out).unwrap();
        assert_eq!(
            section(&doc, "stories").unwrap().1.as_seq().unwrap().len(),
            2
        );
        assert_eq!(section(&doc, "rules").unwrap().1.as_seq().unwrap().len(), 1);
    }

    #[test]
    fn stories_follow_the_files_indentation() {
        let text = "stories:\n  - story: a\n    steps:\n      - intent: greet\n";
        let out = add_stories(p(), Some(text), &[story("s")], false).unwrap();
        assert!(out.starts_with(text), "{out}");
        assert!(
            out.contains("\n  - story: s\n    steps:\n    - intent: inform\n"),
            "{out}"
        );
        let doc = parse(p(), &out).unwrap();
        assert_eq!(
            section(&doc, "stories").unwrap().1.as_seq().unwrap().len(),
            2
        );
    }

    #[test]
    fn a_new_file_is_one_document_with_one_version_key() {
        let out = add_stories(p(), None, &[story("x1"), story("x2")], false).unwrap();
        assert_eq!(out.matches("version:").count(), 1);
        let doc = parse(p(), &out).unwrap();
        assert_eq!(
            section(&doc, "stories").unwrap().1.as_seq().unwrap().len(),
            2
        );
    }

    #[test]
    fn a_file_without_stories_gets_the_section_at_its_end() {
        let text =
            "version: \"3.1\"\nrules:\n- rule: r\n  steps:\n  - intent: bye\n  - action: utter_bye";
        let out = add_stories(p(), Some(text), &[story("s")], false).unwrap();
        assert!(out.starts_with(text));
        assert!(out.contains("\nstories:\n- story: s\n"));
        parse(p(), &out).unwrap();
    }

    #[test]
    fn e2e_stories_carry_the_users_text() {
        let out = add_stories(p(), None, &[story("s")], true).unwrap();
        assert!(
            out.contains("  - user: |-\n      I live in [Berlin](city)\n    intent: inform\n"),
            "{out}"
        );
        assert!(!out.contains("entities:"));
        parse(p(), &out).unwrap();
    }

    #[test]
    fn flow_style_sections_are_refused_with_their_line() {
        let err = add_stories(
            p(),
            Some("version: \"3.1\"\nstories: []\n"),
            &[story("s")],
            false,
        )
        .unwrap_err();
        assert!(err.to_string().contains(":2:"), "{err}");
    }

    #[test]
    fn story_names_do_not_collide() {
        let taken = story_names_in(
            "stories:\n- story: interactive_story_1\n  steps: []\nrules:\n- rule: interactive_story_2\n  steps: []\n",
        );
        assert_eq!(
            unique_story_names("interactive_story_", &taken, 2),
            vec!["interactive_story_3", "interactive_story_4"]
        );
    }

    #[test]
    fn nlu_examples_are_appended_to_their_intent_and_nothing_else_changes() {
        let text = "version: \"3.1\"\n\nnlu:\n# greetings\n- intent: greet\n  examples: |\n    - hi\n    - hello   # keep me\n\n- intent: bye  # comment\n  examples: |\n    - bye\n\n# synonyms follow\n- synonym: NYC\n  examples: |\n    - new york\n";
        let out = add_nlu_examples(
            Path::new("data/nlu.yml"),
            Some(text),
            &[
                ("greet".into(), "hey there".into()),
                ("bye".into(), "see [you](who)".into()),
                ("greet".into(), "hi".into()),
                ("thank".into(), "thanks".into()),
            ],
        )
        .unwrap();
        let expected = "version: \"3.1\"\n\nnlu:\n# greetings\n- intent: greet\n  examples: |\n    - hi\n    - hello   # keep me\n    - hey there\n\n- intent: bye  # comment\n  examples: |\n    - bye\n    - see [you](who)\n\n# synonyms follow\n- synonym: NYC\n  examples: |\n    - new york\n- intent: thank\n  examples: |\n    - thanks\n";
        assert_eq!(out, expected);
    }

    #[test]
    fn nlu_into_a_new_file() {
        let out =
            add_nlu_examples(Path::new("n.yml"), None, &[("greet".into(), "yo".into())]).unwrap();
        assert_eq!(
            out,
            "version: \"3.1\"\nnlu:\n- intent: greet\n  examples: |\n    - yo\n"
        );
    }

    #[test]
    fn domain_additions_go_to_the_file_holding_each_section() {
        let intents = (
            "domain/intents.yml".into(),
            "version: \"3.1\"\n# intents\nintents:\n  - greet\n  - bye\n".to_owned(),
        );
        let responses = ("domain/responses.yml".into(), "version: \"3.1\"\nresponses:\n  utter_greet:\n  - text: \"Hi!\"  # friendly\nactions:\n- utter_greet\n".to_owned());
        let files = vec![intents.clone(), responses.clone()];
        let additions = DomainAdditions {
            intents: vec!["thank".into(), "greet".into()],
            entities: vec!["city".into()],
            actions: vec!["action_lookup".into()],
            responses: vec![("utter_thanks".into(), "You're \"welcome\"".into())],
        };
        let changed = add_to_domain(&files, Path::new("domain/intents.yml"), &additions).unwrap();
        assert_eq!(changed.len(), 2);
        assert_eq!(
            changed[0].1,
            "version: \"3.1\"\n# intents\nintents:\n  - greet\n  - bye\n  - thank\nentities:\n- city\n"
        );
        assert_eq!(
            changed[1].1,
            "version: \"3.1\"\nresponses:\n  utter_greet:\n  - text: \"Hi!\"  # friendly\n  utter_thanks:\n  - text: \"You're \\\"welcome\\\"\"\nactions:\n- utter_greet\n- action_lookup\n"
        );
        for (path, text) in &changed {
            parse(path, text).unwrap();
        }
    }

    #[test]
    fn names_that_need_quotes_are_quoted() {
        assert_eq!(scalar("greet"), "greet");
        assert_eq!(scalar("yes"), "\"yes\"");
        assert_eq!(scalar("3.1"), "\"3.1\"");
        assert_eq!(scalar("a b"), "\"a b\"");
    }
}
