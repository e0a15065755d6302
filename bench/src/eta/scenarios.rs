//! The generated curves: seeded random instances of scenarios that fill and of scenarios that never
//! do, one sample every 5 minutes, in percent of a capacity.
//!
//! Invariants: a filling curve ends at its first sample at or above [`THRESHOLD`] and every earlier
//! sample is below it; a never-full curve runs [`NEVER_DAYS`] days and stays below it; the same
//! generator state gives the same curve.

use super::{DAY_MS, NEVER_DAYS, STEP_MS, THRESHOLD};
use crate::rng::Rng;
use serde::Serialize;

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
    /// Days flat under a daily cycle and noise, then a leak fills it: the fill is the leak.
    PlateauLeak,
    /// Exponential growth under a daily cycle and noise.
    AcceleratingCycle,
}

impl Scenario {
    /// Every scenario. The regime-change scenarios came last so that each older scenario keeps its
    /// seed (its place in this list) and its curves.
    pub const ALL: [Scenario; 10] = [
        Scenario::Linear,
        Scenario::Accelerating,
        Scenario::DailyCycle,
        Scenario::Plateaus,
        Scenario::RotationGrowing,
        Scenario::CycleFlat,
        Scenario::RotationBounded,
        Scenario::FillThenPlateau,
        Scenario::PlateauLeak,
        Scenario::AcceleratingCycle,
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
            Scenario::PlateauLeak => "plateau-leak",
            Scenario::AcceleratingCycle => "accelerating-cycle",
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
                | Scenario::PlateauLeak
                | Scenario::AcceleratingCycle
        )
    }
}

/// One generated curve: samples every 5 minutes from time 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Curve {
    /// `(t_ms, percent)`.
    pub samples: Vec<(u64, f64)>,
    /// The time of the first sample at or above the threshold, if the curve fills.
    pub full_ms: Option<u64>,
    /// When the fill starts: 0, or the leak's start after a plateau. Filling curves are asked at
    /// fractions of the time from here to full.
    pub fill_start_ms: u64,
}

/// Generates one curve of `scenario`. Filling curves end at their first sample at or above 100 %;
/// the others run for 14 days and stay below it.
pub fn generate(scenario: Scenario, rng: &mut Rng) -> Curve {
    let noise = rng.range(0.1, 0.8); // percent, one σ
    let phase = rng.range(0.0, std::f64::consts::TAU);
    let start = rng.range(10.0, 40.0);
    let days = rng.range(2.0, 8.0); // nominal time to full
    let (shape, fill_start_ms) = shape_of(scenario, rng, start, days, phase);
    sample(scenario, &*shape, rng, noise, days, fill_start_ms)
}

/// A scenario's noiseless fill in percent as a function of time, and when its fill starts; the
/// draws from `rng` come in the same order for every version of the benchmark.
fn shape_of(
    scenario: Scenario,
    rng: &mut Rng,
    start: f64,
    days: f64,
    phase: f64,
) -> (Box<dyn Fn(u64) -> f64>, u64) {
    let day = |t: u64| t as f64 / DAY_MS as f64;
    let cycle =
        move |t: u64, amplitude: f64| amplitude * (std::f64::consts::TAU * day(t) + phase).sin();
    let mut fill_start_ms = 0;
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
        Scenario::PlateauLeak => {
            // 2–6 days at a level under a daily cycle, then a leak fills the rest in `days` / 2
            // (1–4 days).
            let level = rng.range(30.0, 60.0);
            let amplitude = rng.range(0.5, 3.0);
            let plateau = rng.range(2.0, 6.0);
            let rate = (100.0 - level) / (days / 2.0);
            fill_start_ms = (plateau * DAY_MS as f64) as u64;
            Box::new(move |t| level + cycle(t, amplitude) + rate * (day(t) - plateau).max(0.0))
        }
        Scenario::AcceleratingCycle => {
            // `Accelerating` under a daily cycle whose swing is 1–3 times the first day's growth.
            let k = (100.0 / start).ln() / days;
            let amplitude = rng.range(1.0, 3.0) * start * k / std::f64::consts::TAU;
            Box::new(move |t| start * (k * day(t)).exp() + cycle(t, amplitude))
        }
    };
    (shape, fill_start_ms)
}

/// Samples `shape` every step with Gaussian noise of `noise` percent, up to the first sample at or
/// above the threshold for a filling scenario, for 14 days below it for the others.
fn sample(
    scenario: Scenario,
    shape: &dyn Fn(u64) -> f64,
    rng: &mut Rng,
    noise: f64,
    days: f64,
    fill_start_ms: u64,
) -> Curve {
    let fills = scenario.fills();
    let end_ms = if fills {
        // Long enough for the slowest fill (plateaus and rotations run a little behind nominal).
        fill_start_ms + (days * 2.0 * DAY_MS as f64) as u64
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
    Curve {
        samples,
        full_ms,
        fill_start_ms,
    }
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
                    assert!(curve.fill_start_ms < full, "{scenario:?}");
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
        // A leak after a plateau: the day before it stays within the cycle and noise, the fill
        // starts after days.
        let l = generate(Scenario::PlateauLeak, &mut Rng::new(5));
        assert!(l.fill_start_ms >= 2 * DAY_MS);
        let before: Vec<f64> = l
            .samples
            .iter()
            .filter(|s| s.0 < l.fill_start_ms && s.0 + DAY_MS >= l.fill_start_ms)
            .map(|s| s.1)
            .collect();
        let spread = before.iter().cloned().fold(f64::MIN, f64::max)
            - before.iter().cloned().fold(f64::MAX, f64::min);
        assert!(spread < 10.0, "{spread}");
    }
}
