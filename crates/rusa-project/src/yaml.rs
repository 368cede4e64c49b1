//! A YAML document as a tree of nodes that know where they stand in their file.
//!
//! Rasa's formats are polymorphic (an intent is a string or a one-key mapping, examples are a
//! block string or a list, ...), and every message we print must name file, line and column.
//! So each file is parsed once with serde-saphyr (YAML 1.2, strict booleans: `yes` stays the
//! string "yes") into [`Node`]s, and the typed readers walk the tree.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{Pos, ProjectError};

/// One YAML node and the place it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: u32,
    pub column: u32,
}

/// The value of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's type, for messages: "a string", "a list", ...
    pub fn type_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "empty",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// The scalar as text, the way a name written without quotes is meant: `3.1` → "3.1",
    /// `true` → "true". `None` for collections and null.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(format_float(*f)),
            _ => None,
        }
    }

    /// Looks a key up in a mapping node.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// Converts the node to JSON (for free-form values such as component parameters,
    /// custom payloads and slot values).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect())
            }
            Value::Map(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Visits every node of the tree, this one first.
    pub fn walk_mut(
        &mut self,
        f: &mut dyn FnMut(&mut Node) -> Result<(), ProjectError>,
    ) -> Result<(), ProjectError> {
        f(self)?;
        match &mut self.value {
            Value::Seq(items) => {
                for item in items {
                    item.walk_mut(f)?;
                }
            }
            Value::Map(entries) => {
                for (_, v) in entries {
                    v.walk_mut(f)?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        f.to_string()
    }
}

/// A parsed file: its path (shared by all positions into it), its text and its root node.
#[derive(Debug, Clone)]
pub struct Document {
    pub path: Arc<Path>,
    pub text: Arc<str>,
    /// `None` for an empty document (only comments, or nothing).
    pub root: Option<Node>,
    /// The indentation of each line, computed on first use (a large NLU file asks for the
    /// indentation of every example's line; finding a line by walking the text from its
    /// start each time made reading HWU64's 10,000 examples take seconds).
    indents: std::sync::OnceLock<Vec<u32>>,
}

impl Document {
    /// The position of a node of this document.
    pub fn pos(&self, node: &Node) -> Pos {
        Pos::new(self.path.clone(), node.line, node.column)
    }

    /// The position of the start of the file.
    pub fn start(&self) -> Pos {
        Pos::new(self.path.clone(), 1, 1)
    }

    /// The number of leading spaces of a 1-based line of the file.
    pub fn indent_of(&self, line: u32) -> u32 {
        let indents = self.indents.get_or_init(|| {
            self.text
                .lines()
                .map(|l| (l.len() - l.trim_start().len()) as u32)
                .collect()
        });
        indents
            .get(line.saturating_sub(1) as usize)
            .copied()
            .unwrap_or(0)
    }
}

/// How many lines of quoted scalars one file may have re-indented before its error is
/// reported (each costs one more parse).
const MAX_QUOTED_SCALAR_FIXES: usize = 256;

/// Parses YAML text. Errors carry the file, line and column of the problem.
///
/// The text is read as Rasa's reader (ruamel.yaml) reads it where the YAML library here is
/// stricter: a quoted scalar whose continuation lines are indented no deeper than its key
/// (`- text: "Hello\n  there"`, common in Rasa's own projects) is accepted. Leading white
/// space of a quoted scalar's continuation line is never part of its value, so such a line is
/// indented further and the text parsed again; its value and every node's position stay the
/// same.
pub fn parse(path: Arc<Path>, text: &str) -> Result<Document, ProjectError> {
    // A BOM or only comments: serde-saphyr answers an empty document with Null.
    let text_no_bom = text.strip_prefix('\u{feff}').unwrap_or(text);
    let root: Option<Node> = if text_no_bom.trim().is_empty() {
        None
    } else {
        let mut lenient: Option<Vec<String>> = None;
        let mut fixes = 0;
        loop {
            let joined;
            let source = match &lenient {
                Some(lines) => {
                    joined = lines.join("\n");
                    joined.as_str()
                }
                None => text_no_bom,
            };
            match parse_root(source) {
                Ok(node) => break node,
                Err(err) => {
                    let (line, column) = err
                        .location()
                        .map(|l| (l.line() as u32, l.column() as u32))
                        .unwrap_or((0, 0));
                    let inner = err.without_snippet();
                    if inner.to_string().contains(QUOTED_SCALAR_INDENT)
                        && fixes < MAX_QUOTED_SCALAR_FIXES
                        && line >= 1
                    {
                        let lines = lenient.get_or_insert_with(|| {
                            text_no_bom.split('\n').map(str::to_owned).collect()
                        });
                        if let Some(l) = lines.get_mut(line as usize - 1) {
                            l.insert(0, ' ');
                            fixes += 1;
                            continue;
                        }
                    }
                    let (line, column, message) = user_message(text_no_bom, inner, line, column);
                    return Err(ProjectError::Yaml {
                        pos: Pos::new(path, line.max(1), column.max(1)),
                        message,
                    });
                }
            }
        }
    };
    Ok(Document {
        path,
        text: Arc::from(text),
        root,
        indents: std::sync::OnceLock::new(),
    })
}

/// The parser's message for a quoted scalar's continuation line indented too little.
const QUOTED_SCALAR_INDENT: &str = "invalid indentation in multiline quoted scalar";

/// The deepest nesting of lists and mappings a file may have. Rasa's formats need about ten
/// levels; the tree is built recursively, so the limit is what keeps a hostile file (a
/// request body of `POST /model/test/stories`, say) from exhausting a server thread's stack:
/// a document at this depth parses on a 1 MiB stack in a debug build (tested below).
pub const MAX_DEPTH: usize = 24;

fn parse_root(text: &str) -> Result<Option<Node>, serde_saphyr::Error> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
        },
    };
    let node = serde_saphyr::from_str_with_options::<Node>(text, options)?;
    Ok((!node.is_null()).then_some(node))
}

/// The message for a YAML error in the words of someone writing a Rasa file, and the place
/// of the mistake (which is not always where the parser stumbled).
fn user_message(
    text: &str,
    err: &serde_saphyr::Error,
    line: u32,
    column: u32,
) -> (u32, u32, String) {
    if let serde_saphyr::Error::DuplicateMappingKey { key, .. } = err {
        let message = match key {
            Some(k) => format!(
                "the key '{k}' is written twice in the same mapping; keep one (Rasa refuses duplicate keys too)"
            ),
            None => "a key is written twice in the same mapping; keep one (Rasa refuses duplicate keys too)".to_owned(),
        };
        return (line, column, message);
    }
    let message = yaml_message(err);
    if matches!(err, serde_saphyr::Error::Budget { .. })
        || message.contains("recursion limit")
        || message.contains("nesting limit")
    {
        return (
            line,
            column,
            format!(
                "lists and mappings are nested deeper than {MAX_DEPTH} levels here; Rasa's files need far fewer"
            ),
        );
    }
    if message.starts_with("mapping values are not allowed") {
        // `city\n    type: text`: the ':' of the next line is where the parser stops, but the
        // mistake is the missing ':' at the end of the line before.
        if let Some((prev_line, prev_text)) = previous_content_line(text, line) {
            let trimmed = prev_text.trim_end();
            let body = trimmed.trim_start().trim_start_matches("- ");
            if !body.is_empty() && !body.contains(':') && !body.starts_with('#') {
                return (
                    prev_line,
                    trimmed.chars().count() as u32 + 1,
                    format!(
                        "a ':' is missing after '{}' (the line below is indented as its value)",
                        body.trim()
                    ),
                );
            }
        }
        return (
            line,
            column,
            "a ':' is not allowed here; is the line indented too far, or does a value with ': ' in it need quotes?".to_owned(),
        );
    }
    (line, column, message)
}

/// The last line before the 1-based `line` that is neither blank nor only a comment.
fn previous_content_line(text: &str, line: u32) -> Option<(u32, &str)> {
    let lines: Vec<&str> = text.split('\n').collect();
    (1..line)
        .rev()
        .map(|n| (n, lines.get(n as usize - 1).copied().unwrap_or_default()))
        .find(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
}

/// serde-saphyr's message without its own location suffix (we print the location first).
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let full = err.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML").trim();
    // Drop a trailing " at line X, column Y" the library may append.
    let trimmed = match first.rfind(" at line ") {
        Some(i) => &first[..i],
        None => first,
    };
    let trimmed = trimmed.trim_end_matches(['.', ':']).trim();
    if trimmed.is_empty() {
        "invalid YAML".to_owned()
    } else {
        lower_first(trimmed)
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_uppercase() && !chars.clone().next().is_some_and(char::is_uppercase) => {
            c.to_lowercase().chain(chars).collect()
        }
        _ => s.to_owned(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            line: spanned.referenced.line() as u32,
            column: spanned.referenced.column() as u32,
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Str(String::from_utf8_lossy(v).into_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = map.next_entry::<Node, Node>()? {
            entries.push((k, v));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Document {
        parse(Arc::from(Path::new("t.yml")), text).unwrap()
    }

    /// A document whose lists or mappings nest `depth` deep: flow lists, flow mappings and
    /// block mappings.
    fn nested(depth: usize) -> [String; 3] {
        let block: String = (0..depth)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .chain([format!("{}v: 1\n", "  ".repeat(depth))])
            .collect();
        [
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth)),
            format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
            block,
        ]
    }

    #[test]
    fn nesting_at_the_limit_parses_on_a_small_stack_and_deeper_is_refused() {
        let parses = |text: &str| parse(Arc::from(Path::new("t.yml")), text);
        let small_stack = std::thread::Builder::new().stack_size(1 << 20);
        let outcome = small_stack
            .spawn(move || {
                for text in nested(MAX_DEPTH - 1) {
                    assert!(parses(&text).is_ok(), "{text}");
                }
                let hostile = [
                    format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
                    format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)),
                ];
                for text in nested(MAX_DEPTH + 1).into_iter().chain(hostile) {
                    let err = parses(&text).unwrap_err();
                    assert!(err.to_string().contains("nested deeper than"), "{err}");
                }
            })
            .unwrap()
            .join();
        assert!(outcome.is_ok());
    }

    #[test]
    fn nodes_know_their_line_and_column() {
        let d = doc("version: \"3.1\"\nintents:\n  - greet\n  - yes\n");
        let root = d.root.unwrap();
        let intents = root.get("intents").unwrap().as_seq().unwrap();
        assert_eq!(intents[0].as_str(), Some("greet"));
        assert_eq!((intents[0].line, intents[0].column), (3, 5));
        // Strict booleans: `yes` is a string, as in YAML 1.2.
        assert_eq!(intents[1].as_str(), Some("yes"));
        let key = &root.as_map().unwrap()[1].0;
        assert_eq!((key.line, key.column), (2, 1));
    }

    #[test]
    fn block_scalars_are_recognised() {
        let d = doc("nlu:\n- intent: a\n  examples: |\n    - one\n    - two\n");
        let root = d.root.as_ref().unwrap();
        let item = &root.get("nlu").unwrap().as_seq().unwrap()[0];
        let examples = item.get("examples").unwrap();
        assert_eq!(examples.as_str(), Some("- one\n- two\n"));
        // A block scalar's position is where its content starts.
        assert_eq!((examples.line, examples.column), (4, 5));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse(Arc::from(Path::new("bad.yml")), "a: [1, 2\nb: c\n").unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("bad.yml:"), "{text}");
    }

    #[test]
    fn quoted_scalars_continued_at_the_key_indentation_are_read_as_rasa_reads_them() {
        // Rasa's demo writes response texts this way; ruamel.yaml reads them.
        let d = doc(
            "responses:\n  utter_x:\n  - text: \"Hello there,\n    how are\n  you?\"\n    image: a.png\n",
        );
        let root = d.root.unwrap();
        let variation = &root
            .get("responses")
            .unwrap()
            .get("utter_x")
            .unwrap()
            .as_seq()
            .unwrap()[0];
        assert_eq!(
            variation.get("text").unwrap().as_str(),
            Some("Hello there, how are you?")
        );
        let image = variation.get("image").unwrap();
        assert_eq!((image.line, image.column), (6, 12));
        // The document keeps the text as written.
        assert!(d.text.contains("\n  you?"));
    }

    #[test]
    fn a_missing_colon_is_reported_on_its_own_line() {
        let err = parse(
            Arc::from(Path::new("d.yml")),
            "slots:\n  city\n    type: text\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.yml:2:7: a ':' is missing after 'city' (the line below is indented as its value)"
        );
    }

    #[test]
    fn a_duplicate_key_speaks_of_the_file_not_the_library() {
        let err = parse(
            Arc::from(Path::new("d.yml")),
            "intents:\n- a\nintents:\n- b\n",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("the key 'intents' is written twice"),
            "{text}"
        );
        assert!(!text.contains("DuplicateKeyPolicy"), "{text}");
    }

    #[test]
    fn empty_documents_have_no_root() {
        assert!(doc("# only a comment\n").root.is_none());
        assert!(doc("").root.is_none());
    }

    #[test]
    fn numbers_and_nulls() {
        let d = doc("a: 3.1\nb: 7\nc: ~\nd: true\n");
        let root = d.root.unwrap();
        assert_eq!(root.get("a").unwrap().scalar_text().as_deref(), Some("3.1"));
        assert_eq!(root.get("b").unwrap().value, Value::Int(7));
        assert!(root.get("c").unwrap().is_null());
        assert_eq!(root.get("d").unwrap().value, Value::Bool(true));
    }
}
