//! The stores run on tokio: their background tasks and blocking calls need its runtime.

use rusa_core::stores::StoreError;

/// Fails instead of panicking when a store is set up outside a tokio runtime.
pub(crate) fn require_runtime(store: &'static str) -> Result<(), StoreError> {
    tokio::runtime::Handle::try_current()
        .map(|_| ())
        .map_err(|_| StoreError::Backend {
            store,
            message: "must be created inside a tokio runtime".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_is_an_error_not_a_panic() {
        assert!(require_runtime("test").is_err());
        let broker = crate::PikaEventBroker::start(crate::PikaConfig::default());
        assert!(broker.is_err());
    }
}
