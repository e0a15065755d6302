//! Sensirion SHT4x temperature and humidity sensor (datasheet "SHT4x", version 6.6), a rack add-on on
//! the Arduino header's I2C1, default address `0x44`.
//!
//! The bus protocol comes from the maintained [`sht4x`] crate (embedded-hal 1.0): a measurement is
//! the one-byte command `0xFD` (high repeatability), a wait of the datasheet's maximum conversion
//! time (8.3 ms, rounded up to 9), and a 6-byte read: temperature MSB, LSB, CRC-8, humidity MSB,
//! LSB, CRC-8 (polynomial `0x31`, initial value `0xFF`). The crate checks both CRCs; a mismatch is
//! [`Error::Crc`], and nothing of that read is used.
//!
//! This adapter lends the crate the shared bus for one measurement and converts the raw words in f32
//! with the datasheet's formulas: `T = -45 + 175 × S_T / 65535` °C and
//! `RH = -6 + 125 × S_RH / 65535` %, cropped to 0–100 % as the datasheet recommends.
//!
//! Invariants: no panic on any response; the sensor needs no set-up, so every read stands alone.

use super::Error;
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use rackwatch_core::wire::Lattice;

/// The address of the SHT40-AD1B and most family members.
pub const ADDRESS: u8 = 0x44;

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Temperature, °C.
    pub temperature_c: f32,
    /// Relative humidity, % (0–100).
    pub humidity_pct: f32,
}

impl Measurement {
    /// Converts the raw words of a measurement.
    pub fn from_raw(temperature: u16, humidity: u16) -> Measurement {
        Measurement {
            temperature_c: temperature_c(temperature),
            humidity_pct: humidity_pct(humidity),
        }
    }
}

/// Temperature steps in °C: `-45 + 175 × n / 65535`.
pub const TEMPERATURE_LATTICE: Lattice = Lattice {
    offset: -45.0,
    step: 175.0 / 65535.0,
};
/// Humidity steps in %: `-6 + 125 × n / 65535` (0 % and 100 % where cropped).
pub const HUMIDITY_LATTICE: Lattice = Lattice {
    offset: -6.0,
    step: 125.0 / 65535.0,
};

/// Temperature in °C for a raw word.
pub fn temperature_c(raw: u16) -> f32 {
    -45.0 + 175.0 * fraction(raw)
}

/// Relative humidity in %, cropped to 0–100, for a raw word.
pub fn humidity_pct(raw: u16) -> f32 {
    (-6.0 + 125.0 * fraction(raw)).clamp(0.0, 100.0)
}

fn fraction(raw: u16) -> f32 {
    f32::from(raw) / 65535.0
}

/// An SHT4x on a bus.
#[derive(Debug, Clone)]
pub struct Sht4x {
    address: sht4x::Address,
}

impl Default for Sht4x {
    fn default() -> Self {
        Self::new()
    }
}

impl Sht4x {
    /// A driver for the sensor at [`ADDRESS`].
    pub const fn new() -> Sht4x {
        Sht4x {
            address: sht4x::Address::Address0x44,
        }
    }

    /// A driver for a sensor at another of the family's addresses.
    pub const fn with_address(address: sht4x::Address) -> Sht4x {
        Sht4x { address }
    }

    /// Takes one high-repeatability measurement.
    pub fn read<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Measurement, Error<I::Error>> {
        let mut device: sht4x::Sht4x<&mut I, D> = sht4x::Sht4x::new_with_address(i2c, self.address);
        match device.measure_raw(sht4x::Precision::High, delay) {
            Ok(raw) => Ok(Measurement::from_raw(raw.temperature, raw.humidity)),
            Err(sht4x::Error::I2c(e)) => Err(Error::Bus(e)),
            // `Crc` and any variant a later version of the crate adds: the data is not to be used.
            Err(_) => Err(Error::Crc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{BusErrorKind, ErrorKind};
    use embedded_hal::i2c::{ErrorKind as BusKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::{CheckedDelay, NoopDelay, Transaction as Wait};
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    /// CRC-8 of the datasheet (§4.4): polynomial 0x31, init 0xFF, no reflection, no final XOR.
    fn crc8(bytes: [u8; 2]) -> u8 {
        let mut crc = 0xFFu8;
        for byte in bytes {
            crc ^= byte;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x31
                } else {
                    crc << 1
                };
            }
        }
        crc
    }

    fn response(temperature: u16, humidity: u16) -> Vec<u8> {
        let (t, h) = (temperature.to_be_bytes(), humidity.to_be_bytes());
        vec![t[0], t[1], crc8(t), h[0], h[1], crc8(h)]
    }

    #[test]
    fn crc_helper_matches_the_datasheet_example() {
        assert_eq!(crc8([0xBE, 0xEF]), 0x92);
    }

    #[test]
    fn measures_with_command_wait_and_read() {
        // 0x6666 / 65535 = 0.4 exactly: 25 °C; 0x8000 ≈ 56.5 %.
        let mut i2c = Mock::new(&[
            T::write(ADDRESS, vec![0xFD]),
            T::read(ADDRESS, response(0x6666, 0x8000)),
        ]);
        let mut delay = CheckedDelay::new(&[Wait::delay_ms(9)]);
        let m = Sht4x::new().read(&mut i2c, &mut delay).unwrap();
        assert!((m.temperature_c - 25.0).abs() < 1e-4, "{m:?}");
        assert!((m.humidity_pct - 56.500_95).abs() < 1e-3, "{m:?}");
        i2c.done();
        delay.done();
    }

    #[test]
    fn humidity_is_cropped_to_the_physical_range() {
        assert_eq!(Measurement::from_raw(0, 0).humidity_pct, 0.0);
        assert_eq!(Measurement::from_raw(0, 0xFFFF).humidity_pct, 100.0);
        assert_eq!(Measurement::from_raw(0xFFFF, 0).temperature_c, 130.0);
    }

    #[test]
    fn a_corrupted_word_is_a_crc_error_for_either_value() {
        let mut bad_temperature = response(0x6666, 0x8000);
        bad_temperature[0] ^= 0x01;
        let mut bad_humidity = response(0x6666, 0x8000);
        bad_humidity[5] ^= 0xFF;
        let mut i2c = Mock::new(&[
            T::write(ADDRESS, vec![0xFD]),
            T::read(ADDRESS, bad_temperature),
            T::write(ADDRESS, vec![0xFD]),
            T::read(ADDRESS, bad_humidity),
        ]);
        let mut sensor = Sht4x::new();
        assert_eq!(sensor.read(&mut i2c, &mut NoopDelay), Err(Error::Crc));
        assert_eq!(sensor.read(&mut i2c, &mut NoopDelay), Err(Error::Crc));
        i2c.done();
    }

    #[test]
    fn bus_errors_on_command_or_read_are_typed() {
        let mut i2c = Mock::new(&[
            T::write(ADDRESS, vec![0xFD])
                .with_error(BusKind::NoAcknowledge(NoAcknowledgeSource::Address)),
            T::write(ADDRESS, vec![0xFD]),
            T::read(ADDRESS, vec![0; 6]).with_error(BusKind::Bus),
        ]);
        let mut sensor = Sht4x::new();
        let kinds: Vec<_> = (0..2)
            .map(|_| sensor.read(&mut i2c, &mut NoopDelay).unwrap_err().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                ErrorKind::Bus(BusErrorKind::NoAcknowledge),
                ErrorKind::Bus(BusErrorKind::Bus)
            ]
        );
        i2c.done();
    }
}
