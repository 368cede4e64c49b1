//! The weather assistant's action server: `rusa run actions` builds and runs it, on port
//! 5055 by default (the flags are rasa-sdk's: `--port`, `--cors`, `--endpoints`, TLS).

fn main() -> std::process::ExitCode {
    weatherbot_actions::server().run_from_args()
}
