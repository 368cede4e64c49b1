//! `rusa train [nlu|core]`: trains a model and writes its archive to `models/`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rusa_core::archive::{ModelArchive, ModelMetadata, newest_model};
use rusa_core::graph::{
    GraphTrainer, InputFingerprints, TrainingPlan, TrainingType, cache_dir_for, project_fingerprint,
};
use rusa_core::policies::policy_specs;
use rusa_nlu::{DEFAULT_RANDOM_SEED, NluComponent, Pipeline};
use rusa_project::{Project, ProjectPaths};

use crate::cli::{LogArgs, TrainArgs, TrainCommon, TrainPart};
use crate::error::{Outcome, UserError};

/// The archive being written, so that Ctrl-C can remove it.
static PARTIAL_ARCHIVE: Mutex<Option<PathBuf>> = Mutex::new(None);

pub fn run(args: TrainArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let (training_type, common) = match args.part {
        None => (TrainingType::Both, args.common),
        Some(part @ TrainPart::Nlu(_)) => (TrainingType::Nlu, part.into_common()),
        Some(part @ TrainPart::Core(_)) => (TrainingType::Core, part.into_common()),
    };
    if common.dry_run {
        return dry_run(training_type, &common, log);
    }
    train(training_type, &common, log)?;
    Ok(Outcome::Success)
}

/// `rusa train --dry-run`: says whether training would happen, with Rasa's exit codes.
const DRY_RUN_UP_TO_DATE: u8 = 0;
const DRY_RUN_NEEDS_TRAINING: u8 = 1;
const DRY_RUN_FORCED: u8 = 8;

fn dry_run(
    training_type: TrainingType,
    common: &TrainCommon,
    log: LogArgs,
) -> anyhow::Result<Outcome> {
    let prepared = prepare(training_type, common, log)?;
    let existing = newest_model(&common.out);
    let up_to_date = existing.as_ref().is_some_and(|path| {
        ModelArchive::read_metadata(path)
            .is_ok_and(|m| m.project_fingerprint == prepared.fingerprint)
    });
    let (code, text) = match (common.force, up_to_date, existing) {
        (true, _, _) => (
            DRY_RUN_FORCED,
            "--force: the model would be trained from scratch".to_owned(),
        ),
        (false, true, Some(path)) => (
            DRY_RUN_UP_TO_DATE,
            format!(
                "Nothing changed: no training is needed; the model is '{}'",
                path.display()
            ),
        ),
        (false, _, Some(_)) => (
            DRY_RUN_NEEDS_TRAINING,
            "The project changed since the newest model: it would be trained".to_owned(),
        ),
        (false, _, None) => (
            DRY_RUN_NEEDS_TRAINING,
            format!(
                "No model in '{}': one would be trained",
                common.out.display()
            ),
        ),
    };
    if !log.quiet {
        crate::output::print(&format!("{text}\n"))?;
    }
    Ok(if code == DRY_RUN_UP_TO_DATE {
        Outcome::Success
    } else {
        Outcome::Exited(code)
    })
}

/// A loaded, validated project and the plan to train it, with its fingerprint.
struct Prepared {
    project: Project,
    plan: TrainingPlan,
    inputs: InputFingerprints,
    fingerprint: String,
    archive_name: String,
}

/// Trains the project of `common` and writes the archive; returns its path, or `None` when
/// the newest model already matches the project (unless `--force`).
pub fn train(
    training_type: TrainingType,
    common: &TrainCommon,
    log: LogArgs,
) -> anyhow::Result<Option<PathBuf>> {
    install_interrupt_handler();
    train_keeping_signals(training_type, common, log)
}

/// `POST /model/train`: `rusa train` on the project files the request was split into, with
/// its validation, telemetry and spans; the server keeps its own signal handling. Answers the
/// archive (the newest in the output directory when nothing changed).
pub fn train_for_api(
    request: &rusa_server::TrainRequest,
) -> Result<PathBuf, rusa_server::TrainFailure> {
    #[derive(clap::Parser)]
    struct ApiTrain {
        #[command(flatten)]
        common: TrainCommon,
    }
    use clap::Parser as _;
    let mut args: Vec<std::ffi::OsString> = vec!["train".into()];
    for (flag, path) in [
        ("--domain", &request.domain),
        ("--config", &request.config),
        ("--data", &request.data),
        ("--out", &request.out),
    ] {
        args.push(flag.into());
        args.push(path.into());
    }
    if request.force {
        args.push("--force".into());
    }
    let common = ApiTrain::try_parse_from(args)
        .map_err(|e| rusa_server::TrainFailure::Failed(e.to_string()))?
        .common;
    let log = LogArgs {
        quiet: true,
        ..LogArgs::default()
    };
    match train_keeping_signals(TrainingType::Both, &common, log) {
        Ok(Some(path)) => Ok(path),
        Ok(None) => newest_model(&common.out).ok_or_else(|| {
            rusa_server::TrainFailure::Failed("nothing changed, and no model was found".into())
        }),
        Err(e)
            if e.downcast_ref::<UserError>().is_some()
                || e.downcast_ref::<rusa_project::ProjectError>().is_some() =>
        {
            Err(rusa_server::TrainFailure::Invalid(format!("{e:#}")))
        }
        Err(e) => Err(rusa_server::TrainFailure::Failed(format!("{e:#}"))),
    }
}

fn train_keeping_signals(
    training_type: TrainingType,
    common: &TrainCommon,
    log: LogArgs,
) -> anyhow::Result<Option<PathBuf>> {
    let started = Instant::now();
    let Prepared {
        project,
        plan,
        inputs,
        fingerprint,
        archive_name,
    } = prepare(training_type, common, log)?;
    if !common.force
        && let Some(existing) = newest_model(&common.out)
        && let Ok(metadata) = ModelArchive::read_metadata(&existing)
        && metadata.project_fingerprint == fingerprint
    {
        if !log.quiet {
            crate::output::print(&format!(
                "Nothing changed. You can use the model stored at '{}' (train again with --force)\n",
                existing.display()
            ))?;
        }
        return Ok(None);
    }
    train_prepared(
        training_type,
        common,
        log,
        started,
        project,
        plan,
        inputs,
        fingerprint,
        archive_name,
    )
}

/// Loads the project, says what rusa does instead of Rasa-only flags and components,
/// validates it (unless `--skip-validation`) and plans the training.
fn prepare(
    training_type: TrainingType,
    common: &TrainCommon,
    log: LogArgs,
) -> anyhow::Result<Prepared> {
    if !log.quiet {
        crate::cli::print_notices(&common.rasa_only.notices());
    }
    if common.finetune.is_some() {
        return Err(UserError::new(
            "--finetune is not supported: rusa trains its learned components (LogisticRegressionClassifier, CRFEntityExtractor, ResponseSelector, LogisticRegressionPolicy) from scratch, in well under a second for most projects",
        )
        .into());
    }
    let paths = ProjectPaths {
        domain: common.project.domain.clone(),
        data: common.project.data.clone(),
        config: common.project.config.clone(),
    };
    let project = Project::load(&paths)?;
    for warning in &project.warnings {
        eprintln!("warning: {}: {}", warning.pos, warning.message);
    }
    let pipeline =
        Pipeline::from_config(project.config.pipeline.as_deref(), common.strict_components)
            .map_err(|e| UserError::new(e.to_string()))?;
    let (policies, policy_substitutions) =
        policy_specs(project.config.policies.as_deref(), common.strict_components)
            .map_err(|e| UserError::new(e.to_string()))?;
    let place = |name: &str, list: Option<&[rusa_project::Component]>| {
        list.and_then(|l| l.iter().find(|c| c.name == name))
            .map_or_else(|| project.config.pos.to_string(), |c| c.pos.to_string())
    };
    for s in &pipeline.substitutions {
        let at = place(&s.rasa, project.config.pipeline.as_deref());
        if s.rusa.is_empty() {
            eprintln!(
                "warning: {at}: rusa has no {}; it is left out ({})",
                s.rasa, s.reason
            );
        } else {
            eprintln!(
                "warning: {at}: rusa has no {}; it uses {} instead ({})",
                s.rasa,
                s.rusa_display(),
                s.reason
            );
        }
    }
    for s in &policy_substitutions {
        let at = place(&s.rasa, project.config.policies.as_deref());
        match &s.rusa {
            Some(with) => eprintln!(
                "warning: {at}: rusa has no {}; it uses {with} instead ({})",
                s.rasa, s.reason
            ),
            None => eprintln!(
                "warning: {at}: rusa has no {}; it is left out ({})",
                s.rasa, s.reason
            ),
        }
    }
    if log.debug {
        eprint!(
            "{}",
            effective_configuration(&project, &pipeline, &policies)
        );
    }
    // As `rasa train` does: validate first, unless told not to. Training the NLU pipeline
    // alone does not need the stories to fit the domain, so it is not held up by them.
    if training_type.has_core() && !common.skip_validation {
        crate::commands::data::validate_before_training(
            &project,
            common.fail_on_validation_warnings,
            common.validation_max_history,
            log,
        )?;
    }
    check_training_data(&project, training_type)?;

    let archive_name = match &common.fixed_model_name {
        Some(name) => format!("{}.tar.gz", name.trim_end_matches(".tar.gz")),
        None => format!("{}-{}.tar.gz", timestamp_for_name(), model_nickname()),
    };
    let plan = TrainingPlan {
        training_type,
        pipeline,
        policies,
        random_seed: DEFAULT_RANDOM_SEED,
        output_filename: archive_name.clone(),
        is_finetuning: false,
    };
    let inputs = InputFingerprints::of(&project);
    let fingerprint = project_fingerprint(&project, &plan, &inputs);
    Ok(Prepared {
        project,
        plan,
        inputs,
        fingerprint,
        archive_name,
    })
}

#[allow(clippy::too_many_arguments)]
fn train_prepared(
    training_type: TrainingType,
    common: &TrainCommon,
    log: LogArgs,
    started: Instant,
    project: Project,
    plan: TrainingPlan,
    inputs: InputFingerprints,
    fingerprint: String,
    archive_name: String,
) -> anyhow::Result<Option<PathBuf>> {
    let model_type = match training_type {
        TrainingType::Nlu => rusa_telemetry::ModelType::Nlu,
        TrainingType::Core => rusa_telemetry::ModelType::Core,
        TrainingType::Both => rusa_telemetry::ModelType::Rasa,
    };
    // Training Started now; Completed or Failed (with a stable code) when it ends.
    let telemetry = crate::usage::training_started(&project, model_type);
    // `--force` trains every node from scratch, as Rasa's does: the cache is not read (nor
    // written, so it keeps what the last ordinary training left).
    let trainer = GraphTrainer::new((!common.force).then(|| cache_dir_for(Path::new("."))));
    let progress = training_progress(&plan, log);
    let on_node = |node: &rusa_core::graph::GraphNode| {
        progress.set_message(node.component_class.clone());
        progress.inc(1);
    };
    let result = trainer.train_with_inputs(&project, &plan, &inputs, &on_node);
    progress.finish_and_clear();
    let graph = match result {
        Ok(graph) => graph,
        Err(e) => {
            if let Some(t) = telemetry {
                t.failed(match e {
                    rusa_core::graph::TrainError::Rules(_) => "rules_invalid",
                    rusa_core::graph::TrainError::Node { .. } => "component_failed",
                });
            }
            return Err(UserError::new(e.to_string()).into());
        }
    };
    let metadata = ModelMetadata {
        format_version: rusa_core::archive::ARCHIVE_FORMAT_VERSION,
        model_id: uuid::Uuid::new_v4().simple().to_string(),
        assistant_id: project.config.assistant_id.clone(),
        trained_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        rusa_version: crate::build_info::VERSION.to_owned(),
        training_type,
        project_fingerprint: fingerprint,
        language: project.config.language.clone(),
        pipeline: graph
            .nlu
            .as_ref()
            .map(|n| n.components.iter().map(|c| c.name().to_owned()).collect())
            .unwrap_or_default(),
        policies: graph
            .policies
            .as_ref()
            .map(|p| p.policies.iter().map(|x| x.name().to_owned()).collect())
            .unwrap_or_default(),
        nodes: graph.nodes.clone(),
    };
    let trained_nodes = graph.trained_nodes();
    let total_nodes = graph.nodes.len();
    let archive = ModelArchive {
        metadata,
        domain: project.domain.clone(),
        nlu: graph.nlu,
        policies: graph.policies,
    };
    let path = common.out.join(&archive_name);
    let written = archive.write(&path, &|tmp| {
        if let Ok(mut guard) = PARTIAL_ARCHIVE.lock() {
            *guard = tmp.map(Path::to_path_buf);
        }
    });
    if let Err(e) = written {
        if let Some(t) = telemetry {
            t.failed("save_failed");
        }
        return Err(
            anyhow::Error::new(e).context("training finished, but the model could not be saved")
        );
    }
    if let Some(t) = telemetry {
        t.completed();
    }
    if !log.quiet {
        let what = match training_type {
            TrainingType::Nlu => "the NLU pipeline",
            TrainingType::Core => "the dialogue policies",
            TrainingType::Both => "the NLU pipeline and the dialogue policies",
        };
        let restored = total_nodes - trained_nodes;
        let cache_note = if restored == 0 {
            String::new()
        } else {
            format!(", {restored} of {total_nodes} graph nodes restored from .rusa/cache")
        };
        crate::output::print(&format!(
            "Trained {what} in {:.2} s{cache_note}.\nYour model is saved at '{}'.\n",
            started.elapsed().as_secs_f64(),
            path.display()
        ))?;
    }
    Ok(Some(path))
}

/// What `--debug` prints before training: the pipeline and policies that will be trained,
/// saying where config.yml left them out and the defaults were chosen.
fn effective_configuration(
    project: &Project,
    pipeline: &Pipeline,
    policies: &[rusa_core::policies::PolicySpec],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("effective configuration:\n");
    let _ = writeln!(out, "  language: {}", project.config.language);
    let origin = |given: bool| {
        if given {
            ""
        } else {
            " (config.yml leaves it out: the default)"
        }
    };
    let _ = writeln!(
        out,
        "  pipeline{}:",
        origin(project.config.pipeline.is_some())
    );
    for c in &pipeline.components {
        let _ = writeln!(out, "  - {}", c.name());
    }
    let _ = writeln!(
        out,
        "  policies{}:",
        origin(project.config.policies.is_some())
    );
    for p in policies {
        let _ = writeln!(out, "  - {p:?}");
    }
    out
}

/// A progress bar over the graph's nodes on stderr: only on a terminal, never with
/// `--quiet`, so no control characters reach a pipe or a log file.
fn training_progress(plan: &TrainingPlan, log: LogArgs) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let nodes = if plan.training_type.has_nlu() {
        plan.pipeline.components.len()
    } else {
        0
    } + if plan.training_type.has_core() {
        plan.policies.len()
    } else {
        0
    };
    let target = if !log.quiet && std::io::stderr().is_terminal() {
        indicatif::ProgressDrawTarget::stderr()
    } else {
        indicatif::ProgressDrawTarget::hidden()
    };
    let bar = indicatif::ProgressBar::with_draw_target(Some(nodes as u64), target);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("training {bar:30} {pos}/{len} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Refuses to train what has no data: an NLU model without examples, dialogue without
/// stories or rules.
fn check_training_data(project: &Project, training_type: TrainingType) -> Result<(), UserError> {
    if training_type.has_nlu() && project.nlu.examples.is_empty() {
        if training_type == TrainingType::Nlu {
            return Err(UserError::new("no NLU training examples were found")
                .with_hint("pass the NLU data with --data"));
        }
        tracing::warn!(
            "no NLU training examples were found; the model understands only /intent messages"
        );
    }
    if training_type == TrainingType::Core && project.stories.is_empty() && project.rules.is_empty()
    {
        return Err(UserError::new("no stories or rules were found")
            .with_hint("pass the stories and rules with --data"));
    }
    Ok(())
}

/// `20261121-103000`, the prefix of archive names as Rasa writes it (in UTC here, so that
/// names sort the same on every machine).
fn timestamp_for_name() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    now.format(&format).unwrap_or_else(|_| "model".to_owned())
}

/// A short memorable suffix, so that two models of the same second differ.
fn model_nickname() -> String {
    const ADJECTIVES: &[&str] = &[
        "amber", "brisk", "calm", "deft", "eager", "fair", "gentle", "hardy", "keen", "lucid",
        "merry", "nimble", "plucky", "quiet", "rapid", "steady", "tidy", "vivid", "witty", "zesty",
    ];
    const NOUNS: &[&str] = &[
        "otter", "heron", "lynx", "marten", "puffin", "badger", "falcon", "gecko", "ibis", "koala",
        "lemur", "newt", "osprey", "panda", "quail", "raven", "stoat", "tapir", "walrus", "yak",
    ];
    let bytes = *uuid::Uuid::new_v4().as_bytes();
    format!(
        "{}-{}",
        ADJECTIVES[bytes[0] as usize % ADJECTIVES.len()],
        NOUNS[bytes[1] as usize % NOUNS.len()]
    )
}

/// On Ctrl-C, removes the archive being written and exits with 130: no partial archive is
/// left in `models/`.
/// Set when training is over and the command reads Ctrl-C itself (interactive learning,
/// whose line editor turns it into its menu).
static INTERRUPTS_HANDED_OVER: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// From now on Ctrl-C (SIGINT) neither stops the process nor is reported by training: the
/// caller handles it.
pub fn hand_over_interrupts() {
    INTERRUPTS_HANDED_OVER.store(true, std::sync::atomic::Ordering::SeqCst);
    // A handler that does nothing, unless training's is installed already.
    let _ = ctrlc::set_handler(|| {});
}

fn install_interrupt_handler() {
    let _ = ctrlc::set_handler(|| {
        if INTERRUPTS_HANDED_OVER.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if let Ok(guard) = PARTIAL_ARCHIVE.lock()
            && let Some(path) = guard.as_ref()
        {
            let _ = std::fs::remove_file(path);
        }
        eprintln!("\ninterrupted: no model was saved");
        std::process::exit(130);
    });
}
