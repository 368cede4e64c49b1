//! Binary-side glue for usage telemetry: starts it for a command and maps the binary's plain
//! values to `rusa-telemetry` events. Commands call the functions here, never the telemetry
//! crate's delivery machinery.

use rusa_telemetry::{ErrorReportingGuard, Telemetry};

use crate::cli::Command;

/// Telemetry and crash reporting of this run. Dropping it (at the end of `main`, after the
/// output is written) gives delivery at most 50 ms, spools the rest and flushes crash reports.
pub struct Session {
    // Dropped in declaration order: crash reports first, then events.
    _errors: Option<ErrorReportingGuard>,
    _telemetry: Option<Telemetry>,
}

/// Starts telemetry for `command`. `rusa telemetry ...` manages telemetry itself and
/// `rusa completions` reports nothing, so neither starts it (no first-run file, no notice).
pub fn start(command: &Command) -> Session {
    match command {
        Command::Telemetry(_) | Command::Completions(_) => Session {
            _errors: None,
            _telemetry: None,
        },
        _ => {
            let telemetry = rusa_telemetry::initialize_telemetry();
            let errors = rusa_telemetry::initialize_error_reporting();
            Session {
                _errors: errors,
                _telemetry: Some(telemetry),
            }
        }
    }
}

/// `rusa data validate` reached its verdict: records Training Data Validated.
pub fn validated(success: bool) {
    rusa_telemetry::track_validate_files(success);
}

/// `rusa data split nlu` (`Nlu`) or `data split stories` (`Core`) wrote its parts:
/// records Training Data Split.
pub fn data_split(fraction: f64, data_type: rusa_telemetry::ModelType) {
    rusa_telemetry::track_data_split(fraction, data_type);
}

/// `rusa data convert nlu` wrote its output: records Training Data Converted.
pub fn data_converted(output_format: rusa_telemetry::OutputFormat) {
    rusa_telemetry::track_data_convert(output_format, rusa_telemetry::ConvertDataType::Nlu);
}

/// `rusa visualize` starts drawing: records Story Visualization Started.
pub fn visualization_started() {
    rusa_telemetry::track_visualization();
}

/// Starts tracking one training of `project`: records Training Started now; the returned
/// guard records Training Completed (`.completed()`) or Training Failed (`.failed(code)`, a
/// stable code such as `"invalid_config"`; dropping it unfinished records `"aborted"`).
/// `None` when telemetry is not running. Exactly one Started and one end per call.
pub fn training_started(
    project: &rusa_project::Project,
    model_type: rusa_telemetry::ModelType,
) -> Option<rusa_telemetry::TrainingGuard> {
    rusa_telemetry::track_model_training(&training_stats(project), model_type, false)
}

/// The counts and names Training Started reports for `project`. Component and policy names
/// given as module paths (custom code) are reported as `custom`; a language that is not a
/// plain language code as `other`, so no text a user typed is sent.
pub fn training_stats(project: &rusa_project::Project) -> rusa_telemetry::TrainingStats {
    let domain = &project.domain;
    let names = |list: &Option<Vec<rusa_project::Component>>| {
        list.as_ref().map(|l| {
            l.iter()
                .map(|c| {
                    if c.name
                        .chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
                    {
                        c.name.clone()
                    } else {
                        "custom".to_owned()
                    }
                })
                .collect()
        })
    };
    let mappings = || domain.slots.iter().flat_map(|s| &s.mappings);
    let language = &project.config.language;
    let plain_code = (2..=8).contains(&language.len())
        && language
            .chars()
            .all(|c| c.is_ascii_alphabetic() || c == '-' || c == '_');
    let count = |n: usize| n as u64;
    rusa_telemetry::TrainingStats {
        language: if plain_code {
            language.clone()
        } else {
            "other".to_owned()
        },
        pipeline: names(&project.config.pipeline),
        policies: names(&project.config.policies),
        recipe: if project
            .config
            .recipe
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            project.config.recipe.clone()
        } else {
            "custom".to_owned()
        },
        num_intent_examples: count(project.nlu.examples.len()),
        num_entity_examples: count(project.nlu.entity_examples().count()),
        num_actions: count(rasa_action_count(domain)),
        num_templates: count(domain.responses.len()),
        num_conditional_response_variations: count(
            domain
                .responses
                .values()
                .flat_map(|r| &r.variations)
                .filter(|v| !v.conditions.is_empty())
                .count(),
        ),
        num_slot_mappings: count(mappings().count()),
        num_custom_slot_mappings: count(
            mappings()
                .filter(|m| m.mapping_type == rusa_project::MappingType::Custom)
                .count(),
        ),
        num_conditional_slot_mappings: count(
            mappings().filter(|m| !m.conditions.is_empty()).count(),
        ),
        num_slots: count(rasa_slot_count(domain)),
        num_forms: count(domain.forms.len()),
        num_intents: count(rasa_intent_count(domain)),
        num_entities: count(domain.entities.len()),
        num_story_steps: count(project.stories.len() + project.rules.len()),
        num_lookup_tables: count(project.nlu.lookups.len()),
        num_synonyms: count(project.nlu.synonyms.len()),
        num_regexes: count(project.nlu.regexes.len()),
    }
}

/// `rusa shell` (or `shell nlu`) started: records Shell Started.
pub fn shell_started(model_type: rusa_telemetry::ModelType) {
    rusa_telemetry::track_shell_started(model_type);
}

/// `rusa init` wrote a project into `dir`: records Project Created (with a keyed hash of the
/// path, never the path).
pub fn project_created(dir: &std::path::Path) {
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    rusa_telemetry::track_project_init(&absolute);
}

/// `rusa test core` ran: records Model Core Tested (rusa-telemetry sends the model's
/// project fingerprint only as a keyed hash).
pub fn core_model_tested(num_story_steps: usize, end_to_end: bool, project_fingerprint: &str) {
    let fingerprint = (!project_fingerprint.is_empty()).then_some(project_fingerprint);
    rusa_telemetry::track_core_model_test(num_story_steps as u64, end_to_end, fingerprint);
}

/// `rusa test nlu` ran: records Model NLU Tested with counts of the test data.
pub fn nlu_model_tested(data: &rusa_project::NluData) {
    rusa_telemetry::track_nlu_model_test(rusa_telemetry::NluTestStats {
        num_intent_examples: data.examples.len() as u64,
        num_entity_examples: data.entity_examples().count() as u64,
        num_lookup_tables: data.lookups.len() as u64,
        num_synonyms: data.synonyms.len() as u64,
        num_regexes: data.regexes.len() as u64,
    });
}

/// `rusa export` delivered every selected event: records Tracker Exported with the number of
/// events and the class names of the tracker store and the event broker (`SQLTrackerStore`,
/// `PikaEventBroker`, ...; never their URLs, and nothing of the conversations).
pub fn tracker_exported(
    number_of_events: u64,
    tracker_store: &'static str,
    event_broker: &'static str,
) {
    rusa_telemetry::track_tracker_export(number_of_events, tracker_store, event_broker);
}

/// What `rusa run` and `rusa shell` report when they start serving.
pub struct ServerStartInfo<'a> {
    pub input_channels: Vec<String>,
    pub api_enabled: bool,
    pub endpoints: &'a rusa_project::Endpoints,
    pub model_fingerprint: Option<String>,
}

/// `rusa run` (or a `rusa shell` session) started serving: records Server Started with the configured endpoint types
/// (never their URLs) and the model's fingerprint (sent only as a keyed hash).
pub fn server_started(info: &ServerStartInfo<'_>) {
    // Endpoint types are names of rusa's or Rasa's store classes; anything else is reported
    // as "custom" so no text a user wrote is sent.
    let kind = |e: &Option<rusa_project::EndpointConfig>, default_type: &str| -> Option<String> {
        e.as_ref().map(|c| {
            let t = c.kind.clone().unwrap_or_else(|| default_type.to_owned());
            if t.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                t
            } else {
                "custom".to_owned()
            }
        })
    };
    let e = info.endpoints;
    rusa_telemetry::track_server_start(&rusa_telemetry::ServerStart {
        input_channels: info.input_channels.clone(),
        api_enabled: info.api_enabled,
        number_of_workers: 1,
        endpoints_nlg: kind(&e.nlg, "callback"),
        endpoints_nlu: kind(&e.nlu, "http"),
        endpoints_action_server: kind(&e.action_endpoint, "http"),
        endpoints_model_server: kind(&e.models, "http"),
        endpoints_tracker_store: kind(&e.tracker_store, "in_memory"),
        endpoints_lock_store: kind(&e.lock_store, "in_memory"),
        endpoints_event_broker: kind(&e.event_broker, "pika"),
        project: info.model_fingerprint.clone(),
    });
}

/// Rasa's default actions, as Rasa 3.6 counts them in its domain (rusa's validation list
/// plus `action_send_text`, which Rasa defines and rusa does not run).
fn rasa_default_actions() -> impl Iterator<Item = &'static str> {
    rusa_project::validate::DEFAULT_ACTIONS
        .iter()
        .copied()
        .chain(["action_send_text"])
}

/// The actions Rasa's domain knows: its default actions, the declared actions, the
/// responses (retrieval responses by their base name) and the forms, each once.
fn rasa_action_count(domain: &rusa_project::Domain) -> usize {
    let mut names: std::collections::HashSet<&str> = rasa_default_actions().collect();
    names.extend(domain.actions.iter().map(|a| a.name.as_str()));
    names.extend(
        domain
            .responses
            .keys()
            .map(|k| k.split_once('/').map_or(k.as_str(), |(base, _)| base)),
    );
    names.extend(domain.forms.iter().map(|f| f.name.as_str()));
    names.len()
}

/// The intents Rasa's domain knows: the declared ones and its default intents.
fn rasa_intent_count(domain: &rusa_project::Domain) -> usize {
    let mut names: std::collections::HashSet<&str> = rusa_project::validate::DEFAULT_INTENTS
        .iter()
        .copied()
        .collect();
    names.extend(domain.intents.iter().map(|i| i.name.as_str()));
    names.len()
}

/// The slots Rasa's domain holds: the declared ones, `session_started_metadata` always and
/// `requested_slot` when there are forms.
fn rasa_slot_count(domain: &rusa_project::Domain) -> usize {
    let mut names: std::collections::HashSet<&str> =
        domain.slots.iter().map(|s| s.name.as_str()).collect();
    names.insert("session_started_metadata");
    if !domain.forms.is_empty() {
        names.insert("requested_slot");
    }
    names.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moodbot_training_stats_are_counts_and_builtin_names() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/fixtures/moodbot");
        let paths = rusa_project::ProjectPaths {
            domain: root.join("domain.yml"),
            data: vec![root.join("data")],
            config: root.join("config.yml"),
        };
        let project = rusa_project::Project::load(&paths).expect("moodbot loads");
        let stats = training_stats(&project);
        assert_eq!(stats.language, "en");
        assert_eq!(
            stats.num_intent_examples, 68,
            "as Rasa reported for moodbot"
        );
        assert_eq!(stats.num_templates, 6, "as Rasa reported for moodbot");
        assert_eq!(stats.num_entity_examples, 0);
        // Rasa counts its default actions, intents and slot too.
        assert_eq!(stats.num_actions, 19, "as Rasa reported for moodbot");
        assert_eq!(stats.num_intents, 12, "as Rasa reported for moodbot");
        assert_eq!(stats.num_slots, 1, "as Rasa reported for moodbot");
        assert!(stats.num_intents > 0 && stats.num_story_steps > 0);
        let event = rusa_telemetry::Event::training_started(
            &stats,
            "0123456789abcdef0123456789abcdef",
            rusa_telemetry::ModelType::Rasa,
            false,
        );
        assert_eq!(event.properties()["num_intent_examples"], 68);
    }
}
