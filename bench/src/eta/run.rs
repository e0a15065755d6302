//! Runs the curves through the predictors and scores the answers.
//!
//! Invariants: each scenario draws from its own generator, seeded from `--seed` and the scenario's
//! place, so its curves do not depend on the other scenarios; a filling curve is asked at the
//! samples nearest 25 %, 50 % and 75 % of its time to full, a never-full one every hour after the
//! first 6 h.

use super::predictors::State;
use super::scenarios::{generate, Curve};
use super::{Predictor, Scenario, ALERT_HORIZON_MS, FRACTIONS, HOUR_MS, NEVER_DAYS, STEP_MS};
use crate::rng::Rng;
use serde::Serialize;

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

/// What a scenario's curves gave, per predictor (indexed as [`Predictor::ALL`]).
#[derive(Debug, Clone)]
struct Tally {
    /// Relative errors of the answers, per asking point (25 %, 50 %, 75 %).
    errors: Vec<Vec<Vec<f64>>>,
    /// Curves without an answer, per asking point.
    unanswered: Vec<[u32; 3]>,
    /// Never-full curves: (hours predicting a fill within the horizon, hours asked).
    false_fill: Vec<(u64, u64)>,
}

impl Tally {
    fn new() -> Tally {
        let n = Predictor::ALL.len();
        Tally {
            errors: vec![vec![Vec::new(); FRACTIONS.len()]; n],
            unanswered: vec![[0; 3]; n],
            false_fill: vec![(0, 0); n],
        }
    }

    /// Adds `other`'s answers to these (the unanswered counts are per scenario only).
    fn absorb(&mut self, other: &Tally) {
        for (mine, theirs) in self.errors.iter_mut().zip(&other.errors) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.extend_from_slice(t);
            }
        }
        for (mine, theirs) in self.false_fill.iter_mut().zip(&other.false_fill) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
    }
}

/// When to ask, with the asking point's index for a filling curve: the sample nearest each fraction
/// of the time to full, or every hour after the first 6 h.
fn asking_points(scenario: Scenario, curve: &Curve) -> Vec<(u64, Option<usize>)> {
    match curve.full_ms {
        Some(full) if scenario.fills() => FRACTIONS
            .iter()
            .enumerate()
            .map(|(k, f)| {
                let start = curve.fill_start_ms;
                let at = start as f64 + (full - start) as f64 * f;
                let t = (at / STEP_MS as f64).round() as u64 * STEP_MS;
                (t, Some(k))
            })
            .collect(),
        _ => (6..NEVER_DAYS * 24).map(|h| (h * HOUR_MS, None)).collect(),
    }
}

/// Feeds `curve` to fresh predictors sample by sample and records their answers at its asking
/// points.
fn ask(scenario: Scenario, curve: &Curve, tally: &mut Tally) {
    let mut states: Vec<State> = Predictor::ALL.iter().map(|&p| State::new(p)).collect();
    let asks = asking_points(scenario, curve);
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
                                tally.errors[p][k].push((eta as f64 - actual).abs() / actual)
                            }
                            None => tally.unanswered[p][k] += 1,
                        }
                    }
                    _ => {
                        let fill = eta.is_some_and(|e| e <= ALERT_HORIZON_MS);
                        tally.false_fill[p].0 += u64::from(fill);
                        tally.false_fill[p].1 += 1;
                    }
                }
            }
            next += 1;
        }
    }
}

/// One row per predictor from a scenario's tally; `asked` is the number of curves that filled.
fn scenario_rows(scenario: Scenario, tally: &mut Tally, asked: u32) -> Vec<Row> {
    let fills = scenario.fills();
    Predictor::ALL
        .iter()
        .enumerate()
        .map(|(p, &predictor)| Row {
            scenario,
            predictor,
            median_relative_error: if fills {
                tally.errors[p].iter_mut().map(|e| median(e)).collect()
            } else {
                Vec::new()
            },
            no_answer: if fills {
                tally.unanswered[p]
                    .iter()
                    .map(|&u| f64::from(u) / f64::from(asked.max(1)))
                    .collect()
            } else {
                Vec::new()
            },
            false_fill: (!fills)
                .then(|| tally.false_fill[p].0 as f64 / tally.false_fill[p].1.max(1) as f64),
        })
        .collect()
}

/// Runs `curves` curves of every scenario through every predictor.
pub fn run(curves: u32, seed: u64) -> Report {
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    // Pooled over every scenario: the filling ones' errors and the never-full ones' false fills.
    let mut pooled = Tally::new();
    for (s, &scenario) in Scenario::ALL.iter().enumerate() {
        let mut rng = Rng::new(seed ^ ((s as u64 + 1) << 32));
        let mut tally = Tally::new();
        let mut asked = 0u32;
        for _ in 0..curves {
            let curve = generate(scenario, &mut rng);
            if curve.full_ms.is_some() {
                asked += 1;
            }
            ask(scenario, &curve, &mut tally);
        }
        pooled.absorb(&tally);
        rows.extend(scenario_rows(scenario, &mut tally, asked));
    }
    let overall = Predictor::ALL
        .iter()
        .zip(&mut pooled.errors)
        .map(|(&p, e)| (p, e.iter_mut().map(|e| median(e)).collect()))
        .collect();
    let overall_false_fill = Predictor::ALL
        .iter()
        .zip(&pooled.false_fill)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
