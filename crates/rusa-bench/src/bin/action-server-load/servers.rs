//! The action servers under test: how each is started, timing a start until `GET /health`
//! answers 200, and stopping the whole process group (rasa-sdk's Sanic runs worker
//! processes that outlive a SIGTERM to the main process alone).

use std::ffi::OsString;
use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a start may take before the benchmark gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM before its group is killed (Sanic waits
/// up to 15 s, its `GRACEFUL_SHUTDOWN_TIMEOUT`, for open connections).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Pause between two `GET /health` attempts while a server starts.
pub const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// How to start one server: `program args… --port <free port>` in `dir`.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// The name in the report (`rusa-sdk`, `rasa-sdk`).
    pub name: &'static str,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(String, String)>,
    /// The working directory (the Python server imports its actions module from it).
    pub dir: PathBuf,
    /// The server's output is appended to this file.
    pub log: PathBuf,
    /// CPUs to run the server on (`taskset -c` syntax); all when `None`.
    pub cpus: Option<String>,
}

/// A running server, with its process group.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl ServerCommand {
    /// Spawns the server on a free port and waits until `GET /health` answers 200, asking
    /// every [`POLL_INTERVAL`]; returns the server and the time from spawn to that answer.
    pub fn start(&self) -> anyhow::Result<(Server, Duration)> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut command = match &self.cpus {
            // taskset execs the server: the pid is the server's.
            Some(cpus) => {
                let mut command = Command::new("taskset");
                command.args(["-c", cpus]).arg(&self.program);
                command
            }
            None => Command::new(&self.program),
        };
        command
            .args(&self.args)
            .args(["--port", &port.to_string()])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.dir)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        let mut server = Server { child, addr };
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{} exited ({status}) before /health answered; its log:\n{}",
                    self.name,
                    log_tail(&self.log)
                );
            }
            if rusa_bench::probe::answers_200(addr, "/health") {
                return Ok((server, started.elapsed()));
            }
            if started.elapsed() > START_TIMEOUT {
                server.stop()?;
                bail!(
                    "{}: /health did not answer 200 within {START_TIMEOUT:?}; its log:\n{}",
                    self.name,
                    log_tail(&self.log)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

/// A free port on 127.0.0.1 (bound and released; the server binds it right after).
fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the server has exited (it crashed: the bench stops it only at the end).
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Sends SIGTERM to the process group and waits for the server to exit; kills the group
    /// after [`STOP_TIMEOUT`]. Returns the server's exit status.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        signal_group(self.pid(), "-TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                // Workers that have not followed their parent yet.
                signal_group(self.pid(), "-KILL");
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        signal_group(self.pid(), "-KILL");
        let _ = self.child.wait();
        bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM and was killed")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            signal_group(self.pid(), "-KILL");
            let _ = self.child.wait();
        }
    }
}

/// `kill <signal> -- -<pgid>`: the server leads its own group (`process_group(0)`). The
/// command rather than a signal crate: no unsafe code.
fn signal_group(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

/// The last lines of a server's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
