//! What packing a readings batch costs the node, measured under QEMU: the instructions the M4
//! executes to encode one 64-reading batch of the simulated rack as a PackedReadings line frame
//! (`wire::encode_packed_readings`, what the node sends) and as a Readings line frame
//! (`wire::encode_body`, the baseline), each the mean of many encodings, printed on semihosting
//! stdout; then the same batch rounded to the simulated parts' lattices, packed as the node packs
//! metrics with lattices (`wire::cheaper_coding`). Run with `firmware/boards/encode-cost` (BENCHMARKS.md's wire section).
//!
//! How it counts: QEMU runs with `-icount shift=0`, so its virtual clock advances exactly 1 ns per
//! guest instruction, and SysTick, clocked by the core clock of QEMU's model (`SYSCLK_HZ`), counts
//! that clock. `ticks × 10⁹ / SYSCLK_HZ` is then the instruction count: instructions, not M4 cycles
//! (QEMU models no pipeline, and no DWT cycle counter); the ratio to the baseline is the figure to
//! read.
//!
//! Invariants: no allocation; the batch is the node's own (`SimSensorSet` read in slot order, the
//! node's `packing` of each metric); the output is one line per encoding, then QEMU exits.

#![no_std]
#![no_main]

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_SUCCESS};
use cortex_m_semihosting::hio;
use rackwatch_core::codec::Values;
use rackwatch_core::wire::{
    cheaper_coding, encode_body, encode_packed_readings, Header, Readings, MAX_ENCODED_LEN, MAX_READINGS,
};
use rackwatch_firmware::node::packing;
use rackwatch_firmware::sensors::{SensorSet, SimSensorSet};
use rackwatch_firmware::sim::{Scenario, SimSensors};
// The interrupt vectors cortex-m-rt links against.
use stm32_metapac as _;

/// The core clock of QEMU's model after reset (MSI, 4 MHz): SysTick's tick.
const SYSCLK_HZ: u64 = 4_000_000;
/// Encodings averaged per figure.
const ROUNDS: u32 = 200;
/// SysTick's counter is 24 bits wide.
const SYST_MASK: u32 = 0x00FF_FFFF;

#[defmt::global_logger]
struct NoLog;

// SAFETY: defmt's contract for a global logger; this one writes nothing.
unsafe impl defmt::Logger for NoLog {
    fn acquire() {}
    unsafe fn flush() {}
    unsafe fn release() {}
    unsafe fn write(_bytes: &[u8]) {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}

/// 64 readings as the node batches them: the rack's four metrics every 10 s, in slot order.
fn batch(sensors: &mut SimSensorSet) -> Readings {
    let mut readings = Readings::new();
    let mut t = 0u64;
    while !readings.is_full() {
        for slot in 0..sensors.sensor_count() {
            if let Ok(samples) = sensors.sample(slot, t) {
                for s in samples {
                    let _ = readings.push(s.metric, t, s.value);
                }
            }
        }
        t += 10_000;
    }
    readings
}

/// The simulated parts' lattices (HTS221 with the simulation's calibration, LPS22HB, INA226 at
/// 25 mW a count), metric by metric: what the quantised simulation's readings lie on.
const LATTICES: [(f32, f32); 4] = [
    (21.066845, 0.015987124),
    (48.613798, 0.0039912574),
    (0.0, 0.000244140625),
    (0.0, 0.025),
];

/// `readings` with each value rounded to its metric's lattice, as a driver converting counts
/// reports it.
fn quantised(readings: &Readings) -> Readings {
    let mut out = readings.clone();
    for reading in out.readings.iter_mut() {
        if let Some(&(offset, step)) = LATTICES.get(usize::from(reading.metric)) {
            let position = (f64::from(reading.value) - f64::from(offset)) / f64::from(step);
            // Half away from zero; |position| is far below 2^53.
            let k = if position < 0.0 {
                -((-position + 0.5) as i64)
            } else {
                (position + 0.5) as i64
            };
            reading.value = (f64::from(offset) + k as f64 * f64::from(step)) as f32;
        }
    }
    out
}

/// Instructions `encode` took, the mean over [`ROUNDS`] runs, and the bytes it wrote.
fn measure(syst: &SYST, mut encode: impl FnMut() -> usize) -> (u64, usize) {
    let (mut total, mut len) = (0u64, 0);
    for _ in 0..ROUNDS {
        let start = SYST::get_current();
        len = encode();
        let end = SYST::get_current();
        // A down-counter: the ticks elapsed are start − end, modulo its 24 bits.
        total += u64::from(start.wrapping_sub(end) & SYST_MASK);
    }
    let _ = syst;
    (total * 1_000_000_000 / SYSCLK_HZ / u64::from(ROUNDS), len)
}

fn print(out: &mut hio::HostStream, name: &str, instructions: u64, bytes: usize) {
    let mut digits = [0u8; 20];
    let _ = out.write_all(b"encode-cost: ");
    let _ = out.write_all(name.as_bytes());
    let _ = out.write_all(b" instructions ");
    let _ = out.write_all(decimal(instructions, &mut digits));
    let _ = out.write_all(b" bytes ");
    let _ = out.write_all(decimal(bytes as u64, &mut digits));
    let _ = out.write_all(b" readings ");
    let _ = out.write_all(decimal(MAX_READINGS as u64, &mut digits));
    let _ = out.write_all(b"\n");
}

fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

#[entry]
fn main() -> ! {
    // SAFETY: taken once, here, before anything else uses the core peripherals.
    let mut core = unsafe { cortex_m::Peripherals::steal() };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(SYST_MASK);
    core.SYST.clear_current();
    core.SYST.enable_counter();

    let mut sensors = SimSensorSet::new(SimSensors::new(1, Scenario::Nominal, 0), 10_000);
    let readings = batch(&mut sensors);
    let header = Header {
        node_id: 1,
        boot_id: 1,
        seq: 0,
    };
    let mut line = [0u8; MAX_ENCODED_LEN];
    let (empty, _) = measure(&core.SYST, || core::hint::black_box(0));
    // The method's check: `delay(n)` runs its two-instruction loop (`subs`, `bne`) n + 1 times,
    // 2n + 2 instructions; the conversion from SysTick ticks must say so.
    let (calibration, _) = measure(&core.SYST, || {
        cortex_m::asm::delay(100_000);
        0
    });
    let (plain, plain_len) = measure(&core.SYST, || {
        encode_body(&header, core::hint::black_box(&readings), &mut line).unwrap_or(0)
    });
    let (packed, packed_len) = measure(&core.SYST, || {
        encode_packed_readings(
            &header,
            core::hint::black_box(&readings),
            |metric| cheaper_coding(&readings, metric, packing(&sensors, metric)),
            &mut line,
        )
        .unwrap_or(0)
    });
    // The same batch on the simulated parts' lattices, each metric packed as the node packs it.
    let on_lattice = quantised(&readings);
    let lattice_of = |metric: u16| {
        LATTICES
            .get(usize::from(metric))
            .map_or(Values::Xor, |&(offset, step)| Values::lattice(offset, step))
    };
    let (plain_q, plain_q_len) = measure(&core.SYST, || {
        encode_body(&header, core::hint::black_box(&on_lattice), &mut line).unwrap_or(0)
    });
    let (lattice, lattice_len) = measure(&core.SYST, || {
        encode_packed_readings(
            &header,
            core::hint::black_box(&on_lattice),
            |metric| cheaper_coding(&on_lattice, metric, lattice_of(metric)),
            &mut line,
        )
        .unwrap_or(0)
    });
    if let Ok(mut out) = hio::hstdout() {
        print(&mut out, "empty", empty, 0);
        print(&mut out, "delay-100000", calibration, 0);
        print(&mut out, "readings", plain.saturating_sub(empty), plain_len);
        print(&mut out, "packed", packed.saturating_sub(empty), packed_len);
        print(&mut out, "readings-lattice", plain_q.saturating_sub(empty), plain_q_len);
        print(&mut out, "packed-lattice", lattice.saturating_sub(empty), lattice_len);
    }
    debug::exit(EXIT_SUCCESS);
    loop {
        cortex_m::asm::wfi();
    }
}
