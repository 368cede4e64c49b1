//! Errors and warnings about a project's files.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A place in a project file: path, 1-based line and column.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Pos {
    pub path: Arc<Path>,
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub fn new(path: Arc<Path>, line: u32, column: u32) -> Self {
        Self { path, line, column }
    }
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.path.display(), self.line, self.column)
    }
}

/// Something about a project that stops it from loading; the user must fix it.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// The file is not valid YAML.
    #[error("{pos}: {message}")]
    Yaml { pos: Pos, message: String },

    /// Valid YAML that does not say what the format allows.
    #[error("{pos}: {message}")]
    Invalid {
        pos: Pos,
        message: String,
        hint: Option<String>,
    },

    /// A file or directory the command needs does not exist.
    #[error("the {what} '{}' does not exist", path.display())]
    Missing {
        what: &'static str,
        path: PathBuf,
        flag: Option<&'static str>,
    },

    /// The file exists but cannot be read.
    #[error("cannot read '{}'", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ProjectError {
    pub(crate) fn invalid(pos: Pos, message: impl Into<String>) -> Self {
        Self::Invalid {
            pos,
            message: message.into(),
            hint: None,
        }
    }

    /// A one-line suggestion printed as `hint:` under the error, where one helps.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::Missing {
                flag: Some(flag), ..
            } => Some(format!(
                "run the command in the project's directory, or name the path with {flag}"
            )),
            Self::Invalid { hint, .. } => hint.clone(),
            _ => None,
        }
    }

    /// Where the problem is, when it is inside a file.
    pub fn pos(&self) -> Option<&Pos> {
        match self {
            Self::Yaml { pos, .. } | Self::Invalid { pos, .. } => Some(pos),
            _ => None,
        }
    }
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warning => "warning",
        })
    }
}

/// A finding about a project that does not stop it from loading (a warning while loading,
/// or an error or warning of `rusa data validate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub pos: Pos,
    pub message: String,
}

impl Diagnostic {
    pub fn warning(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            pos,
            message: message.into(),
        }
    }

    pub fn error(pos: Pos, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            pos,
            message: message.into(),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.severity, self.pos, self.message)
    }
}

/// The closest of `candidates` to `word`, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(score, _)| *score >= 0.82)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_close_words_only() {
        assert_eq!(
            did_you_mean("pipline", ["pipeline", "policies", "language"]),
            Some("pipeline")
        );
        assert_eq!(did_you_mean("zzz", ["pipeline", "policies"]), None);
    }

    #[test]
    fn positions_print_as_file_line_column() {
        let pos = Pos::new(Arc::from(Path::new("data/nlu.yml")), 3, 7);
        let err = ProjectError::invalid(pos, "bad");
        assert_eq!(err.to_string(), "data/nlu.yml:3:7: bad");
    }
}
