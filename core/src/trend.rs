//! Trend detection: least-squares slope and intercept, `predict_linear`-style forecasts and
//! time-to-threshold estimates with a confidence bound.
//!
//! Three estimators share one fit:
//! - over a sliding window of the last `N` samples ([`crate::window::Window::fit`]);
//! - with exponential forgetting ([`ForgettingTrend`]): each sample's weight decays as
//!   `exp(-age / tau)`, so the fit follows a series for days in a few words of state;
//! - with forgetting over a time, a change detector and a curvature test ([`AdaptiveTrend`]), which
//!   restarts after a change of regime and follows an acceleration: what the monitor (node and
//!   host) and `rackwatch analyze` forecast with (measured by `rackwatch-bench eta`).
//!
//! Invariants:
//! - O(1) per sample. State is the centred weighted moments of `(t, value)` in `f64` (Welford/West form),
//!   with the time origin kept at the newest sample: centred moments do not change when the origin moves,
//!   so nothing grows with the absolute time and a stream of any length does not drift. `f64` because the
//!   slope is a ratio of differences that cancel; on the Cortex-M4F that costs software floats, a few
//!   hundred cycles per sample, which the benchmarks report.
//! - Times are monotonic milliseconds; slopes are per millisecond (see [`Fit::slope_per_second`]).
//! - [`Fit::time_to`] answers honestly: a fit that cannot support an estimate says so
//!   ([`TimeTo::NotEnoughData`], [`TimeTo::PoorFit`]) instead of returning a number.

use crate::SampleError;

pub mod adaptive;
pub use adaptive::{AdaptiveConfig, AdaptiveTrend, Forecast};

/// Centred weighted moments of `(x, y)`, with `x` in milliseconds relative to an origin the owner keeps
/// (the newest sample's time).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct Moments {
    /// Sum of weights.
    pub(crate) w: f64,
    pub(crate) mean_x: f64,
    pub(crate) mean_y: f64,
    pub(crate) sxx: f64,
    pub(crate) sxy: f64,
    pub(crate) syy: f64,
}

impl Moments {
    pub(crate) const EMPTY: Moments = Moments {
        w: 0.0,
        mean_x: 0.0,
        mean_y: 0.0,
        sxx: 0.0,
        sxy: 0.0,
        syy: 0.0,
    };

    /// Moves the origin `dt_ms` later: every stored `x` becomes `x - dt_ms`. Centred moments are unchanged.
    pub(crate) fn shift_origin(&mut self, dt_ms: u64) {
        self.mean_x -= dt_ms as f64;
    }

    /// Multiplies every weight by `factor` (0 < factor ≤ 1).
    pub(crate) fn decay(&mut self, factor: f64) {
        self.w *= factor;
        self.sxx *= factor;
        self.sxy *= factor;
        self.syy *= factor;
    }

    /// Adds a point of weight one.
    pub(crate) fn add(&mut self, x: f64, y: f64) {
        self.w += 1.0;
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.mean_x += dx / self.w;
        self.mean_y += dy / self.w;
        self.sxx += dx * (x - self.mean_x);
        self.sxy += dx * (y - self.mean_y);
        self.syy += dy * (y - self.mean_y);
    }

    /// Removes a point of weight one that was added before (unweighted use only).
    pub(crate) fn remove(&mut self, x: f64, y: f64) {
        if self.w <= 1.0 {
            *self = Moments::EMPTY;
            return;
        }
        let dx = x - self.mean_x;
        let dy = y - self.mean_y;
        self.w -= 1.0;
        self.mean_x -= dx / self.w;
        self.mean_y -= dy / self.w;
        self.sxx = (self.sxx - dx * (x - self.mean_x)).max(0.0);
        self.sxy -= dx * (y - self.mean_y);
        self.syy = (self.syy - dy * (y - self.mean_y)).max(0.0);
    }

    /// The least-squares fit, `None` without two distinct times. `w2` is the sum of squared weights
    /// (equal to `w` when every weight is one).
    pub(crate) fn fit(&self, origin_ms: u64, samples: u32, w2: f64) -> Option<Fit> {
        // Written so that NaN moments also give no fit.
        if samples < 2 || self.sxx.is_nan() || self.sxx <= 0.0 || self.w.is_nan() || self.w <= 0.0 {
            return None;
        }
        let slope = self.sxy / self.sxx;
        let sse = (self.syy - slope * self.sxy).max(0.0);
        let effective_n = if w2 > 0.0 { self.w * self.w / w2 } else { 0.0 };
        let slope_variance = if effective_n > 2.0 {
            // Weighted residual variance scaled to the effective sample size, then the variance of the
            // slope estimate; with unit weights this is the textbook SSE / (n - 2) / Sxx.
            let sigma2 = sse / self.w * effective_n / (effective_n - 2.0);
            sigma2 * (w2 / self.w) / self.sxx
        } else {
            f64::INFINITY
        };
        Some(Fit {
            origin_ms,
            samples,
            mean_x: self.mean_x,
            mean_y: self.mean_y,
            slope,
            slope_std_error: libm::sqrt(slope_variance),
            residual_std_dev: if self.w > 0.0 {
                libm::sqrt(sse / self.w)
            } else {
                0.0
            },
            effective_n,
        })
    }
}

/// Which side of a threshold is the bad one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Crossing {
    /// The series is bad at or above the threshold (a disk filling, a temperature rising).
    Above,
    /// The series is bad at or below the threshold (free memory falling, a battery draining).
    Below,
}

/// When a time-to-threshold estimate is trustworthy enough to give.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct EtaPolicy {
    /// Fewer samples than this: [`TimeTo::NotEnoughData`].
    pub min_samples: u32,
    /// The slope must be at least this many standard errors from zero, else [`TimeTo::PoorFit`];
    /// raised for small samples (see [`EtaPolicy::critical_t`]). The default, 4, lets white noise
    /// through about once in 10^4 windows.
    pub min_t_statistic: f32,
    /// Width of the ETA bound in slope standard errors (1.96 ≈ 95 % for well-behaved residuals).
    pub confidence_z: f32,
}

impl EtaPolicy {
    /// The defaults: at least 8 samples, |t| ≥ 4 (more with few samples), a 95 % bound.
    pub const DEFAULT: EtaPolicy = EtaPolicy {
        min_samples: 8,
        min_t_statistic: 4.0,
        confidence_z: 1.96,
    };

    /// The |t| a slope needs with `degrees_of_freedom`: `min_t_statistic` is the large-sample value
    /// (a normal quantile); with few samples Student's t has heavier tails, so the value grows by the
    /// Cornish-Fisher correction `z·(1 + (z² + 1) / (4·df))` (6.8 at 6 degrees of freedom, 4.3 at 60).
    pub fn critical_t(&self, degrees_of_freedom: f64) -> f64 {
        let z = f64::from(self.min_t_statistic);
        if degrees_of_freedom > 0.0 {
            z * (1.0 + (z * z + 1.0) / (4.0 * degrees_of_freedom))
        } else {
            f64::INFINITY
        }
    }
}

impl Default for EtaPolicy {
    fn default() -> Self {
        EtaPolicy::DEFAULT
    }
}

/// A time-to-threshold estimate with its confidence bound, in milliseconds from the evaluation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Eta {
    /// The central estimate.
    pub ms: u64,
    /// The earliest the threshold is reached within the bound (the slope at its upper bound).
    pub earliest_ms: u64,
    /// The latest within the bound; `None` when the bound includes a flat slope, so the crossing may
    /// never come.
    pub latest_ms: Option<u64>,
}

/// The answer to "when does the series reach the threshold?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeTo {
    /// The threshold is reached after about this long.
    Eta(Eta),
    /// The fitted value at the evaluation time is already on the bad side (inclusive of the threshold).
    AlreadyCrossed,
    /// The series is flat or clearly moving away from the threshold.
    Never,
    /// Fewer samples than the policy's minimum, or no two distinct sample times.
    NotEnoughData,
    /// The slope is not distinguishable from noise: no estimate is better than a wrong one.
    PoorFit,
}

/// A least-squares line through recent samples.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Fit {
    origin_ms: u64,
    samples: u32,
    mean_x: f64,
    mean_y: f64,
    slope: f64,
    slope_std_error: f64,
    residual_std_dev: f64,
    effective_n: f64,
}

impl Fit {
    /// Slope in value units per millisecond.
    pub const fn slope_per_ms(&self) -> f64 {
        self.slope
    }

    /// Slope in value units per second.
    pub fn slope_per_second(&self) -> f64 {
        self.slope * 1000.0
    }

    /// Standard error of the slope (per millisecond), from the residuals; infinite with too few samples.
    pub const fn slope_std_error(&self) -> f64 {
        self.slope_std_error
    }

    /// Weighted root-mean-square residual around the line.
    pub const fn residual_std_dev(&self) -> f64 {
        self.residual_std_dev
    }

    /// Samples behind the fit.
    pub const fn samples(&self) -> u32 {
        self.samples
    }

    /// The effective sample size, `(Σw)² / Σw²`: the sample count for a window, less with forgetting.
    pub const fn effective_samples(&self) -> f64 {
        self.effective_n
    }

    /// The fitted value at `t_ms` (any time, before or after the samples).
    pub fn value_at(&self, t_ms: u64) -> f64 {
        let x = if t_ms >= self.origin_ms {
            (t_ms - self.origin_ms) as f64
        } else {
            -((self.origin_ms - t_ms) as f64)
        };
        self.mean_y + self.slope * (x - self.mean_x)
    }

    /// The fitted value at the evaluation time `now_ms` (Prometheus' intercept).
    pub fn intercept(&self, now_ms: u64) -> f64 {
        self.value_at(now_ms)
    }

    /// The value `horizon_ms` after `now_ms`: Prometheus' `predict_linear(v[range], horizon)` evaluated
    /// at `now_ms`, whose intercept is taken at the evaluation time, not at the last sample.
    pub fn predict(&self, now_ms: u64, horizon_ms: u64) -> f64 {
        self.value_at(now_ms.saturating_add(horizon_ms))
    }

    /// How long after `now_ms` the fitted line reaches `threshold` on the bad side given by `crossing`.
    ///
    /// In order: fewer than `policy.min_samples` samples → [`TimeTo::NotEnoughData`]; the fitted value
    /// at `now_ms` is at or past the threshold → [`TimeTo::AlreadyCrossed`]; an exactly flat series →
    /// [`TimeTo::Never`]; a slope within `policy.min_t_statistic` standard errors of zero →
    /// [`TimeTo::PoorFit`]; a significant slope away from the threshold → [`TimeTo::Never`];
    /// otherwise [`TimeTo::Eta`] with a bound from the slope's standard error. A NaN threshold gives
    /// [`TimeTo::PoorFit`]; an infinite one on the far side is [`TimeTo::Never`] reached.
    pub fn time_to(
        &self,
        now_ms: u64,
        threshold: f64,
        crossing: Crossing,
        policy: &EtaPolicy,
    ) -> TimeTo {
        if self.samples < policy.min_samples {
            return TimeTo::NotEnoughData;
        }
        if threshold.is_nan() {
            return TimeTo::PoorFit;
        }
        let current = self.value_at(now_ms);
        let (crossed, toward) = match crossing {
            Crossing::Above => (current >= threshold, self.slope),
            Crossing::Below => (current <= threshold, -self.slope),
        };
        if crossed {
            return TimeTo::AlreadyCrossed;
        }
        if self.slope == 0.0 && self.residual_std_dev == 0.0 {
            return TimeTo::Never;
        }
        let t_statistic = libm::fabs(self.slope) / self.slope_std_error;
        if t_statistic.is_nan() || t_statistic < policy.critical_t(self.effective_n - 2.0) {
            return TimeTo::PoorFit;
        }
        if toward <= 0.0 || threshold.is_infinite() {
            return TimeTo::Never;
        }
        let remaining = libm::fabs(threshold - current);
        let margin = f64::from(policy.confidence_z) * self.slope_std_error;
        let fastest = toward + margin;
        let slowest = toward - margin;
        // Rounded to the nearest ms; `as` saturates for huge values, so an ETA of centuries is u64::MAX ms, never a wrap.
        TimeTo::Eta(Eta {
            ms: libm::round(remaining / toward) as u64,
            earliest_ms: libm::round(remaining / fastest) as u64,
            latest_ms: (slowest > 0.0).then(|| libm::round(remaining / slowest) as u64),
        })
    }
}

/// A least-squares trend with exponential forgetting: a sample `age` ms old weighs `exp(-age / tau)`.
///
/// Follows a slow fill over days with constant state; `tau` is the memory (about the span a window
/// would cover). `size_of::<ForgettingTrend>() == 72`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForgettingTrend {
    moments: Moments,
    /// Sum of squared weights, for the effective sample size.
    w2: f64,
    last_ms: u64,
    tau_ms: u32,
    samples: u32,
}

impl ForgettingTrend {
    /// An empty trend with memory `tau_ms` (clamped to at least 1 ms).
    pub const fn new(tau_ms: u32) -> Self {
        ForgettingTrend {
            moments: Moments::EMPTY,
            w2: 0.0,
            last_ms: 0,
            tau_ms: if tau_ms == 0 { 1 } else { tau_ms },
            samples: 0,
        }
    }

    /// Adds a sample. O(1): one `exp`, a dozen multiply-adds.
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<(), SampleError> {
        SampleError::check((self.samples > 0).then_some(self.last_ms), now_ms, value)?;
        if self.samples > 0 {
            let dt = now_ms - self.last_ms;
            if dt > 0 {
                let factor = libm::exp(-(dt as f64) / f64::from(self.tau_ms));
                self.moments.decay(factor);
                self.w2 *= factor * factor;
                self.moments.shift_origin(dt);
            }
        }
        self.moments.add(0.0, f64::from(value));
        self.w2 += 1.0;
        self.last_ms = now_ms;
        self.samples = self.samples.saturating_add(1);
        Ok(())
    }

    /// The current fit, `None` before two samples at distinct times.
    pub fn fit(&self) -> Option<Fit> {
        self.moments.fit(self.last_ms, self.samples, self.w2)
    }

    /// [`Fit::time_to`] on the current fit; [`TimeTo::NotEnoughData`] when there is none.
    pub fn time_to(
        &self,
        now_ms: u64,
        threshold: f64,
        crossing: Crossing,
        policy: &EtaPolicy,
    ) -> TimeTo {
        self.fit().map_or(TimeTo::NotEnoughData, |fit| {
            fit.time_to(now_ms, threshold, crossing, policy)
        })
    }

    /// The memory in milliseconds.
    pub const fn tau_ms(&self) -> u32 {
        self.tau_ms
    }

    /// Samples seen, saturating.
    pub const fn samples(&self) -> u32 {
        self.samples
    }
}

#[cfg(test)]
mod tests;
