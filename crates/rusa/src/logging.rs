//! Installs the `tracing` subscriber: logs to stderr, filter from the flags or `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::cli::LogArgs;

/// `-v` → info, `--debug` → debug, `--quiet` → error, else warn; `RUST_LOG` overrides all.
pub fn init(args: LogArgs) {
    let default = if args.debug {
        "debug"
    } else if args.verbose {
        "info"
    } else if args.quiet {
        "error"
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(args.debug)
        .without_time()
        .try_init();
}
