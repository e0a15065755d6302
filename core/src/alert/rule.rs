//! Alert rules as plain data, and the judgement of one sample against a rule.
//!
//! A [`Rule`] is serde data: the host's TOML config, the firmware's `const` tables and the node's
//! announcement of its metrics all use this one type. Every parameter has a documented domain;
//! [`Rule::check`] names the first field outside it, and the state machine clamps an unchecked rule
//! into its domains instead of panicking.
//!
//! # Boundaries, exactly
//! Every bound says whether the bound value itself belongs to the bad side ([`Bound::inclusive`]):
//!
//! | condition | violated when | back to normal when |
//! |---|---|---|
//! | `above`, raise bound `b` | `v > b` (strict) or `v ≥ b` (inclusive) | – |
//! | `above`, clear bound `c` | – | `v < c` (strict) or `v ≤ c` (inclusive) |
//! | `below`, raise bound `b` | `v < b` (strict) or `v ≤ b` (inclusive) | – |
//! | `below`, clear bound `c` | – | `v > c` (strict) or `v ≥ c` (inclusive) |
//! | predictive horizon `h`, clear horizon `k` | ETA ≤ `h` (already crossed = ETA 0) | a confident ETA > `k`; a confident `Never`; or no confident support for `keep_for_ms` |
//! | anomaly level `s` | score ≥ `s` | score < the clear level |
//!
//! A bound without a clear bound clears on the good side of its own raise bound (no hysteresis). With
//! a clear bound the condition, once raised, stays raised until the value is on the good side of the
//! clear bound: value hysteresis. "Raised" is judged against the alert's *confirmed* level (a
//! warning condition is raised while the alert is WARNING or CRITICAL), as Netdata's `$status` idiom
//! does, but without the idiom.
//!
//! # Forecasts that become unsure
//! An unsure forecast ([`TimeTo::PoorFit`](crate::trend::TimeTo::PoorFit), [`TimeTo::NotEnoughData`](crate::trend::TimeTo::NotEnoughData)) is no evidence either way:
//! it never raises a predictive condition, and it does not clear a raised one. A raised predictive
//! condition (level `X`) is *held* by an unsure reading while a confident forecast backed `X` (its
//! estimate within `X`'s clear horizon) less than [`Predictive::keep_for_ms`] before (Prometheus'
//! `keep_firing_for`, applied to the forecast's silence rather than to the alert's). It clears on a
//! confident estimate beyond the clear horizon, on a confident [`TimeTo::Never`](crate::trend::TimeTo::Never) (flat or
//! receding), or on an unsure reading once the hold has run out; the clear debounce counts these
//! readings as for any condition, and a held reading interrupts it like any reading at `X`. So one
//! noisy estimate beyond the horizon among unsure ones does not end the level. When each level was
//! last backed is the [`AlertMachine`](super::AlertMachine)'s memory, handed to the judgement as a
//! [`Standing`].
//!
//! A reading below the confirmed level `L` of a rule that forecasts at `L`, when a forecast has
//! backed `L`, names the forecast's [`Outlook`](crate::wire::Outlook) as its cause ([`Cause::ForecastReceded`](crate::wire::Cause::ForecastReceded)): why the
//! level the forecast was guarding may end.
//!
//! # Modules
//! One job each: [`limits`] (bounds, hysteresis, thresholds per level), [`predictive`] (the
//! forecast's condition and its serde forms), [`health`] (anomaly levels, sensor health),
//! [`debounce`], [`missing`] (missing data), [`flapping`], `check` (the domain check) and `judge`
//! (one reading's verdict). This file holds the [`Rule`] that gathers them.

mod check;
pub mod debounce;
pub mod flapping;
pub mod health;
mod judge;
pub mod limits;
pub mod missing;
pub mod predictive;

pub use check::RuleError;
pub use debounce::{Debounce, MAX_DEBOUNCE_SAMPLES};
pub use flapping::Flapping;
pub use health::{AnomalyLevels, Health};
pub use judge::{Judgement, Standing};
pub use limits::{Bound, Limit, Limits, Thresholds};
pub use missing::{MissingData, MissingPolicy};
pub use predictive::{Horizon, Predictive};

use crate::trend::Crossing;
use serde::{Deserialize, Serialize};

/// One metric's alert rule. See the [module docs](self) for the boundaries and
/// [`AlertMachine`](super::AlertMachine) for the state machine that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Rule {
    /// Value thresholds per level.
    pub value: Thresholds,
    /// Time-to-threshold condition.
    pub predictive: Option<Predictive>,
    /// Anomaly-score condition.
    pub anomaly: Option<AnomalyLevels>,
    /// Which sensor-health findings make a reading invalid.
    pub health: Health,
    /// Debounce toward a worse level (and into UNKNOWN on invalid readings).
    pub raise: Debounce,
    /// Debounce toward a better level (and out of UNKNOWN).
    pub clear: Debounce,
    /// Missing data.
    pub missing: MissingData,
    /// Flap detection; `None` = off.
    pub flapping: Option<Flapping>,
}

impl Rule {
    /// A rule with no conditions: always OK; every other field at its default.
    pub const EMPTY: Rule = Rule {
        value: Thresholds {
            warning: Limits::NONE,
            critical: Limits::NONE,
        },
        predictive: None,
        anomaly: None,
        health: Health::ALL,
        raise: Debounce::IMMEDIATE,
        clear: Debounce::IMMEDIATE,
        missing: MissingData::NEVER,
        flapping: None,
    };

    /// WARNING above `warning`, CRITICAL above `critical` (strict bounds, no hysteresis).
    pub const fn above(warning: f32, critical: f32) -> Rule {
        Rule {
            value: Thresholds {
                warning: Limits {
                    above: Some(Limit::at(Bound::strict(warning))),
                    below: None,
                },
                critical: Limits {
                    above: Some(Limit::at(Bound::strict(critical))),
                    below: None,
                },
            },
            ..Rule::EMPTY
        }
    }

    /// WARNING below `warning`, CRITICAL below `critical` (strict bounds, no hysteresis).
    pub const fn below(warning: f32, critical: f32) -> Rule {
        Rule {
            value: Thresholds {
                warning: Limits {
                    above: None,
                    below: Some(Limit::at(Bound::strict(warning))),
                },
                critical: Limits {
                    above: None,
                    below: Some(Limit::at(Bound::strict(critical))),
                },
            },
            ..Rule::EMPTY
        }
    }

    /// Whether [`judge`](Self::judge) needs a forecast.
    pub const fn needs_forecast(&self) -> bool {
        self.predictive.is_some()
    }

    /// The static thresholds a node announces for this rule: the worse side's raise bounds.
    pub fn summary(&self) -> crate::wire::RuleSummary {
        let side = self
            .value
            .critical
            .any()
            .or(self.value.warning.any())
            .map_or(Crossing::Above, |(side, _)| side);
        let on_side = |l: &Limits| match side {
            Crossing::Above => l.above.map(|l| l.raise.value),
            Crossing::Below => l.below.map(|l| l.raise.value),
        };
        crate::wire::RuleSummary {
            crossing: side,
            warning: on_side(&self.value.warning),
            critical: on_side(&self.value.critical),
        }
    }
}

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
impl Default for Rule {
    fn default() -> Rule {
        Rule::EMPTY
    }
}
