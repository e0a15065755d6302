//! Detectors run over the corpus: the core's [`AnomalyDetector`] exactly as a node runs it, and
//! reference detectors that check the scorer against published figures.
//!
//! Every detector is streaming and causal: it sees one row at a time and returns that row's score in
//! [0, 1] before the next row. None is told the file's length or range.

use super::data::DataFile;
use rackwatch_core::anomaly::flux::{FluxConfig, FluxModel};
use rackwatch_core::anomaly::tail::{Onset, TailConfig, TailModel};
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector};

/// A streaming anomaly detector: one score in [0, 1] per row, from that row and earlier ones.
pub trait Detector {
    /// Scores the row at `t_ms` (monotonic milliseconds) with `value`.
    fn score(&mut self, t_ms: u64, value: f64) -> f64;
}

/// The detectors `rackwatch-bench nab` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// `rackwatch_core::anomaly::AnomalyDetector` with `AnomalyConfig::DEFAULT`.
    Core,
    /// `rackwatch_core::anomaly::tail::TailModel` (fluctuation + bounded-memory SPOT), raw score.
    Tail,
    /// The tail score through the alert rule's onset option (a rest of 100 samples after an alarm),
    /// as NAB rewards onsets.
    TailOnset,
    /// `rackwatch_core::anomaly::flux::FluxModel` (EWMA fluctuation, one far sample or a same-side
    /// pair), raw score.
    Flux,
    /// The fluctuation score through the alert rule's onset option (a rest of 100 samples after an
    /// alarm), as NAB rewards onsets.
    FluxOnset,
    /// Scores 0 everywhere (NAB's null detector: normalised 0 by definition).
    Null,
    /// The `ewmaz` test detector of `docs/nab.md` §6 ewmaz (EWMA z-score, a = 0.01).
    Ewmaz,
    /// NAB's windowed Gaussian (6 400-sample window, refreshed every 100 samples).
    WindowedGaussian,
}

impl Kind {
    /// A fresh detector of this kind, for one file.
    pub fn build(self) -> Box<dyn Detector> {
        match self {
            Kind::Core => Box::new(Core::new(AnomalyConfig::DEFAULT)),
            Kind::Tail => Box::new(Tail::new(None)),
            Kind::TailOnset => Box::new(Tail::new(Some(100))),
            Kind::Flux => Box::new(Flux::new(None)),
            Kind::FluxOnset => Box::new(Flux::new(Some(100))),
            Kind::Null => Box::new(Null),
            Kind::Ewmaz => Box::new(Ewmaz::new(0.01)),
            Kind::WindowedGaussian => Box::new(WindowedGaussian::new()),
        }
    }

    /// The name used in reports and NAB result paths (no `_` or `.`, as NAB requires).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Core => "rackwatch",
            Kind::Tail => "tail",
            Kind::TailOnset => "tailOnset",
            Kind::Flux => "flux",
            Kind::FluxOnset => "fluxOnset",
            Kind::Null => "null",
            Kind::Ewmaz => "ewmaz",
            Kind::WindowedGaussian => "windowedGaussian",
        }
    }
}

/// Runs a fresh detector over a file's rows in order. Times reach the detector as a node's monotonic
/// clock would give them: a row stamped before the previous one (NAB has one, a clock set back an
/// hour) is given the previous row's time.
pub fn run(detector: &mut dyn Detector, file: &DataFile) -> Vec<f64> {
    let mut last_ms = 0u64;
    file.timestamps
        .iter()
        .zip(&file.values)
        .map(|(t, &v)| {
            last_ms = last_ms.max(t.as_ms());
            let s = detector.score(last_ms, v);
            if s.is_nan() {
                0.0
            } else {
                s.clamp(0.0, 1.0)
            }
        })
        .collect()
}

/// The core's detector, as on the node: `f32` values, the state and the configuration it has there.
#[derive(Debug, Clone)]
pub struct Core {
    detector: AnomalyDetector,
    /// Samples the detector refused (scored 0).
    pub refused: u64,
}

impl Core {
    /// A detector with `config`.
    pub fn new(config: AnomalyConfig) -> Core {
        Core {
            detector: AnomalyDetector::new(config),
            refused: 0,
        }
    }
}

impl Detector for Core {
    fn score(&mut self, t_ms: u64, value: f64) -> f64 {
        match self.detector.update(t_ms, value as f32) {
            Ok(s) => f64::from(s.score),
            Err(_) => {
                self.refused += 1;
                0.0
            }
        }
    }
}

/// The core's tail score, `f32` values as on the node, optionally through the onset rule.
#[derive(Debug, Clone)]
pub struct Tail {
    model: TailModel,
    config: TailConfig,
    onset: Option<Onset>,
}

impl Tail {
    /// With the default configuration; `rest`: the onset rule's rest, if any.
    pub fn new(rest: Option<u16>) -> Tail {
        Tail::with(TailConfig::DEFAULT, rest)
    }

    /// With `config`.
    pub fn with(config: TailConfig, rest: Option<u16>) -> Tail {
        Tail {
            model: TailModel::new(),
            config,
            onset: rest.map(Onset::new),
        }
    }
}

impl Detector for Tail {
    fn score(&mut self, _: u64, value: f64) -> f64 {
        let score = self.model.update(&self.config, value as f32).score;
        f64::from(match &mut self.onset {
            Some(onset) => onset.filter(score),
            None => score,
        })
    }
}

/// The core's fluctuation score, `f32` values as on the node, optionally through the onset rule.
#[derive(Debug, Clone)]
pub struct Flux {
    model: FluxModel,
    onset: Option<Onset>,
}

impl Flux {
    /// With the default configuration; `rest`: the onset rule's rest, if any.
    pub fn new(rest: Option<u16>) -> Flux {
        Flux {
            model: FluxModel::new(),
            onset: rest.map(Onset::new),
        }
    }
}

impl Detector for Flux {
    fn score(&mut self, _: u64, value: f64) -> f64 {
        let score = self.model.update(&FluxConfig::DEFAULT, value as f32).score;
        f64::from(match &mut self.onset {
            Some(onset) => onset.filter(score),
            None => score,
        })
    }
}

/// Scores 0 everywhere.
#[derive(Debug, Clone, Copy)]
pub struct Null;

impl Detector for Null {
    fn score(&mut self, _: u64, _: f64) -> f64 {
        0.0
    }
}

/// `ewmaz` (`docs/nab.md` §6 ewmaz): an exponentially weighted mean and variance, `d = v − m;
/// m += a·d; var = (1 − a)·(var + a·d²)`, the first value as the initial mean, a 30-sample warm-up
/// scoring 0, and `s = |z| / (|z| + 3)` with `z = d / √var` before the update.
#[derive(Debug, Clone, Copy)]
pub struct Ewmaz {
    a: f64,
    mean: f64,
    var: f64,
    n: u64,
}

impl Ewmaz {
    /// With weight `a`.
    pub fn new(a: f64) -> Ewmaz {
        Ewmaz {
            a,
            mean: 0.0,
            var: 0.0,
            n: 0,
        }
    }
}

impl Detector for Ewmaz {
    fn score(&mut self, _: u64, v: f64) -> f64 {
        if self.n == 0 {
            self.mean = v;
            self.n = 1;
            return 0.0;
        }
        let d = v - self.mean;
        let score = if self.n >= 30 && self.var > 0.0 {
            let z = (d / self.var.sqrt()).abs();
            z / (z + 3.0)
        } else {
            0.0
        };
        self.mean += self.a * d;
        self.var = (1.0 - self.a) * (self.var + self.a * d * d);
        self.n += 1;
        score
    }
}

/// NAB's `windowedGaussian` detector: the mean and (population) standard deviation of a window of
/// up to 6 400 samples, recomputed every 100 samples once the window is full; the score is
/// `1 − Q(|z|)`, `Q` the normal tail probability (0 for the first row).
#[derive(Debug, Clone)]
pub struct WindowedGaussian {
    window: Vec<f64>,
    step: Vec<f64>,
    mean: f64,
    std: f64,
}

impl WindowedGaussian {
    const WINDOW: usize = 6400;
    const STEP: usize = 100;

    /// An empty detector.
    pub fn new() -> WindowedGaussian {
        WindowedGaussian {
            window: Vec::new(),
            step: Vec::new(),
            mean: 0.0,
            std: 1.0,
        }
    }

    /// `numpy.mean` and `numpy.std` (population), with numpy's pairwise summation, so that flat
    /// stretches give the same exactly-zero or tiny spreads as NAB's run.
    fn refresh(&mut self) {
        let n = self.window.len() as f64;
        self.mean = pairwise_sum(&self.window) / n;
        let squares: Vec<f64> = self
            .window
            .iter()
            .map(|x| (x - self.mean) * (x - self.mean))
            .collect();
        self.std = (pairwise_sum(&squares) / n).sqrt();
        if self.std == 0.0 {
            self.std = 0.000_001;
        }
    }
}

impl Default for WindowedGaussian {
    fn default() -> Self {
        WindowedGaussian::new()
    }
}

impl Detector for WindowedGaussian {
    fn score(&mut self, _: u64, v: f64) -> f64 {
        let score = if self.window.is_empty() {
            0.0
        } else {
            // NAB mirrors a value below the mean (`2·mean − x`) before standardising it.
            let x = if v < self.mean {
                2.0 * self.mean - v
            } else {
                v
            };
            let z = (x - self.mean) / self.std;
            1.0 - 0.5 * erfc(z / std::f64::consts::SQRT_2)
        };
        if self.window.len() < Self::WINDOW {
            self.window.push(v);
            self.refresh();
        } else {
            self.step.push(v);
            if self.step.len() == Self::STEP {
                self.window.drain(..Self::STEP);
                self.window.append(&mut self.step);
                self.refresh();
            }
        }
        score
    }
}

/// numpy's pairwise summation of `float64` (`pairwise_sum` in numpy's loops): eight interleaved
/// partial sums for up to 128 values, halves (at a multiple of 8) above.
pub fn pairwise_sum(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 8 {
        x.iter().fold(-0.0, |a, b| a + b)
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&x[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (k, slot) in r.iter_mut().enumerate() {
                *slot += x[i + k];
            }
            i += 8;
        }
        let mut sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for value in &x[i..] {
            sum += value;
        }
        sum
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&x[..half]) + pairwise_sum(&x[half..])
    }
}

/// The complementary error function for `x ≥ 0` (≈ 1e-15 relative): the Maclaurin series of erf
/// below 2, a continued fraction above.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        return 2.0 - erfc(-x);
    }
    if x < 2.0 {
        // erf(x) = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            let add = term / (2 * n + 1) as f64;
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // erfc(x) = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))), by Lentz.
        let tiny = 1e-300;
        let mut f = x;
        let mut c = x;
        let mut d = 0.0;
        for k in 1..500 {
            let a = k as f64 / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / std::f64::consts::PI.sqrt() / f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nab::data::Timestamp;

    #[test]
    fn erfc_matches_known_values() {
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_13),
            (1.999, 0.004_698_443_348_629_488),
            (2.0, 0.004_677_734_981_047_265),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_034_8e-12),
            (6.0, 2.151_973_671_249_891_3e-17),
        ];
        for (x, want) in cases {
            let got = erfc(x);
            assert!(
                ((got - want) / want).abs() < 1e-12,
                "erfc({x}) = {got}, want {want}"
            );
        }
        assert!((erfc(-1.0) - (2.0 - 0.157_299_207_050_285_13)).abs() < 1e-14);
        assert!(erfc(f64::NAN).is_nan());
        // The windowed Gaussian's score saturates at exactly 1 beyond |z| ≈ 8.3.
        assert!(1.0 - 0.5 * erfc(8.0 / std::f64::consts::SQRT_2) < 1.0);
        assert_eq!(1.0 - 0.5 * erfc(8.4 / std::f64::consts::SQRT_2), 1.0);
    }

    fn file(values: &[f64]) -> DataFile {
        DataFile {
            name: "t/t.csv".into(),
            timestamps: (0..values.len() as i64)
                .map(|i| Timestamp(i * 300_000_000))
                .collect(),
            values: values.to_vec(),
            windows: Vec::new(),
        }
    }

    #[test]
    fn detectors_score_in_range_and_see_a_spike() {
        let mut values: Vec<f64> = (0..500).map(|i| 10.0 + (i as f64 * 0.3).sin()).collect();
        values[400] = 40.0;
        for kind in [Kind::Core, Kind::Null, Kind::Ewmaz, Kind::WindowedGaussian] {
            let scores = run(kind.build().as_mut(), &file(&values));
            assert_eq!(scores.len(), 500);
            assert!(scores.iter().all(|s| (0.0..=1.0).contains(s)), "{kind:?}");
            if kind != Kind::Null {
                let top = scores
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map(|(i, _)| i);
                assert_eq!(top, Some(400), "{kind:?}");
            }
        }
    }

    #[test]
    fn a_clock_set_back_does_not_make_the_core_refuse_rows() {
        let mut f = file(&[1.0, 2.0, 1.0, 2.0]);
        f.timestamps[2] = Timestamp(0);
        let mut core = Core::new(AnomalyConfig::DEFAULT);
        let scores = run(&mut core, &f);
        assert_eq!((scores.len(), core.refused), (4, 0));
    }

    #[test]
    fn ewmaz_warms_up_then_scores_the_standardised_residual() {
        let mut d = Ewmaz::new(0.5);
        let mut last = 0.0;
        for i in 0..31 {
            last = d.score(0, if i % 2 == 0 { 1.0 } else { -1.0 });
            if i < 30 {
                assert_eq!(last, 0.0, "warm-up sample {i}");
            }
        }
        assert!(last > 0.0 && last < 1.0);
    }
}
