//! Fluctuation score: how far a sample, and the one before it, stand from a fast EWMA level, in
//! that level's own spread, from 24 bytes of state. Learned from FluxEV's first stage (EWMA
//! fluctuation extraction) and from the EWMA z-score baseline that beat the default detector on
//! the point-adjusted KPI corpora (`BENCHMARKS.md`). **Not the default**: on NAB it scores far
//! below [`AnomalyDetector`](super::AnomalyDetector) (see `BENCHMARKS.md`), so it is an option.
//!
//! Two named stages per sample:
//! 1. **Fluctuation**: `z = (x − level) / spread`, signed, against an exponentially weighted level
//!    and variance *before* the sample (weight `alpha`, warm start: the plain mean of the first
//!    `1/alpha` samples; once warmed up the residual is learned winsorised at `WINSOR` spreads, so
//!    an anomaly does not widen the spread it is measured in). The spread is floored at half the
//!    typical jump, `1e-6·|level|` and `min_std`, so a flat stretch of a quantised series does not
//!    make its next ordinary step many spreads.
//! 2. **Persistence**: one sample far out (`|z|`), or two consecutive samples on the same side
//!    (`min(|z|, |z_prev|)`), the second judged against a much lower bar. On white noise two
//!    consecutive same-side samples beyond 3σ happen about four times in 10⁶ samples, one beyond 5σ
//!    about once in 1.7·10⁶, while a real anomaly of the KPI corpora lasts more than one sample and
//!    the point-adjusted protocol credits an alarm within its first 8 samples. The score is
//!    `max(squash(|z|, single_z/2), squash(pair, pair_z/2))` with `squash(x, low) = max(0, 1 −
//!    low/x)`: **0.5 at `|z| = single_z` or at a same-side pair of `pair_z`**, rising toward 1.
//!
//! NAB's onset behaviour is not part of this score: put it through the alert rule's onset option
//! ([`Onset`](super::tail::Onset)) where an episode should be announced once.
//!
//! # Invariants
//! - Causal and O(1) per sample; no allocation; the state is [`FluxModel`], 24 bytes.
//! - The score is finite and in [0, 1] for every finite input and every configuration (out-of-domain
//!   parameters are clamped, NaN takes the default); the first `WARMUP` samples score 0.
//! - Deterministic: `f32` state, `f64` arithmetic with IEEE basic operations and `libm`.

use crate::stats::saturating_f32;
use serde::{Deserialize, Serialize};

/// Parameters of a [`FluxModel`]; one setting for every series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct FluxConfig {
    /// Weight of a new sample in the level and spread, in [2⁻¹⁶, 1]: a memory of about `1/alpha`
    /// samples.
    pub alpha: f32,
    /// `|z|` of one sample that scores 0.5 (> 0).
    pub single_z: f32,
    /// `|z|` that two consecutive same-side samples must both reach to score 0.5 (> 0).
    pub pair_z: f32,
    /// Floor of the spread, in the series' units (> 0).
    pub min_std: f32,
}

impl FluxConfig {
    /// The default: `alpha` 0.02 (a level of about 50 samples), `single_z` 5, `pair_z` 3. Chosen
    /// on Microsoft's cloud-monitoring corpus under the constraint of at most one score ≥ 0.5 in
    /// 10⁵ samples of each synthetic normal series (asserted in the tests); WSD is held out
    /// (`BENCHMARKS.md`).
    pub const DEFAULT: FluxConfig = FluxConfig {
        alpha: 0.02,
        single_z: 5.0,
        pair_z: 3.0,
        min_std: 1e-9,
    };
}

impl Default for FluxConfig {
    fn default() -> Self {
        FluxConfig::DEFAULT
    }
}

/// Samples before the score is live.
pub const WARMUP: u32 = 30;
/// Residuals beyond this many spreads are learned as this many.
const WINSOR: f64 = 8.0;
/// Each learned jump counts as at most this many typical ones.
const JUMP_CAP: f64 = 16.0;

/// The state of the fluctuation score of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FluxModel {
    level: f32,
    variance: f32,
    typical_jump: f32,
    last_value: f32,
    /// The previous sample's signed fluctuation (0 before the warm-up ends).
    last_z: f32,
    samples: u32,
}

/// One sample's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FluxScore {
    /// The score in [0, 1]; 0.5 at `single_z`, or at a same-side pair of `pair_z`.
    pub score: f32,
    /// The signed fluctuation `z`, in spreads.
    pub fluctuation: f32,
}

impl Default for FluxModel {
    fn default() -> Self {
        FluxModel::new()
    }
}

impl FluxModel {
    /// No history.
    pub const fn new() -> FluxModel {
        FluxModel {
            level: 0.0,
            variance: 0.0,
            typical_jump: 0.0,
            last_value: 0.0,
            last_z: 0.0,
            samples: 0,
        }
    }

    /// Scores `value` (finite), then learns from it.
    pub fn update(&mut self, config: &FluxConfig, value: f32) -> FluxScore {
        let p = Clamped::new(config);
        let x = f64::from(value);
        if self.samples == 0 {
            self.level = value;
            self.last_value = value;
            self.samples = 1;
            return FluxScore {
                score: 0.0,
                fluctuation: 0.0,
            };
        }
        let (residual, spread) = self.fluctuation(&p, x);
        let z = residual / spread;
        let warmed_up = self.samples >= WARMUP;
        let score = if warmed_up {
            self.persistence(&p, z)
        } else {
            0.0
        };
        self.last_z = if warmed_up { saturating_f32(z) } else { 0.0 };
        self.learn(&p, x, residual, spread, warmed_up);
        FluxScore {
            score,
            fluctuation: saturating_f32(z),
        }
    }

    /// Stage 1: the residual against the level before this sample, and the spread it is measured in.
    fn fluctuation(&self, p: &Clamped, x: f64) -> (f64, f64) {
        let level = f64::from(self.level);
        let floor = p
            .min_std
            .max(1e-6 * libm::fabs(level))
            .max(0.5 * f64::from(self.typical_jump));
        (x - level, libm::sqrt(f64::from(self.variance)).max(floor))
    }

    /// Stage 2: one sample far out, or two consecutive ones on the same side.
    fn persistence(&self, p: &Clamped, z: f64) -> f32 {
        let last = f64::from(self.last_z);
        let pair = if z * last > 0.0 {
            libm::fabs(z).min(libm::fabs(last))
        } else {
            0.0
        };
        squash(libm::fabs(z), 0.5 * p.single_z).max(squash(pair, 0.5 * p.pair_z))
    }

    /// The level, the spread and the typical jump learn the sample.
    fn learn(&mut self, p: &Clamped, x: f64, residual: f64, spread: f64, warmed_up: bool) {
        let n = f64::from(self.samples.saturating_add(1));
        let w = p.alpha.max(1.0 / n);
        let band = WINSOR * spread;
        let d = if warmed_up {
            residual.clamp(-band, band)
        } else {
            residual
        };
        self.level = saturating_f32(f64::from(self.level) + w * d);
        self.variance =
            saturating_f32(((1.0 - w) * (f64::from(self.variance) + w * d * d)).max(0.0));
        let jump = libm::fabs(x - f64::from(self.last_value));
        if jump > 0.0 {
            let typical = f64::from(self.typical_jump);
            let learned = if typical > 0.0 {
                jump.min(JUMP_CAP * typical)
            } else {
                jump
            };
            self.typical_jump = saturating_f32(typical + w * (learned - typical));
        }
        self.last_value = x as f32;
        self.samples = self.samples.saturating_add(1);
    }
}

/// `max(0, 1 − low/x)`: 0 up to `low`, 0.5 at `2·low`, toward 1 as `x` grows; 0 for NaN.
fn squash(x: f64, low: f64) -> f32 {
    if x > low {
        (1.0 - low / x) as f32
    } else {
        0.0
    }
}

/// The configuration clamped into its domain, in `f64`.
struct Clamped {
    alpha: f64,
    single_z: f64,
    pair_z: f64,
    min_std: f64,
}

impl Clamped {
    fn new(c: &FluxConfig) -> Clamped {
        let d = FluxConfig::DEFAULT;
        let or = |v: f32, default: f32| f64::from(if v.is_nan() { default } else { v });
        Clamped {
            alpha: or(c.alpha, d.alpha).clamp(1.0 / 65536.0, 1.0),
            single_z: or(c.single_z, d.single_z).clamp(1e-6, 1e30),
            pair_z: or(c.pair_z, d.pair_z).clamp(1e-6, 1e30),
            min_std: or(c.min_std, d.min_std).clamp(1e-30, 1e30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64Star;
    use std::vec::Vec;

    fn scores(values: impl Iterator<Item = f32>) -> Vec<f32> {
        let mut model = FluxModel::new();
        values
            .map(|v| model.update(&FluxConfig::DEFAULT, v).score)
            .collect()
    }

    fn alarms(scores: &[f32]) -> usize {
        scores.iter().filter(|&&s| s >= 0.5).count()
    }

    #[test]
    fn the_state_fits_the_node_budget() {
        assert_eq!(core::mem::size_of::<FluxModel>(), 24);
    }

    #[test]
    fn normal_series_raise_at_most_one_alarm_per_hundred_thousand_samples() {
        // The same four series as the default detector's quietness test, and the tail score's.
        for kind in 0..4u64 {
            let mut noise = XorShift64Star::new(100 + kind);
            let s = scores((0..100_000).map(|i| {
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
            }));
            assert!(alarms(&s) <= 1, "series {kind}: {} alarms", alarms(&s));
        }
        let mut rng = XorShift64Star::new(7);
        let white = scores((0..100_000).map(|_| 5.0 + rng.gaussian_f32()));
        assert!(
            alarms(&white) <= 1,
            "white noise: {} alarms",
            alarms(&white)
        );
    }

    #[test]
    fn a_far_sample_or_a_same_side_pair_alarms_and_one_moderate_sample_does_not() {
        let mut rng = XorShift64Star::new(3);
        let mut values: Vec<f32> = (0..3000)
            .map(|_| 100.0 + 0.1 * rng.gaussian_f32())
            .collect();
        // One sample at about 8σ: alarms at once.
        values[1000] = 100.8;
        // Two consecutive samples at about 4σ on the same side: the second alarms.
        values[1500] = 100.4;
        values[1501] = 100.4;
        // One sample at 4σ, then back: no alarm.
        values[2000] = 100.4;
        // 4σ on opposite sides: no alarm.
        values[2500] = 100.4;
        values[2501] = 99.6;
        let s = scores(values.into_iter());
        assert!(s[1000] >= 0.5, "far sample scored {}", s[1000]);
        assert!(
            s[1500] < 0.5 && s[1501] >= 0.5,
            "pair {} {}",
            s[1500],
            s[1501]
        );
        assert!(
            s[2000] < 0.5 && s[2001] < 0.5,
            "single {} {}",
            s[2000],
            s[2001]
        );
        assert!(
            s[2500] < 0.5 && s[2501] < 0.5,
            "opposite {} {}",
            s[2500],
            s[2501]
        );
        assert_eq!(alarms(&s[..1000]), 0);
    }

    #[test]
    fn the_first_samples_only_warm_up() {
        let s = scores([1.0, 1e9, -1e9, 5.0, 1e9, 1e9].into_iter());
        assert!(s.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn extreme_inputs_and_configs_stay_finite_and_in_range() {
        let wild = [f32::MAX, f32::MIN, 0.0, 1e-30, -1e-30, f32::MAX, 3.0];
        for config in [
            FluxConfig::DEFAULT,
            FluxConfig {
                alpha: f32::NAN,
                single_z: -1.0,
                pair_z: f32::NAN,
                min_std: 0.0,
            },
            FluxConfig {
                alpha: 5.0,
                single_z: f32::INFINITY,
                pair_z: 0.0,
                min_std: f32::MAX,
            },
        ] {
            let mut model = FluxModel::new();
            for i in 0..500 {
                let r = model.update(&config, wild[i % wild.len()]);
                assert!((0.0..=1.0).contains(&r.score), "{r:?}");
                assert!(r.fluctuation.is_finite(), "{r:?}");
            }
        }
    }
}
