//! The engine behind `rackwatch run`: source threads feed one ingest thread, whose [`Pipeline`]
//! takes every message through the ingest stages to the sinks (history, the delivery sinks,
//! `--events`, the state view), and an HTTP thread serves the latest [`Snapshot`].
//!
//! Invariants:
//! - One ingest thread owns the pipeline and the sinks: no locks on the hot path; the snapshot is
//!   swapped in under a mutex a few times a second.
//! - A source failing, reconnecting or ending never stalls the others (each has its own thread and
//!   the channel is bounded, so a slow store applies backpressure instead of growing memory).
//! - On stop (Ctrl-C, SIGTERM, `--for`, or every finite source done) everything received is
//!   delivered before the thread ends.
//! - A running daemon changes only what [`Daemon::set_rules`] hands its pipeline; everything else
//!   in its configuration is fixed until a restart ([`reload`] says which is which).

mod http;
pub mod pipeline;
pub mod reload;
pub mod service;

use crate::capture::CaptureWriter;
use crate::config::Config;
use crate::ingest::Ingest;
use crate::node_log::Elves;
use crate::operator::gate::{Gate, SharedVerdicts};
use crate::rules::HostRules;
use crate::sink::{History, JsonLines, NodeLogs, Sink, SnapshotPublisher};
use crate::source::{self, Backoff, SourceMsg};
use crate::state::Snapshot;
use anyhow::Context;
use pipeline::{Control, Pipeline};
use service::Progress;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the daemon runs, beyond the configuration.
#[derive(Debug, Clone, Default)]
pub struct DaemonOptions {
    /// Write history (to the configuration's store path).
    pub store: bool,
    /// Stop after this long.
    pub run_for: Option<Duration>,
    /// Print every event as a JSON line on standard output.
    pub print_events: bool,
    /// Record each source's bytes into this directory as `<source>.rwcap`.
    pub record_dir: Option<PathBuf>,
    /// Decode node logs into the daemon's log when an ELF is named (`elf` or `[node_logs]`).
    pub node_logs: bool,
    /// `--elf`: the firmware ELF every node's logs decode with, before the configuration's.
    pub elf: Option<PathBuf>,
}

/// What a finished run reports.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// The final snapshot.
    pub snapshot: Snapshot,
    /// Events handled.
    pub events: u64,
}

/// A running daemon.
pub struct Daemon {
    snapshot: Arc<Mutex<Snapshot>>,
    stop: Arc<AtomicBool>,
    ingest: Option<JoinHandle<anyhow::Result<Summary>>>,
    http: Option<http::HttpServer>,
    /// The state endpoint's address, when it listens.
    pub listening: Option<std::net::SocketAddr>,
    progress: Arc<Progress>,
    control: Sender<Control>,
}

/// A file name for a source's capture.
fn capture_name(source: &str) -> String {
    let safe: String = source
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.rwcap")
}

impl Daemon {
    /// Starts the sources, the ingest thread and the state endpoint.
    pub fn start(config: Config, options: DaemonOptions) -> anyhow::Result<Daemon> {
        let stop = Arc::new(AtomicBool::new(false));
        let snapshot = Arc::new(Mutex::new(Snapshot::default()));
        let (tx, rx) = sync_channel::<SourceMsg>(1024);
        let mut specs = config.sources.clone();
        // Pushes, jobs and probes share the virtual node ids, so one table hands them out.
        let nodes = Arc::new(Mutex::new(crate::push::VirtualNodes::new(
            config.push.max_series,
        )));
        start_probes(&config, &mut specs, &nodes, &tx, &stop)?;
        let http = serve_http(&config, &options, &mut specs, &tx, &nodes, &snapshot)?;
        let listening = http.as_ref().map(http::HttpServer::local_addr);
        let mut ingest = Ingest::new(config.rules.clone(), config.ingest.clone());
        let mut sinks = Vec::new();
        if options.store {
            sinks.push(open_history(&config, &mut ingest)?);
        }
        if options.print_events {
            sinks.push(Box::new(JsonLines::new(std::io::stdout())) as Box<dyn Sink>);
        }
        // The gate judges acks and silences before the delivery sinks read its verdicts.
        let gate = match options.store {
            // Failing open, as the gate does: without its tables (a full disk) nothing is muted.
            true => Gate::open(&config.store_path, &config.operator)
                .map_err(|e| tracing::warn!("acks and silences are off for this run: {e:#}"))
                .ok(),
            false => None,
        };
        let verdicts = gate.as_ref().map(Gate::verdicts);
        let mut publisher = SnapshotPublisher::new(Arc::clone(&snapshot));
        if let Some(gate) = gate {
            // Missing data inside a maintenance window does not count toward flap history.
            let view = gate.view();
            ingest.expect_missing_where(std::sync::Arc::new(move |node, metric: &str| {
                view.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .in_maintenance(node, metric)
            }));
            publisher = publisher.with_operator(gate.view());
            sinks.push(Box::new(gate) as Box<dyn Sink>);
        }
        sinks.extend(open_delivery_sinks(&config, listening, verdicts)?);
        sinks.push(Box::new(publisher));
        if options.node_logs {
            if let Some(node_logs) = node_logs(&config, options.elf.clone())? {
                sinks.push(node_logs);
            }
        }
        let recorders = open_recorders(&config, options.record_dir.as_deref())?;

        for (i, spec) in config.sources.iter().cloned().enumerate() {
            // Detached: a source thread ends on the stop flag (a blocking stdin read may outlive
            // the run, harmlessly).
            source::spawn(i, spec, tx.clone(), Arc::clone(&stop), Backoff::default())?;
        }
        drop(tx);
        let progress = Progress::new();
        let (control, control_rx) = channel();
        let pipeline = Pipeline::new(ingest, specs, recorders, sinks)
            .supervised(Arc::clone(&progress), control_rx);
        let thread_stop = Arc::clone(&stop);
        let run_for = options.run_for;
        let ingest_thread = std::thread::Builder::new().name("ingest".into()).spawn(
            move || -> anyhow::Result<Summary> {
                let started = Instant::now();
                let stopping = || {
                    thread_stop.load(Ordering::Relaxed)
                        || run_for.is_some_and(|d| started.elapsed() >= d)
                };
                let result = pipeline.run(&rx, stopping);
                thread_stop.store(true, Ordering::Relaxed);
                let (snapshot, events) = result?;
                Ok(Summary { snapshot, events })
            },
        )?;
        Ok(Daemon {
            snapshot,
            stop,
            ingest: Some(ingest_thread),
            http,
            listening,
            progress,
            control,
        })
    }

    /// When the ingest loop last turned, for the service watchdog.
    pub fn progress(&self) -> Arc<Progress> {
        Arc::clone(&self.progress)
    }

    /// Judge by `rules` from the next turn of the ingest loop on (a configuration reload). False
    /// when the ingest thread has already ended.
    pub fn set_rules(&self, rules: HostRules) -> bool {
        self.control.send(Control::Rules(rules)).is_ok()
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The stop flag, for a signal handler.
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Asks everything to stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Whether the ingest thread has ended (every finite source done, `--for` elapsed, or stopped).
    pub fn is_finished(&self) -> bool {
        self.ingest.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits for the ingest thread (after [`stop`](Self::stop), or until the sources end).
    pub fn wait(mut self) -> anyhow::Result<Summary> {
        let summary = match self.ingest.take() {
            Some(handle) => handle
                .join()
                .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))?,
            None => Ok(Summary::default()),
        };
        self.stop();
        if let Some(server) = self.http.take() {
            server.stop();
        }
        summary
    }
}

/// The bearer token of the routes that accept data, read from `[http] token_file` now: a missing
/// or empty file stops the start with its error.
fn read_http_token(config: &Config) -> anyhow::Result<Option<String>> {
    config
        .http_token_file
        .as_deref()
        .map(crate::config::read_token)
        .transpose()
        .map_err(anyhow::Error::msg)
}

/// Where `POST /push` hands its values and job check-ins go: one more source of the pipeline
/// (added to `specs`), fed by the HTTP thread over the sources' channel, its virtual nodes shared
/// by both. Neither when every source is a recording: a replay runs on the data's own clock, which
/// live pushes and a job clock would disturb. Pushes only unless `[push] enabled = false`; jobs
/// only when `[[job]]`s are configured (their tokens read now: a missing file stops the start).
fn virtual_doors(
    config: &Config,
    specs: &mut Vec<source::SourceSpec>,
    tx: &std::sync::mpsc::SyncSender<SourceMsg>,
    store: Option<PathBuf>,
    nodes: &Arc<Mutex<crate::push::VirtualNodes>>,
) -> anyhow::Result<(Option<http::push::PushDoor>, Option<http::jobs::JobDoor>)> {
    let live = specs.iter().any(|s| pipeline::is_live(&s.kind));
    let has_jobs = !config.jobs.is_empty();
    if !live {
        if has_jobs {
            tracing::warn!("[[job]]s are not watched: every source is a recording");
        }
        return Ok((None, None));
    }
    if !config.push.enabled && !has_jobs {
        return Ok((None, None));
    }
    specs.push(source::SourceSpec {
        name: crate::push::SOURCE_NAME.into(),
        kind: source::SourceKind::Push,
    });
    let source = specs.len() - 1;
    // Shown connected in `/state` for as long as the listener takes pushes; the channel is still
    // empty here, so this never waits.
    let _ = tx.try_send(SourceMsg::Connected { source });
    let push = config.push.enabled.then(|| http::push::PushDoor {
        tx: tx.clone(),
        source,
        nodes: Arc::clone(nodes),
    });
    let jobs = match has_jobs {
        true => Some(http::jobs::JobDoor {
            tx: tx.clone(),
            source,
            nodes: Arc::clone(nodes),
            jobs: Mutex::new(restored_jobs(config, store.as_deref())),
            tokens: job_tokens(config)?,
            store,
        }),
        false => None,
    };
    Ok((push, jobs))
}

/// The jobs, picking up from the runs an earlier run of the daemon stored: a history that cannot
/// be read (a first start, a damaged file) starts them afresh, said in the log.
fn restored_jobs(config: &Config, store: Option<&std::path::Path>) -> crate::jobs::Jobs {
    let mut jobs = crate::jobs::Jobs::new(&config.jobs, source::now_ms());
    let Some(path) = store.filter(|p| p.exists()) else {
        return jobs;
    };
    let filter = crate::jobs::store::RunFilter {
        limit: Some(crate::jobs::RESTORE_RUNS),
        ..Default::default()
    };
    match crate::jobs::store::RunStore::read(path).and_then(|s| s.runs(&filter)) {
        Ok(runs) => jobs.restore(&runs),
        Err(e) => tracing::warn!("jobs start afresh, their earlier runs unread: {e}"),
    }
    jobs
}

/// Each job's own token (`[[job]] token_file`), read now.
fn job_tokens(config: &Config) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
    config
        .jobs
        .iter()
        .filter_map(|job| Some((job, job.token_file.as_deref()?)))
        .map(|(job, path)| {
            let token = crate::config::read_token(path)
                .map_err(|e| anyhow::anyhow!("job `{}`: {e}", job.name))?;
            Ok((job.name.clone(), token))
        })
        .collect()
}

/// Starts the probes' threads, when there are any, as a source of the pipeline (added to `specs`).
fn start_probes(
    config: &Config,
    specs: &mut Vec<source::SourceSpec>,
    nodes: &Arc<Mutex<crate::push::VirtualNodes>>,
    tx: &std::sync::mpsc::SyncSender<SourceMsg>,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let Some(source) = probes_source(config, specs) else {
        return Ok(());
    };
    // Half the liveness limit a node has before its heartbeat interval is learned: never shown
    // down between two heartbeats, and few heartbeat rows in history.
    let limit = config
        .ingest
        .default_heartbeat_ms
        .saturating_mul(u64::from(config.ingest.missed_heartbeats));
    let heartbeat = Duration::from_millis(limit / 2);
    crate::probe::start(&config.probes, nodes, tx, source, stop, heartbeat)
}

/// The HTTP listener with its doors (pushes, job check-ins, operator actions), when
/// `http.listen` names one.
fn serve_http(
    config: &Config,
    options: &DaemonOptions,
    specs: &mut Vec<source::SourceSpec>,
    tx: &std::sync::mpsc::SyncSender<SourceMsg>,
    nodes: &Arc<Mutex<crate::push::VirtualNodes>>,
    snapshot: &Arc<Mutex<Snapshot>>,
) -> anyhow::Result<Option<http::HttpServer>> {
    let Some(addr) = &config.listen else {
        if !config.jobs.is_empty() {
            tracing::warn!(
                "[[job]]s are not watched: http.listen is off, so no check-in can arrive"
            );
        }
        return Ok(None);
    };
    let store = options.store.then(|| config.store_path.clone());
    let (push, jobs) = virtual_doors(config, specs, tx, store.clone(), nodes)?;
    let doors = http::Doors {
        token: read_http_token(config)?,
        push,
        operator_store: store,
        jobs,
    };
    Ok(Some(http::serve(addr, Arc::clone(snapshot), doors)?))
}

/// The probes' place among the pipeline's sources (added to `specs`), when there are any.
fn probes_source(config: &Config, specs: &mut Vec<source::SourceSpec>) -> Option<usize> {
    if config.probes.is_empty() {
        return None;
    }
    specs.push(source::SourceSpec {
        name: crate::probe::SOURCE_NAME.into(),
        kind: source::SourceKind::Probes,
    });
    Some(specs.len() - 1)
}

/// History as a sink: the store opened (or, on a full disk, to be opened when space returns), the
/// boots an earlier run anchored handed to the pipeline, and the retention limits applied once
/// before the first write.
fn open_history(config: &Config, ingest: &mut Ingest) -> anyhow::Result<Box<dyn Sink>> {
    let max_age_ms = config.max_age.map(|d| d.as_millis() as u64);
    let mut history = History::open(&config.store_path, max_age_ms, config.max_size)?;
    history.keep_heartbeats_every(config.heartbeat_every.as_millis() as u64);
    if let Some(store) = history.store_mut() {
        tracing::info!(path = %config.store_path.display(), "history");
        for (node, boot, anchor) in store.boot_anchors()? {
            ingest.remember_boot(node, boot, anchor);
        }
    }
    history.maintain(source::now_ms())?;
    Ok(Box::new(history))
}

/// Node logs into the daemon's log, when an ELF is named (`--elf` or `[node_logs]`). Every ELF named is
/// read now, so a wrong path stops the start with its error.
fn node_logs(config: &Config, elf: Option<PathBuf>) -> anyhow::Result<Option<Box<dyn Sink>>> {
    let mut elves = Elves::new(elf, config.node_logs.clone(), config.file.clone());
    if !elves.any() {
        return Ok(None);
    }
    elves.load_all()?;
    Ok(Some(Box::new(NodeLogs::new(elves))))
}

/// The configured delivery sinks (`[[sink]]`), their outbox next to the history database; the
/// daemon's `/state` at `listening` is the link their alerts carry.
fn open_delivery_sinks(
    config: &Config,
    listening: Option<std::net::SocketAddr>,
    verdicts: Option<SharedVerdicts>,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let outbox = crate::sink::outbox::path_for(&config.store_path);
    let state_url = listening.map(|addr| format!("http://{addr}/state"));
    config
        .sinks
        .iter()
        .map(|spec| {
            let sink =
                crate::sink::delivery::start(spec, &outbox, state_url.clone(), verdicts.clone())?;
            Ok(Box::new(sink) as Box<dyn Sink>)
        })
        .collect()
}

/// One capture writer per source in `dir` (`<source>.rwcap`), when recording.
fn open_recorders(
    config: &Config,
    dir: Option<&std::path::Path>,
) -> anyhow::Result<Vec<Option<CaptureWriter>>> {
    let Some(dir) = dir else {
        return Ok(Vec::new());
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the capture directory {}", dir.display()))?;
    config
        .sources
        .iter()
        .map(|spec| {
            Ok(Some(CaptureWriter::create(
                &dir.join(capture_name(&spec.name)),
                &spec.name,
            )?))
        })
        .collect()
}
