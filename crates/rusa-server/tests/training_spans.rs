//! A training as the tracing back end sees it. In a test binary of its own: `tracing`
//! caches per call site, process-wide, whether a subscriber is interested, and the other
//! span tests' subscribers and trainings would share that cache with this one.

mod common;

use common::project;
use tracing_subscriber::prelude::*;

/// A training as the tracing back end sees it: `GraphTrainer.train` with the attributes of
/// the tracing spec and one `GraphNode.<Class>` child per node of the graph.
#[test]
fn a_training_exports_graph_trainer_and_one_graph_node_per_node() {
    let dir = std::env::temp_dir().join(format!("rusa-otel-train-{}", std::process::id()));
    let project = project(&dir);
    let memory = rusa_otel::testing::InMemory::new();
    let subscriber = tracing_subscriber::registry().with(memory.layer());
    let graph = tracing::subscriber::with_default(subscriber, || {
        let plan = rusa_core::graph::TrainingPlan {
            training_type: rusa_core::graph::TrainingType::Both,
            pipeline: rusa_nlu::Pipeline::from_config(None, false).unwrap(),
            policies: rusa_core::policies::default_policies(),
            random_seed: 42,
            output_filename: "20261204-bot.tar.gz".into(),
            is_finetuning: false,
        };
        rusa_core::graph::GraphTrainer::new(None)
            .train(&project, &plan)
            .unwrap()
    });
    memory.flush();
    let spans = memory.spans();
    let attr = |span: &opentelemetry_sdk::trace::SpanData, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    let trainer: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "GraphTrainer.train")
        .collect();
    assert_eq!(trainer.len(), 1);
    let trainer = trainer[0];
    assert_eq!(attr(trainer, "training_type").as_deref(), Some("BOTH"));
    assert_eq!(attr(trainer, "language").as_deref(), Some("en"));
    assert_eq!(
        attr(trainer, "output_filename").as_deref(),
        Some("20261204-bot.tar.gz")
    );
    assert_eq!(attr(trainer, "is_finetuning").as_deref(), Some("false"));
    assert!(attr(trainer, "recipe_name").is_some());
    let nodes: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("GraphNode."))
        .collect();
    assert_eq!(nodes.len(), graph.nodes.len());
    assert_eq!(
        spans.len(),
        graph.nodes.len() + 1,
        "nothing else is exported"
    );
    for (span, node) in nodes.iter().zip(&graph.nodes) {
        assert_eq!(span.parent_span_id, trainer.span_context.span_id());
        assert_eq!(
            span.span_context.trace_id(),
            trainer.span_context.trace_id()
        );
        assert_eq!(span.name, format!("GraphNode.{}", node.component_class));
        assert_eq!(attr(span, "node_name"), Some(node.node_name.clone()));
        assert_eq!(
            attr(span, "component_class"),
            Some(node.component_class.clone())
        );
        assert_eq!(attr(span, "fn_name").as_deref(), Some("train"));
    }
    let _ = std::fs::remove_dir_all(&dir);
}
