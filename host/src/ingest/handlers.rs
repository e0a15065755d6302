//! One handler per body kind (`process_*`, as smoltcp names them): what an admitted frame's body
//! changes in the node's state and which events it produces.
//!
//! Invariants:
//! - A handler runs only for a frame that admission let through, for the node's current boot.
//! - Readings, transitions and heartbeats date the boot ([`NodeState::anchor`]) before anything
//!   else, so every event they produce carries wall times from the same anchor.
//! - A spec arriving again unchanged (a resent Hello) keeps the running monitor; a changed spec
//!   restarts it.

use super::event::{Event, NodeEventKind, Origin};
use super::monitors;
use super::node::{LastReading, MetricState, NodeState};
use crate::rules::HostRules;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Heartbeat, Hello, Log, Readings, Transition, SCHEMA_HASH};

/// What every handler is given besides the body: the node, its boot, the frame's arrival time and
/// where events go.
pub struct FrameContext<'a> {
    /// The node the frame came from.
    pub node: &'a mut NodeState,
    /// The boot it belongs to.
    pub boot: u32,
    /// The frame's sequence epoch in the boot (wraps and restarts before it).
    pub epoch: u32,
    /// The frame's sequence number.
    pub seq: u16,
    /// When it arrived.
    pub wall_ms: u64,
    /// Where events go.
    pub out: &'a mut Vec<Event>,
}

/// A Hello: the boot's identity, firmware and schema.
pub fn process_hello(cx: FrameContext<'_>, hello: Hello) {
    let node = cx.node;
    if hello.schema_hash != SCHEMA_HASH {
        tracing::warn!(
            node = node.id,
            "schema hash {:#x} differs from this host's {SCHEMA_HASH:#x}: its frames may be \
             misread; update the host or the firmware",
            hello.schema_hash
        );
        cx.out.push(Event::NodeEvent {
            node: node.id,
            boot: cx.boot,
            wall_ms: cx.wall_ms,
            kind: NodeEventKind::SchemaMismatch {
                node_hash: hello.schema_hash,
            },
        });
    }
    node.hello = Some(hello.clone());
    cx.out.push(Event::Boot {
        node: node.id,
        boot: cx.boot,
        boot_wall_ms: node.boot.as_ref().and_then(|b| b.boot_wall_ms),
        hello: Some(Box::new(hello)),
    });
}

/// A Metric frame: how the node judges one metric, which the host's monitor adopts (with the
/// host's overrides applied).
pub fn process_metric(cx: FrameContext<'_>, rules: &HostRules, spec: MetricSpec) {
    let node = cx.node;
    let base = spec;
    let spec = rules.apply(node.id, base.clone());
    let id = spec.id;
    match node.metrics.get_mut(id) {
        Some(state) if state.spec == spec => {
            state.base = base;
            return;
        }
        Some(state) => {
            state.respecify(spec.clone());
            state.base = base;
        }
        None => {
            let state = MetricState::new(spec.clone(), 0).based_on(base);
            if node.metrics.insert(id, state).is_none() {
                return;
            }
        }
    }
    cx.out.push(Event::Metric {
        node: node.id,
        boot: cx.boot,
        spec: Box::new(spec),
    });
}

/// A batch of readings: each stored, remembered as the metric's latest and judged by the host.
pub fn process_readings(cx: FrameContext<'_>, rules: &HostRules, readings: Readings) {
    let node = cx.node;
    let newest = readings.iter().map(|(_, t, _)| t).max().unwrap_or(0);
    let boot_wall_ms = node.anchor(cx.out, cx.wall_ms, newest);
    for (metric, t_ms, value) in readings.iter() {
        node.counters.readings += 1;
        let wall_ms = boot_wall_ms.saturating_add(t_ms);
        cx.out.push(Event::Reading {
            node: node.id,
            boot: cx.boot,
            metric,
            t_ms,
            wall_ms,
            value,
        });
        if let Some(state) = monitors::metric_for(rules, node, metric, t_ms, cx.out) {
            state.last = Some(LastReading {
                t_ms,
                wall_ms,
                value,
            });
            monitors::observe(node, metric, t_ms, value, boot_wall_ms, cx.out);
        }
    }
}

/// A transition the node's own alert machine made.
pub fn process_transition(cx: FrameContext<'_>, transition: Transition) {
    let node = cx.node;
    let boot_wall_ms = node.anchor(cx.out, cx.wall_ms, transition.at_ms);
    node.counters.node_transitions += 1;
    // The level of a metric the host does not know yet is not kept: the transition itself is.
    if let Some(state) = node.metrics.get_mut(transition.metric) {
        state.node_level = Some(transition.to);
    }
    cx.out.push(Event::Transition {
        node: node.id,
        boot: cx.boot,
        origin: Origin::Node,
        wall_ms: boot_wall_ms.saturating_add(transition.at_ms),
        transition,
    });
}

/// A heartbeat: liveness, the node's counters, and the interval that defines "down".
pub fn process_heartbeat(cx: FrameContext<'_>, heartbeat: Heartbeat) {
    let node = cx.node;
    node.anchor(cx.out, cx.wall_ms, heartbeat.uptime_ms);
    if let Some((previous_wall, _)) = node.last_heartbeat {
        let interval = cx.wall_ms.saturating_sub(previous_wall);
        if interval > 0 {
            node.heartbeat_interval_ms = Some(match node.heartbeat_interval_ms {
                // The shortest seen: a lost heartbeat must not stretch the limit.
                Some(known) => known.min(interval).max(interval / 2),
                None => interval,
            });
        }
    }
    node.last_heartbeat = Some((cx.wall_ms, heartbeat));
    cx.out.push(Event::Heartbeat {
        node: node.id,
        boot: cx.boot,
        wall_ms: cx.wall_ms,
        heartbeat,
    });
}

/// defmt log bytes, kept in the order of the frames' (epoch, sequence number).
pub fn process_log(cx: FrameContext<'_>, log: Log) {
    cx.out.push(Event::Log {
        node: cx.node.id,
        boot: cx.boot,
        wall_ms: cx.wall_ms,
        epoch: cx.epoch,
        seq: cx.seq,
        bytes: log.defmt.to_vec(),
    });
}
