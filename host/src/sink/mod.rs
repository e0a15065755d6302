//! The pipeline's last stage: where events go. Each consumer of the pipeline (history, the JSON
//! event stream, the state view, and next Prometheus, Alertmanager and webhooks) is a [`Sink`] that
//! receives every batch in order. The delivery sinks (webhook, command, Alertmanager: `[[sink]]`
//! in the configuration) are [`delivery::DeliverySink`]s, which queue transitions in a persistent
//! [`outbox`] and send them from a worker thread of their own.
//!
//! Invariants:
//! - Every sink sees every event, in the order the pipeline produced it, exactly once per run.
//! - A batch is delivered to the sinks in the order they were added; a sink's error stops the run
//!   (it is the caller's to decide whether to go on), it never goes unnoticed.
//! - A sink owns its resources (a database, a stream, a shared snapshot): the pipeline knows none of
//!   them. A sink whose resource fails for a while (a full disk) keeps what it can in bounded
//!   memory, counts what it drops and says so in its [`SinkStatus`], rather than stopping the
//!   pipeline: monitoring must go on exactly when something around it breaks.

mod alertmanager;
mod command;
pub mod delivery;
mod history;
mod http_post;
mod json_lines;
pub mod message;
mod node_log;
pub mod outbox;
mod snapshot;
pub mod spec;
mod webhook;

pub use alertmanager::ALERTNAME;
pub use history::{History, PENDING_LIMIT};
pub use json_lines::{to_json, JsonLines};
pub use node_log::NodeLogs;
pub use snapshot::SnapshotPublisher;
pub use webhook::{signature, ID_HEADER, SIGNATURE_HEADER};

use crate::ingest::{Event, Ingest};
use crate::state::SourceView;
use rackwatch_core::Level;
use serde::{Deserialize, Serialize};

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
    /// How the sinks are doing, as of the batch before this one.
    pub sinks: &'a [SinkStatus],
}

/// How a sink is doing: served in `/state`, so that a sink's own trouble is an alert too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkStatus {
    /// The sink (`history`, ...).
    pub name: String,
    /// OK while it keeps up; CRITICAL while it cannot deliver (events are buffered or dropped).
    #[serde(with = "crate::names::level")]
    pub level: Level,
    /// Events waiting in memory for the sink to accept them.
    pub pending: u64,
    /// Events dropped because the memory bound was reached while the sink could not deliver.
    pub dropped: u64,
    /// Deliveries that failed.
    pub failures: u64,
    /// Why the last delivery failed, while it is failing.
    pub last_error: Option<String>,
}

/// A consumer of the pipeline's events.
pub trait Sink: Send {
    /// Takes one batch.
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()>;

    /// Periodic upkeep (retention, say), called every few minutes of a long run with `now_ms`.
    fn maintain(&mut self, _now_ms: u64) -> anyhow::Result<()> {
        Ok(())
    }

    /// The run ends: a last attempt to deliver anything held back, whatever its retry schedule.
    fn finish(&mut self) -> anyhow::Result<()> {
        Ok(())
    }

    /// How it is doing, for a sink that can fall behind; `None` for one that cannot.
    fn status(&self) -> Option<SinkStatus> {
        None
    }
}
