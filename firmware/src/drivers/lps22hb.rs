//! ST LPS22HB MEMS barometer (datasheet DocID027083, rev 6), on the B-L475E-IOT01A's I2C2 at
//! address `0x5D` (SA0 high).
//!
//! One-shot mode like the [`hts221`](super::hts221) driver: `CTRL_REG1` with `ODR = 000` and block
//! data update, then per [`Lps22hb::read`] a `CTRL_REG2.ONE_SHOT`, a bounded poll of `STATUS`
//! until pressure and temperature are ready, and one 5-byte read from `PRESS_OUT_XL` (the register
//! address auto-increments, `CTRL_REG2.IF_ADD_INC`, set by default and kept set).
//!
//! Pressure is a 24-bit two's complement in 1/4096 hPa, temperature a 16-bit two's complement in
//! 1/100 °C (datasheet §9.18–9.21). The part is factory-calibrated on chip; there is nothing to read.
//!
//! Invariants: no panic on any register content; a timeout forgets the set-up so the next read sets
//! the sensor up again.

use super::{read_u8, write_u8, Error};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use rackwatch_core::wire::Lattice;

/// The address with SA0 high, as wired on the B-L475E-IOT01A.
pub const ADDRESS: u8 = 0x5D;
/// The address with SA0 low.
pub const ADDRESS_SA0_LOW: u8 = 0x5C;
/// `WHO_AM_I` of an LPS22HB.
pub const DEVICE_ID: u8 = 0xB1;
/// Status polls before a conversion counts as timed out.
pub const MAX_POLLS: u32 = 20;
/// Milliseconds between two status polls (a one-shot conversion takes at most about 40 ms).
pub const POLL_MS: u32 = 5;

/// Register addresses.
pub mod reg {
    /// Device identification, reads [`DEVICE_ID`](super::DEVICE_ID).
    pub const WHO_AM_I: u8 = 0x0F;
    /// Output data rate, low-pass filter, block data update.
    pub const CTRL_REG1: u8 = 0x10;
    /// Boot, FIFO, address auto-increment, software reset, one-shot.
    pub const CTRL_REG2: u8 = 0x11;
    /// `T_DA` (bit 1) and `P_DA` (bit 0): new data available.
    pub const STATUS: u8 = 0x27;
    /// First of `PRESS_OUT_XL/L/H`, `TEMP_OUT_L/H`.
    pub const PRESS_OUT_XL: u8 = 0x28;
}

/// `CTRL_REG1`: one-shot (`ODR = 000`), block data update.
pub const CTRL_REG1_ONE_SHOT_MODE: u8 = 0x02;
/// `CTRL_REG2`: keep address auto-increment (its reset value) and start one conversion.
pub const CTRL_REG2_ONE_SHOT: u8 = 0x10 | 0x01;
const STATUS_BOTH_READY: u8 = 0x03;

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Pressure, hPa.
    pub pressure_hpa: f32,
    /// Temperature of the sensor die, °C.
    pub temperature_c: f32,
}

impl Measurement {
    /// Decodes the five output registers `PRESS_OUT_XL` to `TEMP_OUT_H`.
    pub fn from_registers(out: [u8; 5]) -> Measurement {
        let [p_xl, p_l, p_h, t_l, t_h] = out;
        // Sign-extend the 24-bit value through the top byte of an i32.
        let pressure = i32::from_le_bytes([0, p_xl, p_l, p_h]) >> 8;
        Measurement {
            pressure_hpa: pressure_hpa(pressure),
            temperature_c: temperature_c(i16::from_le_bytes([t_l, t_h])),
        }
    }
}

/// Pressure steps: 1/4096 hPa per count, from 0.
pub const PRESSURE_LATTICE: Lattice = Lattice {
    offset: 0.0,
    step: 1.0 / 4096.0,
};
/// Temperature steps: 1/100 °C per count, from 0.
pub const TEMPERATURE_LATTICE: Lattice = Lattice {
    offset: 0.0,
    step: 0.01,
};
/// The pressure register's range: 24 bits, two's complement.
const PRESSURE_COUNTS: core::ops::RangeInclusive<i32> = -(1 << 23)..=(1 << 23) - 1;

/// Pressure in hPa for a sign-extended 24-bit `PRESS_OUT`.
pub fn pressure_hpa(raw: i32) -> f32 {
    raw as f32 / 4096.0
}

/// Die temperature in °C for a raw `TEMP_OUT`.
pub fn temperature_c(raw: i16) -> f32 {
    f32::from(raw) / 100.0
}

/// The `PRESS_OUT` the part outputs at `hpa`: the nearest count, saturated to 24 bits (NaN gives
/// 0). The inverse of [`pressure_hpa`], for a simulated part.
pub fn pressure_counts(hpa: f32) -> i32 {
    let counts = libm::roundf(hpa * 4096.0);
    if counts.is_nan() {
        return 0;
    }
    // `as` saturates to i32 first; the clamp then keeps the register's 24 bits.
    (counts as i32).clamp(*PRESSURE_COUNTS.start(), *PRESSURE_COUNTS.end())
}

/// An LPS22HB on a bus.
#[derive(Debug, Clone)]
pub struct Lps22hb {
    address: u8,
    configured: bool,
}

impl Lps22hb {
    /// A driver for the sensor at `address` ([`ADDRESS`] or [`ADDRESS_SA0_LOW`]), not yet set up.
    pub const fn new(address: u8) -> Lps22hb {
        Lps22hb {
            address,
            configured: false,
        }
    }

    /// The sensor was set up and has not timed out since.
    pub const fn is_configured(&self) -> bool {
        self.configured
    }

    /// Checks `WHO_AM_I` and puts the sensor in one-shot mode.
    pub fn init<I: I2c>(&mut self, i2c: &mut I) -> Result<(), Error<I::Error>> {
        self.configured = false;
        let id = read_u8(i2c, self.address, reg::WHO_AM_I)?;
        if id != DEVICE_ID {
            return Err(Error::WrongDevice {
                found: u16::from(id),
            });
        }
        write_u8(i2c, self.address, reg::CTRL_REG1, CTRL_REG1_ONE_SHOT_MODE)?;
        self.configured = true;
        Ok(())
    }

    /// Takes one measurement, setting the sensor up first if it is not.
    pub fn read<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Measurement, Error<I::Error>> {
        if !self.configured {
            self.init(i2c)?;
        }
        write_u8(i2c, self.address, reg::CTRL_REG2, CTRL_REG2_ONE_SHOT)?;
        let mut ready = false;
        for _ in 0..MAX_POLLS {
            delay.delay_ms(POLL_MS);
            if read_u8(i2c, self.address, reg::STATUS)? & STATUS_BOTH_READY == STATUS_BOTH_READY {
                ready = true;
                break;
            }
        }
        if !ready {
            self.configured = false;
            return Err(Error::Timeout);
        }
        let mut out = [0u8; 5];
        i2c.write_read(self.address, &[reg::PRESS_OUT_XL], &mut out)
            .map_err(Error::Bus)?;
        Ok(Measurement::from_registers(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{BusErrorKind, ErrorKind};
    use embedded_hal::i2c::ErrorKind as BusKind;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    #[test]
    fn output_registers_decode_with_sign_extension() {
        // 1013.25 hPa = 4150272 / 4096 = 0x3F5400; 23.45 °C = 2345 = 0x0929.
        let m = Measurement::from_registers([0x00, 0x54, 0x3F, 0x29, 0x09]);
        assert_eq!(m.pressure_hpa, 1013.25);
        assert_eq!(m.temperature_c, 23.45);
        let negative = Measurement::from_registers([0xFF, 0xFF, 0xFF, 0x9C, 0xFF]);
        assert_eq!(negative.pressure_hpa, -1.0 / 4096.0);
        assert_eq!(negative.temperature_c, -1.0);
    }

    #[test]
    fn pressure_counts_invert_the_conversion_and_saturate_at_24_bits() {
        for raw in [-(1 << 23), -1, 0, 1, 4_150_272, (1 << 23) - 1] {
            assert_eq!(pressure_counts(pressure_hpa(raw)), raw);
        }
        // 1013.25 hPa is 4 f32 ulps a count: a quarter count above rounds down.
        assert_eq!(pressure_counts(1013.25 + 0.25 / 4096.0), 4_150_272);
        assert_eq!(pressure_counts(1.0e9), (1 << 23) - 1);
        assert_eq!(pressure_counts(-1.0e9), -(1 << 23));
        assert_eq!(pressure_counts(f32::NAN), 0);
    }

    #[test]
    fn set_up_then_one_shot_polls_and_reads() {
        let mut i2c = Mock::new(&[
            T::write_read(ADDRESS, vec![0x0F], vec![0xB1]),
            T::write(ADDRESS, vec![0x10, 0x02]),
            T::write(ADDRESS, vec![0x11, 0x11]),
            T::write_read(ADDRESS, vec![0x27], vec![0x01]),
            T::write_read(ADDRESS, vec![0x27], vec![0x03]),
            T::write_read(ADDRESS, vec![0x28], vec![0x00, 0x54, 0x3F, 0x29, 0x09]),
        ]);
        let mut sensor = Lps22hb::new(ADDRESS);
        let m = sensor.read(&mut i2c, &mut NoopDelay).unwrap();
        assert_eq!((m.pressure_hpa, m.temperature_c), (1013.25, 23.45));
        assert!(sensor.is_configured());
        i2c.done();
    }

    #[test]
    fn wrong_device_bus_error_and_timeout_are_typed() {
        let mut expected = vec![
            T::write_read(ADDRESS, vec![0x0F], vec![0xBC]),
            T::write_read(ADDRESS, vec![0x0F], vec![0]).with_error(BusKind::Bus),
            T::write_read(ADDRESS, vec![0x0F], vec![0xB1]),
            T::write(ADDRESS, vec![0x10, 0x02]),
            T::write(ADDRESS, vec![0x11, 0x11]),
        ];
        expected.extend((0..MAX_POLLS).map(|_| T::write_read(ADDRESS, vec![0x27], vec![0x00])));
        let mut i2c = Mock::new(&expected);
        let mut sensor = Lps22hb::new(ADDRESS);
        let kinds: Vec<_> = (0..3)
            .map(|_| sensor.read(&mut i2c, &mut NoopDelay).unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::WrongDevice { found: 0xBC },
                ErrorKind::Bus(BusErrorKind::Bus),
                ErrorKind::Timeout
            ]
        );
        assert!(!sensor.is_configured());
        i2c.done();
    }
}
