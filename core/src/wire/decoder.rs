//! The streaming decoder: line bytes in, one frame or error out per delimiter.

use super::cobs::cobs_decode_in_place;
use super::frame::{DecodeError, Frame};
use super::MAX_ENCODED_LEN;

/// A streaming decoder over bytes from an untrusted line.
///
/// It collects bytes up to each `0x00`, then COBS-decodes them in its own buffer, checks the packet
/// and parses the frame. Rules:
/// - Every `0x00` ends a frame and yields exactly one result, except that an empty frame (two `0x00`
///   in a row, or one at the start) yields nothing: a sender may send a `0x00` to flush the line.
/// - If more than `N` bytes arrive before a `0x00`, the rest up to the `0x00` is discarded and that
///   delimiter yields one [`DecodeError::Overlong`] with the total length. Nothing is yielded before
///   it, so a frame is never reported twice.
/// - Results never depend on how the bytes were split into chunks.
///
/// `size_of::<Decoder<N>>()` is `N` plus two `usize` counters, rounded up to their alignment: 1048
/// bytes for the default `N` = [`MAX_ENCODED_LEN`] on a 64-bit host, 1040 on a 32-bit MCU. A smaller
/// `N` is fine for a line whose frames are known to be smaller; larger frames then end as `Overlong`.
#[derive(Debug, Clone)]
pub struct Decoder<const N: usize = MAX_ENCODED_LEN> {
    buf: [u8; N],
    /// Bytes held in `buf`.
    len: usize,
    /// Bytes dropped since `buf` filled up; the frame ends in `Overlong` at the next delimiter.
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

    /// Takes one byte; at a delimiter, returns the frame or error it ended.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, DecodeError>> {
        if byte != 0 {
            match self.buf.get_mut(self.len) {
                Some(slot) if self.overflow == 0 => {
                    *slot = byte;
                    self.len += 1;
                }
                _ => self.overflow = self.overflow.saturating_add(1),
            }
            return None;
        }
        let (len, overflow) = (self.len, self.overflow);
        self.reset();
        if overflow > 0 {
            return Some(Err(DecodeError::Overlong {
                len: len.saturating_add(overflow),
            }));
        }
        if len == 0 {
            return None;
        }
        // `len <= N` always: it only grows through a successful `get_mut(len)` above.
        let encoded = self.buf.get_mut(..len)?;
        Some(match cobs_decode_in_place(encoded) {
            None => Err(DecodeError::Cobs { len }),
            Some(raw_len) => encoded
                .get(..raw_len)
                .ok_or(DecodeError::Cobs { len })
                .and_then(Frame::decode_raw),
        })
    }

    /// Takes a chunk of any size and yields a result for every delimiter in it; a partial frame at the
    /// end is kept for the next call. The iterator is lazy: drive it to the end (bytes it was not
    /// driven over are not consumed; [`Feed::remaining`] shows them).
    pub fn feed<'a>(&'a mut self, bytes: &'a [u8]) -> Feed<'a, N> {
        Feed {
            decoder: self,
            bytes,
        }
    }

    /// Bytes of a partial frame seen since the last delimiter (held or discarded).
    pub const fn pending(&self) -> usize {
        self.len.saturating_add(self.overflow)
    }

    /// Forgets any partial frame, as if a delimiter had arrived without reporting it (after a port is
    /// reopened, say).
    pub fn reset(&mut self) {
        self.len = 0;
        self.overflow = 0;
    }

    /// The buffer's capacity `N`: the longest line frame (without its delimiter) this decoder accepts.
    pub const fn capacity(&self) -> usize {
        N
    }
}

#[cfg(feature = "defmt")]
impl<const N: usize> defmt::Format for Decoder<N> {
    fn format(&self, f: defmt::Formatter) {
        defmt::write!(
            f,
            "Decoder {{ capacity: {=usize}, pending: {=usize} }}",
            N,
            self.pending()
        )
    }
}

/// The results of one chunk; see [`Decoder::feed`].
#[derive(Debug)]
#[must_use = "the chunk is decoded only as far as the iterator is driven"]
pub struct Feed<'a, const N: usize> {
    decoder: &'a mut Decoder<N>,
    bytes: &'a [u8],
}

impl<const N: usize> Feed<'_, N> {
    /// Bytes of the chunk not consumed yet.
    pub fn remaining(&self) -> &[u8] {
        self.bytes
    }
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

impl<const N: usize> core::iter::FusedIterator for Feed<'_, N> {}
