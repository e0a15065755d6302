#![doc = include_str!("../README.md")]
//!
//! ## Invariants every module keeps
//! - `#![no_std]`, no allocator: every capacity is a const generic, and `size_of` of every state type is
//!   part of its documented contract (asserted in tests).
//! - No clock: every update takes the time as `now_ms: u64`, monotonic milliseconds chosen by the caller.
//! - Per-sample work is O(1) (worst case, not amortised, unless a function's docs say otherwise).
//! - Deterministic: the same inputs give bit-identical outputs on every target. Float math that is not
//!   a basic IEEE operation goes through `libm`, never platform intrinsics.
//! - Untrusted input never panics: decoders and constructors return typed errors.

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod alert;
pub mod anomaly;
pub mod level;
pub mod monitor;
pub mod sample;
pub mod stats;
pub mod trend;
pub mod window;
pub mod wire;

pub use level::Level;
pub use sample::SampleError;

#[cfg(test)]
pub(crate) mod test_support {
    /// Deterministic N(0, 1) noise for tests: xorshift64* and Box-Muller, no dependencies.
    pub(crate) struct Noise(u64);

    impl Noise {
        pub(crate) fn new(seed: u64) -> Self {
            Noise(seed.max(1))
        }

        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            ((self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }

        pub(crate) fn gaussian(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(2.0 * core::f64::consts::PI * u2)
        }
    }
}
