//! Sources: where node bytes come from, each on its own thread, each reconnecting on its own.
//!
//! A source is named on the command line or in the configuration as `KIND:ADDRESS`:
//!
//! | spec | what |
//! |---|---|
//! | `serial:/dev/ttyACM0@115200` (or a bare `/dev/...` path) | a serial port or pty; `@baud[,8N1]` optional |
//! | `tcp:HOST:PORT` | a TCP connection (a serial-to-network bridge, `socat`) |
//! | `unix:/run/rackwatch.sock` | a unix stream socket |
//! | `capture:FILE` (or a `.rwcap` path) | a capture made by `rackwatch record`, with its times |
//! | `raw:FILE` | raw line bytes (e.g. `cat /dev/ttyACM0 > FILE`), dated as [`raw`] explains |
//! | `-` or `stdin` | standard input |
//! | `local` | this machine: disks, memory, swap, load, pressure, network, processes, services |
//!
//! Invariants: a failing source never blocks or stops another; a live source (serial, TCP, unix)
//! reconnects with exponential backoff and jitter until stopped; finite sources (files, stdin) end with
//! [`SourceMsg::Finished`]. Each read is a chunk with the wall time it arrived, except a raw file's,
//! whose arrival times are unknown (see [`raw`]). A source that cannot be opened or read says so at
//! once: a warning and a [`SourceMsg::Failed`].

pub mod raw;

use crate::capture::CaptureReader;
use crate::local::{LocalNode, LocalSettings};
use rackwatch_core::hash::fnv1a64;
use rackwatch_core::rng::XorShift64Star;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    /// None.
    None,
    /// Even.
    Even,
    /// Odd.
    Odd,
}

/// Serial line settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    /// Device path.
    pub path: PathBuf,
    /// Baud rate.
    pub baud: u32,
    /// Data bits, 5 to 8.
    pub data_bits: u8,
    /// Parity.
    pub parity: Parity,
    /// Stop bits, 1 or 2.
    pub stop_bits: u8,
}

/// What a source reads.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A serial port or pty.
    Serial(SerialSettings),
    /// A TCP connection.
    Tcp(String),
    /// A unix stream socket.
    Unix(PathBuf),
    /// A capture file.
    Capture(PathBuf),
    /// A file of raw line bytes.
    Raw(PathBuf),
    /// Standard input.
    Stdin,
    /// This machine's own figures.
    Local(LocalSettings),
    /// Values pushed to the daemon's `POST /push` ([`crate::push`]): no thread of its own, the
    /// HTTP thread sends its messages.
    Push,
    /// The `[[probe]]` checks ([`crate::probe`]): their own threads, started by the daemon.
    Probes,
}

/// A named source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// The name in logs, counters and the store.
    pub name: String,
    /// What it reads.
    pub kind: SourceKind,
}

/// A source spec that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("source `{spec}`: {problem}")]
pub struct SourceSpecError {
    /// The spec as given.
    pub spec: String,
    /// What is wrong, and what would be right.
    pub problem: String,
}

fn parse_serial(spec: &str, rest: &str) -> Result<SerialSettings, SourceSpecError> {
    let err = |problem: String| SourceSpecError {
        spec: spec.to_string(),
        problem,
    };
    let (path, options) = rest.split_once('@').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(err(
            "no device path; write e.g. `serial:/dev/ttyACM0@115200`".into(),
        ));
    }
    let mut settings = SerialSettings {
        path: PathBuf::from(path),
        baud: 115_200,
        data_bits: 8,
        parity: Parity::None,
        stop_bits: 1,
    };
    if options.is_empty() {
        return Ok(settings);
    }
    let (baud, framing) = options.split_once(',').unwrap_or((options, ""));
    settings.baud = baud
        .parse()
        .ok()
        .filter(|&b| b > 0)
        .ok_or_else(|| err(format!("baud rate `{baud}` is not a positive number")))?;
    if !framing.is_empty() {
        let f: Vec<char> = framing.chars().collect();
        let [bits, parity, stop] = f[..] else {
            return Err(err(format!(
                "framing `{framing}` should be three characters like `8N1`"
            )));
        };
        settings.data_bits = match bits {
            '5'..='8' => bits as u8 - b'0',
            _ => return Err(err(format!("data bits `{bits}` must be 5 to 8"))),
        };
        settings.parity = match parity.to_ascii_uppercase() {
            'N' => Parity::None,
            'E' => Parity::Even,
            'O' => Parity::Odd,
            _ => return Err(err(format!("parity `{parity}` must be N, E or O"))),
        };
        settings.stop_bits = match stop {
            '1' => 1,
            '2' => 2,
            _ => return Err(err(format!("stop bits `{stop}` must be 1 or 2"))),
        };
    }
    Ok(settings)
}

impl std::str::FromStr for SourceSpec {
    type Err = SourceSpecError;

    fn from_str(spec: &str) -> Result<SourceSpec, SourceSpecError> {
        let err = |problem: &str| SourceSpecError {
            spec: spec.to_string(),
            problem: problem.to_string(),
        };
        let (kind, name) = if spec == "-" || spec == "stdin" {
            (SourceKind::Stdin, "stdin".to_string())
        } else if spec == "local" {
            (
                SourceKind::Local(LocalSettings::default()),
                "local".to_string(),
            )
        } else if let Some(rest) = spec.strip_prefix("serial:") {
            let s = parse_serial(spec, rest)?;
            let name = file_name(&s.path);
            (SourceKind::Serial(s), name)
        } else if spec.starts_with("/dev/") {
            let s = parse_serial(spec, spec)?;
            let name = file_name(&s.path);
            (SourceKind::Serial(s), name)
        } else if let Some(addr) = spec.strip_prefix("tcp:") {
            if !addr.contains(':') {
                return Err(err("write the address as `tcp:HOST:PORT`"));
            }
            (SourceKind::Tcp(addr.to_string()), format!("tcp:{addr}"))
        } else if let Some(path) = spec.strip_prefix("unix:") {
            (SourceKind::Unix(path.into()), format!("unix:{path}"))
        } else if let Some(path) = spec.strip_prefix("capture:") {
            (SourceKind::Capture(path.into()), file_name(path.as_ref()))
        } else if let Some(path) = spec.strip_prefix("raw:") {
            (SourceKind::Raw(path.into()), file_name(path.as_ref()))
        } else if spec.ends_with(".rwcap") {
            (SourceKind::Capture(spec.into()), file_name(spec.as_ref()))
        } else {
            return Err(err(
                "unknown source; use serial:PATH[@BAUD[,8N1]], tcp:HOST:PORT, unix:PATH, \
                 capture:FILE, raw:FILE, - (stdin) or local",
            ));
        };
        Ok(SourceSpec { name, kind })
    }
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// What a source thread reports.
#[derive(Debug)]
pub enum SourceMsg {
    /// Connected (or opened).
    Connected {
        /// Source index.
        source: usize,
    },
    /// A chunk of bytes.
    Bytes {
        /// Source index.
        source: usize,
        /// When it arrived (wall ms), or was recorded.
        wall_ms: u64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The connection failed or closed; a live source will try again.
    Disconnected {
        /// Source index.
        source: usize,
        /// Why, for the log.
        reason: String,
    },
    /// The source could not be opened or read: a missing device, a refused connection, a file that
    /// is not what it claims. A live source tries again; a finite one then finishes.
    Failed {
        /// Source index.
        source: usize,
        /// What failed and what to do about it, for the log and `/state`.
        reason: String,
    },
    /// Something that happened to a node the source speaks for, in words the wire cannot carry
    /// (a probe's failure reason, [`crate::probe`]); it goes to the sinks as it is.
    NodeEvent {
        /// Source index.
        source: usize,
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it happened.
        wall_ms: u64,
        /// What happened.
        kind: crate::ingest::NodeEventKind,
    },
    /// A finite source has delivered everything.
    Finished {
        /// Source index.
        source: usize,
    },
}

/// Reconnection delays: exponential from `initial` to `max`, each with ±25 % jitter so that many
/// sources failing together do not retry in lockstep.
///
/// The default cap is 1.5 s: with the jitter the longest wait is 1.875 s, so a device plugged back
/// is opened again within 2 s (a node's line has no buffer: every second waited is data lost), and
/// one failed `open` every second and a half is no load worth backing off further from.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// The first delay.
    pub initial: Duration,
    /// The largest delay.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(200),
            max: Duration::from_millis(1_500),
        }
    }
}

impl Backoff {
    /// The delay after `delay`: doubled, up to the cap.
    pub fn next(&self, delay: Duration) -> Duration {
        (delay * 2).min(self.max)
    }

    /// `delay` with ±25 % jitter drawn from `rng`.
    pub fn jittered(&self, delay: Duration, rng: &mut XorShift64Star) -> Duration {
        delay.mul_f64(0.75 + 0.5 * rng.uniform())
    }
}

/// Wall-clock milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Sleeps up to `total`, returning early when `stop` is set. Returns whether to go on.
fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) -> bool {
    let until = Instant::now() + total;
    while Instant::now() < until {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
    }
    !stop.load(Ordering::Relaxed)
}

/// Starts a source's thread. It sends to `tx` until `stop` is set or the receiver is gone.
pub fn spawn(
    index: usize,
    spec: SourceSpec,
    tx: SyncSender<SourceMsg>,
    stop: Arc<AtomicBool>,
    backoff: Backoff,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("source {}", spec.name))
        .spawn(move || run(index, spec, tx, stop, backoff))
}

/// A connection's byte stream.
type Stream = Box<dyn Read + Send>;

fn connect(kind: &SourceKind) -> Result<Stream, String> {
    const READ_TIMEOUT: Duration = Duration::from_millis(200);
    match kind {
        SourceKind::Serial(s) => {
            let port = serialport::new(s.path.to_string_lossy(), s.baud)
                .data_bits(match s.data_bits {
                    5 => serialport::DataBits::Five,
                    6 => serialport::DataBits::Six,
                    7 => serialport::DataBits::Seven,
                    _ => serialport::DataBits::Eight,
                })
                .parity(match s.parity {
                    Parity::None => serialport::Parity::None,
                    Parity::Even => serialport::Parity::Even,
                    Parity::Odd => serialport::Parity::Odd,
                })
                .stop_bits(if s.stop_bits == 2 {
                    serialport::StopBits::Two
                } else {
                    serialport::StopBits::One
                })
                .timeout(READ_TIMEOUT)
                .open()
                .map_err(|e| format!("cannot open {}: {e}", s.path.display()))?;
            Ok(Box::new(port))
        }
        SourceKind::Tcp(addr) => {
            let stream = std::net::TcpStream::connect(addr)
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            stream
                .set_read_timeout(Some(READ_TIMEOUT))
                .map_err(|e| e.to_string())?;
            Ok(Box::new(stream))
        }
        SourceKind::Unix(path) => {
            let stream = std::os::unix::net::UnixStream::connect(path)
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
            stream
                .set_read_timeout(Some(READ_TIMEOUT))
                .map_err(|e| e.to_string())?;
            Ok(Box::new(stream))
        }
        SourceKind::Raw(path) => std::fs::File::open(path)
            .map(|f| Box::new(f) as Stream)
            .map_err(|e| format!("cannot open {}: {e}", path.display())),
        SourceKind::Stdin => Ok(Box::new(std::io::stdin())),
        SourceKind::Capture(_) | SourceKind::Local(_) | SourceKind::Push | SourceKind::Probes => {
            Err("not a byte stream".into())
        }
    }
}

fn run(
    index: usize,
    spec: SourceSpec,
    tx: SyncSender<SourceMsg>,
    stop: Arc<AtomicBool>,
    backoff: Backoff,
) {
    let send = |msg| tx.send(msg).is_ok();
    match &spec.kind {
        SourceKind::Capture(path) => replay_capture(index, &spec.name, path, &send, &stop),
        SourceKind::Local(settings) => sample_local(index, settings, &send, &stop),
        // The HTTP thread sends pushes' messages itself.
        SourceKind::Push => {}
        // The daemon starts the probes' threads ([`crate::probe::start`]).
        SourceKind::Probes => {}
        _ => read_stream(index, &spec, &send, &stop, backoff),
    }
}

/// Sends the records of a capture file with their recorded times, then [`SourceMsg::Finished`].
/// An unreadable file or record is a [`SourceMsg::Failed`] (and a warning) first.
fn replay_capture(
    index: usize,
    name: &str,
    path: &Path,
    send: &impl Fn(SourceMsg) -> bool,
    stop: &AtomicBool,
) {
    let fail = |reason: String| {
        tracing::warn!(source = name, "{reason}");
        send(SourceMsg::Failed {
            source: index,
            reason,
        })
    };
    match CaptureReader::open(path) {
        Ok(reader) => {
            send(SourceMsg::Connected { source: index });
            for record in reader {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let sent = match record {
                    Ok((wall_ms, bytes)) => send(SourceMsg::Bytes {
                        source: index,
                        wall_ms,
                        bytes,
                    }),
                    Err(e) => fail(e.to_string()),
                };
                if !sent {
                    return;
                }
            }
        }
        Err(e) => {
            fail(e.to_string());
        }
    }
    send(SourceMsg::Finished { source: index });
}

/// Samples this machine every `settings.interval` until stopped.
fn sample_local(
    index: usize,
    settings: &LocalSettings,
    send: &impl Fn(SourceMsg) -> bool,
    stop: &AtomicBool,
) {
    let mut node = LocalNode::new(settings.clone());
    send(SourceMsg::Connected { source: index });
    loop {
        let wall_ms = now_ms();
        let bytes = node.sample(wall_ms);
        if !send(SourceMsg::Bytes {
            source: index,
            wall_ms,
            bytes,
        }) {
            return;
        }
        if !sleep_unless_stopped(settings.interval, stop) {
            return;
        }
    }
}

/// A byte stream's connections: a finite one (file, stdin) is read once; a live one reconnects
/// with jittered exponential backoff until stopped.
fn read_stream(
    index: usize,
    spec: &SourceSpec,
    send: &impl Fn(SourceMsg) -> bool,
    stop: &AtomicBool,
    backoff: Backoff,
) {
    let finite = matches!(spec.kind, SourceKind::Raw(_) | SourceKind::Stdin);
    // Seeded by name and time, so sources that fail together (and daemons started together) spread
    // their retries apart.
    let mut jitter = XorShift64Star::new(fnv1a64(spec.name.as_bytes()) ^ now_ms());
    let mut delay = backoff.initial;
    let mut buf = vec![0u8; 64 * 1024];
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        match connect(&spec.kind) {
            Ok(stream) => {
                failing = false;
                tracing::info!(source = spec.name, "connected");
                if !send(SourceMsg::Connected { source: index }) {
                    return;
                }
                let stamp = match raw::stamp(&spec.kind) {
                    Ok(stamp) => stamp,
                    Err(reason) => {
                        tracing::warn!(source = spec.name, "{reason}");
                        send(SourceMsg::Failed {
                            source: index,
                            reason,
                        });
                        send(SourceMsg::Finished { source: index });
                        return;
                    }
                };
                let Some(ended) = pump(index, stream, stamp, &mut buf, send, stop) else {
                    return;
                };
                if finite {
                    if ended.failed {
                        tracing::warn!(source = spec.name, "read failed: {}", ended.reason);
                        send(SourceMsg::Failed {
                            source: index,
                            reason: format!("read failed: {}", ended.reason),
                        });
                    }
                    send(SourceMsg::Finished { source: index });
                    return;
                }
                if ended.data_flowed {
                    delay = backoff.initial;
                }
                tracing::warn!(source = spec.name, "disconnected: {}", ended.reason);
                if !send(SourceMsg::Disconnected {
                    source: index,
                    reason: ended.reason,
                }) {
                    return;
                }
            }
            Err(reason) => {
                // The first failure of a run of them is a warning; the retries that follow are
                // counted in `/state` but not logged again, or a missing device fills the log.
                if finite || !failing {
                    tracing::warn!(
                        source = spec.name,
                        "{reason}; {}",
                        if finite {
                            "check the path; nothing was read from it"
                        } else {
                            "retrying until it appears (check the device or address)"
                        }
                    );
                } else {
                    tracing::debug!(source = spec.name, "{reason}; retrying");
                }
                failing = true;
                if !send(SourceMsg::Failed {
                    source: index,
                    reason,
                }) {
                    return;
                }
                if finite {
                    send(SourceMsg::Finished { source: index });
                    return;
                }
            }
        }
        if !sleep_unless_stopped(backoff.jittered(delay, &mut jitter), stop) {
            return;
        }
        delay = backoff.next(delay);
    }
}

/// How a connection ended.
struct Ended {
    /// Why, for the log.
    reason: String,
    /// Whether any bytes came: then the next failure starts the backoff afresh.
    data_flowed: bool,
    /// A read error ended it, not the end of the stream.
    failed: bool,
}

/// Forwards a connection's bytes until it ends, each chunk stamped with the time it arrived or with
/// `stamp`. `None` when the thread should end instead: `stop` was set or the receiver is gone.
fn pump(
    index: usize,
    mut stream: Stream,
    stamp: Option<u64>,
    buf: &mut [u8],
    send: &impl Fn(SourceMsg) -> bool,
    stop: &AtomicBool,
) -> Option<Ended> {
    let mut data_flowed = false;
    let (reason, failed) = loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        match stream.read(buf) {
            Ok(0) => break ("end of stream".to_string(), false),
            Ok(n) => {
                data_flowed = true;
                if !send(SourceMsg::Bytes {
                    source: index,
                    wall_ms: stamp.unwrap_or_else(now_ms),
                    bytes: buf[..n].to_vec(),
                }) {
                    return None;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => break (e.to_string(), true),
        }
    };
    Some(Ended {
        reason,
        data_flowed,
        failed,
    })
}

#[cfg(test)]
mod tests;
