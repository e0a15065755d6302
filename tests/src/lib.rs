//! End-to-end tests across the rackwatch crates live in `tests/tests/`; this library holds what they
//! share.
//!
//! [`qemu`] runs the real `qemu` firmware image under `qemu-system-arm -M b-l475e-iot01a` with its
//! USART1 bridged to a pty by socat, and reads the pty through the `serialport` crate, as a user
//! reads `/dev/ttyACM0`. [`require`] is how every end-to-end test (the host's too) skips loudly
//! when a tool it needs is missing, and fails instead under `CI=true`. [`net`] gives loopback ports
//! to tests that start servers. [`elf`] reads a firmware image's section sizes.

pub mod elf;
pub mod net;
pub mod qemu;
pub mod require;
