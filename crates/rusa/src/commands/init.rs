//! `rusa init`: writes rusa's starter assistant (the weather assistant of
//! `examples/weatherbot`) and trains it.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use rusa_core::graph::TrainingType;

use crate::cli::{
    DEFAULT_CONFIG, DEFAULT_DATA, DEFAULT_DOMAIN, DEFAULT_ENDPOINTS, DEFAULT_MODELS, InitArgs,
    LogArgs, ProjectArgs, TrainCommon,
};
use crate::error::{Outcome, UserError};

/// The starter project's files, from `examples/weatherbot` (so the example in the
/// repository and what `rusa init` writes are the same project).
const FILES: &[(&str, &str)] = &[
    (
        "config.yml",
        include_str!("../../../../examples/weatherbot/config.yml"),
    ),
    (
        "domain.yml",
        include_str!("../../../../examples/weatherbot/domain.yml"),
    ),
    (
        "endpoints.yml",
        include_str!("../../../../examples/weatherbot/endpoints.yml"),
    ),
    (
        "credentials.yml",
        include_str!("../../../../examples/weatherbot/credentials.yml"),
    ),
    (
        "data/nlu.yml",
        include_str!("../../../../examples/weatherbot/data/nlu.yml"),
    ),
    (
        "data/rules.yml",
        include_str!("../../../../examples/weatherbot/data/rules.yml"),
    ),
    (
        "data/stories.yml",
        include_str!("../../../../examples/weatherbot/data/stories.yml"),
    ),
    (
        "tests/test_stories.yml",
        include_str!("../../../../examples/weatherbot/tests/test_stories.yml"),
    ),
];

pub fn run(args: &InitArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from("."));
    for (name, _) in FILES {
        if dir.join(name).exists() {
            return Err(UserError::new(format!(
                "'{}' already exists; rusa init does not overwrite a project",
                dir.join(name).display()
            ))
            .with_hint("run `rusa init <new directory>`, or remove the file")
            .into());
        }
    }
    write_files(&dir).map_err(|e| {
        anyhow::anyhow!(e).context(format!("cannot write the project into '{}'", dir.display()))
    })?;
    crate::usage::project_created(&dir);
    if !log.quiet {
        crate::output::print(&format!(
            "Created a new assistant in '{}': a weather assistant with a form, rules, stories and a test story.\n",
            dir.display()
        ))?;
    }

    let interactive = !args.no_prompt && std::io::stdin().is_terminal();
    if interactive && !ask("Do you want to train an initial model?")? {
        crate::output::print("Train it later with `rusa train`.\n")?;
        return Ok(Outcome::Success);
    }
    std::env::set_current_dir(&dir)
        .map_err(|e| anyhow::anyhow!(e).context(format!("cannot enter '{}'", dir.display())))?;
    let common = TrainCommon {
        project: ProjectArgs {
            domain: DEFAULT_DOMAIN.into(),
            data: vec![DEFAULT_DATA.into()],
            config: DEFAULT_CONFIG.into(),
        },
        out: DEFAULT_MODELS.into(),
        fixed_model_name: None,
        force: false,
        finetune: None,
        strict_components: false,
        endpoints: DEFAULT_ENDPOINTS.into(),
    };
    super::train::train(TrainingType::Both, &common, log)?;
    if interactive && ask("Do you want to talk to your assistant on the command line?")? {
        let shell = crate::cli::ShellArgs {
            part: None,
            common: crate::cli::ShellCommon {
                model: DEFAULT_MODELS.into(),
                endpoints: DEFAULT_ENDPOINTS.into(),
                sender_id: None,
            },
        };
        return super::shell::run(shell);
    }
    if !log.quiet {
        crate::output::print("Talk to it with `rusa shell`, or serve it with `rusa run`.\n")?;
    }
    Ok(Outcome::Success)
}

fn write_files(dir: &Path) -> std::io::Result<()> {
    for (name, text) in FILES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    Ok(())
}

/// Asks a yes/no question on the terminal; Enter means yes.
fn ask(question: &str) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    write!(out, "{question} [Y/n] ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim().to_lowercase();
    Ok(answer.is_empty() || answer == "y" || answer == "yes")
}
