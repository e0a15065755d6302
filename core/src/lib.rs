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
pub mod codec;
pub mod hash;
pub mod level;
pub mod monitor;
pub mod rng;
pub mod sample;
pub mod stats;
pub mod trend;
pub mod window;
pub mod wire;

pub use level::Level;
pub use sample::SampleError;
