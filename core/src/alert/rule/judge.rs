//! The judgement of one reading against a rule: the worst level any condition gives, its cause,
//! and what the alert's state lends the judgement ([`Standing`]).
//!
//! Invariants: a health finding the rule cares about makes the reading invalid; otherwise the worst
//! level wins, naming on a tie the value, then the forecast, then the anomaly score; an unsure
//! forecast never raises and never clears by itself (see [`super`]).

use super::Rule;
use crate::anomaly::AnomalyScore;
use crate::trend::{Crossing, TimeTo};
use crate::wire::Cause;
use crate::Level;

impl Rule {
    /// Judges one reading. `standing` is the alert's confirmed level (for hysteresis) and its memory
    /// of the last confident forecast (for the hold); `eta` is the forecast toward the predictive
    /// threshold (ignored without a predictive condition); `score` is the reading's anomaly score.
    ///
    /// A health finding the rule cares about makes the reading [`Judgement::Invalid`]. Otherwise the
    /// worst level any condition gives wins; on a tie the value, then the forecast, then the anomaly
    /// score is named as the cause. A reading below the confirmed level of a rule that forecasts at
    /// that level names the forecast's [`Outlook`](crate::wire::Outlook) instead (see the [rule's
    /// module docs](super)).
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
