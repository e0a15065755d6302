//! The daemon's HTTP endpoint: `/state` (the latest [`Snapshot`] as JSON), `/metrics` (the same in
//! the Prometheus text format, [`crate::metrics`]), `/healthz`, and the operator routes for acks
//! and silences (`/api/...`, [`router`]), served with bounds on everything a client controls.
//!
//! Why hyper: it is the maintained HTTP/1.1 implementation under most of the Rust ecosystem's
//! servers, runs on stable, and with `hyper-util`'s tokio glue needs no framework on top. One
//! current-thread tokio runtime on one thread (`http`) serves every connection as a task, so idle
//! or slow clients cost a task each (a few KiB), never a thread.
//!
//! Invariants (each bound a named constant here):
//! - At most [`MAX_CONNECTIONS`] connections are served at once. One accepted beyond that closes
//!   the connection idle the longest (no request in flight: HTTP lets a server close those at any
//!   time), so idle clients can never keep a scrape out; when every connection has a request in
//!   flight, the new one gets a best-effort `503` written without blocking and is closed at once,
//!   with no task spawned.
//! - The request line and headers are at most [`MAX_HEAD_BYTES`] and [`MAX_HEADERS`] headers
//!   (hyper answers `431` and closes beyond); hyper's read buffer is capped too, so a huge request
//!   line is refused after at most a few tens of KiB are buffered.
//! - A request's head must arrive within [`HEAD_TIMEOUT`] of its first byte; a connection with no
//!   request in flight is closed after [`IDLE_TIMEOUT`]; a response must be fully written within
//!   [`RESPONSE_TIMEOUT`] of its head arriving (body read included). The [`watch`] module enforces
//!   the three, since hyper's own header timer starts while a kept-alive connection is idle.
//! - Bodies are bounded per route (at most [`router::MAX_BODY`] for now, `413` beyond); see
//!   [`router`], where routes are declared once: method + path → handler. Routes that accept data
//!   (`POST /push`) need the bearer token by [`auth`]'s rules.
//! - With `[[job]]`s, a task on the same runtime ticks every [`jobs::TICK_EVERY`] to notice runs
//!   that do not arrive; it ends with the runtime.
//! - [`HttpServer::stop`] ends the accept loop and drops every connection; it returns once the
//!   `http` thread has ended.

pub mod auth;
pub mod jobs;
pub mod push;
mod router;

mod watch;

use crate::state::Snapshot;
use hyper_util::rt::TokioIo;
pub use router::Shared;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch as signal, Semaphore};

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Request line plus headers, in bytes.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Headers in one request.
pub const MAX_HEADERS: usize = 64;
/// From a request's first byte to its last header.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no request in flight (fresh or kept alive) is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// From a request's head arriving to the last byte of its response written.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a new connection waits for the slot of the idle one closed for it.
const EVICTION_WAIT: Duration = Duration::from_millis(500);
/// A pause after a failed accept (out of file descriptors, say), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The running endpoint.
pub struct HttpServer {
    addr: SocketAddr,
    stop: signal::Sender<bool>,
    thread: JoinHandle<()>,
}

impl HttpServer {
    /// The address it listens on (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Ends the accept loop, drops every connection and waits for the thread.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.thread.join();
    }
}

/// What the endpoint serves besides the snapshot: the configured token and where pushes go.
pub struct Doors {
    /// `[http] token_file` / `token_env`, read.
    pub token: Option<String>,
    /// Where `POST /push` hands its values; `None`: no pushes.
    pub push: Option<push::PushDoor>,
    /// The history database whose acks and silences the operator routes change; `None`: none.
    pub operator_store: Option<std::path::PathBuf>,
    /// Where job check-ins go, and the jobs the clock watches; `None`: no jobs.
    pub jobs: Option<jobs::JobDoor>,
}

/// Serves `/state` (the snapshot as JSON), `/metrics`, `/healthz`, `POST /push` and the operator
/// routes (acks, silences, audit) on `addr`, on a thread of its own.
pub fn serve(
    addr: &str,
    snapshot: Arc<Mutex<Snapshot>>,
    doors: Doors,
) -> anyhow::Result<HttpServer> {
    // Bound here, synchronously, so a taken port is the caller's error, not a log line later.
    let listener = std::net::TcpListener::bind(addr).map_err(|e| {
        anyhow::anyhow!(
            "cannot listen on {addr}: {e}; choose another address with --listen, or --listen none"
        )
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared {
        snapshot,
        access: auth::Access {
            loopback: local.ip().is_loopback(),
            token: doors.token,
        },
        push: doors.push,
        operator_store: doors.operator_store,
        jobs: doors.jobs,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    let (stop, stopped) = signal::channel(false);
    let thread = std::thread::Builder::new()
        .name("http".into())
        .spawn(move || {
            runtime.block_on(async move {
                if shared.jobs.is_some() {
                    tokio::spawn(job_clock(Arc::clone(&shared)));
                }
                match TcpListener::from_std(listener) {
                    Ok(listener) => accept_loop(listener, shared, stopped).await,
                    Err(e) => tracing::error!("the state endpoint cannot listen: {e}"),
                }
            });
            // Dropping the runtime here cancels every connection task still open.
        })?;
    Ok(HttpServer {
        addr: local,
        stop,
        thread,
    })
}

/// Looks for runs that did not arrive every [`jobs::TICK_EVERY`], until the runtime is dropped.
async fn job_clock(shared: Arc<Shared>) {
    let mut interval = tokio::time::interval(jobs::TICK_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        if let Some(door) = &shared.jobs {
            jobs::tick(door);
        }
    }
}

/// Accepts until stopped; each connection within [`MAX_CONNECTIONS`] becomes one task.
async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stopped: signal::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut served: Vec<watch::Clock> = Vec::with_capacity(MAX_CONNECTIONS);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopped.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("the state endpoint cannot accept: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        served.retain(watch::Clock::in_use);
        let slot = match Arc::clone(&slots).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => match make_room(&slots, &served).await {
                Some(slot) => slot,
                None => {
                    refuse(&stream);
                    continue;
                }
            },
        };
        let clock = watch::Clock::new();
        served.push(clock.clone());
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            serve_connection(stream, shared, clock).await;
            drop(slot);
        });
    }
}

/// Every slot is taken: ends the connection idle the longest and takes its slot once its task has
/// let go of it; `None` when no connection is idle.
async fn make_room(
    slots: &Arc<Semaphore>,
    served: &[watch::Clock],
) -> Option<tokio::sync::OwnedSemaphorePermit> {
    let mut idle: Vec<&watch::Clock> = served.iter().filter(|c| c.idle_since().is_some()).collect();
    idle.sort_by_key(|c| c.idle_since());
    if !idle.into_iter().any(watch::Clock::evict) {
        return None;
    }
    tokio::time::timeout(EVICTION_WAIT, Arc::clone(slots).acquire_owned())
        .await
        .ok()?
        .ok()
}

/// A connection beyond the limit: told so if its socket takes the bytes now, then closed.
fn refuse(stream: &TcpStream) {
    const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
        Retry-After: 1\r\nContent-Length: 0\r\n\r\n";
    let _ = stream.try_write(BUSY);
}

/// One connection under hyper, dropped when a [`watch`] deadline passes.
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>, clock: watch::Clock) {
    let _ = stream.set_nodelay(true);
    let io = TokioIo::new(watch::Watched::new(stream, clock.clone()));
    let service_clock = clock.clone();
    let service = hyper::service::service_fn(move |request| {
        service_clock.head_done();
        router::handle(request, Arc::clone(&shared))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD_BYTES)
        .max_buf_size(2 * MAX_HEAD_BYTES)
        // The watch module owns the timeouts (see the module doc).
        .header_read_timeout(None)
        .keep_alive(true);
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    loop {
        let deadline = clock.deadline();
        tokio::select! {
            _ = connection.as_mut() => return,
            _ = clock.changed() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {
                if clock.deadline() <= std::time::Instant::now() {
                    return;
                }
            }
        }
    }
}
