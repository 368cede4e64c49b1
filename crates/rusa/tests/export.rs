//! `rusa export` as a user runs it: conversations seeded into a real tracker store (SQLite
//! on a temporary file; PostgreSQL when it runs on loopback) are published to a real event
//! broker (a JSON-lines file; RabbitMQ when it runs on loopback) and read back.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use rusa_core::Event;
use rusa_core::stores::{TrackerStore, broker_message};
use rusa_stores::{SqlConfig, SqlTrackerStore};
use serde_json::{Value, json};

/// The binary with an environment that cannot reach the user's own configuration.
fn rusa(dir: &Path, args: &[&str]) -> Output {
    let home = tempfile::tempdir().expect("temp dir").keep();
    std::process::Command::new(env!("CARGO_BIN_EXE_rusa"))
        .current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG")
        .args(args)
        .output()
        .expect("rusa runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(future)
}

/// A few turns of a conversation starting at `start`, one event per `step` seconds: every
/// kind of event a turn writes, with Unicode and nested JSON.
fn conversation(start: f64, turns: usize) -> Vec<Event> {
    let mut values = vec![
        json!({"event": "action", "timestamp": start, "name": "action_session_start"}),
        json!({"event": "session_started", "timestamp": start + 1.0}),
    ];
    for turn in 0..turns {
        let t = start + 2.0 + turn as f64 * 4.0;
        values.extend([
            json!({"event": "user", "timestamp": t, "text": format!("héllo 👋 {turn}"),
                   "parse_data": {"intent": {"name": "greet", "confidence": 0.93},
                                  "entities": [{"entity": "name", "value": "Zoë"}]},
                   "input_channel": "rest", "message_id": format!("m{turn}"),
                   "metadata": {"nested": [1, 2.5, null]}}),
            json!({"event": "action", "timestamp": t + 1.0, "name": "utter_greet",
                   "policy": "RulePolicy", "confidence": 1.0}),
            json!({"event": "bot", "timestamp": t + 2.0, "text": "Hey \"there\"",
                   "metadata": {"utter_action": "utter_greet"}}),
            json!({"event": "slot", "timestamp": t + 3.0, "name": "name", "value": "Zoë"}),
        ]);
    }
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a valid event"))
        .collect()
}

async fn seed(store: &dyn TrackerStore, conversations: &[(&str, Vec<Event>)]) {
    for (id, events) in conversations {
        store.append(id, events).await.expect("events are stored");
    }
}

/// A project directory with an SQLite tracker store holding `conversations` and an
/// endpoints.yml exporting it to the file broker `exported.log`.
fn sqlite_project(conversations: &[(&str, Vec<Event>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("tracker.db");
    block_on(async {
        let store = SqlTrackerStore::open(&SqlConfig::sqlite(&db))
            .await
            .expect("the SQLite store opens");
        seed(&store, conversations).await;
    });
    std::fs::write(
        dir.path().join("endpoints.yml"),
        "tracker_store:\n  type: sql\n  dialect: sqlite\n  db: tracker.db\n\
         event_broker:\n  type: file\n  path: exported.log\n",
    )
    .unwrap();
    dir
}

/// The lines of the file broker's log, parsed.
fn exported(dir: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join("exported.log")).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON message"))
        .collect()
}

/// The broker messages of the events of `conversations` (in that order) that `keep` keeps.
fn messages(conversations: &[(&str, Vec<Event>)], keep: impl Fn(f64) -> bool) -> Vec<Value> {
    conversations
        .iter()
        .flat_map(|(id, events)| {
            events
                .iter()
                .filter(|e| keep(e.timestamp))
                .map(|e| broker_message(id, e))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Three conversations (keys deliberately not in sorted order), 30, 14 and 6 events.
fn three_conversations() -> Vec<(&'static str, Vec<Event>)> {
    vec![
        ("zoë-7", conversation(1_000.0, 7)),
        ("alice", conversation(2_000.0, 3)),
        ("bob", conversation(3_000.0, 1)),
    ]
}

/// Sorted by id, as `rusa export` visits them without `--conversation-ids`.
fn sorted(mut conversations: Vec<(&'static str, Vec<Event>)>) -> Vec<(&'static str, Vec<Event>)> {
    conversations.sort_by(|a, b| a.0.cmp(b.0));
    conversations
}

#[test]
fn every_event_is_published_once_in_order_with_its_sender_id() {
    let conversations = three_conversations();
    let dir = sqlite_project(&conversations);
    let o = rusa(dir.path(), &["export"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let got = exported(dir.path());
    let expected = messages(&sorted(three_conversations()), |_| true);
    assert_eq!(got.len(), 50);
    assert_eq!(got, expected);
    for (id, events) in &conversations {
        let of_id: Vec<&Value> = got.iter().filter(|m| m["sender_id"] == *id).collect();
        assert_eq!(of_id.len(), events.len(), "{id}");
        let timestamps: Vec<f64> = of_id
            .iter()
            .map(|m| m["timestamp"].as_f64().unwrap())
            .collect();
        assert!(timestamps.is_sorted(), "{id}: {timestamps:?}");
    }
    assert_eq!(
        stdout(&o),
        "Exported 50 events from 3 conversations to FileEventBroker.\n"
    );
    // Not a terminal: no progress bar, and nothing else on stderr.
    assert_eq!(stderr(&o), "");

    // --quiet prints nothing; a second export appends the same events again.
    let o = rusa(dir.path(), &["export", "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(stdout(&o), "");
    assert_eq!(exported(dir.path()).len(), 100);
}

#[test]
fn the_minimum_timestamp_is_inclusive_and_the_maximum_exclusive() {
    let conversations = three_conversations();
    let dir = sqlite_project(&conversations);
    // Event timestamps are whole seconds: 1002.0 and 2003.0 are the times of events.
    let o = rusa(
        dir.path(),
        &[
            "export",
            "--minimum-timestamp",
            "1002",
            "--maximum-timestamp",
            "2003",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let keep = |t: f64| (1_002.0..2_003.0).contains(&t);
    let got = exported(dir.path());
    assert_eq!(got, messages(&sorted(three_conversations()), keep));
    let timestamps: Vec<f64> = got
        .iter()
        .map(|m| m["timestamp"].as_f64().unwrap())
        .collect();
    assert!(timestamps.contains(&1_002.0), "the minimum is included");
    assert!(!timestamps.contains(&2_003.0), "the maximum is excluded");
    assert!(timestamps.contains(&2_002.0));
    // 28 of zoë-7's events and 3 of alice's (session start, session_started, 2002).
    assert_eq!(
        stdout(&o),
        "Exported 31 events from 2 conversations to FileEventBroker.\n"
    );

    // Only a minimum, only a maximum.
    let dir = sqlite_project(&conversations);
    let o = rusa(dir.path(), &["export", "--minimum-timestamp", "3000.5"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        exported(dir.path()),
        messages(&sorted(three_conversations()), |t| t >= 3_000.5)
    );
    let dir = sqlite_project(&conversations);
    let o = rusa(dir.path(), &["export", "--maximum-timestamp", "1001"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        exported(dir.path()),
        messages(&sorted(three_conversations()), |t| t < 1_001.0)
    );
    assert_eq!(exported(dir.path()).len(), 1);
}

#[test]
fn a_maximum_below_the_minimum_or_an_empty_range_is_an_error() {
    let dir = sqlite_project(&three_conversations());
    let o = rusa(
        dir.path(),
        &[
            "export",
            "--minimum-timestamp",
            "2000",
            "--maximum-timestamp",
            "1000",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(
            "error: the maximum timestamp 1000 is smaller than the minimum timestamp 2000"
        ),
        "{err}"
    );
    assert!(err.contains("hint: "), "{err}");
    assert!(!dir.path().join("exported.log").exists());

    // A range no event falls in: nothing to export.
    let o = rusa(dir.path(), &["export", "--minimum-timestamp", "5000"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("no event of the selected conversations is within the requested time range"),
        "{err}"
    );
    assert_eq!(exported(dir.path()), Vec::<Value>::new());
    assert_eq!(stdout(&o), "");
}

#[test]
fn conversation_ids_select_conversations_and_unknown_ones_are_named() {
    let conversations = three_conversations();
    let dir = sqlite_project(&conversations);
    let o = rusa(
        dir.path(),
        &["export", "--conversation-ids", "bob,nobody,zoë-7"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let selected: Vec<(&str, Vec<Event>)> = vec![
        ("bob", conversation(3_000.0, 1)),
        ("zoë-7", conversation(1_000.0, 7)),
    ];
    assert_eq!(exported(dir.path()), messages(&selected, |_| true));
    assert_eq!(
        stderr(&o),
        "warning: 1 of the requested conversations is not in the tracker store: nobody\n"
    );
    assert_eq!(
        stdout(&o),
        "Exported 36 events from 2 conversations to FileEventBroker.\n"
    );

    // None of them is there: an error, nothing published.
    let dir = sqlite_project(&conversations);
    let o = rusa(dir.path(), &["export", "--conversation-ids", "x,y"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("2 of the requested conversations are not in the tracker store: x, y"),
        "{err}"
    );
    assert!(
        err.contains("error: none of the requested conversations is in the tracker store"),
        "{err}"
    );
    assert!(
        !dir.path().join("exported.log").exists(),
        "the broker was opened"
    );
}

#[test]
fn no_event_broker_no_tracker_store_or_no_conversations_are_errors() {
    let dir = sqlite_project(&three_conversations());
    let endpoints = dir.path().join("endpoints.yml");

    std::fs::write(
        &endpoints,
        "tracker_store:\n  type: sql\n  db: tracker.db\n",
    )
    .unwrap();
    let o = rusa(dir.path(), &["export"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: 'endpoints.yml' has no `event_broker` entry"),
        "{err}"
    );
    assert!(err.contains("\nhint: add an `event_broker`"), "{err}");

    std::fs::write(
        &endpoints,
        "event_broker:\n  type: file\n  path: exported.log\n",
    )
    .unwrap();
    let o = rusa(dir.path(), &["export"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: 'endpoints.yml' has no `tracker_store` entry"),
        "{err}"
    );
    assert!(err.contains("\nhint: "), "{err}");

    std::fs::write(
        &endpoints,
        "tracker_store:\n  type: in_memory\nevent_broker:\n  type: file\n  path: exported.log\n",
    )
    .unwrap();
    let o = rusa(dir.path(), &["export"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: endpoints.yml:2:9: the tracker store is `in_memory`"),
        "{err}"
    );

    // Another endpoints file, named with --endpoints, whose store holds nothing.
    std::fs::write(
        dir.path().join("empty.yml"),
        "tracker_store:\n  type: sql\n  db: empty.db\nevent_broker:\n  type: file\n  path: exported.log\n",
    )
    .unwrap();
    let o = rusa(dir.path(), &["export", "--endpoints", "empty.yml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: the tracker store (SQLTrackerStore) holds no conversations"),
        "{err}"
    );
    assert!(err.contains("'empty.yml'"), "{err}");

    let o = rusa(dir.path(), &["export", "--endpoints", "missing.yml"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with("error: the endpoints file 'missing.yml' does not exist"),
        "{err}"
    );
    assert!(!dir.path().join("exported.log").exists());
}

/// A port on loopback nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn events_the_broker_does_not_take_make_the_export_fail_and_are_counted() {
    let dir = sqlite_project(&three_conversations());
    let endpoints = format!(
        "tracker_store:\n  type: sql\n  db: tracker.db\n\
         event_broker:\n  type: pika\n  url: 127.0.0.1\n  port: {}\n",
        closed_port()
    );
    std::fs::write(dir.path().join("endpoints.yml"), &endpoints).unwrap();
    let o = rusa(dir.path(), &["export", "--broker-timeout", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "error: 50 of the 50 events published to the event broker (PikaEventBroker) were not delivered within 1 s"
        ),
        "{err}"
    );
    assert!(
        err.contains("hint: check that the event broker is reachable"),
        "{err}"
    );
    assert_eq!(stdout(&o), "", "no success line");

    // More events than the export lets wait for the broker: it stops publishing at the
    // backlog (2,048 events, in the 49th conversation of 42 events each).
    let ids: Vec<String> = (0..60).map(|n| format!("user-{n:02}")).collect();
    let many: Vec<(&str, Vec<Event>)> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| (id.as_str(), conversation(10_000.0 * n as f64, 10)))
        .collect();
    let dir = sqlite_project(&many);
    std::fs::write(dir.path().join("endpoints.yml"), &endpoints).unwrap();
    let o = rusa(dir.path(), &["export", "--broker-timeout", "1"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(
            "error: 2048 of the 2048 events published to the event broker (PikaEventBroker) were not delivered within 1 s; the export stopped after 48 of 60 conversations"
        ),
        "{err}"
    );
}

// ---- with the real services ----

/// The service on loopback if it answers; otherwise prints that the test skipped, or
/// panics when `RUSA_TEST_SERVICES=required` (as in CI).
fn service(name: &str, port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return true;
    }
    if std::env::var("RUSA_TEST_SERVICES").is_ok_and(|v| v == "required") {
        panic!(
            "{name} is not reachable on {addr} and RUSA_TEST_SERVICES=required; \
             start it with scripts/services.sh"
        );
    }
    println!("skipped: {name} not reachable");
    false
}

/// A name unique to this run: letters, digits and `_`.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}{}_{nanos}", std::process::id())
}

async fn postgres(db: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(5432)
        .user("postgres")
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(conn);
    client
}

/// Takes every message in `queue`, in order, until it is empty (the export has exited
/// after RabbitMQ confirmed each message, so all of them are there), with its
/// `rasa-export-process-id` header.
async fn drain(queue: &str) -> Vec<(Value, Option<String>)> {
    use amqprs::channel::BasicGetArguments;
    use amqprs::connection::{Connection, OpenConnectionArguments};
    let connection = Connection::open(&OpenConnectionArguments::new(
        "127.0.0.1",
        5672,
        "guest",
        "guest",
    ))
    .await
    .expect("connect to RabbitMQ");
    let channel = connection.open_channel(None).await.unwrap();
    let mut received = Vec::new();
    let mut args = BasicGetArguments::new(queue);
    args.no_ack = true;
    while let Some((_, properties, body)) = channel.basic_get(args.clone()).await.unwrap() {
        let export_id = properties.headers().and_then(|headers| {
            let key = amqprs::FieldName::try_from("rasa-export-process-id").ok()?;
            match headers.get(&key)? {
                amqprs::FieldValue::S(text) => Some(text.to_string()),
                other => panic!("the export id is not a string: {other:?}"),
            }
        });
        received.push((serde_json::from_slice(&body).unwrap(), export_id));
    }
    let _ = channel.close().await;
    let _ = connection.close().await;
    received
}

async fn delete_queue_and_exchange(queue: &str, exchange: &str) {
    use amqprs::channel::{ExchangeDeleteArguments, QueueDeleteArguments};
    use amqprs::connection::{Connection, OpenConnectionArguments};
    let connection = Connection::open(&OpenConnectionArguments::new(
        "127.0.0.1",
        5672,
        "guest",
        "guest",
    ))
    .await
    .unwrap();
    let channel = connection.open_channel(None).await.unwrap();
    let _ = channel.queue_delete(QueueDeleteArguments::new(queue)).await;
    let _ = channel
        .exchange_delete(ExchangeDeleteArguments::new(exchange))
        .await;
    let _ = channel.close().await;
    let _ = connection.close().await;
}

#[test]
fn postgresql_conversations_are_exported_to_rabbitmq() {
    if !service("postgresql", 5432) || !service("rabbitmq", 5672) {
        return;
    }
    let db = unique("rusa_export_test_");
    let queue = unique("rusa-export-test-q-");
    let exchange = unique("rusa-export-test-x-");
    // More events than the export lets wait for the broker at once (2,048): the export
    // waits for RabbitMQ between batches.
    let many: Vec<(String, Vec<Event>)> = (0..60)
        .map(|n| {
            (
                format!("user-{n:02}"),
                conversation(10_000.0 * n as f64, 10),
            )
        })
        .collect();
    let conversations: Vec<(&str, Vec<Event>)> = many
        .iter()
        .map(|(id, events)| (id.as_str(), events.clone()))
        .collect();
    block_on(async {
        let mut config = SqlConfig::postgresql("127.0.0.1", &db);
        config.port = Some(5432);
        config.username = Some("postgres".into());
        let store = SqlTrackerStore::open(&config)
            .await
            .expect("the PostgreSQL store opens (and creates its database)");
        seed(&store, &conversations).await;
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("endpoints.yml"),
        format!(
            "tracker_store:\n  type: sql\n  dialect: postgresql\n  url: 127.0.0.1\n  port: 5432\n  \
             db: {db}\n  username: postgres\n\
             event_broker:\n  type: pika\n  url: 127.0.0.1\n  port: 5672\n  username: guest\n  \
             password: guest\n  queues:\n    - {queue}\n  exchange_name: {exchange}\n"
        ),
    )
    .unwrap();
    let o = rusa(dir.path(), &["export"]);
    let expected = messages(&conversations, |_| true);
    let received = if o.status.success() {
        Some(block_on(drain(&queue)))
    } else {
        None
    };
    block_on(async {
        delete_queue_and_exchange(&queue, &exchange).await;
        let admin = postgres("postgres").await;
        if let Err(e) = admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
            .await
        {
            eprintln!("could not drop test database {db}: {e}");
        }
    });
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(expected.len(), 60 * 42);
    let received = received.expect("consumed");
    let (bodies, ids): (Vec<Value>, Vec<Option<String>>) = received.into_iter().unzip();
    assert_eq!(bodies, expected);
    // Every message names this export, as Rasa's do: one id, 32 hex digits.
    let first = ids[0].clone().expect("the rasa-export-process-id header");
    assert_eq!(first.len(), 32);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()), "{first}");
    assert!(ids.iter().all(|id| id.as_deref() == Some(first.as_str())));
    assert_eq!(
        stdout(&o),
        "Exported 2520 events from 60 conversations to PikaEventBroker.\n"
    );
}
