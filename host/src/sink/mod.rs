//! The pipeline's last stage: where events go. Each consumer of the pipeline (history, the JSON
//! event stream, the state view, and next Prometheus, Alertmanager and webhooks) is a [`Sink`] that
//! receives every batch in order.
//!
//! Invariants:
//! - Every sink sees every event, in the order the pipeline produced it, exactly once per run.
//! - A batch is delivered to the sinks in the order they were added; a sink's error stops the run
//!   (it is the caller's to decide whether to go on), it never goes unnoticed.
//! - A sink owns its resources (a database, a stream, a shared snapshot): the pipeline knows none of
//!   them.

mod history;
pub use history::History;
mod json_lines;
mod snapshot;

pub use json_lines::{to_json, JsonLines};
pub use snapshot::SnapshotPublisher;

use crate::ingest::{Event, Ingest};
use crate::state::SourceView;

/// What a sink receives: the events since the last batch, and the pipeline's state after them.
pub struct Batch<'a> {
    /// The events, in pipeline order.
    pub events: &'a [Event],
    /// The pipeline, after these events.
    pub ingest: &'a Ingest,
    /// The sources.
    pub sources: &'a [SourceView],
    /// The time of the batch: the wall clock for live sources, the data's own time for captures.
    pub now_ms: u64,
}

/// A consumer of the pipeline's events.
pub trait Sink: Send {
    /// Takes one batch.
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()>;

    /// Periodic upkeep (retention, say), called every few minutes of a long run with `now_ms`.
    fn maintain(&mut self, _now_ms: u64) -> anyhow::Result<()> {
        Ok(())
    }
}
