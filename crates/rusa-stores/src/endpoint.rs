//! Building the configured stores from endpoints.yml's `tracker_store`, `lock_store` and
//! `event_broker` entries, with Rasa's type names and keys.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusa_core::stores::{EventBroker, LockStore, StoreError, TrackerStore};
use rusa_project::{EndpointConfig, did_you_mean};

use crate::config::Params;
use crate::error::StoresError;
use crate::file_broker::{DEFAULT_EVENT_LOG, FileEventBroker};
use crate::memory_lock::InMemoryLockStore;
use crate::memory_tracker::InMemoryTrackerStore;
use crate::pika_broker::{PikaConfig, PikaEventBroker};
use crate::redis_conn::RedisConfig;
use crate::redis_lock::RedisLockStore;
use crate::redis_tracker::RedisTrackerStore;
use crate::sql::{Dialect, SqlConfig};
use crate::sql_broker::SqlEventBroker;
use crate::sql_tracker::SqlTrackerStore;

/// The `type`s of `tracker_store` rusa supports.
pub const TRACKER_STORE_TYPES: &[&str] = &["in_memory", "sql", "redis"];
/// The `type`s of `lock_store` rusa supports.
pub const LOCK_STORE_TYPES: &[&str] = &["in_memory", "redis"];
/// The `type`s of `event_broker` rusa supports.
pub const EVENT_BROKER_TYPES: &[&str] = &["pika", "sql", "file"];

/// Rasa's default SQLite file of the tracker store.
pub const DEFAULT_TRACKER_DB: &str = "rasa.db";
/// Rasa's default database of the SQL event broker.
pub const DEFAULT_BROKER_DB: &str = "events.db";

fn unknown(
    config: &EndpointConfig,
    section: &'static str,
    supported: &'static [&'static str],
) -> StoresError {
    let kind = config.kind.clone().unwrap_or_default();
    StoresError::UnknownType {
        pos: config.pos_of("type").clone(),
        section,
        suggestion: did_you_mean(&kind, supported.iter().copied()).map(str::to_owned),
        kind,
        supported,
    }
}

fn connect_error(
    config: &EndpointConfig,
    section: &'static str,
    source: StoreError,
) -> StoresError {
    StoresError::Connect {
        pos: config.pos.clone(),
        section,
        source,
    }
}

fn kind_of(config: &EndpointConfig) -> Option<String> {
    config.kind.as_deref().map(str::to_ascii_lowercase)
}

/// The tracker store of `tracker_store:`; `None` (no entry) gives the in-memory store.
///
/// Types as in Rasa: `in_memory`, `sql` (`dialect` sqlite|postgresql, `url`, `port`, `db`,
/// `username`, `password`, `query`, `login_db`), `redis` (`url`, `port`, `db`, `username`, `password`,
/// `key_prefix`, `record_exp` seconds); an entry without `type` is Redis, as in Rasa.
pub async fn tracker_store_from_endpoint(
    config: Option<&EndpointConfig>,
) -> Result<Arc<dyn TrackerStore>, StoresError> {
    const SECTION: &str = "tracker_store";
    let Some(config) = config else {
        return Ok(Arc::new(InMemoryTrackerStore::new()));
    };
    match kind_of(config).as_deref() {
        Some("in_memory") => Ok(Arc::new(InMemoryTrackerStore::new())),
        Some("sql") => {
            let sql = sql_config(config, DEFAULT_TRACKER_DB)?;
            let store = SqlTrackerStore::open(&sql)
                .await
                .map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Arc::new(store))
        }
        None | Some("redis") => {
            let redis = redis_config(config)?;
            let params = Params::new(config);
            let record_exp = params
                .number::<u64>("record_exp", "must be a number of seconds")?
                .map(Duration::from_secs);
            let store = RedisTrackerStore::open(&redis, record_exp)
                .await
                .map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Arc::new(store))
        }
        Some(kind @ ("mongod" | "mongo" | "dynamo")) => Err(StoresError::Unsupported {
            pos: config.pos_of("type").clone(),
            section: SECTION,
            kind: kind.to_owned(),
            reason: "rusa keeps conversations in sql (sqlite, postgresql), redis or in_memory",
        }),
        Some(_) => Err(unknown(config, SECTION, TRACKER_STORE_TYPES)),
    }
}

/// The lock store of `lock_store:`; `None` or no `type` gives the in-memory store.
///
/// Types: `in_memory`, `redis` (`url`, `port`, `db`, `username`, `password`, `key_prefix`).
pub async fn lock_store_from_endpoint(
    config: Option<&EndpointConfig>,
) -> Result<Arc<dyn LockStore>, StoresError> {
    const SECTION: &str = "lock_store";
    let Some(config) = config else {
        return Ok(Arc::new(InMemoryLockStore::new()));
    };
    match kind_of(config).as_deref() {
        None | Some("in_memory") => Ok(Arc::new(InMemoryLockStore::new())),
        Some("redis") => {
            let redis = redis_config(config)?;
            let store = RedisLockStore::open(&redis)
                .await
                .map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Arc::new(store))
        }
        Some(_) => Err(unknown(config, SECTION, LOCK_STORE_TYPES)),
    }
}

/// The event broker of `event_broker:`; `None` when there is no entry.
///
/// Types as in Rasa: `pika` (also when `type` is missing: `url`, `port`, `username`,
/// `password`, `queues` or `queue`, `exchange_name`, `virtual_host`), `sql` (as the SQL
/// tracker store; default db `events.db`), `file` (`path`, default `rasa_event.log`).
/// `kafka` is refused with an explanation.
pub async fn event_broker_from_endpoint(
    config: Option<&EndpointConfig>,
) -> Result<Option<Arc<dyn EventBroker>>, StoresError> {
    event_broker_with_headers(config, Vec::new()).await
}

/// [`event_broker_from_endpoint`], with `headers` put on every message by the brokers whose
/// messages have headers (RabbitMQ); the others have nowhere to put them.
pub async fn event_broker_with_headers(
    config: Option<&EndpointConfig>,
    headers: Vec<(String, String)>,
) -> Result<Option<Arc<dyn EventBroker>>, StoresError> {
    const SECTION: &str = "event_broker";
    let Some(config) = config else {
        return Ok(None);
    };
    let params = Params::new(config);
    match kind_of(config).as_deref() {
        None | Some("pika") => {
            let mut pika = pika_config(config)?;
            pika.headers = headers;
            let broker =
                PikaEventBroker::start(pika).map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Some(Arc::new(broker)))
        }
        Some("sql") => {
            let sql = sql_config(config, DEFAULT_BROKER_DB)?;
            let broker = SqlEventBroker::open(&sql)
                .await
                .map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Some(Arc::new(broker)))
        }
        Some("file") => {
            let path = PathBuf::from(
                params
                    .str("path")
                    .unwrap_or_else(|| DEFAULT_EVENT_LOG.into()),
            );
            let broker = FileEventBroker::open(&path)
                .await
                .map_err(|e| connect_error(config, SECTION, e))?;
            Ok(Some(Arc::new(broker)))
        }
        Some(kind @ "kafka") => Err(StoresError::Unsupported {
            pos: config.pos_of("type").clone(),
            section: SECTION,
            kind: kind.to_owned(),
            reason: "Kafka is not supported by rusa; use pika (RabbitMQ), sql or file",
        }),
        Some(_) => Err(unknown(config, SECTION, EVENT_BROKER_TYPES)),
    }
}

/// Rasa's RabbitMQ keys: `url` (host), `port`, `username`, `password`, `virtual_host`,
/// `queues` (or `queue`), `exchange_name`.
fn pika_config(config: &EndpointConfig) -> Result<PikaConfig, StoresError> {
    let params = Params::new(config);
    let mut pika = PikaConfig::default();
    if let Some(host) = params.str("url") {
        pika.host = host;
    }
    if let Some(port) = params.port("port")? {
        pika.port = port;
    }
    if let Some(username) = params.str("username") {
        pika.username = username;
    }
    if let Some(password) = params.str("password") {
        pika.password = password;
    }
    if let Some(vhost) = params.str("virtual_host") {
        pika.virtual_host = vhost;
    }
    if let Some(queues) = params.list("queues")?.or(params.list("queue")?) {
        pika.queues = queues;
    }
    if let Some(exchange) = params.str("exchange_name") {
        pika.exchange_name = exchange;
    }
    // The AMQP client accepts names of at most 255 bytes.
    if pika.queues.iter().any(|n| n.len() > 255) {
        return Err(params.invalid("queues", "names must be at most 255 bytes long"));
    }
    if pika.exchange_name.len() > 255 {
        return Err(params.invalid("exchange_name", "must be at most 255 bytes long"));
    }
    Ok(pika)
}

/// Rasa's SQL keys: `dialect` (default sqlite), `url` (host), `port`, `db`, `username`,
/// `password`, `query`, `login_db`.
fn sql_config(config: &EndpointConfig, default_db: &str) -> Result<SqlConfig, StoresError> {
    let params = Params::new(config);
    let dialect = match params.str("dialect") {
        None => Dialect::Sqlite,
        Some(name) => Dialect::parse(&name).ok_or_else(|| {
            let hint = did_you_mean(&name, Dialect::NAMES.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            params.invalid(
                "dialect",
                format!(
                    "names an unknown SQL dialect '{name}'{hint}; supported: {}",
                    Dialect::NAMES.join(", ")
                ),
            )
        })?,
    };
    let sql = SqlConfig {
        dialect,
        host: params.str("url"),
        port: params.port("port")?,
        db: params.str("db").unwrap_or_else(|| match dialect {
            Dialect::Sqlite => default_db.to_owned(),
            Dialect::Postgresql => "rasa".to_owned(),
        }),
        username: params.str("username"),
        password: params.str("password"),
        query: params.map("query")?,
        login_db: params.str("login_db"),
    };
    if dialect == Dialect::Postgresql {
        sql.check_query().map_err(|m| params.invalid("query", m))?;
    }
    Ok(sql)
}

/// Rasa's Redis keys: `url` (host), `port`, `db`, `username`, `password`, `key_prefix`,
/// `use_ssl` (refused: no TLS).
fn redis_config(config: &EndpointConfig) -> Result<RedisConfig, StoresError> {
    let params = Params::new(config);
    let mut redis = RedisConfig::default();
    if let Some(host) = params.str("url") {
        redis.host = host;
    }
    if let Some(port) = params.port("port")? {
        redis.port = port;
    }
    if let Some(db) = params.number::<i64>("db", "must be a database number")? {
        redis.db = db;
    }
    redis.username = params.str("username");
    redis.password = params.str("password");
    if let Some(prefix) = params.str("key_prefix") {
        if !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(params.invalid("key_prefix", "must be alphanumeric (as in Rasa)"));
        }
        redis.key_prefix = Some(prefix);
    }
    if params.bool("use_ssl")? == Some(true) {
        return Err(params.invalid(
            "use_ssl",
            "is not supported: rusa connects to Redis without TLS",
        ));
    }
    Ok(redis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap_free::config;

    /// Builds an [`EndpointConfig`] by hand, each key on its own line.
    mod indexmap_free {
        use std::path::Path;
        use std::sync::Arc;

        use rusa_project::{EndpointConfig, Pos};

        pub(super) fn config(kind: &str, params: serde_json::Value) -> EndpointConfig {
            let path: Arc<Path> = Arc::from(Path::new("endpoints.yml"));
            let mut key_pos = rusa_project::EndpointConfig {
                kind: None,
                url: None,
                params: serde_json::Map::new(),
                key_pos: Default::default(),
                pos: Pos::new(Arc::clone(&path), 1, 1),
            };
            key_pos.kind = Some(kind.to_owned());
            key_pos
                .key_pos
                .insert("type".into(), Pos::new(Arc::clone(&path), 2, 9));
            for (i, (k, v)) in params
                .as_object()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .enumerate()
            {
                key_pos
                    .key_pos
                    .insert(k.clone(), Pos::new(Arc::clone(&path), 3 + i as u32, 9));
                if k == "url" {
                    key_pos.url = v.as_str().map(str::to_owned);
                } else {
                    key_pos.params.insert(k, v);
                }
            }
            key_pos
        }
    }

    #[tokio::test]
    async fn unknown_types_name_the_place_and_the_choices() {
        let err = tracker_store_from_endpoint(Some(&config("sqll", serde_json::json!({}))))
            .await
            .err()
            .expect("unknown type");
        let text = err.to_string();
        assert!(
            text.starts_with("endpoints.yml:2:9: unknown tracker_store type 'sqll'"),
            "{text}"
        );
        assert!(text.contains("did you mean 'sql'?"), "{text}");
        assert!(text.contains("in_memory, sql, redis"), "{text}");

        let err = lock_store_from_endpoint(Some(&config("rediss", serde_json::json!({}))))
            .await
            .err()
            .expect("unknown type");
        assert!(err.to_string().contains("did you mean 'redis'?"), "{err}");
    }

    #[tokio::test]
    async fn kafka_is_refused_clearly() {
        let err = event_broker_from_endpoint(Some(&config("kafka", serde_json::json!({}))))
            .await
            .err()
            .expect("kafka");
        let text = err.to_string();
        assert!(text.starts_with("endpoints.yml:2:9:"), "{text}");
        assert!(text.contains("Kafka is not supported"), "{text}");
    }

    #[tokio::test]
    async fn a_port_that_is_not_a_number_names_file_line_and_key() {
        let cfg = config(
            "redis",
            serde_json::json!({"url": "localhost", "port": "sixty"}),
        );
        let err = tracker_store_from_endpoint(Some(&cfg))
            .await
            .err()
            .expect("bad port");
        assert_eq!(
            err.to_string(),
            "endpoints.yml:4:9: 'port' must be a port number (1-65535), not 'sixty'"
        );
        let cfg = config(
            "sql",
            serde_json::json!({"dialect": "postgresql", "port": 99999}),
        );
        let err = tracker_store_from_endpoint(Some(&cfg))
            .await
            .err()
            .expect("bad port");
        assert!(
            err.to_string().contains("'port' must be a port number"),
            "{err}"
        );
        let cfg = config("sql", serde_json::json!({"dialect": "mysqll"}));
        let err = tracker_store_from_endpoint(Some(&cfg))
            .await
            .err()
            .expect("bad dialect");
        assert!(
            err.to_string()
                .contains("'dialect' names an unknown SQL dialect"),
            "{err}"
        );
    }

    fn any_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,300}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..3)
                    .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()) }),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever the values, reading an entry gives a config or an error, never a panic.
        #[test]
        fn reading_parameters_never_panics(
            values in proptest::collection::vec(any_value(), 12)
        ) {
            let keys = [
                "url", "port", "db", "username", "password", "key_prefix", "record_exp",
                "dialect", "query", "queues", "exchange_name", "use_ssl",
            ];
            let params: serde_json::Map<String, serde_json::Value> =
                keys.iter().map(|k| k.to_string()).zip(values).collect();
            let cfg = config("sql", serde_json::Value::Object(params));
            let _ = sql_config(&cfg, DEFAULT_TRACKER_DB);
            let _ = redis_config(&cfg);
            let _ = pika_config(&cfg);
        }
    }

    #[tokio::test]
    async fn no_entry_gives_the_defaults() {
        assert_eq!(
            tracker_store_from_endpoint(None)
                .await
                .ok()
                .map(|s| s.class_name()),
            Some("InMemoryTrackerStore")
        );
        assert_eq!(
            lock_store_from_endpoint(None)
                .await
                .ok()
                .map(|s| s.class_name()),
            Some("InMemoryLockStore")
        );
        assert!(
            event_broker_from_endpoint(None)
                .await
                .ok()
                .is_some_and(|b| b.is_none())
        );
    }
}
