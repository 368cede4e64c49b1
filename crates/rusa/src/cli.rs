//! The command tree: every subcommand, flag and help text of `rusa`.
//!
//! Only argument definitions live here; what each command does is in `commands/<verb>.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Default project files, as Rasa names them.
pub const DEFAULT_DOMAIN: &str = "domain.yml";
pub const DEFAULT_DATA: &str = "data";
pub const DEFAULT_CONFIG: &str = "config.yml";
pub const DEFAULT_ENDPOINTS: &str = "endpoints.yml";
pub const DEFAULT_CREDENTIALS: &str = "credentials.yml";
pub const DEFAULT_MODELS: &str = "models";
pub const DEFAULT_RESULTS: &str = "results";
pub const DEFAULT_TESTS: &str = "tests";

const ABOUT: &str =
    "Build, train and serve conversational assistants written in Rasa's project format";

const AFTER_HELP: &str = "\
Run `rusa <command> --help` for the flags of one command.
Usage telemetry: `rusa telemetry` shows whether it is on and why; `rusa telemetry disable` turns it off.";

#[derive(Debug, Parser)]
#[command(
    name = "rusa",
    version = crate::build_info::VERSION,
    long_version = crate::build_info::LONG_VERSION,
    about = ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Verbosity flags shared by every command.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct LogArgs {
    /// Print info-level log lines (RUST_LOG overrides)
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Print debug-level log lines, including the effective configuration (`-vv` too;
    /// RUST_LOG overrides)
    #[arg(long, global = true)]
    pub debug: bool,

    /// Print only errors; hide progress output
    #[arg(short, long, global = true, conflicts_with_all = ["verbose", "debug"])]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new assistant project with example data, and train it
    Init(InitArgs),
    /// Train a model from the project's data (NLU and dialogue, or one of them)
    Train(TrainArgs),
    /// Evaluate a trained model on test stories and NLU test data
    Test(TestArgs),
    /// Talk to a trained assistant on the command line
    Shell(ShellArgs),
    /// Serve a trained assistant over HTTP (channels and, optionally, the HTTP API)
    Run(RunArgs),
    /// Work with training data: split, validate, convert, migrate
    Data(DataArgs),
    /// Send the conversations of a tracker store to an event broker
    Export(ExportArgs),
    /// Draw the project's stories as a graph in an HTML file
    Visualize(VisualizeArgs),
    /// Talk to the assistant and correct it, turning the conversation into training data
    Interactive(InteractiveArgs),
    /// See and change whether anonymous usage data is reported
    Telemetry(TelemetryArgs),
    /// Print a shell completion script to stdout
    Completions(CompletionsArgs),
}

/// The project files most commands read. Paths are relative to the working directory.
#[derive(Debug, Args, Clone)]
pub struct ProjectArgs {
    /// Domain file, or a directory of domain files that are merged
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_DOMAIN)]
    pub domain: PathBuf,

    /// Training data: files or directories (searched recursively); may be repeated
    #[arg(long, value_name = "PATH", num_args = 1.., default_value = DEFAULT_DATA)]
    pub data: Vec<PathBuf>,

    /// Model configuration file (language, pipeline, policies)
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the project in (created when missing; default: the working directory)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,

    /// Do not ask questions: write the project and train it with the defaults
    #[arg(long)]
    pub no_prompt: bool,

    /// Also write the starter's custom actions in actions/, in this language, and set the
    /// project up to use them (serve them with `rusa run actions`)
    #[arg(long, value_name = "LANGUAGE", value_enum)]
    pub actions: Option<ActionsLanguage>,
}

/// The languages `rusa init --actions` writes custom actions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionsLanguage {
    /// A Cargo package using rusa-sdk
    Rust,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TrainArgs {
    #[command(subcommand)]
    pub part: Option<TrainPart>,

    #[command(flatten)]
    pub common: TrainCommon,
}

#[derive(Debug, Subcommand)]
pub enum TrainPart {
    /// Train only the NLU pipeline (intents, entities, response selection)
    Nlu(TrainCommon),
    /// Train only the dialogue policies
    Core(TrainCommon),
}

#[derive(Debug, Args)]
pub struct TrainCommon {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Directory the model archive is written to
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MODELS)]
    pub out: PathBuf,

    /// File name of the model archive, instead of a timestamp
    #[arg(long, value_name = "NAME")]
    pub fixed_model_name: Option<String>,

    /// Train even when nothing changed since the last model
    #[arg(long)]
    pub force: bool,

    /// Continue training the learned parts of a model (default: the newest in --out)
    #[arg(long, value_name = "MODEL", num_args = 0..=1)]
    pub finetune: Option<Option<PathBuf>>,

    /// Refuse Rasa components that rusa replaces with its own, instead of warning
    #[arg(long)]
    pub strict_components: bool,

    /// Endpoints file: its `tracing:` entry traces the training; no other endpoint is contacted
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct TestArgs {
    #[command(subcommand)]
    pub part: Option<TestPart>,

    #[command(flatten)]
    pub common: TestCommon,
}

#[derive(Debug, Subcommand)]
pub enum TestPart {
    /// Evaluate intent classification and entity extraction
    Nlu(TestCommon),
    /// Evaluate dialogue: do the test stories run as written?
    Core(TestCommon),
}

#[derive(Debug, Args)]
pub struct TestCommon {
    /// Model archive or directory of archives (the newest is used)
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_MODELS)]
    pub model: PathBuf,

    /// Test stories: a file or a directory
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_TESTS)]
    pub stories: PathBuf,

    /// NLU test data: a file or a directory
    #[arg(long, value_name = "PATH", default_value = DEFAULT_DATA)]
    pub nlu: PathBuf,

    /// Directory the reports and plots are written to
    #[arg(long, value_name = "DIR", default_value = DEFAULT_RESULTS)]
    pub out: PathBuf,

    /// Model configuration, for cross-validation
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,

    /// Domain, for cross-validation
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_DOMAIN)]
    pub domain: PathBuf,

    /// Train and test on N folds of the NLU data instead of testing a trained model
    #[arg(long)]
    pub cross_validation: bool,

    /// Number of folds for --cross-validation
    #[arg(short, long, value_name = "N", default_value_t = 5)]
    pub folds: u32,

    /// Endpoints file: its `tracing:` entry traces the evaluation; evaluation replays the
    /// stories' events and runs no action, so no other endpoint is contacted
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,

    /// Exit with 1 when a test story fails or an NLU example is misclassified
    #[arg(long)]
    pub fail_on_prediction_errors: bool,

    /// Test stories end to end: parse each user text with the NLU and fail a story whose
    /// message gets another intent or other entities than it writes (without it the
    /// stories' intents and entities are taken as written, as in Rasa)
    #[arg(long)]
    pub e2e: bool,

    /// Also write the stories that passed, to successful_test_stories.yml, and the NLU
    /// examples classified right, to intent_successes.json
    #[arg(long)]
    pub successes: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ShellArgs {
    #[command(subcommand)]
    pub part: Option<ShellPart>,

    #[command(flatten)]
    pub common: ShellCommon,
}

#[derive(Debug, Subcommand)]
pub enum ShellPart {
    /// Print how each message you type is parsed, as `/model/parse` would answer
    Nlu(ShellCommon),
}

#[derive(Debug, Args)]
pub struct ShellCommon {
    /// Model archive or directory of archives (the newest is used)
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_MODELS)]
    pub model: PathBuf,

    /// Endpoints file (action server, tracker store, ...)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,

    /// Conversation id to use
    #[arg(long, value_name = "ID")]
    pub sender_id: Option<String>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunArgs {
    #[command(subcommand)]
    pub part: Option<RunPart>,

    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(Debug, Subcommand)]
pub enum RunPart {
    /// Serve the custom actions in actions/: Python ones with rasa-sdk's server, a Cargo
    /// package (rusa-sdk) built and run
    Actions(RunActionsArgs),
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Model archive or directory of archives (the newest is used)
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_MODELS)]
    pub model: PathBuf,

    /// Endpoints file (action server, tracker store, lock store, event broker, tracing)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,

    /// Credentials file: which channels to open
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CREDENTIALS)]
    pub credentials: PathBuf,

    /// Port to listen on
    #[arg(short, long, value_name = "PORT", default_value_t = 5005)]
    pub port: u16,

    /// Address to listen on
    #[arg(short, long, value_name = "ADDR", default_value = "0.0.0.0")]
    pub interface: String,

    /// Serve the HTTP API (conversations, model, parse) besides the channels
    #[arg(long)]
    pub enable_api: bool,

    /// Origins allowed by CORS; may be repeated, `*` allows any
    #[arg(long, value_name = "ORIGIN", num_args = 1..)]
    pub cors: Vec<String>,

    /// Token the HTTP API requires as `?token=`
    #[arg(long, value_name = "TOKEN")]
    pub auth_token: Option<String>,

    /// Secret that signs the JWTs the HTTP API accepts as `Authorization: Bearer`; for an
    /// asymmetric --jwt-method, the public key (its PEM text or the path of a PEM file)
    #[arg(long, value_name = "SECRET")]
    pub jwt_secret: Option<String>,

    /// Signing algorithm of the JWTs: HS256/HS384/HS512 with the secret, or RS256/RS384/
    /// RS512, PS256/PS384/PS512, ES256/ES384, EdDSA with a public key
    #[arg(
        long,
        value_name = "METHOD",
        default_value = "HS256",
        value_parser = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"],
        ignore_case = true
    )]
    pub jwt_method: String,

    /// Write logs to this file as well as to stderr
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,

    /// Seconds to wait for an action server's answer
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub response_timeout: u64,

    /// Seconds a client has to send a whole request head; also how long a keep-alive
    /// connection may take to start its next request
    #[arg(long, value_name = "SECONDS", default_value_t = rusa_server::connections::DEFAULT_HEADER_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_header_timeout: u64,

    /// Seconds a client has to send a request's whole body (then 408)
    #[arg(long, value_name = "SECONDS", default_value_t = rusa_server::request_limits::DEFAULT_BODY_READ_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub request_body_timeout: u64,

    /// Seconds a connection with no request in flight may stay silent before it is closed
    #[arg(long, value_name = "SECONDS", default_value_t = rusa_server::connections::DEFAULT_KEEP_ALIVE_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_alive_timeout: u64,

    /// Connections served at once; more wait to be accepted (lowered to fit the open
    /// files limit)
    #[arg(long, value_name = "N", default_value_t = rusa_server::connections::DEFAULT_MAX_CONNECTIONS as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
}

/// The flags of `rusa run actions`: rasa-sdk's (`python -m rasa_sdk --help`), with its names
/// and defaults, passed on to the action server. The log level comes from the global `-v`,
/// `--debug` (`-vv`) and `--quiet`.
#[derive(Debug, Args)]
pub struct RunActionsArgs {
    /// Port the action server listens on
    #[arg(short, long, value_name = "PORT", default_value_t = DEFAULT_ACTIONS_PORT)]
    pub port: u16,

    /// The actions: a Python package or module (dot notation, e.g. `bot.actions`), or a
    /// directory holding a Cargo package
    #[arg(long, value_name = "NAME", default_value = DEFAULT_ACTIONS)]
    pub actions: String,

    /// Origins allowed by CORS (`*` for any); without it, no CORS headers
    #[arg(long, value_name = "ORIGIN", num_args = 0..)]
    pub cors: Option<Vec<String>>,

    /// Endpoints file; the action server reads only its `tracing:` entry (default:
    /// endpoints.yml)
    // Passed on only when given: rasa-sdk before 3.8 has no --endpoints (its default is the
    // same file).
    #[arg(long, value_name = "PATH")]
    pub endpoints: Option<PathBuf>,

    /// Reload changed actions: rasa-sdk reloads Python modules itself; a Cargo package is
    /// rebuilt and its server restarted when `src/` or `Cargo.toml` change
    #[arg(long)]
    pub auto_reload: bool,

    /// TLS certificate (PEM); with --ssl-keyfile, the action server speaks HTTPS
    #[arg(long, value_name = "PATH")]
    pub ssl_certificate: Option<PathBuf>,

    /// TLS private key (PEM)
    #[arg(long, value_name = "PATH")]
    pub ssl_keyfile: Option<PathBuf>,

    /// Password of an encrypted TLS key (rasa-sdk only; rusa-sdk refuses encrypted keys)
    #[arg(long, value_name = "PASSWORD")]
    pub ssl_password: Option<String>,

    /// The action server writes its log to this file as well
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

/// The port an action server listens on, as with Rasa.
pub const DEFAULT_ACTIONS_PORT: u16 = 5055;
/// The actions module or directory, as Rasa names it.
pub const DEFAULT_ACTIONS: &str = "actions";

#[derive(Debug, Args)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Split training data into a training and a test set
    Split(DataSplitArgs),
    /// Check the domain, NLU data, stories and rules for mistakes and inconsistencies
    Validate(DataValidateArgs),
    /// Convert training data between formats
    Convert(DataConvertArgs),
    /// Migrate a Rasa 2.x domain to the 3.x format (slot mappings, forms, auto_fill)
    Migrate(DataMigrateArgs),
}

#[derive(Debug, Args)]
pub struct DataSplitArgs {
    #[command(subcommand)]
    pub what: DataSplitWhat,
}

#[derive(Debug, Subcommand)]
pub enum DataSplitWhat {
    /// Split NLU examples, stratified by intent (training_data.yml, test_data.yml and the
    /// responses in nlg_training_data.yml, nlg_test_data.yml)
    Nlu(DataSplitNluArgs),
    /// Split the stories of each stories file (train_<file> and test_<file>)
    Stories(DataSplitNluArgs),
}

/// The flags of `rusa data split nlu` and `rusa data split stories` (Rasa's).
#[derive(Debug, Args)]
pub struct DataSplitNluArgs {
    /// Training data: a file or a directory (searched recursively)
    #[arg(short = 'u', long = "nlu", value_name = "PATH", default_value = DEFAULT_DATA)]
    pub nlu: PathBuf,

    /// Share of the data that goes into the training part, between 0 and 1
    #[arg(long, value_name = "FRACTION", default_value_t = 0.8)]
    pub training_fraction: f64,

    /// Seed of the shuffle, for a reproducible split (default: a new one, printed)
    #[arg(long, value_name = "SEED")]
    pub random_seed: Option<u64>,

    /// Directory the files are written to (created when missing)
    #[arg(long, value_name = "DIR", default_value = DEFAULT_SPLIT_OUT)]
    pub out: PathBuf,
}

/// Where `rusa data split` writes, as in Rasa.
pub const DEFAULT_SPLIT_OUT: &str = "train_test_split";

#[derive(Debug, Args)]
pub struct DataValidateArgs {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Exit with 1 when there are warnings, not only errors
    #[arg(long)]
    pub fail_on_warnings: bool,

    /// Number of turns considered when looking for conflicting stories
    /// (default: the largest `max_history` of the configured policies, else 5)
    #[arg(long, value_name = "N")]
    pub max_history: Option<usize>,
}

#[derive(Debug, Args)]
pub struct DataConvertArgs {
    #[command(subcommand)]
    pub what: DataConvertWhat,
}

#[derive(Debug, Subcommand)]
pub enum DataConvertWhat {
    /// Convert NLU data (Rasa YAML or JSON, LUIS, Wit.ai, Dialogflow, Rasa Markdown) to
    /// Rasa YAML or Rasa JSON
    Nlu(DataConvertNluArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DataFormat {
    Yaml,
    Json,
}

#[derive(Debug, Args)]
pub struct DataConvertNluArgs {
    /// NLU data to convert: files or directories (searched recursively; files without NLU
    /// data are skipped)
    #[arg(long, value_name = "PATH", num_args = 1.., required = true)]
    pub data: Vec<PathBuf>,

    /// File to write (its extension must fit --format), or a directory to write
    /// nlu.yml or nlu.json into; a path without extension is a directory
    #[arg(long, value_name = "PATH", default_value = DEFAULT_CONVERT_OUT)]
    pub out: PathBuf,

    /// Output format
    #[arg(short, long, value_enum, default_value_t = DataFormat::Yaml)]
    pub format: DataFormat,

    /// Language of the Dialogflow examples to read (`<intent>_usersays_<language>.json`)
    #[arg(short, long, value_name = "LANGUAGE", default_value = "en")]
    pub language: String,
}

/// Where `rusa data convert nlu` writes, as in Rasa.
pub const DEFAULT_CONVERT_OUT: &str = "converted_data";

#[derive(Debug, Args)]
pub struct DataMigrateArgs {
    /// The 2.x domain: a file or a directory of domain files
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_DOMAIN)]
    pub domain: PathBuf,

    /// Where to write the migrated domain (default: new_domain.yml, or new_domain/ for a
    /// directory, beside the domain)
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Endpoints file naming the tracker store to read and the event broker to publish to
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,

    /// Export only events at or after this UNIX timestamp
    #[arg(long, value_name = "TIMESTAMP")]
    pub minimum_timestamp: Option<f64>,

    /// Export only events before this UNIX timestamp
    #[arg(long, value_name = "TIMESTAMP")]
    pub maximum_timestamp: Option<f64>,

    /// Export only these conversations (comma-separated ids)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    pub conversation_ids: Vec<String>,

    /// Seconds to wait for the event broker to take the published events before giving up
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_BROKER_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub broker_timeout: u64,
}

/// How long `rusa export` waits for the event broker by default: a batch job can afford to
/// wait for a slow broker, but not forever for one that is down.
pub const DEFAULT_BROKER_TIMEOUT: u64 = 60;

#[derive(Debug, Args)]
pub struct VisualizeArgs {
    /// Domain file, or a directory of domain files that are merged
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_DOMAIN)]
    pub domain: PathBuf,

    /// Stories and rules to draw: a file or a directory
    #[arg(short, long, value_name = "PATH", default_value = DEFAULT_DATA)]
    pub stories: PathBuf,

    /// NLU data; accepted for Rasa's command line, not read: rusa labels user turns with
    /// their intents and entities, not with example texts
    #[arg(short = 'u', long, value_name = "PATH")]
    pub nlu: Option<PathBuf>,

    /// File the graph is written to (default: graph.html, graph.svg or graph.dot)
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,

    /// Number of turns two actions must share (going forward) to be drawn as one node
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub max_history: usize,

    /// What to write: a self-contained HTML page, an SVG picture, or the Graphviz DOT text
    #[arg(long, value_enum, default_value_t = GraphFormat::Html)]
    pub format: GraphFormat,

    /// Open the written file in the browser
    #[arg(long)]
    pub open: bool,
}

/// The formats `rusa visualize` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    Html,
    Svg,
    Dot,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct InteractiveArgs {
    #[command(subcommand)]
    pub part: Option<InteractivePart>,

    #[command(flatten)]
    pub common: InteractiveCommon,
}

#[derive(Debug, Subcommand)]
pub enum InteractivePart {
    /// Teach only the dialogue: type `/intent` messages, no NLU questions
    Core(InteractiveCommon),
}

#[derive(Debug, Args)]
pub struct InteractiveCommon {
    #[command(flatten)]
    pub project: ProjectArgs,

    /// Model to start from (default: train one first, unless the newest one matches the project)
    #[arg(short, long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// Training data of `rusa interactive core` (the same as --data)
    #[arg(short, long, value_name = "PATH", hide = true)]
    pub stories: Option<PathBuf>,

    /// Where a model trained first is written
    #[arg(long, value_name = "DIR", default_value = DEFAULT_MODELS)]
    pub out: PathBuf,

    /// Endpoints file (action server for custom actions)
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,

    /// Port of the live story graph on 127.0.0.1 (0: any free port)
    #[arg(short, long, value_name = "PORT", default_value_t = 5005)]
    pub port: u16,

    /// Do not serve the live story graph
    #[arg(long)]
    pub skip_visualization: bool,

    /// Id of the conversation (default: a random one)
    #[arg(long, value_name = "ID")]
    pub conversation_id: Option<String>,

    /// Save the stories in end-to-end test format (with the user's text)
    #[arg(long)]
    pub e2e: bool,

    /// Train a first model even when the newest one matches the project
    #[arg(long)]
    pub force: bool,

    /// Rasa's training flags that mean nothing in rusa (accepted, and said so)
    #[arg(long, value_name = "N", hide = true)]
    pub augmentation: Option<String>,
    #[arg(long, hide = true)]
    pub debug_plots: bool,
    #[arg(long, value_name = "FRACTION", hide = true)]
    pub epoch_fraction: Option<String>,
    #[arg(long, hide = true)]
    pub persist_nlu_data: bool,
    #[arg(long, value_name = "MODEL", num_args = 0..=1, hide = true)]
    pub finetune: Option<Option<PathBuf>>,
}

#[derive(Debug, Args)]
pub struct TelemetryArgs {
    #[command(subcommand)]
    pub command: Option<TelemetryCommand>,
}

#[derive(Debug, Subcommand)]
pub enum TelemetryCommand {
    /// Say whether telemetry is on, which setting decided it, and how to change it
    Status,
    /// Turn usage reporting on
    Enable,
    /// Turn usage reporting off and delete the events waiting to be sent
    Disable,
    /// Show the events waiting to be sent and the last ones sent, exactly as they go out
    Show(TelemetryShowArgs),
    /// Start over with a new anonymous id and hash key; delete local event logs
    Reset,
}

#[derive(Debug, Args)]
pub struct TelemetryShowArgs {
    /// Only the events waiting in the spool
    #[arg(long)]
    pub pending: bool,

    /// Only the events already sent
    #[arg(long)]
    pub sent: bool,

    /// Print JSON instead of a readable listing
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to print a completion script for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
