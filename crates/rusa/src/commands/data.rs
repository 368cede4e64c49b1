//! `rusa data split|validate|convert`.

use crate::cli::{DataArgs, DataCommand, LogArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: DataArgs, _log: LogArgs) -> anyhow::Result<Outcome> {
    match args.command {
        DataCommand::Validate(_) => Err(UserError::not_implemented("rusa data validate").into()),
        DataCommand::Split(_) => Err(UserError::not_implemented("rusa data split nlu").into()),
        DataCommand::Convert(_) => Err(UserError::not_implemented("rusa data convert nlu").into()),
    }
}
