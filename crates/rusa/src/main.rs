//! The `rusa` command line. This file only parses arguments, installs logging and maps the
//! outcome of a command to an exit code; the commands live in `commands/`.

mod build_info;
mod cli;
mod commands;
mod error;
mod logging;
mod otel;
mod output;
mod usage;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: a turn makes thousands of small allocations
/// (JSON trees of events), which glibc's malloc served markedly slower under concurrent
/// load and with more memory kept (figures in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // `-vv` is Rasa's and rasa-sdk's spelling of `--debug`.
    let args = std::env::args_os().map(|a| if a == "-vv" { "--debug".into() } else { a });
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and --version go to stdout with 0; a bad command line is exit code 2.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    let log_file = match &cli.command {
        cli::Command::Run(args) => args.server.log_file.clone(),
        _ => None,
    };
    // Tracing is read before logging starts: its layer is part of the one subscriber.
    let mut tracing = match otel::CommandTracing::start(&cli.command) {
        Ok(t) => t,
        Err(e) => return error::exit_code(Err(e.into())),
    };
    if let Err(e) = logging::init(cli.log, log_file.as_deref(), tracing.pipeline()) {
        eprintln!("error: cannot open the log file: {e}");
        return ExitCode::from(1);
    }
    tracing.announce(&cli.command);
    // Dropped after the exit code is computed and the output written: at most 50 ms.
    let _usage = usage::start(&cli.command);
    let result = commands::run(cli);
    let code = error::exit_code(result);
    // Pending spans: at most 1 s for a command, 5 s for the server.
    tracing.finish();
    code
}
