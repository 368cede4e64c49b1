//! Errors of the telemetry crate. None of them ever reaches a user's command as a failure:
//! the callers turn them into "telemetry off for this run" or into a message of
//! `rusa telemetry ...`.

use std::path::PathBuf;

/// What went wrong while reading or writing telemetry files.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` is set, so there is no place for global.yml.
    #[error("no configuration directory: neither XDG_CONFIG_HOME nor HOME is set")]
    NoConfigDir,

    /// A file or directory could not be read, created or written.
    #[error("cannot access {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// global.yml exists but is not the documented shape.
    #[error("cannot parse {path}: {reason}")]
    CorruptConfig { path: PathBuf, reason: String },

    /// A lock file stayed locked by another process for longer than the bounded wait.
    #[error("{path} is held by another process (waited {waited:?})")]
    LockTimeout {
        path: PathBuf,
        waited: std::time::Duration,
    },

    /// global.yml exists but is not a regular file (a FIFO, a device, a directory): it is
    /// not read, since reading it could block or never end.
    #[error("{path} is not a regular file")]
    NotRegularFile { path: PathBuf },

    /// A spooled or logged event file is not valid JSON.
    #[error("cannot parse {path}")]
    CorruptState {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl TelemetryError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = TelemetryError> = std::result::Result<T, E>;
