//! What can go wrong in an action call, and the answer each case gets.

use axum::http::StatusCode;

/// An action refuses to run in this situation (rasa-sdk's `ActionExecutionRejection`):
/// the answer is a 400, and Rasa lets another policy predict the next action.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ActionExecutionRejection {
    /// The action that refused.
    pub action_name: String,
    /// Why; by default `Custom action '<name>' rejected execution.`, as in rasa-sdk.
    pub message: String,
}

impl ActionExecutionRejection {
    /// A rejection of `action_name`, with rasa-sdk's default message when `message` is
    /// `None` or empty.
    pub fn new(action_name: impl Into<String>, message: Option<&str>) -> Self {
        let action_name = action_name.into();
        let message = message.filter(|m| !m.is_empty()).map_or_else(
            || format!("Custom action '{action_name}' rejected execution."),
            str::to_owned,
        );
        Self {
            action_name,
            message,
        }
    }
}

/// Why an action did not return events.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The action rejects this call (400).
    #[error(transparent)]
    Rejected(#[from] ActionExecutionRejection),
    /// The action failed (500). The message goes back to Rasa and into the log; the request
    /// is never echoed.
    #[error("{0}")]
    Failed(String),
}

impl ActionError {
    /// A failure with `reason` as its message, for `map_err(ActionError::failed)`.
    pub fn failed(reason: impl std::fmt::Display) -> Self {
        Self::Failed(reason.to_string())
    }
}

impl From<String> for ActionError {
    fn from(reason: String) -> Self {
        Self::Failed(reason)
    }
}

impl From<&str> for ActionError {
    fn from(reason: &str) -> Self {
        Self::Failed(reason.to_owned())
    }
}

impl From<std::io::Error> for ActionError {
    fn from(e: std::io::Error) -> Self {
        Self::failed(e)
    }
}

impl From<serde_json::Error> for ActionError {
    fn from(e: serde_json::Error) -> Self {
        Self::failed(e)
    }
}

/// Why a webhook request was not answered with events: each becomes a status and the
/// `{"error": ...}` body of rasa-sdk (with `action_name` where rasa-sdk has it).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request itself is malformed (400, no `action_name`).
    #[error("{0}")]
    BadRequest(String),
    /// The request names no action this server has (404).
    #[error("No registered action found for name '{0}'.")]
    ActionNotFound(String),
    /// No domain in the request and none cached for its digest (449).
    #[error(
        "Missing domain context, assistant will retry the request and include the domain in the request payload. For more information please see https://rasa.com/docs/action-server/"
    )]
    MissingDomain(String),
    /// The action rejected the call (400).
    #[error("{}", .0.message)]
    Rejected(ActionExecutionRejection),
    /// The action failed or panicked (500).
    #[error("{message}")]
    Failed {
        action_name: String,
        message: String,
    },
}

/// rasa-sdk's status for a missing domain; not a registered HTTP status code.
pub const MISSING_DOMAIN_STATUS: u16 = 449;

impl RequestError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) | Self::Rejected(_) => StatusCode::BAD_REQUEST,
            Self::ActionNotFound(_) => StatusCode::NOT_FOUND,
            Self::MissingDomain(_) => {
                StatusCode::from_u16(MISSING_DOMAIN_STATUS).expect("449 is a valid status code")
            }
            Self::Failed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body of the answer.
    pub fn body(&self) -> serde_json::Value {
        let action_name = match self {
            Self::BadRequest(_) => None,
            Self::ActionNotFound(name) | Self::MissingDomain(name) => Some(name.as_str()),
            Self::Rejected(r) => Some(r.action_name.as_str()),
            Self::Failed { action_name, .. } => Some(action_name.as_str()),
        };
        match action_name {
            Some(name) => serde_json::json!({"error": self.to_string(), "action_name": name}),
            None => serde_json::json!({"error": self.to_string()}),
        }
    }
}

/// Why the server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// An action was registered wrongly.
    #[error("{0}")]
    Registration(String),
    /// A `--cors` origin is not a valid pattern.
    #[error("{0}")]
    Cors(String),
    /// The TLS certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The tracing configuration is wrong.
    #[error("{0}")]
    Tracing(String),
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_rejection_message_is_rasa_sdks_default() {
        let default = "Custom action 'a' rejected execution.";
        assert_eq!(ActionExecutionRejection::new("a", None).message, default);
        assert_eq!(
            ActionExecutionRejection::new("a", Some("")).message,
            default
        );
        assert_eq!(ActionExecutionRejection::new("a", Some("no")).message, "no");
    }
}
