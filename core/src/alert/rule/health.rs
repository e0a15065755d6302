//! The anomaly condition's levels and which sensor-health findings make a reading invalid.
//!
//! Invariants: plain data; an anomaly level is raised at score ≥ its level and cleared below its
//! clear level.

use super::Limit;
use serde::{Deserialize, Serialize};

/// The anomaly condition: the anomaly score reaches a level.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct AnomalyLevels {
    /// WARNING when the score is at or above this level (a score is "above" by inclusive bounds).
    pub warning: Option<Limit>,
    /// CRITICAL likewise.
    pub critical: Option<Limit>,
}

/// Which sensor-health findings make a reading invalid (judged UNKNOWN: the value cannot be trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Health {
    /// The sensor repeats one value ([`AnomalyScore::stuck`](crate::anomaly::AnomalyScore::stuck)).
    pub stuck: bool,
    /// The value is outside the physical range ([`AnomalyScore::out_of_range`](crate::anomaly::AnomalyScore::out_of_range)).
    pub out_of_range: bool,
    /// The value changes faster than physically possible ([`AnomalyScore::slew`](crate::anomaly::AnomalyScore::slew)).
    pub slew: bool,
}

impl Health {
    /// Every finding invalidates a reading (range and slew only matter where limits are configured).
    pub const ALL: Health = Health {
        stuck: true,
        out_of_range: true,
        slew: true,
    };
    /// Sensor health is not judged.
    pub const NONE: Health = Health {
        stuck: false,
        out_of_range: false,
        slew: false,
    };
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for Health {
    fn default() -> Health {
        Health::ALL
    }
}
