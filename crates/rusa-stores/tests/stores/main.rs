//! Integration tests of the stores, locks and brokers, against the real services on
//! loopback (PostgreSQL, Redis, RabbitMQ) where a test needs one.

mod brokers;
mod durability;
mod endpoints;
mod locks;
mod support;
mod trackers;
