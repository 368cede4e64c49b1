//! Local state under `$XDG_STATE_HOME/rusa/telemetry/`: the spool of unsent events, the log
//! of sent events and the persisted back-off. Every write is atomic (temp file + rename) and
//! every read-modify-write holds `state.lock`, so concurrent processes never lose or tear a file.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::TelemetryConfig;
use crate::consent::write_atomically;
use crate::env;
use crate::error::{Result, TelemetryError};
use crate::lockfile::LockFile;

/// Holds `state.lock` while alive (waiting for it at most [`env::LOCK_WAIT`]).
pub(crate) struct StateLock {
    _held: LockFile,
}

impl StateLock {
    pub(crate) fn acquire(state_dir: &Path) -> Result<Self> {
        let _held = LockFile::acquire(&state_dir.join("state.lock"), env::LOCK_WAIT)?;
        Ok(Self { _held })
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn unix_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// Spool files: `<unix millis>-<sequence>-<uuid>.json`, each a JSON array of messages.
fn spool_files(dir: &Path) -> Vec<(u128, PathBuf, u64)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u128, PathBuf, u64)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_name()?.to_str()?.to_owned();
            if !name.ends_with(".json") || name.starts_with('.') {
                return None;
            }
            let millis = name.split('-').next()?.parse::<u128>().ok()?;
            let size = e.metadata().ok()?.len();
            Some((millis, path, size))
        })
        .collect();
    files.sort();
    files
}

/// Deletes expired files, then the oldest until the spool fits its size bound.
fn enforce_spool_bounds(dir: &Path) {
    let now = unix_millis();
    let max_age = env::SPOOL_MAX_AGE.as_millis();
    let mut files = spool_files(dir);
    files.retain(|(millis, path, _)| {
        let expired = now.saturating_sub(*millis) > max_age;
        if expired {
            let _ = fs::remove_file(path);
        }
        !expired
    });
    let mut total: u64 = files.iter().map(|f| f.2).sum();
    for (_, path, size) in &files {
        if total <= env::SPOOL_MAX_BYTES {
            break;
        }
        let _ = fs::remove_file(path);
        total = total.saturating_sub(*size);
    }
}

/// Writes messages to the spool for a later run.
pub fn spool(config: &TelemetryConfig, messages: &[Value]) -> Result<()> {
    if messages.is_empty() {
        return Ok(());
    }
    let (Some(state_dir), Some(dir)) = (&config.state_dir, config.spool_dir()) else {
        return Err(TelemetryError::NoConfigDir);
    };
    let _lock = StateLock::acquire(state_dir)?;
    fs::create_dir_all(&dir).map_err(|e| TelemetryError::io(&dir, e))?;
    // Millis, then a per-process sequence number, so files sort in the order they were written.
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(
        "{}-{seq:010}-{}.json",
        unix_millis(),
        uuid::Uuid::new_v4().simple()
    ));
    let bytes = serde_json::to_vec(messages).expect("JSON values serialize");
    write_atomically(&path, &bytes)?;
    enforce_spool_bounds(&dir);
    Ok(())
}

/// Spooled messages taken for sending, and the files they came from.
#[derive(Debug, Default)]
pub struct ClaimedSpool {
    pub messages: Vec<Value>,
    pub files: Vec<PathBuf>,
}

/// Reads every spooled message for sending (expired ones are deleted first). The files stay
/// until [`release_spool`] deletes them — after their messages were delivered or written to
/// a new spool file — so a crash in between loses nothing (a message may then be sent
/// twice; its `messageId` lets the receiver drop the duplicate).
pub fn claim_spool(config: &TelemetryConfig) -> Result<ClaimedSpool> {
    let (Some(state_dir), Some(dir)) = (&config.state_dir, config.spool_dir()) else {
        return Ok(ClaimedSpool::default());
    };
    if !dir.exists() {
        return Ok(ClaimedSpool::default());
    }
    let _lock = StateLock::acquire(state_dir)?;
    enforce_spool_bounds(&dir);
    let mut claimed = ClaimedSpool::default();
    for (_, path, _) in spool_files(&dir) {
        claimed.messages.extend(read_array(&path));
        claimed.files.push(path);
    }
    Ok(claimed)
}

/// Deletes claimed spool files whose messages are delivered or spooled again.
pub fn release_spool(config: &TelemetryConfig, files: &[PathBuf]) {
    if files.is_empty() {
        return;
    }
    let Some(state_dir) = &config.state_dir else {
        return;
    };
    let Ok(_lock) = StateLock::acquire(state_dir) else {
        return;
    };
    for path in files {
        let _ = fs::remove_file(path);
    }
}

/// The messages waiting in the spool, oldest first, without removing them.
pub fn pending(config: &TelemetryConfig) -> Vec<Value> {
    let Some(dir) = config.spool_dir() else {
        return Vec::new();
    };
    spool_files(&dir)
        .iter()
        .flat_map(|(_, path, _)| read_array(path))
        .collect()
}

fn read_array(path: &Path) -> Vec<Value> {
    match fs::read(path).map(|b| serde_json::from_slice::<Vec<Value>>(&b)) {
        Ok(Ok(messages)) => messages,
        _ => {
            tracing::debug!(path = %path.display(), "ignoring unreadable telemetry spool file");
            Vec::new()
        }
    }
}

/// Deletes the spool.
pub fn clear_spool(config: &TelemetryConfig) -> Result<()> {
    let (Some(state_dir), Some(dir)) = (&config.state_dir, config.spool_dir()) else {
        return Ok(());
    };
    if !dir.exists() {
        return Ok(());
    }
    let _lock = StateLock::acquire(state_dir)?;
    for (_, path, _) in spool_files(&dir) {
        fs::remove_file(&path).map_err(|e| TelemetryError::io(&path, e))?;
    }
    Ok(())
}

/// Appends delivered messages to the sent log, keeping it under its size bound (the
/// newest half is kept when it grows past it).
pub fn append_sent(config: &TelemetryConfig, messages: &[Value]) -> Result<()> {
    let (Some(state_dir), Some(path)) = (&config.state_dir, config.sent_log()) else {
        return Ok(());
    };
    let _lock = StateLock::acquire(state_dir)?;
    let mut lines = String::new();
    for m in messages {
        lines.push_str(&serde_json::to_string(m).expect("JSON values serialize"));
        lines.push('\n');
    }
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| TelemetryError::io(&path, e))?;
    file.write_all(lines.as_bytes())
        .map_err(|e| TelemetryError::io(&path, e))?;
    drop(file);
    let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    if len > env::SENT_LOG_MAX_BYTES {
        let text = fs::read_to_string(&path).map_err(|e| TelemetryError::io(&path, e))?;
        let keep_from = text
            .len()
            .saturating_sub((env::SENT_LOG_MAX_BYTES / 2) as usize);
        let start = text[keep_from..]
            .find('\n')
            .map_or(text.len(), |i| keep_from + i + 1);
        write_atomically(&path, &text.as_bytes()[start..])?;
    }
    Ok(())
}

/// The sent log, oldest first.
pub fn sent(config: &TelemetryConfig) -> Vec<Value> {
    let Some(path) = config.sent_log() else {
        return Vec::new();
    };
    let Ok(text) = fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Deletes the sent log.
pub fn clear_sent(config: &TelemetryConfig) -> Result<()> {
    let Some(path) = config.sent_log() else {
        return Ok(());
    };
    match fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(TelemetryError::io(&path, e)),
        _ => Ok(()),
    }
}

/// Persisted delivery back-off (§6).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    /// Failed deliveries in a row.
    pub consecutive_failures: u32,
    /// Seconds since the epoch before which no delivery is attempted.
    pub next_attempt_unix: u64,
    /// The current delay (doubles on each failure past the threshold, up to 24 h).
    pub delay_secs: u64,
}

impl Backoff {
    /// Whether delivery is paused now.
    pub fn active(&self) -> bool {
        self.next_attempt_unix > unix_now()
    }
}

/// Reads the back-off state (default: none).
pub fn load_backoff(config: &TelemetryConfig) -> Backoff {
    config
        .backoff_file()
        .and_then(|p| fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Records a failed delivery; from the third in a row on, pauses delivery for a delay that
/// starts at 15 minutes and doubles up to 24 hours.
pub fn record_failure(config: &TelemetryConfig) -> Result<Backoff> {
    let (Some(state_dir), Some(path)) = (&config.state_dir, config.backoff_file()) else {
        return Ok(Backoff::default());
    };
    let _lock = StateLock::acquire(state_dir)?;
    let mut state = load_backoff(config);
    state.consecutive_failures = state.consecutive_failures.saturating_add(1);
    if state.consecutive_failures >= env::BACKOFF_AFTER_FAILURES {
        let delay = if state.delay_secs == 0 {
            env::BACKOFF_INITIAL
        } else {
            Duration::from_secs(state.delay_secs.saturating_mul(2)).min(env::BACKOFF_MAX)
        };
        state.delay_secs = delay.as_secs();
        state.next_attempt_unix = unix_now() + delay.as_secs();
    }
    write_atomically(&path, &serde_json::to_vec(&state).expect("serializable"))?;
    Ok(state)
}

/// Records a successful delivery: the back-off is cleared.
pub fn record_success(config: &TelemetryConfig) {
    if let Some(path) = config.backoff_file() {
        let _ = fs::remove_file(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(dir: &Path) -> TelemetryConfig {
        let mut c = TelemetryConfig::from_lookup(|_| None);
        c.state_dir = Some(dir.join("state"));
        c
    }

    #[test]
    fn spool_round_trip_claim_and_release() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        spool(&c, &[json!({"a": 1})]).unwrap();
        spool(&c, &[json!({"b": 2})]).unwrap();
        assert_eq!(pending(&c), vec![json!({"a": 1}), json!({"b": 2})]);
        let claimed = claim_spool(&c).unwrap();
        assert_eq!(claimed.messages.len(), 2);
        // Until released (after delivery), the messages survive a crash.
        assert_eq!(pending(&c).len(), 2);
        release_spool(&c, &claimed.files);
        assert!(pending(&c).is_empty());
    }

    #[test]
    fn spool_is_bounded_in_size() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let big = json!({"x": "y".repeat(300 * 1024)});
        for _ in 0..5 {
            spool(&c, std::slice::from_ref(&big)).unwrap();
        }
        let total: u64 = spool_files(&c.spool_dir().unwrap())
            .iter()
            .map(|f| f.2)
            .sum();
        assert!(total <= env::SPOOL_MAX_BYTES, "{total}");
        assert_eq!(pending(&c).len(), 3);
    }

    #[test]
    fn expired_spool_files_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let spool_dir = c.spool_dir().unwrap();
        fs::create_dir_all(&spool_dir).unwrap();
        let old = unix_millis() - env::SPOOL_MAX_AGE.as_millis() - 1000;
        fs::write(spool_dir.join(format!("{old}-x.json")), "[{\"old\":true}]").unwrap();
        spool(&c, &[json!({"new": true})]).unwrap();
        assert_eq!(pending(&c), vec![json!({"new": true})]);
    }

    #[test]
    fn sent_log_stays_under_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        let msg = json!({"x": "y".repeat(100 * 1024)});
        for _ in 0..15 {
            append_sent(&c, std::slice::from_ref(&msg)).unwrap();
        }
        let len = fs::metadata(c.sent_log().unwrap()).unwrap().len();
        assert!(len <= env::SENT_LOG_MAX_BYTES, "{len}");
        assert!(!sent(&c).is_empty());
    }

    #[test]
    fn backoff_starts_after_three_failures_and_doubles_to_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let c = config(dir.path());
        assert!(!record_failure(&c).unwrap().active());
        assert!(!record_failure(&c).unwrap().active());
        let third = record_failure(&c).unwrap();
        assert!(third.active());
        assert_eq!(third.delay_secs, env::BACKOFF_INITIAL.as_secs());
        assert_eq!(
            record_failure(&c).unwrap().delay_secs,
            2 * env::BACKOFF_INITIAL.as_secs()
        );
        for _ in 0..20 {
            record_failure(&c).unwrap();
        }
        assert_eq!(load_backoff(&c).delay_secs, env::BACKOFF_MAX.as_secs());
        record_success(&c);
        assert_eq!(load_backoff(&c), Backoff::default());
    }
}
