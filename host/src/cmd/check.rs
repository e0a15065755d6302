//! `rackwatch check`: a Nagios / Icinga plugin. One status line with performance data, exit status
//! 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, following the Monitoring Plugins guidelines.
//!
//! The levels are the ones rackwatch's rules give (the host's judgement by default, or the node's
//! own with `--judge node`); thresholds are not repeated on the command line. UNKNOWN means the check
//! could not judge: the daemon is unreachable, the node or metric is unknown, the node is down, or
//! the data is older than `--max-age`.

use crate::config::parse_duration;
use crate::operator::OperatorView;
use crate::state::{fetch, MetricView, NodeView};
use clap::Args;
use rackwatch_core::Level;
use std::io::Write;
use std::time::Duration;

/// Options of `rackwatch check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// The node to check.
    #[arg(long)]
    pub node: u16,
    /// Only this metric (default: the worst of the node's metrics).
    #[arg(long)]
    pub metric: Option<String>,
    /// The daemon's state endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9187")]
    pub connect: String,
    /// Whose judgement: the host's monitors or the node's own transitions.
    #[arg(long, value_parser = ["host", "node"], default_value = "host")]
    pub judge: String,
    /// Data older than this is UNKNOWN.
    #[arg(long, value_parser = parse_duration, default_value = "5m")]
    pub max_age: Duration,
    /// How long the whole request to the daemon may take (connecting, asking, reading the answer).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub timeout: Duration,
}

/// A Nagios unit of measurement for a rackwatch unit, and the factor to apply; unknown units are
/// reported without one (the guidelines allow only s, ms, us, %, B, KB, MB, TB and c).
fn uom(unit: &str) -> (&'static str, f64) {
    match unit {
        "%" => ("%", 1.0),
        "s" => ("s", 1.0),
        "ms" => ("ms", 1.0),
        "B" => ("B", 1.0),
        "KiB" => ("KB", 1.024),
        "MiB" => ("MB", 1.048_576),
        _ => ("", 1.0),
    }
}

/// A perfdata label: quoted when it has characters other than letters, digits and `_`.
fn label(name: &str) -> String {
    let clean: String = name.chars().filter(|&c| c != '=' && c != '\'').collect();
    if clean.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        clean
    } else {
        format!("'{clean}'")
    }
}

fn perfdata(m: &MetricView) -> Option<String> {
    let value = m.value?;
    let (unit, factor) = uom(&m.unit);
    let scaled = |v: f32| format!("{}", (f64::from(v) * factor) as f32);
    Some(format!(
        "{}={}{unit};{};{};;",
        label(&m.name),
        scaled(value),
        m.warning.map(scaled).unwrap_or_default(),
        m.critical.map(scaled).unwrap_or_default(),
    ))
}

/// The level of one metric under the chosen judge, and why, at `now_ms`.
fn judge(m: &MetricView, by_node: bool, now_ms: u64, max_age: Duration) -> (Level, String) {
    let value = m.value.map_or_else(
        || "no reading".to_string(),
        |v| format!("{v} {}", m.unit).trim_end().to_string(),
    );
    match m.wall_ms {
        Some(t) if now_ms.saturating_sub(t) > max_age.as_millis() as u64 => {
            return (
                Level::Unknown,
                format!("{} last read {value}, stale", m.name),
            )
        }
        None => return (Level::Unknown, format!("{}: no reading", m.name)),
        _ => {}
    }
    let level = if by_node {
        // The node never reported a transition for it: it is OK by the node's judgement.
        m.node_level.unwrap_or(Level::Ok)
    } else {
        m.level
    };
    let mut why = format!("{} {value}", m.name);
    // Past the threshold, the level says so already. The unit stays off: the value just before
    // carries it, and plugin status lines are kept short.
    if let Some(eta) = m.eta.filter(|e| e.ms > 0) {
        why.push_str(", ");
        why.push_str(&crate::render::reaches(eta.threshold, "", eta.ms));
    }
    if m.flapping {
        why.push_str(", flapping");
    }
    (level, why)
}

/// Nagios severity order: CRITICAL > WARNING > UNKNOWN > OK.
fn rank(level: Level) -> u8 {
    match level {
        Level::Ok => 0,
        Level::Unknown => 1,
        Level::Warning => 2,
        Level::Critical => 3,
    }
}

/// The status line and exit code for a node's state.
pub fn evaluate(node: Option<&NodeView>, args: &CheckArgs, now_ms: u64) -> (Level, String) {
    let Some(node) = node else {
        return (
            Level::Unknown,
            format!("node {} is not known to the daemon", args.node),
        );
    };
    if node.down {
        return (
            Level::Unknown,
            format!(
                "node {} is down: no frame for {}",
                node.id,
                crate::timefmt::format_span(now_ms.saturating_sub(node.last_frame_ms))
            ),
        );
    }
    let metrics: Vec<&MetricView> = node
        .metrics
        .iter()
        .filter(|m| args.metric.as_ref().is_none_or(|name| &m.name == name))
        .collect();
    if metrics.is_empty() {
        let what = args.metric.as_deref().unwrap_or("any metric");
        return (Level::Unknown, format!("node {} has no {what}", node.id));
    }
    let by_node = args.judge == "node";
    let judged: Vec<(Level, String)> = metrics
        .iter()
        .map(|m| judge(m, by_node, now_ms, args.max_age))
        .collect();
    let worst = judged
        .iter()
        .map(|(l, _)| *l)
        .max_by_key(|l| rank(*l))
        .unwrap_or(Level::Unknown);
    // The worst first, then the rest.
    let mut parts: Vec<&(Level, String)> = judged.iter().collect();
    parts.sort_by_key(|(l, _)| std::cmp::Reverse(rank(*l)));
    let summary = parts
        .iter()
        .map(|(l, why)| {
            if *l == Level::Ok {
                why.clone()
            } else {
                format!("{why} {l}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let perf: Vec<String> = metrics.iter().filter_map(|m| perfdata(m)).collect();
    let line = format!("node {}: {summary}", node.id);
    if perf.is_empty() {
        (worst, line)
    } else {
        (worst, format!("{line} | {}", perf.join(" ")))
    }
}

/// The status line with the checked alerts' acks said before the perfdata (`ACK by NAME:
/// comment`): an acknowledged alert keeps its level and exit code, as in Nagios.
pub fn with_acks(line: String, operator: &OperatorView, args: &CheckArgs) -> String {
    let acks: Vec<String> = operator
        .acks
        .iter()
        .filter(|a| a.node == args.node && args.metric.as_ref().is_none_or(|m| *m == a.metric))
        .map(|a| {
            format!(
                "ACK {} ({}) by {}: {}",
                a.metric,
                a.kind.as_str(),
                a.author,
                a.comment.replace('|', "/")
            )
        })
        .collect();
    if acks.is_empty() {
        return line;
    }
    let (text, perf) = match line.split_once(" | ") {
        Some((text, perf)) => (text, Some(perf)),
        None => (line.as_str(), None),
    };
    let text = format!("{text} - {}", acks.join(", "));
    match perf {
        Some(perf) => format!("{text} | {perf}"),
        None => text,
    }
}

/// Runs the check: prints the status line, returns the exit code.
pub fn run(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<u8> {
    let (level, line) = match fetch(&args.connect, args.timeout) {
        Ok(snapshot) => {
            let (level, line) = evaluate(snapshot.node(args.node), args, crate::source::now_ms());
            (level, with_acks(line, &snapshot.operator, args))
        }
        Err(e) => (Level::Unknown, e),
    };
    writeln!(out, "RACKWATCH {level} - {line}")?;
    Ok(level.exit_code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::EtaView;

    fn metric(name: &str, value: f32, level: &str) -> MetricView {
        MetricView {
            id: 0,
            name: name.into(),
            unit: "degC".into(),
            value: Some(value),
            wall_ms: Some(1_000_000),
            level: crate::names::parse_level(level).expect("a level name"),
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

    fn node(metrics: Vec<MetricView>) -> NodeView {
        NodeView {
            id: 3,
            boot: Some(1),
            firmware: None,
            down: false,
            last_frame_ms: 1_000_000,
            uptime_ms: None,
            reset: None,
            node_counters: None,
            counters: Default::default(),
            metrics,
        }
    }

    fn args(metric: Option<&str>) -> CheckArgs {
        CheckArgs {
            node: 3,
            metric: metric.map(Into::into),
            connect: String::new(),
            judge: "host".into(),
            max_age: Duration::from_secs(300),
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_worst_metric_sets_the_status_and_perfdata_follows_the_guidelines() {
        let mut hot = metric("inlet_temperature", 36.5, "CRITICAL");
        hot.eta = Some(EtaView {
            threshold: 40.0,
            above: true,
            ms: 3_600_000,
            accelerating: false,
        });
        let n = node(vec![metric("humidity level", 40.0, "OK"), hot]);
        let (level, line) = evaluate(Some(&n), &args(None), 1_000_000);
        assert_eq!(level, Level::Critical);
        assert_eq!(
            line,
            "node 3: inlet_temperature 36.5 degC, reaches 40 in 1h00m CRITICAL, humidity level 40 degC \
             | 'humidity level'=40;30;35;; inlet_temperature=36.5;30;35;;"
        );
        assert_eq!(level.exit_code(), 2);
    }

    #[test]
    fn what_cannot_be_judged_is_unknown() {
        let n = node(vec![metric("t", 20.0, "OK")]);
        assert_eq!(evaluate(None, &args(None), 0).0, Level::Unknown);
        assert_eq!(
            evaluate(Some(&n), &args(Some("nope")), 1_000_000).0,
            Level::Unknown
        );
        // Stale: the reading is 10 minutes old.
        let (level, line) = evaluate(Some(&n), &args(None), 1_600_000);
        assert_eq!(level, Level::Unknown);
        assert!(line.contains("stale"), "{line}");
        let mut down = node(vec![metric("t", 20.0, "OK")]);
        down.down = true;
        assert_eq!(
            evaluate(Some(&down), &args(None), 1_000_000).0,
            Level::Unknown
        );
        // A warning outranks an unknown, as Nagios orders them.
        let mixed = node(vec![
            metric("a", 31.0, "WARNING"),
            MetricView {
                wall_ms: None,
                ..metric("b", 0.0, "OK")
            },
        ]);
        assert_eq!(
            evaluate(Some(&mixed), &args(None), 1_000_000).0,
            Level::Warning
        );
        assert_eq!(uom("MiB"), ("MB", 1.048_576));
    }

    #[test]
    fn an_acknowledged_alert_keeps_its_level_and_says_ack() {
        use crate::operator::{Ack, AckKind};
        let args = CheckArgs {
            node: 3,
            metric: None,
            connect: String::new(),
            judge: "host".into(),
            max_age: Duration::from_secs(300),
            timeout: Duration::from_secs(1),
        };
        let mut operator = OperatorView::default();
        let line = "node 3: inlet 32 degC WARNING | inlet=32".to_string();
        assert_eq!(with_acks(line.clone(), &operator, &args), line);
        operator.acks.push(Ack {
            node: 3,
            metric: "inlet".into(),
            level: Level::Warning,
            kind: AckKind::Sticky,
            author: "ana".into(),
            comment: "RMA | open".into(),
            created_ms: 0,
            until_ms: None,
        });
        assert_eq!(
            with_acks(line, &operator, &args),
            "node 3: inlet 32 degC WARNING - ACK inlet (sticky) by ana: RMA / open | inlet=32"
        );
        // Another node's ack says nothing here.
        let other = CheckArgs { node: 4, ..args };
        assert_eq!(
            with_acks("node 4: ok".into(), &operator, &other),
            "node 4: ok"
        );
    }
}
