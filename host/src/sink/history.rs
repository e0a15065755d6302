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
//! - The size limit holds between upkeeps, for the database and its write-ahead log together: the
//!   log is bounded to an eighth of the limit ([`Store::bound_journal`]), the live pages to the
//!   rest, and after every write the store's size is looked at (three pragmas, no scan) and the
//!   oldest data goes as soon as it is over. So a limit smaller than the free disk keeps the disk
//!   from filling; the limit may be exceeded by one batch at most.

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
/// The most events written in one transaction: the write-ahead log holds a transaction whole, so
/// this bounds how far one write can take the store past its size limit (about 400 KB).
pub const EVENTS_PER_WRITE: usize = 4096;
/// How often a failing store is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);

/// The write-ahead log's share of a size limit of `max_size` bytes.
fn journal_budget(max_size: u64) -> u64 {
    max_size / 8
}

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
    /// The time of the latest batch, for the size limit's upkeep at the end of a run.
    now_ms: u64,
    /// A heartbeat whose counters did not change is stored once per this much node time.
    heartbeat_every_ms: u64,
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
            now_ms: 0,
            heartbeat_every_ms: crate::store::HEARTBEAT_EVERY_MS,
        };
        match history.open_store() {
            Ok(()) => {}
            Err(e) if e.is_disk_full() => history.failed(&e),
            Err(e) => return Err(e),
        }
        Ok(history)
    }

    /// Stores a heartbeat whose counters did not change once per `every_ms` of node time
    /// (`[store] heartbeat_every`).
    pub fn keep_heartbeats_every(&mut self, every_ms: u64) {
        self.heartbeat_every_ms = every_ms;
        if let Some(store) = &mut self.store {
            store.keep_heartbeats_every(every_ms);
        }
    }

    /// Opens the store with its write-ahead log bounded by the size limit.
    fn open_store(&mut self) -> Result<(), StoreError> {
        let mut store = Store::open(&self.path)?;
        store.keep_heartbeats_every(self.heartbeat_every_ms);
        if let Some(max_size) = self.max_size {
            store.bound_journal(journal_budget(max_size))?;
        }
        self.store = Some(store);
        Ok(())
    }

    /// The live pages' share of the size limit: what the write-ahead log may not take.
    fn pages_budget(&self) -> Option<u64> {
        self.max_size.map(|max| max - journal_budget(max))
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
    fn flush(&mut self, now_ms: u64) -> Result<(), StoreError> {
        if self.store.is_none() {
            self.open_store()?;
            tracing::info!(path = %self.path.display(), "history database opened");
        }
        let mut pending = std::mem::take(&mut self.pending);
        let written = self.write(pending.make_contiguous(), now_ms);
        if written.is_err() {
            self.pending = pending;
        }
        written
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

    /// Deletes the oldest data when the store has grown past its size limit.
    fn keep_under_size(
        store: &mut Store,
        budget: Option<u64>,
        now_ms: u64,
    ) -> Result<(), StoreError> {
        let Some(budget) = budget else {
            return Ok(());
        };
        if store.used_bytes()? > budget {
            store.retain(now_ms, None, Some(budget))?;
        }
        Ok(())
    }

    /// Writes `events` in transactions of at most [`EVENTS_PER_WRITE`], keeping the store under
    /// its size limit after each.
    fn write(&mut self, events: &[Event], now_ms: u64) -> Result<(), StoreError> {
        let budget = self.pages_budget();
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        for chunk in events.chunks(EVENTS_PER_WRITE) {
            store.write(chunk)?;
            Self::keep_under_size(store, budget, now_ms)?;
        }
        Ok(())
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
        self.now_ms = batch.now_ms;
        // The common case, straight through: nothing held, the store open and well. A batch
        // written in part is held whole: writing it again adds nothing twice.
        if self.pending.is_empty() && self.store.is_some() {
            if let Err(e) = self.write(batch.events, batch.now_ms) {
                self.hold(batch.events);
                self.failed(&e);
            }
            return Ok(());
        }
        self.hold(batch.events);
        if self.retry_at.is_some_and(|at| Instant::now() < at) || self.pending.is_empty() {
            return Ok(());
        }
        match self.flush(batch.now_ms) {
            Ok(()) => self.recovered(),
            Err(e) => self.failed(&e),
        }
        Ok(())
    }

    fn maintain(&mut self, now_ms: u64) -> anyhow::Result<()> {
        if self.max_age_ms.is_none() && self.max_size.is_none() {
            return Ok(());
        }
        let budget = self.pages_budget();
        if let Some(store) = &mut self.store {
            if let Err(e) = store.retain(now_ms, self.max_age_ms, budget) {
                self.failed(&e);
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        match self.flush(self.now_ms) {
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
