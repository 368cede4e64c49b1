//! The span processor between the code that ends spans and the exporter (tracing spec §4).
//!
//! Finished spans go into a bounded queue; one worker thread of its own takes them out in
//! batches and exports them on a single-threaded tokio runtime (the OTLP clients need one;
//! the thread keeps them off the server's runtime). Ending a span never waits: when the
//! queue is full the span is dropped and counted. With `sync_export` the worker exports
//! each span as soon as it arrives, still off the request path.
//!
//! The SDK's `BatchSpanProcessor` does most of this too, but counts its drops only for a
//! log line of its own and drives the exporter with a blocking executor that the gRPC
//! client cannot run on; rusa reports what was lost at shutdown, per cause.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use crate::config::BatchConfig;
use crate::error::SetupError;

/// What happened to the spans that reached the processor.
#[derive(Debug, Default)]
pub struct Stats {
    /// Spans the back end accepted.
    pub exported: AtomicU64,
    /// Spans dropped because the queue was full.
    pub dropped_queue_full: AtomicU64,
    /// Spans in batches the exporter could not deliver (back end down, timed out).
    pub failed: AtomicU64,
    /// Spans too large for one Jaeger datagram (set by that exporter).
    pub oversized: Arc<AtomicU64>,
    /// Spans still queued when shutdown ran out of time.
    pub unsent_at_shutdown: AtomicU64,
}

/// The counts of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub exported: u64,
    pub dropped_queue_full: u64,
    pub failed: u64,
    pub oversized: u64,
    pub unsent_at_shutdown: u64,
}

impl Report {
    /// Spans that never reached the back end.
    pub fn lost(&self) -> u64 {
        self.dropped_queue_full + self.failed + self.oversized + self.unsent_at_shutdown
    }
}

impl Stats {
    pub fn report(&self) -> Report {
        Report {
            exported: self.exported.load(Ordering::Relaxed),
            dropped_queue_full: self.dropped_queue_full.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
            unsent_at_shutdown: self.unsent_at_shutdown.load(Ordering::Relaxed),
        }
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<SpanData>,
    /// Callers of `force_flush` waiting for the queue to be exported.
    flush_waiters: Vec<mpsc::Sender<()>>,
    /// Set by `shutdown`: export what is queued, shut the exporter down, stop.
    shutdown: Option<mpsc::Sender<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    stats: Arc<Stats>,
    stopped: AtomicBool,
    /// Spans taken from the queue and not yet exported or failed.
    in_flight: AtomicU64,
    /// Shutdown ran out of time and counted what was left: the worker counts no more.
    abandoned: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The queue and its worker thread.
pub struct BatchProcessor {
    shared: Arc<Shared>,
    max_queue_size: usize,
    /// Wake the worker at this queue length (1 with `sync_export`).
    wake_at: usize,
}

impl std::fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("max_queue_size", &self.max_queue_size)
            .field("wake_at", &self.wake_at)
            .finish_non_exhaustive()
    }
}

impl BatchProcessor {
    /// Starts the worker thread, which builds its exporter with `make_exporter` inside its
    /// runtime (a gRPC channel must be made there) and gives it `resource`. Returns once
    /// the exporter is built, or with the error that stopped it.
    pub fn start<E, F>(
        config: BatchConfig,
        sync_export: bool,
        resource: Resource,
        stats: Arc<Stats>,
        make_exporter: F,
    ) -> Result<Self, SetupError>
    where
        E: SpanExporter + 'static,
        F: FnOnce() -> Result<E, SetupError> + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            stats,
            stopped: AtomicBool::new(false),
            in_flight: AtomicU64::new(0),
            abandoned: AtomicBool::new(false),
        });
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), SetupError>>();
        let worker_shared = Arc::clone(&shared);
        // The worker logs through the program's subscriber, looked up when it logs (the
        // pipeline starts before logging does). Exporting never produces spans to export:
        // the tracing layer takes only rusa's spans, and the HTTP and gRPC clients' are not.
        let batch_size = if sync_export {
            1
        } else {
            config.max_export_batch_size.max(1)
        };
        let delay = if sync_export {
            Duration::ZERO
        } else {
            config.schedule_delay
        };
        let export_timeout = config.export_timeout;
        std::thread::Builder::new()
            .name("rusa-otel-export".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = ready_tx.send(Err(SetupError {
                            message: format!("cannot start the exporter's runtime: {e}"),
                        }));
                        return;
                    }
                };
                let exporter = {
                    let _entered = runtime.enter();
                    make_exporter()
                };
                let mut exporter = match exporter {
                    Ok(e) => e,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                exporter.set_resource(&resource);
                let _ = ready_tx.send(Ok(()));
                let worker = Worker {
                    shared: worker_shared,
                    exporter,
                    runtime,
                    batch_size,
                    delay,
                    export_timeout,
                    warned: false,
                };
                worker.run();
            })
            .map_err(|e| SetupError {
                message: format!("cannot start the exporter thread: {e}"),
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Self {
                shared,
                max_queue_size: config.max_queue_size.max(1),
                wake_at: batch_size,
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SetupError {
                message: "the exporter thread stopped while starting".into(),
            }),
        }
    }

    fn wait_for(&self, rx: mpsc::Receiver<()>, timeout: Duration) -> OTelSdkResult {
        match rx.recv_timeout(timeout) {
            Ok(()) => Ok(()),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(timeout)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(OTelSdkError::AlreadyShutdown),
        }
    }
}

impl SpanProcessor for BatchProcessor {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let mut state = self.shared.lock();
        if self.shared.stopped.load(Ordering::Relaxed) || state.queue.len() >= self.max_queue_size {
            drop(state);
            self.shared
                .stats
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.queue.push_back(span);
        // The first span starts the worker's delay; a full batch sends at once.
        if state.queue.len() == 1 || state.queue.len() >= self.wake_at {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let (tx, rx) = mpsc::channel();
        {
            let mut state = self.shared.lock();
            if self.shared.stopped.load(Ordering::Relaxed) {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            state.flush_waiters.push(tx);
        }
        self.shared.wake.notify_one();
        self.wait_for(rx, Duration::from_secs(5))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        let (tx, rx) = mpsc::channel();
        {
            let mut state = self.shared.lock();
            if self.shared.stopped.swap(true, Ordering::Relaxed) {
                return Err(OTelSdkError::AlreadyShutdown);
            }
            state.shutdown = Some(tx);
        }
        self.shared.wake.notify_one();
        let result = self.wait_for(rx, timeout);
        if result.is_err() {
            // Out of time: what is still queued will not be sent.
            let left = {
                let mut state = self.shared.lock();
                self.shared.abandoned.store(true, Ordering::SeqCst);
                let n = state.queue.len() as u64 + self.shared.in_flight.load(Ordering::SeqCst);
                state.queue.clear();
                n
            };
            self.shared
                .stats
                .unsent_at_shutdown
                .fetch_add(left, Ordering::Relaxed);
        }
        result
    }

    fn set_resource(&mut self, _resource: &Resource) {
        // The worker's exporter was given the resource when it was built.
    }
}

struct Worker<E: SpanExporter> {
    shared: Arc<Shared>,
    exporter: E,
    runtime: tokio::runtime::Runtime,
    batch_size: usize,
    delay: Duration,
    export_timeout: Duration,
    warned: bool,
}

impl<E: SpanExporter> Worker<E> {
    fn run(mut self) {
        // When the oldest queued span must be sent: `delay` after the worker first saw it.
        let mut deadline: Option<Instant> = None;
        loop {
            let (batches, flushers, shutdown) = {
                let mut state = self.shared.lock();
                loop {
                    if state.shutdown.is_some()
                        || !state.flush_waiters.is_empty()
                        || state.queue.len() >= self.batch_size
                    {
                        break;
                    }
                    let wait = if state.queue.is_empty() {
                        deadline = None;
                        // Nothing to time: sleep until a span or a call wakes us.
                        Duration::from_secs(3600)
                    } else {
                        let now = Instant::now();
                        let due = *deadline.get_or_insert(now + self.delay);
                        if now >= due {
                            break;
                        }
                        due - now
                    };
                    state = self
                        .shared
                        .wake
                        .wait_timeout(state, wait)
                        .map(|(s, _)| s)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                let everything = state.shutdown.is_some() || !state.flush_waiters.is_empty();
                let take = if everything {
                    state.queue.len()
                } else {
                    state.queue.len().min(self.batch_size)
                };
                let mut spans = state.queue.drain(..take);
                let mut batches: Vec<Vec<SpanData>> = Vec::new();
                loop {
                    let batch: Vec<SpanData> = spans.by_ref().take(self.batch_size).collect();
                    if batch.is_empty() {
                        break;
                    }
                    batches.push(batch);
                }
                drop(spans);
                let taken: usize = batches.iter().map(Vec::len).sum();
                self.shared.in_flight.store(taken as u64, Ordering::SeqCst);
                // Spans left behind start a new wait.
                deadline = (!state.queue.is_empty()).then(|| Instant::now() + self.delay);
                (
                    batches,
                    std::mem::take(&mut state.flush_waiters),
                    state.shutdown.take(),
                )
            };
            for batch in batches {
                self.export(batch);
            }
            for waiter in flushers {
                let _ = waiter.send(());
            }
            if let Some(done) = shutdown {
                let _ = self.exporter.shutdown_with_timeout(Duration::from_secs(1));
                let _ = done.send(());
                return;
            }
        }
    }

    fn export(&mut self, batch: Vec<SpanData>) {
        let n = batch.len() as u64;
        let timeout = self.export_timeout;
        let result = self
            .runtime
            .block_on(async { tokio::time::timeout(timeout, self.exporter.export(batch)).await });
        let stats = &self.shared.stats;
        // Under the lock, so that shutdown counts a batch either here or as unsent, once.
        let state = self.shared.lock();
        self.shared.in_flight.fetch_sub(n, Ordering::SeqCst);
        let counted = !self.shared.abandoned.load(Ordering::SeqCst);
        drop(state);
        let error = match result {
            Ok(Ok(())) => {
                if counted {
                    stats.exported.fetch_add(n, Ordering::Relaxed);
                }
                return;
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("the export took longer than {} ms", timeout.as_millis()),
        };
        if counted {
            stats.failed.fetch_add(n, Ordering::Relaxed);
        }
        let first = !self.warned;
        self.warned = true;
        if first {
            tracing::warn!(
                spans = n,
                error = error.as_str(),
                "traces could not be exported; spans are dropped until the back end answers (counted, reported at shutdown)"
            );
        } else {
            tracing::debug!(
                spans = n,
                error = error.as_str(),
                "an export of spans failed"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use opentelemetry::InstrumentationScope;
    use opentelemetry::trace::{
        SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
    };

    use super::*;

    /// Counts exported spans; fails or blocks on demand.
    #[derive(Debug, Clone, Default)]
    struct Counting {
        spans: Arc<AtomicUsize>,
        batches: Arc<Mutex<Vec<usize>>>,
        fail: bool,
        hang: bool,
    }

    impl SpanExporter for Counting {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            if self.hang {
                std::future::pending::<()>().await;
            }
            if self.fail {
                return Err(OTelSdkError::InternalFailure("down".into()));
            }
            self.batches.lock().unwrap().push(batch.len());
            self.spans.fetch_add(batch.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    fn span(i: u64) -> SpanData {
        SpanData {
            span_context: SpanContext::new(
                TraceId::from(u128::from(i) + 1),
                SpanId::from(i + 1),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Internal,
            name: "s".into(),
            start_time: std::time::SystemTime::UNIX_EPOCH,
            end_time: std::time::SystemTime::UNIX_EPOCH,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: InstrumentationScope::builder("t").build(),
        }
    }

    fn start(exporter: Counting, config: BatchConfig, sync: bool) -> (BatchProcessor, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let p = BatchProcessor::start(
            config,
            sync,
            Resource::builder_empty().build(),
            Arc::clone(&stats),
            move || Ok(exporter),
        )
        .unwrap();
        (p, stats)
    }

    #[test]
    fn batches_are_at_most_the_batch_size_and_flush_sends_everything() {
        let exporter = Counting::default();
        let config = BatchConfig {
            max_export_batch_size: 4,
            schedule_delay: Duration::from_secs(3600),
            ..BatchConfig::default()
        };
        let (p, stats) = start(exporter.clone(), config, false);
        for i in 0..10 {
            p.on_end(span(i));
        }
        p.force_flush().unwrap();
        assert_eq!(exporter.spans.load(Ordering::SeqCst), 10);
        assert!(exporter.batches.lock().unwrap().iter().all(|&n| n <= 4));
        p.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(stats.report().exported, 10);
        assert_eq!(stats.report().lost(), 0);
    }

    #[test]
    fn a_full_queue_drops_and_counts_and_never_blocks() {
        let exporter = Counting {
            hang: true,
            ..Counting::default()
        };
        let config = BatchConfig {
            max_queue_size: 8,
            max_export_batch_size: 2,
            export_timeout: Duration::from_secs(3600),
            ..BatchConfig::default()
        };
        let (p, stats) = start(exporter, config, false);
        for i in 0..100 {
            p.on_end(span(i));
        }
        // The worker holds at most one batch; the queue holds 8.
        let dropped = stats.report().dropped_queue_full;
        assert!((90..=92).contains(&dropped), "{dropped}");
        // Shutdown gives up on the hung exporter and counts what was still queued.
        assert!(p.shutdown_with_timeout(Duration::from_millis(50)).is_err());
        let r = stats.report();
        assert_eq!(r.exported, 0);
        assert_eq!(r.unsent_at_shutdown + r.dropped_queue_full, 100, "{r:?}");
    }

    #[test]
    fn failed_exports_are_counted() {
        let exporter = Counting {
            fail: true,
            ..Counting::default()
        };
        let (p, stats) = start(exporter, BatchConfig::default(), true);
        for i in 0..5 {
            p.on_end(span(i));
        }
        p.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(stats.report().failed, 5);
    }

    #[test]
    fn sync_export_sends_each_span_without_a_flush() {
        let exporter = Counting::default();
        let config = BatchConfig {
            schedule_delay: Duration::from_secs(3600),
            ..BatchConfig::default()
        };
        let (p, _stats) = start(exporter.clone(), config, true);
        p.on_end(span(1));
        // Without flushing: the worker exports as the span arrives. Wait on its progress
        // by polling the counter with a bound, never on time.
        let mut spins = 0u64;
        while exporter.spans.load(Ordering::SeqCst) == 0 && spins < 2_000_000_000 {
            std::thread::yield_now();
            spins += 1;
        }
        assert_eq!(exporter.spans.load(Ordering::SeqCst), 1);
        p.shutdown_with_timeout(Duration::from_secs(5)).unwrap();
    }
}
