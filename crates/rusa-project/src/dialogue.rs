//! Stories and rules as sequences of dialogue states, the form in which policies learn them
//! and the conflict check compares them.
//!
//! A dialogue state is what the assistant knows when it picks its next action: the previous
//! action, the latest user message (intent, or text for end-to-end stories, and entity
//! names), the slots that influence the conversation (featurized), and the active loop.
//! The same featurization is applied to live conversations (in `rusa-core`), so what was
//! learned from a story is recognised in a conversation.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::Value;

use crate::domain::{Domain, Slot, SlotType};
use crate::error::Pos;
use crate::stories::{Rule, Step, StepEntity, StepKind, Story};

/// The previous action of the first state of a conversation.
pub const ACTION_LISTEN: &str = "action_listen";

/// How many linear paths one story may unfold into (through `or` steps and checkpoints).
pub const MAX_PATHS_PER_STORY: usize = 256;

/// What the assistant knows when it picks the next action. In a rule, a field left `None`
/// (or a slot left out) matches anything.
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct DialogueState {
    pub prev_action: Option<String>,
    pub intent: Option<String>,
    /// The user's text, for end-to-end turns without an intent.
    pub text: Option<String>,
    /// Entity features of the latest message: `entity`, plus `entity#role` / `entity@group`.
    pub entities: Option<Vec<String>>,
    /// Featurized values of the slots that influence the conversation and are set.
    pub slots: BTreeMap<String, String>,
    /// `Some(None)`: no loop is active. `None` (in a rule): any.
    pub active_loop: Option<Option<String>>,
}

impl DialogueState {
    /// Whether this (possibly partial, rule) state matches a full conversation state.
    pub fn matches(&self, full: &DialogueState) -> bool {
        let field = |a: &Option<String>, b: &Option<String>| a.is_none() || a == b;
        field(&self.prev_action, &full.prev_action)
            && field(&self.intent, &full.intent)
            && field(&self.text, &full.text)
            && (self.entities.is_none() || self.entities == full.entities)
            && self.slots.iter().all(|(k, v)| {
                full.slots.get(k) == Some(v) || (v == "null" && !full.slots.contains_key(k))
            })
            && (self.active_loop.is_none() || self.active_loop == full.active_loop)
    }

    /// The user part of the state, for messages: `intent greet (city)`.
    pub fn user_description(&self) -> String {
        let user = DialogueState {
            intent: self.intent.clone(),
            text: self.text.clone(),
            entities: self.entities.clone(),
            ..Self::default()
        };
        user.describe()
    }

    /// A one-line description, for messages: `intent greet (city), after utter_ask [slots x=1]`.
    pub fn describe(&self) -> String {
        let mut s = match (&self.intent, &self.text) {
            (Some(i), _) => format!("intent {i}"),
            (None, Some(t)) => format!("text '{t}'"),
            _ => String::new(),
        };
        if let Some(entities) = self.entities.as_ref().filter(|e| !e.is_empty()) {
            s.push_str(&format!(" ({})", entities.join(", ")));
        }
        if let Some(prev) = self.prev_action.as_deref().filter(|p| *p != ACTION_LISTEN) {
            if !s.is_empty() {
                s.push_str(", then ");
            }
            s.push_str(&format!("action {prev}"));
        }
        if !self.slots.is_empty() {
            let slots: Vec<String> = self.slots.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s.push_str(&format!(" [slots {}]", slots.join(", ")));
        }
        if let Some(Some(l)) = &self.active_loop {
            s.push_str(&format!(" [loop {l}]"));
        }
        if s.is_empty() {
            "the start".to_owned()
        } else {
            s
        }
    }
}

/// The feature of a slot value, or `None` when the slot counts as unset (or does not
/// influence the conversation).
pub fn featurize_slot(slot: &Slot, value: &Value) -> Option<String> {
    if !slot.influence_conversation || value.is_null() {
        return None;
    }
    Some(match &slot.slot_type {
        SlotType::Bool => match value {
            Value::Bool(b) => b.to_string(),
            Value::String(s) if s.eq_ignore_ascii_case("true") => "true".into(),
            Value::String(s) if s.eq_ignore_ascii_case("false") => "false".into(),
            _ => "set".into(),
        },
        SlotType::Categorical { values } => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            values
                .iter()
                .find(|v| v.eq_ignore_ascii_case(&text))
                .map_or_else(|| "__other__".to_owned(), |v| v.to_lowercase())
        }
        SlotType::Float {
            min_value,
            max_value,
        } => {
            let x = value
                .as_f64()
                .or_else(|| value.as_str().and_then(|s| s.parse().ok()))?;
            let clamped = x.clamp(*min_value, *max_value);
            let range = (max_value - min_value).max(f64::EPSILON);
            format!("{:.2}", (clamped - min_value) / range)
        }
        SlotType::List => {
            if value.as_array().is_some_and(Vec::is_empty) {
                return None;
            }
            "set".into()
        }
        SlotType::Text | SlotType::Any | SlotType::Custom(_) => "set".into(),
    })
}

/// The entity features of a user message: names (with `#role` / `@group` variants) of
/// entities that influence the conversation and that the intent uses.
pub fn entity_features<'a>(
    domain: &Domain,
    intent: Option<&str>,
    entities: impl Iterator<Item = (&'a str, Option<&'a str>, Option<&'a str>)>,
) -> Vec<String> {
    let intent_def = intent.and_then(|i| domain.intent(i));
    let mut out: Vec<String> = Vec::new();
    for (name, role, group) in entities {
        let Some(def) = domain.entity(name) else {
            continue;
        };
        if !def.influence_conversation {
            continue;
        }
        if let Some(i) = intent_def {
            if i.ignore_entities.iter().any(|e| e == name) {
                continue;
            }
            if let Some(used) = &i.use_entities
                && !used.iter().any(|e| e == name)
            {
                continue;
            }
        }
        out.push(name.to_owned());
        if let Some(role) = role {
            out.push(format!("{name}#{role}"));
        }
        if let Some(group) = group {
            out.push(format!("{name}@{group}"));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn step_entity_features(
    domain: &Domain,
    intent: Option<&str>,
    entities: &[StepEntity],
) -> Vec<String> {
    entity_features(
        domain,
        intent,
        entities
            .iter()
            .map(|e| (e.entity.as_str(), e.role.as_deref(), e.group.as_deref())),
    )
}

/// One prediction a story teaches: after these states, this action.
#[derive(Debug, Clone)]
pub struct Turn<'a> {
    /// Every state of the conversation so far, the current one last.
    pub states: Vec<DialogueState>,
    pub action: String,
    pub pos: &'a Pos,
    /// Readable events of the conversation so far, for messages.
    pub events: Vec<String>,
    /// For each state, the index in `events` where its turn began.
    pub state_starts: Vec<usize>,
}

/// Replays a linear story (no `or`, no checkpoints) and returns the prediction of each
/// action in it, with the full history of states. End-to-end bot texts count as actions.
pub fn story_turns<'a>(domain: &Domain, steps: &[&'a Step]) -> Vec<Turn<'a>> {
    let mut history = History::default();
    let mut current = DialogueState {
        prev_action: Some(ACTION_LISTEN.to_owned()),
        active_loop: Some(None),
        ..DialogueState::default()
    };
    let mut turn_start = 0;
    let mut last_action_pos: Option<&'a Pos> = None;
    for step in steps {
        match &step.kind {
            StepKind::User {
                intent,
                entities,
                text,
            } => {
                // The assistant waited for this message: `action_listen` was its prediction.
                if let Some(pos) = last_action_pos.take() {
                    let start = history.events.len();
                    history.push(&current, ACTION_LISTEN, pos, start);
                }
                current.intent = intent.clone();
                current.text = if intent.is_none() { text.clone() } else { None };
                current.entities = Some(step_entity_features(domain, intent.as_deref(), entities));
                current.prev_action = Some(ACTION_LISTEN.to_owned());
                turn_start = history.events.len();
                history.events.push(current.user_description());
                // Entities of the message fill slots mapped from them.
                if domain.store_entities_as_slots {
                    for e in entities {
                        if let (Some(slot), Some(value)) = (domain.slot(&e.entity), &e.value) {
                            let mapped = slot
                                .mappings
                                .iter()
                                .any(|m| m.entity.as_deref() == Some(e.entity.as_str()));
                            if mapped {
                                set_slot(&mut current, slot, value);
                            }
                        }
                    }
                }
            }
            StepKind::Action(name) | StepKind::Bot(name) => {
                let listening = current.prev_action.as_deref() == Some(ACTION_LISTEN);
                let start = if listening {
                    turn_start
                } else {
                    history.events.len()
                };
                history.push(&current, name, &step.pos, start);
                last_action_pos = Some(&step.pos);
                history.events.push(name.clone());
                current.prev_action = Some(name.clone());
                if domain.form(name).is_some() {
                    current.active_loop = Some(Some(name.clone()));
                }
            }
            StepKind::SlotWasSet(slots) => {
                for (name, value) in slots {
                    if let Some(slot) = domain.slot(name) {
                        let value = value.clone().unwrap_or(Value::Bool(true));
                        let feature = featurize_slot(slot, &value).unwrap_or_else(|| "null".into());
                        history.events.push(format!("slot {name}={feature}"));
                        set_slot(&mut current, slot, &value);
                    }
                }
            }
            StepKind::ActiveLoop(name) => {
                history
                    .events
                    .push(format!("active_loop {}", name.as_deref().unwrap_or("null")));
                current.active_loop = Some(name.clone());
            }
            StepKind::Checkpoint(_) | StepKind::Or(_) => {}
        }
    }
    // A story ends with the assistant waiting for the user.
    if let Some(pos) = last_action_pos {
        let start = history.events.len();
        history.push(&current, ACTION_LISTEN, pos, start);
    }
    history.turns
}

/// What `story_turns` accumulates while it replays a story.
#[derive(Default)]
struct History<'a> {
    turns: Vec<Turn<'a>>,
    states: Vec<DialogueState>,
    state_starts: Vec<usize>,
    events: Vec<String>,
}

impl<'a> History<'a> {
    /// Records that `action` was predicted in state `current`; the state's turn is shown
    /// from event `start` on.
    fn push(&mut self, current: &DialogueState, action: &str, pos: &'a Pos, start: usize) {
        self.states.push(current.clone());
        self.state_starts.push(start);
        self.turns.push(Turn {
            states: self.states.clone(),
            action: action.to_owned(),
            pos,
            events: self.events.clone(),
            state_starts: self.state_starts.clone(),
        });
    }
}

fn set_slot(state: &mut DialogueState, slot: &Slot, value: &Value) {
    match featurize_slot(slot, value) {
        Some(f) => {
            state.slots.insert(slot.name.clone(), f);
        }
        None => {
            state.slots.remove(&slot.name);
        }
    }
}

/// A rule as partial states: the states its steps describe, each followed by the action it
/// predicts. The last action of a rule is followed by `action_listen` unless the rule says
/// `wait_for_user_input: false`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuleTurn {
    pub rule: String,
    pub states: Vec<DialogueState>,
    pub action: String,
    pub conversation_start: bool,
}

/// Unfolds a rule into the predictions it makes, with partial states.
///
/// As in Rasa, a rule that is not for the conversation's start may begin anywhere in a
/// conversation (Rasa puts its `...` snippet action in front of it): an action it begins
/// with is what came before, so it stays in the rule's first state as the previous action
/// and is never predicted by the rule. An action followed by a user message within the rule
/// predicts `action_listen`.
pub fn rule_turns(domain: &Domain, rule: &Rule) -> Vec<RuleTurn> {
    let mut out = Vec::new();
    for path in expand_or(&rule.steps) {
        // The first state of a rule matches any previous action (`...` in Rasa's rules).
        let mut current = DialogueState::default();
        for step in &rule.condition {
            apply_rule_step(domain, &mut current, step);
        }
        if rule.conversation_start {
            current.prev_action = Some(ACTION_LISTEN.to_owned());
        }
        let mut states = Vec::new();
        let mut last_was_action = false;
        let turn = |states: &[DialogueState], action: &str| RuleTurn {
            rule: rule.name.clone(),
            states: states.to_vec(),
            action: action.to_owned(),
            conversation_start: rule.conversation_start,
        };
        for step in &path {
            match &step.kind {
                StepKind::Action(name) | StepKind::Bot(name) => {
                    // An action before anything else of a rule says what came before.
                    let leading = states.is_empty()
                        && !rule.conversation_start
                        && current.prev_action.is_none()
                        && current.intent.is_none()
                        && current.text.is_none();
                    if !leading {
                        states.push(current.clone());
                        out.push(turn(&states, name));
                    }
                    current.prev_action = Some(name.clone());
                    if domain.form(name).is_some() {
                        current.active_loop = Some(Some(name.clone()));
                    }
                    last_was_action = true;
                }
                StepKind::User { .. } => {
                    // The assistant listened before this message.
                    if last_was_action {
                        states.push(current.clone());
                        out.push(turn(&states, ACTION_LISTEN));
                    }
                    apply_rule_step(domain, &mut current, step);
                    last_was_action = false;
                }
                _ => apply_rule_step(domain, &mut current, step),
            }
        }
        if last_was_action && rule.wait_for_user_input {
            let loop_continues = matches!(&current.active_loop, Some(Some(l)) if current.prev_action.as_deref() == Some(l.as_str()));
            if !loop_continues {
                states.push(current.clone());
                out.push(turn(&states, ACTION_LISTEN));
            }
        }
    }
    out
}

fn apply_rule_step(domain: &Domain, current: &mut DialogueState, step: &Step) {
    match &step.kind {
        StepKind::User {
            intent,
            entities,
            text,
        } => {
            current.intent = intent.clone();
            current.text = if intent.is_none() { text.clone() } else { None };
            current.entities = if entities.is_empty() {
                None
            } else {
                Some(step_entity_features(domain, intent.as_deref(), entities))
            };
            current.prev_action = Some(ACTION_LISTEN.to_owned());
        }
        StepKind::SlotWasSet(slots) => {
            for (name, value) in slots {
                if let Some(slot) = domain.slot(name) {
                    let value = value.clone().unwrap_or(Value::Bool(true));
                    let feature = featurize_slot(slot, &value).unwrap_or_else(|| "null".into());
                    current.slots.insert(name.clone(), feature);
                }
            }
        }
        StepKind::ActiveLoop(name) => current.active_loop = Some(name.clone()),
        _ => {}
    }
}

/// Unfolds stories into linear step sequences: each `or` step into its alternatives, and a
/// story that starts with a checkpoint behind each story that ends with it (bounded).
/// Stories that end in a checkpoint some other story continues are left out: they are
/// checked as part of their continuations.
pub fn unfold_stories(stories: &[Story]) -> Vec<(&Story, Vec<&Step>)> {
    let mut linear: Vec<(&Story, Vec<Vec<&Step>>)> =
        stories.iter().map(|s| (s, expand_or(&s.steps))).collect();
    let mut endings: HashMap<&str, Vec<Vec<&Step>>> = HashMap::new();
    // A few rounds, so chains of checkpoints are followed.
    for _ in 0..3 {
        endings.clear();
        for (story, paths) in &linear {
            if let Some(name) = checkpoint_name(story.steps.last()) {
                endings
                    .entry(name)
                    .or_default()
                    .extend(paths.iter().cloned());
            }
        }
        for (story, paths) in &mut linear {
            let Some(prefixes) = checkpoint_name(story.steps.first()).and_then(|n| endings.get(n))
            else {
                continue;
            };
            let mut joined = Vec::new();
            'outer: for prefix in prefixes {
                for path in paths.iter() {
                    if joined.len() >= MAX_PATHS_PER_STORY {
                        break 'outer;
                    }
                    let not_checkpoint = |s: &&&Step| !matches!(s.kind, StepKind::Checkpoint(_));
                    let mut full: Vec<&Step> =
                        prefix.iter().filter(not_checkpoint).copied().collect();
                    full.extend(path.iter().filter(not_checkpoint).copied());
                    joined.push(full);
                }
            }
            if !joined.is_empty() {
                *paths = joined;
            }
        }
    }
    let continued: HashSet<&str> = stories
        .iter()
        .filter_map(|s| checkpoint_name(s.steps.first()))
        .collect();
    linear
        .into_iter()
        .filter(|(story, _)| {
            !checkpoint_name(story.steps.last()).is_some_and(|c| continued.contains(c))
        })
        .flat_map(|(story, paths)| paths.into_iter().map(move |p| (story, p)))
        .collect()
}

fn checkpoint_name(step: Option<&Step>) -> Option<&str> {
    match &step?.kind {
        StepKind::Checkpoint(name) => Some(name),
        _ => None,
    }
}

/// Each combination of the alternatives of `or` steps (bounded).
pub fn expand_or(steps: &[Step]) -> Vec<Vec<&Step>> {
    let mut paths: Vec<Vec<&Step>> = vec![Vec::new()];
    for step in steps {
        match &step.kind {
            StepKind::Or(alternatives) => {
                let mut next = Vec::new();
                for path in &paths {
                    for alt in alternatives {
                        if next.len() >= MAX_PATHS_PER_STORY {
                            break;
                        }
                        let mut p = path.clone();
                        p.push(alt);
                        next.push(p);
                    }
                }
                paths = next;
            }
            _ => paths.iter_mut().for_each(|p| p.push(step)),
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{Project, ProjectPaths};

    fn moodbot() -> Project {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot");
        Project::load(&ProjectPaths::in_dir(&root)).unwrap()
    }

    #[test]
    fn story_turns_carry_the_whole_history() {
        let p = moodbot();
        let unfolded = unfold_stories(&p.stories);
        let turns = story_turns(&p.domain, &unfolded[0].1);
        let actions: Vec<&str> = turns.iter().map(|t| t.action.as_str()).collect();
        assert_eq!(
            actions,
            ["utter_greet", ACTION_LISTEN, "utter_happy", ACTION_LISTEN]
        );
        let last = &turns[2].states;
        assert_eq!(last.len(), 3);
        assert_eq!(last[0].intent.as_deref(), Some("greet"));
        assert_eq!(last[1].prev_action.as_deref(), Some("utter_greet"));
        assert_eq!(last[2].intent.as_deref(), Some("mood_great"));
        assert_eq!(last[2].prev_action.as_deref(), Some(ACTION_LISTEN));

        let sad = story_turns(&p.domain, &unfolded[1].1);
        assert_eq!(sad.len(), 7);
        // Two actions in a row: the second sees the first as previous action, same user turn.
        assert_eq!(sad[3].action, "utter_did_that_help");
        assert_eq!(
            sad[3].states[3].prev_action.as_deref(),
            Some("utter_cheer_up")
        );
        assert_eq!(sad[3].states[3].intent.as_deref(), Some("mood_unhappy"));
    }

    #[test]
    fn rules_end_with_listen_and_start_with_any_previous_action() {
        let p = moodbot();
        let turns = rule_turns(&p.domain, &p.rules[0]);
        assert_eq!(turns.len(), 2);
        assert_eq!(turns[0].action, "utter_goodbye");
        assert_eq!(
            turns[0].states[0].prev_action.as_deref(),
            Some(ACTION_LISTEN)
        );
        assert_eq!(turns[1].action, ACTION_LISTEN);
        let conversation = DialogueState {
            prev_action: Some(ACTION_LISTEN.into()),
            intent: Some("goodbye".into()),
            entities: Some(vec![]),
            active_loop: Some(None),
            ..DialogueState::default()
        };
        assert!(turns[0].states[0].matches(&conversation));
    }

    #[test]
    fn an_action_a_rule_begins_with_is_what_came_before() {
        let p = moodbot();
        let pos = p.rules[0].pos.clone();
        let step = |kind: StepKind| Step {
            kind,
            pos: pos.clone(),
        };
        let rule = Rule {
            name: "after the question".into(),
            condition: Vec::new(),
            steps: vec![
                step(StepKind::Action("utter_did_that_help".into())),
                step(StepKind::User {
                    intent: Some("affirm".into()),
                    entities: Vec::new(),
                    text: None,
                }),
                step(StepKind::Action("utter_happy".into())),
            ],
            wait_for_user_input: true,
            conversation_start: false,
            pos,
        };
        let turns = rule_turns(&p.domain, &rule);
        let actions: Vec<&str> = turns.iter().map(|t| t.action.as_str()).collect();
        // The first action is never predicted; after it the assistant listens.
        assert_eq!(actions, [ACTION_LISTEN, "utter_happy", ACTION_LISTEN]);
        let after = DialogueState {
            prev_action: Some("utter_did_that_help".into()),
            ..DialogueState::default()
        };
        assert_eq!(turns[0].states, std::slice::from_ref(&after));
        assert_eq!(turns[1].states[0], after);
        assert_eq!(turns[1].states[1].intent.as_deref(), Some("affirm"));
        assert_eq!(
            turns[1].states[1].prev_action.as_deref(),
            Some(ACTION_LISTEN)
        );
    }
}
