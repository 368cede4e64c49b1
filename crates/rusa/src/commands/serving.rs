//! What `rusa run` and `rusa shell` share: the message processor on the tracker store, lock
//! store, event broker and action server of the endpoints file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rusa_core::actions::{CustomActionExecutor, NoActionServer};
use rusa_core::agent::Agent;
use rusa_server::MessageProcessor;

use crate::error::UserError;

/// How long stopping waits for the event broker to send what it buffered.
pub const BROKER_FLUSH_BUDGET: Duration = Duration::from_secs(2);

/// The processor of `endpoints`: its stores and broker (in memory, and none, when not
/// configured) and its action server, called with `action_timeout`.
pub async fn processor(
    endpoints: &rusa_project::Endpoints,
    agent: Option<(Arc<Agent>, PathBuf)>,
    action_timeout: Duration,
) -> anyhow::Result<MessageProcessor> {
    let store = |e: rusa_stores::StoresError| UserError::new(error_chain(&e));
    let tracker_store = rusa_stores::tracker_store_from_endpoint(endpoints.tracker_store.as_ref())
        .await
        .map_err(store)?;
    let lock_store = rusa_stores::lock_store_from_endpoint(endpoints.lock_store.as_ref())
        .await
        .map_err(store)?;
    let broker = rusa_stores::event_broker_from_endpoint(endpoints.event_broker.as_ref())
        .await
        .map_err(store)?;
    let actions: Arc<dyn CustomActionExecutor> = match &endpoints.action_endpoint {
        Some(endpoint) => Arc::new(
            rusa_actions::HttpActionExecutor::new(endpoint, action_timeout)
                .map_err(|e| UserError::new(format!("{}: action_endpoint: {e}", endpoint.pos)))?,
        ),
        // Custom actions then fail with a message saying no action endpoint is configured.
        None => Arc::new(NoActionServer),
    };
    Ok(MessageProcessor::new(
        agent,
        tracker_store,
        lock_store,
        broker,
        actions,
    ))
}

/// An error and its causes, as one line ("cannot set up the tracker_store: connection
/// refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
