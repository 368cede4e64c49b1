//! What the command-line tests share: where the projects are, and the binary run in an
//! environment that cannot reach the user's own configuration.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// `shared/fixtures`, beside the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// This crate's small test projects.
pub fn projects() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/projects")
}

/// The binary with an environment that cannot reach the user's own configuration.
pub fn rusa(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("rusa").expect("the rusa binary is built");
    let home = tempfile::tempdir().expect("temp dir").keep();
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG");
    cmd
}

/// The binary for a pseudo-terminal (`rexpect` takes a `std::process::Command`): the
/// environment of [`rusa`], with its home in `dir/.home`, plain output and an xterm.
pub fn rusa_in_terminal(dir: &Path) -> std::process::Command {
    let home = dir.join(".home");
    std::fs::create_dir_all(&home).expect("home dir");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_rusa"));
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm");
    cmd
}

/// What one run of the binary gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rusa args…` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Run {
    let output = rusa(dir).args(args).output().expect("rusa runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
