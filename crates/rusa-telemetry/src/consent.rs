//! Consent (§2): global.yml, the decision table, the first run and its notice.
//!
//! The decision is made once per process by [`resolve`]; everything else reads the result.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::{TelemetryConfig, is_true};
use crate::env;
use crate::error::{Result, TelemetryError};
use crate::lockfile::LockFile;

/// The rule of the decision table that decided consent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// Rule 1: `DO_NOT_TRACK` is `1` or `true`.
    DoNotTrack { value: String },
    /// Rule 2: `RUSA_TELEMETRY_ENABLED` is set.
    RusaTelemetryEnabled { value: String },
    /// Rule 3: `RASA_TELEMETRY_ENABLED` is set to something other than `true`.
    RasaTelemetryEnabled { value: String },
    /// Rule 4: `metrics.enabled` in global.yml.
    ConfigFile { path: PathBuf },
    /// Rule 3b: Rasa's own global.yml says `metrics.enabled: false` (`rasa telemetry
    /// disable`); it outweighs rusa's file, only the environment overrides it.
    RasaConfigFile { path: PathBuf },
    /// Rule 5: no global.yml yet; this run wrote it and showed the notice.
    FirstRun { path: PathBuf },
    /// global.yml exists but cannot be parsed: off for this run, file left alone.
    CorruptConfig { path: PathBuf, reason: String },
    /// global.yml cannot be read or written: off for this run.
    Unwritable {
        path: Option<PathBuf>,
        reason: String,
    },
    /// Rule 5 without writing: no global.yml, and the caller asked not to create one.
    NoConfigYet { path: Option<PathBuf> },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::DoNotTrack { value } => {
                write!(f, "environment variable {}={value}", env::DO_NOT_TRACK)
            }
            Rule::RusaTelemetryEnabled { value } => {
                write!(
                    f,
                    "environment variable {}={value}",
                    env::RUSA_TELEMETRY_ENABLED
                )
            }
            Rule::RasaTelemetryEnabled { value } => {
                write!(
                    f,
                    "environment variable {}={value}",
                    env::RASA_TELEMETRY_ENABLED
                )
            }
            Rule::ConfigFile { path } => write!(f, "metrics.enabled in {}", path.display()),
            Rule::RasaConfigFile { path } => write!(
                f,
                "Rasa's telemetry is disabled in {} (`rasa telemetry disable`)",
                path.display()
            ),
            Rule::FirstRun { path } => write!(f, "first run: {} was just created", path.display()),
            Rule::CorruptConfig { path, reason } => {
                write!(f, "{} cannot be parsed ({reason})", path.display())
            }
            Rule::Unwritable {
                path: Some(path),
                reason,
            } => {
                write!(f, "{} cannot be read or written ({reason})", path.display())
            }
            Rule::Unwritable { path: None, reason } => {
                write!(f, "no configuration directory ({reason})")
            }
            Rule::NoConfigYet { path: Some(path) } => {
                write!(
                    f,
                    "no {} yet (it is created by the first command that reports usage)",
                    path.display()
                )
            }
            Rule::NoConfigYet { path: None } => write!(f, "no configuration directory"),
        }
    }
}

/// The decision for this process, with the rule that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// Whether usage may be reported.
    pub enabled: bool,
    /// Which rule decided.
    pub rule: Rule,
}

impl Consent {
    /// Whether events recorded in this run may leave the process. False in the first run,
    /// where the person has not yet had the chance to say no.
    pub fn may_send_this_run(&self) -> bool {
        self.enabled && !matches!(self.rule, Rule::FirstRun { .. })
    }

    /// Whether an environment variable decided (rules 1–3).
    pub fn decided_by_environment(&self) -> bool {
        matches!(
            self.rule,
            Rule::DoNotTrack { .. }
                | Rule::RusaTelemetryEnabled { .. }
                | Rule::RasaTelemetryEnabled { .. }
        )
    }
}

/// The content of global.yml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalConfig {
    /// `metrics.enabled`.
    pub enabled: bool,
    /// `metrics.rusa_user_id`: uuid4 as 32 lowercase hex digits.
    pub rusa_user_id: String,
    /// `metrics.date`: when the file was first written (RFC 3339, UTC).
    pub date: String,
    /// `metrics.hash_key`: 64 hex digits, the per-install key of the one-way hashes. Never sent.
    pub hash_key: String,
}

impl GlobalConfig {
    /// A new install: fresh id and hash key.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            rusa_user_id: new_id(),
            date: now_rfc3339(),
            hash_key: new_hash_key(),
        }
    }

    fn to_yaml(&self) -> String {
        format!(
            "# rusa usage telemetry; change with `rusa telemetry enable|disable|reset`\nmetrics:\n  enabled: {}\n  rusa_user_id: \"{}\"\n  date: \"{}\"\n  hash_key: \"{}\"\n",
            self.enabled, self.rusa_user_id, self.date, self.hash_key
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    metrics: RawMetrics,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    enabled: bool,
    rusa_user_id: Option<String>,
    date: Option<String>,
    hash_key: Option<String>,
}

/// The result of [`resolve`]: the decision and, when a file was read or written, its content.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub consent: Consent,
    pub global: Option<GlobalConfig>,
    /// A warning for the user (corrupt file), to be shown once.
    pub warning: Option<String>,
}

/// Rules 1–3: the environment alone. `None` when no variable applies.
pub fn decide_from_environment(config: &TelemetryConfig) -> Option<Consent> {
    if let Some(value) = &config.do_not_track {
        let v = value.trim();
        if v == "1" || is_true(v) {
            return Some(Consent {
                enabled: false,
                rule: Rule::DoNotTrack {
                    value: value.clone(),
                },
            });
        }
    }
    if let Some(value) = &config.rusa_telemetry_enabled {
        return Some(Consent {
            enabled: is_true(value),
            rule: Rule::RusaTelemetryEnabled {
                value: value.clone(),
            },
        });
    }
    if let Some(value) = &config.rasa_telemetry_enabled
        && !is_true(value)
    {
        return Some(Consent {
            enabled: false,
            rule: Rule::RasaTelemetryEnabled {
                value: value.clone(),
            },
        });
    }
    None
}

/// Decides consent for this process. With `create_on_first_run`, a missing global.yml is
/// created (under a lock, so concurrent first runs agree on one id) and the consent says
/// `FirstRun`; otherwise a missing file means "not enabled yet".
pub fn resolve(config: &TelemetryConfig, create_on_first_run: bool) -> Resolved {
    // The file is read even when the environment decides, for the id and hash key: an
    // opt-in by environment still needs them; an opt-out never creates them.
    let env_decision = decide_from_environment(config);
    if env_decision.is_none()
        && let Some(rasa_path) = &config.rasa_config_file
        && rasa_disabled(rasa_path)
    {
        return Resolved {
            consent: Consent {
                enabled: false,
                rule: Rule::RasaConfigFile {
                    path: rasa_path.clone(),
                },
            },
            global: config
                .config_file
                .as_deref()
                .and_then(|p| read_global(p).ok().flatten()),
            warning: None,
        };
    }
    let Some(path) = config.config_file.clone() else {
        let consent = env_decision.filter(|c| !c.enabled).unwrap_or(Consent {
            enabled: false,
            rule: Rule::Unwritable {
                path: None,
                reason: "neither XDG_CONFIG_HOME nor HOME is set".into(),
            },
        });
        return Resolved {
            consent,
            global: None,
            warning: None,
        };
    };
    match read_global(&path) {
        Ok(Some(global)) => match env_decision {
            Some(consent) => Resolved {
                consent,
                global: Some(global),
                warning: None,
            },
            None => Resolved {
                consent: Consent {
                    enabled: global.enabled,
                    rule: Rule::ConfigFile { path },
                },
                global: Some(global),
                warning: None,
            },
        },
        Ok(None) => match env_decision {
            Some(consent) if !consent.enabled => Resolved {
                consent,
                global: None,
                warning: None,
            },
            Some(consent) => {
                // Opted in by environment but no file: an id is needed; create the file
                // without the notice (the person has said yes explicitly).
                match ensure_global(&path, true) {
                    Ok((global, _)) => Resolved {
                        consent,
                        global: Some(global),
                        warning: None,
                    },
                    Err(err) => unwritable(path, &err),
                }
            }
            None if !create_on_first_run => Resolved {
                consent: Consent {
                    enabled: false,
                    rule: Rule::NoConfigYet { path: Some(path) },
                },
                global: None,
                warning: None,
            },
            None => match ensure_global(&path, true) {
                Ok((global, created)) => {
                    let rule = if created {
                        Rule::FirstRun { path }
                    } else {
                        Rule::ConfigFile { path }
                    };
                    Resolved {
                        consent: Consent {
                            enabled: global.enabled,
                            rule,
                        },
                        global: Some(global),
                        warning: None,
                    }
                }
                Err(err) => unwritable(path, &err),
            },
        },
        Err(TelemetryError::CorruptConfig { path, reason }) => {
            let warning = format!(
                "telemetry is off for this run: {} cannot be parsed ({reason}); run `rusa telemetry enable` or `rusa telemetry disable` to rewrite it",
                path.display()
            );
            // An explicit opt-out by environment is still reported as such.
            let consent = env_decision.filter(|c| !c.enabled).unwrap_or(Consent {
                enabled: false,
                rule: Rule::CorruptConfig { path, reason },
            });
            Resolved {
                consent,
                global: None,
                warning: Some(warning),
            }
        }
        Err(err) => {
            if let Some(consent) = env_decision.filter(|c| !c.enabled) {
                return Resolved {
                    consent,
                    global: None,
                    warning: None,
                };
            }
            unwritable(path, &err)
        }
    }
}

fn unwritable(path: PathBuf, err: &TelemetryError) -> Resolved {
    let reason = error_text(err);
    tracing::debug!(path = %path.display(), reason = %reason, "telemetry off for this run: config file not usable");
    Resolved {
        consent: Consent {
            enabled: false,
            rule: Rule::Unwritable {
                path: Some(path),
                reason,
            },
        },
        global: None,
        warning: None,
    }
}

fn error_text(err: &TelemetryError) -> String {
    match err {
        TelemetryError::Io { source, .. } => source.to_string(),
        TelemetryError::NotRegularFile { .. } => "not a regular file".into(),
        TelemetryError::LockTimeout { path, waited } => format!(
            "{} is held by another process; gave up after {waited:?}",
            path.file_name().unwrap_or_default().to_string_lossy()
        ),
        other => other.to_string(),
    }
}

/// Whether Rasa's global.yml says `metrics: enabled: false`. A missing or unreadable file,
/// or one that says anything else, is not an opt-out.
fn rasa_disabled(path: &Path) -> bool {
    #[derive(Deserialize)]
    struct RasaFile {
        metrics: Option<RasaMetrics>,
    }
    #[derive(Deserialize)]
    struct RasaMetrics {
        enabled: Option<bool>,
    }
    let Ok(Some(text)) = read_regular_file(path) else {
        return false;
    };
    serde_saphyr::from_str::<RasaFile>(&text)
        .ok()
        .and_then(|f| f.metrics)
        .and_then(|m| m.enabled)
        == Some(false)
}

/// Reads a configuration file as text: `Ok(None)` when it does not exist. A path that is
/// not a regular file (FIFO, device, directory, socket) is refused without reading from it:
/// it is opened non-blocking (opening a FIFO for reading would otherwise wait for a
/// writer) and checked on the open descriptor, so nothing can swap it in between. Reads at
/// most [`env::CONFIG_MAX_BYTES`] (more is reported as corrupt).
fn read_regular_file(path: &Path) -> Result<Option<String>> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(TelemetryError::io(path, err)),
    };
    let metadata = file.metadata().map_err(|e| TelemetryError::io(path, e))?;
    if !metadata.is_file() {
        return Err(TelemetryError::NotRegularFile {
            path: path.to_owned(),
        });
    }
    let mut bytes = Vec::new();
    file.take(env::CONFIG_MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| TelemetryError::io(path, e))?;
    if bytes.len() as u64 > env::CONFIG_MAX_BYTES {
        return Err(TelemetryError::CorruptConfig {
            path: path.to_owned(),
            reason: format!("larger than {} bytes", env::CONFIG_MAX_BYTES),
        });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| TelemetryError::CorruptConfig {
            path: path.to_owned(),
            reason: "not UTF-8".into(),
        })
}

/// Reads global.yml; `Ok(None)` when it does not exist. Not a regular file (a FIFO, a
/// device): an error, and nothing is read.
pub fn read_global(path: &Path) -> Result<Option<GlobalConfig>> {
    let Some(text) = read_regular_file(path)? else {
        return Ok(None);
    };
    parse_global(&text)
        .map(Some)
        .map_err(|reason| TelemetryError::CorruptConfig {
            path: path.to_owned(),
            reason,
        })
}

fn parse_global(text: &str) -> std::result::Result<GlobalConfig, String> {
    let options = serde_saphyr::options!(strict_booleans: true);
    let raw: RawFile = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| first_line(&e.to_string()))?;
    let m = raw.metrics;
    let id = m.rusa_user_id.ok_or("metrics.rusa_user_id is missing")?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("metrics.rusa_user_id is not 32 hex digits".into());
    }
    let hash_key = m.hash_key.ok_or("metrics.hash_key is missing")?;
    if hash_key.len() != 64 || !hash_key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("metrics.hash_key is not 64 hex digits".into());
    }
    Ok(GlobalConfig {
        enabled: m.enabled,
        rusa_user_id: id.to_ascii_lowercase(),
        date: m.date.unwrap_or_default(),
        hash_key,
    })
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

/// Holds the lock of global.yml (a `global.yml.lock` file next to it) while alive. Waiting
/// for it is bounded by [`env::LOCK_WAIT`]; a first run that cannot get it in time leaves
/// telemetry off for that run rather than writing without it (two ids) or waiting on.
struct ConfigLock {
    _held: LockFile,
}

impl ConfigLock {
    fn acquire(path: &Path) -> Result<Self> {
        let _held = LockFile::acquire(&lock_path(path), env::LOCK_WAIT)?;
        Ok(Self { _held })
    }
}

fn lock_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".lock");
    path.with_file_name(name)
}

/// Returns the file's content, creating it (with `enabled`) when missing. The second value
/// is true when this call created it. Concurrent callers agree on one id: the file is
/// re-read under the lock before anything is written.
fn ensure_global(path: &Path, enabled: bool) -> Result<(GlobalConfig, bool)> {
    let _lock = ConfigLock::acquire(path)?;
    if let Some(existing) = read_global(path)? {
        return Ok((existing, false));
    }
    let global = GlobalConfig::new(enabled);
    write_atomically(path, global.to_yaml().as_bytes())?;
    Ok((global, true))
}

/// Sets `metrics.enabled`, keeping the id and hash key (creating them when missing). A
/// corrupt file is replaced: this is the documented fix. Returns the new content.
pub fn toggle_telemetry_reporting(path: &Path, enabled: bool) -> Result<GlobalConfig> {
    let _lock = ConfigLock::acquire(path)?;
    let global = match read_global(path) {
        Ok(Some(existing)) => GlobalConfig {
            enabled,
            ..existing
        },
        Ok(None) | Err(TelemetryError::CorruptConfig { .. }) => GlobalConfig::new(enabled),
        Err(err) => return Err(err),
    };
    write_atomically(path, global.to_yaml().as_bytes())?;
    Ok(global)
}

/// New id and hash key, keeping `enabled`. `Ok(None)` when there is no file to reset.
pub fn reset(path: &Path) -> Result<Option<GlobalConfig>> {
    let _lock = ConfigLock::acquire(path)?;
    let enabled = match read_global(path) {
        Ok(Some(existing)) => existing.enabled,
        Ok(None) => return Ok(None),
        // A corrupt file could have been a "disabled": reset keeps it disabled.
        Err(TelemetryError::CorruptConfig { .. }) => false,
        Err(err) => return Err(err),
    };
    let global = GlobalConfig::new(enabled);
    write_atomically(path, global.to_yaml().as_bytes())?;
    Ok(Some(global))
}

/// Writes `bytes` to a temporary file (mode 0600) in the same directory, then renames it
/// over `path`, so readers see the old or the new content, never a part.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| TelemetryError::io(dir, e))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(err) = result {
        let _ = fs::remove_file(&tmp);
        return Err(TelemetryError::io(path, err));
    }
    Ok(())
}

/// A new telemetry id: uuid4, 32 lowercase hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new hash key: 64 hex digits from two uuid4s (244 random bits).
fn new_hash_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub(crate) fn now_rfc3339() -> String {
    format_rfc3339(time::OffsetDateTime::now_utc())
}

pub(crate) fn format_rfc3339(at: time::OffsetDateTime) -> String {
    let at = at
        .replace_nanosecond((at.nanosecond() / 1_000_000) * 1_000_000)
        .unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The first-run notice text (§2).
pub const FIRST_RUN_NOTICE: &str = "\
rusa reports anonymous usage data (which commands run, counts such as the number of intents,
the operating system) to help improve it. It never reports your training data, the messages
your assistant receives or sends, paths, git remotes, user names or host names.
Nothing was sent during this run. To opt out, run `rusa telemetry disable`, or set
RUSA_TELEMETRY_ENABLED=false or DO_NOT_TRACK=1. See what would be sent with
RUSA_TELEMETRY_DEBUG=true, and what was sent with `rusa telemetry show`.";

/// Prints the first-run notice to stderr (seed: `print_telemetry_reporting_info`). Stderr,
/// so machine-readable output on stdout stays clean.
pub fn print_telemetry_reporting_info() {
    eprintln!("{FIRST_RUN_NOTICE}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_file_parses_back() {
        let g = GlobalConfig::new(true);
        assert_eq!(parse_global(&g.to_yaml()).unwrap(), g);
        assert_eq!(g.rusa_user_id.len(), 32);
        assert_eq!(g.hash_key.len(), 64);
    }

    #[test]
    fn strict_booleans_reject_yes() {
        let g = GlobalConfig::new(true);
        let text = g.to_yaml().replace("enabled: true", "enabled: yes");
        assert!(parse_global(&text).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for text in [
            "",
            "metrics: [",
            "metrics:\n  enabled: 3\n",
            "- a\n- b\n",
            "metrics:\n  enabled: true\n",
        ] {
            assert!(parse_global(text).is_err(), "{text:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse_global(&text);
        }

        #[test]
        fn parsing_yaml_like_text_never_panics(text in "(metrics:|  enabled: |true|yes|\\[|\"|\n| |rusa_user_id: |[0-9a-f]{0,40}){0,30}") {
            let _ = parse_global(&text);
        }
    }

    #[test]
    fn lock_path_is_next_to_file() {
        assert_eq!(
            lock_path(Path::new("/a/global.yml")),
            Path::new("/a/global.yml.lock")
        );
    }
}
