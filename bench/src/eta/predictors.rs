//! What is compared: the core's time-to-threshold (a window fit and exponential forgetting, each
//! with the core's significance policy) and a naive `predict_linear`-style fit.
//!
//! Invariants: every predictor is fed every sample in order and answers from what it has seen so
//! far; an answer is milliseconds until [`THRESHOLD`], `Some(0)` once there, `None` for no answer.

use super::{DAY_MS, HOUR_MS, THRESHOLD};
use rackwatch_core::trend::{
    AdaptiveConfig, AdaptiveTrend, Crossing, EtaPolicy, ForgettingTrend, TimeTo,
};
use rackwatch_core::window::Window;
use serde::Serialize;
use std::collections::VecDeque;

/// The predictors compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Predictor {
    /// `Window<64>::time_to`: the node's forecast before the regime-aware trend (the baseline).
    CoreWindow64,
    /// `Window<1024>::time_to`: `rackwatch analyze`'s default before the regime-aware trend.
    CoreWindow1024,
    /// `ForgettingTrend` with `tau` 6 h.
    CoreForgetting6h,
    /// `ForgettingTrend` with `tau` 24 h.
    CoreForgetting24h,
    /// `AdaptiveTrend` with `AdaptiveConfig::DEFAULT`: the node's forecast, and `rackwatch analyze`'s.
    CoreAdaptive,
    /// Naive least squares over the last 6 h.
    PredictLinear6h,
    /// Naive least squares over the last 24 h.
    PredictLinear24h,
}

impl Predictor {
    /// Every predictor, the core's first.
    pub const ALL: [Predictor; 7] = [
        Predictor::CoreWindow64,
        Predictor::CoreWindow1024,
        Predictor::CoreForgetting6h,
        Predictor::CoreForgetting24h,
        Predictor::CoreAdaptive,
        Predictor::PredictLinear6h,
        Predictor::PredictLinear24h,
    ];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Predictor::CoreWindow64 => "core Window<64>",
            Predictor::CoreWindow1024 => "core Window<1024>",
            Predictor::CoreForgetting6h => "core Forgetting 6h",
            Predictor::CoreForgetting24h => "core Forgetting 24h",
            Predictor::CoreAdaptive => "core Adaptive",
            Predictor::PredictLinear6h => "predict_linear 6h",
            Predictor::PredictLinear24h => "predict_linear 24h",
        }
    }
}

/// One predictor's state over a curve.
pub(crate) enum State {
    Window(Box<Window<64>>),
    Window1024(Box<Window<1024>>),
    Forgetting(ForgettingTrend),
    Adaptive(AdaptiveTrend),
    Naive {
        range_ms: u64,
        samples: VecDeque<(u64, f64)>,
    },
}

impl State {
    pub(crate) fn new(p: Predictor) -> State {
        match p {
            Predictor::CoreWindow64 => State::Window(Box::new(Window::new())),
            Predictor::CoreWindow1024 => State::Window1024(Box::new(Window::new())),
            Predictor::CoreForgetting6h => State::Forgetting(ForgettingTrend::new(6 * 3_600_000)),
            Predictor::CoreForgetting24h => State::Forgetting(ForgettingTrend::new(24 * 3_600_000)),
            Predictor::CoreAdaptive => State::Adaptive(AdaptiveTrend::new(AdaptiveConfig::DEFAULT)),
            Predictor::PredictLinear6h => State::Naive {
                range_ms: 6 * HOUR_MS,
                samples: VecDeque::new(),
            },
            Predictor::PredictLinear24h => State::Naive {
                range_ms: DAY_MS,
                samples: VecDeque::new(),
            },
        }
    }

    pub(crate) fn push(&mut self, t: u64, v: f64) {
        match self {
            State::Window(w) => {
                let _ = w.push(t, v as f32);
            }
            State::Window1024(w) => {
                let _ = w.push(t, v as f32);
            }
            State::Forgetting(f) => {
                let _ = f.update(t, v as f32);
            }
            State::Adaptive(a) => {
                let _ = a.update(t, v as f32);
            }
            State::Naive { range_ms, samples } => {
                samples.push_back((t, v));
                while samples.front().is_some_and(|&(t0, _)| t0 + *range_ms <= t) {
                    samples.pop_front();
                }
            }
        }
    }

    /// Milliseconds until the threshold, `Some(0)` when already there, `None` for no answer.
    pub(crate) fn eta(&self, now: u64) -> Option<u64> {
        let answer = |time_to: TimeTo| match time_to {
            TimeTo::Eta(eta) => Some(eta.ms),
            TimeTo::AlreadyCrossed => Some(0),
            TimeTo::Never | TimeTo::NotEnoughData | TimeTo::PoorFit => None,
        };
        match self {
            State::Window(w) => {
                answer(w.time_to(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT))
            }
            State::Window1024(w) => {
                answer(w.time_to(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT))
            }
            State::Forgetting(f) => {
                answer(f.time_to(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT))
            }
            State::Adaptive(a) => answer(
                a.forecast(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT)
                    .time_to,
            ),
            State::Naive { samples, .. } => naive_eta(samples.iter().copied(), now),
        }
    }
}

/// Ordinary least squares over `samples`, `(threshold − fitted value at now) / slope` for a positive
/// slope: what a `predict_linear` alert computes.
pub fn naive_eta(samples: impl Iterator<Item = (u64, f64)> + Clone, now: u64) -> Option<u64> {
    let n = samples.clone().count() as f64;
    if n < 2.0 {
        return None;
    }
    let x = |t: u64| t as f64 - now as f64;
    let mx = samples.clone().map(|(t, _)| x(t)).sum::<f64>() / n;
    let my = samples.clone().map(|(_, v)| v).sum::<f64>() / n;
    let (mut sxx, mut sxy) = (0.0, 0.0);
    for (t, v) in samples {
        sxx += (x(t) - mx) * (x(t) - mx);
        sxy += (x(t) - mx) * (v - my);
    }
    if sxx <= 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    let now_value = my - slope * mx;
    if now_value >= THRESHOLD {
        return Some(0);
    }
    (slope > 0.0).then(|| ((THRESHOLD - now_value) / slope).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_eta_extrapolates_the_fitted_line() {
        // 50 % now, +1 % an hour: 50 h to full.
        let samples: Vec<(u64, f64)> = (0..12).map(|h| (h * HOUR_MS, 39.0 + h as f64)).collect();
        let eta = naive_eta(samples.iter().copied(), 11 * HOUR_MS).unwrap();
        assert_eq!(eta, 50 * HOUR_MS);
        let flat: Vec<(u64, f64)> = (0..12).map(|h| (h * HOUR_MS, 50.0)).collect();
        assert_eq!(naive_eta(flat.iter().copied(), 11 * HOUR_MS), None);
        let over: Vec<(u64, f64)> = (0..12).map(|h| (h * HOUR_MS, 101.0)).collect();
        assert_eq!(naive_eta(over.iter().copied(), 11 * HOUR_MS), Some(0));
        assert_eq!(naive_eta(std::iter::empty(), 0), None);
    }
}
