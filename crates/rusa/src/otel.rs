//! Distributed tracing for a command: which commands trace, reading the `tracing:` entry of
//! their endpoints file, and flushing pending spans when the command ends (tracing spec §1,
//! §4). The pipeline itself is `rusa-otel`'s.

use std::path::Path;
use std::time::Duration;

use rusa_otel::{Note, Pipeline};

use crate::cli::{
    Command, InteractiveArgs, InteractivePart, RunArgs, ShellArgs, ShellPart, TestArgs, TestPart,
    TrainArgs,
};
use crate::error::UserError;

/// Tracing for one command; [`CommandTracing::finish`] flushes it.
pub struct CommandTracing {
    pipeline: Option<Pipeline>,
    notes: Vec<Note>,
    flush_timeout: Duration,
    /// The caller's trace from `TRACEPARENT`, current on this thread while the command runs.
    env_parent: Option<opentelemetry::ContextGuard>,
}

/// The endpoints file of a command that is traced, and whether it is the server.
fn traced_command(command: &Command) -> Option<(&Path, bool)> {
    match command {
        Command::Train(TrainArgs { part, common }) => {
            let common = match part {
                Some(part) => part.common(),
                None => common,
            };
            Some((&common.endpoints, false))
        }
        Command::Test(TestArgs { part, common }) => {
            let common = match part {
                Some(TestPart::Nlu(c) | TestPart::Core(c)) => c,
                None => common,
            };
            Some((&common.endpoints, false))
        }
        Command::Shell(ShellArgs { part, common }) => {
            let common = match part {
                Some(ShellPart::Nlu(c)) => c,
                None => common,
            };
            Some((&common.endpoints, false))
        }
        // Interactive learning trains and handles messages as `shell` does.
        Command::Interactive(InteractiveArgs { part, common }) => {
            let common = match part {
                Some(InteractivePart::Core(c)) => c,
                None => common,
            };
            Some((&common.endpoints, false))
        }
        Command::Run(RunArgs { part: None, server }) => Some((&server.endpoints, true)),
        _ => None,
    }
}

impl CommandTracing {
    /// Reads the command's tracing configuration and starts the pipeline (nothing is
    /// connected yet). An error is the user's to fix: a malformed value in the file.
    pub fn start(command: &Command) -> Result<Self, UserError> {
        let off = Self {
            pipeline: None,
            notes: Vec::new(),
            flush_timeout: rusa_otel::CLI_FLUSH_TIMEOUT,
            env_parent: None,
        };
        let Some((path, server)) = traced_command(command) else {
            return Ok(off);
        };
        let mut warnings = Vec::new();
        let endpoints = rusa_project::load_endpoints(path, &mut warnings)
            .map_err(|e| UserError::new(e.to_string()))?;
        let entry = endpoints.as_ref().and_then(|e| e.tracing.as_ref());
        let resolved = rusa_otel::resolve(
            entry,
            path,
            &rusa_otel::config::process_env,
            rusa_otel::config::DEFAULT_SERVICE_NAME,
        )
        .map_err(|e| UserError::new(e.to_string()))?;
        let mut notes = resolved.notes;
        let pipeline = match &resolved.config {
            Some(config) => {
                notes.push(Note::Debug(format!("tracing configuration: {config:?}")));
                Some(Pipeline::start(config).map_err(|e| UserError::new(e.to_string()))?)
            }
            None => None,
        };
        Ok(Self {
            pipeline,
            notes,
            flush_timeout: if server {
                rusa_otel::SERVER_FLUSH_TIMEOUT
            } else {
                rusa_otel::CLI_FLUSH_TIMEOUT
            },
            env_parent: None,
        })
    }

    /// The layer for the program's subscriber, when tracing is on.
    pub fn pipeline(&self) -> Option<&Pipeline> {
        self.pipeline.as_ref()
    }

    /// Says what the configuration left to say, now that logging is set up, and makes a
    /// `TRACEPARENT` of the environment the parent of the command's spans (not for the
    /// server, whose traces come from its requests).
    pub fn announce(&mut self, command: &Command) {
        for note in self.notes.drain(..) {
            match note {
                Note::Info(text) => tracing::info!("{text}"),
                Note::Warn(text) => tracing::warn!("{text}"),
                Note::Debug(text) => tracing::debug!("{text}"),
            }
        }
        if let Some(pipeline) = &self.pipeline {
            tracing::info!("tracing to {}", pipeline.destination);
            if !matches!(command, Command::Run(_)) {
                self.env_parent =
                    rusa_otel::propagation::attach_from_env(&rusa_otel::config::process_env);
            }
        }
    }

    /// Exports the pending spans (at most 1 s for a command, 5 s for the server) and says
    /// how many never reached the back end, if any.
    pub fn finish(mut self) {
        self.env_parent.take();
        let Some(pipeline) = self.pipeline.take() else {
            return;
        };
        let report = pipeline.shutdown(self.flush_timeout);
        if report.lost() > 0 {
            tracing::warn!(
                exported = report.exported,
                dropped_queue_full = report.dropped_queue_full,
                failed_exports = report.failed,
                too_large_for_a_datagram = report.oversized,
                unsent_at_exit = report.unsent_at_shutdown,
                "{} spans did not reach the tracing back end",
                report.lost()
            );
        } else {
            tracing::debug!(
                exported = report.exported,
                "tracing: every span was exported"
            );
        }
    }
}
