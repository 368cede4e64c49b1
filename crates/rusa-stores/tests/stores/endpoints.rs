//! Stores built from a real endpoints.yml, read by `rusa_project::load_endpoints`.

use std::path::Path;
use std::time::Duration;

use rusa_core::stores::broker_message;
use rusa_project::Endpoints;
use rusa_stores::{
    event_broker_from_endpoint, lock_store_from_endpoint, tracker_store_from_endpoint,
};

use crate::support::{PgDatabase, sample_events, service, unique};

fn load(dir: &Path, yaml: &str) -> Endpoints {
    let path = dir.join("endpoints.yml");
    std::fs::write(&path, yaml).unwrap();
    let mut warnings = Vec::new();
    rusa_project::load_endpoints(&path, &mut warnings)
        .unwrap()
        .expect("the file exists")
}

#[tokio::test]
async fn sqlite_tracker_store_and_file_and_sql_brokers_from_endpoints() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("rasa.db");
    let log = dir.path().join("events.log");
    let events_db = dir.path().join("events.db");
    let endpoints = load(
        dir.path(),
        &format!(
            "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {}\n\
             lock_store:\n  type: in_memory\n\
             event_broker:\n  type: file\n  path: {}\n",
            db.display(),
            log.display()
        ),
    );
    let store = tracker_store_from_endpoint(endpoints.tracker_store.as_ref())
        .await
        .unwrap();
    assert_eq!(store.class_name(), "SQLTrackerStore");
    store.append("x", &sample_events(0)).await.unwrap();
    assert!(db.is_file());
    let lock = lock_store_from_endpoint(endpoints.lock_store.as_ref())
        .await
        .unwrap();
    assert_eq!(lock.class_name(), "InMemoryLockStore");
    let broker = event_broker_from_endpoint(endpoints.event_broker.as_ref())
        .await
        .unwrap()
        .expect("a broker");
    assert_eq!(broker.class_name(), "FileEventBroker");
    broker.publish(broker_message("x", &sample_events(0)[0]));
    broker.flush(Duration::from_secs(20)).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap().lines().count(), 1);

    let endpoints = load(
        dir.path(),
        &format!(
            "event_broker:\n  type: sql\n  db: {}\n",
            events_db.display()
        ),
    );
    let broker = event_broker_from_endpoint(endpoints.event_broker.as_ref())
        .await
        .unwrap()
        .expect("a broker");
    assert_eq!(broker.class_name(), "SQLEventBroker");
    broker.publish(broker_message("x", &sample_events(0)[0]));
    broker.flush(Duration::from_secs(20)).await;
    let conn = rusqlite::Connection::open(&events_db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn mistakes_in_endpoints_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("endpoints.yml");
    let endpoints = load(
        dir.path(),
        "tracker_store:\n  type: reddis\n\
         lock_store:\n  type: redis\n  url: localhost\n  port: abc\n\
         event_broker:\n  type: kafka\n  url: localhost\n",
    );
    let err = tracker_store_from_endpoint(endpoints.tracker_store.as_ref())
        .await
        .err()
        .expect("unknown type")
        .to_string();
    assert!(err.starts_with(&format!("{}:2:", file.display())), "{err}");
    assert!(
        err.contains("unknown tracker_store type 'reddis' (did you mean 'redis'?)"),
        "{err}"
    );
    assert!(
        err.contains("supported types: in_memory, sql, redis"),
        "{err}"
    );

    let err = lock_store_from_endpoint(endpoints.lock_store.as_ref())
        .await
        .err()
        .expect("bad port")
        .to_string();
    assert!(err.starts_with(&format!("{}:6:", file.display())), "{err}");
    assert!(
        err.contains("'port' must be a port number (1-65535), not 'abc'"),
        "{err}"
    );

    let err = event_broker_from_endpoint(endpoints.event_broker.as_ref())
        .await
        .err()
        .expect("kafka")
        .to_string();
    assert!(err.starts_with(&format!("{}:8:", file.display())), "{err}");
    assert!(err.contains("Kafka is not supported"), "{err}");
}

#[tokio::test]
async fn redis_stores_from_endpoints() {
    let Some(redis) = service("redis") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique("rusaep");
    let endpoints = load(
        dir.path(),
        &format!(
            "tracker_store:\n  type: redis\n  url: {host}\n  port: \"{port}\"\n  db: 0\n  \
             key_prefix: {prefix}\n  record_exp: 60\n\
             lock_store:\n  type: redis\n  url: {host}\n  port: {port}\n  key_prefix: {prefix}\n",
            host = redis.host,
            port = redis.port,
        ),
    );
    let store = tracker_store_from_endpoint(endpoints.tracker_store.as_ref())
        .await
        .unwrap();
    assert_eq!(store.class_name(), "RedisTrackerStore");
    store.append("y", &sample_events(0)).await.unwrap();
    assert_eq!(store.keys().await.unwrap(), vec!["y".to_owned()]);
    store.replace("y", &[]).await.unwrap();
    let lock = lock_store_from_endpoint(endpoints.lock_store.as_ref())
        .await
        .unwrap();
    assert_eq!(lock.class_name(), "RedisLockStore");
    let ticket = lock
        .lock("y", Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap();
    lock.release(&ticket).await.unwrap();
}

#[tokio::test]
async fn postgresql_tracker_store_from_endpoints_creates_its_database() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = PgDatabase::new(pg);
    let endpoints = load(
        dir.path(),
        &format!(
            "tracker_store:\n  type: sql\n  dialect: postgresql\n  url: {}\n  port: {}\n  \
             db: {}\n  username: postgres\n  login_db: test\n  query:\n    application_name: rusa-test\n",
            pg.host, pg.port, db.config.db
        ),
    );
    let store = tracker_store_from_endpoint(endpoints.tracker_store.as_ref())
        .await
        .unwrap();
    store.append("z", &sample_events(0)).await.unwrap();
    assert_eq!(store.retrieve("z").await.unwrap().map(|e| e.len()), Some(4));
    drop(store);
    db.drop_database().await;
}

#[tokio::test]
async fn pika_broker_from_endpoints() {
    let Some(rabbit) = service("rabbitmq") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let queue = unique("rusa-ep-q-");
    let exchange = unique("rusa-ep-x-");
    let endpoints = load(
        dir.path(),
        &format!(
            "event_broker:\n  type: pika\n  url: {}\n  port: {}\n  username: guest\n  \
             password: guest\n  queues:\n    - {queue}\n  exchange_name: {exchange}\n",
            rabbit.host, rabbit.port
        ),
    );
    let broker = event_broker_from_endpoint(endpoints.event_broker.as_ref())
        .await
        .unwrap()
        .expect("a broker");
    assert_eq!(broker.class_name(), "PikaEventBroker");
    broker.publish(broker_message("p", &sample_events(0)[0]));
    broker.flush(Duration::from_secs(20)).await;
    let received = crate::brokers::consume(rabbit, &queue, 1).await;
    assert_eq!(received[0]["sender_id"], "p");
    crate::brokers::delete(rabbit, &[queue], &exchange).await;
}
