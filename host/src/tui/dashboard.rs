//! The dashboard's layout: a header (where the data comes from and whether it is live, the totals,
//! a failing source), one line per node and one per metric below it, and a footer with the keys.
//!
//! Layout at 80 columns, one metric per line:
//!
//! ```text
//!  rackwatch watch  http://127.0.0.1:9187  live
//! sources 1/1  nodes 1  bytes 12k  frames 456  decode errors 3: cobs 1, crc 2
//!  metric                  value recent per h  host      node anom forecast
//! node 3 UP CRITICAL fw 0.1.0 up 1h02m last 2s ago lost 2 dup 0 rst 0 err 0
//!  inlet_temperature  33.10 degC ▁▃▅▆█ ↗+0.80 WARNING   WARN      35 degC in 3h12m
//!  outlet_temperature 41.50 degC ▁▃▅▆█ ↑+6.00 CRITICAL~ WARN 0.42
//!  outlet_humidity       45.00 % ▁▃▅▆█ →+0.00 OK
//! ```
//!
//! `host` is the host's judgement (its monitors, with the node's rules), `node` the level the node
//! reported, `~` marks a flapping alert, `anom` the anomaly score when above 0, `forecast` the time
//! until the fit reaches the critical (or predictive) bound.
//!
//! Columns give way when the terminal is narrow (the sparkline shrinks, the name is cut in the
//! middle, then the anomaly, node-level, sparkline and trend columns go, in that order) and grow
//! when it is wide. Rows beyond the screen scroll ([`View::handle_key`]). Nothing the daemon sends
//! can make it panic or write control characters to the terminal.

use super::format::{
    clean, format_count, format_eta, format_slope, format_value, level_abbrev, level_rank,
    level_style, trend, trend_scale, truncate, wrap,
};
use crate::state::{MetricView, NodeView, Snapshot};
use crate::timefmt::format_span;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Sparkline, Widget};
use ratatui::Frame;

/// What the dashboard shows, and where it is scrolled to.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Where the data comes from, for the title: the daemon's URL, or the sources read in-process.
    pub origin: String,
    /// The latest snapshot received (kept, and marked stale, while the daemon is unreachable).
    pub snapshot: Option<Snapshot>,
    /// Why the last attempt to get a snapshot failed; `None` after a success.
    pub error: Option<String>,
    /// Attempts that failed since the last success.
    pub failures: u64,
    /// How long ago the shown snapshot was received, when that is known.
    pub age_ms: Option<u64>,
    /// A remark for the title, e.g. that every finite source has been read.
    pub note: Option<String>,
    /// The first body row shown.
    pub scroll: usize,
    /// How many body rows fit, as of the last render (the PgUp/PgDn step).
    pub page: usize,
}

impl View {
    /// An empty view of data from `origin`.
    pub fn new(origin: impl Into<String>) -> View {
        View {
            origin: origin.into(),
            page: 1,
            ..View::default()
        }
    }

    /// Takes the outcome of one attempt to read the state: a snapshot replaces the shown one and
    /// clears the error; an error is shown and the last snapshot kept.
    pub fn update(&mut self, result: Result<Snapshot, String>) {
        match result {
            Ok(snapshot) => {
                self.snapshot = Some(snapshot);
                self.error = None;
                self.failures = 0;
                self.age_ms = Some(0);
            }
            Err(error) => {
                self.error = Some(error);
                self.failures += 1;
            }
        }
    }

    /// Handles a key: ↑/↓ (or k/j) scroll a row, PgUp/PgDn (or space) a page, Home/End (or g/G)
    /// to the ends. Returns `true` for the keys that quit: `q`, Esc and Ctrl-C.
    pub fn handle_key(&mut self, key: KeyEvent) -> bool {
        let page = self.page.max(1);
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => return true,
            KeyCode::Char('q') | KeyCode::Esc => return true,
            KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_add(1),
            KeyCode::PageUp | KeyCode::Char('b') => self.scroll = self.scroll.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => {
                self.scroll = self.scroll.saturating_add(page)
            }
            KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
            // Clamped to the last page when drawn.
            KeyCode::End | KeyCode::Char('G') => self.scroll = usize::MAX,
            _ => {}
        }
        false
    }
}

/// Draws the dashboard on a terminal frame.
pub fn draw(frame: &mut Frame, view: &mut View) {
    let area = frame.area();
    render(area, frame.buffer_mut(), view);
}

/// The dashboard as plain text, `width` × `height` characters, lines without trailing blanks: what
/// `rackwatch watch --once` prints.
pub fn render_text(view: &mut View, width: u16, height: u16) -> String {
    let mut buf = Buffer::empty(Rect::new(0, 0, width, height));
    render(buf.area, &mut buf, view);
    buffer_text(&buf)
}

/// A buffer's symbols, one line per row, without trailing blanks (the cell hidden by a wide
/// character is skipped).
pub fn buffer_text(buf: &Buffer) -> String {
    let area = buf.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        let mut x = area.left();
        while x < area.right() {
            let symbol = buf[(x, y)].symbol();
            line.push_str(symbol);
            let width = Span::raw(symbol).width().clamp(1, 2) as u16;
            x = x.saturating_add(width);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const INDENT: u16 = 1;
const VALUE: u16 = 10;
const TREND: u16 = 6;
const LEVEL: u16 = 8;
const NODE: u16 = 4;
const ANOMALY: u16 = 4;
const ETA_MIN: u16 = 16;
const SPARK_MIN: u16 = 5;
const SPARK_MAX: u16 = 24;
const NAME_MIN: u16 = 8;
const NAME_CUT: u16 = 12;
const NAME_MAX: u16 = 24;

/// The widths of a metric line's columns; 0: left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Columns {
    name: u16,
    value: u16,
    spark: u16,
    trend: u16,
    level: u16,
    node: u16,
    anomaly: u16,
    eta: u16,
}

impl Columns {
    /// The characters a line needs: the indent, the columns, a blank before each column after the
    /// name, and the flapping marker right after the level.
    fn total(&self) -> i32 {
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

    fn fit(width: u16, longest_name: usize) -> Columns {
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

/// One body row.
enum Row<'a> {
    Node(&'a NodeView),
    Metric(&'a MetricView),
    Text(Line<'static>),
}

/// Lays the dashboard out on `area` of `buf`, clamping the view's scroll position.
pub fn render(area: Rect, buf: &mut Buffer, view: &mut View) {
    if area.is_empty() {
        return;
    }
    let width = usize::from(area.width);
    let mut header: Vec<Line<'static>> = vec![title(view, width)];
    if let Some(error) = &view.error {
        let text = match view.failures {
            0 | 1 => error.clone(),
            n => format!("attempt {}: {error}", format_count(n)),
        };
        let lines = wrap(&text, width, 2);
        header.extend(
            lines
                .into_iter()
                .map(|l| Line::styled(l, Style::new().fg(Color::Red))),
        );
    }
    let snapshot = view.snapshot.as_ref();
    if let Some(s) = snapshot {
        header.push(totals(s));
        if let Some(line) = source_problem(s, width) {
            header.push(line);
        }
    }
    let longest = snapshot
        .into_iter()
        .flat_map(|s| &s.nodes)
        .flat_map(|n| &n.metrics)
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(0);
    let cols = Columns::fit(area.width, longest);
    let has_metrics = snapshot.is_some_and(|s| s.nodes.iter().any(|n| !n.metrics.is_empty()));
    if has_metrics {
        header.push(column_header(&cols));
    }

    let rows = body_rows(view, snapshot);
    let height = usize::from(area.height);
    let header_rows = header.len().min(height);
    let remaining = height - header_rows;
    let footer_rows = usize::from(remaining >= 2);
    let body_rows = remaining - footer_rows;
    view.page = body_rows.max(1);
    view.scroll = view.scroll.min(rows.len().saturating_sub(body_rows));

    let mut y = area.top();
    for line in header.iter().take(header_rows) {
        buf.set_line(area.left(), y, line, area.width);
        y += 1;
    }
    let generated = snapshot.map_or(0, |s| s.generated_ms);
    for row in rows.iter().skip(view.scroll).take(body_rows) {
        let line_area = Rect::new(area.left(), y, area.width, 1);
        match row {
            Row::Node(node) => {
                buf.set_line(area.left(), y, &node_line(node, generated), area.width);
            }
            Row::Metric(metric) => metric_line(line_area, buf, &cols, metric),
            Row::Text(line) => {
                buf.set_line(area.left(), y, line, area.width);
            }
        }
        y += 1;
    }
    if footer_rows == 1 {
        let y = area.bottom() - 1;
        let style = Style::new().add_modifier(Modifier::REVERSED);
        buf.set_style(Rect::new(area.left(), y, area.width, 1), style);
        let keys = " q quit  ↑↓ PgUp PgDn scroll  ~ flapping";
        buf.set_stringn(area.left(), y, keys, width, style);
        if rows.len() > body_rows {
            let first = view.scroll + 1;
            let last = (view.scroll + body_rows).min(rows.len());
            let position = format!("{first}-{last} of {} ", rows.len());
            let w = position.chars().count();
            if w + keys.chars().count() < width {
                let x = area.right() - w as u16;
                buf.set_stringn(x, y, &position, w, style);
            }
        }
    }
}

fn title(view: &View, width: usize) -> Line<'static> {
    let mut spans = vec![
        Span::styled(
            " rackwatch watch ",
            Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::raw(truncate(&view.origin, (width / 2).max(8))),
        Span::raw("  "),
    ];
    if view.error.is_some() {
        spans.push(Span::styled(
            "UNREACHABLE",
            Style::new()
                .fg(Color::Red)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
        spans.push(Span::raw(" retrying"));
        if let Some(age) = view.age_ms.filter(|_| view.snapshot.is_some()) {
            spans.push(Span::raw(format!(", data {} old", format_span(age))));
        }
    } else if view.snapshot.is_none() {
        spans.push(Span::styled("connecting", Style::new().fg(Color::Yellow)));
    } else {
        match view.age_ms {
            Some(age) if age >= 5_000 => spans.push(Span::styled(
                format!("stale {}", format_span(age)),
                Style::new().fg(Color::Yellow),
            )),
            _ => spans.push(Span::styled("live", Style::new().fg(Color::Green))),
        }
    }
    if let Some(note) = &view.note {
        spans.push(Span::raw(format!("  {}", clean(note))));
    }
    Line::from(spans)
}

fn totals(s: &Snapshot) -> Line<'static> {
    let connected = s.sources.iter().filter(|v| v.connected).count();
    let finished = s.sources.iter().filter(|v| v.finished).count();
    let down = s.nodes.iter().filter(|n| n.down).count();
    let mut sources = format!("sources {connected}/{}", s.sources.len());
    if finished > 0 {
        sources.push_str(&format!(" ({finished} done)"));
    }
    let mut spans = vec![
        Span::raw(sources),
        Span::raw(format!("  nodes {}", s.nodes.len())),
    ];
    if down > 0 {
        spans.push(Span::styled(
            format!(" ({down} down)"),
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ));
    }
    spans.extend([Span::raw(format!(
        "  bytes {}  frames {}",
        format_count(s.bytes),
        format_count(s.frames)
    ))]);
    let errors: u64 = s
        .decode_errors
        .values()
        .fold(0, |a, b| a.saturating_add(*b));
    if errors == 0 {
        spans.push(Span::raw("  decode errors 0"));
    } else {
        let kinds: Vec<String> = s
            .decode_errors
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{} {}", clean(k), format_count(*n)))
            .collect();
        spans.push(Span::styled(
            format!(
                "  decode errors {}: {}",
                format_count(errors),
                kinds.join(", ")
            ),
            Style::new().fg(Color::Yellow),
        ));
    }
    Line::from(spans)
}

/// The first live source that is down, with why.
fn source_problem(s: &Snapshot, width: usize) -> Option<Line<'static>> {
    let source = s
        .sources
        .iter()
        .find(|v| !v.connected && !v.finished && v.last_error.is_some())?;
    let text = format!(
        "source {} disconnected: {}",
        source.name,
        source.last_error.as_deref().unwrap_or_default()
    );
    Some(Line::styled(
        truncate(&text, width),
        Style::new().fg(Color::Yellow),
    ))
}

fn column_header(c: &Columns) -> Line<'static> {
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

fn body_rows<'a>(view: &View, snapshot: Option<&'a Snapshot>) -> Vec<Row<'a>> {
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
        rows.extend(node.metrics.iter().map(Row::Metric));
    }
    rows
}

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
fn bars(recent: &[f32], width: usize) -> Vec<u64> {
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

fn metric_line(area: Rect, buf: &mut Buffer, c: &Columns, m: &MetricView) {
    let y = area.top();
    let mut x = area.left().saturating_add(INDENT);
    let put = |buf: &mut Buffer, x: u16, w: u16, text: &str, style: Style| {
        if x < area.right() && w > 0 {
            let w = w.min(area.right() - x);
            buf.set_stringn(x, y, truncate(text, usize::from(w)), usize::from(w), style);
        }
    };
    put(buf, x, c.name, &m.name, Style::new());
    x = x.saturating_add(c.name);
    let level = level_style(m.level);
    if c.value > 0 {
        x = x.saturating_add(1);
        let value = format_value(m.value);
        let unit = clean(&m.unit);
        let text = if unit.is_empty() || m.value.is_none() {
            value
        } else {
            format!("{value} {unit}")
        };
        let w = usize::from(c.value);
        let text = format!("{:>w$}", truncate(&text, w));
        put(buf, x, c.value, &text, Style::new());
        x = x.saturating_add(c.value);
    }
    if c.spark > 0 {
        x = x.saturating_add(1);
        if x < area.right() {
            let w = c.spark.min(area.right() - x);
            Sparkline::default()
                .data(bars(&m.recent, usize::from(w)))
                .max(8)
                .style(Style::new().fg(level.fg.unwrap_or(Color::Reset)))
                .render(Rect::new(x, y, w, 1), buf);
        }
        x = x.saturating_add(c.spark);
    }
    if c.trend > 0 {
        x = x.saturating_add(1);
        let arrow = trend(m.slope_per_hour, trend_scale(m)).arrow();
        let text = format!("{arrow}{}", format_slope(m.slope_per_hour));
        put(buf, x, c.trend, &text, Style::new());
        x = x.saturating_add(c.trend);
    }
    x = x.saturating_add(1);
    put(buf, x, c.level, m.level.as_str(), level);
    x = x.saturating_add(c.level);
    if m.flapping {
        put(
            buf,
            x,
            1,
            "~",
            Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        );
    }
    x = x.saturating_add(1);
    if c.node > 0 {
        x = x.saturating_add(1);
        if let Some(node_level) = &m.node_level {
            put(
                buf,
                x,
                c.node,
                level_abbrev(*node_level),
                level_style(*node_level),
            );
        }
        x = x.saturating_add(c.node);
    }
    if c.anomaly > 0 {
        x = x.saturating_add(1);
        if let Some(score) = m.score.filter(|s| s.is_finite() && *s > 0.0) {
            let style = if score >= 0.5 {
                Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD)
            } else {
                Style::new().fg(Color::Magenta)
            };
            put(buf, x, c.anomaly, &format!("{:.2}", score.min(1.0)), style);
        }
        x = x.saturating_add(c.anomaly);
    }
    if c.eta > 0 {
        x = x.saturating_add(1);
        if let Some(eta) = &m.eta {
            put(
                buf,
                x,
                c.eta,
                &format_eta(eta, &m.unit),
                Style::new().fg(Color::Yellow),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::NodeCounters;
    use crate::state::{EtaView, SourceView};
    use rackwatch_core::Level;
    use std::collections::BTreeMap;

    fn metric(id: u16, name: &str, value: f32, level: &str) -> MetricView {
        MetricView {
            id,
            name: name.into(),
            unit: "degC".into(),
            value: Some(value),
            wall_ms: Some(1_000),
            level: crate::names::parse_level(level).expect("a level name"),
            node_level: crate::names::parse_level(level),
            flapping: false,
            score: None,
            anomaly: None,
            slope_per_hour: Some(0.8),
            eta: None,
            warning: Some(30.0),
            critical: Some(35.0),
            recent: (0..48).map(|i| 25.0 + i as f32 * 0.2).collect(),
        }
    }

    fn node(id: u16, metrics: Vec<MetricView>) -> NodeView {
        NodeView {
            id,
            boot: Some(0xB007),
            firmware: Some("0.1.0".into()),
            down: false,
            last_frame_ms: 1_800_000_000_000 - 2_000,
            uptime_ms: Some(3_720_000),
            reset: Some(rackwatch_core::wire::ResetReason::PowerOn),
            node_counters: Some([10, 0, 0, 0]),
            counters: NodeCounters {
                lost: 2,
                ..NodeCounters::default()
            },
            metrics,
        }
    }

    fn snapshot() -> Snapshot {
        let mut inlet = metric(0, "inlet_temperature", 33.1, "WARNING");
        inlet.eta = Some(EtaView {
            threshold: 35.0,
            above: true,
            ms: 11_520_000,
        });
        let mut outlet = metric(1, "outlet_temperature", 41.5, "CRITICAL");
        outlet.slope_per_hour = Some(6.0);
        outlet.flapping = true;
        outlet.score = Some(0.42);
        outlet.node_level = Some(Level::Warning);
        let humidity = MetricView {
            unit: "%".into(),
            level: Level::Ok,
            node_level: None,
            slope_per_hour: Some(0.0),
            warning: None,
            critical: None,
            ..metric(2, "outlet_humidity", 45.0, "OK")
        };
        Snapshot {
            generated_ms: 1_800_000_000_000,
            bytes: 12_345,
            frames: 456,
            decode_errors: BTreeMap::from([("crc".to_string(), 2), ("cobs".to_string(), 1)]),
            truncated_bytes: 0,
            sources: vec![SourceView {
                name: "tcp:127.0.0.1:4000".into(),
                connected: true,
                bytes: 12_345,
                connects: 1,
                ..SourceView::default()
            }],
            nodes: vec![node(3, vec![inlet, outlet, humidity])],
        }
    }

    fn view(snapshot: Snapshot) -> View {
        let mut v = View::new("http://127.0.0.1:9187");
        v.update(Ok(snapshot));
        v
    }

    fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with `{needle}` in\n{text}"))
    }

    /// The style of the first cell of `needle` on the buffer.
    fn style_of(buf: &Buffer, needle: &str) -> Style {
        let text = buffer_text(buf);
        for (y, line) in text.lines().enumerate() {
            if let Some(byte) = line.find(needle) {
                let x = line[..byte].chars().count() as u16;
                return buf[(x, y as u16)].style();
            }
        }
        panic!("`{needle}` not on the screen:\n{text}");
    }

    #[test]
    fn an_80x24_frame_shows_nodes_metrics_levels_trends_and_forecasts() {
        let mut v = view(snapshot());
        let text = render_text(&mut v, 80, 24);
        assert_eq!(text.lines().count(), 24);
        assert!(text.lines().all(|l| l.chars().count() <= 80), "{text}");
        assert!(text.contains("http://127.0.0.1:9187  live"), "{text}");
        let totals = line_with(&text, "sources 1/1");
        assert!(totals.contains("nodes 1  bytes"), "{totals}");
        assert!(totals.contains("bytes 12k"), "{totals}");
        assert!(totals.contains("frames 456"), "{totals}");
        assert!(
            totals.contains("decode errors 3: cobs 1, crc 2"),
            "{totals}"
        );
        let node = line_with(&text, "node 3");
        for part in [
            "UP",
            "CRITICAL",
            "fw 0.1.0",
            "up 1h02m",
            "last 2s ago",
            "lost 2",
        ] {
            assert!(node.contains(part), "`{part}` missing: {node}");
        }
        let inlet = line_with(&text, "inlet_temperature");
        for part in [
            "33.10 degC",
            "↗+0.80",
            "WARNING",
            "WARN",
            "35 degC in 3h12m",
        ] {
            assert!(inlet.contains(part), "`{part}` missing: {inlet}");
        }
        assert!(
            inlet.contains('▁') && inlet.contains('█'),
            "no sparkline: {inlet}"
        );
        let outlet = line_with(&text, "outlet_temperature");
        for part in ["41.50 degC", "↑+6.00", "CRITICAL~", "WARN", "0.42"] {
            assert!(outlet.contains(part), "`{part}` missing: {outlet}");
        }
        let humidity = line_with(&text, "outlet_humidity");
        assert!(humidity.contains("45.00 %"), "{humidity}");
        assert!(humidity.contains("→+0.00"), "{humidity}");
        assert!(humidity.contains(" OK"), "{humidity}");
        assert!(text.contains("q quit"), "{text}");
    }

    #[test]
    fn levels_are_coloured_on_the_screen() {
        let mut v = view(snapshot());
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        render(buf.area, &mut buf, &mut v);
        assert_eq!(style_of(&buf, "WARNING ").fg, Some(Color::Yellow));
        assert_eq!(style_of(&buf, "CRITICAL~").fg, Some(Color::Red));
        // The level after the blank before it is green.
        let text = buffer_text(&buf);
        let (y, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("outlet_humidity"))
            .unwrap();
        let x = line[..line.find(" OK").unwrap()].chars().count() as u16 + 1;
        assert_eq!(buf[(x, y as u16)].style().fg, Some(Color::Green));
        assert_eq!(style_of(&buf, "UP").fg, Some(Color::Green));
    }

    #[test]
    fn an_unknown_level_is_magenta_and_a_down_node_is_red() {
        let mut s = snapshot();
        s.nodes[0].down = true;
        s.nodes[0].metrics[0].level = Level::Unknown;
        let mut v = view(s);
        let mut buf = Buffer::empty(Rect::new(0, 0, 80, 24));
        render(buf.area, &mut buf, &mut v);
        assert_eq!(style_of(&buf, "DOWN").fg, Some(Color::Red));
        assert_eq!(style_of(&buf, "UNKNOWN").fg, Some(Color::Magenta));
        assert!(buffer_text(&buf).contains("(1 down)"));
    }

    #[test]
    fn an_unreachable_daemon_is_said_and_the_last_state_kept() {
        let mut v = view(snapshot());
        v.update(Err(
            "cannot reach the daemon at http://127.0.0.1:9: refused".into(),
        ));
        v.update(Err(
            "cannot reach the daemon at http://127.0.0.1:9: refused".into(),
        ));
        v.age_ms = Some(12_000);
        let text = render_text(&mut v, 80, 24);
        let title = text.lines().next().unwrap();
        assert!(title.contains("UNREACHABLE"), "{text}");
        assert!(title.contains("retrying"), "{text}");
        assert!(title.contains("data 12s old"), "{text}");
        let error = line_with(&text, "cannot reach the daemon");
        assert!(error.starts_with("attempt 2: "), "{text}");
        assert!(text.contains("inlet_temperature"), "{text}");

        let mut fresh = View::new("http://127.0.0.1:9");
        fresh.update(Err("not a rackwatch state: expected value at line 1".into()));
        let text = render_text(&mut fresh, 80, 24);
        assert!(text.contains("UNREACHABLE"), "{text}");
        assert!(text.contains("not a rackwatch state"), "{text}");
        assert!(text.contains("no state yet"), "{text}");

        v.update(Ok(snapshot()));
        let text = render_text(&mut v, 80, 24);
        assert!(!text.contains("UNREACHABLE"), "{text}");
        assert!(text.contains("live"), "{text}");
    }

    #[test]
    fn long_lists_scroll_by_row_and_page_and_stay_in_range() {
        let mut s = snapshot();
        let metrics = s.nodes[0].metrics.clone();
        s.nodes = (1..=10).map(|id| node(id, metrics.clone())).collect();
        let mut v = view(s);
        let first_body_line = |v: &mut View| {
            let text = render_text(v, 80, 24);
            text.lines().nth(3).unwrap().to_string()
        };
        assert!(first_body_line(&mut v).starts_with("node 1 "));
        let key = |code| KeyEvent::new(code, KeyModifiers::NONE);
        assert!(!v.handle_key(key(KeyCode::Down)));
        assert!(first_body_line(&mut v).contains("inlet_temperature"));
        v.handle_key(key(KeyCode::Up));
        v.handle_key(key(KeyCode::Up));
        assert!(first_body_line(&mut v).starts_with("node 1 "));
        v.handle_key(key(KeyCode::PageDown));
        assert_eq!(v.scroll, v.page);
        let text = render_text(&mut v, 80, 24);
        assert!(text.contains(&format!("{}-", v.scroll + 1)), "{text}");
        v.handle_key(key(KeyCode::End));
        let text = render_text(&mut v, 80, 24);
        // 10 nodes of 4 rows and 9 blank lines between them: 49 rows.
        assert!(text.contains("of 49"), "{text}");
        let last = text.lines().nth(22).unwrap();
        assert!(last.contains("outlet_humidity"), "{text}");
        v.handle_key(key(KeyCode::Home));
        assert_eq!(v.scroll, 0);
        assert!(v.handle_key(key(KeyCode::Char('q'))));
        assert!(v.handle_key(key(KeyCode::Esc)));
        assert!(v.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert!(!v.handle_key(key(KeyCode::Char('c'))));
    }

    #[test]
    fn narrow_and_tiny_screens_degrade_without_panicking() {
        let mut s = snapshot();
        s.nodes[0].metrics[0].name = "disk:/var/lib/postgresql/16/main\x1b[2J".into();
        s.nodes[0].metrics[1].value = Some(f32::MAX);
        s.nodes[0].metrics[1].slope_per_hour = Some(f64::INFINITY);
        s.nodes[0].metrics[2].recent = vec![f32::NAN, 1.0, f32::INFINITY];
        s.nodes[0].metrics[2].score = Some(f32::NAN);
        for (w, h) in [
            (1, 1),
            (2, 3),
            (10, 5),
            (40, 10),
            (60, 24),
            (80, 2),
            (200, 60),
        ] {
            let mut v = view(s.clone());
            let text = render_text(&mut v, w, h);
            assert_eq!(text.lines().count(), usize::from(h));
            assert!(!text.contains('\x1b'), "{text}");
            assert!(
                text.lines().all(|l| l.chars().count() <= usize::from(w)),
                "{w}x{h}:\n{text}"
            );
        }
        // At 60 columns the level and the forecast survive; the sparkline goes.
        let mut v = view(snapshot());
        let text = render_text(&mut v, 60, 24);
        let inlet = line_with(&text, "inlet_");
        assert!(inlet.contains("WARNING"), "{text}");
        assert!(inlet.contains("35 degC in 3h12m"), "{text}");
        let mut v = view(snapshot());
        let wide = render_text(&mut v, 120, 24);
        let inlet = line_with(&wide, "inlet_temperature");
        assert!(inlet.chars().filter(|c| ('▁'..='█').contains(c)).count() >= 20);
    }

    #[test]
    fn columns_fit_the_width() {
        for width in [20u16, 40, 60, 79, 80, 81, 100, 160] {
            for name in [5usize, 17, 40] {
                let c = Columns::fit(width, name);
                assert!(
                    c.total() <= i32::from(width) || c.name == NAME_MIN,
                    "{width} {name}: {c:?}"
                );
            }
        }
        let c = Columns::fit(80, 17);
        assert_eq!(c.total(), 80);
        assert_eq!(c.name, 17);
        assert!(c.spark >= SPARK_MIN && c.trend > 0 && c.node > 0 && c.anomaly > 0);
        assert!(c.eta >= ETA_MIN);
    }

    #[test]
    fn sparkline_bars_span_the_recent_range() {
        assert_eq!(bars(&[1.0, 2.0, 3.0], 10), vec![1, 5, 8]);
        assert_eq!(bars(&[1.0, 2.0, 3.0], 2), vec![1, 8]);
        assert_eq!(bars(&[5.0, 5.0], 4), vec![4, 4]);
        assert_eq!(bars(&[f32::NAN, 0.0, 7.0], 4), vec![0, 1, 8]);
        assert!(bars(&[], 4).is_empty());
    }

    #[test]
    fn no_nodes_yet_is_said() {
        let mut s = snapshot();
        s.nodes.clear();
        let mut v = view(s);
        let text = render_text(&mut v, 80, 24);
        assert!(text.contains("no nodes yet"), "{text}");
        let mut v = View::new("sources: capture:x.rwcap");
        let text = render_text(&mut v, 80, 24);
        assert!(text.contains("connecting"), "{text}");
        assert!(text.contains("waiting for the first state"), "{text}");
    }
}
