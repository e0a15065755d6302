//! Time measurements through the real binaries: ingest (`rackwatch run` over a capture, with and
//! without history) and queries (`rackwatch history`, plain and `--step`), each against a baseline
//! measured in the same run.
//!
//! Invariants:
//! - Every figure is the wall time of a whole process (start-up and exit included) unless it says
//!   otherwise; repeated measurements keep the fastest, the one least disturbed by other load.
//! - The query baseline does not depend on the store under test: it is today's row-per-reading
//!   table (the schema of history version 2) built here from the same samples, read in process
//!   and printed as `history --format csv` prints rows.

use anyhow::Context;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One `rackwatch run` over a capture.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Ingest {
    /// Wall time of the process.
    pub seconds: f64,
    /// Peak resident set, KiB (from the run's summary line).
    pub peak_rss_kib: u64,
}

/// Runs `rackwatch run capture:CAPTURE` to its end, into history `db` or with `--no-store`.
pub fn run_capture(rackwatch: &Path, capture: &Path, db: Option<&Path>) -> anyhow::Result<Ingest> {
    let mut command = Command::new(rackwatch);
    command
        .arg("run")
        .arg(format!("capture:{}", capture.display()))
        .args(["--no-local", "--listen", "none"])
        .env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    match db {
        Some(db) => command.arg("--db").arg(db),
        None => command.arg("--no-store"),
    };
    let started = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("running {}", rackwatch.display()))?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        anyhow::bail!(
            "`rackwatch run capture:{}` failed: {}",
            capture.display(),
            stderr.trim()
        );
    }
    // No figure where the system gives none (the summary leaves it out off Linux): 0.
    Ok(Ingest {
        seconds,
        peak_rss_kib: peak_rss(&stderr).unwrap_or(0),
    })
}

/// `peak RSS N KiB` from the summary line of `rackwatch run`.
fn peak_rss(stderr: &str) -> Option<u64> {
    let line = stderr.lines().find(|l| l.starts_with("rackwatch:"))?;
    let after = line.split("peak RSS ").nth(1)?;
    after.split(' ').next()?.parse().ok()
}

/// Runs `history` with `args` against `db`, output discarded: the fastest of `tries` wall times.
pub fn time_history(
    rackwatch: &Path,
    db: &Path,
    args: &[&str],
    tries: u32,
) -> anyhow::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..tries.max(1) {
        let started = Instant::now();
        let out = Command::new(rackwatch)
            .arg("history")
            .arg("--db")
            .arg(db)
            .args(args)
            .env_remove("RACKWATCH_CONFIG")
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running {}", rackwatch.display()))?;
        let elapsed = started.elapsed();
        if !out.status.success() {
            anyhow::bail!(
                "`rackwatch history {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        best = best.min(elapsed);
    }
    Ok(best)
}

/// Today's row-per-reading table (history version 2's `readings`, its primary key and time index)
/// holding `series` as node 0, boot 0, metric 0.
pub fn build_row_table(path: &Path, series: &[(u64, f32)]) -> anyhow::Result<()> {
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE readings (
           node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
           t_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL, value REAL, bits INTEGER,
           PRIMARY KEY (node, boot, metric, t_ms)) WITHOUT ROWID;
         CREATE INDEX readings_by_time ON readings (wall_ms);",
    )?;
    let tx = conn.transaction()?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO readings (node, boot, metric, t_ms, wall_ms, value, bits)
             VALUES (0, 0, 0, ?1, ?2, ?3, ?4)",
        )?;
        let first = series.first().map_or(0, |&(t, _)| t);
        for &(t, v) in series {
            let bits = (!v.is_finite() || v == 0.0).then_some(i64::from(v.to_bits()));
            insert.execute(rusqlite::params![
                (t - first) as i64,
                t as i64,
                f64::from(v),
                bits
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Reads the row table's series back in time order and prints each row as `history --format csv`
/// does, to nowhere: the fastest of `tries`; also the rows read.
pub fn time_row_table(path: &Path, tries: u32) -> anyhow::Result<(Duration, u64)> {
    let mut best = (Duration::MAX, 0);
    for _ in 0..tries.max(1) {
        let started = Instant::now();
        let conn = rusqlite::Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )?;
        let mut statement = conn.prepare(
            "SELECT wall_ms, value, bits, t_ms FROM readings
             WHERE node = 0 AND metric = 0 ORDER BY wall_ms",
        )?;
        let mut out = std::io::BufWriter::new(std::io::sink());
        let mut rows = statement.query([])?;
        let mut count = 0u64;
        while let Some(row) = rows.next()? {
            let value = match row.get::<_, Option<i64>>(2)? {
                Some(bits) => f32::from_bits(bits as u32),
                None => row.get::<_, f64>(1)? as f32,
            };
            writeln!(
                out,
                "{},0,metric_0,{value},u,00000000,{}",
                rackwatch::timefmt::format_utc(row.get::<_, i64>(0)? as u64),
                row.get::<_, i64>(3)?
            )?;
            count += 1;
        }
        best = (best.0.min(started.elapsed()), count);
    }
    Ok(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_line_gives_the_peak_rss() {
        let stderr = "rackwatch: 10 bytes, 2 frames, 0 decode errors, 5 events from 1 nodes, peak RSS 6420 KiB\n  node 1: ...";
        assert_eq!(peak_rss(stderr), Some(6420));
        assert_eq!(peak_rss("rackwatch: 10 bytes"), None);
    }

    #[test]
    fn the_row_table_gives_back_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.db");
        let series: Vec<(u64, f32)> = (0..1000u64)
            .map(|i| (1_800_000_000_000 + i * 1000, i as f32))
            .collect();
        build_row_table(&path, &series).unwrap();
        let (_, rows) = time_row_table(&path, 2).unwrap();
        assert_eq!(rows, 1000);
    }
}
