//! Pieces shared by rusa's benchmark binaries: percentiles of measured durations and the
//! memory and CPU time of a process tree read from `/proc`. The binaries (`serve-load`,
//! `otlp-sink`, `action-server-load`) print figures; nothing here asserts about time.

pub mod probe;
pub mod process_tree;
pub mod stats;
