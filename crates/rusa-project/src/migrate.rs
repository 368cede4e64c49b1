//! Migrating a Rasa 2.x domain to the 3.x format (`rusa data migrate`), as Rasa 3.6's
//! `rasa data migrate` does:
//!
//! - a form's `required_slots: {slot: [mappings]}` (or the older `{slot: [mappings]}` form
//!   body) becomes `required_slots: [slot, ...]`, `ignored_intents` kept;
//! - each of those mappings moves to `slots.<slot>.mappings` with the condition
//!   `active_loop: <form>`, plus `requested_slot: <slot>` unless the mapping is `from_entity`
//!   or `from_trigger_intent`; a mapping the slot already has gets the condition added;
//! - a slot named like an entity gets `{type: from_entity, entity: <slot>}` unless its
//!   `auto_fill` was `false`; `auto_fill` is removed;
//! - a slot left without mappings gets `[{type: custom}]` (the caller warns);
//! - `version` becomes "3.1"; other keys are kept in their order.
//!
//! Output and backup are named as Rasa names them: `new_domain.yml` and
//! `original_domain.yml` next to a domain file, `new_domain/` and `original_domain/` next to
//! a domain directory. Unlike Rasa, the backup is a byte copy (comments kept), the original
//! stays where it was, a directory may spread slots and forms over several files, and a
//! form that requires an undefined slot is an error instead of a slot without a type.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::error::ProjectError;
use crate::yaml_writer::{TRAINING_DATA_FORMAT_VERSION, to_yaml};

/// The name of the backup Rasa makes (`.yml` added for a file).
pub const ORIGINAL_DOMAIN: &str = "original_domain";
/// The default name of the migrated domain (`.yml` added for a file).
pub const NEW_DOMAIN: &str = "new_domain";

/// Why a migration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("the backup '{}' already exists; remove or rename it and run the migration again", path.display())]
    BackupExists { path: PathBuf },
    #[error("the output '{}' already exists; remove it or name another with --out", path.display())]
    OutputExists { path: PathBuf },
    #[error("'{}' holds no domain file", path.display())]
    NoDomainFiles { path: PathBuf },
    #[error("'{}' is not a domain file (it has none of the domain's sections)", path.display())]
    NotADomain { path: PathBuf },
    #[error("'{}' is already in the 3.x format (version \"3.1\"); there is nothing to migrate", path.display())]
    AlreadyMigrated { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot write '{}'", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a migration did.
#[derive(Debug, Clone)]
pub struct MigrateReport {
    /// The migrated domain: a file, or a directory of files.
    pub out: PathBuf,
    /// The copy of the original.
    pub backup: PathBuf,
    /// Slots that got a `custom` mapping because nothing else fills them.
    pub custom_mapping_slots: Vec<String>,
    /// Forms whose slot mappings moved into the slots.
    pub migrated_forms: Vec<String>,
}

/// The keys that make a YAML file a domain file.
const DOMAIN_KEYS: &[&str] = &[
    "intents",
    "entities",
    "slots",
    "responses",
    "actions",
    "forms",
    "session_config",
    "config",
    "e2e_actions",
];

/// Migrates the domain at `domain` (a file or a directory) to `out` (default: Rasa's
/// `new_domain.yml` or `new_domain/` beside it), leaving a backup beside it. On an error
/// nothing is left behind.
pub fn migrate_domain(domain: &Path, out: Option<&Path>) -> Result<MigrateReport, MigrateError> {
    if !domain.exists() {
        return Err(ProjectError::Missing {
            what: "domain",
            path: domain.to_path_buf(),
            flag: Some("--domain"),
        }
        .into());
    }
    let is_file = domain.is_file();
    let parent = domain.parent().unwrap_or(Path::new(""));
    let suffix = if is_file { ".yml" } else { "" };
    let backup = parent.join(format!("{ORIGINAL_DOMAIN}{suffix}"));
    if backup.exists() {
        return Err(MigrateError::BackupExists { path: backup });
    }
    let out = out.map_or_else(
        || parent.join(format!("{NEW_DOMAIN}{suffix}")),
        Path::to_path_buf,
    );
    let out_in_use = if is_file {
        out.exists()
    } else {
        out.is_file() || std::fs::read_dir(&out).is_ok_and(|mut d| d.next().is_some())
    };
    if out_in_use {
        return Err(MigrateError::OutputExists { path: out });
    }

    // Read every domain file, in order.
    let files: Vec<PathBuf> = if is_file {
        vec![domain.to_path_buf()]
    } else {
        crate::project::yaml_files(domain)?
    };
    let mut docs: Vec<(PathBuf, Map<String, Value>)> = Vec::new();
    for file in &files {
        let doc = crate::project::read_document(file)?;
        let json = doc.root.as_ref().map(crate::yaml::Node::to_json);
        let map = match json {
            Some(Value::Object(map)) if DOMAIN_KEYS.iter().any(|k| map.contains_key(*k)) => map,
            _ if is_file => return Err(MigrateError::NotADomain { path: file.clone() }),
            _ => continue,
        };
        if map.get("version").and_then(Value::as_str) == Some(TRAINING_DATA_FORMAT_VERSION) {
            return Err(MigrateError::AlreadyMigrated { path: file.clone() });
        }
        docs.push((file.clone(), map));
    }
    if docs.is_empty() {
        return Err(MigrateError::NoDomainFiles {
            path: domain.to_path_buf(),
        });
    }

    let (migrated, report_forms, custom) = migrate_maps(&docs)?;

    // Write the backup and the output; undo both on any failure.
    let result = (|| -> Result<(), MigrateError> {
        if is_file {
            copy(domain, &backup)?;
            write(&out, &to_yaml(&Value::Object(migrated[0].1.clone())))?;
        } else {
            for file in &files {
                let relative = file.strip_prefix(domain).unwrap_or(file);
                copy(file, &backup.join(relative))?;
            }
            for (file, map) in &migrated {
                let relative = file.strip_prefix(domain).unwrap_or(file);
                write(&out.join(relative), &to_yaml(&Value::Object(map.clone())))?;
            }
        }
        Ok(())
    })();
    if let Err(e) = result {
        if is_file {
            let _ = std::fs::remove_file(&backup);
            let _ = std::fs::remove_file(&out);
        } else {
            let _ = std::fs::remove_dir_all(&backup);
            let _ = std::fs::remove_dir_all(&out);
        }
        return Err(e);
    }
    Ok(MigrateReport {
        out,
        backup,
        custom_mapping_slots: custom,
        migrated_forms: report_forms,
    })
}

fn copy(from: &Path, to: &Path) -> Result<(), MigrateError> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir).map_err(|source| MigrateError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::copy(from, to).map_err(|source| MigrateError::Write {
        path: to.to_path_buf(),
        source,
    })?;
    Ok(())
}

fn write(path: &Path, text: &str) -> Result<(), MigrateError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| MigrateError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| MigrateError::Write {
        path: path.to_path_buf(),
        source,
    })
}

type Migrated = (Vec<(PathBuf, Map<String, Value>)>, Vec<String>, Vec<String>);

/// The migration itself, on the parsed files: the migrated files, the forms migrated and
/// the slots that got a custom mapping.
pub fn migrate_maps(docs: &[(PathBuf, Map<String, Value>)]) -> Result<Migrated, MigrateError> {
    // Plain entity names (entities with roles or groups are written as mappings).
    let entities: Vec<String> = docs
        .iter()
        .flat_map(|(_, m)| {
            m.get("entities")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect();

    // Slots of all files, and which file defines each.
    let mut slots: IndexMap<String, (usize, Map<String, Value>)> = IndexMap::new();
    for (i, (path, map)) in docs.iter().enumerate() {
        let Some(section) = map.get("slots") else {
            continue;
        };
        let Some(section) = section.as_object() else {
            if section.is_null() {
                continue;
            }
            return Err(MigrateError::Invalid {
                path: path.clone(),
                message: "'slots' must be a mapping".into(),
            });
        };
        for (name, def) in section {
            let def = match def {
                Value::Object(d) => d.clone(),
                Value::Null => Map::new(),
                _ => {
                    return Err(MigrateError::Invalid {
                        path: path.clone(),
                        message: format!("the definition of slot '{name}' must be a mapping"),
                    });
                }
            };
            if slots.insert(name.clone(), (i, def)).is_some() {
                return Err(MigrateError::Invalid {
                    path: path.clone(),
                    message: format!("slot '{name}' is defined in two domain files; keep one"),
                });
            }
        }
    }

    // Forms: move their slot mappings into the slots.
    let mut new_forms: Vec<Map<String, Value>> = vec![Map::new(); docs.len()];
    let mut migrated_forms = Vec::new();
    for (i, (path, map)) in docs.iter().enumerate() {
        let Some(forms) = map.get("forms").and_then(Value::as_object) else {
            continue;
        };
        for (form, def) in forms {
            let mut def = match def {
                Value::Object(d) => d.clone(),
                _ => Map::new(),
            };
            let ignored = def.shift_remove("ignored_intents");
            let slot_mappings: Map<String, Value> = match def.shift_remove("required_slots") {
                Some(Value::Object(m)) => m,
                Some(Value::Array(list)) => {
                    // Already the 3.x form.
                    let mut kept = Map::new();
                    kept.insert("required_slots".into(), Value::Array(list));
                    if let Some(ignored) = ignored {
                        kept.insert("ignored_intents".into(), ignored);
                    }
                    new_forms[i].insert(form.clone(), Value::Object(kept));
                    continue;
                }
                Some(Value::Null) | None => def,
                Some(_) => {
                    return Err(MigrateError::Invalid {
                        path: path.clone(),
                        message: format!(
                            "the required slots of form '{form}' must be a mapping of slots to their mappings"
                        ),
                    });
                }
            };
            let mut required = Vec::new();
            for (slot, mappings) in &slot_mappings {
                let Some((_, slot_def)) = slots.get_mut(slot) else {
                    return Err(MigrateError::Invalid {
                        path: path.clone(),
                        message: format!(
                            "form '{form}' requires slot '{slot}', which no domain file defines; add it under 'slots'"
                        ),
                    });
                };
                let new_mappings: Vec<Value> = match mappings {
                    Value::Array(list) => list.clone(),
                    Value::Null => Vec::new(),
                    _ => {
                        return Err(MigrateError::Invalid {
                            path: path.clone(),
                            message: format!(
                                "the mappings of slot '{slot}' in form '{form}' must be a list"
                            ),
                        });
                    }
                };
                let existing = slot_def
                    .get("mappings")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let updated = merge_form_mappings(existing, new_mappings, form, slot);
                slot_def.insert("mappings".into(), Value::Array(updated));
                required.push(Value::String(slot.clone()));
            }
            let mut migrated = Map::new();
            migrated.insert("required_slots".into(), Value::Array(required));
            if let Some(ignored) = ignored.filter(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
                migrated.insert("ignored_intents".into(), ignored);
            }
            new_forms[i].insert(form.clone(), Value::Object(migrated));
            migrated_forms.push(form.clone());
        }
    }

    // auto_fill, then a custom mapping for slots nothing fills.
    let mut custom = Vec::new();
    for (name, (_, def)) in &mut slots {
        let auto_fill = def.shift_remove("auto_fill");
        if entities.contains(name) && auto_fill.as_ref().and_then(Value::as_bool) != Some(false) {
            let mapping = json!({"type": "from_entity", "entity": name});
            let mut mappings = def
                .get("mappings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if !mappings.contains(&mapping) {
                mappings.push(mapping);
                def.insert("mappings".into(), Value::Array(mappings));
            }
        }
        if def
            .get("mappings")
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            def.insert("mappings".into(), json!([{"type": "custom"}]));
            custom.push(name.clone());
        }
    }

    // Assemble each file in its own key order.
    let mut out = Vec::with_capacity(docs.len());
    for (i, (path, map)) in docs.iter().enumerate() {
        let mut new = Map::new();
        for (key, value) in map {
            let value = match key.as_str() {
                "version" => json!(TRAINING_DATA_FORMAT_VERSION),
                "slots" => Value::Object(
                    slots
                        .iter()
                        .filter(|(_, (file, _))| *file == i)
                        .map(|(n, (_, d))| (n.clone(), Value::Object(d.clone())))
                        .collect(),
                ),
                "forms" => Value::Object(new_forms[i].clone()),
                _ => value.clone(),
            };
            new.insert(key.clone(), value);
        }
        if !new.contains_key("version") {
            // Rasa only rewrites an existing key; a version makes the format explicit.
            let mut with_version = Map::new();
            with_version.insert("version".into(), json!(TRAINING_DATA_FORMAT_VERSION));
            with_version.extend(new);
            new = with_version;
        }
        out.push((path.clone(), new));
    }
    Ok((out, migrated_forms, custom))
}

/// The condition a form mapping gets: the active loop, and the requested slot unless the
/// mapping fills from an entity or the trigger intent.
fn condition_for(mapping: &Value, form: &str, slot: &str) -> Value {
    let kind = mapping.get("type").and_then(Value::as_str).unwrap_or("");
    if matches!(kind, "from_entity" | "from_trigger_intent") {
        json!({"active_loop": form})
    } else {
        json!({"active_loop": form, "requested_slot": slot})
    }
}

/// Rasa's `_get_updated_or_new_mappings`: an existing mapping equal (without its
/// conditions) to a form mapping gets the form's condition; the other form mappings are
/// added with it.
fn merge_form_mappings(
    existing: Vec<Value>,
    mut new: Vec<Value>,
    form: &str,
    slot: &str,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(existing.len() + new.len());
    for mapping in existing {
        let mut bare = mapping.clone();
        let conditions = bare
            .as_object_mut()
            .and_then(|m| m.shift_remove("conditions"));
        match new.iter().position(|n| *n == bare) {
            Some(at) => {
                new.remove(at);
                let mut conditions = match conditions {
                    Some(Value::Array(c)) => c,
                    _ => Vec::new(),
                };
                conditions.push(condition_for(&bare, form, slot));
                if let Some(m) = bare.as_object_mut() {
                    m.insert("conditions".into(), Value::Array(conditions));
                }
                out.push(bare);
            }
            None => out.push(mapping),
        }
    }
    for mut mapping in new {
        let condition = condition_for(&mapping, form, slot);
        if let Some(m) = mapping.as_object_mut() {
            m.insert("conditions".into(), json!([condition]));
        }
        out.push(mapping);
    }
    out
}

/// Refuses a domain file in the Rasa 2.x format, with one error that names
/// `rusa data migrate`: a form listing its slots with mappings, a slot with `auto_fill`, or
/// (in a file with `version: "2.x"`) a slot without mappings, which Rasa 2 filled from the
/// entity of its name. Loading such a file as 3.x would silently change what fills the
/// slots; a 2.x file with none of these (intents and responses only) loads as it is.
pub(crate) fn reject_rasa2_domain(
    r: &crate::reader::Reader<'_>,
    root: &crate::yaml::Node,
) -> Result<(), ProjectError> {
    use crate::yaml::Value as Y;
    let version_2 = root
        .get("version")
        .and_then(crate::yaml::Node::scalar_text)
        .is_some_and(|v| v.trim().starts_with("2."));
    let hint = || {
        let path = &r.doc.path;
        let migrated = path
            .parent()
            .map(|p| p.join(format!("{NEW_DOMAIN}.yml")))
            .filter(|p| p.is_file());
        match migrated {
            Some(new) => format!(
                "a migrated domain is at '{}': check it and move it over '{}'",
                new.display(),
                path.display()
            ),
            None => format!(
                "migrate it with `rusa data migrate -d {}` (it writes {NEW_DOMAIN}.yml and keeps a backup)",
                path.display()
            ),
        }
    };
    if let Some(forms) = root.get("forms").and_then(crate::yaml::Node::as_map) {
        for (name, def) in forms {
            let Some(entries) = def.as_map() else {
                continue;
            };
            let old_style = entries.iter().find(|(k, v)| match k.as_str() {
                Some("required_slots") => matches!(v.value, Y::Map(_)),
                Some("ignored_intents") => false,
                _ => matches!(v.value, Y::Seq(_)),
            });
            if let Some((key, _)) = old_style {
                return Err(r.err_hint(
                    key,
                    format!(
                        "form '{}' lists its slots with their mappings: this domain is in the Rasa 2.x format",
                        name.scalar_text().unwrap_or_default()
                    ),
                    hint(),
                ));
            }
        }
    }
    if let Some(slots) = root.get("slots").and_then(crate::yaml::Node::as_map) {
        for (name, def) in slots {
            let slot = name.scalar_text().unwrap_or_default();
            if let Some((key, _)) = def
                .as_map()
                .and_then(|e| e.iter().find(|(k, _)| k.as_str() == Some("auto_fill")))
            {
                return Err(r.err_hint(
                    key,
                    format!("slot '{slot}' has 'auto_fill': this domain is in the Rasa 2.x format"),
                    hint(),
                ));
            }
            if version_2 && def.get("mappings").is_none() {
                return Err(r.err_hint(
                    name,
                    format!("slot '{slot}' has no 'mappings' in a version 2 domain, where Rasa 2 filled it from the entity of its name"),
                    hint(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN_2X: &str = r#"version: "2.0"
# the restaurant bot
intents:
- request_restaurant
- inform
entities:
- cuisine
- number
- feedback
slots:
  cuisine:
    type: text
    influence_conversation: false
  num_people:
    type: float
  outdoor_seating:
    type: bool
  feedback:
    type: text
    auto_fill: false
  requested_slot:
    type: text
    influence_conversation: false
responses:
  utter_ask_cuisine:
  - text: "what cuisine?"
forms:
  restaurant_form:
    required_slots:
      cuisine:
      - type: from_entity
        entity: cuisine
      num_people:
      - type: from_entity
        entity: number
      outdoor_seating:
      - type: from_intent
        intent: affirm
        value: true
      - type: from_intent
        intent: deny
        value: false
    ignored_intents:
    - chitchat
"#;

    #[test]
    fn a_2x_domain_is_migrated_as_rasa_does() {
        let dir = tempfile::tempdir().unwrap();
        let domain = dir.path().join("domain.yml");
        std::fs::write(&domain, DOMAIN_2X).unwrap();
        let report = migrate_domain(&domain, None).unwrap();
        assert_eq!(report.out, dir.path().join("new_domain.yml"));
        assert_eq!(report.backup, dir.path().join("original_domain.yml"));
        assert_eq!(std::fs::read_to_string(&report.backup).unwrap(), DOMAIN_2X);
        assert_eq!(report.custom_mapping_slots, ["feedback", "requested_slot"]);

        let text = std::fs::read_to_string(&report.out).unwrap();
        let doc = crate::yaml::parse(std::sync::Arc::from(report.out.as_path()), &text).unwrap();
        let v = doc.root.unwrap().to_json();
        assert_eq!(v["version"], "3.1");
        assert_eq!(
            v["forms"]["restaurant_form"],
            json!({"required_slots": ["cuisine", "num_people", "outdoor_seating"], "ignored_intents": ["chitchat"]})
        );
        assert_eq!(
            v["slots"]["cuisine"]["mappings"],
            json!([
                {"type": "from_entity", "entity": "cuisine", "conditions": [{"active_loop": "restaurant_form"}]},
                {"type": "from_entity", "entity": "cuisine"}
            ])
        );
        assert_eq!(
            v["slots"]["outdoor_seating"]["mappings"][1],
            json!({"type": "from_intent", "intent": "deny", "value": false,
                   "conditions": [{"active_loop": "restaurant_form", "requested_slot": "outdoor_seating"}]})
        );
        assert!(v["slots"]["feedback"].get("auto_fill").is_none());
        assert_eq!(
            v["slots"]["feedback"]["mappings"],
            json!([{"type": "custom"}])
        );

        // The migrated domain loads without the 2.x error, and a second run is refused.
        let mut warnings = Vec::new();
        crate::project::load_domain(&report.out, &mut warnings).unwrap();
        assert!(matches!(
            migrate_domain(&domain, None),
            Err(MigrateError::BackupExists { .. })
        ));
    }

    #[test]
    fn a_migrated_file_is_refused_and_nothing_is_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let domain = dir.path().join("domain.yml");
        std::fs::write(&domain, "version: \"3.1\"\nintents:\n- greet\n").unwrap();
        assert!(matches!(
            migrate_domain(&domain, None),
            Err(MigrateError::AlreadyMigrated { .. })
        ));
        std::fs::write(
            &domain,
            "version: \"2.0\"\nforms:\n  f:\n    required_slots:\n      missing:\n      - type: from_text\n",
        )
        .unwrap();
        let err = migrate_domain(&domain, None).unwrap_err();
        assert!(err.to_string().contains("'missing'"), "{err}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_domain_directory_is_migrated_file_by_file() {
        let dir = tempfile::tempdir().unwrap();
        let domain = dir.path().join("domain");
        std::fs::create_dir(&domain).unwrap();
        std::fs::write(
            domain.join("slots.yml"),
            "version: \"2.0\"\nentities:\n- city\nslots:\n  city:\n    type: text\n",
        )
        .unwrap();
        std::fs::write(
            domain.join("forms.yml"),
            "version: \"2.0\"\nforms:\n  trip_form:\n    city:\n    - type: from_text\n",
        )
        .unwrap();
        std::fs::write(
            domain.join("intents.yml"),
            "version: \"2.0\"\nintents:\n- greet\n",
        )
        .unwrap();
        let report = migrate_domain(&domain, None).unwrap();
        assert_eq!(report.out, dir.path().join("new_domain"));
        assert!(dir.path().join("original_domain/slots.yml").is_file());
        let mut warnings = Vec::new();
        let (d, _) = crate::project::load_domain(&report.out, &mut warnings).unwrap();
        let city = d.slot("city").unwrap();
        assert_eq!(city.mappings.len(), 2);
        assert_eq!(d.form("trip_form").unwrap().required_slots[0].0, "city");
    }
}
