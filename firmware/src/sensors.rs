//! Sensor sets: what a node samples, sensor by sensor, each on its own period.
//!
//! A [`SensorSet`] is a list of sensors (the schedule's slots) and the metrics they report. The node
//! asks it for the metric descriptors at boot and calls [`SensorSet::sample`] for each sensor when
//! its period comes due. Two sets exist:
//! - [`BoardSensors`]: the real board, drivers from [`crate::drivers`] over two embedded-hal 1.0
//!   buses (the on-board I2C2 with the HTS221 and LPS22HB, the Arduino header's I2C1 with the
//!   optional SHT4x and INA226 add-ons);
//! - [`SimSensorSet`]: the deterministic simulated rack of [`crate::sim`], for QEMU and host tests.
//!
//! Invariants: a failed sensor is a [`SensorFault`] naming every metric it would have reported,
//! never a panic and never a made-up value; metric ids are unique within a set and listed in id
//! order; a set reports at most [`MAX_SENSORS`] sensors and [`MAX_VALUES_PER_SENSOR`] values per
//! sample.

use crate::drivers::{hts221::Hts221, ina226::Ina226, lps22hb, sht4x::Sht4x};
use crate::drivers::{BusErrorKind, ErrorKind};
use crate::sim::{SimMetric, SimSensors};
use embedded_hal::delay::DelayNs;
use embedded_hal::i2c::I2c;
use rackwatch_core::wire::Lattice;

/// Most sensors (schedule slots) a set may have.
pub const MAX_SENSORS: usize = 8;
/// Most values one sensor reports per sample.
pub const MAX_VALUES_PER_SENSOR: usize = 4;

/// A metric as the node announces it in its Hello.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricInfo {
    /// The id readings and transitions carry.
    pub id: u16,
    /// Name (at most 24 bytes), e.g. `inlet_temperature`.
    pub name: &'static str,
    /// Unit (at most 8 bytes), e.g. `degC`.
    pub unit: &'static str,
    /// The values' lattice when the driver converts integer counts (announced in the Hello).
    pub lattice: Option<Lattice>,
}

/// One value a sensor reported.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Metric id.
    pub metric: u16,
    /// The value, in the metric's unit.
    pub value: f32,
}

/// The values of one sample of one sensor.
pub type Samples = heapless::Vec<Sample, MAX_VALUES_PER_SENSOR>;

/// A sensor that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorFault {
    /// The metrics the sensor would have reported.
    pub metrics: &'static [u16],
    /// What went wrong.
    pub error: ErrorKind,
}

/// What a node samples. See the [module docs](self).
pub trait SensorSet {
    /// The `index`-th metric in id order, `None` past the last.
    fn metric(&self, index: usize) -> Option<MetricInfo>;
    /// Sensors, that is schedule slots (at most [`MAX_SENSORS`]).
    fn sensor_count(&self) -> usize;
    /// Milliseconds between two samples of sensor `sensor` (at least 1).
    fn period_ms(&self, sensor: usize) -> u32;
    /// Samples sensor `sensor` at `now_ms` (ms since boot).
    fn sample(&mut self, sensor: usize, now_ms: u64) -> Result<Samples, SensorFault>;
}

/// Metric ids of the real board. Ids 0 to 3 are those of the simulated rack ([`SimMetric::id`]), so
/// rules written for one apply to the other.
pub mod ids {
    /// HTS221 temperature, °C.
    pub const INLET_TEMPERATURE: u16 = 0;
    /// HTS221 relative humidity, %.
    pub const HUMIDITY: u16 = 1;
    /// LPS22HB pressure, hPa.
    pub const PRESSURE: u16 = 2;
    /// INA226 power, W.
    pub const POWER: u16 = 3;
    /// LPS22HB die temperature, °C.
    pub const BOARD_TEMPERATURE: u16 = 4;
    /// SHT4x temperature, °C (mounted at the rack's exhaust).
    pub const OUTLET_TEMPERATURE: u16 = 5;
    /// SHT4x relative humidity, %.
    pub const OUTLET_HUMIDITY: u16 = 6;
    /// INA226 bus voltage, V.
    pub const BUS_VOLTAGE: u16 = 7;
    /// INA226 current, A.
    pub const CURRENT: u16 = 8;
}

/// Every metric the real board can report, in id order.
pub const BOARD_METRICS: [MetricInfo; 9] = [
    metric(ids::INLET_TEMPERATURE, "inlet_temperature", "degC"),
    metric(ids::HUMIDITY, "humidity", "%"),
    metric(ids::PRESSURE, "pressure", "hPa"),
    metric(ids::POWER, "power", "W"),
    metric(ids::BOARD_TEMPERATURE, "board_temperature", "degC"),
    metric(ids::OUTLET_TEMPERATURE, "outlet_temperature", "degC"),
    metric(ids::OUTLET_HUMIDITY, "outlet_humidity", "%"),
    metric(ids::BUS_VOLTAGE, "bus_voltage", "V"),
    metric(ids::CURRENT, "current", "A"),
];

const fn metric(id: u16, name: &'static str, unit: &'static str) -> MetricInfo {
    MetricInfo {
        id,
        name,
        unit,
        lattice: None,
    }
}

/// The board's sensors; each reports the metrics listed with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BoardSensor {
    /// HTS221 on the on-board bus: inlet temperature, humidity.
    Hts221,
    /// LPS22HB on the on-board bus: pressure, board temperature.
    Lps22hb,
    /// SHT4x on the add-on bus: outlet temperature, outlet humidity.
    Sht4x,
    /// INA226 on the add-on bus: power, bus voltage, current.
    Ina226,
}

impl BoardSensor {
    /// The metric ids this sensor reports.
    pub const fn metrics(self) -> &'static [u16] {
        match self {
            BoardSensor::Hts221 => &[ids::INLET_TEMPERATURE, ids::HUMIDITY],
            BoardSensor::Lps22hb => &[ids::PRESSURE, ids::BOARD_TEMPERATURE],
            BoardSensor::Sht4x => &[ids::OUTLET_TEMPERATURE, ids::OUTLET_HUMIDITY],
            BoardSensor::Ina226 => &[ids::POWER, ids::BUS_VOLTAGE, ids::CURRENT],
        }
    }
}

/// Sampling periods of the board's sensors, ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardPeriods {
    /// HTS221.
    pub hts221_ms: u32,
    /// LPS22HB.
    pub lps22hb_ms: u32,
    /// SHT4x.
    pub sht4x_ms: u32,
    /// INA226.
    pub ina226_ms: u32,
}

impl Default for BoardPeriods {
    /// Every 10 s; power every 5 s.
    fn default() -> Self {
        BoardPeriods {
            hts221_ms: 10_000,
            lps22hb_ms: 10_000,
            sht4x_ms: 10_000,
            ina226_ms: 5_000,
        }
    }
}

/// The real board's sensors over two I2C buses. The on-board sensors are always there; the add-ons
/// only if given to [`BoardSensors::new`]. Each sensor's errors are counted
/// ([`BoardSensors::errors`]) and the last one kept ([`BoardSensors::last_error`]).
#[derive(Debug)]
pub struct BoardSensors<B1, B2, D> {
    onboard: B1,
    addon: B2,
    delay: D,
    hts221: Hts221,
    lps22hb: lps22hb::Lps22hb,
    sht4x: Option<Sht4x>,
    ina226: Option<Ina226>,
    periods: BoardPeriods,
    slots: heapless::Vec<BoardSensor, 4>,
    errors: [u32; 4],
    last_error: [Option<ErrorKind>; 4],
}

impl<B1: I2c, B2: I2c, D: DelayNs> BoardSensors<B1, B2, D> {
    /// The board's sensors: HTS221 and LPS22HB on `onboard`, and whichever add-ons are fitted on
    /// `addon`.
    pub fn new(
        onboard: B1,
        addon: B2,
        delay: D,
        sht4x: Option<Sht4x>,
        ina226: Option<Ina226>,
        periods: BoardPeriods,
    ) -> Self {
        let mut slots = heapless::Vec::new();
        let fitted = [
            Some(BoardSensor::Hts221),
            Some(BoardSensor::Lps22hb),
            sht4x.as_ref().map(|_| BoardSensor::Sht4x),
            ina226.as_ref().map(|_| BoardSensor::Ina226),
        ];
        for sensor in fitted.into_iter().flatten() {
            // Four candidates, four places: never fails.
            let _ = slots.push(sensor);
        }
        BoardSensors {
            onboard,
            addon,
            delay,
            hts221: Hts221::new(),
            lps22hb: lps22hb::Lps22hb::new(lps22hb::ADDRESS),
            sht4x,
            ina226,
            periods,
            slots,
            errors: [0; 4],
            last_error: [None; 4],
        }
    }

    /// Gives the buses back (the on-board one first).
    pub fn release(self) -> (B1, B2) {
        (self.onboard, self.addon)
    }

    /// The sensor in schedule slot `slot`.
    pub fn sensor(&self, slot: usize) -> Option<BoardSensor> {
        self.slots.get(slot).copied()
    }

    /// Failed reads of `sensor` since boot.
    pub fn errors(&self, sensor: BoardSensor) -> u32 {
        self.errors[sensor as usize]
    }

    /// The last error of `sensor`, if it ever failed.
    pub fn last_error(&self, sensor: BoardSensor) -> Option<ErrorKind> {
        self.last_error[sensor as usize]
    }

    fn fitted(&self, id: u16) -> bool {
        self.slots.iter().any(|s| s.metrics().contains(&id))
    }

    fn read(&mut self, sensor: BoardSensor) -> Result<Samples, ErrorKind> {
        let mut out = Samples::new();
        let mut put = |metric: u16, value: f32| {
            // At most three values per sensor, four places: never fails.
            let _ = out.push(Sample { metric, value });
        };
        match sensor {
            BoardSensor::Hts221 => {
                let m = self
                    .hts221
                    .read(&mut self.onboard, &mut self.delay)
                    .map_err(|e| e.kind())?;
                put(ids::INLET_TEMPERATURE, m.temperature_c);
                put(ids::HUMIDITY, m.humidity_pct);
            }
            BoardSensor::Lps22hb => {
                let m = self
                    .lps22hb
                    .read(&mut self.onboard, &mut self.delay)
                    .map_err(|e| e.kind())?;
                put(ids::PRESSURE, m.pressure_hpa);
                put(ids::BOARD_TEMPERATURE, m.temperature_c);
            }
            BoardSensor::Sht4x => {
                let driver = self.sht4x.as_mut().ok_or(NOT_FITTED)?;
                let m = driver
                    .read(&mut self.addon, &mut self.delay)
                    .map_err(|e| e.kind())?;
                put(ids::OUTLET_TEMPERATURE, m.temperature_c);
                put(ids::OUTLET_HUMIDITY, m.humidity_pct);
            }
            BoardSensor::Ina226 => {
                let driver = self.ina226.as_mut().ok_or(NOT_FITTED)?;
                let m = driver.read(&mut self.addon).map_err(|e| e.kind())?;
                put(ids::POWER, m.power_w);
                put(ids::BUS_VOLTAGE, m.bus_voltage_v);
                put(ids::CURRENT, m.current_a);
            }
        }
        Ok(out)
    }
}

/// What a slot without its sensor would report; slots only hold fitted sensors, so unreachable.
const NOT_FITTED: ErrorKind = ErrorKind::Bus(BusErrorKind::NoAcknowledge);

impl<B1: I2c, B2: I2c, D: DelayNs> SensorSet for BoardSensors<B1, B2, D> {
    fn metric(&self, index: usize) -> Option<MetricInfo> {
        BOARD_METRICS
            .iter()
            .filter(|m| self.fitted(m.id))
            .nth(index)
            .copied()
    }

    fn sensor_count(&self) -> usize {
        self.slots.len()
    }

    fn period_ms(&self, sensor: usize) -> u32 {
        let period = match self.sensor(sensor) {
            Some(BoardSensor::Hts221) => self.periods.hts221_ms,
            Some(BoardSensor::Lps22hb) => self.periods.lps22hb_ms,
            Some(BoardSensor::Sht4x) => self.periods.sht4x_ms,
            Some(BoardSensor::Ina226) => self.periods.ina226_ms,
            None => u32::MAX,
        };
        period.max(1)
    }

    fn sample(&mut self, slot: usize, _now_ms: u64) -> Result<Samples, SensorFault> {
        let Some(sensor) = self.sensor(slot) else {
            return Err(SensorFault {
                metrics: &[],
                error: NOT_FITTED,
            });
        };
        self.read(sensor).map_err(|error| {
            let i = sensor as usize;
            self.errors[i] = self.errors[i].wrapping_add(1);
            self.last_error[i] = Some(error);
            SensorFault {
                metrics: sensor.metrics(),
                error,
            }
        })
    }
}

/// The simulated rack of [`crate::sim`] as a sensor set: one sensor per [`SimMetric`], in
/// [`SimMetric::ALL`] order, all on one period.
///
/// Sensors due at the same time are sampled in slot order, so a host that reads a
/// [`SimSensors`] with the same seed metric by metric in that order gets the same values.
#[derive(Debug, Clone)]
pub struct SimSensorSet {
    sensors: SimSensors,
    period_ms: u32,
}

/// The metric ids of the simulated sensors, one slice per slot.
const SIM_IDS: [[u16; 1]; 4] = [
    [SimMetric::ALL[0].id()],
    [SimMetric::ALL[1].id()],
    [SimMetric::ALL[2].id()],
    [SimMetric::ALL[3].id()],
];

impl SimSensorSet {
    /// The simulated `sensors`, each sampled every `period_ms`.
    pub fn new(sensors: SimSensors, period_ms: u32) -> Self {
        SimSensorSet {
            sensors,
            period_ms: period_ms.max(1),
        }
    }

    /// The simulated sensors.
    pub fn sensors(&self) -> &SimSensors {
        &self.sensors
    }
}

impl SensorSet for SimSensorSet {
    fn metric(&self, index: usize) -> Option<MetricInfo> {
        SimMetric::ALL.get(index).map(|m| MetricInfo {
            id: m.id(),
            name: m.name(),
            unit: m.unit(),
            lattice: None,
        })
    }

    fn sensor_count(&self) -> usize {
        SimMetric::ALL.len()
    }

    fn period_ms(&self, _sensor: usize) -> u32 {
        self.period_ms
    }

    fn sample(&mut self, sensor: usize, now_ms: u64) -> Result<Samples, SensorFault> {
        let (Some(&metric), Some(ids)) = (SimMetric::ALL.get(sensor), SIM_IDS.get(sensor)) else {
            return Err(SensorFault {
                metrics: &[],
                error: NOT_FITTED,
            });
        };
        match self.sensors.read(metric, now_ms) {
            Ok(value) => {
                let mut out = Samples::new();
                let _ = out.push(Sample {
                    metric: metric.id(),
                    value,
                });
                Ok(out)
            }
            // A simulated sensor that stops answering looks like an unacknowledged address.
            Err(_) => Err(SensorFault {
                metrics: ids,
                error: ErrorKind::Bus(BusErrorKind::NoAcknowledge),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::{hts221, ina226, sht4x};
    use crate::sim::Scenario;
    use embedded_hal::i2c::{ErrorKind as BusKind, NoAcknowledgeSource};
    use embedded_hal_mock::eh1::delay::NoopDelay;
    use embedded_hal_mock::eh1::i2c::{Mock, Transaction as T};

    const NACK: BusKind = BusKind::NoAcknowledge(NoAcknowledgeSource::Address);

    #[test]
    fn board_metrics_fit_the_wire_and_are_in_id_order() {
        for (i, m) in BOARD_METRICS.iter().enumerate() {
            assert_eq!(usize::from(m.id), i);
            assert!(m.name.len() <= rackwatch_core::wire::MAX_NAME_LEN);
            assert!(m.unit.len() <= rackwatch_core::wire::MAX_UNIT_LEN);
        }
        for (sim, board) in SimMetric::ALL.iter().zip(&BOARD_METRICS) {
            assert_eq!(
                (sim.id(), sim.name(), sim.unit()),
                (board.id, board.name, board.unit)
            );
        }
    }

    #[test]
    fn only_fitted_sensors_are_scheduled_and_announced() {
        let bare = BoardSensors::new(
            Mock::new(&[]),
            Mock::new(&[]),
            NoopDelay,
            None,
            None,
            BoardPeriods::default(),
        );
        assert_eq!(bare.sensor_count(), 2);
        let announced: Vec<u16> = (0..).map_while(|i| bare.metric(i)).map(|m| m.id).collect();
        assert_eq!(announced, [0, 1, 2, 4]);

        let ina = ina226::Ina226::new(ina226::ADDRESS, 0.002, 0.001).unwrap();
        let full = BoardSensors::new(
            Mock::new(&[]),
            Mock::new(&[]),
            NoopDelay,
            Some(sht4x::Sht4x::new()),
            Some(ina),
            BoardPeriods::default(),
        );
        assert_eq!(full.sensor_count(), 4);
        assert_eq!((0..).map_while(|i| full.metric(i)).count(), 9);
        assert_eq!(full.sensor(3), Some(BoardSensor::Ina226));
        assert_eq!(full.period_ms(3), 5_000);
        for mut bus in [bare.onboard, bare.addon, full.onboard, full.addon] {
            bus.done();
        }
    }

    #[test]
    fn a_failing_bus_is_a_fault_for_each_metric_of_the_sensor_and_is_counted() {
        let onboard = Mock::new(&[
            T::write_read(hts221::ADDRESS, vec![0x0F], vec![0]).with_error(NACK),
            T::write_read(hts221::ADDRESS, vec![0x0F], vec![0]).with_error(NACK),
        ]);
        let addon = Mock::new(&[
            T::write(sht4x::ADDRESS, vec![0xFD]),
            T::read(sht4x::ADDRESS, vec![0x66, 0x66, 0x00, 0x80, 0x00, 0x00]),
        ]);
        let mut set = BoardSensors::new(
            onboard,
            addon,
            NoopDelay,
            Some(sht4x::Sht4x::new()),
            None,
            BoardPeriods::default(),
        );
        let expected = SensorFault {
            metrics: &[ids::INLET_TEMPERATURE, ids::HUMIDITY],
            error: ErrorKind::Bus(BusErrorKind::NoAcknowledge),
        };
        assert_eq!(set.sample(0, 0), Err(expected));
        assert_eq!(set.sample(0, 10_000), Err(expected));
        assert_eq!(set.errors(BoardSensor::Hts221), 2);
        // The SHT4x answered, but with a wrong CRC: a fault, not a value.
        assert_eq!(
            set.sample(2, 0).unwrap_err().error,
            ErrorKind::Crc,
            "slot 2 is the SHT4x"
        );
        assert_eq!(set.last_error(BoardSensor::Sht4x), Some(ErrorKind::Crc));
        assert_eq!(set.errors(BoardSensor::Lps22hb), 0);
        set.onboard.done();
        set.addon.done();
    }

    #[test]
    fn the_simulated_set_reports_what_the_simulation_reads() {
        let mut set =
            SimSensorSet::new(SimSensors::new(9, Scenario::SensorDropout, 20_000), 10_000);
        let mut reference = SimSensors::new(9, Scenario::SensorDropout, 20_000);
        assert_eq!(set.sensor_count(), 4);
        for t in [0u64, 10_000, 20_000, 30_000] {
            for (slot, metric) in SimMetric::ALL.iter().enumerate() {
                match (set.sample(slot, t), reference.read(*metric, t)) {
                    (Ok(samples), Ok(value)) => assert_eq!(
                        samples.as_slice(),
                        [Sample {
                            metric: metric.id(),
                            value
                        }]
                    ),
                    (Err(fault), Err(_)) => assert_eq!(fault.metrics, [metric.id()]),
                    (got, want) => panic!("slot {slot} at {t}: {got:?} vs {want:?}"),
                }
            }
        }
        let _ = hts221::DEVICE_ID;
    }
}
