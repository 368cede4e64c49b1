//! `rusa completions <shell>`: prints a completion script.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::Outcome;

pub fn run(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "rusa", &mut script);
    crate::output::print(&String::from_utf8_lossy(&script))?;
    Ok(Outcome::Success)
}
