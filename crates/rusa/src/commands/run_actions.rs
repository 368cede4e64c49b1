//! `rusa run actions`: serves the project's custom actions, as `rasa run actions` does.
//!
//! `--actions NAME` (default `actions`, dot notation as for Python) names what to serve:
//!
//! - a Cargo package (`actions/Cargo.toml`, written with rusa-sdk) is built in release mode
//!   and its program run; with `--auto-reload` it is rebuilt and restarted when its sources
//!   change (a failed build keeps the running server);
//! - else a Python package or module (`actions/__init__.py`, `actions/*.py`, `actions.py`)
//!   runs on rasa-sdk's server, `python -m rasa_sdk --actions actions`, with the interpreter
//!   of `RUSA_PYTHON`, else `python3`, else `python`.
//!
//! Either way the flags of rasa-sdk's command line are passed on. The action server runs in
//! a process group of its own (rasa-sdk's server is several processes): SIGINT or SIGTERM to
//! rusa becomes SIGTERM to that group, a second one SIGKILL, and rusa exits with the
//! server's exit code (128 + the signal that killed it). No usage event is recorded: Rasa
//! records none for `rasa run actions`, and the telemetry spec lists none.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, SystemTime};

use tokio::process::{Child, Command};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::cli::{LogArgs, RunActionsArgs};
use crate::error::{Outcome, UserError};

/// The Python interpreter that runs rasa-sdk's server; when unset, the first of
/// [`DEFAULT_PYTHONS`] that can be started.
pub const RUSA_PYTHON: &str = "RUSA_PYTHON";
/// The interpreters tried, in order, when `RUSA_PYTHON` is not set.
const DEFAULT_PYTHONS: &[&str] = &["python3", "python"];
/// How often `--auto-reload` looks at the modification times of a Cargo package's sources.
const RELOAD_POLL: Duration = Duration::from_secs(1);
/// Imports rasa-sdk and prints its version: whether the interpreter can serve the actions.
const RASA_SDK_PROBE: &str = "import sys, rasa_sdk; sys.stdout.write(getattr(rasa_sdk, '__version__', 'of unknown version'))";

pub fn run(args: RunActionsArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let actions = find(Path::new(""), &args.actions)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e).context("cannot start the async runtime"))?;
    runtime.block_on(async {
        let mut signals = Signals::install()?;
        match actions {
            Actions::Python { module } => serve_python(&module, &args, log, &mut signals).await,
            Actions::Cargo { dir } => serve_cargo(&dir, &args, log, &mut signals).await,
        }
    })
}

/// What `--actions` names in the project.
#[derive(Debug, PartialEq, Eq)]
enum Actions {
    /// A Python package or module, by its module name.
    Python { module: String },
    /// The directory of a Cargo package.
    Cargo { dir: PathBuf },
}

/// Finds the actions `name` (dot notation) names under `root`. A directory with both a
/// `Cargo.toml` and Python files is a Cargo package: the manifest is the deliberate marker.
fn find(root: &Path, name: &str) -> Result<Actions, UserError> {
    if name.is_empty() || name.contains(['/', '\\']) || name.ends_with(".py") {
        return Err(UserError::new(format!(
            "--actions '{name}' is not a module name"
        ))
        .with_hint(
            "name the actions in dot notation, as for Python: `actions`, or `bot.actions` for bot/actions/",
        ));
    }
    let rel = name.replace('.', "/");
    let dir = root.join(&rel);
    if dir.join("Cargo.toml").is_file() {
        return Ok(Actions::Cargo { dir });
    }
    let python_files = || {
        std::fs::read_dir(&dir).is_ok_and(|entries| {
            entries.flatten().any(|e| {
                e.path().extension() == Some(OsStr::new("py"))
                    && e.file_type().is_ok_and(|t| t.is_file())
            })
        })
    };
    if dir.join("__init__.py").is_file()
        || python_files()
        || root.join(format!("{rel}.py")).is_file()
    {
        return Ok(Actions::Python {
            module: name.to_owned(),
        });
    }
    Err(UserError::new(format!(
        "no custom actions to serve: looked for {rel}/__init__.py, {rel}/*.py, {rel}.py and {rel}/Cargo.toml"
    ))
    .with_hint(
        "write Python actions with rasa-sdk there, or a Cargo package with rusa-sdk; `rusa init --actions rust <new directory>` writes a project with Rust actions",
    ))
}

/// Serves Python actions on rasa-sdk's server.
async fn serve_python(
    module: &str,
    args: &RunActionsArgs,
    log: LogArgs,
    signals: &mut Signals,
) -> anyhow::Result<Outcome> {
    let (python, version) = rasa_sdk_python()?;
    let mut argv: Vec<OsString> = vec![
        "-m".into(),
        "rasa_sdk".into(),
        "--actions".into(),
        module.into(),
    ];
    argv.extend(server_flags(args, log, Language::Python));
    if !log.quiet {
        eprintln!(
            "serving the Python actions of '{module}' with rasa-sdk {version} ({})",
            python.to_string_lossy()
        );
    }
    let server = Server::spawn(Path::new(&python), &argv)
        .map_err(|e| UserError::new(format!("cannot start {}: {e}", python.to_string_lossy())))?;
    supervise(server, signals, None, log).await
}

/// The interpreter that serves Python actions and the version of rasa-sdk it imports.
fn rasa_sdk_python() -> Result<(OsString, String), UserError> {
    let from_env = std::env::var_os(RUSA_PYTHON).filter(|p| !p.is_empty());
    let candidates: Vec<OsString> = match &from_env {
        Some(python) => vec![python.clone()],
        None => DEFAULT_PYTHONS.iter().map(OsString::from).collect(),
    };
    for python in candidates {
        let name = python.to_string_lossy().into_owned();
        let probe = std::process::Command::new(&python)
            .args(["-c", RASA_SDK_PROBE])
            .stdin(Stdio::null())
            .output();
        let output = match probe {
            Ok(output) => output,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(UserError::new(format!("cannot run {name}: {e}"))),
        };
        if output.status.success() {
            let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            return Ok((python, version));
        }
        // The last line of the traceback says why, e.g. `ModuleNotFoundError: ...`.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let why = stderr
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| format!(" ({l})"))
            .unwrap_or_default();
        return Err(UserError::new(format!(
            "Python actions run on rasa-sdk's action server, and {name} cannot import rasa_sdk{why}"
        ))
        .with_hint(format!(
            "install it with `{name} -m pip install rasa-sdk` (or `pip install rasa-sdk` in your actions' virtual environment), or set {RUSA_PYTHON} to a Python that has it"
        )));
    }
    Err(match from_env {
        Some(python) => UserError::new(format!(
            "{RUSA_PYTHON} is '{}', which cannot be found",
            python.to_string_lossy()
        ))
        .with_hint(format!(
            "set {RUSA_PYTHON} to the Python that has rasa-sdk (`pip install rasa-sdk`)"
        )),
        None => UserError::new(format!(
            "no Python was found to serve the Python actions (looked for {})",
            DEFAULT_PYTHONS.join(", ")
        ))
        .with_hint(format!(
            "install Python 3 and `pip install rasa-sdk`, or set {RUSA_PYTHON} to a Python that has it"
        )),
    })
}

/// Builds a Cargo package and serves its program; with `--auto-reload`, rebuilds and
/// restarts it when its sources change.
async fn serve_cargo(
    dir: &Path,
    args: &RunActionsArgs,
    log: LogArgs,
    signals: &mut Signals,
) -> anyhow::Result<Outcome> {
    // Taken before building, so that a change made during the build is seen.
    let sources = args.auto_reload.then(|| Sources::of(dir));
    if !log.quiet {
        eprintln!(
            "building the Rust actions in {} (cargo build --release)",
            dir.display()
        );
    }
    let program = tokio::select! {
        built = build(dir) => built?,
        number = signals.next() => return Ok(Outcome::Exited(signal_exit_code(number))),
    };
    let argv = server_flags(args, log, Language::Rust);
    let server = start_program(&program, &argv, log)?;
    let reload = sources.map(|sources| Reload {
        dir: dir.to_owned(),
        sources,
        argv,
        running: modified(&program),
    });
    supervise(server, signals, reload, log).await
}

fn start_program(program: &Path, argv: &[OsString], log: LogArgs) -> Result<Server, UserError> {
    if !log.quiet {
        eprintln!("serving the Rust actions with {}", program.display());
    }
    Server::spawn(program, argv)
        .map_err(|e| UserError::new(format!("cannot start {}: {e}", program.display())))
}

/// `cargo build --release` of the package in `dir`. Compiler messages go to the user's
/// stderr; the program is found in cargo's JSON messages on stdout, since the target
/// directory may be anywhere (`CARGO_TARGET_DIR`, an enclosing workspace).
async fn build(dir: &Path) -> Result<PathBuf, UserError> {
    let manifest = dir.join("Cargo.toml");
    let child = Command::new("cargo")
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                UserError::new(format!(
                    "cargo was not found; it builds the Rust actions in {}",
                    dir.display()
                ))
                .with_hint("install Rust with rustup: https://rustup.rs")
            } else {
                UserError::new(format!("cannot run cargo: {e}"))
            }
        })?;
    let output = child
        .wait_with_output()
        .await
        .map_err(|e| UserError::new(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        return Err(UserError::new(format!(
            "the Rust actions in {} did not build ({})",
            dir.display(),
            describe(output.status, "cargo build")
        )));
    }
    let manifest = manifest
        .canonicalize()
        .map_err(|e| UserError::new(format!("cannot read '{}': {e}", manifest.display())))?;
    program_of(&output.stdout, &manifest).map_err(UserError::new)
}

/// The program of the package whose manifest is `manifest`, from cargo's JSON messages.
fn program_of(messages: &[u8], manifest: &Path) -> Result<PathBuf, String> {
    let same_manifest = |path: &str| {
        let path = Path::new(path);
        path == manifest || path.canonicalize().is_ok_and(|p| p == manifest)
    };
    let mut programs: Vec<(String, PathBuf)> = Vec::new();
    for line in messages.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        let is_bin = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if message["reason"] != "compiler-artifact"
            || !is_bin
            || !message["manifest_path"].as_str().is_some_and(same_manifest)
        {
            continue;
        }
        if let Some(program) = message["executable"].as_str() {
            let name = message["target"]["name"].as_str().unwrap_or_default();
            programs.push((name.to_owned(), PathBuf::from(program)));
        }
    }
    match programs.len() {
        1 => Ok(programs.remove(0).1),
        0 => Err(format!(
            "{} builds no program: add a src/main.rs that serves the actions (`ActionServer::new().action(..).run_from_args()`)",
            manifest.display()
        )),
        _ => Err(format!(
            "{} builds several programs ({}); rusa cannot tell which one serves the actions: keep one",
            manifest.display(),
            programs
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Language {
    Python,
    Rust,
}

/// rasa-sdk's flags for the action server, from ours. `--auto-reload` goes to rasa-sdk,
/// which reloads Python modules itself; for Rust, rusa rebuilds and restarts instead.
fn server_flags(args: &RunActionsArgs, log: LogArgs, language: Language) -> Vec<OsString> {
    let mut flags: Vec<OsString> = vec!["--port".into(), args.port.to_string().into()];
    if let Some(origins) = &args.cors {
        flags.push("--cors".into());
        flags.extend(origins.iter().map(OsString::from));
    }
    let paths = [
        ("--endpoints", &args.endpoints),
        ("--ssl-certificate", &args.ssl_certificate),
        ("--ssl-keyfile", &args.ssl_keyfile),
    ];
    for (flag, path) in paths {
        if let Some(path) = path {
            flags.push(flag.into());
            flags.push(path.into());
        }
    }
    if let Some(password) = &args.ssl_password {
        flags.push("--ssl-password".into());
        flags.push(password.into());
    }
    if args.auto_reload && language == Language::Python {
        flags.push("--auto-reload".into());
    }
    if log.debug {
        flags.push("--debug".into());
    } else if log.verbose {
        flags.push("--verbose".into());
    } else if log.quiet {
        flags.push("--quiet".into());
    }
    if let Some(path) = &args.log_file {
        flags.push("--log-file".into());
        flags.push(path.into());
    }
    flags
}

/// What `--auto-reload` needs to rebuild and restart a Cargo package's server.
struct Reload {
    dir: PathBuf,
    sources: Sources,
    argv: Vec<OsString>,
    /// The modification time of the program the server runs: a build that leaves it as it
    /// was (a comment in a test module changed) needs no restart.
    running: Option<SystemTime>,
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Runs until the server exits, or until SIGINT or SIGTERM stops it; with `reload`, checks
/// its sources every second and rebuilds and restarts it when they changed.
async fn supervise(
    mut server: Server,
    signals: &mut Signals,
    mut reload: Option<Reload>,
    log: LogArgs,
) -> anyhow::Result<Outcome> {
    let mut poll = tokio::time::interval(RELOAD_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            status = server.wait() => return Ok(ended(status?)),
            _ = signals.next() => return stop(&mut server, signals, log).await,
            _ = poll.tick(), if reload.is_some() => {
                let Some(reload) = reload.as_mut() else { continue };
                if !reload.sources.changed() {
                    continue;
                }
                if !log.quiet {
                    eprintln!("{} changed: rebuilding", reload.dir.display());
                }
                let built = tokio::select! {
                    built = build(&reload.dir) => built,
                    status = server.wait() => return Ok(ended(status?)),
                    _ = signals.next() => return stop(&mut server, signals, log).await,
                };
                match built {
                    Ok(program) if modified(&program) == reload.running => {}
                    Ok(program) => {
                        if !log.quiet {
                            eprintln!("rebuilt: restarting the action server");
                        }
                        if let (_, Some(signal)) = server.stop(signals).await? {
                            return Ok(Outcome::Exited(signal_exit_code(signal)));
                        }
                        reload.running = modified(&program);
                        server = start_program(&program, &reload.argv, log)?;
                    }
                    Err(e) => eprintln!(
                        "warning: {e}; the action server keeps running the previous build"
                    ),
                }
            }
        }
    }
}

/// Stops the server on a signal rusa received, and ends as it ends.
async fn stop(server: &mut Server, signals: &mut Signals, log: LogArgs) -> anyhow::Result<Outcome> {
    if !log.quiet {
        eprintln!("stopping the action server");
    }
    let (status, _) = server.stop(signals).await?;
    Ok(Outcome::Exited(exit_code(status)))
}

/// The server ended by itself: rusa ends with its exit code, saying so when it failed.
fn ended(status: ExitStatus) -> Outcome {
    if !status.success() {
        eprintln!("error: {}", describe(status, "the action server"));
    }
    Outcome::Exited(exit_code(status))
}

/// `<what> exited with code 3` or `<what> was killed by signal 9`.
fn describe(status: ExitStatus, what: &str) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("{what} exited with code {code}"),
        (None, Some(signal)) => format!("{what} was killed by signal {signal}"),
        _ => format!("{what} ended: {status}"),
    }
}

/// A shell's exit code for `status`: the code, or 128 + the signal that ended the process.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code & 0xff).unwrap_or(1),
        (None, Some(signal)) => signal_exit_code(signal),
        _ => 1,
    }
}

fn signal_exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(u8::MAX)
}

/// SIGINT and SIGTERM, caught for the whole run: they stop the action server instead of
/// ending rusa at once.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        let catch = |kind: SignalKind| {
            signal(kind).map_err(|e| anyhow::anyhow!(e).context("cannot catch signals"))
        };
        Ok(Self {
            interrupt: catch(SignalKind::interrupt())?,
            terminate: catch(SignalKind::terminate())?,
        })
    }

    /// The number of the next SIGINT or SIGTERM.
    async fn next(&mut self) -> i32 {
        tokio::select! {
            _ = self.interrupt.recv() => SignalKind::interrupt().as_raw_value(),
            _ = self.terminate.recv() => SignalKind::terminate().as_raw_value(),
        }
    }
}

/// The action server: a child process leading a process group of its own, so that a
/// signal reaches its workers too and a Ctrl-C at the terminal reaches only rusa.
struct Server {
    child: Child,
    group: u32,
}

impl Server {
    fn spawn(program: &Path, argv: &[OsString]) -> std::io::Result<Self> {
        let child = Command::new(program)
            .args(argv)
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()?;
        let group = child
            .id()
            .ok_or_else(|| std::io::Error::other("the action server has no process id"))?;
        Ok(Self { child, group })
    }

    async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        self.child.wait().await
    }

    /// Sends `signal` (a name for `kill -s`) to the server's process group, while its
    /// leader has not been reaped (after that the id may belong to another process).
    fn signal(&self, signal: &str) {
        if self.child.id().is_some() {
            signal_group(self.group, signal);
        }
    }

    /// Asks the server to stop (SIGTERM to its group) and waits until it has; a SIGINT or
    /// SIGTERM meanwhile kills the group. The status, and the signal if one came.
    async fn stop(&mut self, signals: &mut Signals) -> std::io::Result<(ExitStatus, Option<i32>)> {
        self.signal("TERM");
        let mut interrupted = None;
        loop {
            tokio::select! {
                status = self.child.wait() => return Ok((status?, interrupted)),
                number = signals.next() => {
                    eprintln!("killing the action server");
                    interrupted = Some(number);
                    self.signal("KILL");
                }
            }
        }
    }
}

/// `kill -s <signal> -- -<group>`. The workspace forbids unsafe code, so there is no
/// `killpg(2)` here: the `kill` program sends it, or, where there is none (slim container
/// images), the shell's built-in `kill`.
fn signal_group(group: u32, signal: &str) {
    let target = format!("-{group}");
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, "--", &target])
        .stderr(Stdio::null())
        .status();
    if sent.is_err() {
        let _ = std::process::Command::new("sh")
            .args(["-c", r#"kill -s "$0" -- "$1""#, signal, &target])
            .stderr(Stdio::null())
            .status();
    }
}

/// The files of a Cargo package `--auto-reload` watches — `Cargo.toml`, `build.rs` and
/// everything under `src/` but hidden files — with their modification times.
#[derive(Debug, PartialEq, Eq)]
struct Sources {
    dir: PathBuf,
    files: Vec<(PathBuf, Option<SystemTime>)>,
}

impl Sources {
    fn of(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            files: Self::scan(dir),
        }
    }

    fn scan(dir: &Path) -> Vec<(PathBuf, Option<SystemTime>)> {
        let mut paths = vec![dir.join("Cargo.toml"), dir.join("build.rs")];
        collect_files(&dir.join("src"), &mut paths);
        paths.sort();
        paths
            .into_iter()
            .map(|path| {
                let modified = modified(&path);
                (path, modified)
            })
            .collect()
    }

    /// Whether a file was added, removed or modified since the last look.
    fn changed(&mut self) -> bool {
        let files = Self::scan(&self.dir);
        let changed = files != self.files;
        self.files = files;
        changed
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        match entry.file_type() {
            Ok(t) if t.is_dir() => collect_files(&entry.path(), out),
            Ok(_) => out.push(entry.path()),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> RunActionsArgs {
        use clap::Parser as _;
        let mut argv = vec!["rusa", "run", "actions"];
        argv.extend(extra);
        match crate::cli::Cli::parse_from(argv).command {
            crate::cli::Command::Run(crate::cli::RunArgs {
                part: Some(crate::cli::RunPart::Actions(args)),
                ..
            }) => args,
            other => panic!("not `run actions`: {other:?}"),
        }
    }

    fn strings(flags: Vec<OsString>) -> Vec<String> {
        flags
            .into_iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn finds_python_and_cargo_actions_and_says_what_it_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let err = find(root, "actions").unwrap_err().to_string();
        assert_eq!(
            err,
            "no custom actions to serve: looked for actions/__init__.py, actions/*.py, actions.py and actions/Cargo.toml"
        );
        std::fs::write(root.join("actions.py"), "").unwrap();
        assert_eq!(
            find(root, "actions").unwrap(),
            Actions::Python {
                module: "actions".into()
            }
        );
        std::fs::create_dir_all(root.join("bot/actions")).unwrap();
        std::fs::write(root.join("bot/actions/forms.py"), "").unwrap();
        assert_eq!(
            find(root, "bot.actions").unwrap(),
            Actions::Python {
                module: "bot.actions".into()
            }
        );
        std::fs::write(root.join("bot/actions/Cargo.toml"), "").unwrap();
        assert_eq!(
            find(root, "bot.actions").unwrap(),
            Actions::Cargo {
                dir: root.join("bot/actions")
            }
        );
        for bad in ["actions/", "actions.py", ""] {
            assert!(find(root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_are_passed_on_with_rasa_sdk_names() {
        let log = LogArgs {
            debug: true,
            ..LogArgs::default()
        };
        let a = args(&[
            "-p",
            "6000",
            "--cors",
            "*",
            "https://a.example",
            "--endpoints",
            "e.yml",
            "--auto-reload",
            "--ssl-certificate",
            "c.pem",
            "--ssl-keyfile",
            "k.pem",
            "--ssl-password",
            "pw",
            "--log-file",
            "x.log",
        ]);
        assert_eq!(
            strings(server_flags(&a, log, Language::Python)).join(" "),
            "--port 6000 --cors * https://a.example --endpoints e.yml --ssl-certificate c.pem \
             --ssl-keyfile k.pem --ssl-password pw --auto-reload --debug --log-file x.log"
        );
        // rusa rebuilds and restarts a Rust server itself.
        assert!(!strings(server_flags(&a, log, Language::Rust)).contains(&"--auto-reload".into()));
        // Defaults: the port only; rasa-sdk before 3.8 has no --endpoints.
        assert_eq!(
            strings(server_flags(
                &args(&[]),
                LogArgs::default(),
                Language::Python
            )),
            ["--port", "5055"]
        );
        for (log, flag) in [
            (
                LogArgs {
                    verbose: true,
                    ..LogArgs::default()
                },
                "--verbose",
            ),
            (
                LogArgs {
                    quiet: true,
                    ..LogArgs::default()
                },
                "--quiet",
            ),
        ] {
            assert_eq!(
                strings(server_flags(&args(&[]), log, Language::Rust)),
                ["--port", "5055", flag]
            );
        }
        let bare_cors = args(&["--cors"]);
        assert_eq!(
            strings(server_flags(&bare_cors, LogArgs::default(), Language::Rust)),
            ["--port", "5055", "--cors"]
        );
    }

    #[test]
    fn the_program_is_the_bin_artifact_of_the_package() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "").unwrap();
        let manifest = manifest.canonicalize().unwrap();
        let m = manifest.display();
        let messages = format!(
            r#"{{"reason":"compiler-artifact","manifest_path":"/elsewhere/Cargo.toml","target":{{"kind":["bin"],"name":"other"}},"executable":"/t/other","fresh":true}}
{{"reason":"compiler-artifact","manifest_path":"{m}","target":{{"kind":["lib"],"name":"bot"}},"executable":null,"fresh":false}}
not json
{{"reason":"compiler-artifact","manifest_path":"{m}","target":{{"kind":["bin"],"name":"bot"}},"executable":"/t/release/bot","fresh":false}}
{{"reason":"build-finished","success":true}}
"#
        );
        assert_eq!(
            program_of(messages.as_bytes(), &manifest).unwrap(),
            PathBuf::from("/t/release/bot")
        );
        let none = program_of(b"{\"reason\":\"build-finished\"}", &manifest).unwrap_err();
        assert!(none.contains("builds no program"), "{none}");
        let two = format!(
            "{messages}{}",
            messages
                .replace("release/bot", "release/bot2")
                .replace("\"bot\"", "\"bot2\"")
        );
        let err = program_of(two.as_bytes(), &manifest).unwrap_err();
        assert!(err.contains("several programs (bot, bot2)"), "{err}");
    }

    #[test]
    fn sources_notice_new_changed_and_removed_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/actions")).unwrap();
        std::fs::write(root.join("Cargo.toml"), "").unwrap();
        std::fs::write(root.join("src/main.rs"), "").unwrap();
        let mut sources = Sources::of(root);
        assert!(!sources.changed());
        std::fs::write(root.join("src/.main.rs.swp"), "").unwrap();
        assert!(!sources.changed(), "hidden files are not sources");
        std::fs::write(root.join("src/actions/forms.rs"), "").unwrap();
        assert!(sources.changed());
        assert!(!sources.changed());
        let file = std::fs::File::options()
            .write(true)
            .open(root.join("src/main.rs"))
            .unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        assert!(sources.changed());
        std::fs::remove_file(root.join("src/actions/forms.rs")).unwrap();
        assert!(sources.changed());
    }

    #[test]
    fn exit_codes_are_a_shells() {
        assert_eq!(exit_code(ExitStatus::from_raw(3 << 8)), 3);
        assert_eq!(exit_code(ExitStatus::from_raw(15)), 128 + 15);
        assert_eq!(
            describe(ExitStatus::from_raw(9), "the action server"),
            "the action server was killed by signal 9"
        );
    }
}
