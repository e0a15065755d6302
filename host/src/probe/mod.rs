//! Probes, as the blackbox exporter has them: a TCP connect, an HTTP(S) GET, or a command whose
//! standard output is a number, each run every `interval` within a `timeout`. Each `[[probe]]` is a
//! virtual node of its own, named as the probe, framed like a pushed value ([`crate::push`]), so
//! its metrics go through the same pipeline as a sensor's reading: trend, anomaly score, alert
//! states, history, `/state`, `/metrics` and the sinks.
//!
//! A probe node's metrics, by id: [`SUCCESS`] (`success`, 1 or 0), [`LATENCY`] (`latency`, in
//! seconds, only when the check succeeded) and, for a command, [`VALUE`] (`value`, the number it
//! printed). A failure's reason (and the first success after failures) is a node event,
//! `probe_failed` or `probe_ok`, stored with the node's other events (`rackwatch alerts
//! --events`) and named beside the probe's transitions in `rackwatch alerts`.
//!
//! Invariants:
//! - A hung target never blocks anything but its own probe: each probe has a thread, each run a
//!   worker thread that the probe stops waiting for at the deadline. A probe starts no new run
//!   while its last one is still out (that round fails, saying so), so at most one run per probe
//!   is in flight, and at most [`MAX_PROBES`] probes exist.
//! - A probe node is sealed ([`VirtualNodes::declare`]): its series and rules are fixed by the
//!   configuration, and pushes may not name it.
//! - A probe node sends a heartbeat at a steady pace that evenly divides the interval, at least as
//!   often as the `heartbeat` [`start`] is given (the daemon gives half the liveness limit of a
//!   node whose heartbeat is not learned yet), so it is shown down only when its probe thread falls
//!   silent, never between two slow rounds.

pub mod check;

use crate::ingest::NodeEventKind;
use crate::push::VirtualNodes;
use crate::source::SourceMsg;
use check::{Check, Outcome, Ready};
use rackwatch_core::alert::{AnomalyLevels, Bound, Debounce, Health, Limit, MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The most `[[probe]]` entries.
pub const MAX_PROBES: usize = 64;
/// The probes' name as a source (in `/state`'s `sources` and in logs).
pub const SOURCE_NAME: &str = "probes";
/// `interval` when none is given.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// `timeout` when none is given (shortened to the interval when that is shorter).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The shortest interval: a probe is not a load generator.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// The longest interval and timeout.
pub const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// Metric id of `success`.
pub const SUCCESS: u16 = 0;
/// Metric id of `latency`.
pub const LATENCY: u16 = 1;
/// Metric id of `value` (command probes).
pub const VALUE: u16 = 2;
/// Failed rounds in a row that make a probe CRITICAL: one lost packet is not an outage.
pub const FAILURES_TO_CRITICAL: u8 = 2;
/// The latency's anomaly score from which it is WARNING.
pub const ANOMALY_WARNING: f32 = 0.75;
/// Ordinary rounds in a row that clear a latency WARNING: an anomaly scores at its onset only.
pub const LATENCY_CLEAR_ROUNDS: u8 = 5;

/// One `[[probe]]`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    /// The probe's name, also its virtual node's.
    pub name: String,
    /// What it checks.
    pub check: Check,
    /// Time from the start of one round to the next.
    pub interval: Duration,
    /// The most one round may take.
    pub timeout: Duration,
    /// Latency above which it is WARNING.
    pub warn_latency: Option<Duration>,
    /// Latency above which it is CRITICAL.
    pub crit_latency: Option<Duration>,
    /// The unit of a command's value.
    pub unit: String,
}

impl ProbeSpec {
    /// The specs of the probe node's metrics, in id order: `success`, `latency`, and `value` for a
    /// command.
    pub fn metric_specs(&self) -> Vec<MetricSpec> {
        let mut specs = vec![
            metric(SUCCESS, "success", "", self.success_rule()),
            metric(LATENCY, "latency", "s", self.latency_rule()),
        ];
        if matches!(self.check, Check::Command(_)) {
            let rule = Rule {
                health: Health::NONE,
                ..Rule::EMPTY
            };
            specs.push(metric(VALUE, "value", &self.unit, rule));
        }
        specs
    }

    /// CRITICAL after [`FAILURES_TO_CRITICAL`] failed rounds in a row, OK at the first success;
    /// UNKNOWN when no round reports for three rounds.
    fn success_rule(&self) -> Rule {
        let mut rule = Rule {
            health: Health::NONE,
            raise: Debounce::count(FAILURES_TO_CRITICAL, FAILURES_TO_CRITICAL),
            ..Rule::EMPTY
        };
        rule.value.critical.below = Some(Limit::at(Bound::strict(0.5)));
        let round = self
            .interval
            .max(self.timeout)
            .as_millis()
            .saturating_mul(3);
        rule.missing = MissingData::unknown_after(u32::try_from(round).unwrap_or(u32::MAX));
        rule
    }

    /// WARNING from an anomaly score of [`ANOMALY_WARNING`], and above `warn_latency`; CRITICAL
    /// above `crit_latency`.
    fn latency_rule(&self) -> Rule {
        let mut rule = Rule {
            health: Health::NONE,
            clear: Debounce::count(LATENCY_CLEAR_ROUNDS, LATENCY_CLEAR_ROUNDS),
            anomaly: Some(AnomalyLevels {
                warning: Some(Limit::at(Bound::inclusive(ANOMALY_WARNING))),
                critical: None,
            }),
            ..Rule::EMPTY
        };
        let limit = |d: Duration| Limit::at(Bound::strict(d.as_secs_f32()));
        rule.value.warning.above = self.warn_latency.map(limit);
        rule.value.critical.above = self.crit_latency.map(limit);
        rule
    }
}

/// A metric of a probe node; every name and unit here fits the wire's bounds (units are checked
/// by the configuration).
fn metric(id: u16, name: &str, unit: &str, rule: Rule) -> MetricSpec {
    let anomaly = AnomalyConfig::with_limits(Some(0.0), None, None);
    MetricSpec::new(id, name, unit, rule, anomaly)
        .unwrap_or_else(|_| MetricSpec::new(id, name, "", rule, anomaly).expect("short name"))
}

/// Starts every probe: declares their nodes (the frames go to the ingest thread now, ahead of
/// any reading), then a thread per probe, whose node sends a heartbeat at least every
/// `heartbeat`. A CA file that cannot be read stops the start with its reason.
pub fn start(
    specs: &[ProbeSpec],
    nodes: &Arc<Mutex<VirtualNodes>>,
    tx: &SyncSender<SourceMsg>,
    source: usize,
    stop: &Arc<AtomicBool>,
    heartbeat: Duration,
) -> anyhow::Result<()> {
    let mut ready = Vec::new();
    for spec in specs {
        let check = Ready::new(&spec.check, spec.timeout)
            .map_err(|e| anyhow::anyhow!("probe `{}`: {e}", spec.name))?;
        ready.push(check);
    }
    let declared = declare(specs, nodes)?;
    tx.try_send(SourceMsg::Connected { source })
        .and_then(|()| {
            tx.try_send(SourceMsg::Bytes {
                source,
                wall_ms: declared.0,
                bytes: declared.1,
            })
        })
        .map_err(|_| anyhow::anyhow!("the ingest queue took no probe declarations"))?;
    for (spec, check) in specs.iter().zip(ready) {
        let runner = Runner {
            spec: spec.clone(),
            check,
            nodes: Arc::clone(nodes),
            tx: tx.clone(),
            source,
            stop: Arc::clone(stop),
            heartbeat: heartbeat.max(MIN_INTERVAL),
            round: None,
            in_flight: None,
            last_failure: None,
        };
        std::thread::Builder::new()
            .name(format!("probe {}", spec.name))
            .spawn(move || runner.run())?;
    }
    Ok(())
}

/// The node id each probe reports as, in order: the daemon declares the probes' nodes first, in
/// the configuration's order, so these are the ids it gives them (what `config check` prints).
pub fn node_ids(specs: &[ProbeSpec]) -> Vec<u16> {
    let mut nodes = VirtualNodes::new(1);
    specs
        .iter()
        .filter_map(|s| nodes.declare(&s.name, &s.metric_specs(), 0).ok())
        .map(|(id, _)| id)
        .collect()
}

/// Declares each probe's node: the time and the frames that announce them all.
fn declare(
    specs: &[ProbeSpec],
    nodes: &Arc<Mutex<VirtualNodes>>,
) -> anyhow::Result<(u64, Vec<u8>)> {
    let wall_ms = crate::source::now_ms();
    let mut nodes = nodes
        .lock()
        .map_err(|_| anyhow::anyhow!("the virtual nodes are unusable"))?;
    let mut bytes = Vec::new();
    for spec in specs {
        let (id, frames) = nodes
            .declare(&spec.name, &spec.metric_specs(), wall_ms)
            .map_err(|e| anyhow::anyhow!("probe `{}`: {e}", spec.name))?;
        tracing::info!(probe = %spec.name, node = id, "probe `{}` reports as node {id}", spec.name);
        bytes.extend(frames);
    }
    Ok((wall_ms, bytes))
}

/// One probe's thread.
struct Runner {
    spec: ProbeSpec,
    check: Ready,
    nodes: Arc<Mutex<VirtualNodes>>,
    tx: SyncSender<SourceMsg>,
    source: usize,
    stop: Arc<AtomicBool>,
    /// The longest time between two heartbeats of the probe's node.
    heartbeat: Duration,
    /// The run of this round: its answer, and when to stop waiting for it.
    round: Option<(mpsc::Receiver<Outcome>, Instant)>,
    /// A run that had not answered by its deadline.
    in_flight: Option<mpsc::Receiver<Outcome>>,
    /// The reason of the last round, when it failed.
    last_failure: Option<String>,
}

/// How often the loop looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(50);

impl Runner {
    /// Ticks until stopped or the ingest thread is gone: a heartbeat at every tick, a round every
    /// `interval`. The ticks divide the interval evenly, no longer than `heartbeat` each, so the
    /// ingest stage learns one steady heartbeat interval however long the probe's interval is.
    fn run(mut self) {
        let per_round = self
            .spec
            .interval
            .as_nanos()
            .div_ceil(self.heartbeat.as_nanos().max(1))
            .clamp(1, u128::from(u32::MAX)) as u32;
        let tick = self.spec.interval / per_round;
        let mut next = Instant::now();
        for n in 0u64.. {
            if n % u64::from(per_round) == 0 {
                if let Some(outcome) = self.start_round() {
                    self.report(outcome);
                }
            }
            if !self.send_heartbeat() {
                return;
            }
            // Behind (a suspended machine): start again from now rather than catch up in a burst.
            next = (next + tick).max(Instant::now());
            if !self.wait_until(next) {
                return;
            }
        }
    }

    /// Starts this round's run on a worker thread; a failed round's outcome when it cannot (the
    /// last run still out, no thread to be had).
    fn start_round(&mut self) -> Option<Outcome> {
        let failed = |reason: String| Outcome {
            latency_s: 0.0,
            value: None,
            failure: Some(reason),
        };
        if let Some(last) = &self.in_flight {
            if let Err(mpsc::TryRecvError::Empty) = last.try_recv() {
                return Some(failed(format!(
                    "the previous check is still running past its timeout of {}",
                    crate::config::format_duration(self.spec.timeout)
                )));
            }
            self.in_flight = None;
        }
        let (answer, outcome) = mpsc::channel();
        let (check, timeout) = (self.check.clone(), self.spec.timeout);
        let worker = std::thread::Builder::new()
            .name(format!("probe {} run", self.spec.name))
            .spawn(move || {
                let _ = answer.send(check.run(timeout));
            });
        if let Err(e) = worker {
            return Some(failed(format!("cannot start a thread for the check: {e}")));
        }
        // The checks keep their own deadlines; this one is for what they cannot bound (a name
        // lookup).
        self.round = Some((
            outcome,
            Instant::now() + timeout + Duration::from_millis(500),
        ));
        None
    }

    /// Waits until `until`, reporting the round's outcome as soon as it comes, or its failure at
    /// its deadline. False when stopped or the ingest thread is gone.
    fn wait_until(&mut self, until: Instant) -> bool {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= until {
                return true;
            }
            let Some((answer, deadline)) = &self.round else {
                std::thread::sleep((until - now).min(STOP_CHECK));
                continue;
            };
            let wait = (until.min(*deadline).max(now) - now).min(STOP_CHECK);
            let outcome = match answer.recv_timeout(wait) {
                Ok(outcome) => outcome,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < *deadline => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let (answer, _) = self.round.take().expect("matched above");
                    self.in_flight = Some(answer);
                    self.no_answer()
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => Outcome {
                    latency_s: 0.0,
                    value: None,
                    failure: Some("the check ended without an answer".into()),
                },
            };
            self.round = None;
            if !self.report(outcome) {
                return false;
            }
        }
    }

    fn no_answer(&self) -> Outcome {
        Outcome {
            latency_s: 0.0,
            value: None,
            failure: Some(format!(
                "no answer within {}",
                crate::config::format_duration(self.spec.timeout)
            )),
        }
    }

    /// The node's heartbeat. False when the ingest thread is gone.
    fn send_heartbeat(&mut self) -> bool {
        let wall_ms = crate::source::now_ms();
        let bytes = match self.nodes.lock() {
            Ok(mut nodes) => nodes.heartbeat(&self.spec.name, wall_ms),
            Err(_) => return false,
        };
        self.send(wall_ms, bytes)
    }

    fn send(&self, wall_ms: u64, bytes: Vec<u8>) -> bool {
        self.tx
            .send(SourceMsg::Bytes {
                source: self.source,
                wall_ms,
                bytes,
            })
            .is_ok()
    }

    /// Sends the round's readings, and a node event when the failure reason changed. False when
    /// the ingest thread is gone.
    fn report(&mut self, outcome: Outcome) -> bool {
        let wall_ms = crate::source::now_ms();
        let mut values = vec![(SUCCESS, f32::from(u8::from(outcome.failure.is_none())))];
        if outcome.failure.is_none() {
            values.push((LATENCY, outcome.latency_s));
        }
        if let Some(value) = outcome.value {
            values.push((VALUE, value));
        }
        let (bytes, identity) = match self.nodes.lock() {
            Ok(mut nodes) => (
                nodes.values(&self.spec.name, wall_ms, &values),
                nodes.identity(&self.spec.name),
            ),
            Err(_) => return false,
        };
        if !self.send(wall_ms, bytes) {
            return false;
        }
        match (identity, self.change(outcome.failure)) {
            (Some((node, boot)), Some(kind)) => self
                .tx
                .send(SourceMsg::NodeEvent {
                    source: self.source,
                    node,
                    boot,
                    wall_ms,
                    kind,
                })
                .is_ok(),
            _ => true,
        }
    }

    /// The node event a round's result is, when it differs from the last round's.
    fn change(&mut self, failure: Option<String>) -> Option<NodeEventKind> {
        if failure == self.last_failure {
            return None;
        }
        let kind = match &failure {
            Some(reason) => {
                tracing::warn!(probe = %self.spec.name, "probe failed: {reason}");
                NodeEventKind::ProbeFailed {
                    reason: reason.clone(),
                }
            }
            None => {
                tracing::info!(probe = %self.spec.name, "probe succeeds again");
                NodeEventKind::ProbeOk
            }
        };
        self.last_failure = failure;
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackwatch_core::monitor::Monitor;
    use rackwatch_core::wire::Cause;
    use rackwatch_core::Level;

    fn spec(check: Check) -> ProbeSpec {
        ProbeSpec {
            name: "web".into(),
            check,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            warn_latency: Some(Duration::from_millis(500)),
            crit_latency: Some(Duration::from_secs(2)),
            unit: "jobs".into(),
        }
    }

    #[test]
    fn the_default_rules_pass_the_cores_checks() {
        let command = spec(Check::Command(vec!["true".into()]));
        let specs = command.metric_specs();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["success", "latency", "value"]);
        assert_eq!(specs[2].unit.as_str(), "jobs");
        for s in &specs {
            s.rule.check().unwrap();
        }
        assert_eq!(spec(Check::Tcp("a:1".into())).metric_specs().len(), 2);
    }

    /// The host's monitor of `spec`, as the ingest stage builds it.
    fn monitor(spec: &MetricSpec) -> Box<Monitor<{ crate::ingest::HOST_WINDOW }>> {
        Box::new(Monitor::for_spec(spec, 0))
    }

    #[test]
    fn a_jump_in_latency_is_warning_far_below_its_limit() {
        let specs = spec(Check::Tcp("a:1".into())).metric_specs();
        let mut latency = monitor(&specs[usize::from(LATENCY)]);
        // A minute of ordinary rounds: 20 ms, give or take 2.
        for i in 0..60u64 {
            let jitter = (i * 7 % 5) as f32 * 0.001;
            latency.observe(i * 10_000, 0.018 + jitter).unwrap();
        }
        assert_eq!(latency.level(), Level::Ok);
        // 150 ms: a fifth of `warn_latency`, but nothing like this series.
        let changes = latency.observe(600_000, 0.150).unwrap();
        assert_eq!(latency.level(), Level::Warning, "{changes:?}");
        assert!(
            matches!(changes[0].cause, Cause::Anomaly { .. }),
            "{changes:?}"
        );
        // Ordinary again: it clears after LATENCY_CLEAR_ROUNDS rounds, not at once.
        for i in 1..u64::from(LATENCY_CLEAR_ROUNDS) {
            latency.observe(600_000 + i * 10_000, 0.020).unwrap();
            assert_eq!(latency.level(), Level::Warning);
        }
        latency.observe(700_000, 0.020).unwrap();
        assert_eq!(latency.level(), Level::Ok);
        // Above `crit_latency`: CRITICAL by its limit.
        latency.observe(710_000, 2.5).unwrap();
        assert_eq!(latency.level(), Level::Critical);
    }

    #[test]
    fn a_probe_is_critical_on_its_second_failure_in_a_row_and_ok_at_its_next_success() {
        let specs = spec(Check::Tcp("a:1".into())).metric_specs();
        let mut success = monitor(&specs[usize::from(SUCCESS)]);
        let mut levels = Vec::new();
        for (i, value) in [1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0].into_iter().enumerate() {
            success.observe(i as u64 * 10_000, value).unwrap();
            levels.push(success.level());
        }
        use Level::{Critical, Ok};
        assert_eq!(levels, [Ok, Ok, Ok, Ok, Critical, Critical, Ok]);
        // No round for three intervals: UNKNOWN, the probe itself is not reporting.
        success.poll(70_000 + 30_000).unwrap();
        assert_eq!(success.level(), Level::Unknown);
    }

    #[test]
    fn the_first_failure_and_the_recovery_are_events_repeats_are_not() {
        let (tx, _rx) = mpsc::sync_channel(1);
        let mut runner = Runner {
            spec: spec(Check::Tcp("a:1".into())),
            check: Ready::Tcp("a:1".into()),
            nodes: Arc::new(Mutex::new(VirtualNodes::new(1))),
            tx,
            source: 0,
            stop: Arc::new(AtomicBool::new(false)),
            heartbeat: Duration::from_secs(5),
            round: None,
            in_flight: None,
            last_failure: None,
        };
        assert_eq!(runner.change(None), None);
        let down = Some("refused".to_string());
        assert!(matches!(
            runner.change(down.clone()),
            Some(NodeEventKind::ProbeFailed { .. })
        ));
        assert_eq!(runner.change(down), None);
        assert_eq!(runner.change(None), Some(NodeEventKind::ProbeOk));
    }
}
