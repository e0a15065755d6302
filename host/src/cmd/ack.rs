//! `rackwatch ack NODE[/METRIC] --comment TEXT [--sticky] [--until TIME]`: acknowledge an alert,
//! so that it notifies no delivery sink again until its level changes (normal) or it recovers to
//! OK (sticky); `docs/acks-and-silences.md`.

use super::{parse_future, OperatorArgs};
use crate::operator::{parse_target, whoami, Ack, AckRequest};
use crate::timefmt::format_utc;
use clap::Args;
use std::io::Write;

/// Options of `rackwatch ack`.
#[derive(Debug, Clone, Args)]
pub struct AckArgs {
    /// The alert: NODE/METRIC, or NODE for every alert of the node that is not OK.
    #[arg(value_name = "NODE[/METRIC]")]
    pub target: String,
    /// Why (kept in the audit and shown with the alert).
    #[arg(long)]
    pub comment: String,
    /// Hold until the alert recovers to OK, through any other level change.
    #[arg(long)]
    pub sticky: bool,
    /// End the ack on its own at TIME (RFC 3339, epoch seconds) or after a duration (`4h`).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Acknowledges, and prints what was acknowledged.
pub fn run(args: &AckArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (node, metric) = parse_target(&args.target).map_err(anyhow::Error::msg)?;
    let now = crate::source::now_ms();
    let until_ms = args
        .until
        .as_deref()
        .map(|t| parse_future(t, now))
        .transpose()?;
    let request = AckRequest {
        node,
        metric,
        sticky: args.sticky,
        until_ms,
        author: whoami(),
        comment: args.comment.clone(),
    };
    let acks: Vec<Ack> = args
        .operator
        .change("POST", "/api/acks", &request, |s, r, now| s.ack(r, now))?;
    for a in &acks {
        let until = a
            .until_ms
            .map(|u| format!(" until {}", format_utc(u)))
            .unwrap_or_default();
        writeln!(
            out,
            "acknowledged {}/{} at {} ({}{until})",
            a.node,
            a.metric,
            a.level,
            a.kind.as_str()
        )?;
    }
    Ok(())
}
