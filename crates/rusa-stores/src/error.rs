//! Why a store, lock store or event broker could not be set up from the endpoints file.

use rusa_core::stores::StoreError;
use rusa_project::Pos;

/// Setting up a store from `endpoints.yml` failed: the entry is wrong or the service
/// does not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoresError {
    /// `type` names nothing rusa knows.
    #[error(
        "{pos}: unknown {section} type '{kind}'{}; supported types: {}",
        suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default(),
        supported.join(", ")
    )]
    UnknownType {
        pos: Pos,
        section: &'static str,
        kind: String,
        suggestion: Option<String>,
        supported: &'static [&'static str],
    },

    /// `type` names something Rasa has and rusa deliberately does not.
    #[error("{pos}: {section} type '{kind}' is not supported: {reason}")]
    Unsupported {
        pos: Pos,
        section: &'static str,
        kind: String,
        reason: &'static str,
    },

    /// A parameter has a value that cannot be used.
    #[error("{pos}: '{key}' {message}")]
    InvalidValue {
        pos: Pos,
        key: String,
        message: String,
    },

    /// The store's service could not be reached or refused the set-up.
    #[error("{pos}: cannot set up the {section}")]
    Connect {
        pos: Pos,
        section: &'static str,
        #[source]
        source: StoreError,
    },
}
