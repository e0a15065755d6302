//! Property tests of forecast alerts through the whole pipeline ([`Monitor`]): a noisy linear rise
//! escalates each level at most once and never de-escalates before it crosses the threshold (an
//! unsure forecast is no all-clear), and a rise that levels off clears within the hold time and the
//! clear debounce of the last forecast that supported the level.

use proptest::prelude::*;
use rackwatch_core::alert::{Debounce, Health, Horizon, Predictive, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::Monitor;
use rackwatch_core::rng::XorShift64Star;
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::wire::Transition;
use rackwatch_core::Level;

const MIN: u64 = 60_000;
const PERIOD: u64 = MIN;
/// The window: 64 readings a minute apart.
const WINDOW: usize = 64;
const THRESHOLD: f32 = 100.0;
const START: f32 = 50.0;
const KEEP_FOR: u32 = 45 * MIN as u32;
const CLEAR_FOR: u32 = 5 * MIN as u32;

/// WARNING within 2 h (cleared beyond 3 h), CRITICAL within 30 min (beyond 45 min), the forecast
/// alone (no value bounds, no sensor-health checks).
fn rule() -> Rule {
    Rule {
        predictive: Some(Predictive {
            threshold: THRESHOLD,
            crossing: Crossing::Above,
            warning: Some(Horizon {
                within_ms: 120 * MIN as u32,
                clear_beyond_ms: 180 * MIN as u32,
            }),
            critical: Some(Horizon {
                within_ms: 30 * MIN as u32,
                clear_beyond_ms: 45 * MIN as u32,
            }),
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: KEEP_FOR,
        }),
        health: Health::NONE,
        raise: Debounce::count(2, 3),
        clear: Debounce {
            samples: 3,
            of_last: 3,
            for_ms: CLEAR_FOR,
        },
        ..Rule::EMPTY
    }
}

/// Feeds `value(t)` plus Gaussian noise of `sigma` every minute up to `until_ms`; every transition.
fn run(
    monitor: &mut Monitor<WINDOW>,
    from_ms: u64,
    until_ms: u64,
    sigma: f32,
    rng: &mut XorShift64Star,
    value: impl Fn(u64) -> f32,
) -> Vec<Transition> {
    let mut out = Vec::new();
    let mut t = from_ms;
    while t <= until_ms {
        let v = value(t) + sigma * rng.gaussian_f32();
        out.extend(monitor.observe(t, v).unwrap());
        t += PERIOD;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_noisy_rise_escalates_once_per_level_and_never_clears_before_the_crossing(
        cross_h in 3.0f32..8.0,
        noise in 0.0f32..=0.05,
        seed in any::<u64>(),
    ) {
        let cross_ms = (cross_h * 3_600_000.0) as u64;
        let rate = (THRESHOLD - START) / cross_ms as f32;
        let sigma = noise * (THRESHOLD - START);
        let mut rng = XorShift64Star::new(seed);
        let mut monitor = Monitor::<WINDOW>::new(1, rule(), AnomalyConfig::default(), 0);
        let got = run(&mut monitor, 0, cross_ms, sigma, &mut rng, |t| START + rate * t as f32);
        for level in [Level::Warning, Level::Critical] {
            let raises = got.iter().filter(|t| t.to == level && t.from < level).count();
            prop_assert!(raises <= 1, "{level:?} raised {raises} times: {got:?}");
        }
        prop_assert!(got.iter().all(|t| t.to > t.from), "{got:?}");
    }

    #[test]
    fn a_rise_that_levels_off_clears_within_the_hold_and_the_clear_debounce(
        noise in 0.0f32..=0.05,
        seed in any::<u64>(),
    ) {
        // 12.5 per hour up to 90 (3 h 12 min): about 48 min from the threshold, raised; then flat.
        let rate = 12.5 / 3_600_000.0;
        let off_ms = 192 * MIN;
        let sigma = noise * (THRESHOLD - START);
        let mut rng = XorShift64Star::new(seed);
        let mut monitor = Monitor::<WINDOW>::new(1, rule(), AnomalyConfig::default(), 0);
        let level_at = |t: u64| START + rate * t.min(off_ms) as f32;
        let rise = run(&mut monitor, 0, off_ms, sigma, &mut rng, level_at);
        prop_assert!(monitor.level() >= Level::Warning, "{:?}", rise);
        // Once the window holds only the flat part, no forecast supports the level any more; from
        // the last that did, the hold and then the clear debounce run out.
        let window_ms = WINDOW as u64 * PERIOD;
        let by_ms = off_ms + window_ms + u64::from(KEEP_FOR) + u64::from(CLEAR_FOR) + 3 * PERIOD;
        let flat = run(&mut monitor, off_ms + PERIOD, by_ms, sigma, &mut rng, level_at);
        prop_assert_eq!(monitor.level(), Level::Ok, "{:?}", flat);
        prop_assert!(flat.iter().all(|t| t.to < t.from), "clears only: {flat:?}");
    }
}
