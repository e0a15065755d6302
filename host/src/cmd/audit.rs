//! `rackwatch audit`: every operator action (acks, unacks, silences added and expired) and what
//! the daemon did on its own with them (an ack cleared by a level change or expired), oldest
//! first: who, what, when, on what, why.

use super::{print_rows, Format, OperatorArgs};
use crate::operator::AuditRow;
use crate::timefmt::format_utc;
use clap::Args;
use std::io::Write;

/// Options of `rackwatch audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// The newest this many rows.
    #[arg(long, default_value_t = 1000)]
    pub limit: u64,
    /// How to print them.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Daemon (`GET /api/audit`) or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Prints the audit.
pub fn run(args: &AuditArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let rows: Vec<AuditRow> = match &args.operator.connect {
        Some(url) => {
            let answer = args.operator.call(url, "GET", "/api/audit", "")?;
            let mut rows: Vec<AuditRow> = serde_json::from_str(&answer)?;
            let skip = rows.len().saturating_sub(args.limit as usize);
            rows.drain(..skip);
            rows
        }
        None => args.operator.open_store()?.audit(args.limit)?,
    };
    print_rows(
        out,
        args.format,
        &["time", "who", "action", "target", "comment"],
        &rows,
        |r| {
            vec![
                format_utc(r.at_ms),
                r.who.clone(),
                r.action.clone(),
                r.target.clone(),
                r.comment.clone(),
            ]
        },
    )?;
    Ok(())
}
