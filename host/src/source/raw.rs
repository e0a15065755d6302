//! Times for a raw FILE, which records none: its bytes were written at unknown times, maybe hours
//! of a node's line read back in milliseconds.
//!
//! A boot is anchored at the arrival time of its first timed frame (the anchor never moves), so
//! stamping a file's bytes with the time they are read would put the newest of three hours of
//! readings three hours in the future. Instead every chunk of the file carries one time: the moment
//! the file was opened, less the longest span of node time any boot in it covers. Each boot then
//! ends at or before the moment the file was read, and keeps its own spacing.
//!
//! Invariants: the scan reads the file once in fixed chunks (no more memory than one chunk and one
//! frame); a boot's span is its newest node time less its oldest, over readings, transitions and
//! heartbeats, so the anchor set from any of its frames puts its newest one no later than the read.

use super::SourceKind;
use rackwatch_core::wire::{Body, Decoder};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// The longest span of node time, in ms, that one boot (node id and boot id) covers in `input`.
pub fn longest_boot_span(mut input: impl Read) -> std::io::Result<u64> {
    let mut decoder: Decoder = Decoder::new();
    let mut spans: HashMap<(u16, u32), (u64, u64)> = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        for frame in decoder.feed(&buf[..n]).flatten() {
            let times: Vec<u64> = match &frame.body {
                Body::Readings(_) | Body::PackedReadings(_) => frame
                    .body
                    .readings()
                    .map(|r| r.iter().map(|(_, t, _)| t).collect())
                    .unwrap_or_default(),
                Body::Transition(t) => vec![t.at_ms],
                Body::Heartbeat(h) => vec![h.uptime_ms],
                _ => continue,
            };
            let key = (frame.header.node_id, frame.header.boot_id);
            for t in times {
                let span = spans.entry(key).or_insert((t, t));
                *span = (span.0.min(t), span.1.max(t));
            }
        }
    }
    Ok(spans.values().map(|(lo, hi)| hi - lo).max().unwrap_or(0))
}

/// The one time every chunk of the raw file at `path` is stamped with, read at `now_ms`.
pub fn file_stamp(path: &Path, now_ms: u64) -> std::io::Result<u64> {
    let span = longest_boot_span(std::fs::File::open(path)?)?;
    Ok(now_ms.saturating_sub(span))
}

/// The fixed stamp for a source of `kind`: `Some` for a raw file, `None` (stamp on arrival) for
/// the rest; an error when the file cannot be scanned.
pub fn stamp(kind: &SourceKind) -> Result<Option<u64>, String> {
    match kind {
        SourceKind::Raw(path) => file_stamp(path, super::now_ms())
            .map(Some)
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackwatch_core::wire::{Frame, Header, Heartbeat, Readings, ResetReason, MAX_ENCODED_LEN};

    fn frame(node_id: u16, boot_id: u32, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id,
                boot_id,
                seq: 0,
            },
            body,
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn readings(times: &[u64]) -> Body {
        let mut r = Readings::new();
        for &t in times {
            r.push(0, t, 1.0).unwrap();
        }
        Body::Readings(r)
    }

    #[test]
    fn the_span_is_the_longest_boots_whatever_the_noise_and_reboots() {
        let heartbeat = Body::Heartbeat(Heartbeat {
            uptime_ms: 9_000_000,
            reset: ResetReason::PowerOn,
            frames_sent: 1,
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        });
        let mut line = frame(1, 7, readings(&[1_000_000, 1_010_000]));
        line.extend(b"\x13\x37 noise\x00");
        // Node 1 rebooted: its new boot's times start again, and do not join the old boot's.
        line.extend(frame(1, 8, readings(&[5_000])));
        line.extend(frame(2, 7, readings(&[2_000_000])));
        line.extend(frame(2, 7, heartbeat));
        line.extend(frame(1, 8, readings(&[65_000])));
        // Node 2's boot covers 7 000 000 ms, the longest.
        assert_eq!(longest_boot_span(&line[..]).unwrap(), 7_000_000);
        assert_eq!(longest_boot_span(&b"no frames at all"[..]).unwrap(), 0);
    }
}
