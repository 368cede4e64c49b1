//! The interface every pipeline component implements.

use crate::error::Result;
use crate::message::Message;
use crate::training::TrainingView;

/// A trainable NLU component. Training and prediction are separate, so a training graph
/// can wrap each component in a node of its own, fingerprint it and cache its state.
pub trait NluComponent {
    /// The component's Rasa name, e.g. `CountVectorsFeaturizer`.
    fn name(&self) -> &'static str;

    /// Learns from the training data, whose messages hold what the components before this
    /// one added (tokens, features). `seed` makes every random choice reproducible.
    fn train(&mut self, data: &TrainingView, seed: u64) -> Result<()>;

    /// Annotates one message (tokens, features, intent, entities, …).
    fn process(&self, message: &mut Message);

    /// Whether the components after this one need its annotations on the training
    /// messages (tokenizers and featurizers), so the pipeline runs `process` on them.
    fn annotates_training_data(&self) -> bool {
        false
    }
}
