//! `PikaEventBroker`: events to RabbitMQ, as Rasa's broker of that name publishes them.
//!
//! Each event is one persistent (delivery mode 2) JSON message on a fanout exchange
//! (default `rasa-exchange`, declared as Rasa declares it) to which every configured
//! durable queue (default `rasa_core_events`) is bound. The connection is opened in the
//! background and reopened with back-off when it breaks; a broker that is down only
//! fills the bounded buffer.

use std::sync::Arc;
use std::time::Duration;

use amqprs::channel::{
    BasicPublishArguments, Channel, ExchangeDeclareArguments, QueueBindArguments,
    QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{BasicProperties, DELIVERY_MODE_PERSISTENT};
use rusa_core::actions::BoxFuture;
use rusa_core::stores::EventBroker;
use tokio::task::JoinHandle;

use crate::outbox::{BROKER_BUFFER_CAPACITY, Outbox, Sink, SinkError};

const BROKER: &str = "PikaEventBroker";

/// Rasa's default exchange.
pub const DEFAULT_EXCHANGE: &str = "rasa-exchange";
/// Rasa's default queue.
pub const DEFAULT_QUEUE: &str = "rasa_core_events";
/// How long opening a connection may take.
pub const AMQP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where RabbitMQ is and where events go.
#[derive(Debug, Clone, PartialEq)]
pub struct PikaConfig {
    /// Host (Rasa's `url`); default `localhost`.
    pub host: String,
    /// Default 5672.
    pub port: u16,
    /// Default `guest`.
    pub username: String,
    /// Default `guest`.
    pub password: String,
    /// Default `/`.
    pub virtual_host: String,
    pub queues: Vec<String>,
    pub exchange_name: String,
}

impl Default for PikaConfig {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 5672,
            username: "guest".into(),
            password: "guest".into(),
            virtual_host: "/".into(),
            queues: vec![DEFAULT_QUEUE.into()],
            exchange_name: DEFAULT_EXCHANGE.into(),
        }
    }
}

/// Publishes events to RabbitMQ without ever blocking or failing the caller.
pub struct PikaEventBroker {
    outbox: Arc<Outbox>,
    task: JoinHandle<()>,
}

struct PikaSink {
    config: PikaConfig,
    open: Option<(Connection, Channel)>,
}

impl PikaSink {
    async fn connect(&self) -> Result<(Connection, Channel), String> {
        let c = &self.config;
        let mut args = OpenConnectionArguments::new(&c.host, c.port, &c.username, &c.password);
        args.virtual_host(&c.virtual_host);
        let connection = tokio::time::timeout(AMQP_CONNECT_TIMEOUT, Connection::open(&args))
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", c.host, c.port))?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", c.host, c.port))?;
        let channel = connection
            .open_channel(None)
            .await
            .map_err(|e| e.to_string())?;
        // As Rasa (aio-pika defaults): a fanout exchange, not durable; durable queues.
        channel
            .exchange_declare(ExchangeDeclareArguments::new(&c.exchange_name, "fanout"))
            .await
            .map_err(|e| format!("declaring exchange '{}': {e}", c.exchange_name))?;
        for queue in &c.queues {
            channel
                .queue_declare(QueueDeclareArguments::durable_client_named(queue))
                .await
                .map_err(|e| format!("declaring queue '{queue}': {e}"))?;
            channel
                .queue_bind(QueueBindArguments::new(queue, &c.exchange_name, ""))
                .await
                .map_err(|e| format!("binding queue '{queue}': {e}"))?;
        }
        tracing::info!(host = %c.host, port = c.port, exchange = %c.exchange_name, "connected to RabbitMQ");
        Ok((connection, channel))
    }
}

impl Sink for PikaSink {
    fn send<'a>(
        &'a mut self,
        batch: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let usable = self
                .open
                .as_ref()
                .is_some_and(|(conn, chan)| conn.is_open() && chan.is_open());
            if !usable {
                self.open = None;
                let opened = self
                    .connect()
                    .await
                    .map_err(|message| SinkError { sent: 0, message })?;
                self.open = Some(opened);
            }
            let Some((_, channel)) = &self.open else {
                return Err(SinkError {
                    sent: 0,
                    message: "no channel".into(),
                });
            };
            for (sent, message) in batch.iter().enumerate() {
                let mut properties = BasicProperties::default();
                properties
                    .with_content_type("application/json")
                    .with_delivery_mode(DELIVERY_MODE_PERSISTENT);
                let body = message.to_string().into_bytes();
                let args = BasicPublishArguments::new(&self.config.exchange_name, "");
                if let Err(e) = channel.basic_publish(properties, body, args).await {
                    self.open = None;
                    return Err(SinkError {
                        sent,
                        message: e.to_string(),
                    });
                }
            }
            Ok(())
        })
    }
}

impl PikaEventBroker {
    /// Starts the broker; the connection is made in the background (the first publish
    /// does not wait for it).
    pub fn start(config: PikaConfig) -> Self {
        Self::with_capacity(config, BROKER_BUFFER_CAPACITY)
    }

    /// [`PikaEventBroker::start`] with a buffer of `capacity` messages.
    pub fn with_capacity(config: PikaConfig, capacity: usize) -> Self {
        let (outbox, task) = Outbox::start(BROKER, capacity, PikaSink { config, open: None });
        Self { outbox, task }
    }
}

impl Drop for PikaEventBroker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl EventBroker for PikaEventBroker {
    fn class_name(&self) -> &'static str {
        BROKER
    }

    fn publish(&self, message: serde_json::Value) {
        self.outbox.push(message);
    }

    fn flush(&self, budget: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.outbox.flush(budget))
    }

    fn dropped(&self) -> u64 {
        self.outbox.dropped()
    }
}
