//! A metric's unit, as a node announces it (`degC`, `%`, `hPa`), mapped to the base unit that
//! Prometheus' naming conventions ask for (`celsius`, `ratio`, `pascals`), with the conversion.
//!
//! Invariants:
//! - A unit maps to a suffix from a fixed list ([`BaseUnit::suffix`]): a node's unit string never
//!   becomes part of a metric name, so a node cannot create families, only series.
//! - A unit not in the table is exposed as it came (scale 1) under the unitless families, with the
//!   node's unit string in a `unit` label ([`exposed`] returns `None` for it).
//! - A conversion is affine, `(value + shift) * multiply / divide`, with the factor kept as a
//!   fraction so that 70 % is exactly `0.7` (70 × 0.01 is not); a rate of change (a slope) takes
//!   the factor only, so a slope in °F per second becomes one in °C per second.

/// A Prometheus base unit and how to reach it from the node's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseUnit {
    /// The name suffix (`celsius`); empty for a unitless quantity.
    pub suffix: &'static str,
    /// Added to the node's value before the factor (temperatures in °F or K).
    pub shift: f64,
    /// The factor's numerator.
    pub multiply: f64,
    /// The factor's denominator.
    pub divide: f64,
}

impl BaseUnit {
    /// A value in the node's unit, in the base unit.
    pub fn value(&self, value: f64) -> f64 {
        (value + self.shift) * self.multiply / self.divide
    }

    /// A rate of change in node units per second, in base units per second.
    pub fn rate(&self, per_second: f64) -> f64 {
        per_second * self.multiply / self.divide
    }

    /// `prefix` with this unit's suffix: `rackwatch_reading_celsius`, or `rackwatch_reading`.
    pub fn name(&self, prefix: &str) -> String {
        self.name_with(prefix, "")
    }

    /// `prefix`, this unit's suffix, then `tail`: `rackwatch_trend_celsius_per_second`.
    pub fn name_with(&self, prefix: &str, tail: &str) -> String {
        let mut name = String::from(prefix);
        for part in [self.suffix, tail] {
            if !part.is_empty() {
                name.push('_');
                name.push_str(part);
            }
        }
        name
    }
}

/// A unit whose value in `suffix` is the node's times `multiply / divide`.
const fn unit(suffix: &'static str, multiply: f64, divide: f64) -> BaseUnit {
    BaseUnit {
        suffix,
        shift: 0.0,
        multiply,
        divide,
    }
}

/// A unitless quantity, and where units not in the table go.
pub const UNITLESS: BaseUnit = unit("", 1.0, 1.0);

/// Every unit rackwatch knows: the node's spelling, then its base unit. RPM stays `rpm`, as the
/// node exporter's fan speeds do: a fan at 0.2 kHz would help no one.
const TABLE: &[(&str, BaseUnit)] = &[
    ("", UNITLESS),
    ("degC", unit("celsius", 1.0, 1.0)),
    ("°C", unit("celsius", 1.0, 1.0)),
    ("C", unit("celsius", 1.0, 1.0)),
    (
        "degF",
        BaseUnit {
            suffix: "celsius",
            shift: -32.0,
            multiply: 5.0,
            divide: 9.0,
        },
    ),
    (
        "K",
        BaseUnit {
            suffix: "celsius",
            shift: -273.15,
            multiply: 1.0,
            divide: 1.0,
        },
    ),
    ("%", unit("ratio", 1.0, 100.0)),
    ("%RH", unit("ratio", 1.0, 100.0)),
    ("ratio", unit("ratio", 1.0, 1.0)),
    ("ppm", unit("ratio", 1.0, 1e6)),
    ("Pa", unit("pascals", 1.0, 1.0)),
    ("hPa", unit("pascals", 100.0, 1.0)),
    ("mbar", unit("pascals", 100.0, 1.0)),
    ("kPa", unit("pascals", 1e3, 1.0)),
    ("bar", unit("pascals", 1e5, 1.0)),
    ("W", unit("watts", 1.0, 1.0)),
    ("mW", unit("watts", 1.0, 1e3)),
    ("kW", unit("watts", 1e3, 1.0)),
    ("V", unit("volts", 1.0, 1.0)),
    ("mV", unit("volts", 1.0, 1e3)),
    ("A", unit("amperes", 1.0, 1.0)),
    ("mA", unit("amperes", 1.0, 1e3)),
    ("J", unit("joules", 1.0, 1.0)),
    ("Wh", unit("joules", 3.6e3, 1.0)),
    ("kWh", unit("joules", 3.6e6, 1.0)),
    ("s", unit("seconds", 1.0, 1.0)),
    ("ms", unit("seconds", 1.0, 1e3)),
    ("us", unit("seconds", 1.0, 1e6)),
    ("min", unit("seconds", 60.0, 1.0)),
    ("h", unit("seconds", 3600.0, 1.0)),
    ("B", unit("bytes", 1.0, 1.0)),
    ("kB", unit("bytes", 1e3, 1.0)),
    ("MB", unit("bytes", 1e6, 1.0)),
    ("GB", unit("bytes", 1e9, 1.0)),
    ("KiB", unit("bytes", 1024.0, 1.0)),
    ("MiB", unit("bytes", 1024.0 * 1024.0, 1.0)),
    ("GiB", unit("bytes", 1024.0 * 1024.0 * 1024.0, 1.0)),
    ("Hz", unit("hertz", 1.0, 1.0)),
    ("kHz", unit("hertz", 1e3, 1.0)),
    ("m", unit("meters", 1.0, 1.0)),
    ("mm", unit("meters", 1.0, 1e3)),
    ("g", unit("grams", 1.0, 1.0)),
    ("kg", unit("grams", 1e3, 1.0)),
    ("lx", unit("lux", 1.0, 1.0)),
    ("rpm", unit("rpm", 1.0, 1.0)),
    ("RPM", unit("rpm", 1.0, 1.0)),
];

/// The base unit of a node's `unit`, or `None` when rackwatch does not know it.
pub fn exposed(unit: &str) -> Option<BaseUnit> {
    TABLE
        .iter()
        .find(|(name, _)| *name == unit)
        .map(|(_, b)| *b)
}

/// Every (node unit, base unit suffix) pair, for the documentation's table and its test.
pub fn table() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().map(|(name, base)| (*name, base.suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rack_units_map_to_base_units() {
        let celsius = exposed("degC").unwrap();
        assert_eq!(
            celsius.name("rackwatch_reading"),
            "rackwatch_reading_celsius"
        );
        assert_eq!(exposed("%").unwrap().value(45.0), 0.45);
        assert_eq!(exposed("%").unwrap().value(70.0), 0.7);
        assert_eq!(exposed("hPa").unwrap().value(1013.25), 101_325.0);
        assert_eq!(exposed("W").unwrap().suffix, "watts");
        assert_eq!(exposed("V").unwrap().suffix, "volts");
        assert_eq!(exposed("A").unwrap().suffix, "amperes");
    }

    #[test]
    fn conversions_are_affine_and_rates_take_only_the_scale() {
        let fahrenheit = exposed("degF").unwrap();
        assert_eq!(fahrenheit.value(212.0), 100.0);
        assert_eq!(fahrenheit.value(32.0), 0.0);
        assert_eq!(fahrenheit.rate(9.0), 5.0);
        assert_eq!(exposed("K").unwrap().value(273.15), 0.0);
        assert_eq!(exposed("mV").unwrap().rate(1.0), 0.001);
    }

    #[test]
    fn unitless_and_unknown_units_name_no_suffix() {
        assert_eq!(UNITLESS.name("rackwatch_reading"), "rackwatch_reading");
        assert_eq!(
            UNITLESS.name_with("rackwatch_trend", "per_second"),
            "rackwatch_trend_per_second"
        );
        assert_eq!(exposed("furlong/fortnight"), None);
        assert_eq!(exposed("DEGC"), None);
    }

    #[test]
    fn every_suffix_is_a_valid_name_part() {
        for (_, suffix) in table() {
            assert!(suffix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
        }
    }
}
