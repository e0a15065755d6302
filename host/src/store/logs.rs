//! Node logs in history: the raw defmt bytes of each Log frame, read back in pages for
//! `rackwatch logs` (decoding happens there, with whatever ELF is known then).
//!
//! Invariants:
//! - The stored bytes are the Log body as it came, whether or not an ELF was known: logs received
//!   before an ELF was configured decode later.
//! - Pages come in the order of [`LogCursor`] (wall time, then node, boot, epoch, sequence), and a
//!   page starts strictly after the cursor, so paging and `--follow` see each row once; one page
//!   holds at most the rows asked for, whatever the table holds.

use super::{Store, StoreError};
use rusqlite::params;

/// A stored Log frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// The sequence number's epoch (it counts wraps of `seq`).
    pub epoch: u32,
    /// The frame's sequence number.
    pub seq: u16,
    /// When the host received it.
    pub wall_ms: u64,
    /// The defmt bytes.
    pub bytes: Vec<u8>,
    /// The firmware version the boot announced in its Hello, if the host saw it.
    pub firmware: Option<String>,
}

/// Where a reader of the logs is: the key of the last row it read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogCursor {
    /// Wall time of the last row.
    pub wall_ms: u64,
    /// Its node.
    pub node: u16,
    /// Its boot.
    pub boot: u32,
    /// Its epoch.
    pub epoch: u32,
    /// Its sequence number.
    pub seq: u16,
}

impl LogCursor {
    /// The cursor just before every Log row received at or after `since_ms`.
    pub fn before(since_ms: u64) -> LogCursor {
        LogCursor {
            wall_ms: since_ms.saturating_sub(1),
            node: u16::MAX,
            boot: u32::MAX,
            epoch: u32::MAX,
            seq: u16::MAX,
        }
    }
}

impl LogRow {
    /// The cursor just at this row.
    pub fn cursor(&self) -> LogCursor {
        LogCursor {
            wall_ms: self.wall_ms,
            node: self.node,
            boot: self.boot,
            epoch: self.epoch,
            seq: self.seq,
        }
    }
}

impl Store {
    /// Up to `limit` Log rows after `after` (from the start when `None`), of `node` if given,
    /// received before `until_ms` if given.
    pub fn logs_after(
        &self,
        after: Option<LogCursor>,
        node: Option<u16>,
        until_ms: Option<u64>,
        limit: u32,
    ) -> Result<Vec<LogRow>, StoreError> {
        let c = after.unwrap_or_default();
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT x.node, x.boot, x.epoch, x.seq, x.wall_ms, x.bytes, b.firmware
                 FROM logs x LEFT JOIN boots b ON b.node = x.node AND b.boot = x.boot
                 WHERE (?1 = 0 OR (x.wall_ms, x.node, x.boot, x.epoch, x.seq) > (?2, ?3, ?4, ?5, ?6))
                   AND (?7 IS NULL OR x.node = ?7) AND (?8 IS NULL OR x.wall_ms < ?8)
                 ORDER BY x.wall_ms, x.node, x.boot, x.epoch, x.seq LIMIT ?9",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![
                    after.is_some(),
                    c.wall_ms as i64,
                    c.node,
                    c.boot,
                    c.epoch,
                    c.seq,
                    node,
                    until_ms.map(|t| t as i64),
                    limit
                ],
                |r| {
                    Ok(LogRow {
                        node: r.get(0)?,
                        boot: r.get(1)?,
                        epoch: r.get(2)?,
                        seq: r.get(3)?,
                        wall_ms: r.get::<_, i64>(4)? as u64,
                        bytes: r.get(5)?,
                        firmware: r.get(6)?,
                    })
                },
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Whether the boot has a Log row before `(epoch, seq)`: a reader starting at that row joins
    /// the boot's defmt stream in the middle.
    pub fn has_earlier_log(
        &self,
        node: u16,
        boot: u32,
        epoch: u32,
        seq: u16,
    ) -> Result<bool, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM logs WHERE node = ?1 AND boot = ?2
                   AND (epoch, seq) < (?3, ?4))",
            )
            .and_then(|mut s| s.query_row(params![node, boot, epoch, seq], |r| r.get(0)))
            .map_err(|e| self.err(e))
    }
}
