//! Installs the `tracing` subscriber: logs to stderr (and, for `rusa run --log-file`, to a
//! file too), filter from the flags or `RUST_LOG`.

use std::io::IsTerminal;
use std::path::Path;

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::cli::LogArgs;

/// `-v` → info, `--debug` → debug, `--quiet` → error, else warn; `RUST_LOG` overrides all.
/// With `log_file`, the same lines are appended to it (with time stamps, no colours); a
/// file that cannot be opened is an error the caller reports.
pub fn init(args: LogArgs, log_file: Option<&Path>) -> std::io::Result<()> {
    let default = if args.debug {
        "debug"
    } else if args.verbose {
        "info"
    } else if args.quiet {
        "error"
    } else {
        "warn"
    };
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(args.debug)
        .without_time()
        .with_filter(filter());
    let file = match log_file {
        Some(path) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            Some(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .with_filter(filter()),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}
