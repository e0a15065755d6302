//! Writing a batch of events: one transaction, one insert per event kind.
//!
//! Invariants:
//! - Idempotent: every insert is `INSERT OR IGNORE` on a key that is the identity of what it
//!   records, so writing the same events twice changes nothing.
//! - A boot's anchor, firmware and schema are set by the first writer that knows them (`COALESCE`).
//! - Typed values are stored by their stable names ([`crate::names`]) or as serde JSON of core
//!   types whose names a test pins ([`cause_json`]).

use super::{sqlite, Store, StoreError};
use crate::ingest::{Event, NodeEventKind, Origin};
use crate::names;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Cause, DecodeError, Heartbeat, Hello, Transition};
use rusqlite::{params, Transaction};

impl Store {
    /// Writes a batch of events in one transaction; rows already present are left as they are.
    pub fn write(&mut self, events: &[Event]) -> Result<(), StoreError> {
        let path = self.path.clone();
        let e = |err| sqlite(&path, err);
        let tx = self.conn.transaction().map_err(e)?;
        for event in events {
            insert(&tx, event).map_err(e)?;
        }
        tx.commit().map_err(e)
    }
}

/// One event's row.
fn insert(tx: &Transaction<'_>, event: &Event) -> rusqlite::Result<()> {
    match event {
        Event::Boot {
            node,
            boot,
            boot_wall_ms,
            hello,
        } => insert_boot(tx, *node, *boot, *boot_wall_ms, hello.as_deref()),
        Event::Metric { node, boot, spec } => insert_metric(tx, *node, *boot, spec),
        Event::Reading {
            node,
            boot,
            metric,
            t_ms,
            wall_ms,
            value,
        } => {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO readings (node, boot, metric, t_ms, wall_ms, value)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let row = (node, boot, metric, *t_ms as i64, *wall_ms as i64);
            stmt.execute(params![
                row.0,
                row.1,
                row.2,
                row.3,
                row.4,
                f64::from(*value)
            ])?;
            Ok(())
        }
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
        Event::Heartbeat {
            node,
            boot,
            wall_ms,
            heartbeat,
        } => insert_heartbeat(tx, *node, *boot, *wall_ms, heartbeat),
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
            seq,
            bytes,
        } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO logs (node, boot, wall_ms, seq, bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![node, boot, *wall_ms as i64, seq, bytes])?;
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
    Ok(())
}

fn insert_metric(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    spec: &MetricSpec,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO metrics (node, boot, metric, name, unit, spec)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
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
        "INSERT OR IGNORE INTO node_events (node, boot, kind, wall_ms, detail)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        node,
        boot,
        kind.name(),
        wall_ms as i64,
        serde_json::to_string(kind).unwrap_or_default()
    ])?;
    Ok(())
}

fn insert_heartbeat(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    wall_ms: u64,
    h: &Heartbeat,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR IGNORE INTO heartbeats (node, boot, uptime_ms, wall_ms, reset,
           frames_sent, frames_dropped, readings_dropped, sensor_errors)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        node,
        boot,
        h.uptime_ms as i64,
        wall_ms as i64,
        names::reset_reason(h.reset),
        h.frames_sent,
        h.frames_dropped,
        h.readings_dropped,
        h.sensor_errors,
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

/// A cause as stored: serde's JSON of the core's [`Cause`] (`{"Value":{"value":31.5,"bound":30.0}}`,
/// `"SensorFault"`), whose names the tests pin.
pub(super) fn cause_json(cause: &Cause) -> String {
    serde_json::to_string(cause).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
