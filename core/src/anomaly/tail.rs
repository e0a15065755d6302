//! Tail score: how improbable a sample's fluctuation is *for this series*, as a calibrated tail
//! probability, from 32 bytes of state. Learned from FluxEV (fluctuation extraction, then SPOT, a
//! peaks-over-threshold extreme-value fit) and from the EWMA z-score.
//!
//! Three named stages per sample:
//! 1. **Fluctuation**: `f = |x − level| / spread`, against an exponentially weighted level and
//!    spread *before* the sample (weight `alpha`; the spread learns residuals winsorised at
//!    `WINSOR` spreads, so an anomaly does not widen it; the spread is floored at half the typical
//!    jump, `1e-6·|level|` and `min_std`, so a flat stretch of a quantised series does not make its
//!    next ordinary step improbable).
//! 2. **Tail fit** (SPOT with bounded memory): above the fixed peak threshold `PEAK` (spreads), the
//!    excesses `y = f − PEAK` are modelled by a generalized Pareto distribution whose shape `ξ` and
//!    scale `σ` come from the exponentially weighted mean and variance of past excesses (method of
//!    moments, `ξ = ½(1 − μ²/s²)`, `σ = ½μ(1 + μ²/s²)`), and the share of samples that exceed the
//!    threshold is an exponentially weighted rate `r`. The tail probability of a fluctuation is then
//!    `p = r·(1 + ξ·y/σ)^(−1/ξ)` (`r·e^(−y/σ)` as `ξ → 0`). The fit starts from a prior (a normal
//!    series' tail) and learns only peaks that are not themselves alarms, as SPOT does.
//! 3. **Score**: `score = min(1, ln p / (2·ln p_alarm))`: 0 while `p ≥ 1`, **0.5 exactly when
//!    `p = p_alarm`** on every series, 1 at `p_alarm²`. The alarm level 0.5 therefore means the same
//!    tail probability everywhere.
//!
//! # Invariants
//! - Causal and O(1) per sample; no allocation; the state is [`TailModel`], 32 bytes.
//! - The score is finite and in [0, 1] for every finite input; the first `WARMUP` samples score 0.
//! - Deterministic: `f32` state, `f64` arithmetic with IEEE operations and `libm`.

use crate::stats::saturating_f32;
use serde::{Deserialize, Serialize};

/// Parameters of a [`TailModel`]; one setting for every series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct TailConfig {
    /// Weight of a new sample in the level and spread, in [2⁻¹⁶, 1].
    pub alpha: f32,
    /// The tail probability that scores 0.5, in (0, 0.5).
    pub p_alarm: f32,
    /// Floor of the spread, in the series' units (> 0).
    pub min_std: f32,
}

impl TailConfig {
    /// The default: `alpha` 0.01 (the EWMA baseline's memory of about 100 samples), `p_alarm` 10⁻⁵,
    /// the largest of 10⁻³…10⁻⁶ at which synthetic normal series raise at most one alarm in 10⁵
    /// samples (10⁻⁴ raises 10 on white noise, 10⁻³ 212: the fit's extrapolation from about 50
    /// peaks is not that exact). Measured on NAB and Microsoft's cloud-monitoring corpus in
    /// `BENCHMARKS.md`: the corpora would prefer 10⁻³.
    pub const DEFAULT: TailConfig = TailConfig {
        alpha: 0.01,
        p_alarm: 1e-5,
        min_std: 1e-9,
    };
}

impl Default for TailConfig {
    fn default() -> Self {
        TailConfig::DEFAULT
    }
}

/// Samples before the score is live.
pub const WARMUP: u32 = 30;
/// The peak threshold of the tail fit, in spreads.
pub const PEAK: f64 = 2.5;
/// Residuals beyond this many spreads are learned as this many.
const WINSOR: f64 = 8.0;
/// Weight of a new peak in the excess moments: a memory of about 50 peaks.
const PEAK_WEIGHT: f64 = 0.02;
/// Weight of a new sample in the exceedance rate: a memory of about 2 000 samples.
const RATE_WEIGHT: f64 = 5e-4;
/// The prior: a normal series' rate above 2.5σ, and an exponential excess of mean 0.35σ.
const PRIOR_RATE: f64 = 0.0124;
const PRIOR_MEAN_EXCESS: f64 = 0.35;
/// Shape bounds of the fit. The tail is at least exponential (ξ ≥ 0): a light tail (ξ < 0, with a
/// finite end) fitted on 50 peaks extrapolates too confidently, 60 times too many alarms on white
/// noise at 10⁻⁶.
const SHAPE_MIN: f64 = 0.0;
const SHAPE_MAX: f64 = 0.8;
/// Each learned jump counts as at most this many typical ones.
const JUMP_CAP: f64 = 16.0;

/// The state of the tail score of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TailModel {
    level: f32,
    variance: f32,
    typical_jump: f32,
    last_value: f32,
    /// Exceedance rate of `PEAK`.
    rate: f32,
    /// Mean and variance of the excesses above `PEAK`.
    excess_mean: f32,
    excess_variance: f32,
    samples: u32,
}

/// One sample's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TailScore {
    /// The calibrated score in [0, 1]; 0.5 at the tail probability `p_alarm`.
    pub score: f32,
    /// The fluctuation, in spreads.
    pub fluctuation: f32,
    /// The tail probability of the fluctuation (1 below the peak threshold).
    pub probability: f32,
}

impl Default for TailModel {
    fn default() -> Self {
        TailModel::new()
    }
}

impl TailModel {
    /// No history.
    pub const fn new() -> TailModel {
        TailModel {
            level: 0.0,
            variance: 0.0,
            typical_jump: 0.0,
            last_value: 0.0,
            rate: PRIOR_RATE as f32,
            excess_mean: PRIOR_MEAN_EXCESS as f32,
            excess_variance: (PRIOR_MEAN_EXCESS * PRIOR_MEAN_EXCESS) as f32,
            samples: 0,
        }
    }

    /// Scores `value` (finite), then learns from it.
    pub fn update(&mut self, config: &TailConfig, value: f32) -> TailScore {
        let p = Clamped::new(config);
        let x = f64::from(value);
        if self.samples == 0 {
            self.level = value;
            self.last_value = value;
            self.samples = 1;
            return TailScore {
                score: 0.0,
                fluctuation: 0.0,
                probability: 1.0,
            };
        }
        let (residual, spread) = self.fluctuation(&p, x);
        let fluctuation = libm::fabs(residual) / spread;
        let warmed_up = self.samples >= WARMUP;
        let probability = if warmed_up {
            self.tail_probability(fluctuation)
        } else {
            1.0
        };
        let score = calibrated(probability, p.p_alarm);
        if warmed_up {
            // Before, the spread is still forming and its fluctuations say nothing of the tail.
            self.learn_tail(fluctuation, score < 0.5);
        }
        self.learn_level(&p, x, residual, spread);
        TailScore {
            score,
            fluctuation: saturating_f32(fluctuation),
            probability: probability as f32,
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

    /// Stage 2: the probability of a fluctuation at least `f` under the fitted tail.
    fn tail_probability(&self, f: f64) -> f64 {
        let y = f - PEAK;
        if y.is_nan() || y <= 0.0 {
            return 1.0;
        }
        let (shape, scale) = self.gpd();
        let rate = f64::from(self.rate);
        let survival = if libm::fabs(shape) < 1e-6 {
            libm::exp(-y / scale)
        } else {
            let base = 1.0 + shape * y / scale;
            if base <= 0.0 {
                0.0
            } else {
                libm::pow(base, -1.0 / shape)
            }
        };
        (rate * survival).clamp(0.0, 1.0)
    }

    /// The generalized Pareto shape and scale of the excesses, by the method of moments.
    fn gpd(&self) -> (f64, f64) {
        let mean = f64::from(self.excess_mean).max(1e-6);
        let variance = f64::from(self.excess_variance).max(1e-12);
        let ratio = mean * mean / variance;
        let shape = (0.5 * (1.0 - ratio)).clamp(SHAPE_MIN, SHAPE_MAX);
        // The scale that keeps the mean excess `σ / (1 − ξ)` whatever the clamp did.
        (shape, mean * (1.0 - shape))
    }

    fn learn_tail(&mut self, f: f64, learnable: bool) {
        let exceeded = f > PEAK;
        let rate = f64::from(self.rate);
        self.rate = saturating_f32(rate + RATE_WEIGHT * (f64::from(u8::from(exceeded)) - rate));
        if exceeded && learnable {
            let y = f - PEAK;
            let mean = f64::from(self.excess_mean);
            let diff = y - mean;
            self.excess_mean = saturating_f32(mean + PEAK_WEIGHT * diff);
            self.excess_variance = saturating_f32(
                (1.0 - PEAK_WEIGHT) * (f64::from(self.excess_variance) + PEAK_WEIGHT * diff * diff),
            );
        }
    }

    fn learn_level(&mut self, p: &Clamped, x: f64, residual: f64, spread: f64) {
        let n = f64::from(self.samples.saturating_add(1));
        let w = p.alpha.max(1.0 / n);
        let band = WINSOR * spread;
        let d = if self.samples >= WARMUP {
            residual.clamp(-band, band)
        } else {
            residual
        };
        let level = f64::from(self.level);
        self.level = saturating_f32(level + w * d);
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

/// Stage 3: `min(1, ln p / (2 ln p_alarm))`, 0 for `p ≥ 1`.
fn calibrated(probability: f64, p_alarm: f64) -> f32 {
    if probability.is_nan() || probability >= 1.0 {
        return 0.0;
    }
    if probability <= 0.0 {
        return 1.0;
    }
    ((libm::log(probability) / (2.0 * libm::log(p_alarm))).clamp(0.0, 1.0)) as f32
}

/// The configuration clamped into its domain, in `f64`.
struct Clamped {
    alpha: f64,
    p_alarm: f64,
    min_std: f64,
}

impl Clamped {
    fn new(c: &TailConfig) -> Clamped {
        let d = TailConfig::DEFAULT;
        let or = |v: f32, default: f32| f64::from(if v.is_nan() { default } else { v });
        Clamped {
            alpha: or(c.alpha, d.alpha).clamp(1.0 / 65536.0, 1.0),
            p_alarm: or(c.p_alarm, d.p_alarm).clamp(1e-30, 0.4),
            min_std: or(c.min_std, d.min_std).max(1e-30),
        }
    }
}

/// NAB's onset behaviour as an option of the alert rule rather than of the score: once a score
/// reaches 0.5 the following `rest` scores read 0, so a long anomalous episode is announced at its
/// onset, not at every sample. Two bytes of state besides its setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Onset {
    rest: u16,
    left: u16,
}

impl Onset {
    /// A rest of `rest` samples after each alarm.
    pub const fn new(rest: u16) -> Onset {
        Onset { rest, left: 0 }
    }

    /// The score as the rule sees it: 0 while resting.
    pub fn filter(&mut self, score: f32) -> f32 {
        if self.left > 0 {
            self.left -= 1;
            0.0
        } else {
            if score >= 0.5 {
                self.left = self.rest;
            }
            score
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64Star;
    use std::vec::Vec;

    fn scores(values: impl Iterator<Item = f32>) -> Vec<f32> {
        let mut model = TailModel::new();
        values
            .map(|v| model.update(&TailConfig::DEFAULT, v).score)
            .collect()
    }

    fn alarms(scores: &[f32]) -> usize {
        scores.iter().filter(|&&s| s >= 0.5).count()
    }

    #[test]
    fn the_state_fits_the_node_budget() {
        assert_eq!(core::mem::size_of::<TailModel>(), 32);
        assert_eq!(core::mem::size_of::<Onset>(), 4);
    }

    #[test]
    fn half_is_the_alarm_probability_on_every_series() {
        assert_eq!(calibrated(1e-4, 1e-4), 0.5);
        assert_eq!(calibrated(1e-8, 1e-4), 1.0);
        assert_eq!(calibrated(1.0, 1e-4), 0.0);
        assert_eq!(calibrated(0.0, 1e-4), 1.0);
        assert_eq!(calibrated(f64::NAN, 1e-4), 0.0);
        assert!(calibrated(1e-3, 1e-4) < 0.5);
    }

    #[test]
    fn normal_series_raise_at_most_one_alarm_per_hundred_thousand_samples() {
        let n = 100_000;
        let mut rng = XorShift64Star::new(7);
        let white = scores((0..n).map(|_| 5.0 + rng.gaussian_f32()));
        let mut rng = XorShift64Star::new(8);
        let cycle = scores((0..n).map(|i| {
            10.0 + libm::sinf(i as f32 * core::f32::consts::TAU / 200.0) + 0.1 * rng.gaussian_f32()
        }));
        let mut rng = XorShift64Star::new(9);
        let ramp = scores((0..n).map(|i| i as f32 * 0.01 + rng.gaussian_f32()));
        let mut rng = XorShift64Star::new(10);
        let quantised = scores((0..n).map(|_| libm::roundf(20.0 + 0.3 * rng.gaussian_f32())));
        for (name, s) in [
            ("white noise", &white),
            ("cycle", &cycle),
            ("ramp", &ramp),
            ("quantised", &quantised),
        ] {
            assert!(alarms(s) <= 1, "{name}: {} alarms", alarms(s));
        }
    }

    #[test]
    fn a_spike_and_a_step_alarm_at_their_first_sample() {
        let mut rng = XorShift64Star::new(3);
        let mut values: Vec<f32> = (0..2000).map(|_| 100.0 + rng.gaussian_f32()).collect();
        values[1500] = 112.0;
        for v in &mut values[1800..] {
            *v += 10.0;
        }
        let s = scores(values.into_iter());
        assert!(s[1500] >= 0.5, "spike scored {}", s[1500]);
        assert!(s[1800] >= 0.5, "step scored {}", s[1800]);
        assert_eq!(alarms(&s[..1500]), 0);
    }

    #[test]
    fn the_first_samples_only_warm_up() {
        let s = scores([1.0, 1e9, -1e9, 5.0].into_iter());
        assert!(s.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn extreme_inputs_and_configs_stay_finite_and_in_range() {
        let wild = [f32::MAX, f32::MIN, 0.0, 1e-30, -1e-30, f32::MAX, 3.0];
        for config in [
            TailConfig::DEFAULT,
            TailConfig {
                alpha: f32::NAN,
                p_alarm: -1.0,
                min_std: 0.0,
            },
            TailConfig {
                alpha: 5.0,
                p_alarm: f32::INFINITY,
                min_std: f32::MAX,
            },
        ] {
            let mut model = TailModel::new();
            for i in 0..500 {
                let r = model.update(&config, wild[i % wild.len()]);
                assert!((0.0..=1.0).contains(&r.score), "{r:?}");
                assert!(
                    r.fluctuation.is_finite() && r.probability.is_finite(),
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn the_onset_rule_rests_after_an_alarm() {
        let mut onset = Onset::new(2);
        let seen: Vec<f32> = [0.9, 0.9, 0.9, 0.9, 0.1]
            .iter()
            .map(|&s| onset.filter(s))
            .collect();
        assert_eq!(seen, [0.9, 0.0, 0.0, 0.9, 0.0]);
    }
}
