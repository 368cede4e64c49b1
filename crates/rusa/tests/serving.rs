//! `rusa run` as a deployment meets it, over real sockets: a server killed with SIGKILL
//! under load keeps every turn it answered (SQLite tracker store); concurrent messages for
//! one conversation are handled one after the other and none is lost (in-memory and Redis
//! lock stores); a broken action server or event broker never takes the server down; a
//! failing tracker store costs one 500, and one out of reach stops the start; and two
//! servers behind a load balancer share conversations through the Redis lock store, the
//! PostgreSQL tracker store and the RabbitMQ broker (docs/deployment.md); and a traced
//! training and turn reach an OTLP receiver in the caller's trace without user data, while a
//! tracing back end that is down changes nothing (docs/tracing.md).
//!
//! Tests that need PostgreSQL, Redis or RabbitMQ on loopback print that they skipped when
//! the service is not running, and fail instead when `RUSA_TEST_SERVICES=required` (CI).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long a client waits for one answer (generous: a loaded CI machine is slow).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `rusa run` may take to say where it serves.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `rusa run` may take to exit after SIGTERM. Its broker flush budget is 2 s; a
/// shutdown that waits for an unreachable broker would never end.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------------------
// 1. SIGKILL under load with the SQLite tracker store.
// ---------------------------------------------------------------------------------------

/// One turn a client got a 200 answer for.
#[derive(Debug, Clone)]
struct Answered {
    sender: String,
    text: String,
    replies: Vec<String>,
}

/// `RUSA_SOAK_SCALE` (default 1; `scripts/soak.sh` raises it) multiplies the counts.
fn soak_scale() -> usize {
    std::env::var("RUSA_SOAK_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1)
}

#[test]
fn every_answered_turn_survives_sigkill_under_load_with_sqlite() {
    const CLIENTS: usize = 6;
    const CONVERSATIONS_PER_CLIENT: usize = 8;
    let kill_after: usize = 240 * soak_scale();
    let project = Project::moodbot();
    let db = project.path().join("rusa.db");
    let endpoints = project.endpoints(
        "sqlite",
        &format!(
            "tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: {}\n",
            db.display()
        ),
    );
    let mut server = project.start(&endpoints, &[]);
    let addr = server.addr.clone();
    let answered: Arc<Mutex<Vec<Answered>>> = Arc::default();
    // The message each conversation has sent and not had answered (at most one).
    let in_flight: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let failures: Arc<Mutex<Vec<String>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let killed = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (addr, answered, in_flight, failures, count, killed) = (
                addr.clone(),
                Arc::clone(&answered),
                Arc::clone(&in_flight),
                Arc::clone(&failures),
                Arc::clone(&count),
                Arc::clone(&killed),
            );
            thread::spawn(move || {
                for n in 0.. {
                    let sender = format!("kill-{client}-{}", n % CONVERSATIONS_PER_CLIENT);
                    let text = format!("{} {n}", MOODS[n % MOODS.len()]);
                    in_flight
                        .lock()
                        .unwrap()
                        .insert(sender.clone(), text.clone());
                    match webhook(&addr, &sender, &text) {
                        Ok(r) if r.status == 200 => {
                            let replies = reply_texts(&r);
                            in_flight.lock().unwrap().remove(&sender);
                            answered.lock().unwrap().push(Answered {
                                sender,
                                text,
                                replies,
                            });
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        outcome => {
                            if !killed.load(Ordering::SeqCst) {
                                failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{sender} {text:?}: {outcome:?}"));
                            }
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    poll_until(
        Duration::from_secs(120 * soak_scale() as u64),
        "enough answered turns",
        || count.load(Ordering::SeqCst) >= kill_after || clients.iter().all(|c| c.is_finished()),
    );
    killed.store(true, Ordering::SeqCst);
    server.kill();
    for client in clients {
        client.join().unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "failed before the kill: {failures:#?}");
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= kill_after,
        "only {} answered",
        answered.len()
    );

    // The same database on a new server: every answered turn is there, whole.
    let server = project.start(&endpoints, &["--enable-api"]);
    let in_flight = in_flight.lock().unwrap().clone();
    let mut by_sender: BTreeMap<&str, Vec<&Answered>> = BTreeMap::new();
    for turn in &answered {
        by_sender.entry(&turn.sender).or_default().push(turn);
    }
    for (sender, turns) in &by_sender {
        let events = server.tracker(sender);
        let stored = split_turns(&events)
            .unwrap_or_else(|e| panic!("conversation {sender}: {e}\n{events:#?}"));
        let expected: Vec<&str> = turns.iter().map(|t| t.text.as_str()).collect();
        let stored_texts: Vec<&str> = stored.iter().map(|t| t.text.as_str()).collect();
        // The answered turns in order, then at most the one in flight at the kill.
        assert!(
            stored_texts.starts_with(&expected),
            "conversation {sender}: stored {stored_texts:?}, answered {expected:?}"
        );
        let extra = &stored_texts[expected.len()..];
        assert!(
            extra.is_empty() || extra == [in_flight.get(*sender).map_or("", String::as_str)],
            "conversation {sender}: stored turns nobody sent: {extra:?}"
        );
        for (turn, answer) in stored.iter().zip(turns) {
            assert_eq!(
                turn.bot_texts, answer.replies,
                "conversation {sender}, turn {:?}: stored bot events differ from the answer",
                answer.text
            );
        }
    }
    println!(
        "SIGKILL under load (sqlite): answered {}, missing after restart 0, conversations {}",
        answered.len(),
        by_sender.len()
    );
    // And the conversations go on.
    for sender in by_sender.keys().take(4) {
        let before = server.tracker(sender).len();
        let reply = webhook(&server.addr, sender, "hello again").unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(server.tracker(sender).len() > before);
    }
}

// ---------------------------------------------------------------------------------------
// 2. Concurrent requests for one conversation.
// ---------------------------------------------------------------------------------------

/// Sends 32 messages to one conversation at once, each running a custom action that
/// takes a while, and checks that all were answered and stored as whole turns one after
/// the other, and that the action server never saw two of them at the same time.
fn concurrent_messages_are_serialised(lock_store: &str) {
    const N: usize = 32;
    let project = Project::moodbot_with_custom_action();
    let actions = ActionServer::start();
    let endpoints = project.endpoints(
        "concurrent",
        &format!("{lock_store}action_endpoint:\n  url: {}\n", actions.url),
    );
    let mut server = project.start(&endpoints, &["--enable-api"]);
    let sender = unique("busy-together");
    let answers = send_at_once(&[&server.addr], &sender, N, custom_message);
    for (text, replies) in &answers {
        assert_eq!(replies, &[FROM_ACTION_SERVER, AFTER_ACTION], "{text}");
    }
    check_serialised(&server.tracker(&sender), &answers);
    assert_eq!(actions.calls(&sender), N);
    assert_eq!(
        actions.most_at_once(),
        1,
        "turns of one conversation ran at the same time"
    );
    assert!(server.terminate().success(), "{}", server.log());
}

#[test]
fn concurrent_messages_for_one_conversation_are_serialised_in_memory() {
    concurrent_messages_are_serialised("");
}

#[test]
fn concurrent_messages_for_one_conversation_are_serialised_by_redis() {
    let Some(redis) = service("redis") else {
        return;
    };
    concurrent_messages_are_serialised(&format!(
        "lock_store:\n  type: redis\n  url: {}\n  port: {}\n  key_prefix: {}\n",
        redis.ip(),
        redis.port(),
        unique("serving")
    ));
}

// ---------------------------------------------------------------------------------------
// 3. A broken action server.
// ---------------------------------------------------------------------------------------

/// The reply of the custom-action project after `action_custom`, whatever the action did.
const AFTER_ACTION: &str = "The custom action has run.";
/// What the working action server says.
const FROM_ACTION_SERVER: &str = "Hello from the action server";

#[test]
fn a_broken_action_server_never_takes_the_server_down() {
    let project = Project::with_custom_action();
    let action_server = ActionServer::start();
    let endpoints = project.endpoints(
        "actions",
        &format!("action_endpoint:\n  url: {}\n", action_server.url),
    );
    let mut server = project.start(&endpoints, &["--enable-api", "--response-timeout", "2"]);
    let addr = server.addr.clone();

    // A turn whose action server never answers...
    let slow = thread::spawn(move || webhook(&addr, "slow-1", "/ask_custom"));
    let got = action_server
        .slow_calls
        .recv_timeout(CLIENT_TIMEOUT)
        .expect("the action server got the slow request");
    assert_eq!(got, "slow-1");
    // ...does not hold up other conversations.
    assert_eq!(turn(&server, "other-1", "/greet"), ["Hello!"]);
    assert_eq!(
        turn(&server, "ok-1", "/ask_custom"),
        [FROM_ACTION_SERVER, AFTER_ACTION]
    );
    // A 500, an answer that is not JSON and a hang-up: the action fails, the turn goes on.
    for sender in ["fail-1", "garbage-1", "hangup-1"] {
        assert_eq!(
            turn(&server, sender, "/ask_custom"),
            [AFTER_ACTION],
            "{sender}"
        );
    }
    // The slow call times out (--response-timeout) and that turn is answered too.
    let slow = slow.join().unwrap().expect("the slow turn is answered");
    assert_eq!(slow.status, 200, "{}", slow.body);
    assert_eq!(reply_texts(&slow), [AFTER_ACTION]);
    // The failed action is in the tracker, followed by the rest of the turn.
    let events = server.tracker("fail-1");
    let turns = split_turns(&events).unwrap();
    let actions: Vec<&str> = turns[0].actions.iter().map(String::as_str).collect();
    assert_eq!(
        actions,
        ["action_custom", "utter_after_action", "action_listen"]
    );
    // The conversation goes on.
    assert_eq!(turn(&server, "fail-1", "/greet"), ["Hello!"]);
    server.wait_for_log("the action failed", 4); // each failure is logged

    // An action server that is not there at all.
    let closed = closed_port();
    let endpoints = project.endpoints(
        "no-actions",
        &format!("action_endpoint:\n  url: http://127.0.0.1:{closed}/webhook\n"),
    );
    // With -v, the failure's log lines name the turn's spans; they must not name the user
    // (the spans carry the sender id as an attribute).
    let mut lonely = project.start(&endpoints, &["-v"]);
    let sender = "CanarySenderZq";
    assert_eq!(turn(&lonely, sender, "/ask_custom"), [AFTER_ACTION]);
    assert_eq!(turn(&lonely, sender, "/greet"), ["Hello!"]);
    lonely.wait_for_log("the action failed", 1);
    lonely.wait_for_log("Agent.handle_message:", 1);
    assert!(!lonely.log().contains(sender), "{}", lonely.log());

    assert!(server.terminate().success(), "{}", server.log());
    assert!(lonely.terminate().success(), "{}", lonely.log());
}

/// How long after the turn that sets it the test action server's reminder is due.
const REMINDER_DELAY: Duration = Duration::from_millis(600);

/// A custom action's reminder fires as an external event of its conversation (the intent
/// handled without NLU, and the bot answers in the tracker); a reminder killed by a user
/// message, or cancelled by a later action, does not fire.
#[test]
fn reminders_fire_as_external_events_unless_outdated_or_cancelled() {
    let project = Project::with_custom_action();
    let action_server = ActionServer::start();
    let endpoints = project.endpoints(
        "actions",
        &format!("action_endpoint:\n  url: {}\n", action_server.url),
    );
    let mut server = project.start(&endpoints, &["--enable-api"]);
    for sender in ["remind-1", "remindkill-1", "remindcancel-1"] {
        assert_eq!(
            turn(&server, sender, "/ask_custom"),
            [AFTER_ACTION],
            "{sender}"
        );
    }
    // The user writes after the killable reminder was set; the cancelling action runs.
    assert_eq!(turn(&server, "remindkill-1", "/greet"), ["Hello!"]);
    assert_eq!(
        turn(&server, "remindcancel-1", "/ask_custom"),
        [AFTER_ACTION]
    );

    let external = |sender: &str| -> Vec<Value> {
        server
            .tracker(sender)
            .into_iter()
            .skip_while(|e| e["text"] != "EXTERNAL: greet")
            .collect()
    };
    poll_until(CLIENT_TIMEOUT, "the reminder fired", || {
        !external("remind-1").is_empty()
    });
    let fired = external("remind-1");
    assert_eq!(fired[0]["event"], "user");
    assert_eq!(fired[0]["parse_data"]["intent"]["name"], "greet");
    assert_eq!(fired[0]["metadata"]["is_external"], true);
    assert_eq!(fired[0]["input_channel"], "rest");
    let said: Vec<&str> = fired
        .iter()
        .filter(|e| e["event"] == "bot")
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(said, ["Hello!"]);
    // The others were due at the same time: give them as long again, then look.
    thread::sleep(REMINDER_DELAY * 2);
    assert!(
        external("remindkill-1").is_empty(),
        "a killed reminder fired"
    );
    assert!(
        external("remindcancel-1").is_empty(),
        "a cancelled reminder fired"
    );
    assert!(server.terminate().success(), "{}", server.log());
}

/// A client that goes away while its turn runs (a front end that timed out, a closed tab)
/// must neither lose the turn nor keep the conversation locked (the turn runs to its end
/// in a task of its own; a cancelled holder's lock is released when it is dropped).
#[test]
fn a_client_that_goes_away_neither_loses_its_turn_nor_blocks_the_conversation() {
    let project = Project::with_custom_action();
    let action_server = ActionServer::start();
    let endpoints = project.endpoints(
        "actions",
        &format!("action_endpoint:\n  url: {}\n", action_server.url),
    );
    let server = project.start(&endpoints, &["--enable-api", "--response-timeout", "2"]);
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    let body = json!({"sender": "slow-gone", "message": "/ask_custom"}).to_string();
    write!(
        stream,
        "POST /webhooks/rest/webhook HTTP/1.1\r\nhost: rusa\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    assert_eq!(
        action_server
            .slow_calls
            .recv_timeout(CLIENT_TIMEOUT)
            .unwrap(),
        "slow-gone"
    );
    drop(stream);
    // The turn is finished (the action times out, the rule goes on) and stored.
    poll_until(CLIENT_TIMEOUT, "the abandoned turn to be stored", || {
        split_turns(&server.tracker("slow-gone")).is_ok_and(|turns| turns.len() == 1)
    });
    // The next message follows it.
    assert_eq!(turn(&server, "slow-gone", "/greet"), ["Hello!"]);
    let texts: Vec<String> = split_turns(&server.tracker("slow-gone"))
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(texts, ["/ask_custom", "/greet"]);
}

// ---------------------------------------------------------------------------------------
// 4. A broken event broker.
// ---------------------------------------------------------------------------------------

#[test]
fn a_broker_that_is_down_never_fails_a_turn_nor_blocks_shutdown() {
    let project = Project::moodbot();
    let endpoints = project.endpoints(
        "broker-down",
        &format!(
            "event_broker:\n  type: pika\n  url: 127.0.0.1\n  port: {}\n  username: guest\n  \
             password: guest\n  queues:\n    - {}\n",
            closed_port(),
            unique("nowhere")
        ),
    );
    let mut server = project.start(&endpoints, &[]);
    for n in 0..20 {
        let sender = format!("broker-down-{}", n % 4);
        let reply = webhook(&server.addr, &sender, MOODS[n % MOODS.len()]).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(!reply_texts(&reply).is_empty(), "{}", reply.body);
    }
    server.wait_for_log("cannot publish events", 1);
    assert!(server.is_running(), "{}", server.log());
    // SIGTERM: the server gives the broker its flush budget, then stops.
    let status = server.terminate();
    assert!(status.success(), "{status}: {}", server.log());
    let log = server.log();
    assert!(
        log.contains("events still waiting to be published when the flush budget ran out"),
        "{log}"
    );
    assert!(log.contains("rusa stopped"), "{log}");
}

// ---------------------------------------------------------------------------------------
// 5. A tracker store that fails, or cannot be reached at start.
// ---------------------------------------------------------------------------------------

#[test]
fn a_tracker_store_error_is_a_500_and_the_server_recovers() {
    let Some(pg) = service("postgresql") else {
        return;
    };
    let services = Services::new(Some(pg), None);
    let project = Project::moodbot();
    let endpoints = project.endpoints(
        "postgresql",
        &format!(
            "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: {}\n  port: {}\n  \
             username: postgres\n  db: {}\n",
            pg.ip(),
            pg.port(),
            services.db
        ),
    );
    let server = project.start(&endpoints, &[]);
    let sender = unique("refused");
    assert_eq!(turn(&server, &sender, "hi"), ["Hey! How are you?"]);
    // From now on the database refuses new rows.
    services.execute("ALTER TABLE events ADD CONSTRAINT refuse_rows CHECK (false) NOT VALID");
    let reply = webhook(&server.addr, &sender, "I am sad").unwrap();
    assert_eq!(reply.status, 500, "{}", reply.body);
    let error = reply.json();
    assert_eq!(
        (&error["status"], &error["reason"], &error["code"]),
        (&json!("failure"), &json!("ServerError"), &json!(500))
    );
    assert!(
        !reply.body.contains("refuse_rows") && !reply.body.contains("constraint"),
        "a 5xx answer shows no internals: {}",
        reply.body
    );
    server.wait_for_log("refuse_rows", 1); // the cause is logged
    // The server is up, and once the database takes rows again the conversation goes on
    // from what was stored: the failed turn left nothing behind.
    let health = request(&server.addr, "GET", "/webhooks/rest/", None).unwrap();
    assert_eq!(health.status, 200);
    services.execute("ALTER TABLE events DROP CONSTRAINT refuse_rows");
    assert_eq!(
        turn(&server, &sender, "I am sad"),
        ["Here is something to cheer you up:", "Did that help you?"]
    );
    let rows = services.tracker_rows(&[&sender]);
    let stored: Vec<String> = split_turns(&rows[&sender])
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(stored, ["hi", "I am sad"]);
}

#[test]
fn a_tracker_or_lock_store_out_of_reach_stops_the_start() {
    let project = Project::moodbot();
    for (name, entry) in [
        (
            "no-postgresql",
            format!(
                "tracker_store:\n  type: SQL\n  dialect: postgresql\n  url: 127.0.0.1\n  \
                 port: {}\n  username: postgres\n  db: rusa\n",
                closed_port()
            ),
        ),
        (
            "no-redis",
            format!(
                "lock_store:\n  type: redis\n  url: 127.0.0.1\n  port: {}\n",
                closed_port()
            ),
        ),
    ] {
        let endpoints = project.endpoints(name, &entry);
        let mut child = rusa(project.path())
            .args([
                "run",
                "--port",
                "0",
                "--interface",
                "127.0.0.1",
                "--endpoints",
            ])
            .arg(&endpoints)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = wait_for_exit(&mut child, START_TIMEOUT);
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(1), "{name}: {err}");
        let file = format!("endpoints-{name}.yml:1:1");
        assert!(err.contains(&file), "{name}: the entry is named: {err}");
        assert!(!err.contains("rusa is serving"), "{name}: {err}");
    }
}

// ---------------------------------------------------------------------------------------
// 6. Two servers behind a load balancer (docs/deployment.md).
// ---------------------------------------------------------------------------------------

#[test]
fn two_servers_share_conversations_over_redis_postgresql_and_rabbitmq() {
    let (Some(pg), Some(redis), Some(rabbit)) =
        (service("postgresql"), service("redis"), service("rabbitmq"))
    else {
        return;
    };
    let services = Services::new(Some(pg), Some(rabbit));
    let project = Project::moodbot_with_custom_action();
    let actions = ActionServer::start();
    let endpoints = project.endpoints(
        "deployment",
        &format!(
            "action_endpoint:
  url: {actions_url}
tracker_store:
  type: SQL
  dialect: postgresql
  url: {pg_host}
  port: {pg_port}
  username: postgres
  db: {db}
lock_store:
  type: redis
  url: {redis_host}
  port: {redis_port}
  key_prefix: {prefix}
event_broker:
  type: pika
  url: {rabbit_host}
  port: {rabbit_port}
  username: guest
  password: guest
  queues:
    - {queue}
  exchange_name: {exchange}
",
            actions_url = actions.url,
            pg_host = pg.ip(),
            pg_port = pg.port(),
            db = services.db,
            redis_host = redis.ip(),
            redis_port = redis.port(),
            prefix = unique("serving"),
            rabbit_host = rabbit.ip(),
            rabbit_port = rabbit.port(),
            queue = services.queue,
            exchange = services.exchange,
        ),
    );
    // Both start at once on a database that does not exist yet.
    let (mut a, mut b) = thread::scope(|s| {
        let a = s.spawn(|| project.start(&endpoints, &["--enable-api"]));
        let b = s.spawn(|| project.start(&endpoints, &["--enable-api"]));
        (a.join().unwrap(), b.join().unwrap())
    });

    // Rasa's recorded demo conversation, its messages alternately to either server, one
    // after the other: each answer depends on the turn the other server handled before.
    let sequential = unique("alternate");
    let mut answers = Vec::new();
    for (n, exchange) in demo_conversation().iter().enumerate() {
        let server = if n % 2 == 0 { &a } else { &b };
        let text = exchange["request"]["message"].as_str().unwrap();
        let reply = webhook(&server.addr, &sequential, text).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let mut expected = exchange["response"].clone();
        for payload in expected.as_array_mut().unwrap() {
            payload["recipient_id"] = json!(sequential);
        }
        assert_eq!(reply.json(), expected, "turn {n} ({text:?})");
        answers.push((text.to_owned(), reply_texts(&reply)));
    }
    // Another, with both servers receiving messages at the same time, each message running
    // a custom action that takes a while.
    let concurrent = unique("busy-both");
    let concurrent_answers = send_at_once(&[&a.addr, &b.addr], &concurrent, 16, custom_message);
    assert_eq!(actions.calls(&concurrent), 16);
    assert_eq!(
        actions.most_at_once(),
        1,
        "two servers ran turns of one conversation at the same time"
    );

    let stored = services.tracker_rows(&[&sequential, &concurrent]);
    let order = check_serialised(&stored[&sequential], &answers);
    let sent: Vec<&str> = answers.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        order, sent,
        "the turns are stored in the order they were sent"
    );
    check_serialised(&stored[&concurrent], &concurrent_answers);
    // Either server shows what the other stored.
    for server in [&a, &b] {
        assert_eq!(server.tracker(&sequential), stored[&sequential]);
        assert_eq!(server.tracker(&concurrent), stored[&concurrent]);
    }

    // SIGTERM flushes what each broker holds; then the queue has every event exactly once.
    assert!(a.terminate().success(), "{}", a.log());
    assert!(b.terminate().success(), "{}", b.log());
    let mut published: HashMap<String, Vec<Value>> = HashMap::new();
    for mut message in services.drain_queue() {
        let sender = message
            .as_object_mut()
            .and_then(|m| m.remove("sender_id"))
            .and_then(|s| s.as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("a message without sender_id: {message}"));
        published.entry(sender).or_default().push(message);
    }
    assert_eq!(
        published.keys().collect::<std::collections::BTreeSet<_>>(),
        [&sequential, &concurrent].into_iter().collect(),
        "only the test's conversations were published"
    );
    for sender in [&sequential, &concurrent] {
        check_published(sender, &stored[sender], &published[sender]);
    }
}

/// Every stored event was published exactly once, and each turn's events in their order
/// (two servers publish independently, so turns of different servers may interleave).
fn check_published(sender: &str, stored: &[Value], published: &[Value]) {
    let key = |v: &Value| v.to_string();
    let mut expected: Vec<String> = stored.iter().map(key).collect();
    let mut got: Vec<String> = published.iter().map(key).collect();
    expected.sort();
    got.sort();
    assert_eq!(
        got.len(),
        expected.len(),
        "{sender}: {} events published, {} stored",
        got.len(),
        expected.len()
    );
    assert_eq!(
        got, expected,
        "{sender}: published events differ from stored"
    );
    let position: HashMap<String, usize> = published
        .iter()
        .enumerate()
        .map(|(i, v)| (key(v), i))
        .collect();
    for turn in split_turns(stored).unwrap() {
        let places: Vec<usize> = stored[turn.range.clone()]
            .iter()
            .map(|e| position[&key(e)])
            .collect();
        assert!(
            places.is_sorted(),
            "{sender}: the events of turn {:?} were published out of order: {places:?}",
            turn.text
        );
    }
}

/// A fresh PostgreSQL database name and RabbitMQ queue and exchange names for one test;
/// the database is dropped and the queue and exchange deleted when the test ends, failed
/// or not.
struct Services {
    pg: Option<SocketAddr>,
    rabbit: Option<SocketAddr>,
    db: String,
    queue: String,
    exchange: String,
}

impl Services {
    fn new(pg: Option<SocketAddr>, rabbit: Option<SocketAddr>) -> Self {
        Self {
            pg,
            rabbit,
            db: unique("rusa_serving_"),
            queue: unique("rusa_serving_"),
            exchange: unique("rusa_serving_"),
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    }

    async fn pg_client(&self, db: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let pg = self.pg.expect("the test uses PostgreSQL");
        let (client, connection) = tokio_postgres::Config::new()
            .host(pg.ip().to_string())
            .port(pg.port())
            .user("postgres")
            .dbname(db)
            .connect(tokio_postgres::NoTls)
            .await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Runs SQL in the test database.
    fn execute(&self, sql: &str) {
        Self::runtime().block_on(async {
            let client = self.pg_client(&self.db).await.expect("the test database");
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }

    /// The `data` column of each conversation's rows, in row order.
    fn tracker_rows(&self, senders: &[&str]) -> HashMap<String, Vec<Value>> {
        Self::runtime().block_on(async {
            let client = self.pg_client(&self.db).await.expect("the test database");
            let mut rows = HashMap::new();
            for sender in senders {
                let events: Vec<Value> = client
                    .query(
                        "SELECT data FROM events WHERE sender_id = $1 ORDER BY id",
                        &[sender],
                    )
                    .await
                    .expect("the events table")
                    .iter()
                    .map(|row| serde_json::from_str(row.get::<_, &str>(0)).expect("event JSON"))
                    .collect();
                rows.insert((*sender).to_owned(), events);
            }
            rows
        })
    }

    fn amqp_arguments(&self) -> amqprs::connection::OpenConnectionArguments {
        let rabbit = self.rabbit.expect("the test uses RabbitMQ");
        amqprs::connection::OpenConnectionArguments::new(
            &rabbit.ip().to_string(),
            rabbit.port(),
            "guest",
            "guest",
        )
    }

    /// Every message in the queue (all servers have stopped, so nothing more comes).
    fn drain_queue(&self) -> Vec<Value> {
        use amqprs::channel::BasicGetArguments;
        Self::runtime().block_on(async {
            let connection = amqprs::connection::Connection::open(&self.amqp_arguments())
                .await
                .expect("connect to RabbitMQ");
            let channel = connection.open_channel(None).await.expect("a channel");
            let mut messages = Vec::new();
            while let Some((_, _, body)) = channel
                .basic_get(BasicGetArguments::new(&self.queue).no_ack(true).finish())
                .await
                .expect("basic.get")
            {
                messages.push(serde_json::from_slice(&body).expect("a JSON message"));
            }
            let _ = channel.close().await;
            let _ = connection.close().await;
            messages
        })
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        use amqprs::channel::{ExchangeDeleteArguments, QueueDeleteArguments};
        Self::runtime().block_on(async {
            if self.pg.is_some() {
                let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.db);
                let dropped = match self.pg_client("postgres").await {
                    Ok(client) => client.batch_execute(&sql).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = dropped {
                    eprintln!("could not drop test database {}: {e}", self.db);
                }
            }
            if self.rabbit.is_some() {
                let Ok(connection) =
                    amqprs::connection::Connection::open(&self.amqp_arguments()).await
                else {
                    eprintln!("could not delete test queue {}", self.queue);
                    return;
                };
                if let Ok(channel) = connection.open_channel(None).await {
                    let _ = channel
                        .queue_delete(QueueDeleteArguments::new(&self.queue))
                        .await;
                    let _ = channel
                        .exchange_delete(ExchangeDeleteArguments::new(&self.exchange))
                        .await;
                    let _ = channel.close().await;
                }
                let _ = connection.close().await;
            }
        });
    }
}

// ---------------------------------------------------------------------------------------
// Conversations: sending, and checking what was stored.
// ---------------------------------------------------------------------------------------

/// Messages moodbot understands, for turns that do something.
const MOODS: &[&str] = &[
    "hello",
    "I am sad",
    "yes",
    "great",
    "no",
    "are you a bot?",
    "bye",
];

/// The requests and answers of the conversation moodbot had with Rasa 3.6.
fn demo_conversation() -> Vec<Value> {
    let path = fixtures().join("moodbot/samples/rest_conversation_demo_sad_path.jsonl");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A message that runs `action_custom`, numbered (`/ask_custom{"n": "7"}`).
fn custom_message(i: usize) -> String {
    format!(r#"/ask_custom{{"n": "{i}"}}"#)
}

/// Sends messages `0..n` (made by `message`) to one conversation, all at once, spread over
/// `servers`; each must be answered. Returns each message with the texts answered to it.
fn send_at_once(
    servers: &[&str],
    sender: &str,
    n: usize,
    message: fn(usize) -> String,
) -> Vec<(String, Vec<String>)> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let addr = servers[i % servers.len()].to_owned();
            let sender = sender.to_owned();
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let text = message(i);
                barrier.wait();
                let reply = webhook(&addr, &sender, &text);
                (text, reply)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| {
            let (text, reply) = h.join().unwrap();
            let reply = reply.unwrap_or_else(|e| panic!("{text:?} was not answered: {e}"));
            assert_eq!(reply.status, 200, "{text:?}: {}", reply.body);
            (text, reply_texts(&reply))
        })
        .collect()
}

/// One stored turn: a user event and what followed it up to the next user event.
#[derive(Debug)]
struct StoredTurn {
    text: String,
    range: std::ops::Range<usize>,
    actions: Vec<String>,
    bot_texts: Vec<String>,
}

/// The `event` of an event's JSON.
fn kind(event: &Value) -> &str {
    event["event"].as_str().unwrap_or_default()
}

/// The name of an `action` event.
fn action(event: &Value) -> Option<&str> {
    (kind(event) == "action").then(|| event["name"].as_str().unwrap_or_default())
}

/// Splits a conversation's events into turns. Errors unless the conversation started one
/// session before the first message, each turn ends with `action_listen` and has no other,
/// and no event of a turn is older than an event of the turn before (a turn that ran beside
/// another would have).
fn split_turns(events: &[Value]) -> Result<Vec<StoredTurn>, String> {
    let first_user = events.iter().position(|e| kind(e) == "user");
    let prefix = &events[..first_user.unwrap_or(events.len())];
    let prefix_actions: Vec<&str> = prefix.iter().filter_map(action).collect();
    if prefix_actions != ["action_session_start", "action_listen"] {
        return Err(format!(
            "before the first message: {prefix_actions:?}, not one session start"
        ));
    }
    let starts: Vec<usize> = (0..events.len())
        .filter(|&i| kind(&events[i]) == "user")
        .collect();
    let stamp = |e: &Value| e["timestamp"].as_f64().unwrap_or(f64::NAN);
    let mut latest = prefix.iter().map(stamp).fold(f64::NEG_INFINITY, f64::max);
    let mut turns = Vec::new();
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(events.len());
        let body = &events[start..end];
        // Within a turn an action is stamped after the messages it sent (as in Rasa);
        // between turns, time goes forward.
        let earliest = body.iter().map(stamp).fold(f64::INFINITY, f64::min);
        if earliest < latest {
            return Err(format!(
                "turn {:?} has an event stamped {earliest}, before the previous turn's last \
                 event ({latest}): the two turns ran at the same time",
                events[start]["text"]
            ));
        }
        latest = body.iter().map(stamp).fold(latest, f64::max);
        let actions: Vec<String> = body.iter().filter_map(action).map(str::to_owned).collect();
        let text = events[start]["text"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let listens = actions.iter().filter(|a| *a == "action_listen").count();
        if action(&events[end - 1]) != Some("action_listen") || listens != 1 {
            return Err(format!(
                "turn {text:?} is not one whole turn ending with action_listen: {actions:?}"
            ));
        }
        let bot_texts = body
            .iter()
            .filter(|e| kind(e) == "bot")
            .filter_map(|e| e["text"].as_str().map(str::to_owned))
            .collect();
        turns.push(StoredTurn {
            text,
            range: start..end,
            actions,
            bot_texts,
        });
    }
    Ok(turns)
}

/// Checks that the conversation holds exactly the messages sent, each once, each as one
/// whole turn whose bot events are what its sender was answered. Returns the messages in
/// stored order.
fn check_serialised(events: &[Value], answers: &[(String, Vec<String>)]) -> Vec<String> {
    let turns = split_turns(events).unwrap_or_else(|e| panic!("{e}\n{events:#?}"));
    assert_eq!(
        turns.len(),
        answers.len(),
        "{} user messages stored for {} sent",
        turns.len(),
        answers.len()
    );
    let answered: HashMap<&str, &Vec<String>> =
        answers.iter().map(|(t, r)| (t.as_str(), r)).collect();
    let mut seen = std::collections::HashSet::new();
    for turn in &turns {
        assert!(seen.insert(&turn.text), "{:?} stored twice", turn.text);
        let Some(replies) = answered.get(turn.text.as_str()) else {
            panic!("{:?} was stored but never sent", turn.text);
        };
        assert_eq!(
            &turn.bot_texts, *replies,
            "turn {:?}: stored bot events differ from the answer",
            turn.text
        );
    }
    turns.into_iter().map(|t| t.text).collect()
}

/// One webhook turn that must be answered with 200; the texts of the answer.
fn turn(server: &Server, sender: &str, text: &str) -> Vec<String> {
    let reply = webhook(&server.addr, sender, text)
        .unwrap_or_else(|e| panic!("{sender} {text:?}: {e}\n{}", server.log()));
    assert_eq!(reply.status, 200, "{sender} {text:?}: {}", reply.body);
    reply_texts(&reply)
}

fn webhook(addr: &str, sender: &str, text: &str) -> std::io::Result<Response> {
    let body = json!({"sender": sender, "message": text}).to_string();
    request(addr, "POST", "/webhooks/rest/webhook", Some(&body))
}

/// The `text`s of a REST channel answer, in order.
fn reply_texts(reply: &Response) -> Vec<String> {
    let payloads: Vec<Value> = serde_json::from_str(&reply.body)
        .unwrap_or_else(|e| panic!("the answer is not a JSON list ({e}): {}", reply.body));
    payloads
        .iter()
        .filter_map(|p| p["text"].as_str().map(str::to_owned))
        .collect()
}

// ---------------------------------------------------------------------------------------
// 7. Distributed tracing (docs/tracing.md).
// ---------------------------------------------------------------------------------------

/// Words that must never leave the process in a span: a user's message text, message
/// metadata, a slot value set by an action, and a training example.
const CANARY_TEXT: &str = "canarytextzebra";
const CANARY_META: &str = "canarymetaotter";
const CANARY_SLOT: &str = "canaryslotlynx";
const CANARY_TRAIN: &str = "canarytrainheron";

/// A caller's trace: the W3C header a front end or a CI pipeline sends.
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// A project whose `ask_custom` intent runs `action_custom`, which sets the text slot
/// `secret`; one training example carries [`CANARY_TRAIN`]. Not trained.
fn tracing_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("data")).unwrap();
    std::fs::write(root.join("config.yml"), "language: en\n").unwrap();
    std::fs::write(root.join("credentials.yml"), "rest:\n").unwrap();
    std::fs::write(
        root.join("domain.yml"),
        "version: \"3.1\"\nintents: [greet, ask_custom]\nactions: [action_custom]\n\
         slots:\n  secret:\n    type: text\n    mappings:\n    - type: custom\n\
         responses:\n  utter_greet:\n  - text: \"Hello!\"\n  utter_done:\n  - text: \"Done.\"\n",
    )
    .unwrap();
    std::fs::write(
        root.join("data/nlu.yml"),
        format!(
            "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi {CANARY_TRAIN}\n\
             - intent: ask_custom\n  examples: |\n    - run the custom action\n    - do it\n"
        ),
    )
    .unwrap();
    std::fs::write(
        root.join("data/rules.yml"),
        "rules:\n- rule: greet\n  steps:\n  - intent: greet\n  - action: utter_greet\n\
         - rule: custom\n  steps:\n  - intent: ask_custom\n  - action: action_custom\n  \
         - action: utter_done\n",
    )
    .unwrap();
    dir
}

/// An action server whose every action sets `secret` to [`CANARY_SLOT`]; it records the
/// `traceparent` header of each call (`None` when there was none).
fn tracing_action_server() -> (String, Arc<Mutex<Vec<Option<String>>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhook", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let record = Arc::clone(&seen);
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut traceparent) = (0usize, None);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if let Some(v) = lower.strip_prefix("traceparent:") {
                    traceparent = Some(v.trim().to_owned());
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            record.lock().unwrap().push(traceparent);
            let answer = json!({
                "events": [{"event": "slot", "name": "secret", "value": CANARY_SLOT}],
                "responses": [],
            })
            .to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{answer}",
                answer.len()
            );
        }
    });
    (url, seen)
}

/// The bytes the receiver got contain none of the canaries.
fn assert_no_canary(receiver: &rusa_otel::testing::Receiver) {
    let raw: Vec<u8> = receiver.raw().concat();
    assert!(!raw.is_empty());
    for canary in [CANARY_TEXT, CANARY_META, CANARY_SLOT, CANARY_TRAIN] {
        assert!(
            !raw.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "{canary} was exported"
        );
    }
}

#[test]
fn a_traced_training_and_turn_reach_the_back_end_in_the_callers_trace_without_user_data() {
    let receiver = rusa_otel::testing::Receiver::http();
    let (action_url, seen) = tracing_action_server();
    let project = tracing_project();
    let root = project.path();
    std::fs::write(
        root.join("endpoints.yml"),
        format!(
            "action_endpoint:\n  url: {action_url}\ntracing:\n  type: otlp\n  \
             endpoint: http://127.0.0.1:{}/v1/traces\n",
            receiver.addr.port()
        ),
    )
    .unwrap();

    // A CI pipeline's training, part of the pipeline's trace.
    let out = rusa(root)
        .arg("train")
        .env("TRACEPARENT", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The command flushed before it exited: the spans are there without waiting.
    let spans = receiver.spans();
    let train = spans
        .iter()
        .find(|s| s.name == "GraphTrainer.train")
        .unwrap_or_else(|| panic!("no GraphTrainer.train in {spans:#?}"));
    assert_eq!(train.trace_id, CALLER_TRACE);
    assert_eq!(train.parent_span_id, CALLER_SPAN);
    assert_eq!(train.service_name, "rusa");
    let nodes = spans
        .iter()
        .filter(|s| s.name.starts_with("GraphNode."))
        .count();
    assert!(nodes >= 3, "{spans:#?}");
    assert!(
        spans
            .iter()
            .filter(|s| s.name.starts_with("GraphNode."))
            .all(|s| s.parent_span_id == train.span_id)
    );

    // `rusa shell` traces its turns and `rusa test` the stories it replays.
    let mut shell = rusa(root)
        .arg("shell")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(format!("hello {CANARY_TEXT}\n").as_bytes())
        .unwrap();
    let out = shell.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Hello!"));
    std::fs::create_dir_all(root.join("tests")).unwrap();
    std::fs::write(
        root.join("tests/test_stories.yml"),
        "stories:\n- story: greet\n  steps:\n  - user: |\n      hello\n    intent: greet\n  \
         - action: utter_greet\n",
    )
    .unwrap();
    let out = rusa(root).args(["test", "core"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let spans = receiver.spans();
    let shell_turn = spans
        .iter()
        .find(|s| s.name == "Agent.handle_message")
        .unwrap_or_else(|| panic!("no shell turn in {spans:#?}"));
    assert_eq!(shell_turn.attributes["input_channel"], "cmdline");
    let story = spans
        .iter()
        .find(|s| s.name == "Evaluation.test_story")
        .unwrap_or_else(|| panic!("no replayed story in {spans:#?}"));
    assert_eq!(story.attributes["passed"], "true");
    assert!(
        spans
            .iter()
            .any(|s| s.name == "MessageProcessor._predict_next_with_tracker"
                && s.parent_span_id == story.span_id)
    );

    // A turn sent by a front end with its trace context; stopped with SIGTERM.
    let mut cmd = rusa(root);
    cmd.args(["run", "--port", "0", "--interface", "127.0.0.1"]);
    let mut server = Server::start(cmd);
    let body = json!({
        "sender": "tracing-user",
        "message": format!("run the custom action {CANARY_TEXT}"),
        "metadata": {"note": CANARY_META},
    })
    .to_string();
    let traceparent = format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01");
    let reply = request_with(
        &server.addr,
        "POST",
        "/webhooks/rest/webhook",
        Some(&body),
        &[("traceparent", &traceparent)],
    )
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply_texts(&reply), ["Done."]);
    let traceresponse = reply
        .headers
        .iter()
        .find(|(k, _)| k == "traceresponse")
        .map(|(_, v)| v.clone())
        .expect("the answer names its trace");
    assert!(traceresponse.starts_with(&format!("00-{CALLER_TRACE}-")));
    assert!(server.terminate().success(), "{}", server.log());

    let spans = receiver.spans();
    let turn: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == CALLER_TRACE && s.name != "GraphTrainer.train")
        .collect();
    let names: Vec<&str> = turn.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "POST /webhooks/rest/webhook",
        "Agent.handle_message",
        "MessageProcessor.handle_message",
        "InMemoryLockStore.lock",
        "MessageProcessor.get_tracker",
        "MessageProcessor.log_message",
        "MessageProcessor._run_prediction_loop",
        "MessageProcessor._predict_next_with_tracker",
        "MessageProcessor._run_action",
        "EndpointConfig.request",
        "MessageProcessor.save_tracker",
        "InMemoryTrackerStore._stream_new_events",
    ] {
        assert!(names.contains(&expected), "{expected} missing: {names:?}");
    }
    let server_span = turn
        .iter()
        .find(|s| s.name == "POST /webhooks/rest/webhook")
        .unwrap();
    assert_eq!(server_span.parent_span_id, CALLER_SPAN);
    assert_eq!(
        traceresponse,
        format!("00-{CALLER_TRACE}-{}-01", server_span.span_id)
    );
    let request_span = turn
        .iter()
        .find(|s| s.name == "EndpointConfig.request")
        .unwrap();
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [Some(format!(
            "00-{CALLER_TRACE}-{}-01",
            request_span.span_id
        ))]
    );
    assert_no_canary(&receiver);
    assert!(!server.log().contains("did not reach"), "{}", server.log());
}

#[test]
fn tracing_mistakes_in_the_endpoints_file_are_reported() {
    let project = Project::moodbot();
    let root = project.path();
    // An unknown type: one warning naming the type and the file; the command works.
    std::fs::write(
        root.join("endpoints.yml"),
        "tracing:\n  type: zipkin\n  port: 9411\n",
    )
    .unwrap();
    let out = rusa(root).arg("train").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.matches("zipkin").count(), 1, "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("endpoints.yml:2"),
        "{stderr}"
    );
    // A misspelt key: said, with the right spelling.
    std::fs::write(root.join("endpoints.yml"), "tracing:\n  tpye: jaeger\n").unwrap();
    let out = rusa(root).arg("train").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`tpye`") && stderr.contains("`type`"),
        "{stderr}"
    );
    // A value that cannot work stops the command, naming file, line and key.
    std::fs::write(
        root.join("endpoints.yml"),
        "tracing:\n  type: jaeger\n  port: sixty\n",
    )
    .unwrap();
    for command in [&["train"][..], &["run", "--port", "0"][..], &["shell"][..]] {
        let out = rusa(root).args(command).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command:?}: {stderr}");
        assert!(
            stderr.contains("endpoints.yml:3") && stderr.contains("`port`"),
            "{command:?}: {stderr}"
        );
    }
}

#[test]
fn a_tracing_back_end_that_is_down_changes_no_answer_and_no_exit_code() {
    let project = Project::with_custom_action();
    let root = project.path();
    let endpoints = project.endpoints(
        "down",
        &format!(
            "tracing:\n  type: otlp\n  endpoint: http://127.0.0.1:{}\n  timeout: 0.5\n",
            closed_port()
        ),
    );
    let out = rusa(root)
        .args(["train", "--force", "--endpoints"])
        .arg(&endpoints)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("did not reach the tracing back end"),
        "{stderr}"
    );
    assert!(
        stderr.matches("traces could not be exported").count() <= 1,
        "{stderr}"
    );
    let mut server = project.start(&endpoints, &[]);
    assert_eq!(turn(&server, "down-user", "hello"), ["Hello!"]);
    assert!(server.terminate().success(), "{}", server.log());
    let log = server.log();
    assert_eq!(
        log.matches("did not reach the tracing back end").count(),
        1,
        "{log}"
    );
    // The first failed export is said as it happens, once.
    assert_eq!(
        log.matches("traces could not be exported").count(),
        1,
        "{log}"
    );
}

// ---------------------------------------------------------------------------------------
// Projects and servers.
// ---------------------------------------------------------------------------------------

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}

/// The rusa binary with a private home and telemetry off.
fn rusa(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rusa"));
    let home = dir.join(".home");
    cmd.current_dir(dir)
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("RUSA_TELEMETRY_ENABLED", "false")
        .env_remove("RUST_LOG");
    cmd
}

/// A trained project in a temporary directory.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// The moodbot fixture (Rasa 3.6's `rasa init` project), trained.
    fn moodbot() -> Self {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixtures().join("moodbot"), dir.path());
        Self::trained(dir)
    }

    /// Moodbot, plus an `ask_custom` intent that runs `action_custom` and then says
    /// [`AFTER_ACTION`] (a rule).
    fn moodbot_with_custom_action() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        copy_dir(&fixtures().join("moodbot"), root);
        let domain = std::fs::read_to_string(root.join("domain.yml")).unwrap();
        let domain = domain
            .replacen("intents:\n", "intents:\n  - ask_custom\n", 1)
            .replacen(
                "responses:\n",
                &format!(
                    "actions:\n  - action_custom\n\nresponses:\n  utter_after_action:\n  \
                     - text: \"{AFTER_ACTION}\"\n\n"
                ),
                1,
            );
        std::fs::write(root.join("domain.yml"), domain).unwrap();
        std::fs::write(
            root.join("data/custom.yml"),
            "version: \"3.1\"\nnlu:\n- intent: ask_custom\n  examples: |\n    \
             - run the custom action\n    - run your action\nrules:\n- rule: custom\n  \
             steps:\n  - intent: ask_custom\n  - action: action_custom\n  \
             - action: utter_after_action\n",
        )
        .unwrap();
        Self::trained(dir)
    }

    /// A small project whose `ask_custom` intent runs `action_custom` and then says
    /// [`AFTER_ACTION`].
    fn with_custom_action() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data")).unwrap();
        std::fs::write(root.join("config.yml"), "language: en\n").unwrap();
        std::fs::write(root.join("credentials.yml"), "rest:\n").unwrap();
        std::fs::write(
            root.join("domain.yml"),
            format!(
                "version: \"3.1\"\nintents: [greet, ask_custom]\nactions: [action_custom]\n\
                 responses:\n  utter_greet:\n  - text: \"Hello!\"\n  utter_after_action:\n  \
                 - text: \"{AFTER_ACTION}\"\n"
            ),
        )
        .unwrap();
        std::fs::write(
            root.join("data/nlu.yml"),
            "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi\n\
             - intent: ask_custom\n  examples: |\n    - run the custom action\n    - do it\n",
        )
        .unwrap();
        std::fs::write(
            root.join("data/rules.yml"),
            "rules:\n- rule: greet\n  steps:\n  - intent: greet\n  - action: utter_greet\n\
             - rule: custom\n  steps:\n  - intent: ask_custom\n  - action: action_custom\n  \
             - action: utter_after_action\n",
        )
        .unwrap();
        Self::trained(dir)
    }

    fn trained(dir: tempfile::TempDir) -> Self {
        let out = rusa(dir.path()).arg("train").output().unwrap();
        assert!(
            out.status.success(),
            "rusa train failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `endpoints-<name>.yml` and returns its path.
    fn endpoints(&self, name: &str, yaml: &str) -> PathBuf {
        let path = self.path().join(format!("endpoints-{name}.yml"));
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// `rusa run` on a free port of 127.0.0.1, serving the project's model.
    fn start(&self, endpoints: &Path, args: &[&str]) -> Server {
        let mut cmd = rusa(self.path());
        cmd.args([
            "run",
            "--port",
            "0",
            "--interface",
            "127.0.0.1",
            "--endpoints",
        ])
        .arg(endpoints)
        .args(args);
        Server::start(cmd)
    }
}

/// A running `rusa run`; killed when dropped. Its stderr is collected as it comes.
struct Server {
    child: Child,
    addr: String,
    log: Arc<Mutex<Vec<String>>>,
    reader: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rusa run starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let (tx, rx) = mpsc::channel();
        let reader = thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    log.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some((_, rest)) = line.split_once("rusa is serving on http://") {
                        break rest
                            .split_whitespace()
                            .next()
                            .unwrap_or_default()
                            .to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "rusa run did not start:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        };
        Self {
            child,
            addr,
            log,
            reader: Some(reader),
        }
    }

    /// What the server wrote to stderr so far.
    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until the log has `pattern` at least `times` times (it is read as it comes).
    fn wait_for_log(&self, pattern: &str, times: usize) {
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        while self.log().matches(pattern).count() < times {
            assert!(
                Instant::now() < deadline,
                "{pattern:?} is not logged {times} times:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The conversation's events, read through the HTTP API (`--enable-api`).
    fn tracker(&self, sender: &str) -> Vec<Value> {
        let path = format!("/conversations/{sender}/tracker?include_events=ALL");
        let response = request(&self.addr, "GET", &path, None)
            .unwrap_or_else(|e| panic!("GET {path}: {e}\n{}", self.log()));
        assert_eq!(response.status, 200, "GET {path}: {}", response.body);
        match response.json()["events"].take() {
            Value::Array(events) => events,
            other => panic!("GET {path}: no events: {other}"),
        }
    }

    /// SIGKILL: no shutdown at all.
    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("the killed server is reaped");
        self.join_reader();
    }

    /// SIGTERM, then waits (at most [`SHUTDOWN_TIMEOUT`]) for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM was not delivered");
        let status = wait_for_exit(&mut self.child, SHUTDOWN_TIMEOUT);
        self.join_reader();
        status
    }

    fn join_reader(&mut self) {
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long the action server takes for the calls of `busy-*` conversations: long enough
/// for two turns to overlap if nothing keeps them apart (a correct server passes whatever
/// this is; it only makes a broken one fail more surely).
const BUSY_ACTION: Duration = Duration::from_millis(20);

/// A local action server that answers as the conversation's name says: `slow-*` never
/// answers (and reports the call on [`Self::slow_calls`]), `fail-*` answers 500,
/// `garbage-*` answers 200 with a body that is not JSON, `hangup-*` closes the connection
/// without a word; any other gets a bot message, `busy-*` after [`BUSY_ACTION`]. It counts
/// the calls of each conversation and the most it had of one conversation at once.
struct ActionServer {
    url: String,
    slow_calls: mpsc::Receiver<String>,
    stats: Arc<Mutex<CallStats>>,
}

#[derive(Default)]
struct CallStats {
    calls: HashMap<String, usize>,
    running: HashMap<String, usize>,
    most_at_once: usize,
}

impl ActionServer {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        let (tx, slow_calls) = mpsc::channel();
        let stats: Arc<Mutex<CallStats>> = Arc::default();
        let shared = Arc::clone(&stats);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (tx, stats) = (tx.clone(), Arc::clone(&shared));
                thread::spawn(move || Self::handle(stream, &tx, &stats));
            }
        });
        Self {
            url,
            slow_calls,
            stats,
        }
    }

    /// How many calls the conversation's turns made.
    fn calls(&self, sender: &str) -> usize {
        let stats = self.stats.lock().unwrap();
        stats.calls.get(sender).copied().unwrap_or(0)
    }

    /// The most calls of one conversation that were running at the same time.
    fn most_at_once(&self) -> usize {
        self.stats.lock().unwrap().most_at_once
    }

    fn handle(stream: TcpStream, slow: &mpsc::Sender<String>, stats: &Mutex<CallStats>) {
        let Some(body) = read_request(&stream) else {
            return;
        };
        let call: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let sender = call["sender_id"].as_str().unwrap_or_default().to_owned();
        let nth = {
            let mut stats = stats.lock().unwrap();
            let calls = stats.calls.entry(sender.clone()).or_default();
            *calls += 1;
            let nth = *calls;
            let running = stats.running.entry(sender.clone()).or_default();
            *running += 1;
            let running = *running;
            stats.most_at_once = stats.most_at_once.max(running);
            nth
        };
        let reply = Self::reply(&sender, nth, &stream, slow);
        if let Some(running) = stats.lock().unwrap().running.get_mut(&sender) {
            *running -= 1;
        }
        if let Some(reply) = reply {
            let mut stream = stream;
            let _ = stream.write_all(reply.as_bytes());
        }
    }

    /// The answer to the `nth` call of `sender`'s conversation, by the sender's prefix.
    fn reply(
        sender: &str,
        nth: usize,
        stream: &TcpStream,
        slow: &mpsc::Sender<String>,
    ) -> Option<String> {
        let answer = |status: &str, body: &str| {
            format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            )
        };
        if sender.starts_with("slow-") {
            let _ = slow.send(sender.to_owned());
            // Holds the connection until the client gives up.
            let mut stream = stream;
            let _ = stream.read_to_end(&mut Vec::new());
            return None;
        }
        if sender.starts_with("hangup-") {
            return None;
        }
        if sender.starts_with("fail-") {
            return Some(answer("500 Internal Server Error", r#"{"error": "boom"}"#));
        }
        if sender.starts_with("garbage-") {
            return Some(answer("200 OK", "<html>this is not JSON"));
        }
        if sender.starts_with("busy-") {
            thread::sleep(BUSY_ACTION);
        }
        // Reminders: `remind-` sets one (intent greet, in REMINDER_DELAY, not killed by user
        // messages), `remindkill-` one that is, `remindcancel-` sets one and cancels it on
        // the next call.
        let reminder = |kill: bool| {
            let at = time::OffsetDateTime::now_utc() + REMINDER_DELAY;
            let naive = at
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
                ))
                .unwrap();
            json!({"event": "reminder", "intent": "greet", "date_time": naive, "name": "r1", "kill_on_user_msg": kill, "entities": null})
        };
        let events = match sender.split('-').next() {
            Some("remind") => json!([reminder(false)]),
            Some("remindkill") => json!([reminder(true)]),
            Some("remindcancel") if nth == 1 => json!([reminder(false)]),
            Some("remindcancel") => json!([{"event": "cancel_reminder", "intent": "greet"}]),
            _ => json!([]),
        };
        if events.as_array().is_some_and(|e| !e.is_empty()) {
            let body = json!({"events": events, "responses": []});
            return Some(answer("200 OK", &body.to_string()));
        }
        let body = json!({"events": [], "responses": [{"text": FROM_ACTION_SERVER}]});
        Some(answer("200 OK", &body.to_string()))
    }
}

/// Reads one HTTP request's body from `stream`.
fn read_request(stream: &TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

// ---------------------------------------------------------------------------------------
// A small HTTP client, services, and waiting.
// ---------------------------------------------------------------------------------------

#[derive(Debug)]
struct Response {
    status: u16,
    /// Header names in lower case.
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection. An answer cut short (the server died while
/// sending it) is an error, never a response.
fn request(addr: &str, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Response> {
    request_with(addr, method, path, body, &[])
}

/// [`request`] with extra request headers.
fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let body = body.unwrap_or_default();
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         {extra}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!(
                "an incomplete HTTP response: {:?}",
                String::from_utf8_lossy(&raw)
            ),
        )
    })
}

/// A whole response (`content-length` or chunked), or `None`.
fn parse_response(raw: &[u8]) -> Option<Response> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut rest = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let (mut length, mut chunked) = (None, false);
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n")?;
            let size = std::str::from_utf8(&rest[..end]).ok()?;
            let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
            rest = &rest[end + 2..];
            if size == 0 {
                break;
            }
            body.extend_from_slice(rest.get(..size)?);
            rest = rest.get(size + 2..)?;
        }
        body
    } else {
        let length = length?;
        if rest.len() != length {
            return None;
        }
        rest.to_vec()
    };
    Some(Response {
        status,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

/// A port on 127.0.0.1 where nothing listens (it was free a moment ago).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The service on loopback if it answers; otherwise prints that the test skipped, or
/// panics when `RUSA_TEST_SERVICES=required` (as in CI).
fn service(name: &str) -> Option<SocketAddr> {
    let port = match name {
        "postgresql" => 5432,
        "redis" => 6379,
        "rabbitmq" => 5672,
        other => panic!("no such test service: {other}"),
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    if TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok() {
        return Some(addr);
    }
    if std::env::var("RUSA_TEST_SERVICES").is_ok_and(|v| v == "required") {
        panic!(
            "{name} is not reachable on {addr} and RUSA_TEST_SERVICES=required; \
             start it with scripts/services.sh"
        );
    }
    println!("skipped: {name} not reachable");
    None
}

/// `prefix` and digits unique to this run and call.
fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{}x{}x{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits for `child` to exit; kills it and panics after `limit`.
fn wait_for_exit(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rusa did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `done` until it holds; panics naming `what` after `limit`.
fn poll_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        thread::sleep(Duration::from_millis(10));
    }
}
