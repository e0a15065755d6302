//! Sensor drivers over embedded-hal 1.0: the board's own HTS221 (temperature, humidity) and LPS22HB
//! (pressure, temperature), and the usual rack add-ons, an SHT4x (temperature, humidity) and an INA226
//! (bus voltage, current, power).
//!
//! The SHT4x driver is the maintained [`sht4x`] crate behind a thin adapter; the others are ours,
//! because the crates that exist are for embedded-hal 0.2 (`hts221`, `lps22hb`) or compute in f64
//! (`ina226`), which is software floating point on a Cortex-M4F.
//!
//! # Invariants
//! - A driver holds only its address and its configuration or calibration; the bus and the delay are
//!   lent to each call, so several drivers share one bus without a bus-sharing layer.
//! - Nothing here panics on a bus error or on any byte a device returns: every failure is a typed
//!   [`Error`], and register values are decoded with checked conversions.
//! - Every wait for a conversion is bounded: a device that never reports data ready is a
//!   [`Error::Timeout`], never a hang.
//! - A driver that times out or finds its device reset forgets its configuration and sets the device
//!   up again on the next read, so a sensor that was unplugged or power-cycled comes back by itself.
//! - Register sequences follow the datasheets; each driver's tests replay them transaction by
//!   transaction against `embedded-hal-mock`.
//! - Each conversion from raw counts is one pure function (`hts221::Calibration`,
//!   `lps22hb::pressure_hpa`, `ina226::Scale`, `sht4x::temperature_c`, …), with its lattice
//!   `(offset, step)` and, for the simulated parts, its inverse (the nearest count, saturated to
//!   the register): the simulation ([`crate::sim`]) measures through the very code a board reads
//!   with, so the two cannot drift apart.

pub mod hts221;
pub mod ina226;
pub mod lps22hb;
pub mod sht4x;

use embedded_hal::i2c::I2c;

/// Why a sensor could not be read. `E` is the bus's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error<E> {
    /// A bus transaction failed: no acknowledge (no device at the address), arbitration lost, a bus
    /// fault or a bus timeout.
    Bus(E),
    /// The identification register held something else than this device's id: another device, or
    /// a bus that reads back garbage.
    WrongDevice {
        /// The id read.
        found: u16,
    },
    /// The data failed its checksum (SHT4x CRC-8).
    Crc,
    /// The device did not report a finished conversion within the driver's bound.
    Timeout,
    /// The device's factory calibration is unusable (two calibration points are equal).
    BadCalibration,
    /// The device had lost its configuration (it reset); it has been set up again and the next read
    /// works.
    Reconfigured,
}

impl<E: embedded_hal::i2c::Error> Error<E> {
    /// The error without the bus's error type, for counting and reporting.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Bus(e) => ErrorKind::Bus(BusErrorKind::from(e.kind())),
            Error::WrongDevice { found } => ErrorKind::WrongDevice { found: *found },
            Error::Crc => ErrorKind::Crc,
            Error::Timeout => ErrorKind::Timeout,
            Error::BadCalibration => ErrorKind::BadCalibration,
            Error::Reconfigured => ErrorKind::Reconfigured,
        }
    }
}

/// [`Error`] without the bus's error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorKind {
    /// See [`Error::Bus`].
    Bus(BusErrorKind),
    /// See [`Error::WrongDevice`].
    WrongDevice {
        /// The id read.
        found: u16,
    },
    /// See [`Error::Crc`].
    Crc,
    /// See [`Error::Timeout`].
    Timeout,
    /// See [`Error::BadCalibration`].
    BadCalibration,
    /// See [`Error::Reconfigured`].
    Reconfigured,
}

/// What went wrong on the bus, from [`embedded_hal::i2c::ErrorKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BusErrorKind {
    /// No device acknowledged its address or a data byte.
    NoAcknowledge,
    /// Another master won the bus.
    ArbitrationLoss,
    /// A misplaced start or stop condition.
    Bus,
    /// The controller's buffer over- or underran.
    Overrun,
    /// Anything else, a bus timeout included.
    Other,
}

impl From<embedded_hal::i2c::ErrorKind> for BusErrorKind {
    fn from(kind: embedded_hal::i2c::ErrorKind) -> Self {
        use embedded_hal::i2c::ErrorKind as K;
        match kind {
            K::NoAcknowledge(_) => BusErrorKind::NoAcknowledge,
            K::ArbitrationLoss => BusErrorKind::ArbitrationLoss,
            K::Bus => BusErrorKind::Bus,
            K::Overrun => BusErrorKind::Overrun,
            _ => BusErrorKind::Other,
        }
    }
}

/// Reads one 8-bit register.
fn read_u8<I: I2c>(i2c: &mut I, address: u8, register: u8) -> Result<u8, Error<I::Error>> {
    let mut byte = [0u8; 1];
    i2c.write_read(address, &[register], &mut byte)
        .map_err(Error::Bus)?;
    Ok(byte[0])
}

/// Writes one 8-bit register.
fn write_u8<I: I2c>(
    i2c: &mut I,
    address: u8,
    register: u8,
    value: u8,
) -> Result<(), Error<I::Error>> {
    i2c.write(address, &[register, value]).map_err(Error::Bus)
}
