//! A whole project: finding its files and loading them into one structure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;

use crate::config::Config;
use crate::credentials::Credentials;
use crate::domain::{Domain, Response, read_responses};
use crate::endpoints::Endpoints;
use crate::error::{Diagnostic, ProjectError, did_you_mean};
use crate::nlu::{NluData, read_nlu};
use crate::reader::Reader;
use crate::stories::{Rule, Story, read_rules, read_stories};
use crate::yaml::{self, Document, Node};

/// Where a project's files are; each defaults to Rasa's name and can be overridden by a flag.
#[derive(Debug, Clone)]
pub struct ProjectPaths {
    /// A domain file, or a directory whose YAML files are merged (`--domain`).
    pub domain: PathBuf,
    /// Training data files or directories, searched recursively (`--data`).
    pub data: Vec<PathBuf>,
    /// The model configuration (`--config`).
    pub config: PathBuf,
}

impl Default for ProjectPaths {
    fn default() -> Self {
        Self {
            domain: "domain.yml".into(),
            data: vec!["data".into()],
            config: "config.yml".into(),
        }
    }
}

impl ProjectPaths {
    /// The default paths inside `root`.
    pub fn in_dir(root: &Path) -> Self {
        Self {
            domain: root.join("domain.yml"),
            data: vec![root.join("data")],
            config: root.join("config.yml"),
        }
    }
}

/// Everything a project says: configuration, domain and training data.
#[derive(Debug, Clone)]
pub struct Project {
    pub config: Config,
    pub domain: Domain,
    pub nlu: NluData,
    pub stories: Vec<Story>,
    pub rules: Vec<Rule>,
    /// Responses defined in training data files (retrieval intents' `utter_faq/...`); they
    /// are also merged into the domain's responses.
    pub data_responses: IndexMap<String, Response>,
    /// Stories from `test_*.yml` files found among the training data.
    pub test_stories: Vec<Story>,
    /// Problems that did not stop the project from loading.
    pub warnings: Vec<Diagnostic>,
    /// The training data files that were read, in order.
    pub data_files: Vec<PathBuf>,
    /// The domain files that were read, in order.
    pub domain_files: Vec<PathBuf>,
}

impl Project {
    /// Loads config, domain and training data. Fails on the first error; everything that is
    /// only suspicious is collected in `warnings`.
    pub fn load(paths: &ProjectPaths) -> Result<Self, ProjectError> {
        let mut warnings = Vec::new();
        let config = load_config(&paths.config, &mut warnings)?;
        let (mut domain, domain_files) = load_domain(&paths.domain, &mut warnings)?;
        let mut project = Self {
            config,
            domain: Domain::empty(),
            nlu: NluData::default(),
            stories: Vec::new(),
            rules: Vec::new(),
            data_responses: IndexMap::new(),
            test_stories: Vec::new(),
            warnings: Vec::new(),
            data_files: Vec::new(),
            domain_files,
        };
        for data_path in &paths.data {
            if !data_path.exists() {
                return Err(ProjectError::Missing {
                    what: "training data path",
                    path: data_path.clone(),
                    flag: Some("--data"),
                });
            }
            for file in crate::nlu_formats::candidate_files(data_path)? {
                if project.read_any_data_file(&file, &mut warnings)? {
                    project.data_files.push(file);
                }
            }
        }
        for (name, response) in &project.data_responses {
            domain
                .responses
                .entry(name.clone())
                .or_insert_with(|| response.clone());
        }
        project.domain = domain;
        project.warnings = warnings;
        Ok(project)
    }

    /// Reads a training data file of any kind rusa trains on: YAML; NLU data in Rasa JSON,
    /// LUIS, Wit.ai or Dialogflow JSON (as Rasa 3 does); a Markdown training file is an
    /// error naming the conversion to run. `false` for a file that holds no training data.
    fn read_any_data_file(
        &mut self,
        path: &Path,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<bool, ProjectError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yml" | "yaml") => {
                self.read_data_file(path, warnings)?;
                Ok(true)
            }
            Some("md") => {
                let text = std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
                match crate::nlu_formats::markdown_error(path, &text) {
                    Some(e) => Err(e),
                    None => Ok(false),
                }
            }
            Some("json") => {
                let (data, format) =
                    crate::nlu_formats::read_file(path, &self.config.language, warnings)?;
                match data {
                    Some(data) => {
                        self.nlu.merge(data.nlu);
                        Ok(true)
                    }
                    None => {
                        if format == crate::nlu_formats::NluFormat::Unknown {
                            warnings.push(Diagnostic::warning(
                                crate::error::Pos::new(Arc::from(path), 1, 1),
                                "this JSON file is not NLU data in a format rusa reads; it is skipped",
                            ));
                        }
                        Ok(false)
                    }
                }
            }
            _ => Ok(false),
        }
    }

    fn read_data_file(
        &mut self,
        path: &Path,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<(), ProjectError> {
        let doc = read_document(path)?;
        let Some(root) = doc.root.as_ref() else {
            return Ok(());
        };
        let is_test = is_test_file(path);
        let mut r = Reader::new(&doc, warnings);
        let entries = r.map(root, "a training data file")?;
        for (key, value) in entries {
            let name = key.scalar_text().unwrap_or_default();
            match name.as_str() {
                "version" => check_version(&mut r, value),
                "nlu" => self.nlu.merge(read_nlu(&doc, value, r.warnings)?),
                "stories" if is_test => self
                    .test_stories
                    .extend(read_stories(&doc, value, r.warnings)?),
                "stories" => self.stories.extend(read_stories(&doc, value, r.warnings)?),
                "rules" => self.rules.extend(read_rules(&doc, value, r.warnings)?),
                "responses" => read_responses(&mut r, value, &mut self.data_responses)?,
                other => return Err(unknown_section(&r, key, other)),
            }
        }
        Ok(())
    }
}

fn unknown_section(r: &Reader<'_>, key: &Node, name: &str) -> ProjectError {
    const SECTIONS: &[&str] = &["version", "nlu", "stories", "rules", "responses"];
    let suggestion = did_you_mean(name, SECTIONS.iter().copied())
        .map(|s| format!(" (did you mean '{s}'?)"))
        .unwrap_or_default();
    r.err_hint(
        key,
        format!("unknown section '{name}' in a training data file{suggestion}"),
        "a training data file holds the sections: version, nlu, stories, rules, responses",
    )
}

/// Loads config.yml (with `${VAR}` substitution).
pub fn load_config(path: &Path, warnings: &mut Vec<Diagnostic>) -> Result<Config, ProjectError> {
    if !path.is_file() {
        return Err(ProjectError::Missing {
            what: "model configuration",
            path: path.to_path_buf(),
            flag: Some("--config"),
        });
    }
    let mut doc = read_document(path)?;
    crate::envsubst::substitute(&mut doc, &|name| std::env::var(name).ok())?;
    Config::read(&doc, warnings)
}

/// Loads a domain file, or all YAML files of a domain directory merged.
pub fn load_domain(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Domain, Vec<PathBuf>), ProjectError> {
    if !path.exists() {
        return Err(ProjectError::Missing {
            what: "domain",
            path: path.to_path_buf(),
            flag: Some("--domain"),
        });
    }
    let files = yaml_files(path)?;
    let mut domain = Domain::empty();
    for file in &files {
        domain.merge_file(&read_document(file)?, warnings)?;
    }
    Ok((domain, files))
}

/// Loads the endpoints file (with `${VAR}` substitution); `None` when it does not exist.
pub fn load_endpoints(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<Endpoints>, ProjectError> {
    load_endpoints_with(path, &|name| std::env::var(name).ok(), warnings)
}

/// [`load_endpoints`] with `${VAR}` values from `lookup` instead of the process environment.
pub fn load_endpoints_with(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<Endpoints>, ProjectError> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut doc = read_document(path)?;
    crate::envsubst::substitute(&mut doc, lookup)?;
    Endpoints::read(&doc, warnings).map(Some)
}

/// Loads the credentials file (with `${VAR}` substitution); `None` when it does not exist.
pub fn load_credentials(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Option<Credentials>, ProjectError> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut doc = read_document(path)?;
    crate::envsubst::substitute(&mut doc, &|name| std::env::var(name).ok())?;
    Credentials::read(&doc, warnings).map(Some)
}

/// Loads test stories from a file or directory (`tests/` by default); stories there may
/// carry the user's text.
pub fn load_test_stories(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<Story>, ProjectError> {
    if !path.exists() {
        return Err(ProjectError::Missing {
            what: "test stories path",
            path: path.to_path_buf(),
            flag: Some("--stories"),
        });
    }
    let mut stories = Vec::new();
    for file in yaml_files(path)? {
        let doc = read_document(&file)?;
        let Some(root) = doc.root.as_ref() else {
            continue;
        };
        let mut r = Reader::new(&doc, warnings);
        for (key, value) in r.map(root, "a test stories file")? {
            match key.scalar_text().unwrap_or_default().as_str() {
                "version" => check_version(&mut r, value),
                "stories" => stories.extend(read_stories(&doc, value, r.warnings)?),
                "rules" | "nlu" | "responses" => {}
                other => return Err(unknown_section(&r, key, other)),
            }
        }
    }
    Ok(stories)
}

/// Loads the stories and rules of files or directories (`rusa visualize`); test stories
/// (`test_*` files) and the other sections are left out.
pub fn load_stories_and_rules(
    path: &Path,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(Vec<Story>, Vec<Rule>), ProjectError> {
    if !path.exists() {
        return Err(ProjectError::Missing {
            what: "stories path",
            path: path.to_path_buf(),
            flag: Some("--stories"),
        });
    }
    let (mut stories, mut rules) = (Vec::new(), Vec::new());
    for file in yaml_files(path)? {
        if is_test_file(&file) {
            continue;
        }
        let doc = read_document(&file)?;
        let Some(root) = doc.root.as_ref() else {
            continue;
        };
        if let Some(node) = root.get("stories") {
            stories.extend(read_stories(&doc, node, warnings)?);
        }
        if let Some(node) = root.get("rules") {
            rules.extend(read_rules(&doc, node, warnings)?);
        }
    }
    Ok((stories, rules))
}

/// Loads only the NLU data (`nlu:` sections) of files or directories, e.g. NLU test data.
pub fn load_nlu_data(
    paths: &[PathBuf],
    warnings: &mut Vec<Diagnostic>,
) -> Result<NluData, ProjectError> {
    let mut data = NluData::default();
    for path in paths {
        if !path.exists() {
            return Err(ProjectError::Missing {
                what: "NLU data path",
                path: path.clone(),
                flag: Some("--nlu"),
            });
        }
        for file in crate::nlu_formats::candidate_files(path)? {
            if file.extension().is_some_and(|e| e == "md") {
                // Markdown is refused with the conversion to run, as in training.
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                match crate::nlu_formats::markdown_error(&file, &text) {
                    Some(e) => return Err(e),
                    None => continue,
                }
            }
            if file.extension().is_some_and(|e| e == "json") {
                // Rasa JSON (and the other JSON formats), as in training.
                let (nlu, _) =
                    crate::nlu_formats::read_file(&file, crate::DEFAULT_LANGUAGE, warnings)?;
                if let Some(nlu) = nlu {
                    data.merge(nlu.nlu);
                }
                continue;
            }
            let doc = read_document(&file)?;
            let Some(nlu) = doc.root.as_ref().and_then(|r| r.get("nlu")) else {
                continue;
            };
            data.merge(read_nlu(&doc, nlu, warnings)?);
        }
    }
    Ok(data)
}

/// Reads and parses one YAML file.
pub fn read_document(path: &Path) -> Result<Document, ProjectError> {
    let bytes = std::fs::read(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = valid.iter().filter(|b| **b == b'\n').count() as u32 + 1;
            return Err(ProjectError::invalid(
                crate::error::Pos::new(Arc::from(path), line, 1),
                "the file is not valid UTF-8",
            ));
        }
    };
    yaml::parse(Arc::from(path), &text)
}

/// A YAML file, or the YAML files below a directory (recursively, sorted, hidden entries
/// skipped).
pub fn yaml_files(path: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    files_below(path, is_yaml)
}

/// `path` itself when it is a file, else the files below it that `keep` accepts:
/// recursively, sorted, hidden entries skipped.
pub(crate) fn files_below(
    path: &Path,
    keep: impl Fn(&Path) -> bool,
) -> Result<Vec<PathBuf>, ProjectError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|source| ProjectError::Read {
            path: dir.clone(),
            source,
        })?;
        for child in entries.filter_map(|e| e.ok().map(|e| e.path())) {
            let hidden = child
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if hidden {
                continue;
            }
            if child.is_dir() {
                stack.push(child);
            } else if keep(&child) {
                out.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yml" | "yaml")
    )
}

/// Rasa's convention: training data files named `test_*` hold test stories.
fn is_test_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("test_"))
}

/// Warns when a file's `version` is outside the formats rusa reads ("2.0" to "3.1").
pub(crate) fn check_version(r: &mut Reader<'_>, node: &Node) {
    let Some(text) = node.scalar_text() else {
        r.warn(
            node,
            format!(
                "'version' must be a string such as \"3.1\", found {}",
                node.type_name()
            ),
        );
        return;
    };
    let parsed = text
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if ((2, 0)..=(3, 1)).contains(&v) => {}
        _ => r.warn(node, format!("format version '{text}' is not one rusa knows; it reads versions \"2.0\" to \"3.1\" and reads this file as \"3.1\"")),
    }
}
