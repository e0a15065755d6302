//! Stable names for the typed values the host writes to history, serves at `/state` and prints:
//! alert levels, reset reasons and anomaly kinds.
//!
//! Invariants:
//! - A name, once written, never changes: databases and scripts outlive a build. The tests below
//!   pin every one, and parsing a name gives back the value it was written from.
//! - Values stay typed everywhere else; these names exist only at the edges (SQLite columns, JSON).

use rackwatch_core::anomaly::AnomalyKind;
use rackwatch_core::wire::ResetReason;
use rackwatch_core::Level;

/// Every level, in severity order of their exit codes.
pub const LEVELS: [Level; 4] = [Level::Ok, Level::Warning, Level::Critical, Level::Unknown];

/// The level named `name` (`OK`, `WARNING`, `CRITICAL`, `UNKNOWN`, as [`Level::as_str`] writes).
pub fn parse_level(name: &str) -> Option<Level> {
    LEVELS.into_iter().find(|l| l.as_str() == name)
}

/// Every reset reason.
pub const RESET_REASONS: [ResetReason; 6] = [
    ResetReason::PowerOn,
    ResetReason::Pin,
    ResetReason::Software,
    ResetReason::Watchdog,
    ResetReason::Brownout,
    ResetReason::Unknown,
];

/// The stored name of a reset reason.
pub const fn reset_reason(reason: ResetReason) -> &'static str {
    match reason {
        ResetReason::PowerOn => "PowerOn",
        ResetReason::Pin => "Pin",
        ResetReason::Software => "Software",
        ResetReason::Watchdog => "Watchdog",
        ResetReason::Brownout => "Brownout",
        ResetReason::Unknown => "Unknown",
    }
}

/// The reset reason stored as `name`.
pub fn parse_reset_reason(name: &str) -> Option<ResetReason> {
    RESET_REASONS.into_iter().find(|r| reset_reason(*r) == name)
}

/// The name of an anomaly kind, as `/state` and `analyze` show it.
pub const fn anomaly_kind(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::None => "None",
        AnomalyKind::Deviation => "Deviation",
        AnomalyKind::LevelShift => "LevelShift",
        AnomalyKind::Spike => "Spike",
        AnomalyKind::Stuck => "Stuck",
        AnomalyKind::OutOfRange => "OutOfRange",
        AnomalyKind::SlewRate => "SlewRate",
    }
}

/// Serde for a [`Level`] as its upper-case name (`"WARNING"`), the form `/state` has always served.
pub mod level {
    use rackwatch_core::Level;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the name.
    pub fn serialize<S: Serializer>(level: &Level, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(level.as_str())
    }

    /// Reads a name; anything else is an error that quotes it.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        super::parse_level(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{name}` is not an alert level (OK, WARNING, CRITICAL, UNKNOWN)"
            ))
        })
    }

    /// The same, for an optional level.
    pub mod option {
        use rackwatch_core::Level;
        use serde::{Deserialize, Deserializer, Serializer};

        /// Writes the name, or null.
        pub fn serialize<S: Serializer>(level: &Option<Level>, s: S) -> Result<S::Ok, S::Error> {
            match level {
                Some(level) => s.serialize_str(level.as_str()),
                None => s.serialize_none(),
            }
        }

        /// Reads a name or null.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Level>, D::Error> {
            #[derive(Deserialize)]
            struct Named(#[serde(with = "super")] Level);
            Ok(Option::<Named>::deserialize(d)?.map(|n| n.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_are_pinned() {
        let levels: Vec<&str> = LEVELS.iter().map(|l| l.as_str()).collect();
        assert_eq!(levels, ["OK", "WARNING", "CRITICAL", "UNKNOWN"]);
        let resets: Vec<&str> = RESET_REASONS.iter().map(|r| reset_reason(*r)).collect();
        assert_eq!(
            resets,
            ["PowerOn", "Pin", "Software", "Watchdog", "Brownout", "Unknown"]
        );
        assert_eq!(anomaly_kind(AnomalyKind::LevelShift), "LevelShift");
        assert_eq!(crate::ingest::Origin::Host.as_str(), "host");
        assert_eq!(crate::ingest::Origin::Node.as_str(), "node");
    }

    #[test]
    fn names_parse_back_to_their_values() {
        for level in LEVELS {
            assert_eq!(parse_level(level.as_str()), Some(level));
        }
        for reason in RESET_REASONS {
            assert_eq!(parse_reset_reason(reset_reason(reason)), Some(reason));
            // The wire's serde name is the stored name: JSON and SQLite agree.
            assert_eq!(
                serde_json::to_string(&reason).unwrap(),
                format!("\"{}\"", reset_reason(reason))
            );
        }
        assert_eq!(parse_level("Ok"), None);
        assert_eq!(parse_reset_reason("power_on"), None);
    }

    #[test]
    fn levels_serialize_by_name() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Row {
            #[serde(with = "level")]
            level: Level,
            #[serde(with = "level::option")]
            node: Option<Level>,
        }
        let row = Row {
            level: Level::Critical,
            node: Some(Level::Ok),
        };
        let json = serde_json::to_string(&row).unwrap();
        assert_eq!(json, r#"{"level":"CRITICAL","node":"OK"}"#);
        assert_eq!(serde_json::from_str::<Row>(&json).unwrap(), row);
        let bad = serde_json::from_str::<Row>(r#"{"level":"SEVERE","node":null}"#);
        assert!(bad
            .unwrap_err()
            .to_string()
            .contains("`SEVERE` is not an alert level"));
    }
}
