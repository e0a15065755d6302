//! `rackwatch maintenance add MATCHER... (--cron EXPR --for D [--tz ZONE] | [--start T]
//! (--for D | --until T)) --comment TEXT`, `maintenance list`, `maintenance remove ID`: maintenance
//! windows, the same shape as `rackwatch silence` (`docs/acks-and-silences.md`).

use super::{parse_future, print_rows, Format, OperatorArgs};
use crate::operator::maintenance::{describe, When, Window};
use crate::operator::matcher::Matcher;
use crate::operator::{whoami, RemoveWindowRequest, WindowRequest, WindowView};
use crate::timefmt::format_utc;
use clap::{Args, Subcommand};
use std::io::Write;

/// `rackwatch maintenance`.
#[derive(Debug, Clone, Args)]
pub struct MaintenanceCmd {
    /// What to do.
    #[command(subcommand)]
    pub action: MaintenanceAction,
}

/// The maintenance subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum MaintenanceAction {
    /// A window muting the alerts every MATCHER matches while it is open: one-off (--start,
    /// --for or --until) or recurring (--cron, --for, --tz).
    Add(AddArgs),
    /// The windows: configured and added, each with whether it is open.
    List(ListArgs),
    /// Remove an added window (a configured one is removed from the configuration).
    Remove(RemoveArgs),
}

/// Options of `rackwatch maintenance add`.
#[derive(Debug, Clone, Args)]
pub struct AddArgs {
    /// name=value, name!=value, name=~regex or name!~regex (node, metric, the node's labels such
    /// as rack); every one must match.
    #[arg(value_name = "MATCHER", required = true, value_parser = Matcher::parse)]
    pub matchers: Vec<Matcher>,
    /// Recurring: when each opening starts, a 5-field cron expression (`0 22 * * SAT`) or
    /// `@daily`, in --tz.
    #[arg(long, value_name = "CRON", conflicts_with_all = ["start", "until"], requires = "duration")]
    pub cron: Option<String>,
    /// The IANA time zone of --cron (`Europe/Berlin`) [default: this machine's].
    #[arg(long, value_name = "ZONE", requires = "cron")]
    pub tz: Option<String>,
    /// How long each opening lasts (`6h`), or a one-off window from its start.
    #[arg(long = "for", value_name = "DURATION", value_parser = crate::config::parse_duration,
          required_unless_present = "until", conflicts_with = "until")]
    pub duration: Option<std::time::Duration>,
    /// One-off: when it ends (RFC 3339, epoch seconds, or a duration from now).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// One-off: when it starts [default: now].
    #[arg(long, value_name = "TIME")]
    pub start: Option<String>,
    /// Its name [default: `window ID`].
    #[arg(long)]
    pub name: Option<String>,
    /// Why (kept in the audit and shown with the window).
    #[arg(long)]
    pub comment: String,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Options of `rackwatch maintenance list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// How to print them.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Daemon (its `/state`) or store and configuration.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Options of `rackwatch maintenance remove`.
#[derive(Debug, Clone, Args)]
pub struct RemoveArgs {
    /// The window's id (`maintenance list`).
    pub id: u64,
    /// Why (kept in the audit).
    #[arg(long, default_value = "")]
    pub comment: String,
    /// Daemon or store.
    #[command(flatten)]
    pub operator: OperatorArgs,
}

/// Runs the subcommand.
pub fn run(cmd: &MaintenanceCmd, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cmd.action {
        MaintenanceAction::Add(args) => add(args, out),
        MaintenanceAction::List(args) => list(args, out),
        MaintenanceAction::Remove(args) => remove(args, out),
    }
}

fn add(args: &AddArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::source::now_ms();
    let when = match &args.cron {
        Some(cron) => When::Recurring {
            schedule: cron.clone(),
            time_zone: args.tz.clone(),
            duration_ms: args.duration.map_or(0, |d| d.as_millis() as u64),
        },
        None => {
            let starts_ms = match &args.start {
                Some(t) => crate::timefmt::parse_time(t, now).map_err(anyhow::Error::msg)?,
                None => now,
            };
            let ends_ms = match (&args.duration, &args.until) {
                (Some(d), _) => starts_ms.saturating_add(d.as_millis() as u64),
                (None, Some(t)) => parse_future(t, now)?,
                (None, None) => anyhow::bail!("say how long with --for DURATION or --until TIME"),
            };
            When::Once { starts_ms, ends_ms }
        }
    };
    let request = WindowRequest {
        name: args.name.clone(),
        matchers: args.matchers.clone(),
        when,
        creator: whoami(),
        comment: args.comment.clone(),
    };
    let window: Window =
        args.operator
            .change("POST", "/api/maintenance", &request, |s, r, now| {
                s.add_window(r, now)
            })?;
    writeln!(
        out,
        "maintenance window {} ({}): {}",
        window.id,
        window.name,
        describe(&window.when)
    )?;
    Ok(())
}

/// The windows as the daemon shows them, or as the configuration and the store say.
fn windows(args: &ListArgs, now: u64) -> anyhow::Result<Vec<WindowView>> {
    if let Some(url) = &args.operator.connect {
        return Ok(crate::state::fetch(url, args.operator.timeout)
            .map_err(anyhow::Error::msg)?
            .operator
            .windows);
    }
    let config = args.operator.config.load()?;
    let stored = args.operator.open_store()?.windows()?;
    let all = config.operator.maintenance.into_iter().chain(stored);
    Ok(all
        .filter_map(|w| w.compile().ok())
        .map(|c| WindowView {
            open: c.open_at(now),
            next_start_ms: c.next_start(now),
            window: c.window,
        })
        .collect())
}

fn list(args: &ListArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let now = crate::source::now_ms();
    let windows = windows(args, now)?;
    print_rows(
        out,
        args.format,
        &[
            "id", "name", "state", "matchers", "when", "next", "creator", "comment",
        ],
        &windows,
        |v| {
            let w = &v.window;
            let state = match v.open {
                Some((_, end)) => format!("open until {}", format_utc(end)),
                None if v.next_start_ms.is_some() => "closed".into(),
                None => "over".into(),
            };
            vec![
                if w.id == 0 {
                    "config".into()
                } else {
                    w.id.to_string()
                },
                w.name.clone(),
                state,
                crate::operator::matcher::join(&w.matchers),
                describe(&w.when),
                v.next_start_ms.map(format_utc).unwrap_or_default(),
                w.creator.clone(),
                w.comment.clone(),
            ]
        },
    )?;
    Ok(())
}

fn remove(args: &RemoveArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let request = RemoveWindowRequest {
        id: args.id,
        author: whoami(),
        comment: args.comment.clone(),
    };
    let () = args
        .operator
        .change("DELETE", "/api/maintenance", &request, |s, r, now| {
            s.remove_window(r, now)
        })?;
    writeln!(out, "maintenance window {} removed", args.id)?;
    Ok(())
}
