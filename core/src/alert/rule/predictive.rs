//! The predictive condition: the forecast reaches a threshold within a horizon; and its serde
//! forms (the wire's version 1 without `keep_for_ms`, configuration and store with every field).
//!
//! Invariants: a Metric frame decodes with [`Predictive::DEFAULT_KEEP_FOR_MS`], so a node's rules
//! and a host replaying them agree; human-readable formats carry every field.

use super::Standing;
use crate::trend::{Crossing, EtaPolicy, TimeTo};
use crate::wire::{Cause, Outlook};
use crate::Level;
use serde::{Deserialize, Serialize};

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

/// The predictive condition: the monitor's forecast (its regime-aware trend) reaches `threshold` soon.
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
    pub(super) const fn horizon(&self, level: Level) -> Option<Horizon> {
        match level {
            Level::Warning => self.warning,
            Level::Critical => self.critical,
            Level::Ok | Level::Unknown => None,
        }
    }

    /// What a confident forecast says on its own: the worst level whose horizon it falls within (a
    /// raised level's clear horizon), `Some(OK)` when within none, and the cause naming it; `None`
    /// when the forecast is unsure.
    pub(super) fn judge(
        &self,
        eta: TimeTo,
        raised: impl Fn(Level) -> bool,
    ) -> (Option<Level>, Option<Cause>) {
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
    pub(super) fn held(
        &self,
        standing: &Standing,
        eta: TimeTo,
        raised: impl Fn(Level) -> bool,
    ) -> Level {
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
    pub(super) fn outlook(
        &self,
        current: Level,
        standing: &Standing,
        eta: TimeTo,
    ) -> Option<Outlook> {
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

// The default, so that a configuration file names only what it changes (`#[serde(default)]`;
// postcard, which always writes every field, is unaffected).
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
