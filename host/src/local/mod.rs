//! The `local` source: this machine as a few nodes. Its disks, memory, swap, load, pressure,
//! network errors, the daemon's file descriptors, the RSS of named processes and the
//! `[[service]]`s become readings of nodes like any board's, framed in the rackwatch wire format,
//! so the slow disk fill and the leaking service are watched with no board at all
//! (`docs/host-metrics.md` lists every figure, its name and its default rule).
//!
//! A node carries at most [`MAX_METRICS`] metrics, so the figures are spread over nodes whose ids
//! count down from `node_id` ([`LocalSettings::node_ids`]):
//!
//! | id | name (its Hello) | metrics |
//! |---|---|---|
//! | `node_id` | `local` | memory, swap, load, pressure, network, file descriptors, OOM kills |
//! | `node_id − 1` … `− 4` | `local-disks`, `local-disks-2`, … | `disk:<mount>` and `inodes:<mount>`, eight mounts a node |
//! | `node_id − 5` | `local-procs` | `rss:<name>` per `local.processes` entry |
//! | `node_id − 6 − i` | the service's name | the `i`-th `[[service]]`'s six metrics |
//!
//! Invariants: the ids of nodes and metrics depend only on the settings and the mounts found at
//! start (sorted), so a restart with the same mounts keeps every series where it was; a node without
//! figures (no processes, fewer mounts) sends nothing; a figure that cannot be read is skipped for
//! that sample and counted as a sensor error in its node's heartbeat, and never stops the source.

pub mod events;
pub mod host;
pub mod mounts;
pub mod rule;
pub mod service;

pub use rule::FillRule;
pub use service::{ServiceSpec, Target};

use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN, MAX_METRICS,
    MAX_NAME_LEN,
};
use std::path::PathBuf;
use std::time::Duration;

/// How many disk nodes are set aside: the most mounts watched is this times [`MOUNTS_PER_NODE`].
pub const DISK_NODES: u16 = 4;
/// Mounts per disk node (two metrics each).
pub const MOUNTS_PER_NODE: usize = MAX_METRICS / 2;
/// The most mounts watched.
pub const MAX_MOUNTS: usize = DISK_NODES as usize * MOUNTS_PER_NODE;
/// The most `[[service]]` entries.
pub const MAX_SERVICES: usize = 64;
/// The first service node is this far below `node_id`.
const FIRST_SERVICE_OFFSET: u16 = DISK_NODES + 2;

/// What the local source watches.
#[derive(Debug, Clone, PartialEq)]
pub struct LocalSettings {
    /// The node id this machine reports as; the other local nodes count down from it.
    pub node_id: u16,
    /// Time between samples.
    pub interval: Duration,
    /// Mount points whose usage is watched; `None`: every real mount found at start.
    pub mounts: Option<Vec<PathBuf>>,
    /// When a disk (its space or its inodes) is a problem.
    pub disk: FillRule,
    /// Process names (as in `/proc/<pid>/comm`) whose total RSS is watched.
    pub processes: Vec<String>,
    /// The `[[service]]`s.
    pub services: Vec<ServiceSpec>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            node_id: 0xFFFF,
            interval: Duration::from_secs(10),
            mounts: None,
            disk: FillRule::DISK,
            processes: Vec::new(),
            services: Vec::new(),
        }
    }
}

impl LocalSettings {
    /// The lowest and highest node id these settings use, or `None` when they would go below 0.
    pub fn node_ids(&self) -> Option<(u16, u16)> {
        let services = u16::try_from(self.services.len()).ok()?;
        let below = match services {
            0 => DISK_NODES + 1,
            n => FIRST_SERVICE_OFFSET.checked_add(n - 1)?,
        };
        Some((self.node_id.checked_sub(below)?, self.node_id))
    }

    /// The mounts watched: the configured ones, else the real ones now; at most [`MAX_MOUNTS`].
    fn mounts_now(&self) -> Vec<PathBuf> {
        let mut mounts = self.mounts.clone().unwrap_or_else(mounts::discover);
        if mounts.len() > MAX_MOUNTS {
            tracing::warn!(
                "{} mounts found; the first {MAX_MOUNTS} are watched (name the ones that matter \
                 in local.mounts)",
                mounts.len()
            );
            mounts.truncate(MAX_MOUNTS);
        }
        mounts
    }
}

/// One figure's sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampled {
    /// A value.
    Value(f32),
    /// Nothing to report yet (a rate's first sample, a stopped service's memory): no error.
    Pending,
    /// It could not be read: a sensor error.
    Failed,
}

/// A figure of a disk node.
#[derive(Debug, Clone)]
enum DiskFigure {
    Space(PathBuf),
    Inodes(PathBuf),
}

impl DiskFigure {
    fn read(&self) -> Option<f32> {
        let (Self::Space(mount) | Self::Inodes(mount)) = self;
        let s = rustix::fs::statvfs(mount).ok()?;
        // `used / (used + available)` as df shows it: blocks reserved for root are not available.
        let (total, free, available) = match self {
            Self::Space(_) => (s.f_blocks, s.f_bfree, s.f_bavail),
            Self::Inodes(_) => (s.f_files, s.f_ffree, s.f_favail),
        };
        let used = total.saturating_sub(free) as f64;
        let room = used + available as f64;
        // A file system without inodes (btrfs reports none) is never full of them.
        Some(if total == 0 || room <= 0.0 {
            0.0
        } else {
            (100.0 * used / room) as f32
        })
    }
}

/// What one node of the local source frames.
#[derive(Debug, Clone)]
enum Panel {
    Host(Vec<host::HostFigure>),
    Disks(Vec<DiskFigure>),
    Processes(Vec<String>),
    Service(Box<service::ServiceWatch>),
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

impl Panel {
    fn len(&self) -> usize {
        match self {
            Panel::Host(f) => f.len(),
            Panel::Disks(f) => f.len(),
            Panel::Processes(p) => p.len(),
            Panel::Service(_) => service::METRICS.len(),
        }
    }

    fn specs(&self, settings: &LocalSettings) -> Vec<MetricSpec> {
        let interval = settings.interval;
        let (percent, positive) = (rule::PERCENT, rule::POSITIVE);
        let described: Vec<_> = match self {
            Panel::Host(figures) => figures.iter().map(|f| f.describe(interval)).collect(),
            Panel::Disks(figures) => figures
                .iter()
                .map(|f| {
                    let (prefix, mount) = match f {
                        DiskFigure::Space(m) => ("disk:", m),
                        DiskFigure::Inodes(m) => ("inodes:", m),
                    };
                    let name = metric_name(prefix, &mount.to_string_lossy());
                    (name, "%", settings.disk.rule(interval), percent)
                })
                .collect(),
            Panel::Processes(names) => names
                .iter()
                .map(|n| {
                    (
                        metric_name("rss:", n),
                        "MiB",
                        rule::observed(interval),
                        positive,
                    )
                })
                .collect(),
            Panel::Service(watch) => (0..service::METRICS.len())
                .map(|id| watch.spec().describe(id, interval))
                .collect(),
        };
        (0u16..)
            .zip(described)
            .filter_map(|(id, (name, unit, rule, anomaly))| {
                MetricSpec::new(id, &name, unit, rule, anomaly).ok()
            })
            .collect()
    }

    fn read(&mut self, wall_ms: u64) -> Vec<Sampled> {
        let or_failed = |v: Option<f32>| v.map_or(Sampled::Failed, Sampled::Value);
        match self {
            Panel::Host(figures) => figures.iter_mut().map(|f| f.read(wall_ms)).collect(),
            Panel::Disks(figures) => figures.iter().map(|f| or_failed(f.read())).collect(),
            Panel::Processes(names) => names
                .iter()
                .map(|n| or_failed(process_rss_kib(n).map(|kib| (kib / 1024.0) as f32)))
                .collect(),
            Panel::Service(watch) => watch.read(wall_ms),
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

/// One node of the local source on the wire.
struct LocalPanel {
    node_id: u16,
    name: String,
    panel: Panel,
    seq: u16,
    frames_sent: u32,
    sensor_errors: u32,
}

/// This machine as nodes: it frames its own figures.
pub struct LocalNode {
    settings: LocalSettings,
    panels: Vec<LocalPanel>,
    boot_id: u32,
    started_ms: Option<u64>,
}

impl LocalNode {
    /// The nodes for `settings` (mounts found now), with a fresh boot id.
    pub fn new(settings: LocalSettings) -> LocalNode {
        let mut panels = vec![(0, "local".to_string(), Panel::Host(host::figures()))];
        let mounts = settings.mounts_now();
        for (k, chunk) in (0u16..).zip(mounts.chunks(MOUNTS_PER_NODE)) {
            let figures = chunk
                .iter()
                .flat_map(|m| [DiskFigure::Space(m.clone()), DiskFigure::Inodes(m.clone())])
                .collect();
            let name = if k == 0 {
                "local-disks".into()
            } else {
                format!("local-disks-{}", k + 1)
            };
            panels.push((1 + k, name, Panel::Disks(figures)));
        }
        let mut processes = settings.processes.clone();
        processes.truncate(MAX_METRICS);
        panels.push((
            DISK_NODES + 1,
            "local-procs".into(),
            Panel::Processes(processes),
        ));
        for (i, spec) in (0u16..).zip(&settings.services) {
            let watch = Box::new(service::ServiceWatch::new(spec.clone()));
            panels.push((
                FIRST_SERVICE_OFFSET + i,
                spec.name.clone(),
                Panel::Service(watch),
            ));
        }
        let panels = panels
            .into_iter()
            .filter(|(_, _, panel)| panel.len() > 0)
            .filter_map(|(offset, name, panel)| {
                Some(LocalPanel {
                    node_id: settings.node_id.checked_sub(offset)?,
                    name,
                    panel,
                    seq: 0,
                    frames_sent: 0,
                    sensor_errors: 0,
                })
            })
            .collect();
        let seed = std::process::id() as u64 ^ crate::source::now_ms();
        LocalNode {
            settings,
            panels,
            boot_id: (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as u32,
            started_ms: None,
        }
    }

    /// One sample at `wall_ms`: the line bytes of every node's frames (Hello and Metric frames
    /// first).
    pub fn sample(&mut self, wall_ms: u64) -> Vec<u8> {
        let started = *self.started_ms.get_or_insert(wall_ms);
        let uptime_ms = wall_ms.saturating_sub(started);
        let mut out = Vec::new();
        for panel in &mut self.panels {
            panel.sample(&self.settings, self.boot_id, wall_ms, uptime_ms, &mut out);
        }
        out
    }
}

impl LocalPanel {
    fn frame(&mut self, boot_id: u32, body: Body, out: &mut Vec<u8>) {
        let frame = Frame {
            header: Header {
                node_id: self.node_id,
                boot_id,
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

    fn sample(
        &mut self,
        settings: &LocalSettings,
        boot_id: u32,
        wall_ms: u64,
        uptime_ms: u64,
        out: &mut Vec<u8>,
    ) {
        if self.seq == 0 {
            // The node's name stands where a board announces its firmware version, as a pushed
            // virtual node's does.
            let mut hello =
                Hello::new(heapless::String::try_from(self.name.as_str()).unwrap_or_default());
            let specs = self.panel.specs(settings);
            for spec in &specs {
                let _ = hello.metrics.push(spec.descriptor());
            }
            self.frame(boot_id, Body::Hello(hello), out);
            for spec in specs {
                self.frame(boot_id, Body::Metric(spec), out);
            }
        }
        let mut readings = Readings::new();
        for (id, sampled) in (0u16..).zip(self.panel.read(wall_ms)) {
            match sampled {
                Sampled::Value(value) if value.is_finite() => {
                    let _ = readings.push(id, uptime_ms, value);
                }
                Sampled::Pending => {}
                _ => self.sensor_errors = self.sensor_errors.wrapping_add(1),
            }
        }
        if !readings.is_empty() {
            self.frame(boot_id, Body::Readings(readings), out);
        }
        let heartbeat = Heartbeat {
            uptime_ms,
            reset: ResetReason::Software,
            frames_sent: self.frames_sent,
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: self.sensor_errors,
        };
        self.frame(boot_id, Body::Heartbeat(heartbeat), out);
    }
}

#[cfg(test)]
mod tests;
