//! Time-to-threshold accuracy: generated fill curves, the core's ETA against a `predict_linear`-style
//! baseline (`rackwatch-bench eta`).
//!
//! **Curves** (one sample every 5 minutes, percent of a capacity, threshold 100 %): seeded random
//! instances of scenarios that fill and of scenarios that never do.
//!
//! | scenario | fills? | shape |
//! |---|---|---|
//! | `linear` | yes | a steady fill with measurement noise |
//! | `accelerating` | yes | exponential growth (a log volume doubling every day or two) |
//! | `daily-cycle` | yes | a slow fill under a daily cycle larger than a day's growth, and noise |
//! | `plateaus` | yes | fills in working hours only, flat overnight |
//! | `rotation-growing` | yes | daily clean-ups (log rotation) free part of the space, but less than a day's growth |
//! | `cycle-flat` | no | a daily cycle and noise around a constant level |
//! | `rotation-bounded` | no | a sawtooth: fills, then a clean-up drops it, always below full |
//! | `fill-then-plateau` | no | fills to 70–85 % and stays there |
//! | `plateau-leak` | yes | 2–6 days flat under a daily cycle and noise, then a leak fills it in 1–4 days |
//! | `accelerating-cycle` | yes | exponential growth under a daily cycle and noise |
//!
//! **Predictors**, fed every sample, asked "how long until 100 %?":
//! - `core Window<64>`: [`Window::time_to`] with [`EtaPolicy::DEFAULT`] (least squares over the last
//!   64 samples, 5 h 20 min; an answer only when the slope is significant): the node's forecast
//!   before the regime-aware trend.
//! - `core Window<1024>`: the same over 1024 samples (`rackwatch analyze`'s default window before).
//! - `core Adaptive`: [`rackwatch_core::trend::AdaptiveTrend`] with its defaults, the node's and
//!   `rackwatch analyze`'s forecast (forgetting over two days, restarted by a CUSUM after a change
//!   of regime, bent by a significant curvature).
//! - `core Forgetting 6h` / `core Forgetting 24h`: [`ForgettingTrend::time_to`] with `tau` 6 h and
//!   24 h, same policy.
//! - `predict_linear 6h` / `predict_linear 24h`: naive least squares over the trailing range,
//!   `(threshold − fitted value now) / slope` when the slope is positive (what a Prometheus
//!   `predict_linear` alert computes).
//!
//! **Scores.** For a curve that fills, at 25 %, 50 % and 75 % of the time from the start of its
//! fill (the curve's start, or the leak's after a plateau) to the first sample at or above 100 %: the relative error `|predicted − actual| / actual` of the time
//! remaining, its median over the curves, and the share of curves with no answer. For a curve that
//! never fills, every hour after the first 6 h: the share of hours at which the predictor says the
//! threshold is reached within 24 h (a predictive alert would fire for a fill that never comes).

//!
//! Invariants: every figure follows from `--curves` and `--seed` alone (the generator is seeded per
//! scenario, so adding a scenario does not shift the others' curves); only [`Report::seconds`] varies
//! between runs. The modules: [`scenarios`] generates the curves, [`predictors`] holds what is
//! compared, [`run`] asks them and scores the answers, [`report`] turns a [`Report`] into text and
//! into the `BENCHMARKS.md` figures.

pub mod predictors;
pub mod report;
pub mod run;
pub mod scenarios;

pub use predictors::{naive_eta, Predictor};
pub use report::{blocks, text};
pub use run::{median, run, Report, Row};
pub use scenarios::{generate, Curve, Scenario};

/// Minutes between samples.
const STEP_MIN: u64 = 5;
const STEP_MS: u64 = STEP_MIN * 60_000;
const HOUR_MS: u64 = 3_600_000;
const DAY_MS: u64 = 24 * HOUR_MS;
/// The threshold every predictor is asked about: full.
const THRESHOLD: f64 = 100.0;
/// A prediction within this long counts as "a fill is coming" (a predictive alert's horizon).
const ALERT_HORIZON_MS: u64 = DAY_MS;
/// Never-full curves are this long.
const NEVER_DAYS: u64 = 14;
/// The fractions of the time to full at which filling curves are asked.
pub const FRACTIONS: [f64; 3] = [0.25, 0.5, 0.75];
