//! Reading and validating a Rasa-format assistant project.

mod error;

pub use error::ProjectError;
