//! The engine behind `rackwatch run`, `watch` and `demo`: source threads feed one ingest thread,
//! which writes history in batches, keeps a [`Snapshot`] and serves it over HTTP.
//!
//! Invariants:
//! - One ingest thread owns the pipeline and the store: no locks on the hot path; the snapshot is
//!   swapped in under a mutex a few times a second.
//! - A source failing, reconnecting or ending never stalls the others (each has its own thread and
//!   the channel is bounded, so a slow store applies backpressure instead of growing memory).
//! - With only finite sources (captures, files), time is the data's own: liveness and missing-data
//!   checks run at the recorded times, so re-ingesting a capture writes the same rows.
//! - On stop (Ctrl-C, SIGTERM, `--for`, or every finite source done) everything received is written
//!   before the thread ends.

use crate::capture::CaptureWriter;
use crate::config::Config;
use crate::ingest::{Event, Ingest};
use crate::source::{self, Backoff, SourceKind, SourceMsg, SourceSpec};
use crate::state::{Snapshot, SourceView};
use crate::store::Store;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError};
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
    http: Option<(Arc<tiny_http::Server>, JoinHandle<()>)>,
    /// The state endpoint's address, when it listens.
    pub listening: Option<std::net::SocketAddr>,
}

fn is_live(kind: &SourceKind) -> bool {
    !matches!(
        kind,
        SourceKind::Capture(_) | SourceKind::Raw(_) | SourceKind::Stdin
    )
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
        let http = match &config.listen {
            Some(addr) => Some(serve(addr, Arc::clone(&snapshot))?),
            None => None,
        };
        let listening = http
            .as_ref()
            .and_then(|(server, _)| server.server_addr().to_ip());
        let mut store = if options.store {
            let store = Store::open(&config.store_path)?;
            tracing::info!(path = %config.store_path.display(), "history");
            Some(store)
        } else {
            None
        };
        let mut ingest = Ingest::new(config.rules.clone(), config.ingest.clone());
        if let Some(store) = &mut store {
            for (node, boot, anchor) in store.boot_anchors()? {
                ingest.remember_boot(node, boot, anchor);
            }
            if config.max_age.is_some() || config.max_size.is_some() {
                store.retain(
                    source::now_ms(),
                    config.max_age.map(|d| d.as_millis() as u64),
                    config.max_size,
                )?;
            }
        }
        let mut recorders = Vec::new();
        if let Some(dir) = &options.record_dir {
            std::fs::create_dir_all(dir).with_context(|| {
                format!("cannot create the capture directory {}", dir.display())
            })?;
            for spec in &config.sources {
                recorders.push(Some(CaptureWriter::create(
                    &dir.join(capture_name(&spec.name)),
                    &spec.name,
                )?));
            }
        }

        let (tx, rx) = sync_channel::<SourceMsg>(1024);
        let mut threads = Vec::new();
        for (i, spec) in config.sources.iter().cloned().enumerate() {
            threads.push(source::spawn(
                i,
                spec,
                tx.clone(),
                Arc::clone(&stop),
                Backoff::default(),
            )?);
        }
        drop(tx);
        let specs: Vec<SourceSpec> = config.sources.clone();
        let live = specs.iter().any(|s| is_live(&s.kind));
        let thread_stop = Arc::clone(&stop);
        let thread_snapshot = Arc::clone(&snapshot);
        let max_age = config.max_age;
        let max_size = config.max_size;
        let ingest_thread = std::thread::Builder::new().name("ingest".into()).spawn(
            move || -> anyhow::Result<Summary> {
                let started = Instant::now();
                let mut views: Vec<SourceView> = specs
                    .iter()
                    .map(|s| SourceView {
                        name: s.name.clone(),
                        ..SourceView::default()
                    })
                    .collect();
                let mut finished = 0;
                let mut events: Vec<Event> = Vec::new();
                let mut handled = 0u64;
                let mut data_clock = 0u64;
                let mut last_flush = Instant::now();
                let mut last_tick = Instant::now();
                let mut last_retention = Instant::now();
                let mut stdout = std::io::stdout();
                let mut flush = |ingest: &Ingest,
                                 events: &mut Vec<Event>,
                                 views: &[SourceView],
                                 store: &mut Option<Store>,
                                 now: u64|
                 -> anyhow::Result<()> {
                    if let Some(store) = store {
                        store.write(events)?;
                    }
                    if options.print_events {
                        use std::io::Write;
                        for event in events.iter() {
                            writeln!(stdout, "{}", crate::events::to_json(event))?;
                        }
                    }
                    handled += events.len() as u64;
                    events.clear();
                    let snap = Snapshot::build(ingest, views, now);
                    if let Ok(mut shared) = thread_snapshot.lock() {
                        *shared = snap;
                    }
                    Ok(())
                };
                loop {
                    let stopping = thread_stop.load(Ordering::Relaxed)
                        || options.run_for.is_some_and(|d| started.elapsed() >= d);
                    if stopping {
                        break;
                    }
                    let clock = if live { source::now_ms() } else { data_clock };
                    match rx.recv_timeout(Duration::from_millis(100)) {
                        Ok(SourceMsg::Bytes {
                            source,
                            wall_ms,
                            bytes,
                        }) => {
                            if let Some(Some(rec)) = recorders.get_mut(source) {
                                rec.record(wall_ms, &bytes)?;
                            }
                            if let (Some(view), Some(spec)) =
                                (views.get_mut(source), specs.get(source))
                            {
                                view.bytes += bytes.len() as u64;
                                ingest.bytes(&spec.name, wall_ms, &bytes, &mut events);
                            }
                            if !live {
                                data_clock = data_clock.max(wall_ms);
                                ingest.tick(data_clock, &mut events);
                            }
                        }
                        Ok(SourceMsg::Connected { source }) => {
                            if let Some(view) = views.get_mut(source) {
                                view.connected = true;
                                view.connects += 1;
                            }
                        }
                        Ok(SourceMsg::Disconnected { source, reason }) => {
                            if let (Some(view), Some(spec)) =
                                (views.get_mut(source), specs.get(source))
                            {
                                view.connected = false;
                                view.disconnects += 1;
                                view.last_error = Some(reason);
                                ingest.disconnected(&spec.name);
                            }
                        }
                        Ok(SourceMsg::Finished { source }) => {
                            if let (Some(view), Some(spec)) =
                                (views.get_mut(source), specs.get(source))
                            {
                                view.connected = false;
                                view.finished = true;
                                ingest.disconnected(&spec.name);
                            }
                            finished += 1;
                            if finished == specs.len() {
                                break;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if live && last_tick.elapsed() >= Duration::from_millis(500) {
                        ingest.tick(clock, &mut events);
                        last_tick = Instant::now();
                    }
                    if events.len() >= 50_000 || last_flush.elapsed() >= Duration::from_millis(500)
                    {
                        flush(&ingest, &mut events, &views, &mut store, clock)?;
                        last_flush = Instant::now();
                    }
                    if live && last_retention.elapsed() >= Duration::from_secs(600) {
                        if let Some(store) = &mut store {
                            store.retain(clock, max_age.map(|d| d.as_millis() as u64), max_size)?;
                        }
                        last_retention = Instant::now();
                    }
                }
                thread_stop.store(true, Ordering::Relaxed);
                // Whatever is still queued was received: take it before the last write.
                while let Ok(msg) = rx.try_recv() {
                    if let SourceMsg::Bytes {
                        source,
                        wall_ms,
                        bytes,
                    } = msg
                    {
                        if let Some(Some(rec)) = recorders.get_mut(source) {
                            rec.record(wall_ms, &bytes)?;
                        }
                        if let Some(spec) = specs.get(source) {
                            ingest.bytes(&spec.name, wall_ms, &bytes, &mut events);
                        }
                    }
                }
                for rec in recorders.iter_mut().flatten() {
                    rec.flush()?;
                }
                let clock = if live { source::now_ms() } else { data_clock };
                flush(&ingest, &mut events, &views, &mut store, clock)?;
                let snapshot = Snapshot::build(&ingest, &views, clock);
                Ok(Summary {
                    snapshot,
                    events: handled,
                })
            },
        )?;
        // The source threads end on the stop flag; they are detached (a blocking stdin read may
        // outlive the run, harmlessly).
        drop(threads);
        Ok(Daemon {
            snapshot,
            stop,
            ingest: Some(ingest_thread),
            http,
            listening,
        })
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
        if let Some((server, handle)) = self.http.take() {
            server.unblock();
            let _ = handle.join();
        }
        summary
    }
}

/// Serves `/state` (the snapshot as JSON) and `/healthz`.
fn serve(
    addr: &str,
    snapshot: Arc<Mutex<Snapshot>>,
) -> anyhow::Result<(Arc<tiny_http::Server>, JoinHandle<()>)> {
    let server = tiny_http::Server::http(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose another address with --listen, or --listen none"
        )
    })?;
    let server = Arc::new(server);
    let serving = Arc::clone(&server);
    let handle = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            for request in serving.incoming_requests() {
                let response = match request.url() {
                    "/state" => {
                        let body = snapshot
                            .lock()
                            .map(|s| serde_json::to_string(&*s).unwrap_or_default())
                            .unwrap_or_default();
                        let response = tiny_http::Response::from_string(body);
                        match tiny_http::Header::from_bytes("Content-Type", "application/json") {
                            Ok(header) => response.with_header(header),
                            Err(()) => response,
                        }
                    }
                    "/healthz" => tiny_http::Response::from_string("ok\n"),
                    _ => tiny_http::Response::from_string("not found: try /state or /healthz\n")
                        .with_status_code(404),
                };
                let _ = request.respond(response);
            }
        })?;
    Ok((server, handle))
}
