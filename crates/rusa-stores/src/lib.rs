//! Where a rusa server keeps conversations, how it serialises one conversation's messages,
//! and where it publishes events: the implementations of the traits in
//! `rusa_core::stores`, and their construction from endpoints.yml.
//!
//! - Tracker stores: [`InMemoryTrackerStore`], [`SqlTrackerStore`] (SQLite, PostgreSQL),
//!   [`RedisTrackerStore`]. A turn appends its events; nothing rewrites a conversation.
//! - Lock stores: [`InMemoryLockStore`], [`RedisLockStore`] (FIFO tickets with a lifetime).
//! - Event brokers: [`FileEventBroker`], [`SqlEventBroker`], [`PikaEventBroker`]
//!   (RabbitMQ). Publishing never waits or fails; a bounded buffer absorbs outages.
//!
//! Not here: the message processor that uses them (`rusa-core`), Kafka, MongoDB, DynamoDB.

mod config;
mod endpoint;
mod error;
mod file_broker;
mod memory_lock;
mod memory_tracker;
mod outbox;
mod pika_broker;
mod redis_conn;
mod redis_lock;
mod redis_tracker;
mod runtime;
mod sql;
mod sql_append;
mod sql_broker;
mod sql_tracker;

pub use endpoint::{
    DEFAULT_BROKER_DB, DEFAULT_TRACKER_DB, EVENT_BROKER_TYPES, LOCK_STORE_TYPES,
    TRACKER_STORE_TYPES, event_broker_from_endpoint, event_broker_with_headers,
    lock_store_from_endpoint, tracker_store_from_endpoint,
};
pub use error::StoresError;
pub use file_broker::{DEFAULT_EVENT_LOG, FileEventBroker};
pub use memory_lock::InMemoryLockStore;
pub use memory_tracker::InMemoryTrackerStore;
pub use outbox::{BROKER_BATCH, BROKER_BUFFER_CAPACITY, BROKER_MAX_BACKOFF, BROKER_MIN_BACKOFF};
pub use pika_broker::{
    AMQP_CONNECT_TIMEOUT, DEFAULT_EXCHANGE, DEFAULT_QUEUE, PikaConfig, PikaEventBroker,
};
pub use redis_conn::{REDIS_CONNECT_TIMEOUT, RedisConfig};
pub use redis_lock::{MAX_POLL_INTERVAL, MIN_POLL_INTERVAL, RedisLockStore};
pub use redis_tracker::RedisTrackerStore;
pub use sql::{Dialect, POSTGRES_CONNECT_TIMEOUT, SqlConfig};
pub use sql_broker::SqlEventBroker;
pub use sql_tracker::SqlTrackerStore;
