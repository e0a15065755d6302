//! The rules the local node sends with its metrics: filling (disks, inodes, memory, a service's
//! memory toward its limit), counts of events in a window (restarts, OOM kills), and plain
//! observation (load, rates) judged only by the anomaly score.
//!
//! Invariants: every rule goes UNKNOWN after three missed samples, so a figure that stops being
//! readable is never shown as a stale OK; every rule passes [`Rule::check`] for any settings the
//! configuration accepts (warning at or below critical, horizons within `u32` milliseconds).

use rackwatch_core::alert::{Bound, Horizon, Limit, Limits, MissingData, Predictive, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::trend::{Crossing, EtaPolicy};
use std::time::Duration;

/// The longest forecast horizon a filling rule may have: its clearing horizon (one and a half
/// times as long) still fits the wire's `u32` milliseconds.
pub const MAX_HORIZON: Duration = Duration::from_secs(30 * 86_400);

/// When something that fills up (a disk, a service's memory) is a problem: above a share of its
/// capacity, or when its trend reaches the capacity soon.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillRule {
    /// WARNING above this percent of the capacity.
    pub warning_percent: f32,
    /// CRITICAL above this percent.
    pub critical_percent: f32,
    /// WARNING when the trend reaches 100 % within this.
    pub warning_within: Duration,
    /// CRITICAL when the trend reaches 100 % within this.
    pub critical_within: Duration,
}

impl FillRule {
    /// node_exporter's customary disk alerts: full within a day or above 90 % is WARNING, full
    /// within four hours or above 95 % is CRITICAL.
    pub const DISK: FillRule = FillRule {
        warning_percent: 90.0,
        critical_percent: 95.0,
        warning_within: Duration::from_secs(24 * 3600),
        critical_within: Duration::from_secs(4 * 3600),
    };

    /// The machine's memory fills faster than a disk: the horizons are two hours and one.
    pub const MEMORY: FillRule = FillRule {
        warning_within: Duration::from_secs(2 * 3600),
        critical_within: Duration::from_secs(3600),
        ..FillRule::DISK
    };

    /// The settings' first mistake, in words naming the key suffix (`warning_percent`).
    pub fn check(&self) -> Result<(), String> {
        for (key, p) in [
            ("warning_percent", self.warning_percent),
            ("critical_percent", self.critical_percent),
        ] {
            if !(0.0..=100.0).contains(&p) {
                return Err(format!("{key}: {p} is not a percentage from 0 to 100"));
            }
        }
        if self.critical_percent < self.warning_percent {
            return Err(format!(
                "critical_percent: {} is below warning_percent {}; CRITICAL must be at or above \
                 WARNING",
                self.critical_percent, self.warning_percent
            ));
        }
        if self.critical_within > self.warning_within {
            return Err(
                "critical_within: longer than warning_within; the CRITICAL horizon must be the \
                 nearer one"
                    .into(),
            );
        }
        Ok(())
    }

    /// The core's rule for a figure in percent of its capacity sampled every `interval`.
    pub fn rule(&self, interval: Duration) -> Rule {
        let horizon = |d: Duration| {
            let within = u32::try_from(d.min(MAX_HORIZON).as_millis()).unwrap_or(u32::MAX);
            Horizon {
                within_ms: within,
                clear_beyond_ms: within.saturating_add(within / 2),
            }
        };
        let mut rule = Rule::above(self.warning_percent, self.critical_percent);
        rule.predictive = Some(Predictive {
            threshold: 100.0,
            crossing: Crossing::Above,
            warning: Some(horizon(self.warning_within)),
            critical: Some(horizon(self.critical_within)),
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
        });
        rule.missing = unknown_after_missed(interval);
        rule
    }
}

/// The anomaly parameters of a local figure within `min..=max`. The stuck-sensor check is off: a
/// kernel figure that stays put (a disk nobody writes, a restart count back at 0 for hours) is a
/// fact, and calling it stuck would turn it UNKNOWN.
pub const fn anomaly(min: f32, max: Option<f32>) -> AnomalyConfig {
    AnomalyConfig {
        stuck_samples: 0,
        ..AnomalyConfig::with_limits(Some(min), max, None)
    }
}

/// [`anomaly`] for a percentage of a capacity that cannot be exceeded.
pub const PERCENT: AnomalyConfig = anomaly(0.0, Some(100.0));
/// [`anomaly`] for a count, a rate or a size.
pub const POSITIVE: AnomalyConfig = anomaly(0.0, None);

/// UNKNOWN after three missed samples.
pub fn unknown_after_missed(interval: Duration) -> MissingData {
    MissingData::unknown_after(
        u32::try_from(interval.as_millis().saturating_mul(3)).unwrap_or(u32::MAX),
    )
}

/// No threshold: the anomaly score and the history are what this figure is for.
pub fn observed(interval: Duration) -> Rule {
    Rule {
        missing: unknown_after_missed(interval),
        ..Rule::EMPTY
    }
}

/// WARNING above `warning` and CRITICAL above `critical` (strict), with no forecast.
pub fn above(warning: f32, critical: f32, interval: Duration) -> Rule {
    Rule {
        missing: unknown_after_missed(interval),
        ..Rule::above(warning, critical)
    }
}

/// A count of events in a window: `level` once it reaches `count` (inclusive).
pub fn count_reaches(count: u32, critical: bool, interval: Duration) -> Rule {
    let limits = Limits {
        above: Some(Limit::at(Bound::inclusive(count as f32))),
        below: None,
    };
    let mut rule = observed(interval);
    if critical {
        rule.value.critical = limits;
    } else {
        rule.value.warning = limits;
    }
    rule
}

/// CRITICAL while a 0/1 figure is 0 (a service not running).
pub fn is_up(interval: Duration) -> Rule {
    let mut rule = observed(interval);
    rule.value.critical = Limits {
        above: None,
        below: Some(Limit::at(Bound::strict(0.5))),
    };
    rule
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_rule_passes_the_cores_check() {
        let interval = Duration::from_secs(10);
        for rule in [
            FillRule::DISK.rule(interval),
            FillRule::MEMORY.rule(interval),
            observed(interval),
            above(10.0, 30.0, interval),
            count_reaches(3, true, interval),
            count_reaches(1, false, interval),
            is_up(interval),
        ] {
            assert_eq!(rule.check(), Ok(()), "{rule:?}");
        }
        assert_eq!(FillRule::DISK.check(), Ok(()));
    }

    /// A restart count that rose once and then stays at 0 for hours, judged as the host judges it.
    fn level_after_a_long_flat_stretch(anomaly: AnomalyConfig) -> rackwatch_core::Level {
        use rackwatch_core::monitor::Monitor;
        let interval = Duration::from_secs(10);
        let rule = count_reaches(3, true, interval);
        let mut monitor: Monitor<64> = Monitor::new(0, rule, anomaly, 0);
        let series = std::iter::repeat_n(0.0, 100)
            .chain(std::iter::repeat_n(1.0, 90))
            .chain(std::iter::repeat_n(0.0, 5000));
        for (i, v) in (1u64..).zip(series) {
            let _ = monitor.observe(i * 10_000, v);
        }
        monitor.level()
    }

    #[test]
    fn a_figure_that_stays_put_is_not_a_stuck_sensor() {
        assert_eq!(
            level_after_a_long_flat_stretch(POSITIVE),
            rackwatch_core::Level::Ok
        );
        // The default detector would call it stuck and the reading invalid: UNKNOWN.
        assert_eq!(
            level_after_a_long_flat_stretch(AnomalyConfig::with_limits(Some(0.0), None, None)),
            rackwatch_core::Level::Unknown
        );
    }

    #[test]
    fn inverted_fill_settings_are_refused_with_the_key() {
        let bad = FillRule {
            critical_percent: 80.0,
            ..FillRule::DISK
        };
        assert!(bad.check().unwrap_err().starts_with("critical_percent"));
        let bad = FillRule {
            critical_within: Duration::from_secs(48 * 3600),
            ..FillRule::DISK
        };
        assert!(bad.check().unwrap_err().starts_with("critical_within"));
    }
}
