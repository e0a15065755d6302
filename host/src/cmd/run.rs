//! `rackwatch run`: the daemon. Reads every source, keeps history, serves `/state`.
//!
//! Under systemd (`Type=notify`) it tells the service manager when it is ready, what it is doing
//! (`STATUS=`), that its pipeline still moves (`WATCHDOG=1`), when it reloads and when it stops
//! ([`crate::daemon::service`]). SIGHUP re-reads the configuration ([`crate::daemon::reload`]);
//! SIGINT and SIGTERM stop it after everything received is delivered.

use super::{ConfigArgs, StoreArgs};
use crate::config::parse_duration;
use crate::config::Config;
use crate::daemon::reload;
use crate::daemon::service::{Schedule, ServiceManager, StatusLine};
use crate::daemon::{Daemon, DaemonOptions, Summary};
use crate::logging::{self, LevelChange};
use crate::sink::SinkStatus;
use crate::source::{SourceKind, SourceSpec};
use crate::state::SourceView;
use clap::Args;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `rackwatch run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Sources to read besides the configuration's: serial:/dev/ttyACM0@115200, a bare /dev/ path,
    /// tcp:HOST:PORT, unix:PATH, capture:FILE.rwcap, raw:FILE, - (stdin), local.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<SourceSpec>,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Do not watch this machine's disks, memory and processes (the `local` source).
    #[arg(long)]
    pub no_local: bool,
    /// Do not keep history.
    #[arg(long)]
    pub no_store: bool,
    /// The state endpoint's address (`/state`, `/metrics` for Prometheus, `/healthz`), or `none`.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Stop after this long, e.g. `10m` (default: until Ctrl-C, SIGTERM, or every finite source ends).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// Print every event as a JSON line on standard output.
    #[arg(long)]
    pub events: bool,
    /// Also record each source's raw bytes into DIR/<source>.rwcap (replay with `rackwatch replay`).
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Decode the nodes' defmt logs with this firmware ELF into the daemon's log [default: `[node_logs]`
    /// in the configuration].
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
}

/// How often the supervising thread looks at signals and the service schedule: the longest a
/// signal waits to be acted on.
const POLL: Duration = Duration::from_millis(100);

/// Runs the daemon until it is stopped or its sources end; prints a summary on standard error.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let mut config = effective_config(args)?;
    apply_log_level(&config.log_level);
    // A run that ends by itself: then a source that gave nothing (or failed) is the run's failure.
    let finite_run = args.run_for.is_some() || config.sources.iter().all(|s| is_finite(&s.kind));
    let finite: Vec<bool> = config.sources.iter().map(|s| is_finite(&s.kind)).collect();
    // Before any thread starts, so that no signal meant for the daemon hits a default handler.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let mut manager = ServiceManager::from_env();
    let daemon = Daemon::start(
        config.clone(),
        DaemonOptions {
            store: !args.no_store,
            run_for: args.run_for,
            print_events: args.events,
            record_dir: args.record.clone(),
            node_logs: true,
            elf: args.elf.clone(),
        },
    )?;
    if let Some(addr) = daemon.listening {
        tracing::info!("state at http://{addr}/state, Prometheus metrics at http://{addr}/metrics");
    }
    let mut status = StatusLine::new();
    manager.ready(&status.line(&daemon.snapshot()));
    let told = supervise(
        &daemon,
        args,
        &mut config,
        &mut signals,
        &mut manager,
        &mut status,
    );
    if !told {
        manager.stopping();
    }
    let summary = daemon.wait()?;
    // With standard error closed (`2>&1 | head`) the figures are lost but the exit status is not.
    if let Err(e) = print_summary(&summary) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if finite_run {
        let mut problems = source_problems(&summary.snapshot.sources, &finite);
        problems.extend(sink_problems(&summary.snapshot.sinks));
        if !problems.is_empty() {
            anyhow::bail!("{}", problems.join("; "));
        }
    }
    Ok(())
}

/// The configuration file with the command line's changes: `--db`, `--no-local`, the sources named
/// on the command line, `--listen`. The same at start and on every reload, so that a reload
/// compares like with like.
fn effective_config(args: &RunArgs) -> anyhow::Result<Config> {
    let mut config = args.config.load()?;
    config.store_path = args.store.path(&config);
    if args.no_local {
        config
            .sources
            .retain(|s| !matches!(s.kind, SourceKind::Local(_)));
    }
    for spec in &args.sources {
        if config.sources.iter().any(|s| s.name == spec.name) {
            anyhow::bail!(
                "two sources are named `{}`; name one in the configuration file",
                spec.name
            );
        }
        config.sources.push(spec.clone());
    }
    if config.sources.is_empty() && config.probes.is_empty() {
        anyhow::bail!(
            "no sources: name one (e.g. `rackwatch run /dev/ttyACM0`), add a [[probe]], or drop \
             --no-local"
        );
    }
    match args.listen.as_deref() {
        Some("none" | "off" | "") => config.listen = None,
        Some(addr) => config.listen = Some(addr.to_string()),
        None => {}
    }
    Ok(config)
}

/// Until the ingest thread ends: signals acted on, the watchdog pinged while the pipeline moves,
/// the status line refreshed. Returns whether a stop signal came (and `STOPPING=1` was sent).
fn supervise(
    daemon: &Daemon,
    args: &RunArgs,
    running: &mut Config,
    signals: &mut Signals,
    manager: &mut ServiceManager,
    status: &mut StatusLine,
) -> bool {
    let progress = daemon.progress();
    let mut schedule = Schedule::new(manager);
    let mut stopping = false;
    while !daemon.is_finished() {
        for signal in signals.pending() {
            if signal == SIGHUP {
                reload_config(daemon, args, running, manager, status);
            } else if !stopping {
                tracing::info!("stopping: delivering what was received");
                manager.stopping();
                daemon.stop();
                stopping = true;
            }
        }
        schedule.run(manager, &progress, || status.line(&daemon.snapshot()));
        std::thread::sleep(schedule.sleep_for(POLL));
    }
    stopping
}

/// SIGHUP: the configuration re-read; what can change live is applied, what cannot is named, and a
/// file that does not load changes nothing.
fn reload_config(
    daemon: &Daemon,
    args: &RunArgs,
    running: &mut Config,
    manager: &mut ServiceManager,
    status: &mut StatusLine,
) {
    manager.reloading();
    let new = match effective_config(args) {
        Ok(new) => new,
        Err(e) => {
            tracing::error!(
                "configuration reload refused, the running configuration stays: {}",
                crate::render::error_chain(&e)
            );
            manager.ready(&format!(
                "reload refused (see the log); {}",
                status.line(&daemon.snapshot())
            ));
            return;
        }
    };
    let plan = reload::plan(running, &new);
    for key in &plan.needs_restart {
        tracing::warn!(
            "configuration reload: `{key}` changed, which takes effect only at the next restart \
             (systemctl restart rackwatch); the running value stays until then"
        );
    }
    if let Some(level) = &plan.log_level {
        apply_log_level(level);
        running.log_level = level.clone();
    }
    if let Some(rules) = &plan.rules {
        if daemon.set_rules(rules.clone()) {
            running.rules = rules.clone();
        }
    }
    let file = new.file.as_deref().map_or_else(
        || "the built-in defaults".to_string(),
        |p| p.display().to_string(),
    );
    let outcome = if plan.changes_nothing_live() {
        "nothing that applies live changed"
    } else {
        "rules and log level as the file says"
    };
    tracing::info!("configuration reloaded from {file}: {outcome}");
    manager.ready(&status.line(&daemon.snapshot()));
}

/// The configuration's `log.level`, unless `--log` or `$RUST_LOG` pinned the filter.
fn apply_log_level(level: &str) {
    match logging::set_config_level(level) {
        Ok(LevelChange::Applied | LevelChange::NoLogger) => {}
        Ok(LevelChange::Pinned) => {
            tracing::debug!("log.level `{level}` not applied: --log or RUST_LOG names the filter")
        }
        Err(e) => tracing::error!("{e}"),
    }
}

/// Files, captures and standard input: read once, as opposed to devices and sockets.
pub(crate) fn is_finite(kind: &SourceKind) -> bool {
    matches!(
        kind,
        SourceKind::Capture(_) | SourceKind::Raw(_) | SourceKind::Stdin
    )
}

/// What went wrong with the sources of a run that ended by itself, one sentence each: a source
/// that read nothing, and a finite source that failed part-way (a corrupt record, a read error).
/// A live source that failed and then recovered is in the log and `/state`, not here.
pub(crate) fn source_problems(sources: &[SourceView], finite: &[bool]) -> Vec<String> {
    sources
        .iter()
        .zip(finite)
        .filter_map(|(view, &finite)| {
            let error = view.last_error.as_deref();
            if view.bytes == 0 {
                Some(format!(
                    "source `{}` read nothing{}",
                    view.name,
                    error.map_or_else(String::new, |e| format!(": {e}"))
                ))
            } else if finite && view.failures > 0 {
                Some(format!(
                    "source `{}` failed after {} bytes: {}",
                    view.name,
                    view.bytes,
                    error.unwrap_or("an error")
                ))
            } else {
                None
            }
        })
        .collect()
}

/// The sinks that dropped events during a run that ended by itself, one sentence each: what was
/// read is not all where the user asked it to go.
pub(crate) fn sink_problems(sinks: &[SinkStatus]) -> Vec<String> {
    sinks
        .iter()
        .filter(|sink| sink.dropped > 0)
        .map(|sink| {
            format!(
                "{} dropped {} events{}",
                sink.name,
                sink.dropped,
                sink.last_error
                    .as_deref()
                    .map_or_else(String::new, |e| format!(": {e}"))
            )
        })
        .collect()
}

/// The run's figures on standard error.
fn print_summary(summary: &Summary) -> std::io::Result<()> {
    let s = &summary.snapshot;
    let errors: u64 = s.decode_errors.values().sum();
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "rackwatch: {} bytes, {} frames, {} decode errors, {} events from {} nodes{}",
        s.bytes,
        s.frames,
        errors,
        summary.events,
        s.nodes.len(),
        peak_rss_kib().map_or_else(String::new, |kib| format!(", peak RSS {kib} KiB"))
    )?;
    for node in &s.nodes {
        let c = &node.counters;
        writeln!(
            err,
            "  node {}: {} frames, {} lost, {} duplicates, {} resets, {} readings, {} transitions (node), {} (host){}",
            node.id,
            c.frames,
            c.lost,
            c.duplicates,
            c.resets,
            c.readings,
            c.node_transitions,
            c.host_transitions,
            if node.down { ", DOWN" } else { "" }
        )?;
    }
    Ok(())
}

/// The process's peak resident set (`VmHWM`), Linux only.
fn peak_rss_kib() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, bytes: u64, failures: u64, error: Option<&str>) -> SourceView {
        SourceView {
            name: name.into(),
            bytes,
            failures,
            last_error: error.map(Into::into),
            ..SourceView::default()
        }
    }

    #[test]
    fn a_source_that_read_nothing_or_a_file_that_failed_is_a_problem_a_recovered_device_is_not() {
        let sources = [
            view(
                "ttyACM0",
                0,
                3,
                Some("cannot open /dev/ttyACM0: No such file"),
            ),
            view("ttyACM1", 500, 2, Some("cannot open /dev/ttyACM1: busy")),
            view("good.rwcap", 900, 0, None),
            view("bad.rwcap", 800, 1, Some("byte offset 4242: bad record")),
            view("empty", 0, 0, None),
        ];
        let problems = source_problems(&sources, &[false, false, true, true, true]);
        assert_eq!(
            problems,
            [
                "source `ttyACM0` read nothing: cannot open /dev/ttyACM0: No such file",
                "source `bad.rwcap` failed after 800 bytes: byte offset 4242: bad record",
                "source `empty` read nothing",
            ]
        );
    }
}
