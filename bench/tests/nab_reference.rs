//! The scorer against NAB's own figures on the real corpus (`docs/nab.md` §4 Reference results and
//! §6 ewmaz): the null detector scores 0, an oracle that fires once at the start of every window
//! 100, and reimplemented published detectors land on (ewmaz: exactly) or near (windowed Gaussian)
//! NAB's results.
//!
//! Skipped, with a message, when the corpus is not at its default location (see `nab_gate.rs`).

use rackwatch_bench::nab::{self, data::Corpus, detectors::Kind, scorer::RowKind, Evaluation};

fn corpus() -> Option<(Corpus, Vec<nab::scorer::Labels>)> {
    let (dir, explicit) = nab::data::data_dir(None);
    if !dir.join("labels").is_dir() {
        assert!(
            !explicit,
            "RACKWATCH_NAB_DATA={} holds no NAB corpus",
            dir.display()
        );
        eprintln!(
            "NAB reference tests skipped: no NAB corpus at {}",
            dir.display()
        );
        return None;
    }
    let corpus = Corpus::load(&dir, &[]).unwrap_or_else(|e| panic!("{e}"));
    let labels = nab::scorer::label_files(&corpus.files).unwrap_or_else(|e| panic!("{e}"));
    Some((corpus, labels))
}

fn triple(e: &Evaluation) -> [f64; 3] {
    [0, 1, 2].map(|k| e.profiles[k].normalised)
}

fn assert_near(got: [f64; 3], want: [f64; 3], tolerance: [f64; 3], what: &str) {
    for k in 0..3 {
        assert!(
            (got[k] - want[k]).abs() <= tolerance[k],
            "{what}: {got:?}, published {want:?}"
        );
    }
}

#[test]
fn the_corpus_is_nab_at_ea702d7() {
    let Some((corpus, labels)) = corpus() else {
        return;
    };
    assert_eq!(
        (corpus.files.len(), corpus.rows(), corpus.windows()),
        (58, 365_558, 116)
    );
    // 32 716 probationary rows, 33 495 scored rows inside windows (docs/nab.md §2 Scoring).
    let rows = labels.iter().flat_map(|l| &l.rows);
    let probation = rows.clone().filter(|r| **r == RowKind::Probation).count();
    let in_windows = rows.filter(|r| matches!(r, RowKind::Window { .. })).count();
    assert_eq!((probation, in_windows), (32_716, 33_495));
}

#[test]
fn null_and_perfect_detectors_score_0_and_100() {
    let Some((corpus, labels)) = corpus() else {
        return;
    };
    let null = nab::evaluate(Kind::Null, &corpus, &labels).unwrap();
    assert_eq!(triple(&null), [0.0; 3]);
    // An oracle: 1 on the first row of every window, 0 elsewhere.
    let perfect: Vec<Vec<f64>> = corpus
        .files
        .iter()
        .map(|f| {
            let starts: std::collections::HashSet<_> = f.windows.iter().map(|w| w.0).collect();
            let mut seen = std::collections::HashSet::new();
            f.timestamps
                .iter()
                .map(|t| {
                    let first = seen.insert(*t);
                    if first && starts.contains(t) {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        })
        .collect();
    let e = nab::score_all("perfect", &corpus, &labels, &perfect).unwrap();
    assert_near(triple(&e), [100.0; 3], [1e-9; 3], "perfect");
    // Firing on every row is far below null: every row outside a window costs.
    let always: Vec<Vec<f64>> = corpus.files.iter().map(|f| vec![1.0; f.len()]).collect();
    let e = nab::score_all("always", &corpus, &labels, &always).unwrap();
    assert!(e.profiles.iter().all(|p| p.best.threshold == 1.1));
}

#[test]
fn ewmaz_reproduces_nabs_own_scores_exactly() {
    let Some((corpus, labels)) = corpus() else {
        return;
    };
    let e = nab::evaluate(Kind::Ewmaz, &corpus, &labels).unwrap();
    // docs/nab.md §6 ewmaz, measured with NAB's scorer: 37.48 / 24.39 / 46.24 at threshold 0.709.
    assert_near(triple(&e), [37.48, 24.39, 46.24], [0.005; 3], "ewmaz");
    assert!((e.profiles[0].best.threshold - 0.709).abs() < 0.001);
    // And its per-category standard figures (-7.8, 56.5, 43.6, 22.6, 30.6, 43.6).
    let category = |name: &str| e.categories[name][0].unwrap();
    for (name, want) in [
        ("artificialWithAnomaly", -7.8),
        ("realAdExchange", 56.5),
        ("realAWSCloudwatch", 43.6),
        ("realKnownCause", 22.6),
        ("realTraffic", 30.6),
        ("realTweets", 43.6),
    ] {
        assert!(
            (category(name) - want).abs() < 0.05,
            "{name}: {}",
            category(name)
        );
    }
}

#[test]
#[ignore = "about 40 s in a debug build (6 400-sample windows recomputed as numpy does); run with \
            `cargo test --release -p rackwatch-bench --test nab_reference -- --ignored`"]
fn the_windowed_gaussian_lands_near_its_published_scores() {
    let Some((corpus, labels)) = corpus() else {
        return;
    };
    let e = nab::evaluate(Kind::WindowedGaussian, &corpus, &labels).unwrap();
    // Published 39.65 / 20.87 / 47.41, all at threshold 1.0 (|z| of about 8). This reimplementation of NAB's code
    // gives the same rows as the same code rerun in Python 3; NAB's committed result files carry a
    // few more false positives in a handful of Tweets and AWS files (compared file by file), which
    // cost the low-FP profile most.
    assert_near(
        triple(&e),
        [39.65, 20.87, 47.41],
        [1.0, 3.5, 1.0],
        "windowed Gaussian",
    );
    let thresholds: Vec<f64> = e.profiles.iter().map(|p| p.best.threshold).collect();
    assert!(thresholds.iter().all(|t| *t > 0.999_999), "{thresholds:?}");
}
