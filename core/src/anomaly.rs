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
//! `rackwatch bench nab`) the defaults score 60.9 / 46.3 / 67.6 (standard / low FP / low FN), in
//! the range of the best bounded-memory detectors published there, while staying quiet on white
//! noise, a smooth cycle, a ramp and a quantised series (at most one score ≥ 0.5 in 10⁵ samples of
//! each, asserted in the tests). The defaults were chosen on that benchmark under that quietness
//! constraint: one setting for every series, no knowledge of a series' length or range.
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

use crate::stats::saturating_f32;
use crate::SampleError;
use serde::{Deserialize, Serialize};

/// Parameters of an [`AnomalyDetector`]: plain data, for configuration files and firmware constants.
///
/// One setting is meant for every series: the statistical parameters are in units of the series' own
/// learned spread, never in its units (except the floors `min_std` and `stuck_epsilon`). Values outside
/// a parameter's documented domain are clamped into it when used (NaN takes the default), so no
/// configuration can make the detector panic or leave [0, 1].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyConfig {
    /// Weight of a new sample in the baseline, in [2⁻¹⁶, 1]: its memory is about `1 / baseline_alpha`
    /// samples. The typical jump and the typical run learn at this rate too.
    pub baseline_alpha: f32,
    /// Samples during which deviation, level shift and spike score 0 while the baseline forms.
    pub warmup_samples: u16,
    /// |z| (in baseline standard deviations) above which the deviation score rises above 0; it is 0.5
    /// at twice this (≥ 0). A sample must also be this far from the baseline for leaving the
    /// series' range to count.
    pub z_low: f32,
    /// Weight, in (0, 1], of the recent window that the level shift compares with the baseline (about
    /// `1 / fast_alpha` samples); after a score of 0.5 or more the score rests for
    /// `10 / fast_alpha` samples.
    pub fast_alpha: f32,
    /// The smallest shift of the recent mean, in baseline standard deviations, that the level-shift
    /// score reacts to (≥ 0): it is 0 up to a divergence of `shift_low²/2` (a shift of `shift_low`
    /// σ) and 0.5 at `shift_low²` (a shift of `√2·shift_low` σ). Also read as `cusum_k`, its name
    /// when the level shift was a CUSUM, so older configurations and stored specs still load.
    #[serde(alias = "cusum_k")]
    pub shift_low: f32,
    /// A level shift is confirmed, and the baseline's mean moves to the recent window's, when the
    /// recent mean alone is `√shift_confirm · shift_low` baseline standard deviations off (≥ 1).
    /// Also read as `cusum_h`, its name when the level shift was a CUSUM.
    #[serde(alias = "cusum_h")]
    pub shift_confirm: f32,
    /// Jump, in typical jumps, above which the spike score rises above 0; it is 0.5 at twice this (≥ 0).
    pub spike_low: f32,
    /// Samples in a run of (nearly) equal values before a varying sensor counts as stuck; 0 disables
    /// the stuck component.
    pub stuck_samples: u16,
    /// A run must also be this many times the series' typical run length to count as stuck (≥ 0).
    pub stuck_ratio: f32,
    /// Largest difference from the run's first value that still counts as "unchanged" (≥ 0, in the
    /// series' units; 0 = bit-exact equality).
    pub stuck_epsilon: f32,
    /// Whether a series constant from its very first sample may be called stuck.
    pub stuck_from_start: bool,
    /// Floor of every spread the detector divides by (baseline σ, typical jump), in the series' units
    /// (> 0). Floors of `1e-6·|mean|` (about 8 `f32` ulps) and half the typical jump also apply, so a
    /// flat stretch does not turn rounding or the next ordinary step into anomalies.
    pub min_std: f32,
    /// Physical lower limit, if any (inclusive: the limit itself is in range).
    pub min: Option<f32>,
    /// Physical upper limit, if any (inclusive).
    pub max: Option<f32>,
    /// Largest plausible |change| per second, if any (inclusive).
    pub max_slew_per_s: Option<f32>,
}

impl AnomalyConfig {
    /// General-purpose defaults, one setting for every series (no physical limits). Why these values:
    /// - `baseline_alpha` 0.003: a baseline of about 330 samples, long enough for a stable variance
    ///   and for a drifting normal to be followed rather than flagged.
    /// - `warmup_samples` 30: the variance of 30 samples is within about ±25 %.
    /// - `z_low` 4: nothing within 4σ scores; 8σ scores 0.5, 40σ 0.9.
    /// - `fast_alpha` 0.1: a recent window of about 10 samples, and a rest of 100 samples after an
    ///   anomaly starts.
    /// - `shift_low` 1.5, `shift_confirm` 8: the level shift starts to score when the recent mean
    ///   is 1.5σ off (or the spread changed as much), is 0.5 at about 2.1σ, and is confirmed when the
    ///   recent mean is 4.2σ off.
    /// - `spike_low` 16: a jump of 16 typical jumps starts the spike score (about 18σ on white noise,
    ///   so on a noisy series the deviation speaks first; on a smooth one a sudden step of 16
    ///   ordinary steps is a spike).
    /// - `stuck_samples` 30 and `stuck_ratio` 10: at least 30 samples and 10 typical runs.
    /// - `stuck_epsilon` 0: only a bit-exact repeat is "unchanged" (a real ADC reading dithers).
    /// - `min_std` 1e-6: only keeps a perfectly flat series from dividing by zero; the relative and
    ///   jump-based floors do the real work, in the series' own units.
    ///
    /// The statistical values were chosen on the Numenta Anomaly Benchmark (`BENCHMARKS.md`) under
    /// the constraint of staying quiet on synthetic normal series (white noise, a cycle, a ramp, a
    /// quantised reading).
    pub const DEFAULT: AnomalyConfig = AnomalyConfig {
        baseline_alpha: 0.003,
        warmup_samples: 30,
        z_low: 4.0,
        fast_alpha: 0.1,
        shift_low: 1.5,
        shift_confirm: 8.0,
        spike_low: 16.0,
        stuck_samples: 30,
        stuck_ratio: 10.0,
        stuck_epsilon: 0.0,
        stuck_from_start: false,
        min_std: 1e-6,
        min: None,
        max: None,
        max_slew_per_s: None,
    };

    /// The [defaults](Self::DEFAULT); `const`, so firmware can build its configuration in a `const`.
    pub const fn new() -> AnomalyConfig {
        AnomalyConfig::DEFAULT
    }

    /// The defaults with physical limits: `min`/`max` for the value, `max_slew_per_s` for
    /// |change| per second (all inclusive, `None` = no limit).
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

/// The smallest `baseline_alpha` (2⁻¹⁶): a baseline memory of up to 65 536 samples.
const MIN_BASELINE_ALPHA: f32 = 1.0 / 65_536.0;
/// The score at which an anomaly starts, and the detector rests.
const ALARM: f32 = 0.5;
/// Rest after an alarm, in recent-window lengths (`1 / fast_alpha` samples each).
const REST_WINDOWS: f64 = 10.0;
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

/// The configuration, clamped into its domains, in `f64`.
struct Params {
    alpha_b: f64,
    alpha_f: f64,
    z_low: f64,
    shift_low: f64,
    shift_confirm: f64,
    spike_low: f64,
    stuck_ratio: f64,
    stuck_epsilon: f64,
    min_std: f64,
}

/// `x` clamped into `[lo, hi]`, `fallback` for NaN.
fn sane(x: f32, lo: f32, hi: f32, fallback: f32) -> f64 {
    f64::from(if x.is_nan() {
        fallback
    } else {
        x.max(lo).min(hi)
    })
}

impl Params {
    fn new(c: &AnomalyConfig) -> Params {
        let d = AnomalyConfig::DEFAULT;
        Params {
            alpha_b: sane(c.baseline_alpha, MIN_BASELINE_ALPHA, 1.0, d.baseline_alpha),
            alpha_f: sane(c.fast_alpha, 1e-6, 1.0, d.fast_alpha),
            z_low: sane(c.z_low, 0.0, f32::MAX, d.z_low),
            shift_low: sane(c.shift_low, 0.0, 1e15, d.shift_low),
            shift_confirm: sane(c.shift_confirm, 1.0, f32::MAX, d.shift_confirm),
            spike_low: sane(c.spike_low, 0.0, f32::MAX, d.spike_low),
            stuck_ratio: sane(c.stuck_ratio, 0.0, f32::MAX, d.stuck_ratio),
            stuck_epsilon: sane(c.stuck_epsilon, 0.0, f32::MAX, d.stuck_epsilon),
            min_std: sane(c.min_std, f32::MIN_POSITIVE, f32::MAX, d.min_std),
        }
    }

    /// Samples of rest after an alarm.
    fn rest(&self) -> u16 {
        let rest = libm::round(REST_WINDOWS / self.alpha_f);
        if rest >= f64::from(u16::MAX) {
            u16::MAX
        } else {
            rest as u16
        }
    }
}

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

    fn step(&mut self, now_ms: u64, value: f32, last_ms: Option<u64>) -> AnomalyScore {
        let c = self.config;
        let p = Params::new(&c);
        let x = f64::from(value);
        let previous = last_ms.map(|t| (t, f64::from(self.last_value)));
        let mut score = AnomalyScore::ZERO;

        // Physical limits: absolute, from the first sample.
        score.out_of_range =
            c.min.is_some_and(|min| value < min) || c.max.is_some_and(|max| value > max);
        if let (Some((t, prev)), Some(limit)) = (previous, c.max_slew_per_s) {
            let change = libm::fabs(x - prev);
            let dt_s = (now_ms - t) as f64 / 1000.0;
            score.slew = if dt_s > 0.0 {
                change / dt_s > f64::from(limit)
            } else {
                change > 0.0
            };
        }

        // The baseline before this sample (the sample itself before the first).
        let first = previous.is_none();
        let warmed_up = !first && self.samples >= u32::from(c.warmup_samples);
        let (mean, std) = self.baseline().unwrap_or((value, 0.0));
        let (mean, std) = (f64::from(mean), f64::from(std));
        let floor = self.floor(&p, mean);
        let sd = std.max(floor);
        let residual = x - mean;
        let z = libm::fabs(residual) / sd;

        // Deviation: far from the baseline, or also beyond the range seen so far.
        if warmed_up {
            score.deviation = squash(z, p.z_low);
            let (high, low) = (f64::from(self.high), f64::from(self.low));
            let range = high - low;
            if z > p.z_low && range > 0.0 {
                let beyond = (x - high).max(low - x);
                score.deviation = score.deviation.max(squash(beyond / range, NOVELTY_LOW));
            }
        }

        // Spike: a jump away from the previous sample *and* from the baseline, so that the return to
        // normal after a spike or a burst is not a spike.
        let jump = previous.map(|(_, prev)| libm::fabs(x - prev));
        let typical_jump = f64::from(self.typical_jump).max(floor);
        if let (true, Some(jump)) = (warmed_up, jump) {
            let excursion = jump.min(libm::fabs(residual));
            score.spike = squash(excursion / typical_jump, p.spike_low);
        }

        // Every statistic learns the sample winsorised at ±10σ of the baseline once warmed up.
        let band = WINSOR_SIGMAS * sd;
        let learned = if warmed_up {
            x.max(mean - band).min(mean + band)
        } else {
            x
        };

        // Level shift: the recent window (this sample included) against the baseline (before it).
        let (recent_mean, recent_variance) = if first {
            (x, 0.0)
        } else {
            let m = f64::from(self.recent_mean);
            ew(
                m,
                f64::from(self.recent_variance),
                warm_weight(p.alpha_f, self.samples.saturating_add(1)),
                learned - m,
            )
        };
        let mut confirmed = false;
        if warmed_up {
            let d = divergence(mean, sd * sd, recent_mean, recent_variance);
            let half = 0.5 * p.shift_low * p.shift_low;
            // Confirmed when the recent mean alone is √shift_confirm·shift_low σ off: a shift held for
            // several samples, not a burst of a few wild ones (each is winsorised at 10σ).
            let shift = (recent_mean - mean) / sd;
            confirmed =
                shift * shift >= p.shift_confirm * p.shift_low * p.shift_low && p.shift_low > 0.0;
            score.level_shift = if confirmed { 1.0 } else { squash(d, half) };
        }

        // Stuck: runs of values within epsilon of the run's first value.
        let stuck_threshold = |run: u16, typical_run: f32| -> bool {
            c.stuck_samples > 0
                && run >= c.stuck_samples
                && if typical_run > 0.0 {
                    f64::from(run) >= p.stuck_ratio * f64::from(typical_run)
                } else {
                    c.stuck_from_start
                }
        };
        if !first && libm::fabs(x - f64::from(self.run_anchor)) <= p.stuck_epsilon {
            self.run = self.run.saturating_add(1);
        } else {
            if !first {
                // Weighted by the samples in the run (as if each of them reported its run's length),
                // so the typical run is what a typical *sample* sees: long for a series that mostly
                // holds its value, however many short runs it also has.
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
            self.run_anchor = value;
            self.run = 1;
        }
        if stuck_threshold(self.run, self.typical_run) {
            score.stuck = 1.0;
        }

        // The score: the largest component when an anomaly starts, then a rest.
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

        // Learn. The typical jump learns only from samples that changed the value (beyond
        // `stuck_epsilon`).
        if let Some(jump) = jump.filter(|&jump| jump > p.stuck_epsilon) {
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
        if first {
            (self.high, self.low) = (value, value);
        } else {
            let (high, low) = (f64::from(self.high), f64::from(self.low));
            self.high = saturating_f32(learned.max(high - ENVELOPE_RELAX * (high - mean)));
            self.low = saturating_f32(learned.min(low + ENVELOPE_RELAX * (mean - low)));
        }
        (self.recent_mean, self.recent_variance) =
            (saturating_f32(recent_mean), saturating_f32(recent_variance));
        if confirmed {
            // A confirmed shift: the recent window's level is the new normal, with the spread the
            // baseline had.
            self.baseline_mean = self.recent_mean;
        } else if first {
            (self.baseline_mean, self.baseline_variance) = (value, 0.0);
        } else {
            let w = warm_weight(p.alpha_b, self.samples.saturating_add(1));
            let diff = learned - mean;
            // The spread learns deviations winsorised tighter than the mean does, so that a step
            // does not inflate it before the shift is confirmed.
            let spread_band = VARIANCE_WINSOR_SIGMAS * sd;
            let spread_diff = if warmed_up {
                diff.max(-spread_band).min(spread_band)
            } else {
                diff
            };
            let v = f64::from(self.baseline_variance);
            (self.baseline_mean, self.baseline_variance) = (
                saturating_f32(mean + w * diff),
                saturating_f32(((1.0 - w) * (v + w * spread_diff * spread_diff)).max(0.0)),
            );
        }

        self.last_value = value;
        self.last_ms = now_ms;
        self.samples = self.samples.saturating_add(1);
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::XorShift64Star;
    use std::vec::Vec;

    /// 10 + a sine of period 200 samples and amplitude 1, plus N(0, 0.1²) noise; one sample a second.
    fn signal(n: usize, seed: u64) -> Vec<f32> {
        let mut noise = XorShift64Star::new(seed);
        (0..n)
            .map(|i| {
                10.0 + libm::sinf(i as f32 * core::f32::consts::TAU / 200.0)
                    + 0.1 * noise.gaussian() as f32
            })
            .collect()
    }

    /// `mean` + N(0, sigma²) noise.
    fn noise(n: usize, seed: u64, mean: f32, sigma: f32) -> Vec<f32> {
        let mut noise = XorShift64Star::new(seed);
        (0..n)
            .map(|_| mean + sigma * noise.gaussian() as f32)
            .collect()
    }

    fn run(detector: &mut AnomalyDetector, values: &[f32]) -> Vec<AnomalyScore> {
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| detector.update(i as u64 * 1000, v).unwrap())
            .collect()
    }

    fn scores(config: AnomalyConfig, values: &[f32]) -> Vec<AnomalyScore> {
        run(&mut AnomalyDetector::new(config), values)
    }

    fn count(scores: &[AnomalyScore], f: impl Fn(&AnomalyScore) -> bool) -> usize {
        scores.iter().filter(|s| f(s)).count()
    }

    #[test]
    fn size_is_part_of_the_contract() {
        assert_eq!(core::mem::size_of::<AnomalyDetector>(), 128);
        // The per-metric budget: a 64-sample window (statistics and trend) and this detector.
        let per_metric = core::mem::size_of::<crate::window::Window<64>>()
            + core::mem::size_of::<AnomalyDetector>();
        assert!(per_metric <= 1024, "{per_metric} bytes per metric");
    }

    #[test]
    fn config_is_const_constructible() {
        const SENSOR: AnomalyConfig =
            AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(2.0));
        const PLAIN: AnomalyConfig = AnomalyConfig::new();
        assert_eq!(PLAIN, AnomalyConfig::default());
        assert_eq!(SENSOR.max, Some(85.0));
        assert_eq!(SENSOR.z_low, AnomalyConfig::DEFAULT.z_low);
    }

    #[test]
    fn level_shift_parameters_load_by_their_former_cusum_names_too() {
        let old: AnomalyConfig =
            serde_json::from_str(r#"{"cusum_k": 2.5, "cusum_h": 3.0}"#).unwrap();
        let new: AnomalyConfig =
            serde_json::from_str(r#"{"shift_low": 2.5, "shift_confirm": 3.0}"#).unwrap();
        assert_eq!(old, new);
        assert_eq!((new.shift_low, new.shift_confirm), (2.5, 3.0));
        assert_eq!(new.z_low, AnomalyConfig::DEFAULT.z_low);
        let written = serde_json::to_string(&new).unwrap();
        assert!(written.contains("\"shift_low\":2.5") && !written.contains("cusum"));
    }

    #[test]
    fn squash_mapping() {
        assert_eq!(squash(2.0, 3.0), 0.0);
        assert_eq!(squash(3.0, 3.0), 0.0);
        assert_eq!(squash(6.0, 3.0), 0.5);
        assert_eq!(squash(30.0, 3.0), 0.9);
        assert_eq!(squash(f64::INFINITY, 3.0), 1.0);
        assert_eq!(squash(f64::NAN, 3.0), 0.0);
        assert_eq!(squash(1.0, 0.0), 1.0);
    }

    #[test]
    fn divergence_of_normals() {
        // A pure mean shift of δσ: δ²/2.
        assert!((divergence(0.0, 4.0, 3.0, 4.0) - 0.5 * 1.5 * 1.5).abs() < 1e-12);
        assert_eq!(divergence(5.0, 1.0, 5.0, 1.0), 0.0);
        // A wider recent spread: ½(ln(1/4) + 4 − 1).
        let wider = divergence(0.0, 1.0, 0.0, 4.0);
        assert!((wider - 0.5 * (libm::log(0.25) + 3.0)).abs() < 1e-12);
        // A recent window gone flat counts as a tenfold drop of variance, not an infinite one.
        let flat = divergence(0.0, 1.0, 0.0, 0.0);
        assert!((flat - 0.5 * (libm::log(10.0) + 0.1 - 1.0)).abs() < 1e-12);
        assert_eq!(divergence(0.0, 0.0, 1.0, 1.0), 0.0);
        assert_eq!(divergence(0.0, f64::NAN, 1.0, 1.0), 0.0);
    }

    #[test]
    fn warm_up_scores_zero_except_physical_limits() {
        let config = AnomalyConfig::with_limits(None, Some(1e3), None);
        let mut values = noise(100, 7, 0.0, 1.0);
        values[5] = 500.0; // wild, but during warm-up
        values[10] = 5e3; // out of range: honest from the first sample
        let s = scores(config, &values);
        for (i, s) in s[..30].iter().enumerate() {
            if i == 10 {
                assert!(s.out_of_range && s.score == 1.0);
                assert_eq!(s.dominant(), AnomalyKind::OutOfRange);
            } else {
                assert_eq!(*s, AnomalyScore::ZERO, "sample {i}");
            }
        }
        assert!(
            s[30..].iter().all(|x| x.score < 0.5 || x.out_of_range),
            "and then honest scores on plain noise"
        );
    }

    #[test]
    fn quiet_signal_scores_low_and_a_spike_scores_high_at_its_sample_only() {
        let mut values = signal(3000, 1);
        values[2000] += 3.0; // 30 noise sigmas, 3 sine amplitudes
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let spike = s[2000];
        assert!(spike.score >= 0.8, "{spike:?}");
        // Far beyond anything the sine has shown: a deviation, and a jump of many ordinary steps.
        assert_eq!(spike.dominant(), AnomalyKind::Deviation);
        assert!(spike.spike > 0.25, "{spike:?}");
        assert_eq!(s[2001].spike, 0.0, "the return to normal is not a spike");
        assert!(s[2001].deviation < 0.5, "{:?}", s[2001]);
        assert_eq!(s[2001].score, 0.0, "the detector rests after an anomaly");
        assert!(
            s[2000].level_shift < 0.5,
            "a lone spike is not a level shift"
        );
        let false_alarms = count(&s[30..], |x| x.score >= 0.5) - 1;
        assert_eq!(false_alarms, 0, "a quiet sine scored >= 0.5");
        // The recent window reads the sine's phase as a mild divergence from the baseline.
        let elevated = count(&s[30..], |x| x.score > 0.4);
        assert!(elevated <= 60, "{elevated} samples above 0.4");
        assert!(
            s.iter().all(|x| x.level_shift < 1.0),
            "the daily cycle is not a level shift"
        );
    }

    #[test]
    fn a_sustained_three_sigma_shift_scores_once_then_becomes_the_new_normal() {
        let mut values = noise(3000, 2, 5.0, 0.1);
        values[1000..].iter_mut().for_each(|v| *v += 0.3);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(
            s[30..1000].iter().all(|x| x.score < 0.5),
            "quiet before the shift"
        );
        let found = s[1000..]
            .iter()
            .position(|x| x.score >= 0.5)
            .expect("shift found");
        assert!(found < 12, "found after {found} samples");
        // Leaving the range the noise had shown, or the recent window moving away.
        let kind = s[1000 + found].dominant();
        assert!(
            matches!(kind, AnomalyKind::LevelShift | AnomalyKind::Deviation),
            "{kind:?}"
        );
        assert!(
            s[1000..1000 + found].iter().all(|x| x.deviation < 0.5),
            "the z-score alone does not call a 3σ shift"
        );
        let after = 1000 + found + 1;
        assert!(
            s[after..].iter().all(|x| x.score < 0.5),
            "one score for one shift: the baseline absorbs the new level during the rest"
        );
        assert!(
            s[after + 400..].iter().all(|x| x.level_shift < 0.5),
            "and the new level is normal"
        );
    }

    #[test]
    fn a_four_sigma_shift_is_found_and_a_one_sigma_one_ignored() {
        // 4σ: the first samples past the range the noise had shown score as a deviation, and the
        // recent window's mean moves away from the baseline within a dozen samples.
        let mut values = noise(2000, 9, -20.0, 2.0);
        values[1000..].iter_mut().for_each(|v| *v += 8.0);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(s[30..1000].iter().all(|x| x.score < 0.5));
        let found = s[1000..]
            .iter()
            .position(|x| x.score >= 0.5)
            .expect("shift found");
        assert!(found < 12, "found after {found} samples");
        let shifted = s[1000..]
            .iter()
            .position(|x| x.level_shift >= 0.5)
            .expect("level shift");
        assert!(shifted < 12, "level shift after {shifted} samples");
        assert!(
            s[1000 + found + 1..].iter().all(|x| x.score < 0.5),
            "one score for one shift"
        );
        // 1σ, below `shift_low`: slow change is the trend's business.
        let mut values = noise(2000, 9, -20.0, 2.0);
        values[1000..].iter_mut().for_each(|v| *v += 2.0);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(s[30..].iter().all(|x| x.score < 0.5));
    }

    #[test]
    fn the_baseline_follows_a_confirmed_shift_and_resists_outliers() {
        let mut values = noise(3000, 3, 100.0, 1.0);
        values[500..].iter_mut().for_each(|v| *v += 50.0);
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let s = run(&mut d, &values);
        assert!(s[500].deviation > 0.9 && s[500].spike > 0.5 && s[500].score > 0.9);
        let first = s[500..].iter().position(|x| x.level_shift >= 1.0).unwrap();
        assert!(
            first <= 30,
            "a 50σ step is confirmed in 30 samples, took {first}"
        );
        // Announced at the step, at most once more after the rest while the baseline catches up
        // (its spread widens to take the step in), then normal.
        let announced = s[501..].iter().filter(|x| x.score >= 0.5).count();
        assert!(announced <= 1, "{announced} more scores >= 0.5");
        assert!(
            s[700..]
                .iter()
                .all(|x| x.deviation == 0.0 && x.level_shift < 0.5),
            "the new level is the normal one"
        );
        let (mean, std) = d.baseline().unwrap();
        assert!((mean - 150.0).abs() < 0.5 && std < 1.5, "{mean} {std}");

        // Isolated outliers move a learned baseline by at most 10σ·alpha each.
        let mut values = noise(1000, 4, 0.0, 1.0);
        for i in (300..1000).step_by(50) {
            values[i] = 1e6;
        }
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        run(&mut d, &values);
        // The spread widens by at most a factor (1 + 100·alpha) per outlier, and recovers between
        // them: 14 outliers of 10⁶σ leave it within a few σ.
        let (mean, std) = d.baseline().unwrap();
        assert!(mean.abs() < 0.5 && std < 4.0, "{mean} {std}");
    }

    #[test]
    fn a_short_burst_is_spikes_not_a_new_level() {
        let mut values = noise(1000, 11, 50.0, 1.0);
        values[600..604].copy_from_slice(&[5e3, 9e6, 2e4, 7e5]);
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let s = run(&mut d, &values[..700]);
        assert!(s[600].score > 0.9, "{:?}", s[600]);
        // Every sample of the burst is far out, and each is a jump or moves the recent window.
        assert!(s[600..604]
            .iter()
            .all(|x| x.deviation > 0.9 && (x.spike > 0.5 || x.level_shift > 0.5)));
        assert!(
            s.iter().all(|x| x.level_shift < 1.0),
            "four samples never confirm a shift"
        );
        assert!(
            s[601..].iter().all(|x| x.score < 0.5),
            "one score for one burst"
        );
        assert!(
            s[640..]
                .iter()
                .all(|x| x.deviation < 0.5 && x.level_shift < 0.5),
            "back to normal"
        );
        // Each wild value counted as at most 10σ: the mean barely moves, the spread widens a little.
        let (mean, std) = d.baseline().unwrap();
        assert!((mean - 50.0).abs() < 0.3 && std < 1.8, "{mean} {std}");
    }

    #[test]
    fn quantised_and_intermittent_series_are_not_anomalous_for_their_steps() {
        // A 0.1-resolution temperature drifting slowly with noise below the resolution: it dithers
        // between neighbouring steps.
        let mut noise = XorShift64Star::new(13);
        let values: Vec<f32> = (0..5000)
            .map(|i| {
                let t = 25.0 + 0.3 * libm::sinf(i as f32 / 300.0) + 0.04 * noise.gaussian() as f32;
                libm::roundf(10.0 * t) / 10.0
            })
            .collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let high = count(&s, |x| x.score >= 0.5);
        assert!(
            high <= 2,
            "{high} samples >= 0.5: {:?}",
            s.iter().find(|x| x.score >= 0.5)
        );
        // Without any noise it is a staircase: each stair is a level shift (it is one, of a series
        // with no spread at all), but never a deviation or a spike once the first step has been seen.
        let values: Vec<f32> = (0..5000)
            .map(|i| libm::roundf(10.0 * (25.0 + 0.3 * libm::sinf(i as f32 / 300.0))) / 10.0)
            .collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(s[100..]
            .iter()
            .all(|x| x.deviation < 0.5 && x.spike < 0.5 && x.stuck == 0.0));
        // A count that is mostly 0, sometimes 1 or 2.
        let mut noise = XorShift64Star::new(12);
        let values: Vec<f32> = (0..5000)
            .map(|_| match noise.gaussian() {
                g if g > 2.0 => 2.0,
                g if g > 1.0 => 1.0,
                _ => 0.0,
            })
            .collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let high = count(&s, |x| x.score >= 0.5);
        assert!(high <= 5, "{high} samples of a quiet count scored >= 0.5");
    }

    #[test]
    fn normal_series_stay_quiet_for_a_hundred_thousand_samples() {
        // The constraint the defaults were chosen under: white noise, a sine with noise, a noisy
        // ramp and a dithering quantised reading score at most one sample >= 0.5 in 10^5.
        for kind in 0..4 {
            let mut noise = XorShift64Star::new(100 + kind);
            let values: Vec<f32> = (0..100_000)
                .map(|i| {
                    let g = noise.gaussian() as f32;
                    let t = i as f32;
                    match kind {
                        0 => g,
                        1 => 10.0 + libm::sinf(t * core::f32::consts::TAU / 200.0) + 0.1 * g,
                        2 => 40.0 + 0.01 * t + g,
                        _ => {
                            libm::roundf(10.0 * (25.0 + 0.3 * libm::sinf(t / 300.0) + 0.04 * g))
                                / 10.0
                        }
                    }
                })
                .collect();
            let s = scores(AnomalyConfig::DEFAULT, &values);
            let alarms = count(&s, |x| x.score >= 0.5);
            assert!(alarms <= 1, "series {kind}: {alarms} scores >= 0.5");
        }
    }

    #[test]
    fn a_steady_ramp_is_not_an_anomaly() {
        let values: Vec<f32> = (0..2000).map(|i| 40.0 + 0.25 * i as f32).collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(
            s.iter().all(|x| x.score < 0.5),
            "{:?}",
            s.iter().find(|x| x.score >= 0.5)
        );
    }

    #[test]
    fn a_varying_sensor_that_freezes_is_stuck_and_a_constant_one_is_not() {
        let mut values = signal(500, 3);
        let frozen = values[300];
        values[300..].iter_mut().for_each(|v| *v = frozen);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        // The run starts at sample 299's successor... sample 300 begins a run (unless 299 equals it).
        assert!(s[300..329].iter().all(|x| x.stuck == 0.0));
        assert!(s[329..].iter().all(|x| x.stuck == 1.0));
        // The score announces it, then again after each rest while it lasts.
        let announced: Vec<usize> = (0..500).filter(|&i| s[i].score >= 0.5).collect();
        assert_eq!(announced, [329, 430], "{announced:?}");
        assert_eq!(s[329].score, 1.0);
        assert_eq!(s[400].dominant(), AnomalyKind::Stuck);

        let constant = std::vec![42.0f32; 500];
        let s = scores(AnomalyConfig::DEFAULT, &constant);
        assert!(s.iter().all(|x| *x == AnomalyScore::ZERO));
        let from_start = AnomalyConfig {
            stuck_from_start: true,
            ..AnomalyConfig::DEFAULT
        };
        let s = scores(from_start, &constant);
        assert!(s[..29].iter().all(|x| x.stuck == 0.0));
        assert!(s[29..].iter().all(|x| x.stuck == 1.0));
    }

    #[test]
    fn stuck_is_relative_to_the_series_typical_runs_and_re_arms() {
        // A coarse sensor: holds each value for 20 samples, then steps.
        let mut values: Vec<f32> = (0..2000).map(|i| ((i / 20) % 5) as f32).collect();
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(
            s.iter().all(|x| x.stuck == 0.0),
            "runs of 20 are normal here"
        );
        // Frozen for 300 samples (15 typical runs), then moving again, then frozen again.
        values[1000..1300].iter_mut().for_each(|v| *v = 2.0);
        values.resize(2400, 3.0);
        values[1700..].iter_mut().for_each(|v| *v = 3.0);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let first = s.iter().position(|x| x.stuck == 1.0).unwrap();
        assert!((1190..1230).contains(&first), "stuck from {first}");
        assert!(s[1300..1600].iter().all(|x| x.stuck == 0.0));
        assert!(s[2100..].iter().all(|x| x.stuck == 1.0), "re-armed");

        // Within epsilon: a sensor that dithers by one LSB around a frozen value is still stuck.
        let mut values = signal(400, 5);
        for (i, v) in values[200..].iter_mut().enumerate() {
            *v = 12.0 + if i % 2 == 0 { 0.0 } else { 0.01 };
        }
        let config = AnomalyConfig {
            stuck_epsilon: 0.02,
            ..AnomalyConfig::DEFAULT
        };
        let s = scores(config, &values);
        assert!(s[240..].iter().all(|x| x.stuck == 1.0));
        assert!(scores(AnomalyConfig::DEFAULT, &values)[240..]
            .iter()
            .all(|x| x.stuck == 0.0));
    }

    #[test]
    fn physical_limits_score_exactly_one_and_are_inclusive() {
        let config = AnomalyConfig::with_limits(Some(-40.0), Some(85.0), Some(1.0));
        let mut d = AnomalyDetector::new(config);
        let s = d.update(0, 90.0).unwrap();
        assert!(s.out_of_range && s.score == 1.0 && s.dominant() == AnomalyKind::OutOfRange);
        let s = d.update(1000, 85.0).unwrap();
        assert!(!s.out_of_range && s.slew && s.score == 1.0);
        assert_eq!(s.dominant(), AnomalyKind::SlewRate);
        let s = d.update(2000, 84.0).unwrap();
        assert!(
            !s.slew && !s.out_of_range && s.score == 0.0,
            "exactly the limit is allowed"
        );
        let s = d.update(2000, 84.5).unwrap();
        assert!(s.slew, "a change at one instant is infinitely fast");
        let s = d.update(2000, 84.5).unwrap();
        assert!(!s.slew, "no change at one instant is no rate");
        assert!(!d.update(3000, -40.0).unwrap().out_of_range);
        assert!(d.update(3_000_000, -40.5).unwrap().out_of_range);
        // Both at once: range wins the explanation.
        let s = d.update(3_000_000, 1e9).unwrap();
        assert!(s.out_of_range && s.slew && s.dominant() == AnomalyKind::OutOfRange);
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
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(d.update(100_000, bad), Err(SampleError::NonFinite));
        }
        assert_eq!(d, before);
        assert_eq!(d.samples(), 100);
        // And the next good sample scores as if the bad ones never came.
        let mut twin = before;
        assert_eq!(d.update(100_000, 10.0), twin.update(100_000, 10.0));
    }

    #[test]
    fn extreme_inputs_and_configs_stay_finite_and_in_range() {
        let values = [
            0.0,
            f32::MAX,
            f32::MIN,
            1e30,
            -1e30,
            f32::MIN_POSITIVE,
            0.0,
            f32::MAX,
            f32::MAX,
        ];
        let wild = AnomalyConfig {
            baseline_alpha: f32::NAN,
            warmup_samples: 0,
            z_low: -1.0,
            fast_alpha: 7.0,
            shift_low: f32::NEG_INFINITY,
            shift_confirm: 0.0,
            spike_low: f32::NAN,
            stuck_samples: 1,
            stuck_ratio: f32::INFINITY,
            stuck_epsilon: -1.0,
            stuck_from_start: true,
            min_std: 0.0,
            min: Some(f32::NAN),
            max: Some(f32::NEG_INFINITY),
            max_slew_per_s: Some(f32::NAN),
        };
        for config in [AnomalyConfig::DEFAULT, wild] {
            let mut d = AnomalyDetector::new(config);
            for round in 0..50u64 {
                for (i, &v) in values.iter().enumerate() {
                    let s = d.update(round * 10 + i as u64 / 3, v).unwrap();
                    for x in [s.score, s.deviation, s.level_shift, s.spike, s.stuck] {
                        assert!((0.0..=1.0).contains(&x), "{s:?}");
                    }
                }
            }
            let (mean, std) = d.baseline().unwrap();
            assert!(mean.is_finite() && std.is_finite());
        }
    }

    #[test]
    fn restore_then_continue_equals_never_stopped() {
        let mut values = signal(1500, 5);
        values[900..].iter_mut().for_each(|v| *v += 2.0);
        let mut uninterrupted = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let expected = run(&mut uninterrupted, &values);
        for cut in [0, 1, 29, 30, 600, 902, 1499] {
            let mut first = AnomalyDetector::new(AnomalyConfig::DEFAULT);
            let mut got = run(&mut first, &values[..cut]);
            let record = postcard::to_allocvec(&first).unwrap();
            assert!(
                record.len() <= 110,
                "persisted record is {} bytes",
                record.len()
            );
            let mut restored: AnomalyDetector = postcard::from_bytes(&record).unwrap();
            assert_eq!(restored, first);
            for (i, &v) in values.iter().enumerate().skip(cut) {
                got.push(restored.update(i as u64 * 1000, v).unwrap());
            }
            assert_eq!(got, expected, "cut at {cut}");
            assert_eq!(restored, uninterrupted);
        }
    }

    #[test]
    fn dominant_prefers_the_specific_explanation_on_ties() {
        let mut s = AnomalyScore::ZERO;
        assert_eq!(s.dominant(), AnomalyKind::None);
        s.deviation = 0.7;
        assert_eq!(s.dominant(), AnomalyKind::Deviation);
        s.spike = 0.7;
        assert_eq!(s.dominant(), AnomalyKind::Spike);
        s.level_shift = 1.0;
        s.deviation = 1.0;
        assert_eq!(s.dominant(), AnomalyKind::LevelShift);
        s.stuck = 1.0;
        assert_eq!(s.dominant(), AnomalyKind::Stuck);
        s.slew = true;
        assert_eq!(s.dominant(), AnomalyKind::SlewRate);
    }
}
