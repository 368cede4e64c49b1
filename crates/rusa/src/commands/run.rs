//! `rusa run`: serves the newest model over HTTP — the channels of credentials.yml and, with
//! `--enable-api`, the HTTP API — on the stores, lock store, event broker and action server
//! of endpoints.yml. SIGTERM and SIGINT stop accepting requests and let turns in flight
//! finish. `rusa run actions` is in `run_actions.rs`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rusa_core::agent::Agent;
use rusa_server::model_server::ModelServer;
use rusa_server::{AppState, ConnectionLimits, JwtConfig, ServerConfig, app};

use super::serving::{self, BROKER_FLUSH_BUDGET, error_chain};
use crate::cli::{LogArgs, RunArgs, RunPart, ServerArgs};
use crate::error::{Outcome, UserError};

pub fn run(args: RunArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    if let Some(RunPart::Actions(actions)) = args.part {
        return super::run_actions::run(actions, log);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!(e).context("cannot start the async runtime"))?;
    runtime.block_on(serve(args.server))
}

async fn serve(args: ServerArgs) -> anyhow::Result<Outcome> {
    let mut notices = args.rasa_only.notices();
    if args.request_timeout.is_some() {
        notices.push("--request-timeout: rusa answers when the turn ends and bounds the action server's part with --response-timeout; the flag is ignored".to_owned());
    }
    crate::cli::print_notices(&notices);
    let mut warnings = Vec::new();
    let endpoints =
        rusa_project::load_endpoints(&args.endpoints, &mut warnings)?.unwrap_or_default();
    let credentials = rusa_project::load_credentials(&args.credentials, &mut warnings)?;
    for w in &warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    // With a model server (`models:`), the model comes from there, as in Rasa.
    let model_server = match &endpoints.models {
        Some(config) => {
            let server = ModelServer::new(config, rusa_server::model_server::download_dir())
                .map_err(|e| UserError::new(format!("{}: models: {e}", config.pos)))?;
            Some(Arc::new(server))
        }
        None => None,
    };
    let agent = if model_server.is_some() {
        None
    } else {
        local_model(&args)?
    };
    // `--connector NAME` opens that channel alone, as in Rasa.
    if let Some(name) = args.connector.as_deref()
        && !["rest", "callback"].contains(&name)
    {
        return Err(UserError::new(format!(
            "--connector {name}: rusa serves the channels rest and callback"
        ))
        .into());
    }
    let rest = match args.connector.as_deref() {
        Some(name) => name == "rest",
        None => credentials
            .as_ref()
            .is_none_or(|c| c.channels.contains_key("rest") || c.channels.is_empty()),
    };
    let callback_channel = credentials
        .as_ref()
        .and_then(|c| c.channels.get("callback"))
        .filter(|_| args.connector.as_deref().is_none_or(|n| n == "callback"));
    if args.connector.as_deref() == Some("callback") && callback_channel.is_none() {
        return Err(UserError::new(
            "--connector callback: credentials.yml has no `callback:` entry with the url to answer to",
        )
        .into());
    }
    let callback = match callback_channel {
        Some(channel) => Some(callback_endpoint(channel, args.response_timeout)?),
        None => None,
    };
    if !rest && callback.is_none() && !args.enable_api {
        return Err(UserError::new("credentials.yml names no channel rusa serves, and the HTTP API is off: there is nothing to serve")
            .with_hint("add `rest:` to credentials.yml, or pass --enable-api")
            .into());
    }
    let jwt = match &args.jwt_secret {
        Some(secret) => Some(JwtConfig::new(&args.jwt_method, secret).map_err(|e| {
            UserError::new(format!("--jwt-secret: {e}")).with_hint(
                "for RS*, PS*, ES* and EdDSA pass the public key's PEM text or the path of a PEM file",
            )
        })?),
        None => None,
    };
    let config = ServerConfig {
        enable_api: args.enable_api,
        auth_token: args.auth_token.clone(),
        jwt,
        cors: args.cors.clone(),
        rest,
        callback: callback.clone(),
        body_read_timeout: Duration::from_secs(args.request_body_timeout),
        trainer: Some(rusa_server::Trainer(Arc::new(
            crate::commands::train::train_for_api,
        ))),
        ..ServerConfig::default()
    };
    crate::usage::server_started(&crate::usage::ServerStartInfo {
        input_channels: [(rest, "rest"), (callback.is_some(), "callback")]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_owned())
            .collect(),
        api_enabled: args.enable_api,
        endpoints: &endpoints,
        model_fingerprint: agent
            .as_ref()
            .map(|(a, _)| a.metadata.project_fingerprint.clone()),
    });
    let processor = Arc::new(
        serving::processor(
            &endpoints,
            agent,
            Duration::from_secs(args.response_timeout),
        )
        .await?,
    );
    if let Some(server) = &model_server {
        match server.pull(&processor).await {
            Ok(_) => eprintln!("loaded the model from the model server {}", server.url()),
            Err(e) => {
                eprintln!("warning: {e}; the server starts without a model and tries again later")
            }
        }
        tokio::spawn(Arc::clone(server).keep_pulling(Arc::clone(&processor)));
    }
    // Due reminders are handled as external events; set from the callback channel, their
    // replies are POSTed there.
    tokio::spawn(Arc::clone(&processor).run_reminders(callback.clone()));
    let broker = processor.broker.clone();
    let state = AppState {
        processor,
        config: Arc::new(config),
    };
    let addr: SocketAddr = format!("{}:{}", args.interface, args.port)
        .parse()
        .map_err(|_| {
            UserError::new(format!(
                "'{}:{}' is not an address to listen on",
                args.interface, args.port
            ))
            .with_hint("pass --interface 127.0.0.1 or another IP address")
        })?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| UserError::new(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let open_files = rusa_server::connections::raise_open_files_limit();
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(args.request_header_timeout),
        keep_alive_timeout: Duration::from_secs(args.keep_alive_timeout),
        max_connections: rusa_server::connections::fit_connection_cap(
            usize::try_from(args.max_connections).unwrap_or(usize::MAX),
            open_files,
        ),
    };
    let stop = shutdown_signal();
    eprintln!("rusa is serving on http://{bound} (Ctrl-C to stop)");
    tracing::info!(
        address = %bound,
        api = args.enable_api,
        max_connections = limits.max_connections,
        "serving"
    );
    rusa_server::serve(listener, app(state), limits, stop)
        .await
        .map_err(|e| anyhow::anyhow!(e).context("the server stopped"))?;
    if let Some(broker) = broker {
        broker.flush(BROKER_FLUSH_BUDGET).await;
    }
    if let Some(server) = &model_server {
        let _ = std::fs::remove_dir_all(server.download_dir());
    }
    tracing::info!("stopped");
    eprintln!("rusa stopped");
    Ok(Outcome::Success)
}

/// The newest model of `--model` (a file or a directory), if there is one.
fn local_model(args: &ServerArgs) -> anyhow::Result<Option<(Arc<Agent>, std::path::PathBuf)>> {
    match rusa_core::archive::newest_model(&args.model) {
        Some(path) => {
            let agent = Agent::load(&path).map_err(|e| UserError::new(error_chain(&e)))?;
            Ok(Some((Arc::new(agent), path)))
        }
        None => {
            eprintln!(
                "warning: no model was found at '{}'; the server starts without one ({})",
                args.model.display(),
                if args.enable_api {
                    "load one with PUT /model"
                } else {
                    "train one with `rusa train` and start the server again"
                }
            );
            Ok(None)
        }
    }
}

/// The callback channel's endpoint: its `url` (required), and optionally `headers`,
/// `basic_auth`, `token` as for any endpoint.
fn callback_endpoint(
    channel: &rusa_project::Channel,
    timeout_seconds: u64,
) -> anyhow::Result<rusa_actions::HttpEndpoint> {
    let url = channel
        .params
        .get("url")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    if url.is_none() {
        return Err(UserError::new(format!(
            "{}: callback: the `url` to send replies to is missing",
            channel.pos
        ))
        .with_hint("write `callback:` with `url: \"http://host:port/path\"` in credentials.yml")
        .into());
    }
    let endpoint = rusa_project::EndpointConfig {
        kind: None,
        url,
        params: channel.params.clone(),
        key_pos: Default::default(),
        pos: channel.pos.clone(),
    };
    rusa_actions::HttpEndpoint::new(&endpoint, Duration::from_secs(timeout_seconds))
        .map_err(|e| UserError::new(format!("{}: callback: {e}", channel.pos)).into())
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when
/// the future is first polled, so a signal sent as soon as the server says it serves is
/// not missed (the default action would kill the process).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (interrupt, terminate) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::interrupt()).ok(),
            signal(SignalKind::terminate()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {},
                () = wait(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
