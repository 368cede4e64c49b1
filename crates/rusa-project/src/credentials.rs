//! credentials.yml: which channels the server opens, with their settings.

use indexmap::IndexMap;

use crate::error::{Diagnostic, Pos, did_you_mean};
use crate::reader::{Reader, Result};
use crate::yaml::Document;

/// Channels rusa serves.
pub const SUPPORTED_CHANNELS: &[&str] = &["rest", "callback"];

/// Channels of Rasa that rusa does not serve: a project that lists them still loads, with a
/// warning, so that the same credentials.yml works for both.
pub const RASA_ONLY_CHANNELS: &[&str] = &[
    "rasa",
    "socketio",
    "facebook",
    "slack",
    "telegram",
    "twilio",
    "twilio_voice",
    "mattermost",
    "rocketchat",
    "botframework",
    "webexteams",
    "hangouts",
    "audiocodes",
    "audiocodes_voice",
    "cmdline",
];

/// The channels of the credentials file that rusa serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Credentials {
    pub channels: IndexMap<String, Channel>,
}

/// One channel's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub params: serde_json::Map<String, serde_json::Value>,
    pub pos: Pos,
}

impl Credentials {
    pub(crate) fn read(doc: &Document, warnings: &mut Vec<Diagnostic>) -> Result<Self> {
        let mut r = Reader::new(doc, warnings);
        let mut credentials = Self::default();
        let Some(root) = doc.root.as_ref() else {
            return Ok(credentials);
        };
        for (key, value) in r.map(root, "the credentials file")? {
            let name = r.name(key, "a channel name")?;
            if RASA_ONLY_CHANNELS.contains(&name.as_str()) {
                r.warn(
                    key,
                    format!(
                        "rusa does not serve the '{name}' channel; it is skipped (rusa serves: {})",
                        SUPPORTED_CHANNELS.join(", ")
                    ),
                );
                continue;
            }
            if name.contains('.') {
                r.warn(key, format!("'{name}' is a custom channel class of a Python project, which rusa cannot load; it is skipped"));
                continue;
            }
            if !SUPPORTED_CHANNELS.contains(&name.as_str()) {
                let suggestion = did_you_mean(
                    &name,
                    SUPPORTED_CHANNELS.iter().chain(RASA_ONLY_CHANNELS).copied(),
                )
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
                return Err(r.err_hint(
                    key,
                    format!("unknown channel '{name}'{suggestion}"),
                    format!(
                        "rusa serves the channels: {}",
                        SUPPORTED_CHANNELS.join(", ")
                    ),
                ));
            }
            let params = match value.to_json() {
                serde_json::Value::Object(map) => map,
                serde_json::Value::Null => serde_json::Map::new(),
                _ => {
                    return Err(r.err(
                        value,
                        format!("the settings of channel '{name}' must be a mapping"),
                    ));
                }
            };
            credentials.channels.insert(
                name,
                Channel {
                    params,
                    pos: r.pos(key),
                },
            );
        }
        Ok(credentials)
    }
}
