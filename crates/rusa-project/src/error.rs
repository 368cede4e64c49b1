//! Errors of loading a project.

/// Something about a project's files that the user must fix.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("placeholder")]
    Placeholder,
}

impl ProjectError {
    /// A one-line suggestion printed as `hint:` under the error, where one helps.
    pub fn hint(&self) -> Option<&str> {
        None
    }
}
