//! The domain: intents, entities, slots, responses, actions, forms and session settings.

use indexmap::IndexMap;

use crate::error::{Diagnostic, Pos, did_you_mean};
use crate::reader::{Reader, Result, single_key};
use crate::yaml::{Document, Node, Value};

/// Minutes of inactivity after which a new session starts, when the domain does not say.
pub const DEFAULT_SESSION_EXPIRATION_MINUTES: f64 = 60.0;

const KEYS: &[&str] = &[
    "version",
    "intents",
    "entities",
    "slots",
    "responses",
    "actions",
    "forms",
    "session_config",
    "config",
    "e2e_actions",
];
const SLOT_KEYS: &[&str] = &[
    "type",
    "influence_conversation",
    "initial_value",
    "values",
    "min_value",
    "max_value",
    "mappings",
];
const MAPPING_KEYS: &[&str] = &[
    "type",
    "entity",
    "role",
    "group",
    "intent",
    "not_intent",
    "value",
    "action",
    "conditions",
];
const SLOT_TYPES: &[&str] = &["text", "bool", "categorical", "float", "list", "any"];
const MAPPING_TYPES: &[&str] = &[
    "from_entity",
    "from_text",
    "from_intent",
    "from_trigger_intent",
    "custom",
];

/// The domain of an assistant, merged from one file or a directory of files.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Domain {
    pub intents: Vec<Intent>,
    pub entities: Vec<Entity>,
    pub slots: Vec<Slot>,
    pub responses: IndexMap<String, Response>,
    pub actions: Vec<ActionName>,
    pub forms: Vec<Form>,
    pub session_config: SessionConfig,
    pub store_entities_as_slots: bool,
    /// Bot texts that end-to-end stories use as actions.
    pub e2e_actions: Vec<String>,
}

/// An intent and which entities it lets influence the conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Intent {
    pub name: String,
    /// `None`: all entities are used (the default).
    pub use_entities: Option<Vec<String>>,
    pub ignore_entities: Vec<String>,
    pub pos: Pos,
}

/// An entity type, with the roles and groups it may take.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Entity {
    pub name: String,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub influence_conversation: bool,
    pub pos: Pos,
}

/// A slot: a piece of memory of the conversation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Slot {
    pub name: String,
    pub slot_type: SlotType,
    pub influence_conversation: bool,
    pub initial_value: Option<serde_json::Value>,
    pub mappings: Vec<SlotMapping>,
    pub pos: Pos,
}

/// The type of a slot.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SlotType {
    Text,
    Bool,
    Categorical {
        values: Vec<String>,
    },
    Float {
        min_value: f64,
        max_value: f64,
    },
    List,
    Any,
    /// A custom slot class of a Python project (`module.ClassName`); rusa treats it as `any`.
    Custom(String),
}

impl SlotType {
    pub fn name(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Bool => "bool",
            Self::Categorical { .. } => "categorical",
            Self::Float { .. } => "float",
            Self::List => "list",
            Self::Any => "any",
            Self::Custom(name) => name,
        }
    }
}

/// How a slot is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MappingType {
    FromEntity,
    FromText,
    FromIntent,
    FromTriggerIntent,
    Custom,
}

/// One way of filling a slot, with the conditions under which it applies.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SlotMapping {
    pub mapping_type: MappingType,
    pub entity: Option<String>,
    pub role: Option<String>,
    pub group: Option<String>,
    pub intent: Vec<String>,
    pub not_intent: Vec<String>,
    pub value: Option<serde_json::Value>,
    /// For `custom`: the action that fills the slot.
    pub action: Option<String>,
    pub conditions: Vec<MappingCondition>,
    pub pos: Pos,
}

/// A mapping applies only while this loop is active (and, if given, this slot is requested).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MappingCondition {
    pub active_loop: Option<String>,
    pub requested_slot: Option<String>,
}

/// A response (`utter_*`) with its variations.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Response {
    pub name: String,
    pub variations: Vec<ResponseVariation>,
    pub pos: Pos,
}

/// One variation of a response.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResponseVariation {
    pub text: Option<String>,
    pub image: Option<String>,
    pub buttons: Vec<Button>,
    pub custom: Option<serde_json::Value>,
    pub channel: Option<String>,
    pub conditions: Vec<ResponseCondition>,
    /// Other keys (attachment, quick_replies, elements, id, metadata, ...), passed through.
    pub extra: serde_json::Map<String, serde_json::Value>,
    pub pos: Pos,
}

impl ResponseVariation {
    /// Whether the variation says anything at all.
    pub fn has_content(&self) -> bool {
        self.text.as_deref().is_some_and(|t| !t.trim().is_empty())
            || self.image.is_some()
            || !self.buttons.is_empty()
            || self.custom.is_some()
            || self
                .extra
                .keys()
                .any(|k| matches!(k.as_str(), "attachment" | "quick_replies" | "elements"))
    }
}

/// A button of a response.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Button {
    pub title: String,
    pub payload: String,
}

/// A variation is used only when the slot has this value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ResponseCondition {
    pub slot: String,
    pub value: serde_json::Value,
}

/// A custom action named in the domain.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ActionName {
    pub name: String,
    pub send_domain: bool,
    pub pos: Pos,
}

/// A form: a loop that asks for its required slots.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Form {
    pub name: String,
    pub required_slots: Vec<(String, Pos)>,
    pub ignored_intents: Vec<String>,
    pub pos: Pos,
}

/// When conversations start a new session.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SessionConfig {
    /// Minutes; 0 means sessions never expire.
    pub session_expiration_time: f64,
    pub carry_over_slots_to_new_session: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            session_expiration_time: DEFAULT_SESSION_EXPIRATION_MINUTES,
            carry_over_slots_to_new_session: true,
        }
    }
}

impl Domain {
    /// An empty domain with Rasa's defaults.
    pub fn empty() -> Self {
        Self {
            store_entities_as_slots: true,
            ..Self::default()
        }
    }

    pub fn intent(&self, name: &str) -> Option<&Intent> {
        self.intents.iter().find(|i| i.name == name)
    }

    pub fn entity(&self, name: &str) -> Option<&Entity> {
        self.entities.iter().find(|e| e.name == name)
    }

    pub fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|s| s.name == name)
    }

    pub fn form(&self, name: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.name == name)
    }

    pub fn has_action(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.name == name)
    }

    /// Reads one domain file and merges it into `self`. Definitions already present are kept
    /// and a warning names the duplicate.
    pub(crate) fn merge_file(
        &mut self,
        doc: &Document,
        warnings: &mut Vec<Diagnostic>,
    ) -> Result<()> {
        let mut r = Reader::new(doc, warnings);
        let Some(root) = doc.root.as_ref() else {
            return Ok(());
        };
        let entries = r.map(root, "a domain file")?;
        crate::migrate::reject_rasa2_domain(&r, root)?;
        r.check_keys(entries, KEYS, "the domain");
        for (key, value) in entries {
            match key.as_str().unwrap_or_default() {
                "version" => crate::project::check_version(&mut r, value),
                "intents" => self.read_intents(&mut r, value)?,
                "entities" => self.read_entities(&mut r, value)?,
                "slots" => self.read_slots(&mut r, value)?,
                "responses" => read_responses(&mut r, value, &mut self.responses)?,
                "actions" => self.read_actions(&mut r, value)?,
                "forms" => self.read_forms(&mut r, value)?,
                "session_config" => self.read_session_config(&mut r, value)?,
                "config" => {
                    let entries = r.map_or_empty(value, "'config'")?;
                    r.check_keys(
                        entries,
                        &["store_entities_as_slots"],
                        "the domain's 'config'",
                    );
                    if let Some(v) = value.get("store_entities_as_slots") {
                        self.store_entities_as_slots = r.bool(v, "'store_entities_as_slots'")?;
                    }
                }
                "e2e_actions" => {
                    for item in r.seq(value, "'e2e_actions'")? {
                        self.e2e_actions.push(r.text(item, "an end-to-end action")?);
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn read_intents(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        for item in r.seq(node, "'intents'")? {
            let Some((name_node, props)) = single_key(item) else {
                return Err(r.err_hint(
                    item,
                    format!("an intent must be a name or a mapping of one name to its properties, found {}", item.type_name()),
                    "write `- greet` or `- greet: {use_entities: []}`",
                ));
            };
            let name = r.name(name_node, "an intent name")?;
            let mut intent = Intent {
                name,
                use_entities: None,
                ignore_entities: Vec::new(),
                pos: r.pos(name_node),
            };
            if let Some(props) = props {
                let entries = r.map_or_empty(
                    props,
                    &format!("the properties of intent '{}'", intent.name),
                )?;
                r.check_keys(
                    entries,
                    &[
                        "use_entities",
                        "ignore_entities",
                        "triggers",
                        "is_retrieval_intent",
                    ],
                    &format!("intent '{}'", intent.name),
                );
                if let Some(v) = props.get("use_entities") {
                    intent.use_entities = match &v.value {
                        Value::Bool(true) => None,
                        Value::Bool(false) => Some(Vec::new()),
                        _ => Some(r.names(v, "an entity name")?),
                    };
                }
                if let Some(v) = props.get("ignore_entities") {
                    intent.ignore_entities = r.names(v, "an entity name")?;
                }
            }
            if self.intent(&intent.name).is_some() {
                r.warn(
                    name_node,
                    format!("intent '{}' is listed twice", intent.name),
                );
            } else {
                self.intents.push(intent);
            }
        }
        Ok(())
    }

    fn read_entities(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        for item in r.seq(node, "'entities'")? {
            let Some((name_node, props)) = single_key(item) else {
                return Err(r.err(item, format!("an entity must be a name or a mapping of one name to its properties, found {}", item.type_name())));
            };
            let name = r.name(name_node, "an entity name")?;
            let mut entity = Entity {
                name,
                roles: Vec::new(),
                groups: Vec::new(),
                influence_conversation: true,
                pos: r.pos(name_node),
            };
            if let Some(props) = props {
                let entries = r.map_or_empty(
                    props,
                    &format!("the properties of entity '{}'", entity.name),
                )?;
                r.check_keys(
                    entries,
                    &["roles", "groups", "influence_conversation"],
                    &format!("entity '{}'", entity.name),
                );
                if let Some(v) = props.get("roles") {
                    entity.roles = r.names(v, "a role")?;
                }
                if let Some(v) = props.get("groups") {
                    entity.groups = r.names(v, "a group")?;
                }
                if let Some(v) = props.get("influence_conversation") {
                    entity.influence_conversation = r.bool(v, "'influence_conversation'")?;
                }
            }
            if self.entity(&entity.name).is_some() {
                r.warn(
                    name_node,
                    format!("entity '{}' is listed twice", entity.name),
                );
            } else {
                self.entities.push(entity);
            }
        }
        Ok(())
    }

    fn read_slots(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        for (key, def) in r.map_or_empty(node, "'slots'")? {
            let name = r.name(key, "a slot name")?;
            let what = format!("slot '{name}'");
            let entries = r.map(def, &format!("the definition of {what}"))?;
            r.check_keys(entries, SLOT_KEYS, &what);
            let Some(type_node) = def.get("type") else {
                return Err(r.err_hint(
                    key,
                    format!("{what} has no 'type'"),
                    format!("add one of: {}", SLOT_TYPES.join(", ")),
                ));
            };
            let type_name = r.name(type_node, &format!("the type of {what}"))?;
            let slot_type = match type_name.as_str() {
                "text" => SlotType::Text,
                "bool" => SlotType::Bool,
                "list" => SlotType::List,
                "any" => SlotType::Any,
                "categorical" => {
                    let values = match def.get("values") {
                        Some(v) => r
                            .seq(v, &format!("the values of {what}"))?
                            .iter()
                            .map(|n| r.text(n, "a categorical value"))
                            .collect::<Result<Vec<_>>>()?,
                        None => Vec::new(),
                    };
                    SlotType::Categorical { values }
                }
                "float" => {
                    let min_value = match def.get("min_value") {
                        Some(v) => r.number(v, "'min_value'")?,
                        None => 0.0,
                    };
                    let max_value = match def.get("max_value") {
                        Some(v) => r.number(v, "'max_value'")?,
                        None => 1.0,
                    };
                    if min_value > max_value {
                        return Err(r.err(type_node, format!("{what}: 'min_value' {min_value} is larger than 'max_value' {max_value}")));
                    }
                    SlotType::Float {
                        min_value,
                        max_value,
                    }
                }
                other if other.contains('.') => {
                    r.warn(type_node, format!("{what} has the custom slot type '{other}', which rusa cannot load; it is treated as type 'any'"));
                    SlotType::Custom(other.to_owned())
                }
                other => {
                    let message = format!("{what} has the unknown type '{other}'");
                    return Err(match did_you_mean(other, SLOT_TYPES.iter().copied()) {
                        Some(s) => r.err_hint(
                            type_node,
                            format!("{message} (did you mean '{s}'?)"),
                            format!("slot types are {}", SLOT_TYPES.join(", ")),
                        ),
                        None => r.err_hint(
                            type_node,
                            message,
                            format!("slot types are {}", SLOT_TYPES.join(", ")),
                        ),
                    });
                }
            };
            let influence_conversation = match def.get("influence_conversation") {
                Some(v) => r.bool(v, "'influence_conversation'")?,
                None => !matches!(slot_type, SlotType::Any | SlotType::Custom(_)),
            };
            let initial_value = def
                .get("initial_value")
                .filter(|v| !v.is_null())
                .map(Node::to_json);
            let mut mappings = Vec::new();
            if let Some(list) = def.get("mappings") {
                for m in r.seq(list, &format!("the mappings of {what}"))? {
                    mappings.push(read_mapping(r, m, &what)?);
                }
            }
            if self.slot(&name).is_some() {
                r.warn(key, format!("{what} is defined twice"));
                continue;
            }
            self.slots.push(Slot {
                name,
                slot_type,
                influence_conversation,
                initial_value,
                mappings,
                pos: r.pos(key),
            });
        }
        Ok(())
    }

    fn read_actions(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        for item in r.seq(node, "'actions'")? {
            let Some((name_node, props)) = single_key(item) else {
                return Err(r.err(
                    item,
                    format!("an action must be a name, found {}", item.type_name()),
                ));
            };
            let name = r.name(name_node, "an action name")?;
            let mut send_domain = false;
            if let Some(props) = props {
                let entries =
                    r.map_or_empty(props, &format!("the properties of action '{name}'"))?;
                r.check_keys(entries, &["send_domain"], &format!("action '{name}'"));
                if let Some(v) = props.get("send_domain") {
                    send_domain = r.bool(v, "'send_domain'")?;
                }
            }
            if self.has_action(&name) {
                r.warn(name_node, format!("action '{name}' is listed twice"));
            } else {
                self.actions.push(ActionName {
                    name,
                    send_domain,
                    pos: r.pos(name_node),
                });
            }
        }
        Ok(())
    }

    fn read_forms(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        for (key, def) in r.map_or_empty(node, "'forms'")? {
            let name = r.name(key, "a form name")?;
            let what = format!("form '{name}'");
            let entries = r.map_or_empty(def, &format!("the definition of {what}"))?;
            r.check_keys(entries, &["required_slots", "ignored_intents"], &what);
            let mut required_slots = Vec::new();
            // The Rasa 2.x form (slots with mappings) was refused before: `data migrate`.
            if let Some(slots) = def.get("required_slots") {
                for s in r.seq(slots, &format!("the required slots of {what}"))? {
                    required_slots.push((r.name(s, "a slot name")?, r.pos(s)));
                }
            }
            let ignored_intents = match def.get("ignored_intents") {
                Some(v) => r.names(v, "an intent name")?,
                None => Vec::new(),
            };
            if self.form(&name).is_some() {
                r.warn(key, format!("{what} is defined twice"));
                continue;
            }
            self.forms.push(Form {
                name,
                required_slots,
                ignored_intents,
                pos: r.pos(key),
            });
        }
        Ok(())
    }

    fn read_session_config(&mut self, r: &mut Reader<'_>, node: &Node) -> Result<()> {
        let entries = r.map_or_empty(node, "'session_config'")?;
        r.check_keys(
            entries,
            &["session_expiration_time", "carry_over_slots_to_new_session"],
            "'session_config'",
        );
        if let Some(v) = node.get("session_expiration_time") {
            let minutes = r.number(v, "'session_expiration_time'")?;
            if minutes < 0.0 || !minutes.is_finite() {
                return Err(r.err(
                    v,
                    "'session_expiration_time' must be zero or a positive number of minutes",
                ));
            }
            self.session_config.session_expiration_time = minutes;
        }
        if let Some(v) = node.get("carry_over_slots_to_new_session") {
            self.session_config.carry_over_slots_to_new_session =
                r.bool(v, "'carry_over_slots_to_new_session'")?;
        }
        Ok(())
    }
}

fn read_mapping(r: &mut Reader<'_>, node: &Node, slot: &str) -> Result<SlotMapping> {
    let entries = r.map(node, &format!("a mapping of {slot}"))?;
    r.check_keys(entries, MAPPING_KEYS, &format!("a mapping of {slot}"));
    let Some(type_node) = node.get("type") else {
        return Err(r.err_hint(
            node,
            format!("a mapping of {slot} has no 'type'"),
            format!("mapping types are {}", MAPPING_TYPES.join(", ")),
        ));
    };
    let type_name = r.name(type_node, "a mapping type")?;
    let mapping_type = match type_name.as_str() {
        "from_entity" => MappingType::FromEntity,
        "from_text" => MappingType::FromText,
        "from_intent" => MappingType::FromIntent,
        "from_trigger_intent" => MappingType::FromTriggerIntent,
        "custom" => MappingType::Custom,
        other => {
            let suggestion = did_you_mean(other, MAPPING_TYPES.iter().copied())
                .map(|s| format!(" (did you mean '{s}'?)"))
                .unwrap_or_default();
            return Err(r.err_hint(
                type_node,
                format!("a mapping of {slot} has the unknown type '{other}'{suggestion}"),
                format!("mapping types are {}", MAPPING_TYPES.join(", ")),
            ));
        }
    };
    let opt_name = |r: &Reader<'_>, key: &str| -> Result<Option<String>> {
        match node.get(key) {
            Some(v) if !v.is_null() => Ok(Some(r.name(v, &format!("'{key}'"))?)),
            _ => Ok(None),
        }
    };
    let entity = opt_name(r, "entity")?;
    if mapping_type == MappingType::FromEntity && entity.is_none() {
        return Err(r.err(
            node,
            format!("a 'from_entity' mapping of {slot} needs an 'entity'"),
        ));
    }
    let value = node.get("value").map(Node::to_json);
    if matches!(
        mapping_type,
        MappingType::FromIntent | MappingType::FromTriggerIntent
    ) && value.is_none()
    {
        return Err(r.err(
            node,
            format!("a '{type_name}' mapping of {slot} needs a 'value'"),
        ));
    }
    let mut conditions = Vec::new();
    if let Some(list) = node.get("conditions") {
        for c in r.seq(list, "'conditions'")? {
            let entries = r.map(c, "a mapping condition")?;
            r.check_keys(
                entries,
                &["active_loop", "requested_slot"],
                "a mapping condition",
            );
            let active_loop = match c.get("active_loop") {
                Some(v) if !v.is_null() => Some(r.name(v, "'active_loop'")?),
                _ => None,
            };
            let requested_slot = match c.get("requested_slot") {
                Some(v) if !v.is_null() => Some(r.name(v, "'requested_slot'")?),
                _ => None,
            };
            conditions.push(MappingCondition {
                active_loop,
                requested_slot,
            });
        }
    }
    Ok(SlotMapping {
        mapping_type,
        entity,
        role: opt_name(r, "role")?,
        group: opt_name(r, "group")?,
        intent: node
            .get("intent")
            .map(|v| r.names(v, "an intent name"))
            .transpose()?
            .unwrap_or_default(),
        not_intent: node
            .get("not_intent")
            .map(|v| r.names(v, "an intent name"))
            .transpose()?
            .unwrap_or_default(),
        value,
        action: opt_name(r, "action")?,
        conditions,
        pos: r.pos(node),
    })
}

/// Reads a `responses:` mapping (of the domain, or of a training data file) into `out`.
pub(crate) fn read_responses(
    r: &mut Reader<'_>,
    node: &Node,
    out: &mut IndexMap<String, Response>,
) -> Result<()> {
    for (key, list) in r.map_or_empty(node, "'responses'")? {
        let name = r.name(key, "a response name")?;
        let mut variations = Vec::new();
        for item in r.seq(list, &format!("the variations of response '{name}'"))? {
            variations.push(read_variation(r, item, &name)?);
        }
        if out.contains_key(&name) {
            r.warn(
                key,
                format!("response '{name}' is defined twice; the first definition is used"),
            );
            continue;
        }
        out.insert(
            name.clone(),
            Response {
                name,
                variations,
                pos: r.pos(key),
            },
        );
    }
    Ok(())
}

fn read_variation(r: &mut Reader<'_>, node: &Node, response: &str) -> Result<ResponseVariation> {
    // A bare string is shorthand for `- text: ...`.
    if let Some(text) = node.as_str() {
        return Ok(ResponseVariation {
            text: Some(text.to_owned()),
            image: None,
            buttons: Vec::new(),
            custom: None,
            channel: None,
            conditions: Vec::new(),
            extra: serde_json::Map::new(),
            pos: r.pos(node),
        });
    }
    let entries = r.map(node, &format!("a variation of response '{response}'"))?;
    let mut variation = ResponseVariation {
        text: None,
        image: None,
        buttons: Vec::new(),
        custom: None,
        channel: None,
        conditions: Vec::new(),
        extra: serde_json::Map::new(),
        pos: r.pos(node),
    };
    for (key, value) in entries {
        let key_name = key.scalar_text().unwrap_or_default();
        match key_name.as_str() {
            "text" if !value.is_null() => variation.text = Some(r.text(value, "'text'")?),
            "image" if !value.is_null() => variation.image = Some(r.text(value, "'image'")?),
            "custom" if !value.is_null() => variation.custom = Some(value.to_json()),
            "channel" if !value.is_null() => variation.channel = Some(r.name(value, "'channel'")?),
            "buttons" => {
                for b in r.seq(value, "'buttons'")? {
                    let fields = r.map(b, "a button")?;
                    r.check_keys(fields, &["title", "payload"], "a button");
                    let title = b
                        .get("title")
                        .map(|t| r.text(t, "a button's 'title'"))
                        .transpose()?;
                    let payload = b
                        .get("payload")
                        .map(|p| r.text(p, "a button's 'payload'"))
                        .transpose()?;
                    let Some(title) = title else {
                        return Err(r.err(
                            b,
                            format!("a button of response '{response}' has no 'title'"),
                        ));
                    };
                    variation.buttons.push(Button {
                        payload: payload.unwrap_or_else(|| title.clone()),
                        title,
                    });
                }
            }
            "condition" => {
                for c in r.seq(value, "'condition'")? {
                    let fields = r.map(c, "a response condition")?;
                    r.check_keys(fields, &["type", "name", "value"], "a response condition");
                    if let Some(t) = c.get("type") {
                        let t = r.text(t, "a condition's 'type'")?;
                        if t != "slot" {
                            return Err(r.err(c, format!("response conditions can test slots only ('type: slot'), found '{t}'")));
                        }
                    }
                    let Some(slot) = c.get("name") else {
                        return Err(r.err(c, "a response condition needs the 'name' of a slot"));
                    };
                    variation.conditions.push(ResponseCondition {
                        slot: r.name(slot, "a slot name")?,
                        value: c
                            .get("value")
                            .map(Node::to_json)
                            .unwrap_or(serde_json::Value::Null),
                    });
                }
            }
            _ => {
                variation.extra.insert(key_name, value.to_json());
            }
        }
    }
    Ok(variation)
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::*;
    use crate::yaml::parse;

    fn read(text: &str) -> (Result<Domain>, Vec<Diagnostic>) {
        let doc = parse(Arc::from(Path::new("domain.yml")), text).unwrap();
        let mut warnings = Vec::new();
        let mut domain = Domain::empty();
        let result = domain.merge_file(&doc, &mut warnings).map(|()| domain);
        (result, warnings)
    }

    #[test]
    fn reads_every_kind_of_definition() {
        let (domain, warnings) = read(
            r#"
version: "3.1"
intents:
  - greet
  - inform:
      use_entities: [city]
entities:
  - city:
      roles: [departure, destination]
slots:
  city:
    type: text
    mappings:
    - type: from_entity
      entity: city
      role: departure
      conditions:
      - active_loop: trip_form
        requested_slot: city
  size:
    type: categorical
    values: [small, large]
    mappings:
    - type: from_intent
      intent: [big, huge]
      value: large
  temp:
    type: float
    min_value: -10
    max_value: 40
    mappings: [{type: custom}]
responses:
  utter_greet:
  - text: "Hi {city}!"
    buttons:
    - title: Yes
      payload: /affirm
  - text: "Hello"
    condition:
    - type: slot
      name: city
      value: Berlin
    channel: slack
actions:
  - action_book
  - action_lookup: {send_domain: true}
forms:
  trip_form:
    required_slots: [city]
    ignored_intents: greet
session_config:
  session_expiration_time: 0
  carry_over_slots_to_new_session: false
config:
  store_entities_as_slots: false
"#,
        );
        let domain = domain.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(domain.intents.len(), 2);
        assert_eq!(
            domain.intents[1].use_entities.as_deref(),
            Some(&["city".to_owned()][..])
        );
        assert_eq!(domain.entities[0].roles, ["departure", "destination"]);
        let city = domain.slot("city").unwrap();
        assert_eq!(city.mappings[0].role.as_deref(), Some("departure"));
        assert_eq!(
            city.mappings[0].conditions[0].requested_slot.as_deref(),
            Some("city")
        );
        assert_eq!(
            domain.slot("size").unwrap().mappings[0].intent,
            ["big", "huge"]
        );
        assert_eq!(
            domain.slot("temp").unwrap().slot_type,
            SlotType::Float {
                min_value: -10.0,
                max_value: 40.0
            }
        );
        let greet = &domain.responses["utter_greet"];
        assert_eq!(greet.variations[0].buttons[0].title, "Yes");
        assert_eq!(greet.variations[1].conditions[0].slot, "city");
        assert_eq!(greet.variations[1].channel.as_deref(), Some("slack"));
        assert!(domain.actions[1].send_domain);
        assert_eq!(domain.forms[0].ignored_intents, ["greet"]);
        assert_eq!(domain.session_config.session_expiration_time, 0.0);
        assert!(!domain.store_entities_as_slots);
    }

    #[test]
    fn unknown_slot_type_is_an_error_with_a_suggestion() {
        let (domain, _) = read("slots:\n  x:\n    type: textt\n");
        let err = domain.unwrap_err();
        assert_eq!(
            err.to_string(),
            "domain.yml:3:11: slot 'x' has the unknown type 'textt' (did you mean 'text'?)"
        );
        assert!(err.hint().unwrap().contains("categorical"));
    }

    #[test]
    fn custom_slot_types_are_accepted_with_a_warning() {
        let (domain, warnings) = read("slots:\n  x:\n    type: addons.MySlot\n");
        assert_eq!(
            domain.unwrap().slots[0].slot_type,
            SlotType::Custom("addons.MySlot".into())
        );
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn unknown_keys_warn_with_did_you_mean() {
        let (_, warnings) = read("intents: [a]\nrespones: {}\n");
        assert!(
            warnings[0].message.contains("did you mean 'responses'"),
            "{warnings:?}"
        );
        assert_eq!(warnings[0].pos.line, 2);
    }
}
