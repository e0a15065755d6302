//! The `local` source: this machine as a node. Disk usage per mount, memory in use, load and the RSS
//! of named processes become readings of a node like any board's, framed in the rackwatch wire
//! format, so the slow disk fill and the leaking service are watched with no board at all.
//!
//! Linux: the figures come from `statvfs`, `/proc/meminfo`, `/proc/loadavg` and `/proc/<pid>/`.
//! A figure that cannot be read (a mount gone, a process not running) is skipped for that sample and
//! counted as a sensor error in the heartbeat; it never stops the source.

use rackwatch_core::alert::{Horizon, MissingData, Predictive, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN, MAX_METRICS,
    MAX_NAME_LEN,
};
use std::path::PathBuf;
use std::time::Duration;

/// What the local source watches.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    /// The node id this machine reports as.
    pub node_id: u16,
    /// Time between samples.
    pub interval: Duration,
    /// Mount points whose usage is watched.
    pub mounts: Vec<PathBuf>,
    /// Process names (as in `/proc/<pid>/comm`) whose total RSS is watched.
    pub processes: Vec<String>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            node_id: 0xFFFF,
            interval: Duration::from_secs(10),
            mounts: vec![PathBuf::from("/")],
            processes: Vec::new(),
        }
    }
}

/// One local figure.
#[derive(Debug, Clone)]
enum Figure {
    DiskUsedPercent(PathBuf),
    MemoryUsedPercent,
    Load1,
    ProcessRssMib(String),
}

/// A name of at most [`MAX_NAME_LEN`] bytes: `prefix` and the end of `what`.
fn metric_name(prefix: &str, what: &str) -> String {
    let room = MAX_NAME_LEN.saturating_sub(prefix.len());
    let mut start = what.len().saturating_sub(room);
    while !what.is_char_boundary(start) {
        start += 1;
    }
    format!("{prefix}{}", &what[start..])
}

/// Warn when the forecast reaches `threshold` within `warn_h` hours, critical within `crit_h`;
/// WARNING and CRITICAL above `warning` and `threshold`; UNKNOWN after three missed samples.
fn filling_rule(
    warning: f32,
    threshold: f32,
    warn_h: u32,
    crit_h: u32,
    interval: Duration,
) -> Rule {
    let hour = 3_600_000;
    let mut rule = Rule::above(warning, threshold);
    rule.predictive = Some(Predictive {
        threshold,
        crossing: Crossing::Above,
        warning: Some(Horizon {
            within_ms: warn_h * hour,
            clear_beyond_ms: warn_h * hour * 3 / 2,
        }),
        critical: Some(Horizon {
            within_ms: crit_h * hour,
            clear_beyond_ms: crit_h * hour * 3 / 2,
        }),
        policy: EtaPolicy::DEFAULT,
        keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
    });
    rule.missing = MissingData::unknown_after(missed(interval));
    rule
}

fn missed(interval: Duration) -> u32 {
    u32::try_from(interval.as_millis().saturating_mul(3)).unwrap_or(u32::MAX)
}

impl Figure {
    fn spec(&self, id: u16, interval: Duration) -> Option<MetricSpec> {
        let (name, unit, rule, anomaly) = match self {
            Figure::DiskUsedPercent(mount) => (
                metric_name("disk:", &mount.to_string_lossy()),
                "%",
                filling_rule(90.0, 95.0, 24, 4, interval),
                AnomalyConfig::with_limits(Some(0.0), Some(100.0), None),
            ),
            Figure::MemoryUsedPercent => (
                "memory_used".to_string(),
                "%",
                filling_rule(90.0, 95.0, 2, 1, interval),
                AnomalyConfig::with_limits(Some(0.0), Some(100.0), None),
            ),
            Figure::Load1 => (
                "load1".to_string(),
                "",
                Rule {
                    missing: MissingData::unknown_after(missed(interval)),
                    ..Rule::EMPTY
                },
                AnomalyConfig::with_limits(Some(0.0), None, None),
            ),
            Figure::ProcessRssMib(name) => (
                metric_name("rss:", name),
                "MiB",
                Rule {
                    missing: MissingData::unknown_after(missed(interval)),
                    ..Rule::EMPTY
                },
                AnomalyConfig::with_limits(Some(0.0), None, None),
            ),
        };
        MetricSpec::new(id, &name, unit, rule, anomaly).ok()
    }

    fn read(&self) -> Option<f32> {
        match self {
            Figure::DiskUsedPercent(mount) => {
                let s = rustix::fs::statvfs(mount).ok()?;
                let total = s.f_blocks as f64;
                let free = s.f_bavail as f64;
                // `used / (used + available)` as df shows it: reserved blocks are not available.
                let used = total - s.f_bfree as f64;
                (total > 0.0).then(|| (100.0 * used / (used + free)) as f32)
            }
            Figure::MemoryUsedPercent => {
                let info = std::fs::read_to_string("/proc/meminfo").ok()?;
                let field = |key: &str| -> Option<f64> {
                    info.lines()
                        .find_map(|l| l.strip_prefix(key))?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                };
                let total = field("MemTotal:")?;
                let available = field("MemAvailable:")?;
                (total > 0.0).then(|| (100.0 * (1.0 - available / total)) as f32)
            }
            Figure::Load1 => std::fs::read_to_string("/proc/loadavg")
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok(),
            Figure::ProcessRssMib(name) => process_rss_kib(name).map(|kib| (kib / 1024.0) as f32),
        }
    }
}

/// Total RSS of the processes named `name`, in KiB; `None` when none runs.
fn process_rss_kib(name: &str) -> Option<f64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(path.join("status")) else {
            continue;
        };
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok());
        if let Some(rss) = rss {
            *total.get_or_insert(0.0) += rss;
        }
    }
    total
}

/// This machine as a node: it frames its own figures.
pub struct LocalNode {
    settings: LocalSettings,
    figures: Vec<Figure>,
    boot_id: u32,
    seq: u16,
    started_ms: Option<u64>,
    frames_sent: u32,
    sensor_errors: u32,
}

impl LocalNode {
    /// A node for `settings`, with a fresh boot id.
    pub fn new(settings: LocalSettings) -> LocalNode {
        let mut figures: Vec<Figure> = settings
            .mounts
            .iter()
            .cloned()
            .map(Figure::DiskUsedPercent)
            .collect();
        figures.push(Figure::MemoryUsedPercent);
        figures.push(Figure::Load1);
        figures.extend(
            settings
                .processes
                .iter()
                .cloned()
                .map(Figure::ProcessRssMib),
        );
        figures.truncate(MAX_METRICS);
        let seed = std::process::id() as u64 ^ crate::source::now_ms();
        LocalNode {
            settings,
            figures,
            boot_id: (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32,
            seq: 0,
            started_ms: None,
            frames_sent: 0,
            sensor_errors: 0,
        }
    }

    fn frame(&mut self, body: Body, out: &mut Vec<u8>) {
        let frame = Frame {
            header: Header {
                node_id: self.settings.node_id,
                boot_id: self.boot_id,
                seq: self.seq,
            },
            body,
        };
        let mut buf = [0u8; MAX_ENCODED_LEN];
        if let Ok(n) = frame.encode(&mut buf) {
            out.extend_from_slice(&buf[..n]);
            self.seq = self.seq.wrapping_add(1);
            self.frames_sent = self.frames_sent.wrapping_add(1);
        }
    }

    /// One sample at `wall_ms`: the line bytes of its frames (Hello and Metric frames first).
    pub fn sample(&mut self, wall_ms: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let started = *self.started_ms.get_or_insert(wall_ms);
        let uptime_ms = wall_ms.saturating_sub(started);
        if self.seq == 0 {
            let mut hello = Hello::new(
                heapless::String::try_from(env!("CARGO_PKG_VERSION")).unwrap_or_default(),
            );
            let specs: Vec<MetricSpec> = (0u16..)
                .zip(&self.figures)
                .filter_map(|(id, f)| f.spec(id, self.settings.interval))
                .collect();
            for spec in &specs {
                let _ = hello.metrics.push(spec.descriptor());
            }
            self.frame(Body::Hello(hello), &mut out);
            for spec in specs {
                self.frame(Body::Metric(spec), &mut out);
            }
        }
        let mut readings = Readings::new();
        for (id, figure) in (0u16..).zip(self.figures.clone()) {
            match figure.read() {
                Some(value) if value.is_finite() => {
                    let _ = readings.push(id, uptime_ms, value);
                }
                _ => self.sensor_errors = self.sensor_errors.wrapping_add(1),
            }
        }
        if !readings.is_empty() {
            self.frame(Body::Readings(readings), &mut out);
        }
        let heartbeat = Heartbeat {
            uptime_ms,
            reset: ResetReason::Software,
            frames_sent: self.frames_sent,
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: self.sensor_errors,
        };
        self.frame(Body::Heartbeat(heartbeat), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackwatch_core::wire::Decoder;

    #[test]
    fn the_local_node_frames_its_figures_like_a_board() {
        let mut node = LocalNode::new(LocalSettings {
            processes: vec!["no-such-process-rw".into()],
            ..LocalSettings::default()
        });
        let mut decoder: Decoder<MAX_ENCODED_LEN> = Decoder::new();
        let first: Vec<_> = decoder
            .feed(&node.sample(1000))
            .collect::<Result<_, _>>()
            .unwrap();
        let kinds: Vec<_> = first.iter().map(|f| f.body.kind()).collect();
        use rackwatch_core::wire::Kind;
        assert_eq!(kinds[0], Kind::Hello);
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Metric).count(), 4);
        let Body::Readings(r) = &first[first.len() - 2].body else {
            panic!("readings before the heartbeat")
        };
        // Disk, memory and load are readable here; the absent process is a sensor error.
        assert_eq!(r.len(), 3);
        for (_, _, v) in r.iter() {
            assert!(v.is_finite() && v >= 0.0);
        }
        let Body::Heartbeat(h) = first.last().unwrap().body else {
            panic!()
        };
        assert_eq!(h.sensor_errors, 1);
        let second: Vec<_> = decoder
            .feed(&node.sample(11_000))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(second.len(), 2, "no Hello after the first sample");
        assert_eq!(second[0].header.seq, first.last().unwrap().header.seq + 1);
    }

    #[test]
    fn long_names_keep_their_end() {
        let name = metric_name("disk:", "/var/lib/postgresql/16/main");
        assert!(name.len() <= MAX_NAME_LEN);
        assert!(
            name.starts_with("disk:") && name.ends_with("16/main"),
            "{name}"
        );
    }
}
