//! The daemon's link to its service manager (systemd's `sd_notify` protocol): readiness, a status
//! line, watchdog pings, reloading and stopping.
//!
//! Invariants:
//! - Without `NOTIFY_SOCKET` nothing is sent, ever: the daemon behaves exactly as outside systemd.
//! - `READY=1` is sent once the sources are started and the HTTP listener is bound (the caller sends
//!   it after [`Daemon::start`](super::Daemon::start) returns), and again after each reload.
//! - A watchdog ping is sent only when the ingest thread has turned its loop recently
//!   ([`Progress::is_recent`]): a wedged pipeline stops the pings, and systemd restarts the service.
//! - A failure to reach the service manager is logged (once per kind of message) and never stops
//!   the daemon: monitoring the rack matters more than telling systemd about it.

use crate::state::Snapshot;
use crate::tui::format::level_rank;
use rackwatch_core::Level;
use sd_notify::NotifyState;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest stall the watchdog tolerates before it stops pinging: the ingest loop turns at
/// least every 100 ms when idle, and a batch written to a slow disk may hold it a little longer, so
/// a very short `WatchdogSec` must not turn one slow batch into a restart.
const MIN_STALL: Duration = Duration::from_secs(1);

/// How often the status line is refreshed.
pub const STATUS_EVERY: Duration = Duration::from_secs(5);

/// When the ingest loop last turned, shared between the ingest thread (which marks it) and the
/// thread that pings the watchdog (which reads it).
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    /// Milliseconds since `origin` at the last turn.
    last_ms: AtomicU64,
}

impl Progress {
    /// Progress marked now.
    pub fn new() -> Arc<Progress> {
        Arc::new(Progress {
            origin: Instant::now(),
            last_ms: AtomicU64::new(0),
        })
    }

    /// The ingest loop turned: called once per iteration.
    pub fn mark(&self) {
        let ms = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// How long ago the loop last turned.
    pub fn age(&self) -> Duration {
        let now = self.origin.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }

    /// Whether the loop turned within `stall_limit` (see [`Watchdog::stall_limit`]).
    pub fn is_recent(&self, stall_limit: Duration) -> bool {
        self.age() <= stall_limit
    }
}

/// The watchdog the service manager asked for (`WATCHDOG_USEC`, `WATCHDOG_PID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watchdog {
    /// The service manager's timeout.
    pub timeout: Duration,
}

impl Watchdog {
    /// Pings go out at half the timeout, as `sd_watchdog_enabled(3)` advises.
    pub fn interval(&self) -> Duration {
        self.timeout / 2
    }

    /// How long the ingest loop may stand still and still be pinged for: half the timeout, but at
    /// least [`MIN_STALL`]. A pipeline stuck for longer gets no more pings, so systemd kills and
    /// restarts it about one timeout later.
    pub fn stall_limit(&self) -> Duration {
        self.interval().max(MIN_STALL)
    }
}

/// What can go to the service manager; one per `sd_notify` message kind this daemon sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ready,
    Status,
    Watchdog,
    Reloading,
    Stopping,
}

/// The service manager, if there is one.
#[derive(Debug)]
pub struct ServiceManager {
    /// `NOTIFY_SOCKET` is set.
    enabled: bool,
    watchdog: Option<Watchdog>,
    /// Kinds whose failure was already logged.
    failed: Vec<Kind>,
}

impl ServiceManager {
    /// From the environment systemd gives a `Type=notify` service.
    pub fn from_env() -> ServiceManager {
        let enabled = std::env::var_os("NOTIFY_SOCKET").is_some_and(|s| !s.is_empty());
        let watchdog = sd_notify::watchdog_enabled()
            .filter(|t| !t.is_zero())
            .map(|timeout| Watchdog { timeout });
        ServiceManager {
            enabled,
            watchdog: watchdog.filter(|_| enabled),
            failed: Vec::new(),
        }
    }

    /// Whether a service manager listens.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The watchdog, when the service manager asked for one.
    pub fn watchdog(&self) -> Option<Watchdog> {
        self.watchdog
    }

    /// Startup is complete: sources started, listener bound.
    pub fn ready(&mut self, status: &str) {
        self.send(
            Kind::Ready,
            &[NotifyState::Ready, NotifyState::Status(status)],
        );
    }

    /// The one-line summary `systemctl status` shows.
    pub fn status(&mut self, status: &str) {
        self.send(Kind::Status, &[NotifyState::Status(status)]);
    }

    /// The daemon is alive and its pipeline moves.
    pub fn watchdog_ping(&mut self) {
        self.send(Kind::Watchdog, &[NotifyState::Watchdog]);
    }

    /// A configuration reload begins; [`ready`](Self::ready) ends it. `MONOTONIC_USEC` goes with
    /// it, as `Type=notify-reload` requires.
    pub fn reloading(&mut self) {
        let mut states = vec![NotifyState::Reloading];
        if let Ok(now) = NotifyState::monotonic_usec_now() {
            states.push(now);
        }
        self.send(Kind::Reloading, &states);
    }

    /// The daemon is shutting down.
    pub fn stopping(&mut self) {
        self.send(Kind::Stopping, &[NotifyState::Stopping]);
    }

    fn send(&mut self, kind: Kind, states: &[NotifyState<'_>]) {
        if !self.enabled {
            return;
        }
        if let Err(e) = sd_notify::notify(states) {
            // Once per kind: a watchdog every few seconds must not fill the log.
            if !self.failed.contains(&kind) {
                self.failed.push(kind);
                tracing::warn!(
                    "cannot notify the service manager ({kind:?}) at $NOTIFY_SOCKET: {e}; \
                     systemd may consider the service failed"
                );
            }
        }
    }
}

/// Schedules the periodic messages: watchdog pings and status refreshes.
#[derive(Debug)]
pub struct Schedule {
    next_ping: Option<Instant>,
    next_status: Instant,
}

impl Schedule {
    /// The first ping and status due now.
    pub fn new(manager: &ServiceManager) -> Schedule {
        let now = Instant::now();
        Schedule {
            next_ping: manager.watchdog().map(|_| now),
            next_status: now + STATUS_EVERY,
        }
    }

    /// How long the caller may sleep before something is due (at most `cap`).
    pub fn sleep_for(&self, cap: Duration) -> Duration {
        let now = Instant::now();
        let mut due = self.next_status;
        if let Some(ping) = self.next_ping {
            due = due.min(ping);
        }
        due.saturating_duration_since(now).min(cap)
    }

    /// Sends what is due: a ping if the pipeline is progressing, the status line from `status`.
    pub fn run(
        &mut self,
        manager: &mut ServiceManager,
        progress: &Progress,
        status: impl FnOnce() -> String,
    ) {
        let now = Instant::now();
        match self.ping_due(now, manager.watchdog(), progress) {
            Ping::NotDue => {}
            Ping::Healthy => manager.watchdog_ping(),
            Ping::Stalled(age) => tracing::error!(
                stalled_ms = u64::try_from(age.as_millis()).unwrap_or(u64::MAX),
                "the ingest pipeline has not moved for {:.1} s: watchdog pings stop, and the \
                 service manager will restart rackwatch if it stays stuck",
                age.as_secs_f64()
            ),
        }
        if now >= self.next_status {
            manager.status(&status());
            self.next_status = now + STATUS_EVERY;
        }
    }

    /// Whether a watchdog ping is due at `now`, and whether the pipeline earned it.
    fn ping_due(&mut self, now: Instant, watchdog: Option<Watchdog>, progress: &Progress) -> Ping {
        let (Some(due), Some(watchdog)) = (self.next_ping, watchdog) else {
            return Ping::NotDue;
        };
        if now < due {
            return Ping::NotDue;
        }
        self.next_ping = Some(now + watchdog.interval());
        if progress.is_recent(watchdog.stall_limit()) {
            Ping::Healthy
        } else {
            Ping::Stalled(progress.age())
        }
    }
}

/// What the watchdog schedule says at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ping {
    /// No ping due yet.
    NotDue,
    /// A ping is due and the pipeline moves: send it.
    Healthy,
    /// A ping is due but the pipeline has stood still this long: withhold it.
    Stalled(Duration),
}

/// The status line `systemctl status rackwatch` shows: nodes, how many are down, frames per second
/// since the previous line, and the worst alert level.
#[derive(Debug)]
pub struct StatusLine {
    previous: Option<(Instant, u64)>,
}

impl StatusLine {
    /// No line yet: the first one has no rate.
    pub fn new() -> StatusLine {
        StatusLine { previous: None }
    }

    /// The line for `snapshot`, taken now.
    pub fn line(&mut self, snapshot: &Snapshot) -> String {
        let now = Instant::now();
        let rate = self.previous.and_then(|(at, frames)| {
            let seconds = now.duration_since(at).as_secs_f64();
            (seconds > 0.0).then(|| snapshot.frames.saturating_sub(frames) as f64 / seconds)
        });
        self.previous = Some((now, snapshot.frames));
        summary(snapshot, rate)
    }
}

impl Default for StatusLine {
    fn default() -> StatusLine {
        StatusLine::new()
    }
}

/// `3 nodes (1 down), 12.5 frames/s, worst WARNING`.
fn summary(snapshot: &Snapshot, frames_per_s: Option<f64>) -> String {
    let nodes = snapshot.nodes.len();
    let down = snapshot.nodes.iter().filter(|n| n.down).count();
    let worst = snapshot
        .nodes
        .iter()
        .flat_map(|n| &n.metrics)
        .map(|m| m.level)
        .max_by_key(|&l| level_rank(l))
        .unwrap_or(Level::Ok);
    let mut line = format!("{nodes} node{}", if nodes == 1 { "" } else { "s" });
    if down > 0 {
        line.push_str(&format!(" ({down} down)"));
    }
    if let Some(rate) = frames_per_s {
        line.push_str(&format!(", {rate:.1} frames/s"));
    }
    line.push_str(&format!(", worst {}", worst.as_str()));
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{MetricView, NodeView};

    fn node(id: u16, down: bool, levels: &[Level]) -> NodeView {
        NodeView {
            id,
            boot: None,
            firmware: None,
            down,
            last_frame_ms: 0,
            uptime_ms: None,
            reset: None,
            node_counters: None,
            counters: Default::default(),
            metrics: levels
                .iter()
                .map(|&level| MetricView {
                    id: 0,
                    name: "m".into(),
                    unit: String::new(),
                    value: None,
                    wall_ms: None,
                    level,
                    node_level: None,
                    flapping: false,
                    score: None,
                    anomaly: None,
                    slope_per_hour: None,
                    eta: None,
                    warning: None,
                    critical: None,
                    recent: Vec::new(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_status_names_nodes_down_rate_and_the_worst_level() {
        let mut snapshot = Snapshot {
            nodes: vec![
                node(1, false, &[Level::Ok, Level::Unknown]),
                node(2, true, &[Level::Warning]),
                node(3, false, &[Level::Ok]),
            ],
            ..Snapshot::default()
        };
        assert_eq!(
            summary(&snapshot, Some(12.53)),
            "3 nodes (1 down), 12.5 frames/s, worst WARNING"
        );
        snapshot.nodes.truncate(1);
        assert_eq!(summary(&snapshot, None), "1 node, worst UNKNOWN");
        assert_eq!(summary(&Snapshot::default(), None), "0 nodes, worst OK");
    }

    #[test]
    fn pings_go_at_half_the_timeout_and_stop_after_a_stall_of_half_of_it_but_at_least_a_second() {
        let short = Watchdog {
            timeout: Duration::from_millis(400),
        };
        assert_eq!(short.interval(), Duration::from_millis(200));
        assert_eq!(short.stall_limit(), MIN_STALL);
        let long = Watchdog {
            timeout: Duration::from_secs(30),
        };
        assert_eq!(long.interval(), Duration::from_secs(15));
        assert_eq!(long.stall_limit(), Duration::from_secs(15));
    }

    #[test]
    fn a_stalled_pipeline_gets_no_ping_and_one_that_moves_again_gets_them_back() {
        let watchdog = Watchdog {
            timeout: Duration::from_millis(100),
        };
        let progress = Progress::new();
        let start = Instant::now();
        let mut schedule = Schedule {
            next_ping: Some(start),
            next_status: start + STATUS_EVERY,
        };
        progress.mark();
        assert_eq!(
            schedule.ping_due(start, Some(watchdog), &progress),
            Ping::Healthy
        );
        // Not again before the interval.
        assert_eq!(
            schedule.ping_due(start, Some(watchdog), &progress),
            Ping::NotDue
        );
        // The loop stands still for longer than the stall limit (a second, here).
        std::thread::sleep(MIN_STALL + Duration::from_millis(50));
        let later = Instant::now();
        assert!(matches!(
            schedule.ping_due(later, Some(watchdog), &progress),
            Ping::Stalled(age) if age > MIN_STALL
        ));
        progress.mark();
        let again = later + watchdog.interval();
        assert_eq!(
            schedule.ping_due(again, Some(watchdog), &progress),
            Ping::Healthy
        );
        // No watchdog asked for: never a ping.
        assert_eq!(schedule.ping_due(again, None, &progress), Ping::NotDue);
    }

    #[test]
    fn progress_marked_is_recent_and_progress_left_unmarked_goes_stale() {
        let progress = Progress::new();
        progress.mark();
        assert!(progress.is_recent(Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!progress.is_recent(Duration::from_millis(10)));
        progress.mark();
        assert!(progress.is_recent(Duration::from_secs(60)));
    }
}
