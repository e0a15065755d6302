//! `rackwatch history`: stored readings, by node, metric and time.
//!
//! Every stored value is printed, non-finite ones included: `NaN`, `inf` and `-inf` in the table
//! and CSV (Rust's own spelling of an f32), and the same words as JSON strings in `--format json`,
//! since JSON has no such numbers and `null` would read as a missing reading.
//!
//! With `--step`, each series (node and metric) is downsampled into buckets of that width
//! ([`crate::downsample`]): one row per bucket with its min, max, mean, last value and count, the
//! non-finite values spelled as above; `--limit` then keeps the newest buckets.

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
use crate::downsample::Bucketer;
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
    /// Downsample each series into buckets of this width (`1m`, `1h`, aligned to the epoch): one
    /// row per bucket with the min, max and mean of its readings (NaN ones left out), its last
    /// reading and their count.
    #[arg(long, value_name = "DURATION", value_parser = parse_step, conflicts_with = "jobs")]
    pub step: Option<u64>,
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
    if let Some(step_ms) = args.step {
        return print_buckets(&store, step_ms, &args.query, out);
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

/// `--step`: a duration of at least a millisecond, in ms.
fn parse_step(text: &str) -> Result<u64, String> {
    let step = crate::config::parse_duration(text)?;
    match u64::try_from(step.as_millis()) {
        Ok(0) => Err(format!(
            "`{text}` is shorter than a millisecond, the smallest step"
        )),
        Ok(ms) => Ok(ms),
        Err(_) => Err(format!("`{text}` is too long a step")),
    }
}

/// The readings of `query`, downsampled into buckets of `step_ms` per series, oldest first; with
/// a limit, the newest `limit` buckets.
fn print_buckets(
    store: &crate::store::Store,
    step_ms: u64,
    query: &QueryArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let q = crate::store::Query {
        // The limit counts buckets here, not readings.
        limit: None,
        ..query.query(crate::source::now_ms())?
    };
    let keep = query.limit.map_or(usize::MAX, |l| l as usize);
    let mut buckets = std::collections::VecDeque::new();
    let mut collect = |bucket| {
        if buckets.len() == keep {
            buckets.pop_front();
        }
        if keep > 0 {
            buckets.push_back(bucket);
        }
    };
    let mut bucketer = Bucketer::new(step_ms);
    for r in store.readings(&q)? {
        bucketer.push((r.node, &r.name), &r.unit, r.wall_ms, r.value, &mut collect);
    }
    bucketer.finish(&mut collect);
    let buckets = Vec::from(buckets);
    let value = |v: f64| format!("{}", v as f32);
    print_rows(
        out,
        query.format,
        &[
            "time", "node", "metric", "min", "max", "mean", "last", "count", "unit",
        ],
        &buckets,
        |b| {
            vec![
                format_utc(b.wall_ms),
                b.node.to_string(),
                b.name.clone(),
                value(b.min),
                value(b.max),
                value(b.mean),
                value(b.last),
                b.count.to_string(),
                b.unit.clone(),
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
