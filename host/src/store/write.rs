//! Writing a batch of events: one transaction, one insert per event kind.
//!
//! Invariants:
//! - Idempotent: every insert (but a metric's spec, below) is `INSERT OR IGNORE` on a key that is the identity of what it
//!   records, so writing the same events twice changes nothing.
//! - A boot's anchor, firmware and schema are set by the first writer that knows them (`COALESCE`).
//! - A metric's spec is the latest the boot announced: one the host derived from the Hello is
//!   replaced by the node's own Metric frame when it comes (the same events give the same row).
//! - Readings go to their series' chunks ([`chunks::write_series`]), each series once per batch,
//!   bit for bit; heartbeats are thinned to changes and one per interval ([`heartbeats`]).
//! - Node events are keyed by their identity in the data ([`node_event_key`]), never by the time
//!   they arrived, and decode errors by their place in the source's stream.
//! - Typed values are stored by their stable names ([`crate::names`]) or as serde JSON of core
//!   types whose names a test pins ([`cause_json`]).

use super::chunks::{self, Sample, Series};
use super::{heartbeats, sqlite, Store, StoreError};
use crate::ingest::{Event, NodeEventKind, Origin};
use rackwatch_core::codec::Values;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Cause, DecodeError, Hello, Transition};
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeMap;

impl Store {
    /// Writes a batch of events in one transaction; rows already present are left as they are.
    /// Readings are gathered by series and written to their chunks at the end, each series once.
    pub fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let heartbeat_every_ms = self.heartbeat_every_ms;
        let e = |err| sqlite(&path, err);
        let tx = self.conn.transaction().map_err(e)?;
        let mut series: BTreeMap<Series, Vec<Sample>> = BTreeMap::new();
        for event in events {
            match event {
                Event::Reading {
                    node,
                    boot,
                    metric,
                    t_ms,
                    wall_ms,
                    value,
                } => series
                    .entry((*node, *boot, *metric))
                    .or_default()
                    .push(Sample::new(*t_ms, *wall_ms, *value)),
                Event::Heartbeat {
                    node,
                    boot,
                    wall_ms,
                    heartbeat,
                } => heartbeats::write(&tx, *node, *boot, *wall_ms, heartbeat, heartbeat_every_ms)
                    .map_err(e)?,
                other => insert(&tx, other).map_err(e)?,
            }
        }
        for (key, samples) in series {
            let values = lattice(&tx, key).map_err(e)?;
            chunks::write_series(&tx, key, values, samples).map_err(e)?;
        }
        tx.commit().map_err(e)
    }
}

/// One event's row (readings and heartbeats have their own writers).
fn insert(tx: &Transaction<'_>, event: &Event) -> rusqlite::Result<()> {
    match event {
        Event::Boot {
            node,
            boot,
            boot_wall_ms,
            hello,
        } => insert_boot(tx, *node, *boot, *boot_wall_ms, hello.as_deref()),
        Event::Metric { node, boot, spec } => insert_metric(tx, *node, *boot, spec),
        Event::Reading { .. } | Event::Heartbeat { .. } => Ok(()),
        Event::Transition {
            node,
            boot,
            origin,
            wall_ms,
            transition,
        } => insert_transition(tx, *node, *boot, *origin, *wall_ms, transition),
        Event::NodeEvent {
            node,
            boot,
            wall_ms,
            kind,
        } => insert_node_event(tx, *node, *boot, *wall_ms, kind),
        Event::DecodeError {
            source,
            wall_ms,
            position,
            error,
        } => insert_decode_error(tx, source, *wall_ms, *position, error),
        Event::Log {
            node,
            boot,
            wall_ms,
            epoch,
            seq,
            bytes,
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO logs (node, boot, epoch, seq, wall_ms, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![node, boot, epoch, seq, *wall_ms as i64, bytes])?;
            Ok(())
        }
    }
}

fn insert_boot(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    boot_wall_ms: Option<u64>,
    hello: Option<&Hello>,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO boots (node, boot, boot_wall_ms, first_wall_ms, firmware, schema_hash)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)
         ON CONFLICT (node, boot) DO UPDATE SET
           boot_wall_ms = COALESCE(boots.boot_wall_ms, excluded.boot_wall_ms),
           firmware = COALESCE(boots.firmware, excluded.firmware),
           schema_hash = COALESCE(boots.schema_hash, excluded.schema_hash)",
    )?
    .execute(params![
        node,
        boot,
        boot_wall_ms.map(|v| v as i64),
        hello.map(|h| h.firmware.as_str()),
        hello.map(|h| h.schema_hash as i64),
    ])?;
    match hello {
        Some(hello) => insert_lattices(tx, node, boot, hello),
        None => Ok(()),
    }
}

/// How a series' new chunks code their values: on the lattice its boot's Hello announced for the
/// metric, else XOR.
fn lattice(tx: &Transaction<'_>, (node, boot, metric): Series) -> rusqlite::Result<Values> {
    let bits: Option<(u32, u32)> = tx
        .prepare_cached(
            "SELECT offset_bits, step_bits FROM lattices WHERE node = ?1 AND boot = ?2 AND metric = ?3",
        )?
        .query_row(params![node, boot, metric], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(bits.map_or(Values::Xor, |(offset, step)| {
        Values::lattice(f32::from_bits(offset), f32::from_bits(step))
    }))
}

/// The lattices a boot's Hello announced, kept by the first writer (as bits: exact).
fn insert_lattices(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    hello: &Hello,
) -> rusqlite::Result<()> {
    for descriptor in &hello.metrics {
        if let Some(lattice) = descriptor.lattice {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO lattices (node, boot, metric, offset_bits, step_bits)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                node,
                boot,
                descriptor.id,
                lattice.offset.to_bits(),
                lattice.step.to_bits()
            ])?;
        }
    }
    Ok(())
}

fn insert_metric(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    spec: &MetricSpec,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO metrics (node, boot, metric, name, unit, spec)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (node, boot, metric) DO UPDATE SET
           name = excluded.name, unit = excluded.unit, spec = excluded.spec",
    )?
    .execute(params![
        node,
        boot,
        spec.id,
        spec.name.as_str(),
        spec.unit.as_str(),
        serde_json::to_string(spec).unwrap_or_default(),
    ])?;
    Ok(())
}

fn insert_transition(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    origin: Origin,
    wall_ms: u64,
    t: &Transition,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO transitions (node, boot, metric, origin, alert_seq, at_ms,
           wall_ms, from_level, to_level, cause, suppressed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        node,
        boot,
        t.metric,
        origin.as_str(),
        t.alert_seq,
        t.at_ms as i64,
        wall_ms as i64,
        t.from.as_str(),
        t.to.as_str(),
        cause_json(&t.cause),
        t.suppressed,
    ])?;
    Ok(())
}

fn insert_node_event(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    wall_ms: u64,
    kind: &NodeEventKind,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO node_events (node, boot, kind, key, wall_ms, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        node,
        boot,
        kind.name(),
        node_event_key(kind, wall_ms),
        wall_ms as i64,
        serde_json::to_string(kind).unwrap_or_default()
    ])?;
    Ok(())
}

fn insert_decode_error(
    tx: &Transaction<'_>,
    source: &str,
    wall_ms: u64,
    position: u64,
    error: &DecodeError,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO decode_errors (source, wall_ms, position, kind, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        source,
        wall_ms as i64,
        position as i64,
        error.name(),
        error.to_string()
    ])?;
    Ok(())
}

/// A node event's identity within its (node, boot, kind), from the data alone, so a re-ingested
/// capture or raw file gives the same keys and events in the same millisecond stay apart: a boot and
/// a schema mismatch happen once per boot; a reset is named by the boot before it; a gap by the place
/// after which frames are missing (`epoch << 16 | after_seq`), a restart by its epoch. Down and up
/// are about time itself, so their time is their identity (a replay's clock is its recorded one).
pub(super) fn node_event_key(kind: &NodeEventKind, wall_ms: u64) -> i64 {
    match kind {
        NodeEventKind::Boot { .. } | NodeEventKind::SchemaMismatch { .. } => 0,
        NodeEventKind::Reset { previous_boot } => i64::from(*previous_boot),
        NodeEventKind::Gap {
            after_seq, epoch, ..
        } => i64::from(*epoch) << 16 | i64::from(*after_seq),
        NodeEventKind::SeqRestart { epoch, .. } => i64::from(*epoch),
        NodeEventKind::Down { .. }
        | NodeEventKind::Up
        | NodeEventKind::ProbeFailed { .. }
        | NodeEventKind::ProbeOk => wall_ms as i64,
    }
}

/// A cause as stored: serde's JSON of the core's [`Cause`] (`{"Value":{"value":31.5,"bound":30.0}}`,
/// `"SensorFault"`), whose names the tests pin.
pub(super) fn cause_json(cause: &Cause) -> String {
    serde_json::to_string(cause).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_event_keys_follow_the_data_not_the_clock() {
        let gap = |after_seq, epoch| NodeEventKind::Gap {
            after_seq,
            lost: 3,
            epoch,
        };
        assert_eq!(node_event_key(&gap(7, 0), 1), node_event_key(&gap(7, 0), 2));
        assert_ne!(node_event_key(&gap(7, 0), 1), node_event_key(&gap(8, 0), 1));
        assert_ne!(node_event_key(&gap(7, 0), 1), node_event_key(&gap(7, 1), 1));
        let reset = |previous_boot| NodeEventKind::Reset { previous_boot };
        assert_eq!(node_event_key(&reset(9), 1), node_event_key(&reset(9), 5));
        assert_ne!(node_event_key(&reset(9), 1), node_event_key(&reset(10), 1));
        assert_ne!(
            node_event_key(&NodeEventKind::Up, 1),
            node_event_key(&NodeEventKind::Up, 2)
        );
    }

    #[test]
    fn stored_causes_keep_their_names() {
        let cases = [
            (
                Cause::Value {
                    value: 31.5,
                    bound: 30.0,
                },
                r#"{"Value":{"value":31.5,"bound":30.0}}"#,
            ),
            (
                Cause::Eta {
                    eta_ms: 7_200_000,
                    threshold: 95.0,
                },
                r#"{"Eta":{"eta_ms":7200000,"threshold":95.0}}"#,
            ),
            (
                Cause::Anomaly { score: 0.75 },
                r#"{"Anomaly":{"score":0.75}}"#,
            ),
            (
                Cause::MissingData { last_seen_ms: 42 },
                r#"{"MissingData":{"last_seen_ms":42}}"#,
            ),
            (Cause::SensorFault, r#""SensorFault""#),
            (Cause::FlappingStopped, r#""FlappingStopped""#),
        ];
        for (cause, stored) in cases {
            assert_eq!(cause_json(&cause), stored);
            assert_eq!(serde_json::from_str::<Cause>(stored).unwrap(), cause);
        }
    }

    #[test]
    fn a_metric_with_a_lattice_is_stored_as_lattice_steps_to_the_bit() {
        use crate::store::{Query, Store};
        use rackwatch_core::alert::Rule;
        use rackwatch_core::anomaly::AnomalyConfig;
        use rackwatch_core::wire::Lattice;
        let spec = MetricSpec::new(
            0,
            "temp",
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        let mut descriptor = spec.descriptor();
        descriptor.lattice = Some(Lattice {
            offset: -40.0,
            step: 0.01,
        });
        let mut hello = Hello::new("0.0.9".try_into().unwrap());
        hello.metrics.push(descriptor).unwrap();
        let mut events = vec![Event::Boot {
            node: 1,
            boot: 2,
            boot_wall_ms: Some(1000),
            hello: Some(Box::new(hello)),
        }];
        // Driver conversions of counts around 25 °C, and values off the lattice.
        let mut sent: Vec<f32> = (0..500)
            .map(|i| (-40.0f64 + (6500 + (i * 7) % 9) as f64 * 0.01) as f32)
            .collect();
        sent.extend([f32::NAN, -0.0, f32::INFINITY, 1e-40, 25.123_457]);
        events.extend(sent.iter().enumerate().map(|(i, &value)| Event::Reading {
            node: 1,
            boot: 2,
            metric: 0,
            t_ms: i as u64 * 1000,
            wall_ms: 1000 + i as u64 * 1000,
            value,
        }));
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        for batch in events.chunks(64) {
            store.write(batch).unwrap();
        }
        let back: Vec<u32> = store
            .stored_readings()
            .unwrap()
            .iter()
            .map(|r| r.5.to_bits())
            .collect();
        let sent_bits: Vec<u32> = sent.iter().map(|v| v.to_bits()).collect();
        assert_eq!(back, sent_bits);
        let (codings, bytes): (Vec<u8>, i64) = {
            let mut stmt = store.conn.prepare("SELECT data FROM chunks").unwrap();
            let data: Vec<Vec<u8>> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (
                data.iter().map(|d| d[0]).collect(),
                data.iter().map(|d| d.len() as i64).sum(),
            )
        };
        assert!(codings.iter().all(|&c| c == 0x02), "{codings:?}");
        assert!(bytes < 505 * 2, "{bytes} bytes for 505 readings");
        assert_eq!(store.readings(&Query::default()).unwrap().len(), 505);
    }
}
