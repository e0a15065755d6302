//! The domain check of a rule: [`Rule::check`] names the first field outside its domain.
//!
//! Invariants: a rule that passes behaves exactly as written; one that does not is still run by the
//! state machine with each field clamped into its domain (never a panic).

use super::{Bound, MissingPolicy, Rule, MAX_DEBOUNCE_SAMPLES};
use crate::trend::Crossing;
use crate::Level;

impl Rule {
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
