//! What an action says: rasa-sdk's `CollectingDispatcher`. Each message has rasa-sdk's eight
//! keys in its order (`text`, `buttons`, `elements`, `custom`, `template`, `response`,
//! `image`, `attachment`), then the extra fields, which override a key of the same name as
//! Python's keyword arguments do. Rasa renders a message with a `response` name from the
//! domain, and the extra fields fill in the response's `{variables}`.

use serde_json::{Map, Value};

/// One message for the user, built with its optional fields.
///
/// ```
/// use rusa_sdk::Message;
/// use serde_json::json;
///
/// let message = Message::response("utter_forecast").extra("city", "Berlin");
/// assert_eq!(
///     serde_json::to_string(&message.into_json()).unwrap(),
///     r#"{"text":null,"buttons":[],"elements":[],"custom":{},"template":"utter_forecast","response":"utter_forecast","image":null,"attachment":null,"city":"Berlin"}"#
/// );
/// let message = Message::text("Pick one").buttons(vec![json!({"title": "Yes", "payload": "/affirm"})]);
/// assert_eq!(message.into_json()["buttons"][0]["payload"], "/affirm");
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    text: Option<String>,
    image: Option<String>,
    json_message: Option<Value>,
    response: Option<String>,
    attachment: Option<Value>,
    buttons: Option<Vec<Value>>,
    elements: Option<Vec<Value>>,
    extra: Map<String, Value>,
}

impl Message {
    /// A message with no field set yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A text message.
    pub fn text(text: impl Into<String>) -> Self {
        Self::new().with_text(text)
    }

    /// The domain's response `name` (e.g. `utter_greet`), rendered by Rasa.
    pub fn response(name: impl Into<String>) -> Self {
        Self {
            response: Some(name.into()),
            ..Self::default()
        }
    }

    /// Sets the text.
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = Some(text.into());
        self
    }

    /// An image URL.
    pub fn image(mut self, url: impl Into<String>) -> Self {
        self.image = Some(url.into());
        self
    }

    /// A custom JSON payload for the channel (`custom`).
    pub fn json_message(mut self, payload: Value) -> Self {
        self.json_message = Some(payload);
        self
    }

    /// An attachment.
    pub fn attachment(mut self, attachment: impl Into<Value>) -> Self {
        self.attachment = Some(attachment.into());
        self
    }

    /// Buttons (`{"title": ..., "payload": ...}`).
    pub fn buttons(mut self, buttons: Vec<Value>) -> Self {
        self.buttons = Some(buttons);
        self
    }

    /// Elements (a carousel).
    pub fn elements(mut self, elements: Vec<Value>) -> Self {
        self.elements = Some(elements);
        self
    }

    /// An extra field: a variable of the response, or anything else for the channel.
    pub fn extra(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.extra.insert(key.into(), value.into());
        self
    }

    /// The message's JSON as rasa-sdk sends it.
    pub fn into_json(self) -> Value {
        let mut message = Map::new();
        message.insert("text".into(), self.text.map_or(Value::Null, Value::from));
        message.insert(
            "buttons".into(),
            Value::Array(self.buttons.unwrap_or_default()),
        );
        message.insert(
            "elements".into(),
            Value::Array(self.elements.unwrap_or_default()),
        );
        message.insert(
            "custom".into(),
            self.json_message
                .filter(|v| !v.is_null())
                .unwrap_or_else(|| Value::Object(Map::new())),
        );
        let response = self.response.map_or(Value::Null, Value::from);
        message.insert("template".into(), response.clone());
        message.insert("response".into(), response);
        message.insert("image".into(), self.image.map_or(Value::Null, Value::from));
        message.insert("attachment".into(), self.attachment.unwrap_or(Value::Null));
        for (key, value) in self.extra {
            message.insert(key, value);
        }
        Value::Object(message)
    }
}

/// Collects the messages of one action run; they go back to Rasa with the events.
#[derive(Debug, Default)]
pub struct Dispatcher {
    messages: Vec<Value>,
}

impl Dispatcher {
    /// An empty dispatcher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends `message` to the user.
    pub fn utter_message(&mut self, message: Message) {
        self.messages.push(message.into_json());
    }

    /// Sends a text message.
    pub fn utter_text(&mut self, text: impl Into<String>) {
        self.utter_message(Message::text(text));
    }

    /// Sends the domain's response `name`.
    pub fn utter_response(&mut self, name: impl Into<String>) {
        self.utter_message(Message::response(name));
    }

    /// The messages so far.
    pub fn messages(&self) -> &[Value] {
        &self.messages
    }

    pub(crate) fn into_messages(self) -> Vec<Value> {
        self.messages
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_message_has_the_eight_keys_then_the_extra_fields() {
        let m = Message::text("hi")
            .buttons(vec![json!({"title": "a", "payload": "/a"})])
            .extra("foo", "bar")
            .into_json();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"text":"hi","buttons":[{"title":"a","payload":"/a"}],"elements":[],"custom":{},"template":null,"response":null,"image":null,"attachment":null,"foo":"bar"}"#
        );
    }

    #[test]
    fn extra_fields_override_a_key_in_its_place() {
        let m = Message::text("hi").extra("text", "over").into_json();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"text":"over","buttons":[],"elements":[],"custom":{},"template":null,"response":null,"image":null,"attachment":null}"#
        );
    }
}
