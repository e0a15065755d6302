//! Point-adjusted F1 with a delay limit: the scoring of the KPI-anomaly-detection community.
//!
//! A *run* is a maximal stretch of consecutive anomalous labels. With delay `k`, a run counts as
//! detected when an alarm falls within its first `k + 1` points; then every point of the run is a
//! true positive, otherwise every point of it is a false negative. Points outside runs count as they
//! are: an alarm there is a false positive, silence a true negative. One F1 is computed over all
//! series concatenated (the counts are summed, not the F1s averaged).
//!
//! Invariants: a [`Sweep`] answers for every threshold what [`adjusted_counts`] answers for the
//! alarms `score ≥ threshold` (asserted in the tests); a score that is NaN never alarms.

use serde::Serialize;
use std::ops::Range;

/// The delay limit of the protocol: a run must be alarmed within its first `DELAY + 1` points.
pub const DELAY: usize = 7;

/// The share of each series (its first rows) that only warms the detector up and is not scored.
pub const WARMUP_SHARE: f64 = 0.1;

/// The first scored row of a series of `rows` rows: the rows before it warm the detector up.
pub fn first_scored(rows: usize) -> usize {
    (rows as f64 * WARMUP_SHARE).floor() as usize
}

/// Point counts after the adjustment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Anomalous points counted as detected.
    pub tp: u64,
    /// Normal points that alarmed.
    pub fp: u64,
    /// Anomalous points counted as missed.
    #[serde(rename = "fn")]
    pub fn_: u64,
}

impl Counts {
    /// `tp / (tp + fp)`, 0 when nothing alarmed.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `tp / (tp + fn)`, 0 when nothing is anomalous.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// The harmonic mean of precision and recall, `2tp / (2tp + fp + fn)`; 0 without any true positive.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// The sum of two counts (series concatenated).
    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            tp: self.tp + other.tp,
            fp: self.fp + other.fp,
            fn_: self.fn_ + other.fn_,
        }
    }
}

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// The runs of `true` in `labels`, in order.
pub fn runs(labels: &[bool]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, &anomalous) in labels.iter().enumerate() {
        match (anomalous, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(s..labels.len());
    }
    out
}

/// The point-adjusted counts of `alarms` against `labels` (same length) with delay `delay`.
pub fn adjusted_counts(labels: &[bool], alarms: &[bool], delay: usize) -> Counts {
    let mut counts = Counts::default();
    for run in runs(labels) {
        let len = run.len() as u64;
        let head = run.start..run.end.min(run.start + delay + 1);
        if alarms[head].iter().any(|&a| a) {
            counts.tp += len;
        } else {
            counts.fn_ += len;
        }
    }
    counts.fp = labels
        .iter()
        .zip(alarms)
        .filter(|&(&anomalous, &alarm)| !anomalous && alarm)
        .count() as u64;
    counts
}

/// Everything the protocol needs to score any global threshold over series added one by one: the
/// highest score in each run's first `delay + 1` points (with the run's length), and the score of
/// each normal point.
#[derive(Debug, Clone, Default)]
pub struct Sweep {
    delay: usize,
    /// `(highest score within the delay, run length)` per run.
    runs: Vec<(f64, u64)>,
    /// The score of each normal point.
    normals: Vec<f64>,
}

/// One threshold's result.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtThreshold {
    /// Alarms are the scores at or above this.
    pub threshold: f64,
    /// The adjusted counts there.
    pub counts: Counts,
}

impl Sweep {
    /// An empty sweep with delay `delay`.
    pub fn new(delay: usize) -> Sweep {
        Sweep {
            delay,
            ..Sweep::default()
        }
    }

    /// Adds one series: its labels and its scores, row by row (same length).
    pub fn add(&mut self, labels: &[bool], scores: &[f64]) {
        for run in runs(labels) {
            let head = run.start..run.end.min(run.start + self.delay + 1);
            let best = scores[head]
                .iter()
                .copied()
                .filter(|s| !s.is_nan())
                .fold(f64::NEG_INFINITY, f64::max);
            self.runs.push((best, run.len() as u64));
        }
        self.normals.extend(
            labels
                .iter()
                .zip(scores)
                .filter(|(&anomalous, s)| !anomalous && !s.is_nan())
                .map(|(_, &s)| s),
        );
    }

    /// The counts when every score `≥ threshold` alarms.
    pub fn at(&self, threshold: f64) -> AtThreshold {
        let mut counts = Counts::default();
        for &(best, len) in &self.runs {
            if best >= threshold {
                counts.tp += len;
            } else {
                counts.fn_ += len;
            }
        }
        counts.fp = self.normals.iter().filter(|&&s| s >= threshold).count() as u64;
        AtThreshold { threshold, counts }
    }

    /// The threshold with the highest F1 (the highest such threshold on a tie), among the scores
    /// seen; `None` when no run was added.
    pub fn best(&self) -> Option<AtThreshold> {
        if self.runs.is_empty() {
            return None;
        }
        // Events sorted by score, highest first: lowering the threshold past a score turns a run into
        // a hit or a normal point into a false alarm.
        let mut events: Vec<(f64, Option<u64>)> = self
            .runs
            .iter()
            .filter(|(best, _)| best.is_finite() || *best == f64::INFINITY)
            .map(|&(best, len)| (best, Some(len)))
            .chain(self.normals.iter().map(|&s| (s, None)))
            .collect();
        events.sort_by(|a, b| b.0.total_cmp(&a.0));
        let anomalous: u64 = self.runs.iter().map(|r| r.1).sum();
        let mut counts = Counts {
            tp: 0,
            fp: 0,
            fn_: anomalous,
        };
        let mut best: Option<AtThreshold> = None;
        let mut i = 0;
        while i < events.len() {
            let threshold = events[i].0;
            while i < events.len() && events[i].0 == threshold {
                match events[i].1 {
                    Some(len) => {
                        counts.tp += len;
                        counts.fn_ -= len;
                    }
                    None => counts.fp += 1,
                }
                i += 1;
            }
            if best.is_none_or(|b| counts.f1() > b.counts.f1()) {
                best = Some(AtThreshold { threshold, counts });
            }
        }
        best.or(Some(AtThreshold {
            threshold: f64::INFINITY,
            counts,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bools(text: &str) -> Vec<bool> {
        text.chars().map(|c| c == '1').collect()
    }

    #[test]
    fn a_run_alarmed_within_the_delay_is_wholly_detected() {
        // One run of 10 points; the alarm on its 8th point (index 7 of the run) is within k + 1 = 8.
        let labels = bools("00111111111100");
        let alarms = bools("00000000010000");
        let c = adjusted_counts(&labels, &alarms, 7);
        assert_eq!(
            c,
            Counts {
                tp: 10,
                fp: 0,
                fn_: 0
            }
        );
        assert_eq!(c.f1(), 1.0);
    }

    #[test]
    fn a_run_alarmed_only_after_the_delay_is_wholly_missed() {
        // The alarm on the 9th point of the run is too late.
        let labels = bools("00111111111100");
        let alarms = bools("00000000001000");
        assert_eq!(
            adjusted_counts(&labels, &alarms, 7),
            Counts {
                tp: 0,
                fp: 0,
                fn_: 10
            }
        );
        // With delay 0 only the first point counts.
        let on_first = bools("00100000000000");
        assert_eq!(adjusted_counts(&labels, &on_first, 0).tp, 10);
        let on_second = bools("00010000000000");
        assert_eq!(adjusted_counts(&labels, &on_second, 0).fn_, 10);
    }

    #[test]
    fn points_outside_runs_count_as_they_are() {
        let labels = bools("1100000110");
        let alarms = bools("0110100000");
        // Run 0..2 hit (alarm at 1), run 7..9 missed; alarms at 2 and 4 are false.
        let c = adjusted_counts(&labels, &alarms, 7);
        assert_eq!(
            c,
            Counts {
                tp: 2,
                fp: 2,
                fn_: 2
            }
        );
        assert!((c.precision() - 0.5).abs() < 1e-12);
        assert!((c.recall() - 0.5).abs() < 1e-12);
        assert!((c.f1() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn runs_at_the_edges_are_found() {
        assert_eq!(runs(&bools("1100111")), vec![0..2, 4..7]);
        assert_eq!(runs(&bools("000")), Vec::<Range<usize>>::new());
    }

    #[test]
    fn nothing_alarmed_scores_zero_not_nan() {
        let c = adjusted_counts(&bools("0110"), &bools("0000"), 7);
        assert_eq!(c.f1(), 0.0);
        assert_eq!(c.precision(), 0.0);
    }

    #[test]
    fn the_sweep_agrees_with_direct_counting_at_every_threshold() {
        let labels = bools("0011110000111111111100010");
        let scores = [
            0.1, 0.6, 0.2, 0.3, 0.9, 0.1, 0.0, 0.4, 0.5, 0.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2,
            0.2, 0.8, 0.1, 0.0, 0.3, 0.7, 0.0, 0.55,
        ];
        let mut sweep = Sweep::new(7);
        sweep.add(&labels, &scores);
        for threshold in [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0] {
            let alarms: Vec<bool> = scores.iter().map(|&s| s >= threshold).collect();
            assert_eq!(
                sweep.at(threshold).counts,
                adjusted_counts(&labels, &alarms, 7),
                "at {threshold}"
            );
        }
        // The best threshold is one of the scores and no threshold does better.
        let best = sweep.best().expect("runs were added");
        for threshold in scores {
            assert!(sweep.at(threshold).counts.f1() <= best.counts.f1() + 1e-12);
        }
        assert_eq!(sweep.at(best.threshold).counts, best.counts);
    }

    #[test]
    fn series_are_concatenated_by_summing_counts() {
        let mut sweep = Sweep::new(7);
        sweep.add(&bools("0110"), &[0.0, 0.9, 0.0, 0.0]);
        sweep.add(&bools("0011"), &[0.9, 0.0, 0.0, 0.0]);
        // Threshold 0.5: first run hit (2), second missed (2), one false alarm.
        assert_eq!(
            sweep.at(0.5).counts,
            Counts {
                tp: 2,
                fp: 1,
                fn_: 2
            }
        );
        // F1 = 2tp / (2tp + fp + fn) = 4 / 7.
        assert!((sweep.at(0.5).counts.f1() - 4.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn the_warm_up_is_the_first_tenth() {
        assert_eq!(first_scored(1000), 100);
        assert_eq!(first_scored(9), 0);
    }
}
