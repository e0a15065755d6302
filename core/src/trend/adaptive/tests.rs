//! Unit and property tests of the regime-aware trend: exact lines, constant series, a leak after
//! a plateau, acceleration either way, and the state's size.

use super::*;
use crate::rng::XorShift64Star;
use proptest::prelude::*;

const STEP_MS: u64 = 300_000;
const HOUR: u64 = 3_600_000;

fn fed(points: impl Iterator<Item = (u64, f32)>) -> AdaptiveTrend {
    let mut trend = AdaptiveTrend::new(AdaptiveConfig::DEFAULT);
    for (t, v) in points {
        assert_eq!(trend.update(t, v), Ok(()));
    }
    trend
}

/// The forecast's estimate, or 0 when it gives none (every caller asserts a bound a real ETA
/// meets and 0 does not).
fn eta_ms(forecast: Forecast) -> u64 {
    match forecast.time_to {
        TimeTo::Eta(eta) => eta.ms,
        _ => 0,
    }
}

#[test]
fn the_state_is_fixed_and_small() {
    assert_eq!(core::mem::size_of::<AdaptiveTrend>(), 120);
}

#[test]
fn an_exact_line_is_forecast_exactly_and_not_as_an_acceleration() {
    // 1 % an hour from 20 %, a sample every 5 minutes for 2 days: 100 % at hour 80.
    let trend = fed((0..=576).map(|i| (i * STEP_MS, 20.0 + i as f32 / 12.0)));
    let last = 576 * STEP_MS;
    let forecast = trend.forecast(last, 100.0, Crossing::Above, &EtaPolicy::DEFAULT);
    assert!(!forecast.accelerating);
    let expected = 80 * HOUR - last;
    let got = eta_ms(forecast);
    assert!(got.abs_diff(expected) < 60_000, "{got} vs {expected}");
    assert_eq!(trend.restarts(), 0);
}

#[test]
fn a_leak_after_days_of_plateau_is_forecast_from_the_leak() {
    // Three days at 40 % with noise and a daily cycle of ±1 %, then 2 % an hour.
    let mut rng = XorShift64Star::new(11);
    let leak_start = 72 * HOUR;
    let value = |t: u64, noise: f64| {
        let day = t as f64 / (24 * HOUR) as f64;
        let leak = t.saturating_sub(leak_start) as f64 / HOUR as f64 * 2.0;
        40.0 + libm::sin(core::f64::consts::TAU * day) + leak + noise
    };
    let mut trend = AdaptiveTrend::new(AdaptiveConfig::DEFAULT);
    let mut forgetting = super::super::ForgettingTrend::new(24 * HOUR as u32);
    let asked = leak_start + 15 * HOUR; // 70 % now, full after 30 h of leak
    for i in 0..=asked / STEP_MS {
        let t = i * STEP_MS;
        let v = value(t, 0.3 * rng.gaussian()) as f32;
        assert_eq!(trend.update(t, v), Ok(()));
        assert_eq!(forgetting.update(t, v), Ok(()));
    }
    assert!(trend.restarts() >= 1);
    let actual = 15 * HOUR;
    let got = eta_ms(trend.forecast(asked, 100.0, Crossing::Above, &EtaPolicy::DEFAULT));
    let error = got.abs_diff(actual) as f64 / actual as f64;
    assert!(error < 0.25, "{got} vs {actual}");
    // Without the restart, a day's memory still holds the plateau and answers far too late.
    match forgetting.time_to(asked, 100.0, Crossing::Above, &EtaPolicy::DEFAULT) {
        TimeTo::Eta(eta) => assert!(eta.ms.abs_diff(actual) as f64 / actual as f64 > error),
        other => assert!(
            matches!(other, TimeTo::PoorFit | TimeTo::Never),
            "{other:?}"
        ),
    }
}

/// A parabola `v(h) = from + rate·h + bend·h²` (h in hours) every 5 minutes for `hours`.
fn parabola(from: f64, rate: f64, bend: f64, hours: u64) -> AdaptiveTrend {
    let mut rng = XorShift64Star::new(5);
    fed((0..=hours * 12).map(|i| {
        let h = i as f64 / 12.0;
        (
            i * STEP_MS,
            (from + rate * h + bend * h * h + 0.05 * rng.gaussian()) as f32,
        )
    }))
}

#[test]
fn a_significant_acceleration_is_flagged_and_forecast_early_rather_than_late() -> Result<(), String>
{
    // 10 % + 0.2 %/h + 0.01 %/h²: at hour 48, 42.6 % rising 1.16 %/h; 100 % at hour 88.2.
    let trend = parabola(10.0, 0.2, 0.01, 48);
    let now = 48 * HOUR;
    let forecast = trend.forecast(now, 100.0, Crossing::Above, &EtaPolicy::DEFAULT);
    assert!(forecast.accelerating);
    let eta = match forecast.time_to {
        TimeTo::Eta(eta) => eta,
        other => return Err(format!("no ETA: {other:?}")),
    };
    let actual = 40.2 * HOUR as f64;
    assert!((eta.ms as f64 - actual).abs() / actual < 0.1, "{eta:?}");
    // The bound: earlier at the curvature's upper limit, the current slope's line at the latest.
    let latest = eta.latest_ms.unwrap_or(0);
    assert!(eta.earliest_ms <= eta.ms && eta.ms < latest, "{eta:?}");
    // The straight line through the samples would be much later.
    let linear = trend
        .line()
        .map(|l| l.time_to(now, 100.0, Crossing::Above, &EtaPolicy::DEFAULT));
    match linear {
        Some(TimeTo::Eta(l)) => assert!(l.ms > latest),
        other => return Err(format!("no linear ETA: {other:?}")),
    }
    Ok(())
}

#[test]
fn a_falling_acceleration_is_mirrored_and_a_slowing_one_is_not_flagged() {
    let falling = parabola(90.0, -0.2, -0.01, 48);
    let forecast = falling.forecast(48 * HOUR, 0.0, Crossing::Below, &EtaPolicy::DEFAULT);
    assert!(forecast.accelerating, "{forecast:?}");
    // Rising but slowing down: the line answers, never the parabola.
    let slowing = parabola(10.0, 1.2, -0.01, 48);
    let forecast = slowing.forecast(48 * HOUR, 100.0, Crossing::Above, &EtaPolicy::DEFAULT);
    assert!(!forecast.accelerating, "{forecast:?}");
}

#[test]
fn a_refused_sample_changes_nothing() {
    let mut trend = fed((0..20).map(|i| (i * STEP_MS, i as f32)));
    let before = trend;
    assert!(trend.update(STEP_MS, 1.0).is_err());
    assert!(trend.update(30 * STEP_MS, f32::NAN).is_err());
    assert_eq!(trend, before);
}

proptest! {
    #[test]
    fn a_constant_series_never_forecasts_a_crossing(
        level in -1.0e6f32..1.0e6,
        steps in proptest::collection::vec(1u64..10_000_000, 2..400),
        threshold in -2.0e6f64..2.0e6,
        above in any::<bool>(),
    ) {
        let mut t = 0;
        let trend = fed(steps.iter().map(|dt| { t += dt; (t, level) }));
        let crossing = if above { Crossing::Above } else { Crossing::Below };
        let forecast = trend.forecast(t, threshold, crossing, &EtaPolicy::DEFAULT);
        prop_assert!(!matches!(forecast.time_to, TimeTo::Eta(_)), "{:?}", forecast);
        prop_assert!(!forecast.accelerating);
        prop_assert_eq!(trend.restarts(), 0);
    }

    #[test]
    fn a_pure_line_is_forecast_exactly(
        start in -100.0f64..100.0,
        rate_per_hour in prop_oneof![-5.0f64..-0.01, 0.01f64..5.0],
        step_ms in 1_000u64..3_600_000,
        n in 16u64..2_000,
        ahead in 1.0f64..100.0,
    ) {
        // Values exactly representable as f32 would limit the rates; the error allowed is f32's.
        let value = |i: u64| start + rate_per_hour * (i * step_ms) as f64 / HOUR as f64;
        let trend = fed((0..n).map(|i| (i * step_ms, value(i) as f32)));
        let now = (n - 1) * step_ms;
        let threshold = value(n - 1) + rate_per_hour.signum() * ahead;
        let crossing = if rate_per_hour > 0.0 { Crossing::Above } else { Crossing::Below };
        let forecast = trend.forecast(now, threshold, crossing, &EtaPolicy::DEFAULT);
        let expected = ahead / rate_per_hour.abs() * HOUR as f64;
        prop_assert!(!forecast.accelerating, "{:?}", forecast);
        match forecast.time_to {
            TimeTo::Eta(eta) => {
                let error = (eta.ms as f64 - expected).abs();
                // f32 rounding of the values: a few ulps of the level, over the slope; and the
                // slope itself, fitted to values rounded by an ulp or so, is off by about that
                // much over the change the samples span.
                let level_ulps = 1e-6 * (1.0 + value(n - 1).abs());
                let span_change = (value(n - 1) - value(0)).abs();
                let tolerance = 1e-5 * (1.0 + value(n - 1).abs()) / rate_per_hour.abs() * HOUR as f64
                    + expected * level_ulps / span_change;
                prop_assert!(error <= tolerance + 1.0, "{} vs {}", eta.ms, expected);
            }
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

/// A fill of 1 % an hour from 20 % under a daily cycle of ±2 %, sampled every `step_ms`.
fn fill_with_cycle(step_ms: u64, hours: u64) -> AdaptiveTrend {
    let steps = hours * HOUR / step_ms;
    fed((0..=steps).map(|i| {
        let t = i * step_ms;
        let h = t as f64 / HOUR as f64;
        let v = 20.0 + h + 2.0 * libm::sin(core::f64::consts::TAU * h / 24.0);
        (t, v as f32)
    }))
}

#[test]
fn the_memory_is_a_time_so_the_sampling_rate_does_not_change_the_forecast() {
    // Three days of the same curve read every 10 s (a node) and every 5 minutes (a CSV).
    let last = 72 * HOUR;
    let policy = EtaPolicy::DEFAULT;
    let node = fill_with_cycle(10_000, 72).forecast(last, 100.0, Crossing::Above, &policy);
    let csv = fill_with_cycle(STEP_MS, 72).forecast(last, 100.0, Crossing::Above, &policy);
    let (node, csv) = (eta_ms(node), eta_ms(csv));
    assert!(node > 0 && csv > 0, "{node} {csv}");
    let apart = node.abs_diff(csv) as f64 / csv as f64;
    assert!(apart < 0.02, "node {node} ms, csv {csv} ms");
}

#[test]
fn a_rise_that_began_minutes_ago_is_not_called_an_acceleration() {
    // The demo's power creep: 180 W, flat for 10 minutes, then 20 W an hour, ±3 W noise, read
    // every 10 s; 300 W is reached 6 h 10 min in. A parabola through the kink would cross within
    // the hour; the forecast stays the line's and within a quarter of the truth.
    let mut rng = XorShift64Star::new(3);
    let mut trend = AdaptiveTrend::new(AdaptiveConfig::DEFAULT);
    let full_ms = 6 * HOUR + 600_000;
    for i in 0..=(3 * HOUR / 10_000) {
        let t = i * 10_000;
        let creep = t.saturating_sub(600_000) as f64 / HOUR as f64 * 20.0;
        let v = 180.0 + creep + 3.0 * rng.gaussian();
        assert_eq!(trend.update(t, v as f32), Ok(()));
        if t >= HOUR && t % 600_000 == 0 {
            let forecast = trend.forecast(t, 300.0, Crossing::Above, &EtaPolicy::DEFAULT);
            assert!(!forecast.accelerating, "at {t} ms: {forecast:?}");
            let actual = full_ms - t;
            let error = eta_ms(forecast).abs_diff(actual) as f64 / actual as f64;
            assert!(error < 0.25, "at {t} ms: {forecast:?} vs {actual} ms");
        }
    }
}
