//! The `Action` trait and the domain an action is given.

use serde_json::{Map, Value};

use crate::{ActionError, Dispatcher, Event, Tracker};

/// A custom action: the code behind one action name of the domain.
///
/// ```
/// use rusa_sdk::{Action, ActionError, Dispatcher, Domain, Event, Message, Tracker, events};
///
/// struct ActionGreetByName;
///
/// #[rusa_sdk::async_trait]
/// impl Action for ActionGreetByName {
///     fn name(&self) -> &str {
///         "action_greet_by_name"
///     }
///
///     async fn run(
///         &self,
///         dispatcher: &mut Dispatcher,
///         tracker: &Tracker,
///         _domain: &Domain,
///     ) -> Result<Vec<Event>, ActionError> {
///         let name = tracker
///             .get_latest_entity_values("name", None, None)
///             .first()
///             .and_then(|v| v.as_str())
///             .unwrap_or("there")
///             .to_owned();
///         dispatcher.utter_message(Message::response("utter_greet_name").extra("name", name.as_str()));
///         Ok(vec![events::slot_set("name", name)])
///     }
/// }
/// ```
///
/// `run` is async. It runs on a thread of its own from a pool, so blocking code (a
/// synchronous HTTP client, `std::thread::sleep`, a database driver) holds up only its own
/// request, never the others.
#[async_trait::async_trait]
pub trait Action: Send + Sync + 'static {
    /// The action's name, as in the domain's `actions:`.
    fn name(&self) -> &str;

    /// Runs the action: says things with `dispatcher` and returns the events to apply.
    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        domain: &Domain,
    ) -> Result<Vec<Event>, ActionError>;
}

/// The assistant's domain as Rasa sent it (the JSON of its domain file: `intents`,
/// `entities`, `slots`, `responses`, `actions`, `forms`, ...). Empty when Rasa sent none and
/// none is cached.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Domain(Map<String, Value>);

impl Domain {
    /// A domain from its JSON (anything but an object is an empty domain).
    pub fn from_json(value: Value) -> Self {
        match value {
            Value::Object(map) => Self(map),
            _ => Self::default(),
        }
    }

    /// A top-level key (`slots`, `responses`, ...).
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    /// The domain's JSON object.
    pub fn as_object(&self) -> &Map<String, Value> {
        &self.0
    }

    /// Whether the domain is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The slots of the domain, by name.
    pub fn slots(&self) -> Option<&Map<String, Value>> {
        self.0.get("slots").and_then(Value::as_object)
    }

    /// The `required_slots` of the form `form` in the domain (empty when there are none).
    pub fn form_required_slots(&self, form: &str) -> Vec<String> {
        self.0
            .get("forms")
            .and_then(|f| f.get(form))
            .and_then(|f| f.get("required_slots"))
            .and_then(Value::as_array)
            .map(|slots| {
                slots
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The slots with no mapping conditioned on an active loop: the slots a
    /// `ValidationAction` handles.
    pub fn global_slots(&self) -> Vec<String> {
        let Some(slots) = self.slots() else {
            return Vec::new();
        };
        slots
            .iter()
            .filter(|(_, slot)| !mapped_to_a_form(slot))
            .map(|(name, _)| name.clone())
            .collect()
    }
}

fn mapped_to_a_form(slot: &Value) -> bool {
    let Some(mappings) = slot.get("mappings").and_then(Value::as_array) else {
        return false;
    };
    mappings.iter().any(|mapping| {
        mapping
            .get("conditions")
            .and_then(Value::as_array)
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c.get("active_loop")
                        .is_some_and(|l| !l.is_null() && l != "" && l != false)
                })
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn global_slots_leave_out_slots_mapped_in_a_form() {
        let domain = Domain::from_json(json!({"slots": {
            "a": {"mappings": [{"type": "from_text"}]},
            "b": {"mappings": [{"type": "from_text", "conditions": [{"active_loop": "f"}]}]},
            "c": {},
        }, "forms": {"f": {"required_slots": ["b"]}}}));
        assert_eq!(domain.global_slots(), ["a", "c"]);
        assert_eq!(domain.form_required_slots("f"), ["b"]);
        assert!(domain.form_required_slots("g").is_empty());
    }
}
