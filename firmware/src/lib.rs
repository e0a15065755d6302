//! rackwatch-firmware: the sensor-node application as a `no_std` library, generic over embedded-hal
//! 1.0 buses and delays, an embedded-io writer and a clock, so that all of it runs in host tests.
//!
//! - [`drivers`]: HTS221, LPS22HB, SHT4x and INA226 over embedded-hal 1.0, typed errors, no panics.
//! - [`sensors`]: what a node samples: the real board's sensors ([`sensors::BoardSensors`]) or the
//!   simulated rack ([`sensors::SimSensorSet`]), each sensor on its own period.
//! - [`node`]: the application: schedule, batching into Readings frames, Hello at boot, Heartbeats,
//!   drop accounting when the line cannot keep up.
//! - [`hook`]: the seam where per-metric monitors are called on every reading and hand back the
//!   transitions the node sends at once.
//! - [`log`]: the defmt log's bytes for the node's Log frames: a ring a board's global logger
//!   writes whole defmt frames into, drained by the node when its line is idle.
//! - [`rack`]: the rack's rules as `const` data and [`rack::RackMonitors`], the core's monitors behind
//!   the hook, shared with the host's simulated nodes.
//! - [`sim`]: the deterministic simulated rack, shared by the QEMU image and the host's simulated
//!   nodes.
//!
//! The board binaries (`qemu`, `hw`) live in `firmware/boards`, a package outside the workspace
//! built for `thumbv7em-none-eabihf`; `cargo test --workspace` never compiles them. See
//! `firmware/README.md`.
//!
//! Invariants: no allocation, no `unsafe`, no panic on a bus error, a bad byte from a device or a
//! failing serial line; every failure is counted and reported.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod drivers;
pub mod hook;
pub mod log;
pub mod node;
pub mod rack;
pub mod sensors;
pub mod sim;
