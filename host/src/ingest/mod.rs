//! The ingest pipeline: bytes from sources become [`Event`]s for the sinks, through named stages:
//!
//! 1. **decode** ([`Ingest::bytes`]): each source's bytes through its own COBS/CRC
//!    [`Decoder`]; a bad frame becomes an [`Event::DecodeError`] with the source and stream position.
//! 2. **admission** ([`admission`]): the frame's boot and sequence number: new, late, duplicate, the
//!    first after a gap, or from a new boot (a reset).
//! 3. **handlers** ([`handlers`]): one `process_*` per body kind updates the node's state.
//! 4. **host monitors** ([`monitors`]): every reading is judged by the core, with the node's spec.
//! 5. **sinks** ([`crate::sink`]): the events go to history, the JSON event stream and the state
//!    view; [`Ingest::tick`] adds liveness and missing-data events as time passes.
//!
//! `docs/architecture.md` follows one reading through all of them.
//!
//! Invariants:
//! - Deterministic: every method takes the wall-clock time of the data it is given (a capture replays
//!   with its recorded times), so the same input gives the same events, the basis of idempotent
//!   re-ingestion.
//! - Nothing is dropped silently: a duplicate, a gap, a reset, a stale boot's frame, a decode error or
//!   a reading the core refuses each has a counter in [`NodeCounters`] or [`Totals`], and gaps, resets
//!   and liveness changes are also [`NodeEventKind`] events.
//! - Bounded memory per node and per source: fixed-size decoders, sequence windows and monitors;
//!   metrics are capped by the wire's metric count per node ([`MetricTable`]).

pub mod admission;
mod event;
pub mod handlers;
pub mod monitors;
mod node;

pub use event::{Event, NodeEventKind, Origin};
use node::NodeTable;
pub use node::{
    IngestSettings, LastReading, MetricState, MetricTable, NodeCounters, NodeState, Totals,
    HOST_WINDOW,
};

use crate::rules::HostRules;
use admission::Admission;
use handlers::FrameContext;
use rackwatch_core::wire::{Body, DecodeError, Decoder, Frame, MAX_ENCODED_LEN};
use std::collections::BTreeMap;

/// A source's decoder and position.
struct SourceState {
    decoder: Box<Decoder<MAX_ENCODED_LEN>>,
    position: u64,
}

/// The pipeline. See the [module docs](self).
pub struct Ingest {
    nodes: NodeTable,
    sources: BTreeMap<String, SourceState>,
    rules: HostRules,
    settings: IngestSettings,
    totals: Totals,
    /// Wall-clock anchors of boots seen by an earlier run (from the store).
    known_anchors: BTreeMap<(u16, u32), u64>,
    /// Sources already warned about for claiming a virtual node's id.
    warned_virtual: std::collections::BTreeSet<String>,
    /// Which metrics (node, name) may go missing without it counting toward their flap history:
    /// those an open maintenance window covers (the operator gate says).
    missing_expected: Option<MissingExpected>,
}

/// Whether data of `node`'s metric `name` going missing is expected now.
pub type MissingExpected = std::sync::Arc<dyn Fn(u16, &str) -> bool + Send + Sync>;

/// Tells each of `node`'s monitors whether its data going missing is expected now, before they
/// judge missing data (a tick, or readings after a gap).
fn expect_missing(expected: Option<&MissingExpected>, node: &mut NodeState) {
    let Some(expected) = expected else { return };
    let id = node.id;
    for (_, m) in node.metrics.iter_mut() {
        let expect = expected(id, m.spec.name.as_str());
        m.monitor.expect_missing(expect);
    }
}

impl Ingest {
    /// A pipeline with the host's rules.
    pub fn new(rules: HostRules, settings: IngestSettings) -> Ingest {
        Ingest {
            nodes: NodeTable::new(settings.max_nodes),
            sources: BTreeMap::new(),
            rules,
            settings,
            totals: Totals::default(),
            known_anchors: BTreeMap::new(),
            warned_virtual: std::collections::BTreeSet::new(),
            missing_expected: None,
        }
    }

    /// Asks `expected` at every tick which metrics may go missing without it counting toward
    /// their flap history ([`rackwatch_core::alert::AlertMachine::expect_missing`]).
    pub fn expect_missing_where(&mut self, expected: MissingExpected) {
        self.missing_expected = Some(expected);
    }

    /// Judges by `rules` from now on (a configuration reload): every running metric whose spec
    /// they change is re-specified (a fresh monitor from its latest reading on, as when a node
    /// resends a changed Metric frame) and announced by an [`Event::Metric`]. Returns how many
    /// metrics changed.
    pub fn set_rules(&mut self, rules: HostRules, out: &mut Vec<Event>) -> usize {
        let mut changed = 0;
        for node in self.nodes.iter_mut() {
            let boot = node.boot.as_ref().map_or(0, |b| b.id);
            for (_, state) in node.metrics.iter_mut() {
                let spec = rules.apply(node.id, state.base.clone());
                if spec != state.spec {
                    state.respecify(spec.clone());
                    out.push(Event::Metric {
                        node: node.id,
                        boot,
                        spec: Box::new(spec),
                    });
                    changed += 1;
                }
            }
        }
        self.rules = rules;
        changed
    }

    /// A boot an earlier run anchored: its readings keep the same wall times now.
    pub fn remember_boot(&mut self, node: u16, boot: u32, boot_wall_ms: u64) {
        self.known_anchors.insert((node, boot), boot_wall_ms);
    }

    /// The nodes, by id.
    pub fn nodes(&self) -> &BTreeMap<u16, NodeState> {
        self.nodes.all()
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
        // The daemon's own sources of virtual nodes: pushes and probes (their names are reserved).
        let from_push = source == crate::push::SOURCE_NAME || source == crate::probe::SOURCE_NAME;
        for (position, result) in results {
            match result {
                Ok(frame) if crate::push::is_virtual(frame.header.node_id) && !from_push => {
                    self.refuse_virtual(source, frame.header.node_id);
                }
                Ok(frame) => self.frame(wall_ms, frame, out),
                Err(error) => self.decode_error(source, wall_ms, position, error, out),
            }
        }
    }

    /// A frame from `source` claiming a node id reserved for pushed values: refused and counted,
    /// so a board can never mix with a virtual node. Warned about once per source.
    fn refuse_virtual(&mut self, source: &str, node: u16) {
        self.totals.refused_node_frames += 1;
        if self.warned_virtual.insert(source.to_string()) {
            tracing::warn!(
                source,
                node,
                "frames with node id {node} are refused: ids {}..={} are reserved for pushed \
                 values (docs/push.md); give the node another id",
                crate::push::FIRST_NODE_ID,
                crate::push::LAST_NODE_ID
            );
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
        if let Some(node) = error.header().and_then(|h| self.nodes.get_mut(h.node_id)) {
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

    /// One decoded frame, received at `wall_ms`: admitted or dropped, then handled by its kind.
    pub fn frame(&mut self, wall_ms: u64, frame: Frame, out: &mut Vec<Event>) {
        self.totals.frames += 1;
        let header = frame.header;
        let Some(node) = self.nodes.get_or_add(header.node_id, wall_ms) else {
            self.totals.refused_node_frames += 1;
            return;
        };
        let Admission::Admit { boot, epoch } =
            admission::admit(node, &header, wall_ms, &self.known_anchors, out)
        else {
            return;
        };
        if frame.body.readings().is_some() {
            // Missing data is also judged when readings come back after a gap.
            expect_missing(self.missing_expected.as_ref(), node);
        }
        let cx = FrameContext {
            node,
            boot,
            epoch,
            seq: header.seq,
            wall_ms,
            out,
        };
        match frame.body {
            Body::Hello(hello) => handlers::process_hello(cx, hello),
            Body::Metric(spec) => handlers::process_metric(cx, &self.rules, spec),
            Body::Readings(readings) => handlers::process_readings(cx, &self.rules, readings),
            // The same batch, packed on the wire: what follows cannot tell the two apart.
            Body::PackedReadings(packed) => {
                handlers::process_readings(cx, &self.rules, packed.readings)
            }
            Body::Transition(transition) => handlers::process_transition(cx, transition),
            Body::Heartbeat(heartbeat) => handlers::process_heartbeat(cx, heartbeat),
            Body::Log(log) => handlers::process_log(cx, log),
        }
    }

    /// Time passes: nodes silent too long go down, and the host's monitors apply missing-data
    /// policies up to the node time corresponding to `wall_ms`.
    pub fn tick(&mut self, wall_ms: u64, out: &mut Vec<Event>) {
        for node in self.nodes.iter_mut() {
            expect_missing(self.missing_expected.as_ref(), node);
            self.settings.check_liveness(node, wall_ms, out);
            monitors::poll(node, wall_ms, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleOverride;
    use rackwatch_core::alert::Rule;
    use rackwatch_core::anomaly::AnomalyConfig;
    use rackwatch_core::monitor::MetricSpec;
    use rackwatch_core::wire::Header;

    fn inlet_override(warning: f32) -> HostRules {
        HostRules::new(vec![RuleOverride {
            node: None,
            metric: "inlet_temperature".into(),
            rule: Some(Rule::above(warning, warning + 5.0)),
            anomaly: None,
        }])
    }

    fn rule_of(ingest: &Ingest) -> Rule {
        ingest.nodes()[&1].metrics.get(0).unwrap().spec.rule
    }

    #[test]
    fn new_rules_respecify_running_metrics_and_removing_an_override_restores_the_nodes_rule() {
        let mut ingest = Ingest::new(inlet_override(20.0), IngestSettings::default());
        let own = MetricSpec::new(
            0,
            "inlet_temperature",
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        let frame = Frame {
            header: Header {
                node_id: 1,
                boot_id: 7,
                seq: 0,
            },
            body: Body::Metric(own),
        };
        let mut out = Vec::new();
        ingest.frame(1_000, frame, &mut out);
        assert_eq!(rule_of(&ingest), Rule::above(20.0, 25.0));

        out.clear();
        assert_eq!(ingest.set_rules(inlet_override(40.0), &mut out), 1);
        assert_eq!(rule_of(&ingest), Rule::above(40.0, 45.0));
        assert!(
            matches!(&out[..], [Event::Metric { node: 1, boot: 7, spec }] if spec.rule == Rule::above(40.0, 45.0))
        );

        out.clear();
        assert_eq!(ingest.set_rules(inlet_override(40.0), &mut out), 0);
        assert!(out.is_empty(), "unchanged rules re-specify nothing");
        assert_eq!(ingest.set_rules(HostRules::default(), &mut out), 1);
        assert_eq!(
            rule_of(&ingest),
            Rule::above(30.0, 35.0),
            "the node's own rule"
        );
    }
}
