//! The OpenAPI document of the server (`GET /openapi.json`), written from the route table so
//! that a test can check that every route is documented.

use serde_json::{Value, json};

use crate::api::API_ROUTES;

/// What each route does, for the document.
fn summary(method: &str, path: &str) -> &'static str {
    match (method, path) {
        ("GET", "/") => "Greeting with the rusa version",
        ("GET", "/version") => "Version of rusa and the oldest compatible model version",
        ("GET", "/status") => "The loaded model",
        ("POST", "/model/parse") => "Parse a message (intent, entities, ranking)",
        ("PUT", "/model") => "Load another model; turns in flight finish on the old one",
        ("DELETE", "/model") => "Unload the model",
        ("GET", "/domain") => "The domain of the loaded model",
        ("GET", "/conversations/{conversation_id}/tracker") => {
            "A conversation's tracker (include_events, until)"
        }
        ("POST", "/conversations/{conversation_id}/tracker/events") => {
            "Append events to a conversation"
        }
        ("PUT", "/conversations/{conversation_id}/tracker/events") => {
            "Replace the events of a conversation"
        }
        ("POST", "/conversations/{conversation_id}/messages") => {
            "Add a user message without predicting"
        }
        ("POST", "/conversations/{conversation_id}/predict") => {
            "Predict the next action without running it"
        }
        ("POST", "/conversations/{conversation_id}/execute") => {
            "Run an action (output_channel=callback|latest also POSTs its messages to the callback)"
        }
        ("POST", "/conversations/{conversation_id}/trigger_intent") => {
            "Handle an intent as an external event (entities; output_channel as for execute)"
        }
        ("GET", "/conversations/{conversation_id}/story") => "The conversation as a YAML story",
        ("POST", "/model/train") => {
            "Train a model on the YAML body (config, domain, nlu, stories, rules) and answer the archive (force_training, save_to_default_model_directory, callback_url)"
        }
        ("POST", "/model/test/stories") => {
            "Evaluate the loaded model on the test stories of the body (YAML; ?e2e=true parses the texts)"
        }
        ("POST", "/model/test/intents") => {
            "Evaluate the NLU of the loaded model (or ?model=) on the NLU data of the body (YAML or JSON)"
        }
        ("GET", "/openapi.json") => "This document",
        ("GET", "/webhooks/rest/") => "REST channel health",
        ("POST", "/webhooks/rest/webhook") => {
            "Send a message to the assistant (?stream=true streams replies)"
        }
        _ => "",
    }
}

/// Every documented route: the API's and the REST channel's.
pub fn routes() -> Vec<(&'static str, &'static str)> {
    API_ROUTES
        .iter()
        .copied()
        .chain([
            ("GET", "/webhooks/rest/"),
            ("POST", "/webhooks/rest/webhook"),
        ])
        .collect()
}

/// The document: OpenAPI 3.0 with every route of the API and the REST channel.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    let routes = API_ROUTES.iter().copied().chain([
        ("GET", "/webhooks/rest/"),
        ("POST", "/webhooks/rest/webhook"),
    ]);
    for (method, path) in routes {
        let mut operation = json!({
            "summary": summary(method, path),
            "responses": {
                "200": {"description": "success"},
                "400": {"description": "bad request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "not authenticated"},
                "409": {"description": "no model is loaded"},
            },
        });
        if path.contains("{conversation_id}") {
            operation["parameters"] = json!([{"name": "conversation_id", "in": "path", "required": true, "schema": {"type": "string"}}]);
        }
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method.to_ascii_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "rusa HTTP API", "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "TokenAuth": {"type": "apiKey", "in": "query", "name": "token"},
                "JWT": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["version", "status", "message", "reason", "details", "help", "code"],
                    "properties": {
                        "version": {"type": "string"},
                        "status": {"type": "string", "enum": ["failure"]},
                        "message": {"type": "string"},
                        "reason": {"type": "string"},
                        "details": {"type": "object"},
                        "help": {"type": "string", "nullable": true},
                        "code": {"type": "integer"},
                    },
                },
            },
        },
    })
}

/// The domain in Rasa's JSON shape (`GET /domain`).
pub fn domain_json(domain: &rusa_project::Domain) -> Value {
    domain.to_rasa_json()
}
