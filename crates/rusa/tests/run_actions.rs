//! `rusa run actions` and `rusa init --actions rust`, run as a user runs them: Python actions
//! served by rasa-sdk, a Cargo package built, served and rebuilt on change, the flags passed
//! on, SIGTERM forwarded to the server's whole process group and its exit code passed back.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The venv with rasa-sdk that rusa-actions' tests use (only `rasa_sdk_python` is used here).
#[allow(dead_code)]
#[path = "../../rusa-actions/tests/common/action_server.rs"]
mod action_server;

/// Bounds a start (with a build) and a rebuild; they take seconds.
const LIMIT: Duration = Duration::from_secs(120);

/// The binary with an environment that cannot reach the user's own configuration. HOME
/// changes, so rustup and cargo are told where their own homes are.
fn rusa(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rusa"));
    let home = dir.join(".home");
    if let Some(real_home) = std::env::var_os("HOME").map(PathBuf::from) {
        for (var, default) in [("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo")] {
            if std::env::var_os(var).is_none() {
                cmd.env(var, real_home.join(default));
            }
        }
    }
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env("SANIC_HOST", "127.0.0.1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null());
    cmd
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Output {
    let output = cmd.output().expect("rusa runs");
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path`: the status and the body, or `None` while nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// `rusa run actions` running in the background, its stderr going to a file; killed (with
/// the server's group, once known) if the test ends without stopping it.
struct Running {
    rusa: Child,
    log: PathBuf,
    group: Option<u32>,
}

impl Running {
    fn start(mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join("rusa.log");
        let file = std::fs::File::create(&log).unwrap();
        let rusa = cmd
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("rusa starts");
        Self {
            rusa,
            log,
            group: None,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `done` holds, failing when rusa exits or the time is up.
    fn wait_until(&mut self, what: &str, mut done: impl FnMut(&Self) -> bool) {
        let started = Instant::now();
        while !done(self) {
            if let Ok(Some(status)) = self.rusa.try_wait() {
                panic!("rusa exited ({status}) before {what}:\n{}", self.log());
            }
            assert!(
                started.elapsed() < LIMIT,
                "no {what} after {LIMIT:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends SIGTERM to rusa (not to the server: rusa forwards it) and waits for it.
    fn terminate(&mut self) -> ExitStatus {
        signal(&self.rusa.id().to_string(), "TERM");
        let started = Instant::now();
        loop {
            if let Some(status) = self.rusa.try_wait().unwrap() {
                return status;
            }
            assert!(
                started.elapsed() < LIMIT,
                "rusa did not stop:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(group) = self.group {
            signal(&format!("-{group}"), "KILL");
        }
        let _ = self.rusa.kill();
        let _ = self.rusa.wait();
    }
}

fn signal(target: &str, name: &str) -> bool {
    Command::new("kill")
        .args(["-s", name, "--", target])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Waits until no process of `group` is left.
fn assert_group_ends(group: u32) {
    let started = Instant::now();
    while signal(&format!("-{group}"), "0") {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "processes of the action server's group {group} are still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The process group id a server wrote to `file` when it started.
fn written_group(file: &Path) -> u32 {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn without_actions_it_says_what_it_looked_for() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(rusa(dir.path()).args(["run", "actions"]));
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.contains(
            "error: no custom actions to serve: looked for actions/__init__.py, actions/*.py, actions.py and actions/Cargo.toml"
        ),
        "{}",
        r.stderr
    );
    let r = run(rusa(dir.path()).args(["run", "actions", "--actions", "bot.acts"]));
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("looked for bot/acts/__init__.py"),
        "{}",
        r.stderr
    );
}

const HELLO_PY: &str = r#"
import os

from rasa_sdk import Action

# Where the server runs: the test checks that rusa started it in a process group of its own.
with open(os.path.join(os.path.dirname(__file__), "..", "group.txt"), "w") as f:
    f.write(str(os.getpgid(0)))


class ActionHello(Action):
    def name(self):
        return "action_hello"

    def run(self, dispatcher, tracker, domain):
        dispatcher.utter_message(text="hello")
        return []
"#;

#[test]
fn python_actions_run_on_rasa_sdk_and_stop_with_rusa() {
    let Some(python) = action_server::rasa_sdk_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("actions")).unwrap();
    std::fs::write(root.join("actions/__init__.py"), "").unwrap();
    std::fs::write(root.join("actions/actions.py"), HELLO_PY).unwrap();
    let port = free_port();
    let mut cmd = rusa(root);
    cmd.env("RUSA_PYTHON", &python)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args(["run", "actions", "--port", &port.to_string()]);
    let mut running = Running::start(cmd, root);
    running.wait_until("a healthy action server", |_| {
        get(port, "/health").is_some_and(|(status, _)| status == 200)
    });
    let (status, actions) = get(port, "/actions").unwrap();
    assert_eq!(status, 200);
    assert!(actions.contains(r#""name":"action_hello""#), "{actions}");
    let group = written_group(&root.join("group.txt"));
    running.group = Some(group);
    assert_ne!(
        group,
        running.rusa.id(),
        "the server leads a group of its own"
    );
    assert!(
        running
            .log()
            .contains("serving the Python actions of 'actions' with rasa-sdk 3.")
    );

    let status = running.terminate();
    // rasa-sdk stops on SIGTERM and exits with 0 — or with 1 and a traceback when the signal
    // comes while Sanic still waits for its worker to report ready, which is where this
    // test is. Either way rusa ends as it ends, not killed by the signal itself.
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "{status}:\n{}",
        running.log()
    );
    assert_group_ends(group);
    assert!(running.log().contains("stopping the action server"));
}

#[test]
fn python_actions_without_rasa_sdk_say_how_to_install_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::write(root.join("actions.py"), "").unwrap();
    // A Python without rasa_sdk: python3 when it has none, else a stand-in that fails as
    // Python does.
    let plain = Command::new("python3")
        .args(["-c", "import rasa_sdk"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| !s.success());
    let python = if plain {
        PathBuf::from("python3")
    } else {
        let fake = root.join("python-without-rasa-sdk");
        std::fs::write(
            &fake,
            "#!/bin/sh\necho \"ModuleNotFoundError: No module named 'rasa_sdk'\" >&2\nexit 1\n",
        )
        .unwrap();
        Command::new("chmod").arg("+x").arg(&fake).status().unwrap();
        fake
    };
    let r = run(rusa(root)
        .env("RUSA_PYTHON", &python)
        .args(["run", "actions"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("cannot import rasa_sdk")
            && r.stderr.contains("No module named 'rasa_sdk'"),
        "{}",
        r.stderr
    );
    let hint = r.stderr.lines().find(|l| l.starts_with("hint: ")).unwrap();
    assert!(hint.contains("pip install rasa-sdk"), "{hint}");

    let r = run(rusa(root)
        .env("RUSA_PYTHON", root.join("no-such-python"))
        .args(["run", "actions"]));
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("which cannot be found"), "{}", r.stderr);
    assert!(r.stderr.contains("pip install rasa-sdk"), "{}", r.stderr);
}

const TINY_CARGO_TOML: &str = r#"[package]
name = "tiny-actions"
version = "0.1.0"
edition = "2024"
publish = false

[workspace]
"#;

/// A stand-in action server without dependencies (it builds in about a second): it writes
/// its arguments and process group, then answers every request with its version.
const TINY_MAIN_RS: &str = r#"
use std::io::{Read, Write};

fn main() {
    if let Ok(code) = std::env::var("TINY_EXIT") {
        std::process::exit(code.parse().unwrap());
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::fs::write("argv.txt", args.join(" ")).unwrap();
    let group = std::fs::read_to_string("/proc/self/stat").unwrap();
    // `pid (name) state ppid pgrp ...`
    let group = group.rsplit(") ").next().unwrap().split(' ').nth(2).unwrap().to_owned();
    std::fs::write("group.txt", group).unwrap();
    let port: u16 = args[args.iter().position(|a| a == "--port").unwrap() + 1].parse().unwrap();
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    for stream in listener.incoming() {
        let mut stream = stream.unwrap();
        // The whole request, so that closing does not reset the connection.
        let mut request = Vec::new();
        let mut chunk = [0u8; 1024];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&chunk[..n]),
            }
        }
        let body = "VERSION_1";
        let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
    }
}
"#;

#[test]
fn a_cargo_package_is_built_served_rebuilt_and_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("actions/src")).unwrap();
    std::fs::write(root.join("actions/Cargo.toml"), TINY_CARGO_TOML).unwrap();
    let main_rs = root.join("actions/src/main.rs");
    std::fs::write(&main_rs, TINY_MAIN_RS).unwrap();
    let target = root.join("target");
    let port = free_port();
    let mut cmd = rusa(root);
    cmd.env("CARGO_TARGET_DIR", &target).args([
        "run",
        "actions",
        "--port",
        &port.to_string(),
        "--cors",
        "*",
        "--endpoints",
        "elsewhere.yml",
        "--log-file",
        "actions.log",
        "--auto-reload",
        "-vv",
    ]);
    let mut running = Running::start(cmd, root);
    let answers = |version: &'static str| {
        move |_: &Running| get(port, "/health").is_some_and(|(_, body)| body == version)
    };
    running.wait_until("the built server", answers("VERSION_1"));
    let log = running.log();
    assert!(
        log.contains("building the Rust actions in actions (cargo build --release)"),
        "{log}"
    );
    // The program cargo reported, in the target directory asked for.
    let program = target.join("release/tiny-actions");
    assert!(
        log.contains(&format!(
            "serving the Rust actions with {}",
            program.display()
        )),
        "{log}"
    );
    // rasa-sdk's flags reach it (`-vv` as `--debug`); --auto-reload is rusa's business for
    // compiled actions.
    assert_eq!(
        std::fs::read_to_string(root.join("argv.txt")).unwrap(),
        format!("--port {port} --cors * --endpoints elsewhere.yml --debug --log-file actions.log")
    );
    let group = written_group(&root.join("group.txt"));
    running.group = Some(group);
    assert_ne!(
        group,
        running.rusa.id(),
        "the server leads a group of its own"
    );

    // A change that does not build: the running server stays.
    std::fs::write(&main_rs, format!("{TINY_MAIN_RS}\nnot rust")).unwrap();
    running.wait_until("the failed rebuild", |r| {
        r.log()
            .contains("the action server keeps running the previous build")
    });
    assert_eq!(
        get(port, "/health").map(|(_, body)| body).as_deref(),
        Some("VERSION_1"),
        "{}",
        running.log()
    );
    // A change that builds: the new server replaces the old one.
    std::fs::write(&main_rs, TINY_MAIN_RS.replace("VERSION_1", "VERSION_2")).unwrap();
    running.wait_until("the rebuilt server", answers("VERSION_2"));
    assert!(
        running
            .log()
            .contains("rebuilt: restarting the action server")
    );
    assert_group_ends(group);
    let group = written_group(&root.join("group.txt"));
    running.group = Some(group);

    // The stand-in ignores SIGTERM's chance to exit cleanly: it dies of it, and rusa exits
    // as a shell reports that, 128 + 15.
    let status = running.terminate();
    assert_eq!(status.code(), Some(128 + 15), "{}", running.log());
    assert_group_ends(group);

    // A server that exits by itself: rusa exits with its code (the build is up to date).
    let r = run(rusa(root)
        .env("CARGO_TARGET_DIR", &target)
        .env("TINY_EXIT", "3")
        .args(["run", "actions", "--port", &port.to_string()]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("error: the action server exited with code 3"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_cargo_package_that_does_not_build_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("actions/src")).unwrap();
    std::fs::write(root.join("actions/Cargo.toml"), TINY_CARGO_TOML).unwrap();
    std::fs::write(root.join("actions/src/main.rs"), "fn main() { nope }").unwrap();
    let r = run(rusa(root)
        .env("CARGO_TARGET_DIR", root.join("target"))
        .args(["run", "actions"]));
    assert_eq!(r.code, 1);
    // The compiler's own message reaches the user, then rusa's.
    assert!(
        r.stderr.contains("cannot find value `nope`"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "error: the Rust actions in actions did not build (cargo build exited with code"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn init_with_rust_actions_writes_a_project_that_uses_them() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(rusa(dir.path()).args(["init", "--no-prompt", "--actions", "rust", "bot"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Next: `cd bot`, then serve its actions with `rusa run actions`")
            && r.stdout.contains("`rusa shell`"),
        "{}",
        r.stdout
    );
    let bot = dir.path().join("bot");
    let read = |file: &str| std::fs::read_to_string(bot.join(file)).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/weatherbot");
    assert_eq!(
        read("actions/src/lib.rs"),
        std::fs::read_to_string(example.join("actions/src/lib.rs")).unwrap()
    );
    assert!(read("actions/src/main.rs").contains("bot_actions::server().run_from_args()"));
    let manifest = read("actions/Cargo.toml");
    let rusa_sdk = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../rusa-sdk")
        .canonicalize()
        .unwrap();
    assert!(
        manifest.contains(&format!(
            "rusa-sdk = {{ path = \"{}\" }}",
            rusa_sdk.display()
        )),
        "{manifest}"
    );
    assert!(manifest.contains("name = \"bot-actions\""), "{manifest}");
    assert!(manifest.contains("\n[workspace]\n"), "{manifest}");
    assert_eq!(read(".gitignore"), "actions/target/\n");
    assert!(
        read("domain.yml").ends_with("actions:\n  - action_forecast\n  - validate_weather_form\n")
    );
    assert!(read("data/rules.yml").contains("- action: action_forecast\n"));
    assert!(
        read("endpoints.yml")
            .contains("\naction_endpoint:\n  url: \"http://localhost:5055/webhook\"\n")
    );
    // The project loads and is clean; rusa run actions finds the package.
    let r = run(rusa(&bot).args(["data", "validate", "--fail-on-warnings"]));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("the project is valid"), "{}", r.stdout);
    // The package itself is the example's (built with the workspace), so it is not built
    // here.
}
