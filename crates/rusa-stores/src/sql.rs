//! The SQL databases the SQL tracker store and the SQL event broker write to: an SQLite
//! file (through `rusqlite`, on the blocking thread pool) or PostgreSQL (through
//! `tokio-postgres`, one pipelined connection that reconnects when it breaks).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusa_core::stores::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Statement};

/// How long connecting to PostgreSQL may take before it counts as failed.
pub const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The SQL dialects rusa speaks, named as in Rasa's `dialect` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// A file next to the server; created if missing.
    Sqlite,
    /// A PostgreSQL server; the database is created if missing.
    Postgresql,
}

impl Dialect {
    /// The dialect names accepted in endpoints.yml.
    pub const NAMES: &'static [&'static str] = &["sqlite", "postgresql"];

    /// Reads a dialect name (`postgres` is taken for `postgresql`; SQLAlchemy driver
    /// suffixes such as `postgresql+psycopg2` are ignored).
    pub fn parse(name: &str) -> Option<Self> {
        let base = name.split('+').next().unwrap_or(name).to_ascii_lowercase();
        match base.as_str() {
            "sqlite" => Some(Self::Sqlite),
            "postgresql" | "postgres" => Some(Self::Postgresql),
            _ => None,
        }
    }
}

/// Where an SQL database is: Rasa's `dialect`, `url` (host), `port`, `db`, `username`,
/// `password` and `query` keys.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlConfig {
    pub dialect: Dialect,
    /// PostgreSQL host; unused for SQLite.
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The database name (PostgreSQL) or file path (SQLite).
    pub db: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Extra connection parameters (`sslmode`, `application_name`, `options`,
    /// `connect_timeout`).
    pub query: Vec<(String, String)>,
    /// PostgreSQL: the database to log in to when `db` must be created (Rasa's
    /// `login_db`); default `postgres`.
    pub login_db: Option<String>,
}

impl SqlConfig {
    /// An SQLite file.
    pub fn sqlite(path: impl Into<PathBuf>) -> Self {
        Self {
            dialect: Dialect::Sqlite,
            host: None,
            port: None,
            db: path.into().to_string_lossy().into_owned(),
            username: None,
            password: None,
            query: Vec::new(),
            login_db: None,
        }
    }

    /// A PostgreSQL database on `host` (default port 5432).
    pub fn postgresql(host: &str, db: &str) -> Self {
        Self {
            dialect: Dialect::Postgresql,
            host: Some(host.to_owned()),
            port: None,
            db: db.to_owned(),
            username: None,
            password: None,
            query: Vec::new(),
            login_db: None,
        }
    }

    /// The `query` keys rusa understands for PostgreSQL.
    pub const QUERY_KEYS: &'static [&'static str] =
        &["sslmode", "application_name", "options", "connect_timeout"];

    /// Checks the `query` parameters; the message names the offending one.
    pub fn check_query(&self) -> Result<(), String> {
        self.postgres_config().map(|_| ())
    }

    fn postgres_config(&self) -> Result<tokio_postgres::Config, String> {
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.host.as_deref().unwrap_or("localhost"))
            .port(self.port.unwrap_or(5432))
            .dbname(&self.db)
            .user(self.username.as_deref().unwrap_or("postgres"))
            .connect_timeout(POSTGRES_CONNECT_TIMEOUT);
        if let Some(password) = &self.password {
            config.password(password);
        }
        for (key, value) in &self.query {
            match key.as_str() {
                "sslmode" => match value.as_str() {
                    "disable" | "allow" => {
                        config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                    }
                    "prefer" => {
                        config.ssl_mode(tokio_postgres::config::SslMode::Prefer);
                    }
                    other => {
                        return Err(format!(
                            "sslmode '{other}' needs TLS, which rusa's PostgreSQL client does not \
                             speak; use sslmode disable or prefer"
                        ));
                    }
                },
                "application_name" => {
                    config.application_name(value);
                }
                "options" => {
                    config.options(value);
                }
                "connect_timeout" => match value.parse::<u64>() {
                    Ok(secs) => {
                        config.connect_timeout(Duration::from_secs(secs));
                    }
                    Err(_) => {
                        return Err(format!("connect_timeout must be seconds, not '{value}'"));
                    }
                },
                other => {
                    return Err(format!(
                        "unknown query parameter '{other}'; supported: {}",
                        Self::QUERY_KEYS.join(", ")
                    ));
                }
            }
        }
        Ok(config)
    }
}

/// An open SQL database, cheap to clone.
#[derive(Clone)]
pub(crate) enum SqlDb {
    Sqlite(Arc<SqliteDb>),
    Postgres(Arc<PgConnection>),
}

/// An SQLite file with one connection for writing and one for reading (in WAL mode a
/// reader does not wait for the writer).
pub(crate) struct SqliteDb {
    writer: Mutex<rusqlite::Connection>,
    reader: Mutex<rusqlite::Connection>,
}

/// Which SQLite connection an operation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

impl SqlDb {
    /// Opens the database (creating an SQLite file or a PostgreSQL database if missing)
    /// and runs `schema` (SQLite) or `pg_schema` (PostgreSQL) once.
    pub(crate) async fn open(
        config: &SqlConfig,
        store: &'static str,
        sqlite_schema: fn(&mut rusqlite::Connection) -> rusqlite::Result<()>,
        pg_schema: &'static str,
    ) -> Result<Self, StoreError> {
        crate::runtime::require_runtime(store)?;
        match config.dialect {
            Dialect::Sqlite => {
                let path = PathBuf::from(&config.db);
                let db = tokio::task::spawn_blocking(move || -> rusqlite::Result<_> {
                    let mut conn = rusqlite::Connection::open(&path)?;
                    // WAL keeps readers off the writer's back; with synchronous=NORMAL a
                    // committed transaction survives the process being killed (it is in
                    // the WAL file the moment COMMIT returns), not a power cut.
                    conn.pragma_update(None, "journal_mode", "WAL")?;
                    conn.pragma_update(None, "synchronous", "NORMAL")?;
                    conn.busy_timeout(Duration::from_secs(10))?;
                    sqlite_schema(&mut conn)?;
                    let reader = rusqlite::Connection::open(&path)?;
                    reader.busy_timeout(Duration::from_secs(10))?;
                    reader.pragma_update(None, "query_only", "ON")?;
                    Ok(SqliteDb {
                        writer: Mutex::new(conn),
                        reader: Mutex::new(reader),
                    })
                })
                .await
                .map_err(|e| backend(store, e))?
                .map_err(|e| backend(store, e))?;
                Ok(Self::Sqlite(Arc::new(db)))
            }
            Dialect::Postgresql => {
                let pg_config = config
                    .postgres_config()
                    .map_err(|m| StoreError::Backend { store, message: m })?;
                let conn = PgConnection::connect(pg_config, config.login_db.clone(), store).await?;
                conn.client()
                    .await?
                    .client
                    .batch_execute(pg_schema)
                    .await
                    .map_err(|e| pg_error(store, &e))?;
                Ok(Self::Postgres(Arc::new(conn)))
            }
        }
    }

    /// Runs `f` on the SQLite reading or writing connection on the blocking thread pool.
    pub(crate) async fn with_sqlite<T: Send + 'static>(
        db: &Arc<SqliteDb>,
        access: Access,
        store: &'static str,
        f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let db = Arc::clone(db);
        tokio::task::spawn_blocking(move || {
            let conn = match access {
                Access::Read => &db.reader,
                Access::Write => &db.writer,
            };
            let mut guard = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| backend(store, e))?
        .map_err(|e| backend(store, e))
    }
}

/// A PostgreSQL connection that prepares each statement once and reconnects when the
/// server closed it.
pub(crate) struct PgConnection {
    config: tokio_postgres::Config,
    login_db: Option<String>,
    store: &'static str,
    current: tokio::sync::RwLock<Arc<PgClient>>,
}

pub(crate) struct PgClient {
    pub(crate) client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
    /// Set when an error showed that the connection is gone (the client may not know yet).
    broken: std::sync::atomic::AtomicBool,
}

impl PgClient {
    fn is_usable(&self) -> bool {
        !self.client.is_closed() && !self.broken.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Maps an error, and marks the connection for replacement when the error says it
    /// is gone (closed socket, server shutdown or a terminated backend).
    pub(crate) fn fail(&self, store: &'static str, error: &tokio_postgres::Error) -> StoreError {
        let fatal = error.is_closed()
            || error.as_db_error().is_some_and(|db| {
                matches!(db.severity(), "FATAL" | "PANIC")
                    || db.code().code().starts_with("57")
                    || db.code().code().starts_with("08")
            })
            || (error.as_db_error().is_none() && error.code().is_none());
        if fatal {
            self.broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        pg_error(store, error)
    }

    /// The prepared statement for `sql` (prepared on first use).
    pub(crate) async fn statement(
        &self,
        sql: &'static str,
        store: &'static str,
    ) -> Result<Statement, StoreError> {
        let cached = self
            .statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(sql)
            .cloned();
        if let Some(statement) = cached {
            return Ok(statement);
        }
        let statement = self
            .client
            .prepare(sql)
            .await
            .map_err(|e| self.fail(store, &e))?;
        self.statements
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sql, statement.clone());
        Ok(statement)
    }
}

impl PgConnection {
    async fn connect(
        config: tokio_postgres::Config,
        login_db: Option<String>,
        store: &'static str,
    ) -> Result<Self, StoreError> {
        let client = Self::open(&config, login_db.as_deref(), store).await?;
        Ok(Self {
            config,
            login_db,
            store,
            current: tokio::sync::RwLock::new(Arc::new(client)),
        })
    }

    async fn open(
        config: &tokio_postgres::Config,
        login_db: Option<&str>,
        store: &'static str,
    ) -> Result<PgClient, StoreError> {
        let client = match Self::open_once(config).await {
            Ok(client) => client,
            Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
                create_database(config, login_db.unwrap_or("postgres"), store).await?;
                Self::open_once(config)
                    .await
                    .map_err(|e| pg_error(store, &e))?
            }
            Err(e) => return Err(pg_error(store, &e)),
        };
        Ok(PgClient {
            client,
            statements: Mutex::new(HashMap::new()),
            broken: std::sync::atomic::AtomicBool::new(false),
        })
    }

    async fn open_once(config: &tokio_postgres::Config) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::warn!(%error, "PostgreSQL connection closed");
            }
        });
        Ok(client)
    }

    /// The live client, reconnecting first if the last one was closed.
    pub(crate) async fn client(&self) -> Result<Arc<PgClient>, StoreError> {
        let current = Arc::clone(&*self.current.read().await);
        if current.is_usable() {
            return Ok(current);
        }
        let mut slot = self.current.write().await;
        if !slot.is_usable() {
            tracing::info!(store = self.store, "reconnecting to PostgreSQL");
            *slot = Arc::new(Self::open(&self.config, self.login_db.as_deref(), self.store).await?);
        }
        Ok(Arc::clone(&slot))
    }
}

/// Creates the configured database through `login_db` (default `postgres`), as Rasa does;
/// a concurrent creation by another server counts as success.
async fn create_database(
    config: &tokio_postgres::Config,
    login_db: &str,
    store: &'static str,
) -> Result<(), StoreError> {
    let Some(name) = config.get_dbname().map(str::to_owned) else {
        return Ok(());
    };
    let mut maintenance = config.clone();
    maintenance.dbname(login_db);
    let client = PgConnection::open_once(&maintenance)
        .await
        .map_err(|e| pg_error(store, &e))?;
    let sql = format!("CREATE DATABASE {}", quote_ident(&name));
    match client.batch_execute(&sql).await {
        Ok(()) => {
            tracing::info!(database = %name, "created PostgreSQL database");
            Ok(())
        }
        Err(e)
            if e.code() == Some(&SqlState::DUPLICATE_DATABASE)
                || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
        {
            Ok(())
        }
        Err(e) => Err(pg_error(store, &e)),
    }
}

/// A PostgreSQL identifier in double quotes.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub(crate) fn backend(store: &'static str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store,
        message: error.to_string(),
    }
}

/// A PostgreSQL error with the server's message (the client's Display hides it).
pub(crate) fn pg_error(store: &'static str, error: &tokio_postgres::Error) -> StoreError {
    let message = match error.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut text = error.to_string();
            let mut source = std::error::Error::source(error);
            while let Some(s) = source {
                text.push_str(": ");
                text.push_str(&s.to_string());
                source = s.source();
            }
            text
        }
    };
    StoreError::Backend { store, message }
}
