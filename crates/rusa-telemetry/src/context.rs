//! The context every event carries (§4), computed once per process.

use std::fs;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::config::TelemetryConfig;
use crate::env;

/// Compiler version captured at build time.
pub const RUST_VERSION: &str = env!("RUSA_TELEMETRY_RUSTC_VERSION");
/// Name reported as `context.library.name`.
pub const LIBRARY_NAME: &str = env!("CARGO_PKG_NAME");
/// Version reported as `context.library.version`.
pub const LIBRARY_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Builds the context of this process. `hash_key` keys the project and directory hashes.
pub fn build_context(config: &TelemetryConfig, hash_key: &str) -> Value {
    let (os_name, os_version) = os_name_and_version();
    let mut context = Map::new();
    context.insert(
        "os".into(),
        json!({ "name": os_name, "version": os_version }),
    );
    context.insert("ci".into(), Value::Bool(config.in_ci));
    context.insert("docker".into(), Value::Bool(in_docker()));
    context.insert(
        "cpu".into(),
        json!(
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        ),
    );
    context.insert("gpu".into(), json!(gpu_count()));
    let project = config
        .cwd
        .as_deref()
        .and_then(git_remote_url)
        .map(|url| keyed_hash(hash_key, &url));
    context.insert("project".into(), project.map_or(Value::Null, Value::String));
    let directory = config
        .cwd
        .as_deref()
        .map(|cwd| keyed_hash(hash_key, &cwd.to_string_lossy()));
    context.insert(
        "directory".into(),
        directory.map_or(Value::Null, Value::String),
    );
    context.insert("rusa".into(), Value::String(config.app_version.clone()));
    context.insert("rust".into(), Value::String(RUST_VERSION.to_owned()));
    context.insert(
        "library".into(),
        json!({ "name": LIBRARY_NAME, "version": LIBRARY_VERSION }),
    );
    if let Some(license) = &config.license {
        context.insert("license_hash".into(), Value::String(sha256_hex(license)));
    }
    Value::Object(context)
}

/// Merges `extra` over the default context fields (seed: `with_default_context_fields`).
pub fn with_default_context_fields(defaults: &Value, extra: Map<String, Value>) -> Value {
    let mut merged = defaults.as_object().cloned().unwrap_or_default();
    merged.extend(extra);
    Value::Object(merged)
}

/// Whether a CI variable is present in the process environment (seed: `in_continuous_integration`).
pub fn in_continuous_integration() -> bool {
    env::CI_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// System name and release as `uname` reports them, read from `/proc` (no unsafe).
fn os_name_and_version() -> (String, String) {
    let read = |p: &str| {
        fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let name = read("/proc/sys/kernel/ostype").unwrap_or_else(|| capitalised(std::env::consts::OS));
    let version = read("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".to_owned());
    (name, version)
}

fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn in_docker() -> bool {
    Path::new("/.dockerenv").exists()
        || fs::read_to_string("/proc/self/cgroup").is_ok_and(|s| s.contains("docker"))
}

fn gpu_count() -> usize {
    fs::read_dir("/proc/driver/nvidia/gpus")
        .map(|d| d.filter_map(|e| e.ok()).count())
        .unwrap_or(0)
}

/// HMAC-SHA256 of `message` under `key`, as lowercase hex.
pub fn keyed_hash(key: &str, message: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(message.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// SHA-256 of `text`, as lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    hex(&Sha256::digest(text.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The URL of the `origin` remote (else the first remote) of the git repository containing
/// `start`, read from `.git/config` without running git.
pub fn git_remote_url(start: &Path) -> Option<String> {
    let git_dir = find_git_dir(start)?;
    let text = fs::read_to_string(git_dir.join("config")).ok()?;
    parse_remote_url(&text)
}

fn find_git_dir(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors() {
        let dot_git = dir.join(".git");
        if dot_git.is_dir() {
            return Some(dot_git);
        }
        if dot_git.is_file() {
            // A worktree or submodule: `gitdir: <path>`; its config lives in the common dir.
            let text = fs::read_to_string(&dot_git).ok()?;
            let target = text.strip_prefix("gitdir:")?.trim();
            let gitdir = dir.join(target);
            let common = fs::read_to_string(gitdir.join("commondir"))
                .ok()
                .map(|c| gitdir.join(c.trim()));
            return Some(common.unwrap_or(gitdir));
        }
    }
    None
}

fn parse_remote_url(config: &str) -> Option<String> {
    let mut current_remote: Option<String> = None;
    let mut first: Option<String> = None;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            current_remote = line
                .strip_prefix("[remote")
                .and_then(|rest| rest.trim().strip_suffix(']'))
                .map(|name| name.trim().trim_matches('"').to_owned());
            continue;
        }
        let Some(remote) = &current_remote else {
            continue;
        };
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("url") {
            let url = value.trim().trim_matches('"').to_owned();
            if remote == "origin" {
                return Some(url);
            }
            first.get_or_insert(url);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_wins_over_other_remotes() {
        let cfg = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://u/x.git\n[remote \"origin\"]\n\turl = git@h:me/x.git\n\tfetch = +refs/heads/*\n";
        assert_eq!(parse_remote_url(cfg).as_deref(), Some("git@h:me/x.git"));
        assert_eq!(
            parse_remote_url("[remote \"a\"]\nurl = u1\n").as_deref(),
            Some("u1")
        );
        assert_eq!(parse_remote_url("[core]\nurl = nope\n"), None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_git_config_never_panics(text in "\\PC{0,300}") {
            let _ = parse_remote_url(&text);
        }
    }

    #[test]
    fn keyed_hash_depends_on_the_key() {
        let a = keyed_hash("k1", "https://github.com/rasahq/rasa");
        assert_eq!(a.len(), 64);
        assert_ne!(a, keyed_hash("k2", "https://github.com/rasahq/rasa"));
        assert_ne!(a, sha256_hex("https://github.com/rasahq/rasa"));
        // RFC 4231 test case 2.
        assert_eq!(
            keyed_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn git_remote_is_found_from_a_subdirectory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(
            dir.path().join(".git/config"),
            "[remote \"origin\"]\n\turl = https://x/y\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        assert_eq!(
            git_remote_url(&dir.path().join("a/b")).as_deref(),
            Some("https://x/y")
        );
    }

    #[test]
    fn license_hash_only_when_set() {
        let mut config = TelemetryConfig::from_lookup(|_| None);
        assert!(build_context(&config, "k").get("license_hash").is_none());
        config.license = Some("lic".into());
        assert_eq!(
            build_context(&config, "k")["license_hash"],
            sha256_hex("lic")
        );
    }
}
