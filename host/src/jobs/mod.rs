//! Jobs: batch runs that check in (a dead man's switch, as healthchecks.io keeps), judged by the
//! same core as a sensor reading.
//!
//! Each `[[job]]` is a virtual node named after the job ([`crate::push`] frames it, so its series
//! get trend, alert states, history, `/state`, `/metrics` and the sinks), with these series:
//!
//! | metric | unit | rule | written |
//! |---|---|---|---|
//! | `exit_status` | | CRITICAL above 0 | at each end of a run (`/fail` is 1) |
//! | `overdue` | s | CRITICAL above 0 | 0 at each end of a run; while no run has ended within schedule + grace, the seconds beyond it |
//! | `duration` | s | | at each end of a run that reported its start |
//! | `slowness` | | WARNING above `slow_factor` | a run's duration over its usual one, at its end and while it runs beyond `slow_factor` times |
//! | `running` | | | 1 at a start, 0 at an end |
//!
//! Invariants:
//! - [`Jobs`] is plain state and time is passed in: a check-in ([`Jobs::check_in`]) and the clock
//!   ([`Jobs::tick`]) each return the samples to frame; the caller applies them on a copy and
//!   keeps it only once the samples are on their way (as pushes do), so a full ingest queue loses
//!   nothing.
//! - A run is due by its schedule after the previous end (stored in history and read back at
//!   start, [`Jobs::restore`]; after the daemon started when there is none), and overdue once `grace` has passed beyond that; the tick notices it within one
//!   tick and repeats the reading every [`REPEAT_EVERY`] while it stays so.
//! - The usual duration is the core's exponentially weighted mean ([`EwStats`]) over the ends of
//!   successful runs; it judges nothing until [`MIN_RUNS`] runs have been seen, and it is never
//!   taken below [`USUAL_FLOOR`], so a job of milliseconds is not "slow" at a few more.
//! - Every text a client sends (the message, the log tail) is bounded by [`MAX_MESSAGE`] bytes.

pub mod store;

use crate::push::Sample;
use crate::schedule::Schedule;
use rackwatch_core::alert::{Bound, Limit, Limits, Rule, Thresholds};
use rackwatch_core::stats::{EwStats, Smoothing};
use std::path::PathBuf;
use std::time::Duration;

/// The most bytes of a check-in's message (a log tail) kept, the body limit of `/ping/...`.
pub const MAX_MESSAGE: usize = 10 * 1024;
/// Runs seen before the usual duration judges one.
pub const MIN_RUNS: u32 = 3;
/// The least the usual duration is taken to be.
pub const USUAL_FLOOR: Duration = Duration::from_millis(100);
/// How often a reading that stays bad (overdue, still running too long) is written again.
pub const REPEAT_EVERY: Duration = Duration::from_secs(10);
/// How often each job's node sends a heartbeat, so it stays up between runs.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(20);
/// The default factor over the usual duration beyond which a run is slow (WARNING).
pub const DEFAULT_SLOW_FACTOR: f32 = 3.0;
/// The newest stored runs (every job together) read back when the daemon starts.
pub const RESTORE_RUNS: u64 = 10_000;
/// How fast the usual duration follows the runs: each run weighs this much.
const USUAL_WEIGHT: f32 = 0.2;

/// When the run after one that ended at `after_ms` is expected: a period later, or at the
/// schedule's next fire; `u64::MAX` (never) when the calendar has none left.
pub fn next_expected(schedule: &Schedule, after_ms: u64) -> u64 {
    match schedule {
        Schedule::Every(period) => {
            after_ms.saturating_add(u64::try_from(period.as_millis()).unwrap_or(u64::MAX))
        }
        Schedule::Cron(cron) => cron.next_after(after_ms).unwrap_or(u64::MAX),
    }
}

/// One `[[job]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The job's name: its node's name and its URL's (`/ping/NAME`).
    pub name: String,
    /// The schedule as written (`every 1h`, `30 2 * * *`).
    pub schedule_text: String,
    /// The schedule, read in `time_zone`.
    pub schedule: Schedule,
    /// The IANA time zone the schedule is read in, as written; `None`: the machine's.
    pub time_zone: Option<String>,
    /// How late a run may end beyond its schedule before it is missed.
    pub grace: Duration,
    /// A run longer than this many times the usual is slow (WARNING).
    pub slow_factor: f32,
    /// The file holding this job's own bearer token; `None`: the daemon's rules.
    pub token_file: Option<PathBuf>,
}

/// What a check-in says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A run starts (`/start`).
    Start,
    /// A run ended with this exit status (`/ping/NAME` is 0, `/fail` is 1).
    End(u8),
}

impl Signal {
    /// The signal of a ping URL's last part after the job's name: none, `start`, `fail` or an
    /// exit status 0–255.
    pub fn from_suffix(suffix: Option<&str>) -> Result<Signal, String> {
        match suffix {
            None | Some("") => Ok(Signal::End(0)),
            Some("start") => Ok(Signal::Start),
            Some("fail") => Ok(Signal::End(1)),
            Some(code) => code.parse::<u8>().map(Signal::End).map_err(|_| {
                format!("`{code}` is not start, fail or an exit status from 0 to 255")
            }),
        }
    }

    /// How the run is stored and shown: `start`, `success`, `fail`.
    pub const fn kind(self) -> &'static str {
        match self {
            Signal::Start => "start",
            Signal::End(0) => "success",
            Signal::End(_) => "fail",
        }
    }
}

/// One check-in, as kept in history ([`store`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Run {
    /// The job.
    pub job: String,
    /// When it arrived, unix ms.
    pub wall_ms: u64,
    /// `start`, `success` or `fail`.
    pub kind: String,
    /// The exit status of an end.
    pub exit_status: Option<u8>,
    /// From the start to this end, when the start was reported.
    pub duration_ms: Option<u64>,
    /// The message or log tail, at most [`MAX_MESSAGE`] bytes.
    pub message: String,
}

impl Run {
    /// `exit status 3 after 1.2 s`, `started`, `success after 0.5 s`.
    pub fn summary(&self) -> String {
        let after = self
            .duration_ms
            .map(|d| format!(" after {:.2} s", d as f64 / 1000.0))
            .unwrap_or_default();
        match self.exit_status {
            None => "started".into(),
            Some(0) => format!("success{after}"),
            Some(status) => format!("exit status {status}{after}"),
        }
    }
}

/// What a check-in or a tick produced: samples for the job nodes and runs for history.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Samples to frame.
    pub samples: Vec<Sample>,
    /// Runs to store.
    pub runs: Vec<Run>,
}

/// One job's state.
#[derive(Debug, Clone)]
struct JobState {
    spec: JobSpec,
    /// The last end of a run (or the daemon's start before any): what the next is due after.
    due_after_ms: u64,
    running_since: Option<u64>,
    /// The exit status of the last end, re-announced when the daemon restarts.
    last_status: Option<u8>,
    usual: EwStats,
    runs: u32,
    /// When a bad reading (overdue, slow while running) was last written, to repeat it.
    last_overdue_ms: Option<u64>,
    last_slow_ms: Option<u64>,
    last_heartbeat_ms: Option<u64>,
}

/// Every configured job.
#[derive(Debug, Clone)]
pub struct Jobs {
    jobs: Vec<JobState>,
    /// Whether the first tick has announced every job's node.
    announced: bool,
}

/// A job's name is its virtual node's name, so it keeps to node names' rules.
pub fn check_name(name: &str) -> Result<String, String> {
    crate::push::check_node(name).map_err(|e| e.replace("node name", "job name"))
}

/// The rule of each of a job's series.
pub fn rule_for(metric: &str, slow_factor: f32) -> Rule {
    let above = |v: f32| Limits {
        above: Some(Limit::at(Bound::strict(v))),
        below: None,
    };
    let value = match metric {
        "exit_status" | "overdue" => Thresholds {
            warning: Limits::NONE,
            critical: above(0.0),
        },
        "slowness" => Thresholds {
            warning: above(slow_factor),
            critical: Limits::NONE,
        },
        _ => Thresholds::default(),
    };
    Rule {
        value,
        ..Rule::EMPTY
    }
}

fn sample(job: &str, metric: &str, unit: &str, value: f32) -> Sample {
    Sample {
        node: job.to_string(),
        metric: metric.to_string(),
        unit: Some(unit.to_string()),
        value,
    }
}

fn seconds(ms: u64) -> f32 {
    (ms as f64 / 1000.0) as f32
}

/// `text` cut to its last [`MAX_MESSAGE`] bytes at a character boundary.
pub fn bounded_tail(text: &str) -> String {
    if text.len() <= MAX_MESSAGE {
        return text.to_string();
    }
    let mut start = text.len() - MAX_MESSAGE;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

impl Jobs {
    /// The jobs of `specs`, none run yet, the daemon started at `now_ms`.
    pub fn new(specs: &[JobSpec], now_ms: u64) -> Jobs {
        let jobs = specs
            .iter()
            .map(|spec| JobState {
                spec: spec.clone(),
                due_after_ms: now_ms,
                running_since: None,
                last_status: None,
                usual: EwStats::new(Smoothing::Alpha(USUAL_WEIGHT)),
                runs: 0,
                last_overdue_ms: None,
                last_slow_ms: None,
                last_heartbeat_ms: None,
            })
            .collect();
        Jobs {
            jobs,
            announced: false,
        }
    }

    /// The job named `name`.
    pub fn spec(&self, name: &str) -> Option<&JobSpec> {
        self.jobs.iter().map(|j| &j.spec).find(|s| s.name == name)
    }

    /// Every job.
    pub fn specs(&self) -> impl Iterator<Item = &JobSpec> {
        self.jobs.iter().map(|j| &j.spec)
    }

    /// The first readings of every job: not running, not overdue, so each node and its rules are
    /// announced from the start.
    fn announce(&self, out: &mut Vec<Sample>) {
        for job in &self.jobs {
            out.push(sample(&job.spec.name, "running", "", 0.0));
            out.push(sample(&job.spec.name, "overdue", "s", 0.0));
            if let Some(status) = job.last_status {
                out.push(sample(&job.spec.name, "exit_status", "", f32::from(status)));
            }
        }
    }

    /// Picks up where an earlier run of the daemon left off, from its stored `runs` (oldest
    /// first): the next run is due after the last end, the usual duration is learned from the
    /// successful ones, and the last exit status is announced again (a failure stays CRITICAL).
    pub fn restore(&mut self, runs: &[Run]) {
        for run in runs {
            let Some(job) = self.jobs.iter_mut().find(|j| j.spec.name == run.job) else {
                continue;
            };
            let Some(status) = run.exit_status else {
                continue;
            };
            job.due_after_ms = run.wall_ms;
            job.last_status = Some(status);
            if let (0, Some(duration)) = (status, run.duration_ms) {
                if job.usual.update(run.wall_ms, duration as f32).is_ok() {
                    job.runs = job.runs.saturating_add(1);
                }
            }
        }
    }

    /// A check-in of `name` at `now_ms`; `None` when no job has that name.
    pub fn check_in(
        &mut self,
        name: &str,
        signal: Signal,
        message: &str,
        now_ms: u64,
    ) -> Option<Outcome> {
        let job = self.jobs.iter_mut().find(|j| j.spec.name == name)?;
        let mut out = Outcome::default();
        let mut run = Run {
            job: name.to_string(),
            wall_ms: now_ms,
            kind: signal.kind().to_string(),
            exit_status: None,
            duration_ms: None,
            message: bounded_tail(message),
        };
        match signal {
            Signal::Start => {
                job.running_since = Some(now_ms);
                job.last_slow_ms = None;
                out.samples.push(sample(name, "running", "", 1.0));
            }
            Signal::End(status) => {
                run.exit_status = Some(status);
                run.duration_ms = job.running_since.map(|s| now_ms.saturating_sub(s));
                job.end(status, run.duration_ms, now_ms, &mut out.samples);
            }
        }
        out.runs.push(run);
        Some(out)
    }

    /// What time passing to `now_ms` makes known: at the first tick every job's node; then runs
    /// overdue and runs still going beyond their usual duration.
    pub fn tick(&mut self, now_ms: u64) -> Outcome {
        let mut out = Outcome::default();
        if !self.announced {
            self.announce(&mut out.samples);
            self.announced = true;
        }
        for job in &mut self.jobs {
            job.check_overdue(now_ms, &mut out.samples);
            job.check_still_running(now_ms, &mut out.samples);
        }
        out
    }

    /// The jobs whose node is due a heartbeat at `now_ms` (marked as sent).
    pub fn heartbeats_due(&mut self, now_ms: u64) -> Vec<String> {
        let every = HEARTBEAT_EVERY.as_millis() as u64;
        self.jobs
            .iter_mut()
            .filter(|j| {
                j.last_heartbeat_ms
                    .is_none_or(|last| now_ms.saturating_sub(last) >= every)
            })
            .map(|j| {
                j.last_heartbeat_ms = Some(now_ms);
                j.spec.name.clone()
            })
            .collect()
    }
}

impl JobState {
    /// The usual duration, once enough runs have been seen.
    fn usual_ms(&self) -> Option<f32> {
        let floor = USUAL_FLOOR.as_millis() as f32;
        (self.runs >= MIN_RUNS)
            .then(|| self.usual.mean())
            .flatten()
            .map(|mean| mean.max(floor))
    }

    /// When the next run is late: its schedule after the last end, plus grace.
    fn deadline_ms(&self) -> u64 {
        next_expected(&self.spec.schedule, self.due_after_ms)
            .saturating_add(self.spec.grace.as_millis() as u64)
    }

    fn end(&mut self, status: u8, duration_ms: Option<u64>, now_ms: u64, out: &mut Vec<Sample>) {
        let name = self.spec.name.clone();
        out.push(sample(&name, "exit_status", "", f32::from(status)));
        out.push(sample(&name, "overdue", "s", 0.0));
        out.push(sample(&name, "running", "", 0.0));
        if let Some(duration) = duration_ms {
            out.push(sample(&name, "duration", "s", seconds(duration)));
            if let Some(usual) = self.usual_ms() {
                out.push(sample(&name, "slowness", "", duration as f32 / usual));
            }
            if status == 0 && self.usual.update(now_ms, duration as f32).is_ok() {
                self.runs = self.runs.saturating_add(1);
            }
        }
        self.due_after_ms = now_ms;
        self.last_status = Some(status);
        self.running_since = None;
        self.last_overdue_ms = None;
        self.last_slow_ms = None;
    }

    fn check_overdue(&mut self, now_ms: u64, out: &mut Vec<Sample>) {
        let deadline = self.deadline_ms();
        if now_ms <= deadline || !repeat_due(self.last_overdue_ms, now_ms) {
            return;
        }
        self.last_overdue_ms = Some(now_ms);
        out.push(sample(
            &self.spec.name,
            "overdue",
            "s",
            seconds(now_ms - deadline),
        ));
    }

    fn check_still_running(&mut self, now_ms: u64, out: &mut Vec<Sample>) {
        let (Some(since), Some(usual)) = (self.running_since, self.usual_ms()) else {
            return;
        };
        let slowness = now_ms.saturating_sub(since) as f32 / usual;
        if slowness <= self.spec.slow_factor || !repeat_due(self.last_slow_ms, now_ms) {
            return;
        }
        self.last_slow_ms = Some(now_ms);
        out.push(sample(&self.spec.name, "slowness", "", slowness));
    }
}

/// Whether a reading last written at `last` is due again at `now_ms`.
fn repeat_due(last: Option<u64>, now_ms: u64) -> bool {
    last.is_none_or(|last| now_ms.saturating_sub(last) >= REPEAT_EVERY.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(every: &str, grace_s: u64) -> JobSpec {
        JobSpec {
            name: "backup".into(),
            schedule_text: every.into(),
            schedule: Schedule::parse(every, Some("UTC")).unwrap(),
            time_zone: None,
            grace: Duration::from_secs(grace_s),
            slow_factor: DEFAULT_SLOW_FACTOR,
            token_file: None,
        }
    }

    fn values(out: &Outcome, metric: &str) -> Vec<f32> {
        out.samples
            .iter()
            .filter(|s| s.metric == metric)
            .map(|s| s.value)
            .collect()
    }

    #[test]
    fn a_run_is_overdue_after_its_schedule_and_grace_and_an_end_clears_it() {
        let mut jobs = Jobs::new(&[spec("every 60s", 10)], 0);
        assert_eq!(values(&jobs.tick(0), "overdue"), [0.0], "announced");
        assert!(values(&jobs.tick(70_000), "overdue").is_empty());
        let late = jobs.tick(70_001);
        assert_eq!(values(&late, "overdue"), [0.001]);
        // Repeated only every REPEAT_EVERY.
        assert!(values(&jobs.tick(75_000), "overdue").is_empty());
        assert_eq!(values(&jobs.tick(80_001), "overdue"), [10.001]);
        let end = jobs.check_in("backup", Signal::End(0), "", 81_000).unwrap();
        assert_eq!(values(&end, "overdue"), [0.0]);
        assert!(values(&jobs.tick(151_000), "overdue").is_empty());
        assert_eq!(values(&jobs.tick(151_001), "overdue").len(), 1);
    }

    #[test]
    fn a_run_five_times_its_usual_length_is_slow_at_its_end_and_while_it_runs() {
        let mut jobs = Jobs::new(&[spec("every 1h", 60)], 0);
        let mut t = 0;
        for _ in 0..MIN_RUNS {
            jobs.check_in("backup", Signal::Start, "", t).unwrap();
            let end = jobs
                .check_in("backup", Signal::End(0), "", t + 1_000)
                .unwrap();
            assert!(values(&end, "slowness").is_empty(), "not judged yet");
            t += 10_000;
        }
        jobs.check_in("backup", Signal::Start, "", t).unwrap();
        jobs.tick(t);
        assert!(values(&jobs.tick(t + 2_900), "slowness").is_empty());
        assert_eq!(values(&jobs.tick(t + 3_500), "slowness"), [3.5]);
        let end = jobs
            .check_in("backup", Signal::End(0), "", t + 5_000)
            .unwrap();
        assert_eq!(values(&end, "slowness"), [5.0]);
        assert_eq!(values(&end, "duration"), [5.0]);
        let slow = rule_for("slowness", DEFAULT_SLOW_FACTOR);
        assert!(slow.value.warning.above.is_some());
    }

    #[test]
    fn a_restart_picks_up_the_last_end_the_usual_duration_and_a_failure() {
        let mut first = Jobs::new(&[spec("every 60s", 10)], 0);
        let mut stored = Vec::new();
        for (t, status) in [(0, 0), (60_000, 0), (120_000, 0), (180_000, 4)] {
            stored.extend(first.check_in("backup", Signal::Start, "", t).unwrap().runs);
            let end = first.check_in("backup", Signal::End(status), "", t + 1_000);
            stored.extend(end.unwrap().runs);
        }
        // The daemon restarts long after the last end: overdue at once, still failed, and the
        // usual duration known.
        let mut jobs = Jobs::new(&[spec("every 60s", 10)], 500_000);
        jobs.restore(&stored);
        let first_tick = jobs.tick(500_000);
        assert_eq!(values(&first_tick, "exit_status"), [4.0]);
        assert!(values(&first_tick, "overdue").iter().any(|&v| v > 0.0));
        jobs.check_in("backup", Signal::Start, "", 600_000).unwrap();
        let end = jobs
            .check_in("backup", Signal::End(0), "", 605_000)
            .unwrap();
        assert_eq!(values(&end, "slowness"), [5.0]);
    }

    #[test]
    fn signals_and_their_urls() {
        assert_eq!(Signal::from_suffix(None), Ok(Signal::End(0)));
        assert_eq!(Signal::from_suffix(Some("start")), Ok(Signal::Start));
        assert_eq!(Signal::from_suffix(Some("fail")), Ok(Signal::End(1)));
        assert_eq!(Signal::from_suffix(Some("3")), Ok(Signal::End(3)));
        assert!(Signal::from_suffix(Some("256")).is_err());
        assert!(Signal::from_suffix(Some("log")).is_err());
        let mut jobs = Jobs::new(&[spec("every 1h", 60)], 0);
        assert!(jobs.check_in("other", Signal::Start, "", 0).is_none());
        let tail = "é".repeat(MAX_MESSAGE);
        let out = jobs.check_in("backup", Signal::End(2), &tail, 5).unwrap();
        assert!(out.runs[0].message.len() <= MAX_MESSAGE);
        assert_eq!(out.runs[0].kind, "fail");
        assert_eq!(values(&out, "exit_status"), [2.0]);
    }

    #[test]
    fn a_calendar_run_is_due_at_the_next_fire_after_the_last_end() {
        // 02:30 UTC daily; the daemon starts at 1970-01-01 00:00, grace 10 minutes.
        let mut jobs = Jobs::new(&[spec("30 2 * * *", 600)], 0);
        jobs.tick(0);
        let fire = (2 * 60 + 30) * 60_000;
        assert!(values(&jobs.tick(fire + 600_000), "overdue").is_empty());
        assert_eq!(values(&jobs.tick(fire + 600_001), "overdue"), [0.001]);
        // It ends at 02:45: the next is due at 02:30 the day after.
        jobs.check_in("backup", Signal::End(0), "", fire + 900_000)
            .unwrap();
        let next = fire + 86_400_000;
        assert!(values(&jobs.tick(next + 600_000), "overdue").is_empty());
        assert_eq!(values(&jobs.tick(next + 600_001), "overdue").len(), 1);
    }
}
