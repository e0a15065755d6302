//! `/metrics`: the daemon's [`Snapshot`] in the Prometheus text format (version 0.0.4), encoded by
//! the official Prometheus client (`prometheus-client`), plus the process's own `process_*`
//! figures. `docs/prometheus.md` lists every family; this module is its source of truth.
//!
//! Invariants:
//! - One scrape renders one snapshot, read under its lock: every series of a scrape is as of the
//!   same batch.
//! - The series are bounded by the tables that already bound the daemon: per node (at most
//!   `ingest.max_nodes`) a fixed number of node series, per metric (at most `MAX_METRICS` a node)
//!   a fixed number of metric series, and per source, sink and decode-error kind one each. No
//!   label takes a value that grows with time (no boot ids, no sequence numbers, no readings).
//! - A node names only label values (its metric names, units and firmware), never a family: the
//!   unit in a family's name comes from the fixed table in [`units`]. Label values are escaped by
//!   the encoder, so no name a node sends can break the exposition.
//! - No two series of a scrape are the same: a metric name that a node repeats under another id
//!   is labelled `NAME#ID` from its second occurrence on (`#ID` again while that is taken too).
//! - No sample carries a timestamp (Prometheus' rule for scraped gauges: it stamps them with the
//!   scrape time and handles staleness); when a reading was taken is a gauge of its own,
//!   `rackwatch_reading_timestamp_seconds`.
//! - A family with no series is not written at all (no forecast: no `rackwatch_forecast_*`).

mod process;
mod units;

pub use process::ProcessStats;
pub use units::{exposed as base_unit, table as unit_table, BaseUnit};

use crate::operator::OperatorView;
use crate::sink::SinkStatus;
use crate::state::{MetricView, NodeView, Snapshot, SourceView};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    prometheus_text, DescriptorEncoder, EncodeLabel, EncodeLabelSet, EncodeMetric, LabelSetEncoder,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::TypedMetric;
use prometheus_client::registry::Registry;
use rackwatch_core::Level;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::{Arc, Mutex};

/// The `Content-Type` of what [`render`] writes: Prometheus' text format, version 0.0.4.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The `alertname` label of `rackwatch_alerts`: one alert per node, metric and origin, named as the
/// Alertmanager sink names it, so the same alert has one name whichever way it travels.
pub const ALERT_NAME: &str = crate::sink::ALERTNAME;

/// Every decode-error kind the core names ([`rackwatch_core::wire::DecodeError::name`]): each is
/// written from the start, at 0, so that `rate()` sees the first error of a kind.
pub const DECODE_ERROR_KINDS: [&str; 9] = [
    "overlong",
    "cobs",
    "too_short",
    "crc",
    "version",
    "flags",
    "unknown_kind",
    "body",
    "trailing_bytes",
];

/// The exposition of `snapshot` and of this process, in the Prometheus text format.
pub fn render(snapshot: &Arc<Mutex<Snapshot>>) -> Result<String, fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(SnapshotCollector(Arc::clone(snapshot))));
    registry.register_collector(Box::new(ProcessCollector));
    let mut text = String::new();
    prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// The snapshot's families, encoded at each scrape from whatever snapshot is current.
#[derive(Debug)]
struct SnapshotCollector(Arc<Mutex<Snapshot>>);

impl Collector for SnapshotCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // A publisher that panicked holding the lock leaves a poisoned mutex: the data is whole.
        let snapshot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let rows = metric_rows(&snapshot.nodes);
        encode_readings(&mut encoder, &rows)?;
        encode_judgements(&mut encoder, &rows)?;
        encode_nodes(&mut encoder, &snapshot.nodes)?;
        encode_ingest(&mut encoder, &snapshot)?;
        encode_sources_and_sinks(&mut encoder, &snapshot)?;
        encode_operator(&mut encoder, &snapshot.operator)
    }
}

/// The `process_*` families, read from `/proc` at each scrape.
#[derive(Debug)]
struct ProcessCollector;

/// A family with one series per item (a node, a source, a sink, the process): its name, its
/// help, and the item's value, when it has one.
type PerItem<T, V> = (&'static str, &'static str, fn(&T) -> Option<V>);

/// The process's gauges, in base units.
const PROCESS_GAUGES: &[PerItem<ProcessStats, f64>] = &[
    (
        "process_resident_memory_bytes",
        "Resident memory size",
        |p| Some(p.resident_bytes as f64),
    ),
    ("process_virtual_memory_bytes", "Virtual memory size", |p| {
        Some(p.virtual_bytes as f64)
    }),
    (
        "process_start_time_seconds",
        "Start time of the process since the Unix epoch",
        |p| Some(p.start_time_seconds),
    ),
    ("process_open_fds", "Open file descriptors", |p| {
        p.open_fds.map(|n| n as f64)
    }),
    (
        "process_max_fds",
        "Maximum number of open file descriptors",
        |p| p.max_fds.map(|n| n as f64),
    ),
];

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let Some(stats) = process::read() else {
            return Ok(());
        };
        let cpu = Some((NoLabels, stats.cpu_seconds));
        let help = "User and system CPU time spent";
        counters_f64(&mut encoder, "process_cpu_seconds", help, cpu)?;
        for (name, help, value) in PROCESS_GAUGES {
            let series = value(&stats).map(|v| (NoLabels, v));
            gauges(&mut encoder, name, help, series)?;
        }
        Ok(())
    }
}

/// A series with no labels.
struct NoLabels;

impl EncodeLabelSet for NoLabels {
    fn encode(&self, _: &mut LabelSetEncoder) -> fmt::Result {
        Ok(())
    }
}

/// One metric of one node, with the names its series carry.
struct MetricRow<'a> {
    node: u16,
    /// The metric's name, made unique within its node.
    metric: Cow<'a, str>,
    /// The unit as the node sent it, for a unit outside the table.
    unknown_unit: Option<&'a str>,
    unit: BaseUnit,
    view: &'a MetricView,
}

impl MetricRow<'_> {
    fn labels(&self) -> MetricLabels<'_> {
        MetricLabels {
            node: self.node,
            metric: &self.metric,
            unit: self.unknown_unit,
        }
    }
}

/// `node`, `metric`, and `unit` for a unit outside the table.
struct MetricLabels<'a> {
    node: u16,
    metric: &'a str,
    unit: Option<&'a str>,
}

impl EncodeLabelSet for MetricLabels<'_> {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> fmt::Result {
        ("node", self.node).encode(encoder.encode_label())?;
        ("metric", self.metric).encode(encoder.encode_label())?;
        match self.unit {
            Some(unit) => ("unit", unit).encode(encoder.encode_label()),
            None => Ok(()),
        }
    }
}

/// Every metric of every node, in node then metric order.
fn metric_rows(nodes: &[NodeView]) -> Vec<MetricRow<'_>> {
    let mut rows = Vec::new();
    for node in nodes {
        let mut taken: BTreeSet<Cow<'_, str>> = BTreeSet::new();
        for view in &node.metrics {
            // `#ID` again until free: a node may also send a name that has `#ID` in it already.
            let mut metric = Cow::Borrowed(view.name.as_str());
            while taken.contains(&metric) {
                metric = Cow::Owned(format!("{metric}#{}", view.id));
            }
            taken.insert(metric.clone());
            let (unit, unknown_unit) = match units::exposed(&view.unit) {
                Some(unit) => (unit, None),
                None => (units::UNITLESS, Some(view.unit.as_str())),
            };
            rows.push(MetricRow {
                node: node.id,
                metric,
                unknown_unit,
                unit,
                view,
            });
        }
    }
    rows
}

/// The base-unit suffixes the rows use, each once, in order.
fn suffixes(rows: &[MetricRow<'_>]) -> BTreeSet<&'static str> {
    rows.iter().map(|r| r.unit.suffix).collect()
}

/// Readings, their times, trends, bounds and forecasts.
fn encode_readings(e: &mut DescriptorEncoder, rows: &[MetricRow<'_>]) -> fmt::Result {
    for suffix in suffixes(rows) {
        let of_unit: Vec<&MetricRow<'_>> =
            rows.iter().filter(|r| r.unit.suffix == suffix).collect();
        encode_unit_families(e, &of_unit)?;
    }
    let times = rows
        .iter()
        .filter_map(|r| Some((r.labels(), seconds(r.view.wall_ms?))));
    let help = "When the latest reading was taken (node time dated from its boot anchor), \
                seconds since the Unix epoch";
    gauges(e, "rackwatch_reading_timestamp_seconds", help, times)?;
    let etas = rows
        .iter()
        .filter_map(|r| Some((r.labels(), seconds(r.view.eta?.ms))));
    let help = "Time until the trend reaches the forecast threshold; 0 once reached, \
                absent without a forecast";
    gauges(e, "rackwatch_forecast_eta_seconds", help, etas)
}

/// The families named after one unit (`rackwatch_reading_celsius`...), for the rows in it.
fn encode_unit_families(e: &mut DescriptorEncoder, rows: &[&MetricRow<'_>]) -> fmt::Result {
    let Some(unit) = rows.first().map(|r| r.unit) else {
        return Ok(());
    };
    let described = describe(unit.suffix);
    let in_unit = |r: &MetricRow<'_>, v: f32| r.unit.value(decimal(v));
    let readings = rows
        .iter()
        .filter_map(|r| Some((r.labels(), in_unit(r, r.view.value?))));
    let help = format!("Latest reading of a node's metric{described}");
    gauges(e, &unit.name("rackwatch_reading"), &help, readings)?;
    let trends = rows.iter().filter_map(|r| {
        let per_second = r.view.slope_per_hour? / 3600.0;
        Some((r.labels(), r.unit.rate(per_second)))
    });
    let help = format!("Least-squares slope of a metric over its window{described} per second");
    let name = unit.name_with("rackwatch_trend", "per_second");
    gauges(e, &name, &help, trends)?;
    let bounds = rows.iter().flat_map(|r| {
        let levels = [("warning", r.view.warning), ("critical", r.view.critical)];
        levels.into_iter().filter_map(move |(level, bound)| {
            Some(((r.labels(), [("level", level)]), in_unit(r, bound?)))
        })
    });
    let help = format!("A metric's warning and critical bounds on its bad side{described}");
    gauges(e, &unit.name("rackwatch_threshold"), &help, bounds)?;
    let targets = rows
        .iter()
        .filter_map(|r| Some((r.labels(), in_unit(r, r.view.eta?.threshold))));
    let help = format!("The threshold a metric's forecast is about{described}");
    let name = unit.name("rackwatch_forecast_threshold");
    gauges(e, &name, &help, targets)
}

/// ` (in celsius)` for a family's help; for the unitless families, where the unit is.
fn describe(suffix: &str) -> String {
    if suffix.is_empty() {
        " (in the unit the node sent, labelled `unit` when rackwatch does not know it)".into()
    } else {
        format!(" (in {suffix})")
    }
}

/// A node's `f32` as the `f64` of its shortest decimal form: a reading of 25.24335 is written
/// so, not as 25.243349075317384 (the exact binary value of that `f32`).
fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

fn seconds(ms: u64) -> f64 {
    ms as f64 / 1000.0
}

/// Anomaly scores, alert levels and the alerts themselves.
fn encode_judgements(e: &mut DescriptorEncoder, rows: &[MetricRow<'_>]) -> fmt::Result {
    let scores = rows
        .iter()
        .filter_map(|r| Some((r.labels(), decimal(r.view.score?))));
    let help = "Latest anomaly score of a metric, 0 (usual) to 1 (anomalous)";
    gauges(e, "rackwatch_anomaly_score", help, scores)?;
    let levels = rows.iter().flat_map(|r| {
        let host = Some((
            (r.labels(), [("origin", "host")]),
            level_value(r.view.level),
        ));
        let node = r
            .view
            .node_level
            .map(|l| ((r.labels(), [("origin", "node")]), level_value(l)));
        host.into_iter().chain(node)
    });
    let help = "Alert level of a metric as judged by the host or last reported by the node: \
                0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN";
    gauges(e, "rackwatch_alert_level", help, levels)?;
    let flapping = rows
        .iter()
        .map(|r| (r.labels(), f64::from(u8::from(r.view.flapping))));
    let help = "1 while the host's alert for a metric is flapping";
    gauges(e, "rackwatch_alert_flapping", help, flapping)?;
    let alerts = rows.iter().flat_map(|r| {
        let host = Some(("host", r.view.level));
        let node = r.view.node_level.map(|l| ("node", l));
        host.into_iter().chain(node).filter_map(|(origin, level)| {
            let severity = severity(level)?;
            let labels = [
                ("alertname", ALERT_NAME),
                ("alertstate", "firing"),
                ("origin", origin),
                ("severity", severity),
            ];
            Some(((r.labels(), labels), 1.0))
        })
    });
    let help = "One series per firing alert (level not OK), like Prometheus' own ALERTS";
    gauges(e, "rackwatch_alerts", help, alerts)
}

/// A level as a number: its Nagios exit code.
fn level_value(level: Level) -> f64 {
    f64::from(level.exit_code())
}

/// The `severity` label of a level that fires; none for OK.
fn severity(level: Level) -> Option<&'static str> {
    match level {
        Level::Ok => None,
        Level::Warning => Some("warning"),
        Level::Critical => Some("critical"),
        Level::Unknown => Some("unknown"),
    }
}

/// Node gauges.
const NODE_GAUGES: &[PerItem<NodeView, f64>] = &[
    (
        "rackwatch_node_up",
        "1 while the node is heard within its liveness limit, 0 once it is down",
        |n| Some(f64::from(u8::from(!n.down))),
    ),
    (
        "rackwatch_node_last_seen_timestamp_seconds",
        "When the node's last frame arrived, seconds since the Unix epoch",
        |n| Some(seconds(n.last_frame_ms)),
    ),
    (
        "rackwatch_node_boot_id",
        "The node's current boot id (changes at every boot)",
        |n| n.boot.map(f64::from),
    ),
    (
        "rackwatch_node_uptime_seconds",
        "The node's uptime, from its last heartbeat",
        |n| n.uptime_ms.map(seconds),
    ),
];

/// Node counters: the host's, then the node's own from its last heartbeat (reset at each boot).
const NODE_COUNTERS: &[PerItem<NodeView, u64>] = &[
    (
        "rackwatch_node_frames_received",
        "Frames accepted from the node",
        |n| Some(n.counters.frames),
    ),
    (
        "rackwatch_node_frames_lost",
        "Frames missing in the node's sequence",
        |n| Some(n.counters.lost),
    ),
    (
        "rackwatch_node_frames_duplicated",
        "Frames received twice (same boot and sequence number) and dropped",
        |n| Some(n.counters.duplicates),
    ),
    (
        "rackwatch_node_frames_reordered",
        "Frames that arrived after later ones",
        |n| Some(n.counters.reordered),
    ),
    (
        "rackwatch_node_stale_boot_frames",
        "Frames from a boot older than the current one, dropped",
        |n| Some(n.counters.stale_boot_frames),
    ),
    (
        "rackwatch_node_resets",
        "Boot id changes seen by the host",
        |n| Some(n.counters.resets),
    ),
    (
        "rackwatch_node_readings",
        "Readings received from the node",
        |n| Some(n.counters.readings),
    ),
    (
        "rackwatch_node_readings_rejected",
        "Readings the host's monitor refused (time going backwards within a boot)",
        |n| Some(n.counters.rejected_readings),
    ),
    (
        "rackwatch_node_decode_errors",
        "Decode errors in frames whose (CRC-checked) header named the node",
        |n| Some(n.counters.decode_errors),
    ),
    (
        "rackwatch_node_sent_frames",
        "Frames the node sent this boot, from its last heartbeat",
        |n| Some(u64::from(n.node_counters?[0])),
    ),
    (
        "rackwatch_node_dropped_frames",
        "Frames the node dropped this boot (its line was busy), from its last heartbeat",
        |n| Some(u64::from(n.node_counters?[1])),
    ),
    (
        "rackwatch_node_dropped_readings",
        "Readings the node dropped this boot, from its last heartbeat",
        |n| Some(u64::from(n.node_counters?[2])),
    ),
    (
        "rackwatch_node_sensor_errors",
        "Sensor read errors on the node this boot, from its last heartbeat",
        |n| Some(u64::from(n.node_counters?[3])),
    ),
];

/// Each node's health: liveness, boot, firmware, the host's and its own counters.
fn encode_nodes(e: &mut DescriptorEncoder, nodes: &[NodeView]) -> fmt::Result {
    let labelled = |n: &NodeView| [("node", n.id)];
    for (name, help, value) in NODE_GAUGES {
        let series = nodes.iter().filter_map(|n| Some((labelled(n), value(n)?)));
        gauges(e, name, help, series)?;
    }
    let firmware = nodes.iter().filter_map(|n| {
        let firmware = n.firmware.as_deref()?;
        Some(((labelled(n), [("firmware", firmware)]), 1.0))
    });
    let help = "The node's firmware version, from its Hello";
    gauges(e, "rackwatch_node_info", help, firmware)?;
    let resets = nodes.iter().filter_map(|n| {
        let reason = crate::names::reset_reason(n.reset?);
        Some(((labelled(n), [("reason", reason)]), 1.0))
    });
    let help = "Why the node last reset, from its last heartbeat";
    gauges(e, "rackwatch_node_last_reset_info", help, resets)?;
    for (name, help, value) in NODE_COUNTERS {
        let series = nodes.iter().filter_map(|n| Some((labelled(n), value(n)?)));
        counters(e, name, help, series)?;
    }
    let transitions = nodes.iter().flat_map(|n| {
        let host = (
            (labelled(n), [("origin", "host")]),
            n.counters.host_transitions,
        );
        let node = (
            (labelled(n), [("origin", "node")]),
            n.counters.node_transitions,
        );
        [host, node]
    });
    let help = "Alert transitions, made by the host's monitors or reported by the node";
    counters(e, "rackwatch_node_transitions", help, transitions)
}

/// Counters of the pipeline over all sources.
const INGEST_COUNTERS: &[PerItem<Snapshot, u64>] = &[
    (
        "rackwatch_ingest_received_bytes",
        "Bytes received from all sources",
        |s| Some(s.bytes),
    ),
    (
        "rackwatch_ingest_frames",
        "Frames decoded (before duplicates are dropped)",
        |s| Some(s.frames),
    ),
    (
        "rackwatch_ingest_truncated_bytes",
        "Bytes of partial frames lost when a source disconnected",
        |s| Some(s.truncated_bytes),
    ),
    (
        "rackwatch_ingest_refused_node_frames",
        "Frames dropped because their node was beyond ingest.max_nodes",
        |s| Some(s.refused_node_frames),
    ),
];

/// The pipeline's own counters, decode errors by kind, and what the daemon is.
fn encode_ingest(e: &mut DescriptorEncoder, snapshot: &Snapshot) -> fmt::Result {
    for (name, help, value) in INGEST_COUNTERS {
        counters(e, name, help, value(snapshot).map(|v| (NoLabels, v)))?;
    }
    let mut kinds: Vec<(&str, u64)> = DECODE_ERROR_KINDS
        .iter()
        .filter(|k| !snapshot.decode_errors.contains_key(**k))
        .map(|k| (*k, 0))
        .collect();
    kinds.extend(snapshot.decode_errors.iter().map(|(k, v)| (k.as_str(), *v)));
    kinds.sort_unstable();
    let by_kind = kinds.into_iter().map(|(kind, n)| ([("kind", kind)], n));
    let help = "Frames that failed to decode, by kind";
    counters(e, "rackwatch_ingest_decode_errors", help, by_kind)?;
    let nodes = Some((NoLabels, snapshot.nodes.len() as f64));
    gauges(e, "rackwatch_nodes", "Nodes known to the daemon", nodes)?;
    let help = "When the snapshot served was taken (the time of the pipeline's last batch), \
                seconds since the Unix epoch";
    let taken = Some((NoLabels, seconds(snapshot.generated_ms)));
    gauges(e, "rackwatch_snapshot_timestamp_seconds", help, taken)?;
    let version = Some(([("version", env!("CARGO_PKG_VERSION"))], 1.0));
    let help = "The rackwatch version serving these metrics";
    gauges(e, "rackwatch_build_info", help, version)
}

/// Source gauges.
const SOURCE_GAUGES: &[PerItem<SourceView, f64>] = &[
    (
        "rackwatch_source_connected",
        "1 while the source is connected",
        |s| Some(f64::from(u8::from(s.connected))),
    ),
    (
        "rackwatch_source_finished",
        "1 once a finite source (a capture, a file) has delivered everything",
        |s| Some(f64::from(u8::from(s.finished))),
    ),
];

/// Source counters.
const SOURCE_COUNTERS: &[PerItem<SourceView, u64>] = &[
    (
        "rackwatch_source_received_bytes",
        "Bytes received from the source",
        |s| Some(s.bytes),
    ),
    (
        "rackwatch_source_connects",
        "Connections made to the source",
        |s| Some(s.connects),
    ),
    (
        "rackwatch_source_disconnects",
        "Connections to the source lost",
        |s| Some(s.disconnects),
    ),
    (
        "rackwatch_source_failures",
        "Opens and reads of the source that failed",
        |s| Some(s.failures),
    ),
];

/// Sink gauges.
const SINK_GAUGES: &[PerItem<SinkStatus, f64>] = &[
    (
        "rackwatch_sink_level",
        "The sink's level: 0 OK while it keeps up, 2 CRITICAL while it cannot deliver",
        |s| Some(level_value(s.level)),
    ),
    (
        "rackwatch_sink_pending_events",
        "Events held in memory until the sink accepts them",
        |s| Some(s.pending as f64),
    ),
];

/// Sink counters.
const SINK_COUNTERS: &[PerItem<SinkStatus, u64>] = &[
    (
        "rackwatch_sink_dropped_events",
        "Events dropped because the sink's memory bound was reached while it could not deliver",
        |s| Some(s.dropped),
    ),
    (
        "rackwatch_sink_failures",
        "Deliveries to the sink that failed",
        |s| Some(s.failures),
    ),
];

/// Each source's connection and bytes, each sink's backlog and level.
fn encode_sources_and_sinks(e: &mut DescriptorEncoder, snapshot: &Snapshot) -> fmt::Result {
    for (name, help, value) in SOURCE_GAUGES {
        let series = snapshot
            .sources
            .iter()
            .filter_map(|s| Some(([("source", s.name.as_str())], value(s)?)));
        gauges(e, name, help, series)?;
    }
    for (name, help, value) in SOURCE_COUNTERS {
        let series = snapshot
            .sources
            .iter()
            .filter_map(|s| Some(([("source", s.name.as_str())], value(s)?)));
        counters(e, name, help, series)?;
    }
    for (name, help, value) in SINK_GAUGES {
        let series = snapshot
            .sinks
            .iter()
            .filter_map(|s| Some(([("sink", s.name.as_str())], value(s)?)));
        gauges(e, name, help, series)?;
    }
    for (name, help, value) in SINK_COUNTERS {
        let series = snapshot
            .sinks
            .iter()
            .filter_map(|s| Some(([("sink", s.name.as_str())], value(s)?)));
        counters(e, name, help, series)?;
    }
    Ok(())
}

/// Silences active now, one series per acknowledged alert, per inhibited alert and per
/// maintenance window (`docs/acks-and-silences.md`).
fn encode_operator(e: &mut DescriptorEncoder, operator: &OperatorView) -> fmt::Result {
    let no_labels: [(&str, &str); 0] = [];
    gauges(
        e,
        "rackwatch_silences_active",
        "Silences muting matching alerts now",
        [(no_labels, operator.silences_active as f64)],
    )?;
    let node_ids: Vec<String> = operator.acks.iter().map(|a| a.node.to_string()).collect();
    let series = operator.acks.iter().zip(&node_ids).map(|(a, node)| {
        (
            [
                ("node", node.as_str()),
                ("metric", a.metric.as_str()),
                ("kind", a.kind.as_str()),
            ],
            1.0,
        )
    });
    gauges(
        e,
        "rackwatch_alert_acknowledged",
        "1 for each acknowledged alert (kind normal or sticky); absent when not acknowledged",
        series,
    )?;
    let node_ids: Vec<String> = operator
        .inhibited
        .iter()
        .map(|i| i.node.to_string())
        .collect();
    let series = operator.inhibited.iter().zip(&node_ids).map(|(i, node)| {
        (
            [
                ("node", node.as_str()),
                ("metric", i.metric.as_str()),
                ("origin", i.origin.as_str()),
            ],
            1.0,
        )
    });
    gauges(
        e,
        "rackwatch_alert_inhibited",
        "1 for each alert whose problem another firing alert inhibits; absent otherwise",
        series,
    )?;
    let series = operator.windows.iter().map(|w| {
        (
            [("window", w.window.name.as_str())],
            f64::from(u8::from(w.open.is_some())),
        )
    });
    gauges(
        e,
        "rackwatch_maintenance_window_open",
        "1 while the maintenance window is open, 0 while it is closed",
        series,
    )
}

/// One family: its HELP and TYPE once, then one sample per series; nothing when it has none.
fn family<L, M>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, M)>,
) -> fmt::Result
where
    L: EncodeLabelSet,
    M: EncodeMetric + TypedMetric,
{
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut family = encoder.encode_descriptor(name, help, None, M::TYPE)?;
    for (labels, metric) in series {
        metric.encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge family.
fn gauges<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let series = series.into_iter().map(|(l, v)| (l, ConstGauge::new(v)));
    family(encoder, name, help, series)
}

/// A counter family; `name` without `_total`, which the encoder appends.
fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let series = series.into_iter().map(|(l, v)| (l, ConstCounter::new(v)));
    family(encoder, name, help, series)
}

/// A counter family of fractional values (CPU seconds).
fn counters_f64<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, f64)>,
) -> fmt::Result {
    let series = series.into_iter().map(|(l, v)| (l, ConstCounter::new(v)));
    family(encoder, name, help, series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::NodeCounters;
    use crate::state::EtaView;

    fn metric(id: u16, name: &str, unit: &str, value: f32) -> MetricView {
        MetricView {
            id,
            name: name.into(),
            unit: unit.into(),
            value: Some(value),
            wall_ms: Some(1_700_000_000_250),
            level: Level::Ok,
            node_level: None,
            flapping: false,
            score: Some(0.25),
            anomaly: None,
            slope_per_hour: Some(3.6),
            eta: None,
            warning: Some(27.0),
            critical: Some(32.0),
            recent: Vec::new(),
        }
    }

    fn node(id: u16, metrics: Vec<MetricView>) -> NodeView {
        NodeView {
            id,
            boot: Some(7),
            firmware: Some("0.1.0".into()),
            down: false,
            last_frame_ms: 1_700_000_001_000,
            uptime_ms: Some(60_000),
            reset: None,
            node_counters: None,
            counters: NodeCounters::default(),
            metrics,
        }
    }

    fn render_nodes(nodes: Vec<NodeView>) -> String {
        let snapshot = Snapshot {
            nodes,
            ..Snapshot::default()
        };
        render(&Arc::new(Mutex::new(snapshot))).unwrap()
    }

    /// The sample lines (no comments) of a family, exactly as written.
    fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .filter(|l| l.split(['{', ' ']).next() == Some(family))
            .collect()
    }

    #[test]
    fn readings_are_named_after_their_base_unit_and_converted() {
        let text = render_nodes(vec![node(
            3,
            vec![
                metric(1, "inlet_temperature", "degC", 25.24335),
                metric(2, "humidity", "%", 45.0),
                metric(3, "pressure", "hPa", 1013.25),
            ],
        )]);
        assert_eq!(
            samples(&text, "rackwatch_reading_celsius"),
            [r#"rackwatch_reading_celsius{node="3",metric="inlet_temperature"} 25.24335"#]
        );
        assert_eq!(
            samples(&text, "rackwatch_reading_ratio"),
            [r#"rackwatch_reading_ratio{node="3",metric="humidity"} 0.45"#]
        );
        assert_eq!(
            samples(&text, "rackwatch_reading_pascals"),
            [r#"rackwatch_reading_pascals{node="3",metric="pressure"} 101325.0"#]
        );
        // 3.6 units an hour is 0.001 a second, in the base unit: 0.001 °C/s, 0.00001 ratio/s.
        assert_eq!(
            samples(&text, "rackwatch_trend_celsius_per_second"),
            [r#"rackwatch_trend_celsius_per_second{node="3",metric="inlet_temperature"} 0.001"#]
        );
        assert!(text.contains(
            r#"rackwatch_threshold_ratio{node="3",metric="humidity",level="warning"} 0.27"#
        ));
        assert!(text.contains(
            r#"rackwatch_reading_timestamp_seconds{node="3",metric="humidity"} 1700000000.25"#
        ));
        assert!(text.contains("# TYPE rackwatch_node_frames_received_total counter\n"));
        assert!(text.contains("# TYPE rackwatch_reading_celsius gauge\n"));
    }

    #[test]
    fn hostile_names_are_escaped_and_unknown_units_are_a_label_not_a_name() {
        let hostile = "a\"b\\c\nd} 1\nrackwatch_node_up{node=\"9\"} 0";
        let text = render_nodes(vec![node(1, vec![metric(1, hostile, "fur\"long\n", 2.0)])]);
        let escaped = r#"a\"b\\c\nd} 1\nrackwatch_node_up{node=\"9\"} 0"#;
        assert_eq!(
            samples(&text, "rackwatch_reading"),
            [format!(
                r#"rackwatch_reading{{node="1",metric="{escaped}",unit="fur\"long\n"}} 2.0"#
            )]
        );
        // The injected line is only inside a label value: node 9 does not exist.
        assert_eq!(
            samples(&text, "rackwatch_node_up"),
            [r#"rackwatch_node_up{node="1"} 1.0"#]
        );
        assert!(text
            .lines()
            .all(|l| !l.starts_with("rackwatch_node_up{node=\"9\"}")));
    }

    #[test]
    fn no_forecast_is_no_forecast_series_and_a_forecast_is_in_seconds() {
        let mut with = metric(1, "inlet_temperature", "degC", 30.0);
        with.eta = Some(EtaView {
            threshold: 32.0,
            above: true,
            ms: 5_400_000,
            accelerating: false,
        });
        let without = metric(2, "power", "W", 200.0);
        let text = render_nodes(vec![node(1, vec![with, without])]);
        assert_eq!(
            samples(&text, "rackwatch_forecast_eta_seconds"),
            [r#"rackwatch_forecast_eta_seconds{node="1",metric="inlet_temperature"} 5400.0"#]
        );
        assert_eq!(
            samples(&text, "rackwatch_forecast_threshold_celsius"),
            [r#"rackwatch_forecast_threshold_celsius{node="1",metric="inlet_temperature"} 32.0"#]
        );
        let none = render_nodes(vec![node(1, vec![metric(2, "power", "W", 200.0)])]);
        assert!(!none.contains("rackwatch_forecast"), "{none}");
    }

    #[test]
    fn a_firing_level_is_an_alert_series_and_ok_is_none() {
        let mut warm = metric(1, "inlet_temperature", "degC", 28.0);
        warm.level = Level::Warning;
        warm.node_level = Some(Level::Critical);
        let text = render_nodes(vec![node(2, vec![warm, metric(2, "power", "W", 1.0)])]);
        let base =
            r#"node="2",metric="inlet_temperature",alertname="rackwatch",alertstate="firing""#;
        assert_eq!(
            samples(&text, "rackwatch_alerts"),
            [
                format!(r#"rackwatch_alerts{{{base},origin="host",severity="warning"}} 1.0"#),
                format!(r#"rackwatch_alerts{{{base},origin="node",severity="critical"}} 1.0"#),
            ]
        );
        assert_eq!(
            samples(&text, "rackwatch_alert_level"),
            [
                r#"rackwatch_alert_level{node="2",metric="inlet_temperature",origin="host"} 1.0"#,
                r#"rackwatch_alert_level{node="2",metric="inlet_temperature",origin="node"} 2.0"#,
                r#"rackwatch_alert_level{node="2",metric="power",origin="host"} 0.0"#,
            ]
        );
    }

    #[test]
    fn a_repeated_metric_name_gets_its_id_so_no_two_series_collide() {
        let text = render_nodes(vec![node(
            1,
            vec![metric(4, "t", "degC", 1.0), metric(9, "t", "degC", 2.0)],
        )]);
        assert_eq!(
            samples(&text, "rackwatch_reading_celsius"),
            [
                r#"rackwatch_reading_celsius{node="1",metric="t"} 1.0"#,
                r#"rackwatch_reading_celsius{node="1",metric="t#9"} 2.0"#,
            ]
        );
        // A name that already looks disambiguated does not make a collision either.
        let text = render_nodes(vec![node(
            1,
            vec![
                metric(3, "t#9", "degC", 3.0),
                metric(4, "t", "degC", 1.0),
                metric(9, "t", "degC", 2.0),
            ],
        )]);
        assert_eq!(
            samples(&text, "rackwatch_reading_celsius"),
            [
                r#"rackwatch_reading_celsius{node="1",metric="t#9"} 3.0"#,
                r#"rackwatch_reading_celsius{node="1",metric="t"} 1.0"#,
                r#"rackwatch_reading_celsius{node="1",metric="t#9#9"} 2.0"#,
            ]
        );
    }

    #[test]
    fn every_decode_error_kind_is_written_from_zero() {
        let text = render_nodes(Vec::new());
        let kinds = samples(&text, "rackwatch_ingest_decode_errors_total");
        assert_eq!(kinds.len(), DECODE_ERROR_KINDS.len());
        assert!(kinds.contains(&r#"rackwatch_ingest_decode_errors_total{kind="crc"} 0"#));
        // No node, no per-node or per-metric family at all.
        assert!(!text.contains("rackwatch_node_up"));
        assert!(!text.contains("rackwatch_reading"));
    }

    #[test]
    fn the_decode_error_kinds_are_the_cores() {
        use rackwatch_core::wire::{DecodeError, Header, Kind};
        let header = Header::default();
        let kind = Kind::Readings;
        let every = [
            DecodeError::Overlong { len: 0 },
            DecodeError::Cobs { len: 0 },
            DecodeError::TooShort { len: 0 },
            DecodeError::Crc {
                expected: 0,
                computed: 1,
            },
            DecodeError::UnsupportedVersion { version: 9 },
            DecodeError::UnsupportedFlags { header, flags: 0 },
            DecodeError::UnknownKind { header, kind: 0 },
            DecodeError::Body { header, kind },
            DecodeError::TrailingBytes {
                header,
                kind,
                len: 1,
            },
        ];
        let names: Vec<&str> = every.iter().map(|e| e.name()).collect();
        assert_eq!(names, DECODE_ERROR_KINDS);
    }
}
