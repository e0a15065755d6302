//! The rack's rules and the node's monitors: what a rackwatch node judges, shared as plain data by
//! the `qemu` and `hw` images and by the host (`rackwatch sim` runs the same table, and any host can
//! read it back from the node's Metric frames).
//!
//! [`RACK`] lists the metrics of the simulated rack (ids 0 to 3, the board's first four) with their
//! [`Rule`] and [`AnomalyConfig`], as `const` data in flash; [`BOARD`] extends it to every metric
//! the real board can report ([`crate::sensors::BOARD_METRICS`]). [`RackMonitors`] runs one
//! [`Monitor`](rackwatch_core::monitor::Monitor) per metric behind the node's [`MetricHook`], borrowing
//! its rule from the table, so a metric costs `size_of::<Monitor<WINDOW, &Rule>>()` of RAM.
//!
//! Invariants: every rule in [`RACK`] and [`BOARD`] passes [`Rule::check`] (tested); the monitors are
//! a pure function of the readings and times the node hands them, so a host replaying the node's
//! readings through [`RackMonitors`], or through a `Registry` built from the node's Metric frames,
//! obtains the node's transitions. Only monitored metrics have a rule summary and a spec: a metric
//! the node does not judge is announced without thresholds.

use crate::hook::MetricHook;
use crate::sensors::SensorSet;
use heapless::String;
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
    /// The metric as plain data, for the Metric frame; `None` for a name or unit too long for
    /// the wire. The rule is not checked again: the node's tables are (tested), and
    /// [`MetricSpec::new`]'s check would link its code and messages into every image.
    pub fn spec(&self) -> Option<MetricSpec> {
        Some(MetricSpec {
            id: self.id,
            name: String::try_from(self.name).ok()?,
            unit: String::try_from(self.unit).ok()?,
            rule: self.rule,
            anomaly: self.anomaly,
        })
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
        keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
    })
}

/// The clear of a forecast-judged metric: three good readings in a row, held for five minutes, so a
/// forecast that recedes for a moment (one noisy fit) does not end the level.
const FORECAST_CLEAR: Debounce = Debounce {
    samples: 3,
    of_last: 3,
    for_ms: 5 * MINUTE,
};

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
            clear: FORECAST_CLEAR,
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
            clear: FORECAST_CLEAR,
            missing: MISSING,
            flapping: Some(Flapping::NAGIOS),
        },
        anomaly: AnomalyConfig::with_limits(Some(0.0), Some(5000.0), None),
    },
];

/// Raised above `above` or below `below`, each cleared `hysteresis` back inside.
const fn outside(below_raise: f32, above_raise: f32, hysteresis: f32) -> Limits {
    Limits {
        above: above(above_raise, hysteresis),
        below: below(below_raise, hysteresis),
    }
}

/// A rule on the value only: WARNING and CRITICAL limits, debounced like the rack's others, missing
/// after a minute.
const fn limits(warning: Limits, critical: Limits) -> Rule {
    Rule {
        value: Thresholds { warning, critical },
        predictive: None,
        anomaly: None,
        health: Health::ALL,
        raise: Debounce::count(2, 3),
        clear: Debounce::count(3, 3),
        missing: MISSING,
        flapping: Some(Flapping::NAGIOS),
    }
}

/// Every metric the real board can report ([`crate::sensors::BOARD_METRICS`]), in id order: the
/// rack's four ([`RACK`]), then the board's own and the add-ons' others. The INA226 add-on measures
/// the rack's 12 V DC feed, so the power limits of [`RACK`] (250 W, 300 W) are 21 A and 25 A.
pub const BOARD: [RackMetric; 9] = [
    RACK[0],
    RACK[1],
    RACK[2],
    RACK[3],
    RackMetric {
        id: 4,
        name: "board_temperature",
        unit: "degC",
        // The LPS22HB's die: the node's own enclosure. Its operating range ends at 85 °C.
        rule: limits(
            Limits {
                above: above(50.0, 2.0),
                below: None,
            },
            Limits {
                above: above(60.0, 2.0),
                below: None,
            },
        ),
        anomaly: AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(1.0)),
    },
    RackMetric {
        id: 5,
        name: "outlet_temperature",
        unit: "degC",
        // The exhaust runs 10 to 20 °C above the inlet; above 45 °C the rack is short of air.
        rule: limits(
            Limits {
                above: above(45.0, 2.0),
                below: None,
            },
            Limits {
                above: above(55.0, 2.0),
                below: None,
            },
        ),
        anomaly: AnomalyConfig::with_limits(Some(-40.0), Some(125.0), Some(1.0)),
    },
    RackMetric {
        id: 6,
        name: "outlet_humidity",
        unit: "%",
        // Warm exhaust air is dry (15 to 25 % when the inlet is at 40 %); only a wet exhaust is news.
        rule: limits(
            Limits {
                above: above(70.0, 5.0),
                below: None,
            },
            Limits {
                above: above(85.0, 5.0),
                below: None,
            },
        ),
        anomaly: AnomalyConfig::with_limits(Some(0.0), Some(100.0), None),
    },
    RackMetric {
        id: 7,
        name: "bus_voltage",
        unit: "V",
        // 12 V ± 5 % (the ATX tolerance) warns, ± 10 % is critical. The INA226 reads 0 to 36 V.
        rule: limits(outside(11.4, 12.6, 0.1), outside(10.8, 13.2, 0.1)),
        anomaly: AnomalyConfig::with_limits(Some(0.0), Some(36.0), None),
    },
    RackMetric {
        id: 8,
        name: "current",
        unit: "A",
        // The power limits at 12 V; the 2 mΩ shunt at 1 mA per LSB reads ± 32.767 A.
        rule: limits(
            Limits {
                above: above(21.0, 1.0),
                below: None,
            },
            Limits {
                above: above(25.0, 1.0),
                below: None,
            },
        ),
        anomaly: AnomalyConfig::with_limits(Some(-32.768), Some(32.767), None),
    },
];

/// The node's monitors: one per monitored metric, rules borrowed from the table.
///
/// A `RackMonitors<16>` is about 18 KiB on the MCU, too much to build on the stack and move into
/// place: a board puts [`RackMonitors::empty`] (a `const`) in a `static` and fills it where it
/// lies with [`add_sensors`](Self::add_sensors), then hands the node `&'static mut` to it (the hook
/// is implemented for `&mut H`). [`new`](Self::new) and [`for_sensors`](Self::for_sensors) build
/// one by value, for the host.
pub struct RackMonitors<const M: usize> {
    metrics: &'static [RackMetric],
    registry: Registry<M, WINDOW, &'static Rule>,
}

impl<const M: usize> RackMonitors<M> {
    /// Judges nothing yet; rules will come from `metrics`.
    pub const fn empty(metrics: &'static [RackMetric]) -> Self {
        RackMonitors {
            metrics,
            registry: Registry::new(),
        }
    }

    /// Monitors for the first `M` metrics of `metrics`, started at `start_ms`. The rules are taken
    /// as valid, not checked again: `metrics` is [`RACK`] or [`BOARD`], whose rules pass
    /// [`Rule::check`] (tested).
    pub fn new(metrics: &'static [RackMetric], start_ms: u64) -> Self {
        let mut monitors = Self::empty(metrics);
        for m in metrics.iter().take(M) {
            monitors.add(m, start_ms);
        }
        monitors
    }

    /// Monitors for the metrics `sensors` announces; see [`add_sensors`](Self::add_sensors).
    pub fn for_sensors<S: SensorSet + ?Sized>(
        metrics: &'static [RackMetric],
        sensors: &S,
        start_ms: u64,
    ) -> Self {
        let mut monitors = Self::empty(metrics);
        monitors.add_sensors(sensors, start_ms);
        monitors
    }

    /// Adds a monitor, started at `start_ms`, for each metric `sensors` announces (in its order,
    /// up to `M` in all) that has an entry in the table and no monitor yet. A metric without an
    /// entry is left unmonitored: the node still reports its readings,
    /// announced without thresholds. A sensor that is not fitted announces no metric, so it gets
    /// no monitor and never goes UNKNOWN for want of readings.
    pub fn add_sensors<S: SensorSet + ?Sized>(&mut self, sensors: &S, start_ms: u64) {
        let mut index = 0;
        while let Some(info) = sensors.metric(index) {
            index += 1;
            if let Some(m) = self.metrics.iter().find(|m| m.id == info.id) {
                self.add(m, start_ms);
            }
        }
    }

    fn add(&mut self, m: &'static RackMetric, start_ms: u64) {
        // Refused only for a duplicate id or a full registry: left unmonitored. The rule is not
        // checked again on the node: the tables are (tested), and the check's code and messages
        // would cost the hw image some 1.7 KiB of flash.
        let _ = self
            .registry
            .add_checked(m.id, &m.rule, m.anomaly, start_ms);
    }

    /// The monitors.
    pub fn registry(&self) -> &Registry<M, WINDOW, &'static Rule> {
        &self.registry
    }

    /// The table entry of `id`, if `id` is monitored.
    fn metric(&self, id: u16) -> Option<&'static RackMetric> {
        self.registry.get(id)?;
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
    use crate::sensors::BOARD_METRICS;
    use crate::sim::{Scenario, SimMetric, SimSensors};
    use rackwatch_core::Level;

    #[test]
    fn every_forecast_keeps_the_hold_the_wire_announces() {
        // The Metric frame of wire version 1 carries no hold time: a host replaying this node
        // assumes the default, so a node's rules must use it.
        for m in RACK.iter().chain(BOARD.iter()) {
            if let Some(p) = m.rule.predictive {
                assert_eq!(p.keep_for_ms, Predictive::DEFAULT_KEEP_FOR_MS, "{}", m.name);
            }
        }
    }

    #[test]
    fn every_rack_rule_is_valid_and_every_spec_fits_the_wire() {
        for m in RACK.iter().chain(&BOARD) {
            assert_eq!(m.rule.check(), Ok(()), "{}", m.name);
            assert!(m.spec().is_some(), "{}", m.name);
        }
    }

    /// The board table names every board metric as the sensors do, in id order, and begins with
    /// the rack's.
    #[test]
    fn the_board_table_covers_the_board_metrics() {
        assert_eq!(BOARD[..RACK.len()], RACK);
        assert_eq!(BOARD.len(), BOARD_METRICS.len());
        for (rule, info) in BOARD.iter().zip(&BOARD_METRICS) {
            assert_eq!(
                (rule.id, rule.name, rule.unit),
                (info.id, info.name, info.unit)
            );
        }
    }

    /// Each board rule judges a plausible healthy reading OK and one beyond its critical limit
    /// CRITICAL (two of three readings, as debounced).
    #[test]
    fn the_board_rules_judge_healthy_readings_ok_and_bad_ones_critical() {
        let cases: [(u16, f32, f32); 5] = [
            (4, 35.0, 61.0),
            (5, 38.0, 56.0),
            (6, 20.0, 90.0),
            (7, 12.05, 10.5),
            (8, 15.0, 26.0),
        ];
        for (id, healthy, bad) in cases {
            let mut monitors: RackMonitors<16> = RackMonitors::new(&BOARD, 0);
            let mut seen = std::vec::Vec::new();
            let mut t = 0;
            for value in [healthy; 10].into_iter().chain([bad; 3]) {
                monitors.on_reading(id, t, value, &mut |tr| seen.push(tr));
                t += 10_000;
            }
            assert_eq!(seen.len(), 1, "metric {id}: {seen:?}");
            assert_eq!(
                (seen[0].from, seen[0].to),
                (Level::Ok, Level::Critical),
                "{id}"
            );
        }
    }

    /// Only the fitted sensors' metrics are monitored: a board without add-ons judges its four
    /// on-board metrics, announces thresholds for those only, and no add-on metric goes UNKNOWN.
    #[test]
    fn only_the_fitted_metrics_are_monitored() {
        use crate::sensors::BoardSensors;
        use embedded_hal_mock::eh1::{delay::NoopDelay, i2c::Mock};
        let bare = BoardSensors::new(
            Mock::new(&[]),
            Mock::new(&[]),
            NoopDelay,
            None,
            None,
            crate::sensors::BoardPeriods::default(),
        );
        let mut monitors: RackMonitors<16> = RackMonitors::for_sensors(&BOARD, &bare, 0);
        let ids: std::vec::Vec<u16> = monitors.registry().iter().map(|m| m.id()).collect();
        assert_eq!(ids, [0, 1, 2, 4]);
        assert!(monitors.metric_spec(4).is_some() && monitors.rule_summary(4).is_some());
        assert!(monitors.metric_spec(3).is_none() && monitors.rule_summary(8).is_none());
        let mut seen = std::vec::Vec::new();
        monitors.on_tick(3_600_000, &mut |tr| seen.push(tr));
        assert!(
            seen.iter().all(|t| [0, 1, 2, 4].contains(&t.metric)),
            "{seen:?}"
        );
        let (mut a, mut b) = bare.release();
        a.done();
        b.done();
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
