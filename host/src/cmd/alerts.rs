//! `rackwatch alerts`: stored alert transitions (and, with `--events`, node events).

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
use crate::jobs::store::{RunFilter, RunStore};
use crate::operator::store::OperatorStore;
use crate::sink::message::stored_transition_id;
use crate::timefmt::format_utc;
use clap::Args;
use std::io::Write;

/// Options of `rackwatch alerts`.
#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    /// Which rows, and how to print them.
    #[command(flatten)]
    pub query: QueryArgs,
    /// Only transitions judged by `node` or by `host`.
    #[arg(long, value_parser = ["node", "host"])]
    pub origin: Option<String>,
    /// Print node events (boots, resets, gaps, down/up) instead of transitions.
    #[arg(long)]
    pub events: bool,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Failed job runs shown after the transitions, at most.
const FAILED_RUNS: u64 = 10;

/// Prints the transitions or events, oldest first.
pub fn run(args: &AlertsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_history(&args.config, &args.store)?;
    let query = args.query.query(crate::source::now_ms())?;
    if args.events {
        let rows = store.node_events(&query)?;
        print_rows(
            out,
            args.query.format,
            &["time", "node", "event", "boot", "detail"],
            &rows,
            |r| {
                vec![
                    format_utc(r.wall_ms),
                    r.node.to_string(),
                    r.kind.name().to_string(),
                    format!("{:08x}", r.boot),
                    r.kind.to_string(),
                ]
            },
        )?;
        return Ok(());
    }
    let mut rows = store.transitions(&query)?;
    if let Some(origin) = &args.origin {
        rows.retain(|r| r.origin.as_str() == origin);
    }
    let reasons: Vec<Option<String>> = rows
        .iter()
        .map(|row| probe_reason(&store, row))
        .collect::<Result<_, _>>()?;
    let path = store.path().to_path_buf();
    drop(store);
    let operator = OperatorStore::open(&path).ok();
    let rows: Vec<MarkedRow> = rows
        .into_iter()
        .zip(reasons)
        .map(|(row, probe_failure)| {
            let id = stored_transition_id(
                row.node,
                row.boot,
                row.metric,
                row.origin,
                row.alert_seq,
                row.at_ms,
            );
            let muted = operator
                .as_ref()
                .and_then(|o| o.mark_of(&id).ok().flatten())
                .map(|(mark, detail)| format!("{mark} ({detail})"));
            MarkedRow {
                row,
                muted,
                probe_failure,
            }
        })
        .collect();
    print_rows(
        out,
        args.query.format,
        &[
            "time", "node", "metric", "from", "to", "cause", "by", "seq", "flapping", "muted",
        ],
        &rows,
        |MarkedRow {
             row: r,
             muted,
             probe_failure,
         }| {
            vec![
                format_utc(r.wall_ms),
                r.node.to_string(),
                r.name.clone(),
                r.from.to_string(),
                r.to.to_string(),
                match probe_failure {
                    Some(reason) => format!("probe failed: {reason}"),
                    None => crate::render::cause(&r.cause, &r.unit),
                },
                r.origin.as_str().to_string(),
                r.alert_seq.to_string(),
                if r.suppressed {
                    "yes".into()
                } else {
                    String::new()
                },
                muted.clone().unwrap_or_default(),
            ]
        },
    )?;
    if args.query.format == super::Format::Table {
        print_acks(operator.as_ref(), out)?;
        print_failed_runs(&path, &query, out)?;
        let configured = args.config.load()?.operator.maintenance;
        print_open_windows(configured, operator.as_ref(), out)?;
    }
    Ok(())
}

/// The job runs that failed in the queried time (the newest [`FAILED_RUNS`]), each with its
/// stderr tail, after the table: why a job's `exit_status` alert fired (docs/jobs.md).
fn print_failed_runs(
    path: &std::path::Path,
    query: &crate::store::Query,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let filter = RunFilter {
        since_ms: query.since_ms,
        until_ms: query.until_ms,
        failed_only: true,
        limit: Some(FAILED_RUNS),
        ..RunFilter::default()
    };
    for run in RunStore::read(path)?.runs(&filter)? {
        writeln!(
            out,
            "JOB {} failed at {}: {}",
            run.job,
            format_utc(run.wall_ms),
            run.summary()
        )?;
        for line in run.message.lines() {
            writeln!(out, "    {}", crate::node_log::printable(line))?;
        }
    }
    Ok(())
}

/// The maintenance windows open now (configured and added), after the acks: what they cover is
/// muted.
fn print_open_windows(
    configured: Vec<crate::operator::Window>,
    operator: Option<&OperatorStore>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let now = crate::source::now_ms();
    let added = operator
        .map(|o| o.windows())
        .transpose()?
        .unwrap_or_default();
    for window in configured.into_iter().chain(added) {
        let Ok(compiled) = window.compile() else {
            continue;
        };
        if let Some((_, end)) = compiled.open_at(now) {
            let w = &compiled.window;
            writeln!(
                out,
                "MAINTENANCE {} open until {}: {}: {}",
                w.name,
                format_utc(end),
                crate::operator::matcher::join(&w.matchers),
                w.comment
            )?;
        }
    }
    Ok(())
}

/// A transition and, when an ack, a silence, a maintenance window or an inhibition kept it from
/// the delivery sinks, which.
#[derive(serde::Serialize)]
struct MarkedRow {
    #[serde(flatten)]
    row: crate::store::TransitionRow,
    /// `acknowledged (by NAME)`, `silenced (silence ID)`, `maintenance (window NAME)` or
    /// `inhibited (by NODE/METRIC (RULE))`.
    muted: Option<String>,
    /// Why the probe failed, when this is a probe's `success` going bad ([`crate::probe`]).
    probe_failure: Option<String>,
}

/// The failure reason beside a probe's `success` transition to a worse level.
fn probe_reason(
    store: &crate::store::Store,
    row: &crate::store::TransitionRow,
) -> anyhow::Result<Option<String>> {
    let probe_success = crate::push::is_virtual(row.node)
        && row.metric == crate::probe::SUCCESS
        && row.name == "success";
    if !probe_success || row.to == rackwatch_core::Level::Ok {
        return Ok(None);
    }
    Ok(store.probe_failure_at(row.node, row.boot, row.wall_ms)?)
}

/// The alerts acknowledged now, after the table: the alert stays visible with its ack.
fn print_acks(operator: Option<&OperatorStore>, out: &mut dyn Write) -> anyhow::Result<()> {
    let acks = operator.map(|o| o.acks()).transpose()?.unwrap_or_default();
    for a in acks {
        let until = a
            .until_ms
            .map(|u| format!(" until {}", format_utc(u)))
            .unwrap_or_default();
        writeln!(
            out,
            "ACK {}/{} at {}: {} by {}{until}: {}",
            a.node,
            a.metric,
            a.level,
            a.kind.as_str(),
            a.author,
            a.comment
        )?;
    }
    Ok(())
}
