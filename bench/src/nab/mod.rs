//! A NAB-compatible benchmark (Numenta Anomaly Benchmark, `docs/nab.md`): the corpus reader
//! ([`data`]), the scorer ([`scorer`]), the detectors it runs ([`detectors`]), among them the
//! core's anomaly score exactly as a node computes it, and the output ([`report`]).
//!
//! [`evaluate`] runs one detector over every file and scores it under NAB's three profiles;
//! `rackwatch-bench nab` prints the result and rewrites the NAB figures of `BENCHMARKS.md`.
//!
//! Invariants: one fresh detector per file, fed the file's rows in order; an [`Evaluation`] holds
//! one [`ProfileScore`] per entry of [`PROFILES`], in that order.

pub mod data;
pub mod detectors;
pub mod report;
pub mod scorer;

use data::{Corpus, DataFile};
use detectors::Kind;
use scorer::{Labels, ProfileScore, Scored, PROFILES};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// One detector's result on a corpus.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The detector's name.
    pub detector: &'static str,
    /// Files scored.
    pub files: usize,
    /// Rows scored.
    pub rows: usize,
    /// Under each of [`PROFILES`].
    pub profiles: Vec<ProfileScore>,
    /// Per category, normalised under each profile at the global threshold (`None`: no windows).
    pub categories: BTreeMap<String, Vec<Option<f64>>>,
    /// Seconds spent running the detector (not scoring).
    pub detect_seconds: f64,
    /// Seconds spent scoring.
    pub score_seconds: f64,
}

impl Evaluation {
    /// The normalised score under the profile named `name`.
    pub fn normalised(&self, name: &str) -> Option<f64> {
        self.profiles
            .iter()
            .find(|p| p.profile.name == name)
            .map(|p| p.normalised)
    }
}

/// Runs a fresh `kind` detector over each file, returning one score per row per file.
pub fn detect(kind: Kind, files: &[DataFile]) -> Vec<Vec<f64>> {
    files
        .iter()
        .map(|f| detectors::run(kind.build().as_mut(), f))
        .collect()
}

/// Scores per-row anomaly `scores` (one vector per file of `corpus`) under the three profiles.
/// `None` when the files have no windows.
pub fn score_all(
    detector: &'static str,
    corpus: &Corpus,
    labels: &[Labels],
    scores: &[Vec<f64>],
) -> Option<Evaluation> {
    let started = std::time::Instant::now();
    let scored: Vec<Scored<'_>> = corpus
        .files
        .iter()
        .zip(labels)
        .zip(scores)
        .map(|((f, l), s)| Scored {
            name: &f.name,
            labels: l,
            scores: s,
        })
        .collect();
    let profiles: Vec<ProfileScore> = PROFILES
        .iter()
        .map(|p| scorer::score(&scored, p))
        .collect::<Option<_>>()?;
    let mut categories = BTreeMap::new();
    for category in corpus.files.iter().map(DataFile::category) {
        if categories.contains_key(category) {
            continue;
        }
        let per_profile = profiles
            .iter()
            .map(|p| {
                let files: Vec<_> = p
                    .files
                    .iter()
                    .filter(|f| f.name.split('/').next() == Some(category))
                    .collect();
                scorer::normalise_group(&files, &p.profile)
            })
            .collect();
        categories.insert(category.to_string(), per_profile);
    }
    Some(Evaluation {
        detector,
        files: corpus.files.len(),
        rows: corpus.rows(),
        profiles,
        categories,
        detect_seconds: 0.0,
        score_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Runs `kind` over the corpus and scores it. `None` when the files have no windows.
pub fn evaluate(kind: Kind, corpus: &Corpus, labels: &[Labels]) -> Option<Evaluation> {
    let started = std::time::Instant::now();
    let scores = detect(kind, &corpus.files);
    let detect_seconds = started.elapsed().as_secs_f64();
    let mut evaluation = score_all(kind.name(), corpus, labels, &scores)?;
    evaluation.detect_seconds = detect_seconds;
    Some(evaluation)
}

/// Writes NAB results files, `dir/<detector>/<category>/<detector>_<file>.csv` with
/// `timestamp,anomaly_score`, for NAB's own scorer to check.
pub fn write_results(
    dir: &Path,
    detector: &str,
    corpus: &Corpus,
    scores: &[Vec<f64>],
) -> std::io::Result<()> {
    for (file, scores) in corpus.files.iter().zip(scores) {
        let (category, name) = file.name.split_once('/').unwrap_or(("", &file.name));
        let path = dir
            .join(detector)
            .join(category)
            .join(format!("{detector}_{name}"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
        writeln!(out, "timestamp,anomaly_score")?;
        for (t, s) in file.timestamps.iter().zip(scores) {
            // Display prints the shortest decimal that parses back to the same f64.
            writeln!(out, "{t},{s}")?;
        }
        out.flush()?;
    }
    Ok(())
}

/// A published NAB result (`docs/nab.md` §3 Scoreboard): name, standard / low-FP / low-FN, and
/// its memory.
pub struct Published {
    /// The detector.
    pub name: &'static str,
    /// Standard, reward low FP, reward low FN.
    pub scores: [f64; 3],
    /// State and streaming character.
    pub memory: &'static str,
}

/// The NAB scoreboard (the NAB README figures, `docs/nab.md` §3 Scoreboard).
pub const SCOREBOARD: &[Published] = &[
    Published {
        name: "Perfect",
        scores: [100.0, 100.0, 100.0],
        memory: "",
    },
    Published {
        name: "ARTime",
        scores: [74.9, 65.1, 80.4],
        memory: "uses the file's min/max and length",
    },
    Published {
        name: "Numenta HTM",
        scores: [70.5, 62.6, 75.2],
        memory: "megabytes; uses the file's min/max",
    },
    Published {
        name: "CAD OSE",
        scores: [69.9, 67.0, 73.2],
        memory: "growing context dictionary; file min/max; rest period",
    },
    Published {
        name: "earthgecko Skyline",
        scores: [58.2, 46.2, 63.9],
        memory: "full history",
    },
    Published {
        name: "KNN CAD",
        scores: [58.0, 43.4, 64.8],
        memory: "≈ 15 000 floats; rest period",
    },
    Published {
        name: "Relative Entropy",
        scores: [54.6, 47.6, 58.8],
        memory: "52-value window + histograms; file min/max",
    },
    Published {
        name: "Random Cut Forest (AWS)",
        scores: [51.7, 38.4, 59.7],
        memory: "proprietary",
    },
    Published {
        name: "Twitter ADVec",
        scores: [47.1, 33.6, 53.5],
        memory: "batch",
    },
    Published {
        name: "Windowed Gaussian",
        scores: [39.6, 20.9, 47.4],
        memory: "6 400-sample buffer",
    },
    Published {
        name: "Etsy Skyline",
        scores: [35.7, 27.1, 44.5],
        memory: "full history",
    },
    Published {
        name: "Bayesian changepoint",
        scores: [17.7, 3.2, 32.2],
        memory: "run length ≤ 500",
    },
    Published {
        name: "EXPoSE",
        scores: [16.4, 3.2, 26.9],
        memory: "20 000 random features",
    },
    Published {
        name: "Random",
        scores: [11.0, 1.2, 19.5],
        memory: "",
    },
    Published {
        name: "Null",
        scores: [0.0, 0.0, 0.0],
        memory: "",
    },
];

#[cfg(test)]
mod tests {
    use super::data::Timestamp;
    use super::*;

    #[test]
    fn results_files_hold_every_score_exactly() {
        let scores = vec![
            0.0,
            1.0,
            0.1 + 0.2,
            1.0 / 3.0,
            5e-324,
            0.999_999_999_999_999_9,
        ];
        let file = DataFile {
            name: "cat/x.csv".into(),
            timestamps: (0..scores.len() as i64)
                .map(|i| Timestamp(1_404_172_800_000_000 + i * 300_000_000))
                .collect(),
            values: vec![0.0; scores.len()],
            windows: Vec::new(),
        };
        let corpus = Corpus {
            root: "corpus".into(),
            files: vec![file],
        };
        let dir = tempfile::tempdir().unwrap();
        write_results(dir.path(), "det", &corpus, std::slice::from_ref(&scores)).unwrap();
        let text = std::fs::read_to_string(dir.path().join("det/cat/det_x.csv")).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("timestamp,anomaly_score"));
        let rows: Vec<(&str, f64)> = lines
            .map(|l| {
                let (t, s) = l.split_once(',').unwrap();
                (t, s.parse().unwrap())
            })
            .collect();
        assert_eq!(rows[1].0, "2014-07-01 00:05:00");
        let read: Vec<u64> = rows.iter().map(|r| r.1.to_bits()).collect();
        let want: Vec<u64> = scores.iter().map(|s| s.to_bits()).collect();
        assert_eq!(read, want);
        assert!(
            !text.contains("e-"),
            "Display writes plain decimals, never an exponent"
        );
    }
}
