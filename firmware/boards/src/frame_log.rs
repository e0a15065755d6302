//! The `qemu` image's defmt global logger: every defmt frame goes into the node's Log frames (wire
//! kind 5, through a [`LogRing`] the node drains when its line is idle) and, byte for byte, to
//! semihosting stdout (QEMU's stdout), which still has a panic's last words when the node no longer
//! runs. Either stream decodes with `defmt-print -e <the ELF>`.
//!
//! Invariants: one defmt frame at a time, inside a critical section (the logger is taken from
//! `acquire` to `release`); a nested `acquire` (a log from a panic inside the logger) is a no-op
//! frame rather than a panic; a frame the ring has no room for is dropped whole and counted
//! ([`dropped_frames`]), never torn; no allocation.

use core::cell::{RefCell, UnsafeCell};
use core::sync::atomic::{AtomicU8, Ordering};
use cortex_m_semihosting::hio::{self, HostStream};
use critical_section::{Mutex, RestoreState};
use rackwatch_firmware::log::{LogBytes, LogRing, LogSource};

/// Bytes of finished defmt frames waiting for the line.
const RING_BYTES: usize = 1024;

static RING: Mutex<RefCell<LogRing<RING_BYTES>>> = Mutex::new(RefCell::new(LogRing::new()));

/// The logger's state, touched only between `acquire` and `release`, in their critical section.
struct State {
    /// Frames open: 0 free, 1 taken, more for nested (ignored) frames.
    depth: AtomicU8,
    restore: UnsafeCell<RestoreState>,
    encoder: UnsafeCell<defmt::Encoder>,
    stdout: UnsafeCell<Option<HostStream>>,
}

// SAFETY: the cells are only used inside the critical section `acquire` opens and `release`
// closes, by one frame at a time (`depth`), on a single core.
unsafe impl Sync for State {}

static STATE: State = State {
    depth: AtomicU8::new(0),
    restore: UnsafeCell::new(RestoreState::invalid()),
    encoder: UnsafeCell::new(defmt::Encoder::new()),
    stdout: UnsafeCell::new(None),
};

/// Encoded bytes of the open frame: to stdout and the ring.
fn emit(stdout: &mut Option<HostStream>, bytes: &[u8]) {
    if let Some(out) = stdout {
        let _ = out.write_all(bytes);
    }
    critical_section::with(|cs| {
        if let Ok(mut ring) = RING.borrow(cs).try_borrow_mut() {
            ring.write(bytes);
        }
    });
}

fn with_ring(f: impl FnOnce(&mut LogRing<RING_BYTES>)) {
    critical_section::with(|cs| {
        if let Ok(mut ring) = RING.borrow(cs).try_borrow_mut() {
            f(&mut ring);
        }
    });
}

#[defmt::global_logger]
struct FrameLogger;

// SAFETY: `acquire` opens a critical section that `release` closes, so `write` and `release`
// run with the logger taken and nothing else touching `STATE`.
unsafe impl defmt::Logger for FrameLogger {
    fn acquire() {
        // SAFETY: paired with the `release` below, which defmt calls once per `acquire`.
        let restore = unsafe { critical_section::acquire() };
        if STATE.depth.fetch_add(1, Ordering::Relaxed) > 0 {
            // Nested: this frame is dropped; the restore state of the outer frame is kept.
            // SAFETY: releases the section just acquired (nested, so interrupts stay masked).
            unsafe { critical_section::release(restore) };
            return;
        }
        // SAFETY: taken (depth 1) inside the critical section: exclusive access to the cells.
        unsafe {
            STATE.restore.get().write(restore);
            let stdout = &mut *STATE.stdout.get();
            if stdout.is_none() {
                *stdout = hio::hstdout().ok();
            }
            with_ring(|ring| ring.begin_frame());
            (*STATE.encoder.get()).start_frame(|b| emit(stdout, b));
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        if STATE.depth.load(Ordering::Relaxed) > 1 {
            STATE.depth.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: the logger is taken (depth 1): exclusive access; the restore state is the one
        // `acquire` stored, released exactly once.
        unsafe {
            let stdout = &mut *STATE.stdout.get();
            (*STATE.encoder.get()).end_frame(|b| emit(stdout, b));
            with_ring(|ring| ring.end_frame());
            let restore = STATE.restore.get().read();
            STATE.depth.store(0, Ordering::Relaxed);
            critical_section::release(restore);
        }
    }

    unsafe fn write(bytes: &[u8]) {
        if STATE.depth.load(Ordering::Relaxed) != 1 {
            return;
        }
        // SAFETY: the logger is taken: exclusive access.
        unsafe {
            let stdout = &mut *STATE.stdout.get();
            (*STATE.encoder.get()).write(bytes, |b| emit(stdout, b));
        }
    }
}

/// The node's log source: the ring the logger fills.
pub struct FrameLog;

impl LogSource for FrameLog {
    fn has_log(&self) -> bool {
        critical_section::with(|cs| {
            RING.borrow(cs)
                .try_borrow()
                .is_ok_and(|ring| ring.pending() > 0)
        })
    }

    fn take_log(&mut self, out: &mut LogBytes) {
        with_ring(|ring| ring.take_log(out));
    }
}

/// defmt frames dropped because the ring was full.
pub fn dropped_frames() -> u32 {
    critical_section::with(|cs| {
        RING.borrow(cs)
            .try_borrow()
            .map_or(0, |ring| ring.dropped_frames())
    })
}
