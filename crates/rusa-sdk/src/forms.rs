//! Slot validation: rasa-sdk's `ValidationAction` (global slots, action
//! `action_validate_slot_mappings`) and `FormValidationAction` (`validate_<form>`).
//!
//! Python finds `validate_<slot>` and `extract_<slot>` methods by name; Rust has no
//! reflection, so an implementation lists the slots it validates and extracts
//! ([`FormValidationAction::validated_slots`], [`FormValidationAction::extracted_slots`])
//! and answers them in one method each, by slot name. The lists are checked when the
//! server starts. Otherwise the semantics are rasa-sdk's:
//!
//! 1. for each slot of `required_slots`, `extract_slot` (when the slot is listed) returns
//!    `{slot: value, ...}`, applied to the tracker at once, so the next extraction sees it;
//! 2. the slots set at the end of the conversation (the trailing `slot` events, now with
//!    the extracted ones) that are required are validated: `validate_slot` (when listed)
//!    returns `{slot: value, ...}` (`null` rejects the value); a slot without a validator
//!    keeps its value, with a warning;
//! 3. a form whose `required_slots` differ from the domain's also gets
//!    `requested_slot` set to the first required slot without a value (or `null`, which
//!    ends the form).
//!
//! ```
//! use rusa_sdk::{ActionError, Dispatcher, Domain, FormValidationAction, Tracker};
//! use serde_json::{Value, json};
//!
//! struct ValidateWeatherForm;
//!
//! #[rusa_sdk::async_trait]
//! impl FormValidationAction for ValidateWeatherForm {
//!     fn name(&self) -> &str {
//!         "validate_weather_form"
//!     }
//!
//!     fn validated_slots(&self) -> &[&str] {
//!         &["city"]
//!     }
//!
//!     async fn validate_slot(
//!         &self,
//!         slot: &str,
//!         value: &Value,
//!         dispatcher: &mut Dispatcher,
//!         _tracker: &Tracker,
//!         _domain: &Domain,
//!     ) -> Result<Value, ActionError> {
//!         let city = value.as_str().unwrap_or_default();
//!         if city.eq_ignore_ascii_case("atlantis") {
//!             dispatcher.utter_text("Atlantis is not a real city.");
//!             return Ok(json!({ slot: null }));
//!         }
//!         Ok(json!({ slot: city }))
//!     }
//! }
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tracing::Instrument as _;

use crate::tracker::REQUESTED_SLOT;
use crate::{Action, ActionError, Dispatcher, Domain, Event, Tracker, events};

/// The name of the action that validates global slots.
pub const ACTION_VALIDATE_SLOT_MAPPINGS: &str = "action_validate_slot_mappings";

/// Validates (and extracts) the slots of one form; registered with
/// [`crate::ActionServer::form_validation_action`]. Rasa calls it after every user message
/// while the form `form_name()` is active.
#[async_trait]
pub trait FormValidationAction: Send + Sync + 'static {
    /// `validate_<form name>`.
    fn name(&self) -> &str;

    /// The form: the name without its first `validate_`.
    fn form_name(&self) -> String {
        self.name().replacen("validate_", "", 1)
    }

    /// The slots [`Self::validate_slot`] validates (Python's `validate_<slot>` methods).
    fn validated_slots(&self) -> &[&str] {
        &[]
    }

    /// The slots [`Self::extract_slot`] extracts (Python's `extract_<slot>` methods).
    fn extracted_slots(&self) -> &[&str] {
        &[]
    }

    /// Validates `value` of `slot` (one of [`Self::validated_slots`]): returns the slots to
    /// set, `{slot: value}` to accept it, `{slot: null}` to reject it. Anything but an
    /// object is ignored with a warning.
    async fn validate_slot(
        &self,
        slot: &str,
        value: &Value,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError> {
        let _ = (dispatcher, tracker, domain);
        Ok(Value::Object(Map::from_iter([(
            slot.to_owned(),
            value.clone(),
        )])))
    }

    /// Extracts `slot` (one of [`Self::extracted_slots`]) from the conversation: returns the
    /// slots to set (`{}` for none).
    async fn extract_slot(
        &self,
        slot: &str,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError> {
        let _ = (slot, dispatcher, tracker, domain);
        Ok(Value::Object(Map::new()))
    }

    /// The slots the form needs, given those the domain lists for it. Returning something
    /// else than `domain_slots` makes this action choose the next slot to ask for.
    async fn required_slots(
        &self,
        domain_slots: Vec<String>,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<String>, ActionError> {
        let _ = (dispatcher, tracker, domain);
        Ok(domain_slots)
    }
}

/// Validates (and extracts) global slots, those with no mapping conditioned on a form;
/// registered with [`crate::ActionServer::validation_action`]. Rasa calls it after every
/// user message. The methods mean what they mean in [`FormValidationAction`].
#[async_trait]
pub trait ValidationAction: Send + Sync + 'static {
    /// `action_validate_slot_mappings`, the name Rasa calls.
    fn name(&self) -> &str {
        ACTION_VALIDATE_SLOT_MAPPINGS
    }

    /// The slots [`Self::validate_slot`] validates.
    fn validated_slots(&self) -> &[&str] {
        &[]
    }

    /// The slots [`Self::extract_slot`] extracts.
    fn extracted_slots(&self) -> &[&str] {
        &[]
    }

    /// See [`FormValidationAction::validate_slot`].
    async fn validate_slot(
        &self,
        slot: &str,
        value: &Value,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError> {
        let _ = (dispatcher, tracker, domain);
        Ok(Value::Object(Map::from_iter([(
            slot.to_owned(),
            value.clone(),
        )])))
    }

    /// See [`FormValidationAction::extract_slot`].
    async fn extract_slot(
        &self,
        slot: &str,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError> {
        let _ = (slot, dispatcher, tracker, domain);
        Ok(Value::Object(Map::new()))
    }

    /// The slots to handle, given the domain's global slots.
    async fn required_slots(
        &self,
        domain_slots: Vec<String>,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<String>, ActionError> {
        let _ = (dispatcher, tracker, domain);
        Ok(domain_slots)
    }
}

/// What the validation run needs of either trait.
#[async_trait]
trait Hooks: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn validated_slots(&self) -> &[&str];
    fn extracted_slots(&self) -> &[&str];
    fn domain_slots(&self, domain: &Domain) -> Vec<String>;
    async fn validate_slot(
        &self,
        slot: &str,
        value: &Value,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError>;
    async fn extract_slot(
        &self,
        slot: &str,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Value, ActionError>;
    async fn required_slots(
        &self,
        domain_slots: Vec<String>,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<String>, ActionError>;
}

/// Implements [`Hooks`] for an adapter around one of the traits.
macro_rules! hooks_for {
    ($adapter:ident, $trait:ident, |$this:ident, $domain:ident| $domain_slots:expr) => {
        #[async_trait]
        impl<T: $trait> Hooks for $adapter<T> {
            fn name(&self) -> &str {
                self.inner.name()
            }
            fn validated_slots(&self) -> &[&str] {
                self.inner.validated_slots()
            }
            fn extracted_slots(&self) -> &[&str] {
                self.inner.extracted_slots()
            }
            fn domain_slots(&self, $domain: &Domain) -> Vec<String> {
                let $this = &self.inner;
                $domain_slots
            }
            async fn validate_slot(
                &self,
                slot: &str,
                value: &Value,
                dispatcher: &mut Dispatcher,
                tracker: &Tracker,
                domain: &Domain,
            ) -> Result<Value, ActionError> {
                self.inner
                    .validate_slot(slot, value, dispatcher, tracker, domain)
                    .await
            }
            async fn extract_slot(
                &self,
                slot: &str,
                dispatcher: &mut Dispatcher,
                tracker: &Tracker,
                domain: &Domain,
            ) -> Result<Value, ActionError> {
                self.inner
                    .extract_slot(slot, dispatcher, tracker, domain)
                    .await
            }
            async fn required_slots(
                &self,
                domain_slots: Vec<String>,
                dispatcher: &mut Dispatcher,
                tracker: &Tracker,
                domain: &Domain,
            ) -> Result<Vec<String>, ActionError> {
                self.inner
                    .required_slots(domain_slots, dispatcher, tracker, domain)
                    .await
            }
        }
    };
}

/// A [`FormValidationAction`] as an [`Action`].
pub(crate) struct Form<T> {
    inner: T,
    class_name: &'static str,
}

/// A [`ValidationAction`] as an [`Action`].
pub(crate) struct Global<T> {
    inner: T,
    class_name: &'static str,
}

hooks_for!(Form, FormValidationAction, |form, domain| domain
    .form_required_slots(&form.form_name()));
hooks_for!(Global, ValidationAction, |_action, domain| domain
    .global_slots());

/// The type's name without its path, as Python's `__class__.__name__`.
fn class_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

impl<T: FormValidationAction> Form<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            class_name: class_name::<T>(),
        }
    }
}

impl<T: ValidationAction> Global<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self {
            inner,
            class_name: class_name::<T>(),
        }
    }
}

/// Checks the slot lists of a validation action: no empty name, no slot twice.
pub(crate) fn check_registration(
    name: &str,
    validated: &[&str],
    extracted: &[&str],
) -> Result<(), String> {
    for (list, what) in [
        (validated, "validated_slots"),
        (extracted, "extracted_slots"),
    ] {
        let mut seen = std::collections::HashSet::new();
        for slot in list {
            if slot.trim().is_empty() {
                return Err(format!("'{name}': {what} has an empty slot name"));
            }
            if !seen.insert(*slot) {
                return Err(format!("'{name}': {what} lists the slot '{slot}' twice"));
            }
        }
    }
    Ok(())
}

#[async_trait]
impl<T: FormValidationAction> Action for Form<T> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        let span = run_span("FormValidationAction", self.class_name, self, tracker);
        validate(self, self.class_name, true, dispatcher, tracker, domain)
            .instrument(span)
            .await
    }
}

#[async_trait]
impl<T: ValidationAction> Action for Global<T> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        let span = run_span("ValidationAction", self.class_name, self, tracker);
        validate(self, self.class_name, false, dispatcher, tracker, domain)
            .instrument(span)
            .await
    }
}

/// rasa-sdk's `<kind>.<Class>.run` span.
fn run_span(kind: &str, class: &str, hooks: &dyn Hooks, tracker: &Tracker) -> tracing::Span {
    let slots: Vec<String> = tracker.slots_to_validate().keys().cloned().collect();
    tracing::info_span!(
        "ValidationAction.run",
        otel.name = format!("{kind}.{class}.run"),
        class_name = class,
        sender_id = %tracker.sender_id,
        slots_to_validate = %json_list(slots.iter().map(String::as_str)),
        action_name = hooks.name(),
    )
}

/// A JSON list of the distinct `items`, in first-seen order (rasa-sdk's span attributes).
pub(crate) fn json_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    serde_json::to_string(&seen).unwrap_or_else(|_| "[]".into())
}

/// The slots of an `{slot: value}` answer; `None` (with a warning) for anything else.
fn slot_values(answer: Value, method: &str, slot: &str) -> Option<Map<String, Value>> {
    match answer {
        Value::Object(map) => Some(map),
        _ => {
            tracing::warn!(
                "cannot {method} `{slot}`: the method must return an object of slot values"
            );
            None
        }
    }
}

async fn validate(
    hooks: &dyn Hooks,
    class: &str,
    form: bool,
    dispatcher: &mut Dispatcher,
    tracker: &Tracker,
    domain: &Domain,
) -> Result<Vec<Event>, ActionError> {
    let mut tracker = tracker.clone();
    let domain_slots = hooks.domain_slots(domain);

    // 1. Extraction, each result visible to the next.
    let required = hooks
        .required_slots(domain_slots.clone(), dispatcher, &tracker, domain)
        .await?;
    let mut extracted = Map::new();
    for slot in &required {
        if !hooks.extracted_slots().contains(&slot.as_str()) {
            if !domain_slots.contains(slot) {
                tracing::warn!(
                    "no extraction registered for the slot '{slot}', which is not in the domain; skipping its extraction"
                );
            }
            continue;
        }
        let answer = hooks
            .extract_slot(slot, dispatcher, &tracker, domain)
            .await?;
        if let Some(values) = slot_values(answer, "extract", slot) {
            for (name, value) in values {
                tracker.slots.insert(name.clone(), value.clone());
                extracted.insert(name, value);
            }
        }
    }
    let extraction_events: Vec<Event> = extracted
        .into_iter()
        .map(|(name, value)| events::slot_set(&name, value))
        .collect();
    tracker.add_slots(&extraction_events);

    // 2. Validation of the required slots just set.
    let kind = if form {
        "FormValidationAction"
    } else {
        "ValidationAction"
    };
    let span = tracing::info_span!(
        "ValidationAction._extract_validation_events",
        otel.name = format!("{kind}.{class}._extract_validation_events"),
        validation_events = tracing::field::Empty,
        slots = tracing::field::Empty,
    );
    async {
        let required = hooks
            .required_slots(domain_slots.clone(), dispatcher, &tracker, domain)
            .await?;
        let mut candidates = tracker.slots_to_validate();
        candidates.retain(|slot, _| required.contains(slot));
        let pending: Vec<(String, Value)> = candidates
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (slot, value) in pending {
            if !hooks.validated_slots().contains(&slot.as_str()) {
                tracing::warn!(
                    "skipping validation for `{slot}`: there is no validation registered for it"
                );
                continue;
            }
            let answer = hooks
                .validate_slot(&slot, &value, dispatcher, &tracker, domain)
                .await?;
            if let Some(values) = slot_values(answer, "validate", &slot) {
                for (name, value) in values {
                    tracker.slots.insert(name.clone(), value.clone());
                    candidates.insert(name, value);
                }
            }
        }
        let mut events: Vec<Event> = candidates
            .into_iter()
            .map(|(name, value)| events::slot_set(&name, value))
            .collect();
        tracker.add_slots(&events);

        // 3. The next slot to ask for, when the action decides which slots are required.
        if form {
            let required = hooks
                .required_slots(domain_slots.clone(), dispatcher, &tracker, domain)
                .await?;
            if required != domain_slots {
                let next = required
                    .iter()
                    .find(|slot| tracker.slots.get(*slot).is_none_or(Value::is_null));
                events.push(events::slot_set(
                    REQUESTED_SLOT,
                    next.map_or(Value::Null, |s| Value::from(s.as_str())),
                ));
            }
        }
        let current = tracing::Span::current();
        current.record(
            "validation_events",
            json_list(events.iter().map(Event::kind)).as_str(),
        );
        current.record(
            "slots",
            json_list(
                events
                    .iter()
                    .filter(|e| e.kind() == "slot")
                    .filter_map(|e| e.get("name").and_then(Value::as_str)),
            )
            .as_str(),
        );
        Ok::<_, ActionError>(events)
    }
    .instrument(span)
    .await
}

/// Registered form validation actions, as actions.
pub(crate) fn form_action<T: FormValidationAction>(action: T) -> Result<Arc<dyn Action>, String> {
    check_registration(
        action.name(),
        action.validated_slots(),
        action.extracted_slots(),
    )?;
    if !action.name().starts_with("validate_") {
        return Err(format!(
            "the form validation action '{}' must be named `validate_<form name>`",
            action.name()
        ));
    }
    Ok(Arc::new(Form::new(action)))
}

/// A registered global validation action, as an action.
pub(crate) fn global_action<T: ValidationAction>(action: T) -> Result<Arc<dyn Action>, String> {
    check_registration(
        action.name(),
        action.validated_slots(),
        action.extracted_slots(),
    )?;
    Ok(Arc::new(Global::new(action)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Upper;

    #[async_trait]
    impl FormValidationAction for Upper {
        fn name(&self) -> &str {
            "validate_f"
        }
        fn validated_slots(&self) -> &[&str] {
            &["a"]
        }
        async fn validate_slot(
            &self,
            slot: &str,
            value: &Value,
            _d: &mut Dispatcher,
            _t: &Tracker,
            _domain: &Domain,
        ) -> Result<Value, ActionError> {
            Ok(json!({ slot: value.as_str().unwrap_or_default().to_uppercase() }))
        }
    }

    fn run(action: Arc<dyn Action>, tracker: Value, domain: Value) -> Vec<Value> {
        let tracker = Tracker::from_json(&tracker).unwrap();
        let domain = Domain::from_json(domain);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut dispatcher = Dispatcher::new();
        rt.block_on(action.run(&mut dispatcher, &tracker, &domain))
            .unwrap()
            .into_iter()
            .map(Value::from)
            .collect()
    }

    #[test]
    fn a_form_validates_its_required_slots_as_rasa_sdk_does() {
        // rasa-sdk 3.21.1 answered this with [SlotSet a "X"] and no requested_slot.
        let events = run(
            form_action(Upper).unwrap(),
            json!({"sender_id": "u", "slots": {"a": "x"},
                   "events": [{"event": "slot", "name": "a", "value": "x"}]}),
            json!({"forms": {"f": {"required_slots": ["a"]}}}),
        );
        assert_eq!(
            events,
            [json!({"event": "slot", "timestamp": null, "name": "a", "value": "X"})]
        );
    }

    #[test]
    fn slots_not_required_are_not_validated() {
        let events = run(
            form_action(Upper).unwrap(),
            json!({"sender_id": "u", "events": [{"event": "slot", "name": "b", "value": "x"}]}),
            json!({"forms": {"f": {"required_slots": ["a"]}}}),
        );
        assert!(events.is_empty());
    }

    struct Custom;

    #[async_trait]
    impl FormValidationAction for Custom {
        fn name(&self) -> &str {
            "validate_f"
        }
        fn extracted_slots(&self) -> &[&str] {
            &["b"]
        }
        async fn extract_slot(
            &self,
            _slot: &str,
            _d: &mut Dispatcher,
            tracker: &Tracker,
            _domain: &Domain,
        ) -> Result<Value, ActionError> {
            // Sees the value extracted before it? Nothing before; read the message.
            Ok(json!({"b": tracker.latest_message.get("text").cloned().unwrap_or(Value::Null)}))
        }
        async fn required_slots(
            &self,
            mut domain_slots: Vec<String>,
            _d: &mut Dispatcher,
            _t: &Tracker,
            _domain: &Domain,
        ) -> Result<Vec<String>, ActionError> {
            domain_slots.push("b".into());
            domain_slots.push("c".into());
            Ok(domain_slots)
        }
    }

    #[test]
    fn overridden_required_slots_choose_the_next_slot_to_ask_for() {
        let events = run(
            form_action(Custom).unwrap(),
            json!({"sender_id": "u", "slots": {"a": "x", "b": null, "c": null},
                   "latest_message": {"text": "hello"}, "events": []}),
            json!({"forms": {"f": {"required_slots": ["a"]}}}),
        );
        assert_eq!(
            events,
            [
                json!({"event": "slot", "timestamp": null, "name": "b", "value": "hello"}),
                json!({"event": "slot", "timestamp": null, "name": "requested_slot", "value": "c"}),
            ]
        );
    }

    #[test]
    fn registration_is_checked() {
        assert!(check_registration("v", &["a", "a"], &[]).is_err());
        assert!(check_registration("v", &[], &[""]).is_err());
        assert_eq!(class_name::<Upper>(), "Upper");
        assert_eq!(
            json_list(["slot", "slot", "bot"].into_iter()),
            r#"["slot","bot"]"#
        );
    }
}
