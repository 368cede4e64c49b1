//! `rusa export`: publishes the events of the conversations kept in the tracker store of
//! endpoints.yml to the event broker configured there, as `rasa export` does — to fill an
//! analytics pipeline or another deployment with past conversations.
//!
//! Semantics follow Rasa: `--minimum-timestamp` is inclusive and `--maximum-timestamp`
//! exclusive; requested conversations the store does not have are named in a warning, and
//! the export fails only when none of them is there; having nothing to export is an error.
//! Each message is the event's JSON with `sender_id`, as a running server publishes it; on
//! RabbitMQ it also carries the header `rasa-export-process-id`, one random id per export.
//!
//! Conversations go out one after the other, each one's events in stored order (Rasa 3.6
//! sorted all events of all conversations by timestamp first, which needs every event in
//! memory at once). The broker's buffer is never allowed to overflow: after a backlog of
//! [`EXPORT_BACKLOG`] undelivered events the export waits for the broker to take them. At
//! the end it waits for every event to be delivered and fails, saying how many, when some
//! were not.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rusa_core::Event;
use rusa_core::stores::{EventBroker, TrackerStore, broker_message};

use crate::cli::{ExportArgs, LogArgs};
use crate::error::{Outcome, UserError};

/// How many published events may wait for the broker before the export waits for them to
/// be delivered; far below the broker's buffer (`rusa_stores::BROKER_BUFFER_CAPACITY`), so
/// an export never makes the broker drop events.
pub const EXPORT_BACKLOG: usize = 2_048;

const _: () = assert!(EXPORT_BACKLOG < rusa_stores::BROKER_BUFFER_CAPACITY);

/// The message header that names the export a RabbitMQ message came from (a random id per
/// run), so that consumers can tell exported events from live ones.
pub const EXPORT_ID_HEADER: &str = "rasa-export-process-id";

pub fn run(args: ExportArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let range = TimeRange::new(args.minimum_timestamp, args.maximum_timestamp)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e).context("cannot start the async runtime"))?;
    runtime.block_on(export(args, range, log))
}

/// The time window of `--minimum-timestamp` (inclusive) and `--maximum-timestamp`
/// (exclusive), in seconds since the UNIX epoch.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeRange {
    minimum: Option<f64>,
    maximum: Option<f64>,
}

impl TimeRange {
    fn new(minimum: Option<f64>, maximum: Option<f64>) -> Result<Self, UserError> {
        for (flag, value) in [
            ("--minimum-timestamp", minimum),
            ("--maximum-timestamp", maximum),
        ] {
            if value.is_some_and(f64::is_nan) {
                return Err(UserError::new(format!(
                    "{flag} must be a number of seconds since 1970-01-01, not NaN"
                )));
            }
        }
        if let (Some(min), Some(max)) = (minimum, maximum)
            && max < min
        {
            return Err(UserError::new(format!(
                "the maximum timestamp {max} is smaller than the minimum timestamp {min}"
            ))
            .with_hint(
                "--minimum-timestamp is the start of the time range (inclusive), --maximum-timestamp its end (exclusive)",
            ));
        }
        Ok(Self { minimum, maximum })
    }

    fn contains(&self, timestamp: f64) -> bool {
        self.minimum.is_none_or(|min| timestamp >= min)
            && self.maximum.is_none_or(|max| timestamp < max)
    }

    fn is_unbounded(&self) -> bool {
        self.minimum.is_none() && self.maximum.is_none()
    }
}

/// The conversations to export: the requested ones the store has (in the order asked, each
/// once), or all of them (sorted) when none were requested; and the requested ones it lacks.
#[derive(Debug, PartialEq)]
struct Selection {
    ids: Vec<String>,
    missing: Vec<String>,
}

fn select(mut stored: Vec<String>, requested: &[String]) -> Selection {
    let requested: Vec<&String> = {
        let mut seen = HashSet::new();
        requested
            .iter()
            .filter(|id| !id.is_empty() && seen.insert(id.as_str()))
            .collect()
    };
    if requested.is_empty() {
        stored.sort();
        stored.dedup();
        return Selection {
            ids: stored,
            missing: Vec::new(),
        };
    }
    let stored: HashSet<String> = stored.into_iter().collect();
    let (ids, missing): (Vec<&String>, Vec<&String>) =
        requested.into_iter().partition(|id| stored.contains(*id));
    Selection {
        ids: ids.into_iter().cloned().collect(),
        missing: missing.into_iter().cloned().collect(),
    }
}

/// What was published, and why publishing stopped early if it did.
struct Tally {
    events: u64,
    /// Conversations at least one event of which was published.
    conversations: usize,
    /// Conversations done (exported, or without events in the range).
    visited: usize,
    stop: Option<Stop>,
}

enum Stop {
    /// The broker did not take the backlog within the time limit.
    BrokerStalled,
    /// A conversation could not be read.
    Read(rusa_core::stores::StoreError),
}

async fn export(args: ExportArgs, range: TimeRange, log: LogArgs) -> anyhow::Result<Outcome> {
    let path = args.endpoints.as_path();
    let (store, broker_config) = open_tracker_store(path).await?;
    let stored = store.keys().await.map_err(|e| {
        UserError::new(format!(
            "cannot list the conversations of the tracker store: {e}"
        ))
    })?;
    if stored.is_empty() {
        return Err(UserError::new(format!(
            "the tracker store ({}) holds no conversations: there is nothing to export",
            store.class_name()
        ))
        .with_hint(format!(
            "check that `tracker_store` in '{}' points at the store the assistant writes its conversations to",
            path.display()
        ))
        .into());
    }
    let selection = select(stored, &args.conversation_ids);
    if !selection.missing.is_empty() {
        eprintln!(
            "warning: {} of the requested conversations {} not in the tracker store: {}",
            selection.missing.len(),
            if selection.missing.len() == 1 {
                "is"
            } else {
                "are"
            },
            selection.missing.join(", ")
        );
    }
    if selection.ids.is_empty() {
        return Err(UserError::new(
            "none of the requested conversations is in the tracker store: there is nothing to export",
        )
        .with_hint("without --conversation-ids every conversation of the tracker store is exported")
        .into());
    }
    // Opened only now, so that nothing is written or connected when there is nothing to do.
    // On RabbitMQ every message of this export carries its id, as Rasa's exports do.
    let export_id = uuid::Uuid::new_v4().simple().to_string();
    let headers = vec![(EXPORT_ID_HEADER.to_owned(), export_id)];
    let broker = rusa_stores::event_broker_with_headers(Some(&broker_config), headers)
        .await
        .map_err(|e| UserError::new(e.to_string()))?
        .ok_or_else(|| no_event_broker(path))?;
    tracing::info!(
        tracker_store = store.class_name(),
        event_broker = broker.class_name(),
        conversations = selection.ids.len(),
        "exporting"
    );

    let timeout = Duration::from_secs(args.broker_timeout);
    let progress = progress_bar(selection.ids.len(), log);
    let tally = publish(
        store.as_ref(),
        broker.as_ref(),
        &selection.ids,
        range,
        timeout,
        &progress,
    )
    .await;
    progress.finish_and_clear();
    if !matches!(tally.stop, Some(Stop::BrokerStalled)) {
        broker.flush(timeout).await;
    }
    let undelivered = broker.pending() as u64 + broker.dropped();
    let stopped_early = match &tally.stop {
        Some(_) => format!(
            "; the export stopped after {} of {} conversations",
            tally.visited,
            selection.ids.len()
        ),
        None => String::new(),
    };
    if undelivered > 0 {
        return Err(UserError::new(format!(
            "{undelivered} of the {} events published to the event broker ({}) were not delivered within {} s{stopped_early}",
            tally.events,
            broker.class_name(),
            args.broker_timeout
        ))
        .with_hint(
            "check that the event broker is reachable (the warnings above say why sending failed) and run the export again; events delivered before are then published again",
        )
        .into());
    }
    if let Some(Stop::Read(e)) = tally.stop {
        return Err(UserError::new(format!(
            "cannot read a conversation from the tracker store: {e}{stopped_early} ({} delivered before)",
            count(tally.events, "event")
        ))
        .into());
    }
    if tally.events == 0 {
        let error = if range.is_unbounded() {
            UserError::new("the selected conversations have no events: there is nothing to export")
        } else {
            UserError::new(
                "no event of the selected conversations is within the requested time range: there is nothing to export",
            )
            .with_hint(
                "--minimum-timestamp includes events at that time, --maximum-timestamp excludes them",
            )
        };
        return Err(error.into());
    }
    crate::usage::tracker_exported(tally.events, store.class_name(), broker.class_name());
    tracing::info!(
        events = tally.events,
        conversations = tally.conversations,
        "export finished"
    );
    if !log.quiet {
        crate::output::print(&format!(
            "Exported {} from {} to {}.\n",
            count(tally.events, "event"),
            count(tally.conversations as u64, "conversation"),
            broker.class_name()
        ))?;
    }
    Ok(Outcome::Success)
}

/// Reads endpoints.yml, opens its tracker store and returns it with the event broker's
/// entry; refuses a file without either, and a tracker store that cannot hold anything.
async fn open_tracker_store(
    path: &Path,
) -> anyhow::Result<(Arc<dyn TrackerStore>, rusa_project::EndpointConfig)> {
    let mut warnings = Vec::new();
    let endpoints = rusa_project::load_endpoints(path, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    let Some(endpoints) = endpoints else {
        return Err(UserError::new(format!(
            "the endpoints file '{}' does not exist; export reads the tracker store and the event broker from it",
            path.display()
        ))
        .with_hint("pass the endpoints file of the assistant with --endpoints")
        .into());
    };
    let Some(tracker_config) = endpoints.tracker_store.as_ref() else {
        return Err(UserError::new(format!(
            "'{}' has no `tracker_store` entry, so conversations are kept only in memory while the server runs: there is nothing to export",
            path.display()
        ))
        .with_hint(
            "add the `tracker_store` the assistant keeps its conversations in (type sql or redis) to the endpoints file",
        )
        .into());
    };
    if tracker_config
        .kind
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("in_memory"))
    {
        return Err(UserError::new(format!(
            "{}: the tracker store is `in_memory`, which a new process starts empty: there is nothing to export",
            tracker_config.pos_of("type")
        ))
        .with_hint("export from the sql or redis tracker store the assistant keeps its conversations in")
        .into());
    }
    let Some(broker_config) = endpoints.event_broker.clone() else {
        return Err(no_event_broker(path));
    };
    let store = rusa_stores::tracker_store_from_endpoint(Some(tracker_config))
        .await
        .map_err(|e| UserError::new(e.to_string()))?;
    Ok((store, broker_config))
}

fn no_event_broker(path: &Path) -> anyhow::Error {
    UserError::new(format!(
        "'{}' has no `event_broker` entry: there is nowhere to publish the events",
        path.display()
    ))
    .with_hint(
        "add an `event_broker` (type pika for RabbitMQ, sql or file) to the endpoints file, as for `rusa run`",
    )
    .into()
}

/// Publishes the events of `ids` within `range`, waiting for the broker whenever the
/// backlog reaches [`EXPORT_BACKLOG`].
async fn publish(
    store: &dyn TrackerStore,
    broker: &dyn EventBroker,
    ids: &[String],
    range: TimeRange,
    timeout: Duration,
    progress: &indicatif::ProgressBar,
) -> Tally {
    let mut tally = Tally {
        events: 0,
        conversations: 0,
        visited: 0,
        stop: None,
    };
    for id in ids {
        let events: Vec<Event> = match store.retrieve(id).await {
            Ok(events) => events.unwrap_or_default(),
            Err(e) => {
                tally.stop = Some(Stop::Read(e));
                return tally;
            }
        };
        let mut exported_any = false;
        for event in events.iter().filter(|e| range.contains(e.timestamp)) {
            broker.publish(broker_message(id, event));
            tally.events += 1;
            exported_any = true;
            if broker.pending() >= EXPORT_BACKLOG {
                broker.flush(timeout).await;
                if broker.pending() > 0 {
                    tally.stop = Some(Stop::BrokerStalled);
                    return tally;
                }
            }
        }
        if exported_any {
            tally.conversations += 1;
        } else {
            tracing::debug!("a conversation has no events in the time range");
        }
        tally.visited += 1;
        progress.inc(1);
    }
    tally
}

/// A progress bar over the conversations on stderr: only on a terminal, never with
/// `--quiet`, so no control characters reach a pipe or a log file.
fn progress_bar(conversations: usize, log: LogArgs) -> indicatif::ProgressBar {
    let target = if !log.quiet && std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(conversations as u64), target);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("exporting {bar:30} {pos}/{len} conversations")
    {
        bar.set_style(style);
    }
    bar
}

/// `1 event`, `2 events`.
fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_minimum_is_inclusive_and_the_maximum_exclusive() {
        let range = TimeRange::new(Some(10.0), Some(20.0)).unwrap();
        assert!(!range.contains(9.999));
        assert!(range.contains(10.0));
        assert!(range.contains(19.999));
        assert!(!range.contains(20.0));
        let open = TimeRange::new(None, None).unwrap();
        assert!(open.contains(0.0) && open.contains(f64::MAX) && open.is_unbounded());
        assert!(TimeRange::new(Some(5.0), None).unwrap().contains(1e12));
        // An empty range is allowed (as in Rasa); it selects nothing.
        let empty = TimeRange::new(Some(5.0), Some(5.0)).unwrap();
        assert!(!empty.contains(5.0));
    }

    #[test]
    fn a_maximum_below_the_minimum_or_nan_is_refused() {
        let err = TimeRange::new(Some(20.0), Some(10.0)).unwrap_err();
        assert!(
            err.to_string().contains("smaller than the minimum"),
            "{err}"
        );
        assert!(TimeRange::new(Some(f64::NAN), None).is_err());
        assert!(TimeRange::new(None, Some(f64::NAN)).is_err());
    }

    #[test]
    fn without_requested_ids_every_stored_conversation_is_selected_sorted() {
        let s = select(ids(&["b", "a", "c"]), &[]);
        assert_eq!(s.ids, ids(&["a", "b", "c"]));
        assert!(s.missing.is_empty());
        // `--conversation-ids ""` requests nothing, as in Rasa.
        assert_eq!(select(ids(&["b", "a"]), &ids(&[""])).ids, ids(&["a", "b"]));
    }

    #[test]
    fn requested_ids_keep_their_order_once_and_missing_ones_are_named() {
        let s = select(ids(&["a", "b", "c"]), &ids(&["c", "x", "a", "c", "y"]));
        assert_eq!(s.ids, ids(&["c", "a"]));
        assert_eq!(s.missing, ids(&["x", "y"]));
        let none = select(ids(&["a"]), &ids(&["x"]));
        assert!(none.ids.is_empty());
        assert_eq!(none.missing, ids(&["x"]));
    }

    #[test]
    fn counts_are_pluralised() {
        assert_eq!(count(1, "event"), "1 event");
        assert_eq!(count(0, "event"), "0 events");
        assert_eq!(count(3, "conversation"), "3 conversations");
    }
}
