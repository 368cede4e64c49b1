//! The command line of an action server built with rusa-sdk: rasa-sdk's flags
//! (`python -m rasa_sdk --help`), logging, tracing from the endpoints file, and serving until
//! SIGTERM or Ctrl-C.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::server::{ActionServer, DEFAULT_PORT};
use crate::{SetupError, serve};

/// The service name of the action server's spans when nothing else names one.
pub const DEFAULT_SERVICE_NAME: &str = "rusa_sdk";
/// The environment variable rasa-sdk reads for its service name; honoured too.
pub const SERVICE_NAME_VARIABLE: &str = "RASA_SDK_TRACING_SERVICE_NAME";
/// The environment variable rasa-sdk (Sanic) reads for the address to listen on.
pub const HOST_VARIABLE: &str = "SANIC_HOST";
/// The address listened on when `SANIC_HOST` is not set.
pub const DEFAULT_HOST: &str = "0.0.0.0";

/// The flags of rasa-sdk's action server, with the same names and defaults.
#[derive(Debug, Clone, Parser)]
#[command(
    about = "Serves custom actions written with rusa-sdk (rasa-sdk's protocol)",
    version
)]
pub struct ServeArgs {
    /// Port to listen on
    #[arg(short, long, value_name = "PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,

    /// Origins allowed by CORS (`*` for any); without it, no CORS headers
    #[arg(long, value_name = "ORIGIN", num_args = 0..)]
    pub cors: Option<Vec<String>>,

    /// Accepted for rasa-sdk's command line; the actions of a Rust server are compiled in
    #[arg(long, value_name = "MODULE", hide = true)]
    pub actions: Option<String>,

    /// TLS certificate (PEM); with a key, the server speaks HTTPS
    #[arg(long, value_name = "PATH", requires = "ssl_keyfile")]
    pub ssl_certificate: Option<PathBuf>,

    /// TLS private key (PEM, unencrypted)
    #[arg(long, value_name = "PATH", requires = "ssl_certificate")]
    pub ssl_keyfile: Option<PathBuf>,

    /// Password of an encrypted key: not supported (decrypt the key with openssl)
    #[arg(long, value_name = "PASSWORD", hide = true)]
    pub ssl_password: Option<String>,

    /// Reload changed action code: not possible for compiled actions (rebuild and restart;
    /// `rusa run actions` does both)
    #[arg(long)]
    pub auto_reload: bool,

    /// Endpoints file; only its `tracing:` entry is read
    #[arg(long, value_name = "PATH", default_value = "endpoints.yml")]
    pub endpoints: PathBuf,

    /// More output (info is the default)
    #[arg(short, long, conflicts_with_all = ["debug", "quiet"])]
    pub verbose: bool,

    /// Debug output
    #[arg(long = "debug", conflicts_with = "quiet")]
    pub debug: bool,

    /// Warnings and errors only
    #[arg(long)]
    pub quiet: bool,

    /// Write the log to this file as well
    #[arg(long, value_name = "PATH")]
    pub log_file: Option<PathBuf>,
}

impl ActionServer {
    /// Parses rasa-sdk's flags from the command line, serves until SIGTERM or Ctrl-C, and
    /// returns the exit code: the `main` of an action server.
    ///
    /// ```no_run
    /// fn main() -> std::process::ExitCode {
    ///     rusa_sdk::ActionServer::new()
    ///         // .action(MyAction)
    ///         .run_from_args()
    /// }
    /// ```
    pub fn run_from_args(self) -> ExitCode {
        // `-vv` is rasa-sdk's spelling of `--debug`.
        let args = std::env::args().map(|a| if a == "-vv" { "--debug".into() } else { a });
        let args = ServeArgs::parse_from(args);
        match self.run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    /// Serves with `args` until SIGTERM or Ctrl-C.
    pub fn run(self, args: ServeArgs) -> Result<(), SetupError> {
        let started = Instant::now();
        let tracing_pipeline = start_tracing(&args.endpoints)?;
        let log_guard = install_logging(&args, tracing_pipeline.0.as_ref())?;
        for note in tracing_pipeline.1 {
            match note {
                rusa_otel::Note::Info(text) => tracing::info!("{text}"),
                rusa_otel::Note::Warn(text) => tracing::warn!("{text}"),
                rusa_otel::Note::Debug(text) => tracing::debug!("{text}"),
            }
        }
        if let Some(pipeline) = &tracing_pipeline.0 {
            tracing::info!("tracing to {}", pipeline.destination);
        }
        if args.ssl_password.is_some() {
            return Err(SetupError::Tls(
                "encrypted keys are not supported: decrypt it with `openssl pkey -in key.pem -out plain.pem` and pass that with --ssl-keyfile".into(),
            ));
        }
        if args.auto_reload {
            tracing::warn!(
                "--auto-reload has no effect on compiled actions: `rusa run actions --auto-reload` rebuilds and restarts the server when the code changes"
            );
        }
        let names: Vec<String> = self.action_names().iter().map(|s| s.to_string()).collect();
        for name in &names {
            tracing::info!("Registered function for '{name}'.");
        }
        let tls = match (&args.ssl_certificate, &args.ssl_keyfile) {
            (Some(cert), Some(key)) => Some(serve::tls_config(cert, key)?),
            _ => None,
        };
        let app = self.cors(args.cors.clone().unwrap_or_default()).router()?;
        let host = std::env::var(HOST_VARIABLE).unwrap_or_else(|_| DEFAULT_HOST.to_owned());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|source| SetupError::Listen {
                address: "(runtime)".into(),
                source,
            })?;
        let result = runtime.block_on(async {
            let address = if host.contains(':') {
                format!("[{host}]:{}", args.port)
            } else {
                format!("{host}:{}", args.port)
            };
            let listener = serve::bind(&address).await?;
            let scheme = if tls.is_some() { "https" } else { "http" };
            let local = listener
                .local_addr()
                .map_or(address.clone(), |a| a.to_string());
            tracing::info!(
                actions = names.len(),
                startup_ms = started.elapsed().as_millis() as u64,
                "Action endpoint is up and running on {scheme}://{local}"
            );
            serve::serve(listener, app, tls, shutdown_signal())
                .await
                .map_err(|source| SetupError::Listen { address, source })
        });
        tracing::info!("the action server stopped");
        if let Some(pipeline) = tracing_pipeline.0 {
            let report = pipeline.shutdown(rusa_otel::SERVER_FLUSH_TIMEOUT);
            if report.lost() > 0 {
                tracing::warn!("{} spans did not reach the tracing back end", report.lost());
            }
        }
        drop(log_guard);
        result
    }
}

/// A started tracing pipeline (`None` when tracing is off) and what to tell the user about
/// the configuration once logging is set up.
pub type TracingSetup = (Option<rusa_otel::Pipeline>, Vec<rusa_otel::Note>);

/// Starts the tracing pipeline of the `tracing:` entry of `endpoints` (and the `OTEL_*`
/// variables), exactly as the rusa server reads them; the service name defaults to
/// `rusa_sdk` (or `RASA_SDK_TRACING_SERVICE_NAME`). A missing file means tracing is off.
/// For a program that serves [`ActionServer::router`] itself: install
/// `pipeline.layer()` in its subscriber, and `pipeline.shutdown(..)` when it stops.
pub fn start_tracing(endpoints: &Path) -> Result<TracingSetup, SetupError> {
    let mut warnings = Vec::new();
    let endpoints_file = endpoints;
    let endpoints = if endpoints_file.exists() {
        rusa_project::load_endpoints(endpoints_file, &mut warnings)
            .map_err(|e| SetupError::Tracing(e.to_string()))?
    } else {
        None
    };
    let default_service = std::env::var(SERVICE_NAME_VARIABLE)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
    let entry = endpoints.as_ref().and_then(|e| e.tracing.as_ref());
    let resolved = rusa_otel::resolve(
        entry,
        endpoints_file,
        &rusa_otel::config::process_env,
        &default_service,
    )
    .map_err(|e| SetupError::Tracing(e.to_string()))?;
    let pipeline = match &resolved.config {
        Some(config) => Some(
            rusa_otel::Pipeline::start_with_scope(config, "rusa_sdk", true)
                .map_err(|e| SetupError::Tracing(e.to_string()))?,
        ),
        None => None,
    };
    Ok((pipeline, resolved.notes))
}

/// Logs to stderr (and `--log-file`), with the OpenTelemetry layer when tracing is on.
fn install_logging(
    args: &ServeArgs,
    pipeline: Option<&rusa_otel::Pipeline>,
) -> Result<Option<std::fs::File>, SetupError> {
    let level = if args.debug {
        "debug"
    } else if args.quiet {
        "warn"
    } else {
        "info"
    };
    let filter = || {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(format!(
                "{level},hyper=warn,h2=warn,tower=warn,reqwest=warn,opentelemetry=warn"
            ))
        })
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(filter());
    let file = match &args.log_file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    SetupError::Tracing(format!(
                        "cannot open the log file '{}': {e}",
                        path.display()
                    ))
                })?,
        ),
        None => None,
    };
    let file_layer = file.as_ref().and_then(|f| f.try_clone().ok()).map(|f| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .with_filter(filter())
    });
    let otel = pipeline.map(|p| p.layer());
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .with(otel)
        .try_init();
    Ok(file)
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("stopping: finishing the requests in flight");
}
