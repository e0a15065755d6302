//! The dashboard's body: one line per node and one per metric below it, or a word on why there is
//! nothing to show yet.
//!
//! Invariants: a cell never spills past its column or the line; a value that is not a number shows
//! as `-` (the sparkline's bar as empty); nothing from the daemon reaches the terminal uncleaned.

use super::columns::{Columns, INDENT};
use super::View;
use crate::state::{MetricView, NodeView, Snapshot};
use crate::timefmt::format_span;
use crate::tui::format::{
    clean, format_count, format_eta, format_slope, format_value, level_abbrev, level_rank,
    level_style, trend, trend_scale, truncate,
};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};

/// One body row.
pub(super) enum Row<'a> {
    Node(&'a NodeView),
    /// A metric, and why its alert notifies no one, if it does not.
    Metric(&'a MetricView, Option<Mark>),
    Text(Line<'static>),
}

/// The rows below the header: each node and its metrics, or a word on why there are none.
pub(super) fn rows<'a>(view: &View, snapshot: Option<&'a Snapshot>) -> Vec<Row<'a>> {
    let dim = Style::new().fg(Color::DarkGray);
    let Some(s) = snapshot else {
        let text = if view.error.is_some() {
            "no state yet: the daemon does not answer (see above); retrying"
        } else {
            "waiting for the first state"
        };
        return vec![Row::Text(Line::styled(format!(" {text}"), dim))];
    };
    if s.nodes.is_empty() {
        let text = format!(
            " no nodes yet: waiting for frames from {} source{}",
            s.sources.len(),
            if s.sources.len() == 1 { "" } else { "s" }
        );
        return vec![Row::Text(Line::styled(text, dim))];
    }
    let mut rows = Vec::new();
    for (i, node) in s.nodes.iter().enumerate() {
        if i > 0 {
            rows.push(Row::Text(Line::default()));
        }
        rows.push(Row::Node(node));
        if node.metrics.is_empty() {
            rows.push(Row::Text(Line::styled(" no metrics described yet", dim)));
        }
        rows.extend(
            node.metrics
                .iter()
                .map(|m| Row::Metric(m, Mark::of(&s.operator, node.id, &m.name))),
        );
    }
    rows
}

/// Draws `rows` one a line from the top of `area`, as many as it is high.
pub(super) fn draw(area: Rect, buf: &mut Buffer, rows: &[Row], c: &Columns, generated_ms: u64) {
    for (row, y) in rows.iter().zip(area.top()..area.bottom()) {
        let line = Rect::new(area.left(), y, area.width, 1);
        match row {
            Row::Node(node) => {
                buf.set_line(area.left(), y, &node_line(node, generated_ms), area.width);
            }
            Row::Metric(metric, mark) => metric_line(line, buf, c, metric, *mark),
            Row::Text(text) => {
                buf.set_line(area.left(), y, text, area.width);
            }
        }
    }
}

/// A node: up or down, its worst level, firmware, uptime, last frame and counters.
fn node_line(node: &NodeView, generated_ms: u64) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            format!("node {}", node.id),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
    ];
    if node.down {
        spans.push(Span::styled(
            "DOWN",
            Style::new()
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    } else {
        spans.push(Span::styled("UP", Style::new().fg(Color::Green)));
    }
    if let Some(worst) = node
        .metrics
        .iter()
        .map(|m| m.level)
        .max_by_key(|l| level_rank(*l))
    {
        spans.push(Span::raw(" "));
        spans.push(Span::styled(worst.as_str(), level_style(worst)));
    }
    let firmware = node.firmware.as_deref().map_or_else(|| "?".into(), clean);
    spans.push(Span::raw(format!(" fw {firmware}")));
    if let Some(uptime) = node.uptime_ms {
        spans.push(Span::raw(format!(" up {}", format_span(uptime))));
    }
    if node.last_frame_ms > 0 {
        let age = generated_ms.saturating_sub(node.last_frame_ms);
        spans.push(Span::raw(format!(" last {} ago", format_span(age))));
    }
    let c = &node.counters;
    for (label, n) in [
        ("lost", c.lost),
        ("dup", c.duplicates),
        ("rst", c.resets),
        ("err", c.decode_errors),
    ] {
        spans.push(Span::raw(format!(" {label} ")));
        let style = if n > 0 {
            Style::new().fg(Color::Yellow)
        } else {
            Style::new()
        };
        spans.push(Span::styled(format_count(n), style));
    }
    Line::from(spans)
}

/// The sparkline's bars: the last `width` values scaled to 1..=8 between their minimum and
/// maximum (4 when they are all equal), 0 for a value that is not a number.
pub(super) fn bars(recent: &[f32], width: usize) -> Vec<u64> {
    let shown = &recent[recent.len().saturating_sub(width)..];
    let finite = shown.iter().copied().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(f64::from(v)), hi.max(f64::from(v)))
    });
    let range = hi - lo;
    shown
        .iter()
        .map(|&v| {
            if !v.is_finite() {
                0
            } else if range > 0.0 && range.is_finite() {
                1 + ((f64::from(v) - lo) / range * 7.0).round().clamp(0.0, 7.0) as u64
            } else {
                4
            }
        })
        .collect()
}

/// Text in `w` columns from `x` on the line of `area`, cut to fit the line.
fn put(buf: &mut Buffer, area: Rect, x: u16, w: u16, text: &str, style: Style) {
    if x < area.right() && w > 0 {
        let w = w.min(area.right() - x);
        let y = area.top();
        buf.set_stringn(x, y, truncate(text, usize::from(w)), usize::from(w), style);
    }
}

/// Where the next cell of a line starts.
struct Cursor(u16);

impl Cursor {
    /// The start of a cell `w` wide after `gap` blanks; the cursor moves past it.
    fn cell(&mut self, gap: u16, w: u16) -> u16 {
        let x = self.0.saturating_add(gap);
        self.0 = x.saturating_add(w);
        x
    }
}

/// The value with its unit, right-aligned in `w` columns.
fn value_text(m: &MetricView, w: u16) -> String {
    let value = format_value(m.value);
    let unit = clean(&m.unit);
    let text = if unit.is_empty() || m.value.is_none() {
        value
    } else {
        format!("{value} {unit}")
    };
    let w = usize::from(w);
    format!("{:>w$}", truncate(&text, w))
}

/// The recent values as a sparkline in the level's colour.
fn sparkline(buf: &mut Buffer, area: Rect, x: u16, w: u16, m: &MetricView, level: Style) {
    if x < area.right() {
        let w = w.min(area.right() - x);
        Sparkline::default()
            .data(bars(&m.recent, usize::from(w)))
            .max(8)
            .style(Style::new().fg(level.fg.unwrap_or(Color::Reset)))
            .render(Rect::new(x, area.top(), w, 1), buf);
    }
}

/// The anomaly score, when above 0, bold from 0.5 on.
fn anomaly_cell(score: Option<f32>) -> Option<(String, Style)> {
    let score = score.filter(|s| s.is_finite() && *s > 0.0)?;
    let style = if score >= 0.5 {
        Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
    } else {
        Style::new().fg(Color::Magenta)
    };
    Some((format!("{:.2}", score.min(1.0)), style))
}

/// Why an alert notifies no one, shown right after its level (in place of `~`: the operator
/// knows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// `A`: acknowledged.
    Acked,
    /// `I`: inhibited by another alert.
    Inhibited,
    /// `M`: in a maintenance window.
    Maintenance,
}

impl Mark {
    /// The mark of `node`/`metric`, if it has one (an ack first: a person said so).
    pub(super) fn of(
        operator: &crate::operator::OperatorView,
        node: u16,
        metric: &str,
    ) -> Option<Mark> {
        if operator.ack(node, metric).is_some() {
            Some(Mark::Acked)
        } else if operator.inhibited(node, metric).is_some() {
            Some(Mark::Inhibited)
        } else if operator.in_maintenance(node, metric) {
            Some(Mark::Maintenance)
        } else {
            None
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Mark::Acked => "A",
            Mark::Inhibited => "I",
            Mark::Maintenance => "M",
        }
    }
}

/// A metric on `area`, one cell per column of `c` that is not left out.
pub(super) fn metric_line(
    area: Rect,
    buf: &mut Buffer,
    c: &Columns,
    m: &MetricView,
    mark: Option<Mark>,
) {
    let mut at = Cursor(area.left().saturating_add(INDENT));
    let level = level_style(m.level);
    put(buf, area, at.cell(0, c.name), c.name, &m.name, Style::new());
    if c.value > 0 {
        let x = at.cell(1, c.value);
        put(buf, area, x, c.value, &value_text(m, c.value), Style::new());
    }
    if c.spark > 0 {
        sparkline(buf, area, at.cell(1, c.spark), c.spark, m, level);
    }
    if c.trend > 0 {
        let arrow = trend(m.slope_per_hour, trend_scale(m)).arrow();
        let text = format!("{arrow}{}", format_slope(m.slope_per_hour));
        put(buf, area, at.cell(1, c.trend), c.trend, &text, Style::new());
    }
    put(
        buf,
        area,
        at.cell(1, c.level),
        c.level,
        m.level.as_str(),
        level,
    );
    let marker = at.cell(0, 1);
    if let Some(mark) = mark {
        let style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
        put(buf, area, marker, 1, mark.letter(), style);
    } else if m.flapping {
        let style = Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD);
        put(buf, area, marker, 1, "~", style);
    }
    if c.node > 0 {
        let x = at.cell(1, c.node);
        if let Some(node_level) = m.node_level {
            let text = level_abbrev(node_level);
            put(buf, area, x, c.node, text, level_style(node_level));
        }
    }
    if c.anomaly > 0 {
        let x = at.cell(1, c.anomaly);
        if let Some((text, style)) = anomaly_cell(m.score) {
            put(buf, area, x, c.anomaly, &text, style);
        }
    }
    if c.eta > 0 {
        let x = at.cell(1, c.eta);
        if let Some(eta) = &m.eta {
            let style = Style::new().fg(Color::Yellow);
            put(buf, area, x, c.eta, &format_eta(eta, &m.unit), style);
        }
    }
}
