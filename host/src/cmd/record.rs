//! `rackwatch record`: capture sources' raw bytes with their arrival times, for `replay` or for
//! re-ingesting with `rackwatch run capture:FILE`.

use super::run::{is_finite, source_problems};
use crate::config::{parse_duration, Config};
use crate::daemon::{Daemon, DaemonOptions};
use crate::source::SourceSpec;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Options of `rackwatch record`.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Sources to record (same forms as `run`).
    #[arg(value_name = "SOURCE", required = true)]
    pub sources: Vec<SourceSpec>,
    /// Directory for the captures, one `<source>.rwcap` per source.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,
    /// Stop after this long (default: until Ctrl-C or every finite source ends).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
}

/// Records until stopped.
pub fn run(args: &RecordArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut config = Config::defaults();
    config.sources = args.sources.clone();
    config.listen = None;
    let finite_run = args.run_for.is_some() || args.sources.iter().all(|s| is_finite(&s.kind));
    let finite: Vec<bool> = args.sources.iter().map(|s| is_finite(&s.kind)).collect();
    let daemon = Daemon::start(
        config,
        DaemonOptions {
            store: false,
            run_for: args.run_for,
            print_events: false,
            record_dir: Some(args.out.clone()),
            ..DaemonOptions::default()
        },
    )?;
    let stop = daemon.stop_flag();
    let _ = ctrlc::set_handler(move || stop.store(true, std::sync::atomic::Ordering::Relaxed));
    let summary = daemon.wait()?;
    for source in &summary.snapshot.sources {
        writeln!(
            out,
            "{}: {} bytes recorded",
            args.out.join(format!("{}.rwcap", source.name)).display(),
            source.bytes
        )?;
    }
    // As for `run`: a recording that ended by itself with a source that gave nothing has failed.
    let problems = source_problems(&summary.snapshot.sources, &finite);
    if finite_run && !problems.is_empty() {
        anyhow::bail!("{}", problems.join("; "));
    }
    Ok(())
}
