//! `rackwatch-bench history`: what keeping history costs, in one run, against baselines measured in
//! the same run (issue 16's acceptance figures).
//!
//! - **Storage**: bytes per stored reading on two data sets, the simulated rack
//!   (`rackwatch sim --to capture:…`) and the NAB corpus (real-world values, [`series`]), in
//!   rackwatch's history database, Prometheus' TSDB, Gorilla and the core's chunk codec
//!   ([`formats`]).
//! - **Ingest**: `rackwatch run` over a fleet capture (`host/examples/fleet.rs`) with history
//!   against without, peak RSS included ([`timing`]).
//! - **Query**: one series of 1-Hz readings read back whole by `rackwatch history` and downsampled
//!   by `history --step`, against reading today's row-per-reading table ([`timing`]).
//!
//! Invariants: the tools measured are the real binaries (`rackwatch`, `promtool`), found beside
//! this one or named by flags; every figure comes from this run; `--update FILE` rewrites only the
//! `history-*` marked blocks ([`crate::markers`]). A step that cannot run (no NAB corpus, no
//! `promtool`) fails the run with what to do, never a silently missing row.

pub mod formats;
pub mod report;
pub mod series;
pub mod timing;

use anyhow::Context;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Options of `rackwatch-bench history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The `rackwatch` binary measured [default: the one beside this binary].
    #[arg(long, value_name = "PATH")]
    pub rackwatch: Option<PathBuf>,
    /// The fleet capture writer, `host/examples/fleet.rs` built [default: `examples/fleet` beside
    /// the rackwatch binary].
    #[arg(long, value_name = "PATH")]
    pub fleet: Option<PathBuf>,
    /// Prometheus' `promtool`.
    #[arg(long, value_name = "PATH", default_value = "promtool")]
    pub promtool: PathBuf,
    /// Simulated nodes of the storage data set.
    #[arg(long, default_value_t = 16)]
    pub sim_nodes: u16,
    /// Rack time the simulated nodes run for.
    #[arg(long, default_value = "24h")]
    pub sim_for: String,
    /// The NAB corpus (holding `data/` and `labels/`) [default: $RACKWATCH_NAB_DATA, else
    /// <workspace>/../shared/data/nab].
    #[arg(long, value_name = "DIR")]
    pub nab: Option<PathBuf>,
    /// Only these NAB files (`category/name.csv`, `name.csv` or `name`) [default: all].
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub nab_files: Vec<String>,
    /// Bytes per chunk of the codec-alone figure (the store's chunk size).
    #[arg(long, default_value_t = 960)]
    pub chunk_bytes: usize,
    /// Nodes of the ingest fleet.
    #[arg(long, default_value_t = 256)]
    pub fleet_nodes: u16,
    /// Metrics per node of the ingest fleet.
    #[arg(long, default_value_t = 16)]
    pub fleet_metrics: u16,
    /// Seconds of the ingest fleet's capture (a reading per metric per second).
    #[arg(long, default_value_t = 600)]
    pub fleet_seconds: u64,
    /// Points of the query's series (1 Hz; 30 days by default).
    #[arg(long, default_value_t = 2_592_000)]
    pub query_points: u64,
    /// Buckets the downsampled query asks for.
    #[arg(long, default_value_t = 1000)]
    pub query_buckets: u64,
    /// Timed repetitions of each query (the fastest counts).
    #[arg(long, default_value_t = 3)]
    pub tries: u32,
    /// Where the captures and databases go [default: a temporary directory, removed after].
    #[arg(long, value_name = "DIR")]
    pub work: Option<PathBuf>,
    /// Print JSON (the whole report, one object) instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Rewrite the history figures of this file (BENCHMARKS.md, between its
    /// `rackwatch-bench:history-*` markers) with this run.
    #[arg(long, value_name = "FILE")]
    pub update: Option<PathBuf>,
}

/// The tools a run drives.
struct Tools {
    rackwatch: PathBuf,
    fleet: PathBuf,
    promtool: PathBuf,
}

impl HistoryArgs {
    fn tools(&self) -> anyhow::Result<Tools> {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        let rackwatch = self
            .rackwatch
            .clone()
            .unwrap_or_else(|| beside.join("rackwatch"));
        let fleet = self.fleet.clone().unwrap_or_else(|| {
            rackwatch
                .parent()
                .unwrap_or(Path::new("."))
                .join("examples/fleet")
        });
        for (path, build) in [
            (
                &rackwatch,
                "cargo build --release -p rackwatch --bin rackwatch",
            ),
            (&fleet, "cargo build --release -p rackwatch --example fleet"),
        ] {
            if !path.is_file() {
                anyhow::bail!(
                    "no {} (build it with `{build}`, or name it with --rackwatch / --fleet)",
                    path.display()
                );
            }
        }
        Ok(Tools {
            rackwatch,
            fleet,
            promtool: self.promtool.clone(),
        })
    }
}

/// Runs every measurement; the report.
pub fn run(args: &HistoryArgs) -> anyhow::Result<report::Report> {
    let tools = args.tools()?;
    let temp = tempdir(args.work.as_deref())?;
    let work = temp.path();
    let sim = storage_sim(args, &tools, &work.join("sim"))?;
    let nab = storage_nab(args, &tools, &work.join("nab"))?;
    let ingest = ingest(args, &tools, &work.join("ingest"))?;
    let query = query(args, &tools, &work.join("query"))?;
    Ok(report::Report {
        storage: vec![sim, nab],
        ingest,
        query,
    })
}

/// A working directory: the one asked for (kept), else a temporary one.
fn tempdir(asked: Option<&Path>) -> anyhow::Result<WorkDir> {
    match asked {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Ok(WorkDir::Kept(dir.to_path_buf()))
        }
        None => Ok(WorkDir::Temporary(
            tempfile::tempdir().context("creating a temporary directory")?,
        )),
    }
}

enum WorkDir {
    Kept(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    fn path(&self) -> &Path {
        match self {
            WorkDir::Kept(path) => path,
            WorkDir::Temporary(dir) => dir.path(),
        }
    }
}

/// Runs `program args`, failing with its standard error.
fn run_tool(program: &Path, args: &[&str], what: &str) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .with_context(|| format!("running {} for {what}", program.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "{what}: `{} {}` failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Far enough ahead for any capture's rack time: `history` stops at now by default.
const UNTIL: &str = "2200-01-01T00:00:00Z";

/// The storage figures of the samples `capture` holds: ingested by `rackwatch run`, read back by
/// `rackwatch history`, then stored in each other format.
fn storage_of(
    args: &HistoryArgs,
    tools: &Tools,
    name: String,
    capture: &Path,
    dir: &Path,
) -> anyhow::Result<report::Storage> {
    let db = dir.join("history.db");
    timing::run_capture(&tools.rackwatch, capture, Some(&db))?;
    let db_text = db.to_string_lossy();
    let csv = run_tool(
        &tools.rackwatch,
        &[
            "history", "--db", &db_text, "--format", "csv", "--until", UNTIL,
        ],
        "reading the stored samples back",
    )?;
    let samples = series::Samples::from_history_csv(&csv)?;
    drop(csv);
    let lattices = series::lattices(capture)?;
    let rackwatch = formats::Size {
        format: "rackwatch history database (SQLite, whole file after checkpoint)".into(),
        bytes: formats::sqlite_bytes(&db)?,
        samples: samples.len() as u64,
        exact: None,
    };
    let sizes = vec![
        rackwatch,
        formats::prometheus(&samples, &tools.promtool, dir)?,
        formats::gorilla(&samples),
        formats::codec(&samples, &lattices, args.chunk_bytes),
    ];
    Ok(report::Storage {
        data: name,
        series: samples.series.len(),
        sizes,
    })
}

fn storage_sim(args: &HistoryArgs, tools: &Tools, dir: &Path) -> anyhow::Result<report::Storage> {
    std::fs::create_dir_all(dir)?;
    let capture = dir.join("sim.rwcap");
    let nodes = args.sim_nodes.to_string();
    run_tool(
        &tools.rackwatch,
        &[
            "sim",
            "--nodes",
            &nodes,
            "--for",
            &args.sim_for,
            "--speed",
            "0",
            "--to",
            &format!("capture:{}", capture.display()),
        ],
        "the simulated rack's capture",
    )?;
    let name = format!(
        "simulated rack: `rackwatch sim --nodes {} --for {}`",
        args.sim_nodes, args.sim_for
    );
    storage_of(args, tools, name, &capture, dir)
}

fn storage_nab(args: &HistoryArgs, tools: &Tools, dir: &Path) -> anyhow::Result<report::Storage> {
    std::fs::create_dir_all(dir)?;
    let corpus = crate::cli::load_corpus(args.nab.as_deref(), &args.nab_files)?;
    let capture = dir.join("nab.rwcap");
    series::write_nab_capture(&corpus, &capture)?;
    let name = format!("NAB corpus: {} files as series", corpus.files.len());
    storage_of(args, tools, name, &capture, dir)
}

fn ingest(args: &HistoryArgs, tools: &Tools, dir: &Path) -> anyhow::Result<report::IngestFigures> {
    std::fs::create_dir_all(dir)?;
    let (fleet, one) = (dir.join("fleet.rwcap"), dir.join("one.rwcap"));
    let seconds = args.fleet_seconds.to_string();
    let fleet_text = fleet.to_string_lossy();
    let one_text = one.to_string_lossy();
    let (nodes, metrics) = (args.fleet_nodes.to_string(), args.fleet_metrics.to_string());
    run_tool(
        &tools.fleet,
        &[&nodes, &metrics, &seconds, &fleet_text],
        "the fleet capture",
    )?;
    run_tool(
        &tools.fleet,
        &["1", "1", &seconds, &one_text],
        "the one-node capture",
    )?;
    let baseline = timing::run_capture(&tools.rackwatch, &one, None)?;
    let without = timing::run_capture(&tools.rackwatch, &fleet, None)?;
    let with = timing::run_capture(&tools.rackwatch, &fleet, Some(&dir.join("history.db")))?;
    Ok(report::IngestFigures {
        nodes: args.fleet_nodes,
        metrics: args.fleet_metrics,
        readings: u64::from(args.fleet_nodes)
            * u64::from(args.fleet_metrics)
            * (args.fleet_seconds / 4 * 4),
        baseline,
        without,
        with,
    })
}

fn query(args: &HistoryArgs, tools: &Tools, dir: &Path) -> anyhow::Result<report::QueryFigures> {
    std::fs::create_dir_all(dir)?;
    let capture = dir.join("series.rwcap");
    let db = dir.join("history.db");
    let seconds = args.query_points.div_ceil(4) * 4;
    run_tool(
        &tools.fleet,
        &["1", "1", &seconds.to_string(), &capture.to_string_lossy()],
        "the query's series",
    )?;
    timing::run_capture(&tools.rackwatch, &capture, Some(&db))?;
    let db_text = db.to_string_lossy().into_owned();
    let csv = run_tool(
        &tools.rackwatch,
        &[
            "history", "--db", &db_text, "--format", "csv", "--until", UNTIL,
        ],
        "reading the query's series back",
    )?;
    let samples = series::Samples::from_history_csv(&csv)?;
    drop(csv);
    let series = samples
        .series
        .values()
        .next()
        .context("the query's series stored nothing")?;
    let rows = dir.join("rows.db");
    timing::build_row_table(&rows, series)?;
    let (baseline, points) = timing::time_row_table(&rows, args.tries)?;
    let span_ms = series.last().map_or(0, |l| l.0) - series.first().map_or(0, |f| f.0) + 1;
    // Whole seconds, as a dashboard asks for them.
    let step_ms = span_ms.div_ceil(args.query_buckets.max(1)).div_ceil(1000) * 1000;
    let step = format!("{step_ms}ms");
    let whole = [
        "--node", "0", "--metric", "metric_0", "--format", "csv", "--until", UNTIL,
    ];
    let read = timing::time_history(&tools.rackwatch, &db, &whole, args.tries)?;
    let mut stepped = whole.to_vec();
    stepped.extend(["--step", &step]);
    let downsampled = timing::time_history(&tools.rackwatch, &db, &stepped, args.tries)?;
    Ok(report::QueryFigures {
        points,
        buckets: args.query_buckets,
        step_ms,
        baseline,
        read,
        downsampled,
    })
}
