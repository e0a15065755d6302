//! Node logs into the daemon's own log: each boot's Log frames decoded with its firmware's ELF and
//! every line emitted through `tracing` with the fields `node`, `boot`, `seq` and `level` (journald
//! maps them to NODE, BOOT, SEQ, LEVEL).
//!
//! Invariants:
//! - History keeps the raw bytes whatever happens here (the history sink stores every Log event):
//!   this sink only reads.
//! - Memory is bounded by the node limit: one stream per node, its latest boot's (a new boot
//!   replaces the old one's stream), each holding at most one frame.
//! - A frame that does not decode is logged as a warning with its hex and counted; a boot whose
//!   firmware has no ELF, or whose ELF cannot be read, is said once and its logs stay raw in
//!   history, never stopping the pipeline.

use super::{Batch, Sink};
use crate::ingest::Event;
use crate::node_log::{hex, printable, Elves, LogStream, NodeLine, Severity};
use std::collections::HashMap;

/// Decodes node logs into `tracing` events.
pub struct NodeLogs {
    elves: Elves,
    /// Per node: its latest boot, the firmware version it announced, and its stream (`None`: no
    /// usable ELF).
    nodes: HashMap<u16, BootLog>,
    /// Lines logged.
    pub lines: u64,
    /// Frames kept raw (undecodable, or of a boot without an ELF).
    pub raw: u64,
}

struct BootLog {
    boot: u32,
    firmware: Option<String>,
    stream: Option<Option<LogStream>>,
}

impl NodeLogs {
    /// Decodes with `elves`.
    pub fn new(elves: Elves) -> NodeLogs {
        NodeLogs {
            elves,
            nodes: HashMap::new(),
            lines: 0,
            raw: 0,
        }
    }

    fn boot(&mut self, node: u16, boot: u32, firmware: Option<String>) {
        let entry = self.nodes.entry(node).or_insert(BootLog {
            boot,
            firmware: None,
            stream: None,
        });
        if entry.boot != boot {
            *entry = BootLog {
                boot,
                firmware: None,
                stream: None,
            };
        }
        if firmware.is_some() && entry.firmware.is_none() {
            entry.firmware = firmware;
        }
    }

    fn log(&mut self, node: u16, boot: u32, seq: u16, bytes: &[u8]) {
        self.boot(node, boot, None);
        let Some(entry) = self.nodes.get_mut(&node) else {
            return;
        };
        let stream = entry
            .stream
            .get_or_insert_with(|| open(&mut self.elves, node, boot, entry.firmware.as_deref()));
        let Some(stream) = stream else {
            self.raw += 1;
            return;
        };
        let (lines, raw) = (&mut self.lines, &mut self.raw);
        stream.feed(bytes, |line| emit(node, boot, seq, line, lines, raw));
    }
}

/// The stream of a boot, or `None` (said once) when no ELF decodes it.
fn open(elves: &mut Elves, node: u16, boot: u32, firmware: Option<&str>) -> Option<LogStream> {
    let boot_hex = format!("{boot:08x}");
    match elves.for_version(firmware) {
        Ok(Some(firmware)) => Some(LogStream::new(firmware)),
        Ok(None) => {
            tracing::info!(
                node,
                boot = %boot_hex,
                "no firmware ELF for firmware {}: the node's logs are kept raw in history \
                 (`rackwatch logs --elf FILE` decodes them)",
                firmware.unwrap_or("unknown")
            );
            None
        }
        Err(e) => {
            tracing::error!(node, boot = %boot_hex, "node logs not decoded: {e:#}");
            None
        }
    }
}

fn emit(node: u16, boot: u32, seq: u16, line: NodeLine, lines: &mut u64, raw: &mut u64) {
    let boot = format!("{boot:08x}");
    match line {
        NodeLine::Text { severity, text } => {
            *lines += 1;
            let level = severity.as_str();
            let text = printable(&text);
            match severity {
                Severity::Error => tracing::error!(node, boot = %boot, seq, level, "{text}"),
                Severity::Warn => tracing::warn!(node, boot = %boot, seq, level, "{text}"),
                Severity::Print | Severity::Info => {
                    tracing::info!(node, boot = %boot, seq, level, "{text}")
                }
                Severity::Debug => tracing::debug!(node, boot = %boot, seq, level, "{text}"),
                Severity::Trace => tracing::trace!(node, boot = %boot, seq, level, "{text}"),
            }
        }
        NodeLine::Raw { bytes, why } => {
            *raw += 1;
            tracing::warn!(
                node,
                boot = %boot,
                seq,
                level = "RAW",
                "undecodable node log frame ({}), kept raw in history: {}",
                why.as_str(),
                hex(&bytes)
            );
        }
    }
}

impl Sink for NodeLogs {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        for event in batch.events {
            match event {
                Event::Boot {
                    node, boot, hello, ..
                } => self.boot(*node, *boot, hello.as_ref().map(|h| h.firmware.to_string())),
                Event::Log {
                    node,
                    boot,
                    seq,
                    bytes,
                    ..
                } => self.log(*node, *boot, *seq, bytes),
                _ => {}
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        tracing::info!(
            "node logs: {} lines decoded, {} frames kept raw",
            self.lines,
            self.raw
        );
        Ok(())
    }
}
