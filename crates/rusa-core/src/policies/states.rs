//! The dialogue states of a live conversation, featurized exactly as stories are
//! (`rusa_project::dialogue`), so that what was learned is recognised.

use rusa_project::Domain;
use rusa_project::dialogue::{ACTION_LISTEN, DialogueState, entity_features, featurize_slot};
use serde_json::Value;

use crate::events::EventKind;
use crate::tracker::{ACTION_SESSION_START, DialogueStateTracker};

/// The state before each action of the conversation (since the last restart or session
/// start), and last the current state, for which the next action is to be predicted.
pub fn tracker_states(domain: &Domain, tracker: &DialogueStateTracker) -> Vec<DialogueState> {
    let mut states = Vec::new();
    let mut current = DialogueState {
        active_loop: Some(None),
        ..DialogueState::default()
    };
    for event in tracker.applied_events() {
        match &event.kind {
            EventKind::User(u) => {
                let intent = u.intent_name().map(str::to_owned);
                current.text = if intent.is_none() {
                    u.text.clone()
                } else {
                    None
                };
                let entities = u.entities().iter().filter_map(|e| {
                    let name = e.get("entity")?.as_str()?;
                    Some((
                        name,
                        e.get("role").and_then(Value::as_str),
                        e.get("group").and_then(Value::as_str),
                    ))
                });
                current.entities = Some(entity_features(domain, intent.as_deref(), entities));
                current.intent = intent;
            }
            EventKind::Action(a) => {
                let name = a
                    .name
                    .clone()
                    .or_else(|| a.action_text.clone())
                    .unwrap_or_default();
                // The session start and the first listen of a conversation are no predictions.
                let first_listen = name == ACTION_LISTEN && current.prev_action.is_none();
                if name != ACTION_SESSION_START && !first_listen {
                    states.push(current.clone());
                }
                current.prev_action = Some(name);
            }
            EventKind::Slot { name, value } => {
                if let Some(slot) = domain.slot(name) {
                    match featurize_slot(slot, value) {
                        Some(f) => {
                            current.slots.insert(name.clone(), f);
                        }
                        None => {
                            current.slots.remove(name);
                        }
                    }
                }
            }
            EventKind::ActiveLoop { name } => current.active_loop = Some(name.clone()),
            EventKind::AllSlotsReset => current.slots.clear(),
            _ => {}
        }
    }
    if current.prev_action.is_none() {
        current.prev_action = Some(ACTION_LISTEN.to_owned());
    }
    states.push(current);
    states
}
