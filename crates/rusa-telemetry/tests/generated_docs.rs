//! The generated files under docs/ must match the registry. Regenerate with
//! `RUSA_UPDATE_DOCS=1 cargo test -p rusa-telemetry --test generated_docs`.

use std::path::PathBuf;

fn docs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn updating() -> bool {
    std::env::var("RUSA_UPDATE_DOCS").is_ok_and(|v| v == "1")
}

const HOW: &str = "regenerate with `RUSA_UPDATE_DOCS=1 cargo test -p rusa-telemetry --test generated_docs` and commit the result";

fn check(path: PathBuf, expected: &str) {
    if updating() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        // Atomic, so a test reading the file meanwhile never sees half of it.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, expected).unwrap();
        std::fs::rename(&tmp, &path).unwrap();
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(actual == expected, "{} is stale: {HOW}", path.display());
}

#[test]
fn events_schema_is_current() {
    let schema =
        serde_json::to_string_pretty(&rusa_telemetry::events::json_schema()).unwrap() + "\n";
    check(docs().join("telemetry/events.schema.json"), &schema);
}

#[test]
fn events_reference_is_current() {
    check(
        docs().join("telemetry/events.md"),
        &rusa_telemetry::events::markdown(),
    );
}

const START: &str = "<!-- env-table:start (generated from crates/rusa-telemetry/src/env.rs) -->\n";
const END: &str = "<!-- env-table:end -->";

#[test]
fn environment_table_in_the_user_page_is_current() {
    let path = docs().join("telemetry.md");
    let page = std::fs::read_to_string(&path).expect("docs/telemetry.md exists");
    let (Some(start), Some(end)) = (page.find(START), page.find(END)) else {
        panic!("docs/telemetry.md lacks the env-table markers");
    };
    let expected = format!(
        "{}{START}{}{}",
        &page[..start],
        rusa_telemetry::env::markdown_table(),
        &page[end..]
    );
    check(path, &expected);
}

#[test]
fn every_sample_event_validates_against_the_committed_schema() {
    let context =
        rusa_telemetry::build_context(&rusa_telemetry::TelemetryConfig::from_lookup(|_| None), "k");
    for event in rusa_telemetry::events::samples() {
        let message = rusa_telemetry::segment_request_payload(
            "0123456789abcdef0123456789abcdef",
            event.name(),
            event.properties(),
            &context,
            "6f1c1c3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
            "2026-11-21T10:00:00.123Z",
        );
        rusa_telemetry::testing::assert_valid_message(&message);
    }
}

#[test]
fn the_checker_rejects_what_the_schema_forbids() {
    let context =
        rusa_telemetry::build_context(&rusa_telemetry::TelemetryConfig::from_lookup(|_| None), "k");
    let event = rusa_telemetry::Event::training_data_validated(true);
    let good = rusa_telemetry::segment_request_payload(
        "0123456789abcdef0123456789abcdef",
        event.name(),
        event.properties(),
        &context,
        "6f1c1c3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
        "2026-11-21T10:00:00Z",
    );
    let schema = rusa_telemetry::testing::committed_schema();
    assert!(rusa_telemetry::testing::validate(&schema, &schema, &good, "$").is_empty());
    type Mutation = Box<dyn Fn(&mut serde_json::Value)>;
    let mutations: Vec<Mutation> = vec![
        Box::new(|m| m["properties"]["validation_success"] = "yes".into()),
        Box::new(|m| m["properties"]["free_text"] = "hello".into()),
        Box::new(|m| m["event"] = "Made Up".into()),
        Box::new(|m| m["context"]["directory"] = "/home/someone".into()),
        Box::new(|m| m["context"]["hostname"] = "box".into()),
        Box::new(|m| {
            m["properties"]
                .as_object_mut()
                .unwrap()
                .remove("metrics_id");
        }),
        Box::new(|m| m["userId"] = "not-an-id".into()),
    ];
    for mutate in mutations {
        let mut bad = good.clone();
        mutate(&mut bad);
        assert!(
            !rusa_telemetry::testing::validate(&schema, &schema, &bad, "$").is_empty(),
            "accepted: {bad:#}"
        );
    }
}
