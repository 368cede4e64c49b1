//! Errors of the NLU pipeline.

/// What can go wrong while building, training or loading an NLU pipeline.
#[derive(Debug, thiserror::Error)]
pub enum NluError {
    /// A component parameter has the wrong type or an impossible value.
    #[error("component '{component}': parameter '{param}' {message}")]
    Param {
        component: String,
        param: String,
        message: String,
    },
    /// `strict` is on and a Rasa component would have been replaced.
    #[error(
        "component '{rasa}' is not implemented by rusa; it would be replaced by {rusa_component} ({reason})"
    )]
    Substitution {
        rasa: String,
        rusa_component: String,
        reason: String,
    },
    /// A component name that is neither rusa's nor Rasa's (and not a dotted path to a
    /// custom component): most often a typo.
    #[error("unknown component '{name}'{}", suggestion.as_ref().map(|s| format!(" (did you mean '{s}'?)")).unwrap_or_default())]
    UnknownComponent {
        name: String,
        suggestion: Option<String>,
    },
    /// A regular expression of the training data does not compile.
    #[error("regex '{name}' has an invalid pattern '{pattern}': {message}")]
    Regex {
        name: String,
        pattern: String,
        message: String,
    },
    /// Saved state written by another format version.
    #[error(
        "saved NLU state has format version {found}, this rusa reads version {expected}; retrain the model"
    )]
    FormatVersion { found: u32, expected: u32 },
    /// Saved state that does not decode.
    #[error("saved NLU state is invalid: {0}")]
    State(String),
    /// Training data that a component cannot learn from.
    #[error("component '{component}': {message}")]
    Training { component: String, message: String },
}

/// The result type of this crate.
pub type Result<T, E = NluError> = std::result::Result<T, E>;
