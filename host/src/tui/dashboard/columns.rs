//! The columns of a metric line: their widths for a screen width, and the labels over them.
//!
//! Invariants: a line never needs more than the screen width (down to the narrowest name, when
//! every optional column has gone); columns give way in a fixed order (the sparkline shrinks, the
//! name is cut, then the anomaly, node-level, sparkline and trend columns go), and the forecast
//! takes whatever width is left.

use crate::tui::format::truncate;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;

pub(super) const INDENT: u16 = 1;
const VALUE: u16 = 10;
const TREND: u16 = 6;
const LEVEL: u16 = 8;
const NODE: u16 = 4;
const ANOMALY: u16 = 4;
pub(super) const ETA_MIN: u16 = 16;
pub(super) const SPARK_MIN: u16 = 5;
const SPARK_MAX: u16 = 24;
pub(super) const NAME_MIN: u16 = 8;
const NAME_CUT: u16 = 12;
const NAME_MAX: u16 = 24;

/// The widths of a metric line's columns; 0: left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Columns {
    pub(super) name: u16,
    pub(super) value: u16,
    pub(super) spark: u16,
    pub(super) trend: u16,
    pub(super) level: u16,
    pub(super) node: u16,
    pub(super) anomaly: u16,
    pub(super) eta: u16,
}

impl Columns {
    /// The characters a line needs: the indent, the columns, a blank before each column after the
    /// name, and the flapping marker right after the level.
    pub(super) fn total(&self) -> i32 {
        let gap = |w: u16| if w == 0 { 0 } else { i32::from(w) + 1 };
        i32::from(INDENT)
            + i32::from(self.name)
            + gap(self.value)
            + gap(self.spark)
            + gap(self.trend)
            + gap(self.level)
            + 1
            + gap(self.node)
            + gap(self.anomaly)
            + gap(self.eta)
    }

    /// The widths for a screen `width` wide whose longest metric name is `longest_name`.
    pub(super) fn fit(width: u16, longest_name: usize) -> Columns {
        let name = u16::try_from(longest_name)
            .unwrap_or(u16::MAX)
            .clamp(NAME_MIN, NAME_MAX);
        let mut c = Columns {
            name,
            value: VALUE,
            spark: SPARK_MAX,
            trend: TREND,
            level: LEVEL,
            node: NODE,
            anomaly: ANOMALY,
            eta: ETA_MIN,
        };
        let width = i32::from(width);
        let over = |c: &Columns| c.total() - width;
        let shrink = |w: &mut u16, min: u16, by: i32| {
            let cut = by.clamp(0, i32::from(w.saturating_sub(min))) as u16;
            *w -= cut;
        };
        let by = over(&c);
        shrink(&mut c.spark, SPARK_MIN, by);
        let by = over(&c);
        shrink(&mut c.name, NAME_CUT, by);
        for drop in [
            |c: &mut Columns| c.anomaly = 0,
            |c: &mut Columns| c.node = 0,
            |c: &mut Columns| c.spark = 0,
            |c: &mut Columns| c.trend = 0,
        ] {
            if over(&c) > 0 {
                drop(&mut c);
            }
        }
        let by = over(&c);
        shrink(&mut c.name, NAME_MIN, by);
        let by = over(&c);
        shrink(&mut c.eta, 8, by);
        // The forecast is last: it takes whatever is left.
        let spare = -over(&c);
        if spare > 0 {
            c.eta = c
                .eta
                .saturating_add(u16::try_from(spare).unwrap_or(u16::MAX));
        }
        c
    }
}

/// The labels over the metric lines' columns, each the longest that fits its width.
pub(super) fn column_header(c: &Columns) -> Line<'static> {
    let mut text = " ".repeat(usize::from(INDENT));
    // The first label that fits.
    let mut cell = |labels: &[&str], w: u16, right: bool, gap: bool| {
        if w == 0 {
            return;
        }
        if gap {
            text.push(' ');
        }
        let w = usize::from(w);
        let fits = labels.iter().find(|l| l.chars().count() <= w);
        let label = fits.map_or_else(|| truncate(labels[0], w), |l| l.to_string());
        if right {
            text.push_str(&format!("{label:>w$}"));
        } else {
            text.push_str(&format!("{label:<w$}"));
        }
    };
    cell(&["metric"], c.name, false, false);
    cell(&["value"], c.value, true, true);
    cell(&["recent", "graph"], c.spark, false, true);
    cell(&["trend/h", "per h"], c.trend, false, true);
    cell(&["host"], c.level + 1, false, true);
    cell(&["node"], c.node, false, true);
    cell(&["anom"], c.anomaly, false, true);
    cell(&["forecast"], c.eta, false, true);
    Line::styled(
        text.trim_end().to_string(),
        Style::new()
            .fg(Color::DarkGray)
            .add_modifier(Modifier::UNDERLINED),
    )
}
