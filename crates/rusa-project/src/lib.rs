//! Reading and validating an assistant project written in Rasa's formats.
//!
//! This crate turns a project directory — config.yml, a domain file or directory, training
//! data (NLU, stories, rules, responses), test stories, endpoints.yml and credentials.yml —
//! into typed structures in which every item knows the file, line and column it came from,
//! and checks the project for mistakes (`rusa data validate`). It does no training and no
//! serving, and it performs no I/O besides reading the files it is asked to read.

pub mod additions;
mod config;
mod credentials;
pub mod dialogue;
mod domain;
mod endpoints;
mod envsubst;
mod error;
pub mod migrate;
mod nlu;
pub mod nlu_formats;
pub mod nlu_writer;
mod project;
mod rasa_json;
mod reader;
pub mod split;
mod stories;
pub mod validate;
pub mod yaml;
pub mod yaml_writer;

pub use config::{Component, Config, DEFAULT_LANGUAGE, DEFAULT_RECIPE};
pub use credentials::{Channel, Credentials, RASA_ONLY_CHANNELS, SUPPORTED_CHANNELS};
pub use domain::{
    ActionName, Button, Domain, Entity, Form, Intent, MappingCondition, MappingType, Response,
    ResponseCondition, ResponseVariation, SessionConfig, Slot, SlotMapping, SlotType,
};
pub use endpoints::{EndpointConfig, Endpoints};
pub use error::{Diagnostic, Pos, ProjectError, Severity, did_you_mean};
pub use nlu::{EntitySpan, Example, LookupTable, NluData, RegexPattern, Synonym, parse_annotated};
pub use project::{
    Project, ProjectPaths, load_config, load_credentials, load_domain, load_endpoints,
    load_endpoints_with, load_nlu_data, load_stories_and_rules, load_test_stories, read_document,
    yaml_files,
};
pub use rasa_json::DOMAIN_FORMAT_VERSION;
pub use stories::{Rule, Step, StepEntity, StepKind, Story};
