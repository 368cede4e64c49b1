//! One conformance suite, run against every tracker store.

use std::sync::Arc;
use std::time::Duration;

use rusa_core::stores::{Loaded, TrackerStore};
use rusa_stores::{InMemoryTrackerStore, RedisTrackerStore, SqlConfig, SqlTrackerStore};

use crate::support::{PgDatabase, json, redis_config, sample_events, service, unique};

/// Turns in the long conversation; each adds 4 events (1,200 in all).
const LONG_TURNS: usize = 300;

/// A conversation's version changes with every write, by this or another process, and
/// `append` answers the version that `version` then reports. A store that keeps versions
/// answers 0 for a conversation without events (Redis: unknown until first written).
async fn versions(store: &dyn TrackerStore, sender: &str) {
    let before = store.version(sender).await.unwrap();
    assert!(
        matches!(before, None | Some(0)),
        "{}: a new conversation has version {before:?}",
        store.class_name()
    );
    let mut seen = Vec::new();
    for turn in 0..3 {
        let after = store
            .append(sender, &sample_events(turn))
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} keeps no versions", store.class_name()));
        assert_eq!(store.version(sender).await.unwrap(), Some(after));
        assert!(!seen.contains(&after), "version {after} repeated");
        seen.push(after);
    }
    // An empty append changes nothing, and says so.
    let last = *seen.last().unwrap();
    assert_eq!(store.append(sender, &[]).await.unwrap(), Some(last));
    // A replace by as many events still changes the version.
    let events = store.retrieve(sender).await.unwrap().unwrap();
    store.replace(sender, &events).await.unwrap();
    let replaced = store.version(sender).await.unwrap().unwrap();
    assert!(
        !seen.contains(&replaced),
        "a replace kept version {replaced}"
    );
    store.replace(sender, &[]).await.unwrap();
    let emptied = store.version(sender).await.unwrap();
    assert!(
        emptied.is_some_and(|v| !seen.contains(&v) && v != replaced),
        "emptying the conversation gave version {emptied:?}"
    );
}

/// `load` answers the events and their version, or "unchanged" when the caller's version
/// is still the conversation's.
async fn loads(store: &dyn TrackerStore, sender: &str) {
    let name = store.class_name();
    match store.load(sender, None).await.unwrap() {
        Loaded::Events { events, version } => {
            assert!(events.is_empty(), "{name}: a new conversation has events");
            assert!(
                matches!(version, None | Some(0)),
                "{name}: version {version:?}"
            );
        }
        Loaded::Unchanged => panic!("{name}: nothing was known"),
    }
    let mut expected = Vec::new();
    let mut known = None;
    for turn in 0..3 {
        let events = sample_events(turn);
        let appended = store.append(sender, &events).await.unwrap();
        expected.extend(events);
        // A stale version (or none) reads the events and the version they are at.
        match store.load(sender, known).await.unwrap() {
            Loaded::Events { events, version } => {
                assert_eq!(events, expected, "{name}: turn {turn}");
                assert_eq!(version, appended, "{name}: turn {turn}");
                known = version;
            }
            Loaded::Unchanged => panic!("{name}: turn {turn} was not seen"),
        }
        assert_eq!(
            store.load(sender, known).await.unwrap(),
            Loaded::Unchanged,
            "{name}: turn {turn}"
        );
    }
    // Replacing the events by the same ones is a change too.
    store.replace(sender, &expected).await.unwrap();
    assert!(
        matches!(store.load(sender, known).await.unwrap(), Loaded::Events { events, .. } if events == expected),
        "{name}: a replace went unseen"
    );
}

/// What every tracker store must do. Returns the sender of the long conversation so
/// that each store can show, in its own terms, that no turn rewrote earlier events.
async fn conformance(store: Arc<dyn TrackerStore>) -> String {
    let run = unique("conv");
    let a = format!("{run}-a");
    let b = format!("{run}-b");

    // Unknown conversation.
    assert!(
        store.retrieve(&a).await.unwrap().is_none(),
        "unknown conversation"
    );

    // Two appends concatenate in order; events round-trip exactly.
    let first = sample_events(0);
    let second = sample_events(1);
    store.append(&a, &first).await.unwrap();
    store.append(&a, &second).await.unwrap();
    let mut expected = first.clone();
    expected.extend(second.iter().cloned());
    let got = store.retrieve(&a).await.unwrap().expect("stored");
    assert_eq!(json(&got), json(&expected));
    assert_eq!(got, expected);

    // An empty append changes nothing.
    store.append(&a, &[]).await.unwrap();
    assert_eq!(store.retrieve(&a).await.unwrap().map(|e| e.len()), Some(8));

    // Replace.
    store.append(&b, &first).await.unwrap();
    store.replace(&b, &second[..2]).await.unwrap();
    assert_eq!(
        json(&store.retrieve(&b).await.unwrap().unwrap()),
        json(&second[..2])
    );
    store.replace(&b, &[]).await.unwrap();
    assert!(
        store.retrieve(&b).await.unwrap().is_none(),
        "replaced by nothing"
    );
    store.replace(&b, &first).await.unwrap();
    assert_eq!(
        json(&store.retrieve(&b).await.unwrap().unwrap()),
        json(&first)
    );

    // Versions: every write gives a new one, the same as `version` then answers.
    versions(store.as_ref(), &format!("{run}-v")).await;
    loads(store.as_ref(), &format!("{run}-l")).await;

    // Keys.
    let keys = store.keys().await.unwrap();
    assert!(keys.contains(&a) && keys.contains(&b), "{keys:?}");
    assert!(!keys.contains(&format!("{run}-never")));

    // Appends to different conversations at the same time.
    let mut tasks = Vec::new();
    for c in 0..12 {
        let store = Arc::clone(&store);
        let sender = format!("{run}-c{c}");
        tasks.push(tokio::spawn(async move {
            for turn in 0..10 {
                store
                    .append(&sender, &sample_events(c * 100 + turn))
                    .await
                    .unwrap();
            }
            sender
        }));
    }
    for (c, task) in tasks.into_iter().enumerate() {
        let sender = task.await.unwrap();
        let got = store.retrieve(&sender).await.unwrap().unwrap();
        let expected: Vec<_> = (0..10)
            .flat_map(|turn| sample_events(c * 100 + turn))
            .collect();
        assert_eq!(json(&got), json(&expected), "conversation {sender}");
    }

    // A long conversation: 1,200 events, appended turn by turn.
    let long = format!("{run}-long");
    for turn in 0..LONG_TURNS {
        store.append(&long, &sample_events(turn)).await.unwrap();
    }
    let got = store.retrieve(&long).await.unwrap().unwrap();
    assert_eq!(got.len(), LONG_TURNS * 4);
    assert_eq!(
        json(&got[got.len() - 4..]),
        json(&sample_events(LONG_TURNS - 1))
    );
    long
}

#[tokio::test]
async fn in_memory_tracker_store() {
    conformance(Arc::new(InMemoryTrackerStore::new())).await;
}

/// Rows are never rewritten: the first turn's ids stay and ids are contiguous.
async fn check_sql_rows_only_appended(store: &SqlTrackerStore) {
    let sender = unique("rows");
    store.append(&sender, &sample_events(0)).await.unwrap();
    let first_ids = store.row_ids(&sender).await.unwrap();
    for turn in 1..LONG_TURNS {
        store.append(&sender, &sample_events(turn)).await.unwrap();
    }
    let ids = store.row_ids(&sender).await.unwrap();
    assert_eq!(ids.len(), LONG_TURNS * 4, "one row per event");
    assert_eq!(
        ids[..4],
        first_ids[..],
        "the first turn's rows were not rewritten"
    );
    assert_eq!(
        ids[ids.len() - 1] - ids[0],
        (LONG_TURNS * 4 - 1) as i64,
        "no row was deleted and inserted again"
    );
}

#[tokio::test]
async fn sqlite_tracker_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = SqlConfig::sqlite(dir.path().join("nested-not-needed.db"));
    let store = Arc::new(SqlTrackerStore::open(&config).await.unwrap());
    conformance(Arc::clone(&store) as Arc<dyn TrackerStore>).await;
    check_sql_rows_only_appended(&store).await;

    // Reopening finds everything (and migrating an existing schema is a no-op).
    let keys = store.keys().await.unwrap();
    drop(store);
    let reopened = SqlTrackerStore::open(&config).await.unwrap();
    assert_eq!(reopened.keys().await.unwrap().len(), keys.len());
}

#[tokio::test]
async fn sqlite_tracker_store_migrates_an_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE events (id INTEGER NOT NULL PRIMARY KEY, sender_id VARCHAR(255) NOT NULL,
                                 type_name VARCHAR(255) NOT NULL, timestamp FLOAT, data TEXT);
             INSERT INTO events (sender_id, type_name, timestamp, data)
             VALUES ('old', 'restart', 1.0, '{\"event\": \"restart\", \"timestamp\": 1.0}');",
        )
        .unwrap();
    }
    let store = SqlTrackerStore::open(&SqlConfig::sqlite(&path))
        .await
        .unwrap();
    store.append("old", &sample_events(0)).await.unwrap();
    let events = store.retrieve("old").await.unwrap().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0].type_name(), "restart");
}

#[tokio::test]
async fn postgresql_tracker_store() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let db = PgDatabase::new(pg);
    let store = Arc::new(SqlTrackerStore::open(&db.config).await.unwrap());
    conformance(Arc::clone(&store) as Arc<dyn TrackerStore>).await;
    check_sql_rows_only_appended(&store).await;

    // The schema: one events table, indexed by (sender_id, id) and by nothing else that
    // starts with sender_id; opening again migrates nothing.
    drop(store);
    let again = SqlTrackerStore::open(&db.config).await.unwrap();
    let client = db.client().await;
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events' \
             AND indexdef LIKE '%(sender_id%'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(indexes, ["ix_events_sender_id_id"]);
    let intent: Option<String> = client
        .query_one(
            "SELECT intent_name FROM events WHERE type_name = 'user' LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(intent.as_deref(), Some("greet"));
    // `action_name` holds the `name` of any event that has one, as Rasa's column does.
    for (type_name, name) in [
        ("action", Some("utter_greet")),
        ("slot", Some("name")),
        ("bot", None),
        ("user", None),
    ] {
        let got: Option<String> = client
            .query_one(
                "SELECT action_name FROM events WHERE type_name = $1 LIMIT 1",
                &[&type_name],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(got.as_deref(), name, "{type_name}");
    }
    drop(client);
    drop(again);
    db.drop_database().await;
}

/// Appends that arrive together are committed together (group commit), and each is
/// answered with its own conversation's version: 48 conversations append concurrently,
/// one of them three times in a row, and every conversation ends up with its events in
/// order, at the version its last append answered.
async fn concurrent_appends(store: Arc<SqlTrackerStore>) {
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..48 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let sender = format!("group-{c}");
            let turns = if c == 0 { 3 } else { 1 };
            let mut version = 0;
            for turn in 0..turns {
                version = store
                    .append(&sender, &sample_events(turn))
                    .await
                    .unwrap()
                    .unwrap();
            }
            (sender, turns, version)
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (sender, turns, version) = done.unwrap();
        assert_eq!(
            store.version(&sender).await.unwrap(),
            Some(version),
            "{sender}"
        );
        let expected: Vec<_> = (0..turns).flat_map(sample_events).collect();
        let stored = store.retrieve(&sender).await.unwrap().unwrap();
        assert_eq!(json(&stored), json(&expected), "{sender}");
    }
}

#[tokio::test]
async fn sqlite_appends_are_committed_in_groups() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqlTrackerStore::open(&SqlConfig::sqlite(dir.path().join("group.db")))
            .await
            .unwrap(),
    );
    concurrent_appends(store).await;
}

#[tokio::test]
async fn postgresql_appends_are_committed_in_groups_and_fail_alone() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let db = PgDatabase::new(pg);
    let store = Arc::new(SqlTrackerStore::open(&db.config).await.unwrap());
    concurrent_appends(Arc::clone(&store)).await;
    // Rows written by one transaction share its xmin: fewer transactions than appends
    // means that appends were grouped.
    let client = db.client().await;
    let transactions: i64 = client
        .query_one(
            "SELECT count(DISTINCT xmin::text) FROM events WHERE sender_id LIKE 'group-%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        transactions < 50,
        "{transactions} transactions for 50 appends"
    );

    // A turn that cannot be written (a sender id longer than the column's 255
    // characters) fails alone; the turns grouped with it are written.
    let long = "x".repeat(300);
    let mut tasks = tokio::task::JoinSet::new();
    for sender in ["ok-1", long.as_str(), "ok-2"] {
        let store = Arc::clone(&store);
        let sender = sender.to_owned();
        tasks.spawn(async move {
            (
                sender.clone(),
                store.append(&sender, &sample_events(0)).await,
            )
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (sender, result) = done.unwrap();
        if sender == long {
            let error = result.unwrap_err().to_string();
            assert!(error.contains("too long"), "{error}");
        } else {
            result.unwrap();
            assert_eq!(store.retrieve(&sender).await.unwrap().unwrap().len(), 4);
        }
    }
    drop(client);
    drop(store);
    db.drop_database().await;
}

/// A table as Rasa 3.6's SQLTrackerStore made it on PostgreSQL (ids from the `events_seq`
/// sequence, given by the client; an index on `sender_id` alone): rusa reads its rows,
/// appends after them with ids from the same sequence, and indexes it by (sender_id, id)
/// instead, so that a conversation's newest id is one index entry away.
#[tokio::test]
async fn postgresql_tracker_store_takes_over_a_table_made_by_rasa() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let db = PgDatabase::new(pg);
    db.create().await;
    let client = db.client().await;
    client
        .batch_execute(
            "CREATE SEQUENCE events_seq;
             CREATE TABLE events (
                 id INTEGER NOT NULL, sender_id VARCHAR(255) NOT NULL,
                 type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255),
                 action_name VARCHAR(255), data TEXT, PRIMARY KEY (id));
             CREATE INDEX ix_events_sender_id ON events (sender_id);
             INSERT INTO events (id, sender_id, type_name, timestamp, data)
             VALUES (nextval('events_seq'), 'old', 'restart', 1.0,
                     '{\"event\": \"restart\", \"timestamp\": 1.0}');",
        )
        .await
        .unwrap();
    let store = SqlTrackerStore::open(&db.config).await.unwrap();
    let before = store.version("old").await.unwrap().unwrap();
    store.append("old", &sample_events(0)).await.unwrap();
    assert!(store.version("old").await.unwrap().unwrap() > before);
    let events = store.retrieve("old").await.unwrap().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0].type_name(), "restart");
    let next: i64 = client
        .query_one("SELECT nextval('events_seq')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        next, 6,
        "the appended rows took their ids from Rasa's sequence"
    );
    let indexes: Vec<String> = client
        .query(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'events' \
             AND indexdef LIKE '%(sender_id%' ORDER BY indexname",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(indexes, ["ix_events_sender_id_id"]);
    drop(client);
    drop(store);
    db.drop_database().await;
}

#[tokio::test]
async fn redis_tracker_store() {
    let Some(redis_service) = service("redis") else {
        return;
    };
    let config = redis_config(redis_service);
    let store = Arc::new(RedisTrackerStore::open(&config, None).await.unwrap());
    let long = conformance(Arc::clone(&store) as Arc<dyn TrackerStore>).await;

    // Structure: the conversation is a list with one element per event.
    let client = redis::Client::open(format!(
        "redis://{}:{}/",
        redis_service.host, redis_service.port
    ))
    .unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = store.key(&long);
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "list");
    let len: usize = redis::cmd("LLEN")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, LONG_TURNS * 4);

    // A turn does not touch earlier events: mark the first element (same event, other
    // spacing), append, and find the mark unchanged.
    let first: String = redis::cmd("LINDEX")
        .arg(&key)
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    let marked = format!(" {first}");
    redis::cmd("LSET")
        .arg(&key)
        .arg(0)
        .arg(&marked)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    store.append(&long, &sample_events(9999)).await.unwrap();
    let after: String = redis::cmd("LINDEX")
        .arg(&key)
        .arg(0)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(after, marked);

    // record_exp sets an expiry on write.
    let expiring = RedisTrackerStore::open(&config, Some(Duration::from_secs(300)))
        .await
        .unwrap();
    expiring.append("exp", &sample_events(0)).await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(expiring.key("exp"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=300).contains(&ttl), "ttl {ttl}");

    // A conversation Rasa saved (the tracker as one JSON string) is read, and the first
    // append turns it into a list.
    let rasa_key = store.key("from-rasa");
    let rasa_json = serde_json::json!({"events": json(&sample_events(0)), "name": "from-rasa"});
    redis::cmd("SET")
        .arg(&rasa_key)
        .arg(rasa_json.to_string())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        json(&store.retrieve("from-rasa").await.unwrap().unwrap()),
        json(&sample_events(0))
    );
    store.append("from-rasa", &sample_events(1)).await.unwrap();
    let kind: String = redis::cmd("TYPE")
        .arg(&rasa_key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(kind, "list");
    let mut both = sample_events(0);
    both.extend(sample_events(1));
    assert_eq!(
        json(&store.retrieve("from-rasa").await.unwrap().unwrap()),
        json(&both)
    );

    // Clean up this run's keys.
    for sender in store.keys().await.unwrap() {
        redis::cmd("DEL")
            .arg(store.key(&sender))
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn postgresql_tracker_store_reconnects_after_the_server_dropped_it() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let db = PgDatabase::new(pg);
    let store = SqlTrackerStore::open(&db.config).await.unwrap();
    store.append("r", &sample_events(0)).await.unwrap();
    // The store spreads its calls over a few connections: this many calls open them all.
    for _ in 0..16 {
        store.version("r").await.unwrap();
    }
    let admin = db.client().await;
    let killed: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(killed >= 1, "the store's connections were terminated");
    // A call that meets a dead connection may fail, once per connection: the next call
    // that would use it reconnects.
    let mut failures = 0;
    for _ in 0..2 * killed + 1 {
        if store.version("r").await.is_err() {
            failures += 1;
        }
    }
    assert!(
        failures <= killed,
        "{failures} calls failed for {killed} terminated connections"
    );
    store
        .append("r", &sample_events(1))
        .await
        .expect("the store reconnected");
    assert_eq!(store.retrieve("r").await.unwrap().map(|e| e.len()), Some(8));
    drop(admin);
    drop(store);
    db.drop_database().await;
}
