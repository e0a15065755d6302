//! The state view as a sink: after each batch, a fresh [`Snapshot`] replaces the one that
//! `/state`, `watch` and `check` read.
//!
//! Invariant: a probe is listed as failing from its `probe_failed` event to its `probe_ok`, with
//! its latest reason and the time its failing began.

use super::{Batch, Sink};
use crate::ingest::{Event, NodeEventKind};
use crate::operator::OperatorView;
use crate::state::{ProbeFailure, Snapshot};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Publishes the pipeline's state to a shared snapshot.
pub struct SnapshotPublisher {
    shared: Arc<Mutex<Snapshot>>,
    operator: Option<Arc<Mutex<OperatorView>>>,
    /// The probes failing now, by node.
    probe_failures: BTreeMap<u16, ProbeFailure>,
}

impl SnapshotPublisher {
    /// Publishes into `shared`.
    pub fn new(shared: Arc<Mutex<Snapshot>>) -> SnapshotPublisher {
        SnapshotPublisher {
            shared,
            operator: None,
            probe_failures: BTreeMap::new(),
        }
    }

    /// Follows the probes' failures and recoveries in `events`.
    fn follow_probes(&mut self, events: &[Event]) {
        for event in events {
            let Event::NodeEvent {
                node,
                wall_ms,
                kind,
                ..
            } = event
            else {
                continue;
            };
            match kind {
                NodeEventKind::ProbeFailed { reason } => {
                    let failure =
                        self.probe_failures
                            .entry(*node)
                            .or_insert_with(|| ProbeFailure {
                                node: *node,
                                reason: String::new(),
                                since_ms: *wall_ms,
                            });
                    failure.reason.clone_from(reason);
                }
                NodeEventKind::ProbeOk => {
                    self.probe_failures.remove(node);
                }
                _ => {}
            }
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
        self.follow_probes(batch.events);
        let mut snapshot = Snapshot::build(batch.ingest, batch.sources, batch.now_ms);
        snapshot.sinks = batch.sinks.to_vec();
        snapshot.probe_failures = self.probe_failures.values().cloned().collect();
        if let Some(operator) = &self.operator {
            snapshot.operator = operator.lock().unwrap_or_else(|e| e.into_inner()).clone();
        }
        // A reader that panicked holding the lock leaves a poisoned mutex: the data is still whole.
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        *shared = snapshot;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(node: u16, wall_ms: u64, kind: NodeEventKind) -> Event {
        Event::NodeEvent {
            node,
            boot: 1,
            wall_ms,
            kind,
        }
    }

    #[test]
    fn a_probe_is_failing_from_its_first_failure_to_its_recovery() {
        let mut publisher = SnapshotPublisher::new(Arc::default());
        let failed = |reason: &str| NodeEventKind::ProbeFailed {
            reason: reason.into(),
        };
        publisher.follow_probes(&[event(7, 100, failed("refused")), event(8, 150, failed("x"))]);
        publisher.follow_probes(&[event(7, 200, failed("timed out"))]);
        let seven = &publisher.probe_failures[&7];
        assert_eq!((seven.reason.as_str(), seven.since_ms), ("timed out", 100));
        publisher.follow_probes(&[event(7, 300, NodeEventKind::ProbeOk)]);
        let nodes: Vec<u16> = publisher.probe_failures.keys().copied().collect();
        assert_eq!(nodes, [8]);
    }
}
