//! `rackwatch history`: stored readings, by node, metric and time.
//!
//! Every stored value is printed, non-finite ones included: `NaN`, `inf` and `-inf` in the table
//! and CSV (Rust's own spelling of an f32), and the same words as JSON strings in `--format json`,
//! since JSON has no such numbers and `null` would read as a missing reading.

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
use crate::jobs::store::{RunFilter, RunStore};
use crate::timefmt::format_utc;
use clap::Args;
use std::io::Write;

/// Options of `rackwatch history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Which rows, and how to print them.
    #[command(flatten)]
    pub query: QueryArgs,
    /// Print job runs (check-ins: starts, ends, exit statuses, durations, messages) instead of
    /// readings; with a job's name, only its.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub jobs: Option<String>,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Prints the readings (or the job runs), oldest first.
pub fn run(args: &HistoryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_history(&args.config, &args.store)?;
    if let Some(job) = &args.jobs {
        return print_runs(&store, job, &args.query, out);
    }
    let rows = store.readings(&args.query.query(crate::source::now_ms())?)?;
    print_rows(
        out,
        args.query.format,
        &["time", "node", "metric", "value", "unit", "boot", "node_ms"],
        &rows,
        |r| {
            vec![
                format_utc(r.wall_ms),
                r.node.to_string(),
                r.name.clone(),
                format!("{}", r.value as f32),
                r.unit.clone(),
                format!("{:08x}", r.boot),
                r.t_ms.to_string(),
            ]
        },
    )?;
    Ok(())
}

/// The job runs (every job's when `job` is empty), oldest first; the table shows each message's
/// last line, JSON and CSV the whole of it.
fn print_runs(
    store: &crate::store::Store,
    job: &str,
    query: &QueryArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let q = query.query(crate::source::now_ms())?;
    let filter = RunFilter {
        job: (!job.is_empty()).then(|| job.to_string()),
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        failed_only: false,
        limit: q.limit,
    };
    let runs = RunStore::read(store.path())?.runs(&filter)?;
    let table = query.format == super::Format::Table;
    print_rows(
        out,
        query.format,
        &[
            "time",
            "job",
            "kind",
            "exit_status",
            "duration_s",
            "message",
        ],
        &runs,
        |r| {
            let message = match table {
                true => r.message.lines().last().unwrap_or_default().to_string(),
                false => r.message.clone(),
            };
            vec![
                format_utc(r.wall_ms),
                r.job.clone(),
                r.kind.clone(),
                r.exit_status.map(|s| s.to_string()).unwrap_or_default(),
                r.duration_ms
                    .map(|d| format!("{:.3}", d as f64 / 1000.0))
                    .unwrap_or_default(),
                crate::node_log::printable(&message).into_owned(),
            ]
        },
    )?;
    Ok(())
}
