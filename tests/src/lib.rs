//! End-to-end tests across the rackwatch crates live in `tests/tests/`; this library holds what they
//! share.
