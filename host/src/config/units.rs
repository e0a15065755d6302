//! Durations and sizes as people write them (`30d`, `250ms`, `2GiB`), both ways.
//!
//! Invariant: `parse_duration(&format_duration(d)) == Ok(d)` for every duration below 40 days and
//! every whole number of seconds (the parser goes through `f64`, exact to the nanosecond there), and `parse_size(&format_size(n)) == Ok(n)` for every size below 2^53 bytes, so that
//! `rackwatch config show` prints values that load back unchanged. The formatters pick the largest
//! unit that states the value exactly, because `30d` is what a person wrote and can read back.

use std::time::Duration;

/// `"1.5 GiB"` → `("1.5", "GiB")`: the leading digits and dots, and the rest, trimmed.
fn number_and_unit(text: &str) -> (&str, &str) {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    (number, unit.trim())
}

/// `30d`, `12h`, `10m`, `5s`, `250ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = number_and_unit(text);
    let n: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration like `30d`, `12h`, `10m`, `5s` or `250ms`")
    })?;
    let seconds = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        "w" => n * 7.0 * 86_400.0,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit of time (ms, s, m, h, d, w)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// `2GiB`, `500MB`, `64KiB`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let (number, unit) = number_and_unit(text);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `2GiB` or `500MB`"))?;
    let factor: f64 = match unit {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit of size (B, KB, MB, GB, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    Ok((n * factor) as u64)
}

/// The duration in the largest of `d`, `h`, `m`, `s`, `ms` that states it exactly; below a
/// millisecond, decimal seconds (the parser reads those back to the nanosecond).
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if !nanos.is_multiple_of(1_000_000) {
        let fraction = format!("{:09}", d.subsec_nanos());
        return format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'));
    }
    let ms = nanos / 1_000_000;
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| ms.is_multiple_of(*size))
        .map_or_else(
            || format!("{ms}ms"),
            |(size, unit)| format!("{}{unit}", ms / size),
        )
}

/// The size in the largest binary unit (`GiB`, ...) that states it exactly, else the largest
/// decimal one (`MB`, ...), else bytes.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 7] = [
        (1 << 40, "TiB"),
        (1 << 30, "GiB"),
        (1 << 20, "MiB"),
        (1 << 10, "KiB"),
        (1_000_000_000, "GB"),
        (1_000_000, "MB"),
        (1000, "KB"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| bytes != 0 && bytes.is_multiple_of(*size))
        .map_or_else(
            || format!("{bytes}B"),
            |(size, unit)| format!("{}{unit}", bytes / size),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert!(parse_size("5 parsecs").unwrap_err().contains("parsecs"));
    }

    #[test]
    fn the_formatters_pick_the_largest_exact_unit() {
        let cases = [
            (Duration::from_secs(30 * 86_400), "30d"),
            (Duration::from_secs(36 * 3600), "36h"),
            (Duration::from_secs(90), "90s"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_micros(1500), "0.0015s"),
            (Duration::ZERO, "0s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
        }
        assert_eq!(format_size(2 << 30), "2GiB");
        assert_eq!(format_size(500_000_000), "500MB");
        assert_eq!(format_size(1000), "1KB");
        assert_eq!(format_size(1023), "1023B");
        assert_eq!(format_size(0), "0B");
    }

    proptest! {
        #[test]
        fn durations_round_trip(nanos in 0u64..(40 * 86_400 * 1_000_000_000), whole_ms in any::<bool>()) {
            let nanos = if whole_ms { nanos - nanos % 1_000_000 } else { nanos };
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn whole_seconds_round_trip(secs in 0u64..(100 * 365 * 86_400)) {
            let d = Duration::from_secs(secs);
            prop_assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }

        #[test]
        fn sizes_round_trip(bytes in 0u64..(1 << 53), unit in 0u32..4) {
            let bytes = bytes - bytes % 1024u64.pow(unit);
            prop_assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }
}
