//! The one human rendering of why an alert changed level: every command that tells a person about
//! a transition (`demo`, `alerts`, `analyze`, `check`, the dashboard) goes through here, so a cause
//! reads the same wherever it is shown.
//!
//! Invariants:
//! - Text only, never Rust `Debug` output: a cause is words and numbers with its unit.
//! - An empty unit leaves no stray blank (`1.26 (bound 1.26)`, not `1.26  (bound 1.26)`).
//! - A value is never shown rounded onto its bound: it gets the decimals that tell them apart (up
//!   to [`MAX_DECIMALS`]), so `100.0489` against `100` reads `100.05`, not `100.0`.
//! - Node times (a cause's `last_seen_ms`) are time since the node booted, shown as `HH:MM:SS`.
//! - Non-finite numbers read as Rust writes them (`NaN`, `inf`); nothing here panics.

use crate::timefmt::format_span;
use rackwatch_core::wire::{Cause, Outlook};
use rackwatch_core::Level;

/// The most decimals a value gets when telling it apart from its bound.
pub const MAX_DECIMALS: usize = 6;

/// `number` followed by `unit`, with no trailing blank when there is no unit.
fn quantity(number: &str, unit: &str) -> String {
    if unit.is_empty() {
        number.to_string()
    } else {
        format!("{number} {unit}")
    }
}

/// The decimals `x` is written with at its shortest (`1.26`: 2, `30`: 0), capped.
fn decimals(x: f32) -> usize {
    let text = x.to_string();
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.len())
        .min(MAX_DECIMALS)
}

/// A reading next to the bound it crossed: one decimal, or the bound's own, or more until the two
/// read differently.
fn value_beside(value: f32, bound: f32) -> String {
    let mut places = decimals(bound).max(1);
    let mut text = format!("{value:.places$}");
    while value != bound && places < MAX_DECIMALS && text == format!("{bound:.places$}") {
        places += 1;
        text = format!("{value:.places$}");
    }
    text
}

/// Node time, ms since boot, as `HH:MM:SS` (hours past 99 keep all their digits).
pub fn uptime_clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// A forecast: `reaches 32 degC in 1h59m`, or `already at 32 degC` when the fit is there.
pub fn reaches(threshold: f32, unit: &str, eta_ms: u64) -> String {
    let target = quantity(&threshold.to_string(), unit);
    if eta_ms == 0 {
        format!("already at {target}")
    } else {
        format!("reaches {target} in {}", format_span(eta_ms))
    }
}

/// Why a transition happened, in words: `31.2 degC (bound 30)`, `reaches 32 degC in 1h59m`,
/// `anomaly score 0.93`, `no reading since 05:00:00`, `sensor fault (...)`, `flapping stopped`.
/// `unit` is the metric's unit (empty when unknown).
pub fn cause(cause: &Cause, unit: &str) -> String {
    match *cause {
        Cause::Value { value, bound } => {
            format!(
                "{} (bound {bound})",
                quantity(&value_beside(value, bound), unit)
            )
        }
        Cause::Eta { eta_ms, threshold } => reaches(threshold, unit, eta_ms),
        Cause::Anomaly { score } => format!("anomaly score {score:.2}"),
        Cause::MissingData { last_seen_ms } => {
            format!("no reading since {}", uptime_clock(last_seen_ms))
        }
        Cause::SensorFault => "sensor fault (stuck, out of range or slewing)".into(),
        Cause::FlappingStopped => "flapping stopped".into(),
        Cause::ForecastReceded { outlook } => receded(outlook),
    }
}

/// Why a forecast no longer guards a level: `forecast now beyond 45m (1h10m)`, `trend flat or
/// receding`, `no forecast backing it for 45m00s`.
fn receded(outlook: Outlook) -> String {
    match outlook {
        Outlook::Beyond { eta_ms, horizon_ms } => format!(
            "forecast now beyond {} ({})",
            format_span(u64::from(horizon_ms)),
            format_span(eta_ms)
        ),
        Outlook::Never => "trend flat or receding".into(),
        Outlook::Unsure { for_ms } => {
            format!(
                "no forecast backing it for {}",
                format_span(u64::from(for_ms))
            )
        }
    }
}

/// A whole transition: `OK -> WARNING, reaches 32 degC in 1h59m`.
pub fn transition(from: Level, to: Level, why: &Cause, unit: &str) -> String {
    format!("{from} -> {to}, {}", cause(why, unit))
}

/// An error and its causes on one line, `what: why: why`, without repeating a cause a message
/// already quotes.
pub fn error_chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text = format!("{text}: {cause}");
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cause_reads_as_words_with_its_unit() {
        let value = Cause::Value {
            value: 31.23,
            bound: 30.0,
        };
        assert_eq!(cause(&value, "degC"), "31.2 degC (bound 30)");
        let eta = Cause::Eta {
            eta_ms: 7_140_000,
            threshold: 32.0,
        };
        assert_eq!(cause(&eta, "degC"), "reaches 32 degC in 1h59m");
        assert_eq!(
            cause(&Cause::Anomaly { score: 0.934 }, "%"),
            "anomaly score 0.93"
        );
        let missing = Cause::MissingData {
            last_seen_ms: 18_000_999,
        };
        assert_eq!(cause(&missing, "degC"), "no reading since 05:00:00");
        assert_eq!(
            cause(&Cause::SensorFault, "%"),
            "sensor fault (stuck, out of range or slewing)"
        );
        assert_eq!(cause(&Cause::FlappingStopped, "W"), "flapping stopped");
        let receded = |outlook| cause(&Cause::ForecastReceded { outlook }, "W");
        assert_eq!(
            receded(Outlook::Beyond {
                eta_ms: 4_200_000,
                horizon_ms: 2_700_000
            }),
            "forecast now beyond 45m00s (1h10m)"
        );
        assert_eq!(receded(Outlook::Never), "trend flat or receding");
        assert_eq!(
            receded(Outlook::Unsure { for_ms: 900_000 }),
            "no forecast backing it for 15m00s"
        );
    }

    #[test]
    fn an_empty_unit_leaves_no_blank() {
        let value = Cause::Value {
            value: 1.26,
            bound: 1.26,
        };
        assert_eq!(cause(&value, ""), "1.26 (bound 1.26)");
        let eta = Cause::Eta {
            eta_ms: 3_600_000,
            threshold: 100.0,
        };
        assert_eq!(cause(&eta, ""), "reaches 100 in 1h00m");
        assert_eq!(reaches(40.0, "", 60_000), "reaches 40 in 1m00s");
        assert_eq!(reaches(95.5, "%", 0), "already at 95.5 %");
    }

    #[test]
    fn a_value_is_never_rounded_onto_its_bound() {
        let beside = |value, bound| {
            cause(&Cause::Value { value, bound }, "")
                .split(' ')
                .next()
                .map(str::to_string)
                .unwrap_or_default()
        };
        assert_eq!(beside(100.0489, 100.0), "100.05");
        assert_eq!(beside(99.99, 100.0), "99.99");
        assert_eq!(beside(99.9179, 90.0), "99.9");
        assert_eq!(beside(0.1251, 0.125), "0.1251");
        // Equal, the value takes the bound's decimals; closer than shown, the cap.
        assert_eq!(beside(35.0, 35.0), "35.0");
        assert_eq!(beside(30.000_002, 30.0), "30.000002");
        assert_eq!(beside(1.0e-7, 0.0), "0.000000");
    }

    #[test]
    fn non_finite_numbers_read_plainly() {
        let value = Cause::Value {
            value: f32::NAN,
            bound: 30.0,
        };
        assert_eq!(cause(&value, "degC"), "NaN degC (bound 30)");
        let value = Cause::Value {
            value: f32::INFINITY,
            bound: f32::NAN,
        };
        assert_eq!(cause(&value, ""), "inf (bound NaN)");
        let eta = Cause::Eta {
            eta_ms: u64::MAX,
            threshold: f32::NEG_INFINITY,
        };
        assert_eq!(cause(&eta, "V"), "reaches -inf V in 584942417y");
        assert_eq!(
            cause(&Cause::Anomaly { score: f32::NAN }, ""),
            "anomaly score NaN"
        );
        let late = Cause::MissingData {
            last_seen_ms: 400 * 3_600_000,
        };
        assert_eq!(cause(&late, ""), "no reading since 400:00:00");
    }

    #[test]
    fn a_transition_names_both_levels_then_the_cause() {
        let eta = Cause::Eta {
            eta_ms: 7_140_000,
            threshold: 32.0,
        };
        assert_eq!(
            transition(Level::Ok, Level::Warning, &eta, "degC"),
            "OK -> WARNING, reaches 32 degC in 1h59m"
        );
        assert_eq!(
            transition(Level::Critical, Level::Unknown, &Cause::SensorFault, ""),
            "CRITICAL -> UNKNOWN, sensor fault (stuck, out of range or slewing)"
        );
    }
}
