//! Time-to-threshold accuracy: generated fill curves, the core's ETA against a `predict_linear`-style
//! baseline (`rackwatch bench eta`).
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
//!
//! **Predictors**, fed every sample, asked "how long until 100 %?":
//! - `core Window<64>`: [`Window::time_to`] with [`EtaPolicy::DEFAULT`] (least squares over the last
//!   64 samples, 5 h 20 min; an answer only when the slope is significant).
//! - `core Forgetting 6h` / `core Forgetting 24h`: [`ForgettingTrend::time_to`] with `tau` 6 h and
//!   24 h, same policy.
//! - `predict_linear 6h` / `predict_linear 24h`: naive least squares over the trailing range,
//!   `(threshold − fitted value now) / slope` when the slope is positive (what a Prometheus
//!   `predict_linear` alert computes).
//!
//! **Scores.** For a curve that fills, at 25 %, 50 % and 75 % of the time from its start to the
//! first sample at or above 100 %: the relative error `|predicted − actual| / actual` of the time
//! remaining, its median over the curves, and the share of curves with no answer. For a curve that
//! never fills, every hour after the first 6 h: the share of hours at which the predictor says the
//! threshold is reached within 24 h (a predictive alert would fire for a fill that never comes).

use rackwatch_core::trend::{Crossing, EtaPolicy, ForgettingTrend, TimeTo};
use rackwatch_core::window::Window;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt::Write as _;

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

/// A scenario of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// A steady fill with noise.
    Linear,
    /// Exponential growth.
    Accelerating,
    /// A slow fill under a daily cycle and noise.
    DailyCycle,
    /// Fills in working hours, flat overnight.
    Plateaus,
    /// Daily clean-ups that free less than a day's growth.
    RotationGrowing,
    /// A daily cycle around a constant level: never full.
    CycleFlat,
    /// A sawtooth below full: never full.
    RotationBounded,
    /// Fills to 70–85 % and stays there: never full.
    FillThenPlateau,
}

impl Scenario {
    /// Every scenario, the filling ones first.
    pub const ALL: [Scenario; 8] = [
        Scenario::Linear,
        Scenario::Accelerating,
        Scenario::DailyCycle,
        Scenario::Plateaus,
        Scenario::RotationGrowing,
        Scenario::CycleFlat,
        Scenario::RotationBounded,
        Scenario::FillThenPlateau,
    ];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Linear => "linear",
            Scenario::Accelerating => "accelerating",
            Scenario::DailyCycle => "daily-cycle",
            Scenario::Plateaus => "plateaus",
            Scenario::RotationGrowing => "rotation-growing",
            Scenario::CycleFlat => "cycle-flat",
            Scenario::RotationBounded => "rotation-bounded",
            Scenario::FillThenPlateau => "fill-then-plateau",
        }
    }

    /// Whether curves of this scenario reach the threshold.
    pub fn fills(self) -> bool {
        matches!(
            self,
            Scenario::Linear
                | Scenario::Accelerating
                | Scenario::DailyCycle
                | Scenario::Plateaus
                | Scenario::RotationGrowing
        )
    }
}

/// Deterministic noise: xorshift64* with Box-Muller normals.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator; the same seed gives the same numbers.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal.
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// One generated curve: samples every 5 minutes from time 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// `(t_ms, percent)`.
    pub samples: Vec<(u64, f64)>,
    /// The time of the first sample at or above the threshold, if the curve fills.
    pub full_ms: Option<u64>,
}

/// Generates one curve of `scenario`. Filling curves end at their first sample at or above 100 %;
/// the others run for 14 days and stay below it.
pub fn generate(scenario: Scenario, rng: &mut Rng) -> Curve {
    let noise = rng.range(0.1, 0.8); // percent, one σ
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let start = rng.range(10.0, 40.0);
    let days = rng.range(2.0, 8.0); // nominal time to full
    let day = |t: u64| t as f64 / DAY_MS as f64;
    let cycle = |t: u64, amplitude: f64| amplitude * (std::f64::consts::TAU * day(t) + phase).sin();
    let shape: Box<dyn Fn(u64) -> f64> = match scenario {
        Scenario::Linear => {
            let rate = (100.0 - start) / days;
            Box::new(move |t| start + rate * day(t))
        }
        Scenario::Accelerating => {
            // From `start` to 100 % in `days`: exponential growth of the used space.
            let k = (100.0 / start).ln() / days;
            Box::new(move |t| start * (k * day(t)).exp())
        }
        Scenario::DailyCycle => {
            let rate = (100.0 - start) / days;
            let amplitude = rng.range(1.0, 3.0) * rate / std::f64::consts::TAU;
            Box::new(move |t| start + rate * day(t) + cycle(t, amplitude))
        }
        Scenario::Plateaus => {
            // Growth between 08:00 and 18:00 only: 10/24 of the day.
            let rate = (100.0 - start) / days * 24.0 / 10.0;
            Box::new(move |t| {
                let d = day(t);
                let whole = d.floor();
                let hours = (d - whole) * 24.0;
                let today = (hours - 8.0).clamp(0.0, 10.0) / 24.0;
                start + rate * (whole * 10.0 / 24.0 + today)
            })
        }
        Scenario::RotationGrowing => {
            // A day's growth, then a clean-up at midnight that frees 30–70 % of it.
            let net = (100.0 - start) / days;
            let freed = rng.range(0.3, 0.7);
            let gross = net / (1.0 - freed);
            Box::new(move |t| {
                let d = day(t);
                let whole = d.floor();
                start + whole * net + (d - whole) * gross
            })
        }
        Scenario::CycleFlat => {
            let level = rng.range(40.0, 75.0);
            let amplitude = rng.range(3.0, 15.0);
            Box::new(move |t| level + cycle(t, amplitude))
        }
        Scenario::RotationBounded => {
            // Fills from `low` to `high` in 6–24 h, then a clean-up drops it back.
            let low = rng.range(30.0, 50.0);
            let high = rng.range(70.0, 90.0);
            let period = rng.range(6.0, 24.0) / 24.0;
            let offset = rng.uniform();
            Box::new(move |t| {
                let p = day(t) / period + offset;
                low + (high - low) * (p - p.floor())
            })
        }
        Scenario::FillThenPlateau => {
            let top = rng.range(70.0, 85.0);
            let rate = (100.0 - start) / days;
            Box::new(move |t| (start + rate * day(t)).min(top))
        }
    };
    let fills = scenario.fills();
    let end_ms = if fills {
        // Long enough for the slowest fill (plateaus and rotations run a little behind nominal).
        (days * 2.0 * DAY_MS as f64) as u64
    } else {
        NEVER_DAYS * DAY_MS
    };
    let mut samples = Vec::new();
    let mut full_ms = None;
    let mut t = 0;
    while t <= end_ms {
        let mut v = shape(t) + noise * rng.normal();
        if !fills {
            v = v.min(THRESHOLD - 1.0);
        }
        samples.push((t, v));
        if fills && v >= THRESHOLD {
            full_ms = Some(t);
            break;
        }
        t += STEP_MS;
    }
    Curve { samples, full_ms }
}

/// The predictors compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Predictor {
    /// `Window<64>::time_to`.
    CoreWindow64,
    /// `ForgettingTrend` with `tau` 6 h.
    CoreForgetting6h,
    /// `ForgettingTrend` with `tau` 24 h.
    CoreForgetting24h,
    /// Naive least squares over the last 6 h.
    PredictLinear6h,
    /// Naive least squares over the last 24 h.
    PredictLinear24h,
}

impl Predictor {
    /// Every predictor, the core's first.
    pub const ALL: [Predictor; 5] = [
        Predictor::CoreWindow64,
        Predictor::CoreForgetting6h,
        Predictor::CoreForgetting24h,
        Predictor::PredictLinear6h,
        Predictor::PredictLinear24h,
    ];

    /// The name in tables.
    pub fn name(self) -> &'static str {
        match self {
            Predictor::CoreWindow64 => "core Window<64>",
            Predictor::CoreForgetting6h => "core Forgetting 6h",
            Predictor::CoreForgetting24h => "core Forgetting 24h",
            Predictor::PredictLinear6h => "predict_linear 6h",
            Predictor::PredictLinear24h => "predict_linear 24h",
        }
    }
}

/// One predictor's state over a curve.
enum State {
    Window(Box<Window<64>>),
    Forgetting(ForgettingTrend),
    Naive {
        range_ms: u64,
        samples: VecDeque<(u64, f64)>,
    },
}

impl State {
    fn new(p: Predictor) -> State {
        match p {
            Predictor::CoreWindow64 => State::Window(Box::new(Window::new())),
            Predictor::CoreForgetting6h => State::Forgetting(ForgettingTrend::new(6 * 3_600_000)),
            Predictor::CoreForgetting24h => State::Forgetting(ForgettingTrend::new(24 * 3_600_000)),
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

    fn push(&mut self, t: u64, v: f64) {
        match self {
            State::Window(w) => {
                let _ = w.push(t, v as f32);
            }
            State::Forgetting(f) => {
                let _ = f.update(t, v as f32);
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
    fn eta(&self, now: u64) -> Option<u64> {
        let answer = |time_to: TimeTo| match time_to {
            TimeTo::Eta(eta) => Some(eta.ms),
            TimeTo::AlreadyCrossed => Some(0),
            TimeTo::Never | TimeTo::NotEnoughData | TimeTo::PoorFit => None,
        };
        match self {
            State::Window(w) => {
                answer(w.time_to(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT))
            }
            State::Forgetting(f) => {
                answer(f.time_to(now, THRESHOLD, Crossing::Above, &EtaPolicy::DEFAULT))
            }
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

/// One (scenario, predictor) result.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The scenario.
    pub scenario: Scenario,
    /// The predictor.
    pub predictor: Predictor,
    /// For filling scenarios, at 25 %, 50 % and 75 % of the time to full: the median relative error
    /// of the answers given (`None` if none was given).
    pub median_relative_error: Vec<Option<f64>>,
    /// For filling scenarios, at the same points: the share of curves with no answer.
    pub no_answer: Vec<f64>,
    /// For never-full scenarios: the share of hourly evaluations predicting the threshold within
    /// 24 h.
    pub false_fill: Option<f64>,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Curves per scenario.
    pub curves: u32,
    /// The generator's seed.
    pub seed: u64,
    /// One row per scenario and predictor.
    pub rows: Vec<Row>,
    /// Over all filling scenarios, per predictor: median relative error at 25 %, 50 %, 75 %.
    pub overall: Vec<(Predictor, Vec<Option<f64>>)>,
    /// Over all never-full scenarios, per predictor: the false-fill share.
    pub overall_false_fill: Vec<(Predictor, f64)>,
    /// Seconds the run took.
    pub seconds: f64,
}

/// The median of `xs` (sorted in place), `None` when empty.
pub fn median(xs: &mut [f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    Some(if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    })
}

/// Runs `curves` curves of every scenario through every predictor.
pub fn run(curves: u32, seed: u64) -> Report {
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    // errors[predictor][fraction], pooled over filling scenarios.
    let mut pooled: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); 3]; Predictor::ALL.len()];
    let mut pooled_false: Vec<(u64, u64)> = vec![(0, 0); Predictor::ALL.len()];
    for (s, &scenario) in Scenario::ALL.iter().enumerate() {
        let mut rng = Rng::new(seed ^ ((s as u64 + 1) << 32));
        let mut errors: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); 3]; Predictor::ALL.len()];
        let mut unanswered = vec![[0u32; 3]; Predictor::ALL.len()];
        let mut asked = 0u32;
        let mut false_fill = vec![(0u64, 0u64); Predictor::ALL.len()];
        for _ in 0..curves {
            let curve = generate(scenario, &mut rng);
            let mut states: Vec<State> = Predictor::ALL.iter().map(|&p| State::new(p)).collect();
            // When to ask: the sample nearest each fraction of the time to full, or every hour.
            let asks: Vec<(u64, Option<usize>)> = match curve.full_ms {
                Some(full) if scenario.fills() => FRACTIONS
                    .iter()
                    .enumerate()
                    .map(|(k, f)| {
                        let t = (full as f64 * f / STEP_MS as f64).round() as u64 * STEP_MS;
                        (t, Some(k))
                    })
                    .collect(),
                _ => (6..NEVER_DAYS * 24).map(|h| (h * HOUR_MS, None)).collect(),
            };
            if curve.full_ms.is_some() {
                asked += 1;
            }
            let mut next = 0;
            for &(t, v) in &curve.samples {
                for state in &mut states {
                    state.push(t, v);
                }
                while next < asks.len() && asks[next].0 == t {
                    for (p, state) in states.iter().enumerate() {
                        let eta = state.eta(t);
                        match (asks[next].1, curve.full_ms) {
                            (Some(k), Some(full)) => {
                                let actual = (full - t) as f64;
                                match eta {
                                    Some(eta) => {
                                        let e = (eta as f64 - actual).abs() / actual;
                                        errors[p][k].push(e);
                                        pooled[p][k].push(e);
                                    }
                                    None => unanswered[p][k] += 1,
                                }
                            }
                            _ => {
                                let fill = eta.is_some_and(|e| e <= ALERT_HORIZON_MS);
                                false_fill[p].0 += u64::from(fill);
                                false_fill[p].1 += 1;
                                pooled_false[p].0 += u64::from(fill);
                                pooled_false[p].1 += 1;
                            }
                        }
                    }
                    next += 1;
                }
            }
        }
        for (p, &predictor) in Predictor::ALL.iter().enumerate() {
            let fills = scenario.fills();
            rows.push(Row {
                scenario,
                predictor,
                median_relative_error: if fills {
                    errors[p].iter_mut().map(|e| median(e)).collect()
                } else {
                    Vec::new()
                },
                no_answer: if fills {
                    unanswered[p]
                        .iter()
                        .map(|&u| f64::from(u) / f64::from(asked.max(1)))
                        .collect()
                } else {
                    Vec::new()
                },
                false_fill: (!fills)
                    .then(|| false_fill[p].0 as f64 / false_fill[p].1.max(1) as f64),
            });
        }
    }
    let overall = Predictor::ALL
        .iter()
        .zip(&mut pooled)
        .map(|(&p, e)| (p, e.iter_mut().map(|e| median(e)).collect()))
        .collect();
    let overall_false_fill = Predictor::ALL
        .iter()
        .zip(&pooled_false)
        .map(|(&p, &(f, n))| (p, f as f64 / n.max(1) as f64))
        .collect();
    Report {
        curves,
        seed,
        rows,
        overall,
        overall_false_fill,
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn pct(x: Option<f64>) -> String {
    x.map_or("–".to_string(), |x| format!("{:.0} %", 100.0 * x))
}

fn errors_cell(errors: &[Option<f64>]) -> String {
    errors
        .iter()
        .map(|e| pct(*e))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The report as aligned text.
pub fn text(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "time to full: {} curves per scenario, seed {}, {:.2} s",
        report.curves, report.seed, report.seconds
    );
    let _ = writeln!(
        s,
        "\nfilling curves: median relative error of the time to full at 25 % / 50 % / 75 % of it (no answer)"
    );
    for row in report.rows.iter().filter(|r| r.scenario.fills()) {
        let _ = writeln!(
            s,
            "  {:<18} {:<20} {:<22} ({})",
            row.scenario.name(),
            row.predictor.name(),
            errors_cell(&row.median_relative_error),
            row.no_answer
                .iter()
                .map(|x| pct(Some(*x)))
                .collect::<Vec<_>>()
                .join(" / ")
        );
    }
    let _ = writeln!(
        s,
        "\ncurves that never fill: share of hours predicting full within 24 h"
    );
    for row in report.rows.iter().filter(|r| !r.scenario.fills()) {
        let _ = writeln!(
            s,
            "  {:<18} {:<20} {}",
            row.scenario.name(),
            row.predictor.name(),
            pct(row.false_fill)
        );
    }
    let _ = writeln!(s, "\noverall");
    for ((p, e), (_, f)) in report.overall.iter().zip(&report.overall_false_fill) {
        let _ = writeln!(
            s,
            "  {:<20} error {:<22} false fills {}",
            p.name(),
            errors_cell(e),
            pct(Some(*f))
        );
    }
    s
}

/// The report as the `BENCHMARKS.md` section.
pub fn markdown(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Command: `cargo run --release -p rackwatch -- bench eta --curves {} --seed {} --update BENCHMARKS.md` \
         ({} generated curves per scenario, one sample every 5 minutes; {:.1} s).\n",
        report.curves, report.seed, report.curves, report.seconds
    );
    let _ = writeln!(
        s,
        "Each predictor is asked for the time until the series reaches 100 %. `core Window<64>` is \
         `Window::time_to` (least squares over the last 64 samples, 5 h 20 min) and `core Forgetting` \
         is `ForgettingTrend::time_to` (exponential forgetting, `tau` 6 h or 24 h), both with \
         `EtaPolicy::DEFAULT`, which answers only when the slope is significant; `predict_linear` is \
         naive least squares over the trailing range, `(threshold − fitted value) / slope` whenever \
         the slope is positive. The generator and the scores are in `rackwatch::eta_bench`.\n"
    );
    let _ = writeln!(
        s,
        "**Curves that fill**: median relative error `|predicted − actual| / actual` of the time \
         remaining, asked at 25 % / 50 % / 75 % of the time from the start to full; in brackets the \
         share of curves without an answer at those points.\n"
    );
    let names: Vec<&str> = Predictor::ALL.iter().map(|p| p.name()).collect();
    let _ = writeln!(s, "| scenario | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(names.len()));
    for scenario in Scenario::ALL.iter().filter(|s| s.fills()) {
        let cells: Vec<String> = report
            .rows
            .iter()
            .filter(|r| r.scenario == *scenario)
            .map(|r| {
                let unanswered = r.no_answer.iter().any(|x| *x > 0.0);
                if unanswered {
                    format!(
                        "{} ({})",
                        errors_cell(&r.median_relative_error),
                        r.no_answer
                            .iter()
                            .map(|x| pct(Some(*x)))
                            .collect::<Vec<_>>()
                            .join(" / ")
                    )
                } else {
                    errors_cell(&r.median_relative_error)
                }
            })
            .collect();
        let _ = writeln!(s, "| {} | {} |", scenario.name(), cells.join(" | "));
    }
    let cells: Vec<String> = report.overall.iter().map(|(_, e)| errors_cell(e)).collect();
    let _ = writeln!(s, "| **all filling** | {} |", cells.join(" | "));
    let _ = writeln!(
        s,
        "\n**Curves that never fill**: share of hourly evaluations at which the predictor says 100 % \
         is reached within 24 h, i.e. a predictive alert for a fill that never comes.\n"
    );
    let _ = writeln!(s, "| scenario | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for scenario in Scenario::ALL.iter().filter(|s| !s.fills()) {
        let cells: Vec<String> = report
            .rows
            .iter()
            .filter(|r| r.scenario == *scenario)
            .map(|r| pct(r.false_fill))
            .collect();
        let _ = writeln!(s, "| {} | {} |", scenario.name(), cells.join(" | "));
    }
    let cells: Vec<String> = report
        .overall_false_fill
        .iter()
        .map(|(_, f)| pct(Some(*f)))
        .collect();
    let _ = writeln!(s, "| **all never-full** | {} |", cells.join(" | "));
    // One reading of the tables, computed from them.
    let mean_error = |e: &[Option<f64>]| e.iter().flatten().sum::<f64>() / e.len().max(1) as f64;
    if let (Some(best), Some(quiet)) = (
        report
            .overall
            .iter()
            .min_by(|a, b| mean_error(&a.1).total_cmp(&mean_error(&b.1))),
        report
            .overall_false_fill
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        let _ = writeln!(
            s,
            "\nOver all filling curves the most accurate is `{}` ({}); the fewest predictions of a \
             fill that never comes are `{}`'s ({}). A fit over the last 5–6 hours only (`Window<64>`, \
             `predict_linear 6h`) takes the rising half of a daily cycle or of a rotation sawtooth \
             for a fill; exponential forgetting keeps a tail of older samples and a day's memory \
             sees whole cycles, so both do better on disks and queues with daily rhythms, and the \
             core's significance test withholds answers a naive fit would give. No linear fit \
             foresees acceleration: every predictor is late on exponential growth, the longer \
             memories most.",
            best.0.name(),
            errors_cell(&best.1),
            quiet.0.name(),
            pct(Some(quiet.1))
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filling_curves_fill_and_the_others_never_do() {
        let mut rng = Rng::new(3);
        for scenario in Scenario::ALL {
            for _ in 0..20 {
                let curve = generate(scenario, &mut rng);
                assert!(curve.samples.len() > 100, "{scenario:?}");
                assert!(curve.samples.windows(2).all(|w| w[1].0 == w[0].0 + STEP_MS));
                if scenario.fills() {
                    let full = curve.full_ms.expect("fills");
                    assert_eq!(curve.samples.last().map(|s| s.0), Some(full));
                    assert!(curve.samples.last().unwrap().1 >= THRESHOLD);
                    assert!(curve.samples[..curve.samples.len() - 1]
                        .iter()
                        .all(|s| s.1 < THRESHOLD));
                } else {
                    assert_eq!(curve.full_ms, None);
                    assert!(curve.samples.iter().all(|s| s.1 < THRESHOLD));
                    assert_eq!(curve.samples.last().unwrap().0, NEVER_DAYS * DAY_MS);
                }
            }
        }
    }

    #[test]
    fn the_generator_is_deterministic_and_shapes_differ() {
        let a = generate(Scenario::Linear, &mut Rng::new(5));
        assert_eq!(a, generate(Scenario::Linear, &mut Rng::new(5)));
        assert_ne!(a, generate(Scenario::Linear, &mut Rng::new(6)));
        // Rotations drop: some step is a fall of several percent.
        let r = generate(Scenario::RotationBounded, &mut Rng::new(5));
        assert!(r.samples.windows(2).any(|w| w[1].1 < w[0].1 - 10.0));
        // A plateau stays: the last day is flat within noise.
        let p = generate(Scenario::FillThenPlateau, &mut Rng::new(5));
        let last: Vec<f64> = p.samples.iter().rev().take(288).map(|s| s.1).collect();
        let spread = last.iter().cloned().fold(f64::MIN, f64::max)
            - last.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread < 6.0, "{spread}");
    }

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

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn on_a_clean_linear_fill_every_predictor_is_close_and_flat_cycles_rarely_fool_the_core() {
        let report = run(10, 1);
        for row in report
            .rows
            .iter()
            .filter(|r| r.scenario == Scenario::Linear)
        {
            for e in &row.median_relative_error {
                let e = e.expect("an answer");
                assert!(e < 0.25, "{:?} {e}", row.predictor);
            }
        }
        let false_fill = |p: Predictor| {
            report
                .rows
                .iter()
                .find(|r| r.scenario == Scenario::CycleFlat && r.predictor == p)
                .and_then(|r| r.false_fill)
                .unwrap()
        };
        // A cycle around a flat level: the naive 6 h fit predicts a fill on every rising half-cycle
        // that is steep enough; the core's significance test does not do worse.
        assert!(false_fill(Predictor::CoreWindow64) <= false_fill(Predictor::PredictLinear6h));
        let text = text(&report);
        assert!(text.contains("linear") && text.contains("never fill"));
        let md = markdown(&report);
        assert!(md.contains("| **all filling** |") && md.contains("| **all never-full** |"));
    }
}
