//! `/ping/NAME`, `/ping/NAME/start`, `/ping/NAME/fail`, `/ping/NAME/<exit status>` (healthchecks.io's
//! URL shapes, `GET` or `POST`, the body a message or log tail), and the tick that notices runs
//! that do not arrive ([`crate::jobs`]).
//!
//! Invariants:
//! - A check-in and a tick change the jobs and the virtual nodes on copies, and keep the copies
//!   only once their frames are in the ingest channel (offered with `try_send`, never waited on):
//!   a full queue is `503` for a ping and a retry at the next tick for the clock, nothing lost.
//! - The jobs' lock is taken before the virtual nodes' (pushes take only the latter), so the two
//!   never wait on each other in opposite orders.
//! - A run is written to the history database after its frames are on their way; a store that
//!   fails (a full disk) costs the run's row only, logged, and never the check-in.

use crate::jobs::store::RunStore;
use crate::jobs::{rule_for, Jobs, Outcome, Signal};
use crate::push::VirtualNodes;
use crate::source::SourceMsg;
use hyper::body::Bytes;
use hyper::StatusCode;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The prefix of every check-in URL.
pub const PREFIX: &str = "/ping/";
/// How often the clock looks for runs that did not arrive.
pub const TICK_EVERY: Duration = Duration::from_millis(250);

/// Where check-ins go: the jobs, the virtual nodes they are framed as, the ingest channel.
pub struct JobDoor {
    /// The ingest thread's channel, shared with the sources.
    pub tx: SyncSender<SourceMsg>,
    /// The pushes' index among the pipeline's sources (job nodes are virtual nodes).
    pub source: usize,
    /// The virtual nodes, shared with `POST /push`.
    pub nodes: Arc<Mutex<VirtualNodes>>,
    /// Every job's state.
    pub jobs: Mutex<Jobs>,
    /// Each job's own token, read at start, by job name.
    pub tokens: BTreeMap<String, String>,
    /// The history database runs are written to; `None`: no history.
    pub store: Option<PathBuf>,
}

/// The answer to a check-in: a status and a line of text.
pub type Answer = (StatusCode, String);

/// The job a check-in path names, and the rest after it (`start`, `fail`, an exit status).
fn split(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix(PREFIX)?;
    let mut parts = rest.splitn(3, '/');
    let name = parts.next().filter(|n| !n.is_empty())?;
    let suffix = parts.next();
    if parts.next().is_some() {
        return None;
    }
    Some((name, suffix))
}

impl JobDoor {
    /// The token the job a check-in path names has of its own, if any.
    pub fn token_for(&self, path: &str) -> Option<&str> {
        let (name, _) = split(path)?;
        self.tokens.get(name).map(String::as_str)
    }
}

/// One check-in at `path` with `body` (its message).
pub fn ping(door: Option<&JobDoor>, path: &str, body: &Bytes) -> Answer {
    let Some(door) = door else {
        return (
            StatusCode::NOT_FOUND,
            "this daemon watches no jobs: add a [[job]] to its configuration (docs/jobs.md) and \
             restart it\n"
                .into(),
        );
    };
    let Some((name, suffix)) = split(path) else {
        return (
            StatusCode::NOT_FOUND,
            "not a check-in: use /ping/NAME, /ping/NAME/start, /ping/NAME/fail or \
             /ping/NAME/<exit status>\n"
                .into(),
        );
    };
    // Both parts are echoed only once known to be short and plain: a path is the client's.
    if crate::jobs::check_name(name).is_err() {
        return (
            StatusCode::NOT_FOUND,
            "no job has that name: a job's name is letters, digits, `_`, `.`, `-`, at most 16 \
             bytes\n"
                .into(),
        );
    }
    let signal = match (Signal::from_suffix(suffix), suffix) {
        (Ok(signal), _) => signal,
        (Err(why), Some(s)) if s.len() <= 16 && crate::jobs::check_name(s).is_ok() => {
            return (StatusCode::NOT_FOUND, format!("/ping/{name}/…: {why}\n"))
        }
        (Err(_), _) => {
            return (
                StatusCode::NOT_FOUND,
                format!(
                    "/ping/{name}/…: after the name comes start, fail or an exit status from 0 \
                     to 255\n"
                ),
            )
        }
    };
    let message = String::from_utf8_lossy(body);
    let now_ms = crate::source::now_ms();
    let result = apply(door, now_ms, |jobs| {
        jobs.check_in(name, signal, &message, now_ms)
    });
    match result {
        Ok(Some(runs)) => {
            store_runs(door, &runs);
            (StatusCode::OK, "OK\n".into())
        }
        Ok(None) => {
            let known = door
                .jobs
                .lock()
                .map(|jobs| jobs.specs().map(|s| s.name.clone()).collect::<Vec<_>>())
                .unwrap_or_default();
            (
                StatusCode::NOT_FOUND,
                format!(
                    "no job named `{name}`: the daemon's jobs are {}; add a [[job]] for it to \
                     the configuration\n",
                    known.join(", ")
                ),
            )
        }
        Err(answer) => answer,
    }
}

/// The clock: runs overdue, runs going long, heartbeats. A full queue leaves everything for the
/// next tick.
pub fn tick(door: &JobDoor) {
    let now_ms = crate::source::now_ms();
    if let Err((_, why)) = apply(door, now_ms, |jobs| Some(jobs.tick(now_ms))) {
        tracing::debug!("job clock: {}", why.trim());
    }
}

/// Runs `change` on a copy of the jobs, frames what it returns (and the heartbeats due) on a copy
/// of the virtual nodes, and keeps both copies once the frames are in the channel. `Ok(None)`:
/// `change` found no such job. Returns the runs to store.
fn apply(
    door: &JobDoor,
    now_ms: u64,
    change: impl FnOnce(&mut Jobs) -> Option<Outcome>,
) -> Result<Option<Vec<crate::jobs::Run>>, Answer> {
    let unusable = || {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the job state is unusable after an earlier failure; restart the daemon\n".into(),
        )
    };
    let mut jobs = door.jobs.lock().map_err(|_| unusable())?;
    let mut next_jobs = jobs.clone();
    let Some(outcome) = change(&mut next_jobs) else {
        return Ok(None);
    };
    let heartbeats = next_jobs.heartbeats_due(now_ms);
    let mut nodes = door.nodes.lock().map_err(|_| unusable())?;
    let mut next_nodes = nodes.clone();
    let slow_factor = |node: &str| next_jobs.spec(node).map_or(1.0, |s| s.slow_factor);
    let mut bytes = next_nodes
        .frame_judged(&outcome.samples, now_ms, |s| {
            rule_for(&s.metric, slow_factor(&s.node))
        })
        .map_err(|e| {
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("nothing applied: {e}\n"),
            )
        })?
        .bytes;
    for name in heartbeats {
        bytes.extend(next_nodes.heartbeat(&name, now_ms));
    }
    if !bytes.is_empty() {
        send(door, now_ms, bytes)?;
    }
    *jobs = next_jobs;
    *nodes = next_nodes;
    Ok(Some(outcome.runs))
}

fn send(door: &JobDoor, wall_ms: u64, bytes: Vec<u8>) -> Result<(), Answer> {
    let message = SourceMsg::Bytes {
        source: door.source,
        wall_ms,
        bytes,
    };
    match door.tx.try_send(message) {
        Ok(()) => Ok(()),
        Err(TrySendError::Full(_)) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "nothing applied: the daemon's ingest queue is full; retry in a second\n".into(),
        )),
        Err(TrySendError::Disconnected(_)) => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            "nothing applied: the daemon is stopping\n".into(),
        )),
    }
}

fn store_runs(door: &JobDoor, runs: &[crate::jobs::Run]) {
    let Some(path) = &door.store else {
        return;
    };
    if let Err(e) = RunStore::open(path).and_then(|mut s| s.write(runs)) {
        tracing::warn!("a job run is not kept in history: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobSpec, DEFAULT_SLOW_FACTOR};
    use crate::schedule::Schedule;
    use std::sync::mpsc::sync_channel;

    fn door(capacity: usize) -> (JobDoor, std::sync::mpsc::Receiver<SourceMsg>) {
        let (tx, rx) = sync_channel(capacity);
        let spec = JobSpec {
            name: "backup".into(),
            schedule_text: "every 1h".into(),
            schedule: Schedule::parse("every 1h", None).unwrap(),
            time_zone: None,
            grace: Duration::from_secs(60),
            slow_factor: DEFAULT_SLOW_FACTOR,
            token_file: None,
        };
        let door = JobDoor {
            tx,
            source: 0,
            nodes: Arc::new(Mutex::new(VirtualNodes::new(100))),
            jobs: Mutex::new(Jobs::new(&[spec], 0)),
            tokens: BTreeMap::from([("backup".to_string(), "s3".to_string())]),
            store: None,
        };
        (door, rx)
    }

    #[test]
    fn paths_name_a_job_and_what_happened() {
        assert_eq!(split("/ping/backup"), Some(("backup", None)));
        assert_eq!(split("/ping/backup/start"), Some(("backup", Some("start"))));
        assert_eq!(split("/ping/"), None);
        assert_eq!(split("/ping/a/b/c"), None);
        let (door, rx) = door(4);
        assert_eq!(door.token_for("/ping/backup/fail"), Some("s3"));
        assert_eq!(door.token_for("/ping/other"), None);
        let body = Bytes::new();
        assert_eq!(ping(Some(&door), "/ping/backup/7", &body).0, StatusCode::OK);
        assert!(matches!(rx.try_recv(), Ok(SourceMsg::Bytes { .. })));
        let (status, text) = ping(Some(&door), "/ping/nightly", &body);
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(text.contains("backup"), "{text}");
        assert_eq!(
            ping(Some(&door), "/ping/backup/log", &body).0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(ping(None, "/ping/backup", &body).0, StatusCode::NOT_FOUND);
        // What the client wrote is echoed only when short and plain.
        let long = format!("/ping/{}", "a".repeat(10_000));
        let (status, text) = ping(Some(&door), &long, &body);
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(text.len() < 200, "{text}");
        let (status, text) = ping(Some(&door), &format!("{long}/x"), &body);
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(text.len() < 200, "{text}");
        let (_, text) = ping(
            Some(&door),
            &format!("/ping/backup/{}", "9".repeat(5000)),
            &body,
        );
        assert!(text.len() < 200, "{text}");
    }

    #[test]
    fn a_full_queue_is_503_and_the_start_is_not_lost() {
        let (door, rx) = door(1);
        door.tx.send(SourceMsg::Connected { source: 0 }).unwrap();
        let body = Bytes::new();
        let (status, _) = ping(Some(&door), "/ping/backup/start", &body);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        let _ = rx.try_recv();
        assert_eq!(
            ping(Some(&door), "/ping/backup/start", &body).0,
            StatusCode::OK
        );
        // The refused ping announced nothing, so this one carries the node's Hello.
        let Ok(SourceMsg::Bytes { bytes, .. }) = rx.try_recv() else {
            panic!("nothing sent")
        };
        let mut decoder: rackwatch_core::wire::Decoder<{ rackwatch_core::wire::MAX_ENCODED_LEN }> =
            rackwatch_core::wire::Decoder::new();
        let first = decoder.feed(&bytes).next().unwrap().unwrap();
        assert_eq!(first.body.kind(), rackwatch_core::wire::Kind::Hello);
    }
}
