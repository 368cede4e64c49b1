//! `rusa init`: writes rusa's starter assistant (the weather assistant of
//! `examples/weatherbot`) and trains it. With `--actions rust` it also writes the starter's
//! custom actions (`examples/weatherbot/actions`) as a Cargo package in `actions/`, and sets
//! the project up to use them.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use rusa_core::graph::TrainingType;

use crate::cli::{
    ActionsLanguage, DEFAULT_CONFIG, DEFAULT_DATA, DEFAULT_DOMAIN, DEFAULT_ENDPOINTS,
    DEFAULT_MODELS, InitArgs, LogArgs, ProjectArgs, TrainCommon,
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

/// The starter's custom actions in Rust (`--actions rust`): the example's sources, so that
/// the example in the repository and what `rusa init` writes are the same actions.
const RUST_LIB: &str = include_str!("../../../../examples/weatherbot/actions/src/lib.rs");
const RUST_MAIN: &str = include_str!("../../../../examples/weatherbot/actions/src/main.rs");
/// The example's crate, as its `main.rs` calls it; renamed to the written package's.
const EXAMPLE_CRATE: &str = "weatherbot_actions";
/// The custom actions of the starter's Rust actions, listed in its domain.
const RUST_ACTIONS: &[&str] = &["action_forecast", "validate_weather_form"];
/// The Cargo package's files, besides the project's.
const RUST_FILES: &[&str] = &[
    "actions/Cargo.toml",
    "actions/src/lib.rs",
    "actions/src/main.rs",
];

pub fn run(args: &InitArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let interactive = !args.no_prompt && std::io::stdin().is_terminal();
    let given = args.path.clone().or_else(|| args.init_dir.clone());
    // In a terminal, as Rasa's init does: ask where, and confirm before writing into a
    // directory that already holds files.
    let dir = match given {
        Some(dir) => dir,
        None if interactive => ask_path(
            "Where should the project be created? (press Enter for the current directory)",
        )?,
        None => PathBuf::from("."),
    };
    if interactive && !is_empty_dir(&dir) {
        let question = format!(
            "'{}' is not empty: its files are kept and the project's files are added beside them. Continue?",
            dir.display()
        );
        if !ask(&question)? {
            crate::output::print("No project was created.\n")?;
            return Ok(Outcome::Success);
        }
    }
    let rust = args.actions == Some(ActionsLanguage::Rust);
    let extra: &[&str] = if rust { RUST_FILES } else { &[] };
    for name in FILES
        .iter()
        .map(|(name, _)| *name)
        .chain(extra.iter().copied())
    {
        if dir.join(name).exists() {
            return Err(UserError::new(format!(
                "'{}' already exists; rusa init does not overwrite a project",
                dir.join(name).display()
            ))
            .with_hint("run `rusa init <new directory>`, or remove the file")
            .into());
        }
    }
    let written = write_project(&dir, rust).map_err(|e| {
        anyhow::anyhow!(e).context(format!("cannot write the project into '{}'", dir.display()))
    })?;
    crate::usage::project_created(&dir);
    if !log.quiet {
        let mut text = format!(
            "Created a new assistant in '{}': a weather assistant with a form, rules, stories and a test story.\n",
            dir.display()
        );
        if rust {
            text.push_str(
                "Its custom actions are written in Rust with rusa-sdk, in actions/ (a Cargo package).\n",
            );
        }
        crate::output::print(&text)?;
    }
    if let Some(RustActions { rusa_sdk: None }) = written {
        eprintln!(
            "warning: actions/Cargo.toml depends on rusa-sdk {RUSA_SDK_VERSION} from crates.io, where it is not published yet: point the dependency at a rusa checkout (`path = \".../crates/rusa-sdk\"`)"
        );
    }

    // The next steps run from the project's directory: say so when it is another one.
    let cd = next_step_cd(&dir);
    if interactive && !ask("Do you want to train an initial model?")? {
        crate::output::print(&format!("Train it later with {cd}`rusa train`.\n"))?;
        if rust && !log.quiet {
            crate::output::print(&format!("Next: {cd}{RUN_WITH_ACTIONS}"))?;
        }
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
        skip_validation: false,
        fail_on_validation_warnings: false,
        validation_max_history: None,
        dry_run: false,
        rasa_only: Default::default(),
    };
    super::train::train(TrainingType::Both, &common, log)?;
    // With custom actions, a conversation needs the action server first: no shell now.
    if interactive && !rust && ask("Do you want to talk to your assistant on the command line?")? {
        let shell = crate::cli::ShellArgs {
            part: None,
            common: crate::cli::ShellCommon {
                model: DEFAULT_MODELS.into(),
                endpoints: DEFAULT_ENDPOINTS.into(),
                sender_id: None,
                rasa_only: Default::default(),
            },
        };
        return super::shell::run(shell);
    }
    if !log.quiet {
        if rust {
            crate::output::print(&format!("Next: {cd}{RUN_WITH_ACTIONS}"))?;
        } else {
            crate::output::print(&format!(
                "Next: {cd}talk to it with `rusa shell`, or serve it with `rusa run`.\n"
            ))?;
        }
    }
    Ok(Outcome::Success)
}

/// `cd 'PATH', then ` when the project is not the working directory, else nothing.
fn next_step_cd(dir: &Path) -> String {
    if dir == Path::new(".") || dir.as_os_str().is_empty() {
        String::new()
    } else {
        let shown = dir.display().to_string();
        let quoted = if shown
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-~".contains(c))
        {
            shown
        } else {
            format!("'{}'", shown.replace('\'', "'\\''"))
        };
        format!("`cd {quoted}`, then ")
    }
}

/// Whether `dir` is missing or holds nothing.
fn is_empty_dir(dir: &Path) -> bool {
    std::fs::read_dir(dir).map_or(true, |mut entries| entries.next().is_none())
}

/// Asks for a path; an empty answer is the working directory.
fn ask_path(question: &str) -> std::io::Result<PathBuf> {
    let mut out = std::io::stdout().lock();
    write!(out, "{question} ")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    let answer = answer.trim();
    Ok(PathBuf::from(if answer.is_empty() { "." } else { answer }))
}

/// The next steps of a project with custom actions.
const RUN_WITH_ACTIONS: &str = "serve its actions with `rusa run actions` (it builds them the first time) in one terminal; \
then, in another, talk to it with `rusa shell`, or serve it with `rusa run`.\n";

/// What was written for `--actions rust`: the rusa-sdk checkout the package depends on, if
/// one was found.
struct RustActions {
    rusa_sdk: Option<PathBuf>,
}

/// Writes the starter project into `dir` (created when missing); with `rust`, its actions
/// too and the project changed to use them.
fn write_project(dir: &Path, rust: bool) -> std::io::Result<Option<RustActions>> {
    std::fs::create_dir_all(dir)?;
    let mut files: Vec<(String, String)> = FILES
        .iter()
        .map(|(name, text)| ((*name).to_owned(), (*text).to_owned()))
        .collect();
    let mut written = None;
    if rust {
        for (name, text) in &mut files {
            *text = use_rust_actions(name, text);
        }
        let package = package_name(&dir.canonicalize()?);
        let rusa_sdk = rusa_sdk_checkout();
        files.push((
            "actions/Cargo.toml".into(),
            cargo_toml(&package, rusa_sdk.as_deref()),
        ));
        files.push(("actions/src/lib.rs".into(), RUST_LIB.to_owned()));
        files.push((
            "actions/src/main.rs".into(),
            RUST_MAIN.replace(
                &format!("{EXAMPLE_CRATE}::"),
                &format!("{}::", package.replace('-', "_")),
            ),
        ));
        written = Some(RustActions { rusa_sdk });
    }
    for (name, text) in &files {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, text)?;
    }
    if rust {
        ignore_line(&dir.join(".gitignore"), "actions/target/")?;
    }
    Ok(written)
}

/// One starter file changed to use the Rust actions: the domain lists them (and drops the
/// `utter_forecast` response), stories, rules and test stories forecast with
/// `action_forecast` instead, and endpoints.yml points at the action server.
fn use_rust_actions(name: &str, text: &str) -> String {
    match name {
        "domain.yml" => with_actions(&without_response(text, "utter_forecast"), RUST_ACTIONS),
        "endpoints.yml" => with_action_endpoint(text),
        _ if name.starts_with("data/") || name.starts_with("tests/") => replace_step(
            text,
            "- action: utter_forecast",
            "- action: action_forecast",
        ),
        _ => text.to_owned(),
    }
}

/// The domain with an `actions:` section listing `actions` appended (the starter's domain
/// has none).
fn with_actions(domain: &str, actions: &[&str]) -> String {
    let mut text = domain.trim_end().to_owned();
    text.push_str("\n\nactions:\n");
    for action in actions {
        text.push_str("  - ");
        text.push_str(action);
        text.push('\n');
    }
    text
}

/// The domain without the response `name` (its key line under `responses:` and the
/// variations indented below it): the forecast comes from the action instead, and an
/// unused response is a validation warning.
fn without_response(domain: &str, name: &str) -> String {
    let key = format!("  {name}:");
    let mut dropping = false;
    domain
        .split_inclusive('\n')
        .filter(|line| {
            if line.trim_end() == key {
                dropping = true;
            } else if dropping && !(line.starts_with("  -") || line.starts_with("    ")) {
                dropping = false;
            }
            !dropping
        })
        .collect()
}

/// Every line that is `step` (whatever its indentation) becomes `with`.
fn replace_step(text: &str, step: &str, with: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            if line.trim() == step {
                line.replacen(step, with, 1)
            } else {
                line.to_owned()
            }
        })
        .collect()
}

/// The endpoints file with its commented-out `action_endpoint:` entry (the `#action_endpoint:`
/// line and the indented `#  ...` lines after it) uncommented.
fn with_action_endpoint(endpoints: &str) -> String {
    let mut in_entry = false;
    endpoints
        .split_inclusive('\n')
        .map(|line| {
            if line.starts_with("#action_endpoint:") {
                in_entry = true;
            } else if !(in_entry && line.starts_with("#  ")) {
                in_entry = false;
                return line.to_owned();
            }
            line[1..].to_owned()
        })
        .collect()
}

/// The version of rusa-sdk that goes with this rusa (one workspace, one version).
const RUSA_SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// rusa-sdk in the checkout this rusa was built from (`crates/rusa-sdk`), if it is still
/// there.
///
/// The choice of dependency: rusa-sdk is not on crates.io yet, so the generated package
/// depends on it by path — on the checkout this binary was built from, found through
/// `CARGO_MANIFEST_DIR` at build time and checked at run time, since an installed binary
/// may outlive its checkout. Without one, `actions/Cargo.toml` names the crates.io version
/// with a comment saying to point it at a checkout, and rusa init warns.
fn rusa_sdk_checkout() -> Option<PathBuf> {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../rusa-sdk"))
        .canonicalize()
        .ok()
        .filter(|dir| dir.join("Cargo.toml").is_file())
}

/// The Cargo manifest of the actions package: a package of its own (an empty `[workspace]`
/// table, so an enclosing workspace does not take it in) depending only on rusa-sdk.
fn cargo_toml(package: &str, rusa_sdk: Option<&Path>) -> String {
    let dependency = match rusa_sdk.and_then(Path::to_str) {
        Some(path) => format!("rusa-sdk = {{ path = {} }}\n", toml_string(path)),
        None => format!(
            "# rusa-sdk is not on crates.io yet: point this at a rusa checkout, e.g.\n\
             # rusa-sdk = {{ path = \"/path/to/rusa/crates/rusa-sdk\" }}\n\
             rusa-sdk = \"{RUSA_SDK_VERSION}\"\n"
        ),
    };
    format!(
        "# The assistant's custom actions, written with rusa-sdk: `rusa run actions` builds and\n\
         # serves them on port 5055.\n\
         [package]\n\
         name = \"{package}\"\n\
         version = \"0.1.0\"\n\
         edition = \"2024\"\n\
         publish = false\n\
         \n\
         # A package of its own, also inside another Cargo workspace.\n\
         [workspace]\n\
         \n\
         [dependencies]\n\
         {dependency}"
    )
}

/// `text` as a TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The package name of a project's actions: `<directory name>-actions`, the name in
/// lowercase with a dash for each run of other characters than letters and digits;
/// `assistant-actions` when the name is not ASCII or does not start with a letter.
fn package_name(project_dir: &Path) -> String {
    let name = project_dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let mut base = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
    }
    let base = base.trim_end_matches('-');
    if name.is_ascii() && base.starts_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{base}-actions")
    } else {
        "assistant-actions".to_owned()
    }
}

/// Adds `line` to the ignore file at `path` (created when missing), unless it is there.
fn ignore_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if text.lines().any(|l| l.trim() == line) {
        return Ok(());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
    std::fs::write(path, text)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn starter(name: &str) -> &'static str {
        FILES
            .iter()
            .find(|(n, _)| *n == name)
            .expect("a starter file")
            .1
    }

    #[test]
    fn the_domain_lists_the_rust_actions() {
        let domain = starter("domain.yml");
        assert!(
            !domain.contains("\nactions:"),
            "the starter lists no actions yet"
        );
        let text = use_rust_actions("domain.yml", domain);
        assert!(!text.contains("utter_forecast"), "{text}");
        assert_eq!(
            without_response(domain, "utter_forecast"),
            domain.replace(
                "  utter_forecast:\n  - text: \"Here is the forecast for {city}: mild, with a chance of sun.\"\n  - condition:\n    - type: slot\n      name: city\n      value: null\n    text: \"Tell me a city and I will give you its forecast.\"\n",
                ""
            )
        );
        assert!(
            text.ends_with("\n\nactions:\n  - action_forecast\n  - validate_weather_form\n"),
            "{text}"
        );
    }

    #[test]
    fn stories_rules_and_tests_forecast_with_the_action() {
        for name in [
            "data/rules.yml",
            "data/stories.yml",
            "tests/test_stories.yml",
        ] {
            let before = starter(name);
            let after = use_rust_actions(name, before);
            assert!(before.contains("- action: utter_forecast\n"), "{name}");
            assert!(!after.contains("utter_forecast"), "{name}");
            assert_eq!(
                after.matches("- action: action_forecast\n").count(),
                before.matches("- action: utter_forecast\n").count(),
                "{name}"
            );
            assert_eq!(after.lines().count(), before.lines().count(), "{name}");
        }
        assert_eq!(
            replace_step(
                "  - action: utter_forecast\n  - action: utter_forecast_x",
                "- action: utter_forecast",
                "- action: action_forecast"
            ),
            "  - action: action_forecast\n  - action: utter_forecast_x"
        );
        let nlu = starter("data/nlu.yml");
        assert_eq!(use_rust_actions("data/nlu.yml", nlu), nlu);
    }

    #[test]
    fn the_action_endpoint_is_uncommented() {
        let before = starter("endpoints.yml");
        let after = use_rust_actions("endpoints.yml", before);
        assert!(
            after.contains("\naction_endpoint:\n  url: \"http://localhost:5055/webhook\"\n"),
            "{after}"
        );
        // Only that entry: the others stay commented out.
        assert!(
            after.contains("\n#tracker_store:\n#  type: sql\n"),
            "{after}"
        );
        assert_eq!(after.lines().count(), before.lines().count());
    }

    #[test]
    fn main_calls_the_written_crate() {
        assert!(RUST_MAIN.contains(&format!("{EXAMPLE_CRATE}::server()")));
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("My Bot");
        write_project(&project, true).unwrap();
        let main = std::fs::read_to_string(project.join("actions/src/main.rs")).unwrap();
        assert!(
            main.contains("my_bot_actions::server().run_from_args()"),
            "{main}"
        );
        let manifest = std::fs::read_to_string(project.join("actions/Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-bot-actions\""), "{manifest}");
        assert_eq!(
            std::fs::read_to_string(project.join(".gitignore")).unwrap(),
            "actions/target/\n"
        );
    }

    #[test]
    fn package_names_come_from_the_directory() {
        for (dir, name) in [
            ("/p/weather-bot", "weather-bot-actions"),
            ("/p/My Bot_2", "my-bot-2-actions"),
            ("/p/2bot", "assistant-actions"),
            ("/p/Ünïcode", "assistant-actions"),
            ("/p/bøt", "assistant-actions"),
            ("/p/..weird..name..", "weird-name-actions"),
            ("/", "assistant-actions"),
        ] {
            assert_eq!(package_name(Path::new(dir)), name, "{dir}");
        }
    }

    #[test]
    fn the_manifest_depends_on_the_checkout_or_says_how_to() {
        let local = cargo_toml(
            "bot-actions",
            Some(Path::new("/src/rusa \"x\"/crates/rusa-sdk")),
        );
        assert!(local.contains("\n[workspace]\n"));
        assert!(local.contains("edition = \"2024\"\npublish = false\n"));
        assert!(
            local.ends_with("rusa-sdk = { path = \"/src/rusa \\\"x\\\"/crates/rusa-sdk\" }\n"),
            "{local}"
        );
        let published = cargo_toml("bot-actions", None);
        assert!(
            published.contains("# rusa-sdk is not on crates.io yet"),
            "{published}"
        );
        assert!(published.ends_with(&format!("rusa-sdk = \"{RUSA_SDK_VERSION}\"\n")));
        assert!(rusa_sdk_checkout().is_some(), "tests run in a checkout");
    }

    #[test]
    fn the_ignore_file_gets_the_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitignore");
        std::fs::write(&path, "models/").unwrap();
        ignore_line(&path, "actions/target/").unwrap();
        ignore_line(&path, "actions/target/").unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "models/\nactions/target/\n"
        );
    }
}
