//! Event brokers against real files, databases and RabbitMQ.

use std::time::Duration;

use amqprs::channel::{BasicConsumeArguments, QueueDeleteArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use rusa_core::stores::{EventBroker, broker_message};
use rusa_stores::{FileEventBroker, PikaConfig, PikaEventBroker, SqlConfig, SqlEventBroker};

use crate::support::{PgDatabase, sample_events, service, unique};

const FLUSH: Duration = Duration::from_secs(20);

fn messages(sender: &str) -> Vec<serde_json::Value> {
    sample_events(0)
        .iter()
        .map(|e| broker_message(sender, e))
        .collect()
}

#[tokio::test]
async fn file_broker_appends_one_json_line_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.log");
    let broker = FileEventBroker::open(&path).await.unwrap();
    for m in messages("alice") {
        broker.publish(m);
    }
    broker.flush(FLUSH).await;
    drop(broker);
    // A second broker appends to the same file.
    let broker = FileEventBroker::open(&path).await.unwrap();
    broker.publish(messages("bob").remove(0));
    broker.flush(FLUSH).await;

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut expected = messages("alice");
    expected.push(messages("bob").remove(0));
    assert_eq!(lines, expected);
    assert_eq!(lines[0]["sender_id"], "alice");
    assert_eq!(lines[0]["event"], "user");
    assert_eq!(broker.dropped(), 0);
}

async fn sql_broker_rows(broker: &SqlEventBroker) {
    for m in messages("carol") {
        broker.publish(m);
    }
    broker.flush(FLUSH).await;
    assert_eq!(broker.dropped(), 0);
}

#[tokio::test]
async fn sqlite_event_broker_writes_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let broker = SqlEventBroker::open(&SqlConfig::sqlite(&path))
        .await
        .unwrap();
    sql_broker_rows(&broker).await;
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut stmt = conn
        .prepare("SELECT sender_id, data FROM events ORDER BY id")
        .unwrap();
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 4);
    for ((sender, data), expected) in rows.iter().zip(messages("carol")) {
        assert_eq!(sender, "carol");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(data).unwrap(),
            expected
        );
    }
}

#[tokio::test]
async fn postgresql_event_broker_writes_rows() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let db = PgDatabase::new(pg);
    let broker = SqlEventBroker::open(&db.config).await.unwrap();
    sql_broker_rows(&broker).await;
    let client = db.client().await;
    let rows = client
        .query("SELECT sender_id, data FROM events ORDER BY id", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for (row, expected) in rows.iter().zip(messages("carol")) {
        assert_eq!(row.get::<_, String>(0), "carol");
        let data: String = row.get(1);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&data).unwrap(),
            expected
        );
    }
    drop(client);
    drop(broker);
    db.drop_database().await;
}

#[tokio::test]
async fn pika_broker_publishes_persistent_messages_to_every_queue() {
    let Some(rabbit) = service("rabbitmq") else {
        return;
    };
    let exchange = unique("rusa-test-exchange-");
    let queues = vec![unique("rusa-test-q1-"), unique("rusa-test-q2-")];
    let broker = PikaEventBroker::start(PikaConfig {
        host: rabbit.host.into(),
        port: rabbit.port,
        queues: queues.clone(),
        exchange_name: exchange.clone(),
        ..PikaConfig::default()
    });
    let sent = messages("dave");
    for m in &sent {
        broker.publish(m.clone());
    }
    broker.flush(FLUSH).await;
    assert_eq!(broker.dropped(), 0);

    let connection = Connection::open(&OpenConnectionArguments::new(
        rabbit.host,
        rabbit.port,
        "guest",
        "guest",
    ))
    .await
    .unwrap();
    let channel = connection.open_channel(None).await.unwrap();
    for queue in &queues {
        let (_, mut rx) = channel
            .basic_consume_rx(
                BasicConsumeArguments::new(queue, &unique("consumer"))
                    .auto_ack(true)
                    .finish(),
            )
            .await
            .unwrap();
        for expected in &sent {
            let message = tokio::time::timeout(FLUSH, rx.recv())
                .await
                .expect("a message within the time limit")
                .expect("the consumer is open");
            let properties = message.basic_properties.unwrap();
            assert_eq!(properties.delivery_mode(), Some(2), "persistent");
            assert_eq!(
                properties.content_type().map(String::as_str),
                Some("application/json")
            );
            let body: serde_json::Value =
                serde_json::from_slice(&message.content.unwrap()).unwrap();
            assert_eq!(&body, expected);
        }
    }
    for queue in &queues {
        channel
            .queue_delete(QueueDeleteArguments::new(queue))
            .await
            .unwrap();
    }
    channel
        .exchange_delete(amqprs::channel::ExchangeDeleteArguments::new(&exchange))
        .await
        .unwrap();
    drop(broker);
}

#[tokio::test]
async fn a_broker_that_is_down_never_blocks_and_counts_what_it_dropped() {
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let broker = PikaEventBroker::with_capacity(
        PikaConfig {
            host: "127.0.0.1".into(),
            port,
            ..PikaConfig::default()
        },
        10,
    );
    for i in 0..25 {
        broker.publish(serde_json::json!({"event": "restart", "sender_id": format!("s{i}")}));
    }
    assert_eq!(
        broker.dropped(),
        15,
        "the oldest beyond the capacity were dropped"
    );
    // Flushing gives up within its budget.
    broker.flush(Duration::from_millis(50)).await;
    assert_eq!(broker.dropped(), 15);

    // The same through the default capacity.
    let broker = PikaEventBroker::start(PikaConfig {
        host: "127.0.0.1".into(),
        port,
        ..PikaConfig::default()
    });
    for _ in 0..rusa_stores::BROKER_BUFFER_CAPACITY + 7 {
        broker.publish(serde_json::json!({"event": "restart"}));
    }
    assert_eq!(broker.dropped(), 7);
}
