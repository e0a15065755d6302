//! `rackwatch analyze FILE|-`: runs the core over a series offline (a disk's usage, a process's
//! memory, a queue's latency exported from anywhere), row by row as a node would: trend, time to a
//! threshold, anomaly score, alert level and transitions.
//!
//! Input: CSV (`timestamp,value`, header optional; columns chosen by the header names `timestamp`,
//! `time` or `t` and `value` or `v`) or JSON lines (`{"timestamp": ..., "value": ...}`). Timestamps
//! are RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), epoch seconds or epoch milliseconds. A row that cannot
//! be read is reported with its line number and skipped (`--strict` stops instead); nothing before it
//! is lost.

use super::Format;
use crate::config::parse_duration;
use crate::timefmt::{format_span, format_utc, parse_rfc3339};
use clap::Args;
use rackwatch_core::alert::{Bound, Horizon, Limit, Limits, Predictive, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::Monitor;
use rackwatch_core::trend::{Crossing, EtaPolicy, TimeTo};
use rackwatch_core::wire::Cause;
use serde::Serialize;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `rackwatch analyze`.
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// The series: a CSV or JSON-lines file, or `-` for standard input.
    pub input: PathBuf,
    /// The series is bad above this threshold (CRITICAL there; the forecast is about it).
    #[arg(long, conflicts_with = "below", value_name = "X")]
    pub above: Option<f32>,
    /// The series is bad below this threshold.
    #[arg(long, value_name = "X")]
    pub below: Option<f32>,
    /// WARNING at this value (on the same side as the threshold).
    #[arg(long, value_name = "X")]
    pub warning: Option<f32>,
    /// WARNING when the forecast reaches the threshold within this long.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    pub horizon: Duration,
    /// Samples in the trend window: 64, 256, 1024 or 4096.
    #[arg(long, default_value_t = 1024, value_parser = parse_window)]
    pub window: usize,
    /// Output: one row per input row (csv, json) or an aligned table.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Print only the summary and the transitions.
    #[arg(long)]
    pub summary_only: bool,
    /// Stop at the first row that cannot be read.
    #[arg(long)]
    pub strict: bool,
}

/// One analysed row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Time, ms since the epoch.
    pub t_ms: u64,
    /// The value.
    pub value: f32,
    /// Anomaly score, 0 to 1.
    pub score: f32,
    /// What drove the score.
    pub anomaly: String,
    /// Trend over the window, per hour.
    pub slope_per_hour: Option<f64>,
    /// Milliseconds until the fit reaches the threshold (0: already there).
    pub eta_ms: Option<u64>,
    /// The alert level after this row.
    pub level: String,
}

/// A transition found in the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// When.
    pub t_ms: u64,
    /// From.
    pub from: String,
    /// To.
    pub to: String,
    /// Why.
    pub cause: Cause,
}

/// What the whole series says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Rows analysed.
    pub rows: u64,
    /// Rows skipped because they could not be read.
    pub skipped: u64,
    /// The last row's time.
    pub last_ms: Option<u64>,
    /// The final trend, per hour.
    pub slope_per_hour: Option<f64>,
    /// The final forecast: ms after the last row until the threshold; `None` when there is no
    /// confident forecast.
    pub eta_ms: Option<u64>,
    /// Why there is no forecast, when there is none.
    pub no_eta: Option<String>,
    /// The final level.
    pub level: String,
    /// Transitions.
    pub transitions: Vec<Found>,
}

fn parse_window(text: &str) -> Result<usize, String> {
    match text {
        "64" | "256" | "1024" | "4096" => text.parse().map_err(|_| String::new()),
        _ => Err("the window is 64, 256, 1024 or 4096 samples".into()),
    }
}

/// The rule the flags describe.
fn rule(args: &AnalyzeArgs) -> (Rule, Option<(f32, Crossing)>) {
    let threshold = args
        .above
        .map(|t| (t, Crossing::Above))
        .or(args.below.map(|t| (t, Crossing::Below)));
    let mut rule = Rule::EMPTY;
    if let Some((t, side)) = threshold {
        let limits = |v: f32| {
            let limit = Some(Limit::at(Bound::inclusive(v)));
            match side {
                Crossing::Above => Limits {
                    above: limit,
                    below: None,
                },
                Crossing::Below => Limits {
                    above: None,
                    below: limit,
                },
            }
        };
        rule.value.critical = limits(t);
        if let Some(w) = args.warning {
            rule.value.warning = limits(w);
        }
        let horizon = u32::try_from(args.horizon.as_millis()).unwrap_or(u32::MAX);
        rule.predictive = Some(Predictive {
            threshold: t,
            crossing: side,
            warning: Some(Horizon {
                within_ms: horizon,
                clear_beyond_ms: horizon.saturating_add(horizon / 2),
            }),
            critical: None,
            policy: EtaPolicy::DEFAULT,
        });
    }
    (rule, threshold)
}

/// Reads `timestamp,value` rows from CSV or JSON lines.
pub struct SeriesReader<R> {
    input: R,
    line: usize,
    columns: Option<(usize, usize)>,
    json: Option<bool>,
    buf: String,
    /// Bytes read so far.
    pub bytes: u64,
}

/// A timestamp in any accepted form, as ms since the epoch.
fn parse_timestamp(text: &str) -> Result<u64, String> {
    let t = text.trim().trim_matches('"');
    if let Ok(n) = t.parse::<f64>() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(format!("`{t}` is not a time"));
        }
        // Epoch milliseconds from 1973 on are > 1e11; seconds stay below until the year 5138.
        return Ok(if n >= 1e11 {
            n as u64
        } else {
            (n * 1000.0) as u64
        });
    }
    parse_rfc3339(t)
}

impl<R: BufRead> SeriesReader<R> {
    /// A reader over `input`.
    pub fn new(input: R) -> SeriesReader<R> {
        SeriesReader {
            input,
            line: 0,
            columns: None,
            json: None,
            buf: String::new(),
            bytes: 0,
        }
    }

    fn row(&mut self, text: &str) -> Result<Option<(u64, f32)>, String> {
        let json = *self.json.get_or_insert(text.starts_with('{'));
        if json {
            let v: serde_json::Value =
                serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
            let field = |names: &[&str]| names.iter().find_map(|n| v.get(*n)).cloned();
            let t = field(&["timestamp", "time", "t", "ts"]).ok_or("no `timestamp` field")?;
            let value = field(&["value", "v"]).ok_or("no `value` field")?;
            let t = match &t {
                serde_json::Value::String(s) => parse_timestamp(s)?,
                other => parse_timestamp(&other.to_string())?,
            };
            let value = match &value {
                serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN) as f32,
                serde_json::Value::String(s) => s
                    .trim()
                    .parse()
                    .map_err(|_| format!("value `{s}` is not a number"))?,
                other => return Err(format!("value `{other}` is not a number")),
            };
            return Ok(Some((t, value)));
        }
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        if self.columns.is_none() {
            let lower: Vec<String> = cells
                .iter()
                .map(|c| c.trim_matches('"').to_ascii_lowercase())
                .collect();
            let find = |names: &[&str]| lower.iter().position(|c| names.contains(&c.as_str()));
            let header = (
                find(&["timestamp", "time", "t", "ts"]),
                find(&["value", "v"]),
            );
            if let (Some(t), Some(v)) = header {
                self.columns = Some((t, v));
                return Ok(None);
            }
            self.columns = Some((0, 1));
        }
        let (tc, vc) = self.columns.unwrap_or((0, 1));
        let t = cells.get(tc).ok_or("no timestamp column")?;
        let v = cells.get(vc).ok_or("no value column")?;
        let value = v
            .trim_matches('"')
            .parse::<f32>()
            .map_err(|_| format!("value `{v}` is not a number"))?;
        Ok(Some((parse_timestamp(t)?, value)))
    }

    /// The next row: `Some(Ok((line, t_ms, value)))`, `Some(Err(message))` naming the line, `None`
    /// at the end.
    pub fn next_row(&mut self) -> Option<Result<(usize, u64, f32), String>> {
        loop {
            self.buf.clear();
            match self.input.read_line(&mut self.buf) {
                Ok(0) => return None,
                Ok(n) => self.bytes += n as u64,
                Err(e) => return Some(Err(format!("line {}: {e}", self.line + 1))),
            }
            self.line += 1;
            let text = self.buf.trim().to_string();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match self.row(&text) {
                Ok(Some((t, v))) => return Some(Ok((self.line, t, v))),
                Ok(None) => continue,
                Err(e) => return Some(Err(format!("line {}: {e}", self.line))),
            }
        }
    }
}

/// Analyses a series with a window of `N` samples, handing each row to `emit`.
pub fn analyze<const N: usize, R: BufRead>(
    reader: &mut SeriesReader<R>,
    args: &AnalyzeArgs,
    mut emit: impl FnMut(&Row) -> std::io::Result<()>,
    mut warn: impl FnMut(&str),
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Summary> {
    let (rule, threshold) = rule(args);
    rule.check()
        .map_err(|e| anyhow::anyhow!("the thresholds do not make a valid rule: {e}"))?;
    let mut monitor: Box<Monitor<N>> = Box::new(Monitor::new(0, rule, AnomalyConfig::DEFAULT, 0));
    let mut summary = Summary {
        rows: 0,
        skipped: 0,
        last_ms: None,
        slope_per_hour: None,
        eta_ms: None,
        no_eta: Some("no rows".into()),
        level: "OK".into(),
        transitions: Vec::new(),
    };
    while let Some(row) = reader.next_row() {
        let (line, t, value) = match row {
            Ok(row) => row,
            Err(e) if args.strict => anyhow::bail!("{}: {e}", args.input.display()),
            Err(e) => {
                warn(&format!("{}: {e}; skipped", args.input.display()));
                summary.skipped += 1;
                continue;
            }
        };
        let transitions = match monitor.observe(t, value) {
            Ok(tr) => tr,
            Err(e) if args.strict => anyhow::bail!("{}: line {line}: {e}", args.input.display()),
            Err(e) => {
                warn(&format!(
                    "{}: line {line}: {e}; skipped",
                    args.input.display()
                ));
                summary.skipped += 1;
                continue;
            }
        };
        for tr in transitions {
            summary.transitions.push(Found {
                t_ms: tr.at_ms,
                from: tr.from.as_str().into(),
                to: tr.to.as_str().into(),
                cause: tr.cause,
            });
        }
        summary.rows += 1;
        summary.last_ms = Some(t);
        if summary.rows.is_multiple_of(4096) {
            progress.set_position(reader.bytes);
        }
        let fit = monitor.window().fit();
        let eta = threshold.map(|(thr, side)| {
            monitor
                .window()
                .time_to(t, f64::from(thr), side, &EtaPolicy::DEFAULT)
        });
        let eta_ms = match eta {
            Some(TimeTo::Eta(e)) => Some(e.ms),
            Some(TimeTo::AlreadyCrossed) => Some(0),
            _ => None,
        };
        summary.slope_per_hour = fit.map(|f| f.slope_per_second() * 3600.0);
        summary.eta_ms = eta_ms;
        summary.no_eta = match eta {
            None => Some("no threshold given (--above or --below)".into()),
            Some(TimeTo::Eta(_) | TimeTo::AlreadyCrossed) => None,
            Some(TimeTo::Never) => {
                Some("the trend is flat or moving away from the threshold".into())
            }
            Some(TimeTo::PoorFit) => Some("the trend is not distinguishable from noise".into()),
            Some(TimeTo::NotEnoughData) => Some("not enough samples yet".into()),
        };
        summary.level = monitor.level().as_str().into();
        let score = monitor
            .last_score()
            .unwrap_or(rackwatch_core::anomaly::AnomalyScore::ZERO);
        if !args.summary_only {
            emit(&Row {
                t_ms: t,
                value,
                score: score.score,
                anomaly: if score.score > 0.0 {
                    format!("{:?}", score.dominant())
                } else {
                    String::new()
                },
                slope_per_hour: summary.slope_per_hour,
                eta_ms,
                level: summary.level.clone(),
            })?;
        }
    }
    Ok(summary)
}

/// Runs `analyze`.
pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if args.input.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.input)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.input.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let total = std::fs::metadata(&args.input).map(|m| m.len()).unwrap_or(0);
    let progress = if total > 8 << 20 {
        indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut reader = SeriesReader::new(input);
    let mut rows_out: Vec<Row> = Vec::new();
    let csv = args.format == Format::Csv && !args.summary_only;
    if csv {
        writeln!(out, "time,value,score,anomaly,slope_per_hour,eta_ms,level")?;
    }
    let emit = |row: &Row| -> std::io::Result<()> {
        match args.format {
            Format::Csv => writeln!(
                out,
                "{},{},{},{},{},{},{}",
                format_utc(row.t_ms),
                row.value,
                row.score,
                row.anomaly,
                row.slope_per_hour
                    .map(|s| format!("{s:.6}"))
                    .unwrap_or_default(),
                row.eta_ms.map(|e| e.to_string()).unwrap_or_default(),
                row.level
            )?,
            Format::Json => writeln!(out, "{}", serde_json::to_string(row).unwrap_or_default())?,
            Format::Table => rows_out.push(row.clone()),
        }
        Ok(())
    };
    let warn = |m: &str| {
        progress.suspend(|| eprintln!("rackwatch: {m}"));
    };
    let summary = match args.window {
        64 => analyze::<64, _>(&mut reader, args, emit, warn, &progress)?,
        256 => analyze::<256, _>(&mut reader, args, emit, warn, &progress)?,
        4096 => analyze::<4096, _>(&mut reader, args, emit, warn, &progress)?,
        _ => analyze::<1024, _>(&mut reader, args, emit, warn, &progress)?,
    };
    progress.finish_and_clear();
    if args.format == Format::Table && !args.summary_only {
        super::print_rows(
            out,
            Format::Table,
            &[
                "time", "value", "score", "anomaly", "trend/h", "eta", "level",
            ],
            &rows_out,
            |r| {
                vec![
                    format_utc(r.t_ms),
                    r.value.to_string(),
                    format!("{:.2}", r.score),
                    r.anomaly.clone(),
                    r.slope_per_hour
                        .map(|s| format!("{s:+.4}"))
                        .unwrap_or_default(),
                    r.eta_ms.map(format_span).unwrap_or_default(),
                    r.level.clone(),
                ]
            },
        )?;
    }
    // The summary: JSON on stdout for --format json with --summary-only, else words on stderr (so a
    // CSV on stdout stays a CSV).
    if args.format == Format::Json && args.summary_only {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
        return Ok(());
    }
    let mut err = std::io::stderr().lock();
    for t in &summary.transitions {
        writeln!(
            err,
            "{} {} -> {} ({:?})",
            format_utc(t.t_ms),
            t.from,
            t.to,
            t.cause
        )?;
    }
    let threshold = args.above.or(args.below);
    let forecast = match (summary.eta_ms, summary.last_ms, threshold) {
        (Some(0), _, Some(thr)) => format!("already at {thr}"),
        (Some(eta), Some(last), Some(thr)) => format!(
            "reaches {thr} in {} (at {})",
            format_span(eta),
            format_utc(last.saturating_add(eta))
        ),
        _ => format!("no ETA: {}", summary.no_eta.as_deref().unwrap_or("")),
    };
    writeln!(
        err,
        "{} rows ({} skipped), trend {}, {forecast}, level {}",
        summary.rows,
        summary.skipped,
        summary
            .slope_per_hour
            .map_or_else(|| "unknown".into(), |s| format!("{s:+.4}/h")),
        summary.level
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_every_accepted_form() {
        let text = "timestamp,value\n2026-12-02 10:00:00,1.5\n# comment\n\n1796219603,2\n1796219603566,3\n2026-12-02T10:00:00Z,x\n";
        let mut r = SeriesReader::new(text.as_bytes());
        assert_eq!(r.next_row(), Some(Ok((2, 1_796_205_600_000, 1.5))));
        assert_eq!(r.next_row(), Some(Ok((5, 1_796_219_603_000, 2.0))));
        assert_eq!(r.next_row(), Some(Ok((6, 1_796_219_603_566, 3.0))));
        assert_eq!(
            r.next_row(),
            Some(Err("line 7: value `x` is not a number".into()))
        );
        assert_eq!(r.next_row(), None);
        let json = "{\"timestamp\": \"2026-12-02T10:00:00Z\", \"value\": 4}\n{\"t\": 1796219603, \"v\": \"5\"}\n{\"value\": 1}\n";
        let mut r = SeriesReader::new(json.as_bytes());
        assert_eq!(r.next_row(), Some(Ok((1, 1_796_205_600_000, 4.0))));
        assert_eq!(r.next_row(), Some(Ok((2, 1_796_219_603_000, 5.0))));
        assert_eq!(
            r.next_row(),
            Some(Err("line 3: no `timestamp` field".into()))
        );
    }
}
