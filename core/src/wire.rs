//! The rackwatch wire format: frames on a serial line, and a streaming decoder for untrusted bytes.
//!
//! A frame on the line is `COBS(header | postcard(body) | crc32) 0x00`. `docs/wire.md` specifies every
//! byte; its worked examples are checked by `core/tests/wire_doc.rs`.
//!
//! - [`Packet`] is a raw frame after COBS decoding. [`Packet::new_checked`] validates the length, the
//!   format version and the CRC; once it returns `Ok`, no accessor panics and the header is trusted.
//! - [`Frame`] is the typed representation: a [`Header`] and a [`Body`]. [`Frame::parse`] reads a
//!   checked packet; [`Frame::encode`] writes the complete line bytes, delimiter included, into a
//!   caller's buffer.
//! - [`Decoder`] takes bytes in chunks of any size (one at a time, or many frames at once), keeps at
//!   most `N` bytes of a partial frame, and yields a [`Frame`] or a typed [`DecodeError`] for every
//!   delimiter. After garbage or an overlong frame it resynchronises on the next `0x00`, so every valid
//!   frame that follows a delimiter is recovered.
//!
//! Invariants: nothing here panics on any input or allocates; the decoder's memory is its type's size;
//! a frame is at most [`MAX_FRAME_LEN`] bytes before COBS and [`MAX_ENCODED_LEN`] on the line.
//!
//! Compatibility: bodies are postcard, whose encoding of an enum is the variant's index. Variants and
//! kinds are only ever appended, never reordered or removed; a change to any wire type changes
//! [`SCHEMA_STRING`] and so [`SCHEMA_HASH`], which the node announces in [`Hello`]. A change that an
//! old decoder would misread bumps [`VERSION`].

use crate::trend::Crossing;
use crate::Level;
use heapless::{String, Vec};
use serde::{Deserialize, Serialize};

/// The format version, the first byte of every frame.
pub const VERSION: u8 = 1;
/// Header bytes: version, node id, boot id, sequence number, kind.
pub const HEADER_LEN: usize = 10;
/// CRC bytes at the end of a raw frame.
pub const CRC_LEN: usize = 4;
/// Largest raw frame (header, body and CRC, before COBS). Every body that fits its own capacities
/// fits: asserted in the tests for the largest [`Hello`], [`Readings`] and [`Log`].
pub const MAX_FRAME_LEN: usize = 1024;
/// Largest frame on the line: COBS adds one byte per 254 and one more, plus the `0x00` delimiter.
pub const MAX_ENCODED_LEN: usize = max_cobs_len(MAX_FRAME_LEN) + 1;
/// Readings in one [`Readings`] batch.
pub const MAX_READINGS: usize = 64;
/// Metric descriptors in one [`Hello`].
pub const MAX_METRICS: usize = 16;
/// Bytes of defmt data in one [`Log`].
pub const MAX_LOG_BYTES: usize = 128;
/// Bytes of a metric name.
pub const MAX_NAME_LEN: usize = 24;
/// Bytes of a metric unit.
pub const MAX_UNIT_LEN: usize = 8;
/// Bytes of a firmware version string.
pub const MAX_FIRMWARE_LEN: usize = 16;

/// The CRC: CRC-32/ISO-HDLC (the zlib and Ethernet CRC), check value `0xCBF43926`.
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Every wire type's fields and variants in order, with the format version. Any change to a wire type
/// must change this string; a test pins [`SCHEMA_HASH`] so that the change is deliberate.
pub const SCHEMA_STRING: &str = "rackwatch-wire v1;\
header{version:u8,node_id:u16le,boot_id:u32le,seq:u16le,kind:u8};crc32-iso-hdlc-le;\
kind{1:Hello,2:Readings,3:Transition,4:Heartbeat,5:Log};\
Hello{firmware:str16,schema_hash:u64,metrics:seq16<MetricDescriptor>};\
MetricDescriptor{id:u16,name:str24,unit:str8,rule:RuleSummary};\
RuleSummary{crossing:Crossing,warning:opt<f32>,critical:opt<f32>};Crossing{Above,Below};\
Readings{base_ms:u64,readings:seq64<Reading>};Reading{metric:u16,offset_ms:u32,value:f32};\
Transition{metric:u16,from:Level,to:Level,at_ms:u64,cause:Cause,alert_seq:u32,suppressed:bool};\
Level{Ok,Warning,Critical,Unknown};\
Cause{Value{value:f32,bound:f32},Eta{eta_ms:u64,threshold:f32},Anomaly{score:f32},\
MissingData{last_seen_ms:u64},SensorFault,FlappingStopped};\
Heartbeat{uptime_ms:u64,reset:ResetReason,frames_sent:u32,frames_dropped:u32,readings_dropped:u32,\
sensor_errors:u32};ResetReason{PowerOn,Pin,Software,Watchdog,Brownout,Unknown};\
Log{defmt:bytes128}";

/// FNV-1a (64-bit) of [`SCHEMA_STRING`]: a node and a host agree on the wire types when they agree on
/// this number.
pub const SCHEMA_HASH: u64 = fnv1a64(SCHEMA_STRING.as_bytes());

const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// COBS-encoded length of `len` raw bytes, without the delimiter.
pub const fn max_cobs_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// What a frame carries, the header's last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Kind {
    /// Node identity and metric descriptors, sent at boot.
    Hello = 1,
    /// A batch of readings.
    Readings = 2,
    /// An alert transition, sent at once.
    Transition = 3,
    /// Liveness and counters.
    Heartbeat = 4,
    /// defmt log bytes.
    Log = 5,
}

impl Kind {
    /// The kind for a header byte, `None` for an unknown one.
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Hello),
            2 => Some(Kind::Readings),
            3 => Some(Kind::Transition),
            4 => Some(Kind::Heartbeat),
            5 => Some(Kind::Log),
            _ => None,
        }
    }
}

/// Who sent a frame and where it stands in that sender's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The node, unique on one host.
    pub node_id: u16,
    /// Changes at every boot of the node, so a sequence restart is a reboot, not a loss.
    pub boot_id: u32,
    /// Frame sequence number: +1 per frame per boot, wrapping at 2^16.
    pub seq: u16,
}

/// How far `next` is after `prev` in a wrapping sequence: 1 for the next frame, 0 for a repeat, and
/// `n + 1` when `n` frames were lost in between (modulo 2^16).
pub const fn seq_distance(prev: u16, next: u16) -> u16 {
    next.wrapping_sub(prev)
}

/// The summary of a metric's alert rule that a node announces.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RuleSummary {
    /// Which side of the thresholds is bad.
    pub crossing: Crossing,
    /// Warning threshold, if any.
    pub warning: Option<f32>,
    /// Critical threshold, if any.
    pub critical: Option<f32>,
}

/// One metric a node reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricDescriptor {
    /// The id readings and transitions use.
    pub id: u16,
    /// Name, e.g. `inlet_temperature`.
    pub name: String<MAX_NAME_LEN>,
    /// Unit, e.g. `degC`.
    pub unit: String<MAX_UNIT_LEN>,
    /// The alert rule, summarised.
    pub rule: RuleSummary,
}

/// Sent at boot: who the node is and what it measures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    /// Firmware version, e.g. `0.1.0`.
    pub firmware: String<MAX_FIRMWARE_LEN>,
    /// The node's [`SCHEMA_HASH`].
    pub schema_hash: u64,
    /// The metrics, in id order.
    pub metrics: Vec<MetricDescriptor, MAX_METRICS>,
}

/// One reading in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// Metric id.
    pub metric: u16,
    /// Milliseconds after the batch's `base_ms`.
    pub offset_ms: u32,
    /// The value.
    pub value: f32,
}

/// A batch of readings; times are offsets from the first reading's time.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Readings {
    /// Time of the batch's first reading, ms since the node booted.
    pub base_ms: u64,
    /// The readings, in the order they were taken.
    pub readings: Vec<Reading, MAX_READINGS>,
}

/// Why a reading could not join a batch; the batch is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BatchError {
    /// The batch holds [`MAX_READINGS`]: send it and start another.
    Full,
    /// The reading is earlier than the batch's base, or more than `u32::MAX` ms after it: send the
    /// batch and start another.
    OutOfSpan,
}

impl Readings {
    /// Adds a reading taken at `t_ms`. The first reading sets `base_ms`.
    pub fn push(&mut self, metric: u16, t_ms: u64, value: f32) -> Result<(), BatchError> {
        if self.readings.is_full() {
            return Err(BatchError::Full);
        }
        if self.readings.is_empty() {
            self.base_ms = t_ms;
        }
        let offset = t_ms
            .checked_sub(self.base_ms)
            .and_then(|d| u32::try_from(d).ok());
        let offset_ms = offset.ok_or(BatchError::OutOfSpan)?;
        self.readings
            .push(Reading {
                metric,
                offset_ms,
                value,
            })
            .map_err(|_| BatchError::Full)
    }

    /// The readings with absolute times (ms since boot).
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64, f32)> + '_ {
        self.readings
            .iter()
            .map(|r| (r.metric, self.base_ms + u64::from(r.offset_ms), r.value))
    }
}

/// What made an alert change level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Cause {
    /// The value crossed a bound.
    Value {
        /// The reading.
        value: f32,
        /// The bound it crossed.
        bound: f32,
    },
    /// The forecast reaches a threshold within the rule's horizon.
    Eta {
        /// Time to the threshold.
        eta_ms: u64,
        /// The threshold.
        threshold: f32,
    },
    /// The anomaly score crossed the rule's level.
    Anomaly {
        /// The score, 0 to 1.
        score: f32,
    },
    /// No reading arrived before the deadline.
    MissingData {
        /// Time of the last reading.
        last_seen_ms: u64,
    },
    /// The sensor failed: stuck, out of its physical range, or not answering.
    SensorFault,
    /// Flapping stopped; this transition reports the settled level.
    FlappingStopped,
}

/// An alert changed level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// Metric id.
    pub metric: u16,
    /// The level before.
    pub from: Level,
    /// The level after.
    pub to: Level,
    /// When, ms since the node booted.
    pub at_ms: u64,
    /// Why.
    pub cause: Cause,
    /// Per-alert sequence number; never repeats within a boot.
    pub alert_seq: u32,
    /// Notifications are suppressed (the alert is flapping).
    pub suppressed: bool,
}

/// Why the node last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResetReason {
    /// Power applied.
    PowerOn,
    /// The reset pin.
    Pin,
    /// The firmware asked for it.
    Software,
    /// A watchdog expired.
    Watchdog,
    /// The supply dipped.
    Brownout,
    /// The hardware did not say.
    Unknown,
}

/// Liveness and the node's counters, sent every few seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Heartbeat {
    /// Milliseconds since boot.
    pub uptime_ms: u64,
    /// Why the node last reset.
    pub reset: ResetReason,
    /// Frames sent this boot.
    pub frames_sent: u32,
    /// Frames dropped this boot because the line could not keep up.
    pub frames_dropped: u32,
    /// Readings dropped this boot.
    pub readings_dropped: u32,
    /// Sensor read errors this boot.
    pub sensor_errors: u32,
}

/// defmt-encoded log bytes, decoded on the host with the firmware's ELF.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Log {
    /// The defmt frames.
    pub defmt: Vec<u8, MAX_LOG_BYTES>,
}

/// A frame's typed content.
///
/// Held by value: core has no allocator to box the large [`Hello`], and a decoder hands out one frame
/// at a time. `size_of::<Body>()` is 1200 bytes on 64-bit targets (asserted in the tests).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// See [`Hello`].
    Hello(Hello),
    /// See [`Readings`].
    Readings(Readings),
    /// See [`Transition`].
    Transition(Transition),
    /// See [`Heartbeat`].
    Heartbeat(Heartbeat),
    /// See [`Log`].
    Log(Log),
}

impl Body {
    /// The kind byte this body travels under.
    pub const fn kind(&self) -> Kind {
        match self {
            Body::Hello(_) => Kind::Hello,
            Body::Readings(_) => Kind::Readings,
            Body::Transition(_) => Kind::Transition,
            Body::Heartbeat(_) => Kind::Heartbeat,
            Body::Log(_) => Kind::Log,
        }
    }

    fn serialize_into<'b>(&self, buf: &'b mut [u8]) -> postcard::Result<&'b mut [u8]> {
        match self {
            Body::Hello(b) => postcard::to_slice(b, buf),
            Body::Readings(b) => postcard::to_slice(b, buf),
            Body::Transition(b) => postcard::to_slice(b, buf),
            Body::Heartbeat(b) => postcard::to_slice(b, buf),
            Body::Log(b) => postcard::to_slice(b, buf),
        }
    }

    fn deserialize(kind: Kind, bytes: &[u8]) -> Result<(Body, usize), postcard::Error> {
        fn take<'a, T: Deserialize<'a>>(
            bytes: &'a [u8],
            wrap: fn(T) -> Body,
        ) -> Result<(Body, usize), postcard::Error> {
            postcard::take_from_bytes::<T>(bytes).map(|(body, rest)| (wrap(body), rest.len()))
        }
        match kind {
            Kind::Hello => take(bytes, Body::Hello),
            Kind::Readings => take(bytes, Body::Readings),
            Kind::Transition => take(bytes, Body::Transition),
            Kind::Heartbeat => take(bytes, Body::Heartbeat),
            Kind::Log => take(bytes, Body::Log),
        }
    }
}

/// A raw frame after COBS decoding: header, postcard body and CRC.
///
/// Built through [`Packet::new_checked`], after which every accessor is infallible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the length, the format version and the CRC.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, DecodeError> {
        let bytes = buffer.as_ref();
        let len = bytes.len();
        if len < HEADER_LEN + CRC_LEN {
            return Err(DecodeError::TooShort { len });
        }
        if len > MAX_FRAME_LEN {
            return Err(DecodeError::Overlong { len });
        }
        let (covered, crc_bytes) = bytes.split_at(len - CRC_LEN);
        let expected = u32::from_le_bytes([crc_bytes[0], crc_bytes[1], crc_bytes[2], crc_bytes[3]]);
        let computed = CRC.checksum(covered);
        if expected != computed {
            return Err(DecodeError::Crc { expected, computed });
        }
        if bytes[0] != VERSION {
            return Err(DecodeError::UnsupportedVersion { version: bytes[0] });
        }
        Ok(Packet { buffer })
    }

    // Indexing below is within HEADER_LEN + CRC_LEN bytes, which `new_checked` guaranteed.

    /// The format version.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0]
    }

    /// The header fields.
    pub fn header(&self) -> Header {
        let b = self.buffer.as_ref();
        Header {
            node_id: u16::from_le_bytes([b[1], b[2]]),
            boot_id: u32::from_le_bytes([b[3], b[4], b[5], b[6]]),
            seq: u16::from_le_bytes([b[7], b[8]]),
        }
    }

    /// The raw kind byte.
    pub fn kind_byte(&self) -> u8 {
        self.buffer.as_ref()[9]
    }

    /// The postcard body.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        &b[HEADER_LEN..b.len() - CRC_LEN]
    }
}

/// A typed frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Sender and sequence.
    pub header: Header,
    /// Content.
    pub body: Body,
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small; [`MAX_ENCODED_LEN`] bytes always suffice.
    BufferTooSmall {
        /// Bytes the frame needs, when known (0 if the body did not even fit in the buffer).
        needed: usize,
    },
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed: 0 } => {
                f.write_str("output buffer too small for the frame")
            }
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: the frame needs {needed} bytes")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

impl Frame {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Frame, DecodeError> {
        let header = packet.header();
        let kind = Kind::from_byte(packet.kind_byte()).ok_or(DecodeError::UnknownKind {
            header,
            kind: packet.kind_byte(),
        })?;
        let (body, trailing) = Body::deserialize(kind, packet.payload())
            .map_err(|_| DecodeError::Body { header, kind })?;
        if trailing != 0 {
            return Err(DecodeError::TrailingBytes {
                header,
                kind,
                len: trailing,
            });
        }
        Ok(Frame { header, body })
    }

    /// Writes the frame as it goes on the line (COBS, delimiter included) into `out` and returns its
    /// length. `out` needs at most [`MAX_ENCODED_LEN`] bytes; no other buffer is used.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let too_small = EncodeError::BufferTooSmall { needed: 0 };
        let raw_len = self.encode_raw(out)?;
        let needed = max_cobs_len(raw_len) + 1;
        if out.len() < needed {
            return Err(EncodeError::BufferTooSmall { needed });
        }
        // COBS in place: move the raw frame to the end, then encode forwards. The write position
        // stays at or behind the read position because the gap is at least the COBS overhead.
        let start = out.len() - raw_len;
        out.copy_within(0..raw_len, start);
        let encoded = cobs_encode_in_place(out, start, raw_len).ok_or(too_small)?;
        *out.get_mut(encoded).ok_or(too_small)? = 0;
        Ok(encoded + 1)
    }

    /// Writes the raw frame (header, body, CRC; no COBS) into `out` and returns its length.
    pub fn encode_raw(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let too_small = EncodeError::BufferTooSmall { needed: 0 };
        let limit = out.len().min(MAX_FRAME_LEN);
        let out = out.get_mut(..limit).ok_or(too_small)?;
        if out.len() < HEADER_LEN + CRC_LEN {
            return Err(too_small);
        }
        let (header, rest) = out.split_at_mut(HEADER_LEN);
        header[0] = VERSION;
        header[1..3].copy_from_slice(&self.header.node_id.to_le_bytes());
        header[3..7].copy_from_slice(&self.header.boot_id.to_le_bytes());
        header[7..9].copy_from_slice(&self.header.seq.to_le_bytes());
        header[9] = self.body.kind() as u8;
        let body_room = rest.len() - CRC_LEN;
        let body_len = self
            .body
            .serialize_into(&mut rest[..body_room])
            .map_err(|_| too_small)?
            .len();
        let covered = HEADER_LEN + body_len;
        let crc = CRC.checksum(&out[..covered]);
        out[covered..covered + CRC_LEN].copy_from_slice(&crc.to_le_bytes());
        Ok(covered + CRC_LEN)
    }
}

/// COBS-encodes `buf[start..start + len]` into `buf[..]`, returning the encoded length. `None` if the
/// buffer cannot hold it (never when `start >= len / 254 + 1` and the input ends inside `buf`).
fn cobs_encode_in_place(buf: &mut [u8], start: usize, len: usize) -> Option<usize> {
    let mut code_at = 0;
    let mut write = 1;
    let mut code: u8 = 1;
    for read in start..start.checked_add(len)? {
        let byte = *buf.get(read)?;
        if byte == 0 {
            *buf.get_mut(code_at)? = code;
            code_at = write;
            write += 1;
            code = 1;
        } else {
            *buf.get_mut(write)? = byte;
            write += 1;
            code += 1;
            if code == 0xFF {
                *buf.get_mut(code_at)? = code;
                code_at = write;
                write += 1;
                code = 1;
            }
        }
        if write > read + 1 {
            return None;
        }
    }
    *buf.get_mut(code_at)? = code;
    Some(write)
}

/// COBS-decodes `buf` (without the delimiter) in place and returns the decoded length, or `None` if
/// the bytes are not valid COBS (a zero byte, or a code that runs past the end).
pub fn cobs_decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let mut read = 0;
    let mut write = 0;
    while read < buf.len() {
        let code = *buf.get(read)?;
        if code == 0 {
            return None;
        }
        read += 1;
        let run = usize::from(code) - 1;
        for _ in 0..run {
            let byte = *buf.get(read)?;
            if byte == 0 {
                return None;
            }
            *buf.get_mut(write)? = byte;
            read += 1;
            write += 1;
        }
        // A code below 0xFF stands for a zero after its run, except at the very end.
        if code != 0xFF && read < buf.len() {
            *buf.get_mut(write)? = 0;
            write += 1;
        }
    }
    Some(write)
}

/// Why bytes between two delimiters were not a frame. Errors found after the CRC passed carry the
/// (then trustworthy) header, so the host can attribute them to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// More than the decoder's capacity (or [`MAX_FRAME_LEN`] decoded) arrived without a delimiter;
    /// the bytes up to the next delimiter were discarded.
    Overlong {
        /// Bytes discarded (on the line) or the decoded length.
        len: usize,
    },
    /// Not valid COBS: a code byte runs past the end.
    Cobs {
        /// Bytes between the delimiters.
        len: usize,
    },
    /// Shorter than a header and a CRC.
    TooShort {
        /// Decoded length.
        len: usize,
    },
    /// The CRC does not match: the bytes were corrupted on the line.
    Crc {
        /// The CRC in the frame.
        expected: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// A format version this decoder does not know (the CRC matched).
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// A kind this decoder does not know: the sender is newer.
    UnknownKind {
        /// The frame's header.
        header: Header,
        /// The kind byte.
        kind: u8,
    },
    /// The body does not decode as its kind: a schema mismatch (compare the Hello's schema hash).
    Body {
        /// The frame's header.
        header: Header,
        /// The kind.
        kind: Kind,
    },
    /// The body decoded but bytes were left over: a schema mismatch.
    TrailingBytes {
        /// The frame's header.
        header: Header,
        /// The kind.
        kind: Kind,
        /// Bytes left over.
        len: usize,
    },
}

impl DecodeError {
    /// A short stable name, for counters and metrics labels.
    pub const fn name(&self) -> &'static str {
        match self {
            DecodeError::Overlong { .. } => "overlong",
            DecodeError::Cobs { .. } => "cobs",
            DecodeError::TooShort { .. } => "too_short",
            DecodeError::Crc { .. } => "crc",
            DecodeError::UnsupportedVersion { .. } => "version",
            DecodeError::UnknownKind { .. } => "unknown_kind",
            DecodeError::Body { .. } => "body",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }

    /// The header, when the error was found after the CRC matched.
    pub const fn header(&self) -> Option<Header> {
        match self {
            DecodeError::UnknownKind { header, .. }
            | DecodeError::Body { header, .. }
            | DecodeError::TrailingBytes { header, .. } => Some(*header),
            _ => None,
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Overlong { len } => {
                write!(f, "frame of {len} bytes exceeds the maximum; discarded up to the next delimiter")
            }
            DecodeError::Cobs { len } => write!(f, "{len} bytes between delimiters are not valid COBS"),
            DecodeError::TooShort { len } => {
                write!(f, "frame of {len} bytes is shorter than a header and CRC ({} bytes)", HEADER_LEN + CRC_LEN)
            }
            DecodeError::Crc { expected, computed } => {
                write!(f, "CRC mismatch: frame says {expected:#010x}, bytes give {computed:#010x} (line noise?)")
            }
            DecodeError::UnsupportedVersion { version } => {
                write!(f, "wire format version {version} is not supported (this build reads version {VERSION})")
            }
            DecodeError::UnknownKind { header, kind } => write!(
                f,
                "node {} seq {}: unknown frame kind {kind}; is the node's firmware newer than this host?",
                header.node_id, header.seq
            ),
            DecodeError::Body { header, kind } => write!(
                f,
                "node {} seq {}: {kind:?} body does not decode; compare the node's schema hash",
                header.node_id, header.seq
            ),
            DecodeError::TrailingBytes { header, kind, len } => write!(
                f,
                "node {} seq {}: {len} bytes left after the {kind:?} body; compare the node's schema hash",
                header.node_id, header.seq
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// A streaming decoder over bytes from an untrusted line. See the [module docs](self).
///
/// `size_of::<Decoder<N>>() == N + 16` (rounded up to 8); the default `N` holds the largest frame.
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize = MAX_ENCODED_LEN> {
    buf: [u8; N],
    len: usize,
    /// Bytes dropped since the buffer overflowed; the frame ends in an error at the next delimiter.
    overflow: usize,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    /// An empty decoder.
    pub const fn new() -> Self {
        Decoder {
            buf: [0; N],
            len: 0,
            overflow: 0,
        }
    }

    /// Takes one byte; at a delimiter, returns the frame or error it ended. Empty frames (two
    /// delimiters in a row) are skipped: senders may send a leading `0x00` to flush the line.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, DecodeError>> {
        if byte != 0 {
            match self.buf.get_mut(self.len) {
                Some(slot) if self.overflow == 0 => {
                    *slot = byte;
                    self.len += 1;
                }
                _ => self.overflow += 1,
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.len = 0;
        self.overflow = 0;
        if overflow > 0 {
            return Some(Err(DecodeError::Overlong {
                len: len + overflow,
            }));
        }
        if len == 0 {
            return None;
        }
        let encoded = self.buf.get_mut(..len)?;
        Some(match cobs_decode_in_place(encoded) {
            None => Err(DecodeError::Cobs { len }),
            Some(raw_len) => encoded
                .get(..raw_len)
                .ok_or(DecodeError::Cobs { len })
                .and_then(Packet::new_checked)
                .and_then(|packet| Frame::parse(&packet)),
        })
    }

    /// Takes a chunk of any size and yields a result for every delimiter in it; a partial frame at the
    /// end is kept for the next call. Bytes the iterator was not driven over are not consumed.
    pub fn feed<'a>(&'a mut self, bytes: &'a [u8]) -> Feed<'a, N> {
        Feed {
            decoder: self,
            bytes,
        }
    }

    /// Bytes of a partial frame held.
    pub const fn pending(&self) -> usize {
        self.len + self.overflow
    }
}

/// The results of one chunk; see [`Decoder::feed`].
#[derive(Debug)]
pub struct Feed<'a, const N: usize> {
    decoder: &'a mut Decoder<N>,
    bytes: &'a [u8],
}

impl<const N: usize> Iterator for Feed<'_, N> {
    type Item = Result<Frame, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        while let Some((&byte, rest)) = self.bytes.split_first() {
            self.bytes = rest;
            if let Some(result) = self.decoder.push(byte) {
                return Some(result);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(body: Body) -> Frame {
        Frame {
            header: Header {
                node_id: 7,
                boot_id: 0xDEAD_BEEF,
                seq: 65535,
            },
            body,
        }
    }

    fn encode(f: &Frame) -> std::vec::Vec<u8> {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = f.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn decode_all(bytes: &[u8]) -> std::vec::Vec<Result<Frame, DecodeError>> {
        let mut d = Decoder::<MAX_ENCODED_LEN>::new();
        d.feed(bytes).collect()
    }

    fn string<const N: usize>(s: &str) -> String<N> {
        String::try_from(s).unwrap()
    }

    pub(crate) fn largest_hello() -> Hello {
        let mut metrics = Vec::new();
        for id in 0..MAX_METRICS as u16 {
            let descriptor = MetricDescriptor {
                id: u16::MAX - id,
                name: string(&"n".repeat(MAX_NAME_LEN)),
                unit: string(&"u".repeat(MAX_UNIT_LEN)),
                rule: RuleSummary {
                    crossing: Crossing::Below,
                    warning: Some(f32::MAX),
                    critical: Some(-1.0),
                },
            };
            metrics.push(descriptor).unwrap();
        }
        Hello {
            firmware: string(&"v".repeat(MAX_FIRMWARE_LEN)),
            schema_hash: u64::MAX,
            metrics,
        }
    }

    #[test]
    fn crc_is_iso_hdlc() {
        assert_eq!(CRC.checksum(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn schema_hash_is_pinned() {
        // Changing a wire type must change SCHEMA_STRING and then this value, deliberately.
        assert_eq!(SCHEMA_HASH, 0x9653_cd6b_b34a_cdc7, "{SCHEMA_HASH:#018x}");
    }

    #[test]
    fn cobs_edge_cases_round_trip() {
        let cases: std::vec::Vec<std::vec::Vec<u8>> = std::vec![
            std::vec![],
            std::vec![0],
            std::vec![0, 0],
            std::vec![1],
            std::vec![1, 0, 2],
            (1..=253).collect(),
            (1..=254).collect(),
            (1..=255).collect(),
            std::iter::repeat_n(0xAB, 600).collect(),
            std::iter::repeat_n(0, 300).collect(),
        ];
        for raw in cases {
            let mut buf = std::vec![0u8; max_cobs_len(raw.len()) + raw.len()];
            let start = buf.len() - raw.len();
            buf[start..].copy_from_slice(&raw);
            let n = cobs_encode_in_place(&mut buf, start, raw.len()).unwrap();
            assert!(n <= max_cobs_len(raw.len()));
            assert!(!buf[..n].contains(&0), "encoded data contains a zero");
            let mut encoded = buf[..n].to_vec();
            let m = cobs_decode_in_place(&mut encoded).unwrap();
            assert_eq!(&encoded[..m], &raw[..]);
        }
        // Known vectors from the COBS paper's examples.
        let mut buf = [0u8; 8];
        buf[5..].copy_from_slice(&[0x11, 0x00, 0x22]);
        let n = cobs_encode_in_place(&mut buf, 5, 3).unwrap();
        assert_eq!(&buf[..n], &[0x02, 0x11, 0x02, 0x22]);
        assert_eq!(cobs_decode_in_place(&mut [0x03, 0x11]), None);
        assert_eq!(cobs_decode_in_place(&mut [0x02, 0x00]), None);
    }

    #[test]
    fn largest_bodies_fit_the_maximum_frame() {
        let mut readings = Readings::default();
        for i in 0..MAX_READINGS {
            readings
                .push(
                    u16::MAX,
                    u64::MAX - u64::from(u32::MAX) + i as u64 * 60_000_000,
                    f32::MIN,
                )
                .unwrap();
        }
        assert_eq!(readings.push(0, u64::MAX, 0.0), Err(BatchError::Full));
        let log = Log {
            defmt: Vec::from_slice(&[0xFF; MAX_LOG_BYTES]).unwrap(),
        };
        for body in [
            Body::Hello(largest_hello()),
            Body::Readings(readings),
            Body::Log(log),
        ] {
            let f = frame(body);
            let mut raw = [0u8; MAX_FRAME_LEN];
            let n = f.encode_raw(&mut raw).unwrap();
            assert!(n <= MAX_FRAME_LEN);
            let line = encode(&f);
            assert!(line.len() <= MAX_ENCODED_LEN);
            assert_eq!(decode_all(&line), [Ok(f)]);
        }
    }

    #[test]
    fn readings_batch_rejects_times_outside_its_span() {
        let mut r = Readings::default();
        r.push(1, 1000, 1.0).unwrap();
        assert_eq!(r.push(1, 999, 1.0), Err(BatchError::OutOfSpan));
        assert_eq!(
            r.push(1, 1000 + u64::from(u32::MAX) + 1, 1.0),
            Err(BatchError::OutOfSpan)
        );
        r.push(2, 1000 + u64::from(u32::MAX), 2.0).unwrap();
        assert_eq!(
            r.iter().collect::<std::vec::Vec<_>>(),
            [(1, 1000, 1.0), (2, 1000 + u64::from(u32::MAX), 2.0)]
        );
    }

    #[test]
    fn encoder_reports_a_small_buffer() {
        let f = frame(Body::Hello(largest_hello()));
        let mut small = [0u8; 64];
        assert_eq!(
            f.encode(&mut small),
            Err(EncodeError::BufferTooSmall { needed: 0 })
        );
        let mut raw = [0u8; MAX_FRAME_LEN];
        let raw_len = f.encode_raw(&mut raw).unwrap();
        let mut just_short = std::vec![0u8; max_cobs_len(raw_len)];
        assert_eq!(
            f.encode(&mut just_short),
            Err(EncodeError::BufferTooSmall {
                needed: max_cobs_len(raw_len) + 1
            })
        );
        let mut exact = std::vec![0u8; max_cobs_len(raw_len) + 1];
        assert!(f.encode(&mut exact).is_ok());
    }

    #[test]
    fn decoder_reports_each_error_kind() {
        let hb = frame(Body::Heartbeat(Heartbeat {
            uptime_ms: 5,
            reset: ResetReason::Watchdog,
            frames_sent: 1,
            frames_dropped: 2,
            readings_dropped: 3,
            sensor_errors: 4,
        }));
        let mut raw = [0u8; MAX_FRAME_LEN];
        let n = hb.encode_raw(&mut raw).unwrap();

        let line_for = |raw: &[u8]| {
            let mut buf = std::vec![0u8; max_cobs_len(raw.len()) + raw.len() + 1];
            let start = buf.len() - raw.len();
            buf[start..].copy_from_slice(raw);
            let m = cobs_encode_in_place(&mut buf, start, raw.len()).unwrap();
            let mut line = buf[..m].to_vec();
            line.push(0);
            line
        };
        let with_crc = |mut raw: std::vec::Vec<u8>| {
            let len = raw.len();
            let crc = CRC.checksum(&raw[..len - 4]);
            raw[len - 4..].copy_from_slice(&crc.to_le_bytes());
            raw
        };

        // CRC.
        let mut corrupt = raw[..n].to_vec();
        corrupt[12] ^= 0x01;
        assert!(matches!(
            decode_all(&line_for(&corrupt))[..],
            [Err(DecodeError::Crc { .. })]
        ));
        // Version.
        let mut v2 = raw[..n].to_vec();
        v2[0] = 2;
        assert_eq!(
            decode_all(&line_for(&with_crc(v2))),
            [Err(DecodeError::UnsupportedVersion { version: 2 })]
        );
        // Unknown kind.
        let mut k9 = raw[..n].to_vec();
        k9[9] = 9;
        assert_eq!(
            decode_all(&line_for(&with_crc(k9))),
            [Err(DecodeError::UnknownKind {
                header: hb.header,
                kind: 9
            })]
        );
        // Body that does not decode as its kind: a Heartbeat body under the Hello kind.
        let mut wrong = raw[..n].to_vec();
        wrong[9] = Kind::Hello as u8;
        assert!(matches!(
            decode_all(&line_for(&with_crc(wrong)))[..],
            [Err(DecodeError::Body {
                kind: Kind::Hello,
                ..
            })]
        ));
        // Trailing bytes.
        let mut long = raw[..n - 4].to_vec();
        long.extend_from_slice(&[1, 2, 0, 0, 0, 0]);
        assert_eq!(
            decode_all(&line_for(&with_crc(long))),
            [Err(DecodeError::TrailingBytes {
                header: hb.header,
                kind: Kind::Heartbeat,
                len: 2
            })]
        );
        // Too short, and bad COBS.
        assert_eq!(
            decode_all(&[0x03, 0x01, 0x02, 0x00]),
            [Err(DecodeError::TooShort { len: 2 })]
        );
        assert_eq!(
            decode_all(&[0x05, 0x01, 0x00]),
            [Err(DecodeError::Cobs { len: 2 })]
        );
        // Empty frames are skipped.
        assert_eq!(decode_all(&[0, 0, 0]), []);
    }

    #[test]
    fn overlong_input_is_reported_once_and_followed_by_recovery() {
        let mut d = Decoder::<64>::new();
        let garbage = [0x55u8; 200];
        assert_eq!(d.feed(&garbage).count(), 0);
        assert_eq!(d.pending(), 200);
        let hb = frame(Body::Heartbeat(Heartbeat {
            uptime_ms: 1,
            reset: ResetReason::PowerOn,
            frames_sent: 0,
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        }));
        let mut line = std::vec![0u8];
        line.extend(encode(&hb));
        let results: std::vec::Vec<_> = d.feed(&line).collect();
        assert_eq!(results, [Err(DecodeError::Overlong { len: 200 }), Ok(hb)]);
    }

    #[test]
    fn seq_distance_wraps() {
        assert_eq!(seq_distance(65535, 0), 1);
        assert_eq!(seq_distance(10, 10), 0);
        assert_eq!(seq_distance(65530, 4), 10);
    }

    #[test]
    fn decoder_size_is_part_of_the_contract() {
        assert_eq!(core::mem::size_of::<Decoder<64>>(), 64 + 16);
        assert_eq!(
            core::mem::size_of::<Decoder>(),
            (MAX_ENCODED_LEN + 16).div_ceil(8) * 8
        );
        assert_eq!(MAX_ENCODED_LEN, 1030);
        assert_eq!(core::mem::size_of::<Body>(), 1200);
    }
}
