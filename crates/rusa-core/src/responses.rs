//! Turning a response of the domain (`utter_*`) into a bot message: choosing a variation by
//! its conditions and channel, and filling in `{slot}` placeholders.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use rusa_project::{Response, ResponseVariation};

/// A message from the assistant, before a channel sends it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BotMessage {
    pub text: Option<String>,
    pub image: Option<String>,
    pub buttons: Vec<Value>,
    pub custom: Option<Value>,
    /// attachment, quick_replies, elements, and any other keys of the variation.
    pub extra: Map<String, Value>,
    /// The response the message came from (`utter_greet`).
    pub utter_action: Option<String>,
}

impl BotMessage {
    /// The `data` field of a `bot` event: every key present, null when unused.
    pub fn event_data(&self) -> Value {
        let get = |k: &str| self.extra.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "elements": get("elements"),
            "quick_replies": get("quick_replies"),
            "buttons": if self.buttons.is_empty() { Value::Null } else { Value::Array(self.buttons.clone()) },
            "attachment": get("attachment"),
            "image": self.image,
            "custom": self.custom,
        })
    }
}

impl BotMessage {
    /// The messages of the REST channel for this bot message, as Rasa's collecting output
    /// channel writes them: text (with buttons or quick replies), then custom payload,
    /// image, attachment and elements as messages of their own.
    pub fn rest_payloads(&self, recipient_id: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let base = |key: &str, value: Value| json!({"recipient_id": recipient_id, key: value});
        if let Some(replies) = self.extra.get("quick_replies").filter(|v| !v.is_null()) {
            out.push(
                json!({"recipient_id": recipient_id, "text": self.text, "quick_replies": replies}),
            );
        } else if !self.buttons.is_empty() {
            out.push(
                json!({"recipient_id": recipient_id, "text": self.text, "buttons": self.buttons}),
            );
        } else if let Some(text) = &self.text {
            out.push(base("text", json!(text)));
        }
        if let Some(custom) = &self.custom {
            out.push(base("custom", custom.clone()));
        }
        if let Some(image) = &self.image {
            out.push(base("image", json!(image)));
        }
        for key in ["attachment", "elements"] {
            if let Some(v) = self.extra.get(key).filter(|v| !v.is_null()) {
                out.push(base(key, v.clone()));
            }
        }
        out
    }
}

/// Picks one of `n` equally good variations (randomly in production, fixed in tests).
pub type Chooser<'a> = &'a mut dyn FnMut(usize) -> usize;

/// A chooser that picks response variations at random, as Rasa does (xorshift64*, seeded
/// from the process's hash randomness; not for cryptography).
pub fn random_chooser() -> impl FnMut(usize) -> usize + Send {
    use std::hash::{BuildHasher, Hasher};
    let mut state = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        | 1;
    move |n| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1) as u64) as usize
    }
}

/// Generates the message for `response` given the current slot values and output channel.
/// `None` when no variation applies (every variation is conditional and none matches).
pub fn generate(
    response: &Response,
    slots: &IndexMap<String, Value>,
    channel: Option<&str>,
    choose: Chooser<'_>,
) -> Option<BotMessage> {
    let candidates = candidates(&response.variations, slots, channel);
    if candidates.is_empty() {
        return None;
    }
    let pick = choose(candidates.len()).min(candidates.len() - 1);
    let variation = candidates[pick];
    Some(fill(variation, slots, &response.name))
}

/// Rasa's order of preference: variations whose conditions all hold (for this channel, else
/// without channel); else unconditional variations for this channel; else unconditional
/// variations without a channel.
fn candidates<'r>(
    variations: &'r [ResponseVariation],
    slots: &IndexMap<String, Value>,
    channel: Option<&str>,
) -> Vec<&'r ResponseVariation> {
    let matches_channel =
        |v: &ResponseVariation| v.channel.is_none() || v.channel.as_deref() == channel;
    let conditional: Vec<&ResponseVariation> = variations
        .iter()
        .filter(|v| {
            !v.conditions.is_empty()
                && matches_channel(v)
                && v.conditions
                    .iter()
                    .all(|c| slot_matches(slots.get(&c.slot), &c.value))
        })
        .collect();
    if !conditional.is_empty() {
        return prefer_channel(conditional, channel);
    }
    let plain: Vec<&ResponseVariation> = variations
        .iter()
        .filter(|v| v.conditions.is_empty() && matches_channel(v))
        .collect();
    prefer_channel(plain, channel)
}

fn prefer_channel<'r>(
    list: Vec<&'r ResponseVariation>,
    channel: Option<&str>,
) -> Vec<&'r ResponseVariation> {
    if channel.is_some() {
        let specific: Vec<&ResponseVariation> = list
            .iter()
            .copied()
            .filter(|v| v.channel.as_deref() == channel)
            .collect();
        if !specific.is_empty() {
            return specific;
        }
    }
    list.into_iter().filter(|v| v.channel.is_none()).collect()
}

/// A condition's value matches a slot's value; strings compare case-sensitively, numbers
/// by value, a condition on `null` matches an unset slot.
fn slot_matches(slot: Option<&Value>, expected: &Value) -> bool {
    let actual = slot.unwrap_or(&Value::Null);
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn fill(variation: &ResponseVariation, slots: &IndexMap<String, Value>, name: &str) -> BotMessage {
    let fill_value = |v: &Value| fill_json(v, slots);
    BotMessage {
        text: variation.text.as_deref().map(|t| fill_text(t, slots)),
        image: variation.image.as_deref().map(|t| fill_text(t, slots)),
        buttons: variation
            .buttons
            .iter()
            .map(|b| json!({"title": fill_text(&b.title, slots), "payload": fill_text(&b.payload, slots)}))
            .collect(),
        custom: variation.custom.as_ref().map(fill_value),
        extra: variation.extra.iter().map(|(k, v)| (k.clone(), fill_value(v))).collect(),
        utter_action: Some(name.to_owned()),
    }
}

fn fill_json(value: &Value, slots: &IndexMap<String, Value>) -> Value {
    match value {
        Value::String(s) => Value::String(fill_text(s, slots)),
        Value::Array(items) => Value::Array(items.iter().map(|v| fill_json(v, slots)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), fill_json(v, slots)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Replaces `{name}` with the value of slot `name`, written as Python's `str()` writes it
/// (Rasa's responses do so: `None`, `True`, `3.0`). Placeholders that name no slot stay.
pub fn fill_text(text: &str, slots: &IndexMap<String, Value>) -> String {
    if !text.contains('{') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if slots.contains_key(&after[..close]) => {
                out.push_str(&python_str(&slots[&after[..close]]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How Python's `str()` prints a JSON value.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e16 => format!("{f:.1}"),
            (None, Some(f)) => f.to_string(),
            _ => n.to_string(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(python_repr).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("'{k}': {}", python_repr(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn python_repr(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => python_str(other),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use rusa_project::{Pos, ResponseCondition};

    use super::*;

    fn pos() -> Pos {
        Pos::new(Arc::from(Path::new("domain.yml")), 1, 1)
    }

    fn variation(
        text: &str,
        channel: Option<&str>,
        condition: Option<(&str, Value)>,
    ) -> ResponseVariation {
        ResponseVariation {
            text: Some(text.into()),
            image: None,
            buttons: Vec::new(),
            custom: None,
            channel: channel.map(Into::into),
            conditions: condition
                .into_iter()
                .map(|(slot, value)| ResponseCondition {
                    slot: slot.into(),
                    value,
                })
                .collect(),
            extra: Map::new(),
            pos: pos(),
        }
    }

    fn slots(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn first(_: usize) -> usize {
        0
    }

    #[test]
    fn fills_slots_as_python_prints_them() {
        let s = slots(&[
            ("name", json!("Ada")),
            ("n", json!(3.0)),
            ("ok", json!(true)),
            ("none", Value::Null),
            ("l", json!(["a", 1])),
        ]);
        assert_eq!(
            fill_text("Hi {name}! {n} {ok} {none} {l} {unknown}", &s),
            "Hi Ada! 3.0 True None ['a', 1] {unknown}"
        );
    }

    #[test]
    fn conditional_variations_win_when_they_match() {
        let response = Response {
            name: "utter_hi".into(),
            variations: vec![
                variation("plain", None, None),
                variation("vip", None, Some(("vip", json!(true)))),
            ],
            pos: pos(),
        };
        let vip = generate(&response, &slots(&[("vip", json!(true))]), None, &mut first).unwrap();
        assert_eq!(vip.text.as_deref(), Some("vip"));
        let plain = generate(
            &response,
            &slots(&[("vip", json!(false))]),
            None,
            &mut first,
        )
        .unwrap();
        assert_eq!(plain.text.as_deref(), Some("plain"));
    }

    #[test]
    fn the_starters_forecast_never_says_none() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot/domain.yml");
        let (domain, _) = rusa_project::load_domain(&path, &mut Vec::new()).unwrap();
        let forecast = domain.responses.get("utter_forecast").unwrap();
        let without_city = generate(forecast, &slots(&[]), None, &mut first).unwrap();
        let text = without_city.text.unwrap();
        assert!(!text.contains("None") && !text.contains("{city}"), "{text}");
        assert!(text.contains("Tell me a city"), "{text}");
        let with_null =
            generate(forecast, &slots(&[("city", Value::Null)]), None, &mut first).unwrap();
        assert_eq!(with_null.text.as_deref(), Some(text.as_str()));
        let oslo = generate(
            forecast,
            &slots(&[("city", json!("Oslo"))]),
            None,
            &mut first,
        )
        .unwrap();
        assert_eq!(
            oslo.text.as_deref(),
            Some("Here is the forecast for Oslo: mild, with a chance of sun.")
        );
    }

    #[test]
    fn channel_specific_variations_are_preferred() {
        let response = Response {
            name: "utter_hi".into(),
            variations: vec![
                variation("any", None, None),
                variation("slack", Some("slack"), None),
            ],
            pos: pos(),
        };
        assert_eq!(
            generate(&response, &slots(&[]), Some("slack"), &mut first)
                .unwrap()
                .text
                .as_deref(),
            Some("slack")
        );
        assert_eq!(
            generate(&response, &slots(&[]), Some("rest"), &mut first)
                .unwrap()
                .text
                .as_deref(),
            Some("any")
        );
        assert_eq!(
            generate(&response, &slots(&[]), None, &mut first)
                .unwrap()
                .text
                .as_deref(),
            Some("any")
        );
    }

    #[test]
    fn no_matching_variation_gives_nothing() {
        let response = Response {
            name: "utter_x".into(),
            variations: vec![variation("c", None, Some(("a", json!(1))))],
            pos: pos(),
        };
        assert!(generate(&response, &slots(&[("a", json!(2))]), None, &mut first).is_none());
    }

    #[test]
    fn the_random_chooser_stays_in_range_and_varies() {
        let mut choose = random_chooser();
        let picks: Vec<usize> = (0..1000).map(|_| choose(3)).collect();
        assert!(picks.iter().all(|&p| p < 3));
        assert!(
            (0..3).all(|v| picks.contains(&v)),
            "every variation gets picked"
        );
        assert_eq!(choose(0), 0);
    }

    #[test]
    fn event_data_has_every_key() {
        let m = BotMessage {
            image: Some("u".into()),
            ..BotMessage::default()
        };
        let data = m.event_data();
        for key in [
            "elements",
            "quick_replies",
            "buttons",
            "attachment",
            "image",
            "custom",
        ] {
            assert!(data.get(key).is_some(), "{key}");
        }
        assert_eq!(data["image"], "u");
    }
}
