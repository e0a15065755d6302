//! Invariants of the alert state machine and the monitor, over random rules and streams.

use proptest::prelude::*;
use rackwatch_core::alert::{
    AlertMachine, Bound, Debounce, Flapping, Limit, MissingData, MissingPolicy, Rule, Standing,
    Transitions,
};
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyScore};
use rackwatch_core::monitor::{MetricSpec, Monitor};
use rackwatch_core::trend::TimeTo;
use rackwatch_core::wire::{Cause, Transition};
use rackwatch_core::Level;

#[derive(Debug, Clone, Copy)]
enum Input {
    Reading { dt: u64, value: f32, invalid: bool },
    Poll { dt: u64 },
}

fn inputs() -> impl Strategy<Value = Vec<Input>> {
    let reading = (0u64..20_000, 60.0f32..100.0, prop::bool::weighted(0.05))
        .prop_map(|(dt, value, invalid)| Input::Reading { dt, value, invalid });
    let poll = (0u64..200_000).prop_map(|dt| Input::Poll { dt });
    prop::collection::vec(prop_oneof![8 => reading, 1 => poll], 1..300)
}

fn debounce() -> impl Strategy<Value = Debounce> {
    (1u8..=8, 0u8..=8, prop_oneof![Just(0u32), 1u32..30_000]).prop_map(|(n, extra, for_ms)| {
        Debounce {
            samples: n,
            of_last: n + extra,
            for_ms,
        }
    })
}

fn rule() -> impl Strategy<Value = Rule> {
    let policy = prop_oneof![
        Just(MissingPolicy::Unknown),
        (0u32..60_000).prop_map(|for_ms| MissingPolicy::HoldLast { for_ms }),
        Just(MissingPolicy::Violation {
            level: Level::Critical
        }),
        Just(MissingPolicy::Ok),
    ];
    let missing = (prop::option::of(1_000u32..100_000), policy, 0u32..100_000).prop_map(
        |(deadline_ms, policy, startup_grace_ms)| MissingData {
            deadline_ms,
            policy,
            startup_grace_ms,
        },
    );
    (
        70.0f32..85.0,
        0.0f32..10.0,
        debounce(),
        debounce(),
        missing,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(warning, gap, raise, clear, missing, flapping, inclusive)| {
                let mut rule = Rule::above(warning, warning + gap + 1.0);
                if inclusive {
                    rule.value.warning.above = Some(Limit::with_clear(
                        Bound::inclusive(warning),
                        Bound::inclusive(warning - gap),
                    ));
                }
                rule.raise = raise;
                rule.clear = clear;
                rule.missing = missing;
                rule.flapping = flapping.then_some(Flapping::NAGIOS);
                rule
            },
        )
}

/// Drives a machine; returns every transition and the final machine. `cut`: persist and restore
/// before this input.
fn drive(rule: &Rule, inputs: &[Input], cut: Option<usize>) -> (Vec<Transition>, AlertMachine) {
    let mut machine = AlertMachine::new(0);
    let mut t = 0u64;
    let mut out = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        if cut == Some(i) {
            let record = postcard::to_allocvec(&machine).unwrap();
            machine = postcard::from_bytes(&record).unwrap();
        }
        let step: Transitions = match *input {
            Input::Reading { dt, value, invalid } => {
                t += dt;
                let score = AnomalyScore {
                    out_of_range: invalid,
                    ..AnomalyScore::ZERO
                };
                let judge = |standing: &Standing| {
                    rule.judge(standing, value, TimeTo::NotEnoughData, &score)
                };
                machine.observe(rule, 1, t, judge).unwrap()
            }
            Input::Poll { dt } => {
                t += dt;
                machine.poll(rule, 1, t).unwrap()
            }
        };
        out.extend(step);
    }
    (out, machine)
}

fn readings_only(inputs: &[Input]) -> Vec<Input> {
    // The time a poll lets pass moves into the next reading's gap: same reading times, no polls.
    let mut pending = 0;
    let mut only = Vec::new();
    for input in inputs {
        match *input {
            Input::Reading { dt, value, invalid } => {
                only.push(Input::Reading {
                    dt: dt + pending,
                    value,
                    invalid,
                });
                pending = 0;
            }
            Input::Poll { dt } => pending += dt,
        }
    }
    only
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_transition_is_explained_by_its_cause(rule in rule(), inputs in inputs()) {
        let (transitions, _) = drive(&rule, &inputs, None);
        for t in &transitions {
            match t.cause {
                Cause::Value { value, bound } => {
                    prop_assert!(value.is_finite() && bound.is_finite());
                    // A move to a worse valid level happens on a reading beyond that level's bound.
                    if t.to > t.from && t.to != Level::Unknown && t.from != Level::Unknown {
                        prop_assert!(value >= bound, "{t:?}");
                    }
                }
                Cause::MissingData { last_seen_ms } => {
                    prop_assert!(rule.missing.deadline_ms.is_some());
                    prop_assert!(t.at_ms >= last_seen_ms + u64::from(rule.missing.deadline_ms.unwrap()));
                }
                Cause::SensorFault => prop_assert_eq!(t.to, Level::Unknown),
                Cause::FlappingStopped => prop_assert!(rule.flapping.is_some()),
                Cause::Eta { .. } | Cause::Anomaly { .. } | Cause::ForecastReceded { .. } => {
                    prop_assert!(false, "no such condition")
                }
            }
            prop_assert!(t.from != t.to || t.cause == Cause::FlappingStopped, "{t:?}");
        }
        // Consecutive transitions chain: each starts where the previous one ended.
        // (A flapping-stopped notice starts from the level receivers last heard about instead.)
        for pair in transitions.windows(2) {
            if pair[1].cause != Cause::FlappingStopped {
                prop_assert_eq!(pair[1].from, pair[0].to);
            }
        }
    }

    #[test]
    fn sequence_numbers_strictly_increase_and_times_never_go_back(rule in rule(), inputs in inputs()) {
        let (transitions, machine) = drive(&rule, &inputs, None);
        for (i, t) in transitions.iter().enumerate() {
            prop_assert_eq!(t.alert_seq, i as u32);
        }
        for pair in transitions.windows(2) {
            prop_assert!(pair[0].at_ms <= pair[1].at_ms);
        }
        prop_assert_eq!(machine.next_seq(), transitions.len() as u32);
    }

    #[test]
    fn replaying_the_same_input_gives_identical_transitions(rule in rule(), inputs in inputs()) {
        let (a, ma) = drive(&rule, &inputs, None);
        let (b, mb) = drive(&rule, &inputs, None);
        prop_assert_eq!(a, b);
        prop_assert_eq!(ma, mb);
    }

    #[test]
    fn restore_then_continue_equals_never_stopped(rule in rule(), inputs in inputs(), cut in any::<prop::sample::Index>()) {
        let cut = cut.index(inputs.len());
        prop_assert_eq!(drive(&rule, &inputs, Some(cut)), drive(&rule, &inputs, None));
    }

    #[test]
    fn polls_between_readings_do_not_change_the_result(rule in rule(), inputs in inputs()) {
        let (with_polls, _) = drive(&rule, &inputs, None);
        let (without, _) = drive(&rule, &readings_only(&inputs), None);
        // Polls may only make a missing-data decision known sooner; it is dated the same either way,
        // and every decision that the readings alone imply is also made with polls, and vice versa,
        // except a decision still due after the last reading, which only a poll can reveal.
        let (mut t, mut last_reading) = (0u64, 0u64);
        for input in &inputs {
            match *input {
                Input::Reading { dt, .. } => {
                    t += dt;
                    last_reading = t;
                }
                Input::Poll { dt } => t += dt,
            }
        }
        let settled: Vec<_> = with_polls.iter().filter(|t| t.at_ms <= last_reading).cloned().collect();
        prop_assert_eq!(settled, without);
    }

    #[test]
    fn hysteresis_wider_than_the_noise_gives_one_raise_and_one_clear(
        amplitude in 0.1f32..2.4,
        seed in any::<u64>(),
    ) {
        // Raised above 80, cleared at or below 75: a band of 5 against noise of at most ±2.4.
        let mut rule = Rule::above(80.0, 1e9);
        rule.value.warning.above = Some(Limit::with_clear(Bound::strict(80.0), Bound::inclusive(75.0)));
        let mut machine = AlertMachine::new(0);
        let mut state = seed | 1;
        let mut transitions = Vec::new();
        // Rises from 70 through the raise bound to a plateau near it, then falls back through the band.
        for i in 0..600u32 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32 * amplitude;
            let level = match i {
                0..=99 => 70.0 + 0.1 * i as f32,
                100..=299 => 80.0,
                300..=399 => 80.0 - 0.1 * (i - 300) as f32,
                _ => 70.0,
            };
            let value = level + noise;
            let judge = |standing: &Standing| rule.judge(standing, value, TimeTo::NotEnoughData, &AnomalyScore::ZERO);
            transitions.extend(machine.observe(&rule, 1, u64::from(i) * 1000, judge).unwrap());
        }
        let raises = transitions.iter().filter(|t| t.to == Level::Warning).count();
        let clears = transitions.iter().filter(|t| t.to == Level::Ok).count();
        prop_assert!(raises <= 1 && clears <= 1, "{transitions:?}");
        prop_assert_eq!(raises, clears);
    }

    #[test]
    fn monitors_replay_identically_and_never_panic(
        values in prop::collection::vec(prop_oneof![
            9 => (-1e6f32..1e6).boxed(),
            1 => prop::sample::select(vec![f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN]).boxed(),
        ], 1..400),
        gaps in prop::collection::vec(0u64..100_000, 400),
        rule in rule(),
    ) {
        let spec = MetricSpec::new(9, "inlet_temperature", "degC", rule, AnomalyConfig::with_limits(Some(-1e5), Some(1e5), None)).unwrap();
        let run = || {
            let mut monitor: Monitor<64> = Monitor::for_spec(&spec, 0);
            let mut t = 0;
            let mut out = Vec::new();
            for (value, gap) in values.iter().zip(&gaps) {
                t += gap;
                out.extend(monitor.observe(t, *value).unwrap());
            }
            (out, monitor.invalid_values(), monitor.level())
        };
        let (a, invalid, level) = run();
        prop_assert_eq!((a.clone(), invalid, level), run());
        prop_assert_eq!(invalid as usize, values.iter().filter(|v| !v.is_finite()).count());
        for t in &a {
            prop_assert_eq!(t.metric, 9);
        }
    }
}
