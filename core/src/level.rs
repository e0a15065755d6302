//! Alert levels, shared by the alert state machines, the wire format and every sink.
//!
//! The numeric values equal the Nagios plugin exit codes (OK 0, WARNING 1, CRITICAL 2, UNKNOWN 3) and are
//! the values on the wire; they never change.

use serde::{Deserialize, Serialize};

/// The state of one alert rule.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Level {
    /// The value is within bounds.
    #[default]
    Ok = 0,
    /// A warning bound is violated.
    Warning = 1,
    /// A critical bound is violated.
    Critical = 2,
    /// The state cannot be judged: data is missing, invalid or the sensor is unhealthy.
    Unknown = 3,
}

impl Level {
    /// The Nagios plugin exit code of this level.
    pub const fn exit_code(self) -> u8 {
        self as u8
    }

    /// The level for a Nagios exit code, or `None` for any other number.
    pub const fn from_exit_code(code: u8) -> Option<Level> {
        match code {
            0 => Some(Level::Ok),
            1 => Some(Level::Warning),
            2 => Some(Level::Critical),
            3 => Some(Level::Unknown),
            _ => None,
        }
    }

    /// The upper-case name used in logs and status lines (`OK`, `WARNING`, `CRITICAL`, `UNKNOWN`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "OK",
            Level::Warning => "WARNING",
            Level::Critical => "CRITICAL",
            Level::Unknown => "UNKNOWN",
        }
    }
}

impl core::fmt::Display for Level {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_round_trip_and_reject_others() {
        for level in [Level::Ok, Level::Warning, Level::Critical, Level::Unknown] {
            assert_eq!(Level::from_exit_code(level.exit_code()), Some(level));
        }
        assert_eq!(Level::from_exit_code(4), None);
        assert_eq!(Level::Critical.to_string(), "CRITICAL");
    }
}
