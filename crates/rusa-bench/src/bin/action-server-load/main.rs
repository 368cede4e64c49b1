//! `action-server-load`: the same load on two action servers, one after the other in one
//! run, and their figures side by side — rusa-sdk (the `weatherbot-actions` example) and
//! Python's rasa-sdk running an `action_forecast` that does what the Rust one does.
//!
//! Per server: the time from spawn until `GET /health` answers 200 (polled every 5 ms), the
//! RSS of its process tree after the start and after the load (rasa-sdk runs worker
//! processes), one client's latency over sequential requests, requests/s with concurrent
//! clients (one keep-alive connection each) for a fixed time, and the server's CPU time per
//! request (utime + stime of its tree). Every request is the same `POST /webhook` running
//! `action_forecast` with a 60-event tracker and a full domain (about 18 KB, see
//! `payload.rs`); every reply must be a 200 whose body is the expected one, and anything
//! else is counted, listed and makes the exit code 1. It prints figures and the targets of
//! `shared/spec/performance.md`, and asserts nothing about time. `scripts/bench-action-server.sh`
//! builds and runs it.
//!
//! The load generator runs on the same machine as the servers: unless `--client-cpus` and
//! `--server-cpus` split the CPUs between them, it competes with the server for them, so
//! the figures at 16 clients are bounded by what it leaves; its own CPU per request is
//! printed to judge that.

mod http;
mod payload;
mod servers;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rusa_bench::process_tree::{self, TreeMemory};
use rusa_bench::stats::Samples;
use serde_json::Value;

use crate::http::Connection;
use crate::servers::{Server, ServerCommand};

/// The figures performance.md sets for rusa-sdk.
const TARGET_THROUGHPUT_RATIO: f64 = 20.0;
const TARGET_RSS_MIB: f64 = 15.0;
const TARGET_START: Duration = Duration::from_millis(50);
const TARGET_CPU_PER_REQUEST: Duration = Duration::from_micros(100);

/// Puts the same load on rusa-sdk and on rasa-sdk and prints their figures side by side.
#[derive(Debug, Parser)]
#[command(name = "action-server-load")]
struct Args {
    /// The rusa-sdk action server: the `weatherbot-actions` release binary
    #[arg(long, value_name = "PATH")]
    rusa_sdk: PathBuf,
    /// A Python with rasa-sdk installed (a venv's bin/python)
    #[arg(long, value_name = "PATH")]
    python: PathBuf,
    /// Starts timed per server (the last one serves the load)
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Unmeasured requests of one client before measuring
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Sequential requests of one client, each timed
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Concurrent clients, one keep-alive connection each
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// How long the concurrent clients send requests, in seconds
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Sanic workers of rasa-sdk (its ACTION_SERVER_SANIC_WORKERS; 1 is its default)
    #[arg(long, default_value_t = 1)]
    rasa_sdk_workers: usize,
    /// CPUs the servers run on (`taskset -c` list, e.g. `1`); all when not given
    #[arg(long, value_name = "LIST")]
    server_cpus: Option<String>,
    /// CPUs the load generator runs on (`taskset -c` list, e.g. `0`); all when not given
    #[arg(long, value_name = "LIST")]
    client_cpus: Option<String>,
}

/// What was measured on one server.
struct Measured {
    /// The 1-minute load average when the server's turn began (other work on the machine).
    load_average: String,
    starts: Samples,
    memory_after_start: TreeMemory,
    sequential: Samples,
    sequential_cpu: Duration,
    concurrent: Samples,
    /// Good replies of the concurrent clients that arrived within `--seconds`.
    concurrent_in_time: u64,
    concurrent_cpu: Duration,
    client_cpu: Duration,
    memory_after_load: TreeMemory,
    requests: u64,
    failures: Vec<(String, u64)>,
}

impl Measured {
    /// Requests/s of the concurrent clients: the good replies that arrived within the
    /// measured seconds (so a late straggler does not stretch the time).
    fn throughput(&self, seconds: f64) -> f64 {
        self.concurrent_in_time as f64 / seconds
    }

    fn failed(&self) -> u64 {
        self.failures.iter().map(|(_, n)| n).sum()
    }
}

/// The request and the reply every exchange must get.
struct Load {
    /// `POST /webhook` without its head, which names the port.
    body: Vec<u8>,
    expected: Value,
}

/// What the clients of one phase saw.
#[derive(Default)]
struct Outcome {
    latencies: Vec<Duration>,
    requests: u64,
    failures: BTreeMap<String, u64>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies.extend(other.latencies);
        self.requests += other.requests;
        for (message, n) in other.failures {
            *self.failures.entry(message).or_default() += n;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("action-server-load: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Measures both servers and prints the report; `false` when a request failed.
fn run(args: &Args) -> anyhow::Result<bool> {
    if args.starts == 0 || args.clients == 0 || args.requests == 0 || args.seconds <= 0.0 {
        bail!("--starts, --clients, --requests and --seconds must be above 0");
    }
    // Counted before pinning, which narrows what this process sees.
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    if let Some(cpus) = &args.client_cpus {
        pin_self(cpus)?;
    }
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    std::fs::write(dir.path().join("actions.py"), payload::ACTIONS_PY)
        .context("cannot write actions.py")?;
    let absolute = |path: &PathBuf| {
        std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
    };
    let rusa_sdk = ServerCommand {
        name: "rusa-sdk",
        program: absolute(&args.rusa_sdk)?,
        // No endpoints file in the directory: tracing off, as for rasa-sdk.
        args: vec![],
        env: vec![("SANIC_HOST".into(), "127.0.0.1".into())],
        dir: dir.path().to_owned(),
        log: dir.path().join("rusa-sdk.log"),
        cpus: args.server_cpus.clone(),
    };
    let rasa_sdk = ServerCommand {
        name: "rasa-sdk",
        program: absolute(&args.python)?,
        args: ["-m", "rasa_sdk", "--actions", "actions"]
            .map(Into::into)
            .to_vec(),
        env: vec![
            ("SANIC_HOST".into(), "127.0.0.1".into()),
            (
                "ACTION_SERVER_SANIC_WORKERS".into(),
                args.rasa_sdk_workers.to_string(),
            ),
            ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        ],
        dir: dir.path().to_owned(),
        log: dir.path().join("rasa-sdk.log"),
        cpus: args.server_cpus.clone(),
    };
    let call = payload::action_call();
    let load = Load {
        body: serde_json::to_vec(&call)?,
        expected: payload::expected_reply(),
    };
    let mut without_domain = call.clone();
    without_domain
        .as_object_mut()
        .expect("the call is an object")
        .remove("domain");
    let without_domain = serde_json::to_vec(&without_domain)?.len();

    print_header(args, &load, without_domain, cores);
    let rusa = measure(args, &rusa_sdk, &load)?;
    let rasa = measure(args, &rasa_sdk, &load)?;
    print_report(args, &rusa, &rasa);
    Ok(rusa.failures.is_empty() && rasa.failures.is_empty())
}

/// Moves this process (all its threads) to `cpus`.
fn pin_self(cpus: &str) -> anyhow::Result<()> {
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()
        .context("cannot run taskset")?;
    if !status.success() {
        bail!("taskset -c {cpus} failed ({status})");
    }
    Ok(())
}

/// Starts `command` `--starts` times, then loads the last start.
fn measure(args: &Args, command: &ServerCommand, load: &Load) -> anyhow::Result<Measured> {
    eprintln!("action-server-load: measuring {}…", command.name);
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let mut starts = Vec::with_capacity(args.starts);
    let mut server = None;
    for i in 0..args.starts {
        let (mut started, elapsed) = command.start()?;
        starts.push(elapsed);
        if i + 1 < args.starts {
            stop(command.name, &mut started);
        } else {
            server = Some(started);
        }
    }
    let mut server = server.expect("at least one start");
    let memory_after_start = process_tree::memory(server.pid())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(drive(args, &server, load));
    if let Some(status) = server.exited()? {
        bail!(
            "{} died during the load ({status}); its log:\n{}",
            command.name,
            servers::log_tail(&command.log)
        );
    }
    let phases = result.with_context(|| {
        format!(
            "{}: the load could not run; its log:\n{}",
            command.name,
            servers::log_tail(&command.log)
        )
    })?;
    let memory_after_load = process_tree::memory(server.pid())?;
    drop(runtime);
    stop(command.name, &mut server);
    let mut failures: Vec<(String, u64)> = phases.outcome.failures.into_iter().collect();
    failures.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    Ok(Measured {
        load_average,
        starts: Samples::new(starts),
        memory_after_start,
        sequential: phases.sequential,
        sequential_cpu: phases.sequential_cpu,
        concurrent: phases.concurrent,
        concurrent_in_time: phases.concurrent_in_time,
        concurrent_cpu: phases.concurrent_cpu,
        client_cpu: phases.client_cpu,
        memory_after_load,
        requests: phases.outcome.requests,
        failures,
    })
}

/// Stops a server; one that has to be killed is worth a warning, not the run's figures.
fn stop(name: &str, server: &mut Server) {
    if let Err(e) = server.stop() {
        eprintln!("action-server-load: warning: {name}: {e:#}");
    }
}

/// What the load phases measured; `outcome` counts the requests and failures of all.
struct Phases {
    sequential: Samples,
    sequential_cpu: Duration,
    concurrent: Samples,
    concurrent_in_time: u64,
    concurrent_cpu: Duration,
    client_cpu: Duration,
    outcome: Outcome,
}

async fn drive(args: &Args, server: &Server, load: &Load) -> anyhow::Result<Phases> {
    let addr = server.addr;
    let request: Arc<[u8]> = http::post_json(addr, "/webhook", &load.body).into();
    let mut connection = Connection::open(addr).await?;
    // The first reply is compared with the expected JSON; the later ones with its bytes.
    let expected: Arc<[u8]> = first_reply(&mut connection, &request, &load.expected)
        .await?
        .into();
    let mut outcome = Outcome {
        requests: 1,
        ..Outcome::default()
    };

    let mut warmup = Outcome::default();
    for _ in 0..args.warmup {
        exchange(&mut connection, &request, &expected, &mut warmup).await;
    }
    warmup.latencies.clear();
    outcome.merge(warmup);

    let cpu_before = process_tree::cpu_time(server.pid())?;
    let mut sequential = Outcome::default();
    sequential.latencies.reserve(args.requests);
    for _ in 0..args.requests {
        exchange(&mut connection, &request, &expected, &mut sequential).await;
    }
    let sequential_cpu = process_tree::cpu_time(server.pid())?.saturating_sub(cpu_before);
    let sequential_latencies = std::mem::take(&mut sequential.latencies);
    outcome.merge(sequential);
    drop(connection);

    // Every client connects before the clock starts.
    let mut connections = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        connections.push(Connection::open(addr).await?);
    }
    let cpu_before = process_tree::cpu_time(server.pid())?;
    let client_before = process_tree::own_cpu_time()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for mut connection in connections {
        let request = Arc::clone(&request);
        let expected = Arc::clone(&expected);
        tasks.spawn(async move {
            let mut outcome = Outcome::default();
            let mut in_time = 0;
            while Instant::now() < deadline {
                let good = exchange(&mut connection, &request, &expected, &mut outcome).await;
                if good && Instant::now() <= deadline {
                    in_time += 1;
                }
            }
            (outcome, in_time)
        });
    }
    let mut concurrent = Outcome::default();
    let mut concurrent_in_time = 0;
    while let Some(client) = tasks.join_next().await {
        let (outcome, in_time) = client.context("a client task failed")?;
        concurrent.merge(outcome);
        concurrent_in_time += in_time;
    }
    let concurrent_cpu = process_tree::cpu_time(server.pid())?.saturating_sub(cpu_before);
    let client_cpu = process_tree::own_cpu_time()?.saturating_sub(client_before);
    let concurrent_latencies = std::mem::take(&mut concurrent.latencies);
    outcome.merge(concurrent);

    Ok(Phases {
        sequential: Samples::new(sequential_latencies),
        sequential_cpu,
        concurrent: Samples::new(concurrent_latencies),
        concurrent_in_time,
        concurrent_cpu,
        client_cpu,
        outcome,
    })
}

/// Sends the request once and checks the reply against the expected JSON; returns the
/// reply's bytes, which every later reply must equal.
async fn first_reply(
    connection: &mut Connection,
    request: &[u8],
    expected: &Value,
) -> anyhow::Result<Vec<u8>> {
    let (status, body) = connection
        .exchange(request)
        .await
        .map_err(|e| anyhow::anyhow!("the first request failed: {e}"))?;
    if status != 200 {
        bail!("the first request got HTTP {status}: {}", snippet(body));
    }
    let reply: Value = serde_json::from_slice(body)
        .with_context(|| format!("the first reply is not JSON: {}", snippet(body)))?;
    if &reply != expected {
        bail!(
            "the first reply is not the expected one:\n  got      {reply}\n  expected {expected}"
        );
    }
    Ok(body.to_vec())
}

/// One timed request: its latency is kept when the reply is a 200 with the expected body
/// (and `true` returned); the failure is counted otherwise.
async fn exchange(
    connection: &mut Connection,
    request: &[u8],
    expected: &[u8],
    outcome: &mut Outcome,
) -> bool {
    outcome.requests += 1;
    let started = Instant::now();
    let result = connection.exchange(request).await;
    let elapsed = started.elapsed();
    let failure = match result {
        Ok((200, body)) if body == expected => {
            outcome.latencies.push(elapsed);
            return true;
        }
        Ok((200, body)) => format!("200 with another body: {}", snippet(body)),
        Ok((status, body)) => format!("HTTP {status}: {}", snippet(body)),
        Err(message) => message,
    };
    *outcome.failures.entry(failure).or_default() += 1;
    false
}

/// The start of a reply body, for failure messages.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(160).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

fn print_header(args: &Args, load: &Load, without_domain: usize, cores: usize) {
    let python = Command::new(&args.python)
        .args([
            "-c",
            "import sys, rasa_sdk, sanic; print(f'rasa-sdk {rasa_sdk.__version__}, Sanic {sanic.__version__}, Python {sys.version.split()[0]}')",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "rasa-sdk (version unknown)".into());
    println!("action-server-load: rusa-sdk (weatherbot-actions) vs {python}");
    println!(
        "  request: POST /webhook running action_forecast, a 60-event tracker and a domain of 20 slots, 30 intents, 30 responses: {} bytes ({without_domain} without the domain); every reply checked (200, the expected body)",
        load.body.len()
    );
    println!(
        "  rasa-sdk: {} Sanic worker(s); both servers without tracing, default log level",
        args.rasa_sdk_workers
    );
    match (&args.client_cpus, &args.server_cpus) {
        (None, None) => println!(
            "  the load generator (one thread) shares the {cores} cores with the server: the figures at {} clients are bounded by what it leaves (its CPU per request is below)",
            args.clients
        ),
        (client, server) => println!(
            "  pinned: load generator on CPUs {}, servers on CPUs {} (of {cores})",
            client.as_deref().unwrap_or("all"),
            server.as_deref().unwrap_or("all")
        ),
    }
}

fn print_report(args: &Args, rusa: &Measured, rasa: &Measured) {
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let memory = |m: &TreeMemory| {
        format!(
            "{:.1} MiB ({} process{}; PSS {:.1} MiB)",
            mib(m.rss_kib),
            m.processes,
            if m.processes == 1 { "" } else { "es" },
            mib(m.pss_kib)
        )
    };
    let per_request = |cpu: Duration, n: usize| cpu.as_secs_f64() * 1e3 / n.max(1) as f64;
    // How rusa-sdk compares: `less` for what costs (time, memory), `more` for throughput;
    // always a factor of at least 1, with the word saying which way.
    let factor = |r: f64, above: &str, below: &str| {
        if r >= 1.0 {
            format!("{r:.1}× {above}")
        } else {
            format!("{:.1}× {below}", 1.0 / r.max(1e-12))
        }
    };
    let less = |rusa: f64, rasa: f64| factor(rasa / rusa.max(1e-12), "less", "more");
    let more = |rusa: f64, rasa: f64| factor(rusa / rasa.max(1e-12), "more", "less");

    let rows: Vec<(String, String, String, String)> = vec![
        (
            format!(
                "start until GET /health answers 200, median of {} (min–max)",
                args.starts
            ),
            format!(
                "{} ({}–{})",
                ms(rusa.starts.median()),
                ms(rusa.starts.min()),
                ms(rusa.starts.max())
            ),
            format!(
                "{} ({}–{})",
                ms(rasa.starts.median()),
                ms(rasa.starts.min()),
                ms(rasa.starts.max())
            ),
            less(
                rusa.starts.median().as_secs_f64(),
                rasa.starts.median().as_secs_f64(),
            ),
        ),
        (
            "RSS after start (process tree)".into(),
            memory(&rusa.memory_after_start),
            memory(&rasa.memory_after_start),
            less(
                rusa.memory_after_start.rss_kib as f64,
                rasa.memory_after_start.rss_kib as f64,
            ),
        ),
        (
            format!("1 client: latency p50 / p99 ({} requests)", args.requests),
            format!(
                "{} / {}",
                ms(rusa.sequential.median()),
                ms(rusa.sequential.percentile(0.99))
            ),
            format!(
                "{} / {}",
                ms(rasa.sequential.median()),
                ms(rasa.sequential.percentile(0.99))
            ),
            less(
                rusa.sequential.median().as_secs_f64(),
                rasa.sequential.median().as_secs_f64(),
            ),
        ),
        (
            "1 client: server CPU per request".into(),
            format!(
                "{:.3} ms",
                per_request(rusa.sequential_cpu, rusa.sequential.len())
            ),
            format!(
                "{:.3} ms",
                per_request(rasa.sequential_cpu, rasa.sequential.len())
            ),
            less(
                per_request(rusa.sequential_cpu, rusa.sequential.len()),
                per_request(rasa.sequential_cpu, rasa.sequential.len()),
            ),
        ),
        (
            format!(
                "{} clients: requests/s over {} s",
                args.clients, args.seconds
            ),
            format!(
                "{:.0}/s ({} good replies in time)",
                rusa.throughput(args.seconds),
                rusa.concurrent_in_time
            ),
            format!(
                "{:.0}/s ({} good replies in time)",
                rasa.throughput(args.seconds),
                rasa.concurrent_in_time
            ),
            more(rusa.throughput(args.seconds), rasa.throughput(args.seconds)),
        ),
        (
            format!("{} clients: latency p50 / p99 / max", args.clients),
            format!(
                "{} / {} / {}",
                ms(rusa.concurrent.median()),
                ms(rusa.concurrent.percentile(0.99)),
                ms(rusa.concurrent.max())
            ),
            format!(
                "{} / {} / {}",
                ms(rasa.concurrent.median()),
                ms(rasa.concurrent.percentile(0.99)),
                ms(rasa.concurrent.max())
            ),
            less(
                rusa.concurrent.median().as_secs_f64(),
                rasa.concurrent.median().as_secs_f64(),
            ),
        ),
        (
            format!("{} clients: server CPU per request", args.clients),
            format!(
                "{:.3} ms",
                per_request(rusa.concurrent_cpu, rusa.concurrent.len())
            ),
            format!(
                "{:.3} ms",
                per_request(rasa.concurrent_cpu, rasa.concurrent.len())
            ),
            less(
                per_request(rusa.concurrent_cpu, rusa.concurrent.len()),
                per_request(rasa.concurrent_cpu, rasa.concurrent.len()),
            ),
        ),
        (
            format!("{} clients: load generator CPU per request", args.clients),
            format!(
                "{:.3} ms",
                per_request(rusa.client_cpu, rusa.concurrent.len())
            ),
            format!(
                "{:.3} ms",
                per_request(rasa.client_cpu, rasa.concurrent.len())
            ),
            String::new(),
        ),
        (
            "RSS after the load (process tree)".into(),
            memory(&rusa.memory_after_load),
            memory(&rasa.memory_after_load),
            less(
                rusa.memory_after_load.rss_kib as f64,
                rasa.memory_after_load.rss_kib as f64,
            ),
        ),
        (
            "load average (1 min) when the server's turn began".into(),
            rusa.load_average.clone(),
            rasa.load_average.clone(),
            String::new(),
        ),
        (
            "failed requests (not 200 with the expected body)".into(),
            format!("{} of {}", rusa.failed(), rusa.requests),
            format!("{} of {}", rasa.failed(), rasa.requests),
            String::new(),
        ),
    ];
    println!();
    println!("| figure | rusa-sdk | rasa-sdk | rusa-sdk vs rasa-sdk |");
    println!("|---|---|---|---|");
    for (figure, a, b, ratio) in rows {
        println!("| {figure} | {a} | {b} | {ratio} |");
    }

    let met = |ok: bool| if ok { "met" } else { "MISSED" };
    let ratio = rusa.throughput(args.seconds) / rasa.throughput(args.seconds).max(1e-12);
    let rss = mib(rusa
        .memory_after_start
        .rss_kib
        .max(rusa.memory_after_load.rss_kib));
    let start = rusa.starts.median();
    let cpu = Duration::from_secs_f64(
        rusa.sequential_cpu.as_secs_f64() / rusa.sequential.len().max(1) as f64,
    );
    println!();
    println!("| target (shared/spec/performance.md) | rusa-sdk | |");
    println!("|---|---|---|");
    println!(
        "| requests/s at {} clients ≥ {TARGET_THROUGHPUT_RATIO}× rasa-sdk's | {ratio:.1}× | {} |",
        args.clients,
        met(ratio >= TARGET_THROUGHPUT_RATIO)
    );
    println!(
        "| RSS ≤ {TARGET_RSS_MIB} MiB, after start and after the load | {:.1} / {:.1} MiB | {} |",
        mib(rusa.memory_after_start.rss_kib),
        mib(rusa.memory_after_load.rss_kib),
        met(rss <= TARGET_RSS_MIB)
    );
    println!(
        "| start ≤ {} ms (median) | {} | {} |",
        TARGET_START.as_millis(),
        ms(start),
        met(start <= TARGET_START)
    );
    println!(
        "| server CPU per request, 1 client, ≤ {} ms | {} | {} |",
        TARGET_CPU_PER_REQUEST.as_secs_f64() * 1e3,
        ms(cpu),
        met(cpu <= TARGET_CPU_PER_REQUEST)
    );
    println!();
    println!(
        "CPU times are whole clock ticks (10 ms) of the tree's utime + stime: over {} sequential requests ±{:.3} ms per request. Start times include one {} ms poll interval at most.",
        args.requests,
        10.0 / args.requests.max(1) as f64,
        servers::POLL_INTERVAL.as_millis()
    );
    for (name, measured) in [("rusa-sdk", rusa), ("rasa-sdk", rasa)] {
        if !measured.failures.is_empty() {
            println!("\nFAILED REQUESTS ({name}):");
            for (message, count) in &measured.failures {
                println!("  {count} × {message}");
            }
        }
    }
}
