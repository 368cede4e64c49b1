//! One module per subcommand; `run` dispatches to them.

mod completions;
mod data;
mod telemetry;

use crate::cli::{Cli, Command};
use crate::error::{Outcome, UserError};

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Init(_) => Err(UserError::not_implemented("rusa init").into()),
        Command::Train(_) => Err(UserError::not_implemented("rusa train").into()),
        Command::Test(_) => Err(UserError::not_implemented("rusa test").into()),
        Command::Shell(_) => Err(UserError::not_implemented("rusa shell").into()),
        Command::Run(_) => Err(UserError::not_implemented("rusa run").into()),
        Command::Data(args) => data::run(args, cli.log),
        Command::Export(_) => Err(UserError::not_implemented("rusa export").into()),
        Command::Visualize(_) => Err(UserError::not_implemented("rusa visualize").into()),
        Command::Interactive(_) => Err(UserError::not_implemented("rusa interactive").into()),
        Command::Telemetry(args) => telemetry::run(args),
        Command::Completions(args) => completions::run(&args),
    }
}
