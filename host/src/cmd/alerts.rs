//! `rackwatch alerts`: stored alert transitions (and, with `--events`, node events).

use super::{open_history, print_rows, ConfigArgs, QueryArgs, StoreArgs};
use crate::timefmt::{format_span, format_utc};
use clap::Args;
use std::io::Write;

/// Options of `rackwatch alerts`.
#[derive(Debug, Clone, Args)]
pub struct AlertsArgs {
    /// Which rows, and how to print them.
    #[command(flatten)]
    pub query: QueryArgs,
    /// Only transitions judged by `node` or by `host`.
    #[arg(long, value_parser = ["node", "host"])]
    pub origin: Option<String>,
    /// Print node events (boots, resets, gaps, down/up) instead of transitions.
    #[arg(long)]
    pub events: bool,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The cause of a transition in words.
fn cause_text(cause: &serde_json::Value) -> String {
    let f = |v: &serde_json::Value, k: &str| v.get(k).cloned().unwrap_or_default();
    match cause {
        serde_json::Value::Object(map) => match map.iter().next() {
            Some((kind, v)) => match kind.as_str() {
                "Value" => format!("value {} vs bound {}", f(v, "value"), f(v, "bound")),
                "Eta" => format!(
                    "reaches {} in {}",
                    f(v, "threshold"),
                    format_span(f(v, "eta_ms").as_u64().unwrap_or(0))
                ),
                "Anomaly" => format!("anomaly score {}", f(v, "score")),
                "MissingData" => format!("no data since node time {} ms", f(v, "last_seen_ms")),
                other => other.to_string(),
            },
            None => String::new(),
        },
        serde_json::Value::String(s) => match s.as_str() {
            "SensorFault" => "sensor fault".into(),
            "FlappingStopped" => "flapping stopped".into(),
            other => other.into(),
        },
        other => other.to_string(),
    }
}

/// Prints the transitions or events, oldest first.
pub fn run(args: &AlertsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let store = open_history(&args.config, &args.store)?;
    let query = args.query.query(crate::source::now_ms())?;
    if args.events {
        let rows = store.node_events(&query)?;
        print_rows(
            out,
            args.query.format,
            &["time", "node", "event", "boot", "detail"],
            &rows,
            |r| {
                vec![
                    format_utc(r.wall_ms),
                    r.node.to_string(),
                    r.kind.clone(),
                    format!("{:08x}", r.boot),
                    r.detail.to_string(),
                ]
            },
        )?;
        return Ok(());
    }
    let mut rows = store.transitions(&query)?;
    if let Some(origin) = &args.origin {
        rows.retain(|r| &r.origin == origin);
    }
    print_rows(
        out,
        args.query.format,
        &[
            "time", "node", "metric", "from", "to", "cause", "by", "seq", "flapping",
        ],
        &rows,
        |r| {
            vec![
                format_utc(r.wall_ms),
                r.node.to_string(),
                r.name.clone(),
                r.from.clone(),
                r.to.clone(),
                cause_text(&r.cause),
                r.origin.clone(),
                r.alert_seq.to_string(),
                if r.suppressed {
                    "yes".into()
                } else {
                    String::new()
                },
            ]
        },
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_read_as_words() {
        let c = |s: &str| cause_text(&serde_json::from_str(s).unwrap());
        assert_eq!(
            c(r#"{"Value":{"value":36.5,"bound":35.0}}"#),
            "value 36.5 vs bound 35.0"
        );
        assert_eq!(
            c(r#"{"Eta":{"eta_ms":7200000,"threshold":95.0}}"#),
            "reaches 95.0 in 2h00m"
        );
        assert_eq!(c(r#""SensorFault""#), "sensor fault");
    }
}
