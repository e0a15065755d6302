//! Conformance suite for the alert state machine: one case per semantic of the feature table in
//! `docs/alerting-semantics.md` §9 that belongs to a single metric, the boundary cases, the
//! anchors' documented behaviour where rackwatch matches it, and one case per documented failure of
//! theirs that rackwatch fixes.
//!
//! Each case is a rule, a script of events and the exact transitions expected.

use rackwatch_core::alert::{
    AlertMachine, AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Judgement, Limit,
    Limits, MissingData, MissingPolicy, Predictive, Rule, Standing, Thresholds, FLAP_HISTORY_LEN,
};
use rackwatch_core::anomaly::AnomalyScore;
use rackwatch_core::trend::{Crossing, Eta, EtaPolicy, TimeTo};
use rackwatch_core::wire::{Cause, Outlook, Transition};
use rackwatch_core::{Level, SampleError};

use Level::{Critical as C, Ok as O, Unknown as U, Warning as W};

const MIN: u64 = 60_000;

#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A reading of this value.
    V(u64, f32),
    /// A reading the sensor-health checks reject.
    Invalid(u64),
    /// A reading with this anomaly score.
    Score(u64, f32, f32),
    /// A reading with this forecast.
    Forecast(u64, f32, TimeTo),
    /// Time passes, no reading.
    Poll(u64),
    /// The machine is persisted and restored.
    Restart,
}

/// What a case expects of one transition: time, from, to, and the kind of its cause.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Why {
    Value,
    Eta,
    Anomaly,
    Missing,
    Sensor,
    FlapStop,
    /// The forecast receded: beyond the clear horizon, never, or unsure past the hold.
    Receded(Outlook),
}

fn why(cause: &Cause) -> Why {
    match cause {
        Cause::Value { .. } => Why::Value,
        Cause::Eta { .. } => Why::Eta,
        Cause::Anomaly { .. } => Why::Anomaly,
        Cause::MissingData { .. } => Why::Missing,
        Cause::SensorFault => Why::Sensor,
        Cause::FlappingStopped => Why::FlapStop,
        Cause::ForecastReceded { outlook } => Why::Receded(*outlook),
    }
}

fn invalid_score() -> AnomalyScore {
    AnomalyScore {
        out_of_range: true,
        score: 1.0,
        ..AnomalyScore::ZERO
    }
}

/// Runs a script; every transition, in order.
fn run(rule: &Rule, events: &[Ev]) -> Vec<Transition> {
    let mut machine = AlertMachine::new(0);
    let mut out = Vec::new();
    for &ev in events {
        let (t, value, eta, score) = match ev {
            Ev::V(t, v) => (t, v, TimeTo::NotEnoughData, AnomalyScore::ZERO),
            Ev::Invalid(t) => (t, 0.0, TimeTo::NotEnoughData, invalid_score()),
            Ev::Score(t, v, s) => {
                let score = AnomalyScore {
                    score: s,
                    deviation: s,
                    ..AnomalyScore::ZERO
                };
                (t, v, TimeTo::NotEnoughData, score)
            }
            Ev::Forecast(t, v, eta) => (t, v, eta, AnomalyScore::ZERO),
            Ev::Poll(t) => {
                out.extend(machine.poll(rule, 1, t).unwrap());
                continue;
            }
            Ev::Restart => {
                let record = postcard::to_allocvec(&machine).unwrap();
                machine = postcard::from_bytes(&record).unwrap();
                continue;
            }
        };
        let judge = |standing: &Standing| rule.judge(standing, value, eta, &score);
        out.extend(machine.observe(rule, 1, t, judge).unwrap());
    }
    out
}

fn brief(transitions: &[Transition]) -> Vec<(u64, Level, Level, Why)> {
    transitions
        .iter()
        .map(|t| (t.at_ms, t.from, t.to, why(&t.cause)))
        .collect()
}

/// Readings of `value` every minute from `from` minutes to `to` minutes (inclusive).
fn every_minute(from: u64, to: u64, value: f32) -> Vec<Ev> {
    (from..=to).map(|m| Ev::V(m * MIN, value)).collect()
}

fn cat(parts: &[Vec<Ev>]) -> Vec<Ev> {
    parts.concat()
}

struct Case {
    name: &'static str,
    rule: Rule,
    events: Vec<Ev>,
    expect: Vec<(u64, Level, Level, Why)>,
}

fn with(rule: Rule, f: impl FnOnce(&mut Rule)) -> Rule {
    let mut r = rule;
    f(&mut r);
    r
}

fn inclusive_above(warning: f32, critical: f32) -> Rule {
    with(Rule::above(warning, critical), |r| {
        r.value.warning.above = Some(Limit::at(Bound::inclusive(warning)));
        r.value.critical.above = Some(Limit::at(Bound::inclusive(critical)));
    })
}

fn cases() -> Vec<Case> {
    let base = Rule::above(80.0, 90.0);
    vec![
        Case {
            name: "two severities, each way",
            rule: base,
            events: vec![Ev::V(1, 70.0), Ev::V(2, 85.0), Ev::V(3, 95.0), Ev::V(4, 85.0), Ev::V(5, 70.0)],
            expect: vec![(2, O, W, Why::Value), (3, W, C, Why::Value), (4, C, W, Why::Value), (5, W, O, Why::Value)],
        },
        Case {
            name: "straight from OK to CRITICAL on one reading",
            rule: base,
            events: vec![Ev::V(1, 99.0), Ev::V(2, 10.0)],
            expect: vec![(1, O, C, Why::Value), (2, C, O, Why::Value)],
        },
        Case {
            name: "strict bound: a value exactly on it is OK (collectd's FailureMax)",
            rule: base,
            events: vec![Ev::V(1, 80.0), Ev::V(2, 90.0), Ev::V(3, 80.001)],
            expect: vec![(2, O, W, Why::Value)],
        },
        Case {
            name: "inclusive bound: a value exactly on it is a violation (ESPHome's `>=`, stated)",
            rule: inclusive_above(80.0, 90.0),
            events: vec![Ev::V(1, 79.999), Ev::V(2, 80.0), Ev::V(3, 90.0)],
            expect: vec![(2, O, W, Why::Value), (3, W, C, Why::Value)],
        },
        Case {
            name: "below thresholds (free memory falling)",
            rule: Rule::below(20.0, 10.0),
            events: vec![Ev::V(1, 50.0), Ev::V(2, 15.0), Ev::V(3, 5.0), Ev::V(4, 25.0)],
            expect: vec![(2, O, W, Why::Value), (3, W, C, Why::Value), (4, C, O, Why::Value)],
        },
        Case {
            name: "outside a band: too cold or too hot",
            rule: with(Rule::EMPTY, |r| {
                r.value.warning = Limits {
                    above: Some(Limit::at(Bound::strict(27.0))),
                    below: Some(Limit::at(Bound::strict(18.0))),
                };
            }),
            events: vec![Ev::V(1, 22.0), Ev::V(2, 17.0), Ev::V(3, 22.0), Ev::V(4, 28.0)],
            expect: vec![(2, O, W, Why::Value), (3, W, O, Why::Value), (4, O, W, Why::Value)],
        },
        Case {
            name: "value hysteresis: raised above 80, cleared only at or below 75",
            rule: with(base, |r| {
                r.value.warning.above =
                    Some(Limit::with_clear(Bound::strict(80.0), Bound::inclusive(75.0)))
            }),
            events: vec![
                Ev::V(1, 81.0),
                Ev::V(2, 79.0),
                Ev::V(3, 76.0),
                Ev::V(4, 80.5),
                Ev::V(5, 75.0),
                Ev::V(6, 79.0),
                Ev::V(7, 80.0),
            ],
            expect: vec![(1, O, W, Why::Value), (5, W, O, Why::Value)],
        },
        Case {
            name: "count-based raise debounce: 3 of 3 (Nagios max_check_attempts = 3)",
            rule: with(base, |r| r.raise = Debounce::count(3, 3)),
            events: vec![Ev::V(1, 85.0), Ev::V(2, 85.0), Ev::V(3, 70.0), Ev::V(4, 85.0), Ev::V(5, 85.0), Ev::V(6, 85.0)],
            expect: vec![(6, O, W, Why::Value)],
        },
        Case {
            name: "miss-tolerant N of M: 3 of 5, one good reading does not restart",
            rule: with(base, |r| r.raise = Debounce::count(3, 5)),
            events: vec![Ev::V(1, 85.0), Ev::V(2, 70.0), Ev::V(3, 85.0), Ev::V(4, 70.0), Ev::V(5, 85.0)],
            expect: vec![(5, O, W, Why::Value)],
        },
        Case {
            name: "Prometheus `for: 5m` at 1-minute evaluations fires on the 6th",
            rule: with(base, |r| r.raise = Debounce::time(5 * MIN as u32)),
            events: every_minute(0, 6, 85.0),
            expect: vec![(5 * MIN, O, W, Why::Value)],
        },
        Case {
            name: "`for` reached exactly (inclusive) vs 1 ms short",
            rule: with(base, |r| r.raise = Debounce::time(10_000)),
            events: vec![Ev::V(0, 85.0), Ev::V(9_999, 85.0), Ev::V(10_000, 85.0)],
            expect: vec![(10_000, O, W, Why::Value)],
        },
        Case {
            name: "`for` restarts on a good reading",
            rule: with(base, |r| r.raise = Debounce::time(2 * MIN as u32)),
            events: cat(&[every_minute(0, 1, 85.0), every_minute(2, 2, 70.0), every_minute(3, 5, 85.0)]),
            expect: vec![(5 * MIN, O, W, Why::Value)],
        },
        Case {
            name: "a warning fires first; the critical clock keeps its age",
            rule: with(base, |r| r.raise = Debounce::time(2 * MIN as u32)),
            events: cat(&[every_minute(0, 0, 85.0), every_minute(1, 4, 95.0)]),
            // W supported since 0 → fires at 2; C supported since 1 → fires at 3, not 4.
            expect: vec![(2 * MIN, O, W, Why::Value), (3 * MIN, W, C, Why::Value)],
        },
        Case {
            name: "recovery debounce: clear needs 3 of 3 good (Nagios recovers on one OK)",
            rule: with(base, |r| r.clear = Debounce::count(3, 3)),
            events: vec![Ev::V(1, 85.0), Ev::V(2, 70.0), Ev::V(3, 70.0), Ev::V(4, 85.0), Ev::V(5, 70.0), Ev::V(6, 70.0), Ev::V(7, 70.0)],
            expect: vec![(1, O, W, Why::Value), (7, W, O, Why::Value)],
        },
        Case {
            name: "hold before clear: clear `for` 2 minutes, independent of raise (collectd#1900)",
            rule: with(base, |r| {
                r.raise = Debounce::count(2, 2);
                r.clear = Debounce::time(2 * MIN as u32);
            }),
            events: cat(&[every_minute(0, 1, 85.0), every_minute(2, 4, 70.0)]),
            expect: vec![(MIN, O, W, Why::Value), (4 * MIN, W, O, Why::Value)],
        },
        Case {
            name: "a gap during pending (shorter than the deadline) does not restart `for` (Prometheus does)",
            rule: with(base, |r| {
                r.raise = Debounce::time(5 * MIN as u32);
                r.missing = MissingData::unknown_after(10 * MIN as u32);
            }),
            events: cat(&[every_minute(0, 2, 85.0), every_minute(5, 5, 85.0)]),
            expect: vec![(5 * MIN, O, W, Why::Value)],
        },
        Case {
            name: "missing data: UNKNOWN exactly at the deadline, dated there whenever polled",
            rule: with(base, |r| r.missing = MissingData::unknown_after(3 * MIN as u32)),
            events: vec![Ev::V(0, 85.0), Ev::Poll(2 * MIN), Ev::Poll(10 * MIN), Ev::Poll(11 * MIN), Ev::V(12 * MIN, 85.0)],
            expect: vec![(0, O, W, Why::Value), (3 * MIN, W, U, Why::Missing), (12 * MIN, U, W, Why::Value)],
        },
        Case {
            name: "missing data learned from a late reading, without any poll",
            rule: with(base, |r| r.missing = MissingData::unknown_after(3 * MIN as u32)),
            events: vec![Ev::V(0, 85.0), Ev::V(3 * MIN, 70.0)],
            expect: vec![(0, O, W, Why::Value), (3 * MIN, W, U, Why::Missing), (3 * MIN, U, O, Why::Value)],
        },
        Case {
            name: "missing data: hold the last level for 2 more minutes, then UNKNOWN",
            rule: with(base, |r| {
                r.missing = MissingData {
                    deadline_ms: Some(MIN as u32),
                    policy: MissingPolicy::HoldLast { for_ms: 2 * MIN as u32 },
                    startup_grace_ms: 0,
                }
            }),
            events: vec![Ev::V(0, 85.0), Ev::Poll(2 * MIN), Ev::V(2 * MIN + 1, 85.0), Ev::Poll(10 * MIN)],
            expect: vec![(0, O, W, Why::Value), (5 * MIN + 1, W, U, Why::Missing)],
        },
        Case {
            name: "missing data as a violation: a dead man's switch",
            rule: with(Rule::EMPTY, |r| {
                r.missing = MissingData {
                    deadline_ms: Some(MIN as u32),
                    policy: MissingPolicy::Violation { level: C },
                    startup_grace_ms: 0,
                }
            }),
            events: vec![Ev::V(0, 1.0), Ev::Poll(5 * MIN), Ev::V(6 * MIN, 1.0)],
            expect: vec![(MIN, O, C, Why::Missing), (6 * MIN, C, O, Why::Value)],
        },
        Case {
            name: "missing data as OK: an event counter that only reports events",
            rule: with(base, |r| {
                r.missing = MissingData {
                    deadline_ms: Some(MIN as u32),
                    policy: MissingPolicy::Ok,
                    startup_grace_ms: 0,
                }
            }),
            events: vec![Ev::V(0, 85.0), Ev::Poll(5 * MIN)],
            expect: vec![(0, O, W, Why::Value), (MIN, W, O, Why::Missing)],
        },
        Case {
            name: "start-up grace: no reading at all is missing only after the grace",
            rule: with(base, |r| {
                r.missing = MissingData {
                    startup_grace_ms: 10 * MIN as u32,
                    ..MissingData::unknown_after(MIN as u32)
                }
            }),
            events: vec![Ev::Poll(9 * MIN), Ev::Poll(10 * MIN)],
            expect: vec![(10 * MIN, O, U, Why::Missing)],
        },
        Case {
            name: "after the policy acted, a move needs fresh readings: old ones do not count",
            rule: with(base, |r| {
                r.raise = Debounce::count(2, 3);
                r.missing = MissingData::unknown_after(MIN as u32);
            }),
            events: vec![Ev::V(0, 85.0), Ev::Poll(2 * MIN), Ev::V(3 * MIN, 85.0), Ev::V(3 * MIN + 1, 85.0)],
            // Out of UNKNOWN is a clear (immediate here) to the reading's level.
            expect: vec![(MIN, O, U, Why::Missing), (3 * MIN, U, W, Why::Value)],
        },
        Case {
            name: "NaN never reads as OK (Netdata, collectd) and leaves pending untouched",
            rule: with(base, |r| {
                r.clear = Debounce::count(2, 2);
                r.missing = MissingData::unknown_after(5 * MIN as u32);
            }),
            // The monitor turns a NaN into a poll; the machine sees only time pass.
            events: vec![Ev::V(0, 85.0), Ev::V(MIN, 70.0), Ev::Poll(2 * MIN), Ev::Poll(3 * MIN), Ev::V(4 * MIN, 70.0)],
            expect: vec![(0, O, W, Why::Value), (4 * MIN, W, O, Why::Value)],
        },
        Case {
            name: "NaN forever ends in UNKNOWN, never OK",
            rule: with(base, |r| r.missing = MissingData::unknown_after(5 * MIN as u32)),
            events: vec![Ev::V(0, 85.0), Ev::Poll(MIN), Ev::Poll(4 * MIN), Ev::Poll(6 * MIN)],
            expect: vec![(0, O, W, Why::Value), (5 * MIN, W, U, Why::Missing)],
        },
        Case {
            name: "sensor health: invalid readings raise UNKNOWN by the raise debounce, valid ones clear it",
            rule: with(base, |r| {
                r.raise = Debounce::count(2, 2);
                r.clear = Debounce::count(2, 2);
            }),
            events: vec![Ev::V(1, 85.0), Ev::V(2, 85.0), Ev::Invalid(3), Ev::Invalid(4), Ev::V(5, 70.0), Ev::V(6, 70.0)],
            expect: vec![(2, O, W, Why::Value), (4, W, U, Why::Sensor), (6, U, O, Why::Value)],
        },
        Case {
            name: "an invalid reading is neutral for a pending level",
            rule: with(base, |r| r.raise = Debounce::count(3, 3)),
            events: vec![Ev::V(1, 85.0), Ev::V(2, 85.0), Ev::Invalid(3), Ev::V(4, 85.0)],
            expect: vec![(4, O, W, Why::Value)],
        },
        Case {
            name: "health checks off: a stuck or out-of-range reading is judged by its value",
            rule: with(base, |r| r.health = Health::NONE),
            events: vec![Ev::Invalid(1)],
            expect: vec![],
        },
        Case {
            name: "predictive: WARNING when the threshold is 2 h away, CRITICAL at 30 min",
            rule: predictive_rule(),
            events: vec![
                Ev::Forecast(1, 50.0, eta(3 * 3_600_000)),
                Ev::Forecast(2, 60.0, eta(2 * 3_600_000)),
                Ev::Forecast(3, 80.0, eta(1_800_000)),
                Ev::Forecast(4, 70.0, eta(3 * 3_600_000)),
                Ev::Forecast(5, 70.0, eta(5 * 3_600_000)),
            ],
            // Hysteresis on the horizon: cleared only beyond 4 h; each clear says the forecast receded.
            expect: vec![
                (2, O, W, Why::Eta),
                (3, W, C, Why::Eta),
                (4, C, W, beyond(3 * 3_600_000, 1_800_000)),
                (5, W, O, beyond(5 * 3_600_000, 4 * 3_600_000)),
            ],
        },
        Case {
            name: "predictive: an unsure forecast (PoorFit, NotEnoughData) holds a raised level",
            rule: predictive_rule(),
            events: vec![
                Ev::Forecast(0, 60.0, eta(3_600_000)),
                Ev::Forecast(MIN, 60.0, TimeTo::PoorFit),
                Ev::Forecast(2 * MIN, 60.0, TimeTo::NotEnoughData),
                Ev::Forecast(9 * MIN, 60.0, TimeTo::PoorFit),
            ],
            expect: vec![(0, O, W, Why::Eta)],
        },
        Case {
            name: "predictive: a confident estimate beyond the clear horizon clears, unsure or not before",
            rule: predictive_rule(),
            events: vec![
                Ev::Forecast(0, 60.0, eta(3_600_000)),
                Ev::Forecast(MIN, 60.0, TimeTo::PoorFit),
                Ev::Forecast(2 * MIN, 60.0, eta(3 * 3_600_000)),
                Ev::Forecast(3 * MIN, 60.0, eta(5 * 3_600_000)),
            ],
            // 3 h is within the 4 h clear horizon: still WARNING.
            expect: vec![(0, O, W, Why::Eta), (3 * MIN, W, O, beyond(5 * 3_600_000, 4 * 3_600_000))],
        },
        Case {
            name: "predictive: a confidently flat or receding trend (Never) clears",
            rule: predictive_rule(),
            events: vec![
                Ev::Forecast(0, 60.0, eta(3_600_000)),
                Ev::Forecast(MIN, 60.0, TimeTo::PoorFit),
                Ev::Forecast(2 * MIN, 60.0, TimeTo::Never),
            ],
            expect: vec![(0, O, W, Why::Eta), (2 * MIN, W, O, Why::Receded(Outlook::Never))],
        },
        Case {
            name: "predictive: the hold expires keep_for after the last confident support (inclusive)",
            rule: predictive_rule(),
            events: (0..=11)
                .map(|m| Ev::Forecast(m * MIN, 60.0, if m == 0 { eta(3_600_000) } else { TimeTo::PoorFit }))
                .collect(),
            expect: vec![(0, O, W, Why::Eta), (KEEP_FOR, W, O, unsure(KEEP_FOR))],
        },
        Case {
            name: "predictive: the clear debounce counts from the hold's expiry",
            rule: with(predictive_rule(), |r| r.clear = Debounce::time(3 * MIN as u32)),
            events: (0..=14)
                .map(|m| Ev::Forecast(m * MIN, 60.0, if m == 0 { eta(3_600_000) } else { TimeTo::PoorFit }))
                .collect(),
            expect: vec![(0, O, W, Why::Eta), (KEEP_FOR + 3 * MIN, W, O, unsure(KEEP_FOR + 3 * MIN))],
        },
        Case {
            name: "predictive: CRITICAL held, then WARNING once the forecast confidently backs only WARNING",
            rule: predictive_rule(),
            events: vec![
                Ev::Forecast(0, 80.0, eta(1_200_000)),
                Ev::Forecast(MIN, 80.0, TimeTo::PoorFit),
                Ev::Forecast(2 * MIN, 80.0, eta(3_600_000)),
                Ev::Forecast(3 * MIN, 80.0, TimeTo::PoorFit),
            ],
            // The unsure reading at 3 min holds WARNING only: the last confident forecast backed no more.
            expect: vec![(0, O, C, Why::Eta), (2 * MIN, C, W, beyond(3_600_000, 1_800_000))],
        },
        Case {
            name: "predictive: restart during a hold: the hold and its expiry survive",
            rule: predictive_rule(),
            events: cat(&[
                vec![Ev::Forecast(0, 60.0, eta(3_600_000))],
                (1..=4).map(|m| Ev::Forecast(m * MIN, 60.0, TimeTo::PoorFit)).collect(),
                vec![Ev::Restart],
                (5..=11).map(|m| Ev::Forecast(m * MIN, 60.0, TimeTo::PoorFit)).collect(),
            ]),
            expect: vec![(0, O, W, Why::Eta), (KEEP_FOR, W, O, unsure(KEEP_FOR))],
        },
        Case {
            name: "predictive: missing data ends a hold (readings before the gap support nothing)",
            rule: with(predictive_rule(), |r| {
                r.missing = MissingData {
                    deadline_ms: Some(2 * MIN as u32),
                    policy: MissingPolicy::Violation { level: W },
                    startup_grace_ms: 0,
                }
            }),
            events: vec![
                Ev::Forecast(0, 60.0, eta(3_600_000)),
                Ev::Forecast(3 * MIN, 60.0, TimeTo::PoorFit),
            ],
            // The dead man's switch keeps WARNING at 2 min; the unsure reading after it holds
            // nothing, and since no forecast backed the level after the gap, the value is named.
            expect: vec![(0, O, W, Why::Eta), (3 * MIN, W, O, Why::Value)],
        },
        Case {
            name: "predictive: one estimate beyond the horizon among unsure ones does not end the level",
            rule: with(predictive_rule(), |r| r.clear = Debounce::count(3, 3)),
            events: vec![
                Ev::Forecast(0, 60.0, eta(3_600_000)),
                Ev::Forecast(MIN, 60.0, eta(5 * 3_600_000)),
                Ev::Forecast(2 * MIN, 60.0, TimeTo::PoorFit),
                Ev::Forecast(3 * MIN, 60.0, eta(5 * 3_600_000)),
                Ev::Forecast(4 * MIN, 60.0, eta(5 * 3_600_000)),
                Ev::Forecast(5 * MIN, 60.0, eta(5 * 3_600_000)),
            ],
            // The unsure reading is held (backed 1 min before) and restarts the 3-of-3 clear.
            expect: vec![(0, O, W, Why::Eta), (5 * MIN, W, O, beyond(5 * 3_600_000, 4 * 3_600_000))],
        },
        Case {
            name: "predictive: a level the forecast never backed ends for its own condition",
            rule: predictive_rule(),
            events: vec![Ev::Forecast(0, 96.0, TimeTo::PoorFit), Ev::Forecast(MIN, 60.0, TimeTo::PoorFit)],
            // CRITICAL on the value (≥ 95); the forecast was unsure throughout: the value is named.
            expect: vec![(0, O, C, Why::Value), (MIN, C, O, Why::Value)],
        },
        Case {
            name: "predictive: already crossed still counts (Zabbix's timeleft jumps to DBL_MAX)",
            rule: predictive_rule(),
            events: vec![Ev::Forecast(1, 94.0, TimeTo::AlreadyCrossed)],
            expect: vec![(1, O, C, Why::Eta)],
        },
        Case {
            name: "predictive: pure noise (PoorFit) and a receding trend (Never) predict nothing",
            rule: predictive_rule(),
            events: vec![Ev::Forecast(1, 50.0, TimeTo::PoorFit), Ev::Forecast(2, 50.0, TimeTo::Never), Ev::Forecast(3, 50.0, TimeTo::NotEnoughData)],
            expect: vec![],
        },
        Case {
            name: "anomaly: score at the level raises (inclusive), below the clear level clears",
            rule: with(Rule::EMPTY, |r| {
                r.anomaly = Some(AnomalyLevels {
                    warning: Some(Limit::with_clear(Bound::inclusive(0.5), Bound::strict(0.3))),
                    critical: Some(Limit::at(Bound::inclusive(0.9))),
                })
            }),
            events: vec![Ev::Score(1, 1.0, 0.49), Ev::Score(2, 1.0, 0.5), Ev::Score(3, 1.0, 0.35), Ev::Score(4, 1.0, 0.95), Ev::Score(5, 1.0, 0.29)],
            expect: vec![(2, O, W, Why::Anomaly), (4, W, C, Why::Anomaly), (5, C, O, Why::Anomaly)],
        },
        Case {
            name: "restart during pending: the clock survives (Prometheus restores `for` only within 1 h)",
            rule: with(base, |r| r.raise = Debounce::time(5 * MIN as u32)),
            events: cat(&[every_minute(0, 2, 85.0), vec![Ev::Restart], every_minute(3, 5, 85.0)]),
            expect: vec![(5 * MIN, O, W, Why::Value)],
        },
        Case {
            name: "restart while firing: the hold-before-clear survives (keep_firing_for is lost)",
            rule: with(base, |r| r.clear = Debounce::time(3 * MIN as u32)),
            events: cat(&[every_minute(0, 0, 85.0), every_minute(1, 2, 70.0), vec![Ev::Restart], every_minute(3, 4, 70.0)]),
            expect: vec![(0, O, W, Why::Value), (4 * MIN, W, O, Why::Value)],
        },
        Case {
            name: "flapping: suppressed while flapping, then one transition reports the settled level",
            rule: with(base, |r| r.flapping = Some(Flapping::NAGIOS)),
            events: cat(&[
                (0..8).map(|i| Ev::V(i, if i % 2 == 0 { 85.0 } else { 70.0 })).collect(),
                (8..40).map(|i| Ev::V(i, 70.0)).collect(),
            ]),
            // Changes at readings 0..7; PSC reaches 30 % at the 6th change (reading 5).
            expect: vec![
                (0, O, W, Why::Value),
                (1, W, O, Why::Value),
                (2, O, W, Why::Value),
                (3, W, O, Why::Value),
                (4, O, W, Why::Value),
                (5, W, O, Why::Value),
                (6, O, W, Why::Value),
                (7, W, O, Why::Value),
                // From the level receivers last heard (reading 4's WARNING) to the settled OK.
                (FLAP_STOP_AT, W, O, Why::FlapStop),
            ],
        },
    ]
}

/// The reading at which the flapping of the flapping case stops (PSC ≤ 20 %), found from Nagios'
/// formula by the reference implementation below.
const FLAP_STOP_AT: u64 = 23;

/// The predictive rule's hold time.
const KEEP_FOR: u64 = 10 * MIN;

fn beyond(eta_ms: u64, horizon_ms: u32) -> Why {
    Why::Receded(Outlook::Beyond { eta_ms, horizon_ms })
}

fn unsure(for_ms: u64) -> Why {
    Why::Receded(Outlook::Unsure {
        for_ms: for_ms as u32,
    })
}

fn eta(ms: u64) -> TimeTo {
    TimeTo::Eta(Eta {
        ms,
        earliest_ms: ms / 2,
        latest_ms: Some(ms * 2),
    })
}

fn predictive_rule() -> Rule {
    with(Rule::EMPTY, |r| {
        r.value = Thresholds {
            warning: Limits::NONE,
            critical: Limits {
                above: Some(Limit::at(Bound::inclusive(95.0))),
                below: None,
            },
        };
        r.predictive = Some(Predictive {
            threshold: 95.0,
            crossing: Crossing::Above,
            warning: Some(Horizon {
                within_ms: 2 * 3_600_000,
                clear_beyond_ms: 4 * 3_600_000,
            }),
            critical: Some(Horizon {
                within_ms: 1_800_000,
                clear_beyond_ms: 1_800_000,
            }),
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: KEEP_FOR as u32,
        });
    })
}

#[test]
fn conformance_table() {
    let mut failures = Vec::new();
    for case in cases() {
        assert_eq!(
            case.rule.check(),
            Ok(()),
            "{}: rule must be valid",
            case.name
        );
        let got = brief(&run(&case.rule, &case.events));
        if got != case.expect {
            failures.push(format!(
                "{}:\n  expected {:?}\n  got      {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn flapping_marks_exactly_the_transitions_made_while_flapping() {
    let case = cases()
        .into_iter()
        .find(|c| c.name.starts_with("flapping"))
        .unwrap();
    let got = run(&case.rule, &case.events);
    let suppressed: Vec<bool> = got.iter().map(|t| t.suppressed).collect();
    // PSC after each change: 6.25 (1), 12.4 (2), 18.4 (3), 24.3 (4), 30.1 (5): flapping from the 6th.
    assert_eq!(
        suppressed,
        [false, false, false, false, false, true, true, true, false]
    );
    let levels: Vec<Level> = (0..40)
        .map(|i| if i < 8 && i % 2 == 0 { W } else { O })
        .collect();
    let reference = nagios_psc_after_each_reading(&levels);
    assert!(reference[4] < 30.0 && reference[5] >= 30.0, "{reference:?}");
    let stop = (6..40).find(|&i| reference[i] <= 20.0).unwrap();
    assert_eq!(stop as u64, FLAP_STOP_AT, "{reference:?}");
}

/// Nagios' `base/flapping.c` in floating point, as an independent reference: the 21-entry history
/// starts full of OK; after each reading the state is appended; PSC = 100·Σw/20 with w_k = 0.75 +
/// (k − 1)·0.5/19 for a change at position k counted from the oldest.
fn nagios_psc_after_each_reading(levels: &[Level]) -> Vec<f32> {
    let mut history = vec![O; FLAP_HISTORY_LEN as usize];
    levels
        .iter()
        .map(|&level| {
            history.remove(0);
            history.push(level);
            let mut sum = 0.0f64;
            for k in 1..history.len() {
                if history[k] != history[k - 1] {
                    sum += 0.75 + (k as f64 - 1.0) * 0.5 / 19.0;
                }
            }
            (100.0 * sum / 20.0) as f32
        })
        .collect()
}

#[test]
fn percent_state_change_equals_nagios_for_given_histories() {
    let rule = with(Rule::above(80.0, 90.0), |r| {
        r.flapping = Some(Flapping {
            low_percent: 0.0,
            high_percent: 100.0,
        })
    });
    let histories: [&[f32]; 4] = [
        &[85.0; 21],
        &[
            85.0, 70.0, 85.0, 70.0, 85.0, 70.0, 85.0, 70.0, 85.0, 70.0, 85.0, 70.0, 85.0, 70.0,
            85.0, 70.0, 85.0, 70.0, 85.0, 70.0, 85.0,
        ],
        &[70.0, 70.0, 95.0, 95.0, 85.0, 70.0, 70.0, 70.0, 95.0, 70.0],
        &[95.0, 85.0, 70.0, 85.0, 95.0],
    ];
    for values in histories {
        let mut machine = AlertMachine::new(0);
        let mut levels = Vec::new();
        for (i, &v) in values.iter().enumerate() {
            let judge = |standing: &Standing| {
                rule.judge(standing, v, TimeTo::NotEnoughData, &AnomalyScore::ZERO)
            };
            machine.observe(&rule, 1, i as u64, judge).unwrap();
            levels.push(machine.level());
            let reference = *nagios_psc_after_each_reading(&levels).last().unwrap();
            assert!(
                (machine.percent_state_change() - reference).abs() < 1e-4,
                "{values:?} at {i}: {} vs Nagios {reference}",
                machine.percent_state_change()
            );
        }
    }
}

#[test]
fn time_going_backwards_is_refused_and_changes_nothing() {
    let rule = with(Rule::above(80.0, 90.0), |r| {
        r.raise = Debounce::time(MIN as u32)
    });
    let mut machine = AlertMachine::new(0);
    let j = rule.judge(
        &Standing::at(O),
        85.0,
        TimeTo::NotEnoughData,
        &AnomalyScore::ZERO,
    );
    machine.observe(&rule, 1, 10_000, |_| j).unwrap();
    let before = machine;
    assert_eq!(
        machine.observe(&rule, 1, 9_999, |_| j),
        Err(SampleError::TimeWentBackwards {
            last_ms: 10_000,
            now_ms: 9_999
        })
    );
    assert_eq!(
        machine.poll(&rule, 1, 5),
        Err(SampleError::TimeWentBackwards {
            last_ms: 10_000,
            now_ms: 5
        })
    );
    assert_eq!(machine, before);
    // Equal times are accepted.
    machine.observe(&rule, 1, 10_000, |_| j).unwrap();
}

#[test]
fn sequence_numbers_count_every_transition() {
    for case in cases() {
        let got = run(&case.rule, &case.events);
        for (i, t) in got.iter().enumerate() {
            assert_eq!(t.alert_seq, i as u32, "{}", case.name);
        }
    }
}

#[test]
fn causes_carry_the_evidence() {
    let rule = with(Rule::above(80.0, 90.0), |r| {
        r.missing = MissingData::unknown_after(MIN as u32)
    });
    let got = run(&rule, &[Ev::V(1000, 93.5), Ev::Poll(10 * MIN)]);
    assert_eq!(
        got[0].cause,
        Cause::Value {
            value: 93.5,
            bound: 90.0
        }
    );
    assert_eq!(got[1].cause, Cause::MissingData { last_seen_ms: 1000 });
    assert_eq!(got[1].at_ms, 1000 + MIN);
    let got = run(&predictive_rule(), &[Ev::Forecast(1, 60.0, eta(7_000_000))]);
    assert_eq!(
        got[0].cause,
        Cause::Eta {
            eta_ms: 7_000_000,
            threshold: 95.0
        }
    );
}

#[test]
fn invalid_rules_are_named_and_still_never_panic() {
    let bad = [
        // Inverted levels: a warning bound beyond the critical one.
        (Rule::above(35.0, 30.0), "value.critical.above"),
        (Rule::below(10.0, 15.0), "value.critical.below"),
        (
            with(Rule::EMPTY, |r| r.raise = Debounce::count(0, 3)),
            "raise",
        ),
        (
            with(Rule::EMPTY, |r| r.clear = Debounce::count(4, 3)),
            "clear",
        ),
        (
            with(Rule::EMPTY, |r| r.raise = Debounce::count(1, 33)),
            "raise",
        ),
        (Rule::above(f32::NAN, 1.0), "value.warning.above"),
        (
            with(Rule::EMPTY, |r| {
                r.value.critical.below =
                    Some(Limit::with_clear(Bound::strict(10.0), Bound::strict(5.0)))
            }),
            "value.critical.below",
        ),
        (
            with(Rule::EMPTY, |r| {
                r.missing.policy = MissingPolicy::Violation { level: U }
            }),
            "missing.policy",
        ),
        (
            with(Rule::EMPTY, |r| {
                r.flapping = Some(Flapping {
                    low_percent: 40.0,
                    high_percent: 30.0,
                })
            }),
            "flapping",
        ),
    ];
    for (rule, field) in bad {
        let err = rule.check().unwrap_err();
        assert_eq!(err.field, field, "{err}");
        // Run anyway: clamped, never a panic.
        let events: Vec<Ev> = (0..50)
            .map(|i| Ev::V(i * 1000, (i % 7) as f32))
            .chain([Ev::Invalid(60_000), Ev::Poll(u64::MAX)])
            .collect();
        let _ = run(&rule, &events);
    }
}

#[test]
fn judgement_levels() {
    let rule = Rule::above(80.0, 90.0);
    let j = rule.judge(
        &Standing::at(O),
        85.0,
        TimeTo::NotEnoughData,
        &AnomalyScore::ZERO,
    );
    assert_eq!(j.level(), W);
    assert_eq!(
        rule.judge(
            &Standing::at(O),
            85.0,
            TimeTo::NotEnoughData,
            &invalid_score()
        ),
        Judgement::Invalid
    );
}
