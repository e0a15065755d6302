//! Anomaly score: how unusual each sample of one series is, in [0, 1], from 128 bytes of state.
//!
//! Each component is reported on its own, so an alert rule or a display can say *why*:
//!
//! | component | question | value |
//! |---|---|---|
//! | [`deviation`](AnomalyScore::deviation) | is the sample far from the baseline, or beyond the range the series has shown? | `squash(|z|, z_low)`, or by how far it leaves the range |
//! | [`level_shift`](AnomalyScore::level_shift) | have the recent samples moved away from the baseline (level or spread)? | `squash(D, shift_low²/2)` of their divergence `D`, 1 = confirmed |
//! | [`spike`](AnomalyScore::spike) | is this one sample a jump, compared with the series' usual step? | `squash(jump / typical jump, spike_low)` |
//! | [`stuck`](AnomalyScore::stuck) | has a sensor that varies stopped changing? | 0 or 1 |
//! | [`out_of_range`](AnomalyScore::out_of_range) | outside the configured physical limits? | bool (score 1) |
//! | [`slew`](AnomalyScore::slew) | changing faster than physically possible? | bool (score 1) |
//!
//! The [`score`](AnomalyScore::score) is the largest component when an anomaly *starts*: once it
//! reaches 0.5 the detector rests for `10 / fast_alpha` samples (100 with the defaults), during
//! which the score is 0 while the components go on reporting what they see. So a long anomalous
//! episode scores high at its onset, not at every sample; a stuck sensor is announced again after
//! each rest. A range or slew violation scores exactly 1 whether resting or not.
//! [`AnomalyScore::dominant`] names the component behind a score.
//!
//! `squash(x, low) = max(0, 1 − low/x)`: 0 up to `low`, 0.5 at `2·low`, 0.75 at `4·low`, 0.9 at
//! `10·low`, approaching 1 without saturating, so large deviations stay ordered (one global
//! threshold can be chosen on them) and a statistical component reads as "the share of the
//! deviation that lies beyond the threshold".
//!
//! # How each component works
//!
//! - **Baseline**: an exponentially weighted mean and variance (weight `baseline_alpha`, warm
//!   start: the exact mean and variance of the first `1/baseline_alpha` samples). Once it has
//!   `warmup_samples` samples it learns each sample *winsorised* at ±10σ (clamped to the band, not
//!   dropped), so one wild value moves the mean by at most `10σ·baseline_alpha`.
//! - **Spread floor**: every spread the detector divides by is at least `min_std`, `1e-6·|mean|`
//!   (about 8 `f32` ulps of the level) and half the typical jump, so a flat stretch of a quantised
//!   or intermittent series (a 0.1 °C sensor, a count that is mostly 0) does not make its next
//!   ordinary step look like many σ.
//! - **Deviation**: `z = (x − mean) / σ` against the baseline *before* this sample, scored
//!   `squash(|z|, z_low)`. A sample beyond `z_low` σ that also leaves the *range the series has
//!   shown* (an envelope of its highest and lowest values) scores at least
//!   `squash(beyond / range, 1.5 %)`: 0.5 when it passes the old extreme by 3 % of the range. The
//!   envelope learns samples winsorised at ±10σ (so a glitch cannot widen it for ever) and relaxes
//!   toward the baseline by 10⁻⁶ of the gap per sample (a memory of about 10⁶ samples).
//! - **Level shift**: a recent window (exponentially weighted mean `m_r` and variance `v_r` of the
//!   winsorised samples, weight `fast_alpha`, about `1/fast_alpha` samples) is compared with the
//!   baseline (`m`, `v = σ²`) by the Kullback-Leibler divergence of two normal distributions,
//!   `D = ½·(ln(v/v_r) + (v_r + (m_r − m)²)/v − 1)`, with `v_r` floored at `v/10` (a window that
//!   went quiet counts, but at most as much as a tenfold drop of variance). A pure shift of the
//!   mean by `δ` σ gives `D = δ²/2`, so the score `squash(D, shift_low²/2)` is 0 for shifts below
//!   `shift_low` σ and 0.5 at `√2·shift_low` σ; a change of spread (a noisy series going quiet or
//!   wild) raises `D` too. When the recent mean alone is `√shift_confirm · shift_low` σ off (4.2σ
//!   with the defaults; a burst of a few wild samples, each winsorised at 10σ, does not get there)
//!   the shift is *confirmed*: the score is 1 and the baseline's mean moves to the recent window's, keeping
//!   its spread, so a large step becomes the normal level within a few dozen samples. A smaller
//!   shift is absorbed by the baseline, whose spread widens to take it in.
//! - **Spike**: the excursion `min(|x − previous|, |x − mean|)` (a jump away from the previous
//!   sample *and* from the baseline, so the return to normal after a spike or a burst is not a
//!   spike, nor is the second sample of a step) divided by the typical jump, scored
//!   `squash(ratio, spike_low)`. The typical jump is an exponentially weighted mean (weight
//!   `baseline_alpha`, each learned jump capped at 16× the typical one) of the jumps `|x − previous|`
//!   that *changed* the value (by more than `stuck_epsilon`), so a series that mostly holds its value
//!   keeps its ordinary step as the yardstick.
//! - **Stuck**: the value stays within `stuck_epsilon` of the first value of the current run
//!   (bit-exact equality when `stuck_epsilon` is 0) for at least `stuck_samples` samples *and*
//!   `stuck_ratio` times the series' typical run. The typical run is an exponentially weighted mean
//!   of completed run lengths, weighted by the samples in each run (what a typical *sample* sees;
//!   weight `1 − (1 − baseline_alpha)^run`, each learned run capped at 4× the typical one). So a
//!   sensor that changes every sample is stuck after `stuck_samples` samples, a coarse one whose
//!   value normally holds for 40 samples only after `40·stuck_ratio`, and a series that is mostly
//!   flat with occasional activity is not called stuck for being flat. A series constant since its
//!   very first sample is *not* stuck (nothing shows that it ever varies) unless
//!   `stuck_from_start` is set. The duration is counted in samples, not milliseconds.
//! - **Out of range / slew**: `min ≤ x ≤ max` and `|Δx/Δt| ≤ max_slew_per_s` are normal (both
//!   inclusive). Two different values at the same instant have an infinite rate.
//!
//! # Detection quality
//! On the Numenta Anomaly Benchmark (58 labelled real and artificial series, `BENCHMARKS.md`,
//! `rackwatch-bench nab`) the defaults score 60.9 / 46.3 / 67.6 (standard / low FP / low FN), in
//! the range of the best bounded-memory detectors published there, while staying quiet on white
//! noise, a smooth cycle, a ramp and a quantised series (at most one score ≥ 0.5 in 10⁵ samples of
//! each, asserted in the tests). The defaults were chosen on that benchmark under that quietness
//! constraint: one setting for every series, no knowledge of a series' length or range.
//!
//! On the point-adjusted KPI corpora (WSD, Microsoft's cloud-monitoring set) the default is too
//! quiet (F1 0.08 and 0.43 at 0.5, against the EWMA z-score baseline's best 0.63 and 0.65). Two
//! scores of the same budget are options beside it: [`flux`] (one far sample or a same-side pair
//! against a fast EWMA level: F1 0.63 and 0.66 at 0.5, but 26–39 on NAB) and [`tail`] (a
//! calibrated peaks-over-threshold tail probability). Neither is the default; `BENCHMARKS.md` has
//! the figures and what each was tuned on.
//!
//! # Warm-up
//! During the first `warmup_samples` samples the statistical components (deviation, level shift,
//! spike) are exactly 0: the baseline is not formed yet and a score would be noise. Out of range and
//! slew are absolute and apply from the first sample; stuck needs no baseline and applies as soon
//! as its own conditions hold.
//!
//! # Invariants
//! - Causal: a sample's score depends only on it and earlier samples; nothing needs the range or
//!   the length of the whole series.
//! - Bounded: O(1) work per sample, no allocation, `size_of::<AnomalyDetector>() == 128` including
//!   its configuration.
//! - Every component and the score are finite and in [0, 1] for every finite input, including
//!   `±f32::MAX`, and for every configuration (out-of-domain parameters are clamped, NaN takes the
//!   default).
//! - Deterministic: the state is `f32`; updates compute in `f64` (so that no difference or square
//!   of finite inputs overflows) with IEEE basic operations and `libm`, so every target gives
//!   bit-identical scores. On the Cortex-M4F that `f64` is software, as in [`EwStats`](crate::stats::EwStats).
//! - A refused sample ([`SampleError`]) leaves the state unchanged.
//! - The state is plain data (`Copy`, serde): persisting it and restoring it later continues exactly
//!   as if the detector had never stopped.

mod config;
pub mod flux;
pub mod tail;

use crate::stats::saturating_f32;
use crate::SampleError;
pub use config::AnomalyConfig;
use config::Params;
use serde::{Deserialize, Serialize};

/// Which component drove a score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AnomalyKind {
    /// Nothing unusual (score 0).
    None,
    /// Far from the baseline, or beyond the series' range.
    Deviation,
    /// The recent samples moved away from the baseline: a shift of level or spread.
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
    /// The largest component when an anomaly starts (0 while the detector rests after one); exactly
    /// 1 when `out_of_range` or `slew`.
    pub score: f32,
    /// Distance from the baseline, `max(0, 1 − z_low/|z|)`, or beyond the series' range.
    pub deviation: f32,
    /// Divergence of the recent samples from the baseline, `max(0, 1 − (shift_low²/2)/D)`; 1 on the
    /// sample that confirms a shift.
    pub level_shift: f32,
    /// Size of the jump from the previous sample: `max(0, 1 − spike_low/ratio)`.
    pub spike: f32,
    /// 1 while the sensor is stuck, else 0.
    pub stuck: f32,
    /// The value is outside the physical limits.
    pub out_of_range: bool,
    /// The value changed faster than the slew limit.
    pub slew: bool,
}

impl AnomalyScore {
    /// Score 0, every component 0.
    pub const ZERO: AnomalyScore = AnomalyScore {
        score: 0.0,
        deviation: 0.0,
        level_shift: 0.0,
        spike: 0.0,
        stuck: 0.0,
        out_of_range: false,
        slew: false,
    };

    /// The component behind `score`: a physical violation first (range, then slew), otherwise the
    /// largest statistical component; on a tie the more specific explanation wins (stuck, level
    /// shift, spike, deviation, in that order). [`AnomalyKind::None`] when every component is 0. While
    /// the detector rests the score is 0 but the components still say what they see.
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

/// Scores the samples of one series. See the [module docs](self) for the method.
///
/// `size_of::<AnomalyDetector>() == 128`, its configuration included (asserted in the tests).
/// `Copy` and serde: persist it with any serde format (postcard: about 90 bytes, at most 115) and
/// restore it to continue exactly where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnomalyDetector {
    config: AnomalyConfig,
    /// The adaptive baseline's mean and variance (meaningful once `samples > 0`).
    baseline_mean: f32,
    baseline_variance: f32,
    /// Time of the last accepted sample (meaningful once `samples > 0`).
    last_ms: u64,
    /// The recent window's mean and variance (weight `fast_alpha`).
    recent_mean: f32,
    recent_variance: f32,
    /// The envelope: the highest and lowest (winsorised) values seen, relaxing toward the baseline.
    high: f32,
    low: f32,
    /// Exponentially weighted mean of |sample-to-sample jump|.
    typical_jump: f32,
    /// The previous sample's value (meaningful once a sample was accepted).
    last_value: f32,
    /// First value of the current run of (nearly) equal values.
    run_anchor: f32,
    /// Exponentially weighted mean of completed run lengths; 0 before the first run completes.
    typical_run: f32,
    /// Samples accepted, saturating.
    samples: u32,
    /// Length of the current run, saturating.
    run: u16,
    /// Samples left in the rest after an anomaly started.
    resting: u16,
}

/// The score at which an anomaly starts, and the detector rests.
const ALARM: f32 = 0.5;
/// The baseline and the envelope learn samples clamped to this many σ around the baseline.
const WINSOR_SIGMAS: f64 = 10.0;
/// The baseline's variance learns deviations clamped to this many σ.
const VARIANCE_WINSOR_SIGMAS: f64 = 10.0;
/// The recent window's variance counts as at least this share of the baseline's.
const RECENT_VARIANCE_FLOOR: f64 = 0.1;
/// How far beyond the range (as a share of it) a sample starts to score: 0.5 at twice this.
const NOVELTY_LOW: f64 = 0.015;
/// Each learned jump counts as at most this many typical jumps: a bursty series' yardstick includes
/// its bursts, one glitch moves it by at most `16·baseline_alpha` of itself.
const JUMP_CAP: f64 = 16.0;
/// Share of its gap to the baseline that the envelope gives up per sample.
const ENVELOPE_RELAX: f64 = 1e-6;

/// `max(0, 1 − low/x)`: 0 up to `low`, 0.5 at `2·low`, toward 1 as `x` grows; 1 for `x = ∞`, 0 for NaN.
fn squash(x: f64, low: f64) -> f32 {
    if x > low {
        (1.0 - low / x) as f32
    } else {
        0.0
    }
}

/// Warm-start weight of the `n`-th value (1-based) of an exponentially weighted mean: the plain mean
/// of the first `1/alpha` values, then `alpha`.
fn warm_weight(alpha: f64, n: u32) -> f64 {
    alpha.max(1.0 / f64::from(n.max(1)))
}

/// One step of an exponentially weighted mean and variance with weight `w`, `value` entering as
/// `mean + diff` (West's form, in `f64`; the variance is never negative).
fn ew(mean: f64, variance: f64, w: f64, diff: f64) -> (f64, f64) {
    (
        mean + w * diff,
        ((1.0 - w) * (variance + w * diff * diff)).max(0.0),
    )
}

/// Kullback-Leibler divergence of N(`m_r`, `v_r`) from N(`m`, `v`), the recent variance floored at
/// `RECENT_VARIANCE_FLOOR · v`; 0 when `v` is not positive, never negative or NaN.
fn divergence(m: f64, v: f64, m_r: f64, v_r: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 0.0;
    }
    let v_r = v_r.max(RECENT_VARIANCE_FLOOR * v);
    let shift = m_r - m;
    let d = 0.5 * (libm::log(v / v_r) + (v_r + shift * shift) / v - 1.0);
    if d > 0.0 {
        d
    } else {
        0.0
    }
}

impl AnomalyDetector {
    /// A detector with no history.
    pub const fn new(config: AnomalyConfig) -> Self {
        AnomalyDetector {
            config,
            baseline_mean: 0.0,
            baseline_variance: 0.0,
            last_ms: 0,
            recent_mean: 0.0,
            recent_variance: 0.0,
            high: 0.0,
            low: 0.0,
            typical_jump: 0.0,
            last_value: 0.0,
            run_anchor: 0.0,
            typical_run: 0.0,
            samples: 0,
            run: 0,
            resting: 0,
        }
    }

    /// The configuration, as given.
    pub const fn config(&self) -> &AnomalyConfig {
        &self.config
    }

    /// Samples accepted so far, saturating at `u32::MAX`.
    pub const fn samples(&self) -> u32 {
        self.samples
    }

    /// The baseline's mean and standard deviation, once there is a sample.
    pub fn baseline(&self) -> Option<(f32, f32)> {
        (self.samples > 0).then(|| (self.baseline_mean, libm::sqrtf(self.baseline_variance)))
    }

    /// The level-shift statistic: the recent window's divergence `D` from the baseline, as
    /// `(upward, downward)` by the side the recent mean moved to (the other is 0). The level-shift
    /// score is `squash(D, shift_low²/2)`.
    pub fn shift_divergence(&self) -> (f32, f32) {
        if self.samples == 0 {
            return (0.0, 0.0);
        }
        let p = Params::new(&self.config);
        let mean = f64::from(self.baseline_mean);
        let sd = libm::sqrt(f64::from(self.baseline_variance)).max(self.floor(&p, mean));
        let d = saturating_f32(divergence(
            mean,
            sd * sd,
            f64::from(self.recent_mean),
            f64::from(self.recent_variance),
        ));
        if self.recent_mean >= self.baseline_mean {
            (d, 0.0)
        } else {
            (0.0, d)
        }
    }

    /// Samples left in the rest that follows an anomaly's start (0 = the score is live).
    pub const fn resting(&self) -> u16 {
        self.resting
    }

    /// The floor of every spread: the configured one, 8 `f32` ulps of the level and half the
    /// typical jump.
    fn floor(&self, p: &Params, mean: f64) -> f64 {
        p.min_std
            .max(1e-6 * libm::fabs(mean))
            .max(0.5 * f64::from(self.typical_jump))
    }

    /// Scores a sample taken at `now_ms`, then learns from it.
    ///
    /// Refuses a non-finite value or a time before the previous sample's with a [`SampleError`],
    /// leaving the state unchanged. Equal times are accepted.
    pub fn update(&mut self, now_ms: u64, value: f32) -> Result<AnomalyScore, SampleError> {
        let last_ms = (self.samples > 0).then_some(self.last_ms);
        SampleError::check(last_ms, now_ms, value)?;
        // Past the check nothing can fail: the state changes only for an accepted sample.
        Ok(self.step(now_ms, value, last_ms))
    }

    /// One sample: judged against what was learned before it, then learned from.
    fn step(&mut self, now_ms: u64, value: f32, last_ms: Option<u64>) -> AnomalyScore {
        let c = self.config;
        let p = Params::new(&c);
        let x = f64::from(value);
        let previous = last_ms.map(|t| (t, f64::from(self.last_value)));
        let mut score = AnomalyScore::ZERO;
        (score.out_of_range, score.slew) = physical_limits(&c, value, now_ms, previous);
        let r = self.reference(&p, value, previous.is_none());
        let jump = previous.map(|(_, prev)| libm::fabs(x - prev));
        let typical_jump = f64::from(self.typical_jump).max(r.floor);
        if r.warmed_up {
            score.deviation = self.deviation(&p, x, &r);
            if let Some(jump) = jump {
                // A jump away from the previous sample *and* from the baseline, so that the return
                // to normal after a spike or a burst is not a spike.
                let excursion = jump.min(libm::fabs(r.residual));
                score.spike = squash(excursion / typical_jump, p.spike_low);
            }
        }
        // Every statistic learns the sample winsorised at ±10σ of the baseline once warmed up.
        let learned = if r.warmed_up {
            let band = WINSOR_SIGMAS * r.sd;
            x.max(r.mean - band).min(r.mean + band)
        } else {
            x
        };
        let shift = self.level_shift(&p, &r, learned);
        score.level_shift = shift.score;
        if self.track_run(&p, value, x, r.first) {
            score.stuck = 1.0;
        }
        self.settle(&p, &mut score);
        self.learn_jump(&p, jump, typical_jump, r.warmed_up);
        self.learn_levels(&p, value, learned, &r, &shift);
        self.last_value = value;
        self.last_ms = now_ms;
        self.samples = self.samples.saturating_add(1);
        score
    }

    /// The baseline before this sample (the sample itself before the first), and where the sample
    /// lies against it.
    fn reference(&self, p: &Params, value: f32, first: bool) -> Reference {
        let warmed_up = !first && self.samples >= u32::from(self.config.warmup_samples);
        let (mean, std) = self.baseline().unwrap_or((value, 0.0));
        let (mean, std) = (f64::from(mean), f64::from(std));
        let floor = self.floor(p, mean);
        let sd = std.max(floor);
        let residual = f64::from(value) - mean;
        Reference {
            first,
            warmed_up,
            mean,
            sd,
            floor,
            residual,
            z: libm::fabs(residual) / sd,
        }
    }

    /// Deviation: far from the baseline, or also beyond the range seen so far.
    fn deviation(&self, p: &Params, x: f64, r: &Reference) -> f32 {
        let mut deviation = squash(r.z, p.z_low);
        let (high, low) = (f64::from(self.high), f64::from(self.low));
        let range = high - low;
        if r.z > p.z_low && range > 0.0 {
            let beyond = (x - high).max(low - x);
            deviation = deviation.max(squash(beyond / range, NOVELTY_LOW));
        }
        deviation
    }

    /// Level shift: the recent window (this sample included) against the baseline (before it).
    fn level_shift(&self, p: &Params, r: &Reference, learned: f64) -> Shift {
        let (recent_mean, recent_variance) = if r.first {
            (learned, 0.0)
        } else {
            let m = f64::from(self.recent_mean);
            ew(
                m,
                f64::from(self.recent_variance),
                warm_weight(p.alpha_f, self.samples.saturating_add(1)),
                learned - m,
            )
        };
        let mut shift = Shift {
            recent_mean,
            recent_variance,
            confirmed: false,
            score: 0.0,
        };
        if r.warmed_up {
            let d = divergence(r.mean, r.sd * r.sd, recent_mean, recent_variance);
            let half = 0.5 * p.shift_low * p.shift_low;
            // Confirmed when the recent mean alone is √shift_confirm·shift_low σ off: a shift held
            // for several samples, not a burst of a few wild ones (each is winsorised at 10σ).
            let off = (recent_mean - r.mean) / r.sd;
            shift.confirmed =
                off * off >= p.shift_confirm * p.shift_low * p.shift_low && p.shift_low > 0.0;
            shift.score = if shift.confirmed {
                1.0
            } else {
                squash(d, half)
            };
        }
        shift
    }

    /// Stuck: follows runs of values within epsilon of the run's first value; true when the
    /// current run is long enough to call the sensor stuck.
    fn track_run(&mut self, p: &Params, value: f32, x: f64, first: bool) -> bool {
        if !first && libm::fabs(x - f64::from(self.run_anchor)) <= p.stuck_epsilon {
            self.run = self.run.saturating_add(1);
        } else {
            if !first {
                self.learn_typical_run(p);
            }
            self.run_anchor = value;
            self.run = 1;
        }
        let c = &self.config;
        c.stuck_samples > 0
            && self.run >= c.stuck_samples
            && if self.typical_run > 0.0 {
                f64::from(self.run) >= p.stuck_ratio * f64::from(self.typical_run)
            } else {
                c.stuck_from_start
            }
    }

    /// The typical run learns a run that just ended, weighted by its samples (as if each of them
    /// reported its run's length), so it is what a typical *sample* sees: long for a series that
    /// mostly holds its value, however many short runs it also has.
    fn learn_typical_run(&mut self, p: &Params) {
        let run = f64::from(self.run);
        let typical = f64::from(self.typical_run);
        self.typical_run = if typical > 0.0 {
            // A varying sensor completes a run of 1 every sample: no `pow` for those.
            let weight = if self.run <= 1 {
                p.alpha_b
            } else {
                1.0 - libm::pow(1.0 - p.alpha_b, run)
            };
            saturating_f32(typical + weight * (run.min(4.0 * typical) - typical))
        } else {
            saturating_f32(run)
        };
    }

    /// The score: the largest component when an anomaly starts, then a rest; a physical limit
    /// broken is always 1.
    fn settle(&mut self, p: &Params, score: &mut AnomalyScore) {
        let largest = score
            .deviation
            .max(score.level_shift)
            .max(score.spike)
            .max(score.stuck);
        if self.resting > 0 {
            self.resting -= 1;
        } else if largest >= ALARM {
            score.score = largest;
            self.resting = p.rest();
        } else {
            score.score = largest;
        }
        if score.out_of_range || score.slew {
            score.score = 1.0;
        }
    }

    /// The typical jump learns only from samples that changed the value (beyond `stuck_epsilon`).
    fn learn_jump(&mut self, p: &Params, jump: Option<f64>, typical_jump: f64, warmed_up: bool) {
        let Some(jump) = jump.filter(|&jump| jump > p.stuck_epsilon) else {
            return;
        };
        let t = f64::from(self.typical_jump);
        self.typical_jump = saturating_f32(if t > 0.0 {
            let learned = if warmed_up {
                jump.min(JUMP_CAP * typical_jump)
            } else {
                jump
            };
            t + warm_weight(p.alpha_b, self.samples) * (learned - t)
        } else {
            jump
        });
    }

    /// The envelope, the recent window and the baseline learn the (winsorised) sample.
    fn learn_levels(&mut self, p: &Params, value: f32, learned: f64, r: &Reference, shift: &Shift) {
        if r.first {
            (self.high, self.low) = (value, value);
        } else {
            let (high, low) = (f64::from(self.high), f64::from(self.low));
            self.high = saturating_f32(learned.max(high - ENVELOPE_RELAX * (high - r.mean)));
            self.low = saturating_f32(learned.min(low + ENVELOPE_RELAX * (r.mean - low)));
        }
        (self.recent_mean, self.recent_variance) = (
            saturating_f32(shift.recent_mean),
            saturating_f32(shift.recent_variance),
        );
        if shift.confirmed {
            // A confirmed shift: the recent window's level is the new normal, with the spread the
            // baseline had.
            self.baseline_mean = self.recent_mean;
        } else if r.first {
            (self.baseline_mean, self.baseline_variance) = (value, 0.0);
        } else {
            let w = warm_weight(p.alpha_b, self.samples.saturating_add(1));
            let diff = learned - r.mean;
            // The spread learns deviations winsorised tighter than the mean does, so that a step
            // does not inflate it before the shift is confirmed.
            let spread_band = VARIANCE_WINSOR_SIGMAS * r.sd;
            let spread_diff = if r.warmed_up {
                diff.max(-spread_band).min(spread_band)
            } else {
                diff
            };
            let v = f64::from(self.baseline_variance);
            (self.baseline_mean, self.baseline_variance) = (
                saturating_f32(r.mean + w * diff),
                saturating_f32(((1.0 - w) * (v + w * spread_diff * spread_diff)).max(0.0)),
            );
        }
    }
}

/// Where a sample lies against the baseline learned before it.
struct Reference {
    /// The detector's first sample.
    first: bool,
    /// Past the warm-up: the components score.
    warmed_up: bool,
    mean: f64,
    /// The baseline's spread, at least the floor.
    sd: f64,
    floor: f64,
    residual: f64,
    z: f64,
}

/// The recent window with this sample, and whether it has moved off the baseline for good.
struct Shift {
    recent_mean: f64,
    recent_variance: f64,
    confirmed: bool,
    score: f32,
}

/// Physical limits, absolute from the first sample: (out of range, slew beyond the limit).
fn physical_limits(
    c: &AnomalyConfig,
    value: f32,
    now_ms: u64,
    previous: Option<(u64, f64)>,
) -> (bool, bool) {
    let out_of_range = c.min.is_some_and(|min| value < min) || c.max.is_some_and(|max| value > max);
    let slew = match (previous, c.max_slew_per_s) {
        (Some((t, prev)), Some(limit)) => {
            let change = libm::fabs(f64::from(value) - prev);
            let dt_s = (now_ms - t) as f64 / 1000.0;
            if dt_s > 0.0 {
                change / dt_s > f64::from(limit)
            } else {
                change > 0.0
            }
        }
        _ => false,
    };
    (out_of_range, slew)
}

#[cfg(test)]
mod tests;
