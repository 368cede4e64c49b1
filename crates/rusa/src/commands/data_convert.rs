//! `rusa data convert nlu`: NLU data from Rasa YAML or JSON, LUIS, Wit.ai, a Dialogflow
//! agent or Rasa's old Markdown, written as Rasa YAML or Rasa JSON.
//!
//! Every `--data` path is read (Rasa 3.6 read only the first); a directory is filtered to
//! NLU files, so a `data/` folder with stories and rules converts (they are skipped with a
//! note). `--out` is a file when it ends in `.yml`, `.yaml` or `.json`, else a directory
//! (created when missing) that gets `nlu.yml` or `nlu.json`; Rasa's default
//! `converted_data` is thus a directory, so the result is a file rusa and Rasa load.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusa_project::nlu_formats::load_training_data;
use rusa_project::nlu_writer;

use crate::cli::{DataConvertNluArgs, DataConvertWhat, DataFormat, LogArgs};
use crate::error::{Outcome, UserError};

pub fn run(what: DataConvertWhat, log: LogArgs) -> anyhow::Result<Outcome> {
    match what {
        DataConvertWhat::Nlu(args) => convert_nlu(&args, log),
    }
}

/// The file to write: `out` itself, or `out/nlu.<ext>` for a directory.
fn output_file(out: &Path, format: DataFormat) -> Result<PathBuf, UserError> {
    let (wanted, default_name) = match format {
        DataFormat::Yaml => (&["yml", "yaml"][..], "nlu.yml"),
        DataFormat::Json => (&["json"][..], "nlu.json"),
    };
    let extension = out.extension().and_then(|e| e.to_str());
    match extension {
        _ if out.is_dir() => Ok(out.join(default_name)),
        None => Ok(out.join(default_name)),
        Some(ext) if wanted.contains(&ext) => Ok(out.to_path_buf()),
        Some(ext) => Err(UserError::new(format!(
            "--out '{}' ends in .{ext}, which does not fit --format {}",
            out.display(),
            format_name(format)
        ))
        .with_hint(format!(
            "name a .{} file, or a directory to write {default_name} into",
            wanted[0]
        ))),
    }
}

fn format_name(format: DataFormat) -> &'static str {
    match format {
        DataFormat::Yaml => "yaml",
        DataFormat::Json => "json",
    }
}

fn convert_nlu(args: &DataConvertNluArgs, log: LogArgs) -> anyhow::Result<Outcome> {
    let target = output_file(&args.out, args.format)?;
    let loaded = load_training_data(&args.data, &args.language)?;
    for w in &loaded.warnings {
        eprintln!("warning: {}: {}", w.pos, w.message);
    }
    if loaded.data.is_empty() {
        let mut err = UserError::new(format!(
            "no NLU data found in {}",
            args.data
                .iter()
                .map(|p| format!("'{}'", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some((path, why)) = loaded.skipped.first() {
            err = err.with_hint(format!("'{}' was skipped: {why}", path.display()));
        }
        return Err(err.into());
    }
    let text = match args.format {
        DataFormat::Yaml => nlu_writer::training_data_yaml(&loaded.data),
        DataFormat::Json => {
            if !loaded.data.responses.is_empty() {
                eprintln!(
                    "warning: Rasa JSON has no place for responses; the {} responses are not written (convert to yaml to keep them)",
                    loaded.data.responses.len()
                );
            }
            nlu_writer::training_data_json(&loaded.data.nlu)
        }
    };
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::Error::new(e).context(format!("cannot create '{}'", dir.display()))
        })?;
    }
    std::fs::write(&target, &text).map_err(|e| {
        anyhow::Error::new(e).context(format!("cannot write '{}'", target.display()))
    })?;
    crate::usage::data_converted(match args.format {
        DataFormat::Yaml => rusa_telemetry::OutputFormat::Yaml,
        DataFormat::Json => rusa_telemetry::OutputFormat::Json,
    });

    if !log.quiet {
        let mut out = String::new();
        for (path, why) in &loaded.skipped {
            let _ = writeln!(out, "skipped {}: {why}", path.display());
        }
        for (path, format) in &loaded.files {
            let _ = writeln!(out, "read {} ({})", path.display(), format.name());
        }
        let nlu = &loaded.data.nlu;
        let _ = writeln!(
            out,
            "wrote {} ({}): {} examples of {} intents, {} synonyms, {} regexes, {} lookup tables{}",
            target.display(),
            match args.format {
                DataFormat::Yaml => "Rasa YAML",
                DataFormat::Json => "Rasa JSON",
            },
            nlu.examples.len(),
            nlu.intents().len(),
            nlu.synonyms.len(),
            nlu.regexes.len(),
            nlu.lookups.len(),
            match args.format {
                DataFormat::Yaml if !loaded.data.responses.is_empty() =>
                    format!(", {} responses", loaded.data.responses.len()),
                _ => String::new(),
            }
        );
        crate::output::print(&out)?;
    }
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_is_a_file_with_a_fitting_extension_else_a_directory() {
        assert_eq!(
            output_file(Path::new("converted_data"), DataFormat::Yaml).unwrap(),
            Path::new("converted_data/nlu.yml")
        );
        assert_eq!(
            output_file(Path::new("x/nlu.json"), DataFormat::Json).unwrap(),
            Path::new("x/nlu.json")
        );
        assert!(output_file(Path::new("x/nlu.json"), DataFormat::Yaml).is_err());
    }
}
