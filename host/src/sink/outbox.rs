//! The delivery sinks' persistent outbox: a SQLite file of its own, next to the history database
//! (`history.db` → `history.outbox.db`), used whether history is kept or not.
//!
//! Why a file of its own: the outbox is written by two threads (the ingest thread queues, a
//! sink's worker removes what it delivered), while history is one writer's large batches with
//! retention by size; sharing a file would put the worker's small writes in the way of history's
//! transactions and count queued messages against `store.max_size`.
//!
//! Invariants:
//! - A message is queued in the same transaction as the firing-alert state it depends on, and is
//!   removed only after its delivery succeeded: a `kill -9` at any point loses nothing queued and
//!   at worst delivers the head message twice (receivers collapse it by its id).
//! - Each sink's queue is delivered in the order it was queued (`seq` only grows).
//! - A queue never holds more than its sink's `max_pending` messages: the oldest go first, and
//!   every one dropped is counted, in the file, so the count survives restarts.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    body TEXT NOT NULL,
    queued_ms INTEGER NOT NULL,
    UNIQUE (sink, msg_id));
CREATE INDEX IF NOT EXISTS outbox_by_sink ON outbox (sink, seq);
CREATE TABLE IF NOT EXISTS outbox_dropped (sink TEXT PRIMARY KEY, dropped INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS firing (
    sink TEXT NOT NULL,
    key TEXT NOT NULL,
    alert TEXT NOT NULL,
    PRIMARY KEY (sink, key)) WITHOUT ROWID;
";

/// How long a connection waits for the other thread's transaction: theirs are a few rows.
const BUSY_WAIT: Duration = Duration::from_secs(5);

/// The outbox file that goes with the history database at `store_path`.
pub fn path_for(store_path: &Path) -> PathBuf {
    let stem = store_path
        .file_stem()
        .map_or_else(|| "history".into(), |s| s.to_string_lossy().into_owned());
    store_path.with_file_name(format!("{stem}.outbox.db"))
}

/// A message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    /// Its place in the queue.
    pub seq: i64,
    /// Its stable id (receivers collapse duplicates by it).
    pub id: String,
    /// What is sent (a JSON document).
    pub body: String,
}

/// A change to the firing alerts, written with the messages that announce it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FiringChange {
    /// The alert `key` fires, as `alert` (JSON).
    Fire {
        /// The alert's identity within the sink.
        key: String,
        /// The alert as sent.
        alert: String,
    },
    /// The alert `key` resolved.
    Resolve {
        /// The alert's identity within the sink.
        key: String,
    },
}

/// One sink's view of the outbox file (each thread opens its own).
pub struct Outbox {
    conn: Connection,
    sink: String,
    max_pending: u64,
}

impl Outbox {
    /// Opens (creating) the outbox at `path` for the sink `sink`.
    pub fn open(path: &Path, sink: &str, max_pending: u64) -> rusqlite::Result<Outbox> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // A missing directory shows as SQLite's "unable to open"; the cause is clearer here.
            let _ = std::fs::create_dir_all(dir);
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_WAIT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Outbox {
            conn,
            sink: sink.to_string(),
            max_pending: max_pending.max(1),
        })
    }

    /// Queues `messages` (id, body) and applies `changes`, in one transaction; then drops the
    /// oldest beyond the bound. Returns how many were dropped. A message whose id is already
    /// queued is not queued twice.
    pub fn push(
        &mut self,
        messages: &[(String, String)],
        changes: &[FiringChange],
        now_ms: u64,
    ) -> rusqlite::Result<u64> {
        let tx = self.conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO outbox (sink, msg_id, body, queued_ms) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (id, body) in messages {
                insert.execute(params![self.sink, id, body, now_ms as i64])?;
            }
            for change in changes {
                match change {
                    FiringChange::Fire { key, alert } => tx.execute(
                        "INSERT OR REPLACE INTO firing (sink, key, alert) VALUES (?1, ?2, ?3)",
                        params![self.sink, key, alert],
                    )?,
                    FiringChange::Resolve { key } => tx.execute(
                        "DELETE FROM firing WHERE sink = ?1 AND key = ?2",
                        params![self.sink, key],
                    )?,
                };
            }
        }
        let dropped = Self::trim(&tx, &self.sink, self.max_pending)?;
        tx.commit()?;
        Ok(dropped)
    }

    /// Drops the oldest messages beyond `max`, counting them.
    fn trim(tx: &rusqlite::Transaction<'_>, sink: &str, max: u64) -> rusqlite::Result<u64> {
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM outbox WHERE sink = ?1",
            params![sink],
            |r| r.get(0),
        )?;
        let excess = (count as u64).saturating_sub(max);
        if excess == 0 {
            return Ok(0);
        }
        tx.execute(
            "DELETE FROM outbox WHERE seq IN
               (SELECT seq FROM outbox WHERE sink = ?1 ORDER BY seq LIMIT ?2)",
            params![sink, excess as i64],
        )?;
        tx.execute(
            "INSERT INTO outbox_dropped (sink, dropped) VALUES (?1, ?2)
             ON CONFLICT (sink) DO UPDATE SET dropped = dropped + excluded.dropped",
            params![sink, excess as i64],
        )?;
        Ok(excess)
    }

    /// The oldest message, if any.
    pub fn head(&self) -> rusqlite::Result<Option<Queued>> {
        self.conn
            .query_row(
                "SELECT seq, msg_id, body FROM outbox WHERE sink = ?1 ORDER BY seq LIMIT 1",
                params![self.sink],
                |r| {
                    Ok(Queued {
                        seq: r.get(0)?,
                        id: r.get(1)?,
                        body: r.get(2)?,
                    })
                },
            )
            .optional()
    }

    /// Removes a delivered message.
    pub fn remove(&self, seq: i64) -> rusqlite::Result<()> {
        self.conn
            .execute("DELETE FROM outbox WHERE seq = ?1", params![seq])
            .map(drop)
    }

    /// Messages queued.
    pub fn pending(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE sink = ?1",
                params![self.sink],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
    }

    /// Messages dropped for want of room, ever.
    pub fn dropped(&self) -> rusqlite::Result<u64> {
        self.conn
            .query_row(
                "SELECT dropped FROM outbox_dropped WHERE sink = ?1",
                params![self.sink],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|n| n.unwrap_or(0) as u64)
    }

    /// The firing alerts, by key.
    pub fn firing(&self) -> rusqlite::Result<Vec<(String, String)>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, alert FROM firing WHERE sink = ?1 ORDER BY key")?;
        let rows = stmt.query_map(params![self.sink], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs(ids: std::ops::Range<u32>) -> Vec<(String, String)> {
        ids.map(|i| (format!("m{i}"), format!("{{\"n\":{i}}}")))
            .collect()
    }

    fn drain(outbox: &Outbox) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(m) = outbox.head().unwrap() {
            out.push(m.id);
            outbox.remove(m.seq).unwrap();
        }
        out
    }

    #[test]
    fn keeps_order_and_bound_dropping_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.outbox.db");
        let mut a = Outbox::open(&path, "a", 5).unwrap();
        let mut b = Outbox::open(&path, "b", 100).unwrap();
        assert_eq!(a.push(&msgs(0..3), &[], 1).unwrap(), 0);
        assert_eq!(b.push(&msgs(0..2), &[], 1).unwrap(), 0);
        // Four more into a queue of five: the two oldest go, and are counted.
        assert_eq!(a.push(&msgs(3..7), &[], 2).unwrap(), 2);
        // An id already queued is not queued twice.
        assert_eq!(a.push(&msgs(6..7), &[], 3).unwrap(), 0);
        assert_eq!(a.pending().unwrap(), 5);
        assert_eq!(a.dropped().unwrap(), 2);
        drop(a);
        // Reopened (a restart): the same queue, the same count, in order; the other sink's apart.
        let a = Outbox::open(&path, "a", 5).unwrap();
        assert_eq!(a.dropped().unwrap(), 2);
        assert_eq!(drain(&a), ["m2", "m3", "m4", "m5", "m6"]);
        assert_eq!(drain(&b), ["m0", "m1"]);
        assert_eq!(b.dropped().unwrap(), 0);
    }

    #[test]
    fn firing_alerts_persist_with_their_messages() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.outbox.db");
        let mut a = Outbox::open(&path, "am", 10).unwrap();
        let fire = |k: &str| FiringChange::Fire {
            key: k.into(),
            alert: format!("{{\"k\":\"{k}\"}}"),
        };
        a.push(&msgs(0..1), &[fire("x"), fire("y")], 1).unwrap();
        a.push(&msgs(1..2), &[FiringChange::Resolve { key: "x".into() }], 2)
            .unwrap();
        drop(a);
        let a = Outbox::open(&path, "am", 10).unwrap();
        assert_eq!(
            a.firing().unwrap(),
            [("y".to_string(), "{\"k\":\"y\"}".to_string())]
        );
        assert_eq!(a.pending().unwrap(), 2);
    }

    #[test]
    fn the_file_sits_next_to_history() {
        assert_eq!(
            path_for(Path::new("/var/lib/rackwatch/history.db")),
            Path::new("/var/lib/rackwatch/history.outbox.db")
        );
    }
}
