//! History as a sink: every batch is one SQLite transaction ([`Store::write`]), and upkeep applies
//! the retention limits.
//!
//! Invariants:
//! - A failing store never stops the pipeline. When a write fails (the disk is full, say), the
//!   events stay in memory, at most [`PENDING_LIMIT`] of them (the oldest are dropped first and
//!   counted), the sink reports CRITICAL in its [`SinkStatus`] and the write is retried every
//!   [`RETRY_EVERY`]; when space returns, everything still held is written, in order.
//! - A transaction that fails writes nothing, and every insert is idempotent, so a retried batch
//!   never duplicates a row.
//! - The daemon starts on a full disk: a store that cannot be opened for want of space is opened
//!   again at each retry.

use super::{Batch, Sink, SinkStatus};
use crate::ingest::Event;
use crate::store::{Store, StoreError};
use rackwatch_core::Level;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The most events held in memory while the store cannot take them: about 100 bytes each, so
/// some 20 MiB, a few minutes of a large fleet.
pub const PENDING_LIMIT: usize = 200_000;
/// How often a failing store is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// A store with its retention limits, and what it could not take yet.
pub struct History {
    path: PathBuf,
    store: Option<Store>,
    max_age_ms: Option<u64>,
    max_size: Option<u64>,
    pending: VecDeque<Event>,
    dropped: u64,
    failures: u64,
    last_error: Option<String>,
    retry_at: Option<Instant>,
}

impl History {
    /// Writes to the store at `path`, keeping at most `max_age_ms` of data and `max_size` bytes.
    /// A store that cannot be opened because the disk is full is not an error: the sink starts
    /// failing and opens it when space returns. Any other failure to open is.
    pub fn open(
        path: &Path,
        max_age_ms: Option<u64>,
        max_size: Option<u64>,
    ) -> Result<History, StoreError> {
        let mut history = History {
            path: path.to_path_buf(),
            store: None,
            max_age_ms,
            max_size,
            pending: VecDeque::new(),
            dropped: 0,
            failures: 0,
            last_error: None,
            retry_at: None,
        };
        match Store::open(path) {
            Ok(store) => history.store = Some(store),
            Err(e) if e.is_disk_full() => history.failed(&e),
            Err(e) => return Err(e),
        }
        Ok(history)
    }

    /// The store, when it is open: for what a run needs from it before the first batch.
    pub fn store_mut(&mut self) -> Option<&mut Store> {
        self.store.as_mut()
    }

    /// Holds a batch's events until the store takes them, dropping the oldest beyond the bound.
    fn hold(&mut self, events: &[Event]) {
        self.pending.extend(events.iter().cloned());
        let excess = self.pending.len().saturating_sub(PENDING_LIMIT);
        if excess > 0 {
            self.pending.drain(..excess);
            let before = self.dropped;
            self.dropped += excess as u64;
            // Logged when the total passes a power of two: every loss is told, on a log scale.
            if before.leading_zeros() != self.dropped.leading_zeros() {
                tracing::warn!(
                    dropped = self.dropped,
                    "history is still failing: {} events dropped so far (the oldest held beyond \
                     {PENDING_LIMIT})",
                    self.dropped
                );
            }
        }
    }

    /// Writes everything held, opening the store first if it is closed.
    fn flush(&mut self) -> Result<(), StoreError> {
        if self.store.is_none() {
            self.store = Some(Store::open(&self.path)?);
            tracing::info!(path = %self.path.display(), "history database opened");
        }
        if let Some(store) = &mut self.store {
            store.write(self.pending.make_contiguous())?;
        }
        self.pending.clear();
        Ok(())
    }

    fn failed(&mut self, error: &StoreError) {
        if self.last_error.is_none() {
            tracing::error!(
                "{error}; history is held in memory (up to {PENDING_LIMIT} events) and written \
                 when the store takes it again{}",
                if error.is_disk_full() {
                    ": free some space"
                } else {
                    ""
                }
            );
        }
        self.failures += 1;
        self.last_error = Some(error.to_string());
        self.retry_at = Some(Instant::now() + RETRY_EVERY);
        // A connection that failed may hold a broken transaction or journal: open afresh.
        self.store = None;
    }

    fn recovered(&mut self) {
        if self.last_error.take().is_some() {
            tracing::warn!(
                dropped = self.dropped,
                "history is written again; what was held in memory is stored"
            );
        }
        self.retry_at = None;
    }
}

impl Sink for History {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        // The common case, straight through: nothing held, the store open and well.
        if let (true, Some(store)) = (self.pending.is_empty(), &mut self.store) {
            match store.write(batch.events) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.hold(batch.events);
                    self.failed(&e);
                    return Ok(());
                }
            }
        }
        self.hold(batch.events);
        if self.retry_at.is_some_and(|at| Instant::now() < at) || self.pending.is_empty() {
            return Ok(());
        }
        match self.flush() {
            Ok(()) => self.recovered(),
            Err(e) => self.failed(&e),
        }
        Ok(())
    }

    fn maintain(&mut self, now_ms: u64) -> anyhow::Result<()> {
        if self.max_age_ms.is_none() && self.max_size.is_none() {
            return Ok(());
        }
        if let Some(store) = &mut self.store {
            if let Err(e) = store.retain(now_ms, self.max_age_ms, self.max_size) {
                self.failed(&e);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.flush() {
            Ok(()) => self.recovered(),
            Err(e) => {
                let lost = self.pending.len() as u64;
                self.dropped += lost;
                self.pending.clear();
                tracing::error!(
                    "{e}: {lost} events held in memory could not be written to history"
                );
            }
        }
        Ok(())
    }

    fn status(&self) -> Option<SinkStatus> {
        Some(SinkStatus {
            name: "history".into(),
            level: if self.last_error.is_some() {
                Level::Critical
            } else {
                Level::Ok
            },
            pending: self.pending.len() as u64,
            dropped: self.dropped,
            failures: self.failures,
            last_error: self.last_error.clone(),
        })
    }
}
