//! Helpers for walking a [`Document`] into typed structures with positioned errors.

use crate::error::{Diagnostic, Pos, ProjectError, did_you_mean};
use crate::yaml::{Document, Node, Value};

/// Reads one document; collects warnings as it goes.
pub(crate) struct Reader<'a> {
    pub doc: &'a Document,
    pub warnings: &'a mut Vec<Diagnostic>,
}

pub(crate) type Result<T> = std::result::Result<T, ProjectError>;

impl<'a> Reader<'a> {
    pub fn new(doc: &'a Document, warnings: &'a mut Vec<Diagnostic>) -> Self {
        Self { doc, warnings }
    }

    pub fn pos(&self, node: &Node) -> Pos {
        self.doc.pos(node)
    }

    pub fn err(&self, node: &Node, message: impl Into<String>) -> ProjectError {
        ProjectError::invalid(self.pos(node), message)
    }

    pub fn err_hint(
        &self,
        node: &Node,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> ProjectError {
        ProjectError::Invalid {
            pos: self.pos(node),
            message: message.into(),
            hint: Some(hint.into()),
        }
    }

    pub fn warn(&mut self, node: &Node, message: impl Into<String>) {
        let pos = self.pos(node);
        self.warnings.push(Diagnostic::warning(pos, message));
    }

    /// A mapping; `what` names the thing in the message ("the slot 'x'").
    pub fn map<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [(Node, Node)]> {
        node.as_map().ok_or_else(|| {
            self.err(
                node,
                format!("{what} must be a mapping, found {}", node.type_name()),
            )
        })
    }

    /// A mapping, or nothing for an empty value.
    pub fn map_or_empty<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [(Node, Node)]> {
        if node.is_null() {
            Ok(&[])
        } else {
            self.map(node, what)
        }
    }

    /// A list, or nothing for an empty value.
    pub fn seq<'n>(&self, node: &'n Node, what: &str) -> Result<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            Value::Null => Ok(&[]),
            _ => Err(self.err(
                node,
                format!("{what} must be a list, found {}", node.type_name()),
            )),
        }
    }

    /// A scalar, as text (a name written as `3` or `true` is the name "3" or "true").
    pub fn text(&self, node: &Node, what: &str) -> Result<String> {
        node.scalar_text().ok_or_else(|| {
            self.err(
                node,
                format!("{what} must be a string, found {}", node.type_name()),
            )
        })
    }

    /// A non-empty name.
    pub fn name(&self, node: &Node, what: &str) -> Result<String> {
        let text = self.text(node, what)?;
        if text.trim().is_empty() {
            return Err(self.err(node, format!("{what} must not be empty")));
        }
        Ok(text.trim().to_owned())
    }

    pub fn bool(&self, node: &Node, what: &str) -> Result<bool> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            // Rasa's YAML 1.1 loader reads these as booleans too; accept them, spelled any case.
            Value::Str(s) if s.eq_ignore_ascii_case("true") => Ok(true),
            Value::Str(s) if s.eq_ignore_ascii_case("false") => Ok(false),
            _ => Err(self.err(
                node,
                format!("{what} must be true or false, found {}", describe(node)),
            )),
        }
    }

    pub fn number(&self, node: &Node, what: &str) -> Result<f64> {
        match &node.value {
            Value::Int(i) => Ok(*i as f64),
            Value::Float(f) => Ok(*f),
            Value::Str(s) => s
                .trim()
                .parse::<f64>()
                .map_err(|_| self.err(node, format!("{what} must be a number, found '{s}'"))),
            _ => Err(self.err(
                node,
                format!("{what} must be a number, found {}", node.type_name()),
            )),
        }
    }

    /// A string or a list of strings (`intent: greet` or `intent: [greet, hello]`).
    pub fn names(&self, node: &Node, what: &str) -> Result<Vec<String>> {
        match &node.value {
            Value::Seq(items) => items.iter().map(|n| self.name(n, what)).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Ok(vec![self.name(node, what)?]),
        }
    }

    /// Warns about each key of `entries` that is not in `known`, suggesting the closest.
    pub fn check_keys(&mut self, entries: &[(Node, Node)], known: &[&str], context: &str) {
        for (key, _) in entries {
            let Some(name) = key.scalar_text() else {
                self.warn(
                    key,
                    format!("unexpected {} as a key in {context}", key.type_name()),
                );
                continue;
            };
            if known.contains(&name.as_str()) {
                continue;
            }
            let message = match did_you_mean(&name, known.iter().copied()) {
                Some(suggestion) => {
                    format!(
                        "unknown key '{name}' in {context} (did you mean '{suggestion}'?); it is ignored"
                    )
                }
                None => format!("unknown key '{name}' in {context}; it is ignored"),
            };
            self.warn(key, message);
        }
    }
}

/// Key of a one-entry mapping or the text of a scalar, for items like `- greet` or
/// `- greet: {use_entities: []}`.
pub(crate) fn single_key(node: &Node) -> Option<(&Node, Option<&Node>)> {
    match &node.value {
        Value::Map(entries) if entries.len() == 1 => Some((&entries[0].0, Some(&entries[0].1))),
        Value::Str(_) | Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some((node, None)),
        _ => None,
    }
}

/// A value for a message: the text of a scalar, else its type.
pub(crate) fn describe(node: &Node) -> String {
    match node.scalar_text() {
        Some(t) => format!("'{t}'"),
        None => node.type_name().to_owned(),
    }
}
