//! Connecting to Redis from Rasa's `url`, `port`, `db`, `password`, `key_prefix` keys.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, IntoConnectionInfo, RedisConnectionInfo};
use rusa_core::stores::StoreError;

/// How long connecting to Redis (and each reconnection attempt) may take.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a Redis server is and how keys are named.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// Host name (Rasa's `url`); default `localhost`.
    pub host: String,
    /// Default 6379.
    pub port: u16,
    /// Database number; default 0.
    pub db: i64,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Alphanumeric prefix of every key (`<prefix>:tracker:<sender_id>`); none by default.
    pub key_prefix: Option<String>,
}

impl Default for RedisConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 6379,
            db: 0,
            username: None,
            password: None,
            key_prefix: None,
        }
    }
}

impl RedisConfig {
    /// The key namespace: `<key_prefix>:<kind>:` or `<kind>:` (as Rasa names them).
    pub(crate) fn namespace(&self, kind: &str) -> String {
        match &self.key_prefix {
            Some(prefix) if !prefix.is_empty() => format!("{prefix}:{kind}:"),
            _ => format!("{kind}:"),
        }
    }

    /// A connection that reconnects by itself when the server goes away.
    pub(crate) async fn connect(
        &self,
        store: &'static str,
    ) -> Result<ConnectionManager, StoreError> {
        crate::runtime::require_runtime(store)?;
        let mut settings = RedisConnectionInfo::default().set_db(self.db);
        if let Some(username) = &self.username {
            settings = settings.set_username(username);
        }
        if let Some(password) = &self.password {
            settings = settings.set_password(password);
        }
        let info = ConnectionAddr::Tcp(self.host.clone(), self.port)
            .into_connection_info()
            .map_err(|e| redis_error(store, &e))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| redis_error(store, &e))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_CONNECT_TIMEOUT))
            .set_response_timeout(Some(REDIS_CONNECT_TIMEOUT))
            .set_number_of_retries(3);
        ConnectionManager::new_with_config(client, config)
            .await
            .map_err(|e| redis_error(store, &e))
    }
}

pub(crate) fn redis_error(store: &'static str, error: &redis::RedisError) -> StoreError {
    StoreError::Backend {
        store,
        message: error.to_string(),
    }
}
