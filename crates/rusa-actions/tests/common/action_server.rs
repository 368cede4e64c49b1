//! The real Python action server (rasa-sdk 3.x) for the tests, running an actions module of
//! ours: by default a custom action that sets a slot and utters a response by name, and a
//! `FormValidationAction` that rejects a value; [`ActionServer::start_actions`] runs the
//! module a test gives instead (rusa-sdk's differential test includes this file).
//!
//! [`rasa_sdk_python`] creates a virtual environment under the target directory
//! (`$CARGO_TARGET_TMPDIR/rasa-sdk-venv`, i.e. `target/tmp/`, the same for every crate of the
//! workspace) and installs `rasa-sdk==3.*` into it once; later runs reuse it. If the install
//! fails it says `skipped: ...` and returns `None`, unless `RUSA_TEST_SERVICES=required`
//! (CI), where it panics.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the action server may take to answer its health check after starting.
const STARTUP_LIMIT: Duration = Duration::from_secs(90);

const ACTIONS_PY: &str = r#"
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict


class ActionRememberMood(Action):
    def name(self) -> Text:
        return "action_remember_mood"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: DomainDict) -> List[Dict[Text, Any]]:
        intent = tracker.latest_message["intent"]["name"]
        mood = "happy" if intent == "mood_great" else "sad"
        dispatcher.utter_message(response="utter_remember", mood_word=mood)
        return [SlotSet("mood", mood)]


class ValidateTripForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_trip_form"

    def validate_city(self, slot_value: Any, dispatcher: CollectingDispatcher,
                      tracker: Tracker, domain: DomainDict) -> Dict[Text, Any]:
        if str(slot_value).lower() == "atlantis":
            dispatcher.utter_message(text="Atlantis is not a real city.")
            return {"city": None}
        return {"city": str(slot_value).title()}
"#;

pub fn services_required() -> bool {
    std::env::var("RUSA_TEST_SERVICES").is_ok_and(|v| v == "required")
}

/// The venv's python with rasa-sdk importable, installing it on first use. `None` when it
/// cannot be installed (and the services are not required).
pub fn rasa_sdk_python() -> Option<PathBuf> {
    // One install at a time within this test binary.
    static SETUP: Mutex<()> = Mutex::new(());
    let _lock = SETUP.lock().unwrap_or_else(|e| e.into_inner());
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rasa-sdk-venv");
    let python = venv.join("bin/python");
    let importable = || {
        Command::new(&python)
            .args(["-c", "import rasa_sdk"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if importable() {
        return Some(python);
    }
    let started = Instant::now();
    let created = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    let installed = created
        && Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "rasa-sdk==3.*",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if installed && importable() {
        eprintln!(
            "installed rasa-sdk into {} in {:.1} s",
            venv.display(),
            started.elapsed().as_secs_f64()
        );
        return Some(python);
    }
    if services_required() {
        panic!("rasa-sdk could not be installed and RUSA_TEST_SERVICES=required");
    }
    eprintln!("skipped: rasa-sdk could not be installed");
    None
}

/// The running action server; killed when dropped, also when a test fails.
pub struct ActionServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for ActionServer {
    /// Stops the server and its worker processes: the whole process group is asked to end
    /// (SIGTERM), and killed if it has not after a few seconds. Killing the main process
    /// alone left Sanic's multiprocessing workers running.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let signal = |name: &str| {
            let _ = Command::new("kill")
                .args([name, "--", &group])
                .stderr(Stdio::null())
                .status();
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal("-KILL");
        let _ = self.child.wait();
    }
}

impl ActionServer {
    /// The action server without an endpoints file.
    pub fn start(python: &Path) -> Self {
        Self::start_with(python, None, &[])
    }

    /// The action server reading `endpoints_yml` (when given) as its `--endpoints` file,
    /// with `env` added to its environment.
    pub fn start_with(python: &Path, endpoints_yml: Option<&str>, env: &[(&str, &str)]) -> Self {
        Self::launch(python, ACTIONS_PY, endpoints_yml, env)
    }

    /// The action server running `actions_py` as its actions module (`actions.py`).
    pub fn start_actions(python: &Path, actions_py: &str) -> Self {
        Self::launch(python, actions_py, None, &[])
    }

    fn launch(
        python: &Path,
        actions_py: &str,
        endpoints_yml: Option<&str>,
        env: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("actions.py"), actions_py).expect("write actions");
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("address")
            .port();
        let log = dir.path().join("action_server.log");
        let out = std::fs::File::create(&log).expect("log file");
        let mut command = Command::new(python);
        command
            .process_group(0)
            .args(["-m", "rasa_sdk", "--actions", "actions", "--port"])
            .arg(port.to_string());
        if let Some(yaml) = endpoints_yml {
            std::fs::write(dir.path().join("endpoints.yml"), yaml).expect("write endpoints");
            command.args(["--endpoints", "endpoints.yml"]);
        }
        let child = command
            .current_dir(dir.path())
            .env("SANIC_HOST", "127.0.0.1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .spawn()
            .expect("start the action server");
        let mut server = Self {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_healthy();
        server
    }

    pub fn url(&self) -> String {
        format!("{}/webhook", self.base_url())
    }

    /// `http://127.0.0.1:<port>`, for the other routes.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `GET /health` until it answers 200 (bounded by [`STARTUP_LIMIT`]).
    fn wait_healthy(&mut self) {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the action server exited with {status}:\n{}",
                    self.log_text()
                );
            }
            if health_ok(self.port) {
                eprintln!(
                    "rasa-sdk action server answered after {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
            assert!(
                started.elapsed() < STARTUP_LIMIT,
                "the action server did not become healthy:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn health_ok(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}
