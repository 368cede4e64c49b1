//! The weather assistant's custom actions, served with rusa-sdk on port 5055:
//!
//! - `action_forecast` tells the forecast for the `city` slot (or, when it is not set, the
//!   `city` entity of the latest message), in a span of its own (`forecast.lookup`);
//! - `validate_weather_form` refuses a city that cannot be one (digits, a fictional place)
//!   and asks again.
//!
//! `main.rs` serves them; tests serve them in process with [`server`].

use rusa_sdk::serde_json::{Value, json};
use rusa_sdk::{
    Action, ActionError, ActionServer, Dispatcher, Domain, Event, FormValidationAction, Message,
    Tracker, events,
};

/// Places people ask about that have no weather.
const NOT_CITIES: &[&str] = &["atlantis", "el dorado", "narnia", "gotham"];

struct ActionForecast;

#[rusa_sdk::async_trait]
impl Action for ActionForecast {
    fn name(&self) -> &str {
        "action_forecast"
    }

    async fn run(
        &self,
        dispatcher: &mut Dispatcher,
        tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Vec<Event>, ActionError> {
        // The city the form validated; else one just mentioned (a `city` entity).
        let city = tracker
            .get_slot("city")
            .and_then(Value::as_str)
            .or_else(|| {
                tracker
                    .get_latest_entity_values("city", None, None)
                    .first()
                    .and_then(|v| v.as_str())
            })
            .map(str::to_owned);
        let Some(city) = city else {
            dispatcher.utter_response("utter_ask_city");
            return Ok(vec![]);
        };
        let outlook = {
            // A span of our own: it nests under `ActionExecutor.run` in the trace.
            let _span = rusa_sdk::tracing::info_span!("forecast.lookup", city_length = city.len())
                .entered();
            outlook(&city)
        };
        dispatcher.utter_message(
            Message::text(format!("Here is the forecast for {city}: {outlook}."))
                .extra("city", city.as_str()),
        );
        Ok(vec![events::slot_set("city", city)])
    }
}

/// A made-up but steady outlook: the same city always gets the same weather.
fn outlook(city: &str) -> &'static str {
    const OUTLOOKS: &[&str] = &[
        "sunny and warm",
        "mild, with a chance of sun",
        "cloudy, with light rain later",
        "cold and windy",
        "clear skies all day",
    ];
    let sum: usize = city.to_lowercase().bytes().map(usize::from).sum();
    OUTLOOKS[sum % OUTLOOKS.len()]
}

struct ValidateWeatherForm;

#[rusa_sdk::async_trait]
impl FormValidationAction for ValidateWeatherForm {
    fn name(&self) -> &str {
        "validate_weather_form"
    }

    fn validated_slots(&self) -> &[&str] {
        &["city"]
    }

    async fn validate_slot(
        &self,
        slot: &str,
        value: &Value,
        dispatcher: &mut Dispatcher,
        _tracker: &Tracker,
        _domain: &Domain,
    ) -> Result<Value, ActionError> {
        let city = value.as_str().unwrap_or_default().trim();
        let fictional = NOT_CITIES.contains(&city.to_lowercase().as_str());
        if city.is_empty() || fictional || city.chars().any(|c| c.is_ascii_digit()) {
            dispatcher.utter_text(format!(
                "I don't know the weather in \"{city}\": is it a real city?"
            ));
            // `null` rejects the value: the form asks for the city again.
            return Ok(json!({ slot: null }));
        }
        Ok(json!({ slot: title_case(city) }))
    }
}

fn title_case(text: &str) -> String {
    text.split_whitespace()
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server with the weather assistant's actions.
pub fn server() -> ActionServer {
    ActionServer::new()
        .action(ActionForecast)
        .form_validation_action(ValidateWeatherForm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_city_gets_the_same_outlook() {
        assert_eq!(outlook("Berlin"), outlook("berlin"));
        assert_eq!(title_case("new  york"), "New York");
    }
}
