//! The seam where per-metric monitors plug into the node.
//!
//! The node calls a [`MetricHook`] on every reading it takes, on every failed sensor read and on
//! every [`Node::poll`](crate::node::Node::poll); whatever the hook hands to `emit` is sent at once as
//! a Transition frame. [`RackMonitors`](crate::rack::RackMonitors) implements it with the core's
//! monitors and the rack's rules; [`NoMonitors`] judges nothing and announces no rules.
//!
//! Invariants the node keeps for a hook:
//! - `on_reading` sees every reading the node takes, in the order taken, before the reading joins a
//!   batch, whether or not the batch later has room for it (readings dropped for a slow line are
//!   still judged).
//! - Times never go backwards across the calls of one node.
//! - Every transition given to `emit` is sent, whole, before the node takes its next reading or
//!   sends any other frame: the node waits for the line rather than drop a transition.

use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{RuleSummary, Transition};

/// Per-metric monitoring, called by the node. See the [module docs](self).
pub trait MetricHook {
    /// A reading of `metric` taken at `at_ms` (ms since boot).
    fn on_reading(&mut self, metric: u16, at_ms: u64, value: f32, emit: &mut dyn FnMut(Transition));

    /// The sensor behind `metric` failed to answer at `at_ms`.
    fn on_sensor_error(&mut self, metric: u16, at_ms: u64, emit: &mut dyn FnMut(Transition)) {
        let _ = (metric, at_ms, emit);
    }

    /// Time passes: called once per node poll, after the readings of that poll, so that
    /// missing-data deadlines come due without a reading.
    fn on_tick(&mut self, now_ms: u64, emit: &mut dyn FnMut(Transition)) {
        let _ = (now_ms, emit);
    }

    /// The rule summary the Hello announces for `metric`; `None` announces no thresholds.
    fn rule_summary(&self, metric: u16) -> Option<RuleSummary> {
        let _ = metric;
        None
    }

    /// The full spec of `metric`, sent in a Metric frame right after the Hello; `None` sends none.
    /// Built on demand, so a hook can keep its rules in flash and its names as `&'static str`.
    fn metric_spec(&self, metric: u16) -> Option<MetricSpec> {
        let _ = metric;
        None
    }
}

/// No monitors: the node only samples, batches and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoMonitors;

impl MetricHook for NoMonitors {
    fn on_reading(&mut self, _: u16, _: u64, _: f32, _: &mut dyn FnMut(Transition)) {}
}

impl<H: MetricHook + ?Sized> MetricHook for &mut H {
    fn on_reading(
        &mut self,
        metric: u16,
        at_ms: u64,
        value: f32,
        emit: &mut dyn FnMut(Transition),
    ) {
        (**self).on_reading(metric, at_ms, value, emit);
    }

    fn on_sensor_error(&mut self, metric: u16, at_ms: u64, emit: &mut dyn FnMut(Transition)) {
        (**self).on_sensor_error(metric, at_ms, emit);
    }

    fn on_tick(&mut self, now_ms: u64, emit: &mut dyn FnMut(Transition)) {
        (**self).on_tick(now_ms, emit);
    }

    fn rule_summary(&self, metric: u16) -> Option<RuleSummary> {
        (**self).rule_summary(metric)
    }

    fn metric_spec(&self, metric: u16) -> Option<MetricSpec> {
        (**self).metric_spec(metric)
    }
}
