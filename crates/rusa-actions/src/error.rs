//! Errors of setting up an action server client.

/// The `action_endpoint` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The endpoint has no `url`.
    #[error("the action_endpoint has no 'url'")]
    MissingUrl,
    /// The `url` is not an http(s) URL.
    #[error("the action_endpoint url '{url}' is not a valid http or https URL")]
    InvalidUrl { url: String },
    /// A header of `headers` has an invalid name or value.
    #[error("the action_endpoint header '{name}' is not a valid HTTP header")]
    InvalidHeader { name: String },
    /// `max_answer_bytes` is not a positive whole number.
    #[error("the action_endpoint's max_answer_bytes must be a positive whole number of bytes")]
    InvalidMaxAnswerBytes,
    /// TLS or the HTTP client could not be set up.
    #[error("the HTTP client for the action server could not be set up: {message}")]
    Client { message: String },
}
