//! `rackwatch-bench`'s command line: detection-quality benchmarks of the core.
//!
//! - `nab`: the core's anomaly score (and reference detectors) on the Numenta Anomaly Benchmark,
//!   scored as NAB scores ([`crate::nab`]).
//! - `kpi`: point-adjusted F1 (delay 7) on a labelled KPI corpus ([`crate::kpi`]).
//! - `history`: what keeping history costs: bytes per reading against Prometheus and Gorilla,
//!   ingest and query times ([`crate::history`]).
//! - `eta`: the accuracy of the core's time-to-threshold on generated fill curves against a
//!   `predict_linear`-style baseline ([`crate::eta`]).
//!
//! Invariant: `--update FILE` touches only the text between the benchmark's
//! `<!-- rackwatch-bench:NAME:begin/end -->` markers in FILE ([`crate::markers`]); a missing or
//! duplicated marker fails the run before FILE is written.

use crate::markers;
use crate::nab::{self, data::Corpus, detectors::Kind};
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Detection-quality benchmarks of the rackwatch core: NAB anomaly scoring and time-to-threshold
/// accuracy.
#[derive(Debug, Clone, Parser)]
#[command(name = "rackwatch-bench", version)]
pub struct Cli {
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
    /// Point-adjusted F1 (delay 7) on a labelled KPI corpus (CSV files `time,value,label`), beside
    /// the EWMA z-score baseline.
    Kpi(KpiArgs),
    /// What history costs: bytes per stored reading against Prometheus' TSDB, Gorilla and the
    /// core's codec (simulated rack and NAB), ingest with history against without, and reading a
    /// series back whole and downsampled.
    History(crate::history::HistoryArgs),
}

/// Options of `rackwatch-bench kpi`.
#[derive(Debug, Clone, Args)]
pub struct KpiArgs {
    /// The corpus directory: every `*.csv` under it (`time,value,label`), e.g. WSD's `real-world/`
    /// or the cloud-monitoring dataset's `data/` (scripts/fetch-corpora brings them).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// The corpus' name in the report.
    #[arg(long, default_value = "corpus")]
    pub name: String,
    /// Detectors to run (the EWMA z-score baseline is `ewmaz`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "core,ewmaz")]
    pub detector: Vec<Kind>,
    /// Print JSON (one object per detector, one per line) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Options of `rackwatch-bench nab`.
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
    /// Rewrite the NAB figures of this file (BENCHMARKS.md, between its `rackwatch-bench:nab-*`
    /// markers) with this run; runs the core and the reference detectors over all files.
    #[arg(long, value_name = "FILE", conflicts_with = "files")]
    pub update: Option<PathBuf>,
}

/// Options of `rackwatch-bench eta`.
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
    /// Rewrite the ETA figures of this file (BENCHMARKS.md, between its `rackwatch-bench:eta-*`
    /// markers) with this run.
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,
}

/// Runs the benchmark `cli` names, writing its report to `out`.
pub fn run(cli: &Cli, out: &mut impl Write) -> anyhow::Result<()> {
    match &cli.bench {
        Bench::Nab(args) => run_nab(args, out),
        Bench::Eta(args) => run_eta(args, out),
        Bench::Kpi(args) => run_kpi(args, out),
        Bench::History(args) => run_history(args, out),
    }
}

/// Loads the corpus named by `--data`, the environment or the default location, with a message that
/// says where it looked.
pub fn load_corpus(data: Option<&Path>, files: &[String]) -> anyhow::Result<Corpus> {
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
    // The BENCHMARKS.md figures compare the core with both reference detectors.
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
        let text = nab::report::text(&corpus, &evaluations, load_seconds, total_seconds);
        write!(out, "{text}")?;
    }
    if let Some(path) = &args.update {
        let blocks = nab::report::blocks(&corpus, &evaluations, total_seconds)
            .context("the NAB figures need the core detector's run")?;
        markers::update_file(path, &blocks)?;
        writeln!(out, "updated the NAB figures of {}", path.display())?;
    }
    Ok(())
}

fn run_kpi(args: &KpiArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let corpus = crate::kpi::data::load(&args.data)?;
    let mut evaluations = Vec::new();
    for &kind in &args.detector {
        evaluations.push(crate::kpi::evaluate(kind, &corpus).with_context(|| {
            format!(
                "{} has no labelled anomaly after the warm-up: nothing to score against",
                args.data.display()
            )
        })?);
    }
    if args.json {
        for e in &evaluations {
            writeln!(out, "{}", serde_json::to_string(e)?)?;
        }
    } else {
        write!(out, "{}", crate::kpi::text(&args.name, &evaluations))?;
    }
    Ok(())
}

fn run_eta(args: &EtaArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let report = crate::eta::run(args.curves, args.seed);
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", crate::eta::text(&report))?;
    }
    if let Some(path) = &args.update {
        markers::update_file(path, &crate::eta::blocks(&report))?;
        writeln!(out, "updated the ETA figures of {}", path.display())?;
    }
    Ok(())
}

fn run_history(args: &crate::history::HistoryArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let report = crate::history::run(args)?;
    let command = std::env::var("RACKWATCH_BENCH_COMMAND")
        .unwrap_or_else(|_| "rackwatch-bench history".to_string());
    let rustc = std::env::var("RACKWATCH_BENCH_RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let made = crate::history::report::Made {
        command: &command,
        rustc: &rustc,
    };
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    } else {
        write!(out, "{}", report.text(&made))?;
    }
    if let Some(path) = &args.update {
        markers::update_file(path, &report.blocks(&made))?;
        writeln!(out, "updated the history figures of {}", path.display())?;
    }
    Ok(())
}
