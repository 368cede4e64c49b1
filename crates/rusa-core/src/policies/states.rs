//! The dialogue states of a live conversation, featurized exactly as stories are
//! (`rusa_project::dialogue`), so that what was learned is recognised.

use rusa_project::Domain;
use rusa_project::dialogue::{ACTION_LISTEN, DialogueState, entity_features, featurize_slot};
use serde_json::Value;

use crate::events::{EventKind, UserUttered};
use crate::tracker::{ACTION_SESSION_START, DialogueStateTracker};

/// The state before each action of the conversation (since the last restart or session
/// start), and last the current state, for which the next action is to be predicted.
pub fn tracker_states(domain: &Domain, tracker: &DialogueStateTracker) -> Vec<DialogueState> {
    tracker_states_tail(domain, tracker, usize::MAX).0
}

/// The last `keep` states of [`tracker_states`] (the current one included), and how many
/// states there are in all. The policies look back a bounded number of states, so a long
/// conversation costs a walk over its events but no copy of its earlier states.
pub fn tracker_states_tail(
    domain: &Domain,
    tracker: &DialogueStateTracker,
    keep: usize,
) -> (Vec<DialogueState>, usize) {
    let applied = tracker.applied_events();
    // Pass 1: how many states there will be (one before each predicted action, and the
    // current one), so that pass 2 copies only the last `keep`.
    let mut total: usize = 1;
    let mut any_action = false;
    for event in &applied {
        if let EventKind::Action(a) = &event.kind {
            let name = a.name.as_deref().or(a.action_text.as_deref()).unwrap_or("");
            if is_prediction(name, any_action) {
                total += 1;
            }
            any_action = true;
        }
    }
    let skip = total.saturating_sub(keep.max(1));
    let mut states = Vec::with_capacity(total - skip);
    let mut current = DialogueState {
        active_loop: Some(None),
        ..DialogueState::default()
    };
    // The latest user message not yet written into `current` (done only for states kept).
    let mut pending_user = None;
    let mut index = 0;
    for event in applied {
        match &event.kind {
            EventKind::User(u) => pending_user = Some(u),
            EventKind::Action(a) => {
                let name = a
                    .name
                    .clone()
                    .or_else(|| a.action_text.clone())
                    .unwrap_or_default();
                if is_prediction(&name, current.prev_action.is_some()) {
                    if index >= skip {
                        if let Some(u) = pending_user.take() {
                            apply_user(domain, &mut current, u);
                        }
                        states.push(current.clone());
                    }
                    index += 1;
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
    if let Some(u) = pending_user {
        apply_user(domain, &mut current, u);
    }
    if current.prev_action.is_none() {
        current.prev_action = Some(ACTION_LISTEN.to_owned());
    }
    states.push(current);
    (states, total)
}

/// Whether an action was predicted (and so has a state before it): the session start and
/// the first listen of a conversation are not.
fn is_prediction(action: &str, after_another_action: bool) -> bool {
    action != ACTION_SESSION_START && (after_another_action || action != ACTION_LISTEN)
}

/// Writes a user message's intent, entities and (without an intent) text into a state.
fn apply_user(domain: &Domain, state: &mut DialogueState, u: &UserUttered) {
    let intent = u.intent_name().map(str::to_owned);
    state.text = if intent.is_none() {
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
    state.entities = Some(entity_features(domain, intent.as_deref(), entities));
    state.intent = intent;
}
