//! One module per subcommand; `run` dispatches to them.

mod completions;
mod data;
mod data_convert;
mod data_migrate;
mod data_split;
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
mod visualize;

use crate::cli::{Cli, Command};
use crate::error::Outcome;

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
        Command::Visualize(args) => visualize::run(&args, cli.log),
        Command::Interactive(args) => interactive::run(args, cli.log),
        Command::Telemetry(args) => telemetry::run(args),
        Command::Completions(args) => completions::run(&args),
    }
}
