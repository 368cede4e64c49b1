//! Evaluating a model: test stories (does the assistant do what the story says?) and NLU
//! test data (precision, recall and F1 of intents and entities).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rusa_project::dialogue::unfold_stories;
use rusa_project::{Example, StepKind, Story};
use serde::Serialize;
use serde_json::{Value, json};

use crate::agent::Agent;
use crate::events::{ActionExecuted, Event, EventKind, UserUttered};
use crate::tracker::{ACTION_LISTEN, DialogueStateTracker, SlotSpec};

/// Precision, recall, F1 and support of one label.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LabelScores {
    pub precision: f64,
    #[serde(rename = "recall")]
    pub recall: f64,
    #[serde(rename = "f1-score")]
    pub f1: f64,
    pub support: usize,
    /// For intents: the labels this one was mistaken for, with counts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub confused_with: BTreeMap<String, usize>,
}

/// A classification report as Rasa writes it (`intent_report.json`): per label, then
/// `accuracy`, `macro avg`, `weighted avg`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    pub labels: BTreeMap<String, LabelScores>,
    pub accuracy: f64,
    pub macro_avg: LabelScores,
    pub weighted_avg: LabelScores,
}

impl Report {
    /// Scores `(gold, predicted)` pairs.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut tp: BTreeMap<&str, usize> = BTreeMap::new();
        let mut gold_n: BTreeMap<&str, usize> = BTreeMap::new();
        let mut pred_n: BTreeMap<&str, usize> = BTreeMap::new();
        let mut confusions: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
        let mut total = 0;
        let mut correct = 0;
        for (gold, pred) in pairs {
            total += 1;
            *gold_n.entry(gold).or_default() += 1;
            *pred_n.entry(pred).or_default() += 1;
            if gold == pred {
                correct += 1;
                *tp.entry(gold).or_default() += 1;
            } else {
                *confusions
                    .entry(gold)
                    .or_default()
                    .entry(pred.to_owned())
                    .or_default() += 1;
            }
        }
        let labels: BTreeSet<&str> = gold_n.keys().chain(pred_n.keys()).copied().collect();
        let mut report = Report {
            accuracy: ratio(correct, total),
            ..Report::default()
        };
        for label in labels {
            let t = tp.get(label).copied().unwrap_or(0);
            let precision = ratio(t, pred_n.get(label).copied().unwrap_or(0));
            let recall = ratio(t, gold_n.get(label).copied().unwrap_or(0));
            report.labels.insert(
                label.to_owned(),
                LabelScores {
                    precision,
                    recall,
                    f1: f1(precision, recall),
                    support: gold_n.get(label).copied().unwrap_or(0),
                    confused_with: confusions.remove(label).unwrap_or_default(),
                },
            );
        }
        report.finish_averages();
        report
    }

    fn finish_averages(&mut self) {
        let n = self.labels.len().max(1) as f64;
        let support: usize = self.labels.values().map(|s| s.support).sum();
        let w = |f: fn(&LabelScores) -> f64| -> f64 {
            if support == 0 {
                0.0
            } else {
                self.labels
                    .values()
                    .map(|s| f(s) * s.support as f64)
                    .sum::<f64>()
                    / support as f64
            }
        };
        self.macro_avg = LabelScores {
            precision: self.labels.values().map(|s| s.precision).sum::<f64>() / n,
            recall: self.labels.values().map(|s| s.recall).sum::<f64>() / n,
            f1: self.labels.values().map(|s| s.f1).sum::<f64>() / n,
            support,
            confused_with: BTreeMap::new(),
        };
        self.weighted_avg = LabelScores {
            precision: w(|s| s.precision),
            recall: w(|s| s.recall),
            f1: w(|s| s.f1),
            support,
            confused_with: BTreeMap::new(),
        };
    }

    /// Rasa's JSON layout.
    pub fn to_json(&self) -> Value {
        let mut map = serde_json::Map::new();
        for (label, scores) in &self.labels {
            map.insert(
                label.clone(),
                serde_json::to_value(scores).unwrap_or(Value::Null),
            );
        }
        map.insert("accuracy".into(), json!(self.accuracy));
        map.insert(
            "macro avg".into(),
            serde_json::to_value(&self.macro_avg).unwrap_or(Value::Null),
        );
        map.insert(
            "weighted avg".into(),
            serde_json::to_value(&self.weighted_avg).unwrap_or(Value::Null),
        );
        Value::Object(map)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

/// The outcome of NLU evaluation.
#[derive(Debug, Clone)]
pub struct NluEvaluation {
    pub intents: Report,
    /// Entities scored per token-span: exact (start, end, entity) matches.
    pub entities: Report,
    /// Misclassified examples: text, gold intent, predicted intent and confidence.
    pub errors: Vec<Value>,
    /// Examples classified right, in the same shape.
    pub successes: Vec<Value>,
    /// Confidence of each prediction and whether it was right (for a histogram).
    pub confidences: Vec<(f64, bool)>,
    /// Labels and matrix (rows gold, columns predicted).
    pub confusion: (Vec<String>, Vec<Vec<usize>>),
    /// Per entity extractor, under the name Rasa gives its reports (the component of
    /// config.yml, e.g. `DIETClassifier` where rusa's CRF extractor stands in for it): its
    /// predictions scored alone, and the examples it got wrong.
    pub extractors: BTreeMap<String, (Report, Vec<Value>)>,
}

/// The entity extractors of the agent's pipeline: the name the parse writes into each
/// entity's `extractor`, and the name of the config.yml component it stands for.
fn entity_extractors(agent: &Agent) -> Vec<(String, String)> {
    let Some(nlu) = &agent.nlu else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for component in &nlu.components {
        let name = match component {
            rusa_nlu::AnyComponent::CrfEntityExtractor(_) => "CRFEntityExtractor",
            rusa_nlu::AnyComponent::RegexEntityExtractor(_) => "RegexEntityExtractor",
            _ => continue,
        };
        let rasa = nlu
            .substitutions
            .iter()
            .find(|s| s.rusa.iter().any(|r| r == name))
            .map_or(name, |s| s.rasa.as_str());
        out.push((name.to_owned(), rasa.to_owned()));
    }
    out
}

/// Parses each example with the agent and scores intents and entities.
///
/// Traced as one `Evaluation.nlu` span (`number_of_examples`); the examples' parses have no
/// spans of their own.
pub fn evaluate_nlu(agent: &Agent, examples: &[Example]) -> NluEvaluation {
    let span = tracing::info_span!("Evaluation.nlu", number_of_examples = examples.len());
    let _entered = span.enter();
    let mut pairs: Vec<(String, String)> = Vec::with_capacity(examples.len());
    let mut entity_pairs: Vec<(String, String)> = Vec::new();
    let mut errors = Vec::new();
    let mut successes = Vec::new();
    let mut confidences = Vec::new();
    let extractors = entity_extractors(agent);
    // Per extractor: its (gold, predicted) entity labels and the examples it got wrong.
    type Scored = (Vec<(String, String)>, Vec<Value>);
    let mut per_extractor: Vec<Scored> = vec![(Vec::new(), Vec::new()); extractors.len()];
    for example in examples {
        let parse = agent.parse_untraced(&example.text);
        let predicted = parse["intent"]["name"]
            .as_str()
            .unwrap_or("None")
            .to_owned();
        let confidence = parse["intent"]["confidence"].as_f64().unwrap_or(0.0);
        // Retrieval intents are scored by their base intent, as Rasa does.
        let gold = example.base_intent().to_owned();
        confidences.push((confidence, predicted == gold));
        let record = json!({"text": example.text, "intent": gold, "intent_prediction": {"name": predicted, "confidence": confidence}});
        if predicted != gold {
            errors.push(record);
        } else {
            successes.push(record);
        }
        pairs.push((gold, predicted));
        entity_pairs.extend(entity_matches(example, &parse));
        for ((name, _), (pairs, errors)) in extractors.iter().zip(&mut per_extractor) {
            let mut own = parse.clone();
            if let Some(list) = own.get_mut("entities").and_then(Value::as_array_mut) {
                list.retain(|e| e.get("extractor").and_then(Value::as_str) == Some(name));
            }
            let matches = entity_matches(example, &own);
            if matches.iter().any(|(g, p)| g != p) {
                errors.push(json!({
                    "text": example.text,
                    "entities": example.entities.iter().map(|e| json!({"start": e.start, "end": e.end, "entity": e.entity, "value": e.value})).collect::<Vec<_>>(),
                    "predicted_entities": own["entities"],
                }));
            }
            pairs.extend(matches);
        }
    }
    let intents = Report::from_pairs(pairs.iter().map(|(g, p)| (g.as_str(), p.as_str())));
    let entities = Report::from_pairs(entity_pairs.iter().map(|(g, p)| (g.as_str(), p.as_str())));
    let confusion = confusion_matrix(&intents, &pairs);
    let extractors = extractors
        .into_iter()
        .zip(per_extractor)
        .map(|((_, rasa), (pairs, errors))| {
            let report = Report::from_pairs(pairs.iter().map(|(g, p)| (g.as_str(), p.as_str())));
            (rasa, (report, errors))
        })
        .collect();
    NluEvaluation {
        intents,
        entities,
        errors,
        successes,
        confidences,
        confusion,
        extractors,
    }
}

/// The labels of a report and the matrix of its `(gold, predicted)` pairs (rows gold,
/// columns predicted).
fn confusion_matrix(report: &Report, pairs: &[(String, String)]) -> (Vec<String>, Vec<Vec<usize>>) {
    let labels: Vec<String> = report.labels.keys().cloned().collect();
    let index: BTreeMap<&str, usize> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut matrix = vec![vec![0; labels.len()]; labels.len()];
    for (g, p) in pairs {
        matrix[index[g.as_str()]][index[p.as_str()]] += 1;
    }
    (labels, matrix)
}

/// Gold and predicted entity labels per span: a gold span predicted exactly is a match, a
/// missed span counts as "no_entity" predicted, a spurious one as "no_entity" gold.
fn entity_matches(example: &Example, parse: &Value) -> Vec<(String, String)> {
    let predicted: Vec<(usize, usize, String)> = parse["entities"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    Some((
                        e.get("start")?.as_u64()? as usize,
                        e.get("end")?.as_u64()? as usize,
                        e.get("entity")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let mut used = vec![false; predicted.len()];
    for gold in &example.entities {
        match predicted
            .iter()
            .position(|(s, e, _)| *s == gold.start && *e == gold.end)
        {
            Some(i) => {
                used[i] = true;
                out.push((gold.entity.clone(), predicted[i].2.clone()));
            }
            None => out.push((gold.entity.clone(), "no_entity".into())),
        }
    }
    for (i, (_, _, entity)) in predicted.iter().enumerate() {
        if !used[i] {
            out.push(("no_entity".into(), entity.clone()));
        }
    }
    out
}

/// The outcome of one test story.
#[derive(Debug, Clone)]
pub struct StoryResult {
    pub name: String,
    /// The file the story is written in.
    pub source: std::path::PathBuf,
    pub passed: bool,
    /// The story as YAML steps, with `# predicted: x` comments where the model differed.
    pub annotated_steps: Vec<String>,
}

/// The outcome of dialogue evaluation.
#[derive(Debug, Clone)]
pub struct CoreEvaluation {
    pub stories: Vec<StoryResult>,
    pub actions: Report,
    /// Action labels and the matrix of gold (rows) against predicted (columns) actions.
    pub action_confusion: (Vec<String>, Vec<Vec<usize>>),
    /// The intents the NLU found in the stories' texts (with `--e2e` only).
    pub intents: Report,
    /// Whether the texts were parsed (`--e2e`).
    pub end_to_end: bool,
    /// Every prediction, in order: the story's action and what the model predicted, by
    /// which policy with what confidence (Rasa's `actions` of `POST /model/test/stories`).
    pub predictions: Vec<ActionPrediction>,
}

/// One action a test story names, and the model's prediction for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionPrediction {
    pub action: String,
    pub predicted: String,
    pub policy: String,
    pub confidence: f64,
}

/// Replays each test story, as Rasa's `rasa test core` does: before every action of the
/// story the model predicts the next action, and the story's own events are applied after
/// each prediction, so one mistake does not cascade. The user's messages are taken as the
/// story writes them (intent and entities); with `e2e` (`--e2e`) the NLU parses each text
/// and a message whose intent or entities differ from the story's fails it. When the model
/// predicts the active form where the story does something else, the form is taken as
/// having rejected the message and the model predicts again (Rasa's emulated rejection).
///
/// Traced: `Evaluation.test_stories` (`number_of_stories`), one `Evaluation.test_story` per
/// replayed story (`story_number`, `passed`), and in it the prediction of each action
/// (`MessageProcessor._predict_next_with_tracker`) and the parse of each text
/// (`GraphNode.<Class>`), as in a served turn.
pub fn evaluate_stories(agent: &Agent, stories: &[Story], e2e: bool) -> CoreEvaluation {
    let all = tracing::info_span!(
        "Evaluation.test_stories",
        number_of_stories = tracing::field::Empty
    );
    let _all = all.enter();
    let predict = |tracker: &DialogueStateTracker| {
        let span = tracing::info_span!(
            "MessageProcessor._predict_next_with_tracker",
            intent_name = tracing::field::Empty,
        );
        if let Some(intent) = tracker.latest_message().and_then(|m| m.intent_name()) {
            span.record("intent_name", intent);
        }
        span.in_scope(|| {
            agent
                .dialogue
                .policies
                .predict(&agent.dialogue.domain, tracker)
        })
    };
    // The prediction for an action the story names: a predicted active form that the story
    // does not run is emulated as rejected, and the model predicts again.
    let predict_action = |tracker: &mut DialogueStateTracker, gold: &str| {
        let predicted = predict(tracker);
        let active_form = tracker
            .active_loop_name()
            .filter(|l| agent.dialogue.domain.form(l).is_some());
        if predicted.action != gold && active_form == Some(predicted.action.as_str()) {
            tracker.update(Event::new(
                EventKind::ActionExecutionRejected {
                    name: predicted.action,
                    policy: None,
                    confidence: None,
                },
                0.0,
            ));
            return predict(tracker);
        }
        predicted
    };
    let mut predictions: Vec<ActionPrediction> = Vec::new();
    let mut record = |gold: &str, p: crate::policies::PolicyPrediction| {
        predictions.push(ActionPrediction {
            action: gold.to_owned(),
            predicted: p.action.clone(),
            policy: p.policy,
            confidence: p.confidence,
        });
        p.action
    };
    let domain = agent.dialogue.domain.clone();
    let specs: Arc<[SlotSpec]> = agent.dialogue.slot_specs.clone();
    let mut action_pairs: Vec<(String, String)> = Vec::new();
    let mut intent_pairs: Vec<(String, String)> = Vec::new();
    let mut results = Vec::new();
    let unfolded = unfold_stories(stories);
    all.record("number_of_stories", unfolded.len());
    for (number, (story, steps)) in unfolded.into_iter().enumerate() {
        let story_span = tracing::info_span!(
            "Evaluation.test_story",
            story_number = number + 1,
            passed = tracing::field::Empty
        );
        let _story = story_span.enter();
        let mut tracker = DialogueStateTracker::new("test", specs.clone());
        tracker.update(action_event(ACTION_LISTEN));
        let mut passed = true;
        let mut annotated = Vec::new();
        let mut pending_listen = false;
        for step in steps {
            match &step.kind {
                StepKind::User {
                    intent,
                    entities,
                    text,
                } => {
                    if pending_listen {
                        let predicted =
                            record(ACTION_LISTEN, predict_action(&mut tracker, ACTION_LISTEN));
                        action_pairs.push((ACTION_LISTEN.to_owned(), predicted.clone()));
                        if predicted != ACTION_LISTEN {
                            passed = false;
                            annotated.push(format!(
                                "  - action: {ACTION_LISTEN}  # predicted: {predicted}"
                            ));
                        }
                        tracker.update(action_event(ACTION_LISTEN));
                    }
                    pending_listen = false;
                    let mut line = String::new();
                    if let Some(text) = text {
                        line.push_str(&format!("  - user: |-\n      {text}\n"));
                    }
                    let parsed = match text {
                        Some(text) if e2e => Some(agent.parse(text)),
                        _ => None,
                    };
                    let predicted_intent = parsed.as_ref().map(|parse| {
                        parse["intent"]["name"]
                            .as_str()
                            .unwrap_or("None")
                            .to_owned()
                    });
                    let entities_differ = parsed
                        .as_ref()
                        .is_some_and(|parse| !same_entities(&entity_values(parse), entities));
                    let key = if text.is_some() {
                        "    intent"
                    } else {
                        "  - intent"
                    };
                    if let Some(gold) = intent {
                        let mut comments = Vec::new();
                        if let Some(predicted) = &predicted_intent {
                            intent_pairs.push((gold.clone(), predicted.clone()));
                            if predicted != gold {
                                comments.push(format!("predicted: {predicted}"));
                            }
                        }
                        if entities_differ {
                            let found = parsed.as_ref().map(entity_values).unwrap_or_default();
                            comments
                                .push(format!("predicted entities: {}", describe_entities(&found)));
                        }
                        if comments.is_empty() {
                            line.push_str(&format!("{key}: {gold}"));
                        } else {
                            passed = false;
                            line.push_str(&format!("{key}: {gold}  # {}", comments.join("; ")));
                        }
                    }
                    annotated.push(line.trim_end().to_owned());
                    let entity_values: Vec<Value> = entities
                        .iter()
                        .map(|e| json!({"entity": e.entity, "value": e.value.clone().unwrap_or(Value::Null), "role": e.role, "group": e.group}))
                        .collect();
                    tracker.update(Event::new(
                        EventKind::User(UserUttered {
                            text: text.clone(),
                            parse_data: json!({"intent": {"name": intent, "confidence": 1.0}, "entities": entity_values, "text": text}).into(),
                            input_channel: None,
                            message_id: None,
                        }),
                        0.0,
                    ));
                    for (slot, value) in crate::slot_filling::extract_slots(&domain, &tracker) {
                        tracker.update(Event::new(EventKind::Slot { name: slot, value }, 0.0));
                    }
                }
                StepKind::Action(gold) | StepKind::Bot(gold) => {
                    let predicted = record(gold, predict_action(&mut tracker, gold));
                    action_pairs.push((gold.clone(), predicted.clone()));
                    if &predicted != gold {
                        passed = false;
                        annotated.push(format!("  - action: {gold}  # predicted: {predicted}"));
                    } else {
                        annotated.push(format!("  - action: {gold}"));
                    }
                    tracker.update(action_event(gold));
                    pending_listen = true;
                }
                StepKind::SlotWasSet(slots) => {
                    for (slot, value) in slots {
                        tracker.update(Event::new(
                            EventKind::Slot {
                                name: slot.clone(),
                                value: value.clone().unwrap_or(Value::Bool(true)),
                            },
                            0.0,
                        ));
                        annotated.push(format!(
                            "  - slot_was_set:\n    - {slot}: {}",
                            value.clone().unwrap_or(Value::Bool(true))
                        ));
                    }
                }
                StepKind::ActiveLoop(name) => {
                    tracker.update(Event::new(
                        EventKind::ActiveLoop { name: name.clone() },
                        0.0,
                    ));
                    annotated.push(format!(
                        "  - active_loop: {}",
                        name.as_deref().unwrap_or("null")
                    ));
                }
                StepKind::Checkpoint(_) | StepKind::Or(_) => {}
            }
        }
        story_span.record("passed", passed);
        results.push(StoryResult {
            name: story.name.clone(),
            source: story.pos.path.to_path_buf(),
            passed,
            annotated_steps: annotated,
        });
    }
    let actions = Report::from_pairs(action_pairs.iter().map(|(g, p)| (g.as_str(), p.as_str())));
    CoreEvaluation {
        stories: results,
        action_confusion: confusion_matrix(&actions, &action_pairs),
        actions,
        intents: Report::from_pairs(intent_pairs.iter().map(|(g, p)| (g.as_str(), p.as_str()))),
        end_to_end: e2e,
        predictions,
    }
}

/// The `(entity, value)` pairs of a parse, sorted.
fn entity_values(parse: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = parse["entities"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|e| {
                    let value = match e.get("value")? {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    Some((e.get("entity")?.as_str()?.to_owned(), value))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Whether the entities found are those a story step writes (by name only when the step
/// gives no values).
fn same_entities(found: &[(String, String)], written: &[rusa_project::StepEntity]) -> bool {
    let names_only = written.iter().any(|e| e.value.is_none());
    let mut expected: Vec<(String, String)> = written
        .iter()
        .map(|e| {
            let value = match &e.value {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            (e.entity.clone(), value)
        })
        .collect();
    expected.sort();
    if names_only {
        let names = |list: &[(String, String)]| -> Vec<String> {
            let mut n: Vec<String> = list.iter().map(|(e, _)| e.clone()).collect();
            n.sort();
            n
        };
        return names(found) == names(&expected);
    }
    found == expected.as_slice()
}

fn describe_entities(entities: &[(String, String)]) -> String {
    if entities.is_empty() {
        return "none".into();
    }
    entities
        .iter()
        .map(|(e, v)| format!("{e}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn action_event(name: &str) -> Event {
    Event::new(
        EventKind::Action(ActionExecuted {
            name: Some(name.to_owned()),
            policy: None,
            confidence: None,
            action_text: None,
            hide_rule_turn: false,
        }),
        0.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_score_like_sklearn() {
        let pairs = [("a", "a"), ("a", "b"), ("b", "b"), ("b", "b"), ("c", "a")];
        let r = Report::from_pairs(pairs);
        assert!((r.accuracy - 0.6).abs() < 1e-9);
        let a = &r.labels["a"];
        assert!((a.precision - 0.5).abs() < 1e-9 && (a.recall - 0.5).abs() < 1e-9);
        assert_eq!(a.confused_with["b"], 1);
        let b = &r.labels["b"];
        assert!((b.precision - 2.0 / 3.0).abs() < 1e-9 && (b.recall - 1.0).abs() < 1e-9);
        assert_eq!(r.labels["c"].f1, 0.0);
        assert_eq!(r.macro_avg.support, 5);
        let json = r.to_json();
        assert!(json.get("macro avg").is_some() && json.get("weighted avg").is_some());
    }
}
