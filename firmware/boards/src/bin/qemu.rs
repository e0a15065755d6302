//! The rackwatch node as CI runs it: `qemu-system-arm -M b-l475e-iot01a`, the simulated rack of
//! `rackwatch_firmware::sim::qemu_rack` (rising inlet temperature and a stuck humidity sensor from
//! ten rack minutes on), frames on USART1, the defmt log in the node's Log frames and, byte for
//! byte, on semihosting stdout (`frame_log`), the stack high-water mark as text on semihosting
//! stderr.
//!
//! QEMU 10 models this board's RCC, GPIO, USART and SysTick but stubs I2C, timers and the watchdog,
//! so this image drives USART1 and SysTick at register level (stm32-metapac) and samples the
//! simulation instead of sensors. QEMU's USART accepts only 32-bit accesses; metapac writes whole
//! registers, which are 32 bits.
//!
//! Rack time runs [`SPEEDUP`] times faster than QEMU's clock (500 by default: a SysTick millisecond
//! is half a rack second, so the 10 s sampling and 5 s Heartbeats fall on whole ticks and the
//! simulated rack's three-hour story plays out in about 25 s; set `RACKWATCH_QEMU_SPEEDUP` when
//! building to change it). Every time in the frames (reading times, Heartbeat uptime) is rack time.
//! The end-to-end test also runs QEMU with `-icount shift=0,sleep=off`, so the guest's clock only
//! moves with the guest and idle time is skipped: the same frames, a few seconds of real time, and
//! a slow host cannot make the node miss a deadline.
//!
//! The monitors are `rackwatch_firmware::rack::RackMonitors` with the rack's rules (`RACK`) for the
//! four simulated metrics, in a static filled in place, their clock started at boot.
//!
//! Invariants: no allocation; nothing here panics after start-up (a configuration error is logged
//! and ends QEMU with a failure exit code); the line never blocks the sampling except for the boot
//! frames and transitions (`rackwatch_firmware::node`).

#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;
#[path = "../frame_log.rs"]
mod frame_log;

use core::cell::Cell;
use core::convert::Infallible;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE};
use critical_section::Mutex;
use rackwatch_firmware::node::{Clock, Node, NodeConfig};
use rackwatch_firmware::rack::{RackMonitors, RACK};
use rackwatch_firmware::sensors::SimSensorSet;
use rackwatch_firmware::sim;
use stm32_metapac as pac;

/// SYSCLK after reset: MSI at 4 MHz (the image leaves the clock tree alone).
const SYSCLK_HZ: u32 = 4_000_000;
/// USART1 baud rate.
const BAUD: u32 = 115_200;
/// Rack milliseconds per SysTick millisecond.
pub const SPEEDUP: u64 = parse_speedup(option_env!("RACKWATCH_QEMU_SPEEDUP"));
/// The node id in every frame.
const NODE_ID: u16 = 1;
/// How often the stack high-water mark is printed on semihosting stderr, rack ms.
const STACK_REPORT_MS: u64 = 60_000;
/// How often the node's counters go into the defmt log (so into Log frames), rack ms.
const STATUS_LOG_MS: u64 = 10 * 60_000;

/// `RACKWATCH_QEMU_SPEEDUP` as a number (1 to 100 000), or 500.
const fn parse_speedup(var: Option<&str>) -> u64 {
    let Some(text) = var else { return 500 };
    let bytes = text.as_bytes();
    let mut value = 0u64;
    let mut i = 0;
    while i < bytes.len() {
        let digit = bytes[i];
        assert!(
            digit.is_ascii_digit(),
            "RACKWATCH_QEMU_SPEEDUP is not a number"
        );
        value = value * 10 + (digit - b'0') as u64;
        assert!(value <= 100_000, "RACKWATCH_QEMU_SPEEDUP is above 100000");
        i += 1;
    }
    assert!(value >= 1, "RACKWATCH_QEMU_SPEEDUP is 0");
    value
}

/// Milliseconds since boot, counted by the SysTick exception.
static TICKS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let ticks = TICKS.borrow(cs);
        ticks.set(ticks.get() + 1);
    });
}

/// Rack time: SysTick milliseconds × [`SPEEDUP`].
struct RackClock;

impl Clock for RackClock {
    fn now_ms(&self) -> u64 {
        critical_section::with(|cs| TICKS.borrow(cs).get()).saturating_mul(SPEEDUP)
    }
}

/// USART1 transmit, polled: takes bytes while the data register is empty.
struct Usart1;

impl Usart1 {
    /// Clocks, PB6 as USART1_TX (AF7), 115200 8N1, transmitter on.
    fn init() -> Usart1 {
        pac::RCC.ahb2enr().modify(|w| w.set_gpioben(true));
        pac::RCC.apb2enr().modify(|w| w.set_usart1en(true));
        pac::GPIOB.afr(0).modify(|w| w.set_afr(6, 7));
        pac::GPIOB
            .moder()
            .modify(|w| w.set_moder(6, pac::gpio::vals::Moder::ALTERNATE));
        pac::USART1
            .brr()
            .write(|w| w.set_brr((SYSCLK_HZ / BAUD) as u16));
        pac::USART1.cr1().write(|w| {
            w.set_ue(true);
            w.set_te(true);
        });
        Usart1
    }

    fn txe() -> bool {
        pac::USART1.isr().read().txe()
    }
}

impl embedded_io::ErrorType for Usart1 {
    type Error = Infallible;
}

impl embedded_io::Write for Usart1 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut written = 0;
        for &byte in buf {
            if written > 0 && !Self::txe() {
                break;
            }
            while !Self::txe() {}
            pac::USART1.tdr().write(|w| w.set_dr(u16::from(byte)));
            written += 1;
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        while !pac::USART1.isr().read().tc() {}
        Ok(())
    }
}

impl embedded_io::WriteReady for Usart1 {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(Self::txe())
    }
}

/// The simulated rack's metrics, all monitored.
const METRICS: usize = RACK.len();

type QemuNode =
    Node<SimSensorSet, Usart1, RackClock, &'static mut RackMonitors<METRICS>, frame_log::FrameLog>;

/// Prints `rackwatch-qemu: stack high-water <used> of <size> bytes` on semihosting stderr.
fn report_stack() {
    let (used, size) = common::stack_high_water();
    if let Ok(mut err) = cortex_m_semihosting::hio::hstderr() {
        let mut digits = [0u8; 20];
        let _ = err.write_all(b"rackwatch-qemu: stack high-water ");
        let _ = err.write_all(common::decimal(used, &mut digits));
        let _ = err.write_all(b" of ");
        let _ = err.write_all(common::decimal(size, &mut digits));
        let _ = err.write_all(b" bytes\n");
    }
}

#[entry]
fn main() -> ! {
    let csr = pac::RCC.csr().read().0;
    pac::RCC.csr().modify(|w| w.0 |= common::RMVF);
    let reset = common::reset_reason(csr);
    let uart = Usart1::init();

    // SAFETY: taken once, here, before anything else uses the core peripherals.
    let mut core = unsafe { cortex_m::Peripherals::steal() };
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(SYSCLK_HZ / 1000 - 1);
    core.SYST.clear_current();
    core.SYST.enable_interrupt();
    core.SYST.enable_counter();

    // A new boot id per run: the host's clock through semihosting (QEMU has no RNG model).
    // SAFETY: SYS_TIME takes no arguments and only returns a value.
    let host_time = unsafe { cortex_m_semihosting::syscall!(TIME) };
    let boot_id = rackwatch_core::hash::fnv1a32(&(host_time as u32).to_le_bytes());

    let sensors = SimSensorSet::new(sim::qemu_rack(), sim::QEMU_SAMPLE_PERIOD_MS);
    let config = NodeConfig::new(NODE_ID, boot_id, reset);
    // The monitors live in a static and are filled where they lie (no large value on the stack);
    // their clock starts at boot (0 ms), as a host replaying the readings assumes.
    let node: Option<&'static mut QemuNode> =
        cortex_m::singleton!(: RackMonitors<METRICS> = RackMonitors::empty(&RACK)).and_then(
            |monitors| {
                monitors.add_sensors(&sensors, 0);
                let node = Node::new(sensors, uart, RackClock, monitors, config)
                    .ok()?
                    .with_log(frame_log::FrameLog);
                cortex_m::singleton!(: QemuNode = node)
            },
        );
    let node = match node {
        Some(node) => node,
        None => {
            defmt::error!("rackwatch-qemu: the node configuration was refused");
            debug::exit(EXIT_FAILURE);
            loop {
                cortex_m::asm::wfi();
            }
        }
    };
    // `println!` is logged whatever `DEFMT_LOG` says: every run's Log frames have it.
    defmt::println!(
        "rackwatch-qemu: node {} boot {=u32:x} reset {} speedup {}",
        NODE_ID,
        boot_id,
        reset,
        SPEEDUP
    );

    let mut next_report = 0;
    let mut next_status = STATUS_LOG_MS;
    loop {
        node.poll();
        let now = RackClock.now_ms();
        if now >= next_report {
            report_stack();
            next_report = now + STACK_REPORT_MS;
        }
        if now >= next_status {
            let (used, size) = common::stack_high_water();
            let c = node.counters();
            defmt::println!(
                "rack {=u64} min: stack {=usize} of {=usize} B; frames {=u32} sent, {=u32} dropped; \
                 readings {=u32} dropped; transitions {=u32}; log frames {=u32} dropped",
                now / 60_000,
                used,
                size,
                c.frames_sent,
                c.frames_dropped,
                c.readings_dropped,
                c.transitions_sent,
                frame_log::dropped_frames()
            );
            next_status = now + STATUS_LOG_MS;
        }
        let due = node.next_due_ms().min(next_report).min(next_status);
        while RackClock.now_ms() < due {
            cortex_m::asm::wfi();
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::wfi();
    }
}
