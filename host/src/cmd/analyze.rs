//! `rackwatch analyze FILE|-`: runs the core over a series offline (a disk's usage, a process's
//! memory, a queue's latency exported from anywhere), row by row as a node would: trend, time to a
//! threshold, anomaly score, alert level and transitions. The monitor is the node's, with its
//! defaults: the same window, the same regime-aware trend with the same memory in time (`--memory`
//! changes it), so a CSV with a row every 5 minutes and a node reading every 10 s forecast alike.
//!
//! Input: CSV (`timestamp,value`, header optional; columns chosen by the header names `timestamp`,
//! `time` or `t` and `value` or `v`) or JSON lines (`{"timestamp": ..., "value": ...}`). Timestamps
//! are RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), epoch seconds or epoch milliseconds. A row that cannot
//! be read is reported with its line number and skipped (`--strict` stops instead); nothing before it
//! is lost. Reading the series is the job of [`SeriesReader`].
//!
//! Sensor health (stuck, out of range, slew) is judged only with `--sensor-health`: a series that is
//! not a physical sensor has real flat and quantised stretches, and those are not faults.
//!
//! Invariants: standard output carries only the rows (or, with `--format json --summary-only`, the
//! summary), so it stays a clean CSV or JSON stream; words go to standard error. Levels and anomaly
//! kinds are written by their stable names ([`crate::names`]), causes by [`crate::render`].

mod series;

pub use series::{Columns, SeriesReader};

use super::Format;
use crate::config::parse_duration;
use crate::names;
use crate::render;
use crate::timefmt::{format_span, format_utc};
use clap::Args;
use rackwatch_core::alert::{Bound, Health, Horizon, Limit, Limits, Predictive, Rule};
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyKind, AnomalyScore};
use rackwatch_core::monitor::{Monitor, DEFAULT_WINDOW};
use rackwatch_core::trend::{AdaptiveConfig, Crossing, EtaPolicy, TimeTo};
use rackwatch_core::wire::Cause;
use rackwatch_core::Level;
use serde::Serialize;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `rackwatch analyze`.
#[derive(Debug, Clone, Args)]
pub struct AnalyzeArgs {
    /// The series: a CSV or JSON-lines file, or `-` for standard input. A CSV's header may name
    /// its columns anything: the first is the time, the second the value, unless a column is named
    /// timestamp/time/t/ts or value/v, or --time-col/--value-col say.
    pub input: PathBuf,
    /// The series is bad above this threshold (CRITICAL there; the forecast is about it).
    #[arg(
        long,
        conflicts_with = "below",
        value_name = "X",
        allow_negative_numbers = true
    )]
    pub above: Option<f32>,
    /// The series is bad below this threshold.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub below: Option<f32>,
    /// WARNING at this value (on the same side as the threshold).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub warning: Option<f32>,
    /// The CSV column holding the time: its header name or its number from 1 [default: a column
    /// named timestamp, time, t or ts, else the first].
    #[arg(long, value_name = "COLUMN")]
    pub time_col: Option<String>,
    /// The CSV column holding the value: its header name or its number from 1 [default: a column
    /// named value or v, else the second].
    #[arg(long, value_name = "COLUMN")]
    pub value_col: Option<String>,
    /// WARNING when the forecast reaches the threshold within this long.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    pub horizon: Duration,
    /// How long the trend remembers (the time constant of its forgetting, 1m to 40d) [default:
    /// the node's, 2d]. The fit restarts on its own after a change of regime.
    #[arg(long, value_name = "DURATION", value_parser = parse_memory)]
    pub memory: Option<Duration>,
    /// Output: one row per input row (csv, json) or an aligned table.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Print only the summary and the transitions.
    #[arg(long)]
    pub summary_only: bool,
    /// Stop at the first row that cannot be read.
    #[arg(long)]
    pub strict: bool,
    /// Judge sensor health (a sensor stuck on one value, out of range, changing too fast): such
    /// readings are UNKNOWN (SensorFault). Off by default: most series are not physical sensors,
    /// and a real flat or quantised stretch (an idle queue, a counter at 0) is not a fault.
    #[arg(long)]
    pub sensor_health: bool,
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
    /// What drove the score, when there is one (written as the kind's name, or empty).
    #[serde(serialize_with = "anomaly_name")]
    pub anomaly: Option<AnomalyKind>,
    /// Trend over the window, per hour.
    pub slope_per_hour: Option<f64>,
    /// Milliseconds until the fit reaches the threshold (0: already there).
    pub eta_ms: Option<u64>,
    /// The alert level after this row.
    #[serde(with = "crate::names::level")]
    pub level: Level,
}

impl Row {
    /// The anomaly kind's name, empty when the score is zero.
    pub fn anomaly_text(&self) -> &'static str {
        self.anomaly.map_or("", names::anomaly_kind)
    }
}

/// Rows have always written no anomaly as an empty string, not null: CSV and JSON agree.
fn anomaly_name<S: serde::Serializer>(kind: &Option<AnomalyKind>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.map_or("", names::anomaly_kind))
}

/// A transition found in the series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// When.
    pub t_ms: u64,
    /// From.
    #[serde(with = "crate::names::level")]
    pub from: Level,
    /// To.
    #[serde(with = "crate::names::level")]
    pub to: Level,
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
    /// The final forecast follows a significant acceleration (earlier than a straight line).
    pub accelerating: bool,
    /// The final level.
    #[serde(with = "crate::names::level")]
    pub level: Level,
    /// Transitions.
    pub transitions: Vec<Found>,
}

/// A trend memory: a duration from a minute to 40 days (the core keeps it in u32 milliseconds).
fn parse_memory(text: &str) -> Result<Duration, String> {
    let memory = parse_duration(text)?;
    if (Duration::from_secs(60)..=Duration::from_secs(40 * 86_400)).contains(&memory) {
        Ok(memory)
    } else {
        Err(format!(
            "the trend's memory is from 1m to 40d, not `{text}`"
        ))
    }
}

/// The rule the flags describe.
fn rule(args: &AnalyzeArgs) -> (Rule, Option<(f32, Crossing)>) {
    let threshold = args
        .above
        .map(|t| (t, Crossing::Above))
        .or(args.below.map(|t| (t, Crossing::Below)));
    let mut rule = Rule::EMPTY;
    rule.health = if args.sensor_health {
        Health::ALL
    } else {
        Health::NONE
    };
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
            keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
        });
    }
    (rule, threshold)
}

impl Summary {
    /// Before the first row.
    fn empty() -> Summary {
        Summary {
            rows: 0,
            skipped: 0,
            last_ms: None,
            slope_per_hour: None,
            eta_ms: None,
            no_eta: Some("no rows".into()),
            accelerating: false,
            level: Level::Ok,
            transitions: Vec::new(),
        }
    }

    /// Takes the monitor's word after the row at `t`, returning the row as analysed.
    fn after_row<const N: usize>(
        &mut self,
        monitor: &Monitor<N>,
        (t, value): (u64, f32),
        threshold: Option<(f32, Crossing)>,
    ) -> Row {
        self.rows += 1;
        self.last_ms = Some(t);
        let (eta_ms, no_eta, accelerating) = forecast(monitor, t, threshold);
        self.slope_per_hour = monitor
            .trend()
            .line()
            .map(|f| f.slope_per_second() * 3600.0);
        self.eta_ms = eta_ms;
        self.no_eta = no_eta;
        self.accelerating = accelerating;
        self.level = monitor.level();
        let score = monitor.last_score().unwrap_or(AnomalyScore::ZERO);
        Row {
            t_ms: t,
            value,
            score: score.score,
            anomaly: (score.score > 0.0).then(|| score.dominant()),
            slope_per_hour: self.slope_per_hour,
            eta_ms,
            level: self.level,
        }
    }
}

/// The forecast after the row at `t`: ms until the fit reaches the threshold (0: already past),
/// or why there is none; and whether it follows an acceleration.
fn forecast<const N: usize>(
    monitor: &Monitor<N>,
    t: u64,
    threshold: Option<(f32, Crossing)>,
) -> (Option<u64>, Option<String>, bool) {
    let forecast =
        threshold.map(|(thr, side)| monitor.forecast(t, f64::from(thr), side, &EtaPolicy::DEFAULT));
    let accelerating = forecast.is_some_and(|f| f.accelerating);
    let (eta_ms, no_eta) = match forecast.map(|f| f.time_to) {
        Some(TimeTo::Eta(e)) => (Some(e.ms), None),
        Some(TimeTo::AlreadyCrossed) => (Some(0), None),
        None => (None, Some("no threshold given (--above or --below)".into())),
        Some(TimeTo::Never) => (
            None,
            Some("the trend is flat or moving away from the threshold".into()),
        ),
        Some(TimeTo::PoorFit) => (
            None,
            Some("the trend is not distinguishable from noise".into()),
        ),
        Some(TimeTo::NotEnoughData) => (None, Some("not enough samples yet".into())),
    };
    (eta_ms, no_eta, accelerating)
}

/// A row that cannot be read or judged: the end under `--strict`, else a warning and a count.
fn skip(
    args: &AnalyzeArgs,
    summary: &mut Summary,
    warn: &mut impl FnMut(&str),
    error: &str,
) -> anyhow::Result<()> {
    let input = args.input.display();
    if args.strict {
        anyhow::bail!("{input}: {error}");
    }
    warn(&format!("{input}: {error}; skipped"));
    summary.skipped += 1;
    Ok(())
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
    let trend = match args.memory {
        // Within u32 by `parse_memory`'s range.
        Some(memory) => AdaptiveConfig {
            memory_ms: u32::try_from(memory.as_millis()).unwrap_or(u32::MAX),
            ..AdaptiveConfig::DEFAULT
        },
        None => AdaptiveConfig::DEFAULT,
    };
    let mut monitor: Box<Monitor<N>> =
        Box::new(Monitor::new(0, rule, AnomalyConfig::DEFAULT, 0).with_trend(trend));
    let mut summary = Summary::empty();
    while let Some(row) = reader.next_row() {
        let (line, t, value) = match row {
            Ok(row) => row,
            Err(e) => {
                skip(args, &mut summary, &mut warn, &e)?;
                continue;
            }
        };
        let transitions = match monitor.observe(t, value) {
            Ok(transitions) => transitions,
            Err(e) => {
                skip(args, &mut summary, &mut warn, &format!("line {line}: {e}"))?;
                continue;
            }
        };
        summary
            .transitions
            .extend(transitions.into_iter().map(|tr| Found {
                t_ms: tr.at_ms,
                from: tr.from,
                to: tr.to,
                cause: tr.cause,
            }));
        let row = summary.after_row(&monitor, (t, value), threshold);
        if summary.rows.is_multiple_of(4096) {
            progress.set_position(reader.bytes);
        }
        if !args.summary_only {
            emit(&row)?;
        }
    }
    Ok(summary)
}

/// The series: the file, or standard input for `-`.
fn open_input(args: &AnalyzeArgs) -> anyhow::Result<Box<dyn BufRead>> {
    if args.input.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin().lock()));
    }
    let file = std::fs::File::open(&args.input)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", args.input.display()))?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// A progress bar on stderr for a file worth waiting for (over 8 MiB); otherwise a hidden one.
fn progress_bar(args: &AnalyzeArgs) -> indicatif::ProgressBar {
    let total = std::fs::metadata(&args.input).map(|m| m.len()).unwrap_or(0);
    if total > 8 << 20 {
        indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::stderr(),
        )
    } else {
        indicatif::ProgressBar::hidden()
    }
}

const CSV_HEADER: &str = "time,value,score,anomaly,slope_per_hour,eta_ms,level";

fn csv_line(row: &Row) -> String {
    format!(
        "{},{},{},{},{},{},{}",
        format_utc(row.t_ms),
        row.value,
        row.score,
        row.anomaly_text(),
        row.slope_per_hour
            .map(|s| format!("{s:.6}"))
            .unwrap_or_default(),
        row.eta_ms.map(|e| e.to_string()).unwrap_or_default(),
        row.level
    )
}

const TABLE_HEADERS: [&str; 7] = [
    "time", "value", "score", "anomaly", "trend/h", "eta", "level",
];

fn table_cells(r: &Row) -> Vec<String> {
    vec![
        format_utc(r.t_ms),
        r.value.to_string(),
        format!("{:.2}", r.score),
        r.anomaly_text().to_string(),
        r.slope_per_hour
            .map(|s| format!("{s:+.4}"))
            .unwrap_or_default(),
        r.eta_ms.map(format_span).unwrap_or_default(),
        r.level.to_string(),
    ]
}

/// The transitions and the last word on the series, in words.
fn print_summary(
    err: &mut dyn Write,
    args: &AnalyzeArgs,
    summary: &Summary,
) -> std::io::Result<()> {
    for t in &summary.transitions {
        let transition = render::transition(t.from, t.to, &t.cause, "");
        writeln!(err, "{} {transition}", format_utc(t.t_ms))?;
    }
    let threshold = args.above.or(args.below);
    let forecast = match (summary.eta_ms, summary.last_ms, threshold) {
        (Some(0), _, Some(thr)) => render::reaches(thr, "", 0),
        (Some(eta), Some(last), Some(thr)) => format!(
            "{} (at {})",
            render::reaches(thr, "", eta),
            format_utc(last.saturating_add(eta))
        ),
        _ => format!("no ETA: {}", summary.no_eta.as_deref().unwrap_or("")),
    };
    let forecast = if summary.accelerating {
        format!("{forecast}, accelerating")
    } else {
        forecast
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
    )
}

/// Runs `analyze`.
pub fn run(args: &AnalyzeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let columns = Columns {
        time: args.time_col.clone(),
        value: args.value_col.clone(),
    };
    let mut reader = SeriesReader::with_columns(open_input(args)?, columns);
    let progress = progress_bar(args);
    if args.format == Format::Csv && !args.summary_only {
        writeln!(out, "{CSV_HEADER}")?;
    }
    let mut rows_out: Vec<Row> = Vec::new();
    let emit = |row: &Row| match args.format {
        Format::Csv => writeln!(out, "{}", csv_line(row)),
        Format::Json => writeln!(out, "{}", serde_json::to_string(row).unwrap_or_default()),
        Format::Table => {
            rows_out.push(row.clone());
            Ok(())
        }
    };
    let warn = |m: &str| progress.suspend(|| drop(writeln!(std::io::stderr(), "rackwatch: {m}")));
    // The node's monitor: its statistics window and its trend (`--memory` sets the trend's memory).
    let summary = analyze::<DEFAULT_WINDOW, _>(&mut reader, args, emit, warn, &progress)?;
    progress.finish_and_clear();
    if args.format == Format::Table && !args.summary_only {
        super::print_rows(out, Format::Table, &TABLE_HEADERS, &rows_out, table_cells)?;
    }
    // The summary: JSON on stdout for --format json with --summary-only, else words on stderr (so a
    // CSV on stdout stays a CSV).
    if args.format == Format::Json && args.summary_only {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
        return Ok(());
    }
    print_summary(&mut std::io::stderr().lock(), args, &summary)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn falling_series() -> String {
        // 50 falling 0.2 a minute: WARNING on the forecast, CRITICAL at 20 exactly (row 150).
        let rows = (0..200u64).map(|i| {
            let value = f64::from(500 - 2 * i as i32) / 10.0;
            format!("{},{value}\n", 1_796_000_000 + i * 60)
        });
        std::iter::once("timestamp,value\n".to_string())
            .chain(rows)
            .collect()
    }

    #[test]
    fn transitions_read_as_words_and_rows_keep_their_names() {
        let args = AnalyzeArgs {
            input: "-".into(),
            above: None,
            below: Some(20.0),
            warning: Some(30.0),
            time_col: None,
            value_col: None,
            horizon: Duration::from_secs(24 * 3600),
            memory: None,
            format: Format::Json,
            summary_only: false,
            strict: true,
            sensor_health: false,
        };
        let text = falling_series();
        let mut reader = SeriesReader::new(text.as_bytes());
        let mut rows = Vec::new();
        let keep = |r: &Row| {
            rows.push(r.clone());
            Ok(())
        };
        let hidden = indicatif::ProgressBar::hidden();
        let summary = analyze::<64, _>(&mut reader, &args, keep, |_| {}, &hidden).unwrap();
        let mut words = Vec::new();
        print_summary(&mut words, &args, &summary).unwrap();
        let words = String::from_utf8(words).unwrap();
        assert!(words.contains("Z OK -> WARNING, reaches 20 in "), "{words}");
        assert!(
            words.contains("Z WARNING -> CRITICAL, 20.0 (bound 20)\n"),
            "{words}"
        );
        assert!(!words.contains(['{', '}']), "Debug text in\n{words}");
        assert!(
            words.ends_with(", already at 20, level CRITICAL\n"),
            "{words}"
        );
        let json = serde_json::to_string(&summary).unwrap();
        assert!(
            json.contains(r#""from":"WARNING","to":"CRITICAL""#),
            "{json}"
        );
        assert!(json.contains(r#""level":"CRITICAL""#), "{json}");
        let first = serde_json::to_string(&rows[0]).unwrap();
        assert!(first.contains(r#""anomaly":"","#), "{first}");
        assert!(first.contains(r#""level":"OK""#), "{first}");
        let scored = rows.iter().find_map(|r| r.anomaly.map(|k| (r, k)));
        let (row, kind) = scored.expect("a row with an anomaly score");
        let name = names::anomaly_kind(kind);
        assert_eq!(row.anomaly_text(), name);
        let json = serde_json::to_string(row).unwrap();
        assert!(json.contains(&format!(r#""anomaly":"{name}","#)), "{json}");
    }
}
