//! A delivery sink: transitions queued in the persistent [`Outbox`] by the ingest thread, and
//! sent from there by a worker thread of the sink's own, one at a time, in order, retried with
//! capped exponential backoff and jitter until the receiver takes them.
//!
//! Two stages, one per thread:
//! - [`Render`] (ingest thread): a transition becomes messages and firing-state changes, queued in
//!   one SQLite transaction. This is all the ingest thread ever waits for: no network, no child
//!   process.
//! - [`Transport`] (worker thread): the head message is sent; on success it is removed, on failure
//!   the worker waits out the backoff and sends the same message again. A transport that keeps
//!   firing alerts alive (Alertmanager) also re-sends them when the queue is empty.
//!
//! Invariants:
//! - At least once, in order: nothing leaves the outbox before its delivery succeeded, and nothing
//!   behind the head is sent before the head (a receiver down gets everything, in order, when it
//!   returns, even across restarts of the daemon).
//! - The [`SinkStatus`] is the outbox's: `pending` is what is queued, `dropped` what the bound threw
//!   away (ever), the level CRITICAL from a failed delivery until the next success.
//! - The run's end ([`Sink::finish`]) tries the queue once more without waiting out the backoff,
//!   for at most one delivery timeout plus [`FINISH_GRACE`]; what is left stays queued for the
//!   next run.

use super::message::TransitionMessage;
use super::outbox::{FiringChange, Outbox, Queued};
use super::spec::{SinkKind, SinkSpec};
use super::{alertmanager, command, webhook, Batch, Sink, SinkStatus};
use crate::ingest::{Event, NodeEventKind};
use crate::operator::gate::SharedVerdicts;
use crate::source::Backoff;
use rackwatch_core::hash::fnv1a64;
use rackwatch_core::rng::XorShift64Star;
use rackwatch_core::Level;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The first wait after a failed delivery.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// How long the run's end may wait beyond one delivery's timeout.
pub const FINISH_GRACE: Duration = Duration::from_secs(2);
/// How long an idle worker waits before looking at the outbox again on its own (it is woken
/// when something is queued).
const IDLE_WAIT: Duration = Duration::from_secs(1);

/// What the ingest thread makes of a transition: messages (id, body) and firing-state changes.
pub type Rendered = (Vec<(String, String)>, Vec<FiringChange>);

/// Turns transitions into queued messages (ingest thread).
pub trait Render: Send {
    /// The messages for one transition.
    fn render(&mut self, message: &TransitionMessage) -> Rendered;

    /// The node `node` rebooted at `wall_ms`: its alerts' judges (its own and the host's monitor
    /// of it) start over at OK without a transition, so what fired for it is over.
    fn node_reset(&mut self, _node: u16, _wall_ms: u64) -> Rendered {
        (Vec::new(), Vec::new())
    }
}

/// Sends queued messages (worker thread).
pub trait Transport: Send {
    /// Sends one message; `Err` with a sentence saying what failed.
    fn send(&mut self, message: &Queued) -> Result<(), String>;

    /// How often the firing alerts are sent again, for a transport that keeps them alive.
    fn refresh_every(&self) -> Option<Duration> {
        None
    }

    /// Sends the firing alerts (key, alert) again.
    fn refresh(&mut self, _firing: &[(String, String)]) -> Result<(), String> {
        Ok(())
    }
}

/// The waits between attempts: doubling from [`FIRST_RETRY`] to the cap, each with ±25 % jitter,
/// and never beyond the cap.
pub struct RetrySchedule {
    backoff: Backoff,
    next: Duration,
    rng: XorShift64Star,
}

impl RetrySchedule {
    /// A schedule capped at `max`, its jitter seeded by `seed`.
    pub fn new(max: Duration, seed: u64) -> RetrySchedule {
        let backoff = Backoff {
            initial: FIRST_RETRY.min(max),
            max,
        };
        RetrySchedule {
            next: backoff.initial,
            backoff,
            rng: XorShift64Star::new(seed | 1),
        }
    }

    /// The wait before the next attempt, after one more failure.
    pub fn after_failure(&mut self) -> Duration {
        let wait = self
            .backoff
            .jittered(self.next, &mut self.rng)
            .min(self.backoff.max);
        self.next = self.backoff.next(self.next);
        wait
    }

    /// A delivery succeeded: the next failure waits the least again.
    pub fn reset(&mut self) {
        self.next = self.backoff.initial;
    }
}

/// What both threads know of the sink.
struct Shared {
    stop: AtomicBool,
    finishing: AtomicBool,
    status: Mutex<SinkStatus>,
}

impl Shared {
    fn update(&self, change: impl FnOnce(&mut SinkStatus)) {
        if let Ok(mut status) = self.status.lock() {
            change(&mut status);
        }
    }

    fn failed(&self, error: &str) {
        self.update(|s| {
            // Each new reason is logged once; the same one again only counts (the backoff bounds
            // how often that is).
            if s.last_error.as_deref() != Some(error) {
                tracing::warn!(sink = %s.name, "delivery failed, retrying with backoff: {error}");
            }
            s.failures += 1;
            s.last_error = Some(error.to_string());
            s.level = Level::Critical;
        });
    }

    fn succeeded(&self) {
        self.update(|s| {
            if s.last_error.take().is_some() {
                tracing::info!(sink = %s.name, "delivering again");
            }
            s.level = Level::Ok;
        });
    }
}

/// A configured delivery sink, running.
pub struct DeliverySink {
    outbox: Outbox,
    render: Box<dyn Render>,
    shared: Arc<Shared>,
    wake: SyncSender<()>,
    worker: Option<JoinHandle<()>>,
    timeout: Duration,
    /// The gate's verdicts on each batch (acks and silences), when there is a gate.
    verdicts: Option<SharedVerdicts>,
}

/// Starts the sink `spec`, its outbox in `outbox_path`; `state_url` is the daemon's `/state`;
/// `verdicts` say which transitions acks and silences mute (`crate::operator::gate`).
pub fn start(
    spec: &SinkSpec,
    outbox_path: &Path,
    state_url: Option<String>,
    verdicts: Option<SharedVerdicts>,
) -> anyhow::Result<DeliverySink> {
    let open = || {
        Outbox::open(outbox_path, &spec.name, spec.delivery.max_pending).map_err(|e| {
            anyhow::anyhow!(
                "sink {}: cannot open its outbox {}: {e}",
                spec.name,
                outbox_path.display()
            )
        })
    };
    let outbox = open()?;
    let worker_outbox = open()?;
    let d = &spec.delivery;
    let (render, transport): (Box<dyn Render>, Box<dyn Transport>) = match &spec.kind {
        SinkKind::Webhook(w) => (
            Box::new(webhook::Documents),
            Box::new(webhook::Webhook::new(w, d.timeout).map_err(|e| sink_error(spec, e))?),
        ),
        SinkKind::Command(c) => (
            Box::new(webhook::Documents),
            Box::new(command::CommandRunner::new(c, d.timeout)),
        ),
        SinkKind::Alertmanager(a) => {
            let firing = outbox.firing()?;
            (
                Box::new(alertmanager::Alerts::new(a, state_url, firing)),
                Box::new(
                    alertmanager::AlertPoster::new(a, d.timeout)
                        .map_err(|e| sink_error(spec, e))?,
                ),
            )
        }
    };
    let status = SinkStatus {
        name: spec.name.clone(),
        level: Level::Ok,
        pending: outbox.pending()?,
        dropped: outbox.dropped()?,
        failures: 0,
        last_error: None,
    };
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        finishing: AtomicBool::new(false),
        status: Mutex::new(status),
    });
    let (wake, woken) = sync_channel(1);
    let seed = fnv1a64(spec.name.as_bytes()) ^ crate::source::now_ms();
    let worker = Worker {
        outbox: worker_outbox,
        transport,
        shared: Arc::clone(&shared),
        woken,
        retry: RetrySchedule::new(d.retry_max, seed),
    };
    let worker = std::thread::Builder::new()
        .name(format!("sink {}", spec.name))
        .spawn(move || worker.run())?;
    tracing::info!(sink = %spec.name, kind = spec.kind.name(), "delivery sink started");
    Ok(DeliverySink {
        outbox,
        render,
        shared,
        wake,
        worker: Some(worker),
        timeout: d.timeout,
        verdicts,
    })
}

fn sink_error(spec: &SinkSpec, e: String) -> anyhow::Error {
    anyhow::anyhow!("sink {}: {e}", spec.name)
}

impl DeliverySink {
    fn wake_worker(&self) {
        match self.wake.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
        }
    }
}

impl Sink for DeliverySink {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        let mut messages = Vec::new();
        let mut changes = Vec::new();
        let verdicts = self
            .verdicts
            .as_ref()
            .map(|v| v.lock().unwrap_or_else(|e| e.into_inner()).clone());
        let muted =
            |m: &TransitionMessage| verdicts.as_ref().is_some_and(|v| v.muted.contains(&m.id));
        for event in batch.events {
            let rendered = match event {
                Event::NodeEvent {
                    node,
                    wall_ms,
                    kind: NodeEventKind::Reset { .. },
                    ..
                } => self.render.node_reset(*node, *wall_ms),
                _ => match TransitionMessage::from_event(event, batch.ingest) {
                    Some(m) if !muted(&m) => self.render.render(&m),
                    _ => continue,
                },
            };
            messages.extend(rendered.0);
            changes.extend(rendered.1);
        }
        // The nodes' own alerts (down, up), then what ended silences held back: one
        // notification each, after the batch's own.
        let extra = verdicts
            .iter()
            .flat_map(|v| v.node_alerts.iter().chain(&v.released));
        for m in extra {
            let rendered = self.render.render(m);
            messages.extend(rendered.0);
            changes.extend(rendered.1);
        }
        if messages.is_empty() && changes.is_empty() {
            return Ok(());
        }
        let queued = self
            .outbox
            .push(&messages, &changes, batch.now_ms)
            .and_then(|_| Ok((self.outbox.pending()?, self.outbox.dropped()?)));
        match queued {
            Ok((pending, dropped)) => self.shared.update(|s| {
                s.pending = pending;
                s.dropped = dropped;
            }),
            // The outbox file failed (a full disk): these transitions are lost to this sink, and
            // that is said and counted rather than stopping the pipeline.
            Err(e) => {
                let lost = messages.len() as u64;
                self.shared
                    .failed(&format!("cannot queue {lost} messages: {e}"));
                self.shared.update(|s| s.dropped += lost);
            }
        }
        self.wake_worker();
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        self.shared.finishing.store(true, Ordering::Relaxed);
        self.wake_worker();
        if let Some(worker) = self.worker.take() {
            let deadline = Instant::now() + self.timeout + FINISH_GRACE;
            while !worker.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            self.shared.stop.store(true, Ordering::Relaxed);
            if worker.is_finished() {
                let _ = worker.join();
            }
        }
        let status = self.status();
        if let Some(s) = status.filter(|s| s.pending > 0) {
            tracing::warn!(
                sink = %s.name,
                pending = s.pending,
                "messages stay queued in the outbox for the next run"
            );
        }
        Ok(())
    }

    fn status(&self) -> Option<SinkStatus> {
        self.shared.status.lock().ok().map(|s| s.clone())
    }
}

impl Drop for DeliverySink {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        self.wake_worker();
    }
}

/// The sink's worker thread.
struct Worker {
    outbox: Outbox,
    transport: Box<dyn Transport>,
    shared: Arc<Shared>,
    woken: Receiver<()>,
    retry: RetrySchedule,
}

/// What one look at the outbox led to.
enum Step {
    /// Look again at once.
    Again,
    /// Nothing to do: wait to be woken.
    Idle,
    /// Failed: wait out the backoff.
    Failed,
}

impl Worker {
    fn run(mut self) {
        let mut last_refresh = Instant::now();
        while !self.shared.stop.load(Ordering::Relaxed) {
            let finishing = self.shared.finishing.load(Ordering::Relaxed);
            let step = match self.send_head() {
                Step::Idle => self.refresh_if_due(&mut last_refresh),
                other => other,
            };
            match (step, finishing) {
                (Step::Again, _) => continue,
                (_, true) => break,
                (Step::Failed, false) => {
                    let wait = self.retry.after_failure();
                    if !self.back_off(wait) {
                        break;
                    }
                }
                (Step::Idle, false) => {
                    let wait = self.until_refresh(last_refresh).min(IDLE_WAIT);
                    if let Err(RecvTimeoutError::Disconnected) = self.woken.recv_timeout(wait) {
                        break;
                    }
                }
            }
        }
    }

    /// Waits out a backoff; cut short when the run ends (for the last try) or stops. New messages
    /// do not cut it: they queue behind the one that failed. Returns whether to go on.
    fn back_off(&self, wait: Duration) -> bool {
        let until = Instant::now() + wait;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return false;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() || self.shared.finishing.load(Ordering::Relaxed) {
                return true;
            }
            if let Err(RecvTimeoutError::Disconnected) = self.woken.recv_timeout(left) {
                return false;
            }
        }
    }

    /// Sends the oldest queued message, if any.
    fn send_head(&mut self) -> Step {
        let head = match self.outbox.head() {
            Ok(Some(head)) => head,
            Ok(None) => return Step::Idle,
            Err(e) => {
                self.shared.failed(&format!("cannot read the outbox: {e}"));
                return Step::Failed;
            }
        };
        if let Err(e) = self.transport.send(&head) {
            self.shared.failed(&e);
            return Step::Failed;
        }
        if let Err(e) = self.outbox.remove(head.seq) {
            // Delivered but still queued: it goes again (same id) once the outbox works.
            self.shared
                .failed(&format!("cannot update the outbox: {e}"));
            return Step::Failed;
        }
        self.retry.reset();
        self.shared.succeeded();
        let pending = self.outbox.pending().unwrap_or(0);
        self.shared.update(|s| s.pending = pending);
        Step::Again
    }

    fn until_refresh(&self, last: Instant) -> Duration {
        self.transport
            .refresh_every()
            .map_or(IDLE_WAIT, |every| every.saturating_sub(last.elapsed()))
    }

    /// Re-sends the firing alerts when their interval has passed (and only with an empty queue,
    /// so that a refresh never overtakes a queued change).
    fn refresh_if_due(&mut self, last: &mut Instant) -> Step {
        let Some(every) = self.transport.refresh_every() else {
            return Step::Idle;
        };
        if last.elapsed() < every {
            return Step::Idle;
        }
        let firing = match self.outbox.firing() {
            Ok(firing) => firing,
            Err(e) => {
                self.shared.failed(&format!("cannot read the outbox: {e}"));
                return Step::Failed;
            }
        };
        if firing.is_empty() {
            *last = Instant::now();
            return Step::Idle;
        }
        match self.transport.refresh(&firing) {
            Ok(()) => {
                *last = Instant::now();
                self.retry.reset();
                self.shared.succeeded();
                Step::Idle
            }
            Err(e) => {
                self.shared.failed(&e);
                Step::Failed
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_with_jitter_up_to_the_cap() {
        let cap = Duration::from_secs(30);
        let mut schedule = RetrySchedule::new(cap, 7);
        let mut base = FIRST_RETRY;
        let mut waits = Vec::new();
        for _ in 0..20 {
            let wait = schedule.after_failure();
            // Within ±25 % of the doubled base, and never beyond the cap.
            assert!(
                wait >= base.mul_f64(0.75) && wait <= base.mul_f64(1.25),
                "{wait:?} {base:?}"
            );
            assert!(wait <= cap);
            waits.push(wait);
            base = (base * 2).min(cap);
        }
        // Jittered: the waits at the cap are not all the same.
        let capped = &waits[10..];
        assert!(capped.iter().any(|w| *w != capped[0]));
        schedule.reset();
        assert!(schedule.after_failure() <= FIRST_RETRY.mul_f64(1.25));
        // Two sinks seeded differently do not retry in lockstep.
        let mut other = RetrySchedule::new(cap, 8);
        let mut again = RetrySchedule::new(cap, 7);
        let a: Vec<_> = (0..5).map(|_| again.after_failure()).collect();
        let b: Vec<_> = (0..5).map(|_| other.after_failure()).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn a_cap_below_the_first_wait_holds() {
        let mut schedule = RetrySchedule::new(Duration::from_millis(100), 1);
        for _ in 0..5 {
            assert!(schedule.after_failure() <= Duration::from_millis(100));
        }
    }
}
