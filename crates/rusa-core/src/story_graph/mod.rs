//! The story graph of `rusa visualize` (and the live graph of `rusa interactive`): every
//! conversation path of the stories and rules drawn as one graph, built as Rasa 3.6 builds
//! it (`rasa.shared.core.training_data.visualization`), with what Rasa leaves out.
//!
//! As in Rasa: a START node, an END node, one node per action (not `action_listen`), a user
//! turn first as an edge keyed by what the user said, then action nodes merged until
//! nothing changes — two nodes with the same label merge when their outgoing edges are the
//! same (ignoring each other) or one has none, or their incoming edges are the same, or the
//! label paths of length `max_history` that leave them are the same — and finally every
//! user turn becomes a node of its own. Rules start (and, without `wait_for_user_input`,
//! end) with a `...` node.
//!
//! Unlike Rasa: a user turn is labelled with its intent and its entities (values where the
//! story gives them), never with a random example text, so the same input always gives the
//! same graph and stories that differ only by entities stay apart; `slot_was_set` steps and
//! active loops are nodes of their own kinds. Rendering (DOT, SVG, a self-contained HTML
//! page) is in [`render`].

mod render;

use std::collections::{BTreeMap, BTreeSet};

use rusa_project::{Rule, StepKind, Story};
use serde_json::Value;

use crate::{Event, EventKind};

pub use render::{story_graph_html, to_dot, to_html, to_svg};

/// The label of the node that stands for "anything before" at the start of a rule (and
/// "anything after" at the end of a rule that does not wait for the user), as in Rasa.
pub const RULE_SNIPPET: &str = "...";

/// Rasa's default `--max-history` for merging nodes.
pub const DEFAULT_MAX_HISTORY: usize = 2;

/// What happened at one point of a conversation path, as the graph draws it.
#[derive(Debug, Clone, PartialEq)]
pub enum GraphEvent {
    /// The user said something: an intent with entities (`(name, value)`; a value of
    /// `None` means "some value"), or, in an end-to-end story, a text.
    User {
        intent: Option<String>,
        entities: Vec<(String, Option<Value>)>,
        text: Option<String>,
    },
    /// The assistant ran an action (or, end-to-end, said a text).
    Action(String),
    /// Slots were set (`None`: to some value).
    SlotsSet(Vec<(String, Option<Value>)>),
    /// A loop became active (`None`: the active loop ended).
    ActiveLoop(Option<String>),
}

/// Options of the graph.
#[derive(Debug, Clone)]
pub struct GraphOptions {
    /// Turns two equally labelled nodes must share going forward to be merged (Rasa's
    /// `--max-history`, default 2).
    pub max_history: usize,
    /// The index of a sequence whose path is drawn highlighted (the conversation of
    /// `rusa interactive`); `None` for none.
    pub highlight: Option<usize>,
    /// The page title of the HTML output.
    pub title: String,
}

impl Default for GraphOptions {
    fn default() -> Self {
        Self {
            max_history: DEFAULT_MAX_HISTORY,
            highlight: None,
            title: "Story graph".to_owned(),
        }
    }
}

/// The kind of a node, which decides its shape and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NodeKind {
    Start,
    End,
    Action,
    /// A user turn.
    User,
    Slots,
    Loop,
}

impl NodeKind {
    /// The CSS class (and DOT `class`) of the kind.
    pub fn class(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::End => "end",
            Self::Action => "action",
            Self::User => "intent",
            Self::Slots => "slot",
            Self::Loop => "loop",
        }
    }
}

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    /// The text drawn in the node; lines are separated by `\n`.
    pub label: String,
    /// On the highlighted path.
    pub active: bool,
}

/// An edge key for an edge without a user turn (Rasa's `NONE`).
const NO_MESSAGE: &str = "";

const START: i64 = 0;
const END: i64 = -1;

/// The story graph: nodes by id (START is 0, END is -1, the others count up in order of
/// creation, as in Rasa) and edges between them.
#[derive(Debug, Clone, Default)]
pub struct StoryGraph {
    pub nodes: BTreeMap<i64, Node>,
    /// `(from, to)`, sorted; at most one edge between two nodes once user turns are nodes.
    pub edges: BTreeSet<(i64, i64)>,
    /// Edges on the highlighted path.
    pub active_edges: BTreeSet<(i64, i64)>,
}

/// The graph while it is built: edges keyed by the user turn they stand for.
#[derive(Default)]
struct Builder {
    nodes: BTreeMap<i64, Node>,
    /// from → {(to, key)}
    out: BTreeMap<i64, BTreeSet<(i64, String)>>,
    /// to → {(from, key)}
    inn: BTreeMap<i64, BTreeSet<(i64, String)>>,
    /// key → the label of the user turn node it becomes
    user_labels: BTreeMap<String, String>,
    active_edges: BTreeSet<(i64, i64, String)>,
}

impl Builder {
    fn add_edge(&mut self, from: i64, to: i64, key: &str, active: bool) {
        self.out
            .entry(from)
            .or_default()
            .insert((to, key.to_owned()));
        self.inn
            .entry(to)
            .or_default()
            .insert((from, key.to_owned()));
        if active {
            self.active_edges.insert((from, to, key.to_owned()));
        }
    }

    fn outgoing(&self, node: i64) -> &BTreeSet<(i64, String)> {
        static EMPTY: BTreeSet<(i64, String)> = BTreeSet::new();
        self.out.get(&node).unwrap_or(&EMPTY)
    }

    fn incoming(&self, node: i64) -> &BTreeSet<(i64, String)> {
        static EMPTY: BTreeSet<(i64, String)> = BTreeSet::new();
        self.inn.get(&node).unwrap_or(&EMPTY)
    }

    fn same_label(&self, a: i64, b: i64) -> bool {
        let (na, nb) = (&self.nodes[&a], &self.nodes[&b]);
        na.kind == nb.kind && na.label == nb.label
    }

    /// Rasa's `_outgoing_edges_are_similar`: equal ignoring edges between the two, or one
    /// of them has none.
    fn outgoing_similar(&self, a: i64, b: i64) -> bool {
        let filter = |n: i64| -> BTreeSet<&(i64, String)> {
            self.outgoing(n)
                .iter()
                .filter(|(t, _)| *t != a && *t != b)
                .collect()
        };
        let (ea, eb) = (filter(a), filter(b));
        ea.is_empty() || eb.is_empty() || ea == eb
    }

    /// The label paths of `max_history` nodes leaving `node` (shorter where a path ends).
    fn fingerprint(&self, node: i64, max_history: usize) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut stack = vec![vec![node]];
        while let Some(path) = stack.pop() {
            let last = *path.last().expect("paths are never empty");
            let next: BTreeSet<i64> = self.outgoing(last).iter().map(|(t, _)| *t).collect();
            if next.is_empty() || path.len() >= max_history.max(1) {
                out.insert(
                    path.iter()
                        .map(|n| {
                            let node = &self.nodes[n];
                            format!("{}:{}", node.kind.class(), node.label)
                        })
                        .collect::<Vec<_>>()
                        .join(" - "),
                );
                continue;
            }
            for t in next {
                let mut p = path.clone();
                p.push(t);
                stack.push(p);
            }
        }
        out
    }

    fn equivalent(&self, a: i64, b: i64, max_history: usize) -> bool {
        self.same_label(a, b)
            && (self.outgoing_similar(a, b)
                || self.incoming(a) == self.incoming(b)
                || self.fingerprint(a, max_history) == self.fingerprint(b, max_history))
    }

    /// Moves every edge of `j` to `i` and removes `j`.
    fn merge_into(&mut self, i: i64, j: i64) {
        if self.nodes[&j].active {
            self.nodes.get_mut(&i).expect("i exists").active = true;
        }
        let map = |n: i64| if n == j { i } else { n };
        let out = self.out.remove(&j).unwrap_or_default();
        let inn = self.inn.remove(&j).unwrap_or_default();
        for (to, key) in &out {
            if let Some(set) = self.inn.get_mut(to) {
                set.remove(&(j, key.clone()));
            }
        }
        for (from, key) in &inn {
            if let Some(set) = self.out.get_mut(from) {
                set.remove(&(j, key.clone()));
            }
        }
        let moved: Vec<(i64, i64, String)> = out
            .into_iter()
            .map(|(to, key)| (i, map(to), key))
            .chain(inn.into_iter().map(|(from, key)| (map(from), i, key)))
            .collect();
        let active: Vec<(i64, i64, String)> = self
            .active_edges
            .iter()
            .filter(|(f, t, _)| *f == j || *t == j)
            .cloned()
            .collect();
        for edge in &active {
            self.active_edges.remove(edge);
            self.active_edges
                .insert((map(edge.0), map(edge.1), edge.2.clone()));
        }
        for (from, to, key) in moved {
            self.add_edge(from, to, &key, false);
        }
        self.nodes.remove(&j);
    }

    /// Rasa's `_merge_equivalent_nodes`, repeated until nothing changes.
    fn merge_equivalent_nodes(&mut self, max_history: usize) {
        let mut changed = true;
        while changed {
            changed = false;
            let ids: Vec<i64> = self.nodes.keys().copied().filter(|n| *n > 0).collect();
            for (at, &i) in ids.iter().enumerate() {
                if !self.nodes.contains_key(&i) {
                    continue;
                }
                for &j in &ids[at + 1..] {
                    if self.nodes.contains_key(&j)
                        && self.nodes.contains_key(&i)
                        && self.equivalent(i, j, max_history)
                    {
                        self.merge_into(i, j);
                        changed = true;
                    }
                }
            }
        }
    }
}

/// A user turn's edge key and node label: `intent` and its entities, one per line
/// (`city: Berlin`, or `city` when the story gives no value), or the quoted text of an
/// end-to-end turn.
fn user_turn(
    intent: &Option<String>,
    entities: &[(String, Option<Value>)],
    text: &Option<String>,
) -> (String, String) {
    let mut lines = Vec::new();
    match (intent, text) {
        (Some(intent), _) => lines.push(intent.clone()),
        (None, Some(text)) => lines.push(format!("\u{201c}{}\u{201d}", text.trim())),
        (None, None) => lines.push("(any message)".to_owned()),
    }
    let mut entity_lines: Vec<String> = entities
        .iter()
        .map(|(name, value)| match value {
            None => name.clone(),
            Some(v) => format!("{name}: {}", value_text(v)),
        })
        .collect();
    entity_lines.sort();
    lines.extend(entity_lines);
    let label = lines.join("\n");
    (label.clone(), label)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// Builds the graph of `sequences` (each one path through a conversation).
pub fn build(sequences: &[Vec<GraphEvent>], options: &GraphOptions) -> StoryGraph {
    let mut b = Builder::default();
    b.nodes.insert(
        START,
        Node {
            kind: NodeKind::Start,
            label: "START".to_owned(),
            active: options.highlight.is_some(),
        },
    );
    b.nodes.insert(
        END,
        Node {
            kind: NodeKind::End,
            label: "END".to_owned(),
            active: false,
        },
    );
    let mut next_id = START;
    for (index, events) in sequences.iter().enumerate() {
        let active = options.highlight == Some(index);
        let mut current = START;
        let mut message: Option<String> = None;
        for event in events {
            let (kind, label) = match event {
                GraphEvent::User {
                    intent,
                    entities,
                    text,
                } => {
                    let (key, label) = user_turn(intent, entities, text);
                    b.user_labels.insert(key.clone(), label);
                    message = Some(key);
                    continue;
                }
                GraphEvent::Action(name) if name == "action_listen" => continue,
                GraphEvent::Action(name) => (NodeKind::Action, name.clone()),
                GraphEvent::SlotsSet(slots) => {
                    let lines: Vec<String> = slots
                        .iter()
                        .map(|(name, value)| match value {
                            None => format!("{name} set"),
                            Some(v) => format!("{name} = {}", value_text(v)),
                        })
                        .collect();
                    (NodeKind::Slots, lines.join("\n"))
                }
                GraphEvent::ActiveLoop(name) => (
                    NodeKind::Loop,
                    match name {
                        Some(name) => format!("active loop: {name}"),
                        None => "loop ends".to_owned(),
                    },
                ),
            };
            next_id += 1;
            b.nodes.insert(
                next_id,
                Node {
                    kind,
                    label,
                    active,
                },
            );
            let key = message.take().unwrap_or_else(|| NO_MESSAGE.to_owned());
            b.add_edge(current, next_id, &key, active);
            current = next_id;
        }
        let key = message.take().unwrap_or_else(|| NO_MESSAGE.to_owned());
        b.add_edge(current, END, &key, active);
    }
    if options.highlight.is_some()
        && let Some(end) = b.nodes.get_mut(&END)
    {
        end.active = b.active_edges.iter().any(|(_, to, _)| *to == END);
    }

    b.merge_equivalent_nodes(options.max_history);

    // Every user turn becomes a node of its own (one per edge, as in Rasa).
    let mut graph = StoryGraph::default();
    let edges: Vec<(i64, i64, String)> = b
        .out
        .iter()
        .flat_map(|(from, set)| set.iter().map(move |(to, key)| (*from, *to, key.clone())))
        .collect();
    for (from, to, key) in edges {
        let active = b.active_edges.contains(&(from, to, key.clone()));
        if key == NO_MESSAGE {
            graph.edges.insert((from, to));
            if active {
                graph.active_edges.insert((from, to));
            }
            continue;
        }
        next_id += 1;
        b.nodes.insert(
            next_id,
            Node {
                kind: NodeKind::User,
                label: b.user_labels.get(&key).cloned().unwrap_or(key),
                active,
            },
        );
        graph.edges.insert((from, next_id));
        graph.edges.insert((next_id, to));
        if active {
            graph.active_edges.insert((from, next_id));
            graph.active_edges.insert((next_id, to));
        }
    }
    // END goes when nothing leads to it.
    if !graph.edges.iter().any(|(_, to)| *to == END) {
        b.nodes.remove(&END);
    }
    graph.nodes = b.nodes;
    graph
}

/// The paths of a project's stories and rules, as Rasa's visualization trains them:
/// `or` steps and checkpoints unfolded (`rusa_project::dialogue::unfold_stories`); a rule
/// starts with `...` unless it applies only at the conversation's start, then its
/// condition, then its steps, and ends with `...` when it does not wait for the user.
pub fn sequences_from_project(stories: &[Story], rules: &[Rule]) -> Vec<Vec<GraphEvent>> {
    let mut out = Vec::new();
    for (_, steps) in rusa_project::dialogue::unfold_stories(stories) {
        out.push(steps.iter().filter_map(|s| step_event(&s.kind)).collect());
    }
    for rule in rules {
        let mut events = Vec::new();
        if !rule.conversation_start {
            events.push(GraphEvent::Action(RULE_SNIPPET.to_owned()));
        }
        for step in rule.condition.iter().chain(&rule.steps) {
            match &step.kind {
                StepKind::Or(alternatives) => {
                    // A rule's `or` is drawn as its first alternative.
                    if let Some(first) = alternatives.first().and_then(|a| step_event(&a.kind)) {
                        events.push(first);
                    }
                }
                kind => events.extend(step_event(kind)),
            }
        }
        if !rule.wait_for_user_input {
            events.push(GraphEvent::Action(RULE_SNIPPET.to_owned()));
        }
        out.push(events);
    }
    out
}

fn step_event(kind: &StepKind) -> Option<GraphEvent> {
    match kind {
        StepKind::User {
            intent,
            entities,
            text,
        } => Some(GraphEvent::User {
            intent: intent.clone(),
            entities: entities
                .iter()
                .map(|e| {
                    let name = match (&e.role, &e.group) {
                        (Some(r), _) => format!("{} ({r})", e.entity),
                        (None, Some(g)) => format!("{} [{g}]", e.entity),
                        _ => e.entity.clone(),
                    };
                    (name, e.value.clone())
                })
                .collect(),
            text: text.clone(),
        }),
        StepKind::Action(name) => Some(GraphEvent::Action(name.clone())),
        StepKind::Bot(text) => Some(GraphEvent::Action(format!(
            "\u{201c}{}\u{201d}",
            text.trim()
        ))),
        StepKind::SlotWasSet(slots) => Some(GraphEvent::SlotsSet(slots.clone())),
        StepKind::ActiveLoop(name) => Some(GraphEvent::ActiveLoop(name.clone())),
        StepKind::Checkpoint(_) | StepKind::Or(_) => None,
    }
}

/// The path of a live conversation (a tracker's events), for `rusa interactive`: user
/// messages with their intent and entities, actions, slots set (consecutive ones in one
/// node) and active loops. Undone messages and actions are left out; a restart starts
/// over.
pub fn sequence_from_events(events: &[Event]) -> Vec<GraphEvent> {
    let mut out: Vec<GraphEvent> = Vec::new();
    for event in events {
        match &event.kind {
            EventKind::User(user) => {
                let entities = user
                    .entities()
                    .iter()
                    .filter_map(|e| {
                        let name = e.get("entity")?.as_str()?.to_owned();
                        Some((name, e.get("value").cloned()))
                    })
                    .collect();
                out.push(GraphEvent::User {
                    intent: user.intent_name().map(str::to_owned),
                    entities,
                    text: if user.intent_name().is_none() {
                        user.text.clone()
                    } else {
                        None
                    },
                });
            }
            EventKind::Action(action) => {
                if let Some(name) = action.name.as_deref().or(action.action_text.as_deref())
                    && name != "action_listen"
                {
                    out.push(GraphEvent::Action(name.to_owned()));
                }
            }
            EventKind::Slot { name, value } => match out.last_mut() {
                Some(GraphEvent::SlotsSet(slots)) => {
                    slots.push((name.clone(), Some(value.clone())))
                }
                _ => out.push(GraphEvent::SlotsSet(vec![(
                    name.clone(),
                    Some(value.clone()),
                )])),
            },
            EventKind::ActiveLoop { name } => out.push(GraphEvent::ActiveLoop(name.clone())),
            EventKind::Restart => out.clear(),
            EventKind::UserUtteranceReverted => {
                if let Some(at) = out
                    .iter()
                    .rposition(|e| matches!(e, GraphEvent::User { .. }))
                {
                    out.truncate(at);
                }
            }
            EventKind::ActionReverted => {
                if let Some(at) = out.iter().rposition(|e| matches!(e, GraphEvent::Action(_))) {
                    out.truncate(at);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(intent: &str) -> GraphEvent {
        GraphEvent::User {
            intent: Some(intent.to_owned()),
            entities: Vec::new(),
            text: None,
        }
    }

    fn action(name: &str) -> GraphEvent {
        GraphEvent::Action(name.to_owned())
    }

    fn labels(g: &StoryGraph, kind: NodeKind) -> Vec<String> {
        let mut v: Vec<String> = g
            .nodes
            .values()
            .filter(|n| n.kind == kind)
            .map(|n| n.label.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn shared_beginnings_merge_and_user_turns_become_nodes() {
        // Two moodbot-like stories: greet → utter_greet, then happy or sad.
        let seqs = vec![
            vec![
                user("greet"),
                action("utter_greet"),
                user("mood_great"),
                action("utter_happy"),
            ],
            vec![
                user("greet"),
                action("utter_greet"),
                user("mood_unhappy"),
                action("utter_cheer_up"),
            ],
        ];
        let g = build(&seqs, &GraphOptions::default());
        assert_eq!(
            labels(&g, NodeKind::Action),
            ["utter_cheer_up", "utter_greet", "utter_happy"]
        );
        // greet appears twice before merging; after it, the two greet edges from START to the
        // one utter_greet are one.
        assert_eq!(
            labels(&g, NodeKind::User),
            ["greet", "mood_great", "mood_unhappy"]
        );
        assert!(g.nodes.contains_key(&END));
        // Every edge joins existing nodes.
        for (a, b) in &g.edges {
            assert!(g.nodes.contains_key(a) && g.nodes.contains_key(b));
        }
    }

    #[test]
    fn entities_and_slots_keep_stories_apart() {
        let with_city = GraphEvent::User {
            intent: Some("inform".into()),
            entities: vec![("city".into(), Some(Value::from("Berlin")))],
            text: None,
        };
        let seqs = vec![
            vec![
                with_city,
                action("utter_ok"),
                GraphEvent::SlotsSet(vec![("city".into(), Some("Berlin".into()))]),
            ],
            vec![
                user("inform"),
                action("utter_ask_city"),
                GraphEvent::ActiveLoop(Some("city_form".into())),
            ],
        ];
        let g = build(&seqs, &GraphOptions::default());
        assert_eq!(
            labels(&g, NodeKind::User),
            ["inform", "inform\ncity: Berlin"]
        );
        assert_eq!(labels(&g, NodeKind::Slots), ["city = Berlin"]);
        assert_eq!(labels(&g, NodeKind::Loop), ["active loop: city_form"]);
    }

    #[test]
    fn same_input_same_graph_and_highlight_marks_the_path() {
        let seqs = vec![
            vec![user("greet"), action("utter_greet")],
            vec![user("bye"), action("utter_bye")],
        ];
        let opts = GraphOptions {
            highlight: Some(1),
            ..GraphOptions::default()
        };
        let a = build(&seqs, &opts);
        let b = build(&seqs, &opts);
        assert_eq!(a.nodes, b.nodes);
        assert_eq!(a.edges, b.edges);
        let active: Vec<&str> = a
            .nodes
            .values()
            .filter(|n| n.active)
            .map(|n| n.label.as_str())
            .collect();
        assert!(
            active.contains(&"utter_bye") && active.contains(&"bye"),
            "{active:?}"
        );
        assert!(!active.contains(&"utter_greet"));
    }

    #[test]
    fn live_events_become_a_path() {
        let events: Vec<Event> = serde_json::from_value(serde_json::json!([
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}, "entities": [{"entity": "name", "value": "Ada"}]}},
            {"event": "action", "name": "utter_greet"},
            {"event": "slot", "name": "a", "value": 1},
            {"event": "slot", "name": "b", "value": true},
            {"event": "action", "name": "utter_wrong"},
            {"event": "undo"},
        ]))
        .unwrap();
        let seq = sequence_from_events(&events);
        assert_eq!(seq.len(), 3);
        assert!(matches!(&seq[0], GraphEvent::User { entities, .. } if entities[0].0 == "name"));
        assert_eq!(
            seq[2],
            GraphEvent::SlotsSet(vec![
                ("a".into(), Some(1.into())),
                ("b".into(), Some(true.into()))
            ])
        );
    }
}
