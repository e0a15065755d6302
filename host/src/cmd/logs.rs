//! `rackwatch logs`: the nodes' defmt logs from history, decoded with the firmware ELF.
//!
//! One line per defmt frame: the time the host received the Log frame that completed it, the node,
//! its boot and that frame's sequence number, the level and the text. A frame that does not decode
//! is printed as hex with the reason; a boot whose firmware has no known ELF is printed a Log frame
//! at a time as hex, with a note on standard error saying how to name one. `--follow` polls the
//! database for rows after the last one printed in (arrival time, node, boot, sequence) order, so a
//! row stored later with an earlier arrival time (a capture ingested meanwhile) is not followed;
//! run `rackwatch logs` again to see it.
//!
//! Invariants: memory does not grow with the rows read (they come in pages of [`PAGE`]), only with
//! the boots met, each of whose decoders holds at most one frame; text from a node is printed with
//! its control characters escaped ([`printable`]).

use super::{ConfigArgs, StoreArgs};
use crate::node_log::{hex, printable, Elves, LogStream, NodeLine};
use crate::store::{LogCursor, LogRow, Store};
use crate::timefmt::{format_utc, parse_time};
use clap::Args;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Rows read per query.
const PAGE: u32 = 2000;
/// How often `--follow` looks for new rows.
const POLL: Duration = Duration::from_millis(500);

/// Options of `rackwatch logs`.
#[derive(Debug, Clone, Args)]
pub struct LogsArgs {
    /// Only this node.
    #[arg(long)]
    pub node: Option<u16>,
    /// From this time: RFC 3339, epoch seconds or ms, or a duration ago (`2h`) [default: all].
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Keep printing lines as they are stored, until interrupted.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// The firmware ELF to decode every node's logs with [default: `[node_logs]` in the configuration].
    #[arg(long, value_name = "FILE")]
    pub elf: Option<PathBuf>,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Prints the stored node logs, oldest first; with `--follow`, then new ones as they come.
pub fn run(args: &LogsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let store = super::open_history(&args.config, &args.store)?;
    let mut elves = Elves::new(
        args.elf.clone(),
        config.node_logs.clone(),
        config.file.clone(),
    );
    if args.elf.is_some() {
        // A bad --elf is reported even when there is nothing to decode yet.
        elves.for_version(None)?;
    }
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time(t, crate::source::now_ms()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let mut printer = Printer {
        elves,
        streams: HashMap::new(),
        counts: Counts::default(),
        joined: since.is_some(),
    };
    let mut cursor = since.map(LogCursor::before);
    loop {
        let page = store.logs_after(cursor, args.node, None, PAGE)?;
        for row in &page {
            printer.row(&store, row, out)?;
            cursor = Some(row.cursor());
        }
        if page.len() < PAGE as usize {
            if !args.follow {
                break;
            }
            out.flush()?;
            std::thread::sleep(POLL);
        }
    }
    printer.finish(out)?;
    let Counts { lines, raw, rows } = printer.counts;
    let _ = writeln!(
        std::io::stderr(),
        "{lines} log lines from {rows} Log frames; {raw} frames kept raw"
    );
    Ok(())
}

/// What was printed.
#[derive(Debug, Default)]
struct Counts {
    lines: u64,
    raw: u64,
    rows: u64,
}

/// One boot's decoding: its stream, or `None` when no ELF is known for its firmware.
type Boot = Option<LogStream>;

struct Printer {
    elves: Elves,
    streams: HashMap<(u16, u32), Boot>,
    counts: Counts,
    /// The first row of each boot may continue a frame begun before `--since`.
    joined: bool,
}

impl Printer {
    fn row(&mut self, store: &Store, row: &LogRow, out: &mut dyn Write) -> anyhow::Result<()> {
        self.counts.rows += 1;
        let key = (row.node, row.boot);
        if !self.streams.contains_key(&key) {
            let boot = self.open(store, row)?;
            self.streams.insert(key, boot);
        }
        let head = format!(
            "{} node {} boot {:08x} seq {}",
            format_utc(row.wall_ms),
            row.node,
            row.boot,
            row.seq
        );
        let Some(Some(stream)) = self.streams.get_mut(&key) else {
            self.counts.raw += 1;
            writeln!(out, "{head} RAW   {} (no ELF)", hex(&row.bytes))?;
            return Ok(());
        };
        let mut lines = Vec::new();
        stream.feed(&row.bytes, |l| lines.push(l));
        for line in lines {
            self.print(&head, line, out)?;
        }
        Ok(())
    }

    /// The decoding of the boot `row` is the first stored row of (for this run).
    fn open(&mut self, store: &Store, row: &LogRow) -> anyhow::Result<Boot> {
        let firmware = self.elves.for_version(row.firmware.as_deref())?;
        let Some(firmware) = firmware else {
            let version = row
                .firmware
                .as_deref()
                .map_or("unknown: no Hello seen".into(), |v| format!("`{v}`"));
            let _ = writeln!(
                std::io::stderr(),
                "note: node {} boot {:08x} (firmware {version}): no ELF known, its Log frames are \
                 printed as raw defmt bytes; name the firmware's ELF with --elf FILE or in [node_logs] \
                 of the configuration (docs/configuration.md)",
                row.node,
                row.boot
            );
            return Ok(None);
        };
        let joined =
            self.joined && store.has_earlier_log(row.node, row.boot, row.epoch, row.seq)?;
        Ok(Some(if joined {
            LogStream::joined_mid_stream(Arc::clone(&firmware))
        } else {
            LogStream::new(firmware)
        }))
    }

    fn print(&mut self, head: &str, line: NodeLine, out: &mut dyn Write) -> std::io::Result<()> {
        match line {
            NodeLine::Text { severity, text } => {
                self.counts.lines += 1;
                writeln!(out, "{head} {:<5} {}", severity.as_str(), printable(&text))
            }
            NodeLine::Raw { bytes, why } => {
                self.counts.raw += 1;
                writeln!(out, "{head} RAW   {} ({})", hex(&bytes), why.as_str())
            }
        }
    }

    /// Frames left unfinished at the end of what was read.
    fn finish(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut unfinished = Vec::new();
        for ((node, boot), stream) in &mut self.streams {
            if let Some(line) = stream.as_mut().and_then(LogStream::finish) {
                unfinished.push((*node, *boot, line));
            }
        }
        unfinished.sort_by_key(|(node, boot, _)| (*node, *boot));
        for (node, boot, line) in unfinished {
            self.print(
                &format!("end of history node {node} boot {boot:08x}"),
                line,
                out,
            )?;
        }
        Ok(())
    }
}
