//! The event registry (§5): one declaration per event. The typed constructors below, the
//! JSON Schema (`docs/telemetry/events.schema.json`) and the reference page
//! (`docs/telemetry/events.md`) are all made from [`REGISTRY`].

use std::time::Duration;

use serde_json::{Map, Value, json};

/// The JSON type of a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    /// A string from a fixed vocabulary of the code (never text typed by a user).
    String,
    /// A string or null.
    NullableString,
    /// One of the listed strings.
    OneOf(&'static [&'static str]),
    /// A lowercase hex digest (64 digits).
    Hash,
    /// A lowercase hex digest or null.
    NullableHash,
    /// An integer ≥ 0.
    Count,
    /// A number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A list of names (strings), or null.
    NullableNames,
    /// A list of names (strings).
    Names,
}

/// One property of an event.
#[derive(Debug, Clone, Copy)]
pub struct PropertyDecl {
    pub name: &'static str,
    pub ty: PropType,
    pub description: &'static str,
}

/// Whether, and by what, an event is emitted in this version of rusa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emission {
    /// Emitted by these commands (a test of each command must see it).
    EmittedBy(&'static [&'static str]),
    /// Its command is not implemented yet or does not emit it yet; emitted once wired.
    Pending(&'static [&'static str]),
    /// Never emitted by rusa, for the reason given.
    NotEmitted(&'static str),
}

/// The declaration of one event.
#[derive(Debug, Clone, Copy)]
pub struct EventDecl {
    /// The event name, as in the seeds' event reference.
    pub name: &'static str,
    /// What happened.
    pub description: &'static str,
    /// When it is emitted.
    pub when: &'static str,
    pub properties: &'static [PropertyDecl],
    pub emission: Emission,
}

const MODEL_TYPES: &[&str] = &["nlu", "core", "rasa"];
const CONVERT_TYPES: &[&str] = &["nlu", "core", "config", "nlg"];

macro_rules! prop {
    ($name:literal, $ty:expr, $desc:literal) => {
        PropertyDecl {
            name: $name,
            ty: $ty,
            description: $desc,
        }
    };
}

/// Training data statistics counted in Training Started (checked against it in tests).
#[cfg(test)]
const TRAINING_COUNTS: &[PropertyDecl] = &[
    prop!(
        "num_intent_examples",
        PropType::Count,
        "Number of NLU examples."
    ),
    prop!(
        "num_entity_examples",
        PropType::Count,
        "Number of entity examples."
    ),
    prop!(
        "num_actions",
        PropType::Count,
        "Number of actions defined in the domain."
    ),
    prop!(
        "num_templates",
        PropType::Count,
        "Number of responses defined in the domain."
    ),
    prop!(
        "num_conditional_response_variations",
        PropType::Count,
        "Number of conditional response variations in the domain."
    ),
    prop!(
        "num_slot_mappings",
        PropType::Count,
        "Number of slot mappings."
    ),
    prop!(
        "num_custom_slot_mappings",
        PropType::Count,
        "Number of custom slot mappings."
    ),
    prop!(
        "num_conditional_slot_mappings",
        PropType::Count,
        "Number of conditional slot mappings."
    ),
    prop!(
        "num_slots",
        PropType::Count,
        "Number of slots defined in the domain."
    ),
    prop!(
        "num_forms",
        PropType::Count,
        "Number of forms defined in the domain."
    ),
    prop!(
        "num_intents",
        PropType::Count,
        "Number of intents defined in the domain."
    ),
    prop!(
        "num_entities",
        PropType::Count,
        "Number of entities defined in the domain."
    ),
    prop!(
        "num_story_steps",
        PropType::Count,
        "Number of story steps available."
    ),
    prop!(
        "num_lookup_tables",
        PropType::Count,
        "Number of different lookup tables."
    ),
    prop!(
        "num_synonyms",
        PropType::Count,
        "Total number of entity synonyms defined."
    ),
    prop!(
        "num_regexes",
        PropType::Count,
        "Total number of regexes defined."
    ),
];

/// Training Started.
pub const TRAINING_STARTED: EventDecl = EventDecl {
    name: "Training Started",
    description: "A training of a model started; carries aggregated training data statistics.",
    when: "once per training, before it starts",
    properties: &[
        prop!(
            "language",
            PropType::String,
            "Language the model is trained with, e.g. 'en'."
        ),
        prop!(
            "training_id",
            PropType::String,
            "Generated unique identifier of this training."
        ),
        prop!(
            "type",
            PropType::OneOf(MODEL_TYPES),
            "Type of model trained: 'nlu', 'core' or 'rasa' (full model)."
        ),
        prop!(
            "pipeline",
            PropType::NullableNames,
            "Names of the pipeline components (custom components reported as 'custom')."
        ),
        prop!(
            "policies",
            PropType::NullableNames,
            "Names of the policies (custom policies reported as 'custom')."
        ),
        prop!(
            "recipe",
            PropType::String,
            "Name of the configuration recipe, e.g. 'default.v1'."
        ),
        // TRAINING_COUNTS, spelled out so the declaration stays one constant expression.
        prop!(
            "num_intent_examples",
            PropType::Count,
            "Number of NLU examples."
        ),
        prop!(
            "num_entity_examples",
            PropType::Count,
            "Number of entity examples."
        ),
        prop!(
            "num_actions",
            PropType::Count,
            "Number of actions defined in the domain."
        ),
        prop!(
            "num_templates",
            PropType::Count,
            "Number of responses defined in the domain."
        ),
        prop!(
            "num_conditional_response_variations",
            PropType::Count,
            "Number of conditional response variations in the domain."
        ),
        prop!(
            "num_slot_mappings",
            PropType::Count,
            "Number of slot mappings."
        ),
        prop!(
            "num_custom_slot_mappings",
            PropType::Count,
            "Number of custom slot mappings."
        ),
        prop!(
            "num_conditional_slot_mappings",
            PropType::Count,
            "Number of conditional slot mappings."
        ),
        prop!(
            "num_slots",
            PropType::Count,
            "Number of slots defined in the domain."
        ),
        prop!(
            "num_forms",
            PropType::Count,
            "Number of forms defined in the domain."
        ),
        prop!(
            "num_intents",
            PropType::Count,
            "Number of intents defined in the domain."
        ),
        prop!(
            "num_entities",
            PropType::Count,
            "Number of entities defined in the domain."
        ),
        prop!(
            "num_story_steps",
            PropType::Count,
            "Number of story steps available."
        ),
        prop!(
            "num_lookup_tables",
            PropType::Count,
            "Number of different lookup tables."
        ),
        prop!(
            "num_synonyms",
            PropType::Count,
            "Total number of entity synonyms defined."
        ),
        prop!(
            "num_regexes",
            PropType::Count,
            "Total number of regexes defined."
        ),
        prop!(
            "is_finetuning",
            PropType::Boolean,
            "True if the model is trained by finetuning an existing model."
        ),
    ],
    emission: Emission::EmittedBy(&[
        "rusa train",
        "rusa train nlu",
        "rusa train core",
        "rusa init",
    ]),
};

const TRAINING_RUNTIME: &[PropertyDecl] = &[
    prop!(
        "training_id",
        PropType::String,
        "Identifier of the training; joins with Training Started."
    ),
    prop!(
        "type",
        PropType::OneOf(MODEL_TYPES),
        "Type of model trained: 'nlu', 'core' or 'rasa'."
    ),
    prop!(
        "runtime",
        PropType::Count,
        "Time the training took, whole seconds."
    ),
    prop!(
        "runtime_ms",
        PropType::Count,
        "Time the training took, milliseconds."
    ),
];

/// Training Completed.
pub const TRAINING_COMPLETED: EventDecl = EventDecl {
    name: "Training Completed",
    description: "The training of a model finished successfully.",
    when: "once per training, when it succeeds",
    properties: TRAINING_RUNTIME,
    emission: Emission::EmittedBy(&[
        "rusa train",
        "rusa train nlu",
        "rusa train core",
        "rusa init",
    ]),
};

/// Training Failed.
pub const TRAINING_FAILED: EventDecl = EventDecl {
    name: "Training Failed",
    description: "The training of a model failed.",
    when: "once per training, when it fails",
    properties: &[
        prop!(
            "training_id",
            PropType::String,
            "Identifier of the training; joins with Training Started."
        ),
        prop!(
            "type",
            PropType::OneOf(MODEL_TYPES),
            "Type of model trained: 'nlu', 'core' or 'rasa'."
        ),
        prop!(
            "runtime",
            PropType::Count,
            "Time until the failure, whole seconds."
        ),
        prop!(
            "runtime_ms",
            PropType::Count,
            "Time until the failure, milliseconds."
        ),
        prop!(
            "error_code",
            PropType::String,
            "Stable code of the failure (never the message text)."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa train"]),
};

/// Model Core Tested.
pub const MODEL_CORE_TESTED: EventDecl = EventDecl {
    name: "Model Core Tested",
    description: "A dialogue model is being tested.",
    when: "when `rusa test core` starts evaluating",
    properties: &[
        prop!(
            "project",
            PropType::NullableHash,
            "Keyed hash (HMAC-SHA256 with the install's hash key) of the tested model's project fingerprint, or null."
        ),
        prop!(
            "num_story_steps",
            PropType::Count,
            "Number of test story steps."
        ),
        prop!(
            "end_to_end",
            PropType::Boolean,
            "Whether the test runs end to end."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa test core"]),
};

/// Model NLU Tested.
pub const MODEL_NLU_TESTED: EventDecl = EventDecl {
    name: "Model NLU Tested",
    description: "An NLU model is being tested.",
    when: "when `rusa test nlu` starts evaluating",
    properties: &[
        prop!(
            "num_intent_examples",
            PropType::Count,
            "Number of NLU test examples."
        ),
        prop!(
            "num_entity_examples",
            PropType::Count,
            "Number of entity examples."
        ),
        prop!(
            "num_lookup_tables",
            PropType::Count,
            "Number of different lookup tables."
        ),
        prop!(
            "num_synonyms",
            PropType::Count,
            "Total number of entity synonyms."
        ),
        prop!("num_regexes", PropType::Count, "Total number of regexes."),
    ],
    emission: Emission::EmittedBy(&["rusa test nlu"]),
};

/// Interactive Learning Started.
pub const INTERACTIVE_LEARNING_STARTED: EventDecl = EventDecl {
    name: "Interactive Learning Started",
    description: "An interactive learning session started.",
    when: "when `rusa interactive` starts its session",
    properties: &[
        prop!(
            "skip_visualization",
            PropType::Boolean,
            "Whether story visualization is skipped."
        ),
        prop!(
            "save_in_e2e",
            PropType::Boolean,
            "Whether data is saved in end-to-end format."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa interactive"]),
};

/// Server Started.
pub const SERVER_STARTED: EventDecl = EventDecl {
    name: "Server Started",
    description: "A rusa server started.",
    when: "when `rusa run` or `rusa shell` has started its server",
    properties: &[
        prop!(
            "input_channels",
            PropType::Names,
            "Names of the input channels in use."
        ),
        prop!(
            "api_enabled",
            PropType::Boolean,
            "Whether the HTTP API is enabled."
        ),
        prop!(
            "number_of_workers",
            PropType::Count,
            "Number of server workers."
        ),
        prop!(
            "endpoints_nlg",
            PropType::NullableString,
            "Type of the NLG endpoint, or null."
        ),
        prop!(
            "endpoints_nlu",
            PropType::NullableString,
            "Type of the NLU endpoint, or null."
        ),
        prop!(
            "endpoints_action_server",
            PropType::NullableString,
            "Type of the action server endpoint, or null."
        ),
        prop!(
            "endpoints_model_server",
            PropType::NullableString,
            "Type of the model server, or null."
        ),
        prop!(
            "endpoints_tracker_store",
            PropType::NullableString,
            "Type of the tracker store, or null."
        ),
        prop!(
            "endpoints_lock_store",
            PropType::NullableString,
            "Type of the lock store, or null."
        ),
        prop!(
            "endpoints_event_broker",
            PropType::NullableString,
            "Type of the event broker, or null."
        ),
        prop!(
            "project",
            PropType::NullableHash,
            "Keyed hash of the served model's project fingerprint, or null."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa run", "rusa shell"]),
};

/// Shell Started.
pub const SHELL_STARTED: EventDecl = EventDecl {
    name: "Shell Started",
    description: "A shell session to talk to a trained assistant started.",
    when: "when `rusa shell` or `rusa shell nlu` starts",
    properties: &[prop!(
        "type",
        PropType::OneOf(MODEL_TYPES),
        "Type of the model: 'nlu', 'core' or 'rasa'."
    )],
    emission: Emission::EmittedBy(&["rusa shell", "rusa shell nlu"]),
};

/// Training Data Split.
pub const TRAINING_DATA_SPLIT: EventDecl = EventDecl {
    name: "Training Data Split",
    description: "Training data was split into a training and a test set.",
    when: "when `rusa data split nlu` or `rusa data split stories` has written its parts (type 'nlu' or 'core')",
    properties: &[
        prop!(
            "fraction",
            PropType::Number,
            "Fraction of the data that goes into the training set."
        ),
        prop!(
            "type",
            PropType::OneOf(MODEL_TYPES),
            "Type of data: 'nlu', 'core' or 'rasa'."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa data split nlu", "rusa data split stories"]),
};

/// Training Data Validated.
pub const TRAINING_DATA_VALIDATED: EventDecl = EventDecl {
    name: "Training Data Validated",
    description: "Training data was validated.",
    when: "when `rusa data validate` has reached its verdict",
    properties: &[prop!(
        "validation_success",
        PropType::Boolean,
        "Whether the validation was successful."
    )],
    emission: Emission::EmittedBy(&["rusa data validate"]),
};

/// Training Data Converted.
pub const TRAINING_DATA_CONVERTED: EventDecl = EventDecl {
    name: "Training Data Converted",
    description: "Training data was converted to another format.",
    when: "when `rusa data convert nlu` has written the converted data",
    properties: &[
        prop!(
            "output_format",
            PropType::OneOf(&["json", "yaml", "md"]),
            "Target format of the conversion."
        ),
        prop!(
            "type",
            PropType::OneOf(CONVERT_TYPES),
            "Type of data: 'nlu', 'core', 'config' or 'nlg'."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa data convert nlu"]),
};

/// Tracker Exported.
pub const TRACKER_EXPORTED: EventDecl = EventDecl {
    name: "Tracker Exported",
    description: "Conversations were exported from a tracker store through an event broker.",
    when: "when `rusa export` has published the events and the event broker has taken all of them",
    properties: &[
        prop!(
            "event_broker",
            PropType::String,
            "Type of the event broker, e.g. 'PikaEventBroker'."
        ),
        prop!(
            "tracker_store",
            PropType::String,
            "Type of the tracker store, e.g. 'SQLTrackerStore'."
        ),
        prop!(
            "number_of_exported_events",
            PropType::Count,
            "Number of events exported."
        ),
    ],
    emission: Emission::EmittedBy(&["rusa export"]),
};

/// Story Visualization Started.
pub const STORY_VISUALIZATION_STARTED: EventDecl = EventDecl {
    name: "Story Visualization Started",
    description: "Stories are being visualized.",
    when: "when `rusa visualize` has loaded the domain and starts drawing",
    properties: &[],
    emission: Emission::EmittedBy(&["rusa visualize"]),
};

/// Telemetry Disabled.
pub const TELEMETRY_DISABLED: EventDecl = EventDecl {
    name: "Telemetry Disabled",
    description: "Telemetry reporting is being disabled; the last event sent. Not sent when telemetry was not enabled.",
    when: "by `rusa telemetry disable`, only when telemetry was enabled at that moment",
    properties: &[],
    emission: Emission::EmittedBy(&["rusa telemetry disable"]),
};

/// Project Created.
pub const PROJECT_CREATED: EventDecl = EventDecl {
    name: "Project Created",
    description: "A project was created.",
    when: "when `rusa init` has written the project",
    properties: &[prop!(
        "init_directory",
        PropType::Hash,
        "Keyed hash (HMAC-SHA256 with the install's hash key) of the project directory."
    )],
    emission: Emission::EmittedBy(&["rusa init"]),
};

/// Rasa X Local Started (listed in the seeds; never emitted by rusa).
pub const RASA_X_LOCAL_STARTED: EventDecl = EventDecl {
    name: "Rasa X Local Started",
    description: "Rasa X was started in local mode.",
    when: "never",
    properties: &[],
    emission: Emission::NotEmitted(
        "rusa has no local UI server (Rasa X local mode), so there is nothing to report",
    ),
};

/// Every event, in the order of the event reference.
pub const REGISTRY: &[&EventDecl] = &[
    &TRAINING_STARTED,
    &TRAINING_COMPLETED,
    &TRAINING_FAILED,
    &MODEL_CORE_TESTED,
    &MODEL_NLU_TESTED,
    &INTERACTIVE_LEARNING_STARTED,
    &SERVER_STARTED,
    &SHELL_STARTED,
    &RASA_X_LOCAL_STARTED,
    &TRAINING_DATA_SPLIT,
    &TRAINING_DATA_VALIDATED,
    &TRAINING_DATA_CONVERTED,
    &TRACKER_EXPORTED,
    &STORY_VISUALIZATION_STARTED,
    &TELEMETRY_DISABLED,
    &PROJECT_CREATED,
];

/// Looks an event up by name.
pub fn find(name: &str) -> Option<&'static EventDecl> {
    REGISTRY.iter().copied().find(|d| d.name == name)
}

/// The type of a model or of training data, as the event reference spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelType {
    Nlu,
    Core,
    /// A full model (NLU and dialogue).
    Rasa,
}

impl ModelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Nlu => "nlu",
            ModelType::Core => "core",
            ModelType::Rasa => "rasa",
        }
    }
}

/// The kind of data `rusa data convert` converts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvertDataType {
    Nlu,
    Core,
    Config,
    Nlg,
}

impl ConvertDataType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConvertDataType::Nlu => "nlu",
            ConvertDataType::Core => "core",
            ConvertDataType::Config => "config",
            ConvertDataType::Nlg => "nlg",
        }
    }
}

/// The target format of `rusa data convert`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Json,
    Yaml,
    Markdown,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Json => "json",
            OutputFormat::Yaml => "yaml",
            OutputFormat::Markdown => "md",
        }
    }
}

/// Training statistics: plain counts and names, filled by the binary from its project.
/// Pipeline and policy names must be built-in names; the binary reports others as `custom`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingStats {
    pub language: String,
    pub pipeline: Option<Vec<String>>,
    pub policies: Option<Vec<String>>,
    pub recipe: String,
    pub num_intent_examples: u64,
    pub num_entity_examples: u64,
    pub num_actions: u64,
    pub num_templates: u64,
    pub num_conditional_response_variations: u64,
    pub num_slot_mappings: u64,
    pub num_custom_slot_mappings: u64,
    pub num_conditional_slot_mappings: u64,
    pub num_slots: u64,
    pub num_forms: u64,
    pub num_intents: u64,
    pub num_entities: u64,
    pub num_story_steps: u64,
    pub num_lookup_tables: u64,
    pub num_synonyms: u64,
    pub num_regexes: u64,
}

/// NLU test data statistics for Model NLU Tested.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NluTestStats {
    pub num_intent_examples: u64,
    pub num_entity_examples: u64,
    pub num_lookup_tables: u64,
    pub num_synonyms: u64,
    pub num_regexes: u64,
}

/// What a server was started with, as types (never URLs or credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerStart {
    pub input_channels: Vec<String>,
    pub api_enabled: bool,
    pub number_of_workers: u64,
    pub endpoints_nlg: Option<String>,
    pub endpoints_nlu: Option<String>,
    pub endpoints_action_server: Option<String>,
    pub endpoints_model_server: Option<String>,
    pub endpoints_tracker_store: Option<String>,
    pub endpoints_lock_store: Option<String>,
    pub endpoints_event_broker: Option<String>,
    pub project: Option<String>,
}

/// One event with its properties, made by a constructor below from its declaration.
#[derive(Debug, Clone)]
pub struct Event {
    decl: &'static EventDecl,
    properties: Map<String, Value>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.decl.name == other.decl.name && self.properties == other.properties
    }
}

impl Event {
    fn new(decl: &'static EventDecl) -> Self {
        Self {
            decl,
            properties: Map::new(),
        }
    }

    fn with(mut self, name: &'static str, value: Value) -> Self {
        debug_assert!(
            self.decl.properties.iter().any(|p| p.name == name),
            "{name} is not declared for {}",
            self.decl.name
        );
        self.properties.insert(name.to_owned(), value);
        self
    }

    /// The event name.
    pub fn name(&self) -> &'static str {
        self.decl.name
    }

    /// The declaration it was made from.
    pub fn decl(&self) -> &'static EventDecl {
        self.decl
    }

    /// The properties (without `metrics_id`, which delivery adds).
    pub fn properties(&self) -> &Map<String, Value> {
        &self.properties
    }

    /// Training Started.
    pub fn training_started(
        stats: &TrainingStats,
        training_id: &str,
        model_type: ModelType,
        is_finetuning: bool,
    ) -> Self {
        let names = |n: &Option<Vec<String>>| n.as_ref().map_or(Value::Null, |v| json!(v));
        Self::new(&TRAINING_STARTED)
            .with("language", json!(stats.language))
            .with("training_id", json!(training_id))
            .with("type", json!(model_type.as_str()))
            .with("pipeline", names(&stats.pipeline))
            .with("policies", names(&stats.policies))
            .with("recipe", json!(stats.recipe))
            .with("num_intent_examples", json!(stats.num_intent_examples))
            .with("num_entity_examples", json!(stats.num_entity_examples))
            .with("num_actions", json!(stats.num_actions))
            .with("num_templates", json!(stats.num_templates))
            .with(
                "num_conditional_response_variations",
                json!(stats.num_conditional_response_variations),
            )
            .with("num_slot_mappings", json!(stats.num_slot_mappings))
            .with(
                "num_custom_slot_mappings",
                json!(stats.num_custom_slot_mappings),
            )
            .with(
                "num_conditional_slot_mappings",
                json!(stats.num_conditional_slot_mappings),
            )
            .with("num_slots", json!(stats.num_slots))
            .with("num_forms", json!(stats.num_forms))
            .with("num_intents", json!(stats.num_intents))
            .with("num_entities", json!(stats.num_entities))
            .with("num_story_steps", json!(stats.num_story_steps))
            .with("num_lookup_tables", json!(stats.num_lookup_tables))
            .with("num_synonyms", json!(stats.num_synonyms))
            .with("num_regexes", json!(stats.num_regexes))
            .with("is_finetuning", json!(is_finetuning))
    }

    /// Training Completed.
    pub fn training_completed(training_id: &str, model_type: ModelType, runtime: Duration) -> Self {
        Self::new(&TRAINING_COMPLETED)
            .with("training_id", json!(training_id))
            .with("type", json!(model_type.as_str()))
            .with("runtime", json!(runtime.as_secs()))
            .with(
                "runtime_ms",
                json!(u64::try_from(runtime.as_millis()).unwrap_or(u64::MAX)),
            )
    }

    /// Training Failed. `error_code` is a stable code such as `invalid_config`.
    pub fn training_failed(
        training_id: &str,
        model_type: ModelType,
        runtime: Duration,
        error_code: &'static str,
    ) -> Self {
        Self::new(&TRAINING_FAILED)
            .with("training_id", json!(training_id))
            .with("type", json!(model_type.as_str()))
            .with("runtime", json!(runtime.as_secs()))
            .with(
                "runtime_ms",
                json!(u64::try_from(runtime.as_millis()).unwrap_or(u64::MAX)),
            )
            .with("error_code", json!(error_code))
    }

    /// Model Core Tested; `project` is already a keyed hash (see `track_core_model_test`).
    pub fn model_core_tested(
        project: Option<&str>,
        num_story_steps: u64,
        end_to_end: bool,
    ) -> Self {
        Self::new(&MODEL_CORE_TESTED)
            .with("project", project.map_or(Value::Null, |p| json!(p)))
            .with("num_story_steps", json!(num_story_steps))
            .with("end_to_end", json!(end_to_end))
    }

    /// Model NLU Tested.
    pub fn model_nlu_tested(stats: NluTestStats) -> Self {
        Self::new(&MODEL_NLU_TESTED)
            .with("num_intent_examples", json!(stats.num_intent_examples))
            .with("num_entity_examples", json!(stats.num_entity_examples))
            .with("num_lookup_tables", json!(stats.num_lookup_tables))
            .with("num_synonyms", json!(stats.num_synonyms))
            .with("num_regexes", json!(stats.num_regexes))
    }

    /// Interactive Learning Started.
    pub fn interactive_learning_started(skip_visualization: bool, save_in_e2e: bool) -> Self {
        Self::new(&INTERACTIVE_LEARNING_STARTED)
            .with("skip_visualization", json!(skip_visualization))
            .with("save_in_e2e", json!(save_in_e2e))
    }

    /// Server Started.
    pub fn server_started(start: &ServerStart) -> Self {
        let opt = |v: &Option<String>| v.as_ref().map_or(Value::Null, |s| json!(s));
        Self::new(&SERVER_STARTED)
            .with("input_channels", json!(start.input_channels))
            .with("api_enabled", json!(start.api_enabled))
            .with("number_of_workers", json!(start.number_of_workers))
            .with("endpoints_nlg", opt(&start.endpoints_nlg))
            .with("endpoints_nlu", opt(&start.endpoints_nlu))
            .with(
                "endpoints_action_server",
                opt(&start.endpoints_action_server),
            )
            .with("endpoints_model_server", opt(&start.endpoints_model_server))
            .with(
                "endpoints_tracker_store",
                opt(&start.endpoints_tracker_store),
            )
            .with("endpoints_lock_store", opt(&start.endpoints_lock_store))
            .with("endpoints_event_broker", opt(&start.endpoints_event_broker))
            .with("project", opt(&start.project))
    }

    /// Shell Started.
    pub fn shell_started(model_type: ModelType) -> Self {
        Self::new(&SHELL_STARTED).with("type", json!(model_type.as_str()))
    }

    /// Training Data Split.
    pub fn training_data_split(fraction: f64, data_type: ModelType) -> Self {
        let fraction = if fraction.is_finite() {
            json!(fraction)
        } else {
            json!(0.0)
        };
        Self::new(&TRAINING_DATA_SPLIT)
            .with("fraction", fraction)
            .with("type", json!(data_type.as_str()))
    }

    /// Training Data Validated.
    pub fn training_data_validated(validation_success: bool) -> Self {
        Self::new(&TRAINING_DATA_VALIDATED).with("validation_success", json!(validation_success))
    }

    /// Training Data Converted.
    pub fn training_data_converted(
        output_format: OutputFormat,
        data_type: ConvertDataType,
    ) -> Self {
        Self::new(&TRAINING_DATA_CONVERTED)
            .with("output_format", json!(output_format.as_str()))
            .with("type", json!(data_type.as_str()))
    }

    /// Tracker Exported.
    pub fn tracker_exported(
        event_broker: &str,
        tracker_store: &str,
        number_of_exported_events: u64,
    ) -> Self {
        Self::new(&TRACKER_EXPORTED)
            .with("event_broker", json!(event_broker))
            .with("tracker_store", json!(tracker_store))
            .with(
                "number_of_exported_events",
                json!(number_of_exported_events),
            )
    }

    /// Story Visualization Started.
    pub fn story_visualization_started() -> Self {
        Self::new(&STORY_VISUALIZATION_STARTED)
    }

    /// Telemetry Disabled.
    pub fn telemetry_disabled() -> Self {
        Self::new(&TELEMETRY_DISABLED)
    }

    /// Project Created, with the keyed hash of the project directory.
    pub fn project_created(init_directory_hash: &str) -> Self {
        Self::new(&PROJECT_CREATED).with("init_directory", json!(init_directory_hash))
    }
}

fn prop_schema(ty: PropType) -> Value {
    const HEX64: &str = "^[0-9a-f]{64}$";
    match ty {
        PropType::String => json!({ "type": "string" }),
        PropType::NullableString => json!({ "type": ["string", "null"] }),
        PropType::OneOf(values) => json!({ "type": "string", "enum": values }),
        PropType::Hash => json!({ "type": "string", "pattern": HEX64 }),
        PropType::NullableHash => json!({ "type": ["string", "null"], "pattern": HEX64 }),
        PropType::Count => json!({ "type": "integer", "minimum": 0 }),
        PropType::Number => json!({ "type": "number" }),
        PropType::Boolean => json!({ "type": "boolean" }),
        PropType::NullableNames => {
            json!({ "type": ["array", "null"], "items": { "type": "string" } })
        }
        PropType::Names => json!({ "type": "array", "items": { "type": "string" } }),
    }
}

/// The JSON Schema of one message of a batch (every event), from the registry.
pub fn json_schema() -> Value {
    const HEX32: &str = "^[0-9a-f]{32}$";
    const HEX64: &str = "^[0-9a-f]{64}$";
    let mut defs = Map::new();
    defs.insert(
        "context".into(),
        json!({
            "type": "object",
            "description": "What every event carries (docs/telemetry.md lists each key and why).",
            "properties": {
                "os": {
                    "type": "object",
                    "properties": { "name": { "type": "string" }, "version": { "type": "string" } },
                    "required": ["name", "version"],
                    "additionalProperties": false
                },
                "ci": { "type": "boolean" },
                "docker": { "type": "boolean" },
                "cpu": { "type": "integer", "minimum": 0 },
                "gpu": { "type": "integer", "minimum": 0 },
                "project": { "type": ["string", "null"], "pattern": HEX64 },
                "directory": { "type": ["string", "null"], "pattern": HEX64 },
                "rusa": { "type": "string" },
                "rust": { "type": "string" },
                "library": {
                    "type": "object",
                    "properties": { "name": { "const": "rusa-telemetry" }, "version": { "type": "string" } },
                    "required": ["name", "version"],
                    "additionalProperties": false
                },
                "license_hash": { "type": "string", "pattern": HEX64 }
            },
            "required": ["os", "ci", "docker", "cpu", "gpu", "project", "directory", "rusa", "rust", "library"],
            "additionalProperties": false
        }),
    );
    let mut variants = Vec::new();
    for decl in REGISTRY {
        let mut props = Map::new();
        let mut required = Vec::new();
        for p in decl.properties {
            let mut schema = prop_schema(p.ty);
            if let Value::Object(map) = &mut schema {
                map.insert("description".into(), json!(p.description));
            }
            props.insert(p.name.into(), schema);
            required.push(json!(p.name));
        }
        props.insert("metrics_id".into(), json!({ "type": "string", "pattern": HEX32, "description": "The install's telemetry id (same as userId)." }));
        required.push(json!("metrics_id"));
        let key = decl.name.to_ascii_lowercase().replace(' ', "_");
        defs.insert(
            key.clone(),
            json!({
                "description": decl.description,
                "properties": {
                    "event": { "const": decl.name },
                    "properties": {
                        "type": "object",
                        "properties": props,
                        "required": required,
                        "additionalProperties": false
                    }
                }
            }),
        );
        variants.push(json!({ "$ref": format!("#/$defs/{key}") }));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://example.invalid/rusa/telemetry/events.schema.json",
        "title": "rusa telemetry message",
        "description": "One message of a Segment batch sent by rusa. Generated from the event registry in crates/rusa-telemetry/src/events.rs; do not edit.",
        "type": "object",
        "properties": {
            "type": { "const": "track" },
            "messageId": { "type": "string", "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$" },
            "timestamp": { "type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?Z$" },
            "userId": { "type": "string", "pattern": HEX32 },
            "event": { "enum": REGISTRY.iter().map(|d| d.name).collect::<Vec<_>>() },
            "properties": { "type": "object" },
            "context": { "$ref": "#/$defs/context" }
        },
        "required": ["type", "messageId", "timestamp", "userId", "event", "properties", "context"],
        "additionalProperties": false,
        "oneOf": variants,
        "$defs": defs
    })
}

/// The reference page `docs/telemetry/events.md`, from the registry.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- Generated from crates/rusa-telemetry/src/events.rs; do not edit. Regenerate with `RUSA_UPDATE_DOCS=1 cargo test -p rusa-telemetry`. -->\n\
         # Telemetry event reference\n\n\
         Every event rusa can report, its properties, and when it is sent. Each event also carries\n\
         `metrics_id` (the install's anonymous id) in its properties and the context described in\n\
         [the telemetry page](../telemetry.md). The JSON Schema of a message is\n\
         [events.schema.json](events.schema.json).\n\n\
         | event | status |\n|---|---|\n",
    );
    for decl in REGISTRY {
        out.push_str(&format!(
            "| [{}](#{}) | {} |\n",
            decl.name,
            decl.name.to_ascii_lowercase().replace(' ', "-"),
            status_text(decl.emission)
        ));
    }
    for decl in REGISTRY {
        out.push_str(&format!(
            "\n## {}\n\n{}\n\n- **When:** {}\n- **Status:** {}\n",
            decl.name,
            decl.description,
            decl.when,
            status_text(decl.emission)
        ));
        if decl.properties.is_empty() {
            out.push_str("\nNo properties besides `metrics_id`.\n");
        } else {
            out.push_str("\n| property | type | meaning |\n|---|---|---|\n");
            for p in decl.properties {
                out.push_str(&format!(
                    "| `{}` | {} | {} |\n",
                    p.name,
                    type_text(p.ty),
                    p.description
                ));
            }
        }
    }
    out
}

fn status_text(emission: Emission) -> String {
    let commands = |c: &[&str]| {
        c.iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match emission {
        Emission::EmittedBy(c) => format!("emitted by {}", commands(c)),
        Emission::Pending(c) => format!("pending: not emitted yet by {}", commands(c)),
        Emission::NotEmitted(reason) => format!("not emitted: {reason}"),
    }
}

fn type_text(ty: PropType) -> String {
    match ty {
        PropType::String => "string".into(),
        PropType::NullableString => "string or null".into(),
        PropType::OneOf(v) => format!(
            "one of {}",
            v.iter()
                .map(|s| format!("`{s}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        PropType::Hash => "hex digest".into(),
        PropType::NullableHash => "hex digest or null".into(),
        PropType::Count => "integer ≥ 0".into(),
        PropType::Number => "number".into(),
        PropType::Boolean => "boolean".into(),
        PropType::NullableNames => "list of names, or null".into(),
        PropType::Names => "list of names".into(),
    }
}

/// One sample of every constructor, for tests: each registry event has exactly one.
pub fn samples() -> Vec<Event> {
    let stats = TrainingStats {
        language: "en".into(),
        pipeline: Some(vec!["WhitespaceTokenizer".into(), "DIETClassifier".into()]),
        policies: None,
        recipe: "default.v1".into(),
        num_intent_examples: 68,
        ..TrainingStats::default()
    };
    vec![
        Event::training_started(
            &stats,
            "0123456789abcdef0123456789abcdef",
            ModelType::Rasa,
            false,
        ),
        Event::training_completed(
            "0123456789abcdef0123456789abcdef",
            ModelType::Rasa,
            Duration::from_millis(1500),
        ),
        Event::training_failed(
            "0123456789abcdef0123456789abcdef",
            ModelType::Nlu,
            Duration::from_millis(20),
            "invalid_config",
        ),
        Event::model_core_tested(None, 5, false),
        Event::model_nlu_tested(NluTestStats {
            num_intent_examples: 3,
            ..NluTestStats::default()
        }),
        Event::interactive_learning_started(true, false),
        Event::server_started(&ServerStart {
            input_channels: vec!["rest".into()],
            number_of_workers: 1,
            ..ServerStart::default()
        }),
        Event::shell_started(ModelType::Nlu),
        Event::training_data_split(0.8, ModelType::Rasa),
        Event::training_data_validated(true),
        Event::training_data_converted(OutputFormat::Yaml, ConvertDataType::Nlu),
        Event::tracker_exported("PikaEventBroker", "SQLTrackerStore", 12),
        Event::story_visualization_started(),
        Event::telemetry_disabled(),
        Event::project_created(&"a".repeat(64)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_match_the_seed_reference() {
        let mut names: Vec<&str> = REGISTRY.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), REGISTRY.len());
        assert_eq!(REGISTRY.len(), 16);
    }

    #[test]
    fn training_started_counts_match_the_shared_list() {
        for p in TRAINING_COUNTS {
            assert!(
                TRAINING_STARTED
                    .properties
                    .iter()
                    .any(|q| q.name == p.name && q.ty == p.ty),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn every_constructor_sets_exactly_the_declared_properties() {
        let samples = samples();
        for decl in REGISTRY {
            let matching: Vec<&Event> = samples.iter().filter(|e| e.name() == decl.name).collect();
            if matches!(decl.emission, Emission::NotEmitted(_)) {
                assert!(
                    matching.is_empty(),
                    "{} is not emitted and has no constructor",
                    decl.name
                );
                continue;
            }
            assert_eq!(matching.len(), 1, "one sample per event: {}", decl.name);
            let keys: Vec<&str> = matching[0]
                .properties()
                .keys()
                .map(String::as_str)
                .collect();
            let declared: Vec<&str> = decl.properties.iter().map(|p| p.name).collect();
            let mut a = keys.clone();
            let mut b = declared.clone();
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b, "{}", decl.name);
        }
    }

    #[test]
    fn not_emitted_events_say_why_and_pending_ones_name_commands() {
        for decl in REGISTRY {
            match decl.emission {
                Emission::NotEmitted(reason) => assert!(!reason.is_empty()),
                Emission::Pending(c) | Emission::EmittedBy(c) => {
                    assert!(
                        !c.is_empty() && c.iter().all(|c| c.starts_with("rusa ")),
                        "{}",
                        decl.name
                    )
                }
            }
        }
    }
}
