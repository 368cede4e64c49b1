//! Delivery against a real local HTTP server playing the Segment endpoint (§6, §8).

mod common;

use std::time::Duration;

use common::{WRITE_KEY, config, enabled_config, probe};
use rusa_telemetry::testing::{
    Reply, TestServer, assert_segment_batch, assert_unique_ids, closed_port_url,
};
use rusa_telemetry::{
    DeliveryMode, Event, Mode, Telemetry, events, load_backoff, pending_events, sent_events,
};
use serde_json::Value;

const PATIENCE: Duration = Duration::from_secs(20);

fn messages_of(server: &TestServer) -> Vec<Value> {
    server
        .requests()
        .iter()
        .filter(|r| r.path != "/probe")
        .flat_map(|r| assert_segment_batch(r, WRITE_KEY))
        .collect()
}

#[test]
fn every_event_arrives_in_a_valid_batch_and_is_logged_as_sent() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    assert_eq!(telemetry.mode(), Mode::Send);
    let samples = events::samples();
    for event in samples.clone() {
        telemetry.track(event);
    }
    assert!(telemetry.flush(PATIENCE), "not delivered");
    drop(telemetry);
    let messages = messages_of(&server);
    assert_eq!(messages.len(), samples.len());
    assert_unique_ids(&messages);
    let id = rusa_telemetry::read_global(config.config_file.as_deref().unwrap())
        .unwrap()
        .unwrap()
        .rusa_user_id;
    for m in &messages {
        assert_eq!(m["userId"], id.as_str());
        assert_eq!(m["properties"]["metrics_id"], id.as_str());
    }
    let names: Vec<&str> = messages
        .iter()
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = samples.iter().map(|e| e.name()).collect();
    assert_eq!(names, expected);
    assert_eq!(sent_events(&config), messages);
    assert!(pending_events(&config).is_empty());
}

#[test]
fn a_429_with_retry_after_is_retried_once_and_delivered_once() {
    let server = TestServer::start(vec![Reply::Status(
        429,
        vec![("Retry-After".into(), "1".into())],
    )]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    assert!(telemetry.flush(PATIENCE), "not delivered after the retry");
    drop(telemetry);
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "one request and one retry");
    let first = assert_segment_batch(&requests[0], WRITE_KEY);
    let second = assert_segment_batch(&requests[1], WRITE_KEY);
    assert_eq!(
        first[0]["messageId"], second[0]["messageId"],
        "a retry repeats the messageId"
    );
    assert_eq!(sent_events(&config).len(), 1);
    assert!(pending_events(&config).is_empty());
}

#[test]
fn a_5xx_twice_counts_as_a_failure_and_is_spooled() {
    let server = TestServer::start(vec![
        Reply::Status(503, vec![("Retry-After".into(), "0".into())]),
        Reply::Status(503, vec![]),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(false));
    assert!(!telemetry.flush(PATIENCE));
    drop(telemetry);
    assert_eq!(server.requests().len(), 2, "at most one retry");
    assert_eq!(pending_events(&config).len(), 1);
    assert_eq!(load_backoff(&config).consecutive_failures, 1);
}

#[test]
fn a_400_is_dropped_without_retry() {
    let server = TestServer::start(vec![Reply::Status(400, vec![])]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    assert!(telemetry.flush(PATIENCE));
    drop(telemetry);
    assert_eq!(server.requests().len(), 1);
    assert!(
        pending_events(&config).is_empty(),
        "a rejected event is not spooled"
    );
    assert!(sent_events(&config).is_empty());
    assert_eq!(load_backoff(&config).consecutive_failures, 0);
}

#[test]
fn a_silent_endpoint_costs_the_exit_budget_and_the_spool_goes_out_later() {
    let silent = TestServer::never_answering();
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &silent.url());
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    // The guard waits at most the exit budget (50 ms), then spools.
    drop(telemetry);
    let spooled = pending_events(&config);
    assert_eq!(spooled.len(), 1);
    rusa_telemetry::testing::assert_valid_message(&spooled[0]);

    // A later run against a working endpoint sends the spool.
    let server = TestServer::start(vec![]);
    let mut later = config.clone();
    later.endpoint = server.url();
    let telemetry = Telemetry::start(later.clone());
    assert!(telemetry.flush(PATIENCE));
    drop(telemetry);
    let messages = messages_of(&server);
    assert_eq!(messages, spooled, "sent exactly as spooled");
    assert!(pending_events(&later).is_empty());
}

#[test]
fn three_failures_in_a_row_back_off_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &closed_port_url());
    for run in 1..=3 {
        let telemetry = Telemetry::start(config.clone());
        telemetry.track(Event::training_data_validated(true));
        assert!(!telemetry.flush(PATIENCE));
        drop(telemetry);
        assert_eq!(load_backoff(&config).consecutive_failures, run);
    }
    let backoff = load_backoff(&config);
    assert!(backoff.active(), "{backoff:?}");
    assert_eq!(
        backoff.delay_secs,
        rusa_telemetry::env::BACKOFF_INITIAL.as_secs()
    );
    assert_eq!(pending_events(&config).len(), 3);

    // While backing off, even a working endpoint is not contacted; events are kept.
    let server = TestServer::start(vec![]);
    let mut later = config.clone();
    later.endpoint = server.url();
    let telemetry = Telemetry::start(later.clone());
    telemetry.track(Event::training_data_validated(true));
    telemetry.flush(PATIENCE);
    drop(telemetry);
    assert_eq!(probe(&server), 0, "no connection during back-off");
    assert_eq!(pending_events(&later).len(), 4);
}

/// An endpoint that accepts and never answers: each run is cut off at its exit budget with
/// the request on the wire. That counts as a failure, so after three runs the back-off is
/// active and a later run opens no connection at all.
#[test]
fn an_endpoint_that_never_answers_starts_the_back_off() {
    let silent = TestServer::never_answering();
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &silent.url());
    for run in 1..=3 {
        let telemetry = Telemetry::start(config.clone());
        telemetry.track(Event::training_data_validated(true));
        // The request is on the wire (the server has read it) before the run ends.
        let requests = silent.wait_for_requests(run, PATIENCE);
        assert_eq!(requests.len(), run, "run {run} sent its batch");
        drop(telemetry);
        assert_eq!(load_backoff(&config).consecutive_failures as usize, run);
    }
    let backoff = load_backoff(&config);
    assert!(backoff.active(), "{backoff:?}");
    assert_eq!(pending_events(&config).len(), 3, "nothing is lost");

    // The senders of the three runs are still waiting for their request timeout; when it
    // fires they do not count the same delivery again.
    std::thread::sleep(rusa_telemetry::env::REQUEST_TIMEOUT + Duration::from_millis(500));
    assert_eq!(load_backoff(&config).consecutive_failures, 3);

    // A later run does not touch the network: no new connection, events spooled.
    let connections = silent.connections();
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    assert!(!telemetry.flush(PATIENCE), "paused: nothing delivered");
    drop(telemetry);
    assert_eq!(
        silent.connections(),
        connections,
        "no connection during back-off"
    );
    assert_eq!(pending_events(&config).len(), 4);
}

#[test]
fn debug_mode_prints_and_opens_no_socket() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = enabled_config(dir.path(), &server.url());
    config.debug = true;
    let telemetry = Telemetry::start(config.clone());
    assert_eq!(telemetry.mode(), Mode::Debug);
    telemetry.track(Event::training_data_validated(true));
    drop(telemetry);
    assert_eq!(probe(&server), 0, "debug mode connected to the endpoint");
    assert!(pending_events(&config).is_empty(), "debug mode spooled");
    assert!(
        !config.state_dir.as_ref().unwrap().exists(),
        "debug mode wrote state"
    );
}

#[test]
fn no_write_key_sends_nothing() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = enabled_config(dir.path(), &server.url());
    config.write_key = None;
    let telemetry = Telemetry::start(config.clone());
    assert_eq!(telemetry.mode(), Mode::NoWriteKey);
    telemetry.track(Event::training_data_validated(true));
    drop(telemetry);
    assert_eq!(probe(&server), 0);
    assert!(pending_events(&config).is_empty());
}

#[test]
fn nothing_is_sent_in_the_first_run() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server.url());
    let first = Telemetry::start(config.clone());
    assert!(matches!(
        first.consent().rule,
        rusa_telemetry::Rule::FirstRun { .. }
    ));
    assert_eq!(first.mode(), Mode::Off);
    first.track(Event::training_data_validated(true));
    drop(first);
    assert_eq!(probe(&server), 0, "the first run sent something");
    assert!(
        pending_events(&config).is_empty(),
        "the first run spooled something"
    );

    let second = Telemetry::start(config.clone());
    assert_eq!(second.mode(), Mode::Send);
    second.track(Event::training_data_validated(true));
    assert!(second.flush(PATIENCE));
    drop(second);
    assert_eq!(messages_of(&server).len(), 1);
}

#[test]
fn a_full_queue_drops_and_counts() {
    let silent = TestServer::never_answering();
    let dir = tempfile::tempdir().unwrap();
    let mut config = enabled_config(dir.path(), &silent.url());
    config.queue_capacity = 2;
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    // The sender is now stuck in a request the server never answers.
    silent.wait_for_requests(1, PATIENCE);
    for _ in 0..3 {
        telemetry.track(Event::training_data_validated(true));
    }
    assert_eq!(telemetry.dropped_events(), 1);
    drop(telemetry);
    assert_eq!(
        pending_events(&config).len(),
        3,
        "the one in flight and the two queued are spooled"
    );
}

#[test]
fn server_mode_flushes_on_its_interval_and_at_shutdown() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = enabled_config(dir.path(), &server.url());
    config.mode = DeliveryMode::Server {
        flush_interval: Duration::from_millis(100),
    };
    let telemetry = Telemetry::start(config.clone());
    telemetry.track(Event::training_data_validated(true));
    // No flush call: the timer sends it.
    assert_eq!(server.wait_for_requests(1, PATIENCE).len(), 1);
    telemetry.track(Event::story_visualization_started());
    // Graceful shutdown: drop waits up to 2 s for the rest.
    drop(telemetry);
    let messages = messages_of(&server);
    assert_eq!(messages.len(), 2);
    assert!(pending_events(&config).is_empty());
}

#[test]
fn training_guard_records_exactly_one_start_and_one_end() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    let stats = rusa_telemetry::TrainingStats {
        language: "en".into(),
        recipe: "default.v1".into(),
        ..Default::default()
    };
    telemetry
        .track_model_training(&stats, rusa_telemetry::ModelType::Rasa, false)
        .completed();
    telemetry
        .track_model_training(&stats, rusa_telemetry::ModelType::Nlu, false)
        .failed("invalid_config");
    assert!(telemetry.flush(PATIENCE));
    drop(telemetry);
    let messages = messages_of(&server);
    let names: Vec<&str> = messages
        .iter()
        .map(|m| m["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Training Started",
            "Training Completed",
            "Training Started",
            "Training Failed"
        ]
    );
    assert_eq!(
        messages[0]["properties"]["training_id"],
        messages[1]["properties"]["training_id"]
    );
    assert_ne!(
        messages[0]["properties"]["training_id"],
        messages[2]["properties"]["training_id"]
    );
}

#[test]
fn project_init_reports_a_keyed_hash_of_the_directory() {
    let server = TestServer::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let config = enabled_config(dir.path(), &server.url());
    let telemetry = Telemetry::start(config.clone());
    telemetry.track_project_init(std::path::Path::new("/srv/secret-project"));
    assert!(telemetry.flush(PATIENCE));
    drop(telemetry);
    let m = &messages_of(&server)[0];
    let hash_key = rusa_telemetry::read_global(config.config_file.as_deref().unwrap())
        .unwrap()
        .unwrap()
        .hash_key;
    assert_eq!(
        m["properties"]["init_directory"],
        rusa_telemetry::keyed_hash(&hash_key, "/srv/secret-project")
    );
    assert!(!m.to_string().contains("secret-project"));
}
