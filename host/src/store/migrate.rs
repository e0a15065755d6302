//! In-place migration of a version 2 (or 1) history database to version 3.
//!
//! Invariants:
//! - One transaction: a database is either wholly migrated (and at version 3) or untouched.
//! - No row is lost: readings are copied as they are (a version 2 REAL was never NaN, so its value
//!   needs no bits); node events get the key version 3 would give them, and events version 2 kept
//!   apart but version 3 would merge (the same gap after two wraps, a boot joined twice) get the next
//!   free key of their kind by time, so they stay rows. Decode errors that differed only by arrival
//!   time (a raw file ingested twice) are the duplicates version 3 exists to avoid, and are merged.
//! - Log records are keyed by (epoch, sequence) instead of arrival time; version 2 kept no epoch, so
//!   the n-th record of a sequence number in a boot gets epoch n (by time): none is merged.
//! - Only the four re-keyed tables are rebuilt; `SCHEMA` then creates their indexes.

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

#[cfg(test)]
mod tests;
