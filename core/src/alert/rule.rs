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
//! An unsure forecast ([`TimeTo::PoorFit`], [`TimeTo::NotEnoughData`]) is no evidence either way:
//! it never raises a predictive condition, and it does not clear a raised one. A raised predictive
//! condition (level `X`) is *held* by an unsure reading while a confident forecast backed `X` (its
//! estimate within `X`'s clear horizon) less than [`Predictive::keep_for_ms`] before (Prometheus'
//! `keep_firing_for`, applied to the forecast's silence rather than to the alert's). It clears on a
//! confident estimate beyond the clear horizon, on a confident [`TimeTo::Never`] (flat or
//! receding), or on an unsure reading once the hold has run out; the clear debounce counts these
//! readings as for any condition, and a held reading interrupts it like any reading at `X`. So one
//! noisy estimate beyond the horizon among unsure ones does not end the level. When each level was
//! last backed is the [`AlertMachine`](super::AlertMachine)'s memory, handed to the judgement as a
//! [`Standing`].
//!
//! A reading below the confirmed level `L` of a rule that forecasts at `L`, when a forecast has
//! backed `L`, names the forecast's [`Outlook`] as its cause ([`Cause::ForecastReceded`]): why the
//! level the forecast was guarding may end.

use crate::anomaly::AnomalyScore;
use crate::trend::{Crossing, EtaPolicy, TimeTo};
use crate::wire::{Cause, Outlook};
use crate::Level;
use serde::{Deserialize, Serialize};

/// Most samples an N-of-M debounce can look back over.
pub const MAX_DEBOUNCE_SAMPLES: u8 = 32;

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
    fn reached(&self, v: f32, side: Crossing) -> bool {
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
    fn judge(&self, v: f32, side: Crossing, raised: bool) -> (bool, f32) {
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

    fn judge(&self, v: f32, raised: bool) -> Option<f32> {
        let sides = [(self.above, Crossing::Above), (self.below, Crossing::Below)];
        sides.into_iter().find_map(|(limit, side)| {
            let (violated, bound) = limit?.judge(v, side, raised);
            violated.then_some(bound)
        })
    }

    fn any(&self) -> Option<(Crossing, f32)> {
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

/// A forecast horizon: raised when the threshold is reached within `within_ms`, cleared when a
/// confident estimate moves beyond `clear_beyond_ms` (at least `within_ms`), when the trend is
/// confidently flat or receding, or when no confident estimate has supported it for the rule's
/// [`Predictive::keep_for_ms`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(deny_unknown_fields)]
pub struct Horizon {
    /// Raised when ETA ≤ this (inclusive).
    pub within_ms: u32,
    /// A raised horizon stays raised while ETA ≤ this; values below `within_ms` count as `within_ms`.
    pub clear_beyond_ms: u32,
}

/// The predictive condition: the window's least-squares trend reaches `threshold` soon.
///
/// Serde: human-readable formats (the TOML configuration, the store's JSON) carry every field, with
/// `keep_for_ms` defaulting to [`Predictive::DEFAULT_KEEP_FOR_MS`]. The wire (postcard, version 1 of
/// `docs/wire.md`) has no `keep_for_ms`: a Metric frame decodes with the default, so a node's rules
/// keep the default (the firmware's tests assert it) and a host replaying the node agrees with it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Predictive {
    /// The threshold the forecast is about (e.g. 95 % full).
    pub threshold: f32,
    /// Which side of it is bad.
    pub crossing: Crossing,
    /// WARNING horizon.
    pub warning: Option<Horizon>,
    /// CRITICAL horizon.
    pub critical: Option<Horizon>,
    /// When an estimate is confident enough to act on.
    pub policy: EtaPolicy,
    /// How long a raised predictive level is held by unsure forecasts after the last confident one
    /// that supported it (`0`: an unsure forecast clears at once, as before the hold existed).
    pub keep_for_ms: u32,
}

impl Predictive {
    /// The hold when none is configured, and the only one the wire's version 1 can announce: 45
    /// minutes. A node fits its forecast over 64 readings (about 11 minutes at 10 s), over which a
    /// slow, noisy climb is often not significant; the hold bridges those silences for as long as a
    /// CRITICAL forecast (30 minutes, cleared beyond 45) would take to come true.
    pub const DEFAULT_KEEP_FOR_MS: u32 = 45 * 60_000;

    /// The horizon of `level` (WARNING or CRITICAL).
    const fn horizon(&self, level: Level) -> Option<Horizon> {
        match level {
            Level::Warning => self.warning,
            Level::Critical => self.critical,
            Level::Ok | Level::Unknown => None,
        }
    }

    /// What a confident forecast says on its own: the worst level whose horizon it falls within (a
    /// raised level's clear horizon), `Some(OK)` when within none, and the cause naming it; `None`
    /// when the forecast is unsure.
    fn judge(&self, eta: TimeTo, raised: impl Fn(Level) -> bool) -> (Option<Level>, Option<Cause>) {
        let eta_ms = match eta {
            TimeTo::Eta(eta) => eta.ms,
            TimeTo::AlreadyCrossed => 0,
            TimeTo::Never => return (Some(Level::Ok), None),
            TimeTo::NotEnoughData | TimeTo::PoorFit => return (None, None),
        };
        for level in [Level::Critical, Level::Warning] {
            let Some(h) = self.horizon(level) else {
                continue;
            };
            let limit = if raised(level) {
                h.clear_beyond_ms.max(h.within_ms)
            } else {
                h.within_ms
            };
            if eta_ms <= u64::from(limit) {
                let cause = Cause::Eta {
                    eta_ms,
                    threshold: self.threshold,
                };
                return (Some(level), Some(cause));
            }
        }
        (Some(Level::Ok), None)
    }

    /// The level an unsure forecast holds: the worst raised level with a horizon that a confident
    /// forecast backed less than `keep_for_ms` ago; OK when none.
    fn held(&self, standing: &Standing, eta: TimeTo, raised: impl Fn(Level) -> bool) -> Level {
        if !matches!(eta, TimeTo::NotEnoughData | TimeTo::PoorFit) {
            return Level::Ok;
        }
        let recent = |level| {
            standing
                .backed_ago(level)
                .is_some_and(|ago| ago < u64::from(self.keep_for_ms))
        };
        [Level::Critical, Level::Warning]
            .into_iter()
            .find(|&level| self.horizon(level).is_some() && raised(level) && recent(level))
            .unwrap_or(Level::Ok)
    }

    /// Why the forecast no longer guards `current`, if this rule forecasts at that level and a
    /// confident forecast has backed it (else the level was another condition's, and the reading
    /// names its own cause). Called only for a reading judged below `current`, where the forecast
    /// does not back `current`: a confident estimate is beyond its clear horizon, an unsure one's
    /// hold has run out.
    fn outlook(&self, current: Level, standing: &Standing, eta: TimeTo) -> Option<Outlook> {
        let horizon = self.horizon(current)?;
        let backed_ago = standing.backed_ago(current)?;
        match eta {
            TimeTo::Eta(eta) => Some(Outlook::Beyond {
                eta_ms: eta.ms,
                horizon_ms: horizon.clear_beyond_ms.max(horizon.within_ms),
            }),
            TimeTo::Never => Some(Outlook::Never),
            TimeTo::NotEnoughData | TimeTo::PoorFit => Some(Outlook::Unsure {
                for_ms: u32::try_from(backed_ago).unwrap_or(u32::MAX),
            }),
            // Within every horizon, so it backs `current`: the reading is not below it.
            TimeTo::AlreadyCrossed => None,
        }
    }
}

/// [`Predictive`] as the wire's version 1 encodes it: without `keep_for_ms`.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Predictive")]
struct PredictiveV1 {
    threshold: f32,
    crossing: Crossing,
    warning: Option<Horizon>,
    critical: Option<Horizon>,
    policy: EtaPolicy,
}

/// [`Predictive`] as configuration files and the store write it: every field, defaults allowed.
#[derive(Serialize, Deserialize)]
#[serde(rename = "Predictive", default, deny_unknown_fields)]
struct PredictiveFields {
    threshold: f32,
    crossing: Crossing,
    warning: Option<Horizon>,
    critical: Option<Horizon>,
    policy: EtaPolicy,
    keep_for_ms: u32,
}

impl Default for PredictiveFields {
    fn default() -> Self {
        let p = Predictive::default();
        PredictiveFields {
            threshold: p.threshold,
            crossing: p.crossing,
            warning: p.warning,
            critical: p.critical,
            policy: p.policy,
            keep_for_ms: p.keep_for_ms,
        }
    }
}

impl Serialize for Predictive {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let p = *self;
        if serializer.is_human_readable() {
            PredictiveFields {
                threshold: p.threshold,
                crossing: p.crossing,
                warning: p.warning,
                critical: p.critical,
                policy: p.policy,
                keep_for_ms: p.keep_for_ms,
            }
            .serialize(serializer)
        } else {
            PredictiveV1 {
                threshold: p.threshold,
                crossing: p.crossing,
                warning: p.warning,
                critical: p.critical,
                policy: p.policy,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Predictive {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let f = PredictiveFields::deserialize(deserializer)?;
            Ok(Predictive {
                threshold: f.threshold,
                crossing: f.crossing,
                warning: f.warning,
                critical: f.critical,
                policy: f.policy,
                keep_for_ms: f.keep_for_ms,
            })
        } else {
            let v = PredictiveV1::deserialize(deserializer)?;
            Ok(Predictive {
                threshold: v.threshold,
                crossing: v.crossing,
                warning: v.warning,
                critical: v.critical,
                policy: v.policy,
                keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
            })
        }
    }
}

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
    /// The sensor repeats one value ([`AnomalyScore::stuck`]).
    pub stuck: bool,
    /// The value is outside the physical range ([`AnomalyScore::out_of_range`]).
    pub out_of_range: bool,
    /// The value changes faster than physically possible ([`AnomalyScore::slew`]).
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

/// Debounce of one direction: a change needs support from `samples` of the last `of_last` readings,
/// held without interruption for `for_ms`.
///
/// `samples` = `of_last` = 1 and `for_ms` = 0 change on the first supporting reading. `for_ms` alone
/// is Prometheus' `for` (inclusive: the change happens on the first reading at least `for_ms` after
/// the first supporting one); `samples` = `of_last` = N is Nagios' `max_check_attempts`; `samples` <
/// `of_last` tolerates misses (3 of 5: one good reading among bad ones does not restart anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[serde(default, deny_unknown_fields)]
pub struct Debounce {
    /// N: supporting readings needed, 1 ≤ N ≤ `of_last`.
    pub samples: u8,
    /// M: readings looked back over, 1 ≤ M ≤ [`MAX_DEBOUNCE_SAMPLES`].
    pub of_last: u8,
    /// How long the N-of-M support must have held, inclusive.
    pub for_ms: u32,
}

impl Debounce {
    /// Change on the first supporting reading.
    pub const IMMEDIATE: Debounce = Debounce {
        samples: 1,
        of_last: 1,
        for_ms: 0,
    };

    /// N of the last M readings.
    pub const fn count(samples: u8, of_last: u8) -> Debounce {
        Debounce {
            samples,
            of_last,
            for_ms: 0,
        }
    }

    /// Every reading for `for_ms` (Prometheus' `for`).
    pub const fn time(for_ms: u32) -> Debounce {
        Debounce {
            samples: 1,
            of_last: 1,
            for_ms,
        }
    }

    /// `(N, M)` clamped into their domains.
    pub(crate) fn n_of_m(&self) -> (u8, u8) {
        let m = self.of_last.clamp(1, MAX_DEBOUNCE_SAMPLES);
        (self.samples.clamp(1, m), m)
    }
}

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

    /// A critical value bound at or beyond the warning bound on the same side.
    fn check_level_order(&self) -> Result<(), RuleError> {
        for (field, warning, critical, above) in [
            (
                "value.critical.above",
                self.value.warning.above,
                self.value.critical.above,
                true,
            ),
            (
                "value.critical.below",
                self.value.warning.below,
                self.value.critical.below,
                false,
            ),
        ] {
            let (Some(w), Some(c)) = (warning, critical) else {
                continue;
            };
            let inverted = if above {
                c.raise.value < w.raise.value
            } else {
                c.raise.value > w.raise.value
            };
            if inverted {
                return Err(RuleError::new(
                    field,
                    "the critical bound must be at or beyond the warning bound",
                ));
            }
        }
        Ok(())
    }

    /// The first field outside its domain, if any. A rule that passes behaves exactly as written;
    /// one that does not is still run, with each field clamped into its domain.
    pub fn check(&self) -> Result<(), RuleError> {
        for (field, d) in [("raise", &self.raise), ("clear", &self.clear)] {
            if d.of_last == 0 || d.of_last > MAX_DEBOUNCE_SAMPLES {
                return Err(RuleError::new(field, "of_last must be 1 to 32"));
            }
            if d.samples == 0 || d.samples > d.of_last {
                return Err(RuleError::new(field, "samples must be 1 to of_last"));
            }
        }
        let limits = [
            ("value.warning.above", self.value.warning.above),
            ("value.warning.below", self.value.warning.below),
            ("value.critical.above", self.value.critical.above),
            ("value.critical.below", self.value.critical.below),
        ];
        for (field, limit) in limits {
            let Some(limit) = limit else { continue };
            if !limit.raise.value.is_finite() || limit.clear.is_some_and(|c| !c.value.is_finite()) {
                return Err(RuleError::new(field, "bounds must be finite numbers"));
            }
            let side = if field.ends_with("above") {
                Crossing::Above
            } else {
                Crossing::Below
            };
            if let Some(clear) = limit.clear {
                let wrong_side = match side {
                    Crossing::Above => clear.value > limit.raise.value,
                    Crossing::Below => clear.value < limit.raise.value,
                };
                if wrong_side {
                    return Err(RuleError::new(
                        field,
                        "the clear bound must be on the good side of the raise bound",
                    ));
                }
            }
        }
        self.check_level_order()?;
        if let Some(p) = &self.predictive {
            if !p.threshold.is_finite() {
                return Err(RuleError::new(
                    "predictive.threshold",
                    "must be a finite number",
                ));
            }
            for (field, h) in [
                ("predictive.warning", p.warning),
                ("predictive.critical", p.critical),
            ] {
                if h.is_some_and(|h| h.clear_beyond_ms < h.within_ms) {
                    return Err(RuleError::new(field, "clear_beyond_ms must be ≥ within_ms"));
                }
            }
            if let (Some(w), Some(c)) = (p.warning, p.critical) {
                if c.within_ms > w.within_ms {
                    return Err(RuleError::new(
                        "predictive.critical",
                        "within_ms must be at most the warning's: critical is the nearer forecast",
                    ));
                }
            }
        }
        if let Some(a) = &self.anomaly {
            for (field, limit) in [
                ("anomaly.warning", a.warning),
                ("anomaly.critical", a.critical),
            ] {
                let Some(limit) = limit else { continue };
                let in_unit = |b: Bound| (0.0..=1.0).contains(&b.value);
                if !in_unit(limit.raise) || limit.clear.is_some_and(|c| !in_unit(c)) {
                    return Err(RuleError::new(field, "score levels must be within 0 to 1"));
                }
            }
        }
        if let MissingPolicy::Violation { level } = self.missing.policy {
            if !matches!(level, Level::Warning | Level::Critical) {
                return Err(RuleError::new(
                    "missing.policy",
                    "a violation level must be WARNING or CRITICAL",
                ));
            }
        }
        if let Some(f) = &self.flapping {
            let pct = |x: f32| (0.0..=100.0).contains(&x);
            if !pct(f.low_percent) || !pct(f.high_percent) || f.low_percent > f.high_percent {
                return Err(RuleError::new(
                    "flapping",
                    "thresholds must satisfy 0 ≤ low_percent ≤ high_percent ≤ 100",
                ));
            }
        }
        Ok(())
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

    /// Judges one reading. `standing` is the alert's confirmed level (for hysteresis) and its memory
    /// of the last confident forecast (for the hold); `eta` is the forecast toward the predictive
    /// threshold (ignored without a predictive condition); `score` is the reading's anomaly score.
    ///
    /// A health finding the rule cares about makes the reading [`Judgement::Invalid`]. Otherwise the
    /// worst level any condition gives wins; on a tie the value, then the forecast, then the anomaly
    /// score is named as the cause. A reading below the confirmed level of a rule that forecasts at
    /// that level names the forecast's [`Outlook`] instead (see the [module docs](self)).
    pub fn judge(
        &self,
        standing: &Standing,
        value: f32,
        eta: TimeTo,
        score: &AnomalyScore,
    ) -> Judgement {
        let h = &self.health;
        if (h.stuck && score.stuck > 0.0)
            || (h.out_of_range && score.out_of_range)
            || (h.slew && score.slew)
        {
            return Judgement::Invalid;
        }
        let current = standing.level;
        let raised = |level: Level| current != Level::Unknown && current >= level;
        let mut verdict = (Level::Ok, None);
        let mut consider = |level: Level, cause: Option<Cause>| {
            if let Some(cause) = cause {
                if level > verdict.0 || verdict.1.is_none() && level == verdict.0 {
                    verdict = (level, Some(cause));
                }
            }
        };
        for (level, limits) in [
            (Level::Critical, &self.value.critical),
            (Level::Warning, &self.value.warning),
        ] {
            let cause = limits
                .judge(value, raised(level))
                .map(|bound| Cause::Value { value, bound });
            consider(level, cause);
        }
        let mut forecast = None;
        if let Some(p) = &self.predictive {
            let (level, cause) = p.judge(eta, raised);
            forecast = level;
            consider(level.unwrap_or(Level::Ok), cause);
            // A held level names the reading's value: if this reading ends a worse level, it is
            // not the forecast that ended it.
            let held = p.held(standing, eta, raised);
            if held != Level::Ok {
                consider(held, Some(self.ok_cause(value, eta, score)));
            }
        }
        if let Some(a) = &self.anomaly {
            for (level, limit) in [(Level::Critical, a.critical), (Level::Warning, a.warning)] {
                let cause = limit.and_then(|l| {
                    let (violated, _) = l.judge(score.score, Crossing::Above, raised(level));
                    violated.then_some(Cause::Anomaly { score: score.score })
                });
                consider(level, cause);
            }
        }
        let (level, cause) = match verdict {
            (level, Some(cause)) => (level, cause),
            (_, None) => (Level::Ok, self.ok_cause(value, eta, score)),
        };
        let cause = match &self.predictive {
            Some(p) if current != Level::Unknown && level < current => p
                .outlook(current, standing, eta)
                .map_or(cause, |outlook| Cause::ForecastReceded { outlook }),
            _ => cause,
        };
        Judgement::Valid {
            level,
            cause,
            forecast,
        }
    }

    /// The cause named when a reading is OK: the value against the nearest configured bound, else the
    /// forecast, else the anomaly score.
    fn ok_cause(&self, value: f32, eta: TimeTo, score: &AnomalyScore) -> Cause {
        if let Some((_, bound)) = self.value.warning.any().or(self.value.critical.any()) {
            return Cause::Value { value, bound };
        }
        match (&self.predictive, eta) {
            (Some(p), TimeTo::Eta(eta)) => Cause::Eta {
                eta_ms: eta.ms,
                threshold: p.threshold,
            },
            (None, _) if self.anomaly.is_some() => Cause::Anomaly { score: score.score },
            _ => Cause::Value {
                value,
                bound: value,
            },
        }
    }
}

/// What the judgement of a reading needs from the alert's state: the confirmed level, and when a
/// confident forecast last backed each predictive level (for the hold of a raised one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Standing {
    /// The confirmed level.
    pub level: Level,
    /// For WARNING, then CRITICAL: how long before this reading a confident forecast last backed
    /// the level (its estimate within the level's horizon, the clear horizon once raised); `None`
    /// when none has since the alert started or its data was last missing.
    pub backed_ms_ago: [Option<u64>; 2],
}

impl Standing {
    /// A confirmed level that no forecast has backed: what a rule without a predictive condition,
    /// or a freshly started alert, judges against.
    pub const fn at(level: Level) -> Standing {
        Standing {
            level,
            backed_ms_ago: [None, None],
        }
    }

    /// How long ago a confident forecast last backed `level` (WARNING or CRITICAL).
    pub const fn backed_ago(&self, level: Level) -> Option<u64> {
        match level {
            Level::Warning => self.backed_ms_ago[0],
            Level::Critical => self.backed_ms_ago[1],
            Level::Ok | Level::Unknown => None,
        }
    }
}

/// The verdict on one reading.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Judgement {
    /// A trustworthy reading at `level` (OK, WARNING or CRITICAL), for `cause`.
    Valid {
        /// The level the reading supports.
        level: Level,
        /// Why.
        cause: Cause,
        /// The level a confident forecast on this reading supported on its own (OK when none);
        /// `None` when the forecast was unsure or the rule forecasts nothing.
        forecast: Option<Level>,
    },
    /// The sensor is unhealthy: the reading supports UNKNOWN.
    Invalid,
}

impl Judgement {
    /// The level this reading supports on its own.
    pub const fn level(&self) -> Level {
        match self {
            Judgement::Valid { level, .. } => *level,
            Judgement::Invalid => Level::Unknown,
        }
    }

    /// The cause a transition on this reading names.
    pub const fn cause(&self) -> Cause {
        match self {
            Judgement::Valid { cause, .. } => *cause,
            Judgement::Invalid => Cause::SensorFault,
        }
    }
}

/// A rule field outside its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RuleError {
    /// The field, as a dotted path (`raise`, `value.warning.above`, …).
    pub field: &'static str,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl RuleError {
    const fn new(field: &'static str, problem: &'static str) -> RuleError {
        RuleError { field, problem }
    }
}

impl core::fmt::Display for RuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "rule field `{}`: {}", self.field, self.problem)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RuleError {}

// Defaults, so that a configuration file names only what it changes (`#[serde(default)]`; postcard,
// which always writes every field, is unaffected).
impl Default for Limit {
    fn default() -> Limit {
        Limit::at(Bound::strict(0.0))
    }
}
impl Default for Predictive {
    fn default() -> Predictive {
        Predictive {
            threshold: 0.0,
            crossing: Crossing::Above,
            warning: None,
            critical: None,
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
        }
    }
}
impl Default for Health {
    fn default() -> Health {
        Health::ALL
    }
}
impl Default for Debounce {
    fn default() -> Debounce {
        Debounce::IMMEDIATE
    }
}
impl Default for MissingData {
    fn default() -> MissingData {
        MissingData::NEVER
    }
}
impl Default for Flapping {
    fn default() -> Flapping {
        Flapping::NAGIOS
    }
}
impl Default for Rule {
    fn default() -> Rule {
        Rule::EMPTY
    }
}
