//! Unit tests of the anomaly detector: each component, the quietness on normal series, extreme inputs.

use super::*;
use crate::rng::XorShift64Star;
use std::vec::Vec;

/// 10 + a sine of period 200 samples and amplitude 1, plus N(0, 0.1²) noise; one sample a second.
fn signal(n: usize, seed: u64) -> Vec<f32> {
    let mut noise = XorShift64Star::new(seed);
    (0..n)
        .map(|i| {
            10.0 + libm::sinf(i as f32 * core::f32::consts::TAU / 200.0)
                + 0.1 * noise.gaussian() as f32
        })
        .collect()
}

/// `mean` + N(0, sigma²) noise.
fn noise(n: usize, seed: u64, mean: f32, sigma: f32) -> Vec<f32> {
    let mut noise = XorShift64Star::new(seed);
    (0..n)
        .map(|_| mean + sigma * noise.gaussian() as f32)
        .collect()
}

fn run(detector: &mut AnomalyDetector, values: &[f32]) -> Vec<AnomalyScore> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| detector.update(i as u64 * 1000, v).unwrap())
        .collect()
}

fn scores(config: AnomalyConfig, values: &[f32]) -> Vec<AnomalyScore> {
    run(&mut AnomalyDetector::new(config), values)
}

fn count(scores: &[AnomalyScore], f: impl Fn(&AnomalyScore) -> bool) -> usize {
    scores.iter().filter(|s| f(s)).count()
}

#[test]
fn size_is_part_of_the_contract() {
    assert_eq!(core::mem::size_of::<AnomalyDetector>(), 128);
    // The per-metric budget: a 64-sample window (statistics and trend) and this detector.
    let per_metric =
        core::mem::size_of::<crate::window::Window<64>>() + core::mem::size_of::<AnomalyDetector>();
    assert!(per_metric <= 1024, "{per_metric} bytes per metric");
}

#[test]
fn config_is_const_constructible() {
    const SENSOR: AnomalyConfig = AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(2.0));
    const PLAIN: AnomalyConfig = AnomalyConfig::new();
    assert_eq!(PLAIN, AnomalyConfig::default());
    assert_eq!(SENSOR.max, Some(85.0));
    assert_eq!(SENSOR.z_low, AnomalyConfig::DEFAULT.z_low);
}

#[test]
fn level_shift_parameters_load_by_their_former_cusum_names_too() {
    let old: AnomalyConfig = serde_json::from_str(r#"{"cusum_k": 2.5, "cusum_h": 3.0}"#).unwrap();
    let new: AnomalyConfig =
        serde_json::from_str(r#"{"shift_low": 2.5, "shift_confirm": 3.0}"#).unwrap();
    assert_eq!(old, new);
    assert_eq!((new.shift_low, new.shift_confirm), (2.5, 3.0));
    assert_eq!(new.z_low, AnomalyConfig::DEFAULT.z_low);
    let written = serde_json::to_string(&new).unwrap();
    assert!(written.contains("\"shift_low\":2.5") && !written.contains("cusum"));
}

#[test]
fn squash_mapping() {
    assert_eq!(squash(2.0, 3.0), 0.0);
    assert_eq!(squash(3.0, 3.0), 0.0);
    assert_eq!(squash(6.0, 3.0), 0.5);
    assert_eq!(squash(30.0, 3.0), 0.9);
    assert_eq!(squash(f64::INFINITY, 3.0), 1.0);
    assert_eq!(squash(f64::NAN, 3.0), 0.0);
    assert_eq!(squash(1.0, 0.0), 1.0);
}

#[test]
fn divergence_of_normals() {
    // A pure mean shift of δσ: δ²/2.
    assert!((divergence(0.0, 4.0, 3.0, 4.0) - 0.5 * 1.5 * 1.5).abs() < 1e-12);
    assert_eq!(divergence(5.0, 1.0, 5.0, 1.0), 0.0);
    // A wider recent spread: ½(ln(1/4) + 4 − 1).
    let wider = divergence(0.0, 1.0, 0.0, 4.0);
    assert!((wider - 0.5 * (libm::log(0.25) + 3.0)).abs() < 1e-12);
    // A recent window gone flat counts as a tenfold drop of variance, not an infinite one.
    let flat = divergence(0.0, 1.0, 0.0, 0.0);
    assert!((flat - 0.5 * (libm::log(10.0) + 0.1 - 1.0)).abs() < 1e-12);
    assert_eq!(divergence(0.0, 0.0, 1.0, 1.0), 0.0);
    assert_eq!(divergence(0.0, f64::NAN, 1.0, 1.0), 0.0);
}

#[test]
fn warm_up_scores_zero_except_physical_limits() {
    let config = AnomalyConfig::with_limits(None, Some(1e3), None);
    let mut values = noise(100, 7, 0.0, 1.0);
    values[5] = 500.0; // wild, but during warm-up
    values[10] = 5e3; // out of range: honest from the first sample
    let s = scores(config, &values);
    for (i, s) in s[..30].iter().enumerate() {
        if i == 10 {
            assert!(s.out_of_range && s.score == 1.0);
            assert_eq!(s.dominant(), AnomalyKind::OutOfRange);
        } else {
            assert_eq!(*s, AnomalyScore::ZERO, "sample {i}");
        }
    }
    assert!(
        s[30..].iter().all(|x| x.score < 0.5 || x.out_of_range),
        "and then honest scores on plain noise"
    );
}

#[test]
fn quiet_signal_scores_low_and_a_spike_scores_high_at_its_sample_only() {
    let mut values = signal(3000, 1);
    values[2000] += 3.0; // 30 noise sigmas, 3 sine amplitudes
    let s = scores(AnomalyConfig::DEFAULT, &values);
    let spike = s[2000];
    assert!(spike.score >= 0.8, "{spike:?}");
    // Far beyond anything the sine has shown: a deviation, and a jump of many ordinary steps.
    assert_eq!(spike.dominant(), AnomalyKind::Deviation);
    assert!(spike.spike > 0.25, "{spike:?}");
    assert_eq!(s[2001].spike, 0.0, "the return to normal is not a spike");
    assert!(s[2001].deviation < 0.5, "{:?}", s[2001]);
    assert_eq!(s[2001].score, 0.0, "the detector rests after an anomaly");
    assert!(
        s[2000].level_shift < 0.5,
        "a lone spike is not a level shift"
    );
    let false_alarms = count(&s[30..], |x| x.score >= 0.5) - 1;
    assert_eq!(false_alarms, 0, "a quiet sine scored >= 0.5");
    // The recent window reads the sine's phase as a mild divergence from the baseline.
    let elevated = count(&s[30..], |x| x.score > 0.4);
    assert!(elevated <= 60, "{elevated} samples above 0.4");
    assert!(
        s.iter().all(|x| x.level_shift < 1.0),
        "the daily cycle is not a level shift"
    );
}

#[test]
fn a_sustained_three_sigma_shift_scores_once_then_becomes_the_new_normal() {
    let mut values = noise(3000, 2, 5.0, 0.1);
    values[1000..].iter_mut().for_each(|v| *v += 0.3);
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(
        s[30..1000].iter().all(|x| x.score < 0.5),
        "quiet before the shift"
    );
    let found = s[1000..]
        .iter()
        .position(|x| x.score >= 0.5)
        .expect("shift found");
    assert!(found < 12, "found after {found} samples");
    // Leaving the range the noise had shown, or the recent window moving away.
    let kind = s[1000 + found].dominant();
    assert!(
        matches!(kind, AnomalyKind::LevelShift | AnomalyKind::Deviation),
        "{kind:?}"
    );
    assert!(
        s[1000..1000 + found].iter().all(|x| x.deviation < 0.5),
        "the z-score alone does not call a 3σ shift"
    );
    let after = 1000 + found + 1;
    assert!(
        s[after..].iter().all(|x| x.score < 0.5),
        "one score for one shift: the baseline absorbs the new level during the rest"
    );
    assert!(
        s[after + 400..].iter().all(|x| x.level_shift < 0.5),
        "and the new level is normal"
    );
}

#[test]
fn a_four_sigma_shift_is_found_and_a_one_sigma_one_ignored() {
    // 4σ: the first samples past the range the noise had shown score as a deviation, and the
    // recent window's mean moves away from the baseline within a dozen samples.
    let mut values = noise(2000, 9, -20.0, 2.0);
    values[1000..].iter_mut().for_each(|v| *v += 8.0);
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(s[30..1000].iter().all(|x| x.score < 0.5));
    let found = s[1000..]
        .iter()
        .position(|x| x.score >= 0.5)
        .expect("shift found");
    assert!(found < 12, "found after {found} samples");
    let shifted = s[1000..]
        .iter()
        .position(|x| x.level_shift >= 0.5)
        .expect("level shift");
    assert!(shifted < 12, "level shift after {shifted} samples");
    assert!(
        s[1000 + found + 1..].iter().all(|x| x.score < 0.5),
        "one score for one shift"
    );
    // 1σ, below `shift_low`: slow change is the trend's business.
    let mut values = noise(2000, 9, -20.0, 2.0);
    values[1000..].iter_mut().for_each(|v| *v += 2.0);
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(s[30..].iter().all(|x| x.score < 0.5));
}

#[test]
fn the_baseline_follows_a_confirmed_shift_and_resists_outliers() {
    let mut values = noise(3000, 3, 100.0, 1.0);
    values[500..].iter_mut().for_each(|v| *v += 50.0);
    let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
    let s = run(&mut d, &values);
    assert!(s[500].deviation > 0.9 && s[500].spike > 0.5 && s[500].score > 0.9);
    let first = s[500..].iter().position(|x| x.level_shift >= 1.0).unwrap();
    assert!(
        first <= 30,
        "a 50σ step is confirmed in 30 samples, took {first}"
    );
    // Announced at the step, at most once more after the rest while the baseline catches up
    // (its spread widens to take the step in), then normal.
    let announced = s[501..].iter().filter(|x| x.score >= 0.5).count();
    assert!(announced <= 1, "{announced} more scores >= 0.5");
    assert!(
        s[700..]
            .iter()
            .all(|x| x.deviation == 0.0 && x.level_shift < 0.5),
        "the new level is the normal one"
    );
    let (mean, std) = d.baseline().unwrap();
    assert!((mean - 150.0).abs() < 0.5 && std < 1.5, "{mean} {std}");

    // Isolated outliers move a learned baseline by at most 10σ·alpha each.
    let mut values = noise(1000, 4, 0.0, 1.0);
    for i in (300..1000).step_by(50) {
        values[i] = 1e6;
    }
    let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
    run(&mut d, &values);
    // The spread widens by at most a factor (1 + 100·alpha) per outlier, and recovers between
    // them: 14 outliers of 10⁶σ leave it within a few σ.
    let (mean, std) = d.baseline().unwrap();
    assert!(mean.abs() < 0.5 && std < 4.0, "{mean} {std}");
}

#[test]
fn a_short_burst_is_spikes_not_a_new_level() {
    let mut values = noise(1000, 11, 50.0, 1.0);
    values[600..604].copy_from_slice(&[5e3, 9e6, 2e4, 7e5]);
    let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
    let s = run(&mut d, &values[..700]);
    assert!(s[600].score > 0.9, "{:?}", s[600]);
    // Every sample of the burst is far out, and each is a jump or moves the recent window.
    assert!(s[600..604]
        .iter()
        .all(|x| x.deviation > 0.9 && (x.spike > 0.5 || x.level_shift > 0.5)));
    assert!(
        s.iter().all(|x| x.level_shift < 1.0),
        "four samples never confirm a shift"
    );
    assert!(
        s[601..].iter().all(|x| x.score < 0.5),
        "one score for one burst"
    );
    assert!(
        s[640..]
            .iter()
            .all(|x| x.deviation < 0.5 && x.level_shift < 0.5),
        "back to normal"
    );
    // Each wild value counted as at most 10σ: the mean barely moves, the spread widens a little.
    let (mean, std) = d.baseline().unwrap();
    assert!((mean - 50.0).abs() < 0.3 && std < 1.8, "{mean} {std}");
}

#[test]
fn quantised_and_intermittent_series_are_not_anomalous_for_their_steps() {
    // A 0.1-resolution temperature drifting slowly with noise below the resolution: it dithers
    // between neighbouring steps.
    let mut noise = XorShift64Star::new(13);
    let values: Vec<f32> = (0..5000)
        .map(|i| {
            let t = 25.0 + 0.3 * libm::sinf(i as f32 / 300.0) + 0.04 * noise.gaussian() as f32;
            libm::roundf(10.0 * t) / 10.0
        })
        .collect();
    let s = scores(AnomalyConfig::DEFAULT, &values);
    let high = count(&s, |x| x.score >= 0.5);
    assert!(
        high <= 2,
        "{high} samples >= 0.5: {:?}",
        s.iter().find(|x| x.score >= 0.5)
    );
    // Without any noise it is a staircase: each stair is a level shift (it is one, of a series
    // with no spread at all), but never a deviation or a spike once the first step has been seen.
    let values: Vec<f32> = (0..5000)
        .map(|i| libm::roundf(10.0 * (25.0 + 0.3 * libm::sinf(i as f32 / 300.0))) / 10.0)
        .collect();
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(s[100..]
        .iter()
        .all(|x| x.deviation < 0.5 && x.spike < 0.5 && x.stuck == 0.0));
    // A count that is mostly 0, sometimes 1 or 2.
    let mut noise = XorShift64Star::new(12);
    let values: Vec<f32> = (0..5000)
        .map(|_| match noise.gaussian() {
            g if g > 2.0 => 2.0,
            g if g > 1.0 => 1.0,
            _ => 0.0,
        })
        .collect();
    let s = scores(AnomalyConfig::DEFAULT, &values);
    let high = count(&s, |x| x.score >= 0.5);
    assert!(high <= 5, "{high} samples of a quiet count scored >= 0.5");
}

#[test]
fn normal_series_stay_quiet_for_a_hundred_thousand_samples() {
    // The constraint the defaults were chosen under: white noise, a sine with noise, a noisy
    // ramp and a dithering quantised reading score at most one sample >= 0.5 in 10^5.
    for kind in 0..4 {
        let mut noise = XorShift64Star::new(100 + kind);
        let values: Vec<f32> = (0..100_000)
            .map(|i| {
                let g = noise.gaussian() as f32;
                let t = i as f32;
                match kind {
                    0 => g,
                    1 => 10.0 + libm::sinf(t * core::f32::consts::TAU / 200.0) + 0.1 * g,
                    2 => 40.0 + 0.01 * t + g,
                    _ => {
                        libm::roundf(10.0 * (25.0 + 0.3 * libm::sinf(t / 300.0) + 0.04 * g)) / 10.0
                    }
                }
            })
            .collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let alarms = count(&s, |x| x.score >= 0.5);
        assert!(alarms <= 1, "series {kind}: {alarms} scores >= 0.5");
    }
}

#[test]
fn a_steady_ramp_is_not_an_anomaly() {
    let values: Vec<f32> = (0..2000).map(|i| 40.0 + 0.25 * i as f32).collect();
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(
        s.iter().all(|x| x.score < 0.5),
        "{:?}",
        s.iter().find(|x| x.score >= 0.5)
    );
}

#[test]
fn a_varying_sensor_that_freezes_is_stuck_and_a_constant_one_is_not() {
    let mut values = signal(500, 3);
    let frozen = values[300];
    values[300..].iter_mut().for_each(|v| *v = frozen);
    let s = scores(AnomalyConfig::DEFAULT, &values);
    // The run starts at sample 299's successor... sample 300 begins a run (unless 299 equals it).
    assert!(s[300..329].iter().all(|x| x.stuck == 0.0));
    assert!(s[329..].iter().all(|x| x.stuck == 1.0));
    // The score announces it, then again after each rest while it lasts.
    let announced: Vec<usize> = (0..500).filter(|&i| s[i].score >= 0.5).collect();
    assert_eq!(announced, [329, 430], "{announced:?}");
    assert_eq!(s[329].score, 1.0);
    assert_eq!(s[400].dominant(), AnomalyKind::Stuck);

    let constant = std::vec![42.0f32; 500];
    let s = scores(AnomalyConfig::DEFAULT, &constant);
    assert!(s.iter().all(|x| *x == AnomalyScore::ZERO));
    let from_start = AnomalyConfig {
        stuck_from_start: true,
        ..AnomalyConfig::DEFAULT
    };
    let s = scores(from_start, &constant);
    assert!(s[..29].iter().all(|x| x.stuck == 0.0));
    assert!(s[29..].iter().all(|x| x.stuck == 1.0));
}

#[test]
fn stuck_is_relative_to_the_series_typical_runs_and_re_arms() {
    // A coarse sensor: holds each value for 20 samples, then steps.
    let mut values: Vec<f32> = (0..2000).map(|i| ((i / 20) % 5) as f32).collect();
    let s = scores(AnomalyConfig::DEFAULT, &values);
    assert!(
        s.iter().all(|x| x.stuck == 0.0),
        "runs of 20 are normal here"
    );
    // Frozen for 300 samples (15 typical runs), then moving again, then frozen again.
    values[1000..1300].iter_mut().for_each(|v| *v = 2.0);
    values.resize(2400, 3.0);
    values[1700..].iter_mut().for_each(|v| *v = 3.0);
    let s = scores(AnomalyConfig::DEFAULT, &values);
    let first = s.iter().position(|x| x.stuck == 1.0).unwrap();
    assert!((1190..1230).contains(&first), "stuck from {first}");
    assert!(s[1300..1600].iter().all(|x| x.stuck == 0.0));
    assert!(s[2100..].iter().all(|x| x.stuck == 1.0), "re-armed");

    // Within epsilon: a sensor that dithers by one LSB around a frozen value is still stuck.
    let mut values = signal(400, 5);
    for (i, v) in values[200..].iter_mut().enumerate() {
        *v = 12.0 + if i % 2 == 0 { 0.0 } else { 0.01 };
    }
    let config = AnomalyConfig {
        stuck_epsilon: 0.02,
        ..AnomalyConfig::DEFAULT
    };
    let s = scores(config, &values);
    assert!(s[240..].iter().all(|x| x.stuck == 1.0));
    assert!(scores(AnomalyConfig::DEFAULT, &values)[240..]
        .iter()
        .all(|x| x.stuck == 0.0));
}

#[test]
fn physical_limits_score_exactly_one_and_are_inclusive() {
    let config = AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(1.0));
    let mut d = AnomalyDetector::new(config);
    let s = d.update(0, 90.0).unwrap();
    assert!(s.out_of_range && s.score == 1.0 && s.dominant() == AnomalyKind::OutOfRange);
    let s = d.update(1000, 85.0).unwrap();
    assert!(!s.out_of_range && s.slew && s.score == 1.0);
    assert_eq!(s.dominant(), AnomalyKind::SlewRate);
    let s = d.update(2000, 84.0).unwrap();
    assert!(
        !s.slew && !s.out_of_range && s.score == 0.0,
        "exactly the limit is allowed"
    );
    let s = d.update(2000, 84.5).unwrap();
    assert!(s.slew, "a change at one instant is infinitely fast");
    let s = d.update(2000, 84.5).unwrap();
    assert!(!s.slew, "no change at one instant is no rate");
    assert!(!d.update(3000, -40.0).unwrap().out_of_range);
    assert!(d.update(3_000_000, -40.5).unwrap().out_of_range);
    // Both at once: range wins the explanation.
    let s = d.update(3_000_000, 1e9).unwrap();
    assert!(s.out_of_range && s.slew && s.dominant() == AnomalyKind::OutOfRange);
}

#[test]
fn refused_samples_leave_the_state_unchanged() {
    let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
    run(&mut d, &signal(100, 4));
    let before = d;
    assert_eq!(
        d.update(500, 1.0),
        Err(SampleError::TimeWentBackwards {
            last_ms: 99_000,
            now_ms: 500
        })
    );
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        assert_eq!(d.update(100_000, bad), Err(SampleError::NonFinite));
    }
    assert_eq!(d, before);
    assert_eq!(d.samples(), 100);
    // And the next good sample scores as if the bad ones never came.
    let mut twin = before;
    assert_eq!(d.update(100_000, 10.0), twin.update(100_000, 10.0));
}

#[test]
fn extreme_inputs_and_configs_stay_finite_and_in_range() {
    let values = [
        0.0,
        f32::MAX,
        f32::MIN,
        1e30,
        -1e30,
        f32::MIN_POSITIVE,
        0.0,
        f32::MAX,
        f32::MAX,
    ];
    let wild = AnomalyConfig {
        baseline_alpha: f32::NAN,
        warmup_samples: 0,
        z_low: -1.0,
        fast_alpha: 7.0,
        shift_low: f32::NEG_INFINITY,
        shift_confirm: 0.0,
        spike_low: f32::NAN,
        stuck_samples: 1,
        stuck_ratio: f32::INFINITY,
        stuck_epsilon: -1.0,
        stuck_from_start: true,
        min_std: 0.0,
        min: Some(f32::NAN),
        max: Some(f32::NEG_INFINITY),
        max_slew_per_s: Some(f32::NAN),
    };
    for config in [AnomalyConfig::DEFAULT, wild] {
        let mut d = AnomalyDetector::new(config);
        for round in 0..50u64 {
            for (i, &v) in values.iter().enumerate() {
                let s = d.update(round * 10 + i as u64 / 3, v).unwrap();
                for x in [s.score, s.deviation, s.level_shift, s.spike, s.stuck] {
                    assert!((0.0..=1.0).contains(&x), "{s:?}");
                }
            }
        }
        let (mean, std) = d.baseline().unwrap();
        assert!(mean.is_finite() && std.is_finite());
    }
}

#[test]
fn restore_then_continue_equals_never_stopped() {
    let mut values = signal(1500, 5);
    values[900..].iter_mut().for_each(|v| *v += 2.0);
    let mut uninterrupted = AnomalyDetector::new(AnomalyConfig::DEFAULT);
    let expected = run(&mut uninterrupted, &values);
    for cut in [0, 1, 29, 30, 600, 902, 1499] {
        let mut first = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let mut got = run(&mut first, &values[..cut]);
        let record = postcard::to_allocvec(&first).unwrap();
        assert!(
            record.len() <= 110,
            "persisted record is {} bytes",
            record.len()
        );
        let mut restored: AnomalyDetector = postcard::from_bytes(&record).unwrap();
        assert_eq!(restored, first);
        for (i, &v) in values.iter().enumerate().skip(cut) {
            got.push(restored.update(i as u64 * 1000, v).unwrap());
        }
        assert_eq!(got, expected, "cut at {cut}");
        assert_eq!(restored, uninterrupted);
    }
}

#[test]
fn dominant_prefers_the_specific_explanation_on_ties() {
    let mut s = AnomalyScore::ZERO;
    assert_eq!(s.dominant(), AnomalyKind::None);
    s.deviation = 0.7;
    assert_eq!(s.dominant(), AnomalyKind::Deviation);
    s.spike = 0.7;
    assert_eq!(s.dominant(), AnomalyKind::Spike);
    s.level_shift = 1.0;
    s.deviation = 1.0;
    assert_eq!(s.dominant(), AnomalyKind::LevelShift);
    s.stuck = 1.0;
    assert_eq!(s.dominant(), AnomalyKind::Stuck);
    s.slew = true;
    assert_eq!(s.dominant(), AnomalyKind::SlewRate);
}
