//! TI INA226 current, voltage and power monitor (datasheet SBOS547A), a rack add-on on the Arduino
//! header's I2C1, default address `0x40` (A0 = A1 = GND).
//!
//! Registers are 16-bit big-endian: a write is `[register, MSB, LSB]`, a read is a write of the
//! register pointer followed by a 2-byte read. The driver programs the configuration (averaging of
//! 16 samples, 1.1 ms conversions, shunt and bus continuous: [`CONFIG`]) and the calibration
//! register, then reads bus voltage (1.25 mV/LSB), current (`Current_LSB`/LSB, signed) and power
//! (25 × `Current_LSB`/LSB).
//!
//! Calibration (datasheet §7.5, equation 1): `CAL = trunc(0.00512 / (Current_LSB × R_shunt))`,
//! which must fit the register's 15 bits and be non-zero. The driver then uses the `Current_LSB`
//! that the integer `CAL` really gives, so a truncated `CAL` does not bias the readings.
//!
//! The INA226 forgets its calibration when it loses power (the register resets to 0, and current and
//! power then read 0). Every [`Ina226::read`] therefore reads the calibration back first; if it
//! differs the driver programs the device again and returns [`Error::Reconfigured`] instead of
//! silent zeros.
//!
//! Invariants: no panic on any register content or configuration (a calibration that does not fit is
//! a [`ConfigError`] at construction); all arithmetic in f32.

use super::Error;
use embedded_hal::i2c::I2c;
use rackwatch_core::wire::Lattice;

/// The address with A0 and A1 at GND.
pub const ADDRESS: u8 = 0x40;
/// Manufacturer ID register content: "TI".
pub const MANUFACTURER_ID: u16 = 0x5449;
/// Configuration written at set-up: reserved bit 14, `AVG = 16` (010), `VBUSCT = VSHCT = 1.1 ms`
/// (100), `MODE = shunt and bus, continuous` (111).
pub const CONFIG: u16 = 0x4000 | (0b010 << 9) | (0b100 << 6) | (0b100 << 3) | 0b111;
/// Volts per bus-voltage LSB.
pub const BUS_VOLTAGE_LSB_V: f32 = 1.25e-3;
/// The INA226's internal scaling constant of equation 1.
const CAL_SCALE: f32 = 0.00512;

const fn positive(x: f32) -> bool {
    x.is_finite() && x > 0.0
}

/// Register addresses.
pub mod reg {
    /// Configuration.
    pub const CONFIG: u8 = 0x00;
    /// Shunt voltage, 2.5 µV/LSB, signed.
    pub const SHUNT_VOLTAGE: u8 = 0x01;
    /// Bus voltage, 1.25 mV/LSB.
    pub const BUS_VOLTAGE: u8 = 0x02;
    /// Power, 25 × `Current_LSB` per LSB.
    pub const POWER: u8 = 0x03;
    /// Current, `Current_LSB` per LSB, signed.
    pub const CURRENT: u8 = 0x04;
    /// Calibration.
    pub const CALIBRATION: u8 = 0x05;
    /// Manufacturer ID, reads [`MANUFACTURER_ID`](super::MANUFACTURER_ID).
    pub const MANUFACTURER_ID: u8 = 0xFE;
}

/// A shunt and current resolution the INA226 cannot be calibrated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// A shunt or `Current_LSB` that is not a positive finite number.
    NotPositive,
    /// `CAL` would exceed 15 bits: the resolution is finer than this shunt allows.
    CalibrationTooLarge,
    /// `CAL` would truncate to 0: the resolution is coarser than this shunt allows.
    CalibrationZero,
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Bus voltage, V.
    pub bus_voltage_v: f32,
    /// Current through the shunt, A (negative when it flows backwards).
    pub current_a: f32,
    /// Power, W.
    pub power_w: f32,
}

/// The conversion of the INA226's registers for one programmed calibration: its `Current_LSB`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scale {
    current_lsb_a: f32,
}

impl Scale {
    /// Amperes per current LSB.
    pub const fn current_lsb_a(&self) -> f32 {
        self.current_lsb_a
    }

    /// Bus voltage in V for a raw bus-voltage register.
    pub fn bus_voltage(&self, raw: u16) -> f32 {
        f32::from(raw) * BUS_VOLTAGE_LSB_V
    }

    /// Current in A for a raw current register (signed).
    pub fn current(&self, raw: u16) -> f32 {
        f32::from(raw as i16) * self.current_lsb_a
    }

    /// Power in W for a raw power register.
    pub fn power(&self, raw: u16) -> f32 {
        f32::from(raw) * 25.0 * self.current_lsb_a
    }

    /// The power register the device holds at `watts`: the nearest count, saturated to its 16
    /// unsigned bits (NaN gives 0). The inverse of [`power`](Self::power), for a simulated part.
    pub fn power_counts(&self, watts: f32) -> u16 {
        // `as` saturates to 0..=65535 and takes NaN to 0.
        libm::roundf(watts / (25.0 * self.current_lsb_a)) as u16
    }

    /// Bus-voltage steps in V.
    pub const fn bus_voltage_lattice(&self) -> Lattice {
        Lattice {
            offset: 0.0,
            step: BUS_VOLTAGE_LSB_V,
        }
    }

    /// Current steps in A.
    pub const fn current_lattice(&self) -> Lattice {
        Lattice {
            offset: 0.0,
            step: self.current_lsb_a,
        }
    }

    /// Power steps in W: 25 `Current_LSB` per count.
    pub fn power_lattice(&self) -> Lattice {
        Lattice {
            offset: 0.0,
            step: 25.0 * self.current_lsb_a,
        }
    }

    /// All three values of one read of the registers.
    pub fn measurement(&self, bus: u16, current: u16, power: u16) -> Measurement {
        Measurement {
            bus_voltage_v: self.bus_voltage(bus),
            current_a: self.current(current),
            power_w: self.power(power),
        }
    }
}

/// An INA226 on a bus.
#[derive(Debug, Clone)]
pub struct Ina226 {
    address: u8,
    calibration: u16,
    scale: Scale,
    configured: bool,
}

impl Ina226 {
    /// A driver for the device at `address` with a shunt of `shunt_ohms` and a wanted current
    /// resolution of `current_lsb_a` amperes per LSB (the datasheet suggests the maximum expected
    /// current / 2^15, rounded up to a convenient value).
    pub const fn new(
        address: u8,
        shunt_ohms: f32,
        current_lsb_a: f32,
    ) -> Result<Ina226, ConfigError> {
        if !positive(shunt_ohms) || !positive(current_lsb_a) {
            return Err(ConfigError::NotPositive);
        }
        let cal = CAL_SCALE / (current_lsb_a * shunt_ohms);
        if cal >= 32768.0 {
            return Err(ConfigError::CalibrationTooLarge);
        }
        // Equation 1 truncates. The f32 division may land a hair below an exact integer (0.00512 /
        // 2e-6 gives 2559.9998), so allow for a few ulps before truncating. `as` truncates
        // towards zero and saturates; `cal` is finite, positive and < 2^15 here.
        let calibration = (cal * (1.0 + 4.0 * f32::EPSILON)) as u16;
        if calibration == 0 {
            return Err(ConfigError::CalibrationZero);
        }
        Ok(Ina226 {
            address,
            calibration,
            scale: Scale {
                current_lsb_a: CAL_SCALE / (calibration as f32 * shunt_ohms),
            },
            configured: false,
        })
    }

    /// The value programmed into the calibration register.
    pub const fn calibration(&self) -> u16 {
        self.calibration
    }

    /// Amperes per current LSB, as the programmed calibration gives it.
    pub const fn current_lsb_a(&self) -> f32 {
        self.scale.current_lsb_a
    }

    /// How this device's registers convert to volts, amperes and watts.
    pub const fn scale(&self) -> Scale {
        self.scale
    }

    /// Checks the manufacturer ID, writes the configuration and the calibration.
    pub fn init<I: I2c>(&mut self, i2c: &mut I) -> Result<(), Error<I::Error>> {
        self.configured = false;
        let id = self.read_register(i2c, reg::MANUFACTURER_ID)?;
        if id != MANUFACTURER_ID {
            return Err(Error::WrongDevice { found: id });
        }
        self.write_register(i2c, reg::CONFIG, CONFIG)?;
        self.write_register(i2c, reg::CALIBRATION, self.calibration)?;
        self.configured = true;
        Ok(())
    }

    /// Reads bus voltage, current and power, setting the device up first if it is not. A device
    /// found with another calibration (it lost power) is set up again and reported as
    /// [`Error::Reconfigured`].
    pub fn read<I: I2c>(&mut self, i2c: &mut I) -> Result<Measurement, Error<I::Error>> {
        if !self.configured {
            self.init(i2c)?;
        } else if self.read_register(i2c, reg::CALIBRATION)? != self.calibration {
            self.init(i2c)?;
            return Err(Error::Reconfigured);
        }
        let bus = self.read_register(i2c, reg::BUS_VOLTAGE)?;
        let current = self.read_register(i2c, reg::CURRENT)?;
        let power = self.read_register(i2c, reg::POWER)?;
        Ok(self.scale.measurement(bus, current, power))
    }

    fn read_register<I: I2c>(&self, i2c: &mut I, register: u8) -> Result<u16, Error<I::Error>> {
        let mut bytes = [0u8; 2];
        i2c.write_read(self.address, &[register], &mut bytes)
            .map_err(Error::Bus)?;
        Ok(u16::from_be_bytes(bytes))
    }

    fn write_register<I: I2c>(
        &self,
        i2c: &mut I,
        register: u8,
        value: u16,
    ) -> Result<(), Error<I::Error>> {
        let [msb, lsb] = value.to_be_bytes();
        i2c.write(self.address, &[register, msb, lsb])
            .map_err(Error::Bus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{BusErrorKind, ErrorKind};
    use embedded_hal::i2c::{ErrorKind as BusKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    /// The datasheet's example (§7.5.1): a 2 mΩ shunt and 1 mA/LSB give CAL = 2560 (0x0A00).
    fn datasheet_example() -> Ina226 {
        Ina226::new(ADDRESS, 0.002, 0.001).unwrap()
    }

    fn init_transactions() -> Vec<T> {
        vec![
            T::write_read(ADDRESS, vec![0xFE], vec![0x54, 0x49]),
            T::write(ADDRESS, vec![0x00, 0x45, 0x27]),
            T::write(ADDRESS, vec![0x05, 0x0A, 0x00]),
        ]
    }

    #[test]
    fn calibration_follows_equation_1() {
        let ina = datasheet_example();
        assert_eq!(ina.calibration(), 2560);
        assert!((ina.current_lsb_a() - 0.001).abs() < 1e-9);
        // 20 A over 2 mΩ at 15 bits: CAL = trunc(4194.3) and the LSB that 4194 really gives.
        let ina = Ina226::new(ADDRESS, 0.002, 20.0 / 32768.0).unwrap();
        assert_eq!(ina.calibration(), 4194);
        assert!(ina.current_lsb_a() > 20.0 / 32768.0);
        assert_eq!(CONFIG, 0x4527);
    }

    #[test]
    fn power_counts_invert_the_conversion_and_saturate_at_16_bits() {
        let scale = datasheet_example().scale();
        for raw in [0, 1, 1200, 7200, u16::MAX] {
            assert_eq!(scale.power_counts(scale.power(raw)), raw);
        }
        assert_eq!(scale.power_counts(30.0 + 0.012), 1200);
        assert_eq!(scale.power_counts(-5.0), 0);
        assert_eq!(scale.power_counts(1.0e6), u16::MAX);
        assert_eq!(scale.power_counts(f32::NAN), 0);
        assert_eq!(scale.power_lattice().step, 25.0 * scale.current_lsb_a());
    }

    #[test]
    fn impossible_calibrations_are_refused() {
        assert_eq!(
            Ina226::new(ADDRESS, 0.0, 0.001).unwrap_err(),
            ConfigError::NotPositive
        );
        assert_eq!(
            Ina226::new(ADDRESS, 0.002, f32::NAN).unwrap_err(),
            ConfigError::NotPositive
        );
        assert_eq!(
            Ina226::new(ADDRESS, 0.0001, 1e-6).unwrap_err(),
            ConfigError::CalibrationTooLarge
        );
        assert_eq!(
            Ina226::new(ADDRESS, 10.0, 1.0).unwrap_err(),
            ConfigError::CalibrationZero
        );
    }

    #[test]
    fn set_up_then_reads_bus_current_and_power() {
        let mut expected = init_transactions();
        expected.extend([
            // 12.0 V = 9600 × 1.25 mV; 2.5 A = 2500 × 1 mA; 30 W = 1200 × 25 mW.
            T::write_read(ADDRESS, vec![0x02], vec![0x25, 0x80]),
            T::write_read(ADDRESS, vec![0x04], vec![0x09, 0xC4]),
            T::write_read(ADDRESS, vec![0x03], vec![0x04, 0xB0]),
            // The second read checks the calibration first; the current flows backwards.
            T::write_read(ADDRESS, vec![0x05], vec![0x0A, 0x00]),
            T::write_read(ADDRESS, vec![0x02], vec![0x25, 0x80]),
            T::write_read(ADDRESS, vec![0x04], vec![0xF6, 0x3C]),
            T::write_read(ADDRESS, vec![0x03], vec![0x04, 0xB0]),
        ]);
        let mut i2c = Mock::new(&expected);
        let mut ina = datasheet_example();
        let m = ina.read(&mut i2c).unwrap();
        assert!((m.bus_voltage_v - 12.0).abs() < 1e-5, "{m:?}");
        assert!((m.current_a - 2.5).abs() < 1e-5, "{m:?}");
        assert!((m.power_w - 30.0).abs() < 1e-4, "{m:?}");
        let m = ina.read(&mut i2c).unwrap();
        assert!((m.current_a + 2.5).abs() < 1e-5, "{m:?}");
        i2c.done();
    }

    #[test]
    fn a_device_that_lost_its_calibration_is_set_up_again_not_read_as_zero() {
        let mut expected = init_transactions();
        expected.extend([
            T::write_read(ADDRESS, vec![0x02], vec![0x25, 0x80]),
            T::write_read(ADDRESS, vec![0x04], vec![0x09, 0xC4]),
            T::write_read(ADDRESS, vec![0x03], vec![0x04, 0xB0]),
            T::write_read(ADDRESS, vec![0x05], vec![0x00, 0x00]), // power-on reset value
        ]);
        expected.extend(init_transactions());
        let mut i2c = Mock::new(&expected);
        let mut ina = datasheet_example();
        ina.read(&mut i2c).unwrap();
        assert_eq!(ina.read(&mut i2c), Err(Error::Reconfigured));
        i2c.done();
    }

    #[test]
    fn wrong_device_and_bus_errors_are_typed() {
        let mut i2c = Mock::new(&[
            T::write_read(ADDRESS, vec![0xFE], vec![0x12, 0x34]),
            T::write_read(ADDRESS, vec![0xFE], vec![0, 0])
                .with_error(BusKind::NoAcknowledge(NoAcknowledgeSource::Address)),
            T::write_read(ADDRESS, vec![0xFE], vec![0x54, 0x49]),
            T::write(ADDRESS, vec![0x00, 0x45, 0x27]).with_error(BusKind::Overrun),
        ]);
        let mut ina = datasheet_example();
        let kinds: Vec<_> = (0..3)
            .map(|_| ina.read(&mut i2c).unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::WrongDevice { found: 0x1234 },
                ErrorKind::Bus(BusErrorKind::NoAcknowledge),
                ErrorKind::Bus(BusErrorKind::Overrun),
            ]
        );
        i2c.done();
    }
}
