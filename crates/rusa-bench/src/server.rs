//! The `rusa run` process under test: spawning it, timing it until `GET /status` answers,
//! reading its memory and CPU time from `/proc`, and stopping it with SIGTERM.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a start may take before the benchmark gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between two attempts to reach `/status` while the server starts.
const POLL_INTERVAL: Duration = Duration::from_micros(250);
/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// How to start the server: `rusa run --enable-api` in the project's directory.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    pub rusa: PathBuf,
    pub project: PathBuf,
    pub models: PathBuf,
    pub endpoints: PathBuf,
    pub log: PathBuf,
    pub addr: SocketAddr,
}

/// A running `rusa run`.
pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

/// Memory of a process from `/proc/<pid>/status`, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss_kib: u64,
    pub hwm_kib: u64,
}

/// A free port on 127.0.0.1 (bound and released; the server binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

impl ServerCommand {
    /// Spawns the server and waits until `GET /status` answers 200; returns the server and
    /// the time from spawn to that first 200.
    pub fn start(&self) -> anyhow::Result<(Server, Duration)> {
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let mut command = Command::new(&self.rusa);
        command
            .arg("run")
            .arg("--enable-api")
            .args(["--interface", "127.0.0.1"])
            .args(["--port", &self.addr.port().to_string()])
            .arg("--model")
            .arg(&self.models)
            .arg("--endpoints")
            .arg(&self.endpoints)
            .current_dir(&self.project)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let started = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", self.rusa.display()))?;
        let mut server = Server {
            child,
            addr: self.addr,
        };
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited ({status}) before /status answered; its log:\n{}",
                    log_tail(&self.log)
                );
            }
            if rusa_bench::probe::answers_200(self.addr, "/status") {
                return Ok((server, started.elapsed()));
            }
            if started.elapsed() > START_TIMEOUT {
                server.stop()?;
                bail!(
                    "/status did not answer 200 within {START_TIMEOUT:?}; the server's log:\n{}",
                    log_tail(&self.log)
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Server {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has exited (crashed: the benchmark never stops it before the end).
    pub fn exited(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// VmRSS and VmHWM of the server.
    pub fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.pid());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("{path} has no {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            hwm_kib: field("VmHWM:")?,
        })
    }

    /// User plus system CPU time the server has used so far.
    pub fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(&format!("/proc/{}/stat", self.pid()))
    }

    /// Sends SIGTERM and waits for the exit (kills after a timeout); returns the exit status.
    pub fn stop(&mut self) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // `kill` (the command) rather than a signal crate: one SIGTERM, no unsafe code.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.child.kill()?;
        bail!("the server did not stop within {STOP_TIMEOUT:?} of SIGTERM and was killed")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// CPU time (user + system) of this process, for the load generator's own share.
pub fn own_cpu_time() -> anyhow::Result<Duration> {
    cpu_time_of("/proc/self/stat")
}

fn cpu_time_of(path: &str) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
    // The command name (field 2) may hold spaces; the fields after its ')' are plain.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} has no command name"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: indexes 11 and 12 after the name.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("{path}: no CPU time field"))
    };
    Ok(Duration::from_secs_f64((ticks(11)? + ticks(12)?) / USER_HZ))
}

/// The last lines of the server's log, for error messages.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
