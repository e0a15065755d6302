//! rackwatch-firmware: the sensor-node application as a `no_std` library, generic over embedded-hal 1.0
//! drivers and an embedded-io writer so it is tested on the host. The board binaries (`qemu`, `hw`) are
//! built separately for `thumbv7em-none-eabihf` and are never compiled by `cargo test --workspace`.
//!
//! This crate is the skeleton the firmware issue fills; today it re-exports the core it runs.
#![no_std]
#![forbid(unsafe_code)]

pub use rackwatch_core as core_lib;
