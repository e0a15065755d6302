//! History in SQLite: readings, transitions, node events, heartbeats and decode errors.
//!
//! Invariants:
//! - Idempotent: every table's primary key is the identity of what it records (a reading is
//!   `(node, boot, metric, node time)`, a transition `(node, boot, metric, origin, sequence, time)`, a
//!   decode error `(source, time, stream position)`), and rows are inserted with `INSERT OR IGNORE`,
//!   so ingesting the same capture twice changes nothing.
//! - A boot's wall-clock anchor is fixed by the first writer (`COALESCE`), so a restarted daemon and a
//!   re-ingested capture place a boot's readings at the same wall times.
//! - Writes are batched: one transaction per [`Store::write`]; WAL journal, `synchronous = NORMAL`.
//! - Retention by age and by size deletes the oldest data first and returns the space to the file
//!   (incremental vacuum).

use crate::ingest::{Event, NodeEventKind};
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::Cause;
use rackwatch_core::Level;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The schema version this build writes (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS boots (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, boot_wall_ms INTEGER, first_wall_ms INTEGER,
    firmware TEXT, schema_hash INTEGER,
    PRIMARY KEY (node, boot)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    name TEXT NOT NULL, unit TEXT NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (node, boot, metric)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS readings (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, t_ms INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (node, boot, metric, t_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (wall_ms);
CREATE TABLE IF NOT EXISTS transitions (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, origin TEXT NOT NULL,
    alert_seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    from_level TEXT NOT NULL, to_level TEXT NOT NULL, cause TEXT NOT NULL, suppressed INTEGER NOT NULL,
    PRIMARY KEY (node, boot, metric, origin, alert_seq, at_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS transitions_by_time ON transitions (wall_ms);
CREATE TABLE IF NOT EXISTS node_events (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, kind TEXT NOT NULL, wall_ms INTEGER NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (node, boot, kind, wall_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS heartbeats (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, uptime_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    reset TEXT NOT NULL, frames_sent INTEGER NOT NULL, frames_dropped INTEGER NOT NULL,
    readings_dropped INTEGER NOT NULL, sensor_errors INTEGER NOT NULL,
    PRIMARY KEY (node, boot, uptime_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decode_errors (
    source TEXT NOT NULL, wall_ms INTEGER NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, wall_ms, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, wall_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (node, boot, wall_ms, seq)) WITHOUT ROWID;
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
}

/// A filter for history queries. Times are wall-clock ms since the Unix epoch.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this node.
    pub node: Option<u16>,
    /// Only metrics of this name.
    pub metric: Option<String>,
    /// From this time (inclusive).
    pub since_ms: Option<u64>,
    /// Until this time (exclusive).
    pub until_ms: Option<u64>,
    /// At most this many rows (the newest when limited).
    pub limit: Option<u64>,
}

/// A stored reading.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Metric id.
    pub metric: u16,
    /// Metric name (`metric_<id>` when the node did not describe it).
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Node time.
    pub t_ms: u64,
    /// Wall time.
    pub wall_ms: u64,
    /// Value.
    pub value: f64,
}

/// A stored transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Metric id.
    pub metric: u16,
    /// Metric name.
    pub name: String,
    /// `node` or `host`.
    pub origin: String,
    /// Per-alert sequence number.
    pub alert_seq: u32,
    /// Node time.
    pub at_ms: u64,
    /// Wall time.
    pub wall_ms: u64,
    /// Level before.
    pub from: String,
    /// Level after.
    pub to: String,
    /// Why, as JSON.
    pub cause: serde_json::Value,
    /// Flapping: notifications suppressed.
    pub suppressed: bool,
}

/// A stored node event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeEventRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Event name.
    pub kind: String,
    /// Wall time.
    pub wall_ms: u64,
    /// Details, as JSON.
    pub detail: serde_json::Value,
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
}

fn level_name(level: Level) -> &'static str {
    level.as_str()
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
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.init()?;
        Ok(store)
    }

    /// Opens an existing database for queries only.
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sqlite(path, e))?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store.check_version()?;
        Ok(store)
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

    fn init(&self) -> Result<(), StoreError> {
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
        self.conn.execute_batch(SCHEMA).map_err(|e| self.err(e))?;
        self.conn
            .execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))
            .map_err(|e| self.err(e))
    }

    /// Writes a batch of events in one transaction. Events that record nothing (none today) are
    /// skipped; rows already present are left as they are.
    pub fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |err| sqlite(&path, err);
        let tx = self.conn.transaction().map_err(e)?;
        {
            let mut boot = tx
                .prepare_cached(
                    "INSERT INTO boots (node, boot, boot_wall_ms, first_wall_ms, firmware, schema_hash)
                     VALUES (?1, ?2, ?3, ?3, ?4, ?5)
                     ON CONFLICT (node, boot) DO UPDATE SET
                       boot_wall_ms = COALESCE(boots.boot_wall_ms, excluded.boot_wall_ms),
                       firmware = COALESCE(boots.firmware, excluded.firmware),
                       schema_hash = COALESCE(boots.schema_hash, excluded.schema_hash)",
                )
                .map_err(e)?;
            let mut metric = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO metrics (node, boot, metric, name, unit, spec)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(e)?;
            let mut reading = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO readings (node, boot, metric, t_ms, wall_ms, value)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(e)?;
            let mut transition = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO transitions (node, boot, metric, origin, alert_seq, at_ms,
                       wall_ms, from_level, to_level, cause, suppressed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                )
                .map_err(e)?;
            let mut node_event = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO node_events (node, boot, kind, wall_ms, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(e)?;
            let mut heartbeat = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO heartbeats (node, boot, uptime_ms, wall_ms, reset,
                       frames_sent, frames_dropped, readings_dropped, sensor_errors)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(e)?;
            let mut decode_error = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO decode_errors (source, wall_ms, position, kind, detail)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(e)?;
            let mut log = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO logs (node, boot, wall_ms, seq, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(e)?;
            for event in events {
                match event {
                    Event::Boot {
                        node,
                        boot: b,
                        boot_wall_ms,
                        hello,
                    } => {
                        boot.execute(params![
                            node,
                            b,
                            boot_wall_ms.map(|v| v as i64),
                            hello.as_ref().map(|h| h.firmware.as_str()),
                            hello.as_ref().map(|h| h.schema_hash as i64),
                        ])
                        .map_err(e)?;
                    }
                    Event::Metric { node, boot, spec } => {
                        metric
                            .execute(params![
                                node,
                                boot,
                                spec.id,
                                spec.name.as_str(),
                                spec.unit.as_str(),
                                spec_json(spec),
                            ])
                            .map_err(e)?;
                    }
                    Event::Reading {
                        node,
                        boot,
                        metric,
                        t_ms,
                        wall_ms,
                        value,
                    } => {
                        reading
                            .execute(params![
                                node,
                                boot,
                                metric,
                                *t_ms as i64,
                                *wall_ms as i64,
                                f64::from(*value)
                            ])
                            .map_err(e)?;
                    }
                    Event::Transition {
                        node,
                        boot,
                        origin,
                        wall_ms,
                        transition: t,
                    } => {
                        transition
                            .execute(params![
                                node,
                                boot,
                                t.metric,
                                origin.as_str(),
                                t.alert_seq,
                                t.at_ms as i64,
                                *wall_ms as i64,
                                level_name(t.from),
                                level_name(t.to),
                                cause_json(&t.cause),
                                t.suppressed,
                            ])
                            .map_err(e)?;
                    }
                    Event::NodeEvent {
                        node,
                        boot,
                        wall_ms,
                        kind,
                    } => {
                        node_event
                            .execute(params![
                                node,
                                boot,
                                kind.name(),
                                *wall_ms as i64,
                                event_json(kind)
                            ])
                            .map_err(e)?;
                    }
                    Event::Heartbeat {
                        node,
                        boot,
                        wall_ms,
                        heartbeat: h,
                    } => {
                        heartbeat
                            .execute(params![
                                node,
                                boot,
                                h.uptime_ms as i64,
                                *wall_ms as i64,
                                format!("{:?}", h.reset),
                                h.frames_sent,
                                h.frames_dropped,
                                h.readings_dropped,
                                h.sensor_errors,
                            ])
                            .map_err(e)?;
                    }
                    Event::DecodeError {
                        source,
                        wall_ms,
                        position,
                        error,
                    } => {
                        decode_error
                            .execute(params![
                                source,
                                *wall_ms as i64,
                                *position as i64,
                                error.name(),
                                error.to_string()
                            ])
                            .map_err(e)?;
                    }
                    Event::Log {
                        node,
                        boot,
                        wall_ms,
                        seq,
                        bytes,
                    } => {
                        log.execute(params![node, boot, *wall_ms as i64, seq, bytes])
                            .map_err(e)?;
                    }
                }
            }
        }
        tx.commit().map_err(e)
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
            readings: count("readings")?,
            transitions: count("transitions")?,
            node_events: count("node_events")?,
            heartbeats: count("heartbeats")?,
            decode_errors: count("decode_errors")?,
            logs: count("logs")?,
        })
    }

    /// Every row of every table, in key order, as text: for comparing two databases.
    pub fn dump(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for table in [
            "boots",
            "metrics",
            "readings",
            "transitions",
            "node_events",
            "heartbeats",
            "decode_errors",
            "logs",
        ] {
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
                    line.push_str(&format!(" {value:?}"));
                }
                out.push(line);
            }
        }
        Ok(out)
    }

    fn filter(q: &Query, time_column: &str) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(node) = q.node {
            clauses.push("x.node = ?".to_string());
            values.push(Value::Integer(i64::from(node)));
        }
        if let Some(metric) = &q.metric {
            clauses.push("COALESCE(m.name, 'metric_' || x.metric) = ?".to_string());
            values.push(Value::Text(metric.clone()));
        }
        if let Some(since) = q.since_ms {
            clauses.push(format!("x.{time_column} >= ?"));
            values.push(Value::Integer(since as i64));
        }
        if let Some(until) = q.until_ms {
            clauses.push(format!("x.{time_column} < ?"));
            values.push(Value::Integer(until as i64));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (filter, values)
    }

    /// Readings matching `q`, oldest first (the newest `limit` when limited).
    pub fn readings(&self, q: &Query) -> Result<Vec<ReadingRow>, StoreError> {
        let (filter, values) = Self::filter(q, "wall_ms");
        let sql = format!(
            "SELECT * FROM (SELECT x.node, x.boot, x.metric, COALESCE(m.name, 'metric_' || x.metric),
               COALESCE(m.unit, ''), x.t_ms, x.wall_ms, x.value
             FROM readings x LEFT JOIN metrics m
               ON m.node = x.node AND m.boot = x.boot AND m.metric = x.metric
             {filter} ORDER BY x.wall_ms DESC, x.node, x.metric LIMIT {})
             ORDER BY 7, 1, 3",
            q.limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(ReadingRow {
                    node: r.get(0)?,
                    boot: r.get(1)?,
                    metric: r.get(2)?,
                    name: r.get(3)?,
                    unit: r.get(4)?,
                    t_ms: r.get::<_, i64>(5)? as u64,
                    wall_ms: r.get::<_, i64>(6)? as u64,
                    value: r.get(7)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Transitions matching `q`, oldest first (the newest `limit` when limited).
    pub fn transitions(&self, q: &Query) -> Result<Vec<TransitionRow>, StoreError> {
        let (filter, values) = Self::filter(q, "wall_ms");
        let sql = format!(
            "SELECT * FROM (SELECT x.node, x.boot, x.metric, COALESCE(m.name, 'metric_' || x.metric),
               x.origin, x.alert_seq, x.at_ms, x.wall_ms, x.from_level, x.to_level, x.cause,
               x.suppressed
             FROM transitions x LEFT JOIN metrics m
               ON m.node = x.node AND m.boot = x.boot AND m.metric = x.metric
             {filter} ORDER BY x.wall_ms DESC, x.node, x.metric, x.origin, x.alert_seq DESC LIMIT {})
             ORDER BY 8, 1, 3, 5, 6",
            q.limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                let cause: String = r.get(10)?;
                Ok(TransitionRow {
                    node: r.get(0)?,
                    boot: r.get(1)?,
                    metric: r.get(2)?,
                    name: r.get(3)?,
                    origin: r.get(4)?,
                    alert_seq: r.get(5)?,
                    at_ms: r.get::<_, i64>(6)? as u64,
                    wall_ms: r.get::<_, i64>(7)? as u64,
                    from: r.get(8)?,
                    to: r.get(9)?,
                    cause: serde_json::from_str(&cause).unwrap_or(serde_json::Value::String(cause)),
                    suppressed: r.get(11)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Node events matching `q` (the metric filter does not apply), oldest first.
    pub fn node_events(&self, q: &Query) -> Result<Vec<NodeEventRow>, StoreError> {
        let q = Query {
            metric: None,
            ..q.clone()
        };
        let (filter, values) = Self::filter(&q, "wall_ms");
        let sql = format!(
            "SELECT * FROM (SELECT x.node, x.boot, x.kind, x.wall_ms, x.detail FROM node_events x
             {filter} ORDER BY x.wall_ms DESC LIMIT {}) ORDER BY 4, 1",
            q.limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                let detail: String = r.get(4)?;
                Ok(NodeEventRow {
                    node: r.get(0)?,
                    boot: r.get(1)?,
                    kind: r.get(2)?,
                    wall_ms: r.get::<_, i64>(3)? as u64,
                    detail: serde_json::from_str(&detail)
                        .unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The spec a node announced for a metric in its latest boot that has one.
    pub fn spec(&self, node: u16, metric: &str) -> Result<Option<MetricSpec>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT m.spec FROM metrics m LEFT JOIN boots b ON b.node = m.node AND b.boot = m.boot
                 WHERE m.node = ?1 AND m.name = ?2 ORDER BY b.first_wall_ms DESC LIMIT 1",
                params![node, metric],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
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
            // Each round drops the oldest tenth of the readings, so the loop ends.
            for _ in 0..64 {
                if self.used_bytes()? <= max_bytes {
                    break;
                }
                let total = self.counts()?.readings;
                if total == 0 {
                    break;
                }
                let cutoff: Option<i64> = self
                    .conn
                    .query_row(
                        "SELECT wall_ms FROM readings ORDER BY wall_ms LIMIT 1 OFFSET ?1",
                        [((total / 10).max(1)) as i64],
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
        let mut readings = 0;
        for table in [
            "readings",
            "transitions",
            "node_events",
            "heartbeats",
            "decode_errors",
            "logs",
        ] {
            let n = tx
                .execute(&format!("DELETE FROM {table} WHERE wall_ms < ?1"), [cutoff])
                .map_err(|e| sqlite(&path, e))?;
            if table == "readings" {
                readings = n as u64;
            }
        }
        tx.commit().map_err(|e| sqlite(&path, e))?;
        Ok(readings)
    }

    fn vacuum(&self) -> Result<(), StoreError> {
        self.conn
            .execute_batch("PRAGMA incremental_vacuum; PRAGMA wal_checkpoint(TRUNCATE);")
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

fn spec_json(spec: &MetricSpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

fn cause_json(cause: &Cause) -> String {
    serde_json::to_string(cause).unwrap_or_default()
}

fn event_json(kind: &NodeEventKind) -> String {
    serde_json::to_string(kind).unwrap_or_default()
}
