//! Bit-level reading and writing, most significant bit first, over borrowed bytes.
//!
//! Invariants: neither side ever indexes outside its slice (a write that does not fit returns
//! [`Full`] and may have written part of its bits, which [`BitWriter::rewind`] undoes; a read past
//! the end returns `None`); bits after the writer's position in its last byte are zero.

use super::Full;

/// Writes bits into a caller's buffer from a starting bit.
#[derive(Debug)]
pub(crate) struct BitWriter<'a> {
    buffer: &'a mut [u8],
    bit: usize,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(buffer: &'a mut [u8], bit: usize) -> BitWriter<'a> {
        let mut writer = BitWriter { buffer, bit: 0 };
        writer.rewind(bit);
        writer
    }

    /// The next bit to write.
    pub(crate) fn position(&self) -> usize {
        self.bit
    }

    /// Goes back to `bit` (at or before the position), clearing the rest of its byte.
    pub(crate) fn rewind(&mut self, bit: usize) {
        self.bit = bit.min(self.buffer.len() * 8);
        let used = self.bit % 8;
        if used != 0 {
            if let Some(byte) = self.buffer.get_mut(self.bit / 8) {
                *byte &= !(0xffu8 >> used);
            }
        }
    }

    /// Writes the low `len` bits of `value` (`len` ≤ 64).
    pub(crate) fn write(&mut self, value: u64, len: u32) -> Result<(), Full> {
        if self.bit + len as usize > self.buffer.len() * 8 {
            return Err(Full);
        }
        let mut left = len;
        while left > 0 {
            let index = self.bit / 8;
            let free = 8 - (self.bit % 8) as u32;
            let take = free.min(left);
            let chunk = ((value >> (left - take)) & ((1u64 << take) - 1)) as u8;
            let byte = &mut self.buffer[index];
            let shift = free - take;
            let mask = (((1u16 << take) - 1) as u8) << shift;
            *byte = (*byte & !mask) | (chunk << shift);
            self.bit += take as usize;
            left -= take;
        }
        Ok(())
    }

    /// Overwrites whole bytes at `at` (the header), when they lie in the buffer.
    pub(crate) fn patch_bytes(&mut self, at: usize, bytes: &[u8]) {
        if let Some(target) = self.buffer.get_mut(at..at + bytes.len()) {
            target.copy_from_slice(bytes);
        }
    }

    /// The bytes written so far, the last one possibly partly used.
    pub(crate) fn written(&self) -> &[u8] {
        &self.buffer[..self.bit.div_ceil(8)]
    }
}

/// Reads bits from stored bytes from a starting bit.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8], bit: usize) -> BitReader<'a> {
        BitReader { bytes, bit }
    }

    /// The next bit to read.
    pub(crate) fn position(&self) -> usize {
        self.bit
    }

    /// Reads `len` bits (≤ 64) as the low bits of the result, or `None` past the end.
    pub(crate) fn read(&mut self, len: u32) -> Option<u64> {
        if len > 64 || self.bit + len as usize > self.bytes.len() * 8 {
            return None;
        }
        let mut value = 0u64;
        let mut left = len;
        while left > 0 {
            let byte = *self.bytes.get(self.bit / 8)?;
            let free = 8 - (self.bit % 8) as u32;
            let take = free.min(left);
            let chunk = (byte >> (free - take)) & (((1u16 << take) - 1) as u8);
            value = (value << take) | u64::from(chunk);
            self.bit += take as usize;
            left -= take;
        }
        Some(value)
    }
}
