//! Missing data as an input of its own: when a reading is late and what the alert becomes then.
//!
//! Invariants: data is missing from `deadline_ms` after the last reading (the reading due exactly
//! then is already late); before the first reading, not before the startup grace.

use crate::Level;
use serde::{Deserialize, Serialize};

/// What missing data means for the alert, once it is late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub enum MissingPolicy {
    /// The alert becomes UNKNOWN at the deadline.
    Unknown,
    /// The alert keeps its level for `for_ms` after the deadline, then becomes UNKNOWN.
    HoldLast {
        /// How long past the deadline the level is held.
        for_ms: u32,
    },
    /// Missing data is itself a problem (a dead man's switch): the alert becomes `level` (WARNING or
    /// CRITICAL; other levels count as CRITICAL) at the deadline.
    Violation {
        /// The level missing data raises.
        level: Level,
    },
    /// Missing data means nothing happened: the alert becomes OK at the deadline.
    Ok,
}

/// Missing data as an input of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct MissingData {
    /// Data is missing from `deadline_ms` after the last reading (the reading due exactly then is
    /// already late); `None`: data is never missing.
    pub deadline_ms: Option<u32>,
    /// What happens then.
    pub policy: MissingPolicy,
    /// Before the first reading, data is missing only from `max(deadline_ms, startup_grace_ms)` after
    /// the machine started.
    pub startup_grace_ms: u32,
}

impl MissingData {
    /// Data is never missing.
    pub const NEVER: MissingData = MissingData {
        deadline_ms: None,
        policy: MissingPolicy::Unknown,
        startup_grace_ms: 0,
    };

    /// UNKNOWN once no reading arrived for `deadline_ms`.
    pub const fn unknown_after(deadline_ms: u32) -> MissingData {
        MissingData {
            deadline_ms: Some(deadline_ms),
            policy: MissingPolicy::Unknown,
            startup_grace_ms: 0,
        }
    }

    /// Milliseconds from the reference point (the last reading, or the start) to the moment the
    /// policy acts, and the level it moves to; `None` when data is never missing.
    pub(crate) fn acts_after(&self, before_first_reading: bool) -> Option<(u64, Level)> {
        let deadline = u64::from(self.deadline_ms?);
        let deadline = if before_first_reading {
            deadline.max(u64::from(self.startup_grace_ms))
        } else {
            deadline
        };
        Some(match self.policy {
            MissingPolicy::Unknown => (deadline, Level::Unknown),
            MissingPolicy::HoldLast { for_ms } => (deadline + u64::from(for_ms), Level::Unknown),
            MissingPolicy::Violation {
                level: Level::Warning,
            } => (deadline, Level::Warning),
            MissingPolicy::Violation { .. } => (deadline, Level::Critical),
            MissingPolicy::Ok => (deadline, Level::Ok),
        })
    }
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for MissingData {
    fn default() -> MissingData {
        MissingData::NEVER
    }
}
