//! The dashboard's header: the title (where the data comes from, live or not), the error of the
//! last failed attempt, the totals, the first failing source, and the column labels.
//!
//! Invariants: every line is built from cleaned or truncated text (nothing the daemon sends reaches
//! the terminal as a control character); the error takes at most two lines.

use super::columns::{column_header, Columns};
use super::View;
use crate::state::Snapshot;
use crate::timefmt::format_span;
use crate::tui::format::{clean, format_count, truncate, wrap};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

/// The header's lines for a screen `width` wide, the column labels last when there are metrics.
pub(super) fn lines(view: &View, cols: &Columns, width: usize) -> Vec<Line<'static>> {
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
    let Some(s) = view.snapshot.as_ref() else {
        return header;
    };
    header.push(totals(s));
    if let Some(line) = source_problem(s, width) {
        header.push(line);
    }
    if s.nodes.iter().any(|n| !n.metrics.is_empty()) {
        header.push(column_header(cols));
    }
    header
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
