//! Pushed values: a script's or a tool's numbers, fed into the same pipeline as a sensor reading.
//!
//! A push names series (a metric with a unit) under a named *virtual node*. [`VirtualNodes`] frames
//! them in the rackwatch wire format, as the `local` source frames this machine's figures
//! ([`crate::local`]): a Hello when a virtual node first appears, a Metric frame when a series
//! does, Readings for the values. The bytes then go to the ingest thread as one source message,
//! so trend, forecast, anomaly score, alert states (with the host's `[[rules]]`), history,
//! `/state`, `/metrics` and the sinks treat a pushed value exactly as a reading.
//!
//! Invariants:
//! - A virtual node's id is in [`FIRST_NODE_ID`]`..=`[`LAST_NODE_ID`], a range reserved for
//!   pushes: the ingest stage refuses frames with those ids from any other source, so a pushed
//!   series never mixes with a board's. The id is derived from the name (a hash), so it is the same
//!   across restarts and a `[[rules]]` override can name it; two names that hash alike take the
//!   next free id in the order they first arrive.
//! - [`VirtualNodes::frame`] either frames every sample of a push or changes nothing: callers frame
//!   on a copy and keep it only once the bytes are on their way.
//! - At most [`VirtualNodes::max_series`] series in all and [`MAX_METRICS`] per virtual node; names
//!   and units are checked here ([`check_metric`], [`check_unit`], [`check_node`]).
//! - A node [`VirtualNodes::declare`]d by the daemon itself (a probe's, [`crate::probe`]) is
//!   sealed: its series and rules are fixed when it is declared, a push naming it is refused, and
//!   only its owner frames its values ([`VirtualNodes::values`]). Its series do not count against
//!   `max_series`, which bounds what clients push.

pub mod parse;

use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::hash::fnv1a64;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
    MAX_FIRMWARE_LEN, MAX_METRICS, MAX_NAME_LEN, MAX_UNIT_LEN,
};
use std::collections::BTreeMap;

/// The first node id reserved for virtual nodes.
pub const FIRST_NODE_ID: u16 = 0xF000;
/// The last node id reserved for virtual nodes (`0xFFFF`, the `local` source's default, is not).
pub const LAST_NODE_ID: u16 = 0xFEFF;
/// The virtual node of a push that names none.
pub const DEFAULT_NODE: &str = "push";
/// The name pushes have as a source (in `/state`'s `sources` and in logs).
pub const SOURCE_NAME: &str = "push:http";
/// The default bound on pushed series, all virtual nodes together (`[push] max_series`).
pub const DEFAULT_MAX_SERIES: usize = 1000;
/// The most `[push] max_series` may be: every virtual node id full.
pub const MAX_MAX_SERIES: usize = (LAST_NODE_ID - FIRST_NODE_ID + 1) as usize * MAX_METRICS;

/// Whether `id` belongs to a virtual node.
pub const fn is_virtual(id: u16) -> bool {
    id >= FIRST_NODE_ID && id <= LAST_NODE_ID
}

/// One pushed value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The virtual node's name.
    pub node: String,
    /// The metric's name.
    pub metric: String,
    /// Its unit, when the push names one.
    pub unit: Option<String>,
    /// The value (NaN and infinities pass on, judged as a sensor's would be).
    pub value: f32,
}

fn check_name(text: &str, what: &str, max: usize, extra: &[char]) -> Result<String, String> {
    if text.is_empty() {
        return Err(format!("the {what} is empty"));
    }
    if text.len() > max {
        return Err(format!(
            "{what} `{text}` is {} bytes long; at most {max} are kept",
            text.len()
        ));
    }
    if !text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
    {
        let allowed: Vec<String> = extra.iter().map(|c| format!("`{c}`")).collect();
        return Err(format!(
            "{what} `{}` has a character other than letters, digits, `_`, {}",
            text.escape_debug(),
            allowed.join(", ")
        ));
    }
    Ok(text.to_string())
}

/// A metric name: letters, digits, `_`, `:`, `.`, `-`, at most [`MAX_NAME_LEN`] bytes.
pub fn check_metric(text: &str) -> Result<String, String> {
    check_name(text, "metric name", MAX_NAME_LEN, &[':', '.', '-'])
}

/// A unit: letters, digits, `_`, `%`, `/`, at most [`MAX_UNIT_LEN`] bytes; empty is no unit.
pub fn check_unit(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Ok(String::new());
    }
    check_name(text, "unit", MAX_UNIT_LEN, &['%', '/'])
}

/// A virtual node's name: letters, digits, `_`, `.`, `-`, at most 16 bytes (it is announced where
/// a board announces its firmware version).
pub fn check_node(text: &str) -> Result<String, String> {
    check_name(text, "node name", MAX_FIRMWARE_LEN, &['.', '-'])
}

/// Why a push was refused after it parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// A bound on series would be passed.
    #[error("{0}")]
    Limit(String),
    /// A series is pushed with another unit than it has.
    #[error("{0}")]
    Conflict(String),
}

/// One virtual node: its identity on the wire and its series.
#[derive(Debug, Clone)]
struct VirtualNode {
    id: u16,
    boot_id: u32,
    seq: u16,
    started_ms: u64,
    hello_sent: bool,
    /// `(metric, unit)` by metric id.
    series: Vec<(String, String)>,
    /// Declared by the daemon (a probe's node): pushes may not name it.
    sealed: bool,
}

/// What one push became.
#[derive(Debug, Clone, Default)]
pub struct Framed {
    /// The wire bytes, for the ingest thread.
    pub bytes: Vec<u8>,
    /// Values framed.
    pub values: usize,
    /// Every virtual node the push named, with its id.
    pub nodes: BTreeMap<String, u16>,
}

/// Every virtual node so far, and the bound on series.
#[derive(Debug, Clone)]
pub struct VirtualNodes {
    nodes: BTreeMap<String, VirtualNode>,
    series: usize,
    max_series: usize,
    /// Mixed into each boot id, so two runs of the daemon are two boots.
    seed: u64,
}

impl VirtualNodes {
    /// None yet; at most `max_series` series.
    pub fn new(max_series: usize) -> VirtualNodes {
        VirtualNodes {
            nodes: BTreeMap::new(),
            series: 0,
            max_series,
            seed: u64::from(std::process::id()) ^ crate::source::now_ms(),
        }
    }

    /// The bound on series.
    pub fn max_series(&self) -> usize {
        self.max_series
    }

    /// The id `name` has, or would get now.
    fn id_for(&self, name: &str) -> Option<u16> {
        if let Some(node) = self.nodes.get(name) {
            return Some(node.id);
        }
        let count = u64::from(LAST_NODE_ID - FIRST_NODE_ID) + 1;
        let start = fnv1a64(name.as_bytes()) % count;
        (0..count)
            .map(|i| FIRST_NODE_ID + ((start + i) % count) as u16)
            .find(|id| self.nodes.values().all(|n| n.id != *id))
    }

    /// Frames `samples` received at `wall_ms`. On an error nothing is framed, but `self` may be
    /// part-changed: frame on a copy.
    pub fn frame(&mut self, samples: &[Sample], wall_ms: u64) -> Result<Framed, PushError> {
        self.frame_judged(samples, wall_ms, |_| Rule::EMPTY)
    }

    /// [`frame`](Self::frame), a new series announced with the rule `rule_of` gives its first
    /// sample (pushed series have none; a job's have theirs, [`crate::jobs`]).
    pub fn frame_judged(
        &mut self,
        samples: &[Sample],
        wall_ms: u64,
        rule_of: impl Fn(&Sample) -> Rule,
    ) -> Result<Framed, PushError> {
        let mut framed = Framed::default();
        let mut specs: Vec<(String, MetricSpec)> = Vec::new();
        let mut readings: BTreeMap<String, Vec<(u16, f32)>> = BTreeMap::new();
        for sample in samples {
            let (metric, new) = self.series_for(sample, wall_ms, rule_of(sample))?;
            let node_id = self.nodes[&sample.node].id;
            framed.nodes.insert(sample.node.clone(), node_id);
            if let Some(spec) = new {
                specs.push((sample.node.clone(), spec));
            }
            readings
                .entry(sample.node.clone())
                .or_default()
                .push((metric, sample.value));
        }
        for (name, spec) in specs {
            self.hello_once(&name, &mut framed.bytes);
            self.encode(&name, Body::Metric(spec), &mut framed.bytes);
        }
        for (name, values) in readings {
            self.hello_once(&name, &mut framed.bytes);
            framed.values += values.len();
            self.readings(&name, wall_ms, &values, &mut framed.bytes);
        }
        Ok(framed)
    }

    /// The metric id and (for a new series) spec of `sample`'s series, adding it within the
    /// bounds.
    fn series_for(
        &mut self,
        sample: &Sample,
        wall_ms: u64,
        rule: Rule,
    ) -> Result<(u16, Option<MetricSpec>), PushError> {
        if !self.nodes.contains_key(&sample.node) {
            self.add_node(&sample.node, wall_ms, false)?;
        }
        let (series_count, max_series) = (self.series, self.max_series);
        let node = self.nodes.get_mut(&sample.node).expect("inserted above");
        if node.sealed {
            return Err(PushError::Conflict(format!(
                "node `{}` is the daemon's own (a [[probe]] of that name); push `{}` under \
                 another node name",
                sample.node, sample.metric
            )));
        }
        let unit = sample.unit.clone();
        if let Some(index) = node.series.iter().position(|(m, _)| *m == sample.metric) {
            let had = &node.series[index].1;
            if let Some(unit) = unit.filter(|u| u != had) {
                let had = if had.is_empty() {
                    "no unit".to_string()
                } else {
                    format!("the unit `{had}`")
                };
                return Err(PushError::Conflict(format!(
                    "`{}` on node `{}` has {had}; this push says `{unit}`; a series keeps its \
                     first unit until the daemon restarts",
                    sample.metric, sample.node
                )));
            }
            return Ok((index as u16, None));
        }
        if node.series.len() >= MAX_METRICS {
            return Err(PushError::Limit(format!(
                "node `{}` already has {MAX_METRICS} series, the most one node carries; push \
                 `{}` under another node (`--node`, or a `node` label or tag)",
                sample.node, sample.metric
            )));
        }
        if series_count >= max_series {
            return Err(PushError::Limit(format!(
                "`{}` on node `{}` would be pushed series number {}, beyond [push] max_series = \
                 {max_series}; raise it in the configuration or push fewer series",
                sample.metric,
                sample.node,
                max_series + 1
            )));
        }
        let metric = node.series.len() as u16;
        let unit = unit.unwrap_or_default();
        let spec = MetricSpec::new(
            metric,
            &sample.metric,
            &unit,
            rule,
            AnomalyConfig::default(),
        )
        .map_err(|_| {
            PushError::Limit(format!(
                "`{}` with unit `{unit}` does not fit a metric's name and unit",
                sample.metric
            ))
        })?;
        node.series.push((sample.metric.clone(), unit));
        self.series += 1;
        Ok((metric, Some(spec)))
    }

    /// A new virtual node `name`, with the next free id.
    fn add_node(&mut self, name: &str, wall_ms: u64, sealed: bool) -> Result<u16, PushError> {
        let id = self.id_for(name).ok_or_else(|| {
            PushError::Limit(format!(
                "no virtual node id is left for `{name}`: all {} are taken",
                LAST_NODE_ID - FIRST_NODE_ID + 1
            ))
        })?;
        let boot_id =
            (fnv1a64(name.as_bytes()) ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        self.nodes.insert(
            name.to_string(),
            VirtualNode {
                id,
                boot_id: boot_id as u32,
                seq: 0,
                started_ms: wall_ms,
                hello_sent: false,
                series: Vec::new(),
                sealed,
            },
        );
        Ok(id)
    }

    /// Declares the sealed node `name` with `specs` (metric ids `0..`, in order): its id, and the
    /// Hello and Metric frames that announce it. A name already in use, or more than
    /// [`MAX_METRICS`] specs, is refused.
    pub fn declare(
        &mut self,
        name: &str,
        specs: &[MetricSpec],
        wall_ms: u64,
    ) -> Result<(u16, Vec<u8>), PushError> {
        if self.nodes.contains_key(name) {
            return Err(PushError::Conflict(format!(
                "the virtual node name `{name}` is declared twice"
            )));
        }
        if specs.len() > MAX_METRICS {
            return Err(PushError::Limit(format!(
                "node `{name}` would have {} series; at most {MAX_METRICS}",
                specs.len()
            )));
        }
        let id = self.add_node(name, wall_ms, true)?;
        let node = self.nodes.get_mut(name).expect("added above");
        node.series = specs
            .iter()
            .map(|s| (s.name.to_string(), s.unit.to_string()))
            .collect();
        let mut out = Vec::new();
        self.hello_once(name, &mut out);
        for spec in specs {
            self.encode(name, Body::Metric(spec.clone()), &mut out);
        }
        Ok((id, out))
    }

    /// The frames of a sealed node's `values` (metric id, value) at `wall_ms`. Empty for a name
    /// never declared.
    pub fn values(&mut self, name: &str, wall_ms: u64, values: &[(u16, f32)]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.nodes.contains_key(name) {
            self.readings(name, wall_ms, values, &mut out);
        }
        out
    }

    /// The heartbeat of the virtual node `name` at `wall_ms` (its Hello first, if this run has not
    /// sent it): sent at a steady pace, it keeps a node whose values are sparse (a job's runs, a
    /// probe's rounds) from being shown down between them. Empty for a name not known yet.
    pub fn heartbeat(&mut self, name: &str, wall_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let Some(node) = self.nodes.get(name) else {
            return out;
        };
        let heartbeat = Heartbeat {
            uptime_ms: wall_ms.saturating_sub(node.started_ms),
            reset: ResetReason::Software,
            frames_sent: u32::from(node.seq),
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        };
        self.hello_once(name, &mut out);
        self.encode(name, Body::Heartbeat(heartbeat), &mut out);
        out
    }

    /// `name`'s node id and boot id this run, once it exists.
    pub fn identity(&self, name: &str) -> Option<(u16, u32)> {
        self.nodes.get(name).map(|n| (n.id, n.boot_id))
    }

    /// The node's Hello, before its first other frame of this run.
    fn hello_once(&mut self, name: &str, out: &mut Vec<u8>) {
        let Some(node) = self.nodes.get_mut(name) else {
            return;
        };
        if node.hello_sent {
            return;
        }
        node.hello_sent = true;
        let hello = Hello::new(heapless::String::try_from(name).unwrap_or_default());
        self.encode(name, Body::Hello(hello), out);
    }

    fn readings(&mut self, name: &str, wall_ms: u64, values: &[(u16, f32)], out: &mut Vec<u8>) {
        let Some(started) = self.nodes.get(name).map(|n| n.started_ms) else {
            return;
        };
        let uptime_ms = wall_ms.saturating_sub(started);
        let mut batch = Readings::new();
        for &(metric, value) in values {
            if batch.push(metric, uptime_ms, value).is_err() {
                let full = std::mem::replace(&mut batch, Readings::new());
                self.encode(name, Body::Readings(full), out);
                let _ = batch.push(metric, uptime_ms, value);
            }
        }
        if !batch.is_empty() {
            self.encode(name, Body::Readings(batch), out);
        }
    }

    fn encode(&mut self, name: &str, body: Body, out: &mut Vec<u8>) {
        let Some(node) = self.nodes.get_mut(name) else {
            return;
        };
        let frame = Frame {
            header: Header {
                node_id: node.id,
                boot_id: node.boot_id,
                seq: node.seq,
            },
            body,
        };
        let mut buf = [0u8; MAX_ENCODED_LEN];
        // Every body built here fits a frame: a Readings batch is bounded by its own capacity.
        if let Ok(n) = frame.encode(&mut buf) {
            out.extend_from_slice(&buf[..n]);
            node.seq = node.seq.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackwatch_core::wire::{Decoder, Kind};

    fn sample(node: &str, metric: &str, value: f32) -> Sample {
        Sample {
            node: node.into(),
            metric: metric.into(),
            unit: None,
            value,
        }
    }

    fn kinds(bytes: &[u8]) -> Vec<Kind> {
        let mut decoder: Decoder<MAX_ENCODED_LEN> = Decoder::new();
        decoder
            .feed(bytes)
            .map(|f| f.unwrap().body.kind())
            .collect()
    }

    #[test]
    fn a_first_push_announces_its_node_and_series_then_only_values_follow() {
        let mut nodes = VirtualNodes::new(10);
        let first = nodes
            .frame(&[sample("a", "x", 1.0), sample("a", "y", 2.0)], 1000)
            .unwrap();
        assert_eq!(
            kinds(&first.bytes),
            [Kind::Hello, Kind::Metric, Kind::Metric, Kind::Readings]
        );
        assert!(is_virtual(first.nodes["a"]));
        let second = nodes.frame(&[sample("a", "x", 3.0)], 2000).unwrap();
        assert_eq!(kinds(&second.bytes), [Kind::Readings]);
        assert_eq!(second.nodes["a"], first.nodes["a"]);
    }

    #[test]
    fn node_ids_are_stable_reserved_and_distinct() {
        let mut one = VirtualNodes::new(100);
        let mut two = VirtualNodes::new(100);
        let a = one.frame(&[sample("rack-a", "x", 1.0)], 0).unwrap();
        let b = two.frame(&[sample("rack-a", "x", 1.0)], 0).unwrap();
        assert_eq!(a.nodes, b.nodes, "the id depends on the name only");
        // The id docs/push.md shows for `backups`: 0xF000 + FNV-1a-64 mod 3840.
        assert_eq!(one.id_for("backups"), Some(64292));
        let names: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let samples: Vec<Sample> = names.iter().map(|n| sample(n, "x", 1.0)).collect();
        let all = one.frame(&samples, 0).unwrap();
        let mut ids: Vec<u16> = all.nodes.values().copied().collect();
        assert!(ids.iter().all(|&id| is_virtual(id)));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 50);
    }

    #[test]
    fn the_series_bounds_are_named() {
        let nodes = VirtualNodes::new(3);
        let samples: Vec<Sample> = (0..4).map(|i| sample("a", &format!("m{i}"), 1.0)).collect();
        let PushError::Limit(text) = nodes.clone().frame(&samples, 0).unwrap_err() else {
            panic!()
        };
        assert!(text.contains("max_series = 3"), "{text}");
        let mut nodes = VirtualNodes::new(100);
        let samples: Vec<Sample> = (0..17)
            .map(|i| sample("a", &format!("m{i}"), 1.0))
            .collect();
        let PushError::Limit(text) = nodes.frame(&samples, 0).unwrap_err() else {
            panic!()
        };
        assert!(text.contains("16 series"), "{text}");
    }

    #[test]
    fn only_pushes_may_use_the_reserved_ids() {
        use crate::ingest::{Ingest, IngestSettings};
        let framed = VirtualNodes::new(10)
            .frame(&[sample("a", "x", 1.0)], 1000)
            .unwrap();
        let id = framed.nodes["a"];
        let mut ingest = Ingest::new(Default::default(), IngestSettings::default());
        let mut events = Vec::new();
        ingest.bytes("tcp:board", 1000, &framed.bytes, &mut events);
        assert!(!ingest.nodes().contains_key(&id));
        // Hello, Metric, Readings.
        assert_eq!(ingest.totals().refused_node_frames, 3);
        ingest.bytes(SOURCE_NAME, 1000, &framed.bytes, &mut events);
        let node = &ingest.nodes()[&id];
        assert_eq!(node.metrics.get(0).unwrap().spec.name.as_str(), "x");
    }

    #[test]
    fn names_and_units_are_checked() {
        assert!(check_metric("disk_used:/var").is_err());
        assert!(check_metric("queue.depth-1").is_ok());
        assert!(check_metric(&"x".repeat(25))
            .unwrap_err()
            .contains("at most 24"));
        assert!(check_unit("%").is_ok());
        assert!(check_unit("jobs/s").is_ok());
        assert!(check_unit("toolongunit").is_err());
        assert!(check_node("web 1").is_err());
    }

    #[test]
    fn a_declared_node_is_sealed_against_pushes_and_speaks_for_itself() {
        let mut nodes = VirtualNodes::new(10);
        let spec = MetricSpec::new(0, "success", "", Rule::EMPTY, AnomalyConfig::DEFAULT).unwrap();
        let (id, announced) = nodes
            .declare("web", std::slice::from_ref(&spec), 1000)
            .unwrap();
        assert!(is_virtual(id));
        assert_eq!(kinds(&announced), [Kind::Hello, Kind::Metric]);
        assert!(matches!(
            nodes.declare("web", &[spec], 1000),
            Err(PushError::Conflict(_))
        ));
        let PushError::Conflict(text) = nodes.frame(&[sample("web", "x", 1.0)], 2000).unwrap_err()
        else {
            panic!()
        };
        assert!(text.contains("[[probe]]"), "{text}");
        assert_eq!(
            kinds(&nodes.values("web", 2000, &[(0, 1.0)])),
            [Kind::Readings]
        );
        assert_eq!(kinds(&nodes.heartbeat("web", 3000)), [Kind::Heartbeat]);
        assert!(nodes.values("nobody", 2000, &[(0, 1.0)]).is_empty());
        // Its series count against nothing a push may use.
        assert_eq!(nodes.series, 0);
    }

    #[test]
    fn a_series_keeps_its_unit() {
        let mut nodes = VirtualNodes::new(10);
        let mut first = sample("a", "x", 1.0);
        first.unit = Some("ms".into());
        nodes.frame(&[first.clone()], 0).unwrap();
        first.unit = Some("s".into());
        assert!(matches!(
            nodes.frame(&[first], 0),
            Err(PushError::Conflict(_))
        ));
    }
}
