//! A transition as the delivery sinks send it: the JSON document of `docs/webhook.md` (the
//! webhook's body, the command's standard input) and the command's environment.
//!
//! Invariants:
//! - [`SCHEMA_VERSION`] changes whenever a field changes meaning or goes away; new fields may be
//!   added within a version. `docs/webhook.md` describes every field, and a test pins them.
//! - The `id` is a function of the transition alone (node, boot, metric, origin, alert sequence,
//!   node time): queued twice, re-ingested or retried, the same transition carries the same id,
//!   and two different transitions never share one.
//! - Levels are the stable names of [`crate::names`]; the cause in words is
//!   [`crate::render::cause`], the same text every command shows.

use crate::ingest::{Event, Ingest, NodeEventKind, Origin};
use crate::render;
use crate::timefmt::format_utc;
use rackwatch_core::wire::{Cause, Outlook, Transition};
use rackwatch_core::Level;
use serde::{Deserialize, Serialize};

/// The version of the document's schema.
pub const SCHEMA_VERSION: u32 = 1;

/// One transition, as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionMessage {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The transition's stable id.
    pub id: String,
    /// Node id.
    pub node: u16,
    /// The node's boot id, 8 hex digits.
    pub boot: String,
    /// The metric's name.
    pub metric: String,
    /// The metric's id on the node.
    pub metric_id: u16,
    /// The metric's unit (empty when unknown).
    pub unit: String,
    /// Who judged it: `node` or `host`.
    pub origin: String,
    /// The level before.
    #[serde(with = "crate::names::level")]
    pub from: Level,
    /// The level after.
    #[serde(with = "crate::names::level")]
    pub to: Level,
    /// The reading, when a value crossed a bound.
    pub value: Option<f32>,
    /// The bound it crossed, or the threshold a forecast reaches.
    pub bound: Option<f32>,
    /// Time until the forecast reaches `bound`, ms, for a forecast.
    pub eta_ms: Option<u64>,
    /// The anomaly score, for an anomaly.
    pub score: Option<f32>,
    /// The kind of cause: `value`, `eta`, `anomaly`, `missing_data`, `sensor_fault`,
    /// `flapping_stopped`, `forecast_receded`.
    pub cause: String,
    /// The cause in words.
    pub summary: String,
    /// When, RFC 3339 UTC.
    pub time: String,
    /// When, ms since the Unix epoch.
    pub wall_ms: u64,
    /// When, ms since the node booted.
    pub at_ms: u64,
    /// The alert's sequence number in the boot.
    pub alert_seq: u32,
    /// Notifications suppressed: the alert is flapping.
    pub suppressed: bool,
}

/// The cause's kind name and its numbers: (kind, value, bound, eta, score).
type CauseParts = (
    &'static str,
    Option<f32>,
    Option<f32>,
    Option<u64>,
    Option<f32>,
);

fn cause_parts(cause: &Cause) -> CauseParts {
    match *cause {
        Cause::Value { value, bound } => ("value", Some(value), Some(bound), None, None),
        Cause::Eta { eta_ms, threshold } => ("eta", None, Some(threshold), Some(eta_ms), None),
        Cause::Anomaly { score } => ("anomaly", None, None, None, Some(score)),
        Cause::MissingData { .. } => ("missing_data", None, None, None, None),
        Cause::SensorFault => ("sensor_fault", None, None, None, None),
        Cause::FlappingStopped => ("flapping_stopped", None, None, None, None),
        Cause::ForecastReceded { outlook } => {
            let eta_ms = match outlook {
                Outlook::Beyond { eta_ms, .. } => Some(eta_ms),
                Outlook::Never | Outlook::Unsure { .. } => None,
            };
            ("forecast_receded", None, None, eta_ms, None)
        }
    }
}

/// The stable id of a transition.
pub fn transition_id(node: u16, boot: u32, origin: Origin, t: &Transition) -> String {
    stored_transition_id(node, boot, t.metric, origin, t.alert_seq, t.at_ms)
}

/// The same id from a stored transition's key.
pub fn stored_transition_id(
    node: u16,
    boot: u32,
    metric: u16,
    origin: Origin,
    alert_seq: u32,
    at_ms: u64,
) -> String {
    format!(
        "rw1-{node}-{boot:08x}-{metric}-{}-{alert_seq}-{at_ms}",
        origin.as_str()
    )
}

impl TransitionMessage {
    /// The message for `event`, if it is a transition; names and units from `ingest`.
    pub fn from_event(event: &Event, ingest: &Ingest) -> Option<TransitionMessage> {
        let Event::Transition {
            node,
            boot,
            origin,
            wall_ms,
            transition: t,
        } = event
        else {
            return None;
        };
        let state = ingest.nodes().get(node);
        let metric = state.map_or_else(
            || format!("metric_{}", t.metric),
            |n| n.metric_name(t.metric),
        );
        let unit = state
            .and_then(|n| n.metrics.get(t.metric))
            .map_or_else(String::new, |m| m.spec.unit.to_string());
        let (cause, value, bound, eta_ms, score) = cause_parts(&t.cause);
        Some(TransitionMessage {
            schema_version: SCHEMA_VERSION,
            id: transition_id(*node, *boot, *origin, t),
            node: *node,
            boot: format!("{boot:08x}"),
            summary: render::cause(&t.cause, &unit),
            metric,
            metric_id: t.metric,
            unit,
            origin: origin.as_str().into(),
            from: t.from,
            to: t.to,
            value,
            bound,
            eta_ms,
            score,
            cause: cause.into(),
            time: format_utc(*wall_ms),
            wall_ms: *wall_ms,
            at_ms: t.at_ms,
            alert_seq: t.alert_seq,
            suppressed: t.suppressed,
        })
    }

    /// The node's own alert ([`NODE_DOWN`](crate::operator::inhibit::NODE_DOWN), judged by the
    /// host) for a down or up event: CRITICAL while the node is down, OK when it sends again.
    /// `None` for any other event.
    pub fn node_alert(event: &Event) -> Option<TransitionMessage> {
        let Event::NodeEvent {
            node,
            boot,
            wall_ms,
            kind,
        } = event
        else {
            return None;
        };
        let (from, to, cause) = match kind {
            NodeEventKind::Down { .. } => (Level::Ok, Level::Critical, "node_down"),
            NodeEventKind::Up => (Level::Critical, Level::Ok, "node_up"),
            _ => return None,
        };
        let metric = crate::operator::inhibit::NODE_DOWN;
        Some(TransitionMessage {
            schema_version: SCHEMA_VERSION,
            // Down and up alternate, so the time tells this one from every other of the node.
            id: format!("rw1-{node}-{boot:08x}-{metric}-host-{wall_ms}"),
            node: *node,
            boot: format!("{boot:08x}"),
            metric: metric.into(),
            metric_id: u16::MAX,
            unit: String::new(),
            origin: Origin::Host.as_str().into(),
            from,
            to,
            value: None,
            bound: None,
            eta_ms: None,
            score: None,
            cause: cause.into(),
            summary: format!("node {node} {kind}"),
            time: format_utc(*wall_ms),
            wall_ms: *wall_ms,
            at_ms: 0,
            alert_seq: 0,
            suppressed: false,
        })
    }

    /// The command sink's environment: `RACKWATCH_*` variables, one per field a script needs.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let opt = |v: Option<String>| v.unwrap_or_default();
        vec![
            ("RACKWATCH_SCHEMA_VERSION", self.schema_version.to_string()),
            ("RACKWATCH_ID", self.id.clone()),
            ("RACKWATCH_NODE", self.node.to_string()),
            ("RACKWATCH_BOOT", self.boot.clone()),
            ("RACKWATCH_METRIC", self.metric.clone()),
            ("RACKWATCH_UNIT", self.unit.clone()),
            ("RACKWATCH_ORIGIN", self.origin.clone()),
            ("RACKWATCH_FROM_LEVEL", self.from.as_str().into()),
            ("RACKWATCH_LEVEL", self.to.as_str().into()),
            ("RACKWATCH_VALUE", opt(self.value.map(|v| v.to_string()))),
            ("RACKWATCH_BOUND", opt(self.bound.map(|v| v.to_string()))),
            ("RACKWATCH_ETA_MS", opt(self.eta_ms.map(|v| v.to_string()))),
            ("RACKWATCH_SCORE", opt(self.score.map(|v| v.to_string()))),
            ("RACKWATCH_CAUSE", self.cause.clone()),
            ("RACKWATCH_SUMMARY", self.summary.clone()),
            ("RACKWATCH_TIME", self.time.clone()),
            ("RACKWATCH_SUPPRESSED", self.suppressed.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transition(seq: u32, at_ms: u64) -> Transition {
        Transition {
            metric: 3,
            from: Level::Ok,
            to: Level::Warning,
            at_ms,
            cause: Cause::Eta {
                eta_ms: 7_000_000,
                threshold: 300.0,
            },
            alert_seq: seq,
            suppressed: false,
        }
    }

    #[test]
    fn ids_are_stable_and_tell_transitions_apart() {
        let a = transition_id(2, 0xB007, Origin::Node, &transition(4, 1000));
        assert_eq!(a, "rw1-2-0000b007-3-node-4-1000");
        assert_eq!(
            a,
            transition_id(2, 0xB007, Origin::Node, &transition(4, 1000))
        );
        let others = [
            transition_id(2, 0xB007, Origin::Host, &transition(4, 1000)),
            transition_id(2, 0xB008, Origin::Node, &transition(4, 1000)),
            transition_id(2, 0xB007, Origin::Node, &transition(5, 1000)),
            transition_id(2, 0xB007, Origin::Node, &transition(4, 1001)),
        ];
        assert!(others.iter().all(|o| *o != a));
    }

    #[test]
    fn the_document_has_every_documented_field() {
        let ingest = Ingest::new(Default::default(), Default::default());
        let event = Event::Transition {
            node: 2,
            boot: 0xB007,
            origin: Origin::Host,
            wall_ms: 1_796_303_188_204,
            transition: transition(0, 3_150_000),
        };
        let m = TransitionMessage::from_event(&event, &ingest).unwrap();
        let json: serde_json::Value = serde_json::to_value(&m).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        // The fields docs/webhook.md describes; a change here is a change of the schema.
        assert_eq!(
            keys,
            [
                "alert_seq",
                "at_ms",
                "boot",
                "bound",
                "cause",
                "eta_ms",
                "from",
                "id",
                "metric",
                "metric_id",
                "node",
                "origin",
                "schema_version",
                "score",
                "summary",
                "suppressed",
                "time",
                "to",
                "unit",
                "value",
                "wall_ms"
            ]
        );
        assert_eq!(json["from"], "OK");
        assert_eq!(json["to"], "WARNING");
        assert_eq!(json["metric"], "metric_3");
        assert_eq!(json["time"], "2026-12-03T13:06:28.204Z");
        assert_eq!(json["cause"], "eta");
        assert_eq!(json["bound"], 300.0);
        let env = m.environment();
        assert!(env.contains(&("RACKWATCH_LEVEL", "WARNING".into())));
        assert!(env.contains(&("RACKWATCH_VALUE", String::new())));
    }
}
