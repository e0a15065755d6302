//! A day of each simulated metric through the core's chunk codec: bytes per sample of the lattice
//! coding (with the metric's [`SimMetric::lattice`]) and of Gorilla's XOR on the readings the
//! simulated sensors report, and of XOR on the continuous quantities behind them (what the
//! simulation reported before its sensors were quantised), all in one run.
//!
//! Run: `cargo run --release -p rackwatch-firmware --example sim_chunks` (prints BENCHMARKS.md's
//! table). The figures are sizes, not times: the same on every machine.

use rackwatch_core::codec::{Encoder, Values, MAX_HEADER_LEN, MAX_SAMPLE_LEN};
use rackwatch_firmware::sim::{Scenario, SimMetric, SimSensors};

/// A day at the simulated node's 10-s period.
const SAMPLES: u64 = 8_640;
const PERIOD_MS: u64 = 10_000;
/// The chunks' first time: an epoch-ms of 2025, as a host stores it.
const START_MS: u64 = 1_764_000_000_000;

/// One metric's day: `(time, reading, quantity)`.
type Day = Vec<(u64, f32, f32)>;

fn main() {
    let days = read_days(1, Scenario::Nominal);
    println!("| metric | lattice (offset, step) | distinct readings | distinct quantities | lattice B/sample | XOR B/sample | XOR on quantities B/sample | lattice ÷ XOR | lattice ÷ XOR on quantities |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for (metric, day) in SimMetric::ALL.iter().zip(&days) {
        let lattice = metric.lattice();
        let (offset, step) = (lattice.offset, lattice.step);
        let readings: Vec<(u64, f32)> = day.iter().map(|&(t, r, _)| (t, r)).collect();
        let quantities: Vec<(u64, f32)> = day.iter().map(|&(t, _, q)| (t, q)).collect();
        let lattice = bytes_per_sample(&readings, lattice.values());
        let xor = bytes_per_sample(&readings, Values::Xor);
        let xor_quantities = bytes_per_sample(&quantities, Values::Xor);
        println!(
            "| `{}` | ({offset}, {step:e}) | {} | {} | {lattice:.2} | {xor:.2} | {xor_quantities:.2} | {:.2} | {:.2} |",
            metric.name(),
            distinct(&readings),
            distinct(&quantities),
            lattice / xor,
            lattice / xor_quantities,
        );
    }
}

/// Every metric's day, read in slot order at each time as a node reads them, from one rack and,
/// for the quantities, from its twin.
fn read_days(seed: u64, scenario: Scenario) -> Vec<Day> {
    let mut sensors = SimSensors::new(seed, scenario, 0);
    let mut twin = sensors.clone();
    let mut days = vec![Day::new(); SimMetric::ALL.len()];
    for i in 0..SAMPLES {
        let at_ms = i * PERIOD_MS;
        for (metric, day) in SimMetric::ALL.iter().zip(&mut days) {
            if let (Ok(reading), Ok(quantity)) =
                (sensors.read(*metric, at_ms), twin.quantity(*metric, at_ms))
            {
                day.push((START_MS + at_ms, reading, quantity));
            }
        }
    }
    days
}

fn bytes_per_sample(samples: &[(u64, f32)], values: Values) -> f64 {
    let mut buffer = vec![0u8; MAX_HEADER_LEN + samples.len() * MAX_SAMPLE_LEN];
    let mut encoder = Encoder::new(&mut buffer, values).expect("room for the header");
    for &(t, v) in samples {
        encoder.push(t, v).expect("room for every sample");
    }
    encoder.len() as f64 / samples.len() as f64
}

fn distinct(samples: &[(u64, f32)]) -> usize {
    let mut bits: Vec<u32> = samples.iter().map(|s| s.1.to_bits()).collect();
    bits.sort_unstable();
    bits.dedup();
    bits.len()
}
