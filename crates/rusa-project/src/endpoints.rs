//! endpoints.yml: the services an assistant talks to, and tracing.

use indexmap::IndexMap;

use crate::error::{Diagnostic, Pos};
use crate::reader::{Reader, Result};
use crate::yaml::{Document, Node};

const KEYS: &[&str] = &[
    "action_endpoint",
    "tracker_store",
    "lock_store",
    "event_broker",
    "nlg",
    "nlu",
    "models",
    "tracing",
];

/// The endpoints file, after `${VAR}` substitution.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoints {
    pub action_endpoint: Option<EndpointConfig>,
    pub tracker_store: Option<EndpointConfig>,
    pub lock_store: Option<EndpointConfig>,
    pub event_broker: Option<EndpointConfig>,
    pub nlg: Option<EndpointConfig>,
    pub nlu: Option<EndpointConfig>,
    pub models: Option<EndpointConfig>,
    /// `None` when the key is absent or empty: tracing is off.
    pub tracing: Option<EndpointConfig>,
}

/// One entry of the endpoints file: its `type`, `url` and other parameters, each with the
/// place it was written so that later checks can name file, line and key.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub key_pos: IndexMap<String, Pos>,
    pub pos: Pos,
}

impl EndpointConfig {
    /// A parameter as text (numbers and booleans as written).
    pub fn param_str(&self, key: &str) -> Option<String> {
        match self.params.get(key)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Where `key` was written, else where the entry starts.
    pub fn pos_of(&self, key: &str) -> &Pos {
        self.key_pos.get(key).unwrap_or(&self.pos)
    }
}

impl Endpoints {
    pub(crate) fn read(doc: &Document, warnings: &mut Vec<Diagnostic>) -> Result<Self> {
        let mut r = Reader::new(doc, warnings);
        let mut endpoints = Self::default();
        let Some(root) = doc.root.as_ref() else {
            return Ok(endpoints);
        };
        let entries = r.map(root, "the endpoints file")?;
        r.check_keys(entries, KEYS, "the endpoints file");
        for (key, value) in entries {
            let name = key.scalar_text().unwrap_or_default();
            let slot = match name.as_str() {
                "action_endpoint" => &mut endpoints.action_endpoint,
                "tracker_store" => &mut endpoints.tracker_store,
                "lock_store" => &mut endpoints.lock_store,
                "event_broker" => &mut endpoints.event_broker,
                "nlg" => &mut endpoints.nlg,
                "nlu" => &mut endpoints.nlu,
                "models" => &mut endpoints.models,
                "tracing" => &mut endpoints.tracing,
                _ => continue,
            };
            *slot = read_endpoint(&r, key, value, &name)?;
        }
        Ok(endpoints)
    }
}

fn read_endpoint(
    r: &Reader<'_>,
    key: &Node,
    value: &Node,
    name: &str,
) -> Result<Option<EndpointConfig>> {
    if value.is_null() {
        return Ok(None);
    }
    let entries = r.map(value, &format!("'{name}'"))?;
    let mut config = EndpointConfig {
        kind: None,
        url: None,
        params: serde_json::Map::new(),
        key_pos: IndexMap::new(),
        pos: r.pos(key),
    };
    for (k, v) in entries {
        let k_name = r.text(k, "a key")?;
        config.key_pos.insert(k_name.clone(), r.pos(v));
        match k_name.as_str() {
            "type" if !v.is_null() => {
                config.kind = Some(r.name(v, &format!("the type of '{name}'"))?)
            }
            "url" if !v.is_null() => config.url = Some(r.text(v, &format!("the url of '{name}'"))?),
            _ => {
                config.params.insert(k_name, v.to_json());
            }
        }
    }
    Ok(Some(config))
}
