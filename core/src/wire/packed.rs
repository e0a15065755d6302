//! The PackedReadings body (kind 7): a Readings batch through the chunk codec
//! ([`crate::codec`]), a few bits a reading instead of about eight bytes.
//!
//! Layout (`docs/wire.md` §7, "PackedReadings", byte by byte): `base_ms` as a varint, the reading
//! count, a table of the metrics the batch uses with each one's value coding (XOR, or a lattice with
//! its offset and step), then one bit stream: per reading its metric's index in the table, its time
//! and its value, each coded as the codec codes them against the same metric's previous reading in
//! this body.
//!
//! Invariants:
//! - Every body decodes alone: the codec's state starts afresh in each body and the table carries
//!   each metric's coding, so a receiver that missed the Hello or the previous frame reads it
//!   exactly, and a lost frame loses only its own readings.
//! - Lossless: a batch unpacks to the same `base_ms`, metric ids, offsets and value *bits* (NaN
//!   payloads, −0.0, ±∞, subnormals), whatever the coding (a value off its metric's lattice is
//!   escaped to its raw bits).
//! - Packing writes only into the caller's buffer and fails (changing nothing the caller relies
//!   on) when the batch has more than [`MAX_METRICS`] metrics or its codes exceed the buffer; the
//!   sender then sends the batch as a [`Readings`] body, which always fits.
//! - Unpacking never panics and never reads past its input: arbitrary bytes give a batch or an
//!   [`UnpackError`]; a body is canonical (zero padding bits; the table lists each metric once, in
//!   the order of its first reading, and no entry goes unused), so what unpacks packs again to the
//!   same bytes.

use super::body::{Reading, Readings};
use super::{MAX_METRICS, MAX_READINGS};
use crate::codec::bits::{BitReader, BitWriter};
use crate::codec::{read_bucketed, write_bucketed, State, Values, TIME_BUCKETS};
use heapless::Vec;

/// How one metric's values are coded in a PackedReadings body.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MetricCoding {
    /// The metric id.
    pub metric: u16,
    /// XOR, or the metric's lattice.
    pub values: Values,
}

/// A Readings batch with the codings its PackedReadings body used (or will use).
#[derive(Debug, Clone, PartialEq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PackedReadings {
    /// The readings, exactly as a [`Readings`] body carries them.
    pub readings: Readings,
    /// Each metric's coding; a metric not listed is coded XOR. Unpacking lists the body's table.
    pub codings: Vec<MetricCoding, MAX_METRICS>,
}

impl PackedReadings {
    /// The coding of `metric`: its listed one, else XOR.
    pub fn coding(&self, metric: u16) -> Values {
        self.codings
            .iter()
            .find(|c| c.metric == metric)
            .map_or(Values::Xor, |c| c.values)
    }
}

/// Why a batch could not be packed; the sender sends it as a [`Readings`] body instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PackError {
    /// The batch has readings of more than [`MAX_METRICS`] metrics.
    TooManyMetrics,
    /// The packed body does not fit the buffer.
    Full,
}

impl core::fmt::Display for PackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            PackError::TooManyMetrics => {
                "the batch has readings of more than 16 metrics; send it as a Readings body"
            }
            PackError::Full => {
                "the packed batch does not fit its buffer; send it as a Readings body"
            }
        })
    }
}

/// Why bytes are not a PackedReadings body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UnpackError {
    /// The bytes end inside the fixed fields or the metric table.
    Short,
    /// A varint longer than its type allows or carrying bits beyond it.
    Varint,
    /// More than [`MAX_READINGS`] readings, more than [`MAX_METRICS`] metrics, or readings with
    /// no metric.
    Count,
    /// A table entry with a coding byte other than `01` and `02`, a lattice whose step is zero or
    /// not finite or whose offset is not finite, a metric listed twice, or entries not in the order
    /// of their metrics' first readings (one no reading uses included).
    Table,
    /// The bit stream ends, or is not a code, inside this reading (from 0); or a reading's metric
    /// index is beyond the table, or its time is before `base_ms` or more than `u32::MAX` ms after.
    Reading(u8),
    /// The padding bits after the last reading are not zero.
    Padding,
}

impl core::fmt::Display for UnpackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UnpackError::Short => f.write_str("packed readings end inside the metric table"),
            UnpackError::Varint => f.write_str("packed readings have an over-long varint"),
            UnpackError::Count => f.write_str(
                "packed readings state more than 64 readings or 16 metrics, or readings without metrics",
            ),
            UnpackError::Table => f.write_str(
                "packed readings' metric table has an unknown coding, an unusable lattice, a metric twice, or entries out of the order of first use",
            ),
            UnpackError::Reading(i) => write!(f, "packed reading {i} is cut short or corrupt"),
            UnpackError::Padding => f.write_str("packed readings' padding bits are not zero"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PackError {}
#[cfg(feature = "std")]
impl std::error::Error for UnpackError {}

/// Coding byte of a table entry: XOR.
const CODING_XOR: u8 = 0x01;
/// Coding byte of a table entry: lattice, followed by offset and step (f32 LE).
const CODING_LATTICE: u8 = 0x02;

/// Bits of a reading's metric index for a table of `n` metrics: 0 for one, else ⌈log₂ n⌉.
const fn index_bits(n: usize) -> u32 {
    if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    }
}

/// One metric's codec state within a body.
#[derive(Debug, Clone, Copy, Default)]
struct Series {
    state: State,
    /// Whether `state.last_gap` is this metric's own (it has had two readings).
    has_gap: bool,
}

/// The time state shared by the metrics of one body: the previous reading's time and the gap most
/// recently computed by any metric.
#[derive(Debug, Clone, Copy)]
struct Clock {
    previous_ms: u64,
    latest_gap: i64,
}

impl Clock {
    /// The value the time code carries for `t_ms` of `series`, updating both.
    fn code(&mut self, series: &mut Series, t_ms: u64) -> i64 {
        let change = if series.state.count == 0 {
            t_ms.wrapping_sub(self.previous_ms) as i64
        } else {
            let gap = t_ms.wrapping_sub(series.state.last_ms) as i64;
            let prior = self.prior_gap(series);
            series.state.last_gap = gap;
            series.has_gap = true;
            self.latest_gap = gap;
            gap.wrapping_sub(prior)
        };
        series.state.last_ms = t_ms;
        self.previous_ms = t_ms;
        change
    }

    /// The time a code's value `change` gives for `series`, updating both (the inverse of `code`).
    fn time(&mut self, series: &mut Series, change: i64) -> u64 {
        let t_ms = if series.state.count == 0 {
            self.previous_ms.wrapping_add(change as u64)
        } else {
            let gap = self.prior_gap(series).wrapping_add(change);
            series.state.last_gap = gap;
            series.has_gap = true;
            self.latest_gap = gap;
            series.state.last_ms.wrapping_add(gap as u64)
        };
        series.state.last_ms = t_ms;
        self.previous_ms = t_ms;
        t_ms
    }

    fn prior_gap(&self, series: &Series) -> i64 {
        if series.has_gap {
            series.state.last_gap
        } else {
            self.latest_gap
        }
    }
}

/// Packs `readings` into `out` as a PackedReadings body, coding each metric's values as
/// `coding(metric)` says, and returns the bytes used. O(1) per reading (a table of at most 16).
pub fn pack_readings(
    readings: &Readings,
    coding: impl Fn(u16) -> Values,
    out: &mut [u8],
) -> Result<usize, PackError> {
    let mut table: Vec<MetricCoding, MAX_METRICS> = Vec::new();
    for reading in &readings.readings {
        if !table.iter().any(|c| c.metric == reading.metric) {
            let values = match coding(reading.metric) {
                Values::Lattice { offset, step } => Values::lattice(offset, step),
                Values::Xor => Values::Xor,
            };
            table
                .push(MetricCoding {
                    metric: reading.metric,
                    values,
                })
                .map_err(|_| PackError::TooManyMetrics)?;
        }
    }
    let mut at = write_header(readings, &table, out)?;
    let mut bits = BitWriter::new(out, at * 8);
    write_stream(readings, &table, &mut bits)?;
    // The writer keeps the bits after its position as the buffer had them (a node reuses its
    // frame buffer): the padding must be zeros.
    let end = bits.position();
    bits.rewind(end);
    at = end.div_ceil(8);
    Ok(at)
}

/// The coding of `metric` that packs `readings` shorter: `lattice` or XOR, whichever takes fewer
/// bits for the metric's table entry and values in this batch (a lattice costs 8 bytes more in the
/// table, and its first value codes its position from 0, so it pays only over enough readings).
/// O(readings in the batch).
pub fn cheaper_coding(readings: &Readings, metric: u16, lattice: Values) -> Values {
    if lattice == Values::Xor {
        return Values::Xor;
    }
    let bits = |values: Values| -> usize {
        let mut scratch = [0u8; crate::codec::MAX_SAMPLE_LEN];
        let mut out = BitWriter::new(&mut scratch, 0);
        let mut state = State::default();
        let mut total = 0usize;
        for reading in readings.readings.iter().filter(|r| r.metric == metric) {
            // A value code is at most 71 bits: the scratch always has room.
            let _ = state.write_value(&mut out, values, reading.value);
            total += out.position();
            out.rewind(0);
            state.count = state.count.wrapping_add(1);
        }
        total
    };
    // The lattice's table entry carries offset and step: 64 bits more than XOR's.
    if bits(lattice) + 64 < bits(Values::Xor) {
        lattice
    } else {
        Values::Xor
    }
}

/// `base_ms`, the count and the table; returns the bytes written.
fn write_header(
    readings: &Readings,
    table: &[MetricCoding],
    out: &mut [u8],
) -> Result<usize, PackError> {
    let mut at = 0;
    put_varint(out, &mut at, readings.base_ms)?;
    put(
        out,
        &mut at,
        &[readings.readings.len() as u8, table.len() as u8],
    )?;
    for entry in table {
        put_varint(out, &mut at, u64::from(entry.metric))?;
        match entry.values {
            Values::Xor => put(out, &mut at, &[CODING_XOR])?,
            Values::Lattice { offset, step } => {
                put(out, &mut at, &[CODING_LATTICE])?;
                put(out, &mut at, &offset.to_le_bytes())?;
                put(out, &mut at, &step.to_le_bytes())?;
            }
        }
    }
    Ok(at)
}

fn write_stream(
    readings: &Readings,
    table: &[MetricCoding],
    bits: &mut BitWriter<'_>,
) -> Result<(), PackError> {
    let mut series = [Series::default(); MAX_METRICS];
    let mut clock = Clock {
        previous_ms: readings.base_ms,
        latest_gap: 0,
    };
    let width = index_bits(table.len());
    for reading in &readings.readings {
        let index = table
            .iter()
            .position(|c| c.metric == reading.metric)
            .ok_or(PackError::TooManyMetrics)?;
        let (Some(entry), Some(series)) = (table.get(index), series.get_mut(index)) else {
            return Err(PackError::TooManyMetrics);
        };
        let t_ms = readings.base_ms.wrapping_add(u64::from(reading.offset_ms));
        bits.write(index as u64, width)
            .map_err(|_| PackError::Full)?;
        let change = clock.code(series, t_ms);
        write_bucketed(bits, change, &TIME_BUCKETS).map_err(|_| PackError::Full)?;
        series
            .state
            .write_value(bits, entry.values, reading.value)
            .map_err(|_| PackError::Full)?;
        series.state.count = series.state.count.wrapping_add(1);
    }
    Ok(())
}

fn put(out: &mut [u8], at: &mut usize, bytes: &[u8]) -> Result<(), PackError> {
    let end = *at + bytes.len();
    out.get_mut(*at..end)
        .ok_or(PackError::Full)?
        .copy_from_slice(bytes);
    *at = end;
    Ok(())
}

/// An unsigned LEB128 varint, as postcard writes it (the shortest form).
fn put_varint(out: &mut [u8], at: &mut usize, mut value: u64) -> Result<(), PackError> {
    loop {
        let low = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            return put(out, at, &[low]);
        }
        put(out, at, &[low | 0x80])?;
    }
}

/// Unpacks a PackedReadings body from the start of `body`; returns the batch and the number of
/// bytes after it (the frame's check refuses any).
pub fn unpack_readings(body: &[u8]) -> Result<(PackedReadings, usize), UnpackError> {
    let mut at = 0;
    let base_ms = take_varint(body, &mut at, 10)?;
    let count = usize::from(take(body, &mut at)?);
    let metrics = usize::from(take(body, &mut at)?);
    if count > MAX_READINGS || metrics > MAX_METRICS || (count > 0 && metrics == 0) {
        return Err(UnpackError::Count);
    }
    let mut packed = PackedReadings {
        readings: Readings {
            base_ms,
            readings: Vec::new(),
        },
        codings: Vec::new(),
    };
    for _ in 0..metrics {
        let entry = take_entry(body, &mut at)?;
        if packed.codings.iter().any(|c| c.metric == entry.metric) {
            return Err(UnpackError::Table);
        }
        packed.codings.push(entry).map_err(|_| UnpackError::Count)?;
    }
    let mut bits = BitReader::new(body, at * 8);
    read_stream(&mut packed, count, &mut bits)?;
    let end = bits.position().div_ceil(8);
    let padding = (end * 8 - bits.position()) as u32;
    if bits.read(padding) != Some(0) {
        return Err(UnpackError::Padding);
    }
    Ok((packed, body.len().saturating_sub(end)))
}

fn read_stream(
    packed: &mut PackedReadings,
    count: usize,
    bits: &mut BitReader<'_>,
) -> Result<(), UnpackError> {
    let base_ms = packed.readings.base_ms;
    let mut series = [Series::default(); MAX_METRICS];
    let mut clock = Clock {
        previous_ms: base_ms,
        latest_gap: 0,
    };
    let width = index_bits(packed.codings.len());
    // Entries in first-use order: a reading's index is one already used or the next one.
    let mut used = 0;
    for i in 0..count {
        let broken = UnpackError::Reading(i as u8);
        let index = bits.read(width).ok_or(broken)? as usize;
        match index.cmp(&used) {
            core::cmp::Ordering::Less => {}
            core::cmp::Ordering::Equal => used += 1,
            core::cmp::Ordering::Greater if index < packed.codings.len() => {
                return Err(UnpackError::Table)
            }
            core::cmp::Ordering::Greater => return Err(broken),
        }
        let (Some(entry), Some(series)) = (packed.codings.get(index), series.get_mut(index)) else {
            return Err(broken);
        };
        let change = read_bucketed(bits, &TIME_BUCKETS).ok_or(broken)?;
        let t_ms = clock.time(series, change);
        let offset_ms = u32::try_from(t_ms.wrapping_sub(base_ms)).map_err(|_| broken)?;
        let value = series.state.read_value(bits, entry.values).ok_or(broken)?;
        series.state.count = series.state.count.wrapping_add(1);
        packed
            .readings
            .readings
            .push(Reading {
                metric: entry.metric,
                offset_ms,
                value,
            })
            .map_err(|_| UnpackError::Count)?;
    }
    if used != packed.codings.len() {
        return Err(UnpackError::Table);
    }
    Ok(())
}

fn take(body: &[u8], at: &mut usize) -> Result<u8, UnpackError> {
    let byte = *body.get(*at).ok_or(UnpackError::Short)?;
    *at += 1;
    Ok(byte)
}

fn take_f32(body: &[u8], at: &mut usize) -> Result<f32, UnpackError> {
    let raw = body.get(*at..*at + 4).ok_or(UnpackError::Short)?;
    *at += 4;
    Ok(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

/// An unsigned LEB128 varint of at most `max_len` bytes whose value fits `7 × max_len` bits and
/// the type (u64 for 10 bytes, u16 for 3), as §6 states for postcard's.
fn take_varint(body: &[u8], at: &mut usize, max_len: u32) -> Result<u64, UnpackError> {
    let type_bits = if max_len == 10 { 64 } else { 16 };
    let mut value = 0u64;
    for i in 0..max_len {
        let byte = take(body, at)?;
        let shift = 7 * i;
        let bits = u64::from(byte & 0x7f);
        if shift + (64 - bits.leading_zeros()) > type_bits {
            return Err(UnpackError::Varint);
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(UnpackError::Varint)
}

fn take_entry(body: &[u8], at: &mut usize) -> Result<MetricCoding, UnpackError> {
    let metric = take_varint(body, at, 3)? as u16;
    let values = match take(body, at)? {
        CODING_XOR => Values::Xor,
        CODING_LATTICE => {
            let offset = take_f32(body, at)?;
            let step = take_f32(body, at)?;
            match Values::lattice(offset, step) {
                Values::Xor => return Err(UnpackError::Table),
                lattice => lattice,
            }
        }
        _ => return Err(UnpackError::Table),
    };
    Ok(MetricCoding { metric, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(samples: &[(u16, u64, f32)]) -> Result<Readings, super::super::BatchError> {
        let mut readings = Readings::new();
        for &(metric, t, value) in samples {
            readings.push(metric, t, value)?;
        }
        Ok(readings)
    }

    fn bits_of(readings: &Readings) -> std::vec::Vec<(u16, u32, u32)> {
        readings
            .readings
            .iter()
            .map(|r| (r.metric, r.offset_ms, r.value.to_bits()))
            .collect()
    }

    #[test]
    fn index_widths_follow_the_table_size() {
        let widths: std::vec::Vec<u32> = [0, 1, 2, 3, 4, 5, 8, 9, 16].map(index_bits).to_vec();
        assert_eq!(widths, [0, 0, 1, 2, 2, 3, 3, 4, 4]);
    }

    #[test]
    fn a_regular_batch_round_trips_in_a_few_bits_a_reading() -> Result<(), std::string::String> {
        let mut samples = std::vec::Vec::new();
        for i in 0..16u64 {
            for metric in 0..4u16 {
                let value =
                    20.0 + f32::from(metric) + ((i * 7 + u64::from(metric)) % 5) as f32 * 0.01;
                samples.push((metric, 1_000_000 + i * 10_000, value));
            }
        }
        let readings = batch(&samples).map_err(|e| e.to_string())?;
        let lattice = Values::lattice(0.0, 0.01);
        let mut out = [0u8; 1024];
        let len = pack_readings(&readings, |_| lattice, &mut out).map_err(|e| e.to_string())?;
        let (unpacked, trailing) = unpack_readings(&out[..len]).map_err(|e| e.to_string())?;
        assert_eq!(trailing, 0);
        assert_eq!(unpacked.readings.base_ms, readings.base_ms);
        assert_eq!(bits_of(&unpacked.readings), bits_of(&readings));
        assert_eq!(unpacked.coding(3), lattice);
        // 64 readings: header and table 55 bytes, then about 10 bits a reading.
        assert!(len < 160, "{len} bytes");
        Ok(())
    }

    #[test]
    fn a_lattice_is_chosen_only_where_it_packs_shorter() -> Result<(), std::string::String> {
        let lattice = Values::lattice(0.0, 0.01);
        let few = batch(&[(0, 0, 21.5), (0, 10, 21.51)]).map_err(|e| e.to_string())?;
        assert_eq!(cheaper_coding(&few, 0, lattice), Values::Xor);
        let samples: std::vec::Vec<_> = (0..40u64)
            .map(|i| (0, i * 10, 21.5 + (i % 3) as f32 * 0.01))
            .collect();
        let many = batch(&samples).map_err(|e| e.to_string())?;
        assert_eq!(cheaper_coding(&many, 0, lattice), lattice);
        assert_eq!(cheaper_coding(&many, 0, Values::Xor), Values::Xor);
        // The choice is the shorter body.
        let mut out = [0u8; 1024];
        let with_lattice =
            pack_readings(&many, |_| lattice, &mut out).map_err(|e| e.to_string())?;
        let with_xor =
            pack_readings(&many, |_| Values::Xor, &mut out).map_err(|e| e.to_string())?;
        assert!(with_lattice < with_xor, "{with_lattice} vs {with_xor}");
        let with_lattice = pack_readings(&few, |_| lattice, &mut out).map_err(|e| e.to_string())?;
        let with_xor = pack_readings(&few, |_| Values::Xor, &mut out).map_err(|e| e.to_string())?;
        assert!(with_xor <= with_lattice, "{with_xor} vs {with_lattice}");
        Ok(())
    }

    #[test]
    fn a_reused_buffer_packs_the_same_bytes() -> Result<(), std::string::String> {
        let readings = batch(&[(2, 10, 1.5), (2, 20, 1.75)]).map_err(|e| e.to_string())?;
        let mut clean = [0u8; 64];
        let mut dirty = [0xffu8; 64];
        let len =
            pack_readings(&readings, |_| Values::Xor, &mut clean).map_err(|e| e.to_string())?;
        let again =
            pack_readings(&readings, |_| Values::Xor, &mut dirty).map_err(|e| e.to_string())?;
        assert_eq!(clean[..len], dirty[..again]);
        assert!(unpack_readings(&dirty[..again]).is_ok());
        Ok(())
    }

    /// Found by the `packet` fuzz target: a table listing the same metrics in another order
    /// unpacked to the same readings but packed again to other bytes. A batch has one encoding.
    #[test]
    fn a_table_out_of_first_use_order_or_with_an_unused_entry_is_refused(
    ) -> Result<(), std::string::String> {
        let readings = batch(&[(41, 10, 1.5), (2, 10, 2.5)]).map_err(|e| e.to_string())?;
        let mut body = [0u8; 64];
        let len =
            pack_readings(&readings, |_| Values::Xor, &mut body).map_err(|e| e.to_string())?;
        // base_ms 10 (one byte), count 2, metrics 2, then the table: 41 XOR, 2 XOR.
        assert_eq!(body[..7], [10, 2, 2, 41, 1, 2, 1]);
        assert!(unpack_readings(&body[..len]).is_ok());
        // The stream's first bit is the first reading's index: 1 names metric 2 before metric 41
        // was used, which is what a table listing 2 first would mean.
        let mut out_of_order = body;
        out_of_order[7] ^= 0x80;
        assert_eq!(
            unpack_readings(&out_of_order[..len]),
            Err(UnpackError::Table)
        );
        // One reading of metric 41 only, with metric 2 still in the table: unused.
        let one = batch(&[(41, 10, 1.5)]).map_err(|e| e.to_string())?;
        let mut alone = [0u8; 64];
        let n = pack_readings(&one, |_| Values::Xor, &mut alone).map_err(|e| e.to_string())?;
        let mut unused = std::vec::Vec::from(&alone[..3]);
        unused[2] = 2;
        unused.extend_from_slice(&[41, 1, 2, 1]);
        // With two entries each reading carries a 1-bit index: 0 before the rest of its codes.
        let mut stream = [0u8; 16];
        let mut writer = BitWriter::new(&mut stream, 1);
        let mut reader = BitReader::new(&alone[..n], 5 * 8);
        while let Some(bit) = reader.read(1) {
            if writer.write(bit, 1).is_err() {
                break;
            }
        }
        let end = writer.position().div_ceil(8);
        unused.extend_from_slice(&stream[..end]);
        assert_eq!(unpack_readings(&unused), Err(UnpackError::Table));
        Ok(())
    }

    #[test]
    fn too_many_metrics_or_too_little_room_refuse_to_pack() -> Result<(), std::string::String> {
        let samples: std::vec::Vec<_> = (0..17u16).map(|m| (m, 5, 1.0)).collect();
        let readings = batch(&samples).map_err(|e| e.to_string())?;
        let mut out = [0u8; 1024];
        assert_eq!(
            pack_readings(&readings, |_| Values::Xor, &mut out),
            Err(PackError::TooManyMetrics)
        );
        let readings = batch(&samples[..3]).map_err(|e| e.to_string())?;
        assert_eq!(
            pack_readings(&readings, |_| Values::Xor, &mut out[..10]),
            Err(PackError::Full)
        );
        Ok(())
    }

    #[test]
    fn broken_bodies_are_errors() {
        assert_eq!(unpack_readings(&[]), Err(UnpackError::Short));
        assert_eq!(unpack_readings(&[0, 65, 1]), Err(UnpackError::Count));
        assert_eq!(unpack_readings(&[0, 1, 0]), Err(UnpackError::Count));
        assert_eq!(unpack_readings(&[0, 0, 1, 0, 3]), Err(UnpackError::Table));
        assert_eq!(
            unpack_readings(&[0, 0, 2, 0, 1, 0, 1]),
            Err(UnpackError::Table)
        );
        // One XOR reading of metric 0: the time code `0`, then only 7 of the value's 32 bits.
        assert_eq!(
            unpack_readings(&[0, 1, 1, 0, 1, 0]),
            Err(UnpackError::Reading(0))
        );
        assert_eq!(unpack_readings(&[0x80; 11]), Err(UnpackError::Varint));
    }
}
