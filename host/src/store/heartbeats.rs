//! Heartbeats as changes, one per interval, and the latest.
//!
//! A node sends a heartbeat every few seconds; storing each was a fifth of a database's bytes and
//! told nothing new. A heartbeat is *kept* (`kept = 1`) when it is the first of its boot, when
//! any counter that reports trouble (reset reason, frames dropped, readings dropped, sensor
//! errors) differs from the last kept one's, or when the interval (node time, `[store]
//! heartbeat_every`) has passed since the last kept one. The boot's newest heartbeat is stored
//! too (`kept = 0`) and replaced by the next, so the counters as the node last reported them,
//! `frames_sent` included, are always there.
//!
//! Invariants:
//! - Every value a trouble counter took is stored, with the uptime of the first heartbeat that
//!   reported it; so are the boot's first and newest heartbeats.
//! - Whether a heartbeat is kept depends only on the kept heartbeats before it in its boot (by
//!   uptime), never on how writes were batched: ingesting a capture again, whole or after a
//!   `kill -9` part-way, gives the same rows.

use crate::names;
use rackwatch_core::wire::Heartbeat;
use rusqlite::{params, OptionalExtension, Transaction};

/// What decides whether a heartbeat is kept: its uptime and trouble counters.
#[derive(Debug, PartialEq)]
struct Kept {
    uptime_ms: u64,
    trouble: (String, u32, u32, u32),
}

fn trouble(h: &Heartbeat) -> (String, u32, u32, u32) {
    (
        names::reset_reason(h.reset).to_string(),
        h.frames_dropped,
        h.readings_dropped,
        h.sensor_errors,
    )
}

/// Stores `h` as kept, as the boot's newest, or not at all.
pub(super) fn write(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    wall_ms: u64,
    h: &Heartbeat,
    every_ms: u64,
) -> rusqlite::Result<()> {
    let before = last_kept_before(tx, node, boot, h.uptime_ms)?;
    let keep = match &before {
        None => true,
        Some(kept) => {
            kept.trouble != trouble(h) || h.uptime_ms.saturating_sub(kept.uptime_ms) >= every_ms
        }
    };
    // The boot's newest row: the only one that may be a newest-so-far (`kept = 0`).
    let newest = newest(tx, node, boot)?;
    let replaced = newest.filter(|&(uptime, kept)| !kept && uptime < h.uptime_ms);
    if !keep && newest.is_some_and(|(uptime, _)| uptime >= h.uptime_ms) {
        // Not newer than what is stored: a re-ingested heartbeat.
        return Ok(());
    }
    if let Some((uptime, _)) = replaced {
        // A newest-so-far older than this heartbeat says nothing this one does not.
        tx.prepare_cached(
            "DELETE FROM heartbeats WHERE node = ?1 AND boot = ?2 AND uptime_ms = ?3",
        )?
        .execute(params![node, boot, uptime as i64])?;
    }
    upsert(tx, node, boot, wall_ms, h, keep)
}

/// The uptime of the boot's newest stored heartbeat, and whether it is kept.
fn newest(tx: &Transaction<'_>, node: u16, boot: u32) -> rusqlite::Result<Option<(u64, bool)>> {
    tx.prepare_cached(
        "SELECT uptime_ms, kept FROM heartbeats WHERE node = ?1 AND boot = ?2
         ORDER BY uptime_ms DESC LIMIT 1",
    )?
    .query_row(params![node, boot], |r| {
        Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
    })
    .optional()
}

/// The last kept heartbeat of the boot before `uptime_ms`.
fn last_kept_before(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    uptime_ms: u64,
) -> rusqlite::Result<Option<Kept>> {
    tx.prepare_cached(
        "SELECT uptime_ms, reset, frames_dropped, readings_dropped, sensor_errors FROM heartbeats
         WHERE node = ?1 AND boot = ?2 AND kept = 1 AND uptime_ms < ?3
         ORDER BY uptime_ms DESC LIMIT 1",
    )?
    .query_row(params![node, boot, uptime_ms as i64], |r| {
        Ok(Kept {
            uptime_ms: r.get::<_, i64>(0)? as u64,
            trouble: (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?),
        })
    })
    .optional()
}

fn upsert(
    tx: &Transaction<'_>,
    node: u16,
    boot: u32,
    wall_ms: u64,
    h: &Heartbeat,
    kept: bool,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO heartbeats (node, boot, uptime_ms, wall_ms, reset,
           frames_sent, frames_dropped, readings_dropped, sensor_errors, kept)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (node, boot, uptime_ms) DO UPDATE SET kept = MAX(kept, excluded.kept)",
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
        kept,
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::ingest::Event;
    use crate::store::Store;
    use rackwatch_core::wire::{Heartbeat, ResetReason};

    /// A heartbeat every 5 s for 20 min; sensor errors go from 0 to 1 at 7 min.
    fn beats() -> Vec<Event> {
        (1..=240u64)
            .map(|i| Event::Heartbeat {
                node: 1,
                boot: 2,
                wall_ms: 1_000_000 + i * 5000,
                heartbeat: Heartbeat {
                    uptime_ms: i * 5000,
                    reset: ResetReason::PowerOn,
                    frames_sent: i as u32,
                    frames_dropped: 0,
                    readings_dropped: 0,
                    sensor_errors: u32::from(i * 5000 >= 420_000),
                },
            })
            .collect()
    }

    fn stored(store: &Store) -> Vec<(i64, u32, u32, bool)> {
        let mut stmt = store
            .conn
            .prepare("SELECT uptime_ms, frames_sent, sensor_errors, kept FROM heartbeats ORDER BY uptime_ms")
            .unwrap();
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn changes_one_per_interval_and_the_newest_are_kept_however_batched() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let events = beats();
        for batch in events.chunks(7) {
            store.write(batch).unwrap();
        }
        let rows = stored(&store);
        assert_eq!(
            rows,
            [
                // The first, then one per 5 minutes of uptime...
                (5_000, 1, 0, true),
                (305_000, 61, 0, true),
                // ...the change of a counter, and 5 minutes after it...
                (420_000, 84, 1, true),
                (720_000, 144, 1, true),
                (1_020_000, 204, 1, true),
                // ...and the newest, with its exact counters.
                (1_200_000, 240, 1, false),
            ]
        );
        // Ingested again in one batch, or half of it again: the same rows.
        store.write(&events).unwrap();
        store.write(&events[100..]).unwrap();
        assert_eq!(stored(&store), rows);
        let other = tempfile::tempdir().unwrap();
        let mut fresh = Store::open(&other.path().join("h.db")).unwrap();
        fresh.write(&events[..50]).unwrap();
        fresh.write(&events).unwrap();
        assert_eq!(stored(&fresh), rows);
    }
}
