//! Long-stream accuracy of the trend estimators against f64 references recomputed from scratch:
//! 10^6-sample streams, so any drift in the incremental state would show.

use proptest::prelude::*;
use rackwatch_core::trend::ForgettingTrend;
use rackwatch_core::window::Window;

const STREAM: usize = 1_000_000;
const CHECK_EVERY: usize = 9_973;

/// Deterministic noise in [-1, 1).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// Weighted least squares in f64, two-pass: (slope per ms, value at `at_ms`, slope scale).
fn reference(samples: &[(u64, f32)], weight: impl Fn(u64) -> f64, at_ms: u64) -> (f64, f64, f64) {
    let w: Vec<f64> = samples.iter().map(|s| weight(s.0)).collect();
    let sw: f64 = w.iter().sum();
    let x = |t: u64| t as f64 - at_ms as f64;
    let mx = samples.iter().zip(&w).map(|(s, w)| w * x(s.0)).sum::<f64>() / sw;
    let my = samples
        .iter()
        .zip(&w)
        .map(|(s, w)| w * f64::from(s.1))
        .sum::<f64>()
        / sw;
    let sxx: f64 = samples
        .iter()
        .zip(&w)
        .map(|(s, w)| w * (x(s.0) - mx).powi(2))
        .sum();
    let sxy: f64 = samples
        .iter()
        .zip(&w)
        .map(|(s, w)| w * (x(s.0) - mx) * (f64::from(s.1) - my))
        .sum();
    let syy: f64 = samples
        .iter()
        .zip(&w)
        .map(|(s, w)| w * (f64::from(s.1) - my).powi(2))
        .sum();
    let slope = sxy / sxx;
    // The slope the data can express: std(y) / std(t). Relative errors are taken against it so that a
    // slope that happens to be near zero is not judged by an impossible standard.
    let scale = (syy / sxx).sqrt();
    (slope, my - slope * mx, scale)
}

fn close(got: f64, want: f64, scale: f64) -> bool {
    (got - want).abs() <= 1e-4 * (want.abs().max(scale))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn windowed_and_forgetting_fits_match_f64_references_over_a_million_samples(
        seed in any::<u64>(),
        offset in -1e4f64..1e4,
        slope_per_hour in -50f64..50.0,
        noise in 0.0f64..5.0,
        interval_ms in 100u64..60_000,
        jitter in 0.0f64..0.5,
    ) {
        let mut rng = Lcg(seed);
        let mut w64 = Window::<64>::new();
        let mut w1024 = Window::<1024>::new();
        let tau_ms = (interval_ms * 200) as u32;
        let mut forgetting = ForgettingTrend::new(tau_ms);
        let mut history: Vec<(u64, f32)> = Vec::with_capacity(STREAM);
        let mut t = 1_700_000_000_000u64; // epoch milliseconds: large absolute times on purpose
        let t0 = t;
        for i in 0..STREAM {
            t += (interval_ms as f64 * (1.0 + jitter * rng.next())).max(1.0) as u64;
            let hours = (t - t0) as f64 / 3.6e6;
            // Keep the series within ±1e5 so f32 values keep their precision.
            let value = (offset + (slope_per_hour * hours) % 1e5 + noise * rng.next()) as f32;
            w64.push(t, value).unwrap();
            w1024.push(t, value).unwrap();
            forgetting.update(t, value).unwrap();
            history.push((t, value));
            if i % CHECK_EVERY != CHECK_EVERY - 1 && i != STREAM - 1 {
                continue;
            }
            for (fit, n) in [(w64.fit().unwrap(), 64), (w1024.fit().unwrap(), 1024)] {
                let recent = &history[history.len() - n.min(history.len())..];
                let (slope, level, scale) = reference(recent, |_| 1.0, t);
                prop_assert!(close(fit.slope_per_ms(), slope, scale), "window {n} at {i}: slope {} vs {slope}", fit.slope_per_ms());
                prop_assert!(close(fit.intercept(t), level, 1.0), "window {n} at {i}: level {} vs {level}", fit.intercept(t));
            }
            // Forgetting: samples older than 40 tau weigh below 1e-17 and are left out of the reference.
            let horizon = 40 * u64::from(tau_ms);
            let start = history.partition_point(|s| t - s.0 > horizon);
            let (slope, level, scale) = reference(&history[start..], |ts| (-((t - ts) as f64) / f64::from(tau_ms)).exp(), t);
            let fit = forgetting.fit().unwrap();
            prop_assert!(close(fit.slope_per_ms(), slope, scale), "forgetting at {i}: slope {} vs {slope}", fit.slope_per_ms());
            prop_assert!(close(fit.intercept(t), level, 1.0), "forgetting at {i}: level {} vs {level}", fit.intercept(t));
        }
    }
}
