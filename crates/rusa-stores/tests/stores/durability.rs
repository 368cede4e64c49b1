//! An SQLite tracker store loses no acknowledged turn when the process is killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use rusa_core::stores::TrackerStore;
use rusa_core::{Event, EventKind};
use rusa_stores::{SqlConfig, SqlTrackerStore};

const DB_ENV: &str = "RUSA_TEST_DURABILITY_DB";
/// The parent kills the child after this many acknowledged appends.
const KILL_AFTER: u64 = 300;

fn event(i: u64) -> Event {
    Event::new(
        EventKind::Slot {
            name: "i".into(),
            value: i.into(),
        },
        i as f64,
    )
}

/// Run by the parent below in a child process: appends until killed, printing each
/// acknowledged append.
#[tokio::test]
#[ignore = "the child of sqlite_appends_survive_sigkill"]
async fn child_appends_until_killed() {
    let Ok(path) = std::env::var(DB_ENV) else {
        return;
    };
    let store = SqlTrackerStore::open(&SqlConfig::sqlite(path))
        .await
        .unwrap();
    for i in 0.. {
        store.append("durable", &[event(i)]).await.unwrap();
        println!("acked {i}");
    }
}

#[test]
fn sqlite_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("durable.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "durability::child_appends_until_killed",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(DB_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_acked = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("acked ") {
            let n: u64 = n.trim().parse().unwrap();
            last_acked = Some(n);
            if n + 1 >= KILL_AFTER {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Acknowledgements printed before the kill still count.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("acked ") {
            last_acked = n.trim().parse().ok().or(last_acked);
        }
    }
    child.wait().unwrap();
    let last_acked = last_acked.expect("the child acknowledged appends");
    assert!(last_acked + 1 >= KILL_AFTER);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let events = runtime.block_on(async {
        let store = SqlTrackerStore::open(&SqlConfig::sqlite(&path))
            .await
            .unwrap();
        store.retrieve("durable").await.unwrap().unwrap()
    });
    assert!(
        events.len() as u64 > last_acked,
        "{} events stored, {} acknowledged",
        events.len(),
        last_acked + 1
    );
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e, &event(i as u64), "event {i} in order");
    }
}
