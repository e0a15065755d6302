//! Value limits: a bound and whether it is itself crossed, a limit with its hysteresis, the limits
//! of one level (above, below or outside a band) and the thresholds per level.
//!
//! Invariants: a bound says exactly which side its own value is on; a limit without a clear bound
//! clears on the good side of its raise bound (no hysteresis). See the boundary table of
//! [`super`].

use crate::trend::Crossing;
use serde::{Deserialize, Serialize};

/// A threshold value and whether the value itself counts as crossed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct Bound {
    /// The threshold.
    pub value: f32,
    /// For a raise bound: a value exactly on it is a violation. For a clear bound: a value exactly on
    /// it is back to normal.
    pub inclusive: bool,
}

impl Bound {
    /// A strict bound: the value itself is on the good side of a raise bound, and not yet back to
    /// normal at a clear bound.
    pub const fn strict(value: f32) -> Bound {
        Bound {
            value,
            inclusive: false,
        }
    }

    /// An inclusive bound: the value itself counts as crossed.
    pub const fn inclusive(value: f32) -> Bound {
        Bound {
            value,
            inclusive: true,
        }
    }

    /// `v` is beyond this bound on the `side` (`Above`: greater; `Below`: less), or on it when
    /// inclusive.
    pub(super) fn reached(&self, v: f32, side: Crossing) -> bool {
        match (side, self.inclusive) {
            (Crossing::Above, false) => v > self.value,
            (Crossing::Above, true) => v >= self.value,
            (Crossing::Below, false) => v < self.value,
            (Crossing::Below, true) => v <= self.value,
        }
    }
}

/// One threshold with optional hysteresis.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Limit {
    /// Where the condition is raised.
    pub raise: Bound,
    /// Where a raised condition is back to normal; `None` = the good side of `raise`.
    pub clear: Option<Bound>,
}

impl Limit {
    /// A limit without hysteresis.
    pub const fn at(raise: Bound) -> Limit {
        Limit { raise, clear: None }
    }

    /// A limit raised at `raise` and cleared at `clear`.
    pub const fn with_clear(raise: Bound, clear: Bound) -> Limit {
        Limit {
            raise,
            clear: Some(clear),
        }
    }

    /// Whether `v` violates this limit on `side`, given whether the condition is raised now; and the
    /// bound that decided it (for the transition's cause).
    pub(super) fn judge(&self, v: f32, side: Crossing, raised: bool) -> (bool, f32) {
        match (raised, self.clear) {
            (true, Some(clear)) => {
                let back = match (side, clear.inclusive) {
                    (Crossing::Above, false) => v < clear.value,
                    (Crossing::Above, true) => v <= clear.value,
                    (Crossing::Below, false) => v > clear.value,
                    (Crossing::Below, true) => v >= clear.value,
                };
                (!back, clear.value)
            }
            _ => (self.raise.reached(v, side), self.raise.value),
        }
    }
}

/// The value limits of one level: above, below, or both (outside a band).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Bad above this.
    pub above: Option<Limit>,
    /// Bad below this.
    pub below: Option<Limit>,
}

impl Limits {
    /// No limits.
    pub const NONE: Limits = Limits {
        above: None,
        below: None,
    };

    pub(super) fn judge(&self, v: f32, raised: bool) -> Option<f32> {
        let sides = [(self.above, Crossing::Above), (self.below, Crossing::Below)];
        sides.into_iter().find_map(|(limit, side)| {
            let (violated, bound) = limit?.judge(v, side, raised);
            violated.then_some(bound)
        })
    }

    pub(super) fn any(&self) -> Option<(Crossing, f32)> {
        match (self.above, self.below) {
            (Some(l), _) => Some((Crossing::Above, l.raise.value)),
            (None, Some(l)) => Some((Crossing::Below, l.raise.value)),
            (None, None) => None,
        }
    }
}

/// Value thresholds per level.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// WARNING limits.
    pub warning: Limits,
    /// CRITICAL limits.
    pub critical: Limits,
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for Limit {
    fn default() -> Limit {
        Limit::at(Bound::strict(0.0))
    }
}
