//! Property tests of the anomaly score: bounded, causal, deterministic, exactly resumable, and untouched
//! by refused samples.

use proptest::prelude::*;
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyScore};
use rackwatch_core::SampleError;

/// Finite values, ordinary and extreme, at non-decreasing times (equal times included).
fn stream() -> impl Strategy<Value = Vec<(u64, f32)>> {
    let value = prop_oneof![
        6 => -1e3f32..1e3,
        2 => -1e30f32..1e30,
        1 => Just(0.0f32),
        1 => Just(-0.0f32),
        1 => Just(f32::MAX),
        1 => Just(f32::MIN),
        1 => Just(f32::MIN_POSITIVE),
        1 => Just(1e-40f32), // subnormal
        // Runs of one value, so that the stuck and flat-series paths are exercised.
        2 => Just(42.0f32),
    ];
    let dt = prop_oneof![3 => 0u64..2_000, 1 => Just(0u64), 1 => 0u64..10_000_000_000];
    proptest::collection::vec((dt, value), 1..300).prop_map(|steps| {
        let mut t = 0u64;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t = t.saturating_add(dt);
                (t, v)
            })
            .collect()
    })
}

/// Any `f32` at all: NaN, infinities, negatives, subnormals.
fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        proptest::num::f32::ANY,
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(0.0f32),
        -10.0f32..10.0,
    ]
}

fn garbage_config() -> impl Strategy<Value = AnomalyConfig> {
    (
        (any_f32(), any::<u16>(), any_f32(), any_f32(), any_f32()),
        (any_f32(), any_f32(), 0u16..64, any_f32(), any_f32()),
        (
            any::<bool>(),
            any_f32(),
            proptest::option::of(any_f32()),
            proptest::option::of(any_f32()),
            proptest::option::of(any_f32()),
        ),
    )
        .prop_map(
            |(
                (baseline_alpha, warmup_samples, z_low, fast_alpha, shift_low),
                (shift_confirm, spike_low, stuck_samples, stuck_ratio, stuck_epsilon),
                (stuck_from_start, min_std, min, max, max_slew_per_s),
            )| AnomalyConfig {
                baseline_alpha,
                warmup_samples: warmup_samples % 64,
                z_low,
                fast_alpha,
                shift_low,
                shift_confirm,
                spike_low,
                stuck_samples,
                stuck_ratio,
                stuck_epsilon,
                stuck_from_start,
                min_std,
                min,
                max,
                max_slew_per_s,
            },
        )
}

fn config() -> impl Strategy<Value = AnomalyConfig> {
    prop_oneof![
        2 => Just(AnomalyConfig::DEFAULT),
        1 => Just(AnomalyConfig::with_limits(Some(-50.0), Some(50.0), Some(0.5))),
        1 => Just(AnomalyConfig {
            warmup_samples: 0,
            stuck_samples: 2,
            stuck_from_start: true,
            shift_confirm: 2.0,
            ..AnomalyConfig::DEFAULT
        }),
        2 => garbage_config(),
    ]
}

fn scores(config: AnomalyConfig, samples: &[(u64, f32)]) -> (Vec<AnomalyScore>, AnomalyDetector) {
    let mut detector = AnomalyDetector::new(config);
    let scores = samples
        .iter()
        .map(|&(t, v)| detector.update(t, v).unwrap())
        .collect();
    (scores, detector)
}

/// Scores as bits, so that comparisons are exact (and would catch a NaN, which `==` would not).
fn bits(scores: &[AnomalyScore]) -> Vec<([u32; 5], bool, bool)> {
    scores
        .iter()
        .map(|s| {
            (
                [
                    s.score.to_bits(),
                    s.deviation.to_bits(),
                    s.level_shift.to_bits(),
                    s.spike.to_bits(),
                    s.stuck.to_bits(),
                ],
                s.out_of_range,
                s.slew,
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_score_is_finite_and_within_zero_and_one(config in config(), samples in stream()) {
        let mut detector = AnomalyDetector::new(config);
        for &(t, v) in &samples {
            let resting = detector.resting();
            let s = detector.update(t, v).unwrap();
            for component in [s.score, s.deviation, s.level_shift, s.spike, s.stuck] {
                prop_assert!(component.is_finite() && (0.0..=1.0).contains(&component), "{:?}", s);
            }
            prop_assert!(s.stuck == 0.0 || s.stuck == 1.0);
            let largest = s.deviation.max(s.level_shift).max(s.spike).max(s.stuck);
            if s.out_of_range || s.slew {
                prop_assert_eq!(s.score, 1.0);
            } else if resting > 0 {
                // Resting after an anomaly started: the components report, the score is 0.
                prop_assert_eq!(s.score, 0.0);
                prop_assert_eq!(detector.resting(), resting - 1);
            } else {
                prop_assert_eq!(s.score, largest);
            }
            if resting == 0 && largest >= 0.5 {
                prop_assert!(detector.resting() > 0, "an anomaly's start begins a rest");
            }
        }
        prop_assert_eq!(detector.samples() as usize, samples.len());
        if let Some((mean, std)) = detector.baseline() {
            prop_assert!(mean.is_finite() && std.is_finite() && std >= 0.0);
        }
        let (up, down) = detector.shift_divergence();
        prop_assert!(up.is_finite() && down.is_finite() && up >= 0.0 && down >= 0.0);
    }

    #[test]
    fn warm_up_scores_only_physical_limits_and_stuck(samples in stream()) {
        let config = AnomalyConfig::with_limits(Some(-1e20), Some(1e20), None);
        let (scores, _) = scores(config, &samples);
        for s in scores.iter().take(usize::from(config.warmup_samples)) {
            prop_assert_eq!((s.deviation, s.level_shift, s.spike), (0.0, 0.0, 0.0));
        }
    }

    #[test]
    fn scores_are_causal(config in config(), samples in stream(), cut in any::<prop::sample::Index>()) {
        let k = cut.index(samples.len());
        let (all, _) = scores(config, &samples);
        let (prefix, _) = scores(config, &samples[..k]);
        prop_assert_eq!(bits(&all[..k]), bits(&prefix));
    }

    #[test]
    fn same_input_gives_bit_identical_scores_and_state(config in config(), samples in stream()) {
        let (a, da) = scores(config, &samples);
        let (b, db) = scores(config, &samples);
        prop_assert_eq!(bits(&a), bits(&b));
        prop_assert_eq!(postcard::to_allocvec(&da).unwrap(), postcard::to_allocvec(&db).unwrap());
    }

    #[test]
    fn restore_mid_stream_equals_uninterrupted(config in config(), samples in stream(), cut in any::<prop::sample::Index>()) {
        let k = cut.index(samples.len());
        let (expected, uninterrupted) = scores(config, &samples);
        let mut first = AnomalyDetector::new(config);
        let mut got: Vec<AnomalyScore> =
            samples[..k].iter().map(|&(t, v)| first.update(t, v).unwrap()).collect();
        let record = postcard::to_allocvec(&first).unwrap();
        let mut restored: AnomalyDetector = postcard::from_bytes(&record).unwrap();
        got.extend(samples[k..].iter().map(|&(t, v)| restored.update(t, v).unwrap()));
        prop_assert_eq!(bits(&got), bits(&expected));
        prop_assert_eq!(postcard::to_allocvec(&restored).unwrap(), postcard::to_allocvec(&uninterrupted).unwrap());
    }

    #[test]
    fn refused_samples_change_nothing(
        config in config(),
        samples in stream(),
        bad in proptest::collection::vec((any::<prop::sample::Index>(), 0u8..4), 0..20),
    ) {
        let (expected, _) = scores(config, &samples);
        let mut detector = AnomalyDetector::new(config);
        let mut got = Vec::new();
        for (i, &(t, v)) in samples.iter().enumerate() {
            for (at, kind) in &bad {
                if at.index(samples.len()) != i {
                    continue;
                }
                let last_t = i.checked_sub(1).map(|j| samples[j].0);
                let (bad_t, bad_v) = match (kind, last_t) {
                    (0, _) => (t, f32::NAN),
                    (1, _) => (t, f32::INFINITY),
                    (2, _) => (t, f32::NEG_INFINITY),
                    (_, Some(last)) if last > 0 => (last - 1, v),
                    _ => continue, // nothing before this sample: no time is in its past
                };
                let before = postcard::to_allocvec(&detector).unwrap();
                let refused = detector.update(bad_t, bad_v);
                if *kind < 3 {
                    prop_assert_eq!(refused, Err(SampleError::NonFinite));
                } else {
                    let backwards = matches!(refused, Err(SampleError::TimeWentBackwards { .. }));
                    prop_assert!(backwards, "{:?}", refused);
                }
                prop_assert_eq!(postcard::to_allocvec(&detector).unwrap(), before);
            }
            got.push(detector.update(t, v).unwrap());
        }
        prop_assert_eq!(bits(&got), bits(&expected));
    }
}
