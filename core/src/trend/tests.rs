//! Unit tests of the trend fits and the forgetting trend.

use super::*;
use crate::rng::XorShift64Star;

fn line(points: impl Iterator<Item = (u64, f32)>) -> Option<Fit> {
    let mut m = Moments::EMPTY;
    let mut last = None;
    let mut n = 0;
    for (t, v) in points {
        if let Some(last) = last {
            m.shift_origin(t - last);
        }
        m.add(0.0, f64::from(v));
        last = Some(t);
        n += 1;
    }
    m.fit(last?, n, m.w)
}

#[test]
fn exact_line_is_recovered_and_predicts_like_predict_linear() {
    // 2 units per second from 100 at t = 10 s.
    let fit = line((0..20).map(|i| (10_000 + i * 1000, 100.0 + 2.0 * i as f32))).unwrap();
    assert!((fit.slope_per_second() - 2.0).abs() < 1e-12);
    assert!((fit.value_at(10_000) - 100.0).abs() < 1e-9);
    // Evaluated at 40 s: intercept at the evaluation time, plus 60 s of slope.
    assert!((fit.intercept(40_000) - 160.0).abs() < 1e-9);
    assert!((fit.predict(40_000, 60_000) - 280.0).abs() < 1e-9);
    assert_eq!(fit.residual_std_dev(), 0.0);
    assert_eq!(fit.samples(), 20);
}

#[test]
fn time_to_on_a_clean_rise() {
    let fit = line((0..20).map(|i| (i * 1000, 2.0 * i as f32))).unwrap();
    // At t = 19 s the line is at 38; 100 is 31 s away. A perfect fit has a zero-width bound.
    let eta = Eta {
        ms: 31_000,
        earliest_ms: 31_000,
        latest_ms: Some(31_000),
    };
    assert_eq!(
        fit.time_to(19_000, 100.0, Crossing::Above, &EtaPolicy::DEFAULT),
        TimeTo::Eta(eta)
    );
    assert_eq!(
        fit.time_to(19_000, -5.0, Crossing::Below, &EtaPolicy::DEFAULT),
        TimeTo::Never
    );
}

#[test]
fn time_to_edge_cases() {
    let policy = EtaPolicy::DEFAULT;
    // Constant series: never.
    let flat = line((0..20).map(|i| (i * 1000, 5.0))).unwrap();
    assert_eq!(
        flat.time_to(19_000, 10.0, Crossing::Above, &policy),
        TimeTo::Never
    );
    assert_eq!(
        flat.time_to(19_000, 1.0, Crossing::Below, &policy),
        TimeTo::Never
    );
    // On the threshold counts as crossed (inclusive), for both directions.
    assert_eq!(
        flat.time_to(19_000, 5.0, Crossing::Above, &policy),
        TimeTo::AlreadyCrossed
    );
    assert_eq!(
        flat.time_to(19_000, 5.0, Crossing::Below, &policy),
        TimeTo::AlreadyCrossed
    );
    // Receding: a falling series never reaches a threshold above it.
    let falling = line((0..20).map(|i| (i * 1000, 50.0 - i as f32))).unwrap();
    assert_eq!(
        falling.time_to(19_000, 100.0, Crossing::Above, &policy),
        TimeTo::Never
    );
    // Already crossed.
    let rising = line((0..20).map(|i| (i * 1000, i as f32))).unwrap();
    assert_eq!(
        rising.time_to(19_000, 10.0, Crossing::Above, &policy),
        TimeTo::AlreadyCrossed
    );
    // Fewer than the minimum samples.
    let short = line((0..5).map(|i| (i * 1000, i as f32))).unwrap();
    assert_eq!(
        short.time_to(4_000, 10.0, Crossing::Above, &policy),
        TimeTo::NotEnoughData
    );
    // Degenerate: one sample, or all samples at one time.
    assert_eq!(line((0..1).map(|i| (i, 1.0))), None);
    assert_eq!(line((0..5).map(|i| (7, i as f32))), None);
    // NaN threshold: no estimate; infinite threshold: never reached.
    assert_eq!(
        rising.time_to(19_000, f64::NAN, Crossing::Above, &policy),
        TimeTo::PoorFit
    );
    assert_eq!(
        rising.time_to(19_000, f64::INFINITY, Crossing::Above, &policy),
        TimeTo::Never
    );
}

#[test]
fn few_samples_need_a_stronger_slope() {
    let policy = EtaPolicy::DEFAULT;
    assert!((policy.critical_t(6.0) - 6.833).abs() < 1e-3);
    assert!((policy.critical_t(60.0) - 4.283).abs() < 1e-3);
    assert_eq!(policy.critical_t(0.0), f64::INFINITY);
    // Eight noisy samples whose slope is 4 to 6.8 standard errors from zero: enough for 60 degrees
    // of freedom, not for 6.
    let values = [0.0f32, 1.3, 0.7, 2.4, 1.9, 3.1, 2.2, 3.6];
    let fit = line(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64 * 1000, v)),
    )
    .unwrap();
    let t = fit.slope_per_ms() / fit.slope_std_error();
    assert!(t > 4.0 && t < policy.critical_t(6.0), "t = {t}");
    assert_eq!(
        fit.time_to(7000, 100.0, Crossing::Above, &policy),
        TimeTo::PoorFit
    );
}

#[test]
fn pure_noise_gives_no_confident_eta() {
    let policy = EtaPolicy::DEFAULT;
    let mut noise = XorShift64Star::new(7);
    let values: std::vec::Vec<f32> = (0..10_064).map(|_| noise.gaussian() as f32).collect();
    let mut etas = 0;
    for end in 64..values.len() {
        let fit = line((end - 64..end).map(|i| (i as u64 * 1000, values[i]))).unwrap();
        match fit.time_to(end as u64 * 1000, 10.0, Crossing::Above, &policy) {
            TimeTo::Eta(_) => etas += 1,
            TimeTo::PoorFit | TimeTo::Never => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    // |t| >= 4 with 62 degrees of freedom: about 1e-4 per window on white noise.
    assert!(
        etas <= 10,
        "{etas} confident ETAs from 10000 windows of noise"
    );
}

#[test]
fn noisy_rise_gives_an_eta_whose_bound_contains_the_truth() {
    let mut noise = XorShift64Star::new(3);
    // 1 unit/s with noise sigma 2 over 64 s; truth reaches 200 at t = 200 s.
    let fit = line((0..64).map(|i| (i * 1000, i as f32 + 2.0 * noise.gaussian() as f32))).unwrap();
    match fit.time_to(63_000, 200.0, Crossing::Above, &EtaPolicy::DEFAULT) {
        TimeTo::Eta(eta) => {
            let truth = 137_000;
            assert!(
                eta.earliest_ms <= truth && truth <= eta.latest_ms.unwrap(),
                "{eta:?}"
            );
            assert!(eta.earliest_ms <= eta.ms && Some(eta.ms) <= eta.latest_ms);
        }
        other => panic!("expected an ETA, got {other:?}"),
    }
}

#[test]
fn forgetting_trend_follows_a_slope_change() {
    let mut trend = ForgettingTrend::new(60_000);
    for i in 0..600u64 {
        trend.update(i * 1000, i as f32).unwrap();
    }
    assert!((trend.fit().unwrap().slope_per_second() - 1.0).abs() < 1e-9);
    for i in 600..1200u64 {
        trend
            .update(i * 1000, 600.0 - 2.0 * (i - 600) as f32)
            .unwrap();
    }
    // Ten time constants later the old slope has almost no weight left (the corner's leverage
    // keeps a trace: 0.08 % here).
    assert!((trend.fit().unwrap().slope_per_second() + 2.0).abs() < 2e-3);
    assert_eq!(
        trend.update(5, 1.0),
        Err(SampleError::TimeWentBackwards {
            last_ms: 1_199_000,
            now_ms: 5
        })
    );
    assert_eq!(
        trend.update(1_200_000, f32::NAN),
        Err(SampleError::NonFinite)
    );
    assert_eq!(trend.samples(), 1200);
}

#[test]
fn forgetting_trend_eta_and_effective_samples() {
    let mut trend = ForgettingTrend::new(100_000);
    assert_eq!(
        trend.time_to(0, 1.0, Crossing::Above, &EtaPolicy::DEFAULT),
        TimeTo::NotEnoughData
    );
    for i in 0..1000u64 {
        trend.update(i * 1000, 0.5 * i as f32).unwrap();
    }
    let fit = trend.fit().unwrap();
    // A 100 s memory sampled once a second: (Σw)²/Σw² ≈ 2·tau/dt ≈ 200.
    assert!(
        (fit.effective_samples() - 200.0).abs() < 2.0,
        "{}",
        fit.effective_samples()
    );
    match trend.time_to(999_000, 1000.0, Crossing::Above, &EtaPolicy::DEFAULT) {
        // At 999 s the line is at 499.5; 1000 is 1001 s away at 0.5 per second.
        TimeTo::Eta(eta) => assert_eq!(eta.ms, 1_001_000),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sizes_are_part_of_the_contract() {
    assert_eq!(core::mem::size_of::<ForgettingTrend>(), 72);
    assert_eq!(core::mem::size_of::<Fit>(), 64);
}
