//! `serve-load`: measures one `rusa run` server on 127.0.0.1 with a bounded number of
//! requests and prints the figures of `shared/spec/performance.md` as a table — start until
//! `GET /status` answers, one client's webhook turn latency, turns/s with concurrent
//! clients, a turn after a long history against a fresh sender's, and the server's memory.
//!
//! It starts the server itself (so that it can time the start and read `/proc/<pid>`), on
//! whatever tracker store the given endpoints file names; `scripts/bench-serve.sh` runs it
//! once per store. Every reply is checked (a 200 with a JSON array of bot messages addressed
//! to the sender); failures are counted and listed, and make the exit code 1. It prints
//! figures and asserts nothing about time.

mod client;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use rusa_bench::stats::Samples;

use crate::client::{Client, Tally};
use crate::server::{Memory, Server, ServerCommand};

/// Turns sent to the long conversation between two looks at its event count.
const HISTORY_BATCH: usize = 50;

/// Measures `rusa run` on 127.0.0.1 and prints a table of figures.
#[derive(Debug, Parser)]
#[command(name = "serve-load")]
struct Args {
    /// The rusa binary
    #[arg(long, value_name = "PATH")]
    rusa: PathBuf,
    /// The project directory the server runs in (its credentials.yml must open `rest`)
    #[arg(long, value_name = "DIR")]
    project: PathBuf,
    /// Trained model archive or directory [default: PROJECT/models]
    #[arg(long, value_name = "PATH")]
    models: Option<PathBuf>,
    /// Endpoints file naming the tracker store under test
    #[arg(long, value_name = "PATH")]
    endpoints: PathBuf,
    /// Name of the store in the table's title
    #[arg(long, default_value = "in-memory")]
    store: String,
    /// File the server's output is appended to
    #[arg(long, value_name = "PATH", default_value = "serve-load.log")]
    log: PathBuf,
    /// Server starts timed (the last one serves the load)
    #[arg(long, default_value_t = 5)]
    starts: usize,
    /// Unmeasured turns (new senders) before measuring
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// Sequential turns of one client, each from a new sender (with the warm-up, 4,400
    /// requests: the point at which performance.md compares memory with Rasa's)
    #[arg(long, default_value_t = 4200)]
    turns: usize,
    /// Concurrent clients, one keep-alive connection each
    #[arg(long, default_value_t = 16)]
    clients: usize,
    /// Turns sent by the concurrent clients together
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Conversations each concurrent client takes turns in, round robin
    #[arg(long, default_value_t = 100)]
    senders_per_client: usize,
    /// Events the long conversation has before its turns are measured
    #[arg(long, default_value_t = 1200)]
    history_events: usize,
    /// Turns measured on the long conversation (and as many on fresh senders, interleaved)
    #[arg(long, default_value_t = 100)]
    history_turns: usize,
    /// The user's message in every turn
    #[arg(long, default_value = "hello")]
    message: String,
}

/// What one run measured.
struct Report {
    starts: Samples,
    load: Load,
    memory_after_start: Memory,
    memory_after_load: Memory,
    requests: u64,
    failures: Vec<(String, u64)>,
}

/// What the load phases measured.
struct Load {
    /// Memory after the one-client phase, and how many requests had been sent by then.
    memory_mid: Memory,
    requests_mid: u64,
    sequential: Samples,
    concurrent: Samples,
    concurrent_wall: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
    history_events: usize,
    history_events_after: usize,
    long: Samples,
    fresh: Samples,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match measure(&args) {
        Ok(report) => {
            print_report(&args, &report);
            if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("serve-load: {}: error: {e:#}", args.store);
            ExitCode::FAILURE
        }
    }
}

fn measure(args: &Args) -> anyhow::Result<Report> {
    if args.starts == 0 || args.clients == 0 || args.senders_per_client == 0 {
        bail!("--starts, --clients and --senders-per-client must be at least 1");
    }
    let port = server::free_port()?;
    // Absolute, because the server runs in the project's directory.
    let absolute = |path: &std::path::Path| {
        std::path::absolute(path).with_context(|| format!("bad path {}", path.display()))
    };
    let command = ServerCommand {
        rusa: absolute(&args.rusa)?,
        project: absolute(&args.project)?,
        models: absolute(
            &args
                .models
                .clone()
                .unwrap_or_else(|| args.project.join("models")),
        )?,
        endpoints: absolute(&args.endpoints)?,
        log: absolute(&args.log)?,
        addr: ([127, 0, 0, 1], port).into(),
    };
    let tally = Arc::new(Tally::default());
    let mut starts = Vec::new();
    let mut server = None;
    for i in 0..args.starts {
        let (mut started, elapsed) = command.start()?;
        starts.push(elapsed);
        if i + 1 < args.starts {
            let status = started.stop()?;
            if !status.success() {
                bail!("the server exited with {status} after SIGTERM");
            }
        } else {
            server = Some(started);
        }
    }
    let mut server = server.expect("at least one start");
    let memory_after_start = server.memory()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let load = runtime.block_on(load(args, &server, &tally))?;
    if let Some(status) = server.exited()? {
        let failures: Vec<String> = tally
            .failures()
            .iter()
            .map(|(message, count)| format!("  {count} × {message}"))
            .collect();
        bail!(
            "the server died during the load ({status}); {} requests, failures:\n{}\nits log:\n{}",
            tally.requests(),
            failures.join("\n"),
            server::log_tail(&args.log)
        );
    }
    let memory_after_load = server.memory()?;
    let status = server.stop()?;
    if !status.success() {
        bail!("the server exited with {status} after SIGTERM");
    }
    Ok(Report {
        starts: Samples::new(starts),
        memory_after_start,
        memory_after_load,
        requests: tally.requests(),
        failures: tally.failures(),
        load,
    })
}

/// The load phases, on one connection per client.
async fn load(args: &Args, server: &Server, tally: &Arc<Tally>) -> anyhow::Result<Load> {
    let addr = server.addr;
    let text = args.message.as_str();
    let mut client = Client::connect(addr, Arc::clone(tally)).await?;
    for i in 0..args.warmup {
        client.turn(&format!("warmup-{i}"), text).await;
    }

    let mut sequential = Vec::with_capacity(args.turns);
    for i in 0..args.turns {
        sequential.extend(client.turn(&format!("sequential-{i}"), text).await);
    }
    let memory_mid = server.memory()?;
    let requests_mid = tally.requests();

    let server_cpu = server.cpu_time()?;
    let client_cpu = server::own_cpu_time()?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..args.clients {
        let share = args.requests / args.clients + usize::from(c < args.requests % args.clients);
        let senders = args.senders_per_client;
        let tally = Arc::clone(tally);
        let text = args.message.clone();
        tasks.spawn(async move {
            let mut client = Client::connect(addr, tally).await?;
            let mut latencies = Vec::with_capacity(share);
            for i in 0..share {
                let sender = format!("client{c}-conversation{}", i % senders);
                latencies.extend(client.turn(&sender, &text).await);
            }
            anyhow::Ok(latencies)
        });
    }
    let mut concurrent = Vec::with_capacity(args.requests);
    while let Some(latencies) = tasks.join_next().await {
        concurrent.extend(latencies??);
    }
    let concurrent_wall = started.elapsed();
    let server_cpu = server.cpu_time()?.saturating_sub(server_cpu);
    let client_cpu = server::own_cpu_time()?.saturating_sub(client_cpu);

    let long_sender = "long-history";
    let mut history_events = 0;
    let mut built = 0;
    while history_events < args.history_events && built < args.history_events {
        for _ in 0..HISTORY_BATCH {
            client.turn(long_sender, text).await;
        }
        built += HISTORY_BATCH;
        history_events = client.event_count(long_sender).await.unwrap_or(0);
    }
    let mut long = Vec::with_capacity(args.history_turns);
    let mut fresh = Vec::with_capacity(args.history_turns);
    for i in 0..args.history_turns {
        long.extend(client.turn(long_sender, text).await);
        fresh.extend(client.turn(&format!("fresh-{i}"), text).await);
    }
    let history_events_after = client.event_count(long_sender).await.unwrap_or(0);

    Ok(Load {
        memory_mid,
        requests_mid,
        sequential: Samples::new(sequential),
        concurrent: Samples::new(concurrent),
        concurrent_wall,
        server_cpu,
        client_cpu,
        history_events,
        history_events_after,
        long: Samples::new(long),
        fresh: Samples::new(fresh),
    })
}

fn print_report(args: &Args, report: &Report) {
    let r = &report.load;
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let met = |ok: bool| if ok { "yes" } else { "NO" };

    let start = report.starts.median();
    let turns_per_s = r.concurrent.len() as f64 / r.concurrent_wall.as_secs_f64();
    let per_turn = |cpu: Duration| cpu.as_secs_f64() * 1e6 / r.concurrent.len().max(1) as f64;
    let ratio = r.long.median().as_secs_f64() / r.fresh.median().as_secs_f64().max(1e-9);
    let conversations = args.clients
        * args
            .senders_per_client
            .min(args.requests.div_ceil(args.clients));
    let rows = [
        (
            format!(
                "start until GET /status answers ({} starts)",
                report.starts.len()
            ),
            format!(
                "median {:.3} s (min {:.3}, max {:.3})",
                start.as_secs_f64(),
                report.starts.min().as_secs_f64(),
                report.starts.max().as_secs_f64()
            ),
            "≤ 0.3 s",
            met(start <= Duration::from_millis(300)),
        ),
        (
            format!(
                "webhook turn, new sender, 1 client ({} turns)",
                r.sequential.len()
            ),
            format!(
                "median {}, p99 {}",
                ms(r.sequential.median()),
                ms(r.sequential.percentile(0.99))
            ),
            "median ≤ 0.5 ms",
            met(r.sequential.median() <= Duration::from_micros(500)),
        ),
        (
            format!(
                "turns/s, {} clients ({} turns in {conversations} conversations, ≈{:.0} each)",
                args.clients,
                r.concurrent.len(),
                args.requests as f64 / conversations.max(1) as f64
            ),
            format!(
                "{turns_per_s:.0}/s; latency median {}, p99 {}; CPU per turn: server {:.0} µs, load generator {:.0} µs",
                ms(r.concurrent.median()),
                ms(r.concurrent.percentile(0.99)),
                per_turn(r.server_cpu),
                per_turn(r.client_cpu)
            ),
            "≥ 5,000/s",
            met(turns_per_s >= 5000.0),
        ),
        (
            format!(
                "turn after {} events vs a new sender's ({} each, interleaved)",
                r.history_events,
                r.long.len()
            ),
            format!(
                "median {} vs {} = {ratio:.2}× (history {} events at the end)",
                ms(r.long.median()),
                ms(r.fresh.median()),
                r.history_events_after
            ),
            "≤ 1.2×",
            met(ratio <= 1.2),
        ),
        (
            format!(
                "server memory: after start / after {} / after {} requests",
                r.requests_mid, report.requests
            ),
            format!(
                "VmRSS {:.1} / {:.1} / {:.1} MiB; VmHWM {:.1} MiB",
                mib(report.memory_after_start.rss_kib),
                mib(r.memory_mid.rss_kib),
                mib(report.memory_after_load.rss_kib),
                mib(report.memory_after_load.hwm_kib)
            ),
            // performance.md sets the bound after start and after 4,400 requests; what the
            // whole load leaves (every conversation, with the in-memory store) is shown too.
            "≤ 40 MiB after start and after 4,400 requests",
            met(report.memory_after_start.rss_kib <= 40 * 1024 && r.memory_mid.rss_kib <= 40 * 1024),
        ),
        (
            "failed requests".to_owned(),
            format!(
                "{} of {}",
                report.failures.iter().map(|f| f.1).sum::<u64>(),
                report.requests
            ),
            "0",
            met(report.failures.is_empty()),
        ),
    ];
    println!("\n### {}\n", args.store);
    println!("| figure | value | target | met |");
    println!("|---|---|---|---|");
    for (figure, value, target, met) in rows {
        println!("| {figure} | {value} | {target} | {met} |");
    }
    if !report.failures.is_empty() {
        println!("\nFAILED REQUESTS ({}):", args.store);
        for (message, count) in &report.failures {
            println!("  {count} × {message}");
        }
    }
}
