//! The dialogue runtime of rusa: conversation events in Rasa's JSON format and the tracker
//! that turns them into state (slots, active loop, latest message).
//!
//! This crate does no I/O. Training, policies, actions and the message processor build on
//! it; stores (tracker stores, lock stores, event brokers) implement traits defined here
//! and live in their own crate.

pub mod actions;
pub mod agent;
pub mod archive;
mod block_on;
pub mod evaluate;
mod event_de;
pub mod events;
pub mod graph;
pub mod lazy_json;
pub mod policies;
pub mod processor;
pub mod responses;
pub mod slot_filling;
pub mod span_capture;
pub mod span_status;
pub mod stores;
pub mod story_graph;
pub mod tracker;

pub use block_on::block_on;

pub use events::{ActionExecuted, BotUttered, Event, EventKind, Metadata, UserUttered};
pub use tracker::{ActiveLoop, DialogueStateTracker, EventVerbosity, SlotSpec};
