//! `RedisLockStore`: FIFO ticket locks shared by every server on one Redis.
//!
//! Per conversation, a counter (`<ns><id>:last_issued_ticket`, INCR) issues tickets and a
//! sorted set (`<ns><id>:tickets`) holds the live ones, scored by their expiry in Redis
//! server time. A ticket holds the lock when it is the lowest live one. Waiters refresh
//! their ticket's expiry each time they look; a holder does not, so a holder that died
//! frees the lock after `lifetime`. Both steps are Lua scripts, so they are atomic.

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{LockStore, LockTicket, StoreError};
use tokio::time::Instant;

use crate::redis_conn::{RedisConfig, redis_error};

const STORE: &str = "RedisLockStore";

/// First pause between two looks at a busy lock; it doubles up to [`MAX_POLL_INTERVAL`].
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// Longest pause between two looks at a busy lock.
pub const MAX_POLL_INTERVAL: Duration = Duration::from_millis(20);

const NOW_AND_TTL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local life = tonumber(ARGV[1])
local function keep(key)
  if redis.call('PTTL', key) < life then redis.call('PEXPIRE', key, life) end
end
";

/// KEYS: tickets, counter. ARGV: lifetime ms. Returns the new ticket.
const ISSUE: &str = r"
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], now + life, n)
keep(KEYS[1]); keep(KEYS[2])
return n
";

/// KEYS: tickets, counter. ARGV: lifetime ms, ticket. Returns 1 (holds the lock), 0 (wait)
/// or -1 (the ticket expired).
const POLL: &str = r"
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[2]) then return -1 end
redis.call('ZADD', KEYS[1], 'XX', now + life, ARGV[2])
keep(KEYS[1]); keep(KEYS[2])
local lowest = nil
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = tonumber(m)
  if lowest == nil or v < lowest then lowest = v end
end
if lowest == tonumber(ARGV[2]) then return 1 else return 0 end
";

/// Serialises a conversation's messages across servers sharing one Redis.
pub struct RedisLockStore {
    conn: ConnectionManager,
    namespace: String,
    issue: Script,
    poll: Script,
}

impl RedisLockStore {
    /// Connects; keys are named `[<key_prefix>:]lock:<conversation_id>:...`.
    pub async fn open(config: &RedisConfig) -> Result<Self, StoreError> {
        Ok(Self {
            conn: config.connect(STORE).await?,
            namespace: config.namespace("lock"),
            issue: Script::new(&format!("{NOW_AND_TTL}{ISSUE}")),
            poll: Script::new(&format!("{NOW_AND_TTL}{POLL}")),
        })
    }

    fn keys(&self, conversation_id: &str) -> (String, String) {
        (
            format!("{}{conversation_id}:tickets", self.namespace),
            format!("{}{conversation_id}:last_issued_ticket", self.namespace),
        )
    }

    /// Runs the poll script for `ticket`: it moves a live ticket's expiry to `lifetime` from
    /// now and answers the ticket's state.
    async fn run_poll(
        &self,
        tickets: &str,
        counter: &str,
        lifetime: Duration,
        ticket: u64,
    ) -> Result<i64, StoreError> {
        let mut conn = self.conn.clone();
        self.poll
            .key(tickets)
            .key(counter)
            .arg(lifetime_ms(lifetime))
            .arg(ticket)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))
    }

    /// Takes the next ticket of a conversation (the first step of [`LockStore::lock`]).
    pub async fn issue_ticket(
        &self,
        conversation_id: &str,
        lifetime: Duration,
    ) -> Result<u64, StoreError> {
        let (tickets, counter) = self.keys(conversation_id);
        let mut conn = self.conn.clone();
        self.issue
            .key(tickets)
            .key(counter)
            .arg(lifetime_ms(lifetime))
            .invoke_async(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))
    }

    /// Waits until `ticket` is the lowest live ticket (the second step of
    /// [`LockStore::lock`]); gives the ticket back after `wait` or when dropped.
    pub async fn wait_for_ticket(
        &self,
        conversation_id: &str,
        ticket: u64,
        lifetime: Duration,
        wait: Duration,
    ) -> Result<LockTicket, StoreError> {
        let mut pending = Pending {
            store: self,
            conversation_id,
            ticket,
            armed: true,
        };
        let (tickets, counter) = self.keys(conversation_id);
        let start = Instant::now();
        let mut pause = MIN_POLL_INTERVAL;
        loop {
            let state = self.run_poll(&tickets, &counter, lifetime, ticket).await?;
            match state {
                1 => {
                    pending.armed = false;
                    return Ok(LockTicket {
                        conversation_id: conversation_id.to_owned(),
                        ticket,
                    });
                }
                -1 => {
                    pending.armed = false;
                    return Err(StoreError::Backend {
                        store: STORE,
                        message: format!(
                            "ticket {ticket} of '{conversation_id}' expired while waiting"
                        ),
                    });
                }
                _ => {}
            }
            let waited = start.elapsed();
            if waited >= wait {
                // Give the ticket back now, so the next caller does not queue behind it.
                pending.armed = false;
                if let Err(error) = self.remove(conversation_id, ticket).await {
                    tracing::warn!(%error, "could not give back a lock ticket; it expires by itself");
                }
                return Err(StoreError::LockTimeout {
                    store: STORE,
                    waited,
                });
            }
            tokio::time::sleep(pause.min(wait - waited)).await;
            pause = (pause * 2).min(MAX_POLL_INTERVAL);
        }
    }

    async fn remove(&self, conversation_id: &str, ticket: u64) -> Result<(), StoreError> {
        let (tickets, _) = self.keys(conversation_id);
        let mut conn = self.conn.clone();
        redis::cmd("ZREM")
            .arg(tickets)
            .arg(ticket)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))
    }
}

fn lifetime_ms(lifetime: Duration) -> u64 {
    u64::try_from(lifetime.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Gives a waiting ticket back when the wait ends without the lock.
struct Pending<'a> {
    store: &'a RedisLockStore,
    conversation_id: &'a str,
    ticket: u64,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (tickets, _) = self.store.keys(self.conversation_id);
        let ticket = self.ticket;
        let mut conn = self.store.conn.clone();
        runtime.spawn(async move {
            let result = redis::cmd("ZREM")
                .arg(tickets)
                .arg(ticket)
                .query_async::<()>(&mut conn)
                .await;
            if let Err(error) = result {
                tracing::warn!(%error, "could not give back a lock ticket; it expires by itself");
            }
        });
    }
}

impl LockStore for RedisLockStore {
    fn class_name(&self) -> &'static str {
        STORE
    }

    fn lock<'a>(
        &'a self,
        conversation_id: &'a str,
        lifetime: Duration,
        wait: Duration,
    ) -> BoxFuture<'a, Result<LockTicket, StoreError>> {
        Box::pin(async move {
            let ticket = self.issue_ticket(conversation_id, lifetime).await?;
            self.wait_for_ticket(conversation_id, ticket, lifetime, wait)
                .await
        })
    }

    fn release<'a>(&'a self, ticket: &'a LockTicket) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.remove(&ticket.conversation_id, ticket.ticket))
    }

    /// The poll script moves a live ticket's expiry to `lifetime` from now.
    fn extend<'a>(
        &'a self,
        ticket: &'a LockTicket,
        lifetime: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let (tickets, counter) = self.keys(&ticket.conversation_id);
            let state = self
                .run_poll(&tickets, &counter, lifetime, ticket.ticket)
                .await?;
            if state == 1 {
                Ok(())
            } else {
                Err(StoreError::Backend {
                    store: STORE,
                    message: "the lock to extend is no longer held".into(),
                })
            }
        })
    }
}
