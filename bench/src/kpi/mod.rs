//! Point-adjusted F1 (delay 7) on labelled KPI corpora, the protocol of the KPI-anomaly-detection
//! community: [`data`] reads a corpus, [`scorer`] scores it.
//!
//! [`evaluate`] runs a fresh detector over each series (all rows: the first [`scorer::WARMUP_SHARE`]
//! only warm it up and are not scored), then scores every series concatenated at the detector's
//! own alarm level ([`ALARM`]) and at the best global threshold.
//!
//! Invariants: one fresh detector per series, fed its rows in order, with times made monotonic as a
//! node's clock would be (a row stamped before the previous one gets the previous row's time).

pub mod data;
pub mod scorer;

use crate::nab::detectors::{Detector, Kind};
use data::Series;
use scorer::{AtThreshold, Sweep, DELAY};
use serde::Serialize;
use std::fmt::Write as _;

/// The alarm level of the core's score: an anomaly is announced at 0.5.
pub const ALARM: f64 = 0.5;

/// One detector's result on a corpus.
#[derive(Debug, Clone, Serialize)]
pub struct KpiEvaluation {
    /// The detector's name.
    pub detector: &'static str,
    /// Series scored.
    pub series: usize,
    /// Rows scored (after each series' warm-up).
    pub rows: usize,
    /// Labelled anomalous runs scored.
    pub runs: usize,
    /// At the alarm level [`ALARM`].
    pub at_alarm: AtThreshold,
    /// At the best global threshold.
    pub best: AtThreshold,
    /// Share of scored rows whose score is exactly 0.
    pub zero_share: f64,
    /// Seconds spent running the detector.
    pub detect_seconds: f64,
}

/// Runs `detector` over a series, one score per row; a row whose value is missing never reaches the
/// detector (a node receives no sample) and scores 0.
pub fn run(detector: &mut dyn Detector, series: &Series) -> Vec<f64> {
    let mut last_ms = 0u64;
    series
        .times_ms
        .iter()
        .zip(&series.values)
        .map(|(&t, &v)| {
            if v.is_nan() {
                return 0.0;
            }
            last_ms = last_ms.max(t);
            detector.score(last_ms, v)
        })
        .collect()
}

/// Scores `kind` on `corpus`; `None` when the scored rows hold no anomalous run.
pub fn evaluate(kind: Kind, corpus: &[Series]) -> Option<KpiEvaluation> {
    let started = std::time::Instant::now();
    let mut sweep = Sweep::new(DELAY);
    let (mut rows, mut runs, mut zeros) = (0, 0, 0);
    for series in corpus {
        let scores = run(kind.build().as_mut(), series);
        let from = scorer::first_scored(series.labels.len());
        let (labels, scores) = (&series.labels[from..], &scores[from..]);
        sweep.add(labels, scores);
        rows += labels.len();
        runs += scorer::runs(labels).len();
        zeros += scores.iter().filter(|&&s| s == 0.0).count();
    }
    let detect_seconds = started.elapsed().as_secs_f64();
    let best = sweep.best()?;
    Some(KpiEvaluation {
        detector: kind.name(),
        series: corpus.len(),
        rows,
        runs,
        at_alarm: sweep.at(ALARM),
        best,
        zero_share: if rows == 0 {
            0.0
        } else {
            zeros as f64 / rows as f64
        },
        detect_seconds,
    })
}

/// The evaluations as a table.
pub fn text(corpus_name: &str, evaluations: &[KpiEvaluation]) -> String {
    let mut out = String::new();
    if let Some(first) = evaluations.first() {
        let _ = writeln!(
            out,
            "{corpus_name}: {} series, {} scored rows, {} anomalous runs \
             (point-adjusted, delay {DELAY}, first {:.0} % of each series warms up)",
            first.series,
            first.rows,
            first.runs,
            scorer::WARMUP_SHARE * 100.0
        );
    }
    let _ = writeln!(
        out,
        "{:<18} {:>7} {:>6} {:>6}   {:>9} {:>7} {:>6} {:>6}  {:>6}",
        "detector", "F1@0.5", "P", "R", "threshold", "best F1", "P", "R", "zeros"
    );
    for e in evaluations {
        let (a, b) = (e.at_alarm.counts, e.best.counts);
        let _ = writeln!(
            out,
            "{:<18} {:>7.3} {:>6.3} {:>6.3}   {:>9.4} {:>7.3} {:>6.3} {:>6.3}  {:>5.1}%",
            e.detector,
            a.f1(),
            a.precision(),
            a.recall(),
            e.best.threshold,
            b.f1(),
            b.precision(),
            b.recall(),
            e.zero_share * 100.0
        );
    }
    out
}
