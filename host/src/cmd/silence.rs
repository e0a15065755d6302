//! `rackwatch silence add MATCHER... (--for D | --until T) --comment TEXT`, `silence list`,
//! `silence expire ID`: Alertmanager-style silences (`docs/acks-and-silences.md`).

use super::{parse_future, print_rows, Format, OperatorArgs};
use crate::operator::matcher::Matcher;
use crate::operator::{whoami, ExpireRequest, Silence, SilenceRequest};
use crate::timefmt::format_utc;
use clap::{Args, Subcommand};
use std::io::Write;

/// `rackwatch silence`.
#[derive(Debug, Clone, Args)]
pub struct SilenceCmd {
    /// What to do.
    #[command(subcommand)]
    pub action: SilenceAction,
}

/// The silence subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum SilenceAction {
    /// Mute the alerts every MATCHER matches (node=3, metric=~inlet_.*, severity!=critical,
    /// origin=host; regexes anchored, a missing label reads as empty).
    Add(AddArgs),
    /// The silences that have not ended (all of them with --all).
    List(ListArgs),
    /// End a silence now.
    Expire(ExpireArgs),
}

/// Options of `rackwatch silence add`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// name=value, name!=value, name=~regex or name!~regex; every one must match.
    #[arg(value_name = "MATCHER", required = true, value_parser = Matcher::parse)]
    pub matchers: Vec<Matcher>,
    /// How long from its start (`2h`).
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::config::parse_duration,
          required_unless_present = "until", conflicts_with = "until")]
    pub duration: Option<std::time::Duration>,
    /// When it ends (RFC 3339, epoch seconds, or a duration from now).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// When it starts [default: now].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Why (kept in the audit and shown with the silence).
    #[arg(long)]
    pub comment: String,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Options of `rackwatch silence list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Ended silences too.
    #[arg(long)]
    pub all: bool,
    /// How to print them.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Daemon (its `/state`; ended silences are not there) or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Options of `rackwatch silence expire`.
#[derive(Debug, Clone, Args)]
pub struct ExpireArgs {
    /// The silence's id (`silence list`).
    pub id: u64,
    /// Why (kept in the audit).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Runs the subcommand.
pub fn run(cmd: &SilenceCmd, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cmd.action {
        SilenceAction::Add(args) => add(args, out),
        SilenceAction::List(args) => list(args, out),
        SilenceAction::Expire(args) => expire(args, out),
    }
}

fn add(args: &AddArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::source::now_ms();
    let starts_ms = match &args.start {
        Some(t) => crate::timefmt::parse_time(t, now).map_err(anyhow::Error::msg)?,
        None => now,
    };
    let ends_ms = match (&args.duration, &args.until) {
        (Some(d), _) => starts_ms.saturating_add(d.as_millis() as u64),
        (None, Some(t)) => parse_future(t, now)?,
        (None, None) => anyhow::bail!("say how long with --for DURATION or --until TIME"),
    };
    let request = SilenceRequest {
        matchers: args.matchers.clone(),
        starts_ms: Some(starts_ms),
        ends_ms,
        creator: whoami(),
        comment: args.comment.clone(),
    };
    let silence: Silence =
        args.operator
            .change("POST", "/api/silences", &request, |s, r, now| {
                s.add_silence(r, now)
            })?;
    writeln!(
        out,
        "silence {} from {} until {}",
        silence.id,
        format_utc(silence.starts_ms),
        format_utc(silence.ends_ms)
    )?;
    Ok(())
}

fn list(args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::source::now_ms();
    let silences = match &args.operator.connect {
        Some(_) if args.all => anyhow::bail!(
            "the daemon's /state has only the silences that have not ended: drop --connect to list --all from the store"
        ),
        Some(url) => {
            crate::state::fetch(url, args.operator.timeout)
                .map_err(anyhow::Error::msg)?
                .operator
                .silences
        }
        None => args.operator.open_store()?.silences(now, args.all)?,
    };
    print_rows(
        out,
        args.format,
        &[
            "id", "state", "matchers", "starts", "ends", "creator", "comment",
        ],
        &silences,
        |s| {
            let state = if s.active(now) {
                "active"
            } else if s.starts_ms > now {
                "pending"
            } else {
                "ended"
            };
            vec![
                s.id.to_string(),
                state.into(),
                crate::operator::matcher::join(&s.matchers),
                format_utc(s.starts_ms),
                format_utc(s.ends_ms),
                s.creator.clone(),
                s.comment.clone(),
            ]
        },
    )?;
    Ok(())
}

fn expire(args: &ExpireArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = ExpireRequest {
        id: args.id,
        author: whoami(),
        comment: args.comment.clone(),
    };
    let () = args
        .operator
        .change("DELETE", "/api/silences", &request, |s, r, now| {
            s.expire_silence(r, now)
        })?;
    writeln!(out, "silence {} expired", args.id)?;
    Ok(())
}
