//! Training produces the spans of the tracing spec: `GraphTrainer.train` with its
//! attributes, and one `GraphNode.<ComponentClass>` child per node.

use std::path::Path;

use rusa_core::graph::{GraphTrainer, TrainingPlan, TrainingType};
use rusa_core::policies::default_policies;
use rusa_core::span_capture::{CapturedSpan, SpanCapture};
use rusa_nlu::Pipeline;
use rusa_project::{Project, ProjectPaths};
use tracing_subscriber::prelude::*;

#[test]
fn training_spans_name_every_node_with_its_attributes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/moodbot");
    let project = Project::load(&ProjectPaths::in_dir(&root)).unwrap();
    let plan = TrainingPlan {
        training_type: TrainingType::Both,
        pipeline: Pipeline::from_config(None, false).unwrap(),
        policies: default_policies(),
        random_seed: 42,
        output_filename: "20261121-000000-test.tar.gz".into(),
        is_finetuning: false,
    };
    let capture = SpanCapture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let graph = tracing::subscriber::with_default(subscriber, || {
        GraphTrainer::new(None).train(&project, &plan)
    })
    .unwrap();
    let spans = capture.spans();

    let root_span = spans
        .iter()
        .find(|s| s.name == "GraphTrainer.train")
        .expect("GraphTrainer.train span");
    assert_eq!(root_span.fields["training_type"], "BOTH");
    assert_eq!(root_span.fields["language"], "en");
    assert_eq!(root_span.fields["recipe_name"], "default.v1");
    assert_eq!(
        root_span.fields["output_filename"],
        "20261121-000000-test.tar.gz"
    );
    assert_eq!(root_span.fields["is_finetuning"], "false");

    let nodes: Vec<&CapturedSpan> = spans
        .iter()
        .filter(|s| s.name.starts_with("GraphNode."))
        .collect();
    assert_eq!(nodes.len(), graph.nodes.len());
    for (span, node) in nodes.iter().zip(&graph.nodes) {
        assert_eq!(span.name, format!("GraphNode.{}", node.component_class));
        assert_eq!(span.parent.as_deref(), Some("GraphTrainer.train"));
        assert_eq!(span.fields["node_name"], node.node_name);
        assert_eq!(span.fields["component_class"], node.component_class);
        assert_eq!(span.fields["fn_name"], "train");
    }
    assert!(
        nodes
            .iter()
            .any(|s| s.name == "GraphNode.CountVectorsFeaturizer")
    );
    assert!(nodes.iter().any(|s| s.name == "GraphNode.RulePolicy"));
}

#[test]
fn every_implemented_component_has_its_own_span_name() {
    let capture = SpanCapture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, || {
        for class in rusa_nlu::IMPLEMENTED_COMPONENTS.iter().chain(&[
            "MemoizationPolicy",
            "AugmentedMemoizationPolicy",
            "RulePolicy",
            "LogisticRegressionPolicy",
        ]) {
            let _span = rusa_core::graph::node_span(class, "n", "train");
        }
    });
    let names: Vec<String> = capture.spans().iter().map(|s| s.name.clone()).collect();
    for class in rusa_nlu::IMPLEMENTED_COMPONENTS {
        assert!(
            names.contains(&format!("GraphNode.{class}")),
            "no span name for {class}: {names:?}"
        );
    }
}
