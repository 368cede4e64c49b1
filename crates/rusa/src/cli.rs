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

/// Prints the lines saying what rusa does instead of a Rasa-only flag, on stderr.
pub fn print_notices(notices: &[String]) {
    for notice in notices {
        eprintln!("note: {notice}");
    }
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

    /// Directory to create the project in (Rasa's spelling of PATH)
    #[arg(long, value_name = "PATH", conflicts_with = "path")]
    pub init_dir: Option<PathBuf>,

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
    Nlu(TrainNluArgs),
    /// Train only the dialogue policies
    Core(TrainCoreArgs),
}

impl TrainPart {
    /// The common flags, with Rasa's `-u/--nlu` or `-s/--stories` as the training data.
    pub fn into_common(self) -> TrainCommon {
        let (data, mut common) = match self {
            Self::Nlu(a) => (a.nlu, a.common),
            Self::Core(a) => (a.stories, a.common),
        };
        if let Some(data) = data {
            common.project.data = data;
        }
        common
    }

    pub fn common(&self) -> &TrainCommon {
        match self {
            Self::Nlu(a) => &a.common,
            Self::Core(a) => &a.common,
        }
    }
}

/// `rusa train nlu`: the common flags and Rasa's `-u/--nlu`.
#[derive(Debug, Args)]
pub struct TrainNluArgs {
    /// NLU training data: files or directories (Rasa's name for --data here)
    #[arg(short = 'u', long = "nlu", value_name = "PATH", num_args = 1.., conflicts_with = "data")]
    pub nlu: Option<Vec<PathBuf>>,

    #[command(flatten)]
    pub common: TrainCommon,
}

/// `rusa train core`: the common flags and Rasa's `-s/--stories`.
#[derive(Debug, Args)]
pub struct TrainCoreArgs {
    /// Stories and rules: files or directories (Rasa's name for --data here)
    #[arg(short = 's', long = "stories", value_name = "PATH", num_args = 1.., conflicts_with = "data")]
    pub stories: Option<Vec<PathBuf>>,

    #[command(flatten)]
    pub common: TrainCommon,
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

    /// Train without validating the domain and the data first (`rusa data validate`)
    #[arg(long)]
    pub skip_validation: bool,

    /// Do not train when validation finds warnings, not only errors
    #[arg(long)]
    pub fail_on_validation_warnings: bool,

    /// Turns of history compared when validation looks for conflicting stories
    /// (default: every preceding turn)
    #[arg(long, value_name = "N")]
    pub validation_max_history: Option<usize>,

    /// Only say whether a model would be trained: exit 0 when the newest model is up to
    /// date, 1 when training is needed, 8 when --force would train anyway (as Rasa)
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub rasa_only: RasaTrainFlags,

    /// Endpoints file: its `tracing:` entry traces the training; no other endpoint is contacted
    #[arg(long, value_name = "PATH", default_value = DEFAULT_ENDPOINTS)]
    pub endpoints: PathBuf,
}

/// Flags of `rasa train` that have no effect in rusa: each is accepted, and one line says
/// what rusa does instead.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Rasa flags rusa accepts but does not need")]
pub struct RasaTrainFlags {
    /// Rasa: how many augmented stories to glue together (rusa trains on the stories as
    /// written)
    #[arg(long, value_name = "N")]
    pub augmentation: Option<u32>,

    /// Rasa: draw the story graph while training (rusa: `rusa visualize`)
    #[arg(long)]
    pub debug_plots: bool,

    /// Rasa: threads for NLU training (rusa trains in one thread per graph node)
    #[arg(long, value_name = "N")]
    pub num_threads: Option<u32>,

    /// Rasa: keep the NLU training data in the model (rusa does not)
    #[arg(long)]
    pub persist_nlu_data: bool,

    /// Rasa: share of the epochs used when fine-tuning (rusa does not fine-tune)
    #[arg(long, value_name = "FRACTION")]
    pub epoch_fraction: Option<f64>,
}

impl RasaTrainFlags {
    /// One line per flag given, saying what rusa does instead.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.augmentation.is_some() {
            out.push("--augmentation: rusa trains on the stories as written and does not glue augmented ones together".to_owned());
        }
        if self.debug_plots {
            out.push("--debug-plots: no plots are drawn while training; `rusa visualize` draws the stories".to_owned());
        }
        if self.num_threads.is_some() {
            out.push("--num-threads: rusa's NLU components train in their own time, in well under a second for most projects; the flag is ignored".to_owned());
        }
        if self.persist_nlu_data {
            out.push("--persist-nlu-data: rusa's model archive does not keep the NLU training data; the flag is ignored".to_owned());
        }
        if self.epoch_fraction.is_some() {
            out.push("--epoch-fraction: rusa does not fine-tune (its learned components train from scratch); the flag is ignored".to_owned());
        }
        out
    }
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

    #[command(flatten)]
    pub rasa_only: RasaTestFlags,
}

/// Flags of `rasa test` that rusa accepts without acting on them; one line says so.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Rasa flags rusa accepts but does not need")]
pub struct RasaTestFlags {
    /// Rasa: do not draw the confusion matrix and histogram
    #[arg(long)]
    pub no_plot: bool,

    /// Rasa: do not write the files of errors
    #[arg(long)]
    pub no_errors: bool,

    /// Rasa: do not write the files of warnings
    #[arg(long)]
    pub no_warnings: bool,

    /// Rasa: test only the first N stories
    #[arg(long, value_name = "N")]
    pub max_stories: Option<usize>,

    /// Rasa: download the test stories from this URL
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Rasa: compare the models of a directory trained with `train core --percentages`
    #[arg(long)]
    pub evaluate_model_directory: bool,

    /// Rasa: number of comparison runs
    #[arg(short, long, value_name = "N")]
    pub runs: Option<u32>,

    /// Rasa: percentages of the data left out in comparison runs
    #[arg(short, long, value_name = "PERCENT", num_args = 1..)]
    pub percentages: Vec<u32>,
}

impl RasaTestFlags {
    /// One line per flag given, saying what rusa does instead.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        let ignored = [
            (
                self.no_plot,
                "--no-plot",
                "rusa writes its reports and plots to --out either way",
            ),
            (
                self.no_errors,
                "--no-errors",
                "rusa writes the files of errors either way",
            ),
            (
                self.no_warnings,
                "--no-warnings",
                "rusa writes the files of warnings either way",
            ),
            (
                self.max_stories.is_some(),
                "--max-stories",
                "rusa tests every story of --stories",
            ),
            (
                self.url.is_some(),
                "--url",
                "rusa reads the test stories from --stories only",
            ),
            (
                self.evaluate_model_directory
                    || self.runs.is_some()
                    || !self.percentages.is_empty(),
                "--evaluate-model-directory, --runs and --percentages",
                "rusa does not compare policies over runs; it tests the one model of --model",
            ),
        ];
        for (given, flag, what) in ignored {
            if given {
                out.push(format!("{flag}: {what}; the flag is ignored"));
            }
        }
        out
    }
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

    /// Conversation id to use (Rasa's name: --conversation-id)
    #[arg(long, value_name = "ID", visible_alias = "conversation-id")]
    pub sender_id: Option<String>,

    #[command(flatten)]
    pub rasa_only: Box<RasaShellFlags>,
}

/// The server flags `rasa shell` accepts (it starts a server behind the shell; rusa's shell
/// talks to the assistant in process): accepted, and one line says they are ignored.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Rasa server flags the shell accepts but does not need")]
pub struct RasaShellFlags {
    /// Rasa: channel credentials file
    #[arg(long, value_name = "PATH")]
    pub credentials: Option<PathBuf>,
    /// Rasa: the channel to connect to
    #[arg(long, value_name = "NAME")]
    pub connector: Option<String>,
    /// Rasa: port of the shell's server
    #[arg(short, long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Rasa: address of the shell's server
    #[arg(short, long, value_name = "ADDR")]
    pub interface: Option<String>,
    /// Rasa: serve the HTTP API beside the shell
    #[arg(long)]
    pub enable_api: bool,
    /// Rasa: CORS origins
    #[arg(long, value_name = "ORIGIN", num_args = 0..)]
    pub cors: Option<Vec<String>>,
    /// Rasa: token for the HTTP API
    #[arg(short = 't', long, value_name = "TOKEN")]
    pub auth_token: Option<String>,
    /// Rasa: seconds an answer may take
    #[arg(long, value_name = "SECONDS")]
    pub response_timeout: Option<u64>,
    /// Rasa: seconds a request may take
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<u64>,
    /// Rasa: write logs to this file
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
    #[command(flatten)]
    pub server: RasaServerFlags,
}

impl RasaShellFlags {
    /// One line naming the server flags given, which the in-process shell does not use.
    pub fn notices(&self) -> Vec<String> {
        let given: Vec<&str> = [
            (self.credentials.is_some(), "--credentials"),
            (self.connector.is_some(), "--connector"),
            (self.port.is_some(), "--port"),
            (self.interface.is_some(), "--interface"),
            (self.enable_api, "--enable-api"),
            (self.cors.is_some(), "--cors"),
            (self.auth_token.is_some(), "--auth-token"),
            (self.response_timeout.is_some(), "--response-timeout"),
            (self.request_timeout.is_some(), "--request-timeout"),
            (self.log_file.is_some(), "--log-file"),
        ]
        .into_iter()
        .chain(self.server.given())
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect();
        if given.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "{}: rusa's shell talks to the assistant in process and starts no server; use `rusa run` for one. Ignored",
                given.join(", ")
            )]
        }
    }
}

/// Flags of Rasa's server that rusa accepts and handles differently (`rusa run`, and
/// `rusa shell` which ignores them): one line each says what rusa does.
#[derive(Debug, Args, Clone, Default)]
pub struct RasaServerFlags {
    /// Rasa: load the model from cloud storage (aws, gcs, azure). rusa: a local path or the
    /// model server of endpoints.yml (`models:`)
    #[arg(long, value_name = "STORAGE")]
    pub remote_storage: Option<String>,
    /// Rasa: TLS certificate. rusa serves plain HTTP; terminate TLS in a proxy in front
    #[arg(long, value_name = "PATH")]
    pub ssl_certificate: Option<PathBuf>,
    /// Rasa: TLS key (see --ssl-certificate)
    #[arg(long, value_name = "PATH")]
    pub ssl_keyfile: Option<PathBuf>,
    /// Rasa: CA file to verify the certificate (see --ssl-certificate)
    #[arg(long, value_name = "PATH")]
    pub ssl_ca_file: Option<PathBuf>,
    /// Rasa: password of the TLS key (see --ssl-certificate)
    #[arg(long, value_name = "PASSWORD")]
    pub ssl_password: Option<String>,
    /// Rasa: add syslog as a log handler. rusa logs to stderr (and --log-file)
    #[arg(long)]
    pub use_syslog: bool,
    /// Rasa: syslog server (see --use-syslog)
    #[arg(long, value_name = "ADDR")]
    pub syslog_address: Option<String>,
    /// Rasa: syslog port (see --use-syslog)
    #[arg(long, value_name = "PORT")]
    pub syslog_port: Option<u16>,
    /// Rasa: syslog protocol (see --use-syslog)
    #[arg(long, value_name = "PROTOCOL")]
    pub syslog_protocol: Option<String>,
    /// Rasa: private key for asymmetric JWT methods. rusa verifies HMAC JWTs with
    /// --jwt-secret only
    #[arg(long, value_name = "KEY")]
    pub jwt_private_key: Option<String>,
}

impl RasaServerFlags {
    /// Which of the flags were given, by name.
    fn given(&self) -> [(bool, &'static str); 10] {
        [
            (self.remote_storage.is_some(), "--remote-storage"),
            (self.ssl_certificate.is_some(), "--ssl-certificate"),
            (self.ssl_keyfile.is_some(), "--ssl-keyfile"),
            (self.ssl_ca_file.is_some(), "--ssl-ca-file"),
            (self.ssl_password.is_some(), "--ssl-password"),
            (self.use_syslog, "--use-syslog"),
            (self.syslog_address.is_some(), "--syslog-address"),
            (self.syslog_port.is_some(), "--syslog-port"),
            (self.syslog_protocol.is_some(), "--syslog-protocol"),
            (self.jwt_private_key.is_some(), "--jwt-private-key"),
        ]
    }

    /// One line per kind of flag given, saying what `rusa run` does instead.
    pub fn notices(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.remote_storage.is_some() {
            out.push("--remote-storage: rusa loads the model from --model, or from the model server of endpoints.yml (`models:`); the flag is ignored".to_owned());
        }
        if self.ssl_certificate.is_some()
            || self.ssl_keyfile.is_some()
            || self.ssl_ca_file.is_some()
            || self.ssl_password.is_some()
        {
            out.push("--ssl-*: rusa serves plain HTTP; put a proxy that terminates TLS (nginx, Caddy) in front of it".to_owned());
        }
        if self.use_syslog
            || self.syslog_address.is_some()
            || self.syslog_port.is_some()
            || self.syslog_protocol.is_some()
        {
            out.push("--use-syslog: rusa logs to stderr and --log-file; let the service manager (systemd, Docker) forward them to syslog".to_owned());
        }
        if self.jwt_private_key.is_some() {
            out.push("--jwt-private-key: rusa verifies HMAC-signed JWTs with --jwt-secret only; the flag is ignored".to_owned());
        }
        out
    }
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
    #[arg(short = 't', long, value_name = "TOKEN")]
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

    /// Open only this channel (`rest` or `callback`), whatever credentials.yml lists
    #[arg(long, value_name = "NAME")]
    pub connector: Option<String>,

    /// Rasa: seconds a request may take to process. rusa answers as soon as the turn ends
    /// and bounds the action server's part with --response-timeout; the flag is ignored
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<u64>,

    #[command(flatten)]
    pub rasa_only: Box<RasaServerFlags>,
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
    /// (default: every preceding turn, as in Rasa)
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
