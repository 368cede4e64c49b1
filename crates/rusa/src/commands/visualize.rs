//! `rusa visualize`: the stories and rules as a graph (`rusa_core::story_graph`), written
//! as one self-contained HTML page (or SVG, or DOT), opened in the browser only with
//! `--open`.
//!
//! As in Rasa the domain is loaded first (an unloadable domain is an error, exit 1; Rasa
//! printed it and exited 0); then Story Visualization Started is recorded.

use std::path::{Path, PathBuf};

use rusa_core::story_graph::{self, GraphOptions};

use crate::cli::{GraphFormat, LogArgs, VisualizeArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: &VisualizeArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let mut warnings = Vec::new();
    rusa_project::load_domain(&args.domain, &mut warnings)?;
    if args.nlu.is_some() {
        eprintln!(
            "note: --nlu is not needed: user turns are labelled with their intents and entities, not with example texts"
        );
    }
    crate::usage::visualization_started();
    let (stories, rules) = rusa_project::load_stories_and_rules(&args.stories, &mut warnings)?;
    for w in &warnings {
        tracing::debug!(warning = %w, "while loading");
    }
    if stories.is_empty() && rules.is_empty() {
        return Err(UserError::new(format!(
            "no stories or rules found in '{}'",
            args.stories.display()
        ))
        .with_hint("name the stories with --stories (a file or a directory)")
        .into());
    }
    let sequences = story_graph::sequences_from_project(&stories, &rules);
    let options = GraphOptions {
        max_history: args.max_history.max(1),
        highlight: None,
        title: title_of(&args.stories),
    };
    let graph = story_graph::build(&sequences, &options);
    let (text, default_name) = match args.format {
        GraphFormat::Html => (story_graph::to_html(&graph, &options.title), "graph.html"),
        GraphFormat::Svg => (story_graph::to_svg(&graph), "graph.svg"),
        GraphFormat::Dot => (story_graph::to_dot(&graph), "graph.dot"),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(default_name));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot create '{}'", dir.display()))
        })?;
    }
    std::fs::write(&out, text)
        .map_err(|e| anyhow::Error::new(e).context(format!("cannot write '{}'", out.display())))?;
    if !log.quiet {
        crate::output::print(&format!(
            "drew {} stories and {} rules ({} nodes) into {}\n",
            stories.len(),
            rules.len(),
            graph.nodes.len(),
            out.display()
        ))?;
    }
    if args.open {
        open_in_browser(&out);
    }
    Ok(Outcome::Success)
}

/// "Stories of <directory name>", naming the project without a full path.
fn title_of(stories: &Path) -> String {
    let absolute = std::path::absolute(stories).unwrap_or_else(|_| stories.to_path_buf());
    let project = absolute
        .ancestors()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n != "data" && n != "." && n != "..")
                && p.is_dir()
        })
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    match project {
        Some(name) => format!("Stories of {name}"),
        None => "Story graph".to_owned(),
    }
}

/// Opens `path` with the desktop's handler; a failure is a warning (the file is written).
fn open_in_browser(path: &Path) {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    match std::process::Command::new(program)
        .arg(&absolute)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => {}
        Err(e) => eprintln!(
            "warning: cannot open the browser with {program} ({e}); open {} yourself",
            absolute.display()
        ),
    }
}
