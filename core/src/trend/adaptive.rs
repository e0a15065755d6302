//! A trend that survives changes of regime: exponential forgetting over a quadratic fit, a change
//! detector that shortens the fit when the series leaves its line, and a curvature test that
//! forecasts with the acceleration when it is significant.
//!
//! - **Fit.** Weighted power sums of `(age, value)` up to the fourth power of the age, each sample's
//!   weight decaying as `exp(-age / memory)` with `memory` a time ([`AdaptiveConfig::memory_ms`]),
//!   so the fit covers the same span of time at any sampling rate: a node reading every 10 s and a
//!   CSV with a row every 5 minutes forecast from the same two days.
//! - **Change.** A two-sided CUSUM of the one-step residuals of the fitted line, in units of the
//!   fit's residual deviation: `g⁺ ← max(0, g⁺ + z − drift)`, `g⁻ ← max(0, g⁻ − z − drift)`. A
//!   daily cycle or noise keeps `|z|` near or below the drift and the sums stay low; a leak after a
//!   plateau pushes `z` up sample after sample. The residual scale is a mean square forgotten four
//!   times more slowly than the fit, so a change inflates the residuals before their scale. When a
//!   sum passes `threshold` the fit empties and starts again with the new regime. The detector
//!   judges only a fit that has seen more than a memory (a daily cycle whole): `Σw / Σw² ≥ 1.5`,
//!   which with forgetting depends on the span covered and not on the sampling rate.
//! - **Curvature.** The quadratic term's t statistic against the residuals; when it is significant
//!   and the curve bends toward the threshold while the line already heads there, the forecast is
//!   the parabola's crossing and says so ([`Forecast::accelerating`]). Only on a fit spanning 12 h
//!   or more: over minutes, a kink (flat, then a steady rise, as a node sees a fault begin) or the
//!   bend of a daily cycle fits a significant parabola whose crossing is far too early.
//!
//! Invariants:
//! - O(1) per sample (one `exp`, a few dozen multiply-adds), no allocation, `size_of` fixed
//!   (120 bytes, asserted in the tests).
//! - Values are kept relative to their weighted mean and ages relative to the newest sample, in
//!   hours: nothing grows with the absolute time or level, so a stream of any length does not drift.
//! - A constant series never forecasts a crossing; a straight line (noise-free) is forecast
//!   exactly; an accelerating forecast is never later than the line through the current slope
//!   would be ([`Eta::latest_ms`] is that line's time: the honest side of an acceleration is early).

use super::{Crossing, Eta, EtaPolicy, Fit, Moments, TimeTo};
use crate::SampleError;

/// The unit of ages in the power sums.
const HOUR_MS: f64 = 3_600_000.0;
/// Standardised residuals are clamped to this, so one outlier moves the change detector by a
/// bounded step.
const Z_LIMIT: f64 = 4.0;
/// The residual scale forgets this many times more slowly than the fit.
const SCALE_MEMORY_FACTOR: f64 = 4.0;
/// A curvature is judged only on a fit spanning at least this many hours: over a shorter span a
/// daily cycle's bend, or a kink (flat, then a rise), fits a parabola whose crossing is far too
/// early.
const MIN_CURVATURE_SPAN_HOURS: f64 = 12.0;
/// A fit is old enough to judge changes by when `Σw / Σw²` reaches this: `2 / (1 + exp(-T/memory))`
/// for a fit spanning `T` at a steady rate, so about 1.1 memories (whatever the rate).
const WARM_WEIGHT_RATIO: f64 = 1.5;
/// The change detector also needs this many effective samples (a few rows of a sparse CSV are no
/// residual scale).
const WARM_MIN_SAMPLES: f64 = 8.0;
/// The curvature needs this share of the slope's critical t: the forecast only bends an answer
/// the line already gives (a fill the line does not see is never announced by a bend), and a daily
/// cycle in the residuals hides real acceleration from a stricter test.
const CURVATURE_T_SHARE: f64 = 0.35;

/// The parameters of an [`AdaptiveTrend`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptiveConfig {
    /// How long the fit remembers, in milliseconds: a sample this old weighs `1/e` of a new one
    /// (the time constant of the forgetting; 0 counts as 1 ms).
    pub memory_ms: u32,
    /// The change detector's allowance per sample, in residual deviations: residuals within it
    /// never accumulate.
    pub change_drift: f32,
    /// The change detector's threshold: accumulated excess beyond which the fit restarts.
    pub change_threshold: f32,
}

impl AdaptiveConfig {
    /// The defaults: a memory of two days, drift 1.75 and threshold 50, chosen on the ETA
    /// benchmark's curves (`rackwatch-bench eta`); the node's, `rackwatch analyze`'s and the host's.
    pub const DEFAULT: AdaptiveConfig = AdaptiveConfig {
        memory_ms: 48 * 3_600_000,
        change_drift: 1.75,
        change_threshold: 50.0,
    };
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig::DEFAULT
    }
}

/// A forecast: when the threshold is reached, and whether that answer comes from a significant
/// acceleration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Forecast {
    /// The answer, as [`Fit::time_to`] gives it.
    pub time_to: TimeTo,
    /// The curve bends toward the threshold significantly and the ETA follows the bend: it is
    /// earlier than the straight line's, and [`Eta::latest_ms`] is the straight line's.
    pub accelerating: bool,
}

/// Exponentially weighted power sums of `(u, y)`: `u` the age in hours relative to the newest
/// sample (≤ 0), `y` relative to `y_ref`, the weighted mean (so `Σ w·(y − y_ref) = 0`).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sums {
    w: f64,
    u1: f64,
    u2: f64,
    u3: f64,
    u4: f64,
    uy: f64,
    u2y: f64,
    yy: f64,
    w2: f64,
    y_ref: f64,
}

/// The weighted quadratic through [`Sums`], centred at the mean age `m`:
/// `y(u) = y_ref + b·v + c·(v² − q0)` with `v = u − m`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Quadratic {
    m: f64,
    q0: f64,
    y_ref: f64,
    b: f64,
    c: f64,
    var_b: f64,
    var_c: f64,
    cov_bc: f64,
    effective_n: f64,
}

impl Quadratic {
    fn value(&self, u: f64) -> f64 {
        let v = u - self.m;
        self.y_ref + self.b * v + self.c * (v * v - self.q0)
    }

    /// The slope at age `u` and its variance.
    fn slope(&self, u: f64) -> (f64, f64) {
        let v = u - self.m;
        let var = self.var_b + 4.0 * v * v * self.var_c + 4.0 * v * self.cov_bc;
        (self.b + 2.0 * self.c * v, var.max(0.0))
    }
}

impl Sums {
    const EMPTY: Sums = Sums {
        w: 0.0,
        u1: 0.0,
        u2: 0.0,
        u3: 0.0,
        u4: 0.0,
        uy: 0.0,
        u2y: 0.0,
        yy: 0.0,
        w2: 0.0,
        y_ref: 0.0,
    };

    /// Multiplies every weight by `factor`.
    fn decay(&mut self, factor: f64) {
        for s in [
            &mut self.w,
            &mut self.u1,
            &mut self.u2,
            &mut self.u3,
            &mut self.u4,
            &mut self.uy,
            &mut self.u2y,
            &mut self.yy,
        ] {
            *s *= factor;
        }
        self.w2 *= factor * factor;
    }

    /// Every stored age `u` becomes `u − d` (binomial expansion; the highest powers first, so
    /// each line reads the old lower sums).
    fn shift(&mut self, d: f64) {
        let (d2, d3, d4) = (d * d, d * d * d, d * d * d * d);
        self.u4 =
            self.u4 - 4.0 * d * self.u3 + 6.0 * d2 * self.u2 - 4.0 * d3 * self.u1 + d4 * self.w;
        self.u3 = self.u3 - 3.0 * d * self.u2 + 3.0 * d2 * self.u1 - d3 * self.w;
        self.u2 = self.u2 - 2.0 * d * self.u1 + d2 * self.w;
        self.u1 -= d * self.w;
        // Σ w·dy = 0, so the `d²·Σ w·dy` term vanishes.
        self.u2y -= 2.0 * d * self.uy;
    }

    /// Adds a sample at age 0 and re-centres the values on their new weighted mean.
    fn add(&mut self, y: f64) {
        if self.w <= 0.0 {
            *self = Sums::EMPTY;
            self.y_ref = y;
        }
        let dy = y - self.y_ref;
        self.w += 1.0;
        self.w2 += 1.0;
        self.yy += dy * dy;
        let c = dy / self.w;
        self.y_ref += c;
        self.yy = (self.yy - dy * c).max(0.0);
        self.uy -= c * self.u1;
        self.u2y -= c * self.u2;
    }

    /// The span of time the fit stands on, in hours: twice the weighted mean age (the span of a
    /// steady stream without forgetting; less with it).
    fn span_hours(&self) -> f64 {
        if self.w > 0.0 {
            -2.0 * self.u1 / self.w
        } else {
            0.0
        }
    }

    fn effective_n(&self) -> f64 {
        if self.w2 > 0.0 {
            self.w * self.w / self.w2
        } else {
            0.0
        }
    }

    /// The straight line through the sums, as the core's [`Fit`].
    fn line(&self, origin_ms: u64, samples: u32) -> Option<Fit> {
        if self.w <= 0.0 {
            return None;
        }
        let mean_u = self.u1 / self.w;
        let moments = Moments {
            w: self.w,
            mean_x: mean_u * HOUR_MS,
            mean_y: self.y_ref,
            sxx: (self.u2 - self.u1 * mean_u) * HOUR_MS * HOUR_MS,
            sxy: self.uy * HOUR_MS,
            syy: self.yy,
        };
        moments.fit(origin_ms, samples, self.w2)
    }

    /// The quadratic through the sums, `None` without four effective samples or with a singular
    /// system.
    fn quadratic(&self) -> Option<Quadratic> {
        let effective_n = self.effective_n();
        if effective_n.is_nan() || effective_n <= 3.0 || self.w <= 0.0 {
            return None;
        }
        let m = self.u1 / self.w;
        let mut centred = *self;
        centred.shift(m);
        let q0 = centred.u2 / self.w;
        let (svv, svq) = (centred.u2, centred.u3);
        let sqq = centred.u4 - centred.u2 * q0;
        let (svy, sqy) = (centred.uy, centred.u2y);
        let det = svv * sqq - svq * svq;
        if det.is_nan() || det <= 0.0 || svv <= 0.0 {
            return None;
        }
        let b = (sqq * svy - svq * sqy) / det;
        let c = (svv * sqy - svq * svy) / det;
        let sse = (self.yy - b * svy - c * sqy).max(0.0);
        // As in the line's fit: the residual variance scaled to the effective sample size.
        let sigma2 = sse / self.w * effective_n / (effective_n - 3.0) * (self.w2 / self.w);
        Some(Quadratic {
            m,
            q0,
            y_ref: self.y_ref,
            b,
            c,
            var_b: sigma2 * sqq / det,
            var_c: sigma2 * svv / det,
            cov_bc: -sigma2 * svq / det,
            effective_n,
        })
    }
}

/// A regime-aware forgetting trend. See the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveTrend {
    fit: Sums,
    last_ms: u64,
    samples: u32,
    restarts: u32,
    config: AdaptiveConfig,
    cusum_up: f32,
    cusum_down: f32,
    /// Mean square of the one-step residuals, forgotten over `SCALE_MEMORY_FACTOR · memory`:
    /// slower than the fit, so a change inflates the residuals before their scale.
    residual_square: f32,
}

impl AdaptiveTrend {
    /// An empty trend; a memory of 0 counts as 1 ms.
    pub const fn new(config: AdaptiveConfig) -> Self {
        AdaptiveTrend {
            fit: Sums::EMPTY,
            last_ms: 0,
            samples: 0,
            restarts: 0,
            config,
            cusum_up: 0.0,
            cusum_down: 0.0,
            residual_square: 0.0,
        }
    }

    /// Adds a sample: the change detector first judges it against the fit so far, then both fits
    /// take it. A refused sample changes nothing.
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<(), SampleError> {
        SampleError::check((self.samples > 0).then_some(self.last_ms), now_ms, value)?;
        let value = f64::from(value);
        if self.samples > 0 {
            let dt_ms = (now_ms - self.last_ms) as f64;
            self.detect_change(now_ms, value, dt_ms);
            self.fit.decay(libm::exp(-dt_ms / self.memory_ms()));
            self.fit.shift(dt_ms / HOUR_MS);
        }
        self.fit.add(value);
        self.last_ms = now_ms;
        self.samples = self.samples.saturating_add(1);
        Ok(())
    }

    /// The memory in milliseconds, at least 1.
    fn memory_ms(&self) -> f64 {
        f64::from(self.config.memory_ms.max(1))
    }

    /// Whether the fit has seen more than a memory (a daily cycle whole) and enough samples: a
    /// younger fit has no residual scale worth judging by.
    fn warm(&self) -> bool {
        let fit = &self.fit;
        fit.w2 > 0.0 && fit.w / fit.w2 >= WARM_WEIGHT_RATIO && fit.effective_n() >= WARM_MIN_SAMPLES
    }

    /// Runs the CUSUM on `value`'s residual from the current line (`dt_ms` after the last
    /// sample), in units of the slow residual scale; empties the fit when either side passes the
    /// threshold.
    fn detect_change(&mut self, now_ms: u64, value: f64, dt_ms: f64) {
        let Some(line) = self.line().filter(|_| self.warm()) else {
            return;
        };
        let residual = value - line.value_at(now_ms);
        // Never finer than the values' own f32 resolution (a few ulps of the level): the rounding
        // of an exact line is not a change of regime, however small its residuals are.
        let resolution = 4.0 * f64::from(f32::EPSILON) * libm::fabs(value);
        let scale = libm::sqrt(f64::from(self.residual_square)).max(resolution);
        let weight = -libm::expm1(-dt_ms / (SCALE_MEMORY_FACTOR * self.memory_ms()));
        let square = if self.residual_square > 0.0 {
            f64::from(self.residual_square) * (1.0 - weight) + residual * residual * weight
        } else {
            // The first judged sample: the line's own residual scale as the start.
            let rms = line.residual_std_dev();
            rms * rms
        };
        self.residual_square = square as f32;
        let z = if scale > 0.0 {
            residual / scale
        } else if residual == 0.0 {
            0.0
        } else {
            libm::copysign(Z_LIMIT, residual)
        };
        let z = z.clamp(-Z_LIMIT, Z_LIMIT) as f32;
        let drift = self.config.change_drift;
        self.cusum_up = (self.cusum_up + z - drift).max(0.0);
        self.cusum_down = (self.cusum_down - z - drift).max(0.0);
        if self.cusum_up > self.config.change_threshold
            || self.cusum_down > self.config.change_threshold
        {
            // The fit starts again from the next sample: only the new regime is behind it.
            self.fit = Sums::EMPTY;
            self.samples = 0;
            self.cusum_up = 0.0;
            self.cusum_down = 0.0;
            self.restarts = self.restarts.saturating_add(1);
        }
    }

    /// The straight line through the fit, `None` before two samples at distinct times.
    pub fn line(&self) -> Option<Fit> {
        if self.samples < 2 {
            return None;
        }
        self.fit.line(self.last_ms, self.samples)
    }

    /// When the fit reaches `threshold` on the bad side, judged by `policy` as [`Fit::time_to`]
    /// judges a line; when the line already heads there and the curve bends toward it with a
    /// curvature `policy.min_t_statistic` standard errors from zero, the parabola's crossing
    /// instead, flagged [`Forecast::accelerating`], with the bound from the curvature and slope at
    /// their upper limits to the current slope's straight line.
    pub fn forecast(
        &self,
        now_ms: u64,
        threshold: f64,
        crossing: Crossing,
        policy: &EtaPolicy,
    ) -> Forecast {
        let linear = self.line().map_or(TimeTo::NotEnoughData, |line| {
            line.time_to(now_ms, threshold, crossing, policy)
        });
        let accelerated = match linear {
            TimeTo::Eta(_) => self.accelerated(now_ms, threshold, crossing, policy),
            _ => None,
        };
        match accelerated {
            Some(time_to) => Forecast {
                time_to,
                accelerating: true,
            },
            None => Forecast {
                time_to: linear,
                accelerating: false,
            },
        }
    }

    /// The parabola's answer when its curvature is significant and toward the threshold.
    fn accelerated(
        &self,
        now_ms: u64,
        threshold: f64,
        crossing: Crossing,
        policy: &EtaPolicy,
    ) -> Option<TimeTo> {
        if self.fit.span_hours() < MIN_CURVATURE_SPAN_HOURS {
            return None;
        }
        let q = self.fit.quadratic()?;
        let t_curvature = libm::fabs(q.c) / libm::sqrt(q.var_c);
        let critical = CURVATURE_T_SHARE * policy.critical_t(q.effective_n - 3.0);
        if t_curvature.is_nan() || t_curvature < critical {
            return None;
        }
        // Mirrored so that the bad side is always up.
        let sign = match crossing {
            Crossing::Above => 1.0,
            Crossing::Below => -1.0,
        };
        let u_now = now_ms.saturating_sub(self.last_ms) as f64 / HOUR_MS;
        let curvature = sign * q.c;
        let (slope, slope_var) = q.slope(u_now);
        let slope = sign * slope;
        let gap = sign * (threshold - q.value(u_now));
        if curvature <= 0.0 || slope <= 0.0 || gap.is_nan() || threshold.is_infinite() {
            return None;
        }
        if gap <= 0.0 {
            return Some(TimeTo::AlreadyCrossed);
        }
        let z = f64::from(policy.confidence_z);
        let to_ms = |hours: f64| libm::round(hours * HOUR_MS) as u64;
        let crossing_hours = |slope: f64, curvature: f64| {
            // The root of curvature·τ² + slope·τ − gap = 0 in the form that does not cancel.
            2.0 * gap / (slope + libm::sqrt(slope * slope + 4.0 * curvature * gap))
        };
        let hours = crossing_hours(slope, curvature);
        let straight = gap / slope;
        // A bend that moves the crossing by less than 1 % is no news (and on an exact line it is
        // rounding): the line answers.
        if hours >= 0.99 * straight {
            return None;
        }
        Some(TimeTo::Eta(Eta {
            ms: to_ms(hours),
            earliest_ms: to_ms(crossing_hours(
                slope + z * libm::sqrt(slope_var),
                curvature + z * libm::sqrt(q.var_c),
            )),
            latest_ms: Some(to_ms(straight)),
        }))
    }

    /// Samples behind the fit (since the last restart), saturating.
    pub const fn samples(&self) -> u32 {
        self.samples
    }

    /// Times the change detector restarted the fit, saturating.
    pub const fn restarts(&self) -> u32 {
        self.restarts
    }

    /// The parameters.
    pub const fn config(&self) -> &AdaptiveConfig {
        &self.config
    }
}

#[cfg(test)]
mod tests;
