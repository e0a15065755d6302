//! In-place migration of older history databases: version 2 (or 1) to 3 in SQL ([`FROM_2`]),
//! then 3 to 4 ([`from_3`]), which codes the readings into chunks.
//!
//! Invariants of 3 to 4:
//! - One transaction: the database is either wholly at version 4 or untouched at version 3.
//! - Every reading keeps its node time, wall time and value bits (a version 3 row's `bits`, when
//!   set, else its REAL, which held an f32 exactly); the chunks are those a version 4 store
//!   writes for the same readings. Every heartbeat stays, kept; new ones are thinned.
//!
//! Invariants of 2 to 3:
//! - One transaction: a database is either wholly migrated (and at version 3) or untouched.
//! - No row is lost: readings are copied as they are (a version 2 REAL was never NaN, so its value
//!   needs no bits); node events get the key version 3 would give them, and events version 2 kept
//!   apart but version 3 would merge (the same gap after two wraps, a boot joined twice) get the next
//!   free key of their kind by time, so they stay rows. Decode errors that differed only by arrival
//!   time (a raw file ingested twice) are the duplicates version 3 exists to avoid, and are merged.
//! - Log records are keyed by (epoch, sequence) instead of arrival time; version 2 kept no epoch, so
//!   the n-th record of a sequence number in a boot gets epoch n (by time): none is merged.
//! - Only the four re-keyed tables are rebuilt; `SCHEMA` then creates their indexes.

use super::chunks::{self, Sample, Series};
use rackwatch_core::codec::Values;
use rusqlite::{Connection, Transaction};

/// The migration, run after the connection's pragmas and before `SCHEMA`.
pub(super) const FROM_2: &str = "
BEGIN;
CREATE TABLE readings_v3 (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, t_ms INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, value REAL, bits INTEGER,
    PRIMARY KEY (node, boot, metric, t_ms)) WITHOUT ROWID;
INSERT INTO readings_v3 SELECT node, boot, metric, t_ms, wall_ms, value, NULL FROM readings;
DROP TABLE readings;
ALTER TABLE readings_v3 RENAME TO readings;
CREATE TABLE node_events_v3 (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, kind TEXT NOT NULL, key INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (node, boot, kind, key)) WITHOUT ROWID;
INSERT INTO node_events_v3
SELECT node, boot, kind,
    CASE kind
        WHEN 'gap' THEN (n << 16) | json_extract(detail, '$.after_seq')
        WHEN 'reset' THEN (n << 32) | json_extract(detail, '$.previous_boot')
        WHEN 'down' THEN wall_ms
        WHEN 'up' THEN wall_ms
        ELSE n
    END,
    wall_ms, detail
FROM (SELECT *, ROW_NUMBER() OVER (
        PARTITION BY node, boot, kind, CASE kind
            WHEN 'gap' THEN json_extract(detail, '$.after_seq')
            WHEN 'reset' THEN json_extract(detail, '$.previous_boot')
            WHEN 'down' THEN wall_ms
            WHEN 'up' THEN wall_ms
            ELSE 0
        END
        ORDER BY wall_ms) - 1 AS n
    FROM node_events);
DROP TABLE node_events;
ALTER TABLE node_events_v3 RENAME TO node_events;
CREATE TABLE decode_errors_v3 (
    source TEXT NOT NULL, wall_ms INTEGER NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, position, kind, detail)) WITHOUT ROWID;
INSERT OR IGNORE INTO decode_errors_v3 SELECT * FROM decode_errors ORDER BY wall_ms;
DROP TABLE decode_errors;
ALTER TABLE decode_errors_v3 RENAME TO decode_errors;
CREATE TABLE logs_v3 (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (node, boot, epoch, seq)) WITHOUT ROWID;
INSERT INTO logs_v3
SELECT node, boot,
    ROW_NUMBER() OVER (PARTITION BY node, boot, seq ORDER BY wall_ms) - 1,
    seq, wall_ms, bytes
FROM logs;
DROP TABLE logs;
ALTER TABLE logs_v3 RENAME TO logs;
PRAGMA user_version = 3;
COMMIT;
";

/// Codes a version 3 database's readings into chunks and drops its `readings` table; keeps every
/// heartbeat. Run after the connection's pragmas and before `SCHEMA`.
pub(super) fn from_3(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(V4_TABLES)?;
    {
        let mut stmt = tx.prepare(
            "SELECT node, boot, metric, t_ms, wall_ms, value, bits FROM readings
             ORDER BY node, boot, metric, t_ms",
        )?;
        let mut rows = stmt.query([])?;
        let mut series: Option<(Series, Vec<Sample>)> = None;
        while let Some(r) = rows.next()? {
            let key: Series = (r.get(0)?, r.get(1)?, r.get(2)?);
            let value = match r.get::<_, Option<i64>>(6)? {
                Some(bits) => f32::from_bits(bits as u32),
                None => r.get::<_, Option<f64>>(5)?.map_or(f32::NAN, |v| v as f32),
            };
            let sample = Sample::new(
                r.get::<_, i64>(3)? as u64,
                r.get::<_, i64>(4)? as u64,
                value,
            );
            match &mut series {
                Some((current, samples)) if *current == key => samples.push(sample),
                _ => {
                    if let Some((done, samples)) = series.take() {
                        store_series(&tx, done, &samples)?;
                    }
                    series = Some((key, vec![sample]));
                }
            }
        }
        if let Some((done, samples)) = series {
            store_series(&tx, done, &samples)?;
        }
    }
    tx.execute_batch(
        "DROP TABLE readings;
         ALTER TABLE heartbeats ADD COLUMN kept INTEGER NOT NULL DEFAULT 1;
         PRAGMA user_version = 4;",
    )?;
    tx.commit()
}

/// The tables version 4 adds (`SCHEMA` has them too).
const V4_TABLES: &str = "
CREATE TABLE IF NOT EXISTS chunks (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    first_ms INTEGER NOT NULL, last_ms INTEGER NOT NULL, anchor_ms INTEGER NOT NULL,
    first_wall_ms INTEGER NOT NULL, last_wall_ms INTEGER NOT NULL, count INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (node, boot, metric, first_ms));
";

fn store_series(tx: &Transaction<'_>, series: Series, samples: &[Sample]) -> rusqlite::Result<()> {
    chunks::write_series(tx, series, Values::Xor, samples.to_vec())
}

#[cfg(test)]
mod tests;
