//! The SQL databases the SQL tracker store and the SQL event broker write to: an SQLite
//! file (through `rusqlite`, on the blocking thread pool) or PostgreSQL (through
//! `tokio-postgres`, a small pool of pipelined connections, each reconnecting on its own
//! when it breaks; statements go to them round robin).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusa_core::stores::StoreError;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls, Statement};

/// How long connecting to PostgreSQL may take before it counts as failed.
pub const POSTGRES_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections a PostgreSQL tracker store or event broker keeps: 4. Each write is
/// its own transaction, and its COMMIT waits for the WAL to reach the disk; one connection
/// runs those commits strictly one after another, while several let PostgreSQL flush
/// theirs together (group commit). Each connection is a server process, so a few suffice.
/// The first is opened when the store opens, the others on first use.
pub const POSTGRES_POOL_SIZE: usize = 4;

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

/// [`POSTGRES_POOL_SIZE`] PostgreSQL connections, used round robin; each prepares a
/// statement once and reconnects when the server closed it. Every statement runs in a
/// transaction of its own (autocommit), so it does not matter which connection runs it:
/// what one committed, the next statement on any other sees.
pub(crate) struct PgConnection {
    config: tokio_postgres::Config,
    login_db: Option<String>,
    store: &'static str,
    /// The connections; `None` until a slot is first used (`connect` opens the first).
    slots: Box<[tokio::sync::RwLock<Option<Arc<PgClient>>>]>,
    /// How many `client` calls there were: the next one uses this slot modulo their number.
    next: AtomicUsize,
}

pub(crate) struct PgClient {
    pub(crate) client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
    /// Set when an error showed that the connection is gone (the client may not know yet).
    broken: AtomicBool,
}

impl PgClient {
    fn is_usable(&self) -> bool {
        !self.client.is_closed() && !self.broken.load(Ordering::Relaxed)
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
            self.broken.store(true, Ordering::Relaxed);
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
    /// Opens the first connection (creating the database if missing), so that a server
    /// that cannot reach PostgreSQL fails at start; the other slots open on first use.
    async fn connect(
        config: tokio_postgres::Config,
        login_db: Option<String>,
        store: &'static str,
    ) -> Result<Self, StoreError> {
        let first = Self::open(&config, login_db.as_deref(), store).await?;
        let slots = std::iter::once(Some(Arc::new(first)))
            .chain(std::iter::repeat_with(|| None))
            .take(POSTGRES_POOL_SIZE.max(1))
            .map(tokio::sync::RwLock::new)
            .collect();
        Ok(Self {
            config,
            login_db,
            store,
            slots,
            next: AtomicUsize::new(0),
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
            broken: AtomicBool::new(false),
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

    /// The next slot's live client (round robin), opening it first if it was never opened
    /// or was closed. When that fails, this call fails and the next use of the slot tries
    /// again.
    pub(crate) async fn client(&self) -> Result<Arc<PgClient>, StoreError> {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let slot = &self.slots[index];
        let current = slot.read().await.clone();
        if let Some(current) = current
            && current.is_usable()
        {
            return Ok(current);
        }
        let mut slot = slot.write().await;
        match &*slot {
            Some(current) if current.is_usable() => return Ok(Arc::clone(current)),
            Some(_) => tracing::info!(
                store = self.store,
                slot = index,
                "reconnecting to PostgreSQL"
            ),
            None => tracing::debug!(store = self.store, slot = index, "connecting to PostgreSQL"),
        }
        let client =
            Arc::new(Self::open(&self.config, self.login_db.as_deref(), self.store).await?);
        *slot = Some(Arc::clone(&client));
        Ok(client)
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use rusa_core::Event;
    use rusa_core::stores::TrackerStore;

    use super::*;
    use crate::SqlTrackerStore;

    /// How long a statement that should not wait may take before the test gives up on it.
    const PATIENCE: Duration = Duration::from_secs(30);

    /// A fresh database on the PostgreSQL of 127.0.0.1:5432 (created by whoever opens it
    /// first), or `None` with a note when PostgreSQL is absent (a failure when
    /// `RUSA_TEST_SERVICES=required`).
    fn test_database() -> Option<SqlConfig> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 5432));
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err() {
            assert!(
                !std::env::var("RUSA_TEST_SERVICES").is_ok_and(|v| v == "required"),
                "postgresql is not reachable on {addr} and RUSA_TEST_SERVICES=required; \
                 start it with scripts/services.sh"
            );
            println!("skipped: postgresql not reachable");
            return None;
        }
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "rusa_test_pool_{}x{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let mut config = SqlConfig::postgresql("127.0.0.1", &name);
        config.username = Some("postgres".into());
        Some(config)
    }

    /// A connection of the test's own to `config`'s database.
    async fn admin(config: &SqlConfig) -> Client {
        PgConnection::open_once(&config.postgres_config().unwrap())
            .await
            .expect("connect to the test database")
    }

    async fn drop_database(config: &SqlConfig) {
        let mut login = config.postgres_config().unwrap();
        login.dbname("postgres");
        let client = PgConnection::open_once(&login).await.unwrap();
        let sql = format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            quote_ident(&config.db)
        );
        if let Err(e) = client.batch_execute(&sql).await {
            eprintln!("could not drop test database {}: {e}", config.db);
        }
    }

    async fn connect(config: &SqlConfig) -> PgConnection {
        PgConnection::connect(config.postgres_config().unwrap(), None, "test")
            .await
            .unwrap()
    }

    /// The backend process behind the next pooled client.
    async fn backend_pid(pool: &PgConnection) -> Result<i32, StoreError> {
        let client = pool.client().await?;
        let row = client
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .map_err(|e| client.fail("test", &e))?;
        Ok(row.get(0))
    }

    fn events(text: &str) -> Vec<Event> {
        vec![
            serde_json::from_value(serde_json::json!({
                "event": "user", "timestamp": 1_700_000_000.0, "text": text,
                "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}
            }))
            .unwrap(),
            serde_json::from_value(serde_json::json!({
                "event": "action", "timestamp": 1_700_000_001.0, "name": "utter_greet"
            }))
            .unwrap(),
        ]
    }

    /// Rows of `events` that the scans of that table returned, from the text of EXPLAIN
    /// ANALYZE (`... on events ... (actual time=a..b rows=R loops=L)`).
    fn event_rows_read(plan: &[String]) -> u64 {
        plan.iter()
            .filter(|line| line.contains(" on events"))
            .filter_map(|line| {
                let (_, actual) = line.split_once("(actual ")?;
                let number = |key: &str| -> Option<u64> {
                    let (_, rest) = actual.split_once(key)?;
                    rest.split(|c: char| !c.is_ascii_digit())
                        .next()?
                        .parse()
                        .ok()
                };
                Some(number(" rows=")? * number(" loops=")?)
            })
            .sum()
    }

    /// Loading a conversation whose version the caller already has reads one index entry,
    /// not the conversation's rows, however long it is: a turn's cost must not grow with
    /// the conversation. Checked on the plan PostgreSQL actually ran.
    #[tokio::test]
    async fn loading_an_unchanged_conversation_reads_none_of_its_rows() {
        let Some(config) = test_database() else {
            return;
        };
        let store = SqlTrackerStore::open(&config).await.unwrap();
        for turn in 0..150 {
            store
                .append("long", &events(&format!("t{turn}")))
                .await
                .unwrap();
            store.append("other", &events("x")).await.unwrap();
        }
        let version = store.version("long").await.unwrap().unwrap() as i64;
        let client = admin(&config).await;
        let explain = format!("EXPLAIN ANALYZE {}", crate::sql_tracker::PG_LOAD);
        let rows_read = |known: i64| {
            let client = &client;
            let explain = &explain;
            async move {
                let plan: Vec<String> = client
                    .query(explain.as_str(), &[&"long", &known])
                    .await
                    .unwrap()
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                event_rows_read(&plan)
            }
        };
        // Run often enough for PostgreSQL to settle on a generic plan too.
        for _ in 0..8 {
            let read = rows_read(version).await;
            assert!(
                read <= 1,
                "{read} rows of events read for an unchanged conversation"
            );
        }
        // The count sees the scans: a stale version reads all 300 rows.
        assert!(rows_read(version - 1).await >= 300);
        drop(client);
        drop(store);
        drop_database(&config).await;
    }

    #[tokio::test]
    async fn statements_go_round_robin_to_connections_of_their_own() {
        let Some(config) = test_database() else {
            return;
        };
        let pool = connect(&config).await;
        let mut first = Vec::new();
        for _ in 0..POSTGRES_POOL_SIZE {
            first.push(backend_pid(&pool).await.unwrap());
        }
        let distinct: HashSet<i32> = first.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            POSTGRES_POOL_SIZE,
            "each slot is its own server process: {first:?}"
        );
        // The next round reuses them, in the same order.
        for pid in &first {
            assert_eq!(backend_pid(&pool).await.unwrap(), *pid);
        }
        drop(pool);
        drop_database(&config).await;
    }

    #[tokio::test]
    async fn a_write_waiting_for_a_lock_holds_up_no_other_connection() {
        const {
            assert!(
                POSTGRES_POOL_SIZE >= 2,
                "a pool of one runs one statement at a time"
            )
        };
        let Some(config) = test_database() else {
            return;
        };
        let store = Arc::new(SqlTrackerStore::open(&config).await.unwrap());
        for sender in ["a", "b"] {
            store.append(sender, &events(sender)).await.unwrap();
        }
        // Appends wait for this lock; reads do not.
        let holder = admin(&config).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE events IN EXCLUSIVE MODE")
            .await
            .unwrap();
        let waiting = tokio::spawn({
            let store = Arc::clone(&store);
            async move { store.append("waits", &events("waits")).await }
        });
        // Until the append waits on the lock at the server.
        let watcher = admin(&config).await;
        loop {
            let waits: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity \
                     WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waits > 0 {
                break;
            }
            assert!(
                !waiting.is_finished(),
                "the append did not wait for the lock"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The other connections answer meanwhile (one connection would queue these behind
        // the waiting append).
        for turn in 0..POSTGRES_POOL_SIZE - 1 {
            let sender = ["a", "b"][turn % 2];
            let read = tokio::time::timeout(PATIENCE, store.retrieve(sender))
                .await
                .unwrap_or_else(|_| panic!("read {turn} waited behind the blocked append"))
                .unwrap();
            assert_eq!(read.map(|e| e.len()), Some(2));
        }
        assert!(!waiting.is_finished());
        holder.batch_execute("COMMIT").await.unwrap();
        let version = waiting.await.unwrap().unwrap();
        assert_eq!(store.version("waits").await.unwrap(), version);
        assert_eq!(
            store.retrieve("waits").await.unwrap().map(|e| e.len()),
            Some(2)
        );
        drop((holder, watcher, store));
        drop_database(&config).await;
    }

    #[tokio::test]
    async fn concurrent_appends_to_many_conversations_are_all_stored() {
        let Some(config) = test_database() else {
            return;
        };
        let store = Arc::new(SqlTrackerStore::open(&config).await.unwrap());
        let senders: Vec<String> = (0..64).map(|i| format!("sender-{i}")).collect();
        let appends = senders.iter().map(|sender| {
            let store = Arc::clone(&store);
            let sender = sender.clone();
            tokio::spawn(async move {
                for turn in 0..3 {
                    let version = store
                        .append(&sender, &events(&format!("{sender} {turn}")))
                        .await
                        .unwrap();
                    // Whichever connection answers, it sees the committed append.
                    assert_eq!(store.version(&sender).await.unwrap(), version);
                }
            })
        });
        for append in appends.collect::<Vec<_>>() {
            append.await.unwrap();
        }
        let mut keys = store.keys().await.unwrap();
        keys.sort();
        let mut expected = senders.clone();
        expected.sort();
        assert_eq!(keys, expected);
        for sender in &senders {
            let stored = store.retrieve(sender).await.unwrap().unwrap();
            assert_eq!(stored.len(), 6, "{sender}");
        }
        drop(store);
        drop_database(&config).await;
    }

    #[tokio::test]
    async fn every_connection_reconnects_after_the_server_terminated_them_all() {
        let Some(config) = test_database() else {
            return;
        };
        let pool = connect(&config).await;
        let mut before = HashSet::new();
        for _ in 0..POSTGRES_POOL_SIZE {
            before.insert(backend_pid(&pool).await.unwrap());
        }
        let admin = admin(&config).await;
        let killed: i64 = admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(killed, i64::try_from(POSTGRES_POOL_SIZE).unwrap());
        // The one call per slot that meets its dead connection may fail; the next
        // reconnects.
        let mut failures = 0;
        for _ in 0..POSTGRES_POOL_SIZE {
            match backend_pid(&pool).await {
                Ok(pid) => assert!(!before.contains(&pid), "a terminated backend answered"),
                Err(_) => failures += 1,
            }
        }
        let mut after = HashSet::new();
        for _ in 0..POSTGRES_POOL_SIZE {
            let pid = backend_pid(&pool).await.expect("the slot reconnected");
            assert!(!before.contains(&pid), "a terminated backend answered");
            after.insert(pid);
        }
        assert_eq!(after.len(), POSTGRES_POOL_SIZE, "{failures} calls failed");
        drop((admin, pool));
        drop_database(&config).await;
    }
}
