//! The dashboard on a plain buffer: what an 80x24 frame shows and in which colours, how it
//! scrolls, and how it degrades on narrow screens and hostile data.

use super::body::bars;
use super::columns::{Columns, ETA_MIN, NAME_MIN, SPARK_MIN};
use super::*;
use crate::ingest::NodeCounters;
use crate::state::{EtaView, MetricView, NodeView, SourceView};
use rackwatch_core::Level;
use ratatui::style::Color;
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
        accelerating: false,
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
        refused_node_frames: 0,
        sinks: Vec::new(),
        sources: vec![SourceView {
            name: "tcp:127.0.0.1:4000".into(),
            connected: true,
            bytes: 12_345,
            connects: 1,
            ..SourceView::default()
        }],
        nodes: vec![node(3, vec![inlet, outlet, humidity])],
        operator: Default::default(),
        probe_failures: Vec::new(),
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

#[test]
fn an_acknowledged_alert_is_marked_a() {
    let mut s = snapshot();
    s.operator.acks.push(crate::operator::Ack {
        node: 3,
        metric: "inlet_temperature".into(),
        level: Level::Warning,
        kind: crate::operator::AckKind::Normal,
        author: "ana".into(),
        comment: "fan swap".into(),
        created_ms: 0,
        until_ms: None,
    });
    let text = render_text(&mut view(s), 80, 24);
    let inlet = line_with(&text, "inlet_temperature");
    assert!(inlet.contains("WARNING A WARN"), "{inlet}");
    // The others are as they were: the flapping one keeps its marker.
    assert!(
        line_with(&text, "outlet_temperature").contains("CRITICAL~"),
        "{text}"
    );
    assert!(text.contains("A acknowledged"), "{text}");
}

#[test]
fn inhibited_and_maintained_alerts_are_marked_i_and_m_and_an_ack_comes_first() {
    let mut s = snapshot();
    s.operator.inhibited.push(crate::operator::Inhibited {
        node: 3,
        metric: "inlet_temperature".into(),
        origin: "host".into(),
        reason: "by 1/power_feed (rack power)".into(),
    });
    s.operator
        .in_maintenance
        .push(crate::operator::InMaintenance {
            node: 3,
            metric: "outlet_humidity".into(),
            window: "rack 2".into(),
        });
    let text = render_text(&mut view(s.clone()), 100, 24);
    assert!(
        line_with(&text, "inlet_temperature").contains("WARNING I"),
        "{text}"
    );
    let humidity = line_with(&text, "outlet_humidity");
    assert_eq!(humidity.split_whitespace().last(), Some("M"), "{text}");
    s.operator.acks.push(crate::operator::Ack {
        node: 3,
        metric: "inlet_temperature".into(),
        level: Level::Warning,
        kind: crate::operator::AckKind::Sticky,
        author: "ana".into(),
        comment: "known".into(),
        created_ms: 0,
        until_ms: None,
    });
    let text = render_text(&mut view(s), 100, 24);
    assert!(
        line_with(&text, "inlet_temperature").contains("WARNING A"),
        "{text}"
    );
}
