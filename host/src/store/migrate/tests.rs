use super::super::{Query, Store, StoreError};
use crate::ingest::{Event, NodeEventKind};
use rusqlite::Connection;

/// The version 2 schema as released, copied so that later edits to `SCHEMA` cannot change what
/// this test migrates from.
const V2_SCHEMA: &str = "
CREATE TABLE boots (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, boot_wall_ms INTEGER, first_wall_ms INTEGER,
    firmware TEXT, schema_hash INTEGER,
    PRIMARY KEY (node, boot)) WITHOUT ROWID;
CREATE TABLE metrics (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL,
    name TEXT NOT NULL, unit TEXT NOT NULL, spec TEXT NOT NULL,
    PRIMARY KEY (node, boot, metric)) WITHOUT ROWID;
CREATE TABLE readings (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, t_ms INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (node, boot, metric, t_ms)) WITHOUT ROWID;
CREATE INDEX readings_by_time ON readings (wall_ms);
CREATE TABLE transitions (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, metric INTEGER NOT NULL, origin TEXT NOT NULL,
    alert_seq INTEGER NOT NULL, at_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    from_level TEXT NOT NULL, to_level TEXT NOT NULL, cause TEXT NOT NULL, suppressed INTEGER NOT NULL,
    PRIMARY KEY (node, boot, metric, origin, alert_seq, at_ms)) WITHOUT ROWID;
CREATE INDEX transitions_by_time ON transitions (wall_ms);
CREATE TABLE node_events (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, kind TEXT NOT NULL, wall_ms INTEGER NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (node, boot, kind, wall_ms)) WITHOUT ROWID;
CREATE TABLE heartbeats (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, uptime_ms INTEGER NOT NULL, wall_ms INTEGER NOT NULL,
    reset TEXT NOT NULL, frames_sent INTEGER NOT NULL, frames_dropped INTEGER NOT NULL,
    readings_dropped INTEGER NOT NULL, sensor_errors INTEGER NOT NULL,
    PRIMARY KEY (node, boot, uptime_ms)) WITHOUT ROWID;
CREATE TABLE decode_errors (
    source TEXT NOT NULL, wall_ms INTEGER NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, wall_ms, position)) WITHOUT ROWID;
CREATE TABLE logs (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, wall_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    bytes BLOB NOT NULL,
    PRIMARY KEY (node, boot, wall_ms, seq)) WITHOUT ROWID;
PRAGMA user_version = 2;
";

/// Rows as version 2 wrote them: readings, the same gap after two wraps (apart only by time), a
/// reset, a boot joined twice, and one decode error.
const V2_ROWS: &str = r#"
INSERT INTO boots VALUES (1, 7, 1000, 1000, 'fw', 5);
INSERT INTO metrics VALUES (1, 7, 0, 'temp', 'C', '{}');
INSERT INTO readings VALUES (1, 7, 0, 10, 1010, 21.5), (1, 7, 0, 20, 1020, -3.25);
INSERT INTO node_events VALUES
    (1, 7, 'gap', 2000, '{"kind":"gap","after_seq":12,"lost":4}'),
    (1, 7, 'gap', 9000, '{"kind":"gap","after_seq":12,"lost":4}'),
    (1, 7, 'reset', 999, '{"kind":"reset","previous_boot":6}'),
    (1, 7, 'boot', 1000, '{"kind":"boot","first_seq":0}'),
    (1, 7, 'boot', 5000, '{"kind":"boot","first_seq":40}'),
    (1, 7, 'up', 3000, '{"kind":"up"}');
INSERT INTO decode_errors VALUES ('serial:a', 1500, 64, 'crc', 'bad crc');
INSERT INTO logs VALUES (1, 7, 1100, 3, x'01'), (1, 7, 9100, 3, x'02'), (1, 7, 1200, 4, x'03');
"#;

fn v2_database(path: &std::path::Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(V2_SCHEMA).unwrap();
    conn.execute_batch(V2_ROWS).unwrap();
}

#[test]
fn a_version_2_database_is_migrated_in_place_without_losing_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    v2_database(&path);
    let mut store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let counts = store.counts().unwrap();
    assert_eq!(
        (counts.readings, counts.node_events, counts.decode_errors),
        (2, 6, 1)
    );
    let values: Vec<f64> = store
        .readings(&Query::default())
        .unwrap()
        .iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, [21.5, -3.25]);
    let kinds: Vec<&str> = store
        .node_events(&Query::default())
        .unwrap()
        .iter()
        .map(|r| r.kind.name())
        .collect();
    assert_eq!(kinds, ["reset", "boot", "gap", "up", "boot", "gap"]);

    // The migrated keys are version 3's: the first pass's gap and the boot are not written again,
    // and the new columns take what version 3 writes (a NaN reading, a gap in a later epoch).
    let event = |kind| Event::NodeEvent {
        node: 1,
        boot: 7,
        wall_ms: 99_999,
        kind,
    };
    let gap = |epoch| NodeEventKind::Gap {
        after_seq: 12,
        lost: 4,
        epoch,
    };
    store
        .write(&[
            event(gap(0)),
            event(NodeEventKind::Boot { first_seq: 0 }),
            event(gap(5)),
            Event::Reading {
                node: 1,
                boot: 7,
                metric: 0,
                t_ms: 30,
                wall_ms: 1030,
                value: f32::NAN,
            },
        ])
        .unwrap();
    let counts = store.counts().unwrap();
    assert_eq!((counts.readings, counts.node_events), (3, 7));
    // Log records keep apart by epoch: the two of sequence 3 (a replay) stay two rows, and the
    // first pass's record written again is not a third.
    assert_eq!(counts.logs, 3);
    let log = Event::Log {
        node: 1,
        boot: 7,
        wall_ms: 77_777,
        epoch: 0,
        seq: 3,
        bytes: vec![1],
    };
    store.write(&[log]).unwrap();
    assert_eq!(store.counts().unwrap().logs, 3);
    drop(store);
    // Opening again migrates nothing twice.
    assert_eq!(Store::open(&path).unwrap().counts().unwrap(), counts);
}

#[test]
fn a_version_2_database_opened_for_queries_is_migrated_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v2.db");
    v2_database(&path);
    let store = Store::open_read_only(&path).unwrap();
    assert_eq!(store.readings(&Query::default()).unwrap().len(), 2);
    assert_eq!(store.node_events(&Query::default()).unwrap().len(), 6);
}

#[test]
fn a_newer_schema_is_still_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v99.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 99")
        .unwrap();
    for result in [Store::open(&path), Store::open_read_only(&path)] {
        match result {
            Err(StoreError::NewerSchema { found: 99, .. }) => {}
            Err(other) => panic!("another error: {other}"),
            Ok(_) => panic!("a version 99 database was opened"),
        }
    }
}

/// The version 3 schema as released, copied so that later edits to `SCHEMA` cannot change what
/// this test migrates from.
const V3_SCHEMA: &str = "
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
    wall_ms INTEGER NOT NULL, value REAL, bits INTEGER,
    PRIMARY KEY (node, boot, metric, t_ms)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS readings_by_time ON readings (wall_ms);
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
    readings_dropped INTEGER NOT NULL, sensor_errors INTEGER NOT NULL,
    PRIMARY KEY (node, boot, uptime_ms)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS decode_errors (
    source TEXT NOT NULL, wall_ms INTEGER NOT NULL, position INTEGER NOT NULL, kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (source, position, kind, detail)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS logs (
    node INTEGER NOT NULL, boot INTEGER NOT NULL, epoch INTEGER NOT NULL, seq INTEGER NOT NULL,
    wall_ms INTEGER NOT NULL, bytes BLOB NOT NULL,
    PRIMARY KEY (node, boot, epoch, seq)) WITHOUT ROWID;
PRAGMA user_version = 3;
";

/// Rows as version 3 wrote them: readings of every f32 class (NaN with a payload and its bits,
/// −0.0, ±∞ with bits; a subnormal and normals as REAL) in two series, a wall clock that stepped
/// mid-series, and three heartbeats.
const V3_ROWS: &str = "
INSERT INTO boots VALUES (1, 7, 1000, 1000, 'fw', 5);
INSERT INTO metrics VALUES (1, 7, 0, 'temp', 'C', '{}');
INSERT INTO readings VALUES
    (1, 7, 0, 10, 1010, 21.5, NULL),
    (1, 7, 0, 20, 1020, NULL, 2143289345),
    (1, 7, 0, 30, 1030, 0.0, 2147483648),
    (1, 7, 0, 40, 1040, NULL, 2139095040),
    (1, 7, 0, 50, 1050, NULL, 4286578688),
    (1, 7, 0, 60, 5060, 1.401298464324817e-45, NULL),
    (1, 7, 1, 10, 1010, -3.25, NULL);
INSERT INTO heartbeats VALUES
    (1, 7, 5000, 6000, 'power_on', 1, 0, 0, 0),
    (1, 7, 10000, 11000, 'power_on', 2, 0, 0, 0),
    (1, 7, 15000, 16000, 'power_on', 3, 0, 0, 0);
";

#[test]
fn a_version_3_database_is_migrated_to_chunks_keeping_every_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v3.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(V3_SCHEMA).unwrap();
        conn.execute_batch(V3_ROWS).unwrap();
    }
    let mut store = Store::open(&path).unwrap();
    let version: i64 = store
        .conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 4);
    let readings: Vec<(u16, u64, u64, u32)> = store
        .readings(&Query::default())
        .unwrap()
        .iter()
        .map(|r| (r.metric, r.t_ms, r.wall_ms, (r.value as f32).to_bits()))
        .collect();
    assert_eq!(
        readings,
        [
            (0, 10, 1010, 21.5f32.to_bits()),
            (1, 10, 1010, (-3.25f32).to_bits()),
            (0, 20, 1020, 0x7fc0_0001),
            (0, 30, 1030, 0x8000_0000),
            (0, 40, 1040, 0x7f80_0000),
            (0, 50, 1050, 0xff80_0000),
            (0, 60, 5060, 1),
        ]
    );
    let tables: i64 = store
        .conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'readings'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0, "the row-per-reading table is gone");
    assert_eq!(store.counts().unwrap().heartbeats, 3);
    // Writing the same readings again after the migration adds none.
    let again = Event::Reading {
        node: 1,
        boot: 7,
        metric: 0,
        t_ms: 20,
        wall_ms: 1020,
        value: f32::from_bits(0x7fc0_0001),
    };
    store.write(&[again]).unwrap();
    assert_eq!(store.counts().unwrap().readings, 7);
    let integrity: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}
