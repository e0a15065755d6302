//! An arbitrary rule (including rules `Rule::check` refuses, which the machine runs clamped) and an
//! arbitrary stream of readings (NaN and infinities included) and polls through a `Monitor`.
//! Properties: no panic and no refused call (time only moves forward); levels chain from OK (each
//! transition starts where the previous one ended, a flapping-stopped notice where the last
//! unsuppressed one ended); per-alert sequence numbers increase by exactly one from 0.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use rackwatch_core::alert::{
    AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Limit, Limits, MissingData,
    MissingPolicy, Predictive, Rule, Thresholds,
};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::Monitor;
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::wire::{Cause, Transition};
use rackwatch_core::Level;

/// Mostly values near the thresholds below, so that moves happen; sometimes any bit pattern.
fn value(u: &mut Unstructured) -> Result<f32> {
    Ok(match u.int_in_range(0u8..=9)? {
        0 => f32::from_bits(u.arbitrary()?),
        1 => *u.choose(&[
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
            f32::MIN,
            -0.0,
        ])?,
        _ => f32::from(u.int_in_range(0u8..=100)?),
    })
}

fn bound(u: &mut Unstructured) -> Result<Bound> {
    Ok(Bound {
        value: value(u)?,
        inclusive: u.arbitrary()?,
    })
}

fn limit(u: &mut Unstructured) -> Result<Option<Limit>> {
    if !u.arbitrary()? {
        return Ok(None);
    }
    let raise = bound(u)?;
    let clear = if u.arbitrary()? {
        Some(bound(u)?)
    } else {
        None
    };
    Ok(Some(Limit { raise, clear }))
}

fn limits(u: &mut Unstructured) -> Result<Limits> {
    Ok(Limits {
        above: limit(u)?,
        below: limit(u)?,
    })
}

fn horizon(u: &mut Unstructured) -> Result<Option<Horizon>> {
    if !u.arbitrary()? {
        return Ok(None);
    }
    Ok(Some(Horizon {
        within_ms: u.arbitrary()?,
        clear_beyond_ms: u.arbitrary()?,
    }))
}

fn predictive(u: &mut Unstructured) -> Result<Option<Predictive>> {
    if !u.arbitrary()? {
        return Ok(None);
    }
    Ok(Some(Predictive {
        threshold: value(u)?,
        crossing: if u.arbitrary()? {
            Crossing::Above
        } else {
            Crossing::Below
        },
        warning: horizon(u)?,
        critical: horizon(u)?,
        policy: EtaPolicy {
            min_samples: u.int_in_range(0..=40)?,
            min_t_statistic: value(u)?,
            confidence_z: value(u)?,
        },
        keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
    }))
}

/// Out-of-domain counts (0, N > M, M > 32) on purpose: the machine must clamp them.
fn debounce(u: &mut Unstructured) -> Result<Debounce> {
    Ok(Debounce {
        samples: u.int_in_range(0..=40)?,
        of_last: u.int_in_range(0..=40)?,
        for_ms: *u.choose(&[0, 1, 1_000, 30_000, u32::MAX])?,
    })
}

fn missing(u: &mut Unstructured) -> Result<MissingData> {
    let policy = match u.int_in_range(0u8..=3)? {
        0 => MissingPolicy::Unknown,
        1 => MissingPolicy::HoldLast {
            for_ms: u.arbitrary()?,
        },
        2 => MissingPolicy::Violation { level: level(u)? },
        _ => MissingPolicy::Ok,
    };
    Ok(MissingData {
        deadline_ms: u.arbitrary()?,
        policy,
        startup_grace_ms: u.arbitrary()?,
    })
}

fn level(u: &mut Unstructured) -> Result<Level> {
    Ok(*u.choose(&[Level::Ok, Level::Warning, Level::Critical, Level::Unknown])?)
}

fn rule(u: &mut Unstructured) -> Result<Rule> {
    let thresholds = Thresholds {
        warning: limits(u)?,
        critical: limits(u)?,
    };
    let anomaly = if u.arbitrary()? {
        Some(AnomalyLevels {
            warning: limit(u)?,
            critical: limit(u)?,
        })
    } else {
        None
    };
    Ok(Rule {
        value: thresholds,
        predictive: predictive(u)?,
        anomaly,
        health: Health {
            stuck: u.arbitrary()?,
            out_of_range: u.arbitrary()?,
            slew: u.arbitrary()?,
        },
        raise: debounce(u)?,
        clear: debounce(u)?,
        missing: missing(u)?,
        flapping: if u.arbitrary()? {
            Some(Flapping {
                low_percent: value(u)?,
                high_percent: value(u)?,
            })
        } else {
            None
        },
    })
}

/// Checks the chain and the numbering of everything emitted so far.
struct Chain {
    last: Level,
    notified: Level,
    next_seq: u32,
}

impl Chain {
    fn accept(&mut self, t: &Transition) {
        if t.cause == Cause::FlappingStopped {
            assert_eq!(t.from, self.notified, "{t:?}");
            assert_eq!(t.to, self.last, "{t:?}");
        } else {
            assert_eq!(t.from, self.last, "{t:?}");
            assert_ne!(t.from, t.to, "{t:?}");
        }
        assert_eq!(t.alert_seq, self.next_seq, "{t:?}");
        assert_eq!(t.metric, 7);
        self.next_seq += 1;
        self.last = t.to;
        if !t.suppressed {
            self.notified = t.to;
        }
    }
}

fn run(u: &mut Unstructured) -> Result<()> {
    let rule = rule(u)?;
    let _ = rule.check();
    let anomaly = AnomalyConfig::with_limits(Some(value(u)?), Some(value(u)?), Some(value(u)?));
    let start: u64 = u.int_in_range(0..=1 << 40)?;
    let mut monitor: Monitor<16> = Monitor::new(7, rule, anomaly, start);
    let mut chain = Chain {
        last: Level::Ok,
        notified: Level::Ok,
        next_seq: 0,
    };
    let mut t = start;
    while !u.is_empty() {
        let dt = match u.int_in_range(0u8..=3)? {
            0 => 0,
            1 => u64::from(u.int_in_range(0u16..=2_000)?),
            2 => u64::from(u.arbitrary::<u32>()?),
            _ => u.arbitrary::<u64>()? >> 20,
        };
        t = t.saturating_add(dt);
        let out = if u.arbitrary()? {
            monitor.poll(t).expect("time never goes back")
        } else {
            monitor.observe(t, value(u)?).expect("time never goes back")
        };
        out.iter().for_each(|tr| chain.accept(tr));
        assert_eq!(monitor.level(), chain.last);
        assert_eq!(monitor.alert().next_seq(), chain.next_seq);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let _ = run(&mut Unstructured::new(data));
});
