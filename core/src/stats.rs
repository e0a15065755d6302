//! Streaming statistics: Welford mean/variance over every sample, exponentially weighted mean/variance,
//! and rate of change.
//!
//! Invariants:
//! - Each state is a few words, updated in O(1) per sample, and refuses a non-finite value or a time
//!   that goes backwards with a [`SampleError`], leaving the state unchanged.
//! - [`Welford`] accumulates in `f64`: it sums over an unbounded number of samples, and an `f32` mean
//!   stops moving once `count` exceeds about 2^24. [`EwStats`] forgets, so its error cannot grow, and it
//!   stays in `f32` (the Cortex-M4F's native width).
//! - Variances are never negative (rounding is clamped at zero).

use crate::SampleError;

/// An `f64` result stored as `f32`, saturated to the finite range (NaN stays NaN).
pub(crate) fn saturating_f32(x: f64) -> f32 {
    x.clamp(f64::from(f32::MIN), f64::from(f32::MAX)) as f32
}

/// One step of an exponentially weighted mean and variance (West's incremental form): `value` enters
/// with weight `weight` in (0, 1]. Computed in `f64`, so that no finite input overflows
/// (`(f32::MAX − f32::MIN)²` fits easily), and stored saturated; the variance is never negative.
pub(crate) fn ew_step(mean: f32, variance: f32, weight: f32, value: f32) -> (f32, f32) {
    let (w, x) = (f64::from(weight), f64::from(value));
    let diff = x - f64::from(mean);
    let increment = w * diff;
    (
        saturating_f32(f64::from(mean) + increment),
        saturating_f32(((1.0 - w) * (f64::from(variance) + diff * increment)).max(0.0)),
    )
}

/// Mean and variance of every sample pushed, by Welford's online algorithm.
///
/// `size_of::<Welford>() == 32`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Welford {
    count: u64,
    mean: f64,
    m2: f64,
    min: f32,
    max: f32,
}

impl Welford {
    /// An empty accumulator.
    pub const fn new() -> Self {
        Welford {
            count: 0,
            mean: 0.0,
            m2: 0.0,
            min: 0.0,
            max: 0.0,
        }
    }

    /// Adds one sample.
    pub fn push(&mut self, value: f32) -> Result<(), SampleError> {
        SampleError::check(None, 0, value)?;
        let x = f64::from(value);
        if self.count == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
        Ok(())
    }

    /// Combines another accumulator into this one (Chan et al.), as if its samples had been pushed here.
    pub fn merge(&mut self, other: &Welford) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        let n_a = self.count as f64;
        let n_b = other.count as f64;
        let count = self.count + other.count;
        let n = count as f64;
        let delta = other.mean - self.mean;
        self.mean += delta * n_b / n;
        self.m2 += other.m2 + delta * delta * n_a * n_b / n;
        self.count = count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    /// Number of samples pushed.
    pub const fn count(&self) -> u64 {
        self.count
    }

    /// Mean of the samples, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// Population variance (divides by `n`), `None` when empty.
    pub fn variance(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.m2 / self.count as f64).max(0.0))
    }

    /// Sample variance (divides by `n - 1`), `None` with fewer than two samples.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| (self.m2 / (self.count - 1) as f64).max(0.0))
    }

    /// Population standard deviation, `None` when empty.
    pub fn std_dev(&self) -> Option<f64> {
        self.variance().map(libm::sqrt)
    }

    /// Smallest sample, `None` when empty.
    pub fn min(&self) -> Option<f32> {
        (self.count > 0).then_some(self.min)
    }

    /// Largest sample, `None` when empty.
    pub fn max(&self) -> Option<f32> {
        (self.count > 0).then_some(self.max)
    }
}

/// How fast an exponentially weighted statistic forgets.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Smoothing {
    /// Each sample gets weight `alpha` (0 < alpha ≤ 1), whatever the time between samples; the
    /// effective memory is about `1 / alpha` samples. [`EwStats`] starts warm: the `n`-th sample
    /// weighs `max(alpha, 1/n)`, so the first `1 / alpha` samples give their exact mean and variance.
    Alpha(f32),
    /// Each sample gets weight `1 - exp(-dt / tau)`, where `dt` is the time since the previous sample:
    /// the right choice for irregular sampling. A sample at the same time as the previous one gets no
    /// weight.
    TimeConstantMs(u32),
}

impl Smoothing {
    /// Whether the parameter is usable: alpha in (0, 1], time constant above zero.
    pub fn is_valid(&self) -> bool {
        match *self {
            Smoothing::Alpha(alpha) => alpha > 0.0 && alpha <= 1.0,
            Smoothing::TimeConstantMs(tau) => tau > 0,
        }
    }

    /// The weight of a new sample that arrives `dt_ms` after the previous one.
    pub fn weight(&self, dt_ms: u64) -> f32 {
        match *self {
            Smoothing::Alpha(alpha) => alpha,
            Smoothing::TimeConstantMs(tau) => {
                1.0 - libm::expf(-(dt_ms as f32) / (tau.max(1) as f32))
            }
        }
    }
}

/// Exponentially weighted mean and variance (West's incremental form), for adaptive baselines.
///
/// Stored in `f32`, updated in `f64`: any finite input keeps the state finite (a variance beyond
/// `f32::MAX` saturates there).
///
/// `size_of::<EwStats>() == 32`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EwStats {
    smoothing: Smoothing,
    mean: f32,
    variance: f32,
    last_ms: u64,
    count: u32,
}

impl EwStats {
    /// An empty state. An invalid `smoothing` (see [`Smoothing::is_valid`]) is clamped: alpha to
    /// (0, 1], the time constant to at least 1 ms.
    pub fn new(smoothing: Smoothing) -> Self {
        let smoothing = match smoothing {
            Smoothing::Alpha(alpha) if alpha > 0.0 && alpha <= 1.0 => Smoothing::Alpha(alpha),
            Smoothing::Alpha(alpha) if alpha > 1.0 => Smoothing::Alpha(1.0),
            Smoothing::Alpha(_) => Smoothing::Alpha(f32::MIN_POSITIVE),
            Smoothing::TimeConstantMs(tau) => Smoothing::TimeConstantMs(tau.max(1)),
        };
        EwStats {
            smoothing,
            mean: 0.0,
            variance: 0.0,
            last_ms: 0,
            count: 0,
        }
    }

    /// A state that has already learned `mean` and `variance` by `now_ms`, e.g. to move a baseline to a
    /// confirmed new level while keeping its spread. Non-finite inputs give an empty state.
    pub fn seeded(smoothing: Smoothing, now_ms: u64, mean: f32, variance: f32) -> Self {
        let mut state = EwStats::new(smoothing);
        if mean.is_finite() && variance.is_finite() {
            state.mean = mean;
            state.variance = variance.max(0.0);
            state.last_ms = now_ms;
            state.count = 1;
        }
        state
    }

    /// Adds one sample taken at `now_ms`.
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<(), SampleError> {
        SampleError::check((self.count > 0).then_some(self.last_ms), now_ms, value)?;
        if self.count == 0 {
            self.mean = value;
            self.variance = 0.0;
        } else {
            let weight = match self.smoothing {
                // Warm start: the exact mean and variance of the first 1/alpha samples, instead of a
                // mean stuck near the first sample and a variance that starts near zero.
                Smoothing::Alpha(alpha) => alpha.max(1.0 / (self.count as f32 + 1.0)),
                Smoothing::TimeConstantMs(_) => self.smoothing.weight(now_ms - self.last_ms),
            };
            (self.mean, self.variance) = ew_step(self.mean, self.variance, weight, value);
        }
        self.last_ms = now_ms;
        self.count = self.count.saturating_add(1);
        Ok(())
    }

    /// The smoothing this state was built with (after clamping).
    pub const fn smoothing(&self) -> Smoothing {
        self.smoothing
    }

    /// Samples seen, saturating at `u32::MAX`.
    pub const fn count(&self) -> u32 {
        self.count
    }

    /// Time of the last accepted sample.
    pub fn last_ms(&self) -> Option<u64> {
        (self.count > 0).then_some(self.last_ms)
    }

    /// The weighted mean, `None` before the first sample.
    pub fn mean(&self) -> Option<f32> {
        (self.count > 0).then_some(self.mean)
    }

    /// The weighted variance, `None` before the first sample.
    pub fn variance(&self) -> Option<f32> {
        (self.count > 0).then_some(self.variance)
    }

    /// The weighted standard deviation, `None` before the first sample.
    pub fn std_dev(&self) -> Option<f32> {
        self.variance().map(libm::sqrtf)
    }
}

/// Rate of change between consecutive samples, in units per second.
///
/// `size_of::<RateOfChange>() == 24`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RateOfChange {
    last: Option<(u64, f32)>,
}

impl RateOfChange {
    /// No sample yet.
    pub const fn new() -> Self {
        RateOfChange { last: None }
    }

    /// Adds a sample and returns the rate since the previous one: `None` for the first sample or when
    /// both share a timestamp (the rate is undefined, not zero or infinite).
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<Option<f32>, SampleError> {
        SampleError::check(self.last.map(|(t, _)| t), now_ms, value)?;
        let rate = match self.last {
            Some((last_ms, last_value)) if now_ms > last_ms => {
                Some((value - last_value) / ((now_ms - last_ms) as f32 / 1000.0))
            }
            _ => None,
        };
        self.last = Some((now_ms, value));
        Ok(rate)
    }

    /// The last accepted sample.
    pub const fn last(&self) -> Option<(u64, f32)> {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_are_part_of_the_contract() {
        assert_eq!(core::mem::size_of::<Welford>(), 32);
        assert_eq!(core::mem::size_of::<EwStats>(), 32);
        assert_eq!(core::mem::size_of::<RateOfChange>(), 24);
    }

    #[test]
    fn welford_empty_and_single_sample() {
        let mut w = Welford::new();
        assert_eq!(
            (w.mean(), w.variance(), w.min(), w.max()),
            (None, None, None, None)
        );
        w.push(4.0).unwrap();
        assert_eq!(
            (w.mean(), w.variance(), w.sample_variance()),
            (Some(4.0), Some(0.0), None)
        );
        assert_eq!(w.push(f32::NAN), Err(SampleError::NonFinite));
        assert_eq!(w.count(), 1);
    }

    #[test]
    fn welford_does_not_stall_at_large_counts() {
        // An f32 running mean stops moving after ~2^24 samples; f64 keeps tracking.
        let mut w = Welford::new();
        for i in 0..3_000_000u32 {
            w.push(if i < 2_000_000 { 1.0 } else { 4.0 }).unwrap();
        }
        assert!((w.mean().unwrap() - 2.0).abs() < 1e-9);
        assert!((w.variance().unwrap() - 2.0).abs() < 1e-9);
    }

    #[test]
    fn ew_stats_converge_to_a_level_shift_and_forget_the_old_level() {
        let mut s = EwStats::new(Smoothing::Alpha(0.1));
        for t in 0..200u64 {
            s.update(t * 1000, 10.0).unwrap();
        }
        assert_eq!(s.mean(), Some(10.0));
        assert_eq!(s.variance(), Some(0.0));
        for t in 200..400u64 {
            s.update(t * 1000, 20.0).unwrap();
        }
        assert!((s.mean().unwrap() - 20.0).abs() < 1e-3);
        assert!(s.variance().unwrap() < 1e-3);
    }

    #[test]
    fn ew_stats_start_as_the_exact_mean_and_variance() {
        let mut s = EwStats::new(Smoothing::Alpha(0.01));
        for (i, v) in [2.0f32, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
            .into_iter()
            .enumerate()
        {
            s.update(i as u64, v).unwrap();
        }
        assert!((s.mean().unwrap() - 5.0).abs() < 1e-6);
        assert!((s.variance().unwrap() - 4.0).abs() < 1e-5);
    }

    #[test]
    fn ew_stats_time_constant_weights_by_elapsed_time() {
        let mut s = EwStats::new(Smoothing::TimeConstantMs(1000));
        s.update(0, 0.0).unwrap();
        s.update(1000, 1.0).unwrap();
        let expected = 1.0 - libm::expf(-1.0);
        assert!((s.mean().unwrap() - expected).abs() < 1e-6);
        // Same timestamp: no weight, the mean does not move.
        s.update(1000, 100.0).unwrap();
        assert!((s.mean().unwrap() - expected).abs() < 1e-6);
        assert_eq!(
            s.update(999, 1.0),
            Err(SampleError::TimeWentBackwards {
                last_ms: 1000,
                now_ms: 999
            })
        );
    }

    #[test]
    fn seeded_state_continues_from_its_mean_and_variance() {
        let mut s = EwStats::seeded(Smoothing::Alpha(0.5), 100, 10.0, 4.0);
        assert_eq!(
            (s.mean(), s.variance(), s.count(), s.last_ms()),
            (Some(10.0), Some(4.0), 1, Some(100))
        );
        s.update(200, 12.0).unwrap();
        assert_eq!(
            (s.mean(), s.variance()),
            (Some(11.0), Some(0.5 * (4.0 + 2.0 * 1.0)))
        );
        assert_eq!(
            EwStats::seeded(Smoothing::Alpha(0.5), 0, f32::NAN, 1.0).mean(),
            None
        );
    }

    #[test]
    fn invalid_smoothing_is_clamped() {
        assert_eq!(
            EwStats::new(Smoothing::Alpha(2.0)).smoothing(),
            Smoothing::Alpha(1.0)
        );
        assert!(EwStats::new(Smoothing::Alpha(-1.0)).smoothing().is_valid());
        assert!(EwStats::new(Smoothing::Alpha(f32::NAN))
            .smoothing()
            .is_valid());
        assert_eq!(
            EwStats::new(Smoothing::TimeConstantMs(0)).smoothing(),
            Smoothing::TimeConstantMs(1)
        );
    }

    #[test]
    fn rate_of_change_per_second() {
        let mut r = RateOfChange::new();
        assert_eq!(r.update(1000, 5.0), Ok(None));
        assert_eq!(r.update(3000, 9.0), Ok(Some(2.0)));
        assert_eq!(r.update(3000, 10.0), Ok(None));
        assert_eq!(
            r.update(2000, 1.0),
            Err(SampleError::TimeWentBackwards {
                last_ms: 3000,
                now_ms: 2000
            })
        );
        assert_eq!(r.last(), Some((3000, 10.0)));
    }

    proptest! {
        #[test]
        fn welford_matches_two_pass_reference(values in proptest::collection::vec(-1e6f32..1e6, 1..500)) {
            let mut w = Welford::new();
            for &v in &values {
                w.push(v).unwrap();
            }
            let n = values.len() as f64;
            let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
            let var = values.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
            let scale = values.iter().map(|&v| f64::from(v).abs()).fold(1.0, f64::max);
            prop_assert!((w.mean().unwrap() - mean).abs() <= 1e-9 * scale);
            prop_assert!((w.variance().unwrap() - var).abs() <= 1e-9 * scale * scale);
        }

        #[test]
        fn welford_merge_equals_sequential(a in proptest::collection::vec(-1e3f32..1e3, 0..100),
                                           b in proptest::collection::vec(-1e3f32..1e3, 0..100)) {
            let (mut left, mut right, mut all) = (Welford::new(), Welford::new(), Welford::new());
            for &v in &a { left.push(v).unwrap(); all.push(v).unwrap(); }
            for &v in &b { right.push(v).unwrap(); all.push(v).unwrap(); }
            left.merge(&right);
            prop_assert_eq!(left.count(), all.count());
            if all.count() > 0 {
                prop_assert!((left.mean().unwrap() - all.mean().unwrap()).abs() < 1e-9);
                prop_assert!((left.variance().unwrap() - all.variance().unwrap()).abs() < 1e-6);
                prop_assert_eq!((left.min(), left.max()), (all.min(), all.max()));
            }
        }

        #[test]
        fn ew_state_stays_finite_and_variance_non_negative(
            values in proptest::collection::vec(prop_oneof![-1e30f32..1e30, Just(f32::MAX), Just(f32::MIN)], 1..200),
            alpha in 0.001f32..1.0,
        ) {
            let mut s = EwStats::new(Smoothing::Alpha(alpha));
            for (i, &v) in values.iter().enumerate() {
                s.update(i as u64, v).unwrap();
                prop_assert!(s.variance().unwrap() >= 0.0);
                prop_assert!(s.mean().unwrap().is_finite() && s.variance().unwrap().is_finite());
            }
        }
    }
}
