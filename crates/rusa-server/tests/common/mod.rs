//! What the span tests share.

use std::path::Path;

/// A small project in `dir`: intent `greet`, a rule that runs the custom action
/// `action_hello`.
pub fn project(dir: &Path) -> rusa_project::Project {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("config.yml"), "language: en\n").unwrap();
    std::fs::write(
        dir.join("domain.yml"),
        "version: \"3.1\"\nintents: [greet]\nactions: [action_hello]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("data/nlu.yml"),
        "nlu:\n- intent: greet\n  examples: |\n    - hello\n    - hi\n",
    )
    .unwrap();
    std::fs::write(dir.join("data/rules.yml"), "rules:\n- rule: greet with the action server\n  steps:\n  - intent: greet\n  - action: action_hello\n").unwrap();
    rusa_project::Project::load(&rusa_project::ProjectPaths::in_dir(dir)).unwrap()
}
