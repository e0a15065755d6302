//! `rackwatch replay`: plays a capture's bytes back at any speed, to standard output, a pty (a
//! virtual serial port), a TCP client or a device.

use crate::capture::{CaptureError, CaptureReader};
use crate::line_out::LineOut;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `rackwatch replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// The capture (made by `rackwatch record` or `run --record`).
    pub capture: PathBuf,
    /// Speed: 1 replays in real time, 60 an hour per minute, 0 as fast as the reader takes it.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Where to: `-` (stdout), `pty` or `pty:LINK` (a pty, path printed on stderr),
    /// `tcp-listen:ADDR` (the first client), or a file or device path.
    #[arg(long, default_value = "-")]
    pub to: String,
    /// Start over at the end, until interrupted.
    #[arg(long = "loop")]
    pub repeat: bool,
    /// Keep the line open this long after the end (a pty disappears when the replay exits).
    #[arg(long, value_parser = crate::config::parse_duration, default_value = "500ms")]
    pub hold: Duration,
}

/// Replays the capture.
pub fn run(args: &ReplayArgs) -> anyhow::Result<()> {
    if !(args.speed >= 0.0 && args.speed.is_finite()) {
        anyhow::bail!("--speed must be 0 (as fast as possible) or a positive factor");
    }
    let mut line = LineOut::open(&args.to)
        .map_err(|e| anyhow::anyhow!("cannot open `{}` for the replay: {e}", args.to))?;
    if let Some(path) = line.path() {
        // Not `eprintln!`: it panics when standard error is a closed pipe.
        let _ = writeln!(std::io::stderr(), "replaying on {}", path.display());
    }
    let mut defects = 0u64;
    loop {
        let reader = CaptureReader::open(&args.capture)?;
        let started = Instant::now();
        let mut first: Option<u64> = None;
        for record in reader {
            // A corrupt stretch is skipped (the reader finds the records after it) and reported.
            let (wall_ms, bytes) = match record {
                Ok(record) => record,
                Err(e @ CaptureError::Corrupt { .. }) => {
                    tracing::warn!("{e}");
                    defects += 1;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let t0 = *first.get_or_insert(wall_ms);
            if args.speed > 0.0 {
                let due = Duration::from_secs_f64(
                    wall_ms.saturating_sub(t0) as f64 / 1000.0 / args.speed,
                );
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            line.write_all(&bytes)?;
        }
        line.flush()?;
        if !args.repeat {
            break;
        }
    }
    // Give a reader time to drain the line before it disappears.
    std::thread::sleep(args.hold);
    if defects > 0 {
        anyhow::bail!(
            "{}: {defects} corrupt stretch(es) skipped, see the warnings above",
            args.capture.display()
        );
    }
    Ok(())
}
