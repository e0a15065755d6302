//! Inhibition, Alertmanager's: while a *source* alert fires, transitions of the *target* alerts
//! it covers notify no delivery sink (`docs/acks-and-silences.md#inhibition`).
//!
//! A rule has `source_matchers`, `target_matchers` and `equal` labels: a transition is inhibited
//! when its alert matches the target matchers and some other alert firing now (not OK) matches the
//! source matchers and carries the same values of every `equal` label. Besides the configured
//! rules ([`Config::inhibit`](crate::config::Config)) one is built in: a node that is down
//! ([`NODE_DOWN`]) inhibits its own metrics' UNKNOWN, so a node going down is one alert.
//!
//! Invariants:
//! - The alerts firing now are read from the pipeline's state after the batch ([`firing`]), not
//!   remembered: a restart, which rebuilds that state from the nodes, loses nothing here.
//! - An alert never inhibits itself (Alertmanager's rule too).
//! - A label an alert does not carry reads as the empty string, for matchers and for `equal` alike
//!   (two alerts without `rack` are in the same rack, as in Alertmanager).

use super::matcher::{all_match, Matcher, Op};
use crate::ingest::Ingest;
use rackwatch_core::Level;
use std::collections::BTreeMap;

/// The metric name of a node's own alert: CRITICAL while the node is down.
pub const NODE_DOWN: &str = "node_down";

/// An alert's labels: `alertname`, `node`, `metric`, `origin`, `severity`, and the node's labels
/// from the configuration (`[[node]] labels`).
pub type Labels = BTreeMap<String, String>;

/// The configured labels of each node.
pub type NodeLabels = BTreeMap<u16, BTreeMap<String, String>>;

/// One inhibition rule.
#[derive(Debug, Clone, PartialEq)]
pub struct InhibitRule {
    /// Named in the reason an inhibited alert shows (`inhibit[0]` for a configured one without a
    /// name).
    pub name: String,
    /// What the inhibiting alert matches.
    pub source_matchers: Vec<Matcher>,
    /// What the inhibited alert matches.
    pub target_matchers: Vec<Matcher>,
    /// Labels both must carry with the same value.
    pub equal: Vec<String>,
}

impl InhibitRule {
    /// The built-in rule: a node that is down inhibits the UNKNOWN of its metrics (and their
    /// recovery, see the gate).
    pub fn node_down() -> InhibitRule {
        let m = |name: &str, op, value: &str| {
            Matcher::new(name, op, value).unwrap_or_else(|_| unreachable!("a fixed matcher"))
        };
        InhibitRule {
            name: "built-in: node down".into(),
            source_matchers: vec![m("metric", Op::Equal, NODE_DOWN)],
            target_matchers: vec![
                m("metric", Op::NotEqual, NODE_DOWN),
                m("severity", Op::Equal, "unknown"),
            ],
            equal: vec!["node".into()],
        }
    }
}

/// An alert firing now, as a source of inhibition.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringAlert {
    /// Node, metric, origin.
    pub key: (u16, String, String),
    /// Its labels.
    pub labels: Labels,
}

/// The labels of the alert `node`/`metric` judged by `origin`, at `severity`.
pub fn labels(
    node: u16,
    metric: &str,
    origin: &str,
    severity: &str,
    node_labels: &NodeLabels,
) -> Labels {
    let mut labels: Labels = node_labels.get(&node).cloned().unwrap_or_default();
    // The alert's own labels win over a node label of the same name.
    for (k, v) in [
        ("alertname", crate::sink::ALERTNAME),
        ("node", &node.to_string()),
        ("metric", metric),
        ("origin", origin),
        ("severity", severity),
    ] {
        labels.insert(k.into(), v.into());
    }
    labels
}

/// Whether every matcher matches `labels`.
pub fn matches(matchers: &[Matcher], labels: &Labels) -> bool {
    all_match(matchers, |name| labels.get(name).map(String::as_str))
}

/// Every alert not OK in `ingest` now: each node's metrics by both judges, and [`NODE_DOWN`] for
/// a node that is down.
pub fn firing(ingest: &Ingest, node_labels: &NodeLabels) -> Vec<FiringAlert> {
    let mut out = Vec::new();
    let mut push = |node: u16, metric: &str, origin: &str, level: Level| {
        if level == Level::Ok {
            return;
        }
        let severity = crate::operator::severity_name(level);
        out.push(FiringAlert {
            key: (node, metric.to_string(), origin.to_string()),
            labels: labels(node, metric, origin, severity, node_labels),
        });
    };
    for (id, node) in ingest.nodes() {
        if node.down {
            push(*id, NODE_DOWN, "host", Level::Critical);
        }
        for (_, m) in node.metrics.iter() {
            let name = m.spec.name.as_str();
            push(*id, name, "host", m.monitor.level());
            if let Some(level) = m.node_level {
                push(*id, name, "node", level);
            }
        }
    }
    out
}

/// The first rule and firing alert that inhibit the alert `key` with `labels`: the reason it
/// shows, `by NODE/METRIC (RULE)`.
pub fn inhibitor(
    rules: &[InhibitRule],
    firing: &[FiringAlert],
    key: &(u16, String, String),
    labels: &Labels,
) -> Option<String> {
    let empty = String::new();
    let label = |l: &Labels, name: &str| l.get(name).unwrap_or(&empty).clone();
    for rule in rules {
        if !matches(&rule.target_matchers, labels) {
            continue;
        }
        let source = firing.iter().find(|s| {
            s.key != *key
                && matches(&rule.source_matchers, &s.labels)
                && rule
                    .equal
                    .iter()
                    .all(|name| label(&s.labels, name) == label(labels, name))
        });
        if let Some(s) = source {
            return Some(format!("by {}/{} ({})", s.key.0, s.key.1, rule.name));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rack_rule() -> InhibitRule {
        InhibitRule {
            name: "power".into(),
            source_matchers: vec![Matcher::parse("metric=power_feed").unwrap()],
            target_matchers: vec![Matcher::parse("metric=~.*temp.*").unwrap()],
            equal: vec!["rack".into()],
        }
    }

    fn racks() -> NodeLabels {
        let rack = |r: &str| BTreeMap::from([("rack".to_string(), r.to_string())]);
        BTreeMap::from([(1, rack("r1")), (2, rack("r1")), (3, rack("r2"))])
    }

    fn alert(node: u16, metric: &str, severity: &str) -> FiringAlert {
        FiringAlert {
            key: (node, metric.into(), "host".into()),
            labels: labels(node, metric, "host", severity, &racks()),
        }
    }

    #[test]
    fn equal_labels_confine_a_rule_to_the_same_rack() {
        let firing = [alert(1, "power_feed", "critical")];
        let same_rack = alert(2, "inlet_temp", "warning");
        let other_rack = alert(3, "inlet_temp", "warning");
        let rules = [rack_rule()];
        let why = inhibitor(&rules, &firing, &same_rack.key, &same_rack.labels).unwrap();
        assert_eq!(why, "by 1/power_feed (power)");
        assert_eq!(
            inhibitor(&rules, &firing, &other_rack.key, &other_rack.labels),
            None
        );
    }

    #[test]
    fn missing_equal_labels_are_equal_and_an_alert_never_inhibits_itself() {
        let rule = InhibitRule {
            name: "any".into(),
            source_matchers: vec![Matcher::parse("metric=~.*").unwrap()],
            target_matchers: vec![Matcher::parse("metric=~.*").unwrap()],
            equal: vec!["row".into()],
        };
        let a = alert(1, "x", "critical");
        let b = alert(3, "y", "warning");
        let rules = [rule];
        // Neither carries `row`: both read "", so equal.
        assert!(inhibitor(&rules, std::slice::from_ref(&a), &b.key, &b.labels).is_some());
        assert!(inhibitor(&rules, std::slice::from_ref(&a), &a.key, &a.labels).is_none());
    }

    #[test]
    fn a_down_node_inhibits_only_its_own_unknowns() {
        let rules = [InhibitRule::node_down()];
        let firing = [alert(1, NODE_DOWN, "critical")];
        let own_unknown = alert(1, "fan", "unknown");
        let own_warning = alert(1, "fan", "warning");
        let other_unknown = alert(2, "fan", "unknown");
        assert!(inhibitor(&rules, &firing, &own_unknown.key, &own_unknown.labels).is_some());
        assert!(inhibitor(&rules, &firing, &own_warning.key, &own_warning.labels).is_none());
        assert!(inhibitor(&rules, &firing, &other_unknown.key, &other_unknown.labels).is_none());
    }
}
