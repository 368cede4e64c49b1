//! One module per subcommand; `run` dispatches to them.

mod completions;
mod data;
mod export;
mod init;
mod interactive;
mod plots;
mod run;
mod run_actions;
mod serving;
mod shell;
mod telemetry;
mod test;
mod train;

use crate::cli::{Cli, Command};
use crate::error::{Outcome, UserError};

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Init(args) => init::run(&args, cli.log),
        Command::Train(args) => train::run(args, cli.log),
        Command::Test(args) => test::run(args),
        Command::Shell(args) => shell::run(args),
        Command::Run(args) => run::run(args, cli.log),
        Command::Data(args) => data::run(args, cli.log),
        Command::Export(args) => export::run(args, cli.log),
        Command::Visualize(_) => Err(UserError::not_implemented("rusa visualize").into()),
        Command::Interactive(args) => interactive::run(args, cli.log),
        Command::Telemetry(args) => telemetry::run(args),
        Command::Completions(args) => completions::run(&args),
    }
}
