//! Stories, rules and test stories: conversations written as steps.

use crate::error::{Diagnostic, Pos, did_you_mean};
use crate::nlu::parse_annotated;
use crate::reader::{Reader, Result, single_key};
use crate::yaml::{Document, Node, Value};

/// A story: an example conversation (in `tests/`, a test conversation).
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub name: String,
    pub steps: Vec<Step>,
    pub pos: Pos,
}

/// A rule: a short piece of conversation that must always go this way.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    /// Steps that must hold before the rule applies (`active_loop`, `slot_was_set`).
    pub condition: Vec<Step>,
    pub steps: Vec<Step>,
    /// `false`: the rule continues a conversation without waiting for the user first.
    pub wait_for_user_input: bool,
    /// The rule applies only at the start of a conversation.
    pub conversation_start: bool,
    pub pos: Pos,
}

/// One step of a story or rule, and where it is written.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    pub pos: Pos,
}

/// What a step says happened.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// The user said something: an intent (with entities), or end-to-end text, or both.
    User {
        intent: Option<String>,
        entities: Vec<StepEntity>,
        text: Option<String>,
    },
    /// The assistant ran an action.
    Action(String),
    /// The assistant said this text (end-to-end stories).
    Bot(String),
    /// Slots were set; `None` means "to any value".
    SlotWasSet(Vec<(String, Option<serde_json::Value>)>),
    /// A form or other loop became active (`None`: the active loop ended).
    ActiveLoop(Option<String>),
    Checkpoint(String),
    /// One of these steps.
    Or(Vec<Step>),
}

/// An entity of a user step.
#[derive(Debug, Clone, PartialEq)]
pub struct StepEntity {
    pub entity: String,
    pub value: Option<serde_json::Value>,
    pub role: Option<String>,
    pub group: Option<String>,
}

const STEP_KEYS: &[&str] = &[
    "intent",
    "user",
    "entities",
    "action",
    "bot",
    "slot_was_set",
    "active_loop",
    "checkpoint",
    "or",
    "metadata",
];
const RULE_KEYS: &[&str] = &[
    "rule",
    "steps",
    "condition",
    "wait_for_user_input",
    "conversation_start",
    "metadata",
];
const STORY_KEYS: &[&str] = &["story", "steps", "metadata"];

pub(crate) fn read_stories(
    doc: &Document,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Story>> {
    let mut r = Reader::new(doc, warnings);
    let mut stories = Vec::new();
    for item in r.seq(node, "'stories'")? {
        let entries = r.map(item, "a story")?;
        r.check_keys(entries, STORY_KEYS, "a story");
        let Some(name_node) = item.get("story") else {
            return Err(r.err_hint(
                item,
                "a story needs a name",
                "start it with `- story: <name>`",
            ));
        };
        let name = r.name(name_node, "a story name")?;
        let Some(steps_node) = item.get("steps") else {
            return Err(r.err(item, format!("story '{name}' has no 'steps'")));
        };
        let steps = read_steps(&mut r, steps_node, &format!("story '{name}'"))?;
        stories.push(Story {
            name,
            steps,
            pos: r.pos(name_node),
        });
    }
    Ok(stories)
}

pub(crate) fn read_rules(
    doc: &Document,
    node: &Node,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Rule>> {
    let mut r = Reader::new(doc, warnings);
    let mut rules = Vec::new();
    for item in r.seq(node, "'rules'")? {
        let entries = r.map(item, "a rule")?;
        r.check_keys(entries, RULE_KEYS, "a rule");
        let Some(name_node) = item.get("rule") else {
            return Err(r.err_hint(
                item,
                "a rule needs a name",
                "start it with `- rule: <name>`",
            ));
        };
        let name = r.name(name_node, "a rule name")?;
        let what = format!("rule '{name}'");
        let Some(steps_node) = item.get("steps") else {
            return Err(r.err(item, format!("{what} has no 'steps'")));
        };
        let steps = read_steps(&mut r, steps_node, &what)?;
        let condition = match item.get("condition") {
            Some(c) => read_steps(&mut r, c, &format!("the condition of {what}"))?,
            None => Vec::new(),
        };
        for step in &condition {
            if !matches!(step.kind, StepKind::ActiveLoop(_) | StepKind::SlotWasSet(_)) {
                return Err(crate::ProjectError::invalid(
                    step.pos.clone(),
                    format!(
                        "the condition of {what} may only hold 'active_loop' and 'slot_was_set' steps"
                    ),
                ));
            }
        }
        let wait_for_user_input = item
            .get("wait_for_user_input")
            .map(|v| r.bool(v, "'wait_for_user_input'"))
            .transpose()?
            .unwrap_or(true);
        let conversation_start = item
            .get("conversation_start")
            .map(|v| r.bool(v, "'conversation_start'"))
            .transpose()?
            .unwrap_or(false);
        rules.push(Rule {
            name,
            condition,
            steps,
            wait_for_user_input,
            conversation_start,
            pos: r.pos(name_node),
        });
    }
    Ok(rules)
}

fn read_steps(r: &mut Reader<'_>, node: &Node, what: &str) -> Result<Vec<Step>> {
    let mut steps = Vec::new();
    for item in r.seq(node, &format!("the steps of {what}"))? {
        if let Some(step) = read_step(r, item, what)? {
            steps.push(step);
        }
    }
    Ok(steps)
}

fn read_step(r: &mut Reader<'_>, item: &Node, what: &str) -> Result<Option<Step>> {
    let pos = r.pos(item);
    let Some(entries) = item.as_map() else {
        r.warn(item, format!("a step of {what} must be a mapping such as `- intent: greet`, found {}; it is skipped", item.type_name()));
        return Ok(None);
    };
    let keys: Vec<String> = entries
        .iter()
        .filter_map(|(k, _)| k.scalar_text())
        .collect();
    for (key, _) in entries {
        let Some(name) = key.scalar_text() else {
            continue;
        };
        if !STEP_KEYS.contains(&name.as_str()) {
            let suggestion = did_you_mean(&name, STEP_KEYS.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            r.warn(
                key,
                format!("unknown step key '{name}' in {what}{suggestion}; the step is skipped"),
            );
            return Ok(None);
        }
    }
    let has = |k: &str| keys.iter().any(|x| x == k);
    let kind = if has("intent") || has("user") {
        let intent = item
            .get("intent")
            .filter(|v| !v.is_null())
            .map(|v| r.name(v, "an intent name"))
            .transpose()?;
        let mut entities = match item.get("entities") {
            Some(list) => read_step_entities(r, list)?,
            None => Vec::new(),
        };
        let text = match item.get("user") {
            Some(u) => {
                let raw = r.text(u, "the user's text")?;
                match parse_annotated(raw.trim()) {
                    Ok((plain, spans)) => {
                        for s in spans {
                            entities.push(StepEntity {
                                entity: s.entity,
                                value: Some(serde_json::Value::String(s.value)),
                                role: s.role,
                                group: s.group,
                            });
                        }
                        Some(plain)
                    }
                    Err(message) => {
                        return Err(r.err(u, format!("the user's text in {what}: {message}")));
                    }
                }
            }
            None => None,
        };
        StepKind::User {
            intent,
            entities,
            text,
        }
    } else if let Some(v) = item.get("action") {
        StepKind::Action(r.name(v, "an action name")?)
    } else if let Some(v) = item.get("bot") {
        StepKind::Bot(r.text(v, "the bot's text")?)
    } else if let Some(v) = item.get("slot_was_set") {
        let mut slots = Vec::new();
        for s in r.seq(v, "'slot_was_set'")? {
            match single_key(s) {
                Some((k, Some(value))) => {
                    slots.push((r.name(k, "a slot name")?, Some(value.to_json())))
                }
                Some((k, None)) => slots.push((r.name(k, "a slot name")?, None)),
                None => return Err(r.err(
                    s,
                    "each entry of 'slot_was_set' must be `- slot_name: value` or `- slot_name`",
                )),
            }
        }
        StepKind::SlotWasSet(slots)
    } else if let Some(v) = item.get("active_loop") {
        StepKind::ActiveLoop(if v.is_null() {
            None
        } else {
            Some(r.name(v, "'active_loop'")?)
        })
    } else if let Some(v) = item.get("checkpoint") {
        StepKind::Checkpoint(r.name(v, "a checkpoint name")?)
    } else if let Some(v) = item.get("or") {
        let alternatives = read_steps(r, v, &format!("an 'or' step of {what}"))?;
        if alternatives.is_empty() {
            return Err(r.err(v, format!("an 'or' step of {what} has no alternatives")));
        }
        StepKind::Or(alternatives)
    } else {
        r.warn(
            item,
            format!("a step of {what} has only 'metadata'; it is skipped"),
        );
        return Ok(None);
    };
    Ok(Some(Step { kind, pos }))
}

fn read_step_entities(r: &mut Reader<'_>, node: &Node) -> Result<Vec<StepEntity>> {
    let mut out = Vec::new();
    for e in r.seq(node, "'entities'")? {
        match &e.value {
            Value::Map(entries) if e.get("entity").is_some() => {
                r.check_keys(entries, &["entity", "value", "role", "group"], "an entity of a step");
                let opt = |r: &Reader<'_>, k: &str| e.get(k).filter(|v| !v.is_null()).map(|v| r.text(v, k)).transpose();
                out.push(StepEntity {
                    entity: r.name(e.get("entity").expect("checked above"), "an entity name")?,
                    value: e.get("value").map(Node::to_json),
                    role: opt(r, "role")?,
                    group: opt(r, "group")?,
                });
            }
            _ => match single_key(e) {
                Some((k, value)) => out.push(StepEntity {
                    entity: r.name(k, "an entity name")?,
                    value: value.map(Node::to_json),
                    role: None,
                    group: None,
                }),
                None => return Err(r.err(e, "an entity of a step must be `- entity_name: value`, `- entity_name` or `- entity: name` with value, role, group")),
            },
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::yaml::parse;

    #[test]
    fn reads_every_step_kind() {
        let text = r#"
stories:
- story: full
  steps:
  - intent: inform
    entities:
    - city: Berlin
    - entity: city
      role: destination
      value: Paris
    - size
  - action: utter_ok
  - slot_was_set:
    - city: Berlin
    - confirmed
  - active_loop: trip_form
  - active_loop: null
  - checkpoint: done
  - or:
    - intent: affirm
    - intent: thanks
  - user: "I live in [Rome](city)"
  - bot: "Nice!"
"#;
        let doc = parse(Arc::from(Path::new("s.yml")), text).unwrap();
        let mut w = Vec::new();
        let root = doc.root.clone().unwrap();
        let stories = read_stories(&doc, root.get("stories").unwrap(), &mut w).unwrap();
        assert!(w.is_empty(), "{w:?}");
        let steps = &stories[0].steps;
        let StepKind::User {
            intent, entities, ..
        } = &steps[0].kind
        else {
            panic!()
        };
        assert_eq!(intent.as_deref(), Some("inform"));
        assert_eq!(entities.len(), 3);
        assert_eq!(entities[1].role.as_deref(), Some("destination"));
        assert_eq!(entities[2].value, None);
        assert_eq!(steps[1].kind, StepKind::Action("utter_ok".into()));
        assert_eq!(
            steps[2].kind,
            StepKind::SlotWasSet(vec![
                ("city".into(), Some("Berlin".into())),
                ("confirmed".into(), None)
            ])
        );
        assert_eq!(steps[4].kind, StepKind::ActiveLoop(None));
        assert!(matches!(&steps[6].kind, StepKind::Or(a) if a.len() == 2));
        let StepKind::User { text, entities, .. } = &steps[7].kind else {
            panic!()
        };
        assert_eq!(text.as_deref(), Some("I live in Rome"));
        assert_eq!(entities[0].entity, "city");
        assert_eq!(steps[0].pos.line, 5);
    }

    #[test]
    fn rules_with_conditions() {
        let text = "rules:\n- rule: r\n  condition:\n  - active_loop: f\n  steps:\n  - action: f\n  wait_for_user_input: false\n  conversation_start: true\n";
        let doc = parse(Arc::from(Path::new("r.yml")), text).unwrap();
        let mut w = Vec::new();
        let root = doc.root.clone().unwrap();
        let rules = read_rules(&doc, root.get("rules").unwrap(), &mut w).unwrap();
        assert_eq!(
            rules[0].condition[0].kind,
            StepKind::ActiveLoop(Some("f".into()))
        );
        assert!(!rules[0].wait_for_user_input);
        assert!(rules[0].conversation_start);
    }

    #[test]
    fn unknown_step_keys_warn() {
        let text = "stories:\n- story: s\n  steps:\n  - intnet: greet\n";
        let doc = parse(Arc::from(Path::new("s.yml")), text).unwrap();
        let mut w = Vec::new();
        let root = doc.root.clone().unwrap();
        let stories = read_stories(&doc, root.get("stories").unwrap(), &mut w).unwrap();
        assert!(stories[0].steps.is_empty());
        assert!(w[0].message.contains("did you mean 'intent'"), "{w:?}");
    }
}
