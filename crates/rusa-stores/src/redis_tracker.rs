//! `RedisTrackerStore`: each conversation is a Redis list of event JSON; a turn RPUSHes
//! its new events, so its cost does not depend on the conversation's length.

use std::time::Duration;

use redis::aio::ConnectionManager;
use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::stores::{Loaded, StoreError, TrackerStore};

use crate::redis_conn::{RedisConfig, redis_error};

const STORE: &str = "RedisTrackerStore";

/// Keeps conversations in Redis under `[<key_prefix>:]tracker:<sender_id>`, one list
/// element per event; with `record_exp` a conversation expires that long after its last
/// write. Each write also increments the conversation's version,
/// `[<key_prefix>:]tracker_version:<sender_id>` (which expires with it).
pub struct RedisTrackerStore {
    conn: ConnectionManager,
    namespace: String,
    version_namespace: String,
    record_exp: Option<Duration>,
    load: redis::Script,
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
            version_namespace: config.namespace("tracker_version"),
            record_exp: record_exp.filter(|d| !d.is_zero()),
            load: redis::Script::new(LOAD),
        })
    }

    /// The Redis key of a conversation.
    pub fn key(&self, sender_id: &str) -> String {
        format!("{}{sender_id}", self.namespace)
    }

    fn version_key(&self, sender_id: &str) -> String {
        format!("{}{sender_id}", self.version_namespace)
    }

    /// Writes the events; answers the conversation's version afterwards.
    async fn write(
        &self,
        sender_id: &str,
        events: &[Event],
        replace: bool,
    ) -> Result<Option<u64>, StoreError> {
        if events.is_empty() && !replace {
            return self.current_version(sender_id).await;
        }
        let items = serialize(events)?;
        match self.write_list(sender_id, &items, replace).await {
            Ok(version) => Ok(Some(version)),
            Err(e) if is_wrong_type(&e) => {
                // A conversation Rasa saved (one JSON string) becomes a list, once.
                // The id only at debug level: lines above it never name a user.
                tracing::info!("converting a conversation saved by Rasa to an event list");
                tracing::debug!(sender_id, "converting to an event list");
                let mut all = serialize(&self.legacy(sender_id).await?.unwrap_or_default())?;
                all.extend(items);
                self.write_list(sender_id, &all, true)
                    .await
                    .map(Some)
                    .map_err(|e| redis_error(STORE, &e))
            }
            Err(e) => Err(redis_error(STORE, &e)),
        }
    }

    /// A conversation in Rasa's format: the tracker's JSON (`{"events": [...], ...}`) as one
    /// string.
    async fn legacy(&self, sender_id: &str) -> Result<Option<Vec<Event>>, StoreError> {
        let mut conn = self.conn.clone();
        let text: Option<String> = redis::cmd("GET")
            .arg(self.key(sender_id))
            .query_async(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))?;
        let Some(text) = text else {
            return Ok(None);
        };
        // Which conversation, only at debug level: errors are logged above it.
        let corrupt = |message: String| {
            tracing::debug!(sender_id, "a conversation saved by Rasa could not be read");
            StoreError::Corrupt {
                store: STORE,
                message: format!("a conversation saved by Rasa: {message}"),
            }
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let events = match value {
            serde_json::Value::Array(events) => events,
            serde_json::Value::Object(mut tracker) => match tracker.remove("events") {
                Some(serde_json::Value::Array(events)) => events,
                _ => return Err(corrupt("no events list".into())),
            },
            _ => return Err(corrupt("not a tracker".into())),
        };
        let events = events
            .into_iter()
            .map(serde_json::from_value::<Event>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| corrupt(e.to_string()))?;
        Ok((!events.is_empty()).then_some(events))
    }

    async fn write_list(
        &self,
        sender_id: &str,
        items: &[String],
        replace: bool,
    ) -> Result<u64, redis::RedisError> {
        let key = self.key(sender_id);
        let version_key = self.version_key(sender_id);
        let mut pipe = redis::pipe();
        pipe.atomic();
        if replace {
            pipe.del(&key).ignore();
        }
        if !items.is_empty() {
            pipe.rpush(&key, items).ignore();
        }
        pipe.incr(&version_key, 1);
        if let Some(exp) = self.record_exp {
            let seconds = exp.as_secs().max(1) as i64;
            if !items.is_empty() {
                pipe.expire(&key, seconds).ignore();
            }
            pipe.expire(&version_key, seconds).ignore();
        }
        let mut conn = self.conn.clone();
        let (version,): (u64,) = pipe.query_async(&mut conn).await?;
        Ok(version)
    }

    /// The version key's value; `None` when it is missing (a conversation written by Rasa
    /// or an older rusa has events but no version, so a missing key proves nothing).
    async fn current_version(&self, sender_id: &str) -> Result<Option<u64>, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(self.version_key(sender_id))
            .query_async::<Option<u64>>(&mut conn)
            .await
            .map_err(|e| redis_error(STORE, &e))
    }
}

/// Reads a conversation's stored events.
fn decode(sender_id: &str, items: &[String]) -> Result<Vec<Event>, StoreError> {
    items
        .iter()
        .map(|item| {
            serde_json::from_str::<Event>(item).map_err(|e| {
                // Which conversation, only at debug level: errors are logged above it.
                tracing::debug!(sender_id, "a stored event could not be read");
                StoreError::Corrupt {
                    store: STORE,
                    message: format!("a stored event: {e}"),
                }
            })
        })
        .collect()
}

/// A conversation's version (KEYS[2]) and, unless it equals ARGV[1], its events (KEYS[1])
/// in one round trip: `{version}` when unchanged, else `{version or nil, events}`.
const LOAD: &str = r"
local version = redis.call('GET', KEYS[2])
if version and version == ARGV[1] then
  return {version}
end
return {version, redis.call('LRANGE', KEYS[1], 0, -1)}
";

fn serialize(events: &[Event]) -> Result<Vec<String>, StoreError> {
    events
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| StoreError::Corrupt {
            store: STORE,
            message: e.to_string(),
        })
}

/// The key holds another type than a list (a conversation saved by Rasa).
fn is_wrong_type(error: &redis::RedisError) -> bool {
    // Inside a transaction the server's error comes wrapped, without its code.
    error.code() == Some("WRONGTYPE") || error.to_string().contains("WRONGTYPE")
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
            let items: Vec<String> = match redis::cmd("LRANGE")
                .arg(self.key(sender_id))
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
            {
                Ok(items) => items,
                Err(e) if is_wrong_type(&e) => return self.legacy(sender_id).await,
                Err(e) => return Err(redis_error(STORE, &e)),
            };
            if items.is_empty() {
                return Ok(None);
            }
            decode(sender_id, &items).map(Some)
        })
    }

    fn load<'a>(
        &'a self,
        sender_id: &'a str,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<Loaded, StoreError>> {
        Box::pin(async move {
            let mut conn = self.conn.clone();
            let reply: Vec<redis::Value> = match self
                .load
                .key(self.key(sender_id))
                .key(self.version_key(sender_id))
                .arg(known.map(|k| k.to_string()).unwrap_or_default())
                .invoke_async(&mut conn)
                .await
            {
                Ok(reply) => reply,
                Err(e) if is_wrong_type(&e) => {
                    return Ok(Loaded::Events {
                        events: self.legacy(sender_id).await?.unwrap_or_default(),
                        version: self.current_version(sender_id).await?,
                    });
                }
                Err(e) => return Err(redis_error(STORE, &e)),
            };
            let parse = |value: &redis::Value| redis::from_redis_value_ref::<Option<u64>>(value);
            // Which conversation, only at debug level: errors are logged above it.
            let corrupt = |message: String| {
                tracing::debug!(sender_id, "a stored conversation could not be read");
                StoreError::Corrupt {
                    store: STORE,
                    message: format!("a stored conversation: {message}"),
                }
            };
            match reply.as_slice() {
                [_] => Ok(Loaded::Unchanged),
                [version, items] => {
                    let version = parse(version).map_err(|e| corrupt(e.to_string()))?;
                    let items: Vec<String> =
                        redis::from_redis_value_ref(items).map_err(|e| corrupt(e.to_string()))?;
                    Ok(Loaded::Events {
                        events: decode(sender_id, &items)?,
                        version,
                    })
                }
                _ => Err(corrupt("unexpected reply to the load script".into())),
            }
        })
    }

    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(self.write(sender_id, events, false))
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.write(sender_id, events, true).await.map(drop) })
    }

    fn version<'a>(&'a self, sender_id: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(self.current_version(sender_id))
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
