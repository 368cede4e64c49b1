//! config.yml: language, NLU pipeline and dialogue policies.

use std::path::Path;

use crate::error::{Diagnostic, Pos};
use crate::reader::{Reader, Result};
use crate::yaml::{Document, Node};

/// The recipe Rasa 3 projects name; the only one there is.
pub const DEFAULT_RECIPE: &str = "default.v1";
/// The language when config.yml does not say.
pub const DEFAULT_LANGUAGE: &str = "en";

const KEYS: &[&str] = &[
    "recipe",
    "language",
    "pipeline",
    "policies",
    "assistant_id",
    "version",
    "importers",
    "spaces",
];

/// The model configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub recipe: String,
    pub language: String,
    pub assistant_id: Option<String>,
    /// `None` when the file leaves the pipeline out, empty or commented out: the default is used.
    pub pipeline: Option<Vec<Component>>,
    /// `None` when the file leaves the policies out, empty or commented out.
    pub policies: Option<Vec<Component>>,
    pub pos: Pos,
}

/// One pipeline component or policy: its name and its parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    pub name: String,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub pos: Pos,
}

impl Component {
    /// An integer parameter, e.g. `max_history`.
    pub fn param_u64(&self, key: &str) -> Option<u64> {
        self.params.get(key).and_then(serde_json::Value::as_u64)
    }
}

impl Config {
    /// The configuration a project without config.yml gets.
    pub fn default_for(path: &Path) -> Self {
        Self {
            recipe: DEFAULT_RECIPE.to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
            assistant_id: None,
            pipeline: None,
            policies: None,
            pos: Pos::new(path.into(), 1, 1),
        }
    }

    /// The largest `max_history` any policy sets.
    pub fn max_history(&self) -> Option<usize> {
        self.policies
            .iter()
            .flatten()
            .filter_map(|p| p.param_u64("max_history"))
            .max()
            .map(|m| m as usize)
    }

    pub(crate) fn read(doc: &Document, warnings: &mut Vec<Diagnostic>) -> Result<Self> {
        let mut r = Reader::new(doc, warnings);
        let mut config = Self::default_for(&doc.path);
        let Some(root) = doc.root.as_ref() else {
            return Ok(config);
        };
        let entries = r.map(root, "config.yml")?;
        r.check_keys(entries, KEYS, "the model configuration");
        for (key, value) in entries {
            match key.as_str().unwrap_or_default() {
                "recipe" if !value.is_null() => {
                    config.recipe = r.name(value, "'recipe'")?;
                    if config.recipe != DEFAULT_RECIPE {
                        return Err(r.err_hint(
                            value,
                            format!("unknown recipe '{}'", config.recipe),
                            format!("use `recipe: {DEFAULT_RECIPE}` or leave the key out"),
                        ));
                    }
                }
                "language" if !value.is_null() => config.language = r.name(value, "'language'")?,
                "assistant_id" if !value.is_null() => {
                    config.assistant_id = Some(r.name(value, "'assistant_id'")?)
                }
                "pipeline" => {
                    config.pipeline = read_components(&mut r, value, "pipeline component")?
                }
                "policies" => config.policies = read_components(&mut r, value, "policy")?,
                _ => {}
            }
        }
        Ok(config)
    }
}

fn read_components(r: &mut Reader<'_>, node: &Node, what: &str) -> Result<Option<Vec<Component>>> {
    let items = r.seq(node, &format!("the list of each {what}"))?;
    if items.is_empty() {
        return Ok(None);
    }
    let mut components = Vec::with_capacity(items.len());
    for item in items {
        let entries = r.map(item, &format!("a {what}"))?;
        let Some(name_node) = item.get("name") else {
            return Err(r.err_hint(
                item,
                format!("a {what} needs a 'name'"),
                "write it as `- name: WhitespaceTokenizer`",
            ));
        };
        let name = r.name(name_node, &format!("the name of a {what}"))?;
        let params = entries
            .iter()
            .filter(|(k, _)| k.as_str() != Some("name"))
            .map(|(k, v)| (k.scalar_text().unwrap_or_default(), v.to_json()))
            .collect();
        components.push(Component {
            name,
            params,
            pos: r.pos(item),
        });
    }
    Ok(Some(components))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::yaml::parse;

    fn read(text: &str) -> (Result<Config>, Vec<Diagnostic>) {
        let doc = parse(Arc::from(Path::new("config.yml")), text).unwrap();
        let mut warnings = Vec::new();
        (Config::read(&doc, &mut warnings), warnings)
    }

    #[test]
    fn commented_out_pipeline_means_default() {
        let (config, _) =
            read("recipe: default.v1\nlanguage: de\npipeline:\n# - name: X\npolicies:\n");
        let config = config.unwrap();
        assert_eq!(config.language, "de");
        assert!(config.pipeline.is_none());
        assert!(config.policies.is_none());
    }

    #[test]
    fn components_keep_their_parameters() {
        let (config, _) = read(
            "pipeline:\n- name: CountVectorsFeaturizer\n  analyzer: char_wb\n  max_ngram: 4\npolicies:\n- name: TEDPolicy\n  max_history: 5\n- name: MemoizationPolicy\n  max_history: 3\n",
        );
        let config = config.unwrap();
        let pipeline = config.pipeline.as_ref().unwrap();
        assert_eq!(pipeline[0].name, "CountVectorsFeaturizer");
        assert_eq!(pipeline[0].params["analyzer"], "char_wb");
        assert_eq!(config.max_history(), Some(5));
    }

    #[test]
    fn typos_in_keys_get_a_suggestion() {
        let (config, warnings) = read("pipline: []\n");
        assert!(config.is_ok());
        assert!(
            warnings[0].message.contains("did you mean 'pipeline'"),
            "{warnings:?}"
        );
    }

    #[test]
    fn a_component_needs_a_name() {
        let (config, _) = read("pipeline:\n- analyzer: char_wb\n");
        assert!(
            config
                .unwrap_err()
                .to_string()
                .starts_with("config.yml:2:3: a pipeline component needs a 'name'")
        );
    }
}
