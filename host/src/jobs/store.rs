//! Job runs in the history database: every check-in with its exit status, duration and message
//! (the log tail), for `rackwatch history --jobs` and `rackwatch alerts`.
//!
//! Invariants:
//! - The table is created on open (`CREATE TABLE IF NOT EXISTS`) beside the history's own, which
//!   are opened (and migrated) first by [`Store::open`]; none of the history's tables changes.
//! - Bounded: each job keeps its newest [`KEEP_RUNS`] rows; a message is at most
//!   [`super::MAX_MESSAGE`] bytes (the HTTP route refuses longer bodies, [`super::Jobs`] cuts).
//! - A reader never writes: [`RunStore::read`] opens the file read-only and treats a database
//!   without the table as one without runs.

use super::Run;
use crate::store::{Store, StoreError};
use rusqlite::{params, Connection, OpenFlags};
use std::path::{Path, PathBuf};

/// Rows kept per job.
pub const KEEP_RUNS: u64 = 1000;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS job_runs (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, wall_ms INTEGER NOT NULL, kind TEXT NOT NULL,
    exit_status INTEGER, duration_ms INTEGER, message TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS job_runs_by_job ON job_runs (job, wall_ms);
";

/// Which runs to read.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this job's.
    pub job: Option<String>,
    /// From this time (inclusive).
    pub since_ms: Option<u64>,
    /// Until this time (exclusive).
    pub until_ms: Option<u64>,
    /// Only ends with a non-zero exit status.
    pub failed_only: bool,
    /// At most this many (the newest).
    pub limit: Option<u64>,
}

/// The job runs of one history database.
pub struct RunStore {
    conn: Connection,
    path: PathBuf,
}

impl RunStore {
    /// Opens the history database at `path` for writing runs (creating it as the history does).
    pub fn open(path: &Path) -> Result<RunStore, StoreError> {
        drop(Store::open(path)?);
        let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(|e| sqlite(path, e))?;
        conn.execute_batch(SCHEMA).map_err(|e| sqlite(path, e))?;
        Ok(RunStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens `path` read-only.
    pub fn read(path: &Path) -> Result<RunStore, StoreError> {
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| sqlite(path, e))?;
        Ok(RunStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Stores `runs`, and forgets each job's rows beyond [`KEEP_RUNS`].
    pub fn write(&mut self, runs: &[Run]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let tx = self.conn.transaction().map_err(|e| sqlite(&path, e))?;
        for run in runs {
            tx.execute(
                "INSERT INTO job_runs (job, wall_ms, kind, exit_status, duration_ms, message) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run.job,
                    run.wall_ms as i64,
                    run.kind,
                    run.exit_status,
                    run.duration_ms.map(|d| d as i64),
                    run.message
                ],
            )
            .map_err(|e| sqlite(&path, e))?;
            tx.execute(
                "DELETE FROM job_runs WHERE job = ?1 AND id NOT IN \
                 (SELECT id FROM job_runs WHERE job = ?1 ORDER BY id DESC LIMIT ?2)",
                params![run.job, KEEP_RUNS as i64],
            )
            .map_err(|e| sqlite(&path, e))?;
        }
        tx.commit().map_err(|e| sqlite(&path, e))
    }

    /// The runs `filter` selects, oldest first, at most its newest `limit`.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<Run>, StoreError> {
        let exists: bool = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'job_runs'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| sqlite(&self.path, e))?;
        if !exists {
            return Ok(Vec::new());
        }
        let mut statement = self
            .conn
            .prepare(
                "SELECT job, wall_ms, kind, exit_status, duration_ms, message FROM job_runs \
                 WHERE (?1 IS NULL OR job = ?1) AND wall_ms >= ?2 AND (?3 IS NULL OR wall_ms < ?3) \
                 AND (?4 = 0 OR kind = 'fail') ORDER BY id DESC LIMIT ?5",
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let rows = statement
            .query_map(
                params![
                    filter.job,
                    filter.since_ms.unwrap_or(0).min(i64::MAX as u64) as i64,
                    filter.until_ms.map(|u| u.min(i64::MAX as u64) as i64),
                    filter.failed_only,
                    filter.limit.unwrap_or(u64::MAX).min(i64::MAX as u64) as i64
                ],
                |r| {
                    Ok(Run {
                        job: r.get(0)?,
                        wall_ms: r.get::<_, i64>(1)?.max(0) as u64,
                        kind: r.get(2)?,
                        exit_status: r.get(3)?,
                        duration_ms: r.get::<_, Option<i64>>(4)?.map(|d| d.max(0) as u64),
                        message: r.get(5)?,
                    })
                },
            )
            .map_err(|e| sqlite(&self.path, e))?;
        let mut runs = rows
            .collect::<Result<Vec<Run>, _>>()
            .map_err(|e| sqlite(&self.path, e))?;
        runs.reverse();
        Ok(runs)
    }
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(job: &str, wall_ms: u64, status: u8) -> Run {
        Run {
            job: job.into(),
            wall_ms,
            kind: if status == 0 { "success" } else { "fail" }.into(),
            exit_status: Some(status),
            duration_ms: Some(5),
            message: format!("line {wall_ms}"),
        }
    }

    #[test]
    fn runs_are_kept_per_job_and_read_back_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let mut store = RunStore::open(&path).unwrap();
        store
            .write(&[run("a", 1, 0), run("b", 2, 3), run("a", 3, 1)])
            .unwrap();
        let reader = RunStore::read(&path).unwrap();
        let only_a = RunFilter {
            job: Some("a".into()),
            ..RunFilter::default()
        };
        assert_eq!(
            reader.runs(&only_a).unwrap(),
            [run("a", 1, 0), run("a", 3, 1)]
        );
        let since_2 = RunFilter {
            since_ms: Some(2),
            ..RunFilter::default()
        };
        assert_eq!(reader.runs(&since_2).unwrap().len(), 2);
        let newest = RunFilter {
            limit: Some(1),
            ..RunFilter::default()
        };
        assert_eq!(reader.runs(&newest).unwrap(), [run("a", 3, 1)]);
        let failed = RunFilter {
            failed_only: true,
            until_ms: Some(3),
            ..RunFilter::default()
        };
        assert_eq!(reader.runs(&failed).unwrap(), [run("b", 2, 3)]);
    }

    #[test]
    fn a_database_without_runs_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        drop(Store::open(&path).unwrap());
        assert!(RunStore::read(&path)
            .unwrap()
            .runs(&RunFilter::default())
            .unwrap()
            .is_empty());
    }
}
