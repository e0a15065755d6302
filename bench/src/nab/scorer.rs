//! NAB's scoring, reimplemented from its definition (`docs/nab.md` §2 Scoring; NAB
//! `nab/sweeper.py` at ea702d7): per-row sweep scores from the windows, a probationary prefix, one
//! global threshold per application profile swept over every distinct anomaly score of all files,
//! and normalisation against the null and the perfect detector.
//!
//! - **Probation**: the first `min(floor(0.15·N), 750)` rows of a file of N rows are not scored.
//! - **Windows** are entered at the row whose timestamp equals the window start and left after the
//!   row whose timestamp equals its end (the first such rows); width `w = right − left + 1` rows.
//! - **Inside a window**, row `i` scores `A_TP · σ̃(−(right − i + 1)/w) / σ̃(−1)`: `A_TP` at the left
//!   edge, about 0 at the right edge, with `σ̃(y) = 2/(1 + e^{5y}) − 1` (and exactly −1 for y ≥ 3).
//! - **Outside**, a detection scores `A_FP · σ̃(|i − prev_right| / (prev_w − 1))` after a window, and
//!   `−A_FP` before the file's first window.
//! - **At a threshold** a row is a detection when its score is ≥ the threshold. Each window counts
//!   `−A_FN`, or the best (earliest) of its detections; every detection outside a window adds its
//!   (negative) score. The raw score sums this over all files.
//! - **The sweep** starts at 1.1 (nothing detected) and evaluates every distinct anomaly score of the
//!   pooled non-probationary rows, high to low; the best raw score wins, the higher threshold on ties.
//! - **Normalised** = `100 · (raw − raw_null) / (raw_perfect − raw_null)` with `raw_perfect = A_TP ·
//!   windows` and `raw_null` the raw score with no detection (`−A_FN · windows`).
//!
//! Scoring a subset of the files sweeps and normalises over that subset's own windows; NAB's
//! published figures are over all 58 files (116 windows).

use super::data::{DataFile, Timestamp};
use serde::Serialize;

/// An application profile: the weights of true positives, false positives and false negatives.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Profile {
    /// NAB's name of the profile.
    pub name: &'static str,
    /// `A_TP`.
    pub tp: f64,
    /// `A_FP`.
    pub fp: f64,
    /// `A_FN`.
    pub fn_: f64,
}

/// NAB's three profiles (`config/profiles.json`): standard, reward low FP rate, reward low FN rate.
pub const PROFILES: [Profile; 3] = [
    Profile {
        name: "standard",
        tp: 1.0,
        fp: 0.11,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FP_rate",
        tp: 1.0,
        fp: 0.22,
        fn_: 1.0,
    },
    Profile {
        name: "reward_low_FN_rate",
        tp: 1.0,
        fp: 0.11,
        fn_: 2.0,
    },
];

/// NAB's probationary length for a file of `rows` rows: `min(floor(0.15·rows), 0.15·5000)`.
pub fn probation(rows: usize) -> usize {
    let fraction = 0.15;
    let length = (fraction * rows as f64).floor().min(fraction * 5000.0);
    length as usize
}

/// `2·sigmoid(−5y) − 1`, exactly −1 for `y ≥ 3` (NAB's `scaledSigmoid`).
pub fn scaled_sigmoid(y: f64) -> f64 {
    if y >= 3.0 {
        -1.0
    } else {
        2.0 / (1.0 + (5.0 * y).exp()) - 1.0
    }
}

/// What a detection on one row would be worth, before the profile's weights.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RowKind {
    /// In the probationary prefix: never scored.
    Probation,
    /// Inside window `window` (an index into [`Labels::windows`]); `value` = `σ̃(position)`.
    Window {
        /// The window.
        window: u32,
        /// The unweighted scaled sigmoid of the row's position in the window.
        value: f64,
    },
    /// Outside every window; `value` = `σ̃(distance past the previous window)` (≤ 0), or −1 before
    /// the first window.
    Outside {
        /// The unweighted (negative) scaled sigmoid.
        value: f64,
    },
}

impl RowKind {
    /// The row's sweep score under `profile` (as NAB's `calcSweepScore`).
    fn weighted(self, profile: &Profile) -> f64 {
        match self {
            RowKind::Probation => 0.0,
            RowKind::Window { value, .. } => value * profile.tp / scaled_sigmoid(-1.0),
            RowKind::Outside { value } => value * profile.fp,
        }
    }
}

/// One file's rows labelled for scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// One entry per row, in file order.
    pub rows: Vec<RowKind>,
    /// The file's windows.
    pub windows: usize,
}

/// Labels the rows of a file of `timestamps` with `windows` (as NAB's `calcSweepScore`). A window
/// boundary that is not the timestamp of a row is an error naming it.
pub fn label(
    timestamps: &[Timestamp],
    windows: &[(Timestamp, Timestamp)],
) -> Result<Labels, String> {
    let first_index = |t: Timestamp| timestamps.iter().position(|&x| x == t);
    let probation = probation(timestamps.len());
    let mut pending = windows.iter().copied().enumerate().peekable();
    // The window we are in: (id, end time, right index, width).
    let mut current: Option<(u32, Timestamp, usize, f64)> = None;
    // The last window left: (right index, width).
    let mut previous: Option<(usize, f64)> = None;
    let mut rows = Vec::with_capacity(timestamps.len());
    for (i, &t) in timestamps.iter().enumerate() {
        if let Some(&(id, (start, end))) = pending.peek() {
            if t == start {
                pending.next();
                let right = first_index(end)
                    .ok_or_else(|| format!("window {id} end {end} is not a row's timestamp"))?;
                let left = first_index(start).unwrap_or(i);
                let width = right as f64 - left as f64 + 1.0;
                if width < 2.0 {
                    return Err(format!(
                        "window {id} ({start} to {end}) spans {width} rows; NAB needs at least 2"
                    ));
                }
                current = Some((id as u32, end, right, width));
            }
        }
        let kind = match current {
            Some((window, _, right, width)) => RowKind::Window {
                window,
                value: scaled_sigmoid(-(right as f64 - i as f64 + 1.0) / width),
            },
            None => RowKind::Outside {
                value: match previous {
                    None => scaled_sigmoid(3.0),
                    Some((right, width)) => {
                        scaled_sigmoid((right as f64 - i as f64).abs() / (width - 1.0))
                    }
                },
            },
        };
        rows.push(if i < probation {
            RowKind::Probation
        } else {
            kind
        });
        if let Some((_, end, _, width)) = current {
            if t == end {
                previous = Some((i, width));
                current = None;
            }
        }
    }
    if let Some((id, (start, _))) = pending.next() {
        return Err(format!(
            "window {id} start {start} is not a row's timestamp"
        ));
    }
    Ok(Labels {
        rows,
        windows: windows.len(),
    })
}

/// The outcome at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// Rows with an anomaly score ≥ this are detections.
    pub threshold: f64,
    /// NAB's raw score.
    pub raw: f64,
    /// Windows with at least one detection.
    pub detected_windows: usize,
    /// Detections outside every window (rows).
    pub false_positives: usize,
}

/// A detector's result under one profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileScore {
    /// The profile.
    pub profile: Profile,
    /// At the best threshold.
    pub best: Outcome,
    /// `100 · (raw − null) / (perfect − null)`.
    pub normalised: f64,
    /// The raw score with no detections.
    pub raw_null: f64,
    /// The raw score of a perfect detector: `A_TP · windows`.
    pub raw_perfect: f64,
    /// Windows scored.
    pub windows: usize,
    /// Per file at the best threshold: (name, raw score, windows).
    pub files: Vec<FileScore>,
}

/// One file's share of a profile's result, at the global threshold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileScore {
    /// `category/name.csv`.
    pub name: String,
    /// The file's raw score.
    pub raw: f64,
    /// The file's windows.
    pub windows: usize,
    /// Of which detected.
    pub detected_windows: usize,
    /// Detections outside windows.
    pub false_positives: usize,
}

/// A labelled file with a detector's anomaly scores, ready to score.
#[derive(Debug, Clone)]
pub struct Scored<'a> {
    /// The file's name.
    pub name: &'a str,
    /// Its labels.
    pub labels: &'a Labels,
    /// One anomaly score per row.
    pub scores: &'a [f64],
}

/// NAB's threshold sweep under `profile` over all `files` pooled: the outcome at 1.1 (nothing
/// detected) and at every distinct anomaly score, from high to low.
pub fn sweep(files: &[Scored<'_>], profile: &Profile) -> Vec<Outcome> {
    let mut window_offset = Vec::with_capacity(files.len());
    let mut total_windows = 0usize;
    let mut rows: Vec<(f64, RowKind, usize)> = Vec::new();
    for (f, file) in files.iter().enumerate() {
        window_offset.push(total_windows);
        total_windows += file.labels.windows;
        for (kind, &score) in file.labels.rows.iter().zip(file.scores) {
            if *kind != RowKind::Probation {
                rows.push((score, *kind, f));
            }
        }
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    // Windows that have at least one scorable row start at −A_FN.
    let mut window_value: Vec<Option<f64>> = vec![None; total_windows];
    for (_, kind, f) in &rows {
        if let RowKind::Window { window, .. } = kind {
            window_value[window_offset[*f] + *window as usize] = Some(-profile.fn_);
        }
    }
    let mut windows_sum: f64 = window_value.iter().flatten().sum();
    let mut fp_sum = 0.0;
    let mut detected = 0usize;
    let mut false_positives = 0usize;
    let mut threshold = 1.1;
    let mut outcomes = Vec::new();
    for &(score, kind, f) in &rows {
        if score != threshold {
            outcomes.push(Outcome {
                threshold,
                raw: fp_sum + windows_sum,
                detected_windows: detected,
                false_positives,
            });
            threshold = score;
        }
        let weighted = kind.weighted(profile);
        match kind {
            RowKind::Window { window, .. } => {
                let slot = &mut window_value[window_offset[f] + window as usize];
                let old = slot.unwrap_or(-profile.fn_);
                if old == -profile.fn_ && weighted > old {
                    detected += 1;
                }
                if weighted > old {
                    windows_sum += weighted - old;
                    *slot = Some(weighted);
                }
            }
            RowKind::Outside { .. } => {
                fp_sum += weighted;
                false_positives += 1;
            }
            RowKind::Probation => {}
        }
    }
    outcomes.push(Outcome {
        threshold,
        raw: fp_sum + windows_sum,
        detected_windows: detected,
        false_positives,
    });
    outcomes
}

/// The best outcome of a sweep: the highest raw score, the higher threshold on ties.
pub fn best(outcomes: &[Outcome]) -> Outcome {
    let mut best = outcomes[0];
    for o in &outcomes[1..] {
        if o.raw > best.raw {
            best = *o;
        }
    }
    best
}

/// One file at a fixed threshold (rows with a score ≥ `threshold` are detections).
pub fn score_file(file: &Scored<'_>, profile: &Profile, threshold: f64) -> FileScore {
    let mut window_value = vec![-profile.fn_; file.labels.windows];
    let mut detected = vec![false; file.labels.windows];
    let mut fp_sum = 0.0;
    let mut false_positives = 0;
    for (kind, &score) in file.labels.rows.iter().zip(file.scores) {
        if score < threshold {
            continue;
        }
        match *kind {
            RowKind::Window { window, .. } => {
                let w = window as usize;
                detected[w] = true;
                window_value[w] = window_value[w].max(kind.weighted(profile));
            }
            RowKind::Outside { .. } => {
                fp_sum += kind.weighted(profile);
                false_positives += 1;
            }
            RowKind::Probation => {}
        }
    }
    FileScore {
        name: file.name.to_string(),
        raw: fp_sum + window_value.iter().sum::<f64>(),
        windows: file.labels.windows,
        detected_windows: detected.iter().filter(|d| **d).count(),
        false_positives,
    }
}

/// Sweeps, picks the best threshold and normalises, under `profile`. `None` when the files have no
/// windows (nothing to normalise against).
pub fn score(files: &[Scored<'_>], profile: &Profile) -> Option<ProfileScore> {
    let windows: usize = files.iter().map(|f| f.labels.windows).sum();
    if windows == 0 {
        return None;
    }
    let outcomes = sweep(files, profile);
    let best = best(&outcomes);
    let raw_null = outcomes[0].raw;
    let raw_perfect = profile.tp * windows as f64;
    Some(ProfileScore {
        profile: *profile,
        best,
        normalised: 100.0 * (best.raw - raw_null) / (raw_perfect - raw_null),
        raw_null,
        raw_perfect,
        windows,
        files: files
            .iter()
            .map(|f| score_file(f, profile, best.threshold))
            .collect(),
    })
}

/// Labels every file of a corpus, naming the file in an error.
pub fn label_files(files: &[DataFile]) -> Result<Vec<Labels>, String> {
    files
        .iter()
        .map(|f| label(&f.timestamps, &f.windows).map_err(|e| format!("{}: {e}", f.name)))
        .collect()
}

/// `100 · (raw − null) / (perfect − null)` for a group of files (a category) at the global threshold;
/// `None` for a group without windows.
pub fn normalise_group(files: &[&FileScore], profile: &Profile) -> Option<f64> {
    let windows: usize = files.iter().map(|f| f.windows).sum();
    if windows == 0 {
        return None;
    }
    let raw: f64 = files.iter().map(|f| f.raw).sum();
    let null = -profile.fn_ * windows as f64;
    let perfect = profile.tp * windows as f64;
    Some(100.0 * (raw - null) / (perfect - null))
}

#[cfg(test)]
mod tests {
    use super::*;

    const STANDARD: Profile = PROFILES[0];

    /// Rows one minute apart.
    fn times(n: usize) -> Vec<Timestamp> {
        (0..n as i64).map(|i| Timestamp(i * 60_000_000)).collect()
    }

    fn window(from: usize, to: usize) -> (Timestamp, Timestamp) {
        (
            Timestamp(from as i64 * 60_000_000),
            Timestamp(to as i64 * 60_000_000),
        )
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn probation_and_scaled_sigmoid_follow_nab() {
        assert_eq!(probation(4032), 604);
        assert_eq!(probation(1127), 169);
        assert_eq!(probation(5000), 750);
        assert_eq!(probation(22_695), 750);
        assert_eq!(probation(0), 0);
        assert!(close(scaled_sigmoid(-1.0), 0.986_614_298_151_430_3));
        assert!(close(scaled_sigmoid(-0.5), 0.848_283_639_957_512_7));
        assert_eq!(scaled_sigmoid(0.0), 0.0);
        assert!(close(scaled_sigmoid(1.0), -0.986_614_298_151_430_3));
        assert_eq!(scaled_sigmoid(3.0), -1.0);
        assert!(scaled_sigmoid(2.9) > -1.0);
    }

    #[test]
    fn rows_are_labelled_by_position_relative_to_the_windows() {
        // 100 rows: probation 15, a window at rows 40..=49 (width 10).
        let labels = label(&times(100), &[window(40, 49)]).unwrap();
        assert_eq!(labels.windows, 1);
        assert!(labels.rows[..15].iter().all(|r| *r == RowKind::Probation));
        assert_eq!(labels.rows[15], RowKind::Outside { value: -1.0 });
        let RowKind::Window { window: 0, value } = labels.rows[40] else {
            panic!("{:?}", labels.rows[40]);
        };
        assert!(close(value, scaled_sigmoid(-1.0)));
        let RowKind::Window { value, .. } = labels.rows[49] else {
            panic!()
        };
        assert!(close(value, scaled_sigmoid(-0.1)));
        // Just after: distance 1 / (width − 1).
        let RowKind::Outside { value } = labels.rows[50] else {
            panic!()
        };
        assert!(close(value, scaled_sigmoid(1.0 / 9.0)));
        assert_eq!(labels.rows[99], RowKind::Outside { value: -1.0 });

        let message = label(&times(100), &[window(40, 200)]).unwrap_err();
        assert!(message.contains("window 0 end"), "{message}");
        let message = label(&times(100), &[(Timestamp(7), Timestamp(8))]).unwrap_err();
        assert!(message.contains("window 0 start"), "{message}");
    }

    fn scored<'a>(labels: &'a Labels, scores: &'a [f64]) -> Scored<'a> {
        Scored {
            name: "t.csv",
            labels,
            scores,
        }
    }

    #[test]
    fn the_null_detector_scores_zero_and_a_perfect_one_a_hundred() {
        let windows = [window(40, 49), window(70, 79)];
        let labels = label(&times(100), &windows).unwrap();
        for profile in &PROFILES {
            let null = score(&[scored(&labels, &[0.0; 100])], profile).unwrap();
            assert_eq!(null.normalised, 0.0, "{}", profile.name);
            assert_eq!(null.best.threshold, 1.1);
            assert_eq!(null.raw_null, -2.0 * profile.fn_);

            let mut perfect = [0.0; 100];
            perfect[40] = 1.0;
            perfect[70] = 1.0;
            let s = score(&[scored(&labels, &perfect)], profile).unwrap();
            assert!(
                close(s.normalised, 100.0),
                "{} {}",
                profile.name,
                s.normalised
            );
            assert_eq!(s.best.threshold, 1.0);
            assert_eq!((s.best.detected_windows, s.best.false_positives), (2, 0));
        }
    }

    #[test]
    fn only_the_earliest_detection_in_a_window_counts_and_every_false_positive_costs() {
        let labels = label(&times(100), &[window(40, 49)]).unwrap();
        let mut scores = [0.0; 100];
        scores[45] = 0.9; // late in the window
        scores[47] = 0.9; // later still: free
        let s = score(&[scored(&labels, &scores)], &STANDARD).unwrap();
        let expected = scaled_sigmoid(-5.0 / 10.0) / scaled_sigmoid(-1.0);
        assert!(close(s.best.raw, expected), "{}", s.best.raw);
        // A false positive before any window costs A_FP; one just after the window almost nothing.
        scores[20] = 0.9;
        let s = score(&[scored(&labels, &scores)], &STANDARD).unwrap();
        assert!(close(s.best.raw, expected - 0.11));
        assert_eq!(s.best.false_positives, 1);
        scores[20] = 0.0;
        scores[50] = 0.9;
        let s = score(&[scored(&labels, &scores)], &STANDARD).unwrap();
        assert!(close(
            s.best.raw,
            expected + 0.11 * scaled_sigmoid(1.0 / 9.0)
        ));
        // Probationary rows are never detections.
        scores[50] = 0.0;
        scores[3] = 0.95;
        let s = score(&[scored(&labels, &scores)], &STANDARD).unwrap();
        assert!(close(s.best.raw, expected));
        assert_eq!(s.best.threshold, 0.9);
    }

    #[test]
    fn the_sweep_picks_one_global_threshold_and_the_higher_one_on_ties() {
        // File a: its window needs threshold 0.5. File b: its window is found at 0.8, with a false
        // positive at 0.6 on the way down; the best global threshold takes both windows.
        let la = label(&times(100), &[window(40, 49)]).unwrap();
        let lb = label(&times(100), &[window(60, 69)]).unwrap();
        let mut a = [0.0; 100];
        a[40] = 0.5;
        let mut b = [0.0; 100];
        b[60] = 0.8;
        b[30] = 0.6; // before b's window: −A_FP
        let files = [scored(&la, &a), scored(&lb, &b)];
        let s = score(&files, &STANDARD).unwrap();
        assert_eq!(s.best.threshold, 0.5);
        assert!(close(s.best.raw, 2.0 - 0.11));
        assert!(close(s.normalised, 100.0 * (2.0 - 0.11 + 2.0) / 4.0));
        let per_file: f64 = s.files.iter().map(|f| f.raw).sum();
        assert!(close(per_file, s.best.raw));
        assert_eq!(s.files[1].false_positives, 1);

        // Equal raw scores at two thresholds: the higher threshold wins.
        let mut c = [0.0; 100];
        c[40] = 0.7;
        c[45] = 0.3; // a later detection in the same window: the same raw score at 0.3
        let outcomes = sweep(&[scored(&la, &c)], &STANDARD);
        assert_eq!(outcomes.len(), 4); // 1.1, 0.7, 0.3, 0.0
        assert_eq!(outcomes[1].raw, outcomes[2].raw);
        assert_eq!(best(&outcomes).threshold, 0.7);
        let outcomes = sweep(&[scored(&la, &[0.0; 100])], &STANDARD);
        assert_eq!(outcomes.len(), 2); // 1.1 and 0.0
        assert_eq!(best(&outcomes).threshold, 1.1);
    }

    #[test]
    fn group_normalisation_matches_the_whole_when_there_is_one_group() {
        let labels = label(&times(100), &[window(40, 49)]).unwrap();
        let mut scores = [0.0; 100];
        scores[42] = 1.0;
        let s = score(&[scored(&labels, &scores)], &STANDARD).unwrap();
        let group = normalise_group(&s.files.iter().collect::<Vec<_>>(), &STANDARD).unwrap();
        assert!(close(group, s.normalised));
        assert_eq!(normalise_group(&[], &STANDARD), None);
        let empty = label(&times(100), &[]).unwrap();
        assert!(score(&[scored(&empty, &scores)], &STANDARD).is_none());
    }
}
