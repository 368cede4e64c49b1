//! One conformance suite for both lock stores.

use std::sync::Arc;
use std::time::Duration;

use rusa_core::actions::BoxFuture;
use rusa_core::stores::{LockStore, LockTicket, StoreError};
use rusa_stores::{InMemoryLockStore, RedisLockStore};

use crate::support::{redis_config, service, unique};

const LONG: Duration = Duration::from_secs(30);

/// The two steps of `lock`, so that a test can fix the order in which tickets are issued.
trait TicketLocks: LockStore + 'static {
    fn issue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, u64>;
    fn wait<'a>(
        &'a self,
        id: &'a str,
        ticket: u64,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>>;
}

impl TicketLocks for InMemoryLockStore {
    fn issue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, u64> {
        Box::pin(std::future::ready(self.issue_ticket(id)))
    }
    fn wait<'a>(
        &'a self,
        id: &'a str,
        ticket: u64,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>> {
        Box::pin(self.wait_for_ticket(id, ticket, LONG, LONG))
    }
}

impl TicketLocks for RedisLockStore {
    fn issue<'a>(&'a self, id: &'a str) -> BoxFuture<'a, u64> {
        Box::pin(async move { self.issue_ticket(id, LONG).await.unwrap() })
    }
    fn wait<'a>(
        &'a self,
        id: &'a str,
        ticket: u64,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>> {
        Box::pin(self.wait_for_ticket(id, ticket, LONG, LONG))
    }
}

async fn conformance<S: TicketLocks>(store: Arc<S>) {
    let conv = unique("lockconv");

    // FIFO: three waiters, started in reverse order, get the lock in ticket order.
    let holder = store.lock(&conv, LONG, LONG).await.unwrap();
    let tickets = [
        store.issue(&conv).await,
        store.issue(&conv).await,
        store.issue(&conv).await,
    ];
    assert!(tickets[0] < tickets[1] && tickets[1] < tickets[2]);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for &ticket in tickets.iter().rev() {
        let store = Arc::clone(&store);
        let tx = tx.clone();
        let conv = conv.clone();
        tasks.push(tokio::spawn(async move {
            let lock = store.wait(&conv, ticket).await.unwrap();
            tx.send(ticket).unwrap();
            store.release(&lock).await.unwrap();
        }));
    }
    drop(tx);
    store.release(&holder).await.unwrap();
    let mut order = Vec::new();
    while let Some(ticket) = rx.recv().await {
        order.push(ticket);
    }
    assert_eq!(order, tickets.to_vec(), "served first come, first served");
    for task in tasks {
        task.await.unwrap();
    }

    // Different conversations do not block each other; a held lock does.
    let other = format!("{conv}-other");
    let held = store.lock(&conv, LONG, LONG).await.unwrap();
    let free = store.lock(&other, LONG, Duration::ZERO).await.unwrap();
    let busy = store.lock(&conv, LONG, Duration::ZERO).await;
    assert!(
        matches!(busy, Err(StoreError::LockTimeout { .. })),
        "{busy:?}"
    );
    store.release(&free).await.unwrap();
    store.release(&held).await.unwrap();
    // The timed-out waiter gave its ticket back: the lock is free again.
    let again = store.lock(&conv, LONG, Duration::ZERO).await.unwrap();
    store.release(&again).await.unwrap();

    // A holder that died (never releases) loses the lock after its lifetime.
    let dead = format!("{conv}-dead");
    let _never_released = store
        .lock(&dead, Duration::from_millis(200), LONG)
        .await
        .unwrap();
    let next = store
        .lock(&dead, LONG, LONG)
        .await
        .expect("the dead holder's lock expired");
    store.release(&next).await.unwrap();
}

#[tokio::test]
async fn in_memory_lock_store() {
    conformance(Arc::new(InMemoryLockStore::new())).await;
}

#[tokio::test]
async fn redis_lock_store() {
    let Some(redis) = service("redis") else {
        return;
    };
    let store = RedisLockStore::open(&redis_config(redis)).await.unwrap();
    conformance(Arc::new(store)).await;
}

#[tokio::test]
async fn redis_lock_store_serialises_many_clients() {
    let Some(redis) = service("redis") else {
        return;
    };
    // Two stores (two "servers") on one Redis: every critical section runs alone.
    let config = redis_config(redis);
    let a = Arc::new(RedisLockStore::open(&config).await.unwrap());
    let b = Arc::new(RedisLockStore::open(&config).await.unwrap());
    let conv = unique("shared");
    let inside = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = if i % 2 == 0 {
            Arc::clone(&a)
        } else {
            Arc::clone(&b)
        };
        let inside = Arc::clone(&inside);
        let conv = conv.clone();
        tasks.push(tokio::spawn(async move {
            let lock = store.lock(&conv, LONG, LONG).await.unwrap();
            assert_eq!(inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst), 0);
            tokio::task::yield_now().await;
            inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            store.release(&lock).await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}
