//! `rackwatch history`: stored readings, by node, metric and time.
//!
//! Every stored value is printed, non-finite ones included: `NaN`, `inf` and `-inf` in the table
//! and CSV (Rust's own spelling of an f32), and the same words as JSON strings in `--format json`,
//! since JSON has no such numbers and `null` would read as a missing reading.

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
use crate::timefmt::format_utc;
use clap::Args;
use std::io::Write;

/// Options of `rackwatch history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// Which rows, and how to print them.
    #[command(flatten)]
    pub query: QueryArgs,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Prints the readings, oldest first.
pub fn run(args: &HistoryArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_history(&args.config, &args.store)?;
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
