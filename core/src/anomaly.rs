//! Anomaly score: how unusual each sample is, in [0, 1], from a few words of state.
//!
//! Components, each reported on its own so a rule or a display can say why:
//! - **deviation** from an adaptive baseline: an exponentially weighted mean and variance that learn
//!   from samples winsorised at ±2σ, and not while a level shift is building, so outliers and shifts
//!   cannot drag it after them while a wider normal spread is still learned;
//! - **level shift**: the gap between a fast exponentially weighted mean (noise averaged out) and the
//!   baseline, measured against that gap's own learned spread: on white noise the gap stays near zero
//!   and a 3σ step stands out within a few samples, while a daily cycle that the baseline follows with
//!   a lag produces a gap that is normal for that series. Once confirmed, the baseline moves to the new
//!   level, which becomes the new normal. (A CUSUM was rejected: smooth cycles give runs of same-sign
//!   residuals, on which it always fires.)
//! - **spike**: a one-sample jump far above the typical sample-to-sample change;
//! - **stuck**: the same value, bit for bit, for `stuck_samples` samples from a sensor that varied
//!   before (a series constant from its first sample is not called stuck);
//! - **out of range** and **slew rate**: physical limits from the configuration, scored 1.
//!
//! The score is the largest component. Statistical components ramp linearly from 0 at their "low"
//! level to 1 at their "high" level (e.g. z from 3 to 6), so a score near 1 means "certainly", and
//! they are 0 during the first `warmup_samples` samples, while the baseline forms. Range and slew are
//! absolute and apply from the first sample.
//!
//! Invariants: causal (a sample's score depends only on it and earlier samples); O(1) per sample;
//! `size_of::<AnomalyDetector>() == 128` including its configuration; deterministic (`libm` only); the
//! state serialises, so a node restores it and continues exactly; a refused sample ([`SampleError`])
//! leaves the state unchanged.

use crate::stats::{saturating_f32, EwStats, Smoothing};
use crate::SampleError;
use serde::{Deserialize, Serialize};

/// Parameters of an [`AnomalyDetector`]: plain data, shared by config files and firmware constants.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnomalyConfig {
    /// Weight of a new sample in the baseline (the memory is about `1 / baseline_alpha` samples).
    pub baseline_alpha: f32,
    /// Samples before the statistical components may score.
    pub warmup_samples: u16,
    /// |z| at which the deviation score starts to rise above 0.
    pub z_low: f32,
    /// |z| at which the deviation score reaches 1.
    pub z_high: f32,
    /// Weight of a new sample in the fast mean that detects level shifts.
    pub shift_alpha: f32,
    /// Gap between the fast mean and the baseline, in units of the gap's learned spread, at which the
    /// level-shift score starts to rise above 0.
    pub shift_low: f32,
    /// The gap at which the level-shift score reaches 1 and the shift is confirmed.
    pub shift_high: f32,
    /// A jump this many times the typical sample-to-sample change starts the spike score; twice this
    /// many makes it 1.
    pub spike_ratio: f32,
    /// Identical consecutive samples that make a varying sensor "stuck"; 0 disables.
    pub stuck_samples: u16,
    /// The standard deviation never counts as less than this (absolute), so a flat series does not
    /// turn rounding into anomalies.
    pub min_std: f32,
    /// Physical lower limit, if any (inclusive: the limit itself is in range).
    pub min: Option<f32>,
    /// Physical upper limit, if any (inclusive).
    pub max: Option<f32>,
    /// Largest plausible |change| per second, if any (inclusive).
    pub max_slew_per_s: Option<f32>,
}

impl AnomalyConfig {
    /// General-purpose defaults, one setting for every series: a baseline of about 100 samples, a
    /// 20-sample warm-up, z from 3 to 6, level shifts from 4 to 6 gap spreads on a 10-sample fast mean,
    /// spikes at 6× the typical change, stuck after 30 identical samples, no physical limits.
    pub const DEFAULT: AnomalyConfig = AnomalyConfig {
        baseline_alpha: 0.01,
        warmup_samples: 20,
        z_low: 3.0,
        z_high: 6.0,
        shift_alpha: 0.1,
        shift_low: 4.0,
        shift_high: 6.0,
        spike_ratio: 6.0,
        stuck_samples: 30,
        min_std: 1e-6,
        min: None,
        max: None,
        max_slew_per_s: None,
    };

    /// The defaults with physical limits set.
    pub const fn with_limits(
        min: Option<f32>,
        max: Option<f32>,
        max_slew_per_s: Option<f32>,
    ) -> AnomalyConfig {
        AnomalyConfig {
            min,
            max,
            max_slew_per_s,
            ..AnomalyConfig::DEFAULT
        }
    }
}

impl Default for AnomalyConfig {
    fn default() -> Self {
        AnomalyConfig::DEFAULT
    }
}

/// Which component drove a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnomalyKind {
    /// Nothing unusual (score 0).
    None,
    /// Far from the baseline.
    Deviation,
    /// A sustained shift of level.
    LevelShift,
    /// A one-sample jump.
    Spike,
    /// The sensor repeats one value.
    Stuck,
    /// Outside the physical limits.
    OutOfRange,
    /// Changing faster than physically plausible.
    SlewRate,
}

/// The score of one sample and its components, each in [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnomalyScore {
    /// The largest component.
    pub score: f32,
    /// Distance from the baseline.
    pub deviation: f32,
    /// Progress toward a confirmed level shift.
    pub level_shift: f32,
    /// Size of the jump from the previous sample.
    pub spike: f32,
    /// 1 while the sensor is stuck.
    pub stuck: f32,
    /// The value is outside the physical limits.
    pub out_of_range: bool,
    /// The value changed faster than the slew limit.
    pub slew: bool,
}

impl AnomalyScore {
    const ZERO: AnomalyScore = AnomalyScore {
        score: 0.0,
        deviation: 0.0,
        level_shift: 0.0,
        spike: 0.0,
        stuck: 0.0,
        out_of_range: false,
        slew: false,
    };

    /// The component behind `score`; physical violations first, then the largest statistical one.
    pub fn dominant(&self) -> AnomalyKind {
        if self.out_of_range {
            return AnomalyKind::OutOfRange;
        }
        if self.slew {
            return AnomalyKind::SlewRate;
        }
        let candidates = [
            (self.stuck, AnomalyKind::Stuck),
            (self.level_shift, AnomalyKind::LevelShift),
            (self.spike, AnomalyKind::Spike),
            (self.deviation, AnomalyKind::Deviation),
        ];
        let mut best = (0.0, AnomalyKind::None);
        for (value, kind) in candidates {
            if value > best.0 {
                best = (value, kind);
            }
        }
        best.1
    }
}

/// Scores samples of one series. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AnomalyDetector {
    config: AnomalyConfig,
    baseline: EwStats,
    /// Fast exponentially weighted mean, for level shifts.
    fast_mean: f32,
    /// Learned variance of the gap between the fast mean and the baseline.
    gap_variance: f32,
    /// Exponentially weighted mean of |sample-to-sample change|.
    typical_change: f32,
    last_value: f32,
    last_ms: u64,
    samples: u32,
    same_run: u16,
    has_varied: bool,
}

/// 0 at `low`, 1 at `high`, linear between; 0 for NaN.
fn ramp(x: f32, low: f32, high: f32) -> f32 {
    let r = (x - low) / (high - low);
    if r.is_nan() {
        0.0
    } else {
        r.clamp(0.0, 1.0)
    }
}

impl AnomalyDetector {
    /// A detector with no history.
    pub fn new(config: AnomalyConfig) -> Self {
        AnomalyDetector {
            config,
            baseline: EwStats::new(Smoothing::Alpha(config.baseline_alpha)),
            fast_mean: 0.0,
            gap_variance: 0.0,
            typical_change: 0.0,
            last_value: 0.0,
            last_ms: 0,
            samples: 0,
            same_run: 0,
            has_varied: false,
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Samples scored so far, saturating.
    pub const fn samples(&self) -> u32 {
        self.samples
    }

    /// The baseline's mean and standard deviation, once there is a sample.
    pub fn baseline(&self) -> Option<(f32, f32)> {
        Some((self.baseline.mean()?, self.baseline.std_dev()?))
    }

    /// Scores a sample taken at `now_ms` and learns from it.
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<AnomalyScore, SampleError> {
        let previous = (self.samples > 0).then_some((self.last_ms, self.last_value));
        SampleError::check(previous.map(|(t, _)| t), now_ms, value)?;
        let c = self.config;
        let mut score = AnomalyScore::ZERO;
        score.out_of_range =
            c.min.is_some_and(|min| value < min) || c.max.is_some_and(|max| value > max);
        if let (Some((t, prev)), Some(limit)) = (previous, c.max_slew_per_s) {
            let dt_s = (now_ms - t) as f32 / 1000.0;
            let change = libm::fabsf(value - prev);
            // Two samples at one instant that differ have an infinite rate.
            score.slew = if dt_s > 0.0 {
                change / dt_s > limit
            } else {
                change > 0.0
            };
        }

        let warmed_up = self.samples >= u32::from(c.warmup_samples);
        let (mean, std) = self.baseline().unwrap_or((value, 0.0));
        let std = std.max(c.min_std).max(1e-6 * libm::fabsf(mean));
        let z = (value - mean) / std;
        let change = previous.map_or(0.0, |(_, prev)| {
            saturating_f32(libm::fabs(f64::from(value) - f64::from(prev)))
        });
        if warmed_up {
            score.deviation = ramp(libm::fabsf(z), c.z_low, c.z_high);
            score.spike = ramp(
                change / self.typical_change.max(c.min_std),
                c.spike_ratio,
                2.0 * c.spike_ratio,
            );
            // A single wild sample moves the fast mean by a bounded step.
            // In f64, stored saturated, so that extreme finite inputs cannot overflow the state.
            let (mean64, std64) = (f64::from(mean), f64::from(std));
            let bounded = f64::from(value)
                .max(mean64 - 4.0 * std64)
                .min(mean64 + 4.0 * std64);
            let fast = f64::from(self.fast_mean);
            self.fast_mean = saturating_f32(fast + f64::from(c.shift_alpha) * (bounded - fast));
            let gap = f64::from(self.fast_mean) - mean64;
            let gap_spread = libm::sqrt(f64::from(self.gap_variance)).max(0.1 * std64);
            score.level_shift = ramp(
                (libm::fabs(gap) / gap_spread) as f32,
                c.shift_low,
                c.shift_high,
            );
            if score.level_shift == 0.0 {
                let limit = f64::from(c.shift_low) * gap_spread;
                let learned = gap.max(-limit).min(limit) * gap;
                let variance = f64::from(self.gap_variance);
                self.gap_variance =
                    saturating_f32(variance + f64::from(c.baseline_alpha) * (learned - variance));
            }
        }

        let repeated = previous.is_some_and(|(_, prev)| prev.to_bits() == value.to_bits());
        self.same_run = if repeated {
            self.same_run.saturating_add(1)
        } else {
            0
        };
        self.has_varied |= previous.is_some() && !repeated;
        if c.stuck_samples > 0 && self.has_varied && self.same_run >= c.stuck_samples {
            score.stuck = 1.0;
        }
        score.score = score
            .deviation
            .max(score.level_shift)
            .max(score.spike)
            .max(score.stuck);
        if score.out_of_range || score.slew {
            score.score = 1.0;
        }

        // Learn. A confirmed shift moves the baseline to the new level, keeping its spread; otherwise
        // the baseline learns only from samples that do not look anomalous.
        if score.level_shift >= 1.0 {
            self.baseline = EwStats::seeded(
                Smoothing::Alpha(c.baseline_alpha),
                now_ms,
                self.fast_mean,
                std * std,
            );
        } else if !warmed_up {
            let _ = self.baseline.update(now_ms, value);
        } else if score.level_shift == 0.0 {
            // Winsorised at ±2σ (Huber): one large residual moves the variance by at most 4σ²·alpha,
            // so a developing shift cannot inflate the spread it is measured against.
            let learned = value.max(mean - 2.0 * std).min(mean + 2.0 * std);
            let _ = self.baseline.update(now_ms, learned);
        }
        if !warmed_up {
            self.fast_mean = self.baseline.mean().unwrap_or(value);
            // The gap's spread on white noise: the fast mean's variance, a / (2 - a) · σ².
            self.gap_variance =
                self.baseline.variance().unwrap_or(0.0) * c.shift_alpha / (2.0 - c.shift_alpha);
        }
        if previous.is_some() {
            let weight = if warmed_up {
                c.shift_alpha
            } else {
                1.0 / self.samples as f32
            };
            let learned = if warmed_up {
                change.min(4.0 * self.typical_change.max(c.min_std))
            } else {
                change
            };
            let typical = f64::from(self.typical_change);
            self.typical_change =
                saturating_f32(typical + f64::from(weight) * (f64::from(learned) - typical));
        }
        self.last_value = value;
        self.last_ms = now_ms;
        self.samples = self.samples.saturating_add(1);
        Ok(score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Noise;

    /// A sine of period 200 samples, amplitude 1, with noise sigma 0.1, one sample a second.
    fn signal(n: usize, seed: u64) -> std::vec::Vec<f32> {
        let mut noise = Noise::new(seed);
        (0..n)
            .map(|i| {
                10.0 + libm::sinf(i as f32 * core::f32::consts::TAU / 200.0)
                    + 0.1 * noise.gaussian() as f32
            })
            .collect()
    }

    fn run(detector: &mut AnomalyDetector, values: &[f32]) -> std::vec::Vec<AnomalyScore> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| detector.update(i as u64 * 1000, v).unwrap())
            .collect()
    }

    #[test]
    fn size_is_part_of_the_contract() {
        assert_eq!(core::mem::size_of::<AnomalyDetector>(), 128);
        // The per-metric budget: a 64-sample window with its statistics and trend, plus this.
        assert!(
            core::mem::size_of::<crate::window::Window<64>>()
                + core::mem::size_of::<AnomalyDetector>()
                <= 1024
        );
    }

    #[test]
    fn quiet_signal_scores_low_and_a_spike_scores_high_at_its_sample() {
        let mut values = signal(2000, 1);
        values[1500] += 3.0;
        let scores = run(&mut AnomalyDetector::new(AnomalyConfig::DEFAULT), &values);
        assert!(
            scores[..20].iter().all(|s| s.score == 0.0),
            "warm-up scores 0"
        );
        let spike = scores[1500];
        assert!(spike.score >= 0.9 && spike.spike >= 0.9, "{spike:?}");
        assert_eq!(spike.dominant(), AnomalyKind::Spike);
        let false_alarms = scores[300..]
            .iter()
            .enumerate()
            .filter(|&(i, s)| i + 300 != 1500 && i + 300 != 1501 && s.score >= 0.5)
            .count();
        assert!(
            false_alarms <= 5,
            "{false_alarms} samples of a quiet signal scored >= 0.5"
        );
    }

    #[test]
    fn a_sustained_three_sigma_shift_is_confirmed_then_becomes_the_new_normal() {
        let mut noise = Noise::new(2);
        let values: std::vec::Vec<f32> = (0..3000)
            .map(|i| 5.0 + if i >= 1000 { 0.3 } else { 0.0 } + 0.1 * noise.gaussian() as f32)
            .collect();
        let scores = run(&mut AnomalyDetector::new(AnomalyConfig::DEFAULT), &values);
        // A 3σ shift: single samples sit low on the deviation ramp (z 3 to 6); the fast mean averages
        // the noise away and confirms it.
        let confirmed = scores[1000..]
            .iter()
            .position(|s| s.level_shift >= 1.0)
            .expect("shift confirmed");
        assert!(confirmed < 30, "confirmed after {confirmed} samples");
        assert!(scores[1000 + confirmed].dominant() == AnomalyKind::LevelShift);
        assert!(
            scores[1300..].iter().filter(|s| s.score >= 0.5).count() <= 5,
            "the new level became normal"
        );
        assert!(
            scores[100..1000].iter().all(|s| s.level_shift < 1.0),
            "no shift confirmed before it happened"
        );
    }

    #[test]
    fn a_varying_sensor_that_freezes_is_stuck_and_a_constant_one_is_not() {
        let mut values = signal(500, 3);
        let frozen = values[300];
        values[300..].iter_mut().for_each(|v| *v = frozen);
        let scores = run(&mut AnomalyDetector::new(AnomalyConfig::DEFAULT), &values);
        assert!(scores[300..330].iter().all(|s| s.stuck == 0.0));
        assert!(scores[330..]
            .iter()
            .all(|s| s.stuck == 1.0 && s.score == 1.0));
        assert_eq!(scores[400].dominant(), AnomalyKind::Stuck);

        let constant = std::vec![42.0f32; 500];
        let scores = run(&mut AnomalyDetector::new(AnomalyConfig::DEFAULT), &constant);
        assert!(scores.iter().all(|s| s.score == 0.0));
    }

    #[test]
    fn physical_limits_score_one_from_the_first_sample_and_are_inclusive() {
        let config = AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(1.0));
        let mut d = AnomalyDetector::new(config);
        let s = d.update(0, 90.0).unwrap();
        assert!(s.out_of_range && s.score == 1.0 && s.dominant() == AnomalyKind::OutOfRange);
        let s = d.update(1000, 85.0).unwrap();
        assert!(
            !s.out_of_range && s.slew,
            "5 units in 1 s breaks a 1/s slew limit"
        );
        assert_eq!(s.dominant(), AnomalyKind::SlewRate);
        let s = d.update(2000, 84.0).unwrap();
        assert!(
            !s.slew && !s.out_of_range && s.score == 0.0,
            "exactly the limit is allowed"
        );
        let s = d.update(2000, 84.5).unwrap();
        assert!(s.slew, "a change at one instant is infinitely fast");
        assert!(!d.update(3000, -40.0).unwrap().out_of_range);
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
        assert_eq!(d.update(100_000, f32::NAN), Err(SampleError::NonFinite));
        assert_eq!(
            d.update(100_000, f32::INFINITY),
            Err(SampleError::NonFinite)
        );
        assert_eq!(d, before);
    }

    #[test]
    fn restore_then_continue_equals_never_stopped() {
        let values = signal(1000, 5);
        let mut uninterrupted = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let expected = run(&mut uninterrupted, &values);
        let mut first = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let mut scores = run(&mut first, &values[..600]);
        let record = postcard::to_allocvec(&first).unwrap();
        assert!(
            record.len() <= 96,
            "persisted record is {} bytes",
            record.len()
        );
        let mut restored: AnomalyDetector = postcard::from_bytes(&record).unwrap();
        for (i, &v) in values.iter().enumerate().skip(600) {
            scores.push(restored.update(i as u64 * 1000, v).unwrap());
        }
        assert_eq!(scores, expected);
        assert_eq!(restored, uninterrupted);
    }
}
