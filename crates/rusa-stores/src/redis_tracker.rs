//! `RedisTrackerStore`: each conversation is a Redis list of event JSON; a turn RPUSHes
//! its new events, so its cost does not depend on the conversation's length.

use std::time::Duration;

use redis::aio::ConnectionManager;
use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{StoreError, TrackerStore};

use crate::redis_conn::{RedisConfig, redis_error};

const STORE: &str = "RedisTrackerStore";

/// Keeps conversations in Redis under `[<key_prefix>:]tracker:<sender_id>`, one list
/// element per event; with `record_exp` a conversation expires that long after its last
/// write.
pub struct RedisTrackerStore {
    conn: ConnectionManager,
    namespace: String,
    record_exp: Option<Duration>,
}

impl RedisTrackerStore {
    /// Connects; `record_exp` is the lifetime of a conversation after its last write.
    pub async fn open(
        config: &RedisConfig,
        record_exp: Option<Duration>,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            conn: config.connect(STORE).await?,
            namespace: config.namespace("tracker"),
            record_exp: record_exp.filter(|d| !d.is_zero()),
        })
    }

    /// The Redis key of a conversation.
    pub fn key(&self, sender_id: &str) -> String {
        format!("{}{sender_id}", self.namespace)
    }

    async fn write(
        &self,
        sender_id: &str,
        events: &[Event],
        replace: bool,
    ) -> Result<(), StoreError> {
        if events.is_empty() && !replace {
            return Ok(());
        }
        let key = self.key(sender_id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if replace {
            pipe.del(&key).ignore();
        }
        if !events.is_empty() {
            let items = events
                .iter()
                .map(serde_json::to_string)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| StoreError::Corrupt {
                    store: STORE,
                    message: e.to_string(),
                })?;
            pipe.rpush(&key, items).ignore();
            if let Some(exp) = self.record_exp {
                pipe.expire(&key, exp.as_secs().max(1) as i64).ignore();
            }
        }
        let mut conn = self.conn.clone();
        pipe.query_async::<()>(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))
    }
}

/// `pattern` with Redis glob characters escaped.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\' | '^' | '-') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl TrackerStore for RedisTrackerStore {
    fn class_name(&self) -> &'static str {
        STORE
    }

    fn retrieve<'a>(
        &'a self,
        sender_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Event>>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let items: Vec<String> = redis::cmd("LRANGE")
                .arg(self.key(sender_id))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .map_err(|e| redis_error(STORE, &e))?;
            if items.is_empty() {
                return Ok(None);
            }
            items
                .iter()
                .map(|item| {
                    serde_json::from_str::<Event>(item).map_err(|e| StoreError::Corrupt {
                        store: STORE,
                        message: format!("an event of '{sender_id}': {e}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some)
        })
    }

    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write(sender_id, events, false))
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.write(sender_id, events, true))
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let pattern = format!("{}*", glob_escape(&self.namespace));
            let mut cursor: u64 = 0;
            let mut keys = Vec::new();
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| redis_error(STORE, &e))?;
                keys.extend(
                    batch
                        .into_iter()
                        .filter_map(|k| k.strip_prefix(&self.namespace).map(str::to_owned)),
                );
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            keys.sort();
            keys.dedup();
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_characters_are_escaped() {
        assert_eq!(glob_escape("a*b?[c]"), "a\\*b\\?\\[c\\]");
    }
}
