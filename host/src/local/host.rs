//! The machine's own figures, node_exporter's defaults in the local node's terms: memory and swap,
//! load, pressure stall information, network interface errors and drops, the daemon's file
//! descriptors and the kernel's OOM kills.
//!
//! Invariants: each figure reads one kernel file per sample and never fails the sample: an
//! unreadable file is [`Sampled::Failed`] (a sensor error in the heartbeat); a rate's first sample,
//! or the one after its counter went backwards, is [`Sampled::Pending`] (nothing to report yet, no
//! error). Pressure figures exist only where the kernel has `/proc/pressure`, so the set of figures
//! (and their metric ids) is fixed for the life of the node.

use super::events::RecentEvents;
use super::rule::{self, FillRule};
use super::Sampled;
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use std::time::Duration;

/// How long an OOM kill keeps `oom_kills` raised.
const OOM_WINDOW: Duration = Duration::from_secs(3600);

/// A pressure stall figure: the share of the last ten seconds in which some (or all) runnable
/// tasks were stalled on the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pressure {
    /// `cpu`, `memory` or `io`.
    resource: &'static str,
    /// `some` or `full`.
    line: &'static str,
}

/// One figure of the machine.
#[derive(Debug, Clone)]
pub enum HostFigure {
    /// `memory_used`.
    MemoryUsed,
    /// `swap_used`.
    SwapUsed,
    /// `load1`, `load5`, `load15` (the field of `/proc/loadavg`).
    Load(usize),
    /// `psi_<resource>_<line>`.
    Pressure(Pressure),
    /// `net_errors`.
    NetErrors(Rate),
    /// `net_drops`.
    NetDrops(Rate),
    /// `fds_used`.
    FdsUsed,
    /// `oom_kills`.
    OomKills {
        /// The kernel's count at the last sample.
        last_total: Option<u64>,
        /// Kills in the window.
        recent: RecentEvents,
    },
}

/// A per-second rate from a monotonic counter.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    last: Option<(u64, u64)>,
}

impl Rate {
    /// Events per second since the last call; `Pending` on the first and after a counter reset.
    fn per_second(&mut self, wall_ms: u64, total: u64) -> Sampled {
        let previous = self.last.replace((wall_ms, total));
        match previous {
            Some((t, n)) if wall_ms > t && total >= n => {
                Sampled::Value(((total - n) as f64 * 1000.0 / (wall_ms - t) as f64) as f32)
            }
            _ => Sampled::Pending,
        }
    }
}

/// The figures of this machine, pressure included where the kernel has it.
pub fn figures() -> Vec<HostFigure> {
    let mut figures = vec![
        HostFigure::MemoryUsed,
        HostFigure::SwapUsed,
        HostFigure::Load(0),
        HostFigure::Load(1),
        HostFigure::Load(2),
    ];
    if std::path::Path::new("/proc/pressure").is_dir() {
        for (resource, line) in [
            ("cpu", "some"),
            ("memory", "some"),
            ("memory", "full"),
            ("io", "some"),
            ("io", "full"),
        ] {
            figures.push(HostFigure::Pressure(Pressure { resource, line }));
        }
    }
    figures.extend([
        HostFigure::NetErrors(Rate::default()),
        HostFigure::NetDrops(Rate::default()),
        HostFigure::FdsUsed,
        HostFigure::OomKills {
            last_total: None,
            recent: RecentEvents::new(OOM_WINDOW),
        },
    ]);
    figures
}

impl HostFigure {
    /// Name, unit, rule and anomaly limits.
    pub fn describe(&self, interval: Duration) -> (String, &'static str, Rule, AnomalyConfig) {
        let (percent, positive) = (rule::PERCENT, rule::POSITIVE);
        match self {
            HostFigure::MemoryUsed => (
                "memory_used".into(),
                "%",
                FillRule::MEMORY.rule(interval),
                percent,
            ),
            HostFigure::SwapUsed => (
                "swap_used".into(),
                "%",
                rule::above(90.0, 95.0, interval),
                percent,
            ),
            HostFigure::Load(i) => (
                ["load1", "load5", "load15"][*i].into(),
                "",
                rule::observed(interval),
                positive,
            ),
            HostFigure::Pressure(p) => {
                let short = if p.resource == "memory" {
                    "mem"
                } else {
                    p.resource
                };
                // Everything stalled (`full`) for a tenth of the time is felt by every user.
                let judged = if p.line == "full" {
                    rule::above(10.0, 30.0, interval)
                } else {
                    rule::observed(interval)
                };
                (format!("psi_{short}_{}", p.line), "%", judged, percent)
            }
            HostFigure::NetErrors(_) => (
                "net_errors".into(),
                "/s",
                rule::above(1.0, 100.0, interval),
                positive,
            ),
            HostFigure::NetDrops(_) => {
                ("net_drops".into(), "/s", rule::observed(interval), positive)
            }
            HostFigure::FdsUsed => (
                "fds_used".into(),
                "%",
                FillRule {
                    warning_percent: 80.0,
                    critical_percent: 90.0,
                    ..FillRule::MEMORY
                }
                .rule(interval),
                percent,
            ),
            HostFigure::OomKills { .. } => (
                "oom_kills".into(),
                "",
                rule::count_reaches(1, false, interval),
                positive,
            ),
        }
    }

    /// The figure now.
    pub fn read(&mut self, wall_ms: u64) -> Sampled {
        let value = match self {
            HostFigure::MemoryUsed => meminfo_used("MemTotal:", "MemAvailable:"),
            HostFigure::SwapUsed => meminfo_used("SwapTotal:", "SwapFree:"),
            HostFigure::Load(i) => std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|t| t.split_whitespace().nth(*i)?.parse().ok()),
            HostFigure::Pressure(p) => pressure(p),
            HostFigure::NetErrors(rate) => {
                return net_totals([2, 10]).map_or(Sampled::Failed, |n| rate.per_second(wall_ms, n))
            }
            HostFigure::NetDrops(rate) => {
                return net_totals([3, 11]).map_or(Sampled::Failed, |n| rate.per_second(wall_ms, n))
            }
            HostFigure::FdsUsed => fds_used(),
            HostFigure::OomKills { last_total, recent } => {
                let Some(total) = vmstat("oom_kill") else {
                    return Sampled::Failed;
                };
                if let Some(before) = last_total.replace(total) {
                    recent.add(wall_ms, total.saturating_sub(before));
                }
                return Sampled::Value(recent.count(wall_ms) as f32);
            }
        };
        value.map_or(Sampled::Failed, Sampled::Value)
    }
}

/// A field of `/proc/meminfo`, in KiB.
pub fn meminfo(key: &str) -> Option<f64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    info.lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// `100 · (1 − free / total)`; 0 when the total is 0 (no swap: none of it is used).
fn meminfo_used(total: &str, free: &str) -> Option<f32> {
    let total = meminfo(total)?;
    if total <= 0.0 {
        return Some(0.0);
    }
    Some((100.0 * (1.0 - meminfo(free)? / total)) as f32)
}

/// A counter of `/proc/vmstat`.
pub fn vmstat(key: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/vmstat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `avg10` of a line of `/proc/pressure/<resource>`.
fn pressure(p: &Pressure) -> Option<f32> {
    let text = std::fs::read_to_string(format!("/proc/pressure/{}", p.resource)).ok()?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(p.line)?
                .split_whitespace()
                .find_map(|f| f.strip_prefix("avg10="))
        })?
        .parse()
        .ok()
}

/// The sum over every interface but loopback of `/proc/net/dev` columns `columns` (0-based after
/// the interface name: receive errors are 2, drops 3; transmit errors 10, drops 11).
fn net_totals(columns: [usize; 2]) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/dev").ok()?;
    let mut total = 0u64;
    for line in text.lines().skip(2) {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        if name.trim() == "lo" {
            continue;
        }
        let counters: Vec<&str> = counters.split_whitespace().collect();
        for c in columns {
            total = total.saturating_add(counters.get(c)?.parse::<u64>().ok()?);
        }
    }
    Some(total)
}

/// The daemon's open file descriptors in percent of its soft limit.
fn fds_used() -> Option<f32> {
    let open = std::fs::read_dir("/proc/self/fd").ok()?.count();
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current?;
    (limit > 0).then(|| (100.0 * open as f64 / limit as f64) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_waits_for_its_second_sample_and_a_reset() {
        let mut rate = Rate::default();
        assert_eq!(rate.per_second(1000, 10), Sampled::Pending);
        assert_eq!(rate.per_second(3000, 30), Sampled::Value(10.0));
        assert_eq!(rate.per_second(4000, 5), Sampled::Pending, "counter reset");
        assert_eq!(rate.per_second(5000, 6), Sampled::Value(1.0));
    }

    #[test]
    fn this_machines_figures_read_and_their_names_fit_the_wire() {
        let mut figures = figures();
        for f in &mut figures {
            let (name, unit, rule, _) = f.describe(Duration::from_secs(10));
            assert!(name.len() <= rackwatch_core::wire::MAX_NAME_LEN, "{name}");
            assert!(unit.len() <= rackwatch_core::wire::MAX_UNIT_LEN);
            assert_eq!(rule.check(), Ok(()), "{name}");
            let first = f.read(1000);
            assert_ne!(first, Sampled::Failed, "{name} cannot be read here");
            if let Sampled::Value(v) = first {
                assert!(v.is_finite() && v >= 0.0, "{name} = {v}");
            }
        }
        assert!(figures.len() <= rackwatch_core::wire::MAX_METRICS);
    }
}
