//! The host monitors, the pipeline's judging stage: every reading of a node goes through a core
//! [`Monitor`](rackwatch_core::monitor::Monitor) configured from the node's own spec, so the host
//! obtains the node's transitions by replaying its readings.
//!
//! Invariants:
//! - Same readings, same specs, same transitions as the node (the core is deterministic); the host
//!   adds nothing of its own to a node's judgement except where [`HostRules`] override a spec.
//! - A metric the node did not describe is still judged: by what its Hello announced, the host's
//!   rule for it, or anomaly scoring alone ([`HostRules::spec_for`]).
//! - Every host transition leaves through [`emit`], dated from the boot's wall-clock anchor, and is
//!   counted once.
//! - A reading the monitor refuses (time going backwards) is counted in `rejected_readings`.

use super::event::{Event, Origin};
use super::node::{MetricState, NodeState};
use crate::rules::HostRules;
use rackwatch_core::wire::Transition;

/// How far behind its estimated node time the host polls a node's monitors for missing data, so
/// that a node clock slightly slower than the host's never has its readings refused.
const POLL_SLACK_MS: u64 = 5_000;

/// The metric's state, created from the host's rules when the node has not described it yet; `None`
/// when the node already has as many metrics as the wire allows. A metric its Hello announced gets
/// that name, unit and thresholds, and an [`Event::Metric`] so history knows it by name.
pub fn metric_for<'a>(
    rules: &HostRules,
    node: &'a mut NodeState,
    metric: u16,
    t_ms: u64,
    out: &mut Vec<Event>,
) -> Option<&'a mut MetricState> {
    if node.metrics.get(metric).is_none() {
        // Not described by a Metric frame (joined mid-boot, or older firmware).
        let announced = node
            .hello
            .as_ref()
            .and_then(|h| h.metrics.iter().find(|d| d.id == metric));
        let base = HostRules::base_spec(metric, announced);
        let spec = rules.apply(node.id, base.clone());
        if announced.is_some() {
            out.push(Event::Metric {
                node: node.id,
                boot: node.boot.as_ref().map_or(0, |b| b.id),
                spec: Box::new(spec.clone()),
            });
        }
        let state = MetricState::new(spec, t_ms).based_on(base);
        return node.metrics.insert(metric, state);
    }
    node.metrics.get_mut(metric)
}

/// Judges one reading with the metric's monitor, at node time `t_ms`.
pub fn observe(
    node: &mut NodeState,
    metric: u16,
    t_ms: u64,
    value: f32,
    boot_wall_ms: u64,
    out: &mut Vec<Event>,
) {
    let (id, boot) = (node.id, node.boot.as_ref().map_or(0, |b| b.id));
    let Some(state) = node.metrics.get_mut(metric) else {
        return;
    };
    match state.monitor.observe(t_ms, value) {
        Ok(transitions) => {
            for transition in transitions {
                emit(id, boot, boot_wall_ms, transition, &mut node.counters, out);
            }
        }
        Err(error) => {
            node.counters.rejected_readings += 1;
            // A node error, so a warning; at the 1st, 2nd, 4th, 8th ... refusal of the node, so a
            // node whose clock runs backwards cannot flood the log (the counter has every one).
            let refused = node.counters.rejected_readings;
            if refused.is_power_of_two() {
                tracing::warn!(
                    node = id,
                    boot,
                    metric,
                    refused,
                    "reading refused ({refused} so far from this node): {error}"
                );
            }
        }
    }
}

/// Lets missing data count up to the node time that corresponds to `wall_ms`, less a slack.
pub fn poll(node: &mut NodeState, wall_ms: u64, out: &mut Vec<Event>) {
    let Some(boot) = &node.boot else { return };
    let (Some(boot_wall_ms), Some((latest, latest_wall))) =
        (boot.boot_wall_ms, node.latest_node_ms)
    else {
        return;
    };
    let (id, boot) = (node.id, boot.id);
    // The node's clock now: its latest time plus the wall time since, less a slack.
    let node_now = latest
        .saturating_add(wall_ms.saturating_sub(latest_wall))
        .saturating_sub(POLL_SLACK_MS);
    for (_, state) in node.metrics.iter_mut() {
        if let Ok(transitions) = state.monitor.poll(node_now) {
            for transition in transitions {
                emit(id, boot, boot_wall_ms, transition, &mut node.counters, out);
            }
        }
    }
}

/// A host monitor's transition, as an event.
fn emit(
    node: u16,
    boot: u32,
    boot_wall_ms: u64,
    transition: Transition,
    counters: &mut super::node::NodeCounters,
    out: &mut Vec<Event>,
) {
    counters.host_transitions += 1;
    out.push(Event::Transition {
        node,
        boot,
        origin: Origin::Host,
        wall_ms: boot_wall_ms.saturating_add(transition.at_ms),
        transition,
    });
}
