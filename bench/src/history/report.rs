//! The history benchmark's figures as Markdown blocks for `BENCHMARKS.md` (or JSON).
//!
//! Invariant: every ratio divides two figures of the same run; the prose around the blocks lives
//! in `BENCHMARKS.md`.

use super::formats::Size;
use super::timing::Ingest;
use crate::markers::Block;
use serde::Serialize;
use std::fmt::Write;
use std::time::Duration;

/// Bytes per stored reading of one data set in every format.
#[derive(Debug, Clone, Serialize)]
pub struct Storage {
    /// The data set, as the report names it.
    pub data: String,
    /// Its series.
    pub series: usize,
    /// Each format's size; the first is rackwatch's database, the second Prometheus' compacted TSDB
    /// (the one the ratios divide by).
    pub sizes: Vec<Size>,
}

/// Ingest of the fleet capture.
#[derive(Debug, Clone, Serialize)]
pub struct IngestFigures {
    /// Nodes of the fleet.
    pub nodes: u16,
    /// Metrics per node.
    pub metrics: u16,
    /// Readings in the capture.
    pub readings: u64,
    /// One node × one metric, no history.
    pub baseline: Ingest,
    /// The fleet without history.
    pub without: Ingest,
    /// The fleet with history.
    pub with: Ingest,
}

/// Reading one series back.
#[derive(Debug, Clone, Serialize)]
pub struct QueryFigures {
    /// Points in the series.
    pub points: u64,
    /// Buckets asked for.
    pub buckets: u64,
    /// The downsampling step, ms.
    pub step_ms: u64,
    /// Reading today's row-per-reading table in process.
    pub baseline: Duration,
    /// `rackwatch history` of the whole series.
    pub read: Duration,
    /// `rackwatch history --step`.
    pub downsampled: Duration,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Bytes per reading, per data set.
    pub storage: Vec<Storage>,
    /// Ingest with and without history.
    pub ingest: IngestFigures,
    /// Query times.
    pub query: QueryFigures,
}

/// How the run was made, for the command block.
pub struct Made<'a> {
    /// The command line that reproduces the figures.
    pub command: &'a str,
    /// `rustc --version`, or what is known of the compiler.
    pub rustc: &'a str,
}

impl Report {
    /// The marked blocks of `BENCHMARKS.md`.
    pub fn blocks(&self, made: &Made<'_>) -> Vec<Block> {
        vec![
            Block {
                name: "history-command",
                body: format!(
                    "Command: `{}`. Machine: {}, {}.\n",
                    made.command,
                    std::env::consts::ARCH,
                    made.rustc
                ),
            },
            Block {
                name: "history-storage",
                body: self.storage_table(),
            },
            Block {
                name: "history-ingest",
                body: self.ingest_table(),
            },
            Block {
                name: "history-query",
                body: self.query_table(),
            },
        ]
    }

    /// All blocks as one Markdown text.
    pub fn text(&self, made: &Made<'_>) -> String {
        self.blocks(made)
            .into_iter()
            .map(|b| b.body)
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn storage_table(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "| data set | format | bytes | samples | bytes/sample | ÷ Prometheus (31-day blocks) | bit-exact |\n\
             |---|---|---:|---:|---:|---:|---|\n",
        );
        for set in &self.storage {
            let prometheus = set.sizes.get(1).map_or(f64::NAN, Size::per_sample);
            for size in &set.sizes {
                let exact = match size.exact {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "–",
                };
                let _ = writeln!(
                    out,
                    "| {} ({} series) | {} | {} | {} | {:.2} | {:.2}× | {exact} |",
                    set.data,
                    set.series,
                    size.format,
                    size.bytes,
                    size.samples,
                    size.per_sample(),
                    size.per_sample() / prometheus
                );
            }
        }
        out
    }

    fn ingest_table(&self) -> String {
        let i = &self.ingest;
        let rss = |r: &Ingest| r.peak_rss_kib as f64 / 1024.0;
        let rate = |r: &Ingest| i.readings as f64 / r.seconds.max(1e-9) / 1e3;
        let mut out = format!(
            "`rackwatch run capture:…` over {} nodes × {} metrics ({} readings, `host/examples/fleet.rs`), \
             as fast as the machine goes; the baseline is one node × one metric.\n\n\
             | run | wall time | readings/s | time ÷ no history | peak RSS |\n\
             |---|---:|---:|---:|---:|\n",
            i.nodes, i.metrics, i.readings
        );
        let _ = writeln!(
            out,
            "| baseline: 1 × 1, no history | {:.2} s | – | – | {:.1} MiB |",
            i.baseline.seconds,
            rss(&i.baseline)
        );
        let _ = writeln!(
            out,
            "| fleet, no history | {:.2} s | {:.0} k | 1.00× | {:.1} MiB |",
            i.without.seconds,
            rate(&i.without),
            rss(&i.without)
        );
        let _ = writeln!(
            out,
            "| fleet, with history | {:.2} s | {:.0} k | **{:.2}×** | {:.1} MiB |",
            i.with.seconds,
            rate(&i.with),
            i.with.seconds / i.without.seconds.max(1e-9),
            rss(&i.with)
        );
        out
    }

    fn query_table(&self) -> String {
        let q = &self.query;
        let base = q.baseline.as_secs_f64().max(1e-9);
        let mut out = format!(
            "One series of {} points at 1 Hz; the baseline reads it from today's row-per-reading \
             table (history version 2's schema) in process and prints it as `history --format csv` \
             does. Fastest of the tries, output discarded.\n\n\
             | read | time | ÷ row table |\n|---|---:|---:|\n",
            q.points
        );
        let rows = [
            ("row-per-reading table, in process (baseline)", q.baseline),
            ("`rackwatch history --format csv`", q.read),
            (
                &*format!(
                    "`rackwatch history --step {}ms` ({} buckets)",
                    q.step_ms, q.buckets
                ),
                q.downsampled,
            ),
        ];
        for (label, time) in rows {
            let _ = writeln!(
                out,
                "| {label} | {:.3} s | {:.2}× |",
                time.as_secs_f64(),
                time.as_secs_f64() / base
            );
        }
        out
    }
}
