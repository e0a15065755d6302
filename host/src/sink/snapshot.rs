//! The state view as a sink: after each batch, a fresh [`Snapshot`] replaces the one that
//! `/state`, `watch` and `check` read.

use super::{Batch, Sink};
use crate::operator::OperatorView;
use crate::state::Snapshot;
use std::sync::{Arc, Mutex};

/// Publishes the pipeline's state to a shared snapshot.
pub struct SnapshotPublisher {
    shared: Arc<Mutex<Snapshot>>,
    operator: Option<Arc<Mutex<OperatorView>>>,
}

impl SnapshotPublisher {
    /// Publishes into `shared`.
    pub fn new(shared: Arc<Mutex<Snapshot>>) -> SnapshotPublisher {
        SnapshotPublisher {
            shared,
            operator: None,
        }
    }

    /// The same, with the acks and silences the gate publishes in `operator`.
    pub fn with_operator(mut self, operator: Arc<Mutex<OperatorView>>) -> SnapshotPublisher {
        self.operator = Some(operator);
        self
    }
}

impl Sink for SnapshotPublisher {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        let mut snapshot = Snapshot::build(batch.ingest, batch.sources, batch.now_ms);
        snapshot.sinks = batch.sinks.to_vec();
        if let Some(operator) = &self.operator {
            snapshot.operator = operator.lock().unwrap_or_else(|e| e.into_inner()).clone();
        }
        // A reader that panicked holding the lock leaves a poisoned mutex: the data is still whole.
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        *shared = snapshot;
        Ok(())
    }
}
