//! The one place where the outcome of a command becomes an exit code and an error message.
//!
//! Exit codes: 0 success, 1 the user's input was wrong or a check failed, 2 a bad command line
//! (clap reports those before any command runs). A broken pipe on stdout is not an error.
//! `rusa run actions` passes on the exit code of the action server it ran.

use std::fmt;
use std::process::ExitCode;

/// What a command that ran to its end concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went as asked.
    Success,
    /// The command ran but its verdict is negative (e.g. validation found errors); it has
    /// already printed why.
    Failed,
    /// The command ran another program in the foreground (`rusa run actions`) and ends as
    /// it ended: its exit code, or 128 + the signal that killed it.
    Exited(u8),
}

/// An error the user can fix: wrong input, a missing file, a command that does not exist yet.
#[derive(Debug)]
pub struct UserError {
    message: String,
    hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Maps a command's result to the process exit code, printing the error chain to stderr.
pub fn exit_code(result: anyhow::Result<Outcome>) -> ExitCode {
    match result {
        Ok(Outcome::Success) => ExitCode::SUCCESS,
        Ok(Outcome::Failed) => ExitCode::from(1),
        Ok(Outcome::Exited(code)) => ExitCode::from(code),
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", render_chain(&err));
            let hint = err
                .chain()
                .find_map(|e| e.downcast_ref::<UserError>())
                .and_then(|u| u.hint.clone())
                .or_else(|| {
                    err.chain()
                        .find_map(|e| e.downcast_ref::<rusa_project::ProjectError>())
                        .and_then(|p| p.hint())
                });
            if let Some(hint) = hint {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(1)
        }
    }
}

/// `outer: inner: innermost`, skipping a cause whose text its parent already contains.
fn render_chain(err: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !previous.is_empty() && previous.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
        previous = part;
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_skips_repeated_causes() {
        let inner = std::io::Error::other("disk full");
        let err = anyhow::Error::new(inner).context("cannot write model");
        assert_eq!(render_chain(&err), "cannot write model: disk full");
    }

    #[test]
    fn broken_pipe_is_success() {
        let err = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("other")));
    }
}
