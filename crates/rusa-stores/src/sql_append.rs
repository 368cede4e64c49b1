//! Group commit for the SQL tracker store: the appends of turns that finish while another
//! append is being written are written together, in one transaction, and each turn is
//! answered once that transaction has committed.
//!
//! A commit costs the database a WAL flush and per-transaction work whatever it holds, so
//! under concurrent load one commit for several turns does the same durable work for less.
//! Nothing waits to fill a batch: a turn that finds a writer free is written at once, alone.
//!
//! - At most a few batches are written at a time (one for SQLite, which
//!   has one writing connection; a few for PostgreSQL, whose commits can overlap).
//! - A batch holds at most one append per conversation, so the version answered for a turn
//!   is the newest id of that turn's own rows. A second append of a conversation waits for
//!   the next batch, which keeps the order of a conversation's appends.
//! - A batch is written by a task of its own, so a turn whose handler is dropped (a client
//!   that hung up) does not leave the other turns of its batch unanswered.
//! - When a batch fails, its turns are written again one by one, so that only the turn
//!   that caused the failure (a sender id too long for the column, say) fails.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use rusa_core::stores::StoreError;
use tokio::sync::oneshot;

use crate::sql::{Access, PgConnection, SqlDb};
use crate::sql_tracker::{PG_APPEND, Row, SQLITE_INSERT, STORE};

/// The most turns one batch holds.
pub(crate) const MAX_BATCH_TURNS: usize = 64;

/// Appends a batch of turns in one statement: the rows come from arrays in their order,
/// so ids follow the order of the turns and of each turn's events.
const PG_APPEND_MANY: &str = "
INSERT INTO events (sender_id, type_name, timestamp, intent_name, action_name, data)
SELECT u.sender_id, u.type_name, u.ts, u.intent_name, u.action_name, u.data
FROM UNNEST($1::varchar[], $2::varchar[], $3::float8[], $4::varchar[], $5::varchar[], $6::text[])
     WITH ORDINALITY AS u(sender_id, type_name, ts, intent_name, action_name, data, n)
ORDER BY u.n
RETURNING id::int8, sender_id";

/// One turn's rows, and where its answer goes.
struct Append {
    sender: String,
    rows: Arc<[Row]>,
    reply: oneshot::Sender<Result<u64, StoreError>>,
}

#[derive(Default)]
struct Queue {
    pending: VecDeque<Append>,
    /// Batches being written now.
    writing: usize,
}

struct Inner {
    db: SqlDb,
    writers: usize,
    queue: Mutex<Queue>,
}

/// The appends of one SQL tracker store (cheap to clone).
#[derive(Clone)]
pub(crate) struct SqlAppends(Arc<Inner>);

impl SqlAppends {
    pub(crate) fn new(db: SqlDb) -> Self {
        let writers = match db {
            SqlDb::Sqlite(_) => 1,
            SqlDb::Postgres(_) => crate::sql::POSTGRES_POOL_SIZE,
        };
        Self(Arc::new(Inner {
            db,
            writers,
            queue: Mutex::new(Queue::default()),
        }))
    }

    /// Appends a turn's rows; answers the conversation's version once they are committed.
    pub(crate) async fn append(&self, sender: &str, rows: Vec<Row>) -> Result<u64, StoreError> {
        let (reply, answer) = oneshot::channel();
        let start_writer = {
            let mut queue = self.0.lock();
            queue.pending.push_back(Append {
                sender: sender.to_owned(),
                rows: rows.into(),
                reply,
            });
            let free = queue.writing < self.0.writers;
            if free {
                queue.writing += 1;
            }
            free
        };
        if start_writer {
            tokio::spawn(Arc::clone(&self.0).drain());
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Backend {
                store: STORE,
                message: "the append was dropped before it was written".into(),
            })
        })
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes batches until none is waiting. Whether the queue is empty and the writer
    /// count are decided under one lock, so an append never waits with no writer for it.
    async fn drain(self: Arc<Self>) {
        loop {
            let batch = {
                let mut queue = self.lock();
                let batch = take_batch(&mut queue.pending);
                if batch.is_empty() {
                    queue.writing -= 1;
                    return;
                }
                batch
            };
            self.write(batch).await;
        }
    }

    async fn write(&self, batch: Vec<Append>) {
        if batch.len() > 1 {
            let turns = batch
                .iter()
                .map(|a| (a.sender.clone(), Arc::clone(&a.rows)))
                .collect();
            if let Ok(versions) = write_many(&self.db, turns).await {
                for (append, version) in batch.into_iter().zip(versions) {
                    let _ = append.reply.send(Ok(version));
                }
                return;
            }
            // Nothing of a failed batch was committed: each turn is tried alone, so that
            // only the one that cannot be written fails.
        }
        for append in batch {
            let turn = vec![(append.sender, append.rows)];
            let result = write_many(&self.db, turn)
                .await
                .map(|versions| versions.first().copied().unwrap_or(0));
            let _ = append.reply.send(result);
        }
    }
}

/// The next batch: appends from the front of the queue, at most one per conversation and
/// [`MAX_BATCH_TURNS`] in all; the others keep their places.
fn take_batch(pending: &mut VecDeque<Append>) -> Vec<Append> {
    let mut batch = Vec::new();
    let mut senders = HashSet::new();
    let mut kept = VecDeque::new();
    while let Some(append) = pending.pop_front() {
        if batch.len() < MAX_BATCH_TURNS && senders.insert(append.sender.clone()) {
            batch.push(append);
        } else {
            kept.push_back(append);
        }
        if batch.len() == MAX_BATCH_TURNS {
            break;
        }
    }
    kept.append(pending);
    *pending = kept;
    batch
}

/// Writes the turns (each a conversation and its rows, conversations distinct) in one
/// transaction; answers each turn's version, the id of its newest row.
async fn write_many(db: &SqlDb, turns: Vec<(String, Arc<[Row]>)>) -> Result<Vec<u64>, StoreError> {
    match db {
        SqlDb::Sqlite(conn) => {
            SqlDb::with_sqlite(conn, Access::Write, STORE, move |conn| {
                let tx = conn.transaction()?;
                let mut versions = Vec::with_capacity(turns.len());
                for (sender, rows) in &turns {
                    sqlite_insert(&tx, sender, rows)?;
                    versions.push(u64::try_from(tx.last_insert_rowid()).unwrap_or(0));
                }
                // Committed before the call returns: an acknowledged turn is on disk.
                tx.commit()?;
                Ok(versions)
            })
            .await
        }
        SqlDb::Postgres(pg) => {
            if let [(sender, rows)] = turns.as_slice() {
                return Ok(vec![pg_write(pg, PG_APPEND, sender, rows).await?]);
            }
            let client = pg.client().await?;
            let statement = client.statement(PG_APPEND_MANY, STORE).await?;
            let senders: Vec<&str> = turns
                .iter()
                .flat_map(|(sender, rows)| std::iter::repeat_n(sender.as_str(), rows.len()))
                .collect();
            let (types, timestamps, intents, actions, data) =
                columns(turns.iter().flat_map(|(_, rows)| rows.iter()));
            let ids = client
                .client
                .query(
                    &statement,
                    &[&senders, &types, &timestamps, &intents, &actions, &data],
                )
                .await
                .map_err(|e| client.fail(STORE, &e))?;
            let mut newest = std::collections::HashMap::<String, i64>::new();
            for row in &ids {
                let id: i64 = row.get(0);
                let sender: String = row.get(1);
                let entry = newest.entry(sender).or_insert(id);
                *entry = (*entry).max(id);
            }
            Ok(turns
                .iter()
                .map(|(sender, _)| {
                    u64::try_from(newest.get(sender).copied().unwrap_or(0)).unwrap_or(0)
                })
                .collect())
        }
    }
}

/// Runs `sql` (`PG_APPEND` or `PG_REPLACE`: a conversation and its rows as column arrays)
/// and answers the conversation's version, the id of the newest row written.
pub(crate) async fn pg_write(
    pg: &PgConnection,
    sql: &'static str,
    sender: &str,
    rows: &[Row],
) -> Result<u64, StoreError> {
    let client = pg.client().await?;
    let statement = client.statement(sql, STORE).await?;
    let (types, timestamps, intents, actions, data) = columns(rows.iter());
    let ids = client
        .client
        .query(
            &statement,
            &[&sender, &types, &timestamps, &intents, &actions, &data],
        )
        .await
        .map_err(|e| client.fail(STORE, &e))?;
    let newest = ids.iter().map(|r| r.get::<_, i64>(0)).max().unwrap_or(0);
    Ok(u64::try_from(newest).unwrap_or(0))
}

/// Inserts a conversation's rows, in order, in an SQLite transaction.
pub(crate) fn sqlite_insert(
    tx: &rusqlite::Transaction<'_>,
    sender: &str,
    rows: &[Row],
) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(SQLITE_INSERT)?;
    for row in rows {
        insert.execute(rusqlite::params![
            sender,
            row.type_name,
            row.timestamp,
            row.intent_name,
            row.action_name,
            row.data
        ])?;
    }
    Ok(())
}

type Columns<'a> = (
    Vec<&'a str>,
    Vec<f64>,
    Vec<Option<&'a str>>,
    Vec<Option<&'a str>>,
    Vec<&'a str>,
);

/// The rows as the column arrays of the INSERT statements.
fn columns<'a>(rows: impl Iterator<Item = &'a Row>) -> Columns<'a> {
    let mut columns: Columns<'a> = Default::default();
    for row in rows {
        columns.0.push(row.type_name);
        columns.1.push(row.timestamp);
        columns.2.push(row.intent_name.as_deref());
        columns.3.push(row.action_name.as_deref());
        columns.4.push(row.data.as_str());
    }
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(sender: &str) -> (Append, oneshot::Receiver<Result<u64, StoreError>>) {
        let (reply, answer) = oneshot::channel();
        (
            Append {
                sender: sender.into(),
                rows: Arc::from(Vec::new()),
                reply,
            },
            answer,
        )
    }

    #[test]
    fn a_batch_takes_one_append_per_conversation_and_keeps_the_others_in_order() {
        let mut pending = VecDeque::new();
        let mut answers = Vec::new();
        for sender in ["a", "b", "a", "c", "b", "a"] {
            let (a, answer) = append(sender);
            pending.push_back(a);
            answers.push(answer);
        }
        let senders = |batch: &[Append]| batch.iter().map(|a| a.sender.clone()).collect::<Vec<_>>();
        assert_eq!(senders(&take_batch(&mut pending)), ["a", "b", "c"]);
        assert_eq!(senders(&take_batch(&mut pending)), ["a", "b"]);
        assert_eq!(senders(&take_batch(&mut pending)), ["a"]);
        assert!(take_batch(&mut pending).is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_max_batch_turns() {
        let mut pending = VecDeque::new();
        let mut answers = Vec::new();
        for i in 0..MAX_BATCH_TURNS + 3 {
            let (a, answer) = append(&format!("s{i}"));
            pending.push_back(a);
            answers.push(answer);
        }
        assert_eq!(take_batch(&mut pending).len(), MAX_BATCH_TURNS);
        let rest = take_batch(&mut pending);
        assert_eq!(rest.len(), 3);
        assert_eq!(rest[0].sender, format!("s{MAX_BATCH_TURNS}"));
    }
}
