//! The ingest pipeline: bytes from sources → frames → dedupe → node registry → host-side monitors →
//! [`Event`]s for the sinks.
//!
//! Invariants:
//! - Deterministic: every method takes the wall-clock time of the data it is given (a capture replays
//!   with its recorded times), so the same input gives the same events, the basis of idempotent
//!   re-ingestion.
//! - Nothing is dropped silently: a duplicate, a gap, a reset, a stale boot's frame, a decode error or
//!   a reading the core refuses each has a counter in [`NodeCounters`] or [`Totals`], and gaps, resets
//!   and liveness changes are also [`NodeEventKind`] events.
//! - Bounded memory per node and per source: fixed-size decoders, sequence windows and monitors;
//!   specs and monitors are capped by the wire's metric count per node.

use crate::rules::HostRules;
use rackwatch_core::monitor::{MetricSpec, Monitor, DEFAULT_WINDOW};
use rackwatch_core::wire::{
    Body, DecodeError, Decoder, Frame, Heartbeat, Hello, SeqStep, Transition, MAX_ENCODED_LEN,
    MAX_METRICS, SCHEMA_HASH,
};
use rackwatch_core::Level;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};

/// The window every host-side monitor keeps.
pub const HOST_WINDOW: usize = DEFAULT_WINDOW;
/// How far behind its estimated node time the host polls a node's monitors for missing data, so that
/// a node clock slightly slower than the host's never has its readings refused.
const POLL_SLACK_MS: u64 = 5_000;
/// Old boot ids remembered per node, to recognise a late frame from before a reset.
const REMEMBERED_BOOTS: usize = 8;
/// Sequence numbers remembered per boot for duplicate detection.
const SEQ_WINDOW: u16 = 1024;

/// Which side judged a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The node's own alert machine, reported in a Transition frame.
    Node,
    /// The host's monitor, replaying the node's readings.
    Host,
}

impl Origin {
    /// `node` or `host`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Node => "node",
            Origin::Host => "host",
        }
    }
}

/// Something that happened to a node, other than its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEventKind {
    /// The first frame of a boot the host had not seen.
    Boot {
        /// The first sequence number seen (0 if the host saw the boot from the start).
        first_seq: u16,
    },
    /// The node rebooted: its boot id changed.
    Reset {
        /// The boot before.
        previous_boot: u32,
    },
    /// Frames are missing in the sequence.
    Gap {
        /// The last sequence number before the gap.
        after_seq: u16,
        /// Frames lost.
        lost: u16,
    },
    /// The node sent nothing for longer than its liveness limit.
    Down {
        /// Milliseconds since its last frame.
        silent_ms: u64,
    },
    /// A node that was down sends again.
    Up,
    /// The node's Hello carries another schema hash than this host's.
    SchemaMismatch {
        /// The node's hash.
        node_hash: u64,
    },
}

impl NodeEventKind {
    /// The event's name, as stored.
    pub const fn name(&self) -> &'static str {
        match self {
            NodeEventKind::Boot { .. } => "boot",
            NodeEventKind::Reset { .. } => "reset",
            NodeEventKind::Gap { .. } => "gap",
            NodeEventKind::Down { .. } => "down",
            NodeEventKind::Up => "up",
            NodeEventKind::SchemaMismatch { .. } => "schema_mismatch",
        }
    }
}

/// What the pipeline hands to the sinks.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A boot's identity, once known (from its Hello) or first seen.
    Boot {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Wall time at which the node's clock read 0 (estimated from the first timed frame).
        boot_wall_ms: Option<u64>,
        /// The Hello, when it has been received.
        hello: Option<Box<Hello>>,
    },
    /// A metric's specification, from the node's Metric frame.
    Metric {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// The spec.
        spec: Box<MetricSpec>,
    },
    /// One reading.
    Reading {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Metric id.
        metric: u16,
        /// Node time, ms since boot.
        t_ms: u64,
        /// Estimated wall time.
        wall_ms: u64,
        /// The value.
        value: f32,
    },
    /// An alert transition.
    Transition {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Who judged it.
        origin: Origin,
        /// Estimated wall time of the transition.
        wall_ms: u64,
        /// The transition.
        transition: Transition,
    },
    /// A heartbeat.
    Heartbeat {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it arrived.
        wall_ms: u64,
        /// Its content.
        heartbeat: Heartbeat,
    },
    /// A node event.
    NodeEvent {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it happened.
        wall_ms: u64,
        /// What happened.
        kind: NodeEventKind,
    },
    /// Log bytes (defmt) from a node.
    Log {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it arrived.
        wall_ms: u64,
        /// The frame's sequence number: the order of log frames within a boot.
        seq: u16,
        /// The defmt bytes.
        bytes: Vec<u8>,
    },
    /// A frame that could not be decoded.
    DecodeError {
        /// The source's name.
        source: String,
        /// When.
        wall_ms: u64,
        /// Byte offset in the source's stream (since it was connected) of the delimiter that ended
        /// the bad frame.
        position: u64,
        /// The error.
        error: DecodeError,
    },
}

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
    /// Decode errors by kind ([`DecodeError::name`]).
    pub decode_errors: BTreeMap<&'static str, u64>,
    /// Bytes of partial frames discarded when a source disconnected.
    pub truncated_bytes: u64,
}

/// The host's view of one boot of a node.
#[derive(Debug, Clone)]
pub struct BootState {
    /// The boot id.
    pub id: u32,
    /// Wall time at which the node's clock read 0, once a timed frame arrived.
    pub boot_wall_ms: Option<u64>,
    seqs: SeqWindow,
}

/// Recently seen sequence numbers: the highest, and a bitmap of the [`SEQ_WINDOW`] before it.
#[derive(Debug, Clone)]
struct SeqWindow {
    highest: u16,
    /// Bit `i` set: `highest - i` was seen (bit 0 is `highest` itself).
    seen: [u64; (SEQ_WINDOW / 64) as usize],
}

/// What a sequence number means for a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeqVerdict {
    New,
    Gap { lost: u16 },
    Duplicate,
    Late,
}

impl SeqWindow {
    fn starting_at(seq: u16) -> SeqWindow {
        let mut seen = [0; (SEQ_WINDOW / 64) as usize];
        seen[0] = 1;
        SeqWindow { highest: seq, seen }
    }

    fn bit(&self, back: u16) -> bool {
        let (word, bit) = (usize::from(back / 64), back % 64);
        self.seen.get(word).is_some_and(|w| w >> bit & 1 == 1)
    }

    fn set(&mut self, back: u16) {
        let (word, bit) = (usize::from(back / 64), back % 64);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    fn shift(&mut self, by: u16) {
        if by >= SEQ_WINDOW {
            self.seen = [0; (SEQ_WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = (usize::from(by / 64), u32::from(by % 64));
        let n = self.seen.len();
        for i in (0..n).rev() {
            let from = i.checked_sub(words);
            let high = from.and_then(|f| self.seen.get(f)).copied().unwrap_or(0);
            let low = from
                .and_then(|f| f.checked_sub(1))
                .and_then(|f| self.seen.get(f))
                .copied()
                .unwrap_or(0);
            self.seen[i] = if bits == 0 {
                high
            } else {
                (high << bits) | (low >> (64 - bits))
            };
        }
    }

    fn accept(&mut self, seq: u16) -> SeqVerdict {
        match SeqStep::between(self.highest, seq) {
            SeqStep::Repeat => SeqVerdict::Duplicate,
            SeqStep::Next => {
                self.shift(1);
                self.highest = seq;
                self.set(0);
                SeqVerdict::New
            }
            SeqStep::Gap { lost } => {
                self.shift(lost + 1);
                self.highest = seq;
                self.set(0);
                SeqVerdict::Gap { lost }
            }
            SeqStep::Behind { by } if by < SEQ_WINDOW => {
                if self.bit(by) {
                    SeqVerdict::Duplicate
                } else {
                    self.set(by);
                    SeqVerdict::Late
                }
            }
            // Older than anything remembered, or 32 768 or more frames lost: the numbers cannot tell.
            // Taking it as the stream's new position keeps the node's data flowing; the distance is
            // counted as lost, never silently (a replayed old capture is deduplicated by the store).
            SeqStep::Behind { .. } => {
                let lost = rackwatch_core::wire::seq_distance(self.highest, seq).wrapping_sub(1);
                *self = SeqWindow::starting_at(seq);
                SeqVerdict::Gap { lost }
            }
        }
    }
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
    old_boots: VecDeque<u32>,
    /// The current boot's Hello.
    pub hello: Option<Hello>,
    /// Metric specs: from the node's Metric frames, or the host's rules for metrics the node did not
    /// describe.
    pub specs: BTreeMap<u16, MetricSpec>,
    /// The host's monitor per metric (boxed: 1.4 KiB each).
    pub monitors: BTreeMap<u16, Box<Monitor<HOST_WINDOW>>>,
    /// Latest reading per metric.
    pub last: BTreeMap<u16, LastReading>,
    /// Alert levels the node reported, per metric.
    pub node_levels: BTreeMap<u16, Level>,
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
    fn new(id: u16, wall_ms: u64) -> NodeState {
        NodeState {
            id,
            boot: None,
            latest_node_ms: None,
            old_boots: VecDeque::new(),
            hello: None,
            specs: BTreeMap::new(),
            monitors: BTreeMap::new(),
            last: BTreeMap::new(),
            node_levels: BTreeMap::new(),
            last_heartbeat: None,
            heartbeat_interval_ms: None,
            last_frame_wall_ms: wall_ms,
            down: false,
            counters: NodeCounters::default(),
        }
    }

    /// The metric's name, from its spec, or `metric_<id>`.
    pub fn metric_name(&self, metric: u16) -> String {
        self.specs
            .get(&metric)
            .map_or_else(|| format!("metric_{metric}"), |s| s.name.to_string())
    }

    /// The host's alert level for a metric: its monitor's.
    pub fn host_level(&self, metric: u16) -> Option<Level> {
        self.monitors.get(&metric).map(|m| m.level())
    }
}

/// Liveness and monitoring settings.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// A node is down after this many heartbeat intervals without a frame.
    pub missed_heartbeats: u32,
    /// The heartbeat interval assumed before one has been learned.
    pub default_heartbeat_ms: u64,
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            missed_heartbeats: 5,
            default_heartbeat_ms: 5_000,
        }
    }
}

/// A source's decoder and position.
struct SourceState {
    decoder: Box<Decoder<MAX_ENCODED_LEN>>,
    position: u64,
}

/// The pipeline. See the [module docs](self).
pub struct Ingest {
    nodes: BTreeMap<u16, NodeState>,
    sources: BTreeMap<String, SourceState>,
    rules: HostRules,
    settings: IngestSettings,
    totals: Totals,
    /// Wall-clock anchors of boots seen by an earlier run (from the store).
    known_anchors: BTreeMap<(u16, u32), u64>,
}

impl Ingest {
    /// A pipeline with the host's rules.
    pub fn new(rules: HostRules, settings: IngestSettings) -> Ingest {
        Ingest {
            nodes: BTreeMap::new(),
            sources: BTreeMap::new(),
            rules,
            settings,
            totals: Totals::default(),
            known_anchors: BTreeMap::new(),
        }
    }

    /// A boot an earlier run anchored: its readings keep the same wall times now.
    pub fn remember_boot(&mut self, node: u16, boot: u32, boot_wall_ms: u64) {
        self.known_anchors.insert((node, boot), boot_wall_ms);
    }

    /// The nodes, by id.
    pub fn nodes(&self) -> &BTreeMap<u16, NodeState> {
        &self.nodes
    }

    /// The counters over everything.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Bytes received from `source` at `wall_ms`, in any chunking.
    pub fn bytes(&mut self, source: &str, wall_ms: u64, bytes: &[u8], out: &mut Vec<Event>) {
        self.totals.bytes += bytes.len() as u64;
        if !self.sources.contains_key(source) {
            self.sources.insert(
                source.to_string(),
                SourceState {
                    decoder: Box::new(Decoder::new()),
                    position: 0,
                },
            );
        }
        let mut results = Vec::new();
        if let Some(state) = self.sources.get_mut(source) {
            let start = state.position;
            let mut feed = state.decoder.feed(bytes);
            while let Some(result) = feed.next() {
                let consumed = (bytes.len() - feed.remaining().len()) as u64;
                results.push((start + consumed, result));
            }
            state.position += bytes.len() as u64;
        }
        for (position, result) in results {
            match result {
                Ok(frame) => self.frame(wall_ms, frame, out),
                Err(error) => self.decode_error(source, wall_ms, position, error, out),
            }
        }
    }

    /// The source disconnected: its partial frame is discarded (and counted) and its position
    /// restarts.
    pub fn disconnected(&mut self, source: &str) {
        if let Some(state) = self.sources.get_mut(source) {
            self.totals.truncated_bytes += state.decoder.pending() as u64;
            state.decoder.reset();
            state.position = 0;
        }
    }

    fn decode_error(
        &mut self,
        source: &str,
        wall_ms: u64,
        position: u64,
        error: DecodeError,
        out: &mut Vec<Event>,
    ) {
        *self.totals.decode_errors.entry(error.name()).or_default() += 1;
        if let Some(node) = error.header().and_then(|h| self.nodes.get_mut(&h.node_id)) {
            node.counters.decode_errors += 1;
        }
        tracing::warn!(
            source,
            position,
            kind = error.name(),
            "decode error: {error}"
        );
        out.push(Event::DecodeError {
            source: source.to_string(),
            wall_ms,
            position,
            error,
        });
    }

    /// One decoded frame, received at `wall_ms`.
    pub fn frame(&mut self, wall_ms: u64, frame: Frame, out: &mut Vec<Event>) {
        self.totals.frames += 1;
        let header = frame.header;
        let node = self
            .nodes
            .entry(header.node_id)
            .or_insert_with(|| NodeState::new(header.node_id, wall_ms));
        node.last_frame_wall_ms = node.last_frame_wall_ms.max(wall_ms);
        if node.down {
            node.down = false;
            if let Some(boot) = &node.boot {
                out.push(Event::NodeEvent {
                    node: node.id,
                    boot: boot.id,
                    wall_ms,
                    kind: NodeEventKind::Up,
                });
            }
        }

        // Boot and sequence.
        match &mut node.boot {
            Some(boot) if boot.id == header.boot_id => match boot.seqs.accept(header.seq) {
                SeqVerdict::New => {}
                SeqVerdict::Duplicate => {
                    node.counters.duplicates += 1;
                    return;
                }
                SeqVerdict::Late => {
                    node.counters.reordered += 1;
                    node.counters.lost = node.counters.lost.saturating_sub(1);
                }
                SeqVerdict::Gap { lost } => {
                    node.counters.lost += u64::from(lost);
                    tracing::warn!(node = node.id, lost, "frames lost");
                    out.push(Event::NodeEvent {
                        node: node.id,
                        boot: boot.id,
                        wall_ms,
                        kind: NodeEventKind::Gap {
                            after_seq: header.seq.wrapping_sub(lost).wrapping_sub(1),
                            lost,
                        },
                    });
                }
            },
            _ if node.old_boots.contains(&header.boot_id) => {
                node.counters.stale_boot_frames += 1;
                return;
            }
            current => {
                if let Some(previous) = current.take() {
                    node.counters.resets += 1;
                    node.old_boots.push_back(previous.id);
                    if node.old_boots.len() > REMEMBERED_BOOTS {
                        node.old_boots.pop_front();
                    }
                    tracing::info!(node = node.id, boot = header.boot_id, "node reset");
                    out.push(Event::NodeEvent {
                        node: node.id,
                        boot: header.boot_id,
                        wall_ms,
                        kind: NodeEventKind::Reset {
                            previous_boot: previous.id,
                        },
                    });
                }
                *current = Some(BootState {
                    id: header.boot_id,
                    boot_wall_ms: self.known_anchors.get(&(node.id, header.boot_id)).copied(),
                    seqs: SeqWindow::starting_at(header.seq),
                });
                node.hello = None;
                node.latest_node_ms = None;
                node.specs.clear();
                node.monitors.clear();
                node.last.clear();
                node.node_levels.clear();
                node.last_heartbeat = None;
                out.push(Event::NodeEvent {
                    node: node.id,
                    boot: header.boot_id,
                    wall_ms,
                    kind: NodeEventKind::Boot {
                        first_seq: header.seq,
                    },
                });
                out.push(Event::Boot {
                    node: node.id,
                    boot: header.boot_id,
                    boot_wall_ms: None,
                    hello: None,
                });
            }
        }
        node.counters.frames += 1;
        let boot_id = header.boot_id;

        match frame.body {
            Body::Hello(hello) => {
                if hello.schema_hash != SCHEMA_HASH {
                    tracing::warn!(
                        node = node.id,
                        "schema hash {:#x} differs from this host's {SCHEMA_HASH:#x}: its frames \
                         may be misread; update the host or the firmware",
                        hello.schema_hash
                    );
                    out.push(Event::NodeEvent {
                        node: node.id,
                        boot: boot_id,
                        wall_ms,
                        kind: NodeEventKind::SchemaMismatch {
                            node_hash: hello.schema_hash,
                        },
                    });
                }
                node.hello = Some(hello.clone());
                out.push(Event::Boot {
                    node: node.id,
                    boot: boot_id,
                    boot_wall_ms: node.boot.as_ref().and_then(|b| b.boot_wall_ms),
                    hello: Some(Box::new(hello)),
                });
            }
            Body::Metric(spec) => {
                if node.specs.len() < MAX_METRICS || node.specs.contains_key(&spec.id) {
                    let spec = self.rules.apply(node.id, spec);
                    // A spec arriving again (a resent Hello) keeps the running monitor.
                    if node.specs.get(&spec.id) != Some(&spec) {
                        let start = node.last.get(&spec.id).map_or(0, |r| r.t_ms);
                        node.monitors
                            .insert(spec.id, Box::new(Monitor::for_spec(&spec, start)));
                        node.specs.insert(spec.id, spec.clone());
                        out.push(Event::Metric {
                            node: node.id,
                            boot: boot_id,
                            spec: Box::new(spec),
                        });
                    }
                }
            }
            Body::Readings(readings) => {
                let newest = readings.iter().map(|(_, t, _)| t).max().unwrap_or(0);
                let boot_wall_ms = anchor(node, out, wall_ms, newest);
                for (metric, t_ms, value) in readings.iter() {
                    node.counters.readings += 1;
                    let reading_wall = boot_wall_ms.saturating_add(t_ms);
                    out.push(Event::Reading {
                        node: node.id,
                        boot: boot_id,
                        metric,
                        t_ms,
                        wall_ms: reading_wall,
                        value,
                    });
                    node.last.insert(
                        metric,
                        LastReading {
                            t_ms,
                            wall_ms: reading_wall,
                            value,
                        },
                    );
                    if !node.monitors.contains_key(&metric) && node.monitors.len() < MAX_METRICS {
                        // Not described by a Metric frame (joined mid-boot, or older firmware):
                        // what the Hello announced, the host's rule for it, or anomaly scoring.
                        let announced = node
                            .hello
                            .as_ref()
                            .and_then(|h| h.metrics.iter().find(|d| d.id == metric));
                        let spec = self.rules.spec_for(
                            node.id,
                            metric,
                            node.specs.get(&metric),
                            announced,
                        );
                        node.specs.insert(metric, spec.clone());
                        node.monitors
                            .insert(metric, Box::new(Monitor::for_spec(&spec, t_ms)));
                    }
                    if let Some(monitor) = node.monitors.get_mut(&metric) {
                        match monitor.observe(t_ms, value) {
                            Ok(transitions) => {
                                for transition in transitions {
                                    node.counters.host_transitions += 1;
                                    out.push(Event::Transition {
                                        node: node.id,
                                        boot: boot_id,
                                        origin: Origin::Host,
                                        wall_ms: boot_wall_ms.saturating_add(transition.at_ms),
                                        transition,
                                    });
                                }
                            }
                            Err(error) => {
                                node.counters.rejected_readings += 1;
                                tracing::debug!(node = node.id, metric, "reading refused: {error}");
                            }
                        }
                    }
                }
            }
            Body::Transition(transition) => {
                let boot_wall_ms = anchor(node, out, wall_ms, transition.at_ms);
                node.counters.node_transitions += 1;
                node.node_levels.insert(transition.metric, transition.to);
                out.push(Event::Transition {
                    node: node.id,
                    boot: boot_id,
                    origin: Origin::Node,
                    wall_ms: boot_wall_ms.saturating_add(transition.at_ms),
                    transition,
                });
            }
            Body::Heartbeat(heartbeat) => {
                anchor(node, out, wall_ms, heartbeat.uptime_ms);
                if let Some((previous_wall, _)) = node.last_heartbeat {
                    let interval = wall_ms.saturating_sub(previous_wall);
                    if interval > 0 {
                        node.heartbeat_interval_ms = Some(match node.heartbeat_interval_ms {
                            // The shortest seen: a lost heartbeat must not stretch the limit.
                            Some(known) => known.min(interval).max(interval / 2),
                            None => interval,
                        });
                    }
                }
                node.last_heartbeat = Some((wall_ms, heartbeat));
                out.push(Event::Heartbeat {
                    node: node.id,
                    boot: boot_id,
                    wall_ms,
                    heartbeat,
                });
            }
            Body::Log(log) => out.push(Event::Log {
                node: node.id,
                boot: boot_id,
                wall_ms,
                seq: header.seq,
                bytes: log.defmt.to_vec(),
            }),
        }
    }

    /// Time passes: nodes silent too long go down, and the host's monitors apply missing-data
    /// policies up to the node time corresponding to `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64, out: &mut Vec<Event>) {
        for node in self.nodes.values_mut() {
            let interval = node
                .heartbeat_interval_ms
                .unwrap_or(self.settings.default_heartbeat_ms);
            let limit = interval.saturating_mul(u64::from(self.settings.missed_heartbeats));
            let silent_ms = wall_ms.saturating_sub(node.last_frame_wall_ms);
            let Some(boot) = &node.boot else { continue };
            if !node.down && silent_ms > limit {
                node.down = true;
                tracing::warn!(node = node.id, silent_ms, "node down");
                out.push(Event::NodeEvent {
                    node: node.id,
                    boot: boot.id,
                    wall_ms,
                    kind: NodeEventKind::Down { silent_ms },
                });
            }
            let (Some(boot_wall_ms), Some((latest, latest_wall))) =
                (boot.boot_wall_ms, node.latest_node_ms)
            else {
                continue;
            };
            // The node's clock now: its latest time plus the wall time since, less a slack.
            let node_now = latest
                .saturating_add(wall_ms.saturating_sub(latest_wall))
                .saturating_sub(POLL_SLACK_MS);
            for monitor in node.monitors.values_mut() {
                if let Ok(transitions) = monitor.poll(node_now) {
                    for transition in transitions {
                        node.counters.host_transitions += 1;
                        out.push(Event::Transition {
                            node: node.id,
                            boot: boot.id,
                            origin: Origin::Host,
                            wall_ms: boot_wall_ms.saturating_add(transition.at_ms),
                            transition,
                        });
                    }
                }
            }
        }
    }
}

/// The boot's wall-clock anchor, set from the first timed frame: the node's clock read `node_ms` when
/// the frame arrived at `wall_ms`.
fn anchor(node: &mut NodeState, out: &mut Vec<Event>, wall_ms: u64, node_ms: u64) -> u64 {
    if node
        .latest_node_ms
        .is_none_or(|(latest, _)| node_ms >= latest)
    {
        node.latest_node_ms = Some((node_ms, wall_ms));
    }
    let Some(boot) = &mut node.boot else {
        return wall_ms.saturating_sub(node_ms);
    };
    if let Some(anchor) = boot.boot_wall_ms {
        return anchor;
    }
    let anchor = wall_ms.saturating_sub(node_ms);
    boot.boot_wall_ms = Some(anchor);
    out.push(Event::Boot {
        node: node.id,
        boot: boot.id,
        boot_wall_ms: Some(anchor),
        hello: node.hello.clone().map(Box::new),
    });
    anchor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_window_classifies_next_gaps_duplicates_and_late_frames() {
        let mut w = SeqWindow::starting_at(65530);
        assert_eq!(w.accept(65531), SeqVerdict::New);
        assert_eq!(w.accept(65531), SeqVerdict::Duplicate);
        assert_eq!(w.accept(2), SeqVerdict::Gap { lost: 6 });
        assert_eq!(w.accept(65533), SeqVerdict::Late);
        assert_eq!(w.accept(65533), SeqVerdict::Duplicate);
        assert_eq!(w.accept(65530), SeqVerdict::Duplicate);
        assert_eq!(w.accept(3), SeqVerdict::New);
        // A jump of more than the window forgets everything before it.
        assert_eq!(w.accept(3000), SeqVerdict::Gap { lost: 2996 });
        assert_eq!(w.accept(2999), SeqVerdict::Late);
        // Beyond the window behind: the new position, the forward distance counted as lost.
        assert_eq!(w.accept(1000), SeqVerdict::Gap { lost: 63535 });
        assert_eq!(w.accept(1001), SeqVerdict::New);
    }

    #[test]
    fn window_shift_moves_bits_across_words() {
        let mut w = SeqWindow::starting_at(0);
        for seq in 1..=200u16 {
            assert_eq!(w.accept(seq), SeqVerdict::New);
        }
        for back in 0..=200u16 {
            assert!(w.bit(back), "{back}");
        }
        assert!(!w.bit(201));
    }
}
