//! Reminders, as Rasa's scheduler runs them: a custom action's `reminder` event schedules
//! its intent for `date_time`; when the time comes, the intent is handled as an external
//! event of that conversation (`EXTERNAL: <intent>`), unless the conversation was restarted
//! since, or (with `kill_on_user_msg`, the default) the user wrote after the reminder was
//! set. A `cancel_reminder` event cancels the conversation's reminders whose name, intent
//! and entities match those it gives (all of them when it gives none). The replies go to
//! the channel of the message whose turn set the reminder when that channel sends replies
//! itself (the callback channel); otherwise they are only stored, as Rasa's collecting
//! channels drop them.
//!
//! As in Rasa, reminders live in the server's memory: a restart forgets those not yet due.
//! Unlike Rasa, whose job ids are global, a reminder's name is unique per conversation: two
//! conversations may each have a reminder `r1`.

use std::collections::HashMap;
use std::sync::Mutex;

use rusa_core::processor::ExternalIntent;
use rusa_core::{DialogueStateTracker, Event, EventKind};
use serde_json::Value;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// A reminder that is due: what the message processor hands to whoever runs reminders.
#[derive(Debug, Clone, PartialEq)]
pub struct DueReminder {
    pub sender_id: String,
    /// The input channel of the turn that set it: where its replies should go.
    pub channel: String,
    pub reminder: Reminder,
}

/// The reminder of a `reminder` event.
#[derive(Debug, Clone, PartialEq)]
pub struct Reminder {
    pub intent: String,
    pub entities: Option<Value>,
    pub date_time: String,
    pub name: Option<String>,
    pub kill_on_user_msg: bool,
}

impl Reminder {
    fn of(event: &Event) -> Option<Self> {
        match &event.kind {
            EventKind::ReminderScheduled {
                intent,
                entities,
                date_time,
                name,
                kill_on_user_msg,
            } => Some(Self {
                intent: intent.clone(),
                entities: entities.clone(),
                date_time: date_time.clone(),
                name: name.clone(),
                kill_on_user_msg: *kill_on_user_msg,
            }),
            _ => None,
        }
    }

    /// Whether `event` is the event that set this reminder.
    fn is_set_by(&self, event: &Event) -> bool {
        Self::of(event).is_some_and(|other| {
            other.name == self.name
                && other.intent == self.intent
                && other.date_time == self.date_time
        })
    }

    /// Whether the reminder should still fire on `tracker` (Rasa's checks when a reminder
    /// is due): its event is among the applied ones (no restart since), and, when it is
    /// killed by user messages, no user message with text came after it.
    pub fn still_wanted(&self, tracker: &DialogueStateTracker) -> bool {
        if !tracker.applied_events().iter().any(|e| self.is_set_by(e)) {
            return false;
        }
        if !self.kill_on_user_msg {
            return true;
        }
        for event in tracker.events().iter().rev() {
            if self.is_set_by(event) {
                return true;
            }
            if let EventKind::User(user) = &event.kind
                && user.text.as_deref().is_some_and(|t| !t.is_empty())
            {
                return false;
            }
        }
        true
    }

    /// The entities as a list of entity objects (Rasa's short-hand object
    /// `{"entity": "value"}` is turned into one).
    pub fn entity_list(&self) -> Vec<Value> {
        match &self.entities {
            Some(Value::Array(list)) => list.iter().filter(|e| e.is_object()).cloned().collect(),
            Some(Value::Object(map)) => ExternalIntent::shorthand_entities(map),
            _ => Vec::new(),
        }
    }
}

/// Seconds from now until `date_time` (ISO 8601, as rasa-sdk writes `datetime.isoformat()`;
/// 0 when it is past). A time without an offset is read as UTC. `None` when it is not a
/// date and time.
pub fn seconds_until(date_time: &str, now: OffsetDateTime) -> Option<f64> {
    let at = OffsetDateTime::parse(date_time, &Rfc3339)
        .ok()
        .or_else(|| {
            let naive = format_description!(
                version = 2,
                "[year]-[month]-[day][first [T] [ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
            );
            time::PrimitiveDateTime::parse(date_time, naive)
                .ok()
                .map(time::PrimitiveDateTime::assume_utc)
        })
        .or_else(|| {
            // An offset without seconds or with a space separator: try once more with 'T'.
            let fixed = date_time.replacen(' ', "T", 1);
            (fixed != date_time)
                .then(|| OffsetDateTime::parse(&fixed, &Rfc3339).ok())
                .flatten()
        })?;
    Some((at - now).as_seconds_f64().max(0.0))
}

struct Job {
    reminder: Reminder,
    abort: AbortHandle,
}

/// The scheduled reminders of a server; due ones are sent on a channel (see
/// [`crate::MessageProcessor::run_reminders`]).
pub(crate) struct Reminders {
    /// Per conversation, per reminder name (a reminder without a name gets a fresh key).
    jobs: Mutex<HashMap<(String, String), Job>>,
    due: mpsc::UnboundedSender<DueReminder>,
    pub(crate) receiver: Mutex<Option<mpsc::UnboundedReceiver<DueReminder>>>,
}

impl Reminders {
    pub(crate) fn new() -> Self {
        let (due, receiver) = mpsc::unbounded_channel();
        Self {
            jobs: Mutex::new(HashMap::new()),
            due,
            receiver: Mutex::new(Some(receiver)),
        }
    }

    /// Schedules and cancels as the `reminder` and `cancel_reminder` events among `events`
    /// (a turn's new events, in order) say.
    pub(crate) fn apply(&self, sender_id: &str, channel: &str, events: &[Event]) {
        for event in events {
            match &event.kind {
                EventKind::ReminderScheduled { .. } => {
                    if let Some(reminder) = Reminder::of(event) {
                        self.schedule(sender_id, channel, reminder);
                    }
                }
                EventKind::ReminderCancelled {
                    name,
                    intent,
                    entities,
                } => self.cancel(
                    sender_id,
                    name.as_deref(),
                    intent.as_deref(),
                    entities.as_ref(),
                ),
                _ => {}
            }
        }
    }

    fn schedule(&self, sender_id: &str, channel: &str, reminder: Reminder) {
        let Some(wait) = seconds_until(&reminder.date_time, OffsetDateTime::now_utc()) else {
            tracing::warn!(
                "a reminder's date_time is not an ISO 8601 date and time; it is not scheduled"
            );
            return;
        };
        if tokio::runtime::Handle::try_current().is_err() {
            tracing::warn!("reminders need a running server; this one is not scheduled");
            return;
        }
        let name = reminder
            .name
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        let key = (sender_id.to_owned(), name);
        let due = DueReminder {
            sender_id: sender_id.to_owned(),
            channel: channel.to_owned(),
            reminder: reminder.clone(),
        };
        let sender = self.due.clone();
        let task = tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs_f64(wait)).await;
            let _ = sender.send(due);
        });
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        // Finished jobs are dropped as new ones come.
        jobs.retain(|_, job| !job.abort.is_finished());
        if let Some(old) = jobs.insert(
            key,
            Job {
                reminder,
                abort: task.abort_handle(),
            },
        ) {
            old.abort.abort();
        }
        tracing::debug!(sender_id, seconds = wait, "scheduled a reminder");
    }

    fn cancel(
        &self,
        sender_id: &str,
        name: Option<&str>,
        intent: Option<&str>,
        entities: Option<&Value>,
    ) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.retain(|(sender, job_name), job| {
            let cancelled = sender == sender_id
                && name.is_none_or(|n| n == job_name)
                && intent.is_none_or(|i| i == job.reminder.intent)
                && entities.is_none_or(|e| Some(e) == job.reminder.entities.as_ref());
            if cancelled {
                job.abort.abort();
            }
            !cancelled
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn date_times_as_rasa_sdk_writes_them() {
        let now = datetime!(2026-12-02 08:00:00 UTC);
        for (text, seconds) in [
            ("2026-12-02T08:00:05", Some(5.0)),
            ("2026-12-02T08:00:05.250000", Some(5.25)),
            ("2026-12-02T09:00:05+01:00", Some(5.0)),
            ("2026-12-02T08:00:05Z", Some(5.0)),
            ("2026-12-02 08:01", Some(60.0)),
            ("2026-12-01T08:00:00", Some(0.0)),
            ("tomorrow", None),
            ("", None),
        ] {
            assert_eq!(seconds_until(text, now), seconds, "{text}");
        }
    }
}
