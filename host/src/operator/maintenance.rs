//! Maintenance windows: while one is open, the alerts its matchers select are muted as by a
//! silence (`docs/acks-and-silences.md#maintenance-windows`).
//!
//! A window is one-off (a start and an end) or recurring (a cron schedule of starts in a time zone
//! and a duration). Recurring windows are computed by [`crate::schedule`], in the zone's civil
//! time: `0 22 * * SAT` for `6h` in `Europe/Berlin` opens at 22:00 Berlin time every Saturday and
//! closes at 04:00 Berlin time on Sunday, across midnight and across a change of the zone's UTC
//! offset alike.
//!
//! Invariants:
//! - A window is checked when it is made ([`Window::compile`]): a schedule that does not parse, a
//!   zone that does not exist, a duration of zero or longer than [`MAX_DURATION`], an end before
//!   the start are refused with the reason, so a stored or configured window always computes.
//! - Whether a window is open is a function of the time alone ([`Compiled::open_at`]); nothing is
//!   remembered between calls, so a restart inside a window finds it open.

use super::matcher::Matcher;
use crate::schedule::{Cron, Schedule};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The longest a window stays open: a week.
pub const MAX_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// When a window is open.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum When {
    /// Once, from `starts_ms` until `ends_ms` (exclusive), ms since the Unix epoch.
    Once {
        /// From.
        starts_ms: u64,
        /// Until.
        ends_ms: u64,
    },
    /// At every start of `schedule` (5-field cron or `@daily`...) in `time_zone` (IANA; the
    /// machine's zone when `None`), for `duration_ms` of the zone's civil time.
    Recurring {
        /// The cron expression.
        schedule: String,
        /// The IANA time zone.
        time_zone: Option<String>,
        /// How long each opening lasts.
        duration_ms: u64,
    },
}

/// A maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Its id in the store; 0 for a window from the configuration.
    pub id: u64,
    /// Its name (the configuration's, or `window ID` for one added by the CLI).
    pub name: String,
    /// Every one must match the alert (as a silence's).
    pub matchers: Vec<Matcher>,
    /// When it is open.
    pub when: When,
    /// Who made it (`config` for a configured one).
    pub creator: String,
    /// Why.
    pub comment: String,
}

/// A window ready to say when it is open.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The window.
    pub window: Window,
    cron: Option<Cron>,
}

impl Window {
    /// Checks the window and readies it.
    pub fn compile(self) -> Result<Compiled, String> {
        let cron = match &self.when {
            When::Once { starts_ms, ends_ms } => {
                if ends_ms <= starts_ms {
                    return Err("the window ends before it starts: give a later end".into());
                }
                None
            }
            When::Recurring {
                schedule,
                time_zone,
                duration_ms,
            } => {
                if *duration_ms == 0 || *duration_ms > MAX_DURATION.as_millis() as u64 {
                    return Err(format!(
                        "a window lasts more than 0 and at most {}",
                        crate::config::format_duration(MAX_DURATION)
                    ));
                }
                match Schedule::parse(schedule, time_zone.as_deref())? {
                    Schedule::Cron(cron) => Some(cron),
                    Schedule::Every(_) => {
                        return Err(format!(
                            "`{schedule}`: a window recurs on a cron schedule of its starts \
                             (`0 22 * * SAT`, `@daily`), not `every`"
                        ))
                    }
                }
            }
        };
        Ok(Compiled { window: self, cron })
    }
}

impl Compiled {
    /// The opening that contains `now_ms`, as (start, end), if the window is open then.
    pub fn open_at(&self, now_ms: u64) -> Option<(u64, u64)> {
        match (&self.window.when, &self.cron) {
            (When::Once { starts_ms, ends_ms }, _) => {
                (*starts_ms <= now_ms && now_ms < *ends_ms).then_some((*starts_ms, *ends_ms))
            }
            (When::Recurring { duration_ms, .. }, Some(cron)) => {
                let start = cron.last_at_or_before(now_ms)?;
                let end = cron.add_wall_clock(start, Duration::from_millis(*duration_ms));
                (now_ms < end).then_some((start, end))
            }
            (When::Recurring { .. }, None) => None,
        }
    }

    /// When it opens next, after `now_ms`.
    pub fn next_start(&self, now_ms: u64) -> Option<u64> {
        match (&self.window.when, &self.cron) {
            (When::Once { starts_ms, .. }, _) => (*starts_ms > now_ms).then_some(*starts_ms),
            (When::Recurring { .. }, Some(cron)) => cron.next_after(now_ms),
            (When::Recurring { .. }, None) => None,
        }
    }

    /// Whether it has closed for good by `now_ms` (a one-off window past its end).
    pub fn over(&self, now_ms: u64) -> bool {
        matches!(self.window.when, When::Once { ends_ms, .. } if ends_ms <= now_ms)
    }
}

/// How `when` reads in a listing: `2026-12-05T22:00:00Z .. 2026-12-06T04:00:00Z` or
/// `0 22 * * SAT for 6h (Europe/Berlin)`.
pub fn describe(when: &When) -> String {
    use crate::timefmt::format_utc;
    match when {
        When::Once { starts_ms, ends_ms } => {
            format!("{} .. {}", format_utc(*starts_ms), format_utc(*ends_ms))
        }
        When::Recurring {
            schedule,
            time_zone,
            duration_ms,
        } => format!(
            "{schedule} for {} ({})",
            crate::config::format_duration(Duration::from_millis(*duration_ms)),
            time_zone.as_deref().unwrap_or("local time")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timefmt::parse_rfc3339;

    fn at(text: &str) -> u64 {
        parse_rfc3339(text).unwrap()
    }

    fn nightly(schedule: &str, hours: u64) -> Compiled {
        Window {
            id: 1,
            name: "night".into(),
            matchers: vec![Matcher::parse("rack=r2").unwrap()],
            when: When::Recurring {
                schedule: schedule.into(),
                time_zone: Some("Europe/Berlin".into()),
                duration_ms: hours * 3_600_000,
            },
            creator: "ana".into(),
            comment: "recabling".into(),
        }
        .compile()
        .unwrap()
    }

    #[test]
    fn a_nightly_window_crosses_midnight_in_its_zone() {
        // 22:00 to 04:00 Berlin time; in December Berlin is UTC+1.
        let w = nightly("0 22 * * *", 6);
        assert_eq!(w.open_at(at("2026-12-05T20:59:59Z")), None);
        let opening = Some((at("2026-12-05T21:00:00Z"), at("2026-12-06T03:00:00Z")));
        assert_eq!(w.open_at(at("2026-12-05T21:00:00Z")), opening);
        // Past midnight, in the opening of the day before.
        assert_eq!(w.open_at(at("2026-12-06T01:30:00Z")), opening);
        assert_eq!(w.open_at(at("2026-12-06T03:00:00Z")), None);
        assert_eq!(
            w.next_start(at("2026-12-06T03:00:00Z")),
            Some(at("2026-12-06T21:00:00Z"))
        );
    }

    #[test]
    fn an_opening_across_the_autumn_change_lasts_six_hours_of_civil_time() {
        // Sunday 25 October 2026, 03:00 CEST becomes 02:00 CET: the night that opens at 22:00
        // CEST (20:00 UTC) closes at 04:00 CET (03:00 UTC), seven hours later.
        let w = nightly("0 22 * * SAT", 6);
        let opened = at("2026-10-24T20:00:00Z");
        let closes = at("2026-10-25T03:00:00Z");
        assert_eq!(w.open_at(opened), Some((opened, closes)));
        assert_eq!(w.open_at(closes - 1), Some((opened, closes)));
        assert_eq!(w.open_at(closes), None);
        // The next Saturday's opening is at 22:00 CET, 21:00 UTC.
        assert_eq!(w.next_start(closes), Some(at("2026-10-31T21:00:00Z")));
    }

    #[test]
    fn an_opening_across_the_spring_change_lasts_six_hours_of_civil_time() {
        // Sunday 29 March 2026, 02:00 CET becomes 03:00 CEST: opened at 22:00 CET (21:00 UTC),
        // closed at 04:00 CEST (02:00 UTC), five hours later.
        let w = nightly("0 22 * * SAT", 6);
        let opened = at("2026-03-28T21:00:00Z");
        let closes = at("2026-03-29T02:00:00Z");
        assert_eq!(
            w.open_at(at("2026-03-29T01:59:59Z")),
            Some((opened, closes))
        );
        assert_eq!(w.open_at(closes), None);
        assert_eq!(w.next_start(closes), Some(at("2026-04-04T20:00:00Z")));
    }

    #[test]
    fn a_start_in_the_skipped_hour_still_opens() {
        // 02:30 does not exist in Berlin on 29 March 2026: the window opens when the clock has
        // moved past it, at 03:30 CEST (01:30 UTC), as cron fires, and lasts its two hours.
        let w = nightly("30 2 * * *", 2);
        assert_eq!(
            w.open_at(at("2026-03-29T02:00:00Z")),
            Some((at("2026-03-29T01:30:00Z"), at("2026-03-29T03:30:00Z")))
        );
    }

    #[test]
    fn bad_windows_are_refused_with_reasons() {
        let window = |when| Window {
            id: 0,
            name: "w".into(),
            matchers: vec![],
            when,
            creator: "c".into(),
            comment: String::new(),
        };
        let recurring = |schedule: &str, zone: Option<&str>, ms| When::Recurring {
            schedule: schedule.into(),
            time_zone: zone.map(Into::into),
            duration_ms: ms,
        };
        for (when, says) in [
            (
                When::Once {
                    starts_ms: 10,
                    ends_ms: 10,
                },
                "before it starts",
            ),
            (recurring("0 22 * * *", None, 0), "lasts more than 0"),
            (recurring("every 15m", None, 60_000), "cron schedule"),
            (recurring("0 22 * * *", Some("Mars/Olympus"), 60_000), ""),
            (recurring("61 22 * * *", None, 60_000), ""),
        ] {
            let e = window(when).compile().unwrap_err();
            assert!(e.contains(says), "{e}");
        }
    }
}
