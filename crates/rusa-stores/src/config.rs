//! Reading the parameters of one endpoints.yml entry, with file:line in every error.

use rusa_project::EndpointConfig;

use crate::error::StoresError;

/// The parameters of an entry; `url` is read from [`EndpointConfig::url`].
pub(crate) struct Params<'a> {
    pub(crate) config: &'a EndpointConfig,
}

impl<'a> Params<'a> {
    pub(crate) fn new(config: &'a EndpointConfig) -> Self {
        Self { config }
    }

    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> StoresError {
        StoresError::InvalidValue {
            pos: self.config.pos_of(key).clone(),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    /// A parameter as text; empty text counts as absent.
    pub(crate) fn str(&self, key: &str) -> Option<String> {
        let value = if key == "url" {
            self.config.url.clone()
        } else {
            self.config.param_str(key)
        };
        value.filter(|v| !v.is_empty())
    }

    pub(crate) fn port(&self, key: &str) -> Result<Option<u16>, StoresError> {
        self.number::<u16>(key, "must be a port number (1-65535)")
            .and_then(|p| match p {
                Some(0) => Err(self.invalid(key, "must be a port number (1-65535)")),
                other => Ok(other),
            })
    }

    pub(crate) fn number<T: std::str::FromStr>(
        &self,
        key: &str,
        message: &str,
    ) -> Result<Option<T>, StoresError> {
        match self.str(key) {
            None => Ok(None),
            Some(text) => match text.trim().parse::<T>() {
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(self.invalid(key, format!("{message}, not '{text}'"))),
            },
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, StoresError> {
        match self
            .str(key)
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(None),
            Some("true" | "yes" | "on" | "1") => Ok(Some(true)),
            Some("false" | "no" | "off" | "0") => Ok(Some(false)),
            Some(other) => Err(self.invalid(key, format!("must be true or false, not '{other}'"))),
        }
    }

    /// A list of names; a single name counts as a list of one.
    pub(crate) fn list(&self, key: &str) -> Result<Option<Vec<String>>, StoresError> {
        match self.config.params.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    serde_json::Value::String(s) if !s.is_empty() => Ok(s.clone()),
                    _ => Err(self.invalid(key, "must be a list of names")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(vec![s.clone()])),
            Some(_) => Err(self.invalid(key, "must be a list of names")),
        }
    }

    /// A map of text values (`query`).
    pub(crate) fn map(&self, key: &str) -> Result<Vec<(String, String)>, StoresError> {
        match self.config.params.get(key) {
            None | Some(serde_json::Value::Null) => Ok(Vec::new()),
            Some(serde_json::Value::Object(map)) => Ok(map
                .iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), text)
                })
                .collect()),
            Some(_) => Err(self.invalid(key, "must be a mapping of names to values")),
        }
    }
}
