//! The rackwatch node for the real B-L475E-IOT01A: the on-board HTS221 and LPS22HB on I2C2
//! (PB10 SCL, PB11 SDA), the add-on SHT4x and INA226 on the Arduino header's I2C1 (D15 = PB8 SCL,
//! D14 = PB9 SDA), frames on USART1 (PB6 TX), which the ST-LINK presents as its virtual COM port
//! (`/dev/ttyACM0`), defmt logs over RTT for a probe, the independent watchdog.
//!
//! The peripherals come from embassy-stm32 (blocking I2C with a bus timeout, USART, IWDG, the time
//! driver on a timer) and the application from `rackwatch_firmware`. The SYSCLK is MSI at 48 MHz,
//! which also clocks the RNG that makes each boot's id.
//!
//! Invariants: a sensor that is missing or fails is counted and reported, never a reset; the
//! watchdog is fed once per main-loop pass and bites after [`WATCHDOG_US`] of a stuck loop; the
//! node never blocks on the line except for its boot frames and transitions.

#![no_std]
#![no_main]

#[path = "../common.rs"]
mod common;

use core::convert::Infallible;
use defmt_rtt as _;
use embassy_stm32::i2c::{self, I2c};
use embassy_stm32::mode::Blocking;
use embassy_stm32::rcc::{mux, MSIRange, Sysclk};
use embassy_stm32::usart::{self, UartTx};
use embassy_stm32::wdg::IndependentWatchdog;
use embassy_stm32::{bind_interrupts, peripherals, rng, Config};
use embassy_time::{Delay, Duration, Instant};
use rackwatch_firmware::drivers::{ina226, sht4x};
use rackwatch_firmware::node::{Clock, Node, NodeConfig};
use rackwatch_firmware::rack::{RackMonitors, BOARD};
use rackwatch_firmware::sensors::{BoardPeriods, BoardSensors};

/// The node id in every frame. Give each board of a host its own before flashing.
const NODE_ID: u16 = 1;
/// The watchdog's timeout, µs: far above one loop pass (the slowest, a Hello at 115200 baud and
/// every sensor failing its bus timeout, stays under a second).
const WATCHDOG_US: u32 = 4_000_000;
/// The INA226's shunt, Ω, and current resolution, A per LSB (up to about 32 A).
const INA226_SHUNT_OHMS: f32 = 0.002;
const INA226_CURRENT_LSB_A: f32 = 0.001;

bind_interrupts!(struct Irqs {
    RNG => rng::InterruptHandler<peripherals::RNG>;
});

/// Milliseconds since boot, from embassy's time driver.
struct EmbassyClock;

impl Clock for EmbassyClock {
    fn now_ms(&self) -> u64 {
        Instant::now().as_millis()
    }
}

/// USART1 transmit that never blocks when [`embedded_io::WriteReady`] said it was ready: one
/// byte per write, while the transmit data register is empty.
struct Vcp(UartTx<'static, Blocking>);

fn txe() -> bool {
    embassy_stm32::pac::USART1.isr().read().txe()
}

impl embedded_io::ErrorType for Vcp {
    type Error = Infallible;
}

impl embedded_io::Write for Vcp {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        let mut written = 0;
        for byte in buf {
            if written > 0 && !txe() {
                break;
            }
            // A TX-only blocking UART has no error to report; a byte that failed would only be lost.
            let _ = self.0.blocking_write(core::slice::from_ref(byte));
            written += 1;
        }
        Ok(written)
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        let _ = self.0.blocking_flush();
        Ok(())
    }
}

impl embedded_io::WriteReady for Vcp {
    fn write_ready(&mut self) -> Result<bool, Infallible> {
        Ok(txe())
    }
}

type HwSensors =
    BoardSensors<I2c<'static, Blocking, i2c::Master>, I2c<'static, Blocking, i2c::Master>, Delay>;
/// Monitors the image has room for: the wire's limit of 16 metrics, so the static RAM figure is
/// the budget's case whatever is fitted (the board reports 9 metrics with both add-ons).
const METRICS: usize = rackwatch_core::wire::MAX_METRICS;

type HwNode = Node<HwSensors, Vcp, EmbassyClock, &'static mut RackMonitors<METRICS>>;

#[cortex_m_rt::entry]
fn main() -> ! {
    let csr = embassy_stm32::pac::RCC.csr().read().0;
    embassy_stm32::pac::RCC
        .csr()
        .modify(|w| w.0 |= common::RMVF);
    let reset = common::reset_reason(csr);

    let mut config = Config::default();
    config.rcc.msi = Some(MSIRange::RANGE48M);
    config.rcc.sys = Sysclk::MSI;
    config.rcc.mux.clk48sel = mux::Clk48sel::MSI;
    let p = embassy_stm32::init(config);

    let mut watchdog = IndependentWatchdog::new(p.IWDG, WATCHDOG_US);
    watchdog.unleash();

    let mut rng = rng::Rng::new(p.RNG, Irqs);
    let boot_id = rng.next_u32() ^ rackwatch_core::hash::fnv1a32(&embassy_stm32::uid::uid());

    let mut bus_config = i2c::Config::default();
    bus_config.timeout = Duration::from_millis(20);
    let onboard = I2c::new_blocking(p.I2C2, p.PB10, p.PB11, bus_config);
    let addon = I2c::new_blocking(p.I2C1, p.PB8, p.PB9, bus_config);
    let ina = ina226::Ina226::new(ina226::ADDRESS, INA226_SHUNT_OHMS, INA226_CURRENT_LSB_A).ok();
    let mut sensors = BoardSensors::new(
        onboard,
        addon,
        Delay,
        Some(sht4x::Sht4x::new()),
        ina,
        BoardPeriods::default(),
    );
    // The HTS221's calibration, read before the Hello so it announces the sensor's lattice.
    sensors.set_up();

    let mut uart_config = usart::Config::default();
    uart_config.baudrate = 115_200;
    let Ok(tx) = UartTx::new_blocking(p.USART1, p.PB6, uart_config) else {
        defmt::panic!("USART1 refused 115200 8N1");
    };

    let config = NodeConfig::new(NODE_ID, boot_id, reset);
    // The fitted sensors' metrics, judged by the board's rules. The monitors live in a static and
    // are filled where they lie (18 KiB: never on the stack); their clock starts at boot.
    let node = cortex_m::singleton!(: RackMonitors<METRICS> = RackMonitors::empty(&BOARD))
        .and_then(|monitors| {
            monitors.add_sensors(&sensors, 0);
            let node = Node::new(sensors, Vcp(tx), EmbassyClock, monitors, config).ok()?;
            cortex_m::singleton!(: HwNode = node)
        });
    let Some(node) = node else {
        defmt::panic!("the node configuration was refused");
    };
    defmt::info!(
        "rackwatch-hw: node {} boot {=u32:x} reset {}",
        NODE_ID,
        boot_id,
        reset
    );

    let mut next_report = 0;
    loop {
        watchdog.pet();
        node.poll();
        let now = EmbassyClock.now_ms();
        if now >= next_report {
            let (used, size) = common::stack_high_water();
            let c = node.counters();
            defmt::info!(
                "stack {} of {} bytes; frames {} dropped {}; readings dropped {}; sensor errors {}",
                used,
                size,
                c.frames_sent,
                c.frames_dropped,
                c.readings_dropped,
                c.sensor_errors
            );
            next_report = now + 60_000;
        }
        // Between polls the line keeps polling (it is polled, not interrupt-driven): sleep only
        // when there is nothing to write.
        if node.next_due_ms() > now {
            cortex_m::asm::wfe();
        }
    }
}

/// Logs where the panic happened over RTT, then faults so an attached probe stops and shows the
/// stack; without a probe the watchdog resets the board. The panic's message is not formatted:
/// `core::fmt` would cost about 2 KiB of the 64 KiB flash budget for text the location already
/// pins down (nothing here panics after start-up; see the module's invariants).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    cortex_m::asm::udf()
}
