//! Nagios-style flap detection thresholds.
//!
//! Invariants: percent state change, 0 to 100; flapping starts at `high` and stops at `low`.

use serde::{Deserialize, Serialize};

/// Nagios flap detection thresholds, in percent state change (0 to 100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Flapping {
    /// Flapping stops when the percent state change falls to this or below.
    pub low_percent: f32,
    /// Flapping starts when the percent state change reaches this or above.
    pub high_percent: f32,
}

impl Flapping {
    /// Nagios' compiled-in defaults: low 20 %, high 30 %.
    pub const NAGIOS: Flapping = Flapping {
        low_percent: 20.0,
        high_percent: 30.0,
    };
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for Flapping {
    fn default() -> Flapping {
        Flapping::NAGIOS
    }
}
