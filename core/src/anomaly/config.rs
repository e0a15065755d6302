//! [`AnomalyConfig`], the detector's parameters as plain data, and [`Params`], the clamped `f64`
//! form the detector computes with.
//!
//! Invariants: every parameter has a documented domain, and [`Params::new`] clamps into it (NaN
//! takes the default), so no configuration, however wild, can make the detector panic or score
//! outside [0, 1].

use serde::{Deserialize, Serialize};

/// Parameters of an [`AnomalyDetector`](super::AnomalyDetector): plain data, for configuration
/// files and firmware constants.
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

/// The smallest `baseline_alpha` (2⁻¹⁶): a baseline memory of up to 65 536 samples.
const MIN_BASELINE_ALPHA: f32 = 1.0 / 65_536.0;
/// Rest after an alarm, in recent-window lengths (`1 / fast_alpha` samples each).
const REST_WINDOWS: f64 = 10.0;

/// The configuration, clamped into its domains, in `f64`.
pub(super) struct Params {
    pub(super) alpha_b: f64,
    pub(super) alpha_f: f64,
    pub(super) z_low: f64,
    pub(super) shift_low: f64,
    pub(super) shift_confirm: f64,
    pub(super) spike_low: f64,
    pub(super) stuck_ratio: f64,
    pub(super) stuck_epsilon: f64,
    pub(super) min_std: f64,
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
    pub(super) fn new(c: &AnomalyConfig) -> Params {
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
    pub(super) fn rest(&self) -> u16 {
        let rest = libm::round(REST_WINDOWS / self.alpha_f);
        if rest >= f64::from(u16::MAX) {
            u16::MAX
        } else {
            rest as u16
        }
    }
}
