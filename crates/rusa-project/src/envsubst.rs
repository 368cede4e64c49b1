//! `${VAR}` references in configuration values, replaced by the environment's values.
//!
//! As in Rasa, a string value may contain `${NAME}` anywhere; an unset variable is an error
//! naming the file, line and variable. Applied to config.yml, endpoints.yml and
//! credentials.yml (not to training data, whose text is the user's own).

use crate::error::ProjectError;
use crate::yaml::{Document, Value};

/// Replaces every `${NAME}` in the string values of `doc`, reading variables with `lookup`.
pub(crate) fn substitute(
    doc: &mut Document,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ProjectError> {
    let path = doc.path.clone();
    let Some(root) = doc.root.as_mut() else {
        return Ok(());
    };
    root.walk_mut(&mut |node| {
        let Value::Str(text) = &node.value else {
            return Ok(());
        };
        if !text.contains("${") {
            return Ok(());
        }
        let replaced = expand(text, lookup).map_err(|missing| ProjectError::Invalid {
            pos: crate::error::Pos::new(path.clone(), node.line, node.column),
            message: format!("environment variable '{missing}' is not set"),
            hint: Some(format!(
                "set {missing}, or write the value into the file instead of ${{{missing}}}"
            )),
        })?;
        node.value = Value::Str(replaced);
        Ok(())
    })
}

/// Expands `${NAME}` references; `Err(name)` for the first unset variable.
fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    // Not a variable reference: keep it as written.
                    out.push_str(&rest[start..start + 2 + end + 1]);
                } else {
                    out.push_str(&lookup(name).ok_or_else(|| name.to_owned())?);
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.local".into()),
            "PORT" => Some("5432".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_references_anywhere_in_a_value() {
        assert_eq!(
            expand("postgresql://${HOST}:${PORT}/x", &env).unwrap(),
            "postgresql://db.local:5432/x"
        );
        assert_eq!(expand("no refs", &env).unwrap(), "no refs");
        assert_eq!(expand("${ not a var }", &env).unwrap(), "${ not a var }");
        assert_eq!(expand("open ${HOST", &env).unwrap(), "open ${HOST");
    }

    #[test]
    fn unset_variables_are_named() {
        assert_eq!(expand("${MISSING}", &env).unwrap_err(), "MISSING");
    }
}
