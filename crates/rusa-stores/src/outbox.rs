//! The bounded buffer between `EventBroker::publish` and the network: publishing never
//! waits; a background task sends in order and retries with back-off; when the buffer is
//! full the oldest message is dropped and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusa_core::actions::BoxFuture;
use rusa_core::stores::StoreError;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// How many messages a broker holds while its service is slow or down; when full, the
/// oldest is dropped.
pub const BROKER_BUFFER_CAPACITY: usize = 10_000;
/// At most this many messages go out in one send.
pub const BROKER_BATCH: usize = 256;
/// First wait after a failed send; it doubles up to [`BROKER_MAX_BACKOFF`].
pub const BROKER_MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two attempts to send.
pub const BROKER_MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A send that did not go through: how many of the batch did go out, and why.
#[derive(Debug)]
pub(crate) struct SinkError {
    pub(crate) sent: usize,
    pub(crate) message: String,
}

/// Where a broker's messages go.
pub(crate) trait Sink: Send + 'static {
    /// Sends the batch in order.
    fn send<'a>(
        &'a mut self,
        batch: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Result<(), SinkError>>;
}

struct Queue {
    /// Messages with their sequence numbers; a message stays here until it is sent.
    items: VecDeque<(u64, serde_json::Value)>,
    next_seq: u64,
}

/// Implements `EventBroker`, and `Drop` (which stops the sending task), for a broker whose
/// fields `outbox` and `task` are what [`Outbox::start`] returned: every buffered broker
/// publishes, flushes and counts through its outbox in the same way.
macro_rules! buffered_event_broker {
    ($broker:ty, $class_name:expr) => {
        impl Drop for $broker {
            fn drop(&mut self) {
                self.task.abort();
            }
        }

        impl rusa_core::stores::EventBroker for $broker {
            fn class_name(&self) -> &'static str {
                $class_name
            }

            fn publish(&self, message: serde_json::Value) {
                self.outbox.push(message);
            }

            fn flush(&self, budget: std::time::Duration) -> rusa_core::actions::BoxFuture<'_, ()> {
                Box::pin(self.outbox.flush(budget))
            }

            fn dropped(&self) -> u64 {
                self.outbox.dropped()
            }

            fn pending(&self) -> usize {
                self.outbox.pending()
            }
        }
    };
}
pub(crate) use buffered_event_broker;

pub(crate) struct Outbox {
    broker: &'static str,
    capacity: usize,
    queue: Mutex<Queue>,
    wake: Notify,
    idle: Notify,
    dropped: AtomicU64,
}

impl Outbox {
    /// Starts the sending task; fails outside a tokio runtime.
    pub(crate) fn start(
        broker: &'static str,
        capacity: usize,
        sink: impl Sink,
    ) -> Result<(Arc<Self>, JoinHandle<()>), StoreError> {
        crate::runtime::require_runtime(broker)?;
        let outbox = Arc::new(Self {
            broker,
            capacity: capacity.max(1),
            queue: Mutex::new(Queue {
                items: VecDeque::new(),
                next_seq: 0,
            }),
            wake: Notify::new(),
            idle: Notify::new(),
            dropped: AtomicU64::new(0),
        });
        let task = tokio::spawn(Arc::clone(&outbox).run(sink));
        Ok((outbox, task))
    }

    pub(crate) fn push(&self, message: serde_json::Value) {
        let dropped_now = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            let seq = queue.next_seq;
            queue.next_seq += 1;
            let dropped = if queue.items.len() >= self.capacity {
                queue.items.pop_front();
                true
            } else {
                false
            };
            queue.items.push_back((seq, message));
            dropped
        };
        if dropped_now {
            let total = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if total == 1 || total.is_multiple_of(1000) {
                tracing::warn!(
                    broker = self.broker,
                    dropped_total = total,
                    capacity = self.capacity,
                    "event broker buffer is full; dropped the oldest event"
                );
            }
        }
        self.wake.notify_one();
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Messages not sent yet (a message stays buffered until its send went through).
    pub(crate) fn pending(&self) -> usize {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .items
            .len()
    }

    fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Waits until everything buffered went out, at most `budget`.
    pub(crate) async fn flush(&self, budget: Duration) {
        let flushed = tokio::time::timeout(budget, async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.is_empty() {
                    return;
                }
                idle.await;
            }
        })
        .await;
        if flushed.is_err() {
            let waiting = self.pending();
            tracing::warn!(
                broker = self.broker,
                waiting,
                budget_ms = budget.as_millis() as u64,
                "events still waiting to be published when the flush budget ran out"
            );
        }
    }

    /// Removes the messages up to and including `last_seq` (those still there).
    fn remove_through(&self, last_seq: u64) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while queue.items.front().is_some_and(|(seq, _)| *seq <= last_seq) {
            queue.items.pop_front();
        }
        queue.items.is_empty()
    }

    async fn run(self: Arc<Self>, mut sink: impl Sink) {
        let mut backoff = BROKER_MIN_BACKOFF;
        loop {
            let wake = self.wake.notified();
            tokio::pin!(wake);
            wake.as_mut().enable();
            // Copies: the messages stay buffered until they are sent.
            let (seqs, values): (Vec<u64>, Vec<serde_json::Value>) = {
                let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
                queue
                    .items
                    .iter()
                    .take(BROKER_BATCH)
                    .map(|(seq, value)| (*seq, value.clone()))
                    .unzip()
            };
            let Some(&last) = seqs.last() else {
                self.idle.notify_waiters();
                wake.await;
                continue;
            };
            match sink.send(&values).await {
                Ok(()) => {
                    backoff = BROKER_MIN_BACKOFF;
                    if self.remove_through(last) {
                        self.idle.notify_waiters();
                    }
                }
                Err(SinkError { sent, message }) => {
                    if let Some(&through) = seqs.get(sent.min(seqs.len()).wrapping_sub(1)) {
                        self.remove_through(through);
                    }
                    tracing::warn!(
                        broker = self.broker,
                        error = %message,
                        retry_in_ms = backoff.as_millis() as u64,
                        "cannot publish events; will retry"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BROKER_MAX_BACKOFF);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Delivers into a list; the first send delivers only its first message and fails.
    struct Flaky {
        delivered: Arc<Mutex<Vec<serde_json::Value>>>,
        failed_once: bool,
    }

    impl Sink for Flaky {
        fn send<'a>(
            &'a mut self,
            batch: &'a [serde_json::Value],
        ) -> BoxFuture<'a, Result<(), SinkError>> {
            let mut delivered = self.delivered.lock().unwrap();
            if !self.failed_once {
                self.failed_once = true;
                delivered.push(batch[0].clone());
                return Box::pin(std::future::ready(Err(SinkError {
                    sent: 1,
                    message: "cut".into(),
                })));
            }
            delivered.extend(batch.iter().cloned());
            Box::pin(std::future::ready(Ok(())))
        }
    }

    #[tokio::test]
    async fn a_partly_failed_send_resends_only_the_rest_in_order() {
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let sink = Flaky {
            delivered: Arc::clone(&delivered),
            failed_once: false,
        };
        let (outbox, task) = Outbox::start("test", 100, sink).unwrap();
        for n in 0..3 {
            outbox.push(serde_json::json!(n));
        }
        assert_eq!(outbox.pending(), 3);
        outbox.flush(Duration::from_secs(20)).await;
        assert_eq!(outbox.pending(), 0);
        assert_eq!(
            *delivered.lock().unwrap(),
            vec![
                serde_json::json!(0),
                serde_json::json!(1),
                serde_json::json!(2)
            ]
        );
        assert_eq!(outbox.dropped(), 0);
        task.abort();
    }
}
