//! Reading component parameters from config.yml with their Rasa names and defaults.

use serde_json::{Map, Value};

use crate::error::{NluError, Result};

/// The parameters of one component, with the component's name for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params<'a> {
    pub(crate) component: &'a str,
    pub(crate) map: &'a Map<String, Value>,
}

impl<'a> Params<'a> {
    pub(crate) fn new(component: &'a str, map: &'a Map<String, Value>) -> Self {
        Self { component, map }
    }

    fn err(&self, param: &str, message: impl Into<String>) -> NluError {
        NluError::Param {
            component: self.component.to_owned(),
            param: param.to_owned(),
            message: message.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub(crate) fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|f| f.is_finite())
                .ok_or_else(|| self.err(key, format!("must be a number, found {v}"))),
        }
    }

    pub(crate) fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| self.err(key, format!("must be a non-negative integer, found {v}"))),
        }
    }

    pub(crate) fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a non-negative integer, found {v}"))),
        }
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(self.err(key, format!("must be true or false, found {v}"))),
        }
    }

    pub(crate) fn opt_str(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(key, format!("must be a string, found {v}"))),
        }
    }

    pub(crate) fn str(&self, key: &str, default: &str) -> Result<String> {
        Ok(self.opt_str(key)?.unwrap_or_else(|| default.to_owned()))
    }

    pub(crate) fn str_list(&self, key: &str) -> Result<Vec<String>> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_str().map(str::to_owned).ok_or_else(|| {
                        self.err(key, format!("must be a list of strings, found {i}"))
                    })
                })
                .collect(),
            Some(v) => Err(self.err(key, format!("must be a list of strings, found {v}"))),
        }
    }

    /// An error about `key` with `message`.
    pub(crate) fn invalid(&self, key: &str, message: impl Into<String>) -> NluError {
        self.err(key, message)
    }
}
