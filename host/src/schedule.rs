//! Schedules: `every N`, and cron expressions read in a named time zone.
//!
//! A job's expected runs and a maintenance window's starts are written as an operator writes a
//! crontab line (`0 2 * * SAT`, `*/15 * * * *`, `@daily`) in the time zone the operator thinks in,
//! or as a plain period (`every 15m`). Times in and out are Unix milliseconds, as everywhere in
//! the host.
//!
//! Invariants:
//! - A parsed [`Cron`] fires at least once in every eight years (a schedule that can never fire,
//!   such as `0 0 31 2 *`, is refused when parsed), so [`Cron::next_after`] and
//!   [`Cron::last_at_or_before`] find a fire within their bounded scan unless the time is at the
//!   edge of the representable range.
//! - Fields follow Vixie cron: minute, hour, day of month, month, day of week (0 and 7 are
//!   Sunday); when both day fields are restricted, a day matches if either does.
//! - Civil times are resolved in the schedule's zone as `cron` does at a DST change: a time that
//!   does not exist (the spring-forward gap) fires when the clock has moved past it (02:30 in a
//!   02:00→03:00 gap fires at 03:30), and a time that occurs twice (the autumn fold) fires once,
//!   at its first occurrence.
//! - The scan is bounded: at most eight years of days, each day at most 1 440 civil minutes.

use crate::config::parse_duration;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::time::Duration;

/// How far [`Cron`] looks for a fire: longer than any valid schedule's longest gap (29 February
/// on a given weekday recurs within 28 years, but with Vixie's OR of the day fields every
/// schedule that names a weekday fires weekly).
const SCAN_DAYS: i32 = 366 * 8;

/// When something is expected: a period, or a cron expression in a time zone.
#[derive(Clone, PartialEq)]
pub enum Schedule {
    /// Every this long, counted from the previous occurrence.
    Every(Duration),
    /// At the times a cron expression names.
    Cron(Cron),
}

impl Schedule {
    /// Reads `every 15m`, `@hourly`/`@daily`/`@weekly`/`@monthly`/`@yearly`, or a five-field cron
    /// expression; `zone` is an IANA time zone name (`Europe/Berlin`, `UTC`), the machine's own
    /// zone when `None`. Errors name the field and the value that is wrong.
    pub fn parse(text: &str, zone: Option<&str>) -> Result<Schedule, String> {
        let text = text.trim();
        if let Some(period) = text.strip_prefix("every ") {
            return parse_period(period.trim()).map(Schedule::Every);
        }
        Cron::parse(text, zone).map(Schedule::Cron)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Schedule::Every(period) => {
                write!(f, "every {}", crate::config::format_duration(*period))
            }
            Schedule::Cron(cron) => cron.fmt(f),
        }
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn parse_period(text: &str) -> Result<Duration, String> {
    let period = parse_duration(text)?;
    if period.is_zero() {
        return Err(format!(
            "`every {text}`: the period must be longer than zero"
        ));
    }
    Ok(period)
}

/// A cron expression and the time zone it is read in.
#[derive(Clone)]
pub struct Cron {
    text: String,
    zone: TimeZone,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    /// Whether the day-of-month field is `*` (Vixie's rule: then only the weekday restricts).
    any_day_of_month: bool,
    /// Whether the day-of-week field is `*`.
    any_day_of_week: bool,
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.zone == other.zone
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.zone.iana_name() {
            Some(name) => write!(f, "{} ({name})", self.text),
            None => f.write_str(&self.text),
        }
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// One of the five fields: its name (for errors), its range and its value names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
const DAY_OF_WEEK: Field = Field {
    name: "day of week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl Cron {
    /// Reads a five-field expression or an `@` shorthand in `zone` (the machine's zone when
    /// `None`).
    pub fn parse(text: &str, zone: Option<&str>) -> Result<Cron, String> {
        let zone = time_zone(zone)?;
        let text = text.trim();
        let expanded = expand_shorthand(text)?;
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!(
                "`{text}`: a cron expression has five fields (minute hour day-of-month month \
                 day-of-week), found {}; or write `every 15m` or `@daily`",
                fields.len()
            ));
        };
        let days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        let cron = Cron {
            text: text.to_string(),
            zone,
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)? as u32,
            days_of_month: parse_field(dom, &DAY_OF_MONTH)? as u32,
            months: parse_field(month, &MONTH)? as u16,
            // Sunday is both 0 and 7.
            days_of_week: ((days_of_week | (days_of_week >> 7)) & 0x7f) as u8,
            any_day_of_month: dom == "*",
            any_day_of_week: dow == "*",
        };
        cron.check_can_fire()?;
        Ok(cron)
    }

    /// The time zone the expression is read in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The first fire strictly after `ms`.
    pub fn next_after(&self, ms: u64) -> Option<u64> {
        let after = timestamp(ms)?;
        let mut date = after.to_zoned(self.zone.clone()).date();
        for _ in 0..SCAN_DAYS {
            let first = self.fires_on(date).filter(|fire| *fire > after).min();
            if let Some(fire) = first {
                return millis(fire);
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    /// The last fire at or before `ms`.
    pub fn last_at_or_before(&self, ms: u64) -> Option<u64> {
        let at = timestamp(ms)?;
        // A gap moves a fire forward by at most a few hours, so a fire of the next civil day
        // can never land at or before `at`; one of this day can.
        let mut date = at.to_zoned(self.zone.clone()).date();
        for _ in 0..SCAN_DAYS {
            let last = self.fires_on(date).filter(|fire| *fire <= at).max();
            if let Some(fire) = last {
                return millis(fire);
            }
            date = date.yesterday().ok()?;
        }
        None
    }

    /// `start_ms` plus `length` on the zone's wall clock: a window from 22:00 that lasts 6 h ends
    /// at 04:00 local time even on the night the clocks change (the window then lasts 5 or 7 h).
    pub fn add_wall_clock(&self, start_ms: u64, length: Duration) -> u64 {
        let fallback =
            start_ms.saturating_add(u64::try_from(length.as_millis()).unwrap_or(u64::MAX));
        let Some(start) = timestamp(start_ms) else {
            return fallback;
        };
        let Ok(length) = SignedDuration::try_from(length) else {
            return fallback;
        };
        let civil = start.to_zoned(self.zone.clone()).datetime();
        civil
            .checked_add(length)
            .ok()
            .and_then(|end| self.resolve(end))
            .and_then(millis)
            .unwrap_or(fallback)
    }

    /// The instants this expression fires on a civil date, in the order of its civil times.
    fn fires_on(&self, date: Date) -> impl Iterator<Item = Timestamp> + '_ {
        let matches = self.matches_date(date);
        (0..24u8)
            .filter(move |hour| matches && self.hours & (1 << hour) != 0)
            .flat_map(move |hour| {
                (0..60u8)
                    .filter(|minute| self.minutes & (1 << minute) != 0)
                    .map(move |minute| date.at(hour as i8, minute as i8, 0, 0))
            })
            .filter_map(|civil| self.resolve(civil))
    }

    /// The instant of a civil time in the zone, as cron resolves gaps and folds.
    fn resolve(&self, civil: DateTime) -> Option<Timestamp> {
        self.zone.to_ambiguous_timestamp(civil).compatible().ok()
    }

    fn matches_date(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (true, true) => true,
            (false, true) => dom,
            (true, false) => dow,
            (false, false) => dom || dow,
        }
    }

    /// Refuses an expression whose days can never occur (`0 0 30 2 *`).
    fn check_can_fire(&self) -> Result<(), String> {
        if !self.any_day_of_week {
            return Ok(());
        }
        const LONGEST: [u32; 13] = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let possible = (1..=12u32).any(|month| {
            self.months & (1 << month) != 0
                && (1..=LONGEST[month as usize]).any(|day| self.days_of_month & (1 << day) != 0)
        });
        if possible {
            Ok(())
        } else {
            Err(format!(
                "`{}` never fires: none of its months has that day",
                self.text
            ))
        }
    }
}

/// A time zone by IANA name, or the machine's own.
pub fn time_zone(name: Option<&str>) -> Result<TimeZone, String> {
    match name {
        None => Ok(TimeZone::system()),
        Some(name) => TimeZone::get(name).map_err(|_| {
            format!(
                "unknown time zone `{name}`: write an IANA name such as `Europe/Berlin`, \
                 `America/New_York` or `UTC`"
            )
        }),
    }
}

fn expand_shorthand(text: &str) -> Result<String, String> {
    if !text.starts_with('@') {
        return Ok(text.to_string());
    }
    let expanded = match text.to_ascii_lowercase().as_str() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        _ => {
            return Err(format!(
                "`{text}`: known shorthands are @yearly, @monthly, @weekly, @daily and @hourly"
            ))
        }
    };
    Ok(expanded.to_string())
}

/// One field as a bit set of its values: lists of `*`, `N`, `A-B`, each with an optional `/STEP`.
fn parse_field(text: &str, field: &Field) -> Result<u64, String> {
    let mut bits = 0u64;
    for item in text.split(',') {
        bits |= parse_item(item, field)
            .map_err(|why| format!("{} field `{text}`: {why}", field.name))?;
    }
    Ok(bits)
}

fn parse_item(item: &str, field: &Field) -> Result<u64, String> {
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, parse_step(step)?),
        None => (item, 1),
    };
    let (first, last) = if range == "*" {
        (field.min, field.max)
    } else if let Some((a, b)) = range.split_once('-') {
        (parse_value(a, field)?, parse_value(b, field)?)
    } else {
        let first = parse_value(range, field)?;
        // `5/15` means from 5 to the end in steps of 15, as Vixie cron reads it.
        (first, if item.contains('/') { field.max } else { first })
    };
    if first > last {
        return Err(format!(
            "`{item}`: the range runs backwards ({first} > {last})"
        ));
    }
    Ok((first..=last)
        .step_by(step)
        .fold(0, |bits, value| bits | 1 << value))
}

fn parse_step(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(step) if step > 0 => Ok(step),
        _ => Err(format!("`/{text}`: a step is a whole number above zero")),
    }
}

fn parse_value(text: &str, field: &Field) -> Result<u32, String> {
    let named = field
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|index| index as u32 + field.min);
    let value = match named {
        Some(value) => value,
        None => text.parse::<u32>().map_err(|_| {
            let names = if field.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({}…)", field.names[..3].join(", "))
            };
            format!("`{text}` is not a number{names}")
        })?,
    };
    if value < field.min || value > field.max {
        return Err(format!("{value} is outside {}–{}", field.min, field.max));
    }
    Ok(value)
}

fn timestamp(ms: u64) -> Option<Timestamp> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok()
}

fn millis(at: Timestamp) -> Option<u64> {
    u64::try_from(at.as_millisecond()).ok()
}

#[cfg(test)]
mod tests;
