//! "Export & Quit": asks where the stories, NLU examples and domain additions go (Rasa's
//! defaults) and writes them with `rusa_project::additions`, which changes nothing else in
//! those files.
//!
//! Choices where Rasa's behaviour is not followed (see docs/interactive.md):
//! - a domain folder: each section goes to the file that has it; a section no file has is
//!   added to `domain.yml` in that folder when there is one, else to the folder's first file;
//! - NLU examples that the project's training data already has (same intent and text) are
//!   not written again; JSON NLU files are refused (the answer is asked again).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusa_project::additions::{self, NewStory};

use super::session::Session;
use super::terminal::{Answer, Terminal};

/// The story names interactive learning writes: `interactive_story_<n>`.
pub const STORY_PREFIX: &str = "interactive_story_";

/// What the export needs to know about the project.
pub struct ExportSettings<'a> {
    pub data: &'a [PathBuf],
    pub domain: &'a Path,
    pub default_stories: PathBuf,
    pub e2e: bool,
}

/// What was written where, for the closing message.
#[derive(Debug, Default)]
pub struct Written {
    pub files: Vec<(PathBuf, String)>,
}

/// Asks for the three paths (Ctrl-C on a question: the caller's menu) and writes.
pub fn export(
    session: &Session,
    terminal: &mut Terminal,
    settings: &ExportSettings<'_>,
) -> Answer<anyhow::Result<Written>> {
    let stories_path = ask_path(
        terminal,
        "Export stories to (an existing file gets the stories in its `stories:` section)",
        &settings.default_stories,
        false,
    )?;
    let nlu_path = ask_path(
        terminal,
        "Export NLU data to (an existing file gets the examples under their intents)",
        Path::new("data/nlu.yml"),
        false,
    )?;
    let domain_path = ask_path(
        terminal,
        "Export domain additions to (a file or a domain folder; each section goes to the file that has it)",
        settings.domain,
        true,
    )?;
    Ok(write_all(
        session,
        settings,
        &stories_path,
        &nlu_path,
        &domain_path,
    ))
}

fn ask_path(
    terminal: &mut Terminal,
    question: &str,
    default: &Path,
    dir_allowed: bool,
) -> Answer<PathBuf> {
    loop {
        let answer = PathBuf::from(terminal.text(question, &default.to_string_lossy())?);
        if dir_allowed && answer.is_dir() {
            return Ok(answer);
        }
        let ext = answer
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        if matches!(ext, "yml" | "yaml") && !answer.is_dir() {
            return Ok(answer);
        }
        println!("Please name a .yml or .yaml file.");
    }
}

fn read_if_exists(path: &Path) -> anyhow::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!(e).context(format!("cannot read '{}'", path.display()))),
    }
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| {
            anyhow::anyhow!(e).context(format!("cannot create '{}'", parent.display()))
        })?;
    }
    std::fs::write(path, text)
        .map_err(|e| anyhow::anyhow!(e).context(format!("cannot write '{}'", path.display())))
}

/// Writes the session's stories, NLU examples and domain additions.
pub fn write_all(
    session: &Session,
    settings: &ExportSettings<'_>,
    stories_path: &Path,
    nlu_path: &Path,
    domain_path: &Path,
) -> anyhow::Result<Written> {
    let mut written = Written::default();

    // Stories, named so that they collide with no story or rule of the project.
    let steps = session.stories(settings.e2e);
    if !steps.is_empty() {
        let existing = read_if_exists(stories_path)?;
        let mut taken: HashSet<String> = HashSet::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for data in settings.data {
            if data.exists() {
                files.extend(rusa_project::yaml_files(data)?);
            }
        }
        for file in files {
            if let Ok(text) = std::fs::read_to_string(&file) {
                taken.extend(additions::story_names_in(&text));
            }
        }
        if let Some(t) = &existing {
            taken.extend(additions::story_names_in(t));
        }
        let names = additions::unique_story_names(STORY_PREFIX, &taken, steps.len());
        let stories: Vec<NewStory> = names
            .into_iter()
            .zip(steps)
            .map(|(name, steps)| NewStory { name, steps })
            .collect();
        let text =
            additions::add_stories(stories_path, existing.as_deref(), &stories, settings.e2e)?;
        write(stories_path, &text)?;
        written.files.push((
            stories_path.to_path_buf(),
            format!("{} stories", stories.len()),
        ));
    }

    // NLU examples the training data does not have yet.
    let mut warnings = Vec::new();
    let known: HashSet<(String, String)> = rusa_project::load_nlu_data(
        &settings
            .data
            .iter()
            .filter(|p| p.exists())
            .cloned()
            .collect::<Vec<_>>(),
        &mut warnings,
    )
    .map(|nlu| {
        nlu.examples
            .into_iter()
            .map(|e| (e.intent, e.text))
            .collect()
    })
    .unwrap_or_default();
    let examples: Vec<(String, String)> = session
        .nlu_examples()
        .into_iter()
        .filter(|(intent, annotated)| {
            let plain = rusa_project::parse_annotated(annotated)
                .map(|(t, _)| t)
                .unwrap_or_else(|_| annotated.clone());
            !known.contains(&(intent.clone(), plain))
        })
        .collect();
    if !examples.is_empty() {
        let existing = read_if_exists(nlu_path)?;
        let text = additions::add_nlu_examples(nlu_path, existing.as_deref(), &examples)?;
        if existing.as_deref() != Some(text.as_str()) {
            write(nlu_path, &text)?;
            written.files.push((
                nlu_path.to_path_buf(),
                format!("{} examples", examples.len()),
            ));
        }
    }

    // Domain additions, each into the file that holds its section.
    if !session.learned.is_empty() {
        let (files, fallback) = if domain_path.is_dir() {
            let files = rusa_project::yaml_files(domain_path)?;
            let fallback = files
                .iter()
                .find(|f| f.file_stem().is_some_and(|s| s == "domain"))
                .or(files.first())
                .cloned()
                .unwrap_or_else(|| domain_path.join("domain.yml"));
            (files, fallback)
        } else {
            (vec![domain_path.to_path_buf()], domain_path.to_path_buf())
        };
        let mut texts = Vec::new();
        for f in &files {
            if let Some(t) = read_if_exists(f)? {
                texts.push((f.clone(), t));
            }
        }
        for (path, text) in additions::add_to_domain(&texts, &fallback, &session.learned)? {
            write(&path, &text)?;
            written.files.push((path, "domain additions".into()));
        }
    }
    Ok(written)
}
