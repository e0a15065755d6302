//! rackwatch-firmware: the sensor-node application as a `no_std` library, generic over embedded-hal 1.0
//! drivers and an embedded-io writer so it is tested on the host. The board binaries (`qemu`, `hw`) are
//! built separately for `thumbv7em-none-eabihf` and are never compiled by `cargo test --workspace`.
//!
//! Today it holds the deterministic simulated sensors ([`sim`]) shared by the QEMU image and the
//! host's simulated nodes; the node application itself arrives with the firmware issue.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod sim;
