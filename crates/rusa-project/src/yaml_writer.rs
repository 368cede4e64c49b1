//! Writing YAML that Rasa and rusa read back unchanged: block style, keys in the order given,
//! strings quoted only where a plain scalar would be read as something else.
//!
//! The data tools (`data split`, `data convert`, `data migrate`) write project files with it.
//! It writes the subset of YAML a JSON value needs (mappings, lists, strings, numbers,
//! booleans, null); a string that needs quotes is written in JSON's double-quoted form,
//! which is also a valid YAML double-quoted scalar.

use std::fmt::Write as _;

use serde_json::Value;

/// The `version` rusa writes into the files it creates: Rasa 3's latest training data format.
pub const TRAINING_DATA_FORMAT_VERSION: &str = "3.1";

/// A whole document: `value` (usually a mapping) in block style, ending in a newline.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
    out
}

/// A string as a YAML scalar: plain when that reads back as the same string, else
/// double-quoted.
pub fn scalar(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
}

/// A string in double quotes (JSON escaping, which YAML reads the same way).
pub fn quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// A value on one line: scalars as [`scalar`], collections in flow style (`[a, b]`,
/// `{k: v}`), for short nested values such as `conditions`.
pub fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Object(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", scalar(k), inline(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&scalar(key));
        out.push(':');
        write_value_after_key(out, value, indent);
    }
}

/// Writes what follows `key:` (or `- `) on the same line and the lines below it.
fn write_value_after_key(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            // Lists under a key are indented by two, as Rasa's files are.
            write_seq(out, items, indent + 2);
        }
        Value::String(s) if s.contains('\n') && is_block_safe(s) => {
            write_literal(out, s, indent + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&inline(other));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key on the dash's line, the others aligned under it.
                let mut first = true;
                for (key, value) in map {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        out.push_str(&" ".repeat(indent + 2));
                    }
                    out.push_str(&scalar(key));
                    out.push(':');
                    write_value_after_key(out, value, indent + 2);
                }
            }
            // Anything else follows the dash as it would follow a key.
            other => write_value_after_key(out, other, indent),
        }
    }
}

/// ` |` (or `|-`) and the text's lines, indented.
fn write_literal(out: &mut String, s: &str, indent: usize) {
    let (body, chomp) = match s.strip_suffix('\n') {
        Some(body) if !body.ends_with('\n') => (body, ""),
        _ => (s, "-"),
    };
    let _ = writeln!(out, " |{chomp}");
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// Whether a multi-line string survives a literal block: no leading space on its first line
/// (that would change the block's indentation), no trailing blank lines, no tabs or control
/// characters.
fn is_block_safe(s: &str) -> bool {
    !s.starts_with([' ', '\n'])
        && !s.trim_end_matches('\n').is_empty()
        && !s.ends_with("\n\n")
        && !s.chars().any(|c| c.is_control() && c != '\n')
        && !s.lines().any(|l| l.ends_with(' '))
}

/// Whether `s` written without quotes reads back as the same string in YAML 1.1 and 1.2
/// (Rasa reads 1.2 with ruamel; a plain `yes` or `1.0` would change type somewhere).
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.trim() != s || s.contains(['\n', '\t', '\r']) {
        return false;
    }
    // Indicators that start something else.
    if "-?:,[]{}#&*!|>'\"%@`~=".contains(first) {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.ends_with(':') {
        return false;
    }
    if s.chars().any(|c| c.is_control() || c == '\u{feff}') {
        return false;
    }
    let lower = s.to_ascii_lowercase();
    const SPECIAL: &[&str] = &[
        "true", "false", "yes", "no", "on", "off", "y", "n", "null", "~", ".nan", ".inf", "-.inf",
        "+.inf",
    ];
    if SPECIAL.contains(&lower.as_str()) {
        return false;
    }
    // Anything that may read as a number, a date or a sexagesimal stays a string only when
    // quoted.
    let second = s.chars().nth(1);
    if first.is_ascii_digit()
        || (matches!(first, '+' | '.') && second.is_some_and(|c| c.is_ascii_digit()))
    {
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn round_trip(value: &Value) -> Value {
        let text = to_yaml(value);
        let doc = crate::yaml::parse(Arc::from(Path::new("t.yml")), &text)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        doc.root.map(|r| r.to_json()).unwrap_or(Value::Null)
    }

    #[test]
    fn block_style_with_rasa_indentation() {
        let value = json!({
            "version": "3.1",
            "slots": {"city": {"type": "text", "mappings": [{"type": "from_entity", "entity": "city", "conditions": [{"active_loop": "f"}]}]}},
            "forms": {"f": {"required_slots": ["city"]}},
            "empty": [],
        });
        let text = to_yaml(&value);
        assert_eq!(
            text,
            "version: \"3.1\"\nslots:\n  city:\n    type: text\n    mappings:\n      - type: from_entity\n        entity: city\n        conditions:\n          - active_loop: f\nforms:\n  f:\n    required_slots:\n      - city\nempty: []\n"
        );
        assert_eq!(round_trip(&value), value);
    }

    #[test]
    fn strings_that_would_change_type_are_quoted() {
        for s in [
            "yes", "No", "1.0", "3.1", "12", "null", "~", "- a", "a: b", "#x", "", " x", "@sys",
            "0x1F", "1e5",
        ] {
            assert!(scalar(s).starts_with('"'), "{s}");
            let v = json!({ "k": s });
            assert_eq!(round_trip(&v), v, "{s}");
        }
        assert_eq!(scalar("utter_greet"), "utter_greet");
        assert_eq!(scalar("how are you?"), "how are you?");
    }

    #[test]
    fn multi_line_strings_use_literal_blocks() {
        let v = json!({"examples": "- hi\n- hello\n"});
        assert_eq!(to_yaml(&v), "examples: |\n  - hi\n  - hello\n");
        assert_eq!(round_trip(&v), v);
        let v = json!({"text": "line one\nline two"});
        assert_eq!(round_trip(&v), v);
    }

    proptest! {
        #[test]
        fn any_string_reads_back_the_same(s in "\\PC{0,20}", t in "[a-z \\n:#-]{0,12}") {
            let v = json!({"a": s, "b": [t.clone(), {"c": t}]});
            prop_assert_eq!(round_trip(&v), v);
        }
    }
}
