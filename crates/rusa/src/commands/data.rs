//! `rusa data split|validate|convert|migrate`: validate here, the others in their own modules.

use rusa_project::validate::{ValidateOptions, validate};
use rusa_project::{Project, ProjectPaths};

use crate::cli::{DataArgs, DataCommand, DataValidateArgs, LogArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: DataArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    match args.command {
        DataCommand::Validate(args) => run_validate(&args, log),
        DataCommand::Split(args) => super::data_split::run(args.what, log),
        DataCommand::Convert(args) => super::data_convert::run(args.what, log),
        DataCommand::Migrate(args) => super::data_migrate::run(&args, log),
    }
}

/// Loads the project, prints the findings grouped by file, and fails when there are errors
/// (or warnings, with `--fail-on-warnings`).
fn run_validate(args: &DataValidateArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let paths = ProjectPaths {
        domain: args.project.domain.clone(),
        data: args.project.data.clone(),
        config: args.project.config.clone(),
    };
    let project = Project::load(&paths)?;
    let report = validate(
        &project,
        &ValidateOptions {
            max_history: args.max_history,
        },
    );
    let failed = report.errors() > 0 || (args.fail_on_warnings && report.warnings() > 0);
    crate::usage::validated(!failed);

    let mut text = String::new();
    if !report.diagnostics.is_empty() {
        text.push_str(&report.render());
    }
    if !log.quiet || failed {
        text.push_str(&format!(
            "{}: {}, {}, {}, {}, {} (story conflicts compared over {})\n",
            if failed {
                "validation failed"
            } else {
                "the project is valid"
            },
            count(project.domain.intents.len(), "intent"),
            count(project.nlu.examples.len(), "example"),
            count(project.stories.len(), "story"),
            count(project.rules.len(), "rule"),
            count(project.domain.responses.len(), "response"),
            report
                .max_history
                .map_or_else(|| "all turns".to_owned(), |n| count(n, "turn")),
        ));
    }
    crate::output::print(&text)?;
    Ok(if failed {
        Outcome::Failed
    } else {
        Outcome::Success
    })
}

/// The validation `rusa train` runs before training, as Rasa 3.6's `rasa train` does: errors
/// stop it (exit 1, the findings on stderr); warnings stop it only with
/// `--fail-on-validation-warnings` and are otherwise counted in one line.
pub fn validate_before_training(
    project: &Project,
    fail_on_warnings: bool,
    max_history: Option<usize>,
    log: LogArgs,
) -> anyhow::Result<()> {
    let report = validate(project, &ValidateOptions { max_history });
    let failed = report.errors() > 0 || (fail_on_warnings && report.warnings() > 0);
    if failed {
        // Only the findings that stop training, unless warnings count too.
        let shown = rusa_project::validate::Report {
            diagnostics: report
                .diagnostics
                .iter()
                .filter(|d| fail_on_warnings || d.severity == rusa_project::Severity::Error)
                .cloned()
                .collect(),
            max_history: report.max_history,
        };
        eprint!("{}", shown.render());
        let hint = if report.errors() > 0 {
            "fix the errors above (`rusa data validate` lists warnings too), or train anyway with --skip-validation"
        } else {
            "fix the warnings above, or train without --fail-on-validation-warnings"
        };
        return Err(
            UserError::new("the project did not pass validation; no model was trained")
                .with_hint(hint)
                .into(),
        );
    }
    if report.warnings() > 0 && !log.quiet {
        eprintln!(
            "warning: validation found {}; `rusa data validate` lists them",
            count(report.warnings(), "warning")
        );
    }
    Ok(())
}

/// `1 story`, `2 stories`.
fn count(n: usize, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        _ => format!("{n} {noun}s"),
    }
}
