//! `rackwatch sim`: simulated rack nodes (the real firmware application with simulated sensors)
//! on ptys, on one stream, or into a capture, in rack time at any speed.

use crate::capture::CaptureWriter;
use crate::config::parse_duration;
use crate::line_out::LineOut;
use crate::sim::{SimRack, SimSettings};
use clap::Args;
use rackwatch_firmware::sim::Scenario;
use std::io::Write;
use std::path::PathBuf;
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

enum Output {
    PerNode(Vec<LineOut>),
    Shared(LineOut),
    Capture(CaptureWriter, u64),
}

/// Runs the simulation until `--for` or Ctrl-C.
pub fn run(args: &SimArgs) -> anyhow::Result<()> {
    if !(args.speed >= 0.0 && args.speed.is_finite()) {
        anyhow::bail!("--speed must be 0 (as fast as possible) or a positive factor");
    }
    let start_wall = crate::source::now_ms();
    let settings = SimSettings {
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
    };
    let mut rack = SimRack::new(&settings);
    let mut output = if let Some(dir) = &args.pty_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let mut lines = Vec::new();
        for (i, node) in rack.nodes().iter().enumerate() {
            let id = node.config().node_id;
            let link = dir.join(format!("node-{id}"));
            // A reader that falls behind for a whole second drops bytes: a UART does not wait.
            let line = LineOut::pty(Some(&link), Duration::from_secs(1))?;
            eprintln!(
                "node {id} ({}) on {}",
                rack.scenario(i).map_or("", |s| s.name()),
                link.display()
            );
            lines.push(line);
        }
        Output::PerNode(lines)
    } else {
        match args.to.as_deref().unwrap_or("-") {
            spec if spec.starts_with("capture:") => {
                let path = PathBuf::from(&spec["capture:".len()..]);
                Output::Capture(CaptureWriter::create(&path, "sim")?, start_wall)
            }
            spec => {
                let line = LineOut::open(spec)
                    .map_err(|e| anyhow::anyhow!("cannot open `{spec}`: {e}"))?;
                if let Some(path) = line.path() {
                    eprintln!("{} nodes on {}", args.nodes, path.display());
                }
                Output::Shared(line)
            }
        }
    };
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
        if args.speed > 0.0 {
            let due = Duration::from_secs_f64(t as f64 / 1000.0 / args.speed);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait.min(Duration::from_millis(200)));
                if wait > Duration::from_millis(200) {
                    continue;
                }
            }
        }
        rack.step_to(t, |i, bytes| {
            let result = match &mut output {
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
            };
            if let Err(e) = result {
                write_error.get_or_insert(e);
            }
        });
        if let Some(e) = write_error.take() {
            anyhow::bail!("the simulated line failed: {e}");
        }
    }
    match &mut output {
        Output::Capture(w, _) => w.flush()?,
        Output::Shared(line) => line.flush()?,
        Output::PerNode(_) => {}
    }
    Ok(())
}
