//! `SQLTrackerStore`: one `events` table (Rasa's schema), one row per event, appended per
//! turn and read back by conversation in insertion order.

use rusa_core::Event;
use rusa_core::actions::BoxFuture;
use rusa_core::events::EventKind;
use rusa_core::stores::{Loaded, StoreError, TrackerStore};

use crate::sql::{Access, SqlConfig, SqlDb};
use crate::sql_append::{SqlAppends, pg_write, sqlite_insert};

pub(crate) const STORE: &str = "SQLTrackerStore";

/// The SQLite schema: created if missing, missing columns added (older tables).
fn sqlite_schema(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sender_id VARCHAR(255) NOT NULL,
            type_name VARCHAR(255) NOT NULL,
            timestamp FLOAT,
            intent_name VARCHAR(255),
            action_name VARCHAR(255),
            data TEXT
        );",
    )?;
    let existing: Vec<String> = {
        let mut stmt = conn.prepare("SELECT name FROM pragma_table_info('events')")?;
        stmt.query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (column, ty) in [
        ("type_name", "VARCHAR(255) NOT NULL DEFAULT ''"),
        ("timestamp", "FLOAT"),
        ("intent_name", "VARCHAR(255)"),
        ("action_name", "VARCHAR(255)"),
        ("data", "TEXT"),
    ] {
        if !existing.iter().any(|c| c == column) {
            conn.execute_batch(&format!("ALTER TABLE events ADD COLUMN {column} {ty}"))?;
        }
    }
    conn.execute_batch("CREATE INDEX IF NOT EXISTS ix_events_sender_id ON events (sender_id);")
}

/// The PostgreSQL schema, run under an advisory lock so that servers starting together do
/// not race. A table made by Rasa (its ids come from the `events_seq` sequence, not a
/// column default) gets that sequence as the id default, and its index on `sender_id` is
/// replaced by one on `(sender_id, id)`.
const PG_SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(727355010);
CREATE TABLE IF NOT EXISTS events (
    id BIGSERIAL PRIMARY KEY,
    sender_id VARCHAR(255) NOT NULL,
    type_name VARCHAR(255) NOT NULL,
    timestamp DOUBLE PRECISION,
    intent_name VARCHAR(255),
    action_name VARCHAR(255),
    data TEXT
);
ALTER TABLE events ADD COLUMN IF NOT EXISTS type_name VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN IF NOT EXISTS timestamp DOUBLE PRECISION;
ALTER TABLE events ADD COLUMN IF NOT EXISTS intent_name VARCHAR(255);
ALTER TABLE events ADD COLUMN IF NOT EXISTS action_name VARCHAR(255);
ALTER TABLE events ADD COLUMN IF NOT EXISTS data TEXT;
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'events_seq' AND relkind = 'S')
       AND (SELECT column_default FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'events'
              AND column_name = 'id') IS NULL
    THEN
        ALTER TABLE events ALTER COLUMN id SET DEFAULT nextval('events_seq');
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS ix_events_sender_id_id ON events (sender_id, id);
-- Rasa's index on sender_id alone: the one above serves every lookup it served, and with
-- both the planner may scan a whole conversation for its newest id.
DROP INDEX IF EXISTS ix_events_sender_id;
COMMIT;
";

/// Appends one turn's events in one statement (one implicit transaction): the rows come
/// from arrays in their order, so ids follow the events' order.
pub(crate) const PG_APPEND: &str = "
INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)
SELECT $1, u.type_name, u.ts, u.intent_name, u.action_name, u.data
FROM UNNEST($2::varchar[], $3::float8[], $4::varchar[], $5::varchar[], $6::text[])
     WITH ORDINALITY AS u(type_name, ts, intent_name, action_name, data, n)
ORDER BY u.n
RETURNING id::int8";

/// Deletes a conversation and inserts its new events in one statement.
const PG_REPLACE: &str = "
WITH removed AS (DELETE FROM events WHERE sender_id = $1)
INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)
SELECT $1, u.type_name, u.ts, u.intent_name, u.action_name, u.data
FROM UNNEST($2::varchar[], $3::float8[], $4::varchar[], $5::varchar[], $6::text[])
     WITH ORDINALITY AS u(type_name, ts, intent_name, action_name, data, n)
ORDER BY u.n
RETURNING id::int8";

/// A conversation's version: the id of its newest row (ids only grow), 0 without rows.
/// Asked as "the first id in descending order", which only the (sender_id, id) index
/// answers without reading the conversation: for `MAX(id)` PostgreSQL may aggregate over
/// every row, when its statistics say the table is small.
const PG_VERSION: &str = "SELECT COALESCE(
    (SELECT id FROM events WHERE sender_id = $1 ORDER BY id DESC LIMIT 1), 0)::int8";
const SQLITE_VERSION: &str = "SELECT COALESCE(MAX(id), 0) FROM events WHERE sender_id = ?1";

const PG_RETRIEVE: &str = "SELECT data FROM events WHERE sender_id = $1 ORDER BY id";
const SQLITE_RETRIEVE: &str = "SELECT data FROM events WHERE sender_id = ?1 ORDER BY id";

/// A conversation's version (as [`PG_VERSION`]) and, unless it is `$2`, its rows, in one
/// statement (one snapshot): at least one row, whose `id` is null when no event row was
/// read. The rows are a lateral subquery fenced with `OFFSET 0`, so that "unchanged" is a
/// one-time filter and the conversation's rows are not read at all. Without the fence
/// PostgreSQL flattens the subquery into the join, reads every row of the conversation
/// and drops them in a join filter, so a turn cost more the longer the conversation was
/// (a test in `sql.rs` checks the plan PostgreSQL runs).
pub(crate) const PG_LOAD: &str = "
WITH v AS MATERIALIZED (SELECT COALESCE(
    (SELECT id FROM events WHERE sender_id = $1 ORDER BY id DESC LIMIT 1), 0
)::int8 AS version)
SELECT v.version, e.id, e.data
FROM v LEFT JOIN LATERAL (
    SELECT id::int8 AS id, data FROM events
    WHERE sender_id = $1 AND v.version <> $2
    OFFSET 0
) e ON true
ORDER BY e.id";
const PG_KEYS: &str = "SELECT DISTINCT sender_id FROM events";

pub(crate) const SQLITE_INSERT: &str = "INSERT INTO events \
    (sender_id, type_name, timestamp, intent_name, action_name, data) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// One event as a row of the `events` table.
pub(crate) struct Row {
    pub(crate) type_name: &'static str,
    pub(crate) timestamp: f64,
    pub(crate) intent_name: Option<String>,
    pub(crate) action_name: Option<String>,
    pub(crate) data: String,
}

impl Row {
    fn of(event: &Event) -> Result<Self, StoreError> {
        let data = serde_json::to_string(event).map_err(|e| StoreError::Corrupt {
            store: STORE,
            message: e.to_string(),
        })?;
        // As Rasa: the intent of a user message, and the `name` of any event that has one.
        let intent_name = match &event.kind {
            EventKind::User(u) => u.intent_name().map(str::to_owned),
            _ => None,
        };
        let action_name = match &event.kind {
            EventKind::Action(a) => a.name.clone(),
            EventKind::Slot { name, .. }
            | EventKind::Followup { name }
            | EventKind::ActionExecutionRejected { name, .. } => Some(name.clone()),
            EventKind::ActiveLoop { name }
            | EventKind::ReminderScheduled { name, .. }
            | EventKind::ReminderCancelled { name, .. } => name.clone(),
            _ => None,
        };
        Ok(Self {
            type_name: event.type_name(),
            timestamp: event.timestamp,
            intent_name,
            action_name,
            data,
        })
    }
}

/// Keeps conversations in an SQL database (SQLite or PostgreSQL), one row per event, in
/// Rasa's `events` table; the schema is created or migrated when the store opens.
/// A turn's new events are written with those of the turns that finish at the same time
/// (group commit, `sql_append.rs`).
pub struct SqlTrackerStore {
    db: SqlDb,
    appends: SqlAppends,
}

impl SqlTrackerStore {
    /// Opens (and creates or migrates) the database.
    pub async fn open(config: &SqlConfig) -> Result<Self, StoreError> {
        let db = SqlDb::open(config, STORE, sqlite_schema, PG_SCHEMA).await?;
        let appends = SqlAppends::new(db.clone());
        Ok(Self { db, appends })
    }

    /// The `id` column of a conversation's rows, in order (to check that a turn only adds
    /// rows).
    #[doc(hidden)]
    pub async fn row_ids(&self, sender_id: &str) -> Result<Vec<i64>, StoreError> {
        match &self.db {
            SqlDb::Sqlite(conn) => {
                let sender = sender_id.to_owned();
                SqlDb::with_sqlite(conn, Access::Read, STORE, move |conn| {
                    let mut stmt = conn
                        .prepare_cached("SELECT id FROM events WHERE sender_id = ?1 ORDER BY id")?;
                    stmt.query_map([&sender], |row| row.get::<_, i64>(0))?
                        .collect()
                })
                .await
            }
            SqlDb::Postgres(pg) => {
                let client = pg.client().await?;
                let rows = client
                    .client
                    .query(
                        "SELECT id::int8 FROM events WHERE sender_id = $1 ORDER BY id",
                        &[&sender_id],
                    )
                    .await
                    .map_err(|e| client.fail(STORE, &e))?;
                Ok(rows.iter().map(|r| r.get::<_, i64>(0)).collect())
            }
        }
    }

    /// Writes the events (after deleting the conversation's, with `replace`); answers the
    /// conversation's version afterwards.
    async fn write(
        &self,
        sender_id: &str,
        events: &[Event],
        replace: bool,
    ) -> Result<u64, StoreError> {
        if events.is_empty() && !replace {
            return self.current_version(sender_id).await;
        }
        let rows = events.iter().map(Row::of).collect::<Result<Vec<_>, _>>()?;
        if !replace {
            return self.appends.append(sender_id, rows).await;
        }
        match &self.db {
            SqlDb::Sqlite(conn) => {
                let sender = sender_id.to_owned();
                SqlDb::with_sqlite(conn, Access::Write, STORE, move |conn| {
                    let tx = conn.transaction()?;
                    tx.execute("DELETE FROM events WHERE sender_id = ?1", [&sender])?;
                    sqlite_insert(&tx, &sender, &rows)?;
                    let version = if rows.is_empty() {
                        0
                    } else {
                        u64::try_from(tx.last_insert_rowid()).unwrap_or(0)
                    };
                    tx.commit()?;
                    Ok(version)
                })
                .await
            }
            SqlDb::Postgres(pg) => pg_write(pg, PG_REPLACE, sender_id, &rows).await,
        }
    }

    async fn current_version(&self, sender_id: &str) -> Result<u64, StoreError> {
        let newest = match &self.db {
            SqlDb::Sqlite(conn) => {
                let sender = sender_id.to_owned();
                SqlDb::with_sqlite(conn, Access::Read, STORE, move |conn| {
                    conn.prepare_cached(SQLITE_VERSION)?
                        .query_row([&sender], |row| row.get::<_, i64>(0))
                })
                .await?
            }
            SqlDb::Postgres(pg) => {
                let client = pg.client().await?;
                let statement = client.statement(PG_VERSION, STORE).await?;
                client
                    .client
                    .query_one(&statement, &[&sender_id])
                    .await
                    .map_err(|e| client.fail(STORE, &e))?
                    .get::<_, i64>(0)
            }
        };
        Ok(u64::try_from(newest).unwrap_or(0))
    }
}

/// What a load read: `None` when the conversation is at the version the caller knows, else
/// its rows (`data`) and the id of the newest one (0: none).
type LoadedRows = Option<(Vec<Option<String>>, i64)>;

impl SqlTrackerStore {
    async fn load_rows(
        &self,
        sender_id: &str,
        known: Option<u64>,
    ) -> Result<LoadedRows, StoreError> {
        // No version is negative: -1 matches none.
        let known = known.and_then(|k| i64::try_from(k).ok()).unwrap_or(-1);
        match &self.db {
            SqlDb::Sqlite(conn) => {
                let sender = sender_id.to_owned();
                SqlDb::with_sqlite(conn, Access::Read, STORE, move |conn| {
                    // One read transaction, so that the version and the rows agree.
                    let tx = conn.transaction()?;
                    let version: i64 = tx
                        .prepare_cached(SQLITE_VERSION)?
                        .query_row([&sender], |row| row.get(0))?;
                    if version == known {
                        return Ok(None);
                    }
                    let rows = if version == 0 {
                        Vec::new()
                    } else {
                        tx.prepare_cached(SQLITE_RETRIEVE)?
                            .query_map([&sender], |row| row.get::<_, Option<String>>(0))?
                            .collect::<rusqlite::Result<Vec<_>>>()?
                    };
                    Ok(Some((rows, version)))
                })
                .await
            }
            SqlDb::Postgres(pg) => {
                let client = pg.client().await?;
                let statement = client.statement(PG_LOAD, STORE).await?;
                let rows = client
                    .client
                    .query(&statement, &[&sender_id, &known])
                    .await
                    .map_err(|e| client.fail(STORE, &e))?;
                let version = rows.first().map_or(0, |row| row.get::<_, i64>(0));
                if version == known {
                    return Ok(None);
                }
                let data = rows
                    .iter()
                    .filter(|row| row.get::<_, Option<i64>>(1).is_some())
                    .map(|row| row.get::<_, Option<String>>(2))
                    .collect();
                Ok(Some((data, version)))
            }
        }
    }
}

fn decode(rows: Vec<Option<String>>) -> Result<Option<Vec<Event>>, StoreError> {
    if rows.is_empty() {
        return Ok(None);
    }
    rows.into_iter()
        .map(|data| {
            let data = data.unwrap_or_default();
            serde_json::from_str::<Event>(&data).map_err(|e| StoreError::Corrupt {
                store: STORE,
                message: format!("an event row: {e}"),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

impl TrackerStore for SqlTrackerStore {
    fn class_name(&self) -> &'static str {
        STORE
    }

    fn retrieve<'a>(
        &'a self,
        sender_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Event>>, StoreError>> {
        Box::pin(async move {
            let rows: Vec<Option<String>> = match &self.db {
                SqlDb::Sqlite(conn) => {
                    let sender = sender_id.to_owned();
                    SqlDb::with_sqlite(conn, Access::Read, STORE, move |conn| {
                        let mut stmt = conn.prepare_cached(SQLITE_RETRIEVE)?;
                        stmt.query_map([&sender], |row| row.get::<_, Option<String>>(0))?
                            .collect()
                    })
                    .await?
                }
                SqlDb::Postgres(pg) => {
                    let client = pg.client().await?;
                    let statement = client.statement(PG_RETRIEVE, STORE).await?;
                    client
                        .client
                        .query(&statement, &[&sender_id])
                        .await
                        .map_err(|e| client.fail(STORE, &e))?
                        .iter()
                        .map(|row| row.get::<_, Option<String>>(0))
                        .collect()
                }
            };
            decode(rows)
        })
    }

    fn load<'a>(
        &'a self,
        sender_id: &'a str,
        known: Option<u64>,
    ) -> BoxFuture<'a, Result<Loaded, StoreError>> {
        Box::pin(async move {
            Ok(match self.load_rows(sender_id, known).await? {
                None => Loaded::Unchanged,
                Some((rows, version)) => Loaded::Events {
                    events: decode(rows)?.unwrap_or_default(),
                    version: Some(u64::try_from(version).unwrap_or(0)),
                },
            })
        })
    }

    fn append<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move { self.write(sender_id, events, false).await.map(Some) })
    }

    fn replace<'a>(
        &'a self,
        sender_id: &'a str,
        events: &'a [Event],
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.write(sender_id, events, true).await.map(drop) })
    }

    fn version<'a>(&'a self, sender_id: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        Box::pin(async move { self.current_version(sender_id).await.map(Some) })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            match &self.db {
                SqlDb::Sqlite(conn) => {
                    SqlDb::with_sqlite(conn, Access::Read, STORE, |conn| {
                        let mut stmt =
                            conn.prepare_cached("SELECT DISTINCT sender_id FROM events")?;
                        stmt.query_map([], |row| row.get::<_, String>(0))?.collect()
                    })
                    .await
                }
                SqlDb::Postgres(pg) => {
                    let client = pg.client().await?;
                    let statement = client.statement(PG_KEYS, STORE).await?;
                    Ok(client
                        .client
                        .query(&statement, &[])
                        .await
                        .map_err(|e| client.fail(STORE, &e))?
                        .iter()
                        .map(|row| row.get::<_, String>(0))
                        .collect())
                }
            }
        })
    }
}
