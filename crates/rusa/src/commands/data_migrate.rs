//! `rusa data migrate`: a Rasa 2.x domain in the 3.x format (`rusa_project::migrate`), with
//! Rasa's output and backup names. It sends no telemetry, as in Rasa (telemetry.md §5 lists
//! no event for it).

use rusa_project::migrate::{MigrateError, migrate_domain};

use crate::cli::{DataMigrateArgs, LogArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: &DataMigrateArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let report = match migrate_domain(&args.domain, args.out.as_deref()) {
        Ok(report) => report,
        Err(MigrateError::Project(e)) => return Err(e.into()),
        Err(e @ MigrateError::Write { .. }) => return Err(e.into()),
        Err(e) => return Err(UserError::new(e.to_string()).into()),
    };
    for slot in &report.custom_mapping_slots {
        eprintln!(
            "warning: slot '{slot}' is filled by nothing in the domain: it got a custom mapping (set by a custom action); check that this is right"
        );
    }
    if !log.quiet {
        let forms = match report.migrated_forms.len() {
            0 => String::new(),
            n => format!(
                " ({n} form{} moved {} slot mappings into the slots)",
                if n == 1 { "" } else { "s" },
                if n == 1 { "its" } else { "their" }
            ),
        };
        crate::output::print(&format!(
            "migrated the domain '{}' to the 3.x format{forms}: '{}'\nthe original is backed up at '{}'\nnext: check the new domain, then replace the old one with it (e.g. `mv {} {}`)\n",
            args.domain.display(),
            report.out.display(),
            report.backup.display(),
            report.out.display(),
            args.domain.display(),
        ))?;
    }
    Ok(Outcome::Success)
}
