//! Anomaly score: how unusual each sample of one series is, in [0, 1], from 128 bytes of state.
//!
//! Each component is reported on its own, so an alert rule or a display can say *why*:
//!
//! | component | question | value |
//! |---|---|---|
//! | [`deviation`](AnomalyScore::deviation) | how far is the sample from the adaptive baseline? | `squash(|z|, z_low)` |
//! | [`level_shift`](AnomalyScore::level_shift) | has the level moved and stayed there? | CUSUM ramp, 1 = confirmed |
//! | [`spike`](AnomalyScore::spike) | is this one sample a jump, compared with the series' usual step? | `squash(jump / typical jump, spike_low)` |
//! | [`stuck`](AnomalyScore::stuck) | has a sensor that varies stopped changing? | 0 or 1 |
//! | [`out_of_range`](AnomalyScore::out_of_range) | outside the configured physical limits? | bool (score 1) |
//! | [`slew`](AnomalyScore::slew) | changing faster than physically possible? | bool (score 1) |
//!
//! The [`score`](AnomalyScore::score) is the largest component, and exactly 1 on a range or slew
//! violation. [`AnomalyScore::dominant`] names the component behind it.
//!
//! `squash(x, low) = max(0, 1 − low/x)`: 0 up to `low`, 0.5 at `2·low`, 0.75 at `4·low`, 0.9 at
//! `10·low`, approaching 1 without saturating, so large deviations stay ordered (one global
//! threshold can be chosen on them) and a statistical component reads as "the share of the
//! deviation that lies beyond the threshold".
//!
//! # How each component works
//!
//! - **Baseline**: an exponentially weighted mean and variance (the update of [`EwStats`](crate::stats::EwStats), weight
//!   `baseline_alpha`, warm start). Once it has `warmup_samples` samples it learns each sample
//!   *winsorised* at ±3σ (clamped to the band, not dropped): an outlier moves the mean by at most
//!   `3σ·baseline_alpha`, yet a genuinely wider spread is still learned. It does not learn at all
//!   while a level shift is building (level-shift score above 0), so a shift cannot drag the
//!   baseline after it and hide itself. While it has fewer samples (at the start, and after a
//!   confirmed shift re-seeds it) it learns raw values, so it converges on a new level at once.
//! - **Spread floor**: every spread the detector divides by is at least `min_std`, `1e-6·|mean|`
//!   (about 8 `f32` ulps of the level) and half the typical jump, so a flat stretch of a quantised
//!   or intermittent series (a 0.1 °C sensor, a count that is mostly 0) does not make its next
//!   ordinary step look like many σ.
//! - **Deviation**: `z = (x − mean) / σ` against the baseline *before* this sample, scored
//!   `squash(|z|, z_low)`. While the baseline is young (fewer than `warmup_samples` samples since
//!   its start or its last re-seed) σ is at least the long-run scale below, so a variance learned
//!   from a handful of samples cannot inflate `z`.
//! - **Level shift**: a two-sided CUSUM (Page) on standardised residuals
//!   `u = clamp((x − mean) / scale, ±cusum_h/3)`:
//!   `S⁺ = max(0, S⁺ + u − k)`, `S⁻ = max(0, S⁻ − u − k)`. The score ramps linearly from 0 at
//!   `max(S⁺, S⁻) = h/2` to 1 at `h`, where the shift is *confirmed*: the baseline is re-seeded at
//!   the median of the last three samples (keeping its variance, then learning raw values while
//!   young), both sums reset and the detector re-arms. Because of the clamp a lone outlier never
//!   starts the ramp (`h/3 − k < h/2`) and a confirmation takes at least three samples (five with
//!   the defaults), so a short burst is scored as spikes, not as a new level, and the median
//!   re-seed lies past the step.
//!   The `scale` is `max(σ, σ_lr)`, where `σ_lr` is the residuals' *long-run* standard deviation,
//!   estimated from the variance `v` of a fast mean `r` (weight `fast_alpha`) of the residuals as
//!   `σ_lr = sqrt(v · (2 − a) / a)`. On white noise `σ_lr ≈ σ` and this is the textbook CUSUM. On
//!   a series that the baseline follows with a lag (a daily cycle, a steady ramp) the residuals
//!   come in long same-sign runs, on which a plain CUSUM fires every cycle; `σ_lr` grows with them
//!   and the CUSUM stays quiet. `v` learns with weight `baseline_alpha` (not while a shift builds),
//!   each `r²` capped at 9·`v`, so a developing shift inflates it by a bounded amount.
//! - **Spike**: the excursion `min(|x − previous|, |x − mean|)` (a jump away from the previous
//!   sample *and* from the baseline, so the return to normal after a spike or a burst is not a
//!   spike, nor is the second sample of a step) divided by the typical jump, scored
//!   `squash(ratio, spike_low)`. The typical jump is an exponentially weighted mean (weight
//!   `baseline_alpha`, each learned jump capped at 4× the typical one) of the jumps `|x − previous|`
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

use crate::stats::{ew_step, saturating_f32};
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
    /// samples. The long-run scale, the typical jump and the typical run learn at this rate too.
    pub baseline_alpha: f32,
    /// Samples during which deviation, level shift and spike score 0 while the baseline forms; also
    /// how long the baseline learns raw values after a confirmed level shift.
    pub warmup_samples: u16,
    /// |z| (in baseline standard deviations) above which the deviation score rises above 0; it is 0.5
    /// at twice this (≥ 0).
    pub z_low: f32,
    /// Weight, in (0, 1], of the fast mean of residuals behind the level shift's long-run scale:
    /// residual runs much longer than `1 / fast_alpha` samples count as slow structure (a cycle, a
    /// trend), not noise.
    pub fast_alpha: f32,
    /// CUSUM drift (slack) `k`, in standardised units (≥ 0): shifts smaller than about `k` are
    /// ignored; `k` = half the shift to detect fastest.
    pub cusum_k: f32,
    /// CUSUM decision interval `h` (> 0): the level-shift score ramps from 0 at `h/2` to 1 at `h`,
    /// where the shift is confirmed and the baseline moves to the new level. Each sample adds at most
    /// `h/3 − k`.
    pub cusum_h: f32,
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
    /// - `baseline_alpha` 0.01: a baseline of about 100 samples, long enough for a stable variance,
    ///   short enough to follow a drifting normal; an EWMA z-score with this memory already scores
    ///   like NAB's 6 400-sample windowed Gaussian (`notes/nab.md` §6).
    /// - `warmup_samples` 30: the variance of 30 samples is within about ±25 %.
    /// - `z_low` 3: nothing within 3σ scores; 6σ scores 0.5, 30σ 0.9.
    /// - `fast_alpha` 0.1: about 10 samples; a cycle of 100 samples or more is structure.
    /// - `cusum_k` 0.75, `cusum_h` 8: tuned for shifts of 1.5σ (`k` = half of it), with a wide `h`
    ///   because real residuals are heavier-tailed than Gaussian. Measured on Gaussian noise
    ///   (5·10⁶ samples): one false confirmation per ~10⁶ samples, a level-shift score ≥ 0.5 once per
    ///   ~25 000; shifts of 3σ or more are confirmed in 5 samples (the minimum), 2σ in 8 (median),
    ///   1.5σ in 12. Smaller shifts are mostly absorbed by the baseline before they are confirmed:
    ///   slow change is the trend's business.
    /// - `spike_low` 4: a jump of 4 typical jumps (about 4.5σ on white noise) starts the spike score,
    ///   8 typical jumps make it 0.5.
    /// - `stuck_samples` 30 and `stuck_ratio` 10: at least 30 samples and 10 typical runs.
    /// - `stuck_epsilon` 0: only a bit-exact repeat is "unchanged" (a real ADC reading dithers).
    /// - `min_std` 1e-6: only keeps a perfectly flat series from dividing by zero; the relative and
    ///   jump-based floors do the real work, in the series' own units.
    pub const DEFAULT: AnomalyConfig = AnomalyConfig {
        baseline_alpha: 0.01,
        warmup_samples: 30,
        z_low: 3.0,
        fast_alpha: 0.1,
        cusum_k: 0.75,
        cusum_h: 8.0,
        spike_low: 4.0,
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
    /// The largest component; exactly 1 when `out_of_range` or `slew`.
    pub score: f32,
    /// Distance from the baseline: `max(0, 1 − z_low/|z|)`.
    pub deviation: f32,
    /// Progress of the CUSUM toward a confirmed level shift; 1 on the sample that confirms it.
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
    /// shift, spike, deviation, in that order). [`AnomalyKind::None`] when the score is 0.
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
/// `Copy` and serde: persist it with any serde format (postcard: about 100 bytes, at most 123) and
/// restore it to continue exactly where it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AnomalyDetector {
    config: AnomalyConfig,
    /// The adaptive baseline's mean and variance (meaningful once `baseline_count > 0`).
    baseline_mean: f32,
    baseline_variance: f32,
    /// Time of the last accepted sample (meaningful once `samples > 0`).
    last_ms: u64,
    /// Fast exponentially weighted mean of the clamped residuals.
    fast_residual: f32,
    /// Exponentially weighted mean of `fast_residual²`: the long-run scale's source.
    fast_variance: f32,
    /// Upper CUSUM sum.
    cusum_up: f32,
    /// Lower CUSUM sum.
    cusum_down: f32,
    /// Exponentially weighted mean of |sample-to-sample jump|.
    typical_jump: f32,
    /// The previous sample's value (meaningful once a sample was accepted).
    last_value: f32,
    /// The value before that (for the median that re-seeds the baseline).
    before_last: f32,
    /// First value of the current run of (nearly) equal values.
    run_anchor: f32,
    /// Exponentially weighted mean of completed run lengths; 0 before the first run completes.
    typical_run: f32,
    /// Samples accepted, saturating.
    samples: u32,
    /// Length of the current run, saturating.
    run: u16,
    /// Samples the baseline learned since its start or its last re-seed, saturating. Its warm-start
    /// weight `max(alpha, 1/(count + 1))` needs no more: `baseline_alpha ≥ 2⁻¹⁶` dominates beyond.
    baseline_count: u16,
}

/// The smallest `baseline_alpha` (2⁻¹⁶): a baseline memory of up to 65 536 samples.
const MIN_BASELINE_ALPHA: f32 = 1.0 / 65_536.0;

/// The configuration, clamped into its domains, in `f64`.
struct Params {
    alpha_b: f64,
    alpha_f: f64,
    z_low: f64,
    k: f64,
    h: f64,
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
            k: sane(c.cusum_k, 0.0, f32::MAX, d.cusum_k),
            h: sane(c.cusum_h, 1e-6, f32::MAX, d.cusum_h),
            spike_low: sane(c.spike_low, 0.0, f32::MAX, d.spike_low),
            stuck_ratio: sane(c.stuck_ratio, 0.0, f32::MAX, d.stuck_ratio),
            stuck_epsilon: sane(c.stuck_epsilon, 0.0, f32::MAX, d.stuck_epsilon),
            min_std: sane(c.min_std, f32::MIN_POSITIVE, f32::MAX, d.min_std),
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

/// 0 at `low`, 1 at `high`, linear between; 0 for NaN.
fn ramp(x: f64, low: f64, high: f64) -> f32 {
    let r = (x - low) / (high - low);
    if r > 0.0 {
        r.min(1.0) as f32
    } else {
        0.0
    }
}

/// Warm-start weight of the `n`-th value (1-based) of an exponentially weighted mean: the plain mean
/// of the first `1/alpha` values, then `alpha`.
fn warm_weight(alpha: f64, n: u32) -> f64 {
    alpha.max(1.0 / f64::from(n.max(1)))
}

impl AnomalyDetector {
    /// A detector with no history.
    pub const fn new(config: AnomalyConfig) -> Self {
        AnomalyDetector {
            config,
            baseline_mean: 0.0,
            baseline_variance: 0.0,
            baseline_count: 0,
            last_ms: 0,
            fast_residual: 0.0,
            fast_variance: 0.0,
            cusum_up: 0.0,
            cusum_down: 0.0,
            typical_jump: 0.0,
            last_value: 0.0,
            before_last: 0.0,
            run_anchor: 0.0,
            typical_run: 0.0,
            samples: 0,
            run: 0,
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
        (self.baseline_count > 0).then(|| (self.baseline_mean, libm::sqrtf(self.baseline_variance)))
    }

    /// The CUSUM sums `(S⁺, S⁻)` in standardised units; a shift is confirmed when one reaches `cusum_h`.
    pub const fn cusum(&self) -> (f32, f32) {
        (self.cusum_up, self.cusum_down)
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

        // The baseline before this sample.
        let warmed_up = self.samples >= u32::from(c.warmup_samples) && self.baseline_count > 0;
        let young = self.baseline_count < c.warmup_samples;
        let (mean, std) = self.baseline().unwrap_or((value, 0.0));
        let (mean, std) = (f64::from(mean), f64::from(std));
        // Spreads never count as less than: the configured floor, 8 f32 ulps of the level, and half
        // the typical jump (so a quantised or intermittent series' ordinary step is never many σ).
        let floor = p
            .min_std
            .max(1e-6 * libm::fabs(mean))
            .max(0.5 * f64::from(self.typical_jump));
        let white = p.alpha_f / (2.0 - p.alpha_f);
        let long_run = libm::sqrt(f64::from(self.fast_variance) / white);
        let scale = std.max(long_run).max(floor);
        let residual = x - mean;

        // Deviation.
        let dev_std = if young { std.max(long_run) } else { std }.max(floor);
        if warmed_up {
            score.deviation = squash(libm::fabs(residual) / dev_std, p.z_low);
        }

        // Spike: a jump away from the previous sample *and* from the baseline, so that the return to
        // normal after a spike or a burst is not a spike.
        let jump = previous.map(|(_, prev)| libm::fabs(x - prev));
        let typical_jump = f64::from(self.typical_jump).max(floor);
        if let (true, Some(jump)) = (warmed_up, jump) {
            let excursion = jump.min(libm::fabs(residual));
            score.spike = squash(excursion / typical_jump, p.spike_low);
        }

        // Level shift: two-sided CUSUM on clamped standardised residuals.
        let half_h = p.h / 2.0;
        let mut confirmed = false;
        if warmed_up {
            // Each sample adds at most h/3 − k: a lone outlier never reaches h/2, and a confirmation
            // takes at least three samples (five with the defaults).
            let u = (residual / scale).max(-p.h / 3.0).min(p.h / 3.0);
            let up = (f64::from(self.cusum_up) + u - p.k).max(0.0);
            let down = (f64::from(self.cusum_down) - u - p.k).max(0.0);
            let s = up.max(down);
            score.level_shift = ramp(s, half_h, p.h);
            confirmed = s >= p.h;
            if confirmed {
                self.cusum_up = 0.0;
                self.cusum_down = 0.0;
            } else {
                self.cusum_up = up as f32;
                self.cusum_down = down as f32;
            }
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
        if previous.is_some() && libm::fabs(x - f64::from(self.run_anchor)) <= p.stuck_epsilon {
            self.run = self.run.saturating_add(1);
        } else {
            if previous.is_some() {
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

        score.score = if score.out_of_range || score.slew {
            1.0
        } else {
            score
                .deviation
                .max(score.level_shift)
                .max(score.spike)
                .max(score.stuck)
        };

        // Learn. The fast statistics first, against the baseline before this sample.
        let n = self.samples.saturating_add(1);
        let clamped = residual.max(-half_h * scale).min(half_h * scale);
        let r = f64::from(self.fast_residual);
        let r = r + warm_weight(p.alpha_f, self.samples) * (clamped - r);
        let v = f64::from(self.fast_variance);
        // While a shift builds (level-shift score above 0) neither the long-run scale nor the baseline
        // learns: the shift must not become the yardstick it is measured against.
        let building = score.level_shift > 0.0 && !confirmed;
        if !building {
            let learned = if warmed_up {
                (r * r).min(9.0 * v.max(white * floor * floor))
            } else {
                r * r
            };
            self.fast_variance = saturating_f32(v + warm_weight(p.alpha_b, n) * (learned - v));
        }
        self.fast_residual = saturating_f32(r);
        // The typical jump learns only from samples that changed the value (beyond `stuck_epsilon`).
        if let Some(jump) = jump.filter(|&jump| jump > p.stuck_epsilon) {
            let t = f64::from(self.typical_jump);
            self.typical_jump = saturating_f32(if t > 0.0 {
                let learned = if warmed_up {
                    jump.min(4.0 * typical_jump)
                } else {
                    jump
                };
                t + warm_weight(p.alpha_b, self.samples) * (learned - t)
            } else {
                jump
            });
        }

        // The baseline: re-seeded at the new level on a confirmed shift (the median of the last three
        // samples, all past the step since a confirmation takes at least three, so that one outlier
        // among them cannot become the new level), raw while young, winsorised at ±3σ after.
        if confirmed {
            let (a, b) = (self.before_last, self.last_value);
            let level = a.min(b).max(a.max(b).min(value));
            self.baseline_mean = level;
            self.baseline_count = 1;
            self.fast_residual = 0.0;
        } else if young || !warmed_up {
            self.learn_baseline(p.alpha_b, value);
        } else if !building {
            let band = 3.0 * dev_std;
            let learned = x.max(mean - band).min(mean + band);
            self.learn_baseline(p.alpha_b, saturating_f32(learned));
        }

        self.before_last = self.last_value;
        self.last_value = value;
        self.last_ms = now_ms;
        self.samples = n;
        score
    }

    /// One baseline update, with the warm start of [`EwStats`](crate::stats::EwStats): the exact mean
    /// and variance of its first `1/alpha` samples.
    fn learn_baseline(&mut self, alpha: f64, value: f32) {
        if self.baseline_count == 0 {
            (self.baseline_mean, self.baseline_variance) = (value, 0.0);
        } else {
            let weight = (alpha as f32).max(1.0 / (f32::from(self.baseline_count) + 1.0));
            (self.baseline_mean, self.baseline_variance) =
                ew_step(self.baseline_mean, self.baseline_variance, weight, value);
        }
        self.baseline_count = self.baseline_count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Noise;
    use std::vec::Vec;

    /// 10 + a sine of period 200 samples and amplitude 1, plus N(0, 0.1²) noise; one sample a second.
    fn signal(n: usize, seed: u64) -> Vec<f32> {
        let mut noise = Noise::new(seed);
        (0..n)
            .map(|i| {
                10.0 + libm::sinf(i as f32 * core::f32::consts::TAU / 200.0)
                    + 0.1 * noise.gaussian() as f32
            })
            .collect()
    }

    /// `mean` + N(0, sigma²) noise.
    fn noise(n: usize, seed: u64, mean: f32, sigma: f32) -> Vec<f32> {
        let mut noise = Noise::new(seed);
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
    fn squash_and_ramp_mappings() {
        assert_eq!(squash(2.0, 3.0), 0.0);
        assert_eq!(squash(3.0, 3.0), 0.0);
        assert_eq!(squash(6.0, 3.0), 0.5);
        assert_eq!(squash(30.0, 3.0), 0.9);
        assert_eq!(squash(f64::INFINITY, 3.0), 1.0);
        assert_eq!(squash(f64::NAN, 3.0), 0.0);
        assert_eq!(squash(1.0, 0.0), 1.0);
        assert_eq!(ramp(4.0, 4.0, 8.0), 0.0);
        assert_eq!(ramp(6.0, 4.0, 8.0), 0.5);
        assert_eq!(ramp(9.0, 4.0, 8.0), 1.0);
        assert_eq!(ramp(f64::NAN, 4.0, 8.0), 0.0);
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
        assert!(spike.spike >= 0.8 && spike.score >= 0.8, "{spike:?}");
        assert_eq!(spike.dominant(), AnomalyKind::Spike);
        assert_eq!(s[2001].spike, 0.0, "the return to normal is not a spike");
        assert!(s[2001].score < 0.5, "{:?}", s[2001]);
        assert_eq!(
            s[2000].level_shift, 0.0,
            "a lone spike never starts the CUSUM ramp"
        );
        let false_alarms = count(&s[30..], |x| x.score >= 0.5) - 1;
        assert_eq!(false_alarms, 0, "a quiet sine scored >= 0.5");
        let elevated = count(&s[30..], |x| x.score > 0.25);
        assert!(elevated <= 10, "{elevated} samples above 0.25");
        assert!(
            s.iter().all(|x| x.level_shift < 1.0),
            "the daily cycle is not a level shift"
        );
    }

    #[test]
    fn a_sustained_three_sigma_shift_is_confirmed_then_becomes_the_new_normal() {
        let mut values = noise(3000, 2, 5.0, 0.1);
        values[1000..].iter_mut().for_each(|v| *v += 0.3);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(
            s[30..1000]
                .iter()
                .all(|x| x.score < 0.5 && x.level_shift < 1.0),
            "quiet before the shift"
        );
        let confirmed = s[1000..]
            .iter()
            .position(|x| x.level_shift >= 1.0)
            .expect("shift confirmed");
        assert!(confirmed < 8, "confirmed after {confirmed} samples");
        assert_eq!(s[1000 + confirmed].score, 1.0);
        assert_eq!(s[1000 + confirmed].dominant(), AnomalyKind::LevelShift);
        assert!(
            s[1000..1000 + confirmed].iter().all(|x| x.deviation < 0.5),
            "the z-score alone does not call a 3σ shift"
        );
        let after = 1000 + confirmed + 1;
        assert!(
            s[after..]
                .iter()
                .all(|x| x.level_shift < 1.0 && x.score < 0.5),
            "the new level became normal at once"
        );
    }

    #[test]
    fn a_small_shift_the_z_score_misses_is_caught() {
        // 1.5σ: |z| rarely passes 3, so the deviation stays quiet, but the CUSUM accumulates.
        let mut values = noise(2000, 9, -20.0, 2.0);
        values[1000..].iter_mut().for_each(|v| *v += 3.0);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        assert!(s[30..1000].iter().all(|x| x.level_shift < 1.0));
        let confirmed = s[1000..]
            .iter()
            .position(|x| x.level_shift >= 1.0)
            .expect("shift confirmed");
        assert!(confirmed < 40, "confirmed after {confirmed} samples");
        assert!(s[1000..1000 + confirmed].iter().all(|x| x.deviation < 0.5));
    }

    #[test]
    fn the_baseline_follows_a_confirmed_shift_and_resists_outliers() {
        let mut values = noise(1500, 3, 100.0, 1.0);
        values[500..].iter_mut().for_each(|v| *v += 50.0);
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let s = run(&mut d, &values);
        let first = s[500..].iter().position(|x| x.level_shift >= 1.0).unwrap();
        assert!(
            first <= 3,
            "a 50σ step is confirmed in 3 samples, took {first}"
        );
        assert!(s[500].deviation > 0.9 && s[500].spike > 0.8);
        let settled = s[500..].iter().rposition(|x| x.score >= 0.5).unwrap();
        assert!(
            settled < 30,
            "scored high for {settled} samples after the step"
        );
        let (mean, std) = d.baseline().unwrap();
        assert!(
            (mean - 150.0).abs() < 0.5 && (std - 1.0).abs() < 0.4,
            "{mean} {std}"
        );

        // Isolated outliers move a learned baseline by at most 3σ·alpha each.
        let mut values = noise(1000, 4, 0.0, 1.0);
        for i in (300..1000).step_by(50) {
            values[i] = 1e6;
        }
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        run(&mut d, &values);
        let (mean, std) = d.baseline().unwrap();
        assert!(mean.abs() < 0.5 && std < 1.6, "{mean} {std}");
    }

    #[test]
    fn a_short_burst_is_spikes_not_a_new_level() {
        let mut values = noise(1000, 11, 50.0, 1.0);
        values[600..604].copy_from_slice(&[5e3, 9e6, 2e4, 7e5]);
        let mut d = AnomalyDetector::new(AnomalyConfig::DEFAULT);
        let s = run(&mut d, &values[..700]);
        assert!(s[600..604].iter().all(|x| x.score > 0.9));
        assert!(
            s.iter().all(|x| x.level_shift < 1.0),
            "four samples never confirm a shift"
        );
        assert!(
            s[604..].iter().all(|x| x.score < 0.5),
            "back to normal at once"
        );
        let (mean, std) = d.baseline().unwrap();
        assert!(
            (mean - 50.0).abs() < 0.3 && (std - 1.0).abs() < 0.3,
            "{mean} {std}"
        );
    }

    #[test]
    fn quantised_and_intermittent_series_are_not_anomalous_for_their_steps() {
        // A 0.1-resolution temperature drifting slowly with noise below the resolution: it dithers
        // between neighbouring steps.
        let mut noise = Noise::new(13);
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
        let mut noise = Noise::new(12);
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
        assert!(s[329..].iter().all(|x| x.stuck == 1.0 && x.score == 1.0));
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
        values[1700..].iter_mut().for_each(|v| *v = 3.0);
        let s = scores(AnomalyConfig::DEFAULT, &values);
        let first = s.iter().position(|x| x.stuck == 1.0).unwrap();
        assert!((1190..1230).contains(&first), "stuck from {first}");
        assert!(s[1300..1600].iter().all(|x| x.stuck == 0.0));
        assert!(s[1950..].iter().all(|x| x.stuck == 1.0), "re-armed");

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
            cusum_k: f32::NEG_INFINITY,
            cusum_h: 0.0,
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
