//! A time-series chunk codec: `(time_ms, f32)` samples streamed into a caller's buffer, lossless to
//! the bit, a few bits per sample for regular readings.
//!
//! Times are coded as Gorilla codes them: the first in full, then the change of the gap between
//! samples (delta-of-delta), which is zero for a node sampling on its period. Values are coded one
//! of two ways, chosen per chunk ([`Values`]):
//! - [`Values::Xor`]: Gorilla's XOR of the value's bits with the previous value's, for values with
//!   no known lattice (a pushed figure, a computed ratio);
//! - [`Values::Lattice`]: a sensor's readings are its driver's conversion of integer counts, so they
//!   lie on a lattice `offset + k × step`; the codec stores the change of `k`, plus a one-ulp
//!   correction where the driver's float arithmetic rounded the other way, and escapes to the raw
//!   bits for anything else (NaN, infinities, a value off the lattice).
//!
//! The byte layout, with worked examples, is specified in `docs/wire.md` (§ "Chunk codec").
//!
//! Invariants:
//! - Lossless: every `(u64, f32)` sequence decodes to the same times and the same value *bits*
//!   (NaN payloads, −0.0, ±∞, subnormals), in any order of times (gaps are wrapping differences).
//! - [`Encoder::push`] is O(1) and all-or-nothing: when the sample does not fit, it returns
//!   [`Full`] and the encoder, its buffer's used prefix and its count are unchanged, so the caller
//!   closes this chunk and starts the next with that sample.
//! - No allocation; the encoder borrows the caller's buffer, the decoder the stored bytes.
//! - [`Decoder`] never panics and never reads past its input: arbitrary bytes give samples or a
//!   [`DecodeError`] naming the byte where the stream broke.

pub(crate) mod bits;

use bits::{BitReader, BitWriter};

/// How a chunk codes its values.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Values {
    /// Gorilla's XOR coding of the f32 bits.
    Xor,
    /// Integer steps on the lattice `offset + k × step` (computed in f64, rounded to f32).
    Lattice {
        /// The value at `k = 0`.
        offset: f32,
        /// The distance between neighbouring values; finite and non-zero.
        step: f32,
    },
}

/// The encoder has no room for the sample: the chunk is complete as it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Full;

impl core::fmt::Display for Full {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the chunk's buffer has no room for another sample")
    }
}

/// Why stored bytes are not a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// Fewer bytes than the header needs.
    ShortHeader {
        /// Bytes present.
        len: usize,
        /// Bytes the header needs.
        needed: usize,
    },
    /// The first byte names no coding this decoder knows.
    UnknownCoding {
        /// The byte.
        byte: u8,
    },
    /// A lattice header with a step that is zero, NaN or infinite, or an offset that is not finite.
    BadLattice,
    /// The bits end, or stop making sense, before the count in the header.
    Broken {
        /// The sample (from 0) whose bits run past the end or are not a code.
        sample: u32,
        /// The byte offset where the data ended.
        at_byte: usize,
    },
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::ShortHeader { len, needed } => {
                write!(
                    f,
                    "chunk of {len} bytes is shorter than its {needed}-byte header"
                )
            }
            DecodeError::UnknownCoding { byte } => {
                write!(
                    f,
                    "chunk coding byte 0x{byte:02x} is not 0x01 (xor) or 0x02 (lattice)"
                )
            }
            DecodeError::BadLattice => f.write_str(
                "chunk lattice has a step that is zero or not finite, or an offset not finite",
            ),
            DecodeError::Broken { sample, at_byte } => write!(
                f,
                "chunk breaks at byte {at_byte} inside sample {sample}: cut short or corrupt \
                 (its header promises more samples)"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}
#[cfg(feature = "std")]
impl std::error::Error for Full {}

/// The most bytes a chunk header takes (the lattice coding's).
pub const MAX_HEADER_LEN: usize = LATTICE_HEADER_LEN;
/// The most bytes one sample can add to a chunk: a time change that needs the full 64 bits (5 + 64)
/// and a lattice step that does with its correction (3 + 4 + 64): 140 bits.
pub const MAX_SAMPLE_LEN: usize = 18;

const CODING_XOR: u8 = 0x01;
const CODING_LATTICE: u8 = 0x02;
/// Coding byte and the sample count (u32, little-endian).
const BASE_HEADER_LEN: usize = 5;
/// The lattice header adds offset and step (f32, little-endian).
const LATTICE_HEADER_LEN: usize = BASE_HEADER_LEN + 8;

impl Values {
    fn header_len(self) -> usize {
        match self {
            Values::Xor => BASE_HEADER_LEN,
            Values::Lattice { .. } => LATTICE_HEADER_LEN,
        }
    }

    /// A lattice usable by the codec, or the XOR coding when the step or offset is unusable.
    pub fn lattice(offset: f32, step: f32) -> Values {
        if offset.is_finite() && step.is_finite() && step != 0.0 {
            Values::Lattice { offset, step }
        } else {
            Values::Xor
        }
    }
}

/// What both ends track between samples of one series (a chunk here, one metric of a packed
/// Readings body in [`crate::wire`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct State {
    pub(crate) count: u32,
    pub(crate) last_ms: u64,
    pub(crate) last_gap: i64,
    last_bits: u32,
    /// Gorilla's window of meaningful bits of the last XOR (leading zeros, length); 0 = none yet.
    window: (u32, u32),
    last_k: i64,
}

/// Streams samples into a buffer as one chunk.
#[derive(Debug)]
pub struct Encoder<'a> {
    out: BitWriter<'a>,
    values: Values,
    state: State,
}

impl<'a> Encoder<'a> {
    /// Starts a chunk in `buffer` (its header is written at once).
    pub fn new(buffer: &'a mut [u8], values: Values) -> Result<Encoder<'a>, Full> {
        let values = match values {
            Values::Lattice { offset, step } => Values::lattice(offset, step),
            Values::Xor => Values::Xor,
        };
        let header = values.header_len();
        if buffer.len() < header {
            return Err(Full);
        }
        buffer[0] = match values {
            Values::Xor => CODING_XOR,
            Values::Lattice { .. } => CODING_LATTICE,
        };
        if let Values::Lattice { offset, step } = values {
            buffer[5..9].copy_from_slice(&offset.to_le_bytes());
            buffer[9..13].copy_from_slice(&step.to_le_bytes());
        }
        let mut encoder = Encoder {
            out: BitWriter::new(buffer, header * 8),
            values,
            state: State::default(),
        };
        encoder.write_count();
        Ok(encoder)
    }

    /// Reopens a chunk whose bytes are `buffer[..len]`, to append to it (the open chunk of a
    /// store, after a restart).
    pub fn resume(buffer: &'a mut [u8], len: usize) -> Result<Encoder<'a>, DecodeError> {
        let stored = buffer.get(..len).ok_or(DecodeError::ShortHeader {
            len: buffer.len(),
            needed: len,
        })?;
        let mut decoder = Decoder::new(stored)?;
        for sample in decoder.by_ref() {
            sample?;
        }
        let (values, state, bit) = (decoder.values, decoder.state, decoder.input.position());
        Ok(Encoder {
            out: BitWriter::new(buffer, bit),
            values,
            state,
        })
    }

    /// Appends one sample, or returns [`Full`] and changes nothing.
    pub fn push(&mut self, time_ms: u64, value: f32) -> Result<(), Full> {
        let (saved_bit, saved_state) = (self.out.position(), self.state);
        let written = self
            .write_time(time_ms)
            .and_then(|()| self.write_value(value));
        if written.is_err() || self.state.count == u32::MAX {
            self.out.rewind(saved_bit);
            self.state = saved_state;
            return Err(Full);
        }
        self.state.count += 1;
        self.write_count();
        Ok(())
    }

    /// Samples in the chunk.
    pub fn count(&self) -> u32 {
        self.state.count
    }

    /// Bytes of the chunk so far (the header included; the last byte may be partly used).
    pub fn len(&self) -> usize {
        self.out.position().div_ceil(8)
    }

    /// Whether the chunk has no sample yet.
    pub fn is_empty(&self) -> bool {
        self.state.count == 0
    }

    /// The chunk's bytes so far: a complete chunk that decodes to every sample pushed.
    pub fn bytes(&self) -> &[u8] {
        self.out.written()
    }

    fn write_count(&mut self) {
        self.out.patch_bytes(1, &self.state.count.to_le_bytes());
    }

    fn write_time(&mut self, time_ms: u64) -> Result<(), Full> {
        if self.state.count == 0 {
            self.state.last_ms = time_ms;
            return self.out.write(time_ms, 64);
        }
        let gap = time_ms.wrapping_sub(self.state.last_ms) as i64;
        let change = gap.wrapping_sub(self.state.last_gap);
        self.state.last_ms = time_ms;
        self.state.last_gap = gap;
        write_bucketed(&mut self.out, change, &TIME_BUCKETS)
    }

    fn write_value(&mut self, value: f32) -> Result<(), Full> {
        self.state.write_value(&mut self.out, self.values, value)
    }
}

impl State {
    /// Writes `value`'s code after this series' previous values (the first when `count` is 0);
    /// `count` is the caller's to advance.
    pub(crate) fn write_value(
        &mut self,
        out: &mut BitWriter<'_>,
        values: Values,
        value: f32,
    ) -> Result<(), Full> {
        match values {
            Values::Xor => self.write_xor(out, value.to_bits()),
            Values::Lattice { offset, step } => self.write_lattice(out, value, offset, step),
        }
    }

    fn write_xor(&mut self, out: &mut BitWriter<'_>, bits: u32) -> Result<(), Full> {
        if self.count == 0 {
            self.last_bits = bits;
            return out.write(u64::from(bits), 32);
        }
        let xor = bits ^ self.last_bits;
        self.last_bits = bits;
        if xor == 0 {
            return out.write(0, 1);
        }
        let (leading, trailing) = (xor.leading_zeros().min(31), xor.trailing_zeros());
        let (window_leading, window_len) = self.window;
        if window_len > 0
            && leading >= window_leading
            && trailing >= 32 - window_leading - window_len
        {
            // The meaningful bits fit the previous window: `10` and the window's bits.
            out.write(0b10, 2)?;
            return out.write(
                u64::from(xor >> (32 - window_leading - window_len)),
                window_len,
            );
        }
        let len = 32 - leading - trailing;
        self.window = (leading, len);
        out.write(0b11, 2)?;
        out.write(u64::from(leading), 5)?;
        out.write(u64::from(len - 1), 5)?;
        out.write(u64::from(xor >> trailing), len)
    }

    fn write_lattice(
        &mut self,
        out: &mut BitWriter<'_>,
        value: f32,
        offset: f32,
        step: f32,
    ) -> Result<(), Full> {
        let Some((k, correction)) = on_lattice(value, offset, step) else {
            // `11` and the raw bits; the lattice position is unchanged.
            out.write(0b11, 2)?;
            return out.write(u64::from(value.to_bits()), 32);
        };
        match correction {
            0 => out.write(0, 1)?,
            c => out.write(if c > 0 { 0b101 } else { 0b100 }, 3)?,
        }
        let change = k.wrapping_sub(self.last_k);
        self.last_k = k;
        write_bucketed(out, change, &STEP_BUCKETS)
    }
}

/// The lattice position of `value` and its correction in ulps (−1, 0, +1), when it has one.
fn on_lattice(value: f32, offset: f32, step: f32) -> Option<(i64, i32)> {
    if !value.is_finite() {
        return None;
    }
    let position = (f64::from(value) - f64::from(offset)) / f64::from(step);
    // Lattice positions beyond 2^40 are not counts of any ADC; the escape codes them exactly.
    let within = libm::fabs(position) < (1u64 << 40) as f64; // false for NaN too
    if !within {
        return None;
    }
    let k = round_half_away(position);
    let correction = value.to_bits() as i64 - lattice_value(k, offset, step).to_bits() as i64;
    match correction {
        -1..=1 => Some((k, correction as i32)),
        _ => None,
    }
}

/// The lattice's value at `k`: f64 arithmetic rounded once to f32, identical on every target.
fn lattice_value(k: i64, offset: f32, step: f32) -> f32 {
    (f64::from(offset) + k as f64 * f64::from(step)) as f32
}

fn round_half_away(x: f64) -> i64 {
    // `f64::round` is std-only; |x| < 2^40 here, so the cast is exact after adding one half.
    let magnitude = (if x < 0.0 { -x } else { x }) + 0.5;
    let whole = magnitude as i64;
    if x < 0.0 {
        -whole
    } else {
        whole
    }
}

/// A prefix code for signed integers: bucket `i` is `i` one-bits, a zero, then `width` bits of
/// the value (two's complement); the last bucket has no terminating zero and holds any i64.
pub(crate) struct Bucket {
    width: u32,
}

/// Delta-of-delta of times (ms): zero, ±63, ±255, ±2047, ±2^31, anything.
pub(crate) const TIME_BUCKETS: [Bucket; 6] = [
    Bucket { width: 0 },
    Bucket { width: 7 },
    Bucket { width: 9 },
    Bucket { width: 12 },
    Bucket { width: 32 },
    Bucket { width: 64 },
];
/// Change of lattice position: zero, ±7, ±127, ±32767, anything.
pub(crate) const STEP_BUCKETS: [Bucket; 5] = [
    Bucket { width: 0 },
    Bucket { width: 4 },
    Bucket { width: 8 },
    Bucket { width: 16 },
    Bucket { width: 64 },
];

fn fits(value: i64, width: u32) -> bool {
    match width {
        0 => value == 0,
        64 => true,
        w => {
            let half = 1i64 << (w - 1);
            (-half..half).contains(&value)
        }
    }
}

pub(crate) fn write_bucketed(
    out: &mut BitWriter<'_>,
    value: i64,
    buckets: &[Bucket],
) -> Result<(), Full> {
    let last = buckets.len() - 1;
    for (index, bucket) in buckets.iter().enumerate() {
        if index < last && !fits(value, bucket.width) {
            continue;
        }
        let prefix_len = if index < last {
            index as u32 + 1
        } else {
            last as u32
        };
        let prefix = if index < last {
            ((1u64 << index) - 1) << 1
        } else {
            (1u64 << last) - 1
        };
        out.write(prefix, prefix_len)?;
        let mask = if bucket.width == 64 {
            u64::MAX
        } else {
            (1u64 << bucket.width) - 1
        };
        return out.write(value as u64 & mask, bucket.width);
    }
    Err(Full)
}

pub(crate) fn read_bucketed(input: &mut BitReader<'_>, buckets: &[Bucket]) -> Option<i64> {
    let last = buckets.len() - 1;
    let mut index = 0;
    while index < last && input.read(1)? == 1 {
        index += 1;
    }
    let width = buckets[index].width;
    let raw = input.read(width)?;
    Some(match width {
        0 => 0,
        64 => raw as i64,
        w => ((raw << (64 - w)) as i64) >> (64 - w),
    })
}

/// Reads a chunk's samples in order.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    input: BitReader<'a>,
    values: Values,
    total: u32,
    state: State,
    failed: bool,
}

impl<'a> Decoder<'a> {
    /// Checks the header of `chunk`; the samples come from iterating.
    pub fn new(chunk: &'a [u8]) -> Result<Decoder<'a>, DecodeError> {
        let values = match chunk.first() {
            None => {
                return Err(DecodeError::ShortHeader {
                    len: 0,
                    needed: BASE_HEADER_LEN,
                })
            }
            Some(&CODING_XOR) => Values::Xor,
            Some(&CODING_LATTICE) => match (f32_at(chunk, 5), f32_at(chunk, 9)) {
                (Some(offset), Some(step)) => match Values::lattice(offset, step) {
                    Values::Xor => return Err(DecodeError::BadLattice),
                    lattice => lattice,
                },
                _ => {
                    return Err(DecodeError::ShortHeader {
                        len: chunk.len(),
                        needed: LATTICE_HEADER_LEN,
                    })
                }
            },
            Some(&byte) => return Err(DecodeError::UnknownCoding { byte }),
        };
        let Some(count) = chunk.get(1..5) else {
            return Err(DecodeError::ShortHeader {
                len: chunk.len(),
                needed: BASE_HEADER_LEN,
            });
        };
        let total = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
        let input = BitReader::new(chunk, values.header_len() * 8);
        Ok(Decoder {
            input,
            values,
            total,
            state: State::default(),
            failed: false,
        })
    }

    /// The value coding of the chunk.
    pub fn values(&self) -> Values {
        self.values
    }

    /// The sample count the header states.
    pub fn len(&self) -> u32 {
        self.total
    }

    /// Whether the header states no samples.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    fn read_sample(&mut self) -> Option<(u64, f32)> {
        let time = self.read_time()?;
        let value = self.state.read_value(&mut self.input, self.values)?;
        self.state.count += 1;
        Some((time, value))
    }

    fn read_time(&mut self) -> Option<u64> {
        if self.state.count == 0 {
            self.state.last_ms = self.input.read(64)?;
            return Some(self.state.last_ms);
        }
        let change = read_bucketed(&mut self.input, &TIME_BUCKETS)?;
        self.state.last_gap = self.state.last_gap.wrapping_add(change);
        self.state.last_ms = self.state.last_ms.wrapping_add(self.state.last_gap as u64);
        Some(self.state.last_ms)
    }
}

impl State {
    /// Reads a value's code after this series' previous values (the first when `count` is 0);
    /// `None` when the bits end or are not a code. `count` is the caller's to advance.
    pub(crate) fn read_value(&mut self, input: &mut BitReader<'_>, values: Values) -> Option<f32> {
        match values {
            Values::Xor => self.read_xor(input),
            Values::Lattice { offset, step } => self.read_lattice(input, offset, step),
        }
    }

    fn read_xor(&mut self, input: &mut BitReader<'_>) -> Option<f32> {
        if self.count == 0 {
            self.last_bits = input.read(32)? as u32;
            return Some(f32::from_bits(self.last_bits));
        }
        let xor = match input.read(1)? {
            0 => 0,
            _ if input.read(1)? == 0 => {
                let (leading, len) = self.window;
                if len == 0 {
                    return None;
                }
                (input.read(len)? as u32) << (32 - leading - len)
            }
            _ => {
                let leading = input.read(5)? as u32;
                let len = input.read(5)? as u32 + 1;
                if leading + len > 32 {
                    return None;
                }
                self.window = (leading, len);
                (input.read(len)? as u32) << (32 - leading - len)
            }
        };
        self.last_bits ^= xor;
        Some(f32::from_bits(self.last_bits))
    }

    fn read_lattice(&mut self, input: &mut BitReader<'_>, offset: f32, step: f32) -> Option<f32> {
        let correction = match input.read(1)? {
            0 => 0,
            _ => match input.read(1)? {
                0 => {
                    if input.read(1)? == 1 {
                        1
                    } else {
                        -1
                    }
                }
                _ => return Some(f32::from_bits(input.read(32)? as u32)),
            },
        };
        let change = read_bucketed(input, &STEP_BUCKETS)?;
        self.last_k = self.last_k.wrapping_add(change);
        let base = lattice_value(self.last_k, offset, step).to_bits() as i64;
        Some(f32::from_bits((base + correction) as u32))
    }
}

impl Iterator for Decoder<'_> {
    type Item = Result<(u64, f32), DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.state.count >= self.total {
            return None;
        }
        let sample = self.state.count;
        match self.read_sample() {
            Some(decoded) => Some(Ok(decoded)),
            None => {
                self.failed = true;
                Some(Err(DecodeError::Broken {
                    sample,
                    at_byte: self.input.position() / 8,
                }))
            }
        }
    }
}

fn f32_at(bytes: &[u8], at: usize) -> Option<f32> {
    let raw = bytes.get(at..at + 4)?;
    Some(f32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]))
}

#[cfg(test)]
mod tests;
