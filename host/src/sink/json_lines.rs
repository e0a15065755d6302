//! Events as JSON lines (`rackwatch run --events`), for scripts and other tools: one object per
//! event with a `type` field, written and flushed per batch.

use super::{Batch, Sink};
use crate::ingest::Event;
use serde_json::json;
use std::io::Write;

/// Writes every event as a JSON line to a stream (standard output for `run --events`).
pub struct JsonLines<W> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    /// Writes to `out`.
    pub fn new(out: W) -> JsonLines<W> {
        JsonLines { out }
    }
}

impl<W: Write + Send> Sink for JsonLines<W> {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        for event in batch.events {
            writeln!(self.out, "{}", to_json(event))?;
        }
        self.out.flush()?;
        Ok(())
    }
}

/// One event as a JSON object on one line, with a `type` field.
pub fn to_json(event: &Event) -> String {
    let value = match event {
        Event::Boot {
            node,
            boot,
            boot_wall_ms,
            hello,
        } => json!({
            "type": "boot", "node": node, "boot": boot, "boot_wall_ms": boot_wall_ms,
            "firmware": hello.as_ref().map(|h| h.firmware.as_str()),
            "schema_hash": hello.as_ref().map(|h| format!("{:#018x}", h.schema_hash)),
        }),
        Event::Metric { node, boot, spec } => json!({
            "type": "metric", "node": node, "boot": boot, "spec": spec,
        }),
        Event::Reading {
            node,
            boot,
            metric,
            t_ms,
            wall_ms,
            value,
        } => json!({
            "type": "reading", "node": node, "boot": boot, "metric": metric, "t_ms": t_ms,
            "wall_ms": wall_ms, "value": value,
        }),
        Event::Transition {
            node,
            boot,
            origin,
            wall_ms,
            transition,
        } => json!({
            "type": "transition", "node": node, "boot": boot, "origin": origin,
            "wall_ms": wall_ms, "transition": transition,
        }),
        Event::Heartbeat {
            node,
            boot,
            wall_ms,
            heartbeat,
        } => json!({
            "type": "heartbeat", "node": node, "boot": boot, "wall_ms": wall_ms,
            "heartbeat": heartbeat,
        }),
        Event::NodeEvent {
            node,
            boot,
            wall_ms,
            kind,
        } => json!({
            "type": "node_event", "node": node, "boot": boot, "wall_ms": wall_ms, "event": kind,
        }),
        Event::Log {
            node,
            boot,
            wall_ms,
            epoch,
            seq,
            bytes,
        } => json!({
            "type": "log", "node": node, "boot": boot, "wall_ms": wall_ms, "epoch": epoch,
            "seq": seq, "defmt_len": bytes.len(),
        }),
        Event::DecodeError {
            source,
            wall_ms,
            position,
            error,
        } => json!({
            "type": "decode_error", "source": source, "wall_ms": wall_ms, "position": position,
            "kind": error.name(), "detail": error.to_string(),
        }),
    };
    value.to_string()
}
