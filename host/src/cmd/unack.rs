//! `rackwatch unack NODE[/METRIC]`: remove an acknowledgement; the alert notifies again from its
//! next transition.

use super::OperatorArgs;
use crate::operator::{parse_target, whoami, UnackRequest};
use clap::Args;
use std::io::Write;

/// Options of `rackwatch unack`.
#[derive(Debug, Clone, Args)]
pub struct UnackArgs {
    /// The alert: NODE/METRIC, or NODE for every ack of the node.
    #[arg(value_name = "NODE[/METRIC]")]
    pub target: String,
    /// Why (kept in the audit).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Removes the ack(s) and says how many.
pub fn run(args: &UnackArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (node, metric) = parse_target(&args.target).map_err(anyhow::Error::msg)?;
    let request = UnackRequest {
        node,
        metric,
        author: whoami(),
        comment: args.comment.clone(),
    };
    let removed: usize = args
        .operator
        .change("DELETE", "/api/acks", &request, |s, r, now| s.unack(r, now))?;
    writeln!(out, "removed {removed} ack(s) of {}", args.target)?;
    Ok(())
}
