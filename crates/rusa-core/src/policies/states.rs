//! The dialogue states of a live conversation, featurized exactly as stories are
//! (`rusa_project::dialogue`), so that what was learned is recognised.

use std::collections::VecDeque;

use rusa_project::Domain;
use rusa_project::dialogue::{ACTION_LISTEN, DialogueState, entity_features, featurize_slot};
use serde_json::Value;

use crate::events::{ActionExecuted, Event, EventKind, UserUttered};
use crate::tracker::{ACTION_SESSION_START, DialogueStateTracker};

/// The state before each action of the conversation (since the last restart or session
/// start), and last the current state, for which the next action is to be predicted.
pub fn tracker_states(domain: &Domain, tracker: &DialogueStateTracker) -> Vec<DialogueState> {
    let mut walk = StatesWalk::new(domain, usize::MAX);
    walk.walk_all(domain, tracker);
    walk.states(domain, tracker).0
}

/// The last `keep` states of [`tracker_states`] (the current one included), and how many
/// states there are in all.
///
/// The policies look back a bounded number of states, and a conversation only grows at
/// its end, so the tracker keeps where this walk over its events stopped (for one domain
/// and one `keep`) and the next call reads only the events added since: a turn in a long
/// conversation costs what a turn in a short one does. A rewind or undo makes the walk
/// start over.
pub fn tracker_states_tail(
    domain: &Domain,
    tracker: &DialogueStateTracker,
    keep: usize,
) -> (Vec<DialogueState>, usize) {
    let mut memo = tracker.states_memo();
    let walk = match memo.take() {
        Some(mut walk) if walk.is_for(domain, keep) => {
            if !walk.resume(domain, tracker) {
                walk.walk_all(domain, tracker);
            }
            walk
        }
        _ => {
            let mut walk = StatesWalk::new(domain, keep);
            walk.walk_all(domain, tracker);
            walk
        }
    };
    let result = walk.states(domain, tracker);
    *memo = Some(walk);
    result
}

/// Whether neither an action nor a user message is in effect in the conversation: its
/// start (after a session start, or after a fallback reverted a session's first message).
/// Every story and rule begins by listening there, and Rasa's policies learn that (the
/// empty state `{}` → `action_listen`).
pub fn is_conversation_start(tracker: &DialogueStateTracker) -> bool {
    tracker.latest_action_name().is_none()
        && tracker.latest_message().is_none()
        && !tracker
            .applied_events()
            .iter()
            .any(|e| matches!(e.kind, EventKind::Action(_)))
}

/// A walk over a conversation's events in effect that yields its dialogue states, and can
/// go on from where it stopped when events were added.
#[derive(Debug, Clone)]
pub(crate) struct StatesWalk {
    /// The address of the domain the states are featurized for (a tracker is used with
    /// one model; the address only guards against mixing two).
    domain: usize,
    keep: usize,
    /// The position in the tracker's events of the next event to read.
    next: usize,
    /// The states before predicted actions so far.
    predictions: usize,
    /// The last `keep - 1` of them.
    tail: VecDeque<DialogueState>,
    current: DialogueState,
    /// The position of the latest user message not yet written into `current`.
    pending_user: Option<usize>,
    /// States before this many predictions are not kept, so they are not written out
    /// either (writing one reads its user message's parse data).
    kept_from: usize,
}

impl StatesWalk {
    fn new(domain: &Domain, keep: usize) -> Self {
        Self {
            domain: std::ptr::from_ref(domain) as usize,
            keep: keep.max(1),
            next: 0,
            predictions: 0,
            tail: VecDeque::new(),
            current: Self::start_state(),
            pending_user: None,
            kept_from: 0,
        }
    }

    fn start_state() -> DialogueState {
        DialogueState {
            active_loop: Some(None),
            ..DialogueState::default()
        }
    }

    fn is_for(&self, domain: &Domain, keep: usize) -> bool {
        self.domain == std::ptr::from_ref(domain) as usize && self.keep == keep.max(1)
    }

    fn restart(&mut self) {
        self.predictions = 0;
        self.tail.clear();
        self.current = Self::start_state();
        self.pending_user = None;
    }

    /// Walks all events in effect (after the last restart or session start, rewinds and
    /// undos applied).
    fn walk_all(&mut self, domain: &Domain, tracker: &DialogueStateTracker) {
        self.restart();
        let events = tracker.events();
        let applied = tracker.applied_positions();
        // How many states there will be, so that only the kept ones are written.
        let mut predictions = 0;
        let mut any_action = false;
        for &i in &applied {
            if let EventKind::Action(a) = &events[i].kind {
                let name = action_label(a);
                if is_prediction(name, any_action) {
                    predictions += 1;
                }
                any_action = true;
            }
        }
        self.kept_from = predictions - predictions.min(self.keep - 1);
        for i in applied {
            self.step(domain, events, i);
        }
        self.kept_from = 0;
        self.next = events.len();
    }

    /// Walks the events added since the last walk; `false` when one of them undoes earlier
    /// events (then the walk must start over).
    fn resume(&mut self, domain: &Domain, tracker: &DialogueStateTracker) -> bool {
        let events = tracker.events();
        if self.next > events.len() {
            return false;
        }
        for i in self.next..events.len() {
            match events[i].kind {
                EventKind::UserUtteranceReverted | EventKind::ActionReverted => return false,
                EventKind::Restart | EventKind::SessionStarted => self.restart(),
                _ => self.step(domain, events, i),
            }
        }
        self.next = events.len();
        true
    }

    fn step(&mut self, domain: &Domain, events: &[Event], i: usize) {
        match &events[i].kind {
            EventKind::User(_) => self.pending_user = Some(i),
            EventKind::Action(a) => {
                let name = action_label(a);
                // A state not kept leaves its user message pending: the next kept state
                // (or the current one) writes the latest, which overwrites all the
                // message's features anyway.
                if is_prediction(name, self.current.prev_action.is_some()) {
                    if self.predictions >= self.kept_from {
                        self.write_pending_user(domain, events);
                        if self.keep > 1 {
                            if self.tail.len() == self.keep - 1 {
                                self.tail.pop_front();
                            }
                            self.tail.push_back(self.current.clone());
                        }
                    }
                    self.predictions += 1;
                }
                self.current.prev_action = Some(name.to_owned());
            }
            EventKind::Slot { name, value } => {
                if let Some(slot) = domain.slot(name) {
                    match featurize_slot(slot, value) {
                        Some(f) => {
                            self.current.slots.insert(name.clone(), f);
                        }
                        None => {
                            self.current.slots.remove(name);
                        }
                    }
                }
            }
            EventKind::ActiveLoop { name } => self.current.active_loop = Some(name.clone()),
            EventKind::AllSlotsReset => self.current.slots.clear(),
            _ => {}
        }
    }

    fn write_pending_user(&mut self, domain: &Domain, events: &[Event]) {
        if let Some(i) = self.pending_user.take()
            && let EventKind::User(u) = &events[i].kind
        {
            apply_user(domain, &mut self.current, u);
        }
    }

    /// The kept states and the current one, and the number of states in all.
    fn states(
        &self,
        domain: &Domain,
        tracker: &DialogueStateTracker,
    ) -> (Vec<DialogueState>, usize) {
        let mut current = self.current.clone();
        if let Some(i) = self.pending_user
            && let EventKind::User(u) = &tracker.events()[i].kind
        {
            apply_user(domain, &mut current, u);
        }
        if current.prev_action.is_none() {
            current.prev_action = Some(ACTION_LISTEN.to_owned());
        }
        let mut states: Vec<DialogueState> = self.tail.iter().cloned().collect();
        states.push(current);
        (states, self.predictions + 1)
    }
}

/// What names an action in a dialogue state: its name, or the text of an end-to-end bot
/// action.
fn action_label(a: &ActionExecuted) -> &str {
    a.name.as_deref().or(a.action_text.as_deref()).unwrap_or("")
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
