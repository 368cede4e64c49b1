//! `rusa data validate`: checks that the domain, the NLU data, the stories and the rules fit
//! together.
//!
//! Severity follows what breaks an assistant: something used but not defined is an error;
//! something defined but never used is a warning. Examples listed under two intents are a
//! warning, as in Rasa (the data still trains); a response that cannot say anything is an
//! error. A story structure conflict is a warning, as in Rasa 3.6 (its
//! `verify_story_structure` fails only with `--fail-on-warnings`).
//!
//! The verdict (the exit code) is Rasa 3.6's on the same project: what Rasa only warns
//! about stays a warning here even where rusa says more. Training examples of an intent or
//! an entity the domain does not list are warnings (the model learns them; the dialogue
//! never sees them), a slot mapping naming an intent the domain does not list is a warning
//! (Rasa says nothing), and story conflicts are looked for over every preceding turn unless
//! `--max-history` asks for fewer, as Rasa's `find_story_conflicts` does.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::dialogue::{DialogueState, story_turns, unfold_stories};
use crate::domain::{MappingType, SlotType};
use crate::error::{Diagnostic, Pos, Severity};
use crate::project::Project;
use crate::stories::{Step, StepKind};

/// Actions every assistant has without declaring them.
pub const DEFAULT_ACTIONS: &[&str] = &[
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "action_extract_slots",
];

/// Default actions that run as loops (they may appear in `active_loop`).
pub const DEFAULT_LOOPS: &[&str] = &["action_two_stage_fallback"];

/// Intents every assistant has without declaring them.
pub const DEFAULT_INTENTS: &[&str] = &[
    "restart",
    "back",
    "out_of_scope",
    "session_start",
    "nlu_fallback",
];

/// Slots every assistant has without declaring them.
pub const DEFAULT_SLOTS: &[&str] = &["requested_slot", "session_started_metadata"];

/// Options of a validation run.
#[derive(Debug, Clone, Default)]
pub struct ValidateOptions {
    /// Turns of history compared by the story conflict check; `None`: every preceding turn
    /// (Rasa's default; policies' `max_history` does not narrow it).
    pub max_history: Option<usize>,
}

/// The findings of a validation run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub diagnostics: Vec<Diagnostic>,
    /// The turns compared by the story conflict check; `None`: all of them.
    pub max_history: Option<usize>,
}

impl Report {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// The findings grouped by file (files in name order, findings by line), then a summary.
    pub fn render(&self) -> String {
        let mut by_file: BTreeMap<&Path, Vec<&Diagnostic>> = BTreeMap::new();
        for d in &self.diagnostics {
            by_file.entry(&d.pos.path).or_default().push(d);
        }
        let mut out = String::new();
        for (file, mut list) in by_file {
            list.sort_by_key(|d| (d.pos.line, d.pos.column, d.severity, d.message.clone()));
            let _ = writeln!(out, "{}", file.display());
            for d in list {
                let place = format!("{}:{}", d.pos.line, d.pos.column);
                let mut lines = d.message.lines();
                let _ = writeln!(
                    out,
                    "  {:<8} {:<8} {}",
                    d.severity.to_string(),
                    place,
                    lines.next().unwrap_or_default()
                );
                for more in lines {
                    let _ = writeln!(out, "  {:<8} {:<8} {}", "", "", more);
                }
            }
            out.push('\n');
        }
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            out,
            "{}, {}",
            plural(self.errors(), "error"),
            plural(self.warnings(), "warning")
        );
        out
    }
}

/// Checks the project and returns every finding, including the warnings of loading it.
pub fn validate(project: &Project, options: &ValidateOptions) -> Report {
    let max_history = options.max_history.map(|n| n.max(1));
    let mut v = Validator {
        project,
        out: project.warnings.clone(),
    };
    v.intents();
    v.entities();
    v.actions_and_responses();
    v.slots_and_forms();
    v.examples();
    v.checkpoints();
    v.story_conflicts(max_history);
    v.out.dedup();
    Report {
        diagnostics: v.out,
        max_history,
    }
}

struct Validator<'a> {
    project: &'a Project,
    out: Vec<Diagnostic>,
}

/// Every step of stories and rules (and rule conditions), `or` alternatives included.
fn all_steps(project: &Project) -> Vec<&Step> {
    fn push<'s>(steps: &'s [Step], out: &mut Vec<&'s Step>) {
        for s in steps {
            out.push(s);
            if let StepKind::Or(alts) = &s.kind {
                push(alts, out);
            }
        }
    }
    let mut out = Vec::new();
    for story in &project.stories {
        push(&story.steps, &mut out);
    }
    for rule in &project.rules {
        push(&rule.condition, &mut out);
        push(&rule.steps, &mut out);
    }
    out
}

impl Validator<'_> {
    fn error(&mut self, pos: &Pos, message: String) {
        self.out.push(Diagnostic::error(pos.clone(), message));
    }

    fn warning(&mut self, pos: &Pos, message: String) {
        self.out.push(Diagnostic::warning(pos.clone(), message));
    }

    fn intent_defined(&self, name: &str) -> bool {
        self.project.domain.intent(name).is_some() || DEFAULT_INTENTS.contains(&name)
    }

    fn intents(&mut self) {
        let p = self.project;
        let mut in_nlu: HashSet<&str> = HashSet::new();
        let mut reported = HashSet::new();
        for e in &p.nlu.examples {
            let base = e.base_intent();
            in_nlu.insert(base);
            if !self.intent_defined(base) && reported.insert(base) {
                self.warning(
                    &e.pos,
                    format!(
                        "intent '{base}' has training examples but is not listed in the domain; the assistant never acts on it"
                    ),
                );
            }
        }
        let mut in_dialogue: HashSet<&str> = HashSet::new();
        for step in all_steps(p) {
            if let StepKind::User {
                intent: Some(intent),
                ..
            } = &step.kind
            {
                in_dialogue.insert(intent);
                if !self.intent_defined(intent) {
                    self.error(
                        &step.pos,
                        format!("intent '{intent}' is used here but is not listed in the domain"),
                    );
                }
            }
        }
        for slot in &p.domain.slots {
            for m in &slot.mappings {
                for intent in m.intent.iter().chain(&m.not_intent) {
                    if !self.intent_defined(intent) {
                        self.warning(&m.pos, format!("a mapping of slot '{}' names intent '{intent}', which is not listed in the domain", slot.name));
                    }
                }
            }
        }
        for form in &p.domain.forms {
            for intent in &form.ignored_intents {
                if !self.intent_defined(intent) {
                    self.error(&form.pos, format!("form '{}' ignores intent '{intent}', which is not listed in the domain", form.name));
                }
            }
        }
        for intent in &p.domain.intents {
            if !in_nlu.contains(intent.name.as_str())
                && !DEFAULT_INTENTS.contains(&intent.name.as_str())
            {
                self.warning(
                    &intent.pos,
                    format!("intent '{}' has no training examples", intent.name),
                );
            }
            let used_by_mapping = p
                .domain
                .slots
                .iter()
                .flat_map(|s| &s.mappings)
                .any(|m| m.intent.contains(&intent.name));
            if !in_dialogue.contains(intent.name.as_str()) && !used_by_mapping {
                self.warning(
                    &intent.pos,
                    format!("intent '{}' is not used in any story or rule", intent.name),
                );
            }
        }
    }

    fn entities(&mut self) {
        let p = self.project;
        let mut used: HashSet<&str> = HashSet::new();
        let mut reported = HashSet::new();
        for e in &p.nlu.examples {
            for span in &e.entities {
                used.insert(&span.entity);
                match p.domain.entity(&span.entity) {
                    None => {
                        if reported.insert(span.entity.as_str()) {
                            self.warning(&e.pos, format!("entity '{}' is annotated in an example of intent '{}' but is not listed in the domain; it is extracted but fills no slot", span.entity, e.intent));
                        }
                    }
                    Some(def) => {
                        if let Some(role) = &span.role
                            && !def.roles.contains(role)
                            && reported.insert(role.as_str())
                        {
                            self.warning(&e.pos, format!("role '{role}' of entity '{}' is not listed under the entity's roles in the domain", span.entity));
                        }
                        if let Some(group) = &span.group
                            && !def.groups.contains(group)
                            && reported.insert(group.as_str())
                        {
                            self.warning(&e.pos, format!("group '{group}' of entity '{}' is not listed under the entity's groups in the domain", span.entity));
                        }
                    }
                }
            }
        }
        for step in all_steps(p) {
            if let StepKind::User { entities, .. } = &step.kind {
                for e in entities {
                    used.insert(&e.entity);
                    if p.domain.entity(&e.entity).is_none() {
                        self.error(
                            &step.pos,
                            format!(
                                "entity '{}' is used here but is not listed in the domain",
                                e.entity
                            ),
                        );
                    }
                }
            }
        }
        for slot in &p.domain.slots {
            for m in &slot.mappings {
                if let Some(entity) = &m.entity {
                    used.insert(entity);
                    match p.domain.entity(entity) {
                        None => self.error(&m.pos, format!("slot '{}' is filled from entity '{entity}', which is not listed in the domain", slot.name)),
                        Some(def) => {
                            if let Some(role) = m.role.as_ref().filter(|r| !def.roles.contains(r)) {
                                self.error(&m.pos, format!("slot '{}' is filled from role '{role}' of entity '{entity}', which the domain does not list", slot.name));
                            }
                            if let Some(group) = m.group.as_ref().filter(|g| !def.groups.contains(g)) {
                                self.error(&m.pos, format!("slot '{}' is filled from group '{group}' of entity '{entity}', which the domain does not list", slot.name));
                            }
                        }
                    }
                }
            }
        }
        for intent in &p.domain.intents {
            for entity in intent
                .use_entities
                .iter()
                .flatten()
                .chain(&intent.ignore_entities)
            {
                if p.domain.entity(entity).is_none() {
                    self.error(&intent.pos, format!("intent '{}' names entity '{entity}', which is not listed in the domain", intent.name));
                }
            }
        }
        // Entities that fill a slot of the same name are used by that slot.
        for entity in &p.domain.entities {
            let fills_slot =
                p.domain.store_entities_as_slots && p.domain.slot(&entity.name).is_some();
            if !used.contains(entity.name.as_str()) && !fills_slot {
                self.warning(
                    &entity.pos,
                    format!(
                        "entity '{}' is not used in any example, story, rule or slot mapping",
                        entity.name
                    ),
                );
            }
        }
    }

    fn actions_and_responses(&mut self) {
        let p = self.project;
        let d = &p.domain;
        let mut used: HashSet<&str> = HashSet::new();
        for step in all_steps(p) {
            let StepKind::Action(name) = &step.kind else {
                continue;
            };
            used.insert(name);
            // `utter_faq` answers the retrieval intent `faq` with one of `utter_faq/...`.
            let retrieval_prefix = format!("{name}/");
            let known = DEFAULT_ACTIONS.contains(&name.as_str())
                || d.has_action(name)
                || d.form(name).is_some()
                || d.responses.contains_key(name)
                || (name.starts_with("utter_")
                    && d.responses.keys().any(|k| k.starts_with(&retrieval_prefix)));
            if known {
                continue;
            }
            if name.starts_with("utter_") {
                self.error(
                    &step.pos,
                    format!(
                        "response '{name}' is used here but the domain has no response of that name"
                    ),
                );
            } else {
                self.error(
                    &step.pos,
                    format!(
                        "action '{name}' is used here but is not listed in the domain's actions"
                    ),
                );
            }
        }
        for slot in &d.slots {
            for m in &slot.mappings {
                if let Some(action) = &m.action {
                    used.insert(action);
                    if !d.has_action(action) && !DEFAULT_ACTIONS.contains(&action.as_str()) {
                        self.error(&m.pos, format!("slot '{}' is filled by action '{action}', which is not listed in the domain's actions", slot.name));
                    }
                }
            }
        }
        // Responses used implicitly: forms ask for their slots with utter_ask_*, retrieval
        // intents answer with utter_<intent>/<key>, fallback uses utter_default.
        let mut implicit: HashSet<String> = HashSet::new();
        for form in &d.forms {
            implicit.insert(format!("validate_{}", form.name));
            for (slot, _) in &form.required_slots {
                implicit.insert(format!("utter_ask_{}_{slot}", form.name));
                implicit.insert(format!("utter_ask_{slot}"));
                implicit.insert(format!("action_ask_{}_{slot}", form.name));
                implicit.insert(format!("action_ask_{slot}"));
            }
        }
        for e in &p.nlu.examples {
            if let Some(key) = e.response_key() {
                implicit.insert(format!("utter_{key}"));
            }
        }
        let retrieval_bases: HashSet<String> = p
            .nlu
            .examples
            .iter()
            .filter(|e| e.response_key().is_some())
            .map(|e| format!("utter_{}", e.base_intent()))
            .collect();
        for name in [
            "utter_default",
            "action_default_fallback",
            "utter_ask_rephrase",
            "utter_ask_affirmation",
        ] {
            implicit.insert(name.to_owned());
        }
        for action in &d.actions {
            let is_used = used.contains(action.name.as_str())
                || implicit.contains(&action.name)
                || retrieval_bases.contains(&action.name);
            if !is_used {
                self.warning(
                    &action.pos,
                    format!("action '{}' is not used in any story or rule", action.name),
                );
            }
        }
        for (name, response) in &d.responses {
            let is_used = used.contains(name.as_str())
                || implicit.contains(name)
                || name
                    .split_once('/')
                    .is_some_and(|(base, _)| used.contains(base) || retrieval_bases.contains(base));
            if !is_used {
                self.warning(
                    &response.pos,
                    format!("response '{name}' is not used in any story, rule or form"),
                );
            }
            if response.variations.is_empty() {
                self.error(
                    &response.pos,
                    format!("response '{name}' has no variations"),
                );
            }
            for variation in &response.variations {
                if !variation.has_content() {
                    self.error(&variation.pos, format!("a variation of response '{name}' has no text, image, buttons or custom payload"));
                }
                for condition in &variation.conditions {
                    if d.slot(&condition.slot).is_none() {
                        self.error(&variation.pos, format!("a variation of response '{name}' has a condition on slot '{}', which the domain does not define", condition.slot));
                    }
                }
                if let Some(text) = &variation.text {
                    for placeholder in placeholders(text) {
                        if d.slot(placeholder).is_none() && !DEFAULT_SLOTS.contains(&placeholder) {
                            self.warning(&variation.pos, format!("response '{name}' fills in '{{{placeholder}}}', but the domain has no slot of that name"));
                        }
                    }
                }
            }
        }
    }

    fn slots_and_forms(&mut self) {
        let p = self.project;
        let d = &p.domain;
        let mut used_slots: HashSet<&str> = HashSet::new();
        let mut used_loops: HashSet<&str> = HashSet::new();
        for step in all_steps(p) {
            match &step.kind {
                StepKind::SlotWasSet(slots) => {
                    for (name, value) in slots {
                        used_slots.insert(name);
                        match d.slot(name) {
                            None if !DEFAULT_SLOTS.contains(&name.as_str()) => {
                                self.error(&step.pos, format!("slot '{name}' is used here but the domain does not define it"));
                            }
                            Some(slot) => {
                                if let (SlotType::Categorical { values }, Some(value)) =
                                    (&slot.slot_type, value)
                                {
                                    let text = json_text(value);
                                    if !value.is_null()
                                        && !values.iter().any(|v| v.eq_ignore_ascii_case(&text))
                                    {
                                        self.error(&step.pos, format!("slot '{name}' is set to '{text}', which is not one of its values ({})", values.join(", ")));
                                    }
                                }
                            }
                            None => {}
                        }
                    }
                }
                StepKind::ActiveLoop(Some(name)) => {
                    used_loops.insert(name);
                    if d.form(name).is_none()
                        && !d.has_action(name)
                        && !DEFAULT_LOOPS.contains(&name.as_str())
                    {
                        self.error(&step.pos, format!("loop '{name}' is activated here but the domain defines no form or action of that name"));
                    }
                }
                StepKind::Action(name) => {
                    used_loops.insert(name);
                }
                _ => {}
            }
        }
        for form in &d.forms {
            for (slot, pos) in &form.required_slots {
                used_slots.insert(slot);
                if d.slot(slot).is_none() {
                    self.error(
                        pos,
                        format!(
                            "form '{}' requires slot '{slot}', which the domain does not define",
                            form.name
                        ),
                    );
                }
            }
            if !used_loops.contains(form.name.as_str()) {
                self.warning(
                    &form.pos,
                    format!("form '{}' is not used in any story or rule", form.name),
                );
            }
        }
        for slot in &d.slots {
            for m in &slot.mappings {
                for c in &m.conditions {
                    if let Some(form) = &c.active_loop
                        && d.form(form).is_none()
                        && !d.has_action(form)
                    {
                        self.error(&m.pos, format!("a mapping of slot '{}' is conditioned on loop '{form}', which the domain does not define", slot.name));
                    }
                    if let Some(requested) = &c.requested_slot {
                        used_slots.insert(requested);
                        if d.slot(requested).is_none() {
                            self.error(&m.pos, format!("a mapping of slot '{}' is conditioned on requested slot '{requested}', which the domain does not define", slot.name));
                        }
                    }
                }
            }
        }
        for response in d.responses.values() {
            for variation in &response.variations {
                for c in &variation.conditions {
                    used_slots.insert(&c.slot);
                }
                if let Some(text) = &variation.text {
                    used_slots.extend(placeholders(text));
                }
            }
        }
        for slot in &d.slots {
            let filled_by_actions = slot
                .mappings
                .iter()
                .any(|m| m.mapping_type == MappingType::Custom);
            let from_same_entity = slot
                .mappings
                .iter()
                .any(|m| m.entity.as_deref() == Some(slot.name.as_str()));
            if !used_slots.contains(slot.name.as_str())
                && !filled_by_actions
                && !from_same_entity
                && !DEFAULT_SLOTS.contains(&slot.name.as_str())
            {
                self.warning(
                    &slot.pos,
                    format!(
                        "slot '{}' is not used in any story, rule, form or response",
                        slot.name
                    ),
                );
            }
        }
    }

    fn examples(&mut self) {
        let mut first: HashMap<String, (&str, &Pos)> = HashMap::new();
        let mut reported: HashSet<(String, String)> = HashSet::new();
        for e in &self.project.nlu.examples {
            let key = e.text.trim().to_lowercase();
            match first.get(&key) {
                Some((intent, pos)) if *intent != e.intent => {
                    if reported.insert((key.clone(), e.intent.clone())) {
                        self.out.push(Diagnostic::warning(
                            e.pos.clone(),
                            format!("the example '{}' is listed under intent '{}' and under intent '{intent}' ({}:{})", e.text, e.intent, pos.path.display(), pos.line),
                        ));
                    }
                }
                Some((_, pos)) => {
                    if reported.insert((key.clone(), e.intent.clone())) {
                        self.out.push(Diagnostic::warning(e.pos.clone(), format!("the example '{}' is listed twice under intent '{}' (also at line {})", e.text, e.intent, pos.line)));
                    }
                }
                None => {
                    first.insert(key, (&e.intent, &e.pos));
                }
            }
        }
    }

    fn checkpoints(&mut self) {
        let mut starts: HashMap<&str, &Pos> = HashMap::new();
        let mut ends: HashMap<&str, &Pos> = HashMap::new();
        for story in &self.project.stories {
            let n = story.steps.len();
            for (i, step) in story.steps.iter().enumerate() {
                if let StepKind::Checkpoint(name) = &step.kind {
                    if i == 0 {
                        starts.insert(name, &step.pos);
                    } else if i + 1 == n {
                        ends.insert(name, &step.pos);
                    } else {
                        self.out.push(Diagnostic::error(step.pos.clone(), format!("checkpoint '{name}' stands in the middle of story '{}'; checkpoints may only start or end a story", story.name)));
                    }
                }
            }
        }
        for (name, pos) in &starts {
            if !ends.contains_key(name) {
                self.out.push(Diagnostic::warning((*pos).clone(), format!("checkpoint '{name}' starts a story but no story ends with it; the story is never reached")));
            }
        }
        for (name, pos) in &ends {
            if !starts.contains_key(name) {
                self.out.push(Diagnostic::warning(
                    (*pos).clone(),
                    format!("checkpoint '{name}' ends a story but no story starts with it"),
                ));
            }
        }
    }

    /// Finds dialogue states (the last `max_history` turns) that different stories continue
    /// with different actions.
    fn story_conflicts(&mut self, max_history: Option<usize>) {
        let p = self.project;
        // state window → (conversation shown to the user, action → first (story, position))
        type Seen<'p> = (String, BTreeMap<String, (&'p str, &'p Pos)>);
        let mut seen: HashMap<Vec<DialogueState>, Seen<'_>> = HashMap::new();
        let mut order: Vec<Vec<DialogueState>> = Vec::new();
        for (story, steps) in unfold_stories(&p.stories) {
            for turn in story_turns(&p.domain, &steps) {
                let window_start = max_history.map_or(0, |n| turn.states.len().saturating_sub(n));
                let key = turn.states[window_start..].to_vec();
                let shown_from = turn.state_starts[window_start].min(turn.events.len());
                let entry = seen.entry(key.clone()).or_insert_with(|| {
                    order.push(key);
                    (turn.events[shown_from..].join(" → "), BTreeMap::new())
                });
                entry
                    .1
                    .entry(turn.action.clone())
                    .or_insert((story.name.as_str(), turn.pos));
            }
        }
        for key in order {
            let (shown, actions) = &seen[&key];
            let stories: BTreeSet<&str> = actions.values().map(|(s, _)| *s).collect();
            if actions.len() < 2 || stories.len() < 2 {
                continue;
            }
            let mut message = format!(
                "story structure conflict: the same conversation continues differently\n  conversation: {shown}"
            );
            for (action, (story, pos)) in actions {
                let _ = write!(
                    message,
                    "\n  then '{action}' in story '{story}' (line {})",
                    pos.line
                );
            }
            let _ = write!(
                message,
                "\n  compared over the last {} action(s); make the stories differ earlier, or make them agree",
                key.len()
            );
            let (_, pos) = actions.values().next().expect("at least two actions");
            // A warning, as in Rasa 3.6: `verify_story_structure` fails validation only
            // when asked to (`--fail-on-warnings`, `--fail-on-validation-warnings`).
            self.out.push(Diagnostic::warning((*pos).clone(), message));
        }
    }
}

/// The `{name}` placeholders of a response text.
fn placeholders(text: &str) -> impl Iterator<Item = &str> {
    text.split('{').skip(1).filter_map(|part| {
        let name = part.split_once('}')?.0;
        (!name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')).then_some(name)
    })
}

fn json_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_slot_names_in_braces() {
        let found: Vec<&str> = placeholders("Hi {name}, {not a slot} {x_1}{").collect();
        assert_eq!(found, ["name", "x_1"]);
    }
}
