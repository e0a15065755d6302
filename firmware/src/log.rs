//! Log bytes for the node's Log frames (wire kind 5): the defmt stream of the firmware, carried on
//! the same line as the readings, so a board without a probe still delivers its log to the host.
//!
//! A board's defmt global logger encodes each log frame into a [`LogRing`] (between
//! [`begin_frame`](LogRing::begin_frame) and [`end_frame`](LogRing::end_frame)); the node drains the
//! ring through a [`LogSource`] into Log bodies of up to [`MAX_LOG_BYTES`] when the line has nothing
//! else to send. The host stores the bytes of each Log frame in order; concatenated, they are the
//! firmware's defmt stream, decoded with the image's ELF (`defmt-print -e ELF`).
//!
//! Invariants:
//! - A defmt frame is kept whole or dropped whole: a frame that does not fit the ring is rolled
//!   back at its end and counted ([`LogRing::dropped_frames`]), so the stream the host decodes
//!   never holds a torn frame.
//! - Only finished frames are drained; a Log body may end inside a frame, the next one continues it.
//! - Bytes leave in the order they were written. No allocation, no panic.

use heapless::Vec;
use rackwatch_core::wire::MAX_LOG_BYTES;

/// The body of one Log frame.
pub type LogBytes = Vec<u8, MAX_LOG_BYTES>;

/// Where the node takes log bytes from. [`NoLog`] has none.
pub trait LogSource {
    /// Whether finished log bytes are waiting.
    fn has_log(&self) -> bool;
    /// Moves finished log bytes, oldest first, into `out` until it is full or none are left.
    fn take_log(&mut self, out: &mut LogBytes);
}

/// No log: the node sends no Log frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoLog;

impl LogSource for NoLog {
    fn has_log(&self) -> bool {
        false
    }

    fn take_log(&mut self, _: &mut LogBytes) {}
}

impl<L: LogSource + ?Sized> LogSource for &mut L {
    fn has_log(&self) -> bool {
        (**self).has_log()
    }

    fn take_log(&mut self, out: &mut LogBytes) {
        (**self).take_log(out);
    }
}

/// A ring of `N` bytes of encoded log frames. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct LogRing<const N: usize> {
    buf: [u8; N],
    /// Index of the oldest byte.
    head: usize,
    /// Bytes of finished frames, from `head`.
    committed: usize,
    /// Bytes held, the frame being written included.
    len: usize,
    /// The frame being written did not fit.
    overflow: bool,
    dropped: u32,
}

impl<const N: usize> Default for LogRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LogRing<N> {
    /// An empty ring; `const`, for a board's `static`.
    pub const fn new() -> Self {
        LogRing {
            buf: [0; N],
            head: 0,
            committed: 0,
            len: 0,
            overflow: false,
            dropped: 0,
        }
    }

    /// Starts a frame. A frame left unfinished before it is discarded.
    pub fn begin_frame(&mut self) {
        self.len = self.committed;
        self.overflow = false;
    }

    /// Appends bytes of the current frame; once they do not fit, the frame will be dropped.
    pub fn write(&mut self, bytes: &[u8]) {
        if self.overflow || bytes.len() > N - self.len {
            self.overflow = true;
            return;
        }
        for &b in bytes {
            let at = (self.head + self.len) % N;
            if let Some(slot) = self.buf.get_mut(at) {
                *slot = b;
            }
            self.len += 1;
        }
    }

    /// Ends the frame: kept if it fitted, else rolled back and counted.
    pub fn end_frame(&mut self) {
        if self.overflow {
            self.len = self.committed;
            self.dropped = self.dropped.wrapping_add(1);
            self.overflow = false;
        } else {
            self.committed = self.len;
        }
    }

    /// Finished bytes waiting to be sent.
    pub const fn pending(&self) -> usize {
        self.committed
    }

    /// Frames dropped because the ring was full (wraps at 2^32).
    pub const fn dropped_frames(&self) -> u32 {
        self.dropped
    }
}

impl<const N: usize> LogSource for LogRing<N> {
    fn has_log(&self) -> bool {
        self.committed > 0
    }

    fn take_log(&mut self, out: &mut LogBytes) {
        while self.committed > 0 {
            let Some(&b) = self.buf.get(self.head) else {
                return;
            };
            if out.push(b).is_err() {
                return;
            }
            self.head = (self.head + 1) % N;
            self.committed -= 1;
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(ring: &mut LogRing<16>, parts: &[&[u8]]) {
        ring.begin_frame();
        for p in parts {
            ring.write(p);
        }
        ring.end_frame();
    }

    fn drain(ring: &mut LogRing<16>) -> std::vec::Vec<u8> {
        let mut all = std::vec::Vec::new();
        while ring.has_log() {
            let mut out = Vec::new();
            ring.take_log(&mut out);
            all.extend_from_slice(&out);
        }
        all
    }

    #[test]
    fn frames_come_out_whole_in_order_across_the_wrap() {
        let mut ring = LogRing::<16>::new();
        frame(&mut ring, &[b"abc", b"de"]);
        frame(&mut ring, &[b"fghij"]);
        assert_eq!(ring.pending(), 10);
        assert_eq!(drain(&mut ring), b"abcdefghij");
        // The ring wraps: head at 10, 12 more bytes fit.
        frame(&mut ring, &[b"0123456", b"89ab"]);
        assert_eq!(drain(&mut ring), b"012345689ab");
        assert_eq!(ring.dropped_frames(), 0);
    }

    #[test]
    fn a_frame_that_does_not_fit_is_dropped_whole_and_counted() {
        let mut ring = LogRing::<16>::new();
        frame(&mut ring, &[b"0123456789"]);
        frame(&mut ring, &[b"abc", b"defgh"]); // 18 bytes: no room
        frame(&mut ring, &[b"xyz"]);
        assert_eq!(ring.dropped_frames(), 1);
        assert_eq!(drain(&mut ring), b"0123456789xyz");
    }

    #[test]
    fn an_unfinished_frame_is_not_sent_and_is_discarded_by_the_next() {
        let mut ring = LogRing::<16>::new();
        frame(&mut ring, &[b"ok"]);
        ring.begin_frame();
        ring.write(b"torn");
        assert_eq!(drain(&mut ring), b"ok");
        frame(&mut ring, &[b"next"]);
        assert_eq!(drain(&mut ring), b"next");
    }

    #[test]
    fn a_log_body_takes_at_most_its_capacity() {
        let mut ring = LogRing::<512>::new();
        ring.begin_frame();
        ring.write(&[7; 300]);
        ring.end_frame();
        let mut out = Vec::new();
        ring.take_log(&mut out);
        assert_eq!(out.len(), MAX_LOG_BYTES);
        assert_eq!(ring.pending(), 300 - MAX_LOG_BYTES);
        assert!(NoLog.take_log_is_empty());
    }

    impl NoLog {
        fn take_log_is_empty(mut self) -> bool {
            let mut out = Vec::new();
            self.take_log(&mut out);
            !self.has_log() && out.is_empty()
        }
    }
}
