//! Readings as compressed chunks: one series is a (node, boot, metric), its readings are coded by
//! [`rackwatch_core::codec`] into chunks of at most [`CHUNK_BYTES`] bytes within one
//! [`BLOCK_MS`] block of node time, one row of `chunks` each.
//!
//! Invariants:
//! - A series' chunks never overlap: each holds readings with node times `first_ms ..= last_ms`
//!   in increasing order, no time twice, and the next chunk starts after `last_ms`. So whether a
//!   reading is stored is answered by the one chunk whose range could hold it.
//! - Every reading of a chunk has the same wall-clock anchor (`wall_ms − t_ms`, `anchor_ms`), so
//!   its wall time is `anchor_ms + t_ms` exactly; a reading with another anchor starts a chunk.
//! - The head is the series' last chunk, *open*: readings newer than it are appended to it in the
//!   transaction that acknowledges them ([`Encoder::resume`]), until it is full or the block
//!   ends. A reading at or before the last chunk's end is either found there (a re-ingested
//!   reading: nothing changes) or merged into the chunk whose range it falls before, which is
//!   re-encoded whole; so every write is idempotent per reading, whatever the batches were.
//! - Values are coded bit for bit: NaN payloads, −0.0, ±∞ and subnormals come back as they went.

use rackwatch_core::codec::{DecodeError, Decoder, Encoder, Full, Values};
use rusqlite::{params, OptionalExtension, Transaction};

/// The most node time one chunk spans: two hours. Retention drops whole chunks, so data is kept
/// at most this much past its age limit; and a slow series (a reading a minute) still fills a
/// chunk of a hundred readings, so its header and row cost little per reading.
pub const BLOCK_MS: u64 = 2 * 3600 * 1000;

/// The most bytes of one chunk: the open chunk is rewritten by every transaction that appends
/// to it, so this bounds what a transaction writes per series, and a full chunk of 300 to 3000
/// readings (1 to 3 bytes each) spreads its 13-byte header and its row over them (under 0.1 byte
/// a reading). `chunks` is a rowid table (its key an index), whose rows stay on their page up to
/// about 4 KB: a `WITHOUT ROWID` table spilled rows of this size to overflow pages, a page each
/// (5.9 MB for 1.4 MB of chunks, measured).
pub const CHUNK_BYTES: usize = 960;

/// One series: node, boot, metric.
pub type Series = (u16, u32, u16);

/// One reading of a series as stored: node time, wall-clock anchor, value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Node time.
    pub t_ms: u64,
    /// `wall_ms − t_ms`, wrapping: the wall time is `anchor + t_ms`.
    pub anchor: i64,
    /// The value.
    pub value: f32,
}

impl Sample {
    /// The sample of a reading at node time `t_ms` and wall time `wall_ms`.
    pub fn new(t_ms: u64, wall_ms: u64, value: f32) -> Sample {
        Sample {
            t_ms,
            anchor: (wall_ms as i64).wrapping_sub(t_ms as i64),
            value,
        }
    }
}

/// One chunk as a row.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Node time of its first reading.
    pub first_ms: u64,
    /// Node time of its last reading.
    pub last_ms: u64,
    /// The wall-clock anchor of all its readings.
    pub anchor: i64,
    /// Readings in it.
    pub count: u32,
    /// The codec's bytes.
    pub data: Vec<u8>,
}

impl Chunk {
    /// Its readings, in time order.
    pub fn samples(&self) -> Result<Vec<Sample>, DecodeError> {
        decode(&self.data)?
            .into_iter()
            .map(|(t_ms, value)| {
                Ok(Sample {
                    t_ms,
                    anchor: self.anchor,
                    value,
                })
            })
            .collect()
    }

    fn block(&self) -> u64 {
        self.first_ms / BLOCK_MS
    }
}

/// Every `(time, value)` of a chunk's bytes.
pub fn decode(data: &[u8]) -> Result<Vec<(u64, f32)>, DecodeError> {
    let decoder = Decoder::new(data)?;
    let mut out = Vec::with_capacity(decoder.len().min(1 << 16) as usize);
    for sample in decoder {
        out.push(sample?);
    }
    Ok(out)
}

/// Codes `samples` (in increasing time order, no time twice) into as few chunks as the rules
/// allow: a new chunk at a block boundary, at a change of anchor, or when one is full.
pub fn encode(values: Values, samples: &[Sample]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut rest = samples;
    while let Some(first) = rest.first() {
        let mut buffer = [0u8; CHUNK_BYTES];
        let Ok(mut encoder) = Encoder::new(&mut buffer, values) else {
            break;
        };
        let taken = push_run(&mut encoder, first.anchor, first.t_ms / BLOCK_MS, rest);
        // A sample always fits an empty chunk (MAX_SAMPLE_LEN ≪ CHUNK_BYTES).
        let taken = taken.max(1);
        chunks.push(Chunk {
            first_ms: first.t_ms,
            last_ms: rest[taken - 1].t_ms,
            anchor: first.anchor,
            count: encoder.count(),
            data: encoder.bytes().to_vec(),
        });
        rest = &rest[taken..];
    }
    chunks
}

/// Pushes the leading samples of `samples` that belong with the encoder's chunk (same anchor,
/// same block) and fit; returns how many.
fn push_run(encoder: &mut Encoder<'_>, anchor: i64, block: u64, samples: &[Sample]) -> usize {
    let mut taken = 0;
    for sample in samples {
        if sample.anchor != anchor || sample.t_ms / BLOCK_MS != block {
            break;
        }
        if encoder.push(sample.t_ms, sample.value) == Err(Full) {
            break;
        }
        taken += 1;
    }
    taken
}

/// Stores the readings of one series from one batch: appended to the open chunk, merged into
/// an older one, or left out when already stored.
pub fn write_series(
    tx: &Transaction<'_>,
    series: Series,
    values: Values,
    mut samples: Vec<Sample>,
) -> rusqlite::Result<()> {
    // The first of two readings at one node time wins, as `INSERT OR IGNORE` did.
    samples.sort_by_key(|s| s.t_ms);
    samples.dedup_by_key(|s| s.t_ms);
    let last = last_chunk(tx, series)?;
    let split = match &last {
        Some(chunk) => samples.partition_point(|s| s.t_ms <= chunk.last_ms),
        None => 0,
    };
    let (older, newer) = samples.split_at(split);
    if !older.is_empty() {
        merge(tx, series, values, older)?;
    }
    if !newer.is_empty() {
        let last = if older.is_empty() {
            last
        } else {
            last_chunk(tx, series)?
        };
        append(tx, series, values, last, newer)?;
    }
    Ok(())
}

/// Appends `samples`, all after the series' last chunk, to that chunk while they belong there,
/// and the rest as new chunks.
fn append(
    tx: &Transaction<'_>,
    series: Series,
    values: Values,
    last: Option<Chunk>,
    samples: &[Sample],
) -> rusqlite::Result<()> {
    let mut rest = samples;
    if let Some(open) = last {
        let mut buffer = vec![0u8; CHUNK_BYTES.max(open.data.len())];
        buffer[..open.data.len()].copy_from_slice(&open.data);
        // A chunk this store wrote always resumes; one that does not is left as it is.
        if let Ok(mut encoder) = Encoder::resume(&mut buffer, open.data.len()) {
            let taken = push_run(&mut encoder, open.anchor, open.block(), rest);
            if taken > 0 {
                let grown = Chunk {
                    last_ms: rest[taken - 1].t_ms,
                    count: encoder.count(),
                    data: encoder.bytes().to_vec(),
                    ..open
                };
                update(tx, series, &grown)?;
                rest = &rest[taken..];
            }
        }
    }
    for chunk in encode(values, rest) {
        insert(tx, series, &chunk)?;
    }
    Ok(())
}

/// Stores readings at or before the series' last chunk's end: each goes to the first chunk that
/// ends at or after it; a chunk that lacks some of its readings is re-encoded with them.
fn merge(
    tx: &Transaction<'_>,
    series: Series,
    values: Values,
    samples: &[Sample],
) -> rusqlite::Result<()> {
    let chunks = chunks_from(tx, series, samples[0].t_ms)?;
    let mut rest = samples;
    for chunk in chunks {
        let here = rest.partition_point(|s| s.t_ms <= chunk.last_ms);
        let (mine, later) = rest.split_at(here);
        rest = later;
        if mine.is_empty() {
            continue;
        }
        let Ok(stored) = chunk.samples() else {
            // A chunk that does not decode is kept for inspection, never rewritten.
            continue;
        };
        let missing: Vec<Sample> = mine
            .iter()
            .filter(|s| stored.binary_search_by_key(&s.t_ms, |x| x.t_ms).is_err())
            .copied()
            .collect();
        if missing.is_empty() {
            continue;
        }
        let mut merged = stored;
        merged.extend(missing);
        merged.sort_by_key(|s| s.t_ms);
        delete(tx, series, chunk.first_ms)?;
        for chunk in encode(values, &merged) {
            insert(tx, series, &chunk)?;
        }
        if rest.is_empty() {
            break;
        }
    }
    Ok(())
}

const COLUMNS: &str = "first_ms, last_ms, anchor_ms, count, data";

fn chunk_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Chunk> {
    Ok(Chunk {
        first_ms: r.get::<_, i64>(0)? as u64,
        last_ms: r.get::<_, i64>(1)? as u64,
        anchor: r.get(2)?,
        count: r.get(3)?,
        data: r.get(4)?,
    })
}

/// The series' last chunk: the open one.
fn last_chunk(
    tx: &Transaction<'_>,
    (node, boot, metric): Series,
) -> rusqlite::Result<Option<Chunk>> {
    tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM chunks WHERE node = ?1 AND boot = ?2 AND metric = ?3
         ORDER BY first_ms DESC LIMIT 1"
    ))?
    .query_row(params![node, boot, metric], chunk_row)
    .optional()
}

/// The series' chunks that could hold a reading at `t_ms` or later: the one starting at or
/// before it, and all after.
fn chunks_from(
    tx: &Transaction<'_>,
    (node, boot, metric): Series,
    t_ms: u64,
) -> rusqlite::Result<Vec<Chunk>> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM chunks WHERE node = ?1 AND boot = ?2 AND metric = ?3
           AND first_ms >= COALESCE((SELECT first_ms FROM chunks
               WHERE node = ?1 AND boot = ?2 AND metric = ?3 AND first_ms <= ?4
               ORDER BY first_ms DESC LIMIT 1), ?4)
         ORDER BY first_ms"
    ))?;
    let rows = stmt.query_map(params![node, boot, metric, t_ms as i64], chunk_row)?;
    rows.collect()
}

fn insert(tx: &Transaction<'_>, (node, boot, metric): Series, c: &Chunk) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO chunks (node, boot, metric, first_ms, last_ms, anchor_ms, first_wall_ms,
           last_wall_ms, count, data)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        node,
        boot,
        metric,
        c.first_ms as i64,
        c.last_ms as i64,
        c.anchor,
        c.anchor.wrapping_add(c.first_ms as i64),
        c.anchor.wrapping_add(c.last_ms as i64),
        c.count,
        c.data
    ])?;
    Ok(())
}

fn update(tx: &Transaction<'_>, (node, boot, metric): Series, c: &Chunk) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE chunks SET last_ms = ?5, last_wall_ms = ?6, count = ?7, data = ?8
         WHERE node = ?1 AND boot = ?2 AND metric = ?3 AND first_ms = ?4",
    )?
    .execute(params![
        node,
        boot,
        metric,
        c.first_ms as i64,
        c.last_ms as i64,
        c.anchor.wrapping_add(c.last_ms as i64),
        c.count,
        c.data
    ])?;
    Ok(())
}

fn delete(
    tx: &Transaction<'_>,
    (node, boot, metric): Series,
    first_ms: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "DELETE FROM chunks WHERE node = ?1 AND boot = ?2 AND metric = ?3 AND first_ms = ?4",
    )?
    .execute(params![node, boot, metric, first_ms as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(times: impl IntoIterator<Item = u64>) -> Vec<Sample> {
        times
            .into_iter()
            .map(|t| Sample::new(t, 1_000_000 + t, t as f32 * 0.5))
            .collect()
    }

    #[test]
    fn chunks_break_at_blocks_anchors_and_size_and_decode_to_what_went_in() {
        let mut input = samples((0..5000).map(|i| i * 2000));
        // Another anchor from 4000 s on (the wall clock stepped): a new chunk.
        for s in &mut input[2000..] {
            s.anchor += 7;
        }
        let chunks = encode(Values::Xor, &input);
        let mut back = Vec::new();
        for chunk in &chunks {
            assert!(chunk.data.len() <= CHUNK_BYTES);
            assert_eq!(chunk.first_ms / BLOCK_MS, chunk.last_ms / BLOCK_MS);
            back.extend(chunk.samples().unwrap());
        }
        assert_eq!(back, input);
        assert!(chunks.iter().any(|c| c.first_ms == 4_000_000));
        assert!(chunks.iter().any(|c| c.first_ms == BLOCK_MS));
    }

    fn reading(t_ms: u64) -> crate::ingest::Event {
        crate::ingest::Event::Reading {
            node: 1,
            boot: 2,
            metric: 3,
            t_ms,
            wall_ms: 5_000 + t_ms,
            value: (t_ms % 97) as f32 * 0.25,
        }
    }

    #[test]
    fn readings_in_any_order_and_batching_give_the_same_readings_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let open = |name: &str| crate::store::Store::open(&dir.path().join(name)).unwrap();
        // Three hours at one reading a second: several chunks over two blocks.
        let events: Vec<_> = (0..10_800u64).map(|i| reading(i * 1000)).collect();
        let mut in_order = open("a.db");
        in_order.write(&events).unwrap();
        let expected = in_order.dump().unwrap();
        // Newest batches first, each written twice, then everything again in odd slices: every
        // batch but the first lands before or inside chunks already stored.
        let mut shuffled = open("b.db");
        for batch in events.chunks(1234).rev() {
            shuffled.write(batch).unwrap();
            shuffled.write(batch).unwrap();
        }
        for batch in events.chunks(777) {
            shuffled.write(batch).unwrap();
        }
        assert_eq!(shuffled.dump().unwrap(), expected);
        assert_eq!(shuffled.counts().unwrap().readings, 10_800);
        // The chunks never overlap and keep to their limits.
        let mut stmt = shuffled
            .conn
            .prepare("SELECT first_ms, last_ms, length(data) FROM chunks ORDER BY first_ms")
            .unwrap();
        let chunks: Vec<(i64, i64, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        for pair in chunks.windows(2) {
            assert!(pair[0].1 < pair[1].0, "{pair:?}");
        }
        assert!(chunks.iter().all(|c| c.2 as usize <= CHUNK_BYTES));
    }
}
