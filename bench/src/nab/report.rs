//! The NAB benchmark's output: aligned text for a terminal, and the figures of `BENCHMARKS.md` (the
//! prose around them lives in that file).
//!
//! Invariants: scores are the normalised ones, two decimals in tables; a category without windows
//! prints as `–`; the blocks are named as the markers in `BENCHMARKS.md` name them, and the
//! `BENCHMARKS.md` blocks exist only for a run that includes the core detector.

use super::data::Corpus;
use super::detectors::Kind;
use super::{Evaluation, SCOREBOARD};
use crate::markers::Block;
use std::fmt::Write as _;

fn fmt3(scores: [f64; 3]) -> String {
    format!("{:.2} / {:.2} / {:.2}", scores[0], scores[1], scores[2])
}

/// Standard, low-FP and low-FN normalised scores.
pub fn triple(e: &Evaluation) -> [f64; 3] {
    let mut t = [0.0; 3];
    for (slot, p) in t.iter_mut().zip(&e.profiles) {
        *slot = p.normalised;
    }
    t
}

/// The run as aligned text: per detector its scores, each profile's threshold and counts, and the
/// per-category figures.
pub fn text(corpus: &Corpus, evaluations: &[Evaluation], load_s: f64, total_s: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "NAB corpus {}: {} files, {} rows, {} windows (loaded in {load_s:.2} s)",
        corpus.root.display(),
        corpus.files.len(),
        corpus.rows(),
        corpus.windows()
    );
    for e in evaluations {
        let _ = writeln!(
            s,
            "\n{}: standard / low FP / low FN = {}   (detector {:.2} s, scoring {:.2} s)",
            e.detector,
            fmt3(triple(e)),
            e.detect_seconds,
            e.score_seconds
        );
        let _ = writeln!(
            s,
            "  {:<20} {:>10} {:>10} {:>11} {:>9} {:>9}",
            "profile", "score", "threshold", "raw", "windows", "FP rows"
        );
        for p in &e.profiles {
            let _ = writeln!(
                s,
                "  {:<20} {:>10.2} {:>10.4} {:>11.3} {:>5}/{:<3} {:>9}",
                p.profile.name,
                p.normalised,
                p.best.threshold,
                p.best.raw,
                p.best.detected_windows,
                p.windows,
                p.best.false_positives
            );
        }
        let _ = writeln!(s, "  per category (standard, at the global threshold):");
        for (category, scores) in &e.categories {
            let _ = writeln!(
                s,
                "    {:<22} {}",
                category,
                scores[0].map_or("–".to_string(), |x| format!("{x:.1}"))
            );
        }
    }
    let _ = writeln!(s, "\ntotal {total_s:.2} s");
    s
}

/// `size_of` of the core's detector, the memory per metric the benchmark measures.
fn detector_bytes() -> usize {
    std::mem::size_of::<rackwatch_core::anomaly::AnomalyDetector>()
}

/// The figures of `BENCHMARKS.md`'s NAB section, one block per marker pair: `nab-command`,
/// `nab-scores`, `nab-profiles` and `nab-categories`. `None` when the run has no core detector.
pub fn blocks(corpus: &Corpus, evaluations: &[Evaluation], total_s: f64) -> Option<Vec<Block>> {
    let core = evaluations
        .iter()
        .find(|e| e.detector == Kind::Core.name())?;
    Some(vec![
        Block {
            name: "nab-command",
            body: format!(
                "Command: `cargo run --release -p rackwatch-bench -- nab --update BENCHMARKS.md` \
                 (corpus: `../shared/data/nab`, NAB commit ea702d7: {} files, {} rows, {} windows; \
                 the whole run, three detectors, took {:.1} s on this machine).",
                corpus.files.len(),
                corpus.rows(),
                corpus.windows(),
                total_s
            ),
        },
        Block {
            name: "nab-scores",
            body: scores_table(evaluations),
        },
        Block {
            name: "nab-profiles",
            body: profiles_table(core),
        },
        Block {
            name: "nab-categories",
            body: categories_table(core, evaluations),
        },
    ])
}

/// Every detector run, then the published scoreboard.
fn scores_table(evaluations: &[Evaluation]) -> String {
    let mut s = String::new();
    let find = |kind: Kind| evaluations.iter().find(|e| e.detector == kind.name());
    let _ = writeln!(
        s,
        "| detector | standard | low FP | low FN | memory per metric | causal, no file range |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
    if let Some(e) = find(Kind::Core) {
        let t = triple(e);
        let _ = writeln!(
            s,
            "| **rackwatch core `AnomalyDetector`** (`AnomalyConfig::DEFAULT`) | **{:.2}** | **{:.2}** | **{:.2}** | **{} B** (`size_of`, configuration included); {} B with the metric's `Window<64>` | yes, O(1) per sample |",
            t[0],
            t[1],
            t[2],
            detector_bytes(),
            detector_bytes() + std::mem::size_of::<rackwatch_core::window::Window<64>>()
        );
    }
    if let Some(e) = find(Kind::Ewmaz) {
        let t = triple(e);
        let _ = writeln!(
            s,
            "| ewmaz, reimplemented (NAB's scorer: 37.48 / 24.39 / 46.24) | {:.2} | {:.2} | {:.2} | 3 numbers | yes |",
            t[0], t[1], t[2]
        );
    }
    if let Some(e) = find(Kind::WindowedGaussian) {
        let t = triple(e);
        let _ = writeln!(
            s,
            "| Windowed Gaussian, reimplemented (NAB's scorer: 39.65 / 20.87 / 47.41) | {:.2} | {:.2} | {:.2} | 6 400-sample buffer | yes |",
            t[0], t[1], t[2]
        );
    }
    for p in SCOREBOARD {
        let _ = writeln!(
            s,
            "| {} (published) | {:.1} | {:.1} | {:.1} | {} | |",
            p.name, p.scores[0], p.scores[1], p.scores[2], p.memory
        );
    }
    s
}

/// The core detector under each profile: score, threshold, windows found, false positives.
fn profiles_table(core: &Evaluation) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| profile | score | threshold | windows detected | false-positive rows |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|");
    for p in &core.profiles {
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.4} | {} / {} | {} |",
            p.profile.name,
            p.normalised,
            p.best.threshold,
            p.best.detected_windows,
            p.windows,
            p.best.false_positives
        );
    }
    s
}

/// Every detector's standard score per category, in the core's category order.
fn categories_table(core: &Evaluation, evaluations: &[Evaluation]) -> String {
    let mut s = String::new();
    let names: Vec<&String> = core.categories.keys().collect();
    let _ = writeln!(
        s,
        "| detector | {} |",
        names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(s, "|---|{}", "---:|".repeat(names.len()));
    for e in evaluations {
        let _ = writeln!(
            s,
            "| {} | {} |",
            e.detector,
            names
                .iter()
                .map(|n| e.categories[*n][0].map_or("–".to_string(), |x| format!("{x:.1}")))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    s
}
