//! The model archive: `models/<timestamp>-<name>.tar.gz`.
//!
//! Format version 1 holds four JSON files:
//! - `metadata.json`: [`ModelMetadata`] (format version, model id, assistant id, trained at,
//!   rusa version, training type, project fingerprint, language, pipeline and policy
//!   names, the graph's nodes with their fingerprints);
//! - `domain.json`: the domain the model was trained with;
//! - `nlu.json` (NLU and full models): the trained pipeline, in rusa-nlu's versioned format;
//! - `policies.json` (dialogue and full models): the trained policies.
//!
//! An archive of another format version is refused with a message naming both versions.
//! Archives are written to a hidden temporary file in the target directory and renamed into
//! place, so a reader never sees a partial archive.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use rusa_nlu::NluModel;
use rusa_project::Domain;
use serde::{Deserialize, Serialize};

use crate::graph::{GraphNode, TrainingType};
use crate::policies::PolicyEnsemble;

/// The archive format this rusa writes and reads.
pub const ARCHIVE_FORMAT_VERSION: u32 = 1;

/// What `metadata.json` says about a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub format_version: u32,
    pub model_id: String,
    pub assistant_id: Option<String>,
    /// RFC 3339, UTC.
    pub trained_at: String,
    pub rusa_version: String,
    pub training_type: TrainingType,
    pub project_fingerprint: String,
    pub language: String,
    pub pipeline: Vec<String>,
    pub policies: Vec<String>,
    pub nodes: Vec<GraphNode>,
}

impl ModelMetadata {
    /// Metadata of a model that `rusa train` did not write (cross-validation folds,
    /// evaluations, tests): no fingerprint, no graph nodes, trained now.
    pub fn unsaved(model_id: &str, training_type: TrainingType, language: &str) -> Self {
        Self {
            format_version: ARCHIVE_FORMAT_VERSION,
            model_id: model_id.to_owned(),
            assistant_id: None,
            trained_at: String::new(),
            rusa_version: env!("CARGO_PKG_VERSION").to_owned(),
            training_type,
            project_fingerprint: String::new(),
            language: language.to_owned(),
            pipeline: Vec::new(),
            policies: Vec::new(),
            nodes: Vec::new(),
        }
    }
}

/// A trained model, in memory.
#[derive(Debug, Clone)]
pub struct ModelArchive {
    pub metadata: ModelMetadata,
    pub domain: Domain,
    pub nlu: Option<NluModel>,
    pub policies: Option<PolicyEnsemble>,
}

/// Why an archive could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("cannot write the model archive '{}'", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the model archive '{}'", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("'{}' is not a rusa model archive: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    /// A model archive written by Rasa (its metadata names `rasa_open_source_version`).
    #[error("'{}' is a model trained by Rasa {rasa_version}; rusa cannot load Rasa models (their components are Python): train the project with `rusa train`", path.display())]
    RasaModel { path: PathBuf, rasa_version: String },
    #[error("the model '{}' was written in archive format {found} (by rusa {rusa_version}); this rusa reads format {ARCHIVE_FORMAT_VERSION}: train the model again", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        rusa_version: String,
    },
}

impl ModelArchive {
    /// Writes the archive to `path` atomically (temporary file in the same directory, then
    /// rename). `on_temp` is told the temporary path, so an interrupt handler can delete it.
    pub fn write(&self, path: &Path, on_temp: &dyn Fn(Option<&Path>)) -> Result<(), ArchiveError> {
        let err = |source| ArchiveError::Write {
            path: path.to_path_buf(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(err)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("model.tar.gz");
        let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
        on_temp(Some(&tmp));
        let result = self
            .write_to(&tmp)
            .and_then(|()| std::fs::rename(&tmp, path));
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        on_temp(None);
        result.map_err(err)
    }

    fn write_to(&self, tmp: &Path) -> std::io::Result<()> {
        let file = std::fs::File::create(tmp)?;
        let mut tar = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
        let mut add = |name: &str, bytes: Vec<u8>| -> std::io::Result<()> {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            tar.append_data(&mut header, name, bytes.as_slice())
        };
        add("metadata.json", serde_json::to_vec_pretty(&self.metadata)?)?;
        add("domain.json", serde_json::to_vec(&self.domain)?)?;
        if let Some(nlu) = &self.nlu {
            let json = nlu.to_json().map_err(std::io::Error::other)?;
            add("nlu.json", json.into_bytes())?;
        }
        if let Some(policies) = &self.policies {
            add("policies.json", serde_json::to_vec(policies)?)?;
        }
        let gz = tar.into_inner()?;
        let file = gz.finish()?;
        file.sync_all()?;
        Ok(())
    }

    /// Reads only the metadata of an archive (the first file), without the models.
    pub fn read_metadata(path: &Path) -> Result<ModelMetadata, ArchiveError> {
        let invalid = |reason: String| ArchiveError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|source| ArchiveError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut archive = tar::Archive::new(GzDecoder::new(file));
        for entry in archive.entries().map_err(|e| invalid(e.to_string()))? {
            let mut entry = entry.map_err(|e| invalid(e.to_string()))?;
            if entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .as_os_str()
                != "metadata.json"
            {
                continue;
            }
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| invalid(e.to_string()))?;
            return parse_metadata(path, &bytes);
        }
        Err(invalid("it has no metadata.json".into()))
    }

    /// Reads an archive; refuses other format versions.
    pub fn read(path: &Path) -> Result<Self, ArchiveError> {
        let read_err = |source| ArchiveError::Read {
            path: path.to_path_buf(),
            source,
        };
        let invalid = |reason: String| ArchiveError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut archive = tar::Archive::new(GzDecoder::new(file));
        let mut files = std::collections::HashMap::new();
        for entry in archive.entries().map_err(|e| invalid(e.to_string()))? {
            let mut entry = entry.map_err(|e| invalid(e.to_string()))?;
            let name = entry
                .path()
                .map_err(|e| invalid(e.to_string()))?
                .to_string_lossy()
                .into_owned();
            let mut bytes = Vec::new();
            entry
                .read_to_end(&mut bytes)
                .map_err(|e| invalid(e.to_string()))?;
            files.insert(name, bytes);
        }
        let metadata_bytes = files
            .get("metadata.json")
            .ok_or_else(|| invalid("it has no metadata.json".into()))?;
        let metadata = parse_metadata(path, metadata_bytes)?;
        let domain: Domain = serde_json::from_slice(
            files
                .get("domain.json")
                .ok_or_else(|| invalid("it has no domain.json".into()))?,
        )
        .map_err(|e| invalid(format!("domain.json: {e}")))?;
        let nlu = match files.get("nlu.json") {
            Some(bytes) => Some(
                NluModel::from_json(
                    std::str::from_utf8(bytes).map_err(|e| invalid(e.to_string()))?,
                )
                .map_err(|e| invalid(format!("nlu.json: {e}")))?,
            ),
            None => None,
        };
        let policies = match files.get("policies.json") {
            Some(bytes) => {
                let mut p: PolicyEnsemble = serde_json::from_slice(bytes)
                    .map_err(|e| invalid(format!("policies.json: {e}")))?;
                p.prepare();
                Some(p)
            }
            None => None,
        };
        Ok(Self {
            metadata,
            domain,
            nlu,
            policies,
        })
    }
}

/// Parses `metadata.json`, refusing archives of another format version.
fn parse_metadata(path: &Path, bytes: &[u8]) -> Result<ModelMetadata, ArchiveError> {
    let invalid = |reason: String| ArchiveError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let raw: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| invalid(format!("metadata.json: {e}")))?;
    if raw.get("format_version").is_none()
        && let Some(rasa_version) = raw
            .get("rasa_open_source_version")
            .or_else(|| raw.get("rasa_pro_version"))
            .and_then(serde_json::Value::as_str)
    {
        return Err(ArchiveError::RasaModel {
            path: path.to_path_buf(),
            rasa_version: rasa_version.to_owned(),
        });
    }
    let found = raw
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0) as u32;
    if found != ARCHIVE_FORMAT_VERSION {
        let rusa_version = raw
            .get("rusa_version")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        return Err(ArchiveError::Version {
            path: path.to_path_buf(),
            found,
            rusa_version,
        });
    }
    serde_json::from_value(raw).map_err(|e| invalid(format!("metadata.json: {e}")))
}

/// The newest `*.tar.gz` in `dir` (by file name, which starts with a timestamp, then by
/// modification time); `path` itself when it is a file.
pub fn newest_model(path: &Path) -> Option<PathBuf> {
    if path.is_file() {
        return Some(path.to_path_buf());
    }
    let mut models: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.ends_with(".tar.gz") && !name.starts_with('.')
        })
        .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
        .collect();
    models.sort();
    models.pop().map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar.gz holding one `metadata.json`, as Rasa 3 writes its archives.
    fn archive_with_metadata(path: &Path, metadata: &str) {
        let file = std::fs::File::create(path).expect("create");
        let mut builder = tar::Builder::new(GzEncoder::new(file, Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_size(metadata.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "metadata.json", metadata.as_bytes())
            .expect("append");
        builder.into_inner().expect("tar").finish().expect("gzip");
    }

    #[test]
    fn a_rasa_model_is_recognised_and_said_so() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("20240101-120000-brisk-otter.tar.gz");
        archive_with_metadata(
            &path,
            r#"{"domain": {}, "trained_at": "2024-01-01T12:00:00", "model_id": "x", "rasa_open_source_version": "3.6.21", "training_type": "BOTH"}"#,
        );
        let err = ModelArchive::read_metadata(&path).expect_err("not a rusa model");
        assert!(matches!(err, ArchiveError::RasaModel { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("trained by Rasa 3.6.21"), "{text}");
        assert!(text.contains("rusa cannot load Rasa models"), "{text}");
        assert!(matches!(
            ModelArchive::read(&path),
            Err(ArchiveError::RasaModel { .. })
        ));
    }
}
