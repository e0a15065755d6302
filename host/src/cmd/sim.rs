//! `rackwatch sim`: simulated rack nodes (the real firmware application with simulated sensors)
//! on ptys, on one stream, or into a capture, in rack time at any speed.
//!
//! Invariants: the rack never waits for a reader (a pty nobody reads loses bytes, as a UART line
//! would); a failure to write the shared line or the capture ends the run with that error; Ctrl-C
//! is looked at at least every 200 ms of waiting.

use crate::capture::CaptureWriter;
use crate::config::parse_duration;
use crate::line_out::LineOut;
use crate::sim::{SimRack, SimSettings};
use clap::Args;
use rackwatch_firmware::sim::Scenario;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `rackwatch sim`.
#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Nodes (ids 1 to N); each plays one scenario, round-robin.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=4096))]
    pub nodes: u16,
    /// Scenarios to assign, comma-separated [default: all: rising-inlet, power-creep, stuck-sensor,
    /// humidity-spike, sensor-dropout, nominal].
    #[arg(long, value_delimiter = ',', value_parser = parse_scenario)]
    pub scenario: Vec<Scenario>,
    /// Seed of the simulated noise.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time between two samples of each sensor.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub period: Duration,
    /// When the failures start, after boot.
    #[arg(long, value_parser = parse_duration, default_value = "10m")]
    pub onset: Duration,
    /// Rack time per real time: 1 is real time, 600 ten minutes a second, 0 as fast as possible.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Stop after this much rack time (default: until Ctrl-C).
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_duration)]
    pub run_for: Option<Duration>,
    /// One pty per node behind DIR/node-<id> (read them with `rackwatch run serial:DIR/node-1 ...`).
    #[arg(long, value_name = "DIR", conflicts_with = "to")]
    pub pty_dir: Option<PathBuf>,
    /// Every node on one line: `-` (stdout), `pty:LINK`, `tcp-listen:ADDR`, or `capture:FILE` (a
    /// capture stamped in rack time from now) [default: -].
    #[arg(long, value_name = "SPEC")]
    pub to: Option<String>,
}

fn parse_scenario(text: &str) -> Result<Scenario, String> {
    Scenario::ALL
        .into_iter()
        .find(|s| s.name() == text)
        .ok_or_else(|| {
            let names: Vec<_> = Scenario::ALL.iter().map(|s| s.name()).collect();
            format!("unknown scenario `{text}`; one of {}", names.join(", "))
        })
}

/// A line on standard error for whoever started the run; lost if nobody reads it (`eprintln!`
/// would panic on a closed pipe).
fn announce(line: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Where the nodes' bytes go.
enum Output {
    /// One pty per node.
    PerNode(Vec<LineOut>),
    /// Every node on one line.
    Shared(LineOut),
    /// A capture, stamped from the wall time the run started at.
    Capture(CaptureWriter, u64),
}

impl Output {
    /// The output `--pty-dir` or `--to` names; the ptys are announced on stderr.
    fn open(args: &SimArgs, rack: &SimRack, start_wall: u64) -> anyhow::Result<Output> {
        if let Some(dir) = &args.pty_dir {
            return Self::ptys(dir, rack);
        }
        match args.to.as_deref().unwrap_or("-") {
            spec if spec.starts_with("capture:") => {
                let path = PathBuf::from(&spec["capture:".len()..]);
                Ok(Output::Capture(
                    CaptureWriter::create(&path, "sim")?,
                    start_wall,
                ))
            }
            spec => {
                let line = LineOut::open(spec)
                    .map_err(|e| anyhow::anyhow!("cannot open `{spec}`: {e}"))?;
                if let Some(path) = line.path() {
                    announce(format_args!("{} nodes on {}", args.nodes, path.display()));
                }
                Ok(Output::Shared(line))
            }
        }
    }

    fn ptys(dir: &Path, rack: &SimRack) -> anyhow::Result<Output> {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut lines = Vec::new();
        for (i, node) in rack.nodes().iter().enumerate() {
            let id = node.config().node_id;
            let link = dir.join(format!("node-{id}"));
            // A reader that falls behind for a whole second drops bytes: a UART does not wait.
            let line = LineOut::pty(Some(&link), Duration::from_secs(1))?;
            announce(format_args!(
                "node {id} ({}) on {}",
                rack.scenario(i).map_or("", |s| s.name()),
                link.display()
            ));
            lines.push(line);
        }
        Ok(Output::PerNode(lines))
    }

    /// Node `i`'s bytes at rack time `t`.
    fn write(&mut self, i: usize, t: u64, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Output::PerNode(lines) => match lines.get_mut(i) {
                // A pty nobody reads fills up; its bytes are lost, as on a real line.
                Some(line) => match line.write_all(bytes) {
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => Ok(()),
                    other => other,
                },
                None => Ok(()),
            },
            Output::Shared(line) => line.write_all(bytes),
            Output::Capture(w, start) => w
                .record(*start + t, bytes)
                .map_err(|e| std::io::Error::other(e.to_string())),
        }
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        match self {
            Output::Capture(w, _) => w.flush()?,
            Output::Shared(line) => line.flush()?,
            Output::PerNode(_) => {}
        }
        Ok(())
    }
}

/// The rack the flags describe; boot ids salted with the start time so each run's boots differ.
fn settings(args: &SimArgs, start_wall: u64) -> SimSettings {
    SimSettings {
        nodes: args.nodes,
        seed: args.seed,
        period_ms: u32::try_from(args.period.as_millis())
            .unwrap_or(u32::MAX)
            .max(1),
        onset_ms: args.onset.as_millis() as u64,
        scenarios: if args.scenario.is_empty() {
            Scenario::ALL.to_vec()
        } else {
            args.scenario.clone()
        },
        boot_salt: start_wall as u32,
    }
}

/// Waits, in steps of at most 200 ms, for rack time `t` at `speed`; `false` when the step ended
/// early (to look at Ctrl-C again) and `t` is not due yet.
fn wait_until_due(speed: f64, started: Instant, t: u64) -> bool {
    if speed <= 0.0 {
        return true;
    }
    let due = Duration::from_secs_f64(t as f64 / 1000.0 / speed);
    match due.checked_sub(started.elapsed()) {
        Some(wait) => {
            std::thread::sleep(wait.min(Duration::from_millis(200)));
            wait <= Duration::from_millis(200)
        }
        None => true,
    }
}

/// Runs the simulation until `--for` or Ctrl-C.
pub fn run(args: &SimArgs) -> anyhow::Result<()> {
    if !(args.speed >= 0.0 && args.speed.is_finite()) {
        anyhow::bail!("--speed must be 0 (as fast as possible) or a positive factor");
    }
    let start_wall = crate::source::now_ms();
    let mut rack = SimRack::new(&settings(args, start_wall));
    let mut output = Output::open(args, &rack, start_wall)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let end_ms = args.run_for.map(|d| d.as_millis() as u64);
    let started = Instant::now();
    let mut write_error = None;
    while !stop.load(Ordering::Relaxed) {
        let t = rack.next_due_ms();
        if end_ms.is_some_and(|end| t > end) {
            break;
        }
        if !wait_until_due(args.speed, started, t) {
            continue;
        }
        rack.step_to(t, |i, bytes| {
            if let Err(e) = output.write(i, t, bytes) {
                write_error.get_or_insert(e);
            }
        });
        if let Some(e) = write_error.take() {
            // A reader that went away (`sim | head -c 100`) ends the run quietly, in `main`.
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Err(e.into());
            }
            anyhow::bail!("the simulated line failed: {e}");
        }
    }
    output.flush()
}
