//! `SQLEventBroker`: each event as a row (`sender_id`, `data`) of an `events` table.

use std::sync::Arc;

use rusa_core::actions::BoxFuture;
use rusa_core::stores::StoreError;
use tokio::task::JoinHandle;

use crate::outbox::{BROKER_BUFFER_CAPACITY, Outbox, Sink, SinkError, buffered_event_broker};
use crate::sql::{Access, SqlConfig, SqlDb};

const BROKER: &str = "SQLEventBroker";

fn sqlite_schema(conn: &mut rusqlite::Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sender_id VARCHAR(255),
            data TEXT
        );",
    )
}

const PG_SCHEMA: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(727355011);
CREATE TABLE IF NOT EXISTS events (id BIGSERIAL PRIMARY KEY, sender_id VARCHAR(255), data TEXT);
COMMIT;
";

const PG_INSERT: &str = "
INSERT INTO events (sender_id, data)
SELECT u.sender_id, u.data FROM UNNEST($1::varchar[], $2::text[])
     WITH ORDINALITY AS u(sender_id, data, n)
ORDER BY u.n";

/// Writes each event as a row of Rasa's event broker table `events` (`id`, `sender_id`,
/// `data`) in an SQLite or PostgreSQL database.
pub struct SqlEventBroker {
    outbox: Arc<Outbox>,
    task: JoinHandle<()>,
}

struct SqlSink {
    db: SqlDb,
}

impl Sink for SqlSink {
    fn send<'a>(
        &'a mut self,
        batch: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        let rows: Vec<(Option<String>, String)> = batch
            .iter()
            .map(|m| {
                let sender = m
                    .get("sender_id")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned);
                (sender, m.to_string())
            })
            .collect();
        Box::pin(async move {
            let result = match &self.db {
                SqlDb::Sqlite(conn) => {
                    SqlDb::with_sqlite(conn, Access::Write, BROKER, move |conn| {
                        let tx = conn.transaction()?;
                        {
                            let mut insert = tx.prepare_cached(
                                "INSERT INTO events (sender_id, data) VALUES (?1, ?2)",
                            )?;
                            for (sender, data) in &rows {
                                insert.execute(rusqlite::params![sender, data])?;
                            }
                        }
                        tx.commit()
                    })
                    .await
                }
                SqlDb::Postgres(pg) => {
                    async {
                        let client = pg.client().await?;
                        let statement = client.statement(PG_INSERT, BROKER).await?;
                        let senders: Vec<Option<&str>> =
                            rows.iter().map(|r| r.0.as_deref()).collect();
                        let data: Vec<&str> = rows.iter().map(|r| r.1.as_str()).collect();
                        client
                            .client
                            .execute(&statement, &[&senders, &data])
                            .await
                            .map(|_| ())
                            .map_err(|e| client.fail(BROKER, &e))
                    }
                    .await
                }
            };
            result.map_err(|e| SinkError {
                sent: 0,
                message: e.to_string(),
            })
        })
    }
}

impl SqlEventBroker {
    /// Opens the database and creates the table if missing.
    pub async fn open(config: &SqlConfig) -> Result<Self, StoreError> {
        let db = SqlDb::open(config, BROKER, sqlite_schema, PG_SCHEMA).await?;
        let (outbox, task) = Outbox::start(BROKER, BROKER_BUFFER_CAPACITY, SqlSink { db })?;
        Ok(Self { outbox, task })
    }
}

buffered_event_broker!(SqlEventBroker, BROKER);
