//! The raw [`Packet`] view, the typed [`Frame`], encoding, and the errors of both directions.

use super::body::{postcard_len, Body, BodyType};
use super::cobs::{encode_in_place, max_cobs_len};
use super::field::{self, Field};
use super::{Header, Kind, CRC_LEN, FLAGS_INCOMPAT_KNOWN, FLAGS_INCOMPAT_MASK, HEADER_LEN};
use super::{MAX_FRAME_LEN, MIN_FRAME_LEN, VERSION};

/// The CRC: CRC-32/ISO-HDLC (the zlib and Ethernet CRC), check value `0xCBF43926`.
pub const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// A raw frame after COBS decoding: header, postcard body and CRC.
///
/// Untrusted bytes become a packet only through [`Packet::new_checked`]; after that every accessor is
/// infallible and returns what the sender wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks, in this order: the length ([`MIN_FRAME_LEN`] to [`MAX_FRAME_LEN`]), the CRC, the format
    /// version, and that no unknown incompatible flag is set.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, DecodeError> {
        let bytes = buffer.as_ref();
        let len = bytes.len();
        if len < MIN_FRAME_LEN {
            return Err(DecodeError::TooShort { len });
        }
        if len > MAX_FRAME_LEN {
            return Err(DecodeError::Overlong { len });
        }
        let packet = Packet { buffer };
        let expected = packet.crc();
        let computed = CRC.checksum(packet.covered());
        if expected != computed {
            return Err(DecodeError::Crc { expected, computed });
        }
        if packet.version() != VERSION {
            return Err(DecodeError::UnsupportedVersion {
                version: packet.version(),
            });
        }
        let unknown = packet.flags() & FLAGS_INCOMPAT_MASK & !FLAGS_INCOMPAT_KNOWN;
        if unknown != 0 {
            return Err(DecodeError::UnsupportedFlags {
                header: packet.header(),
                flags: packet.flags(),
            });
        }
        Ok(packet)
    }

    /// The header bytes. `new_checked` guaranteed at least [`MIN_FRAME_LEN`] bytes, so the copy always
    /// happens; were it not to, the result would be zeros rather than a panic.
    fn header_bytes(&self) -> [u8; HEADER_LEN] {
        let mut header = [0; HEADER_LEN];
        if let Some(bytes) = self.buffer.as_ref().get(..HEADER_LEN) {
            header.copy_from_slice(bytes);
        }
        header
    }

    /// The bytes the CRC covers: header and body.
    fn covered(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        bytes
            .get(..bytes.len().saturating_sub(CRC_LEN))
            .unwrap_or(&[])
    }

    /// The format version ([`field::VERSION`]).
    pub fn version(&self) -> u8 {
        self.header_bytes()[field::VERSION]
    }

    /// The flags byte ([`field::FLAGS`]): bits 0 to 3 incompatible, 4 to 7 compatible. Version 1
    /// defines none.
    pub fn flags(&self) -> u8 {
        self.header_bytes()[field::FLAGS]
    }

    /// Node id, boot id and sequence number ([`field::NODE_ID`], [`field::BOOT_ID`],
    /// [`field::SEQ`]).
    pub fn header(&self) -> Header {
        let h = self.header_bytes();
        Header {
            node_id: u16::from_le_bytes(read(&h, field::NODE_ID)),
            boot_id: u32::from_le_bytes(read(&h, field::BOOT_ID)),
            seq: u16::from_le_bytes(read(&h, field::SEQ)),
        }
    }

    /// The raw kind byte ([`field::KIND`]).
    pub fn kind_byte(&self) -> u8 {
        self.header_bytes()[field::KIND]
    }

    /// The kind, `None` if this build does not know it.
    pub fn kind(&self) -> Option<Kind> {
        Kind::from_byte(self.kind_byte())
    }

    /// The postcard body: everything between the header and the CRC.
    pub fn payload(&self) -> &[u8] {
        self.covered().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// The CRC in the frame's last four bytes.
    pub fn crc(&self) -> u32 {
        let bytes = self.buffer.as_ref();
        let mut crc = [0; CRC_LEN];
        if let Some(tail) = bytes.get(bytes.len().saturating_sub(CRC_LEN)..) {
            if tail.len() == CRC_LEN {
                crc.copy_from_slice(tail);
            }
        }
        u32::from_le_bytes(crc)
    }

    /// The whole raw frame.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

#[cfg(feature = "defmt")]
impl<T: AsRef<[u8]>> defmt::Format for Packet<T> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(f, "Packet({=[u8]:02x})", self.as_bytes())
    }
}

/// A typed frame.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame {
    /// Sender and sequence.
    pub header: Header,
    /// Content.
    pub body: Body,
}

impl Frame {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Frame, DecodeError> {
        let header = packet.header();
        let kind = packet.kind().ok_or(DecodeError::UnknownKind {
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

    /// Checks and reads a raw frame (COBS already removed): [`Packet::new_checked`], then
    /// [`Frame::parse`].
    pub fn decode_raw(raw: &[u8]) -> Result<Frame, DecodeError> {
        Packet::new_checked(raw).and_then(|packet| Frame::parse(&packet))
    }

    /// Writes the frame as it goes on the line (COBS, `0x00` delimiter included) into `out` and returns
    /// its length. `out` also serves as the scratch space, so no other buffer is used; it needs
    /// [`max_cobs_len`]`(self.raw_len()) + 1` bytes, and [`MAX_ENCODED_LEN`](super::MAX_ENCODED_LEN)
    /// always suffices.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_line(
            &self.header,
            self.body.kind(),
            out,
            |buf| self.body.serialize_into(buf).map(|used| used.len()),
            || self.body.encoded_len(),
        )
    }

    /// Writes the raw frame (header, body, CRC; no COBS, no delimiter) into `out` and returns its
    /// length, which is [`raw_len`](Self::raw_len).
    pub fn encode_raw(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_raw(&self.header, self.body.kind(), out, |buf| {
            self.body.serialize_into(buf).map(|used| used.len())
        })
        .map_err(|available| EncodeError::BufferTooSmall {
            needed: self.raw_len(),
            available,
        })
    }

    /// Length of the raw frame: header, body and CRC.
    pub fn raw_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len() + CRC_LEN
    }
}

/// Writes a frame carrying `body` as it goes on the line into `out`, like [`Frame::encode`], without
/// moving the body into a [`Body`]: a node can encode its batch in place.
pub fn encode_body<B: BodyType>(
    header: &Header,
    body: &B,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_line(
        header,
        B::KIND,
        out,
        |buf| postcard::to_slice(body, buf).map(|used| used.len()),
        || postcard_len(body),
    )
}

/// Writes a PackedReadings frame of `readings` as it goes on the line into `out`, coding each
/// metric's values as `coding(metric)` says, without building a [`Body`]: what a node sends. Fails
/// with [`EncodeError::BufferTooSmall`] when the batch does not pack within
/// [`MAX_PACKED_READINGS_LEN`](super::MAX_PACKED_READINGS_LEN) bytes (more than 16 metrics, or
/// pathological times and values); the batch then goes as a Readings body ([`encode_body`]).
pub fn encode_packed_readings(
    header: &Header,
    readings: &super::Readings,
    coding: impl Fn(u16) -> crate::codec::Values,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    encode_line(
        header,
        Kind::PackedReadings,
        out,
        |buf| {
            let room = buf.len().min(super::MAX_PACKED_READINGS_LEN);
            let buf = buf.get_mut(..room).unwrap_or(&mut []);
            super::pack_readings(readings, coding, buf)
                .map_err(|_| postcard::Error::SerializeBufferFull)
        },
        || super::MAX_PACKED_READINGS_LEN + 1,
    )
}

/// Writes the raw frame into the start of `out` (at most [`MAX_FRAME_LEN`] bytes of it). On failure
/// returns the room there was.
fn encode_raw(
    header: &Header,
    kind: Kind,
    out: &mut [u8],
    serialize: impl FnOnce(&mut [u8]) -> postcard::Result<usize>,
) -> Result<usize, usize> {
    let room = out.len().min(MAX_FRAME_LEN);
    let Some((head, rest)) = out
        .get_mut(..room)
        .and_then(|out| out.split_at_mut_checked(HEADER_LEN))
    else {
        return Err(room);
    };
    head.copy_from_slice(&header_bytes(header, kind));
    let body_room = rest.len().saturating_sub(CRC_LEN);
    let body_len = rest
        .get_mut(..body_room)
        .ok_or(room)
        .and_then(|body| serialize(body).map_err(|_| room))?;
    let covered = HEADER_LEN + body_len;
    let crc = out
        .get(..covered)
        .map(|bytes| CRC.checksum(bytes))
        .ok_or(room)?;
    out.get_mut(covered..covered + CRC_LEN)
        .ok_or(room)?
        .copy_from_slice(&crc.to_le_bytes());
    Ok(covered + CRC_LEN)
}

fn encode_line(
    header: &Header,
    kind: Kind,
    out: &mut [u8],
    serialize: impl FnOnce(&mut [u8]) -> postcard::Result<usize>,
    body_len: impl FnOnce() -> usize,
) -> Result<usize, EncodeError> {
    let available = out.len();
    let too_small = |raw_len: usize| EncodeError::BufferTooSmall {
        needed: max_cobs_len(raw_len) + 1,
        available,
    };
    let raw_len = encode_raw(header, kind, out, serialize)
        .map_err(|_| too_small(HEADER_LEN + body_len() + CRC_LEN))?;
    let needed = max_cobs_len(raw_len) + 1;
    if available < needed {
        return Err(too_small(raw_len));
    }
    // COBS in place: move the raw frame to the end, then encode forwards from the start. The gap in
    // front is at least the COBS overhead plus the delimiter, so the writes never overtake the reads.
    // The move runs backwards, byte by byte (the destination overlaps the source from behind): a
    // loop rather than `copy_within` keeps `memmove` (some 1.5 KiB) out of the firmware images.
    // Every index is in range: `encode_raw` wrote `raw_len <= available` bytes, and
    // `start + raw_len == available`.
    let start = available - raw_len;
    for from in (0..raw_len).rev() {
        if let (Some(&byte), true) = (out.get(from), start + from < available) {
            out[start + from] = byte;
        }
    }
    let encoded = encode_in_place(out, start, raw_len).ok_or(too_small(raw_len))?;
    *out.get_mut(encoded).ok_or(too_small(raw_len))? = 0;
    Ok(encoded + 1)
}

/// The header's bytes for `header` and `kind`: see `docs/wire.md` §3. Flags stay 0: version 1
/// defines none.
fn header_bytes(header: &Header, kind: Kind) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[field::VERSION] = VERSION;
    write(&mut h, field::NODE_ID, &header.node_id.to_le_bytes());
    write(&mut h, field::BOOT_ID, &header.boot_id.to_le_bytes());
    write(&mut h, field::SEQ, &header.seq.to_le_bytes());
    h[field::KIND] = kind.byte();
    h
}

/// A multi-byte field's bytes. The field module's compile-time checks make every field fit the
/// header and `N` its width; were they not to, the result would be zeros rather than a panic.
fn read<const N: usize>(header: &[u8; HEADER_LEN], at: Field) -> [u8; N] {
    header
        .get(at)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([0; N])
}

/// Writes a multi-byte field (without a panic path, like [`read`]).
fn write(header: &mut [u8; HEADER_LEN], at: Field, bytes: &[u8]) {
    for (slot, byte) in header.get_mut(at).unwrap_or(&mut []).iter_mut().zip(bytes) {
        *slot = *byte;
    }
}

/// Why a frame could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncodeError {
    /// The output buffer is too small. [`MAX_ENCODED_LEN`](super::MAX_ENCODED_LEN) bytes always suffice
    /// for a line frame and [`MAX_FRAME_LEN`] for a raw one, since every body within its capacities
    /// fits ([`MAX_BODY_LEN`](super::MAX_BODY_LEN)).
    BufferTooSmall {
        /// Bytes the output needs.
        needed: usize,
        /// Bytes it had.
        available: usize,
    },
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed, available } => write!(
                f,
                "output buffer of {available} bytes is too small: the frame needs {needed}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EncodeError {}

/// Why bytes between two delimiters were not a frame. Errors found after the CRC matched carry the
/// (then trustworthy) header, so the host can attribute them to a node and a sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DecodeError {
    /// More bytes than the decoder holds arrived without a delimiter (and were discarded up to the
    /// next one), or the decoded frame is longer than [`MAX_FRAME_LEN`].
    Overlong {
        /// Bytes between the delimiters (saturating), or the decoded length.
        len: usize,
    },
    /// Not valid COBS: a zero code, or a code that runs past the end.
    Cobs {
        /// Bytes between the delimiters.
        len: usize,
    },
    /// Shorter than a header and a CRC ([`MIN_FRAME_LEN`]).
    TooShort {
        /// Decoded length.
        len: usize,
    },
    /// The CRC does not match: the bytes were corrupted on the line. The header is not trusted.
    Crc {
        /// The CRC in the frame.
        expected: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// A format version this decoder does not know (the CRC matched): the sender is newer.
    UnsupportedVersion {
        /// The version byte.
        version: u8,
    },
    /// An incompatible flag this decoder does not know is set: the sender is newer.
    UnsupportedFlags {
        /// The frame's header.
        header: Header,
        /// The flags byte.
        flags: u8,
    },
    /// A kind this decoder does not know: the sender is newer.
    UnknownKind {
        /// The frame's header.
        header: Header,
        /// The kind byte.
        kind: u8,
    },
    /// The body does not decode as its kind, or exceeds a capacity: a schema mismatch (compare the
    /// Hello's schema hash) or a faulty sender.
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
            DecodeError::UnsupportedFlags { .. } => "flags",
            DecodeError::UnknownKind { .. } => "unknown_kind",
            DecodeError::Body { .. } => "body",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }

    /// The header, when the error was found after the CRC matched.
    pub const fn header(&self) -> Option<Header> {
        match self {
            DecodeError::UnsupportedFlags { header, .. }
            | DecodeError::UnknownKind { header, .. }
            | DecodeError::Body { header, .. }
            | DecodeError::TrailingBytes { header, .. } => Some(*header),
            _ => None,
        }
    }
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Overlong { len } => write!(
                f,
                "frame of {len} bytes exceeds the maximum; discarded up to the next delimiter"
            ),
            DecodeError::Cobs { len } => {
                write!(f, "{len} bytes between delimiters are not valid COBS")
            }
            DecodeError::TooShort { len } => write!(
                f,
                "frame of {len} bytes is shorter than a header and CRC ({MIN_FRAME_LEN} bytes)"
            ),
            DecodeError::Crc { expected, computed } => write!(
                f,
                "CRC mismatch: frame says {expected:#010x}, bytes give {computed:#010x} (line noise?)"
            ),
            DecodeError::UnsupportedVersion { version } => write!(
                f,
                "wire format version {version} is not supported (this build reads version {VERSION})"
            ),
            DecodeError::UnsupportedFlags { header, flags } => write!(
                f,
                "node {} seq {}: unknown incompatible flags in {flags:#04x}; is the node's firmware newer than this host?",
                header.node_id, header.seq
            ),
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
