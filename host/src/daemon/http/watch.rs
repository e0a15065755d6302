//! The per-connection clock behind the endpoint's timeouts: which phase a connection is in, since
//! when, and so when it must be dropped.
//!
//! Invariants:
//! - A connection is always in exactly one phase: idle (no request in flight), reading a head
//!   (bytes arrived while idle), or answering (the head was handed to the router); the deadline is
//!   the phase's start plus that phase's timeout, so a trickling client never extends it.
//! - Only the socket wrapper ([`Watched`]) and the service's entry move the phase: bytes read
//!   while idle start a head, the service's entry starts an answer, and a flush after response
//!   bytes were written makes the connection idle again.

use super::{HEAD_TIMEOUT, IDLE_TIMEOUT, RESPONSE_TIMEOUT};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy)]
enum Phase {
    Idle(Instant),
    Head(Instant),
    Answer { since: Instant, wrote: bool },
}

/// One connection's phase, shared by its socket wrapper, its service and its watchdog.
#[derive(Clone)]
pub struct Clock {
    phase: Arc<Mutex<Phase>>,
    /// Wakes the watchdog on a phase change: a head's deadline can come before the idle one.
    changed: Arc<Notify>,
}

impl Clock {
    /// A fresh connection counts as idle: it gets [`IDLE_TIMEOUT`] to start a request.
    pub fn new() -> Clock {
        Clock {
            phase: Arc::new(Mutex::new(Phase::Idle(Instant::now()))),
            changed: Arc::new(Notify::new()),
        }
    }

    /// Resolves on the next phase change (or at once if one happened since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// When the current phase runs out.
    pub fn deadline(&self) -> Instant {
        match self.phase() {
            Phase::Idle(since) => since + IDLE_TIMEOUT,
            Phase::Head(since) => since + HEAD_TIMEOUT,
            Phase::Answer { since, .. } => since + RESPONSE_TIMEOUT,
        }
    }

    /// Since when the connection has had no request in flight; `None` while it has one.
    pub fn idle_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::Idle(since) => Some(since),
            _ => None,
        }
    }

    /// Ends an idle connection now, to make room for a new one; a connection that has started a
    /// request in the meantime is left alone. Returns whether it was ended.
    pub fn evict(&self) -> bool {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        let Phase::Idle(_) = *phase else {
            return false;
        };
        // An idle phase that began a whole timeout ago has run out: the watchdog drops it.
        let Some(expired) = Instant::now().checked_sub(IDLE_TIMEOUT) else {
            return false;
        };
        *phase = Phase::Idle(expired);
        drop(phase);
        self.changed.notify_one();
        true
    }

    /// Whether the connection is still served (someone besides the caller holds its clock).
    pub fn in_use(&self) -> bool {
        Arc::strong_count(&self.phase) > 1
    }

    /// A request's head was parsed and handed to the router.
    pub fn head_done(&self) {
        self.set(Phase::Answer {
            since: Instant::now(),
            wrote: false,
        });
    }

    fn read(&self) {
        if let Phase::Idle(_) = self.phase() {
            self.set(Phase::Head(Instant::now()));
        }
    }

    fn wrote(&self) {
        if let Phase::Answer { since, .. } = self.phase() {
            self.set(Phase::Answer { since, wrote: true });
        }
    }

    fn flushed(&self) {
        if let Phase::Answer { wrote: true, .. } = self.phase() {
            self.set(Phase::Idle(Instant::now()));
        }
    }

    fn phase(&self) -> Phase {
        // A poisoned lock only means a panic elsewhere mid-update; the phase is still a phase.
        *self.phase.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = phase;
        self.changed.notify_one();
    }
}

/// A socket that reports its reads, writes and flushes to a [`Clock`].
pub struct Watched {
    stream: TcpStream,
    clock: Clock,
}

impl Watched {
    /// Wraps `stream`.
    pub fn new(stream: TcpStream, clock: Clock) -> Watched {
        Watched { stream, clock }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.read();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.clock.wrote();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.stream).poll_flush(cx);
        if matches!(result, Poll::Ready(Ok(()))) {
            self.clock.flushed();
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_idle(clock: &Clock) -> bool {
        matches!(clock.phase(), Phase::Idle(_))
    }

    #[test]
    fn a_request_moves_idle_to_head_to_answer_and_back_to_idle_once_written() {
        let clock = Clock::new();
        assert!(is_idle(&clock));
        clock.read();
        assert!(matches!(clock.phase(), Phase::Head(_)));
        clock.head_done();
        // A flush before any response byte (hyper flushes eagerly) does not end the answer.
        clock.flushed();
        assert!(matches!(clock.phase(), Phase::Answer { wrote: false, .. }));
        clock.wrote();
        clock.flushed();
        assert!(is_idle(&clock));
    }

    #[test]
    fn a_trickling_head_keeps_the_deadline_of_its_first_byte() {
        let clock = Clock::new();
        clock.read();
        let first = clock.deadline();
        clock.read();
        clock.read();
        assert_eq!(clock.deadline(), first);
    }

    #[test]
    fn bytes_read_while_answering_do_not_start_a_head() {
        let clock = Clock::new();
        clock.head_done();
        clock.read();
        assert!(matches!(clock.phase(), Phase::Answer { .. }));
    }
}
