//! Formatting for the dashboard: values, spans, counts, trend arrows, ETAs and level colours. Pure
//! functions of the snapshot's fields, so they are tested without a terminal.
//!
//! Every function accepts any input the daemon could send (non-finite numbers, control
//! characters in names) and returns something printable; none panics.

use crate::state::{EtaView, MetricView};
use crate::timefmt::format_span;
use rackwatch_core::Level;
use ratatui::style::{Color, Modifier, Style};

/// The colour and weight of an alert level: OK green, WARNING yellow, CRITICAL red, UNKNOWN
/// magenta.
pub fn level_style(level: Level) -> Style {
    match level {
        Level::Ok => Style::new().fg(Color::Green),
        Level::Warning => Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        Level::Critical => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        Level::Unknown => Style::new().fg(Color::Magenta),
    }
}

/// A level in four characters (`OK`, `WARN`, `CRIT`, `UNKN`), for narrow columns.
pub fn level_abbrev(level: Level) -> &'static str {
    match level {
        Level::Ok => "OK",
        Level::Warning => "WARN",
        Level::Critical => "CRIT",
        Level::Unknown => "UNKN",
    }
}

/// How bad a level is, for picking a node's worst: CRITICAL 3, WARNING 2, UNKNOWN 1, OK 0.
pub fn level_rank(level: Level) -> u8 {
    match level {
        Level::Critical => 3,
        Level::Warning => 2,
        Level::Unknown => 1,
        Level::Ok => 0,
    }
}

/// The direction of a metric's trend, with a dead band around flat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// Rising by at least [`STEEP`] of the metric's scale per hour.
    Rising,
    /// Rising, but less steeply.
    RisingSlowly,
    /// Changing by less than [`DEAD_BAND`] of the scale per hour either way.
    Flat,
    /// Falling, but less steeply.
    FallingSlowly,
    /// Falling by at least [`STEEP`] of the scale per hour.
    Falling,
    /// No fit (too few samples), or a slope that is not a number.
    Unknown,
}

impl Trend {
    /// `↑ ↗ → ↘ ↓`, or a space when unknown.
    pub fn arrow(self) -> &'static str {
        match self {
            Trend::Rising => "↑",
            Trend::RisingSlowly => "↗",
            Trend::Flat => "→",
            Trend::FallingSlowly => "↘",
            Trend::Falling => "↓",
            Trend::Unknown => " ",
        }
    }
}

/// Slopes smaller than this fraction of the scale per hour are flat (`→`).
pub const DEAD_BAND: f64 = 0.02;
/// Slopes of at least this fraction of the scale per hour are steep (`↑`, `↓`).
pub const STEEP: f64 = 0.2;

/// The trend of a slope in units per hour, judged against `scale` (see [`trend_scale`]): flat
/// within ±[`DEAD_BAND`]`·scale` (exclusive), steep from ±[`STEEP`]`·scale` (inclusive). A scale that is
/// not a positive number counts as 1.
pub fn trend(slope_per_hour: Option<f64>, scale: f64) -> Trend {
    let Some(slope) = slope_per_hour.filter(|s| s.is_finite()) else {
        return Trend::Unknown;
    };
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    let r = slope / scale;
    if r.abs() < DEAD_BAND {
        Trend::Flat
    } else if r >= STEEP {
        Trend::Rising
    } else if r > 0.0 {
        Trend::RisingSlowly
    } else if r <= -STEEP {
        Trend::Falling
    } else {
        Trend::FallingSlowly
    }
}

/// What a change of "a lot" is for this metric: the gap between its warning and critical bounds;
/// else a tenth of the one bound it has; else the range of its recent values; else a tenth of its
/// value; else 1.
pub fn trend_scale(metric: &MetricView) -> f64 {
    let positive = |x: f64| (x.is_finite() && x > 0.0).then_some(x);
    let bound = |b: Option<f32>| b.map(f64::from).filter(|b| b.is_finite());
    let (warning, critical) = (bound(metric.warning), bound(metric.critical));
    if let (Some(w), Some(c)) = (warning, critical) {
        if let Some(gap) = positive((c - w).abs()) {
            return gap;
        }
    }
    if let Some(b) = critical.or(warning).and_then(|b| positive(b.abs() * 0.1)) {
        return b;
    }
    let finite = metric.recent.iter().filter(|v| v.is_finite());
    let (min, max) = finite.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(v), hi.max(v))
    });
    positive(f64::from(max) - f64::from(min))
        .or_else(|| {
            metric
                .value
                .and_then(|v| positive(f64::from(v).abs() * 0.1))
        })
        .unwrap_or(1.0)
}

/// A reading for a column: two decimals below 100, one below 1000, none below a million, then
/// scientific; `-` for no value or one that is not a number.
pub fn format_value(value: Option<f32>) -> String {
    match value.filter(|v| v.is_finite()) {
        None => "-".into(),
        Some(v) => {
            let a = v.abs();
            if a >= 1e6 {
                format!("{v:.2e}")
            } else if a >= 1000.0 {
                format!("{v:.0}")
            } else if a >= 100.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.2}")
            }
        }
    }
}

/// A bound as people write it: `35`, `35.5`, `0.125`, `-2`; `?` when it is not a number.
pub fn format_number(x: f64) -> String {
    if !x.is_finite() {
        return "?".into();
    }
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{x:.0}");
    }
    let digits = if x.abs() < 1.0 { 3 } else { 2 };
    let text = format!("{x:.digits$}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "" | "-" | "-0" => "0".into(),
        t => t.into(),
    }
}

/// A slope per hour with its sign in at most about five characters: `+0.80`, `-12.3`, `+123`,
/// `+1.2k`, `-45M`; empty when there is none or it is not a number.
pub fn format_slope(slope_per_hour: Option<f64>) -> String {
    let Some(s) = slope_per_hour.filter(|s| s.is_finite()) else {
        return String::new();
    };
    let sign = if s < 0.0 { '-' } else { '+' };
    let a = s.abs();
    let body = if a < 10.0 {
        format!("{a:.2}")
    } else if a < 100.0 {
        format!("{a:.1}")
    } else if a < 1000.0 {
        format!("{a:.0}")
    } else {
        scaled(a)
    };
    format!("{sign}{body}")
}

/// `1.2k`, `45k`, `3.4M`, `12G`, `5T`; `>999T` beyond.
fn scaled(a: f64) -> String {
    for (factor, suffix) in [(1e3, 'k'), (1e6, 'M'), (1e9, 'G'), (1e12, 'T')] {
        let x = a / factor;
        if x < 10.0 {
            return format!("{x:.1}{suffix}");
        }
        if x < 1000.0 {
            return format!("{x:.0}{suffix}");
        }
    }
    ">999T".into()
}

/// A counter: as is below 10000, then `12.3k`-style.
pub fn format_count(n: u64) -> String {
    if n < 10_000 {
        n.to_string()
    } else {
        scaled(n as f64)
    }
}

/// A forecast as `35 degC in 3h12m` (the threshold, the unit, the time to it), or `35 degC
/// reached` when the fit is already there.
pub fn format_eta(eta: &EtaView, unit: &str) -> String {
    let threshold = format_number(f64::from(eta.threshold));
    let unit = clean(unit);
    let target = if unit.is_empty() {
        threshold
    } else {
        format!("{threshold} {unit}")
    };
    if eta.ms == 0 {
        format!("{target} reached")
    } else {
        format!("{target} in {}", format_span(eta.ms))
    }
}

/// `text` with control characters (escape sequences from a misbehaving node) replaced by `?`, so
/// nothing the daemon sends can drive the terminal.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// `text` cleaned and cut to at most `width` characters; a cut keeps the start and the end with a
/// `~` between (`disk:/var/~/main`), since both ends of metric names carry meaning.
pub fn truncate(text: &str, width: usize) -> String {
    let text = clean(text);
    let n = text.chars().count();
    if n <= width {
        return text;
    }
    match width {
        0 => String::new(),
        1 => "~".into(),
        _ => {
            let tail = (width - 1) / 3;
            let head = width - 1 - tail;
            let start: String = text.chars().take(head).collect();
            let end: String = text.chars().skip(n - tail).collect();
            format!("{start}~{end}")
        }
    }
}

/// `text` cleaned and word-wrapped to lines of at most `width` characters, at most `max_lines` of
/// them; a word longer than a line is split, and text beyond the last line is cut with a final `~`.
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    if width == 0 || max_lines == 0 {
        return Vec::new();
    }
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let mut line_len = 0;
    for word in clean(text).split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        while !word.is_empty() {
            let room = if line_len == 0 {
                width
            } else {
                width.saturating_sub(line_len + 1)
            };
            if word.len() <= room {
                if line_len > 0 {
                    line.push(' ');
                    line_len += 1;
                }
                line.extend(word.iter());
                line_len += word.len();
                word.clear();
            } else if line_len > 0 {
                lines.push(std::mem::take(&mut line));
                line_len = 0;
            } else {
                let rest = word.split_off(width);
                lines.push(word.iter().collect());
                word = rest;
            }
        }
    }
    if line_len > 0 {
        lines.push(line);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let mut cut: String = last.chars().take(width - 1).collect();
            cut.push('~');
            *last = cut;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric() -> MetricView {
        MetricView {
            id: 0,
            name: "inlet_temperature".into(),
            unit: "degC".into(),
            value: Some(31.0),
            wall_ms: Some(0),
            level: Level::Warning,
            node_level: None,
            flapping: false,
            score: None,
            anomaly: None,
            slope_per_hour: None,
            eta: None,
            warning: Some(30.0),
            critical: Some(35.0),
            recent: vec![],
        }
    }

    #[test]
    fn eta_reads_like_the_readme() {
        let eta = |ms| EtaView {
            threshold: 35.0,
            above: true,
            ms,
            accelerating: false,
        };
        assert_eq!(format_eta(&eta(11_520_000), "degC"), "35 degC in 3h12m");
        assert_eq!(format_eta(&eta(45_000), "degC"), "35 degC in 45s");
        assert_eq!(format_eta(&eta(3 * 86_400_000), "degC"), "35 degC in 3d0h");
        assert_eq!(format_eta(&eta(0), "degC"), "35 degC reached");
        let low = EtaView {
            threshold: 12.5,
            above: false,
            ms: 90_000,
            accelerating: false,
        };
        assert_eq!(format_eta(&low, "%"), "12.5 % in 1m30s");
        assert_eq!(format_eta(&low, ""), "12.5 in 1m30s");
        let odd = EtaView {
            threshold: f32::NAN,
            above: true,
            ms: 1000,
            accelerating: false,
        };
        assert_eq!(format_eta(&odd, "V\x1b[2J"), "? V?[2J in 1s");
    }

    #[test]
    fn numbers_are_written_as_people_write_them() {
        assert_eq!(format_number(35.0), "35");
        assert_eq!(format_number(35.5), "35.5");
        assert_eq!(format_number(0.125), "0.125");
        assert_eq!(format_number(-2.0), "-2");
        assert_eq!(format_number(-0.0001), "0");
        assert_eq!(format_value(Some(36.2)), "36.20");
        assert_eq!(format_value(Some(1013.25)), "1013");
        assert_eq!(format_value(Some(123.46)), "123.5");
        assert_eq!(format_value(Some(2.5e9)), "2.50e9");
        assert_eq!(format_value(Some(f32::INFINITY)), "-");
        assert_eq!(format_value(None), "-");
        assert_eq!(format_count(9_999), "9999");
        assert_eq!(format_count(12_345), "12k");
        assert_eq!(format_count(3_400_000), "3.4M");
        assert_eq!(format_count(u64::MAX), ">999T");
    }

    #[test]
    fn slopes_keep_their_sign_and_stay_short() {
        assert_eq!(format_slope(Some(0.8)), "+0.80");
        assert_eq!(format_slope(Some(-12.34)), "-12.3");
        assert_eq!(format_slope(Some(123.4)), "+123");
        assert_eq!(format_slope(Some(1234.0)), "+1.2k");
        assert_eq!(format_slope(Some(-45e6)), "-45M");
        assert_eq!(format_slope(Some(0.0)), "+0.00");
        assert_eq!(format_slope(Some(f64::NAN)), "");
        assert_eq!(format_slope(None), "");
    }

    #[test]
    fn trend_arrows_have_a_dead_band_and_a_steep_band() {
        // Scale 1: flat below 0.02/h (exclusive), steep from 0.2/h (inclusive).
        assert_eq!(trend(Some(0.0), 1.0), Trend::Flat);
        assert_eq!(trend(Some(0.0199), 1.0), Trend::Flat);
        assert_eq!(trend(Some(-0.0199), 1.0), Trend::Flat);
        assert_eq!(trend(Some(0.02), 1.0), Trend::RisingSlowly);
        assert_eq!(trend(Some(0.1999), 1.0), Trend::RisingSlowly);
        assert_eq!(trend(Some(0.2), 1.0), Trend::Rising);
        assert_eq!(trend(Some(-0.02), 1.0), Trend::FallingSlowly);
        assert_eq!(trend(Some(-0.2), 1.0), Trend::Falling);
        // Scale 5 (warning 30, critical 35): 0.8 degC/h rises slowly, 4 degC/h steeply.
        assert_eq!(trend(Some(0.05), 5.0), Trend::Flat);
        assert_eq!(trend(Some(0.8), 5.0), Trend::RisingSlowly);
        assert_eq!(trend(Some(4.0), 5.0), Trend::Rising);
        assert_eq!(trend(None, 5.0), Trend::Unknown);
        assert_eq!(trend(Some(f64::INFINITY), 5.0), Trend::Unknown);
        // A scale that is not a positive number counts as 1.
        assert_eq!(trend(Some(0.5), 0.0), Trend::Rising);
        assert_eq!(trend(Some(0.05), f64::NAN), Trend::RisingSlowly);
        let arrows: Vec<&str> = [
            Trend::Rising,
            Trend::RisingSlowly,
            Trend::Flat,
            Trend::FallingSlowly,
            Trend::Falling,
        ]
        .iter()
        .map(|t| t.arrow())
        .collect();
        assert_eq!(arrows.concat(), "↑↗→↘↓");
    }

    #[test]
    fn the_trend_scale_comes_from_the_rule_then_the_data() {
        let mut m = metric();
        assert_eq!(trend_scale(&m), 5.0);
        m.warning = None;
        assert_eq!(trend_scale(&m), 3.5);
        m.critical = None;
        m.recent = vec![20.0, 22.0, f32::NAN, 21.0];
        assert_eq!(trend_scale(&m), 2.0);
        m.recent = vec![20.0, 20.0];
        assert!((trend_scale(&m) - 3.1).abs() < 1e-6);
        m.value = None;
        assert_eq!(trend_scale(&m), 1.0);
        // Equal bounds fall back to a tenth of the bound.
        let mut m = metric();
        m.warning = Some(35.0);
        assert_eq!(trend_scale(&m), 3.5);
    }

    #[test]
    fn levels_have_their_colours() {
        assert_eq!(level_style(Level::Ok).fg, Some(Color::Green));
        assert_eq!(level_style(Level::Warning).fg, Some(Color::Yellow));
        assert_eq!(level_style(Level::Critical).fg, Some(Color::Red));
        assert_eq!(level_style(Level::Unknown).fg, Some(Color::Magenta));
        assert!(level_style(Level::Critical)
            .add_modifier
            .contains(Modifier::BOLD));
        assert_eq!(level_abbrev(Level::Critical), "CRIT");
        assert!(level_rank(Level::Critical) > level_rank(Level::Warning));
        assert!(level_rank(Level::Warning) > level_rank(Level::Unknown));
        assert!(level_rank(Level::Unknown) > level_rank(Level::Ok));
    }

    #[test]
    fn wrapping_keeps_words_and_marks_a_cut() {
        let text = "cannot reach the daemon at http://127.0.0.1:1: Connection refused";
        let lines = wrap(text, 30, 3);
        assert_eq!(
            lines,
            [
                "cannot reach the daemon at",
                "http://127.0.0.1:1: Connection",
                "refused"
            ]
        );
        assert_eq!(wrap(text, 30, 2)[1], "http://127.0.0.1:1: Connectio~");
        assert_eq!(wrap("abcdefgh", 3, 5), ["abc", "def", "gh"]);
        assert_eq!(wrap("a\x1bb  c", 10, 1), ["a?b c"]);
        assert!(wrap("", 10, 2).is_empty());
        assert!(wrap("abc", 0, 2).is_empty());
        for width in 1..40 {
            assert!(wrap(text, width, 10)
                .iter()
                .all(|l| l.chars().count() <= width));
        }
    }

    #[test]
    fn truncation_keeps_both_ends_and_removes_control_characters() {
        assert_eq!(truncate("inlet_temperature", 20), "inlet_temperature");
        assert_eq!(truncate("inlet_temperature", 10), "inlet_~ure");
        assert_eq!(truncate("inlet_temperature", 10).chars().count(), 10);
        assert_eq!(
            truncate("disk:/var/lib/postgresql/16/main", 16),
            "disk:/var/~/main"
        );
        assert_eq!(truncate("abc", 1), "~");
        assert_eq!(truncate("abc", 0), "");
        assert_eq!(truncate("a\x1b[31mb", 20), "a?[31mb");
        assert_eq!(truncate("ééééé", 3), "éé~");
    }
}
