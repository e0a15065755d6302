//! The rackwatch wire format: frames on a serial line, and a streaming decoder for untrusted bytes.
//!
//! A frame on the line is `COBS(header | postcard(body) | crc32) 0x00`. `docs/wire.md` specifies every
//! byte so that a tool in another language can implement it; its worked examples are decoded and
//! re-encoded by `core/tests/wire_doc.rs`, so the document cannot drift from this code.
//!
//! # Layers
//! - [`Packet`] is a raw frame after COBS decoding: header, postcard body, CRC. Untrusted bytes become a
//!   packet only through [`Packet::new_checked`], which validates the length, the CRC, the format
//!   version and the incompatible flags; once it returns `Ok`, no accessor panics.
//! - [`Frame`] is the typed representation: a [`Header`] and a [`Body`]. [`Frame::parse`] reads a
//!   checked packet; [`Frame::encode`] (or [`encode_body`], which needs no [`Body`] value) writes the
//!   complete line bytes, delimiter included, into a caller's buffer and uses no other memory.
//! - [`Decoder`] takes bytes in chunks of any size (one at a time, or many frames at once), keeps at
//!   most `N` bytes of a partial frame, and yields a [`Frame`] or a typed [`DecodeError`] for every
//!   delimiter. After garbage or an overlong frame it resynchronises on the next `0x00`.
//!
//! # Invariants
//! - Nothing here panics on any input, allocates, or uses atomics. Slices are read with `get()`; the
//!   only indexing is of fixed-size arrays by constant indices (checked by the compiler) and in
//!   code the compiler evaluates (the [`field`] layout checks, the schema hash), and each remaining
//!   arithmetic step is bounded by a check next to it. The header's offsets are written once, in
//!   [`field`].
//! - A raw frame is at most [`MAX_FRAME_LEN`] bytes and a line frame at most [`MAX_ENCODED_LEN`]
//!   (delimiter included). Every body whose strings and vectors are within their capacities fits; this
//!   is checked at compile time ([`MAX_BODY_LEN`]) and the bound is shown exact by a test. So encoding
//!   into a `[u8; MAX_ENCODED_LEN]` never fails.
//! - A [`Decoder`]'s memory is its type's size: `N` bytes of buffer plus two `usize` counters.
//! - Every valid frame that follows a `0x00` on the line is decoded, whatever came before the `0x00`.
//!   Garbage without a `0x00` of its own costs at most the one frame it runs into. Chunking never
//!   changes the results.
//! - The encoder is deterministic and canonical (shortest varints). The decoder also accepts a few
//!   non-canonical forms another sender might produce (over-long varints, the shorter COBS ending), so a
//!   decoded frame re-encodes to an equal frame, byte-identical when the sender was canonical.
//!
//! # Compatibility
//! Bodies are postcard, which encodes an enum as its variant's index. Variants and kinds are only ever
//! appended, never reordered or removed, and struct fields are never added, removed or reordered
//! within a version: a new field means a new kind or a new version. Any change to a wire type changes
//! [`SCHEMA_STRING`] and so [`SCHEMA_HASH`], which the node announces in [`Hello`]; a test pins both, so
//! the change is deliberate. A change an old decoder would misread bumps [`VERSION`]; every version keeps
//! the first byte as the version and the last four as the CRC-32 of the rest, so a receiver can always
//! tell a newer version from line noise.
//!
//! # Example
//! ```
//! use rackwatch_core::wire::{
//!     Body, DecodeError, Decoder, Frame, Header, Heartbeat, ResetReason, MAX_ENCODED_LEN,
//! };
//!
//! let frame = Frame {
//!     header: Header { node_id: 1, boot_id: 0x0A0B_0C0D, seq: 7 },
//!     body: Body::Heartbeat(Heartbeat {
//!         uptime_ms: 60_000,
//!         reset: ResetReason::Watchdog,
//!         frames_sent: 12,
//!         frames_dropped: 0,
//!         readings_dropped: 3,
//!         sensor_errors: 1,
//!     }),
//! };
//! let mut line = [0u8; MAX_ENCODED_LEN];
//! let n = frame.encode(&mut line).unwrap();
//! assert_eq!(line[n - 1], 0x00);
//!
//! // Bytes arrive in any pieces. Noise ends in one error at its delimiter; what follows decodes.
//! let mut decoder: Decoder = Decoder::new();
//! let noise: Vec<_> = decoder.feed(&[0x42, 0x42, 0x00]).collect();
//! assert_eq!(noise, [Err(DecodeError::Cobs { len: 2 })]);
//! let (first, rest) = line[..n].split_at(5);
//! assert_eq!(decoder.feed(first).count(), 0);
//! let results: Vec<_> = decoder.feed(rest).collect();
//! assert_eq!(results, [Ok(frame)]);
//! ```

mod body;
mod cobs;
mod decoder;
pub mod field;
mod frame;
mod schema;
#[cfg(test)]
mod tests;

pub use body::{
    BatchError, Body, BodyType, Cause, Heartbeat, Hello, Lattice, Log, MetricDescriptor, Outlook,
    Reading, Readings, ResetReason, RuleSummary, Transition,
};
pub use cobs::{cobs_decode_in_place, cobs_encode, max_cobs_len};
pub use decoder::{Decoder, Feed};
pub use frame::{encode_body, DecodeError, EncodeError, Frame, Packet, CRC};
pub use schema::{SCHEMA_HASH, SCHEMA_STRING};

/// The format version, the first byte of every frame.
pub const VERSION: u8 = 1;
/// Header bytes: version, flags, node id, boot id, sequence number, kind ([`field`] says where).
pub const HEADER_LEN: usize = field::KIND + 1;
/// CRC bytes at the end of a raw frame.
pub const CRC_LEN: usize = 4;
/// The smallest raw frame: a header and a CRC around an empty body.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + CRC_LEN;
/// Largest raw frame (header, body and CRC, before COBS) a receiver accepts and a sender emits. It
/// leaves room for variants appended later; the largest body of this version needs [`MAX_BODY_LEN`].
pub const MAX_FRAME_LEN: usize = 1024;
/// Largest frame on the line: COBS adds one byte per 254 and one more, plus the `0x00` delimiter.
pub const MAX_ENCODED_LEN: usize = max_cobs_len(MAX_FRAME_LEN) + 1;

/// Mask of the header's incompatible flag bits (0 to 3): a receiver rejects a frame with a bit set that
/// it does not know ([`DecodeError::UnsupportedFlags`]).
pub const FLAGS_INCOMPAT_MASK: u8 = 0x0F;
/// Incompatible flags this version knows: none. Senders of version 1 write flags `0x00`.
pub const FLAGS_INCOMPAT_KNOWN: u8 = 0x00;
// Compatible flags (bits 4 to 7) are ignored by receivers that do not know them; none are defined.

/// Readings in one [`Readings`] batch.
pub const MAX_READINGS: usize = 64;
/// Metric descriptors in one [`Hello`].
pub const MAX_METRICS: usize = 16;
/// Bytes of defmt data in one [`Log`].
pub const MAX_LOG_BYTES: usize = 128;
/// Bytes (UTF-8) of a metric name.
pub const MAX_NAME_LEN: usize = 24;
/// Bytes (UTF-8) of a metric unit.
pub const MAX_UNIT_LEN: usize = 8;
/// Bytes (UTF-8) of a firmware version string.
pub const MAX_FIRMWARE_LEN: usize = 16;

/// Largest postcard body of each kind, computed from the capacities: the biggest varint for every
/// integer, every option present, every string and vector full. A test encodes such bodies and checks
/// these numbers are exact.
pub const MAX_HELLO_LEN: usize = str_len(MAX_FIRMWARE_LEN)
    + VARINT_U64
    + varint_len(MAX_METRICS as u64)
    + MAX_METRICS * MAX_DESCRIPTOR_LEN;
/// Id, name, unit, the rule summary (crossing, two optional f32) and the optional lattice (two f32).
const MAX_DESCRIPTOR_LEN: usize =
    VARINT_U16 + str_len(MAX_NAME_LEN) + str_len(MAX_UNIT_LEN) + 1 + 2 * (1 + 4) + (1 + 2 * 4);
/// See [`MAX_HELLO_LEN`].
pub const MAX_READINGS_LEN: usize =
    VARINT_U64 + varint_len(MAX_READINGS as u64) + MAX_READINGS * (VARINT_U16 + VARINT_U32 + 4);
/// See [`MAX_HELLO_LEN`]. The largest cause is `ForecastReceded` with an `Outlook::Beyond`: two
/// variant bytes, u64, u32.
pub const MAX_TRANSITION_LEN: usize =
    VARINT_U16 + 1 + 1 + VARINT_U64 + (1 + 1 + VARINT_U64 + VARINT_U32) + VARINT_U32 + 1;
/// See [`MAX_HELLO_LEN`].
pub const MAX_HEARTBEAT_LEN: usize = VARINT_U64 + 1 + 4 * VARINT_U32;
/// See [`MAX_HELLO_LEN`].
pub const MAX_LOG_LEN: usize = str_len(MAX_LOG_BYTES);
/// See [`MAX_HELLO_LEN`]: a [`MetricSpec`](crate::monitor::MetricSpec) with its full rule and anomaly
/// parameters.
pub const MAX_METRIC_LEN: usize =
    VARINT_U16 + str_len(MAX_NAME_LEN) + str_len(MAX_UNIT_LEN) + MAX_RULE_LEN + MAX_ANOMALY_LEN;
/// An `Option<Limit>`: tag, raise bound (f32, bool), optional clear bound.
const MAX_OPTION_LIMIT_LEN: usize = 1 + (4 + 1) + (1 + 4 + 1);
/// An `Option<Horizon>`: tag, two u32.
const MAX_OPTION_HORIZON_LEN: usize = 1 + 2 * VARINT_U32;
const MAX_RULE_LEN: usize = 4 * MAX_OPTION_LIMIT_LEN // value thresholds
    + (1 + 4 + 1 + 2 * MAX_OPTION_HORIZON_LEN + (VARINT_U32 + 4 + 4)) // predictive
    + (1 + 2 * MAX_OPTION_LIMIT_LEN) // anomaly levels
    + 3 // health
    + 2 * (1 + 1 + VARINT_U32) // raise, clear
    + ((1 + VARINT_U32) + (1 + VARINT_U32) + VARINT_U32) // missing data
    + (1 + 4 + 4); // flapping
/// Nine f32, two u16, a bool and three `Option<f32>`.
const MAX_ANOMALY_LEN: usize = 9 * 4 + 2 * VARINT_U16 + 1 + 3 * (1 + 4);
/// The largest body of any kind.
pub const MAX_BODY_LEN: usize = max(
    max(MAX_HELLO_LEN, max(MAX_READINGS_LEN, MAX_METRIC_LEN)),
    max(MAX_TRANSITION_LEN, max(MAX_HEARTBEAT_LEN, MAX_LOG_LEN)),
);

// The largest body fits the largest frame, so `Frame::encode` into MAX_ENCODED_LEN bytes cannot fail.
const _: () = assert!(HEADER_LEN + MAX_BODY_LEN + CRC_LEN <= MAX_FRAME_LEN);

// The memory contract, checked when building for the MCU (32-bit) as well as on the host (64-bit).
#[cfg(target_pointer_width = "32")]
const _: () = assert!(
    core::mem::size_of::<Decoder>() == 1040
        && core::mem::size_of::<Frame>() == 1264
        && core::mem::size_of::<Body>() == 1256
);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(
    core::mem::size_of::<Decoder>() == 1048
        && core::mem::size_of::<Frame>() == 1464
        && core::mem::size_of::<Body>() == 1456
);

const VARINT_U16: usize = 3;
const VARINT_U32: usize = 5;
const VARINT_U64: usize = 10;

/// Bytes of the postcard varint for `n`.
const fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes of a length-prefixed string or byte sequence of at most `cap` bytes.
const fn str_len(cap: usize) -> usize {
    varint_len(cap as u64) + cap
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// What a frame carries: the header's last byte.
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
    /// One metric's full specification (rule and anomaly parameters), sent after the Hello.
    Metric = 6,
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
            6 => Some(Kind::Metric),
            _ => None,
        }
    }

    /// The header byte of this kind.
    pub const fn byte(self) -> u8 {
        self as u8
    }

    /// The largest postcard body of this kind.
    pub const fn max_body_len(self) -> usize {
        match self {
            Kind::Hello => MAX_HELLO_LEN,
            Kind::Readings => MAX_READINGS_LEN,
            Kind::Transition => MAX_TRANSITION_LEN,
            Kind::Heartbeat => MAX_HEARTBEAT_LEN,
            Kind::Log => MAX_LOG_LEN,
            Kind::Metric => MAX_METRIC_LEN,
        }
    }
}

/// Who sent a frame and where it stands in that sender's stream. The version, flags and kind bytes of
/// the header follow from [`VERSION`] and the [`Body`]; [`Packet`] exposes them raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// The node, unique on one host.
    pub node_id: u16,
    /// Changes at every boot of the node, so a sequence restart is a reboot, not a loss.
    pub boot_id: u32,
    /// Frame sequence number: +1 per frame per boot, wrapping from 65535 to 0.
    pub seq: u16,
}

/// How far `next` is after `prev` in a wrapping sequence: 1 for the next frame, 0 for a repeat, and
/// `n + 1` when `n` frames were lost in between (modulo 2^16).
pub const fn seq_distance(prev: u16, next: u16) -> u16 {
    next.wrapping_sub(prev)
}

/// Where a frame's sequence number stands relative to the previous one of the same node and boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SeqStep {
    /// The same number again: a duplicate (a replayed capture, say).
    Repeat,
    /// The next number: nothing lost.
    Next,
    /// `lost` frames are missing in between (1 to 32767).
    Gap {
        /// Frames lost.
        lost: u16,
    },
    /// More than half the sequence space ahead, read as behind (RFC 1982): an old frame replayed,
    /// or 32768 or more frames lost. The host decides; the boot id usually tells.
    Behind {
        /// How far behind, 1 to 32768.
        by: u16,
    },
}

impl SeqStep {
    /// Classifies `next` after `prev`.
    pub const fn between(prev: u16, next: u16) -> SeqStep {
        match seq_distance(prev, next) {
            0 => SeqStep::Repeat,
            1 => SeqStep::Next,
            d if d < 0x8000 => SeqStep::Gap { lost: d - 1 },
            d => SeqStep::Behind {
                by: d.wrapping_neg(),
            },
        }
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn seq_distance_wraps() {
        assert_eq!(seq_distance(65535, 0), 1);
        assert_eq!(seq_distance(10, 10), 0);
        assert_eq!(seq_distance(65530, 4), 10);
    }

    #[test]
    fn seq_steps_follow_serial_number_arithmetic() {
        assert_eq!(SeqStep::between(7, 7), SeqStep::Repeat);
        assert_eq!(SeqStep::between(65535, 0), SeqStep::Next);
        assert_eq!(SeqStep::between(65534, 1), SeqStep::Gap { lost: 2 });
        assert_eq!(SeqStep::between(0, 0x7FFF), SeqStep::Gap { lost: 0x7FFE });
        assert_eq!(SeqStep::between(0, 0x8000), SeqStep::Behind { by: 0x8000 });
        assert_eq!(SeqStep::between(5, 4), SeqStep::Behind { by: 1 });
        assert_eq!(SeqStep::between(0, 65535), SeqStep::Behind { by: 1 });
    }

    #[test]
    fn kinds_round_trip_and_unknown_bytes_are_none() {
        for byte in 0..=255u8 {
            match Kind::from_byte(byte) {
                Some(kind) => assert_eq!(kind.byte(), byte),
                None => assert!(byte == 0 || byte > 6),
            }
        }
    }

    #[test]
    fn size_bounds_are_what_the_doc_says() {
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(u64::MAX), VARINT_U64);
        assert_eq!(varint_len(u64::from(u32::MAX)), VARINT_U32);
        assert_eq!(varint_len(u64::from(u16::MAX)), VARINT_U16);
        assert_eq!(
            (
                MAX_HELLO_LEN,
                MAX_READINGS_LEN,
                MAX_TRANSITION_LEN,
                MAX_HEARTBEAT_LEN,
                MAX_LOG_LEN,
                MAX_METRIC_LEN
            ),
            (940, 779, 38, 31, 130, 252)
        );
        assert_eq!(MAX_BODY_LEN, 940);
        assert_eq!(MAX_ENCODED_LEN, 1030);
        assert_eq!(MIN_FRAME_LEN, 15);
    }
}
