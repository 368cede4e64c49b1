//! The Segment wire format (§4, §6): pure functions, no I/O.

use base64::Engine;
use serde_json::{Map, Value, json};

/// The headers of a batch request (seed: `segment_request_header`): Basic auth with the
/// write key as user name and an empty password, and the JSON content type.
pub fn segment_request_header(write_key: &str) -> Vec<(&'static str, String)> {
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{write_key}:"));
    vec![
        ("Authorization", format!("Basic {token}")),
        ("Content-Type", "application/json".to_owned()),
    ]
}

/// One message of a batch (seed: `segment_request_payload`). `metrics_id` is added to the
/// properties, as the seeds' back end expects.
pub fn segment_request_payload(
    distinct_id: &str,
    event_name: &str,
    properties: &Map<String, Value>,
    context: &Value,
    message_id: &str,
    timestamp: &str,
) -> Value {
    let mut properties = properties.clone();
    properties.insert(
        "metrics_id".to_owned(),
        Value::String(distinct_id.to_owned()),
    );
    json!({
        "type": "track",
        "messageId": message_id,
        "timestamp": timestamp,
        "userId": distinct_id,
        "event": event_name,
        "properties": properties,
        "context": context,
    })
}

/// The body of `POST {endpoint}/v1/batch`.
pub fn batch_body(messages: &[Value], sent_at: &str) -> Value {
    json!({ "batch": messages, "sentAt": sent_at })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_basic_auth_of_key_and_empty_password() {
        let headers = segment_request_header("abc");
        // base64("abc:") = "YWJjOg=="
        assert_eq!(headers[0], ("Authorization", "Basic YWJjOg==".to_owned()));
        assert_eq!(headers[1], ("Content-Type", "application/json".to_owned()));
    }

    #[test]
    fn payload_has_the_documented_shape() {
        let mut props = Map::new();
        props.insert("validation_success".into(), json!(true));
        let p = segment_request_payload(
            "u1",
            "Training Data Validated",
            &props,
            &json!({"ci": false}),
            "m1",
            "t1",
        );
        assert_eq!(
            p,
            json!({
                "type": "track", "messageId": "m1", "timestamp": "t1", "userId": "u1",
                "event": "Training Data Validated",
                "properties": { "validation_success": true, "metrics_id": "u1" },
                "context": { "ci": false }
            })
        );
        assert_eq!(batch_body(std::slice::from_ref(&p), "s")["batch"][0], p);
    }
}
