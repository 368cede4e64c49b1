//! Custom actions over HTTP: rusa calls an action server built for Rasa (the Python
//! rasa-sdk, or the rusa SDK) exactly as Rasa 3.6 does.
//!
//! [`HttpActionExecutor`] implements [`rusa_core::actions::CustomActionExecutor`]: it POSTs
//! `{next_action, sender_id, tracker, domain, version}` to the `action_endpoint` of the
//! endpoints file and turns the answer (`{events, responses}`) into events and bot
//! messages. It does not decide what a failure means for the turn; the message processor
//! does (a rejection leads to `action_execution_rejected`, any other failure is logged).

mod answer;
mod endpoint;
mod error;
mod executor;

pub use endpoint::{HttpEndpoint, request_span, with_trace_context};
pub use error::ConfigError;
pub use executor::{
    DEFAULT_MAX_ANSWER_BYTES, HttpActionExecutor, MAX_ANSWER_BYTES_KEY, RASA_VERSION,
};
