//! The rack's rules and the node's monitors: what a rackwatch node judges, shared as plain data by
//! the `qemu` and `hw` images and by the host (`rackwatch sim` runs the same table, and any host can
//! read it back from the node's Metric frames).
//!
//! [`RACK`] lists the metrics of the simulated rack (ids 0 to 3, the board's first four) with their
//! [`Rule`] and [`AnomalyConfig`], as `const` data in flash. [`RackMonitors`] runs one
//! [`Monitor`](rackwatch_core::monitor::Monitor) per metric behind the node's [`MetricHook`], borrowing
//! its rule from the table, so a metric costs `size_of::<Monitor<WINDOW, &Rule>>()` of RAM.
//!
//! Invariants: every rule in [`RACK`] passes [`Rule::check`] (tested); the monitors are a pure
//! function of the readings and times the node hands them, so a host replaying the node's readings
//! through [`RackMonitors`] obtains the node's transitions.

use crate::hook::MetricHook;
use rackwatch_core::alert::{
    AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Limit, Limits, MissingData,
    MissingPolicy, Predictive, Rule, Thresholds,
};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::{MetricSpec, Registry};
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::wire::{RuleSummary, Transition};

/// Samples each node monitor keeps.
pub const WINDOW: usize = 64;

/// One metric of the rack: its identity and how it is judged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RackMetric {
    /// Metric id.
    pub id: u16,
    /// Name.
    pub name: &'static str,
    /// Unit.
    pub unit: &'static str,
    /// The alert rule.
    pub rule: Rule,
    /// The anomaly detector's parameters, with the sensor's physical limits.
    pub anomaly: AnomalyConfig,
}

impl RackMetric {
    /// The metric as plain data, for the Metric frame.
    pub fn spec(&self) -> Option<MetricSpec> {
        MetricSpec::new(self.id, self.name, self.unit, self.rule, self.anomaly).ok()
    }
}

const MINUTE: u32 = 60_000;
const HOUR: u32 = 60 * MINUTE;

/// Raised above `raise`, cleared at or below `raise - hysteresis`.
const fn above(raise: f32, hysteresis: f32) -> Option<Limit> {
    Some(Limit::with_clear(
        Bound::strict(raise),
        Bound::inclusive(raise - hysteresis),
    ))
}

/// Raised below `raise`, cleared at or above `raise + hysteresis`.
const fn below(raise: f32, hysteresis: f32) -> Option<Limit> {
    Some(Limit::with_clear(
        Bound::strict(raise),
        Bound::inclusive(raise + hysteresis),
    ))
}

/// A forecast toward `threshold` (above): WARNING within `warn`, CRITICAL within `crit`, each
/// cleared when the estimate moves half as far again.
const fn forecast(threshold: f32, warn: u32, crit: u32) -> Option<Predictive> {
    Some(Predictive {
        threshold,
        crossing: Crossing::Above,
        warning: Some(Horizon {
            within_ms: warn,
            clear_beyond_ms: warn + warn / 2,
        }),
        critical: Some(Horizon {
            within_ms: crit,
            clear_beyond_ms: crit + crit / 2,
        }),
        policy: EtaPolicy::DEFAULT,
    })
}

/// A reading a minute late is missing: UNKNOWN (a sensor that stops answering).
const MISSING: MissingData = MissingData {
    deadline_ms: Some(MINUTE),
    policy: MissingPolicy::Unknown,
    startup_grace_ms: 2 * MINUTE,
};

/// The simulated rack's metrics (the board's first four), in id order.
pub const RACK: [RackMetric; 4] = [
    RackMetric {
        id: 0,
        name: "inlet_temperature",
        unit: "degC",
        // ASHRAE's recommended inlet range ends at 27 °C; 32 °C is the allowable A1 limit.
        rule: Rule {
            value: Thresholds {
                warning: Limits {
                    above: above(27.0, 1.0),
                    below: None,
                },
                critical: Limits {
                    above: above(32.0, 1.0),
                    below: None,
                },
            },
            predictive: forecast(32.0, 2 * HOUR, 30 * MINUTE),
            anomaly: None,
            health: Health::ALL,
            raise: Debounce::count(2, 3),
            clear: Debounce::count(3, 3),
            missing: MISSING,
            flapping: Some(Flapping::NAGIOS),
        },
        anomaly: AnomalyConfig::with_limits(Some(-20.0), Some(80.0), Some(1.0)),
    },
    RackMetric {
        id: 1,
        name: "humidity",
        unit: "%",
        rule: Rule {
            value: Thresholds {
                warning: Limits {
                    above: above(70.0, 5.0),
                    below: below(20.0, 5.0),
                },
                critical: Limits {
                    above: above(85.0, 5.0),
                    below: below(10.0, 5.0),
                },
            },
            predictive: None,
            // A sudden spike (a door open in the rain) is worth a warning on its own.
            anomaly: Some(AnomalyLevels {
                warning: Some(Limit::with_clear(Bound::inclusive(0.9), Bound::strict(0.5))),
                critical: None,
            }),
            health: Health::ALL,
            raise: Debounce::IMMEDIATE,
            clear: Debounce::count(3, 3),
            missing: MISSING,
            flapping: Some(Flapping::NAGIOS),
        },
        anomaly: AnomalyConfig::with_limits(Some(0.0), Some(100.0), None),
    },
    RackMetric {
        id: 2,
        name: "pressure",
        unit: "hPa",
        rule: Rule {
            missing: MISSING,
            ..Rule::EMPTY
        },
        anomaly: AnomalyConfig::with_limits(Some(300.0), Some(1100.0), None),
    },
    RackMetric {
        id: 3,
        name: "power",
        unit: "W",
        rule: Rule {
            value: Thresholds {
                warning: Limits {
                    above: above(250.0, 10.0),
                    below: None,
                },
                critical: Limits {
                    above: above(300.0, 10.0),
                    below: None,
                },
            },
            predictive: forecast(300.0, 2 * HOUR, 30 * MINUTE),
            anomaly: None,
            health: Health::ALL,
            raise: Debounce::count(2, 3),
            clear: Debounce::count(3, 3),
            missing: MISSING,
            flapping: Some(Flapping::NAGIOS),
        },
        anomaly: AnomalyConfig::with_limits(Some(0.0), Some(5000.0), None),
    },
];

/// The node's monitors: one per metric of `metrics`, rules borrowed from the table.
pub struct RackMonitors<const M: usize> {
    metrics: &'static [RackMetric],
    registry: Registry<M, WINDOW, &'static Rule>,
}

impl<const M: usize> RackMonitors<M> {
    /// Monitors for the first `M` metrics of `metrics`, started at `start_ms`. A metric whose rule
    /// fails [`Rule::check`] is left unmonitored (the tests keep [`RACK`] valid).
    pub fn new(metrics: &'static [RackMetric], start_ms: u64) -> Self {
        let mut registry = Registry::new();
        for m in metrics.iter().take(M) {
            let _ = registry.add(m.id, &m.rule, m.anomaly, start_ms);
        }
        RackMonitors { metrics, registry }
    }

    /// The monitors.
    pub fn registry(&self) -> &Registry<M, WINDOW, &'static Rule> {
        &self.registry
    }

    fn metric(&self, id: u16) -> Option<&'static RackMetric> {
        self.metrics.iter().find(|m| m.id == id)
    }
}

impl<const M: usize> MetricHook for RackMonitors<M> {
    fn on_reading(
        &mut self,
        metric: u16,
        at_ms: u64,
        value: f32,
        emit: &mut dyn FnMut(Transition),
    ) {
        if let Ok(transitions) = self.registry.observe(metric, at_ms, value) {
            transitions.into_iter().for_each(emit);
        }
    }

    fn on_sensor_error(&mut self, metric: u16, at_ms: u64, emit: &mut dyn FnMut(Transition)) {
        // No value: only time passes (a NaN is counted by the monitor and never reads as OK).
        if let Ok(transitions) = self.registry.observe(metric, at_ms, f32::NAN) {
            transitions.into_iter().for_each(emit);
        }
    }

    fn on_tick(&mut self, now_ms: u64, emit: &mut dyn FnMut(Transition)) {
        self.registry.poll(now_ms, emit);
    }

    fn rule_summary(&self, metric: u16) -> Option<RuleSummary> {
        self.metric(metric).map(|m| m.rule.summary())
    }

    fn metric_spec(&self, metric: u16) -> Option<MetricSpec> {
        self.metric(metric)?.spec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{Scenario, SimMetric, SimSensors};
    use rackwatch_core::Level;

    #[test]
    fn every_rack_rule_is_valid_and_every_spec_fits_the_wire() {
        for m in &RACK {
            assert_eq!(m.rule.check(), Ok(()), "{}", m.name);
            assert!(m.spec().is_some(), "{}", m.name);
        }
    }

    #[test]
    fn a_metric_costs_a_borrowed_monitor() {
        let size = core::mem::size_of::<RackMonitors<16>>();
        let per_metric = core::mem::size_of::<rackwatch_core::monitor::Monitor<WINDOW, &Rule>>();
        assert!(size <= 16 * per_metric + 64, "{size}");
    }

    /// The rising-inlet rack: warned by the forecast before 32 °C is reached, critical after.
    #[test]
    fn a_rising_inlet_is_forecast_then_critical() {
        let mut sensors = SimSensors::new(3, Scenario::RisingInlet, 10 * 60_000);
        let mut monitors: RackMonitors<4> = RackMonitors::new(&RACK, 0);
        let mut seen = std::vec::Vec::new();
        for i in 0..(6 * 360u64) {
            let t = i * 10_000;
            let v = sensors.read(SimMetric::InletTemperature, t).unwrap();
            monitors.on_reading(0, t, v, &mut |tr| seen.push((tr, v)));
        }
        let (first, at) = seen.first().copied().expect("transitions");
        assert_eq!(first.to, Level::Warning);
        assert!(
            matches!(first.cause, rackwatch_core::wire::Cause::Eta { .. }),
            "{first:?}"
        );
        assert!(at < 32.0);
        let critical = seen
            .iter()
            .find(|(t, _)| t.to == Level::Critical)
            .expect("critical");
        assert!(
            critical.1 > 32.0
                || matches!(critical.0.cause, rackwatch_core::wire::Cause::Eta { .. })
        );
    }

    /// The stuck humidity sensor ends UNKNOWN.
    #[test]
    fn a_stuck_sensor_is_reported_unknown() {
        let mut sensors = SimSensors::new(5, Scenario::StuckSensor, 10 * 60_000);
        let mut monitors: RackMonitors<4> = RackMonitors::new(&RACK, 0);
        let mut seen = std::vec::Vec::new();
        for i in 0..360u64 {
            let t = i * 10_000;
            let v = sensors.read(SimMetric::Humidity, t).unwrap();
            monitors.on_reading(1, t, v, &mut |tr| seen.push(tr));
        }
        assert!(
            seen.iter()
                .any(|t| t.to == Level::Unknown
                    && t.cause == rackwatch_core::wire::Cause::SensorFault),
            "{seen:?}"
        );
    }
}
