//! `FileEventBroker`: one JSON line per event, appended to a file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusa_core::actions::BoxFuture;
use rusa_core::stores::StoreError;
use tokio::task::JoinHandle;

use crate::outbox::{BROKER_BUFFER_CAPACITY, Outbox, Sink, SinkError, buffered_event_broker};

const BROKER: &str = "FileEventBroker";

/// Rasa's default file, in the working directory.
pub const DEFAULT_EVENT_LOG: &str = "rasa_event.log";

/// Appends each event as one JSON line (with `sender_id`) to a file.
pub struct FileEventBroker {
    outbox: Arc<Outbox>,
    task: JoinHandle<()>,
    path: PathBuf,
}

struct FileSink {
    file: Arc<Mutex<File>>,
}

impl Sink for FileSink {
    fn send<'a>(
        &'a mut self,
        batch: &'a [serde_json::Value],
    ) -> BoxFuture<'a, Result<(), SinkError>> {
        let mut text = String::new();
        for message in batch {
            text.push_str(&message.to_string());
            text.push('\n');
        }
        let file = Arc::clone(&self.file);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
                file.write_all(text.as_bytes())?;
                file.flush()
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
            .map_err(|message| SinkError { sent: 0, message })
        })
    }
}

impl FileEventBroker {
    /// Opens `path` for appending (created if missing).
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| StoreError::Backend {
                store: BROKER,
                message: format!("cannot open '{}': {e}", path.display()),
            })?;
        let (outbox, task) = Outbox::start(
            BROKER,
            BROKER_BUFFER_CAPACITY,
            FileSink {
                file: Arc::new(Mutex::new(file)),
            },
        )?;
        Ok(Self {
            outbox,
            task,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

buffered_event_broker!(FileEventBroker, BROKER);
