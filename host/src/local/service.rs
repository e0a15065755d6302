//! Services (`[[service]]`): a systemd unit, or where there is no systemd a process found by name
//! or by pid file, watched for restarts, state, memory and OOM kills.
//!
//! A unit is read with `systemctl show -p NRestarts,ActiveState,MemoryCurrent,MemoryMax,ControlGroup,
//! MainPID UNIT` and its cgroup's `memory.current` and `memory.events` under `/sys/fs/cgroup`; a
//! process with `/proc/<pid>/stat` and `status`. Each service is a node of its own whose metrics are
//! (ids in this order, names as in `/state`):
//!
//! | metric | unit | what |
//! |---|---|---|
//! | `active` | | 1 while the unit is active (the process runs), else 0: CRITICAL at 0 |
//! | `restarts` | | restarts seen since the daemon started watching |
//! | `restart_loop` | | restarts within the last `within`: CRITICAL at `restarts` (N) |
//! | `memory` | MiB | the cgroup's memory (the process's resident memory) |
//! | `memory_used` | % | `memory` in percent of the limit: the filling rule, a forecast to 100 % |
//! | `oom_kills` | | OOM kills within the last hour: WARNING at 1 |
//!
//! Invariants: a unit's restarts are systemd's own count (`NRestarts`, the automatic restarts); a
//! process's are changes of its main pid (the oldest process of the name, or the pid file's), so a
//! restart between two samples counts once and several between two samples count once too; an OOM
//! kill is the cgroup's own count, or for a process, a rise of the kernel's `oom_kill` counter in
//! the interval in which the process vanished (the kernel does not say whom it killed). Reading
//! never blocks a sample for long: `systemctl` is given [`SYSTEMCTL_TIMEOUT`], then killed.

use super::events::RecentEvents;
use super::host::{meminfo, vmstat};
use super::rule::{self, FillRule};
use super::Sampled;
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long `systemctl show` may take before the sample goes on without it.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an OOM kill keeps `oom_kills` raised.
const OOM_WINDOW: Duration = Duration::from_secs(3600);
/// The default restart loop: this many restarts...
pub const DEFAULT_RESTARTS: u32 = 3;
/// ... within this long.
pub const DEFAULT_WITHIN: Duration = Duration::from_secs(15 * 60);
/// The metrics of a service node, in id order.
pub const METRICS: [&str; 6] = [
    "active",
    "restarts",
    "restart_loop",
    "memory",
    "memory_used",
    "oom_kills",
];

/// What a service is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A systemd unit (`postgresql.service`).
    Unit(String),
    /// Processes whose `/proc/<pid>/comm` is this.
    Process(String),
    /// The process whose pid this file holds.
    PidFile(PathBuf),
}

/// One `[[service]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// Its name: the service node's name.
    pub name: String,
    /// What to watch.
    pub target: Target,
    /// A restart loop is this many restarts...
    pub restarts: u32,
    /// ... within this long.
    pub within: Duration,
    /// The memory limit in bytes; `None`: the unit's `MemoryMax`, else physical memory.
    pub memory_max: Option<u64>,
    /// When its memory is a problem.
    pub memory: FillRule,
}

impl ServiceSpec {
    /// A service with the default restart loop and memory rule.
    pub fn new(name: &str, target: Target) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            target,
            restarts: DEFAULT_RESTARTS,
            within: DEFAULT_WITHIN,
            memory_max: None,
            memory: FillRule::DISK,
        }
    }

    /// Name, unit, rule and anomaly limits of metric `id` ([`METRICS`]).
    pub fn describe(
        &self,
        id: usize,
        interval: Duration,
    ) -> (String, &'static str, Rule, AnomalyConfig) {
        let (unit, rule) = match id {
            0 => ("", rule::is_up(interval)),
            2 => ("", rule::count_reaches(self.restarts, true, interval)),
            3 => ("MiB", rule::observed(interval)),
            // A cgroup may pass its limit for a moment before the kernel reclaims: no upper bound.
            4 => ("%", self.memory.rule(interval)),
            5 => ("", rule::count_reaches(1, false, interval)),
            _ => ("", rule::observed(interval)),
        };
        let name = METRICS[id.min(METRICS.len() - 1)];
        (name.into(), unit, rule, rule::POSITIVE)
    }
}

/// What one look at a service found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Status {
    /// Active (running).
    pub active: bool,
    /// systemd's restart count, for a unit.
    pub restarts_total: Option<u64>,
    /// The main process.
    pub main_pid: Option<u32>,
    /// Memory in bytes.
    pub memory: Option<u64>,
    /// The unit's own limit in bytes.
    pub limit: Option<u64>,
    /// The cgroup's OOM kill count, for a unit.
    pub oom_total: Option<u64>,
}

/// A service followed from sample to sample.
#[derive(Debug, Clone)]
pub struct ServiceWatch {
    spec: ServiceSpec,
    last_pid: Option<u32>,
    last_restarts_total: Option<u64>,
    last_oom_total: Option<u64>,
    last_vmstat_oom: Option<u64>,
    restarts: u64,
    recent_restarts: RecentEvents,
    recent_ooms: RecentEvents,
    warned: bool,
}

impl ServiceWatch {
    /// Starts following `spec`.
    pub fn new(spec: ServiceSpec) -> ServiceWatch {
        ServiceWatch {
            recent_restarts: RecentEvents::new(spec.within),
            recent_ooms: RecentEvents::new(OOM_WINDOW),
            spec,
            last_pid: None,
            last_restarts_total: None,
            last_oom_total: None,
            last_vmstat_oom: None,
            restarts: 0,
            warned: false,
        }
    }

    /// Its settings.
    pub fn spec(&self) -> &ServiceSpec {
        &self.spec
    }

    /// One sample: a value (or why none) per metric of [`METRICS`].
    pub fn read(&mut self, wall_ms: u64) -> Vec<Sampled> {
        let status = match &self.spec.target {
            Target::Unit(unit) => read_unit(unit),
            Target::Process(name) => Ok(read_process(oldest_named(name), Some(name))),
            Target::PidFile(path) => Ok(read_process(pid_from_file(path), None)),
        };
        let status = match status {
            Ok(status) => status,
            Err(reason) => {
                if !std::mem::replace(&mut self.warned, true) {
                    tracing::warn!(
                        service = self.spec.name,
                        "cannot read the service: {reason}"
                    );
                }
                return vec![Sampled::Failed; METRICS.len()];
            }
        };
        self.warned = false;
        let restarted = self.count_restarts(&status);
        let oom_killed = self.count_oom_kills(&status, restarted);
        self.recent_restarts.add(wall_ms, restarted);
        self.recent_ooms.add(wall_ms, oom_killed);
        self.restarts += restarted;
        let limit = self
            .spec
            .memory_max
            .or(status.limit)
            .or_else(|| meminfo("MemTotal:").map(|kib| (kib * 1024.0) as u64));
        let memory = status
            .memory
            .map(|b| Sampled::Value((b as f64 / 1_048_576.0) as f32));
        let used = match (status.memory, limit) {
            (Some(b), Some(l)) if l > 0 => Sampled::Value((100.0 * b as f64 / l as f64) as f32),
            (Some(_), _) => Sampled::Failed,
            (None, _) => Sampled::Pending,
        };
        vec![
            Sampled::Value(if status.active { 1.0 } else { 0.0 }),
            Sampled::Value(self.restarts as f32),
            Sampled::Value(self.recent_restarts.count(wall_ms) as f32),
            memory.unwrap_or(Sampled::Pending),
            used,
            Sampled::Value(self.recent_ooms.count(wall_ms) as f32),
        ]
    }

    /// Restarts since the last sample: systemd's count for a unit, a changed main pid for a process.
    fn count_restarts(&mut self, status: &Status) -> u64 {
        if let Some(total) = status.restarts_total {
            let before = self.last_restarts_total.replace(total);
            return before.map_or(0, |b| total.saturating_sub(b));
        }
        match (status.main_pid, self.last_pid) {
            (Some(now), Some(before)) if now != before => {
                self.last_pid = Some(now);
                1
            }
            (Some(now), _) => {
                self.last_pid = Some(now);
                0
            }
            (None, _) => 0,
        }
    }

    /// OOM kills since the last sample: the cgroup's count, else the kernel's while the process
    /// vanished or was replaced.
    fn count_oom_kills(&mut self, status: &Status, restarted: u64) -> u64 {
        if let Some(total) = status.oom_total {
            let before = self.last_oom_total.replace(total);
            return before.map_or(0, |b| total.saturating_sub(b));
        }
        let kernel = vmstat("oom_kill");
        let before = std::mem::replace(&mut self.last_vmstat_oom, kernel);
        let gone = !status.active || restarted > 0;
        match (kernel, before) {
            (Some(now), Some(b)) if gone && now > b => 1,
            _ => 0,
        }
    }
}

/// The pid in `path` (its first line), if that process runs. At most 64 bytes are read: a pid
/// file is short, and a wrong path (a log, `/dev/zero`) must not fill the memory.
fn pid_from_file(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(64)
        .read_to_string(&mut text)
        .ok()?;
    let pid: u32 = text.lines().next()?.trim().parse().ok()?;
    is_running(pid).then_some(pid)
}

/// Whether `pid` exists and is not a zombie.
fn is_running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|f| {
        f.first()
            .is_some_and(|state| *state != "Z" && *state != "X")
    })
}

/// The fields of `/proc/<pid>/stat` after the command name (state first).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces and parentheses.
    let (_, rest) = text.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The running process named `name` that started first (the service's main process).
fn oldest_named(name: &str) -> Option<u32> {
    named(name)
        .filter_map(|pid| {
            let fields = stat_fields(pid)?;
            let running = fields.first().is_some_and(|s| s != "Z" && s != "X");
            // `starttime` is field 22 of stat, the 20th after the name.
            let start: u64 = fields.get(19)?.parse().ok()?;
            running.then_some((start, pid))
        })
        .min()
        .map(|(_, pid)| pid)
}

/// The pids whose `comm` is `name`.
fn named(name: &str) -> impl Iterator<Item = u32> + '_ {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(move |pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
}

/// Resident memory of `pid` in bytes.
fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A process service: its main pid's state, and the memory of every process of the name (or of
/// the one pid).
fn read_process(main_pid: Option<u32>, name: Option<&str>) -> Status {
    let memory = match (main_pid, name) {
        (None, _) => None,
        (Some(_), Some(name)) => named(name).filter_map(rss_bytes).reduce(|a, b| a + b),
        (Some(pid), None) => rss_bytes(pid),
    };
    Status {
        active: main_pid.is_some(),
        main_pid,
        memory,
        ..Status::default()
    }
}

/// A unit, from `systemctl show` and its cgroup.
fn read_unit(unit: &str) -> Result<Status, String> {
    let text = systemctl_show(unit)?;
    let mut status = parse_show(&text);
    let cgroup = text
        .lines()
        .find_map(|l| l.strip_prefix("ControlGroup="))
        .filter(|c| !c.is_empty());
    if let Some(cgroup) = cgroup {
        let dir = |v1: &str| {
            let relative = cgroup.trim_start_matches('/');
            [
                Path::new("/sys/fs/cgroup").join(relative),
                Path::new("/sys/fs/cgroup").join(v1).join(relative),
            ]
        };
        if status.memory.is_none() {
            status.memory = dir("memory").iter().find_map(|d| {
                ["memory.current", "memory.usage_in_bytes"]
                    .iter()
                    .find_map(|f| std::fs::read_to_string(d.join(f)).ok()?.trim().parse().ok())
            });
        }
        status.oom_total = dir("memory").iter().find_map(|d| {
            ["memory.events", "memory.oom_control"]
                .iter()
                .find_map(|f| {
                    let text = std::fs::read_to_string(d.join(f)).ok()?;
                    counter(&text, "oom_kill")
                })
        });
    }
    Ok(status)
}

/// `key N` on a line of `text`.
fn counter(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// `systemctl show`'s answer for `unit`, within [`SYSTEMCTL_TIMEOUT`].
fn systemctl_show(unit: &str) -> Result<String, String> {
    let mut child = Command::new("systemctl")
        .args([
            "show",
            "-p",
            "NRestarts,ActiveState,MemoryCurrent,MemoryMax,ControlGroup,MainPID,LoadState",
            "--",
            unit,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run systemctl ({e}); is systemd installed?"))?;
    let deadline = Instant::now() + SYSTEMCTL_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "systemctl show {unit} gave no answer within {} s",
                    SYSTEMCTL_TIMEOUT.as_secs()
                ));
            }
        }
    }
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        let why = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "systemctl show {unit} failed: {}; is systemd running (`systemctl is-system-running`)?",
            why.trim()
        ));
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if text.lines().any(|l| l == "LoadState=not-found") {
        return Err(format!("systemd knows no unit `{unit}`"));
    }
    Ok(text)
}

/// The figures of `systemctl show`'s `KEY=value` lines.
pub fn parse_show(text: &str) -> Status {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let number = |key: &str| field(key).and_then(|v| v.parse::<u64>().ok());
    Status {
        active: matches!(
            field("ActiveState"),
            Some("active" | "reloading" | "refreshing")
        ),
        restarts_total: number("NRestarts"),
        main_pid: number("MainPID")
            .and_then(|p| u32::try_from(p).ok())
            .filter(|p| *p != 0),
        // systemd writes `[not set]` without accounting and the largest u64 for "no limit".
        memory: number("MemoryCurrent").filter(|b| *b != u64::MAX),
        limit: number("MemoryMax").filter(|b| *b != u64::MAX),
        oom_total: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemctl_show_is_read_field_by_field() {
        let status = parse_show(
            "NRestarts=4\nActiveState=active\nMemoryCurrent=52428800\nMemoryMax=infinity\n\
             ControlGroup=/system.slice/x.service\nMainPID=1234\n",
        );
        assert_eq!(
            status,
            Status {
                active: true,
                restarts_total: Some(4),
                main_pid: Some(1234),
                memory: Some(52_428_800),
                limit: None,
                oom_total: None,
            }
        );
        let down = parse_show(
            "ActiveState=failed\nMemoryCurrent=[not set]\nMainPID=0\nMemoryMax=1073741824\n",
        );
        assert!(!down.active && down.memory.is_none() && down.main_pid.is_none());
        assert_eq!(down.limit, Some(1 << 30));
    }

    #[test]
    fn a_changed_pid_is_a_restart_and_a_loop_within_the_window() {
        let spec = ServiceSpec {
            within: Duration::from_secs(60),
            ..ServiceSpec::new("svc", Target::Process("none".into()))
        };
        let mut watch = ServiceWatch::new(spec);
        let up = |pid| Status {
            active: true,
            main_pid: Some(pid),
            ..Status::default()
        };
        assert_eq!(watch.count_restarts(&up(10)), 0);
        assert_eq!(watch.count_restarts(&up(10)), 0);
        assert_eq!(
            watch.count_restarts(&Status::default()),
            0,
            "down is not yet a restart"
        );
        assert_eq!(watch.count_restarts(&up(11)), 1);
        assert_eq!(watch.count_restarts(&up(12)), 1);
    }

    #[test]
    fn this_process_is_found_by_pid_file_with_its_memory() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pid");
        std::fs::write(&file, format!("{}\n", std::process::id())).unwrap();
        let mut watch = ServiceWatch::new(ServiceSpec::new("me", Target::PidFile(file.clone())));
        let values = watch.read(1000);
        assert_eq!(values[0], Sampled::Value(1.0));
        assert!(matches!(values[3], Sampled::Value(m) if m > 0.0));
        assert!(matches!(values[4], Sampled::Value(p) if p > 0.0 && p < 100.0));
        std::fs::write(&file, "not a pid").unwrap();
        assert_eq!(watch.read(2000)[0], Sampled::Value(0.0));
        let endless = ServiceSpec::new("zero", Target::PidFile("/dev/zero".into()));
        assert_eq!(
            ServiceWatch::new(endless).read(3000)[0],
            Sampled::Value(0.0)
        );
    }
}
