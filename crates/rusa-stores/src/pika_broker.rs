//! `PikaEventBroker`: events to RabbitMQ, as Rasa's broker of that name publishes them.
//!
//! Each event is one persistent (delivery mode 2) JSON message on a fanout exchange
//! (default `rasa-exchange`, declared as Rasa declares it) to which every configured
//! durable queue (default `rasa_core_events`) is bound. The connection is opened in the
//! background and reopened with back-off when it breaks; a broker that is down only
//! fills the bounded buffer.

use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeSet;

use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicPublishArguments, Channel, ConfirmSelectArguments, ExchangeDeclareArguments,
    QueueBindArguments, QueueDeclareArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{
    Ack, BasicProperties, Cancel, CloseChannel, DELIVERY_MODE_PERSISTENT, FieldName, FieldTable,
    LongStr, Nack, Return,
};
use rusa_core::actions::BoxFuture;
use rusa_core::stores::StoreError;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::outbox::{BROKER_BUFFER_CAPACITY, Outbox, Sink, SinkError, buffered_event_broker};

const BROKER: &str = "PikaEventBroker";

/// Rasa's default exchange.
pub const DEFAULT_EXCHANGE: &str = "rasa-exchange";
/// Rasa's default queue.
pub const DEFAULT_QUEUE: &str = "rasa_core_events";
/// How long opening a connection may take.
pub const AMQP_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long RabbitMQ may take to confirm a batch before it is sent again.
pub const AMQP_CONFIRM_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Headers put on every message (`rusa export` sets `rasa-export-process-id`, as
    /// `rasa export` does); none by default.
    pub headers: Vec<(String, String)>,
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
            headers: Vec::new(),
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
    open: Option<Open>,
}

/// A connection with a channel in confirm mode.
struct Open {
    connection: Connection,
    channel: Channel,
    confirms: mpsc::UnboundedReceiver<Confirm>,
    /// The delivery tag of the next message (tags start at 1 per channel).
    next_tag: u64,
}

/// What RabbitMQ said about published messages.
#[derive(Debug)]
enum Confirm {
    Ack { tag: u64, multiple: bool },
    Nack { tag: u64, multiple: bool },
}

/// Passes publisher confirms to the sink; dropped (closing the stream) with the channel.
struct ConfirmCallback {
    confirms: mpsc::UnboundedSender<Confirm>,
}

#[async_trait::async_trait]
impl ChannelCallback for ConfirmCallback {
    async fn close(
        &mut self,
        _channel: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        tracing::warn!(reason = %close, "RabbitMQ closed the channel");
        Ok(())
    }
    async fn cancel(
        &mut self,
        _channel: &Channel,
        _cancel: Cancel,
    ) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(
        &mut self,
        _channel: &Channel,
        _active: bool,
    ) -> Result<bool, amqprs::error::Error> {
        Ok(true)
    }
    async fn publish_ack(&mut self, _channel: &Channel, ack: Ack) {
        let _ = self.confirms.send(Confirm::Ack {
            tag: ack.delivery_tag(),
            multiple: ack.mutiple(),
        });
    }
    async fn publish_nack(&mut self, _channel: &Channel, nack: Nack) {
        let _ = self.confirms.send(Confirm::Nack {
            tag: nack.delivery_tag(),
            multiple: nack.multiple(),
        });
    }
    async fn publish_return(
        &mut self,
        _channel: &Channel,
        _ret: Return,
        _properties: BasicProperties,
        _content: Vec<u8>,
    ) {
    }
}

/// Which delivery tags of a batch RabbitMQ confirmed.
struct Confirmed {
    first: u64,
    /// Every tag below this is confirmed.
    through: u64,
    singles: BTreeSet<u64>,
}

impl Confirmed {
    fn new(first: u64) -> Self {
        Self {
            first,
            through: first,
            singles: BTreeSet::new(),
        }
    }

    fn ack(&mut self, tag: u64, multiple: bool) {
        if tag < self.first {
            return;
        }
        if multiple {
            self.through = self.through.max(tag + 1);
        } else {
            self.singles.insert(tag);
        }
        while self.singles.remove(&self.through) {
            self.through += 1;
        }
        self.singles.retain(|&t| t >= self.through);
    }

    /// How many messages of the batch, from its start, are confirmed.
    fn count(&self) -> usize {
        usize::try_from(self.through - self.first).unwrap_or(usize::MAX)
    }
}

impl PikaSink {
    async fn connect(&self) -> Result<Open, String> {
        let c = &self.config;
        let mut args = OpenConnectionArguments::new(&c.host, c.port, &c.username, &c.password);
        args.virtual_host(&c.virtual_host);
        let connection = tokio::time::timeout(AMQP_CONNECT_TIMEOUT, Connection::open(&args))
            .await
            .map_err(|_| format!("connecting to {}:{} timed out", c.host, c.port))?
            .map_err(|e| format!("cannot connect to {}:{}: {e}", c.host, c.port))?;
        let mut channel = open_channel(&connection).await?;
        // Exchange and queues made by others (Rasa, consumers) are used as they are: a
        // passive declaration only checks they exist. Missing ones are declared as Rasa
        // declares them (aio-pika defaults): a fanout exchange, not durable; durable queues.
        let passive = ExchangeDeclareArguments::new(&c.exchange_name, "fanout")
            .passive(true)
            .finish();
        if bounded(channel.exchange_declare(passive)).await.is_err() {
            channel = open_channel(&connection).await?;
            bounded(
                channel.exchange_declare(ExchangeDeclareArguments::new(&c.exchange_name, "fanout")),
            )
            .await
            .map_err(|e| format!("declaring exchange '{}': {e}", c.exchange_name))?;
        }
        for queue in &c.queues {
            let passive = QueueDeclareArguments::durable_client_named(queue)
                .passive(true)
                .finish();
            if bounded(channel.queue_declare(passive)).await.is_err() {
                channel = open_channel(&connection).await?;
                bounded(channel.queue_declare(QueueDeclareArguments::durable_client_named(queue)))
                    .await
                    .map_err(|e| format!("declaring queue '{queue}': {e}"))?;
            }
            bounded(channel.queue_bind(QueueBindArguments::new(queue, &c.exchange_name, "")))
                .await
                .map_err(|e| format!("binding queue '{queue}': {e}"))?;
        }
        let (tx, confirms) = mpsc::unbounded_channel();
        channel
            .register_callback(ConfirmCallback { confirms: tx })
            .await
            .map_err(|e| e.to_string())?;
        channel
            .confirm_select(ConfirmSelectArguments::new(false))
            .await
            .map_err(|e| format!("enabling publisher confirms: {e}"))?;
        tracing::info!(host = %c.host, port = c.port, exchange = %c.exchange_name, "connected to RabbitMQ");
        Ok(Open {
            connection,
            channel,
            confirms,
            next_tag: 1,
        })
    }
}

/// A channel on `connection` (a failed declaration closes the channel it ran on).
async fn open_channel(connection: &Connection) -> Result<Channel, String> {
    bounded(connection.open_channel(None))
        .await
        .map_err(|e| format!("opening a channel: {e}"))
}

/// An AMQP request that fails instead of waiting longer than [`AMQP_CONNECT_TIMEOUT`].
async fn bounded<T>(
    request: impl std::future::Future<Output = Result<T, amqprs::error::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(AMQP_CONNECT_TIMEOUT, request).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("RabbitMQ did not answer in time".into()),
    }
}

impl Sink for PikaSink {
    /// Publishes the batch and waits for RabbitMQ to confirm it (at least once: a batch
    /// whose confirms do not come is sent again).
    fn send<'a>(
        &'a mut self,
        batch: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let usable = self
                .open
                .as_ref()
                .is_some_and(|o| o.connection.is_open() && o.channel.is_open());
            if !usable {
                self.open = None;
                let opened = self
                    .connect()
                    .await
                    .map_err(|message| SinkError { sent: 0, message })?;
                self.open = Some(opened);
            }
            let Some(open) = self.open.as_mut() else {
                return Err(SinkError {
                    sent: 0,
                    message: "no channel".into(),
                });
            };
            let mut confirmed = Confirmed::new(open.next_tag);
            // Confirms of an earlier, failed batch on this channel are stale.
            while open.confirms.try_recv().is_ok() {}
            let result = publish_and_confirm(
                open,
                &self.config.exchange_name,
                &self.config.headers,
                batch,
                &mut confirmed,
            )
            .await;
            match result {
                Ok(()) => Ok(()),
                Err(message) => {
                    self.open = None;
                    Err(SinkError {
                        sent: confirmed.count().min(batch.len()),
                        message,
                    })
                }
            }
        })
    }
}

/// The message headers as an AMQP field table (`None` without headers).
fn header_table(headers: &[(String, String)]) -> Result<Option<FieldTable>, String> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut table = FieldTable::new();
    for (name, value) in headers {
        let key = FieldName::try_from(name.as_str())
            .map_err(|e| format!("message header '{name}': {e}"))?;
        let value = LongStr::try_from(value.as_str())
            .map_err(|e| format!("message header '{name}': {e}"))?;
        table.insert(key, value.into());
    }
    Ok(Some(table))
}

async fn publish_and_confirm(
    open: &mut Open,
    exchange: &str,
    headers: &[(String, String)],
    batch: &[serde_json::Value],
    confirmed: &mut Confirmed,
) -> Result<(), String> {
    let headers = header_table(headers)?;
    for message in batch {
        let mut properties = BasicProperties::default();
        properties
            .with_content_type("application/json")
            .with_delivery_mode(DELIVERY_MODE_PERSISTENT);
        if let Some(headers) = &headers {
            properties.with_headers(headers.clone());
        }
        let body = message.to_string().into_bytes();
        open.channel
            .basic_publish(properties, body, BasicPublishArguments::new(exchange, ""))
            .await
            .map_err(|e| e.to_string())?;
        open.next_tag += 1;
    }
    let end = open.next_tag;
    let deadline = tokio::time::Instant::now() + AMQP_CONFIRM_TIMEOUT;
    while confirmed.through < end {
        match tokio::time::timeout_at(deadline, open.confirms.recv()).await {
            Err(_) => return Err("RabbitMQ did not confirm the messages in time".into()),
            Ok(None) => return Err("the channel closed before RabbitMQ confirmed".into()),
            Ok(Some(Confirm::Ack { tag, multiple })) => confirmed.ack(tag, multiple),
            Ok(Some(Confirm::Nack { tag, multiple })) => {
                return Err(format!(
                    "RabbitMQ refused message {tag}{}",
                    if multiple { " and earlier ones" } else { "" }
                ));
            }
        }
    }
    Ok(())
}

impl PikaEventBroker {
    /// Starts the broker; the connection is made in the background (the first publish
    /// does not wait for it). Fails only outside a tokio runtime.
    pub fn start(config: PikaConfig) -> Result<Self, StoreError> {
        Self::with_capacity(config, BROKER_BUFFER_CAPACITY)
    }

    /// [`PikaEventBroker::start`] with a buffer of `capacity` messages.
    pub fn with_capacity(config: PikaConfig, capacity: usize) -> Result<Self, StoreError> {
        let (outbox, task) = Outbox::start(BROKER, capacity, PikaSink { config, open: None })?;
        Ok(Self { outbox, task })
    }
}

buffered_event_broker!(PikaEventBroker, BROKER);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirms_single_and_multiple_count_from_the_batch_start() {
        let mut c = Confirmed::new(5);
        c.ack(6, false);
        assert_eq!(c.count(), 0);
        c.ack(5, false);
        assert_eq!(c.count(), 2);
        c.ack(9, true);
        assert_eq!(c.count(), 5);
        c.ack(3, true);
        assert_eq!(c.count(), 5);
    }
}
