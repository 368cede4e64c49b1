//! The real `rusa` binary against a real local Segment endpoint: `rusa telemetry ...`, the
//! first-run notice, corrupt and concurrent configuration, debug mode, the canary test, and
//! the check that every registry event is emitted by a tested command or marked pending.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use rusa_telemetry::events::{Emission, REGISTRY};
use rusa_telemetry::testing::{
    Reply, TestServer, assert_segment_batch, assert_unique_ids, debug_payloads,
};
use serde_json::Value;
use std::process::Command;

const WRITE_KEY: &str = "cli-test-key";

/// A sandbox: HOME and the XDG directories in a temporary directory, the endpoint at a
/// local server, and nothing of the host's telemetry environment.
struct Sandbox {
    dir: tempfile::TempDir,
    endpoint: String,
    cwd: PathBuf,
    extra: Vec<(String, String)>,
}

impl Sandbox {
    fn new(endpoint: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("work");
        std::fs::create_dir_all(&cwd).unwrap();
        Self {
            dir,
            endpoint: endpoint.to_owned(),
            cwd,
            extra: Vec::new(),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn config_file(&self) -> PathBuf {
        self.dir.path().join("config/rusa/global.yml")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state/rusa/telemetry")
    }

    fn env(mut self, key: &str, value: &str) -> Self {
        self.extra.push((key.to_owned(), value.to_owned()));
        self
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rusa"));
        for (key, _) in std::env::vars() {
            if key.starts_with("RUSA_")
                || key.starts_with("RASA_")
                || key == "DO_NOT_TRACK"
                || key.ends_with("_PROXY")
                || key.ends_with("_proxy")
            {
                cmd.env_remove(&key);
            }
        }
        for var in rusa_telemetry::env::CI_VARIABLES {
            cmd.env_remove(var);
        }
        cmd.env_remove("RUST_LOG");
        cmd.current_dir(&self.cwd)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("RUSA_TELEMETRY_ENDPOINT", &self.endpoint)
            .env("RUSA_TELEMETRY_WRITE_KEY", WRITE_KEY)
            .args(args);
        for (k, v) in &self.extra {
            cmd.env(k, v);
        }
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    fn enabled(&self) -> Option<bool> {
        let text = std::fs::read_to_string(self.config_file()).ok()?;
        Some(text.contains("enabled: true"))
    }

    fn user_id(&self) -> String {
        rusa_telemetry::read_global(&self.config_file())
            .unwrap()
            .unwrap()
            .rusa_user_id
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Connections the server accepted besides a probe made now (connections are accepted in
/// order, so every earlier one is counted; no sleep).
fn connections_before_probe(server: &TestServer) -> usize {
    use std::io::Write;
    let before = server.requests().len();
    let mut s = std::net::TcpStream::connect(server.url().trim_start_matches("http://")).unwrap();
    s.write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let requests = server.wait_for_requests(before + 1, Duration::from_secs(20));
    assert!(requests.iter().any(|r| r.path == "/probe"));
    server.connections() - 1
}

fn segment_messages(server: &TestServer) -> Vec<Value> {
    let messages: Vec<Value> = server
        .requests()
        .iter()
        .filter(|r| r.path != "/probe")
        .flat_map(|r| assert_segment_batch(r, WRITE_KEY))
        .collect();
    assert_unique_ids(&messages);
    messages
}

#[test]
fn status_on_a_fresh_install_creates_nothing() {
    let sb = Sandbox::new("http://127.0.0.1:9");
    let o = sb.run(&["telemetry"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Usage telemetry: not enabled yet"), "{out}");
    assert!(out.contains("Write key: configured"), "{out}");
    assert!(!sb.config_file().exists());
    assert_eq!(stdout(&sb.run(&["telemetry", "status"])), out);
}

#[test]
fn status_names_the_deciding_variable_and_the_write_key() {
    let sb = Sandbox::new("http://127.0.0.1:9").env("DO_NOT_TRACK", "1");
    let out = stdout(&sb.run(&["telemetry", "status"]));
    assert!(out.contains("Usage telemetry: disabled"), "{out}");
    assert!(out.contains("DO_NOT_TRACK=1"), "{out}");
    let sb = Sandbox::new("http://127.0.0.1:9").env("RUSA_TELEMETRY_WRITE_KEY", "");
    let out = stdout(&sb.run(&["telemetry", "status"]));
    assert!(out.contains("Write key: none"), "{out}");
}

#[test]
fn enable_writes_the_file_and_sends_nothing() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    let o = sb.run(&["telemetry", "enable"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sb.enabled(), Some(true));
    let out = stdout(&sb.run(&["telemetry", "status"]));
    assert!(out.contains("Usage telemetry: enabled"), "{out}");
    assert!(out.contains("metrics.enabled in"), "{out}");
    assert_eq!(connections_before_probe(&server), 0);
}

#[test]
fn enable_under_an_opt_out_variable_says_it_stays_off() {
    let sb = Sandbox::new("http://127.0.0.1:9").env("RUSA_TELEMETRY_ENABLED", "false");
    let o = sb.run(&["telemetry", "enable"]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("stays off"), "{}", stderr(&o));
}

#[test]
fn disable_sends_telemetry_disabled_only_when_it_was_enabled() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    sb.run(&["telemetry", "enable"]);
    let id = sb.user_id();
    let o = sb.run(&["telemetry", "disable"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(sb.enabled(), Some(false));
    let messages = segment_messages(&server);
    assert_eq!(messages.len(), 1, "{messages:#?}");
    assert_eq!(messages[0]["event"], "Telemetry Disabled");
    assert_eq!(messages[0]["userId"], id.as_str());

    // Already disabled: nothing is sent.
    let o = sb.run(&["telemetry", "disable"]);
    assert!(o.status.success());
    assert_eq!(
        connections_before_probe(&server),
        1,
        "a second disable sent something"
    );

    // Shown as sent, exactly as it went over the wire.
    let o = sb.run(&["telemetry", "show", "--sent", "--json"]);
    let shown: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(shown["sent"], Value::Array(messages));
    assert!(shown.get("pending").is_none());
}

#[test]
fn disable_sends_nothing_on_a_fresh_install_or_under_an_opt_out() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    assert!(sb.run(&["telemetry", "disable"]).status.success());
    assert_eq!(sb.enabled(), Some(false));
    let sb2 = Sandbox::new(&server.url()).env("DO_NOT_TRACK", "true");
    sb2.run(&["telemetry", "enable"]);
    assert!(sb2.run(&["telemetry", "disable"]).status.success());
    assert_eq!(connections_before_probe(&server), 0);
}

#[test]
fn disable_deletes_the_spool_and_show_lists_it_before() {
    let sb = Sandbox::new(&rusa_telemetry::testing::closed_port_url());
    sb.run(&["telemetry", "enable"]);
    // Back-off active: spooled events stay put until disable deletes them.
    std::fs::create_dir_all(sb.state_dir().join("spool")).unwrap();
    std::fs::write(
        sb.state_dir().join("backoff.json"),
        r#"{"consecutive_failures":3,"next_attempt_unix":99999999999,"delay_secs":900}"#,
    )
    .unwrap();
    let message = serde_json::json!({"type": "track", "event": "Training Data Validated", "timestamp": "2026-11-21T10:00:00Z", "properties": {"validation_success": true}});
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    std::fs::write(
        sb.state_dir()
            .join(format!("spool/{now}-0000000000-x.json")),
        serde_json::to_vec(&[&message]).unwrap(),
    )
    .unwrap();
    let shown: Value =
        serde_json::from_slice(&sb.run(&["telemetry", "show", "--pending", "--json"]).stdout)
            .unwrap();
    assert_eq!(shown["pending"][0], message);
    let readable = stdout(&sb.run(&["telemetry", "show"]));
    assert!(
        readable.contains("Waiting to be sent: 1") && readable.contains("Training Data Validated"),
        "{readable}"
    );
    assert!(sb.run(&["telemetry", "disable"]).status.success());
    let shown: Value =
        serde_json::from_slice(&sb.run(&["telemetry", "show", "--json"]).stdout).unwrap();
    assert_eq!(shown["pending"], serde_json::json!([]));
}

#[test]
fn reset_changes_the_id_and_deletes_local_logs() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    sb.run(&["telemetry", "enable"]);
    let before = sb.user_id();
    sb.run(&["telemetry", "disable"]); // one sent event in the log
    sb.run(&["telemetry", "enable"]);
    assert!(sb.state_dir().join("sent.jsonl").exists());
    let o = sb.run(&["telemetry", "reset"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(sb.user_id(), before);
    assert_eq!(sb.enabled(), Some(true));
    assert!(!sb.state_dir().join("sent.jsonl").exists());
}

#[test]
fn debug_mode_prints_the_payload_and_opens_no_socket() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    sb.run(&["telemetry", "enable"]);
    let sb = sb.env("RUSA_TELEMETRY_DEBUG", "true");
    let o = sb.run(&["telemetry", "disable"]);
    assert!(o.status.success());
    let payloads = debug_payloads(&stderr(&o));
    assert_eq!(payloads.len(), 1, "{}", stderr(&o));
    assert_eq!(payloads[0]["event"], "Telemetry Disabled");
    assert!(stdout(&o).find('{').is_none(), "payloads go to stderr only");
    assert_eq!(connections_before_probe(&server), 0, "debug mode connected");
    assert!(
        !sb.state_dir().join("spool").exists()
            || std::fs::read_dir(sb.state_dir().join("spool"))
                .unwrap()
                .count()
                == 0
    );
}

/// A command that starts telemetry like every command does and behaves the same on every
/// run: `data validate` in an empty directory (exit 1: no project there).
const ANY_COMMAND: &[&str] = &["data", "validate"];

#[test]
fn the_first_run_shows_the_notice_once_on_stderr_and_sends_nothing() {
    let server = TestServer::start(vec![]);
    let sb = Sandbox::new(&server.url());
    let first = sb.run(ANY_COMMAND);
    assert_eq!(
        connections_before_probe(&server),
        0,
        "the first run sent something"
    );
    let notice_line = rusa_telemetry::FIRST_RUN_NOTICE.lines().next().unwrap();
    assert!(stderr(&first).contains(notice_line), "{}", stderr(&first));
    assert!(!stdout(&first).contains(notice_line));
    assert_eq!(sb.enabled(), Some(true));
    let second = sb.run(ANY_COMMAND);
    assert!(!stderr(&second).contains(notice_line), "shown twice");
    assert_eq!(
        first.status.code(),
        second.status.code(),
        "telemetry changed the exit code"
    );
    assert_eq!(first.stdout, second.stdout, "telemetry changed stdout");
    assert_eq!(first.status.code(), Some(1), "{}", stderr(&first));
}

#[test]
fn an_opt_out_variable_writes_no_file_and_shows_no_notice() {
    for (k, v) in [
        ("DO_NOT_TRACK", "1"),
        ("RUSA_TELEMETRY_ENABLED", "false"),
        ("RASA_TELEMETRY_ENABLED", "false"),
    ] {
        let sb = Sandbox::new("http://127.0.0.1:9").env(k, v);
        let o = sb.run(ANY_COMMAND);
        assert!(
            !stderr(&o).contains("anonymous usage"),
            "{k}: {}",
            stderr(&o)
        );
        assert!(!sb.config_file().exists(), "{k}={v} created global.yml");
        assert!(!sb.dir.path().join("config").exists());
    }
}

#[test]
fn a_corrupt_file_warns_once_per_run_names_the_fix_and_stays() {
    let sb = Sandbox::new("http://127.0.0.1:9");
    std::fs::create_dir_all(sb.config_file().parent().unwrap()).unwrap();
    std::fs::write(sb.config_file(), "metrics:\n  enabled: nope\n").unwrap();
    let o = sb.run(ANY_COMMAND);
    let err = stderr(&o);
    assert_eq!(err.matches("cannot be parsed").count(), 1, "{err}");
    assert!(
        err.contains("global.yml") && err.contains("rusa telemetry enable"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(sb.config_file()).unwrap(),
        "metrics:\n  enabled: nope\n"
    );
    let status = stdout(&sb.run(&["telemetry", "status"]));
    assert!(
        status.contains("Usage telemetry: disabled") && status.contains("cannot be parsed"),
        "{status}"
    );
}

#[test]
fn an_unwritable_config_directory_is_silent() {
    let sb = Sandbox::new("http://127.0.0.1:9");
    // A regular file where the config directory should be.
    std::fs::write(sb.dir.path().join("config"), "").unwrap();
    let o = sb.run(ANY_COMMAND);
    let err = stderr(&o);
    assert!(
        !err.contains("global.yml") && !err.contains("anonymous usage"),
        "{err}"
    );
}

#[test]
fn concurrent_first_runs_create_one_id_and_one_notice() {
    let sb = Sandbox::new("http://127.0.0.1:9");
    let children: Vec<_> = (0..6)
        .map(|_| {
            sb.cmd(ANY_COMMAND)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let notice_line = rusa_telemetry::FIRST_RUN_NOTICE.lines().next().unwrap();
    let notices = outputs
        .iter()
        .filter(|o| stderr(o).contains(notice_line))
        .count();
    assert_eq!(notices, 1, "the notice must show exactly once");
    let global = rusa_telemetry::read_global(&sb.config_file())
        .unwrap()
        .expect("one valid file");
    assert_eq!(global.rusa_user_id.len(), 32);
}

const CANARIES: &[&str] = &[
    "CanaryUserZq",
    "CanaryHomeZq",
    "CanaryCwdZq",
    "CanaryRemoteZq",
    "CanaryExampleZq",
    "CanaryMessageZq",
];

#[test]
fn no_canary_in_anything_sent_spooled_logged_or_printed() {
    let server = TestServer::start(vec![]);
    let mut sb = Sandbox::new(&server.url());
    // Home, working directory and git remote carry canaries; so does the user name.
    let home = sb.dir.path().join("CanaryHomeZq");
    let cwd = home.join("CanaryCwdZq");
    std::fs::create_dir_all(cwd.join(".git")).unwrap();
    std::fs::write(
        cwd.join(".git/config"),
        "[remote \"origin\"]\n\turl = https://git.example/CanaryRemoteZq/bot.git\n",
    )
    .unwrap();
    sb.cwd = cwd;
    let sb = sb
        .env("HOME", &home.to_string_lossy())
        .env("USER", "CanaryUserZq")
        .env("LOGNAME", "CanaryUserZq")
        .env("RUST_LOG", "debug");
    let mut printed = Vec::new();
    let mut record = |o: Output| {
        printed.push(stdout(&o));
        printed.push(stderr(&o));
    };
    record(sb.run(ANY_COMMAND)); // first run
    record(sb.run(&["telemetry", "status"]));
    record(sb.run(ANY_COMMAND));
    record(
        sb.cmd(&["telemetry", "disable"])
            .env("RUSA_TELEMETRY_DEBUG", "true")
            .output()
            .unwrap(),
    );
    record(sb.run(&["telemetry", "enable"]));
    // A real project in the canary directory: validate it, and create one more with init.
    copy_dir(&moodbot(), &sb.cwd);
    record(sb.run(&["data", "validate"]));
    record(
        sb.cmd(&["init", "--no-prompt", "CanaryBotZq"])
            .env("RUSA_TELEMETRY_DEBUG", "true")
            .output()
            .unwrap(),
    );
    record(sb.run(&["init", "--no-prompt", "CanaryBot2Zq"])); // sends Project Created
    // Training data and messages carry canaries too: train, talk, test.
    let nlu = sb.cwd.join("data/nlu.yml");
    let text = std::fs::read_to_string(&nlu)
        .unwrap()
        .replace("    - hey dude\n", "    - hey CanaryExampleZq\n");
    std::fs::write(&nlu, text).unwrap();
    record(sb.run(&["train"])); // sends Training Started and Completed
    let mut shell = sb
        .cmd(&["shell"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        shell
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello CanaryMessageZq\nI am CanaryMessageZq sad\n")
            .unwrap();
    }
    record(shell.wait_with_output().unwrap()); // sends Shell Started
    record(sb.run(&["test"])); // sends Model Core Tested and Model NLU Tested
    // Conversations whose ids and texts carry canaries, exported (sends Tracker Exported).
    seed_sqlite_tracker(&sb.cwd.join("tracker.db"), &["CanaryUserZq", "CanaryCwdZq"]);
    std::fs::write(
        sb.cwd.join("endpoints.yml"),
        "tracker_store:\n  type: sql\n  db: tracker.db\nevent_broker:\n  type: file\n  path: exported.log\n",
    )
    .unwrap();
    let exported = sb.run(&["export"]);
    assert!(exported.status.success(), "{}", stderr(&exported));
    record(exported);

    record(sb.run(&["telemetry", "disable"])); // sends Telemetry Disabled
    record(sb.run(&["telemetry", "show", "--json"]));
    let messages = segment_messages(&server);
    assert!(!messages.is_empty());
    let mut haystacks: Vec<String> = server
        .requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    haystacks.extend(
        server
            .requests()
            .iter()
            .flat_map(|r| r.headers.iter().map(|(k, v)| format!("{k}: {v}"))),
    );
    haystacks.extend(printed);
    for entry in walk(&sb.state_dir()) {
        haystacks.push(String::from_utf8_lossy(&std::fs::read(entry).unwrap()).into_owned());
    }
    for hay in &haystacks {
        for canary in CANARIES {
            assert!(!hay.contains(canary), "canary {canary} leaked in:\n{hay}");
        }
    }
    let names: Vec<&str> = messages
        .iter()
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    for expected in [
        "Project Created",
        "Telemetry Disabled",
        "Training Started",
        "Training Completed",
        "Shell Started",
        "Model Core Tested",
        "Model NLU Tested",
        "Training Data Validated",
        "Tracker Exported",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    // The context still identified the project, as a keyed hash.
    assert!(messages.iter().all(|m| {
        m["context"]["project"]
            .as_str()
            .is_some_and(|p| p.len() == 64)
    }));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn moodbot() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot")
}

/// Runs `command` with telemetry enabled against a fresh local endpoint; returns the names
/// of the events the endpoint received.
fn events_emitted_by(command: &str) -> Option<Vec<String>> {
    let server = TestServer::start(vec![Reply::Status(200, vec![])]);
    let sb = Sandbox::new(&server.url());
    sb.run(&["telemetry", "enable"]);
    match command {
        "rusa telemetry disable" => {
            sb.run(&["telemetry", "disable"]);
        }
        "rusa init" => {
            let target = sb.cwd.join("newbot");
            sb.run(&["init", "--no-prompt", &target.to_string_lossy()]);
        }
        "rusa test core" | "rusa test nlu" => {
            let mut sb = sb;
            let project = sb.dir.path().join("moodbot");
            copy_dir(&moodbot(), &project);
            sb.cwd = project;
            let trained = sb.run(&["train"]);
            assert!(trained.status.success(), "{}", stderr(&trained));
            let part = command.rsplit(' ').next().unwrap();
            let tested = sb.run(&["test", part]);
            assert!(tested.status.code().is_some(), "{}", stderr(&tested));
        }
        "rusa data split nlu" | "rusa data split stories" | "rusa data convert nlu" => {
            let mut sb = sb;
            sb.cwd = moodbot();
            let out = sb.dir.path().join("out");
            let out = out.to_string_lossy();
            let args: Vec<&str> = match command {
                "rusa data split nlu" => {
                    vec!["data", "split", "nlu", "--random-seed", "1", "--out", &out]
                }
                "rusa data split stories" => vec!["data", "split", "stories", "--out", &out],
                _ => vec![
                    "data", "convert", "nlu", "--data", "data", "--out", &out, "-f", "json",
                ],
            };
            let ran = sb.run(&args);
            assert!(ran.status.success(), "{}", stderr(&ran));
        }
        "rusa visualize" => {
            let mut sb = sb;
            sb.cwd = moodbot();
            let out = sb.dir.path().join("graph.html");
            let ran = sb.run(&["visualize", "--out", &out.to_string_lossy()]);
            assert!(ran.status.success(), "{}", stderr(&ran));
            assert!(out.is_file());
        }
        "rusa data validate" => {
            let mut sb = sb;
            sb.cwd = moodbot();
            sb.run(&["data", "validate"]);
        }
        "rusa train" | "rusa train nlu" | "rusa train core" => {
            let mut sb = sb;
            let project = sb.dir.path().join("moodbot");
            copy_dir(&moodbot(), &project);
            sb.cwd = project.clone();
            let mut args = vec!["train"];
            args.extend(command.split(' ').skip(2));
            let trained = sb.run(&args);
            assert!(trained.status.success(), "{}", stderr(&trained));
            if command == "rusa train" {
                // A story that contradicts a rule makes training fail: Training Failed.
                let contradiction = "version: \"3.1\"\nstories:\n- story: answers a bot challenge differently\n  steps:\n  - intent: bot_challenge\n  - action: utter_greet\n";
                std::fs::write(project.join("data/contradiction.yml"), contradiction).unwrap();
                let failed = sb.run(&["train"]);
                assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));
            }
        }
        "rusa shell" | "rusa shell nlu" => {
            let mut sb = sb;
            let project = sb.dir.path().join("moodbot");
            copy_dir(&moodbot(), &project);
            sb.cwd = project;
            let trained = sb.run(&["train"]);
            assert!(trained.status.success(), "{}", stderr(&trained));
            let mut args = vec!["shell"];
            args.extend(command.split(' ').skip(2));
            let mut child = sb
                .cmd(&args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            {
                use std::io::Write as _;
                child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
            }
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        "rusa interactive" => {
            // The session starts (and sends its event), then ends at the end of its input.
            let mut sb = sb;
            let project = sb.dir.path().join("moodbot");
            copy_dir(&moodbot(), &project);
            sb.cwd = project;
            let out = sb
                .cmd(&["interactive", "--skip-visualization"])
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
        }
        "rusa export" => {
            // Two conversations in an SQLite tracker store, exported to a file broker.
            let db = sb.cwd.join("tracker.db");
            seed_sqlite_tracker(&db, &["first", "second"]);
            std::fs::write(
                sb.cwd.join("endpoints.yml"),
                "tracker_store:\n  type: sql\n  dialect: sqlite\n  db: tracker.db\nevent_broker:\n  type: file\n  path: exported.log\n",
            )
            .unwrap();
            let exported = sb.run(&["export"]);
            assert!(exported.status.success(), "{}", stderr(&exported));
            let lines = std::fs::read_to_string(sb.cwd.join("exported.log")).unwrap();
            assert_eq!(lines.lines().count(), 4, "{lines}");
        }
        "rusa run" => {
            use std::io::BufRead as _;
            let mut child = sb
                .cmd(&["run", "--port", "0", "--interface", "127.0.0.1"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            // Wait until it serves (it says so on stderr), then stop it as an operator would.
            let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
            let serving = lines
                .by_ref()
                .map_while(Result::ok)
                .any(|l| l.contains("rusa is serving on"));
            assert!(serving, "rusa run did not start");
            let killed = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
            let rest: Vec<String> = lines.map_while(Result::ok).collect();
            let status = child.wait().unwrap();
            assert!(status.success(), "{rest:?}");
        }
        _ => return None,
    }
    Some(
        segment_messages(&server)
            .iter()
            .map(|m| m["event"].as_str().unwrap().to_owned())
            .collect(),
    )
}

/// Writes two events (a user message and an action) for each of `conversations` into an
/// SQLite tracker store at `path`.
fn seed_sqlite_tracker(path: &Path, conversations: &[&str]) {
    use rusa_core::stores::TrackerStore as _;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = rusa_stores::SqlTrackerStore::open(&rusa_stores::SqlConfig::sqlite(path))
            .await
            .unwrap();
        for (n, id) in conversations.iter().enumerate() {
            let t = 1_700_000_000.0 + n as f64;
            let events: Vec<rusa_core::Event> = serde_json::from_value(serde_json::json!([
                {"event": "user", "timestamp": t, "text": "hello CanaryMessageZq",
                 "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}},
                {"event": "action", "timestamp": t + 0.5, "name": "utter_greet"}
            ]))
            .unwrap();
            store.append(id, &events).await.unwrap();
        }
    });
}

#[test]
fn every_registry_event_is_emitted_by_a_tested_command_or_marked_pending() {
    let mut problems = Vec::new();
    for decl in REGISTRY {
        match decl.emission {
            Emission::EmittedBy(commands) => {
                for command in commands {
                    match events_emitted_by(command) {
                        None => problems.push(format!("{}: no test runs `{command}`", decl.name)),
                        Some(names) if !names.iter().any(|n| n == decl.name) => problems.push(
                            format!("{}: `{command}` did not emit it (got {names:?})", decl.name),
                        ),
                        Some(_) => {}
                    }
                }
            }
            Emission::Pending(commands) => assert!(!commands.is_empty(), "{}", decl.name),
            Emission::NotEmitted(reason) => assert!(!reason.is_empty(), "{}", decl.name),
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn https_proxy_is_honoured_and_no_proxy_bypasses_it() {
    let proxy = TestServer::start(vec![]);
    let sb = Sandbox::new("http://telemetry.invalid")
        .env("HTTPS_PROXY", &proxy.url())
        .env("HTTP_PROXY", &proxy.url());
    sb.run(&["telemetry", "enable"]);
    sb.run(&["telemetry", "disable"]);
    // The client tunnels through the proxy: CONNECT to the endpoint, then the batch.
    let requests: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.path != "/probe")
        .collect();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("CONNECT", "telemetry.invalid:80")
    );
    assert_eq!(requests[1].header("host"), Some("telemetry.invalid"));
    let messages = assert_segment_batch(&requests[1], WRITE_KEY);
    assert_eq!(messages[0]["event"], "Telemetry Disabled");

    let bypass = TestServer::start(vec![]);
    let sb = Sandbox::new("http://telemetry.invalid")
        .env("HTTPS_PROXY", &bypass.url())
        .env("HTTP_PROXY", &bypass.url())
        .env("NO_PROXY", "telemetry.invalid");
    sb.run(&["telemetry", "enable"]);
    sb.run(&["telemetry", "disable"]);
    assert_eq!(
        connections_before_probe(&bypass),
        0,
        "NO_PROXY was not honoured"
    );
}

/// Puts one valid message in the spool, so that the next run has something to deliver.
fn seed_spool(sb: &Sandbox) {
    let spool = sb.state_dir().join("spool");
    std::fs::create_dir_all(&spool).unwrap();
    let context =
        rusa_telemetry::build_context(&rusa_telemetry::TelemetryConfig::from_lookup(|_| None), "k");
    let event = rusa_telemetry::Event::training_data_validated(true);
    let message = rusa_telemetry::segment_request_payload(
        &sb.user_id(),
        event.name(),
        event.properties(),
        &context,
        "6f1c1c3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
        "2026-11-21T10:00:00Z",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    std::fs::write(
        spool.join(format!("{now}-0000000000-seed.json")),
        serde_json::to_vec(&[message]).unwrap(),
    )
    .unwrap();
}

#[test]
fn an_unreachable_endpoint_changes_neither_exit_code_nor_stdout() {
    let off = {
        let mut sb = Sandbox::new("http://127.0.0.1:9").env("RUSA_TELEMETRY_ENABLED", "false");
        sb.cwd = moodbot();
        sb.run(&["data", "validate"])
    };
    // "An address that does not route" is left to the benchmark: some networks answer any
    // address through a transparent proxy, which makes such a test depend on the machine.
    let silent = TestServer::never_answering();
    for endpoint in [
        silent.url(),
        "http://telemetry.invalid".to_owned(),
        rusa_telemetry::testing::closed_port_url(),
    ] {
        let mut sb = Sandbox::new(&endpoint);
        sb.run(&["telemetry", "enable"]);
        seed_spool(&sb);
        sb.cwd = moodbot();
        let on = sb.run(&["data", "validate"]);
        assert_eq!(
            on.status.code(),
            off.status.code(),
            "{endpoint}: {}",
            stderr(&on)
        );
        assert_eq!(stdout(&on), stdout(&off), "{endpoint}");
        let shown: Value =
            serde_json::from_slice(&sb.run(&["telemetry", "show", "--pending", "--json"]).stdout)
                .unwrap();
        let pending = shown["pending"].as_array().unwrap();
        assert!(
            !pending.is_empty(),
            "{endpoint}: the undelivered event was lost"
        );
        assert!(
            pending
                .iter()
                .any(|m| m["messageId"] == "6f1c1c3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f"),
            "{endpoint}"
        );
    }
}
