//! rusa-sdk: custom actions in Rust, served to Rasa or rusa over rasa-sdk's protocol.
//!
//! The concepts are rasa-sdk's, so a Python user finds their way: an [`Action`] has a name
//! and an async `run` given a [`Dispatcher`] (what to say), the [`Tracker`] (the
//! conversation) and the [`Domain`]; it returns [`events`] or an [`ActionError`] (an
//! [`ActionExecutionRejection`] lets another policy predict). [`FormValidationAction`] and
//! [`ValidationAction`] validate and extract slots. [`ActionServer`] serves them: `POST
//! /webhook`, `GET /health` and `GET /actions` with rasa-sdk's bodies and status codes, on
//! port 5055, with the webhook traced (`create_app.webhook`, `ActionExecutor.run`) from the
//! endpoints file's `tracing:` entry.
//!
//! ```no_run
//! use rusa_sdk::{Action, ActionError, ActionServer, Dispatcher, Domain, Event, Tracker, events};
//!
//! struct ActionHelloWorld;
//!
//! #[rusa_sdk::async_trait]
//! impl Action for ActionHelloWorld {
//!     fn name(&self) -> &str {
//!         "action_hello_world"
//!     }
//!
//!     async fn run(
//!         &self,
//!         dispatcher: &mut Dispatcher,
//!         tracker: &Tracker,
//!         _domain: &Domain,
//!     ) -> Result<Vec<Event>, ActionError> {
//!         let said = tracker.latest_message.get("text").and_then(|t| t.as_str()).unwrap_or("");
//!         dispatcher.utter_text(format!("Hello World! You said: {said}"));
//!         Ok(vec![events::slot_set("greeted", true)])
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     ActionServer::new().action(ActionHelloWorld).run_from_args()
//! }
//! ```
//!
//! Action code opens its own spans with `tracing` (`tracing::info_span!(...)`); they nest
//! under `ActionExecutor.run` and are exported with the server's.

mod action;
mod cli;
mod cors;
mod dispatcher;
mod error;
pub mod events;
mod executor;
mod forms;
pub mod serve;
mod server;
mod tracker;

pub use action::{Action, Domain};
pub use async_trait::async_trait;
pub use cli::{DEFAULT_SERVICE_NAME, ServeArgs, TracingSetup, start_tracing};
pub use dispatcher::{Dispatcher, Message};
pub use error::{ActionError, ActionExecutionRejection, SetupError};
pub use events::Event;
pub use forms::{ACTION_VALIDATE_SLOT_MAPPINGS, FormValidationAction, ValidationAction};
/// The JSON library of the API, for `json!` and `Value` without a dependency of your own.
pub use serde_json;
pub use server::{ActionServer, DEFAULT_PORT, MAX_BODY_BYTES};
/// The `tracing` library, for spans of your own that nest under `ActionExecutor.run`.
pub use tracing;
pub use tracker::{LOOP_INTERRUPTED_KEY, REQUESTED_SLOT, Tracker};
