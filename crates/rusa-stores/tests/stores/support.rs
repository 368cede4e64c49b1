//! Reaching the real services, unique names per test run, and test events.

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use rusa_core::Event;
use rusa_stores::{RedisConfig, SqlConfig};

/// A service the tests need, on loopback.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    pub host: &'static str,
    pub port: u16,
}

/// The service if it answers; otherwise prints that the test skipped, or panics when
/// `RUSA_TEST_SERVICES=required` (as in CI).
pub fn service(name: &str) -> Option<Service> {
    let port = match name {
        "postgresql" => 5432,
        "redis" => 6379,
        "rabbitmq" => 5672,
        other => panic!("no such test service: {other}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return Some(Service {
            host: "127.0.0.1",
            port,
        });
    }
    if std::env::var("RUSA_TEST_SERVICES").is_ok_and(|v| v == "required") {
        panic!(
            "{name} is not reachable on {addr} and RUSA_TEST_SERVICES=required; \
             start it with scripts/services.sh"
        );
    }
    println!("skipped: {name} not reachable");
    None
}

/// A name unique to this test run and call: letters and digits only.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// A fresh PostgreSQL database (created by the store on open) and a way to drop it.
pub struct PgDatabase {
    pub config: SqlConfig,
}

impl PgDatabase {
    pub fn new(service: Service) -> Self {
        let mut config = SqlConfig::postgresql(service.host, &unique("rusa_test_"));
        config.port = Some(service.port);
        config.username = Some("postgres".into());
        Self { config }
    }

    /// A client on the test database.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host(self.config.host.as_deref().unwrap_or("127.0.0.1"))
            .port(self.config.port.unwrap_or(5432))
            .user("postgres")
            .dbname(&self.config.db)
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to the test database");
        tokio::spawn(conn);
        client
    }

    /// A client on the server's `postgres` database.
    async fn admin(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::Config::new()
            .host(self.config.host.as_deref().unwrap_or("127.0.0.1"))
            .port(self.config.port.unwrap_or(5432))
            .user("postgres")
            .dbname("postgres")
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect to postgres");
        tokio::spawn(conn);
        client
    }

    /// Creates the (empty) database, for a test that sets up tables before a store opens it.
    pub async fn create(&self) {
        let sql = format!("CREATE DATABASE \"{}\"", self.config.db);
        self.admin()
            .await
            .batch_execute(&sql)
            .await
            .expect("create the test database");
    }

    /// Drops the database (the stores using it must be dropped first).
    pub async fn drop_database(self) {
        let sql = format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            self.config.db
        );
        if let Err(e) = self.admin().await.batch_execute(&sql).await {
            eprintln!("could not drop test database {}: {e}", self.config.db);
        }
    }
}

pub fn redis_config(service: Service) -> RedisConfig {
    RedisConfig {
        host: service.host.into(),
        port: service.port,
        key_prefix: Some(unique("rusatest")),
        ..RedisConfig::default()
    }
}

/// Events of every shape a conversation has, with nested JSON, floats and Unicode.
pub fn sample_events(turn: usize) -> Vec<Event> {
    let t = 1_700_000_000.0 + turn as f64 * 1.25;
    let values = vec![
        serde_json::json!({
            "event": "user", "timestamp": t, "text": format!("héllo 👋 turn {turn}"),
            "parse_data": {
                "intent": {"name": "greet", "confidence": 0.987_654_321},
                "entities": [{"entity": "name", "value": "Zoë", "start": 0, "end": 3,
                              "extractor": "DIETClassifier", "confidence_entity": 0.5}],
                "intent_ranking": [{"name": "greet", "confidence": 0.987_654_321}],
                "text": format!("héllo 👋 turn {turn}")
            },
            "input_channel": "rest", "message_id": format!("m{turn}"),
            "metadata": {"model_id": "abc", "nested": {"list": [1, 2.5, null, true]}}
        }),
        serde_json::json!({"event": "action", "timestamp": t + 0.1, "name": "utter_greet",
                           "policy": "RulePolicy", "confidence": 1.0, "action_text": null,
                           "hide_rule_turn": false}),
        serde_json::json!({"event": "bot", "timestamp": t + 0.2, "text": "Hey! \"quoted\" \n line",
                           "data": {"elements": null, "quick_replies": null,
                                    "buttons": [{"title": "yes", "payload": "/affirm"}],
                                    "attachment": null, "image": null, "custom": {"k": [1]}},
                           "metadata": {"utter_action": "utter_greet"}}),
        serde_json::json!({"event": "slot", "timestamp": t + 0.3, "name": "name",
                           "value": {"first": "Zoë", "n": 3}}),
    ];
    values
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a valid event"))
        .collect()
}

/// The events as JSON, to compare exactly.
pub fn json(events: &[Event]) -> serde_json::Value {
    serde_json::to_value(events).expect("events serialize")
}
