//! Criterion benchmarks of the core (being written).
fn main() {}
