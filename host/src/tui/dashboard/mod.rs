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
//! reported, `~` marks a flapping alert, `A` an acknowledged one (`rackwatch ack`), `I` one
//! another alert inhibits, `M` one in an open maintenance window, `anom` the anomaly score when
//! above 0, `forecast` the time until the fit reaches the critical (or predictive) bound.
//!
//! Columns give way when the terminal is narrow (the sparkline shrinks, the name is cut in the
//! middle, then the anomaly, node-level, sparkline and trend columns go, in that order) and grow
//! when it is wide. Rows beyond the screen scroll ([`View::handle_key`]). Nothing the daemon sends
//! can make it panic or write control characters to the terminal.
//!
//! This module keeps the view (what is shown, where it is scrolled to) and puts the frame together;
//! the header's lines are `header`'s, the columns' widths `columns`', the node and metric lines
//! `body`'s.

mod body;
mod columns;
mod header;
#[cfg(test)]
mod tests;

use crate::state::Snapshot;
use columns::Columns;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::Span;
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

/// Lays the dashboard out on `area` of `buf`, clamping the view's scroll position.
pub fn render(area: Rect, buf: &mut Buffer, view: &mut View) {
    if area.is_empty() {
        return;
    }
    let snapshot = view.snapshot.as_ref();
    let longest = snapshot
        .into_iter()
        .flat_map(|s| &s.nodes)
        .flat_map(|n| &n.metrics)
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(0);
    let cols = Columns::fit(area.width, longest);
    let header = header::lines(view, &cols, usize::from(area.width));
    let rows = body::rows(view, snapshot);
    // The header first, then a footer line if two lines are left, the body in between.
    let header_rows = header.len().min(usize::from(area.height));
    let remaining = usize::from(area.height) - header_rows;
    let footer_rows = usize::from(remaining >= 2);
    let body_rows = remaining - footer_rows;
    view.page = body_rows.max(1);
    view.scroll = view.scroll.min(rows.len().saturating_sub(body_rows));
    for (line, y) in header.iter().zip(area.top()..).take(header_rows) {
        buf.set_line(area.left(), y, line, area.width);
    }
    let body_area = Rect::new(
        area.left(),
        area.top() + header_rows as u16,
        area.width,
        body_rows as u16,
    );
    let generated = snapshot.map_or(0, |s| s.generated_ms);
    body::draw(
        body_area,
        buf,
        &rows[view.scroll.min(rows.len())..],
        &cols,
        generated,
    );
    if footer_rows == 1 {
        footer(area, buf, view, rows.len(), body_rows);
    }
}

/// The keys, reversed on the last line, and which rows are shown when they do not all fit.
fn footer(area: Rect, buf: &mut Buffer, view: &View, rows: usize, body_rows: usize) {
    let width = usize::from(area.width);
    let y = area.bottom() - 1;
    let style = Style::new().add_modifier(Modifier::REVERSED);
    buf.set_style(Rect::new(area.left(), y, area.width, 1), style);
    // The marks' legend; the scroll keys (↑↓ PgUp PgDn Home End) are the usual ones.
    let keys = " q quit  ~ flapping  A acknowledged  I inhibited  M maintenance";
    buf.set_stringn(area.left(), y, keys, width, style);
    if rows > body_rows {
        let first = view.scroll + 1;
        let last = (view.scroll + body_rows).min(rows);
        let position = format!("{first}-{last} of {rows} ");
        let w = position.chars().count();
        if w + keys.chars().count() < width {
            let x = area.right() - w as u16;
            buf.set_stringn(x, y, &position, w, style);
        }
    }
}
