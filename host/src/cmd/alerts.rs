//! `rackwatch alerts`: stored alert transitions (and, with `--events`, node events).

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
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
    print_rows(
        out,
        args.query.format,
        &[
            "time", "node", "metric", "from", "to", "cause", "by", "seq", "flapping",
        ],
        &rows,
        |r| {
            vec![
                format_utc(r.wall_ms),
                r.node.to_string(),
                r.name.clone(),
                r.from.to_string(),
                r.to.to_string(),
                crate::render::cause(&r.cause, &r.unit),
                r.origin.as_str().to_string(),
                r.alert_seq.to_string(),
                if r.suppressed {
                    "yes".into()
                } else {
                    String::new()
                },
            ]
        },
    )?;
    Ok(())
}
