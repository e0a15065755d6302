//! Property tests of the anomaly score: bounded, causal, deterministic, and exactly resumable.

use proptest::prelude::*;
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyScore};

fn stream() -> impl Strategy<Value = Vec<(u64, f32)>> {
    let value = prop_oneof![
        4 => -1e3f32..1e3,
        1 => -1e30f32..1e30,
        1 => Just(0.0f32),
        1 => Just(f32::MAX),
        1 => Just(f32::MIN),
    ];
    proptest::collection::vec((0u64..100_000, value), 1..400).prop_map(|steps| {
        let mut t = 0;
        steps
            .into_iter()
            .map(|(dt, v)| {
                t += dt;
                (t, v)
            })
            .collect()
    })
}

fn config() -> impl Strategy<Value = AnomalyConfig> {
    prop_oneof![
        Just(AnomalyConfig::DEFAULT),
        Just(AnomalyConfig::with_limits(
            Some(-50.0),
            Some(50.0),
            Some(0.5)
        )),
        Just(AnomalyConfig {
            warmup_samples: 0,
            stuck_samples: 2,
            ..AnomalyConfig::DEFAULT
        }),
    ]
}

fn scores(config: AnomalyConfig, samples: &[(u64, f32)]) -> Vec<AnomalyScore> {
    let mut detector = AnomalyDetector::new(config);
    samples
        .iter()
        .map(|&(t, v)| detector.update(t, v).unwrap())
        .collect()
}

fn bits(scores: &[AnomalyScore]) -> Vec<[u32; 5]> {
    scores
        .iter()
        .map(|s| {
            [
                s.score.to_bits(),
                s.deviation.to_bits(),
                s.level_shift.to_bits(),
                s.spike.to_bits(),
                s.stuck.to_bits(),
            ]
        })
        .collect()
}

proptest! {
    #[test]
    fn every_score_is_finite_and_within_zero_and_one(config in config(), samples in stream()) {
        for s in scores(config, &samples) {
            for component in [s.score, s.deviation, s.level_shift, s.spike, s.stuck] {
                prop_assert!(component.is_finite() && (0.0..=1.0).contains(&component), "{:?}", s);
            }
            prop_assert!(s.score >= s.deviation.max(s.level_shift).max(s.spike).max(s.stuck));
            if s.out_of_range || s.slew {
                prop_assert_eq!(s.score, 1.0);
            }
        }
    }

    #[test]
    fn scores_are_causal(config in config(), samples in stream(), cut in any::<prop::sample::Index>()) {
        let k = cut.index(samples.len());
        let all = scores(config, &samples);
        let prefix = scores(config, &samples[..k]);
        prop_assert_eq!(bits(&all[..k]), bits(&prefix));
    }

    #[test]
    fn same_input_gives_bit_identical_scores(config in config(), samples in stream()) {
        prop_assert_eq!(bits(&scores(config, &samples)), bits(&scores(config, &samples)));
    }

    #[test]
    fn restore_mid_stream_equals_uninterrupted(config in config(), samples in stream(), cut in any::<prop::sample::Index>()) {
        let k = cut.index(samples.len());
        let expected = scores(config, &samples);
        let mut first = AnomalyDetector::new(config);
        let mut got: Vec<AnomalyScore> = samples[..k].iter().map(|&(t, v)| first.update(t, v).unwrap()).collect();
        let record = postcard::to_allocvec(&first).unwrap();
        let mut restored: AnomalyDetector = postcard::from_bytes(&record).unwrap();
        got.extend(samples[k..].iter().map(|&(t, v)| restored.update(t, v).unwrap()));
        prop_assert_eq!(bits(&got), bits(&expected));
    }
}
