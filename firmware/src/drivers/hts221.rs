//! ST HTS221 capacitive humidity and temperature sensor (datasheet DocID026333, rev 4), on the
//! B-L475E-IOT01A's I2C2 at address `0x5F`.
//!
//! The driver runs the sensor in one-shot mode: each [`Hts221::read`] starts a conversion
//! (`CTRL_REG2.ONE_SHOT`), polls `STATUS_REG` until both values are ready (at most
//! [`MAX_POLLS`] × [`POLL_MS`] ms), then reads the four output bytes. Between reads the sensor
//! is idle, and the node's schedule alone decides when it measures.
//!
//! Every part has its own factory calibration: two temperature points (`T0_degC`, `T1_degC` with
//! their raw outputs `T0_OUT`, `T1_OUT`) and two humidity points, in registers `0x30` to `0x3F`.
//! [`Hts221::init`] reads them once; values are the linear interpolation through the two points
//! (datasheet §8, application note TN1218). Humidity is clamped to 0–100 %, as TN1218 says.
//!
//! Invariants: no panic on any register content; two equal calibration points are
//! [`Error::BadCalibration`], never a division by zero; a timeout forgets the set-up, so the next
//! read sets the sensor up again (it may have been power-cycled).

use super::{read_u8, write_u8, Error};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use rackwatch_core::wire::Lattice;

/// The sensor's fixed I2C address (7-bit).
pub const ADDRESS: u8 = 0x5F;
/// `WHO_AM_I` of an HTS221.
pub const DEVICE_ID: u8 = 0xBC;
/// Status polls before a conversion counts as timed out.
pub const MAX_POLLS: u32 = 20;
/// Milliseconds between two status polls. With the default averaging (16 temperature, 32
/// humidity samples) a one-shot conversion takes well under the 20 × 5 ms bound.
pub const POLL_MS: u32 = 5;

/// Register addresses.
pub mod reg {
    /// Device identification, reads [`DEVICE_ID`](super::DEVICE_ID).
    pub const WHO_AM_I: u8 = 0x0F;
    /// Power-down, block data update, output data rate.
    pub const CTRL_REG1: u8 = 0x20;
    /// Boot, heater, one-shot.
    pub const CTRL_REG2: u8 = 0x21;
    /// `H_DA` (bit 1) and `T_DA` (bit 0): new data available.
    pub const STATUS_REG: u8 = 0x27;
    /// First of `HUMIDITY_OUT_L/H`, `TEMP_OUT_L/H`.
    pub const HUMIDITY_OUT_L: u8 = 0x28;
    /// First of the 16 calibration registers.
    pub const CALIB_0: u8 = 0x30;
    /// Set in the sub-address to read several registers in one transaction.
    pub const AUTO_INCREMENT: u8 = 0x80;
}

/// `CTRL_REG1`: active (`PD`), block data update (`BDU`), output data rate "one-shot".
pub const CTRL_REG1_ONE_SHOT_MODE: u8 = 0x80 | 0x04;
/// `CTRL_REG2`: start one conversion.
pub const CTRL_REG2_ONE_SHOT: u8 = 0x01;
const STATUS_BOTH_READY: u8 = 0x03;

/// The factory calibration, decoded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    t0_degc: f32,
    t1_degc: f32,
    t0_out: i16,
    t1_out: i16,
    h0_rh: f32,
    h1_rh: f32,
    h0_t0_out: i16,
    h1_t0_out: i16,
}

impl Calibration {
    /// Decodes registers `0x30` to `0x3F`; `None` if the two points of either line coincide.
    pub const fn from_registers(r: &[u8; 16]) -> Option<Calibration> {
        let msb = r[5];
        let t0_x8 = r[2] as u16 | ((msb & 0x03) as u16) << 8;
        let t1_x8 = r[3] as u16 | (((msb >> 2) & 0x03) as u16) << 8;
        let calibration = Calibration {
            h0_rh: r[0] as f32 / 2.0,
            h1_rh: r[1] as f32 / 2.0,
            t0_degc: t0_x8 as f32 / 8.0,
            t1_degc: t1_x8 as f32 / 8.0,
            h0_t0_out: i16_at(r, 6),
            h1_t0_out: i16_at(r, 10),
            t0_out: i16_at(r, 12),
            t1_out: i16_at(r, 14),
        };
        if calibration.t0_out != calibration.t1_out
            && calibration.h0_t0_out != calibration.h1_t0_out
        {
            Some(calibration)
        } else {
            None
        }
    }

    /// Temperature in °C for a raw `TEMP_OUT`.
    pub fn temperature(&self, raw: i16) -> f32 {
        self.temperature_line().at(raw)
    }

    /// Relative humidity in %, clamped to 0–100, for a raw `HUMIDITY_OUT`.
    pub fn humidity(&self, raw: i16) -> f32 {
        self.humidity_line().at(raw).clamp(0.0, 100.0)
    }

    /// The `TEMP_OUT` this part outputs at `degc`: the nearest count, saturated to the register.
    /// The inverse of [`temperature`](Self::temperature), for a simulated part.
    pub fn temperature_counts(&self, degc: f32) -> i16 {
        self.temperature_line().counts(degc)
    }

    /// The `HUMIDITY_OUT` this part outputs at `rh` %: the nearest count, saturated to the
    /// register. The inverse of [`humidity`](Self::humidity), for a simulated part.
    pub fn humidity_counts(&self, rh: f32) -> i16 {
        self.humidity_line().counts(rh)
    }

    /// The temperatures this part can report: `offset + n × step` °C for integer `n`.
    pub fn temperature_lattice(&self) -> Lattice {
        self.temperature_line().lattice()
    }

    /// The humidities this part can report, `offset + n × step` % (0 % and 100 % where clamped).
    pub fn humidity_lattice(&self) -> Lattice {
        self.humidity_line().lattice()
    }

    const fn temperature_line(&self) -> Line {
        Line {
            x0: self.t0_out,
            y0: self.t0_degc,
            x1: self.t1_out,
            y1: self.t1_degc,
        }
    }

    const fn humidity_line(&self) -> Line {
        Line {
            x0: self.h0_t0_out,
            y0: self.h0_rh,
            x1: self.h1_t0_out,
            y1: self.h1_rh,
        }
    }
}

const fn i16_at(r: &[u8; 16], i: usize) -> i16 {
    i16::from_le_bytes([r[i], r[i + 1]])
}

/// A calibration line through `(x0, y0)` and `(x1, y1)`, `x0 != x1` (checked by
/// [`Calibration::from_registers`]).
#[derive(Debug, Clone, Copy)]
struct Line {
    x0: i16,
    y0: f32,
    x1: i16,
    y1: f32,
}

impl Line {
    fn dx(&self) -> f32 {
        (i32::from(self.x1) - i32::from(self.x0)) as f32
    }

    /// The line at count `x`: the one conversion every reading of this part goes through.
    fn at(&self, x: i16) -> f32 {
        self.y0 + (i32::from(x) - i32::from(self.x0)) as f32 * (self.y1 - self.y0) / self.dx()
    }

    /// The count nearest to `y` on the line, saturated to i16 (NaN gives `x0`).
    fn counts(&self, y: f32) -> i16 {
        let from_x0 = libm::roundf((y - self.y0) * self.dx() / (self.y1 - self.y0));
        let x = f32::from(self.x0) + from_x0;
        if x.is_nan() {
            self.x0
        } else {
            // `as` saturates: a value beyond the register's range reads as its end.
            x as i16
        }
    }

    /// `(y0, (y1 − y0) / dx)`: counted from `x0`, the conversion's steps. The codec's lattice
    /// value at `n` (f64, rounded once) is within an ulp of [`Line::at`]`(x0 + n)`, because the
    /// offset is `y0` itself and only the small term `n × step` rounds.
    fn lattice(&self) -> Lattice {
        Lattice {
            offset: self.y0,
            step: (self.y1 - self.y0) / self.dx(),
        }
    }
}

/// One measurement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measurement {
    /// Temperature, °C.
    pub temperature_c: f32,
    /// Relative humidity, % (0–100).
    pub humidity_pct: f32,
}

/// An HTS221 on a bus. Holds the address and, once set up, the calibration.
#[derive(Debug, Clone)]
pub struct Hts221 {
    address: u8,
    calibration: Option<Calibration>,
}

impl Default for Hts221 {
    fn default() -> Self {
        Self::new()
    }
}

impl Hts221 {
    /// A driver for the sensor at [`ADDRESS`], not yet set up.
    pub const fn new() -> Hts221 {
        Hts221 {
            address: ADDRESS,
            calibration: None,
        }
    }

    /// The calibration read by the last successful [`init`](Self::init).
    pub const fn calibration(&self) -> Option<&Calibration> {
        self.calibration.as_ref()
    }

    /// Checks `WHO_AM_I`, reads the calibration and puts the sensor in one-shot mode.
    pub fn init<I: I2c>(&mut self, i2c: &mut I) -> Result<(), Error<I::Error>> {
        self.calibration = None;
        let id = read_u8(i2c, self.address, reg::WHO_AM_I)?;
        if id != DEVICE_ID {
            return Err(Error::WrongDevice {
                found: u16::from(id),
            });
        }
        let mut registers = [0u8; 16];
        i2c.write_read(
            self.address,
            &[reg::CALIB_0 | reg::AUTO_INCREMENT],
            &mut registers,
        )
        .map_err(Error::Bus)?;
        let calibration = Calibration::from_registers(&registers).ok_or(Error::BadCalibration)?;
        write_u8(i2c, self.address, reg::CTRL_REG1, CTRL_REG1_ONE_SHOT_MODE)?;
        self.calibration = Some(calibration);
        Ok(())
    }

    /// Takes one measurement, setting the sensor up first if it is not.
    pub fn read<I: I2c, D: DelayNs>(
        &mut self,
        i2c: &mut I,
        delay: &mut D,
    ) -> Result<Measurement, Error<I::Error>> {
        let calibration = match self.calibration {
            Some(calibration) => calibration,
            None => {
                self.init(i2c)?;
                self.calibration.ok_or(Error::BadCalibration)?
            }
        };
        write_u8(i2c, self.address, reg::CTRL_REG2, CTRL_REG2_ONE_SHOT)?;
        let mut ready = false;
        for _ in 0..MAX_POLLS {
            delay.delay_ms(POLL_MS);
            if read_u8(i2c, self.address, reg::STATUS_REG)? & STATUS_BOTH_READY == STATUS_BOTH_READY
            {
                ready = true;
                break;
            }
        }
        if !ready {
            self.calibration = None;
            return Err(Error::Timeout);
        }
        let mut out = [0u8; 4];
        i2c.write_read(
            self.address,
            &[reg::HUMIDITY_OUT_L | reg::AUTO_INCREMENT],
            &mut out,
        )
        .map_err(Error::Bus)?;
        let [h_l, h_h, t_l, t_h] = out;
        Ok(Measurement {
            temperature_c: calibration.temperature(i16::from_le_bytes([t_l, t_h])),
            humidity_pct: calibration.humidity(i16::from_le_bytes([h_l, h_h])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::ErrorKind;
    use embedded_hal::i2c::ErrorKind as BusKind;
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    /// T0 = 10.0 °C at 300, T1 = 40.0 °C at 3300 (T1_degC_x8 = 320 needs the MSB register);
    /// H0 = 20 % at -2000, H1 = 80 % at 4000.
    const CALIB: [u8; 16] = [
        40, 160, 80, 0x40, 0x00, 0x04, 0x30, 0xF8, 0, 0, 0xA0, 0x0F, 0x2C, 0x01, 0xE4, 0x0C,
    ];

    fn init_transactions() -> Vec<T> {
        vec![
            T::write_read(ADDRESS, vec![0x0F], vec![0xBC]),
            T::write_read(ADDRESS, vec![0xB0], CALIB.to_vec()),
            T::write(ADDRESS, vec![0x20, 0x84]),
        ]
    }

    #[test]
    fn calibration_interpolates_both_lines_and_clamps_humidity() {
        let c = Calibration::from_registers(&CALIB).unwrap();
        assert_eq!(c.temperature(300), 10.0);
        assert_eq!(c.temperature(3300), 40.0);
        assert_eq!(c.temperature(1800), 25.0);
        assert_eq!(c.temperature(-1200), -5.0);
        assert_eq!(c.humidity(1000), 50.0);
        assert_eq!(c.humidity(i16::MAX), 100.0);
        assert_eq!(c.humidity(i16::MIN), 0.0);
    }

    #[test]
    fn counts_invert_the_conversion_and_saturate_at_the_register() {
        let c = Calibration::from_registers(&CALIB).unwrap();
        for raw in i16::MIN..=i16::MAX {
            assert_eq!(c.temperature_counts(c.temperature(raw)), raw, "{raw}");
            let rh = c.humidity(raw);
            if rh > 0.0 && rh < 100.0 {
                assert_eq!(c.humidity_counts(rh), raw, "{raw}");
            }
        }
        // Half a step either side of a count rounds to it; far out of range saturates.
        assert_eq!(c.temperature_counts(25.0 + 0.004), 1800);
        assert_eq!(c.temperature_counts(25.0 - 0.004), 1800);
        assert_eq!(c.temperature_counts(1.0e6), i16::MAX);
        assert_eq!(c.temperature_counts(f32::NEG_INFINITY), i16::MIN);
        assert_eq!(c.temperature_counts(f32::NAN), 300);
        assert_eq!(
            c.temperature_lattice(),
            Lattice {
                offset: 10.0,
                step: 0.01
            }
        );
        assert_eq!(
            c.humidity_lattice(),
            Lattice {
                offset: 20.0,
                step: 0.01
            }
        );
    }

    #[test]
    fn equal_calibration_points_are_refused() {
        let mut flat = CALIB;
        flat[14..16].copy_from_slice(&CALIB[12..14]);
        assert_eq!(Calibration::from_registers(&flat), None);
    }

    #[test]
    fn first_read_sets_up_then_one_shot_polls_and_reads() {
        let mut expected = init_transactions();
        expected.extend([
            T::write(ADDRESS, vec![0x21, 0x01]),
            T::write_read(ADDRESS, vec![0x27], vec![0x01]), // temperature only: not yet
            T::write_read(ADDRESS, vec![0x27], vec![0x03]),
            T::write_read(ADDRESS, vec![0xA8], vec![0xE8, 0x03, 0x08, 0x07]),
            // The second read goes straight to the conversion.
            T::write(ADDRESS, vec![0x21, 0x01]),
            T::write_read(ADDRESS, vec![0x27], vec![0x03]),
            T::write_read(ADDRESS, vec![0xA8], vec![0xE8, 0x03, 0x2C, 0x01]),
        ]);
        let mut i2c = Mock::new(&expected);
        let mut sensor = Hts221::new();
        let m = sensor.read(&mut i2c, &mut NoopDelay).unwrap();
        assert_eq!(
            m,
            Measurement {
                temperature_c: 25.0,
                humidity_pct: 50.0
            }
        );
        let m = sensor.read(&mut i2c, &mut NoopDelay).unwrap();
        assert_eq!(m.temperature_c, 10.0);
        i2c.done();
    }

    #[test]
    fn wrong_id_is_reported_and_nothing_else_is_sent() {
        let mut i2c = Mock::new(&[T::write_read(ADDRESS, vec![0x0F], vec![0xB1])]);
        let err = Hts221::new().read(&mut i2c, &mut NoopDelay).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongDevice { found: 0xB1 });
        i2c.done();
    }

    #[test]
    fn bus_errors_are_typed_and_the_next_read_recovers() {
        let mut expected = vec![T::write_read(ADDRESS, vec![0x0F], vec![0x00]).with_error(
            BusKind::NoAcknowledge(embedded_hal::i2c::NoAcknowledgeSource::Address),
        )];
        expected.extend(init_transactions());
        expected.extend([
            T::write(ADDRESS, vec![0x21, 0x01]),
            T::write_read(ADDRESS, vec![0x27], vec![0x03]),
            T::write_read(ADDRESS, vec![0xA8], vec![0; 4]).with_error(BusKind::ArbitrationLoss),
        ]);
        let mut i2c = Mock::new(&expected);
        let mut sensor = Hts221::new();
        let err = sensor.read(&mut i2c, &mut NoopDelay).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Bus(crate::drivers::BusErrorKind::NoAcknowledge)
        );
        assert!(sensor.calibration().is_none());
        let err = sensor.read(&mut i2c, &mut NoopDelay).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Bus(crate::drivers::BusErrorKind::ArbitrationLoss)
        );
        // A failed data read keeps the calibration: the sensor is still set up.
        assert!(sensor.calibration().is_some());
        i2c.done();
    }

    #[test]
    fn a_conversion_that_never_finishes_times_out_and_forgets_the_set_up() {
        let mut expected = init_transactions();
        expected.push(T::write(ADDRESS, vec![0x21, 0x01]));
        for _ in 0..MAX_POLLS {
            expected.push(T::write_read(ADDRESS, vec![0x27], vec![0x02]));
        }
        let mut i2c = Mock::new(&expected);
        let mut sensor = Hts221::new();
        assert_eq!(sensor.read(&mut i2c, &mut NoopDelay), Err(Error::Timeout));
        assert!(sensor.calibration().is_none());
        i2c.done();
    }

    #[test]
    fn bad_calibration_is_an_error_not_a_division_by_zero() {
        let mut flat = CALIB;
        flat[10..12].copy_from_slice(&CALIB[6..8]);
        let mut i2c = Mock::new(&[
            T::write_read(ADDRESS, vec![0x0F], vec![0xBC]),
            T::write_read(ADDRESS, vec![0xB0], flat.to_vec()),
        ]);
        assert_eq!(
            Hts221::new().read(&mut i2c, &mut NoopDelay),
            Err(Error::BadCalibration)
        );
        i2c.done();
    }
}
