//! History in SQLite: readings (as compressed chunks), transitions, node events, heartbeats and
//! decode errors. Layout and choices: `docs/history.md`.
//!
//! Invariants:
//! - Idempotent: what is stored is keyed by its identity in the data, never by when it arrived (a
//!   reading is `(node, boot, metric, node time)`, a transition `(node, boot, metric, origin,
//!   sequence, time)`, a node event `(node, boot, kind, key)` with the key from
//!   [`write::node_event_key`], a decode error `(source, stream position, kind, detail)`), so
//!   ingesting the same capture or raw file twice, or again after a `kill -9` part-way, changes
//!   nothing. A decode error's position counts from the source's (re)connection: two equal
//!   errors at the same offset of two connections of one live source are stored once.
//! - Readings live in `chunks`: per series (node, boot, metric), non-overlapping runs of node
//!   time coded by [`rackwatch_core::codec`] (lattice steps when the boot's Hello gave the
//!   metric a lattice, XOR otherwise), at most [`chunks::CHUNK_BYTES`] bytes and one
//!   [`chunks::BLOCK_MS`] block each, bit for bit (NaN payloads, −0.0, ±∞, subnormals). The head
//!   is each series' last chunk, appended to in the transaction that acknowledges its readings:
//!   every acknowledged reading is durable at once, and there is no second copy to compact.
//! - Heartbeats are kept as changes of the node's trouble counters, one per `[store]
//!   heartbeat_every` of uptime, and each boot's newest ([`heartbeats`]).
//! - Older schemas are migrated in place on open, each step in one transaction (see
//!   [`migrate`]); a newer one is refused.
//! - A boot's wall-clock anchor is fixed by the first writer (`COALESCE`), so a restarted daemon and a
//!   re-ingested capture place a boot's readings at the same wall times.
//! - Writes are batched: one transaction per [`Store::write`]; WAL journal, `synchronous = NORMAL`.
//! - Retention by age and by size deletes the oldest data first, readings a whole chunk at a time
//!   (a chunk goes once its newest reading is past the cutoff), and returns the space to the file
//!   (incremental vacuum).

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Every table but `chunks`, which [`Store::dump`] shows as its readings.
const TABLES: [&str; 8] = [
    "boots",
    "metrics",
    "lattices",
    "transitions",
    "node_events",
    "heartbeats",
    "decode_errors",
    "logs",
];

/// The tables whose rows have a wall time, which retention deletes by, with that column: a
/// chunk goes once its newest reading is older than the cutoff.
const TABLES_BY_TIME: [(&str, &str); 6] = [
    ("chunks", "last_wall_ms"),
    ("transitions", "wall_ms"),
    ("node_events", "wall_ms"),
    ("heartbeats", "wall_ms"),
    ("decode_errors", "wall_ms"),
    ("logs", "wall_ms"),
];

mod chunks;
mod heartbeats;
mod logs;
mod migrate;
mod query;
mod write;

pub use logs::{LogCursor, LogRow};
pub(crate) use query::value_json;
pub use query::{NodeEventRow, Query, ReadingRow, TransitionRow};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 4;

/// How often a heartbeat is stored when none of the node's counters changed, by default.
pub const HEARTBEAT_EVERY_MS: u64 = 5 * 60 * 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS boots (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, boot_wall_ms INTEGER, first_wall_ms INTEGER,
    firmware TEXT, schema_hash INTEGER,
    PRIMARY KEY (node, boot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    name TEXT NOT NULL, unit TEXT NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (node, boot, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lattices (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    offset_bits INTEGER NOT NULL, step_bits INTEGER NOT NULL,
    PRIMARY KEY (node, boot, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, anchor_ms INTEGER NOT NULL,
    first_wall_ms INTEGER NOT NULL, last_wall_ms INTEGER NOT NULL, count INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (node, boot, metric, first_ms));
CREATE INDEX IF NOT EXISTS chunks_by_time ON chunks (last_wall_ms);
CREATE TABLE IF NOT EXISTS transitions (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, origin TEXT NOT NULL,
    alert_seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    from_level TEXT NOT NULL, to_level TEXT NOT NULL, cause TEXT NOT NULL, suppressed INTEGER NOT NULL,
    PRIMARY KEY (node, boot, metric, origin, alert_seq, at_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transitions_by_time ON transitions (wall_ms);
CREATE TABLE IF NOT EXISTS node_events (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, kind TEXT NOT NULL, key INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (node, boot, kind, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heartbeats (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, uptime_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    reset TEXT NOT NULL, frames_sent INTEGER NOT NULL, frames_dropped INTEGER NOT NULL,
    readings_dropped INTEGER NOT NULL, sensor_errors INTEGER NOT NULL, kept INTEGER NOT NULL,
    PRIMARY KEY (node, boot, uptime_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decode_errors (
    source TEXT NOT NULL, wall_ms INTEGER NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, position, kind, detail)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (node, boot, epoch, seq)) WITHOUT ROWID;
";

/// What went wrong with the history database, and where.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("history database {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The directory for the database could not be created.
    #[error("cannot create the directory for the history database {path}: {source}")]
    Directory {
        /// The database file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The database was written by a newer rackwatch.
    #[error(
        "history database {path} has schema version {found}; this rackwatch knows {SCHEMA_VERSION}: \
         upgrade rackwatch or point it at another file with --db"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
    },
    /// The database has an older schema and could not be migrated (read-only file, say).
    #[error(
        "history database {path} has schema version {found} and could not be migrated to \
         {SCHEMA_VERSION}: {reason}; run rackwatch once with write access to it"
    )]
    OlderSchema {
        /// The database file.
        path: PathBuf,
        /// Its version.
        found: i64,
        /// Why the migration failed.
        reason: String,
    },
}

impl StoreError {
    /// The disk (or the file system's quota) is full: writing may work again once space returns.
    pub fn is_disk_full(&self) -> bool {
        const ENOSPC: i32 = 28;
        const EDQUOT: i32 = 122;
        match self {
            StoreError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => e.code == rusqlite::ErrorCode::DiskFull,
            StoreError::Directory { source, .. } => {
                matches!(source.raw_os_error(), Some(ENOSPC | EDQUOT))
            }
            _ => false,
        }
    }
}

/// Row counts per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Boots.
    pub boots: u64,
    /// Metric specs.
    pub metrics: u64,
    /// Readings.
    pub readings: u64,
    /// Transitions.
    pub transitions: u64,
    /// Node events.
    pub node_events: u64,
    /// Heartbeats.
    pub heartbeats: u64,
    /// Decode errors.
    pub decode_errors: u64,
    /// Log records.
    pub logs: u64,
}

/// The history database. See the [module docs](self).
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Store a heartbeat at least this often (node time) when no counter changed.
    heartbeat_every_ms: u64,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, and its directory.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Directory {
                path: path.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        // A batch uses some twenty statements (chunks, heartbeats, lattices, every other event
        // kind); rusqlite's default cache of 16 would parse some again for every event.
        conn.set_prepared_statement_cache_capacity(64);
        let mut store = Store {
            conn,
            path: path.to_path_buf(),
            heartbeat_every_ms: HEARTBEAT_EVERY_MS,
        };
        store.init()?;
        Ok(store)
    }

    /// Opens an existing database for queries only. One of an older schema is migrated first
    /// (queries know only the current one), which needs write access once.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let open = || -> Result<Store, StoreError> {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| sqlite(path, e))?;
            Ok(Store {
                conn,
                path: path.to_path_buf(),
                heartbeat_every_ms: HEARTBEAT_EVERY_MS,
            })
        };
        let store = open()?;
        let found = store.check_version()?;
        if !(1..SCHEMA_VERSION).contains(&found) {
            return Ok(store);
        }
        drop(store);
        Store::open(path).map_err(|e| StoreError::OlderSchema {
            path: path.to_path_buf(),
            found,
            reason: e.to_string(),
        })?;
        open()
    }

    /// Stores a heartbeat whose counters did not change only when `every_ms` of node time passed
    /// since the last one stored (the default is [`HEARTBEAT_EVERY_MS`]).
    pub fn keep_heartbeats_every(&mut self, every_ms: u64) {
        self.heartbeat_every_ms = every_ms.max(1);
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sqlite(&self.path, e)
    }

    fn check_version(&self) -> Result<i64, StoreError> {
        let found: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                path: self.path.clone(),
                found,
            });
        }
        Ok(found)
    }

    fn init(&mut self) -> Result<(), StoreError> {
        let found = self.check_version()?;
        if found == 1 {
            // Version 2 keys log frames by their sequence number; version 1's undecoded log rows
            // (same-millisecond frames merged) are dropped rather than guessed at.
            self.conn
                .execute_batch("DROP TABLE IF EXISTS logs;")
                .map_err(|e| self.err(e))?;
        }
        // auto_vacuum must be chosen before the first table exists; it is ignored afterwards.
        self.conn
            .execute_batch(
                "PRAGMA auto_vacuum = INCREMENTAL; PRAGMA journal_mode = WAL; \
                 PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -32768; PRAGMA wal_autocheckpoint = 16384;",
            )
            .map_err(|e| self.err(e))?;
        if (1..3).contains(&found) {
            self.conn
                .execute_batch(migrate::FROM_2)
                .map_err(|e| self.err(e))?;
        }
        if (1..4).contains(&found) {
            migrate::from_3(&mut self.conn).map_err(|e| sqlite(&self.path, e))?;
        }
        self.conn.execute_batch(SCHEMA).map_err(|e| self.err(e))?;
        self.conn
            .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(|e| self.err(e))
    }

    /// The wall-clock anchors of the boots already stored, to keep a restarted daemon's wall times
    /// consistent with what it wrote before.
    pub fn boot_anchors(&self) -> Result<Vec<(u16, u32, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT node, boot, boot_wall_ms FROM boots WHERE boot_wall_ms IS NOT NULL")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Rows per table.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        let count = |table: &str| -> Result<u64, StoreError> {
            self.conn
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(|e| self.err(e))
        };
        Ok(Counts {
            boots: count("boots")?,
            metrics: count("metrics")?,
            readings: self
                .conn
                .query_row("SELECT COALESCE(SUM(count), 0) FROM chunks", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(|e| self.err(e))?,
            transitions: count("transitions")?,
            node_events: count("node_events")?,
            heartbeats: count("heartbeats")?,
            decode_errors: count("decode_errors")?,
            logs: count("logs")?,
        })
    }

    /// Every row of every table, in key order, as text: for comparing two databases. Readings are
    /// listed one a line (`readings: node boot metric t_ms wall_ms bits`), not as the chunks
    /// that hold them, so two databases with the same readings dump the same however their
    /// writes were batched.
    pub fn dump(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for (node, boot, metric, t_ms, wall_ms, value) in self.stored_readings()? {
            out.push(format!(
                "readings: {node} {boot} {metric} {t_ms} {wall_ms} {:08x}",
                value.to_bits()
            ));
        }
        for table in TABLES {
            let mut stmt = self
                .conn
                .prepare(&format!("SELECT * FROM {table} ORDER BY 1, 2, 3, 4"))
                .map_err(|e| self.err(e))?;
            let columns = stmt.column_count();
            let mut rows = stmt.query([]).map_err(|e| self.err(e))?;
            while let Some(row) = rows.next().map_err(|e| self.err(e))? {
                let mut line = format!("{table}:");
                for i in 0..columns {
                    let value: rusqlite::types::Value = row.get(i).map_err(|e| self.err(e))?;
                    line.push(' ');
                    line.push_str(&dump_value(&value));
                }
                out.push(line);
            }
        }
        Ok(out)
    }

    /// Deletes data older than `max_age_ms` before `now_ms`, then the oldest data until the database
    /// holds at most `max_bytes`, and returns the freed pages to the file. Returns the readings
    /// deleted.
    pub fn retain(
        &mut self,
        now_ms: u64,
        max_age_ms: Option<u64>,
        max_bytes: Option<u64>,
    ) -> Result<u64, StoreError> {
        let mut deleted = 0u64;
        if let Some(max_age) = max_age_ms {
            let cutoff = now_ms.saturating_sub(max_age) as i64;
            deleted += self.delete_before(cutoff)?;
        }
        if let Some(max_bytes) = max_bytes {
            // Each round drops the oldest tenth of the chunks, so the loop ends.
            for _ in 0..64 {
                if self.used_bytes()? <= max_bytes {
                    break;
                }
                let total: i64 = self
                    .conn
                    .query_row("SELECT COUNT(*) FROM chunks", [], |r| r.get(0))
                    .map_err(|e| self.err(e))?;
                if total == 0 {
                    break;
                }
                let cutoff: Option<i64> = self
                    .conn
                    .query_row(
                        "SELECT last_wall_ms FROM chunks ORDER BY last_wall_ms LIMIT 1 OFFSET ?1",
                        [(total / 10).max(1)],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| self.err(e))?;
                let cutoff = cutoff.unwrap_or(i64::MAX);
                deleted += self.delete_before(cutoff)?;
                self.vacuum()?;
            }
        }
        self.vacuum()?;
        Ok(deleted)
    }

    fn delete_before(&mut self, cutoff: i64) -> Result<u64, StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sqlite(&path, e))?;
        let readings: i64 = tx
            .query_row(
                "SELECT COALESCE(SUM(count), 0) FROM chunks WHERE last_wall_ms < ?1",
                [cutoff],
                |r| r.get(0),
            )
            .map_err(|e| sqlite(&path, e))?;
        for (table, time) in TABLES_BY_TIME {
            tx.execute(&format!("DELETE FROM {table} WHERE {time} < ?1"), [cutoff])
                .map_err(|e| sqlite(&path, e))?;
        }
        // A boot that began before the cutoff and none of whose rows is left goes too, with its
        // metric names: otherwise the boots of a node that reboots often would pile up forever,
        // and with them the anchors every run loads at start. A boot that began after the cutoff
        // stays even without rows: it has only just started. Each lookup is a seek on the tables'
        // (node, boot) key prefix.
        let unreferenced: String = TABLES_BY_TIME
            .iter()
            .filter(|(table, _)| *table != "decode_errors")
            .map(|(table, _)| {
                format!(
                    "NOT EXISTS (SELECT 1 FROM {table} t WHERE t.node = boots.node AND t.boot = boots.boot)"
                )
            })
            .collect::<Vec<_>>()
            .join(" AND ");
        tx.execute(
            &format!("DELETE FROM boots WHERE COALESCE(first_wall_ms, 0) < ?1 AND {unreferenced}"),
            [cutoff],
        )
        .map_err(|e| sqlite(&path, e))?;
        tx.execute_batch(
            "DELETE FROM metrics WHERE NOT EXISTS \
               (SELECT 1 FROM boots b WHERE b.node = metrics.node AND b.boot = metrics.boot);
             DELETE FROM lattices WHERE NOT EXISTS \
               (SELECT 1 FROM boots b WHERE b.node = lattices.node AND b.boot = lattices.boot);",
        )
        .map_err(|e| sqlite(&path, e))?;
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(readings as u64)
    }

    fn vacuum(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }

    /// Keeps the write-ahead log within `max_bytes` on disk: checkpoints once it holds that much
    /// and truncates it back after each checkpoint. Without a bound the log may grow to 64 MiB
    /// between checkpoints, which a small size limit could not account for.
    pub fn bound_journal(&self, max_bytes: u64) -> Result<(), StoreError> {
        let page_size: i64 = self
            .conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        let pages = (max_bytes / page_size.max(512) as u64).clamp(16, 16_384);
        self.conn
            .execute_batch(&format!(
                "PRAGMA wal_autocheckpoint = {pages}; PRAGMA journal_size_limit = {max_bytes};"
            ))
            .map_err(|e| self.err(e))
    }

    /// Bytes the database's live pages take.
    pub fn used_bytes(&self) -> Result<u64, StoreError> {
        let get = |pragma: &str| -> Result<i64, StoreError> {
            self.conn
                .query_row(&format!("PRAGMA {pragma}"), [], |r| r.get(0))
                .map_err(|e| self.err(e))
        };
        let pages = get("page_count")? - get("freelist_count")?;
        Ok((pages.max(0) * get("page_size")?) as u64)
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

/// A stored value as text for [`Store::dump`]: exact (floats in shortest round-trip form, blobs in
/// hex), and typed (`NULL`, integers, `"text"`, `x'..'`) so two dumps compare value for value.
fn dump_value(value: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value;
    match value {
        Value::Null => "NULL".into(),
        Value::Integer(i) => i.to_string(),
        Value::Real(f) => format!("{f:e}"),
        Value::Text(t) => serde_json::to_string(t).unwrap_or_default(),
        Value::Blob(b) => {
            let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
            format!("x'{hex}'")
        }
    }
}
