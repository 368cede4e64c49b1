//! The moodbot model the API tests share, trained once per test binary.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusa_core::agent::Agent;

/// `shared/fixtures`, beside the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures")
}

/// A moodbot model trained once for all tests of the binary, and the archive's path.
pub fn moodbot_agent() -> (Arc<Agent>, PathBuf) {
    static MODEL: Mutex<Option<(Arc<Agent>, PathBuf)>> = Mutex::new(None);
    let mut guard = MODEL.lock().unwrap();
    if let Some(m) = guard.as_ref() {
        return m.clone();
    }
    let project = rusa_project::Project::load(&rusa_project::ProjectPaths::in_dir(
        &fixtures().join("moodbot"),
    ))
    .unwrap();
    let plan = rusa_core::graph::TrainingPlan {
        training_type: rusa_core::graph::TrainingType::Both,
        pipeline: rusa_nlu::Pipeline::from_config(None, false).unwrap(),
        policies: rusa_core::policies::default_policies(),
        random_seed: 42,
        output_filename: "moodbot.tar.gz".into(),
        is_finetuning: false,
    };
    let graph = rusa_core::graph::GraphTrainer::new(None)
        .train(&project, &plan)
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "rusa-server-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("moodbot.tar.gz");
    let archive = rusa_core::archive::ModelArchive {
        metadata: rusa_core::archive::ModelMetadata::unsaved(
            "test-model-id",
            rusa_core::graph::TrainingType::Both,
            "en",
        ),
        domain: project.domain.clone(),
        nlu: graph.nlu,
        policies: graph.policies,
    };
    archive.write(&path, &|_| {}).unwrap();
    let agent = (Arc::new(Agent::load(&path).unwrap()), path);
    *guard = Some(agent.clone());
    agent
}
