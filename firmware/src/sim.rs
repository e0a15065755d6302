//! Deterministic simulated sensors: the rack a node would see, with seeded failure scenarios.
//!
//! Used by the `qemu` board binary (QEMU models no I2C sensors for this board) and by the host's
//! simulated nodes, so both produce the same readings for the same seed.
//!
//! A rack plays one [`Scenario`] ([`SimSensors::new`]) or several at once
//! ([`SimSensors::with_scenarios`]: the `qemu` image plays a rising inlet temperature and a stuck
//! humidity sensor together, so one node shows both). Each scenario touches its own metric, and the
//! noise draws do not depend on the scenarios, so adding a scenario never changes the other metrics.
//!
//! Each metric is read by the part the real board reads it with (the ids match
//! [`crate::sensors::ids`]): inlet temperature and humidity by an HTS221 with the fixed calibration
//! [`HTS221`], pressure by the LPS22HB, power by an INA226 set up as the board's ([`INA226`]). The
//! rack's physical quantity is turned into the count that part would output (the nearest count,
//! saturated to its register) and back through the driver's own conversion, so a simulated reading
//! is a value a real rack reports, on the same lattice ([`SimMetric::lattice`]).
//!
//! Invariants: the readings are a pure function of `(seed, scenarios, metric, sample count, time)`;
//! no allocation, no clock (time is passed in), `libm` for every transcendental so the node and the
//! host compute bit-identical values; every reading is its driver's conversion of an integer count.

use crate::drivers::{hts221, ina226, lps22hb};
use rackwatch_core::rng::XorShift64Star;
use rackwatch_core::wire::Lattice;

/// The simulated HTS221's factory calibration, registers `0x30` to `0x3F`: a plausible part with
/// the datasheet's typical sensitivities. Temperature: 20.875 °C at `T0_OUT` = −12 and 39.5 °C at
/// `T1_OUT` = 1153 (0.015 99 °C per count; the datasheet's typical 0.016). Humidity: 33 % at
/// `H0_T0_OUT` = −3912 and 75 % at `H1_T0_OUT` = 6611 (0.003 99 % per count; typical 0.004).
pub const HTS221_CALIBRATION_REGISTERS: [u8; 16] = [
    66,   // H0_rH_x2: 33.0 %
    150,  // H1_rH_x2: 75.0 %
    167,  // T0_degC_x8, low byte: 167 / 8 = 20.875 °C
    0x3C, // T1_degC_x8, low byte: 0x13C / 8 = 39.5 °C
    0x00, // reserved
    0x04, // T1/T0 MSBs: T1's bit 8 set
    0xB8, 0xF0, // H0_T0_OUT = -3912
    0x00, 0x00, // reserved
    0xD3, 0x19, // H1_T0_OUT = 6611
    0xF4, 0xFF, // T0_OUT = -12
    0x81, 0x04, // T1_OUT = 1153
];

/// [`HTS221_CALIBRATION_REGISTERS`] decoded by the driver (at compile time).
pub const HTS221: hts221::Calibration =
    match hts221::Calibration::from_registers(&HTS221_CALIBRATION_REGISTERS) {
        Some(calibration) => calibration,
        None => panic!("the simulated HTS221's calibration points coincide"),
    };

/// The simulated INA226's conversion: the board's 2 mΩ shunt at 1 mA per current count, so 25 mW
/// per power count (the `hw` image's set-up, the datasheet's example).
pub const INA226: ina226::Scale = match ina226::Ina226::new(ina226::ADDRESS, 0.002, 0.001) {
    Ok(device) => device.scale(),
    Err(_) => panic!("the simulated INA226 cannot be calibrated"),
};

/// The metrics a simulated rack node reports, in descriptor order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SimMetric {
    /// Inlet air temperature, °C.
    InletTemperature,
    /// Relative humidity, %.
    Humidity,
    /// Barometric pressure, hPa.
    Pressure,
    /// Rack power draw, W.
    Power,
}

impl SimMetric {
    /// Every metric, in descriptor order (its index is the metric id).
    pub const ALL: [SimMetric; 4] = [
        SimMetric::InletTemperature,
        SimMetric::Humidity,
        SimMetric::Pressure,
        SimMetric::Power,
    ];

    /// The metric's name on the wire and in exports.
    pub const fn name(self) -> &'static str {
        match self {
            SimMetric::InletTemperature => "inlet_temperature",
            SimMetric::Humidity => "humidity",
            SimMetric::Pressure => "pressure",
            SimMetric::Power => "power",
        }
    }

    /// The metric's unit.
    pub const fn unit(self) -> &'static str {
        match self {
            SimMetric::InletTemperature => "degC",
            SimMetric::Humidity => "%",
            SimMetric::Pressure => "hPa",
            SimMetric::Power => "W",
        }
    }

    /// The metric id (its index in [`SimMetric::ALL`]).
    pub const fn id(self) -> u16 {
        self as u16
    }

    /// The values the metric's sensor can report: every reading is `offset + n × step` for an
    /// integer `n`, as its driver computes it.
    pub fn lattice(self) -> Lattice {
        match self {
            SimMetric::InletTemperature => HTS221.temperature_lattice(),
            SimMetric::Humidity => HTS221.humidity_lattice(),
            SimMetric::Pressure => lps22hb::PRESSURE_LATTICE,
            SimMetric::Power => INA226.power_lattice(),
        }
    }

    /// What the metric's sensor reports when the rack's quantity is `physical`: the count its ADC
    /// outputs, through its driver's conversion.
    pub fn measure(self, physical: f32) -> f32 {
        match self {
            SimMetric::InletTemperature => HTS221.temperature(HTS221.temperature_counts(physical)),
            SimMetric::Humidity => HTS221.humidity(HTS221.humidity_counts(physical)),
            SimMetric::Pressure => lps22hb::pressure_hpa(lps22hb::pressure_counts(physical)),
            SimMetric::Power => INA226.power(INA226.power_counts(physical)),
        }
    }
}

/// What goes wrong in the simulated rack, starting at the scenario's onset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Scenario {
    /// Nothing: daily cycles and noise only.
    Nominal,
    /// Inlet temperature climbs 3 °C per hour (a failed CRAC unit upstream).
    RisingInlet,
    /// Power draw creeps up 20 W per hour (fans spinning up against a clogged filter).
    PowerCreep,
    /// The humidity sensor freezes at its last value.
    StuckSensor,
    /// Humidity jumps by 25 points for three samples (a door left open in the rain).
    HumiditySpike,
    /// The temperature sensor stops answering on the bus.
    SensorDropout,
}

impl Scenario {
    /// Every scenario, for round-robin assignment to simulated nodes.
    pub const ALL: [Scenario; 6] = [
        Scenario::RisingInlet,
        Scenario::PowerCreep,
        Scenario::StuckSensor,
        Scenario::HumiditySpike,
        Scenario::SensorDropout,
        Scenario::Nominal,
    ];

    /// The scenario's bit in a [`SimSensors`] scenario set.
    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// A short name for logs and the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Nominal => "nominal",
            Scenario::RisingInlet => "rising-inlet",
            Scenario::PowerCreep => "power-creep",
            Scenario::StuckSensor => "stuck-sensor",
            Scenario::HumiditySpike => "humidity-spike",
            Scenario::SensorDropout => "sensor-dropout",
        }
    }
}

/// The seed of the rack the `qemu` image plays ([`qemu_rack`]).
pub const QEMU_SEED: u64 = 1;
/// When the `qemu` rack's failures start, ms after boot (rack time).
pub const QEMU_ONSET_MS: u64 = 10 * 60 * 1000;
/// How often the `qemu` image reads each simulated sensor, ms (rack time).
pub const QEMU_SAMPLE_PERIOD_MS: u32 = 10_000;

/// The rack the `qemu` image plays: from [`QEMU_ONSET_MS`] on, the inlet temperature rises 3 °C/h and
/// the humidity sensor is stuck. A host reading the same metrics at the same times in the same order
/// gets bit-identical values, which the QEMU end-to-end test checks.
pub fn qemu_rack() -> SimSensors {
    SimSensors::with_scenarios(
        QEMU_SEED,
        &[Scenario::RisingInlet, Scenario::StuckSensor],
        QEMU_ONSET_MS,
    )
}

/// A simulated sensor that did not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SensorTimeout {
    /// The metric whose sensor did not answer.
    pub metric: SimMetric,
}

/// A simulated rack's sensors.
#[derive(Debug, Clone)]
pub struct SimSensors {
    scenario: Scenario,
    /// Every scenario played, one bit each ([`Scenario::bit`]).
    scenarios: u8,
    onset_ms: u64,
    rng: XorShift64Star,
    /// Phase of the daily cycle, per node, so nodes do not move in lockstep.
    phase: f32,
    stuck_humidity: Option<f32>,
    spike_samples_left: u8,
}

const HOUR_MS: f32 = 3_600_000.0;
const DAY_MS: f32 = 24.0 * HOUR_MS;

impl SimSensors {
    /// Sensors for one node: `seed` sets the noise and the daily-cycle phase, `scenario` starts at
    /// `onset_ms`.
    pub fn new(seed: u64, scenario: Scenario, onset_ms: u64) -> Self {
        Self::with_scenarios(seed, &[scenario], onset_ms)
    }

    /// Sensors that play every scenario in `scenarios` from `onset_ms` on. The first is the one
    /// [`scenario`](Self::scenario) reports; an empty list plays [`Scenario::Nominal`].
    pub fn with_scenarios(seed: u64, scenarios: &[Scenario], onset_ms: u64) -> Self {
        let mut sensors = SimSensors {
            scenario: scenarios.first().copied().unwrap_or(Scenario::Nominal),
            scenarios: scenarios.iter().fold(0, |set, s| set | s.bit()),
            onset_ms,
            rng: XorShift64Star::new(seed ^ 0x9E37_79B9_7F4A_7C15),
            phase: 0.0,
            stuck_humidity: None,
            spike_samples_left: 3,
        };
        sensors.phase = sensors.rng.uniform_f32() * core::f32::consts::TAU;
        sensors
    }

    /// The scenario this rack plays (the first, if it plays several).
    pub const fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// Whether this rack plays `scenario`.
    pub const fn plays(&self, scenario: Scenario) -> bool {
        self.scenarios & scenario.bit() != 0
    }

    /// Reads `metric` at `now_ms` (milliseconds since the node booted): what its sensor reports.
    pub fn read(&mut self, metric: SimMetric, now_ms: u64) -> Result<f32, SensorTimeout> {
        self.quantity(metric, now_ms)
            .map(|value| metric.measure(value))
    }

    /// The rack's quantity behind `metric` at `now_ms`, before its sensor measures it: continuous,
    /// not a reading any sensor gives (for comparisons; it advances the noise like
    /// [`read`](Self::read)).
    pub fn quantity(&mut self, metric: SimMetric, now_ms: u64) -> Result<f32, SensorTimeout> {
        let active = now_ms >= self.onset_ms;
        let since_onset_h = now_ms.saturating_sub(self.onset_ms) as f32 / HOUR_MS;
        let day = libm::sinf(now_ms as f32 / DAY_MS * core::f32::consts::TAU + self.phase);
        let noise = self.rng.gaussian_f32();
        let value = match metric {
            SimMetric::InletTemperature => {
                if active && self.plays(Scenario::SensorDropout) {
                    return Err(SensorTimeout { metric });
                }
                let rise = if active && self.plays(Scenario::RisingInlet) {
                    3.0 * since_onset_h
                } else {
                    0.0
                };
                22.0 + 1.5 * day + rise + 0.05 * noise
            }
            SimMetric::Humidity => {
                let live = 40.0 - 4.0 * day + 0.3 * noise;
                if active && self.plays(Scenario::StuckSensor) {
                    *self.stuck_humidity.get_or_insert(live)
                } else if active
                    && self.plays(Scenario::HumiditySpike)
                    && self.spike_samples_left > 0
                {
                    self.spike_samples_left -= 1;
                    live + 25.0
                } else {
                    live
                }
            }
            SimMetric::Pressure => {
                1013.0 + 2.0 * libm::sinf(now_ms as f32 / (3.0 * DAY_MS)) + 0.05 * noise
            }
            SimMetric::Power => {
                let creep = if active && self.plays(Scenario::PowerCreep) {
                    20.0 * since_onset_h
                } else {
                    0.0
                };
                180.0 + 10.0 * day + creep + 3.0 * noise
            }
        };
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(
        seed: u64,
        scenario: Scenario,
        metric: SimMetric,
    ) -> [Result<f32, SensorTimeout>; 64] {
        let mut sensors = SimSensors::new(seed, scenario, 60_000);
        core::array::from_fn(|i| sensors.read(metric, i as u64 * 10_000))
    }

    /// The node and the host must read the same rack: these are the `qemu` rack's first readings
    /// an hour into the run, as its simulated sensors measure them (they changed once, when the
    /// simulation began to read through the drivers' conversions: power 185.6 W is 7 424 counts of
    /// 25 mW).
    #[test]
    fn the_qemu_rack_reads_what_it_always_read() {
        let mut rack = qemu_rack();
        let bits: [u32; 8] = core::array::from_fn(|i| {
            let at_ms = (i as u64 / 4) * 10_000 + 3_600_000;
            rack.read(SimMetric::ALL[i % 4], at_ms).unwrap().to_bits()
        });
        assert_eq!(
            bits,
            [
                0x41cb_31e2,
                0x4213_c601,
                0x447d_4520,
                0x4339_9999,
                0x41cb_941b,
                0x4213_c601,
                0x447d_3be8,
                0x4334_b332
            ]
        );
        assert_eq!(INA226.power_counts(f32::from_bits(bits[3])), 7_424);
    }

    /// Every reading is what the metric's part outputs: the driver's conversion of the count
    /// nearest to the rack's quantity, within an ulp of the metric's lattice.
    #[test]
    fn readings_are_the_drivers_conversion_of_the_nearest_count() {
        for scenario in Scenario::ALL {
            let mut sensors = SimSensors::new(11, scenario, 600_000);
            let mut quantities = sensors.clone();
            for i in 0..2_000u64 {
                for metric in SimMetric::ALL {
                    let (read, physical) = (
                        sensors.read(metric, i * 10_000),
                        quantities.quantity(metric, i * 10_000),
                    );
                    let (Ok(value), Ok(physical)) = (read, physical) else {
                        assert_eq!(read.is_err(), physical.is_err());
                        continue;
                    };
                    let Lattice { offset, step } = metric.lattice();
                    let at = format!("{scenario:?} {metric:?} sample {i}: {value} for {physical}");
                    assert_eq!(metric.measure(value).to_bits(), value.to_bits(), "{at}");
                    assert!((value - physical).abs() <= step * 0.501, "{at}");
                    let k = ((f64::from(value) - f64::from(offset)) / f64::from(step)).round();
                    let on_lattice = (f64::from(offset) + k * f64::from(step)) as f32;
                    let ulps = (i64::from(on_lattice.to_bits()) - i64::from(value.to_bits())).abs();
                    assert!(ulps <= 1, "{at}: {ulps} ulps off {on_lattice}");
                }
            }
        }
    }

    /// A day of inlet temperature at 10 s takes the few hundred values its 0.016 °C counts allow
    /// over the daily swing, not one value per sample.
    #[test]
    fn a_day_of_temperature_repeats_its_values() {
        let mut sensors = SimSensors::new(1, Scenario::Nominal, 0);
        let mut day: std::vec::Vec<u32> = (0..8_640u64)
            .map(|i| {
                let value = sensors.read(SimMetric::InletTemperature, i * 10_000);
                value.map(f32::to_bits).unwrap_or_default()
            })
            .collect();
        day.sort_unstable();
        day.dedup();
        assert!((100..400).contains(&day.len()), "{} distinct", day.len());
    }

    #[test]
    fn same_seed_same_readings_other_seed_other_readings() {
        let a = series(1, Scenario::Nominal, SimMetric::Power);
        assert_eq!(a, series(1, Scenario::Nominal, SimMetric::Power));
        assert_ne!(a, series(2, Scenario::Nominal, SimMetric::Power));
    }

    #[test]
    fn scenarios_do_what_they_say_after_onset() {
        let mut rising = SimSensors::new(3, Scenario::RisingInlet, 0);
        let before = rising.read(SimMetric::InletTemperature, 0).unwrap();
        let after = rising.read(SimMetric::InletTemperature, 3_600_000).unwrap();
        assert!(after - before > 2.0, "{before} -> {after}");

        let stuck = series(4, Scenario::StuckSensor, SimMetric::Humidity);
        assert!(stuck[6..].iter().all(|v| v == &stuck[6]));
        assert!(stuck[..6].windows(2).any(|w| w[0] != w[1]));

        let dropout = series(5, Scenario::SensorDropout, SimMetric::InletTemperature);
        assert!(dropout[..6].iter().all(Result::is_ok));
        assert!(dropout[6..].iter().all(|r| r
            == &Err(SensorTimeout {
                metric: SimMetric::InletTemperature
            })));

        let spike = series(6, Scenario::HumiditySpike, SimMetric::Humidity);
        assert!(spike[6..9].iter().all(|v| *v.as_ref().unwrap() > 55.0));
        assert!(spike[9..].iter().all(|v| *v.as_ref().unwrap() < 55.0));
    }

    #[test]
    fn scenarios_combine_and_each_leaves_the_other_metrics_alone() {
        let mut both =
            SimSensors::with_scenarios(7, &[Scenario::RisingInlet, Scenario::StuckSensor], 60_000);
        let mut rising = SimSensors::new(7, Scenario::RisingInlet, 60_000);
        let mut stuck = SimSensors::new(7, Scenario::StuckSensor, 60_000);
        assert_eq!(both.scenario(), Scenario::RisingInlet);
        assert!(both.plays(Scenario::StuckSensor) && !both.plays(Scenario::PowerCreep));
        for i in 0..64u64 {
            let t = i * 10_000;
            for metric in SimMetric::ALL {
                let (b, r, s) = (
                    both.read(metric, t),
                    rising.read(metric, t),
                    stuck.read(metric, t),
                );
                match metric {
                    SimMetric::Humidity => assert_eq!(b, s),
                    _ => assert_eq!(b, r),
                }
            }
        }
        let nominal = SimSensors::with_scenarios(7, &[], 0);
        assert_eq!(nominal.scenario(), Scenario::Nominal);
    }
}
