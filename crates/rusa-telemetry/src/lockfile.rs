//! Advisory file locks with a bounded wait.
//!
//! global.yml and the state directory are guarded by lock files next to them. Waiting for
//! such a lock is bounded ([`crate::env::LOCK_WAIT`]): a process that holds one for long (stopped
//! in a debugger, hung on a network home directory) must not block every other command.
//! A caller that cannot get the lock in time treats it as "cannot write this file now"
//! (telemetry off for the run, or the spool not written), never as a reason to wait on.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

use crate::error::{Result, TelemetryError};

/// How long to sleep between two tries; short against [`crate::env::LOCK_WAIT`].
const RETRY_INTERVAL: Duration = Duration::from_millis(10);

/// An exclusive lock on a lock file, held while alive.
#[derive(Debug)]
pub(crate) struct LockFile(File);

impl LockFile {
    /// Creates `path` (mode 0600) when missing and takes its exclusive lock, trying for at
    /// most `wait`.
    pub(crate) fn acquire(path: &Path, wait: Duration) -> Result<Self> {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(|e| TelemetryError::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| TelemetryError::io(path, e))?;
        let deadline = Instant::now() + wait;
        loop {
            if file
                .try_lock_exclusive()
                .map_err(|e| TelemetryError::io(path, e))?
            {
                return Ok(Self(file));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(TelemetryError::LockTimeout {
                    path: path.to_owned(),
                    waited: wait,
                });
            }
            std::thread::sleep(RETRY_INTERVAL.min(deadline - now));
        }
    }
}

impl Drop for LockFile {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_times_out_and_is_free_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = LockFile::acquire(&path, Duration::ZERO).unwrap();
        let err = LockFile::acquire(&path, Duration::from_millis(30)).unwrap_err();
        assert!(matches!(err, TelemetryError::LockTimeout { .. }), "{err:?}");
        drop(held);
        LockFile::acquire(&path, Duration::ZERO).unwrap();
    }
}
