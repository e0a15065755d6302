use super::*;

/// Unix ms of a civil time in a zone (test input written as an operator reads a clock).
fn at(zone: &str, y: i16, mo: i8, d: i8, h: i8, mi: i8) -> u64 {
    let tz = time_zone(Some(zone)).expect("zone");
    let civil = jiff::civil::date(y, mo, d).at(h, mi, 0, 0);
    let ts = tz
        .to_ambiguous_timestamp(civil)
        .compatible()
        .expect("resolves");
    u64::try_from(ts.as_millisecond()).expect("after 1970")
}

/// Unix ms of a UTC time.
fn utc(y: i16, mo: i8, d: i8, h: i8, mi: i8) -> u64 {
    at("UTC", y, mo, d, h, mi)
}

fn cron(text: &str, zone: &str) -> Cron {
    Cron::parse(text, Some(zone)).expect("parses")
}

#[test]
fn every_is_a_period() {
    assert_eq!(
        Schedule::parse("every 15m", None),
        Ok(Schedule::Every(Duration::from_secs(900)))
    );
    assert!(Schedule::parse("every 0s", None).is_err());
    assert!(Schedule::parse("every soon", None).is_err());
}

#[test]
fn next_and_last_fire_of_a_plain_expression() {
    let c = cron("*/15 * * * *", "UTC");
    let t = utc(2026, 12, 3, 10, 7);
    assert_eq!(c.next_after(t), Some(utc(2026, 12, 3, 10, 15)));
    assert_eq!(c.last_at_or_before(t), Some(utc(2026, 12, 3, 10, 0)));
    // Strictly after, at or before.
    let on = utc(2026, 12, 3, 10, 15);
    assert_eq!(c.next_after(on), Some(utc(2026, 12, 3, 10, 30)));
    assert_eq!(c.last_at_or_before(on), Some(on));
}

#[test]
fn names_ranges_lists_and_steps() {
    // Weekdays at 02:30: from Friday evening the next is Monday.
    let c = cron("30 2 * * MON-FRI", "UTC");
    let friday_evening = utc(2026, 12, 4, 20, 0);
    assert_eq!(c.next_after(friday_evening), Some(utc(2026, 12, 7, 2, 30)));
    let c = cron("0 9,17 1 jan,jul *", "UTC");
    assert_eq!(
        c.next_after(utc(2026, 12, 3, 0, 0)),
        Some(utc(2027, 1, 1, 9, 0))
    );
    // `5/20` is 5, 25, 45.
    let c = cron("5/20 * * * *", "UTC");
    assert_eq!(
        c.next_after(utc(2026, 12, 3, 10, 26)),
        Some(utc(2026, 12, 3, 10, 45))
    );
    // Sunday is both 0 and 7.
    assert_eq!(
        cron("0 0 * * 7", "UTC").next_after(utc(2026, 12, 3, 0, 0)),
        Some(utc(2026, 12, 6, 0, 0))
    );
}

#[test]
fn both_day_fields_restricted_match_either() {
    // The 13th or any Friday: Friday 4 December comes before the 13th.
    let c = cron("0 0 13 * FRI", "UTC");
    assert_eq!(
        c.next_after(utc(2026, 12, 3, 0, 0)),
        Some(utc(2026, 12, 4, 0, 0))
    );
    assert_eq!(
        c.next_after(utc(2026, 12, 11, 1, 0)),
        Some(utc(2026, 12, 13, 0, 0))
    );
}

#[test]
fn shorthands() {
    assert_eq!(
        cron("@daily", "UTC").next_after(utc(2026, 12, 3, 10, 0)),
        Some(utc(2026, 12, 4, 0, 0))
    );
    assert_eq!(
        cron("@hourly", "UTC").next_after(utc(2026, 12, 3, 10, 0)),
        Some(utc(2026, 12, 3, 11, 0))
    );
    assert!(Cron::parse("@reboot", Some("UTC")).is_err());
}

#[test]
fn leap_day_schedules_are_found_years_ahead() {
    let c = cron("0 0 29 2 *", "UTC");
    assert_eq!(
        c.next_after(utc(2026, 12, 3, 0, 0)),
        Some(utc(2028, 2, 29, 0, 0))
    );
    assert_eq!(
        c.last_at_or_before(utc(2026, 12, 3, 0, 0)),
        Some(utc(2024, 2, 29, 0, 0))
    );
}

#[test]
fn errors_name_the_field_and_the_value() {
    let err = |text: &str| Cron::parse(text, Some("UTC")).expect_err("refused");
    assert!(err("61 * * * *").contains("minute field `61`: 61 is outside 0–59"));
    assert!(err("* 24 * * *").contains("hour field"));
    assert!(err("* * * FOO *").contains("month field `FOO`"));
    assert!(err("* * * * 1-0").contains("runs backwards"));
    assert!(err("*/0 * * * *").contains("step"));
    assert!(err("* * * *").contains("five fields"));
    assert!(err("0 0 30 2 *").contains("never fires"));
    assert!(Cron::parse("* * * * *", Some("Mars/Olympus"))
        .expect_err("zone")
        .contains("unknown time zone"));
}

#[test]
fn a_time_in_the_spring_gap_fires_when_the_clock_has_passed_it() {
    // Europe/Berlin, 29 March 2026: 02:00 CET jumps to 03:00 CEST.
    let c = cron("30 2 * * *", "Europe/Berlin");
    let night_before = at("Europe/Berlin", 2026, 3, 28, 12, 0);
    assert_eq!(
        c.next_after(night_before),
        Some(at("Europe/Berlin", 2026, 3, 29, 3, 30))
    );
    // 01:30 UTC is 03:30 CEST.
    assert_eq!(c.next_after(night_before), Some(utc(2026, 3, 29, 1, 30)));
    // And the next day is back to 02:30 local.
    let after = at("Europe/Berlin", 2026, 3, 29, 4, 0);
    assert_eq!(c.next_after(after), Some(utc(2026, 3, 30, 0, 30)));
}

#[test]
fn a_time_in_the_autumn_fold_fires_once() {
    // Europe/Berlin, 25 October 2026: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    let c = cron("30 2 * * *", "Europe/Berlin");
    let first = c
        .next_after(at("Europe/Berlin", 2026, 10, 24, 12, 0))
        .expect("fires");
    assert_eq!(first, utc(2026, 10, 25, 0, 30)); // 02:30 CEST
    assert_eq!(c.next_after(first), Some(utc(2026, 10, 26, 1, 30))); // 02:30 CET next day
    assert_eq!(c.last_at_or_before(utc(2026, 10, 25, 1, 45)), Some(first));
}

#[test]
fn wall_clock_length_crosses_midnight_and_dst() {
    let c = cron("0 22 * * *", "Europe/Berlin");
    // An ordinary night: 22:00 + 6 h = 04:00, 6 h later.
    let start = at("Europe/Berlin", 2026, 12, 3, 22, 0);
    assert_eq!(
        c.add_wall_clock(start, Duration::from_secs(6 * 3600)),
        start + 6 * 3_600_000
    );
    // The autumn night: 04:00 local is 7 h after 22:00.
    let start = at("Europe/Berlin", 2026, 10, 24, 22, 0);
    let end = c.add_wall_clock(start, Duration::from_secs(6 * 3600));
    assert_eq!(end, at("Europe/Berlin", 2026, 10, 25, 4, 0));
    assert_eq!(end - start, 7 * 3_600_000);
    // The spring night: 5 h.
    let start = at("Europe/Berlin", 2026, 3, 28, 22, 0);
    let end = c.add_wall_clock(start, Duration::from_secs(6 * 3600));
    assert_eq!(end - start, 5 * 3_600_000);
}

#[test]
fn zone_changes_the_instant() {
    let berlin = cron("0 9 * * *", "Europe/Berlin");
    let new_york = cron("0 9 * * *", "America/New_York");
    let t = utc(2026, 12, 3, 0, 0);
    assert_eq!(berlin.next_after(t), Some(utc(2026, 12, 3, 8, 0)));
    assert_eq!(new_york.next_after(t), Some(utc(2026, 12, 3, 14, 0)));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// next_after is strictly later, last_at_or_before is not later, and nothing of the
        /// schedule lies between last and next.
        #[test]
        fn last_and_next_bracket_any_time(
            minute in 0u32..60, hour in 0u32..24, step in 1u32..40,
            t in 1_600_000_000_000u64..1_900_000_000_000,
        ) {
            let text = format!("{minute}/{step} {hour} * * *");
            let c = Cron::parse(&text, Some("Europe/Berlin")).expect("parses");
            let next = c.next_after(t).expect("next");
            let last = c.last_at_or_before(t).expect("last");
            prop_assert!(last <= t && t < next);
            prop_assert_eq!(c.next_after(last), Some(next));
        }
    }
}
