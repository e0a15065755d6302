//! Wall-clock times on the command line and in output: RFC 3339 in UTC, relative durations, epoch
//! milliseconds. No time zone database: output is always UTC (`Z`); input may carry an offset.

use crate::config::parse_duration;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// `ms` since the epoch as `2026-12-02T14:05:09.123Z` (milliseconds shown only when not zero).
pub fn format_utc(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match ms % 1000 {
        0 => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
        frac => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{frac:03}Z"),
    }
}

/// A span as `3h12m`, `2d4h`, `45s`, `0s`.
pub fn format_span(ms: u64) -> String {
    let s = ms / 1000;
    let (d, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) => format!("{m}m{sec:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ if d >= 365 => format!("{}y", d / 365),
        _ => format!("{d}d{h}h"),
    }
}

/// Parses RFC 3339 (`2026-12-02T14:05:09Z`, `2026-12-02 14:05:09+01:00`, a date alone), as ms since the
/// epoch.
pub fn parse_rfc3339(text: &str) -> Result<u64, String> {
    let bad = || format!("`{text}` is not a time like 2026-12-02T14:05:09Z");
    let t = text.trim();
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let date = t.get(..10).ok_or_else(bad)?;
    let mut parts = date.split('-');
    let (y, mo, d) = (
        num(parts.next().ok_or_else(bad)?)?,
        num(parts.next().ok_or_else(bad)?)?,
        num(parts.next().ok_or_else(bad)?)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    let rest = &t[10..];
    if !rest.is_empty() {
        let rest = rest.strip_prefix(['T', 't', ' ']).ok_or_else(bad)?;
        let hms = rest.get(..8).ok_or_else(bad)?;
        let mut f = hms.split(':');
        let (h, mi, s) = (
            num(f.next().ok_or_else(bad)?)?,
            num(f.next().ok_or_else(bad)?)?,
            num(f.next().ok_or_else(bad)?)?,
        );
        if h > 23 || mi > 59 || s > 60 {
            return Err(bad());
        }
        ms += (h * 3600 + mi * 60 + s) * 1000;
        let mut tail = &rest[8..];
        if let Some(frac) = tail.strip_prefix('.') {
            let digits = frac
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(frac.len());
            let fraction = &frac[..digits];
            if !fraction.is_empty() {
                let padded = format!("{fraction:0<3}");
                ms += num(&padded[..3])?;
            }
            tail = &frac[digits..];
        }
        match tail {
            "" | "Z" | "z" => {}
            offset => {
                let sign = match offset.as_bytes().first() {
                    Some(b'+') => 1,
                    Some(b'-') => -1,
                    _ => return Err(bad()),
                };
                let (oh, om) = offset[1..].split_once(':').ok_or_else(bad)?;
                let (oh, om) = (num(oh)?, num(om)?);
                // RFC 3339 offsets are at most ±23:59; anything else is not a time (and would
                // overflow the arithmetic below).
                if !(0..24).contains(&oh) || !(0..60).contains(&om) {
                    return Err(bad());
                }
                ms -= sign * (oh * 3600 + om * 60) * 1000;
            }
        }
    }
    u64::try_from(ms).map_err(|_| bad())
}

/// A time on the command line: RFC 3339, epoch milliseconds (13 digits or more), epoch seconds,
/// `now` (`now_ms`), or a duration before `now_ms` (`2h` = two hours ago).
pub fn parse_time(text: &str, now_ms: u64) -> Result<u64, String> {
    let t = text.trim();
    if t == "now" {
        return Ok(now_ms);
    }
    if t.chars().all(|c| c.is_ascii_digit()) && !t.is_empty() {
        let n: u64 = t.parse().map_err(|_| format!("`{t}` is out of range"))?;
        return Ok(if t.len() >= 13 { n } else { n * 1000 });
    }
    if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_rfc3339(t);
    }
    let ago = parse_duration(t).map_err(|_| {
        format!("`{t}` is not a time: use 2026-12-02T14:05:09Z, epoch seconds or ms, `now`, or a duration ago like 2h")
    })?;
    Ok(now_ms.saturating_sub(ago.as_millis() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_round_trips_and_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_796_219_603_566), "2026-12-02T13:53:23.566Z");
        for ms in [
            0u64,
            1,
            951_782_400_123,
            1_796_219_603_566,
            4_102_444_800_000,
        ] {
            assert_eq!(parse_rfc3339(&format_utc(ms)), Ok(ms));
        }
        assert_eq!(
            parse_rfc3339("2026-12-02T14:53:23.566+01:00"),
            Ok(1_796_219_603_566)
        );
        assert_eq!(parse_rfc3339("2026-12-02"), Ok(1_796_169_600_000));
        assert!(parse_rfc3339("2026-13-02").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }

    #[test]
    fn command_line_times() {
        let now = 1_796_219_603_566;
        assert_eq!(parse_time("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_time("now", now), Ok(now));
        // Found by fuzzing: a huge offset overflowed; offsets beyond ±23:59 are not times.
        assert!(parse_rfc3339("2026-12-02T10:00:00+9999999999999999:00").is_err());
        assert!(parse_rfc3339("2026-12-02T10:00:00+24:00").is_err());
        assert_eq!(
            parse_rfc3339("2026-12-02T10:00:00+01:30"),
            Ok(1_796_205_600_000 - 5_400_000)
        );
        assert_eq!(parse_time("1796219603", now), Ok(1_796_219_603_000));
        assert_eq!(parse_time("1796219603566", now), Ok(now));
        assert!(parse_time("soon", now)
            .unwrap_err()
            .contains("duration ago"));
    }

    #[test]
    fn spans() {
        assert_eq!(format_span(0), "0s");
        assert_eq!(format_span(45_000), "45s");
        assert_eq!(format_span(11_520_000), "3h12m");
        assert_eq!(format_span(187_200_000), "2d4h");
    }
}
