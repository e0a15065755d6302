//! One metric's whole pipeline, and a fixed-capacity registry of them for a node.
//!
//! A [`Monitor<N>`] holds a metric's alert rule (by value, or borrowed from flash), a [`Window<N>`]
//! (statistics and trend), an [`AnomalyDetector`] with its parameters and an [`AlertMachine`]. One call,
//! [`Monitor::observe`], takes a reading through all of them and returns the transitions it caused;
//! [`Monitor::poll`] lets missing data count between readings. A [`Registry<M, N>`] holds up to `M`
//! monitors keyed by metric id, which is what a node runs; the host keeps one [`Monitor`] per metric
//! beside the metric's spec and latest reading (`rackwatch::ingest::MetricState`), with the same cap
//! per node.
//!
//! # Invariants
//! - Fixed memory: `size_of::<Monitor<64>>()` (the rule held by value) is 1 336 bytes and
//!   `size_of::<Monitor<64, &Rule>>()` 1 144 on 64-bit targets, asserted ≤ 1.5 KiB in the tests. A
//!   [`MetricSpec`] (the metric's name, unit, rule and anomaly parameters as data) is not part of a
//!   monitor: it is what configures one ([`Monitor::for_spec`]) and what the wire announces.
//! - O(1) per reading (the window's min/max amortised), no allocation.
//! - A NaN or infinite value is counted ([`Monitor::invalid_values`]) and otherwise treated as no
//!   reading: it never reaches the statistics and never reads as OK.
//! - A time before the last accepted event is refused with [`SampleError`] and changes nothing.
//! - Deterministic: the same specs and the same calls give the same transitions on every target, so
//!   the host replays a node's readings and obtains the node's transitions.

use crate::alert::{AlertMachine, Rule, RuleError, Transitions};
use crate::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyScore};
use crate::trend::TimeTo;
use crate::window::Window;
use crate::wire::{MetricDescriptor, Transition, MAX_NAME_LEN, MAX_UNIT_LEN};
use crate::{Level, SampleError};
use core::borrow::Borrow;
use heapless::String;
use serde::{Deserialize, Serialize};

/// The samples a node's and the host's windows hold unless configured otherwise.
pub const DEFAULT_WINDOW: usize = 64;

/// Everything that defines a metric's monitoring: plain data, shared by the host's configuration and
/// the firmware's tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// The id readings and transitions carry.
    pub id: u16,
    /// Name, e.g. `inlet_temperature`.
    pub name: String<MAX_NAME_LEN>,
    /// Unit, e.g. `degC`.
    pub unit: String<MAX_UNIT_LEN>,
    /// The alert rule.
    pub rule: Rule,
    /// The anomaly detector's parameters (its physical limits feed the rule's sensor-health checks).
    pub anomaly: AnomalyConfig,
}

/// Why a [`MetricSpec`] or a [`Registry`] entry was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SpecError {
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    NameTooLong,
    /// The unit is longer than [`MAX_UNIT_LEN`] bytes.
    UnitTooLong,
    /// The rule has a field outside its domain.
    Rule(RuleError),
    /// The registry already has a metric with this id.
    DuplicateId(u16),
    /// The registry is full.
    Full,
}

impl core::fmt::Display for SpecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SpecError::NameTooLong => write!(f, "metric name is longer than {MAX_NAME_LEN} bytes"),
            SpecError::UnitTooLong => write!(f, "metric unit is longer than {MAX_UNIT_LEN} bytes"),
            SpecError::Rule(e) => write!(f, "{e}"),
            SpecError::DuplicateId(id) => write!(f, "metric id {id} is already registered"),
            SpecError::Full => f.write_str("the registry is full; build it with a larger capacity"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SpecError {}

impl MetricSpec {
    /// A spec from borrowed strings, checking lengths and the rule.
    pub fn new(
        id: u16,
        name: &str,
        unit: &str,
        rule: Rule,
        anomaly: AnomalyConfig,
    ) -> Result<MetricSpec, SpecError> {
        rule.check().map_err(SpecError::Rule)?;
        Ok(MetricSpec {
            id,
            name: String::try_from(name).map_err(|_| SpecError::NameTooLong)?,
            unit: String::try_from(unit).map_err(|_| SpecError::UnitTooLong)?,
            rule,
            anomaly,
        })
    }

    /// What a node announces about this metric in its Hello.
    pub fn descriptor(&self) -> MetricDescriptor {
        MetricDescriptor {
            id: self.id,
            name: self.name.clone(),
            unit: self.unit.clone(),
            rule: self.rule.summary(),
            lattice: None,
        }
    }
}

/// One metric: window, statistics, trend, anomaly score and alert state. See the [module docs](self).
///
/// The rule is held as any `R: Borrow<Rule>`: by value on the host, or as a `&'static Rule` in flash
/// on a node, where it then costs no RAM.
#[derive(Debug, Clone)]
pub struct Monitor<const N: usize, R: Borrow<Rule> = Rule> {
    id: u16,
    rule: R,
    window: Window<N>,
    anomaly: AnomalyDetector,
    alert: AlertMachine,
    last_score: Option<AnomalyScore>,
    invalid_values: u32,
}

impl<const N: usize> Monitor<N> {
    /// A monitor for `spec`'s rule and anomaly parameters, started at `start_ms`.
    pub fn for_spec(spec: &MetricSpec, start_ms: u64) -> Self {
        Monitor::new(spec.id, spec.rule, spec.anomaly, start_ms)
    }
}

impl<const N: usize, R: Borrow<Rule>> Monitor<N, R> {
    /// A monitor of metric `id` judged by `rule`, scored with `anomaly`, started at `start_ms`
    /// (missing data counts from here until the first reading).
    pub fn new(id: u16, rule: R, anomaly: AnomalyConfig, start_ms: u64) -> Self {
        Monitor {
            id,
            rule,
            window: Window::new(),
            anomaly: AnomalyDetector::new(anomaly),
            alert: AlertMachine::new(start_ms),
            last_score: None,
            invalid_values: 0,
        }
    }

    /// Takes a reading through the window, the anomaly score and the alert rule, returning the
    /// transitions it caused (missing-data decisions that came due before it first).
    ///
    /// A non-finite `value` is counted and treated as no reading (only its time passes). A time
    /// before the last accepted event is refused with [`SampleError::TimeWentBackwards`] and changes
    /// nothing.
    pub fn observe(&mut self, now_ms: u64, value: f32) -> Result<Transitions, SampleError> {
        self.alert.check_time(now_ms)?;
        let rule = self.rule.borrow();
        if !value.is_finite() {
            self.invalid_values = self.invalid_values.saturating_add(1);
            return self.alert.poll(rule, self.id, now_ms);
        }
        // Both accept: the alert machine's last event is never earlier than their last sample, and
        // the value is finite.
        self.window.push(now_ms, value)?;
        let score = self.anomaly.update(now_ms, value)?;
        self.last_score = Some(score);
        let eta = match &rule.predictive {
            Some(p) => self
                .window
                .time_to(now_ms, f64::from(p.threshold), p.crossing, &p.policy),
            None => TimeTo::NotEnoughData,
        };
        self.alert.observe(rule, self.id, now_ms, |standing| {
            rule.judge(standing, value, eta, &score)
        })
    }

    /// Lets time pass without a reading: applies the missing-data policy once it is due.
    pub fn poll(&mut self, now_ms: u64) -> Result<Transitions, SampleError> {
        self.alert.poll(self.rule.borrow(), self.id, now_ms)
    }

    /// The metric id.
    pub const fn id(&self) -> u16 {
        self.id
    }

    /// The rule.
    pub fn rule(&self) -> &Rule {
        self.rule.borrow()
    }

    /// The confirmed alert level.
    pub const fn level(&self) -> Level {
        self.alert.level()
    }

    /// The recent samples, their statistics and trend.
    pub const fn window(&self) -> &Window<N> {
        &self.window
    }

    /// The anomaly detector (with its parameters).
    pub const fn anomaly(&self) -> &AnomalyDetector {
        &self.anomaly
    }

    /// The last reading's anomaly score.
    pub const fn last_score(&self) -> Option<AnomalyScore> {
        self.last_score
    }

    /// Says whether data going missing is expected ([`AlertMachine::expect_missing`]).
    pub fn expect_missing(&mut self, expected: bool) {
        self.alert.expect_missing(expected);
    }

    /// The alert state machine.
    pub const fn alert(&self) -> &AlertMachine {
        &self.alert
    }

    /// Non-finite values received (and not used), saturating.
    pub const fn invalid_values(&self) -> u32 {
        self.invalid_values
    }
}

/// Why a [`Registry`] could not take a reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ObserveError {
    /// No metric with this id is registered.
    UnknownMetric(u16),
    /// The monitor refused the reading.
    Sample(SampleError),
}

impl core::fmt::Display for ObserveError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ObserveError::UnknownMetric(id) => write!(f, "no metric with id {id} is registered"),
            ObserveError::Sample(e) => write!(f, "{e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ObserveError {}

/// Up to `M` monitors with windows of `N` samples, keyed by metric id: a node's metrics.
#[derive(Debug, Clone)]
pub struct Registry<const M: usize, const N: usize, R: Borrow<Rule> = Rule> {
    monitors: heapless::Vec<Monitor<N, R>, M>,
}

impl<const M: usize, const N: usize, R: Borrow<Rule>> Default for Registry<M, N, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const M: usize, const N: usize, R: Borrow<Rule>> Registry<M, N, R> {
    /// An empty registry.
    pub const fn new() -> Self {
        Registry {
            monitors: heapless::Vec::new(),
        }
    }

    /// Adds metric `id`, judged by `rule`, started at `start_ms`. Refuses a rule that fails
    /// [`Rule::check`], an id already present, and a full registry.
    pub fn add(
        &mut self,
        id: u16,
        rule: R,
        anomaly: AnomalyConfig,
        start_ms: u64,
    ) -> Result<(), SpecError> {
        rule.borrow().check().map_err(SpecError::Rule)?;
        if self.get(id).is_some() {
            return Err(SpecError::DuplicateId(id));
        }
        self.monitors
            .push(Monitor::new(id, rule, anomaly, start_ms))
            .map_err(|_| SpecError::Full)
    }

    /// The monitor of metric `id`.
    pub fn get(&self, id: u16) -> Option<&Monitor<N, R>> {
        self.monitors.iter().find(|m| m.id == id)
    }

    /// Takes a reading of metric `id`; see [`Monitor::observe`].
    pub fn observe(
        &mut self,
        id: u16,
        now_ms: u64,
        value: f32,
    ) -> Result<Transitions, ObserveError> {
        let monitor = self
            .monitors
            .iter_mut()
            .find(|m| m.id == id)
            .ok_or(ObserveError::UnknownMetric(id))?;
        monitor.observe(now_ms, value).map_err(ObserveError::Sample)
    }

    /// Polls every monitor at `now_ms`, handing each transition to `emit` in metric order. A monitor
    /// whose last event is later than `now_ms` is skipped (it has already seen that time).
    pub fn poll(&mut self, now_ms: u64, mut emit: impl FnMut(Transition)) {
        for monitor in self.monitors.iter_mut() {
            if let Ok(transitions) = monitor.poll(now_ms) {
                transitions.into_iter().for_each(&mut emit);
            }
        }
    }

    /// The monitors, in the order they were added.
    pub fn iter(&self) -> impl Iterator<Item = &Monitor<N, R>> + '_ {
        self.monitors.iter()
    }

    /// Metrics registered.
    pub fn len(&self) -> usize {
        self.monitors.len()
    }

    /// No metrics registered.
    pub fn is_empty(&self) -> bool {
        self.monitors.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::{Bound, Debounce, Horizon, Limit, Limits, MissingData, Predictive};
    use crate::rng::XorShift64Star;
    use crate::trend::{Crossing, EtaPolicy};
    use crate::wire::Cause;
    use std::vec::Vec;

    /// Inlet temperature: WARNING above 30 °C, CRITICAL above 35 °C, both with 1 °C hysteresis;
    /// predictive WARNING when 35 °C is within 2 h; UNKNOWN after 10 s without a reading.
    fn inlet() -> MetricSpec {
        let limit = |raise: f32| Limits {
            above: Some(Limit::with_clear(
                Bound::strict(raise),
                Bound::inclusive(raise - 1.0),
            )),
            below: None,
        };
        let mut rule = Rule::EMPTY;
        rule.value.warning = limit(30.0);
        rule.value.critical = limit(35.0);
        rule.predictive = Some(Predictive {
            threshold: 35.0,
            crossing: Crossing::Above,
            warning: Some(Horizon {
                within_ms: 2 * 3_600_000,
                clear_beyond_ms: 3 * 3_600_000,
            }),
            critical: None,
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
        });
        rule.raise = Debounce::count(3, 4);
        rule.missing = MissingData::unknown_after(10_000);
        MetricSpec::new(
            1,
            "inlet_temperature",
            "degC",
            rule,
            AnomalyConfig::with_limits(Some(-40.0), Some(125.0), Some(5.0)),
        )
        .unwrap()
    }

    #[test]
    fn sizes_are_part_of_the_contract() {
        let size = core::mem::size_of::<Monitor<64>>();
        assert!(size <= 1536, "Monitor<64> is {size} bytes");
        assert_eq!(size, 1336);
        assert_eq!(core::mem::size_of::<Monitor<64, &'static Rule>>(), 1144);
    }

    #[test]
    fn a_rising_inlet_warns_before_the_threshold_then_goes_critical() {
        let mut monitor: Monitor<64> = Monitor::for_spec(&inlet(), 0);
        let mut noise = XorShift64Star::new(7);
        let mut transitions = Vec::new();
        // 22 °C rising 2 °C per hour, a reading every 5 s, ±0.05 °C noise: 35 °C after 6.5 h.
        for i in 0..6000u64 {
            let t = i * 5000;
            let value = 22.0 + 2.0 * (t as f32 / 3_600_000.0) + 0.05 * noise.gaussian() as f32;
            transitions.extend(monitor.observe(t, value).unwrap());
        }
        let first = transitions.first().expect("a warning");
        assert_eq!((first.from, first.to), (Level::Ok, Level::Warning));
        assert!(
            matches!(first.cause, Cause::Eta { threshold, .. } if threshold == 35.0),
            "{first:?}"
        );
        // 2 h before 35 °C is 4.5 h in, at about 31 °C; the predictive warning precedes the
        // 30 °C value warning (4 h in).
        assert!(first.at_ms < 4 * 3_600_000, "{first:?}");
        let critical = transitions
            .iter()
            .find(|t| t.to == Level::Critical)
            .expect("critical");
        assert!(matches!(critical.cause, Cause::Value { bound, .. } if bound == 35.0));
        assert!(critical.at_ms >= 6 * 3_600_000 + 1_800_000 - 60_000);
        assert_eq!(monitor.level(), Level::Critical);
    }

    #[test]
    fn non_finite_values_are_counted_and_never_read_as_ok() {
        let mut monitor: Monitor<64> = Monitor::for_spec(&inlet(), 0);
        for i in 0..4 {
            monitor.observe(i * 1000, 40.0).unwrap();
        }
        assert_eq!(monitor.level(), Level::Critical);
        let samples = monitor.window().len();
        for i in 4..9 {
            assert!(monitor.observe(i * 1000, f32::NAN).unwrap().is_empty());
        }
        assert_eq!(monitor.invalid_values(), 5);
        assert_eq!(monitor.window().len(), samples);
        assert_eq!(monitor.level(), Level::Critical);
        // The last reading was at 3 s: UNKNOWN from 13 s, never OK.
        let out = monitor.observe(13_000, f32::INFINITY).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].to, out[0].at_ms), (Level::Unknown, 13_000));
    }

    #[test]
    fn time_going_backwards_changes_nothing() {
        let mut monitor: Monitor<64> = Monitor::for_spec(&inlet(), 0);
        monitor.observe(5000, 25.0).unwrap();
        let before = (monitor.window().len(), *monitor.anomaly(), *monitor.alert());
        assert_eq!(
            monitor.observe(4999, 25.0),
            Err(SampleError::TimeWentBackwards {
                last_ms: 5000,
                now_ms: 4999
            })
        );
        assert_eq!(
            before,
            (monitor.window().len(), *monitor.anomaly(), *monitor.alert())
        );
    }

    #[test]
    fn registry_refuses_duplicates_overflow_and_bad_rules_and_routes_readings() {
        let mut registry: Registry<2, 16> = Registry::new();
        let spec = inlet();
        let add = |r: &mut Registry<2, 16>, id: u16, rule: Rule| r.add(id, rule, spec.anomaly, 0);
        add(&mut registry, 1, spec.rule).unwrap();
        assert_eq!(
            add(&mut registry, 1, spec.rule),
            Err(SpecError::DuplicateId(1))
        );
        let mut bad = spec.rule;
        bad.raise = Debounce::count(5, 4);
        assert!(
            matches!(add(&mut registry, 2, bad), Err(SpecError::Rule(e)) if e.field == "raise")
        );
        add(&mut registry, 2, spec.rule).unwrap();
        assert_eq!(add(&mut registry, 3, spec.rule), Err(SpecError::Full));
        assert_eq!(
            registry.observe(9, 0, 1.0),
            Err(ObserveError::UnknownMetric(9))
        );
        for i in 0..3 {
            registry.observe(2, i * 1000, 40.0).unwrap();
        }
        assert_eq!(registry.get(2).unwrap().level(), Level::Critical);
        assert_eq!(registry.get(1).unwrap().level(), Level::Ok);
        let mut polled = Vec::new();
        registry.poll(60_000, |t| polled.push((t.metric, t.to)));
        assert_eq!(polled, [(1, Level::Unknown), (2, Level::Unknown)]);
        assert_eq!(
            MetricSpec::new(
                1,
                "a_name_that_is_far_too_long_for_it",
                "",
                Rule::EMPTY,
                AnomalyConfig::DEFAULT
            ),
            Err(SpecError::NameTooLong)
        );
    }

    #[test]
    fn a_rule_in_flash_judges_like_one_in_ram() {
        static RULE: Rule = Rule::above(30.0, 35.0);
        let mut borrowed: Monitor<64, &'static Rule> =
            Monitor::new(1, &RULE, AnomalyConfig::DEFAULT, 0);
        let mut owned: Monitor<64> = Monitor::new(1, RULE, AnomalyConfig::DEFAULT, 0);
        for i in 0..100u64 {
            let v = 25.0 + i as f32 * 0.2;
            assert_eq!(borrowed.observe(i * 1000, v), owned.observe(i * 1000, v));
        }
        assert_eq!(borrowed.level(), Level::Critical);
    }

    #[test]
    fn the_descriptor_summarises_the_rule() {
        let d = inlet().descriptor();
        assert_eq!(
            (d.id, d.name.as_str(), d.unit.as_str()),
            (1, "inlet_temperature", "degC")
        );
        assert_eq!(d.rule.crossing, Crossing::Above);
        assert_eq!((d.rule.warning, d.rule.critical), (Some(30.0), Some(35.0)));
    }
}
