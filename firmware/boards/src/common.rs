//! What both board images share: the reset reason from `RCC_CSR` and the stack high-water mark.

use rackwatch_core::wire::ResetReason;

/// `RCC_CSR` flags (RM0351 §6.4.29).
const LPWRRSTF: u32 = 1 << 31;
const WWDGRSTF: u32 = 1 << 30;
const IWDGRSTF: u32 = 1 << 29;
const SFTRSTF: u32 = 1 << 28;
const BORRSTF: u32 = 1 << 27;
const PINRSTF: u32 = 1 << 26;
const FWRSTF: u32 = 1 << 24;
/// Write 1 to clear every reset flag.
pub const RMVF: u32 = 1 << 23;

/// Why the MCU reset, from `RCC_CSR`. The L4 reports a power-on as a brown-out reset (the BOR holds
/// the chip in reset until the supply is up), with the pin flag set too; a brown-out while running
/// cannot be told apart from it, so both read as [`ResetReason::PowerOn`].
pub fn reset_reason(csr: u32) -> ResetReason {
    if csr & (IWDGRSTF | WWDGRSTF) != 0 {
        ResetReason::Watchdog
    } else if csr & SFTRSTF != 0 {
        ResetReason::Software
    } else if csr & BORRSTF != 0 {
        ResetReason::PowerOn
    } else if csr & PINRSTF != 0 {
        ResetReason::Pin
    } else if csr & (LPWRRSTF | FWRSTF) != 0 {
        ResetReason::Unknown
    } else {
        ResetReason::PowerOn
    }
}

/// cortex-m-rt's `paint-stack` fills the stack with this word before `main`.
const STACK_PAINT: u32 = 0xCCCC_CCCC;

/// The stack's deepest use since reset and its size, in bytes: the painted words cortex-m-rt left
/// below the stack top that are no longer the paint.
pub fn stack_high_water() -> (usize, usize) {
    extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    // SAFETY: the linker script defines both symbols as word-aligned addresses with
    // `_stack_end <= _stack_start`, bounding RAM that is the stack; reading it is side-effect free.
    unsafe {
        let top = core::ptr::addr_of!(_stack_start) as usize;
        let bottom = core::ptr::addr_of!(_stack_end) as usize;
        let mut p = bottom;
        while p < top && core::ptr::read_volatile(p as *const u32) == STACK_PAINT {
            p += 4;
        }
        (top - p, top - bottom)
    }
}

/// `n` in decimal into `buf`, returning the digits.
#[cfg(feature = "qemu")]
pub fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            return &buf[i..];
        }
    }
}
