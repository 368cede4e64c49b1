//! [`LazyJson`]: a JSON value kept as the text it was read from until something looks
//! into it.
//!
//! A user message's `parse_data` (intent ranking, tokens, entities) is the largest part of
//! a stored conversation, and a turn reads it for at most the last few messages. Reading a
//! conversation from a store therefore keeps each `parse_data` as its JSON text (one
//! allocation instead of a tree of maps), and parses it on first use. Copies share both
//! the text and the parsed value.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON value, parsed from its text on first use. It reads as a [`Value`] through
/// `Deref`; [`LazyJson::to_mut`] gives a private, changeable copy.
#[derive(Clone)]
pub struct LazyJson(Arc<Inner>);

struct Inner {
    /// The JSON text it was read from (`None` when built from a value or changed since).
    text: Option<Box<RawValue>>,
    value: OnceLock<Value>,
}

impl LazyJson {
    pub fn new(value: Value) -> Self {
        Self(Arc::new(Inner {
            text: None,
            value: OnceLock::from(value),
        }))
    }

    /// The value (parsed now if it was not yet).
    pub fn value(&self) -> &Value {
        self.0.value.get_or_init(|| match &self.0.text {
            // The text was checked to be JSON when it was read; only a nesting deeper
            // than serde_json allows could fail here.
            Some(text) => serde_json::from_str(text.get()).unwrap_or(Value::Null),
            None => Value::Null,
        })
    }

    /// The value, to change: copied first if shared, and no longer tied to its text.
    pub fn to_mut(&mut self) -> &mut Value {
        let owned = Arc::get_mut(&mut self.0)
            .is_some_and(|inner| inner.text.is_none() && inner.value.get().is_some());
        if !owned {
            let value = self.value().clone();
            self.0 = Arc::new(Inner {
                text: None,
                value: OnceLock::from(value),
            });
        }
        match Arc::get_mut(&mut self.0).and_then(|inner| inner.value.get_mut()) {
            Some(value) => value,
            None => unreachable!("an unshared LazyJson that holds its value"),
        }
    }

    /// Whether the value has been parsed (or never was text).
    pub fn is_parsed(&self) -> bool {
        self.0.value.get().is_some()
    }

    /// The JSON text it was read from, while it has not been parsed.
    pub fn unparsed_text(&self) -> Option<&str> {
        match (self.0.value.get(), &self.0.text) {
            (None, Some(text)) => Some(text.get()),
            _ => None,
        }
    }
}

impl Deref for LazyJson {
    type Target = Value;
    fn deref(&self) -> &Value {
        self.value()
    }
}

impl From<Value> for LazyJson {
    fn from(value: Value) -> Self {
        Self::new(value)
    }
}

impl Default for LazyJson {
    fn default() -> Self {
        Self::new(Value::Null)
    }
}

impl PartialEq for LazyJson {
    fn eq(&self, other: &Self) -> bool {
        self.value() == other.value()
    }
}

impl fmt::Debug for LazyJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value().fmt(f)
    }
}

impl Serialize for LazyJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.0.value.get(), &self.0.text) {
            (Some(value), _) => value.serialize(serializer),
            // Written as read, without parsing (events are only ever written as JSON).
            (None, Some(text)) => text.serialize(serializer),
            (None, None) => Value::Null.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LazyJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Box::<RawValue>::deserialize(deserializer)?;
        Ok(Self(Arc::new(Inner {
            text: Some(text),
            value: OnceLock::new(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const TEXT: &str =
        r#"{"intent":{"name":"greet","confidence":1.5115648466235146e-7},"x":[1,{"y":null}]}"#;

    #[test]
    fn text_is_parsed_only_when_read_and_written_back_as_read() {
        let lazy: LazyJson = serde_json::from_str(TEXT).unwrap();
        assert!(!lazy.is_parsed());
        assert_eq!(serde_json::to_string(&lazy).unwrap(), TEXT);
        assert!(!lazy.is_parsed(), "writing does not parse");
        assert_eq!(lazy["intent"]["name"], "greet");
        assert!(lazy.is_parsed());
        assert_eq!(serde_json::to_string(&lazy).unwrap(), TEXT);
        // Into a Value and from one, numbers exactly as written.
        let value = serde_json::to_value(&lazy).unwrap();
        assert_eq!(
            value["intent"]["confidence"].to_string(),
            "1.5115648466235146e-7"
        );
        let again: LazyJson = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(again.value(), &value);
    }

    #[test]
    fn a_changed_copy_leaves_the_original_alone() {
        let original: LazyJson = serde_json::from_str(TEXT).unwrap();
        let mut copy = original.clone();
        copy.to_mut()["intent"]["name"] = json!("bye");
        assert_eq!(original["intent"]["name"], "greet");
        assert_eq!(copy["intent"]["name"], "bye");
        assert_eq!(
            serde_json::to_value(&copy).unwrap()["intent"]["name"],
            "bye",
            "a change is written, not the text it was read from"
        );
        assert_ne!(original, copy);
        let mut unshared = LazyJson::new(json!({"a": 1}));
        unshared.to_mut()["a"] = json!(2);
        assert_eq!(unshared, LazyJson::new(json!({"a": 2})));
    }

    #[test]
    fn null_and_scalars() {
        let null: LazyJson = serde_json::from_str("null").unwrap();
        assert!(null.is_null());
        assert_eq!(LazyJson::default(), null);
        assert!(serde_json::from_str::<LazyJson>("{").is_err());
    }
}
