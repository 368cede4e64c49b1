//! Event brokers against real files, databases and RabbitMQ.

use std::time::Duration;

use amqprs::channel::{BasicConsumeArguments, ExchangeDeleteArguments, QueueDeleteArguments};
use amqprs::connection::{Connection, OpenConnectionArguments};
use rusa_core::stores::{EventBroker, broker_message};
use rusa_stores::{FileEventBroker, PikaConfig, PikaEventBroker, SqlConfig, SqlEventBroker};

use crate::support::{PgDatabase, Service, sample_events, service, unique};

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
    assert_eq!(broker.pending(), 0);
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

/// A message as a consumer sees it.
pub struct Received {
    pub delivery_mode: Option<u8>,
    pub content_type: Option<String>,
    pub body: serde_json::Value,
}

/// Consumes `n` messages from `queue` (each within the time limit).
pub async fn consume_messages(rabbit: Service, queue: &str, n: usize) -> Vec<Received> {
    consume_until(rabbit, queue, |got| got.len() >= n).await
}

/// Consumes messages from `queue` until `done` says so (each within the time limit).
pub async fn consume_until(
    rabbit: Service,
    queue: &str,
    done: impl Fn(&[Received]) -> bool,
) -> Vec<Received> {
    let connection = Connection::open(&OpenConnectionArguments::new(
        rabbit.host,
        rabbit.port,
        "guest",
        "guest",
    ))
    .await
    .unwrap();
    let channel = connection.open_channel(None).await.unwrap();
    let (_, mut rx) = channel
        .basic_consume_rx(
            BasicConsumeArguments::new(queue, &unique("consumer"))
                .auto_ack(true)
                .finish(),
        )
        .await
        .unwrap();
    let mut received = Vec::new();
    while !done(&received) {
        let message = tokio::time::timeout(FLUSH, rx.recv())
            .await
            .expect("a message within the time limit")
            .expect("the consumer is open");
        let properties = message.basic_properties.unwrap();
        received.push(Received {
            delivery_mode: properties.delivery_mode(),
            content_type: properties.content_type().cloned(),
            body: serde_json::from_slice(&message.content.unwrap()).unwrap(),
        });
    }
    let _ = channel.close().await;
    let _ = connection.close().await;
    received
}

/// The bodies of `n` messages from `queue`.
pub async fn consume(rabbit: Service, queue: &str, n: usize) -> Vec<serde_json::Value> {
    consume_messages(rabbit, queue, n)
        .await
        .into_iter()
        .map(|r| r.body)
        .collect()
}

/// Deletes the test's queues and exchange.
pub async fn delete(rabbit: Service, queues: &[String], exchange: &str) {
    let connection = Connection::open(&OpenConnectionArguments::new(
        rabbit.host,
        rabbit.port,
        "guest",
        "guest",
    ))
    .await
    .unwrap();
    let channel = connection.open_channel(None).await.unwrap();
    for queue in queues {
        channel
            .queue_delete(QueueDeleteArguments::new(queue))
            .await
            .unwrap();
    }
    channel
        .exchange_delete(ExchangeDeleteArguments::new(exchange))
        .await
        .unwrap();
    let _ = channel.close().await;
    let _ = connection.close().await;
}

fn pika_config(host: &str, port: u16, queues: &[String], exchange: &str) -> PikaConfig {
    PikaConfig {
        host: host.into(),
        port,
        queues: queues.to_vec(),
        exchange_name: exchange.into(),
        ..PikaConfig::default()
    }
}

#[tokio::test]
async fn pika_broker_publishes_persistent_messages_to_every_queue() {
    let Some(rabbit) = service("rabbitmq") else {
        return;
    };
    let exchange = unique("rusa-test-exchange-");
    let queues = vec![unique("rusa-test-q1-"), unique("rusa-test-q2-")];
    let broker =
        PikaEventBroker::start(pika_config(rabbit.host, rabbit.port, &queues, &exchange)).unwrap();
    let sent = messages("dave");
    for m in &sent {
        broker.publish(m.clone());
    }
    broker.flush(FLUSH).await;
    assert_eq!(broker.dropped(), 0);
    for queue in &queues {
        let received = consume_messages(rabbit, queue, sent.len()).await;
        for (got, expected) in received.iter().zip(&sent) {
            assert_eq!(got.delivery_mode, Some(2), "persistent");
            assert_eq!(got.content_type.as_deref(), Some("application/json"));
            assert_eq!(&got.body, expected);
        }
    }
    drop(broker);
    delete(rabbit, &queues, &exchange).await;
}

#[tokio::test]
async fn pika_broker_uses_an_exchange_and_queue_declared_differently_by_others() {
    let Some(rabbit) = service("rabbitmq") else {
        return;
    };
    // A durable exchange and a queue with arguments, as another deployment made them.
    let exchange = unique("rusa-test-durable-x-");
    let queue = unique("rusa-test-lazy-q-");
    {
        let connection = Connection::open(&OpenConnectionArguments::new(
            rabbit.host,
            rabbit.port,
            "guest",
            "guest",
        ))
        .await
        .unwrap();
        let channel = connection.open_channel(None).await.unwrap();
        channel
            .exchange_declare(
                amqprs::channel::ExchangeDeclareArguments::new(&exchange, "fanout")
                    .durable(true)
                    .finish(),
            )
            .await
            .unwrap();
        let mut arguments = amqprs::FieldTable::new();
        arguments.insert(
            "x-max-length".try_into().unwrap(),
            amqprs::FieldValue::l(1000),
        );
        channel
            .queue_declare(
                amqprs::channel::QueueDeclareArguments::durable_client_named(&queue)
                    .arguments(arguments)
                    .finish(),
            )
            .await
            .unwrap();
        let _ = channel.close().await;
        let _ = connection.close().await;
    }
    let queues = vec![queue];
    let broker =
        PikaEventBroker::start(pika_config(rabbit.host, rabbit.port, &queues, &exchange)).unwrap();
    broker.publish(serde_json::json!({"n": 1}));
    broker.flush(FLUSH).await;
    assert_eq!(
        consume(rabbit, &queues[0], 1).await,
        vec![serde_json::json!({"n": 1})]
    );
    drop(broker);
    delete(rabbit, &queues, &exchange).await;
}

/// A TCP proxy in front of RabbitMQ that the test can cut.
struct Proxy {
    port: u16,
    /// `false`: accepted connections are closed at once (the broker is "down").
    forwarding: tokio::sync::watch::Sender<(bool, u32)>,
}

impl Proxy {
    async fn start(upstream: Service) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (forwarding, state) = tokio::sync::watch::channel((false, 0u32));
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let (forward, generation) = *state.borrow();
                if !forward {
                    continue; // dropped: connection closed
                }
                let mut state = state.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) =
                        tokio::net::TcpStream::connect((upstream.host, upstream.port)).await
                    else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = state.wait_for(|s| s.1 != generation || !s.0) => {}
                    }
                });
            }
        });
        Self { port, forwarding }
    }

    fn up(&self) {
        self.forwarding.send_modify(|s| s.0 = true);
    }

    /// Cuts every open connection; new ones are forwarded again.
    fn cut(&self) {
        self.forwarding.send_modify(|s| s.1 += 1);
    }
}

#[tokio::test]
async fn pika_broker_reconnects_and_delivers_what_waited() {
    let Some(rabbit) = service("rabbitmq") else {
        return;
    };
    let exchange = unique("rusa-test-exchange-");
    let queues = vec![unique("rusa-test-reconnect-")];
    let proxy = Proxy::start(rabbit).await;
    let broker =
        PikaEventBroker::start(pika_config("127.0.0.1", proxy.port, &queues, &exchange)).unwrap();

    // Down at start: the message waits in the buffer.
    broker.publish(serde_json::json!({"n": 1}));
    proxy.up();
    broker.flush(FLUSH).await;
    // Cut the connection under the broker: the next messages still arrive.
    proxy.cut();
    for n in 2..=4 {
        broker.publish(serde_json::json!({"n": n}));
    }
    broker.flush(FLUSH).await;
    assert_eq!(broker.dropped(), 0);

    // At least once: a message cut off before its confirm is sent again.
    let numbers = |got: &[Received]| {
        let mut n: Vec<i64> = got.iter().filter_map(|m| m.body["n"].as_i64()).collect();
        n.dedup();
        n
    };
    let got = consume_until(rabbit, &queues[0], |got| numbers(got).len() >= 4).await;
    assert_eq!(numbers(&got), vec![1, 2, 3, 4], "in order, none lost");
    drop(broker);
    delete(rabbit, &queues, &exchange).await;
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
    )
    .unwrap();
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
    })
    .unwrap();
    for _ in 0..rusa_stores::BROKER_BUFFER_CAPACITY + 7 {
        broker.publish(serde_json::json!({"event": "restart"}));
    }
    assert_eq!(broker.dropped(), 7);
}
