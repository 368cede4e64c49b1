//! Delivery (§6): a bounded in-memory queue filled by the calling thread and one background
//! sender thread that batches to `POST {endpoint}/v1/batch`. What is not delivered when the
//! process ends goes to the spool and is sent by a later run. No helper processes.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::config::{DeliveryMode, TelemetryConfig};
use crate::consent::format_rfc3339;
use crate::context::build_context;
use crate::env;
use crate::events::Event;
use crate::payload::{batch_body, segment_request_header, segment_request_payload};
use crate::state;

/// An event as recorded on the calling thread: the cheap part only.
#[derive(Debug)]
pub(crate) struct Recorded {
    pub event: Event,
    pub at: SystemTime,
}

/// Turns recorded events into wire messages: id, timestamp, `metrics_id`, context.
#[derive(Debug)]
pub(crate) struct MessageFactory {
    pub config: TelemetryConfig,
    pub user_id: String,
    pub hash_key: String,
    context: OnceLock<Value>,
}

impl MessageFactory {
    pub(crate) fn new(config: TelemetryConfig, user_id: String, hash_key: String) -> Self {
        Self {
            config,
            user_id,
            hash_key,
            context: OnceLock::new(),
        }
    }

    /// The context of this process, computed on first use.
    pub(crate) fn context(&self) -> &Value {
        self.context
            .get_or_init(|| build_context(&self.config, &self.hash_key))
    }

    pub(crate) fn message(&self, recorded: &Recorded) -> Value {
        let timestamp = format_rfc3339(time::OffsetDateTime::from(recorded.at));
        let message_id = uuid::Uuid::new_v4().hyphenated().to_string();
        segment_request_payload(
            &self.user_id,
            recorded.event.name(),
            recorded.event.properties(),
            self.context(),
            &message_id,
            &timestamp,
        )
    }
}

#[derive(Debug, Default)]
struct QueueState {
    queue: VecDeque<Recorded>,
    /// Messages taken by the sender and not delivered (yet): spooled at exit.
    in_flight: Vec<Value>,
    /// Spool files whose messages are in flight: deleted once those are delivered or
    /// spooled again, never before.
    claimed: Vec<std::path::PathBuf>,
    busy: bool,
    shutdown: bool,
    /// Someone waits in `flush`: a server sends now rather than at its next interval.
    flush_requested: bool,
    /// A request is on the wire (connecting, sending or waiting for the answer).
    attempting: bool,
    /// Shutdown came while a request was on the wire and counted it as a failed delivery:
    /// the sender must not count it a second time when its own timeout fires later.
    cut_off: bool,
}

/// What the calling thread and the sender share.
#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    wake: Condvar,
    idle: Condvar,
    dropped: AtomicU64,
    capacity: usize,
    factory: Arc<MessageFactory>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// The endpoint refused the batch (4xx other than 429): dropped, never retried.
    Rejected(u16),
    /// Network error, timeout, or 429/5xx twice: counts towards back-off.
    Failed,
    /// Shutdown came while waiting to retry: spooled, not counted as a failure.
    Interrupted,
}

impl Queue {
    /// Starts the sender thread and returns the queue that feeds it.
    pub(crate) fn start(factory: Arc<MessageFactory>) -> Arc<Self> {
        let queue = Arc::new(Self {
            state: Mutex::new(QueueState {
                busy: true,
                ..QueueState::default()
            }),
            wake: Condvar::new(),
            idle: Condvar::new(),
            dropped: AtomicU64::new(0),
            capacity: factory.config.queue_capacity,
            factory,
        });
        let sender = Arc::clone(&queue);
        let spawned = std::thread::Builder::new()
            .name("rusa-telemetry".into())
            .spawn(move || sender.run());
        if let Err(err) = spawned {
            tracing::debug!(error = %err, "telemetry sender thread not started; events will be spooled");
            queue.lock().busy = false;
        }
        queue
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A poisoned lock only means a panic elsewhere; the data is still a valid queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds an event; drops (and counts) it when the queue is full. Never blocks on I/O.
    pub(crate) fn push(&self, recorded: Recorded) {
        let mut st = self.lock();
        if st.shutdown || st.queue.len() >= self.capacity {
            drop(st);
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        st.queue.push_back(recorded);
        drop(st);
        self.wake.notify_one();
    }

    /// Events dropped because the queue was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Waits until the sender is idle or `timeout` passes. True when nothing is left
    /// undelivered.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock();
        st.flush_requested = true;
        while st.busy || !st.queue.is_empty() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            self.wake.notify_one();
            st = self
                .idle
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        st.in_flight.is_empty()
    }

    /// Waits at most `budget`, then stops the sender and spools what is left. Returns the
    /// number of spooled messages.
    ///
    /// A request still on the wire when the budget ends counts as a failed delivery for the
    /// back-off: the process ends before the request's own timeout could fire, so without
    /// this an endpoint that accepts and never answers would cost every run its exit budget
    /// and never start the back-off.
    pub(crate) fn shutdown(&self, budget: Duration) -> usize {
        self.flush(budget);
        let (queued, mut leftovers, claimed, cut_off) = {
            let mut st = self.lock();
            st.shutdown = true;
            st.cut_off = st.attempting;
            (
                std::mem::take(&mut st.queue),
                std::mem::take(&mut st.in_flight),
                std::mem::take(&mut st.claimed),
                st.cut_off,
            )
        };
        self.wake.notify_all();
        if cut_off {
            tracing::debug!("telemetry delivery unanswered at exit; counted as a failure");
            if let Err(err) = state::record_failure(&self.factory.config) {
                tracing::debug!(error = %err, "telemetry back-off state not written");
            }
        }
        leftovers.extend(queued.iter().map(|r| self.factory.message(r)));
        if leftovers.is_empty() {
            state::release_spool(&self.factory.config, &claimed);
            return 0;
        }
        match state::spool(&self.factory.config, &leftovers) {
            Ok(()) => {
                // The claimed files' undelivered messages are in the new spool file now.
                state::release_spool(&self.factory.config, &claimed);
                leftovers.len()
            }
            Err(err) => {
                tracing::debug!(error = %err, "telemetry spool not written");
                0
            }
        }
    }

    /// Waits without spooling (used by `rusa telemetry disable`, which deletes the spool).
    pub(crate) fn abandon(&self, budget: Duration) -> bool {
        let delivered = self.flush(budget);
        let mut st = self.lock();
        st.shutdown = true;
        st.queue.clear();
        st.in_flight.clear();
        drop(st);
        self.wake.notify_all();
        delivered
    }

    fn set_idle(&self, mut st: MutexGuard<'_, QueueState>) {
        st.busy = false;
        drop(st);
        self.idle.notify_all();
    }

    /// The sender thread.
    fn run(&self) {
        let config = &self.factory.config;
        let agent = agent();
        let mut paused = state::load_backoff(config).active();
        if paused {
            tracing::debug!("telemetry delivery paused by back-off; events are spooled");
        } else {
            let spooled = state::claim_spool(config).unwrap_or_default();
            if !spooled.messages.is_empty() || !spooled.files.is_empty() {
                {
                    let mut st = self.lock();
                    st.in_flight.extend(spooled.messages);
                    st.claimed = spooled.files;
                }
                paused = self.deliver_in_flight(&agent);
                self.release_claimed_if_delivered();
            }
        }
        let mut next_flush = Instant::now();
        loop {
            let mut st = self.lock();
            // Wait for work.
            loop {
                if st.shutdown {
                    return self.set_idle(st);
                }
                let due = match config.mode {
                    DeliveryMode::Cli => !st.queue.is_empty(),
                    DeliveryMode::Server { .. } => {
                        let has_work = !st.queue.is_empty() || !st.in_flight.is_empty();
                        st.queue.len() >= env::MAX_BATCH_LEN
                            || (has_work && (st.flush_requested || Instant::now() >= next_flush))
                    }
                };
                if due {
                    break;
                }
                st.busy = false;
                self.idle.notify_all();
                st = match config.mode {
                    DeliveryMode::Cli => self.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
                    DeliveryMode::Server { flush_interval } => {
                        let now = Instant::now();
                        if now >= next_flush {
                            next_flush = now + flush_interval;
                        }
                        self.wake
                            .wait_timeout(st, next_flush - now)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                };
            }
            st.busy = true;
            st.flush_requested = false;
            let recorded: Vec<Recorded> = st.queue.drain(..).collect();
            drop(st);
            let messages: Vec<Value> = recorded.iter().map(|r| self.factory.message(r)).collect();
            let mut st = self.lock();
            st.in_flight.extend(messages);
            // A server paused by back-off keeps at most a queue's worth; the oldest go first.
            let excess = st.in_flight.len().saturating_sub(self.capacity);
            if excess > 0 {
                st.in_flight.drain(..excess);
                self.dropped.fetch_add(excess as u64, Ordering::Relaxed);
            }
            drop(st);
            if let DeliveryMode::Server { flush_interval } = config.mode {
                next_flush = Instant::now() + flush_interval;
                // A server retries failed messages at the next flush; a CLI run spools them.
                paused = state::load_backoff(config).active();
            }
            if !paused {
                paused = self.deliver_in_flight(&agent);
                self.release_claimed_if_delivered();
            }
            let st = self.lock();
            self.set_idle(st);
        }
    }

    /// Deletes the claimed spool files once nothing is in flight any more.
    fn release_claimed_if_delivered(&self) {
        let files = {
            let mut st = self.lock();
            if !st.in_flight.is_empty() {
                return;
            }
            std::mem::take(&mut st.claimed)
        };
        state::release_spool(&self.factory.config, &files);
    }

    /// Sends everything in flight, in batches. Returns true when delivery should pause.
    fn deliver_in_flight(&self, agent: &ureq::Agent) -> bool {
        let batch: Vec<Value> = self.lock().in_flight.clone();
        for chunk in batch.chunks(env::MAX_BATCH_LEN) {
            match self.attempt(agent, chunk) {
                Outcome::Delivered => {
                    self.remove_in_flight(chunk);
                    if let Err(err) = state::append_sent(&self.factory.config, chunk) {
                        tracing::debug!(error = %err, "telemetry sent log not written");
                    }
                    state::record_success(&self.factory.config);
                }
                Outcome::Rejected(status) => {
                    tracing::debug!(
                        status,
                        batch_len = chunk.len(),
                        "telemetry batch rejected by the endpoint; dropped"
                    );
                    self.remove_in_flight(chunk);
                }
                Outcome::Failed => {
                    if self.lock().cut_off {
                        // Already counted by `shutdown`.
                        return true;
                    }
                    if let Err(err) = state::record_failure(&self.factory.config) {
                        tracing::debug!(error = %err, "telemetry back-off state not written");
                    }
                    return true;
                }
                Outcome::Interrupted => return true,
            }
        }
        false
    }

    fn remove_in_flight(&self, chunk: &[Value]) {
        let ids: HashSet<&str> = chunk
            .iter()
            .filter_map(|m| m["messageId"].as_str())
            .collect();
        self.lock()
            .in_flight
            .retain(|m| !m["messageId"].as_str().is_some_and(|id| ids.contains(id)));
    }

    /// One request, and at most one retry (429/5xx, after `Retry-After`).
    fn attempt(&self, agent: &ureq::Agent, chunk: &[Value]) -> Outcome {
        match self.post(agent, chunk) {
            Ok((status, _)) if (200..300).contains(&status) => Outcome::Delivered,
            Ok((status, retry_after)) if status == 429 || status >= 500 => {
                let wait = retry_after.unwrap_or(Duration::from_secs(1));
                if wait > env::RETRY_AFTER_MAX {
                    return Outcome::Failed;
                }
                let st = self.lock();
                let (st, _) = self
                    .wake
                    .wait_timeout_while(st, wait, |s| !s.shutdown)
                    .unwrap_or_else(|p| p.into_inner());
                if st.shutdown {
                    return Outcome::Interrupted;
                }
                drop(st);
                match self.post(agent, chunk) {
                    Ok((status, _)) if (200..300).contains(&status) => Outcome::Delivered,
                    Ok((status, _)) if status != 429 && status < 500 => Outcome::Rejected(status),
                    _ => Outcome::Failed,
                }
            }
            Ok((status, _)) => Outcome::Rejected(status),
            Err(err) => {
                tracing::debug!(error = %err, "telemetry delivery failed");
                Outcome::Failed
            }
        }
    }

    /// One request, marked as on the wire while it runs (see [`Queue::shutdown`]).
    fn post(
        &self,
        agent: &ureq::Agent,
        chunk: &[Value],
    ) -> Result<(u16, Option<Duration>), ureq::Error> {
        self.lock().attempting = true;
        let result = self.post_unmarked(agent, chunk);
        self.lock().attempting = false;
        result
    }

    fn post_unmarked(
        &self,
        agent: &ureq::Agent,
        chunk: &[Value],
    ) -> Result<(u16, Option<Duration>), ureq::Error> {
        let config = &self.factory.config;
        let Some(key) = config.write_key.as_deref() else {
            return Ok((0, None));
        };
        let body = batch_body(chunk, &format_rfc3339(time::OffsetDateTime::now_utc()));
        let mut request = agent.post(config.batch_url());
        for (name, value) in segment_request_header(key) {
            request = request.header(name, value);
        }
        let response =
            request.send(serde_json::to_string(&body).expect("JSON values serialize"))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, time::OffsetDateTime::now_utc()));
        Ok((status, retry_after))
    }
}

/// `Retry-After` as seconds (`120`) or as an HTTP date (`Wed, 21 Oct 2026 07:28:00 GMT`).
fn parse_retry_after(value: &str, now: time::OffsetDateTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// The HTTP client: connect 1.5 s, whole request 3 s, proxies from the environment
/// (`HTTPS_PROXY`, `NO_PROXY`, ...), status codes returned rather than raised.
fn agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_connect(Some(env::CONNECT_TIMEOUT))
        .timeout_global(Some(env::REQUEST_TIMEOUT))
        .http_status_as_error(false)
        .build();
    ureq::Agent::new_with_config(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = time::macros::datetime!(2026-10-21 07:28:00 UTC);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
