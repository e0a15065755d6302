//! What the host keeps per node: its boot, its liveness, its counters, and one [`MetricState`] per
//! metric in a [`MetricTable`].
//!
//! Invariants:
//! - Every counter only grows within a host run (a late frame moves one frame from `lost` to
//!   `reordered`, the only decrement, and it undoes a count the same boot made).
//! - A node holds at most [`MAX_METRICS`] metrics: the cap is enforced in [`MetricTable::insert`]
//!   and nowhere else, so memory per node is bounded whatever its frames say.
//! - The host tracks at most `ingest.max_nodes` nodes, enforced in `NodeTable::get_or_add`: a
//!   corrupt or hostile line naming ever new node ids cannot grow memory without bound.
//! - A boot's wall-clock anchor, once set, never moves: every reading of the boot is dated from it.

use super::admission::BootState;
use super::event::Event;
use rackwatch_core::monitor::{MetricSpec, Monitor, DEFAULT_WINDOW};
use rackwatch_core::wire::{Heartbeat, Hello, MAX_METRICS};
use rackwatch_core::Level;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// The window every host-side monitor keeps.
pub const HOST_WINDOW: usize = DEFAULT_WINDOW;

/// Per-node counters. Every one only grows within a host run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct NodeCounters {
    /// Frames accepted.
    pub frames: u64,
    /// Frames seen twice (same boot, same sequence number) and dropped.
    pub duplicates: u64,
    /// Frames missing in the sequence.
    pub lost: u64,
    /// Frames that arrived after later ones (counted lost first, then found).
    pub reordered: u64,
    /// Boot id changes.
    pub resets: u64,
    /// Frames from a boot older than the current one, dropped.
    pub stale_boot_frames: u64,
    /// Readings received.
    pub readings: u64,
    /// Readings the host's monitor refused (time going backwards within a boot).
    pub rejected_readings: u64,
    /// Transitions the node reported.
    pub node_transitions: u64,
    /// Transitions the host's monitors made.
    pub host_transitions: u64,
    /// Decode errors whose header named this node.
    pub decode_errors: u64,
}

/// Counters over all nodes and sources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Bytes received from all sources.
    pub bytes: u64,
    /// Frames decoded (before dedupe).
    pub frames: u64,
    /// Decode errors by kind ([`rackwatch_core::wire::DecodeError::name`]).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Bytes of partial frames discarded when a source disconnected.
    pub truncated_bytes: u64,
    /// Frames dropped because they came from a node beyond `ingest.max_nodes`.
    pub refused_node_frames: u64,
}

/// The latest reading of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LastReading {
    /// Node time.
    pub t_ms: u64,
    /// Wall time.
    pub wall_ms: u64,
    /// The value.
    pub value: f32,
}

/// Everything the host keeps for one metric of a node.
#[derive(Debug)]
pub struct MetricState {
    /// The spec judged by: `base` with the host's override applied.
    pub spec: MetricSpec,
    /// The spec before the host's overrides: from the node's Metric frame, its Hello, or the
    /// host's default for a metric the node did not describe. Kept so that a configuration reload
    /// can apply changed overrides (or drop removed ones) to a running metric.
    pub base: MetricSpec,
    /// The host's monitor, judging the node's readings with `spec` (boxed: 1.3 KiB).
    pub monitor: Box<Monitor<HOST_WINDOW>>,
    /// The latest reading.
    pub last: Option<LastReading>,
    /// The level the node last reported for it.
    pub node_level: Option<Level>,
}

impl MetricState {
    /// A metric judged by `spec`, its monitor started at node time `start_ms`.
    pub fn new(spec: MetricSpec, start_ms: u64) -> MetricState {
        MetricState {
            monitor: Box::new(Monitor::for_spec(&spec, start_ms)),
            base: spec.clone(),
            spec,
            last: None,
            node_level: None,
        }
    }

    /// The same metric, remembering `base` as the spec before the host's overrides.
    pub fn based_on(mut self, base: MetricSpec) -> MetricState {
        self.base = base;
        self
    }

    /// Judges the metric by another spec from now on: a fresh monitor, started at the latest
    /// reading's time; the latest reading and the node's level stay.
    pub fn respecify(&mut self, spec: MetricSpec) {
        let start = self.last.map_or(0, |r| r.t_ms);
        *self.monitor = Monitor::for_spec(&spec, start);
        self.spec = spec;
    }
}

/// A node's metrics by id, at most [`MAX_METRICS`].
#[derive(Debug, Default)]
pub struct MetricTable {
    metrics: BTreeMap<u16, MetricState>,
}

impl MetricTable {
    /// The metric with this id.
    pub fn get(&self, id: u16) -> Option<&MetricState> {
        self.metrics.get(&id)
    }

    /// The metric with this id, to change.
    pub fn get_mut(&mut self, id: u16) -> Option<&mut MetricState> {
        self.metrics.get_mut(&id)
    }

    /// Adds (or replaces) a metric; `None`, and the metric is not kept, when the node already has
    /// [`MAX_METRICS`] others.
    pub fn insert(&mut self, id: u16, metric: MetricState) -> Option<&mut MetricState> {
        if self.metrics.len() >= MAX_METRICS && !self.metrics.contains_key(&id) {
            return None;
        }
        Some(self.metrics.entry(id).insert_entry(metric).into_mut())
    }

    /// The metrics, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &MetricState)> {
        self.metrics.iter().map(|(&id, m)| (id, m))
    }

    /// The metrics, by id, to change.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u16, &mut MetricState)> {
        self.metrics.iter_mut().map(|(&id, m)| (id, m))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// None yet.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    fn clear(&mut self) {
        self.metrics.clear();
    }
}

/// Everything the host knows about one node.
#[derive(Debug)]
pub struct NodeState {
    /// Node id.
    pub id: u16,
    /// The current boot.
    pub boot: Option<BootState>,
    /// The latest node time a frame carried, and the wall time it arrived: the host's estimate of
    /// the node's clock between frames (robust to a node clock that runs fast or slow).
    pub latest_node_ms: Option<(u64, u64)>,
    pub(super) old_boots: VecDeque<u32>,
    /// The current boot's Hello.
    pub hello: Option<Hello>,
    /// The node's metrics.
    pub metrics: MetricTable,
    /// The latest heartbeat and when it arrived.
    pub last_heartbeat: Option<(u64, Heartbeat)>,
    /// Interval between heartbeats, learned.
    pub heartbeat_interval_ms: Option<u64>,
    /// When the last frame arrived.
    pub last_frame_wall_ms: u64,
    /// Sent nothing for longer than its liveness limit.
    pub down: bool,
    /// Counters.
    pub counters: NodeCounters,
}

impl NodeState {
    pub(super) fn new(id: u16, wall_ms: u64) -> NodeState {
        NodeState {
            id,
            boot: None,
            latest_node_ms: None,
            old_boots: VecDeque::new(),
            hello: None,
            metrics: MetricTable::default(),
            last_heartbeat: None,
            heartbeat_interval_ms: None,
            last_frame_wall_ms: wall_ms,
            down: false,
            counters: NodeCounters::default(),
        }
    }

    /// The metric's name, from its spec, or `metric_<id>`.
    pub fn metric_name(&self, metric: u16) -> String {
        self.metrics
            .get(metric)
            .map_or_else(|| format!("metric_{metric}"), |m| m.spec.name.to_string())
    }

    /// The host's alert level for a metric: its monitor's.
    pub fn host_level(&self, metric: u16) -> Option<Level> {
        self.metrics.get(metric).map(|m| m.monitor.level())
    }

    /// A new boot starts from nothing: what the previous boot announced and measured is gone.
    pub(super) fn forget_boot_data(&mut self) {
        self.hello = None;
        self.latest_node_ms = None;
        self.metrics.clear();
        self.last_heartbeat = None;
    }

    /// The boot's wall-clock anchor, set from the first timed frame: the node's clock read
    /// `node_ms` when the frame arrived at `wall_ms`. Also keeps the host's estimate of the node's
    /// clock current.
    pub(super) fn anchor(&mut self, out: &mut Vec<Event>, wall_ms: u64, node_ms: u64) -> u64 {
        if self
            .latest_node_ms
            .is_none_or(|(latest, _)| node_ms >= latest)
        {
            self.latest_node_ms = Some((node_ms, wall_ms));
        }
        let Some(boot) = &mut self.boot else {
            return wall_ms.saturating_sub(node_ms);
        };
        if let Some(anchor) = boot.boot_wall_ms {
            return anchor;
        }
        let anchor = wall_ms.saturating_sub(node_ms);
        boot.boot_wall_ms = Some(anchor);
        out.push(Event::Boot {
            node: self.id,
            boot: boot.id,
            boot_wall_ms: Some(anchor),
            hello: self.hello.clone().map(Box::new),
        });
        anchor
    }
}

/// The nodes by id, at most `max_nodes` of them.
#[derive(Debug)]
pub(super) struct NodeTable {
    nodes: BTreeMap<u16, NodeState>,
    max_nodes: usize,
    /// Node ids refused for want of room, one bit each (8 KiB covers every id), so that each is
    /// logged once.
    refused: Box<[u64; 1024]>,
    /// Distinct node ids refused.
    refused_ids: u32,
}

/// How many refused node ids are logged one by one before the log says no more.
const LOGGED_REFUSALS: u32 = 10;

impl NodeTable {
    pub(super) fn new(max_nodes: u32) -> NodeTable {
        NodeTable {
            nodes: BTreeMap::new(),
            max_nodes: max_nodes.max(1) as usize,
            refused: Box::new([0; 1024]),
            refused_ids: 0,
        }
    }

    /// The node with this id, added if there is room for it; `None` when the table is full (the
    /// first refusal of an id is logged).
    pub(super) fn get_or_add(&mut self, id: u16, wall_ms: u64) -> Option<&mut NodeState> {
        if self.nodes.len() >= self.max_nodes && !self.nodes.contains_key(&id) {
            let (word, bit) = (usize::from(id / 64), id % 64);
            if self.refused[word] >> bit & 1 == 0 {
                self.refused[word] |= 1 << bit;
                self.refused_ids += 1;
                if self.refused_ids <= LOGGED_REFUSALS {
                    tracing::warn!(
                        node = id,
                        max_nodes = self.max_nodes,
                        "frames from node {id} dropped: already tracking ingest.max_nodes nodes; \
                         raise it in the configuration if this node is real{}",
                        if self.refused_ids == LOGGED_REFUSALS {
                            " (further refused nodes are counted in /state, not logged)"
                        } else {
                            ""
                        }
                    );
                }
            }
            return None;
        }
        Some(
            self.nodes
                .entry(id)
                .or_insert_with(|| NodeState::new(id, wall_ms)),
        )
    }

    pub(super) fn get_mut(&mut self, id: u16) -> Option<&mut NodeState> {
        self.nodes.get_mut(&id)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = &mut NodeState> {
        self.nodes.values_mut()
    }

    pub(super) fn all(&self) -> &BTreeMap<u16, NodeState> {
        &self.nodes
    }
}

/// Liveness and monitoring settings.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// A node is down after this many heartbeat intervals without a frame.
    pub missed_heartbeats: u32,
    /// The heartbeat interval assumed before one has been learned.
    pub default_heartbeat_ms: u64,
    /// The most nodes tracked: frames from further node ids are dropped and counted.
    pub max_nodes: u32,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            missed_heartbeats: 5,
            default_heartbeat_ms: 5_000,
            max_nodes: 1024,
        }
    }
}

impl IngestSettings {
    /// A node silent for longer than its liveness limit goes down (once, until it sends again).
    pub(super) fn check_liveness(&self, node: &mut NodeState, wall_ms: u64, out: &mut Vec<Event>) {
        let interval = node
            .heartbeat_interval_ms
            .unwrap_or(self.default_heartbeat_ms);
        let limit = interval.saturating_mul(u64::from(self.missed_heartbeats));
        let silent_ms = wall_ms.saturating_sub(node.last_frame_wall_ms);
        let Some(boot) = &node.boot else { return };
        if !node.down && silent_ms > limit {
            node.down = true;
            tracing::warn!(node = node.id, silent_ms, "node down");
            out.push(Event::NodeEvent {
                node: node.id,
                boot: boot.id,
                wall_ms,
                kind: super::event::NodeEventKind::Down { silent_ms },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::HostRules;

    #[test]
    fn a_node_keeps_at_most_the_wires_metric_count() {
        let rules = HostRules::default();
        let mut table = MetricTable::default();
        let spec = |id: u16| rules.spec_for(1, id, None, None);
        for id in 0..MAX_METRICS as u16 {
            assert!(table.insert(id, MetricState::new(spec(id), 0)).is_some());
        }
        let extra = MAX_METRICS as u16;
        assert!(table
            .insert(extra, MetricState::new(spec(extra), 0))
            .is_none());
        assert!(table.get(extra).is_none());
        // One it has can still be replaced.
        assert!(table.insert(3, MetricState::new(spec(3), 10)).is_some());
        assert_eq!(table.len(), MAX_METRICS);
    }

    #[test]
    fn a_new_spec_restarts_the_monitor_but_keeps_the_latest_reading() {
        let rules = HostRules::default();
        let mut metric = MetricState::new(rules.spec_for(1, 0, None, None), 0);
        metric.monitor.observe(1_000, 20.0).unwrap();
        metric.last = Some(LastReading {
            t_ms: 1_000,
            wall_ms: 5_000,
            value: 20.0,
        });
        metric.node_level = Some(Level::Warning);
        metric.respecify(rules.spec_for(1, 0, None, None));
        assert_eq!(metric.monitor.window().len(), 0);
        assert_eq!(metric.last.map(|r| r.value), Some(20.0));
        assert_eq!(metric.node_level, Some(Level::Warning));
    }

    #[test]
    fn the_node_table_refuses_nodes_beyond_its_limit_and_keeps_the_ones_it_has() {
        let mut table = NodeTable::new(2);
        assert!(table.get_or_add(1, 0).is_some());
        assert!(table.get_or_add(2, 0).is_some());
        assert!(table.get_or_add(3, 0).is_none());
        assert!(table.get_or_add(3, 0).is_none());
        assert!(table.get_or_add(u16::MAX, 0).is_none());
        assert!(table.get_or_add(1, 0).is_some());
        assert_eq!(table.all().keys().copied().collect::<Vec<_>>(), [1, 2]);
        // Each refused id is remembered once, in the fixed bitmap.
        assert_eq!(table.refused.iter().map(|w| w.count_ones()).sum::<u32>(), 2);
    }
}
