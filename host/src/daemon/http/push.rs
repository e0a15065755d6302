//! `POST /push`: a body of values in the Prometheus text format or InfluxDB line protocol, framed
//! by [`crate::push`] and handed to the ingest thread as one source message.
//!
//! Invariants:
//! - All or nothing: the body is parsed whole, then framed on a copy of the virtual nodes, then
//!   offered to the ingest channel; the copy replaces the nodes only once the channel took it.
//!   A bad line (`400`), a bound passed (`422`), a unit changed (`409`) or a full channel (`503`
//!   with `Retry-After`) leave the daemon as it was.
//! - The handler never waits on the ingest thread: the channel is offered the message with
//!   `try_send`.

use crate::push::parse::{self, Format};
use crate::push::{PushError, VirtualNodes};
use crate::source::SourceMsg;
use hyper::body::Bytes;
use hyper::header::{HeaderMap, CONTENT_TYPE};
use hyper::StatusCode;
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// The body of `/push`, in bytes: a few thousand values.
pub const MAX_PUSH_BODY: usize = 64 * 1024;

/// Where pushes go: the ingest thread's channel, as the source numbered `source`.
pub struct PushDoor {
    /// The ingest thread's channel, shared with the sources.
    pub tx: SyncSender<SourceMsg>,
    /// The pushes' index among the pipeline's sources.
    pub source: usize,
    /// The virtual nodes so far, shared with the jobs and the probes (whose nodes are sealed).
    pub nodes: Arc<Mutex<VirtualNodes>>,
}

/// The answer to a push: a status and a line of text.
pub type Answer = (StatusCode, String);

/// Takes one push; `door` is `None` when the daemon does not accept pushes.
pub fn accept(door: Option<&PushDoor>, headers: &HeaderMap, body: &Bytes) -> Answer {
    let Some(door) = door else {
        return (
            StatusCode::CONFLICT,
            "this daemon accepts no pushes: it reads only recorded data (captures, files), or \
             [push] enabled = false in its configuration\n"
                .into(),
        );
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return (
            StatusCode::BAD_REQUEST,
            "the body is not UTF-8 text\n".into(),
        );
    };
    let format = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(parse::format_of_content_type)
        .unwrap_or_else(|| parse::sniff(text));
    let samples = match parse::parse(text, format) {
        Ok(samples) => samples,
        Err(error) => {
            let name = match format {
                Format::Prometheus => "Prometheus text format",
                Format::Influx => "InfluxDB line protocol",
            };
            return (
                StatusCode::BAD_REQUEST,
                format!("nothing applied: {error} (read as {name})\n"),
            );
        }
    };
    if samples.is_empty() {
        return (
            StatusCode::BAD_REQUEST,
            "the body has no values; write `metric_name 42` (one per line)\n".into(),
        );
    }
    offer(door, &samples)
}

/// Frames `samples` on a copy of the virtual nodes and keeps the copy once the channel took them.
fn offer(door: &PushDoor, samples: &[crate::push::Sample]) -> Answer {
    let Ok(mut nodes) = door.nodes.lock() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the push state is unusable after an earlier failure; restart the daemon\n".into(),
        );
    };
    let mut next = nodes.clone();
    let wall_ms = crate::source::now_ms();
    let framed = match next.frame(samples, wall_ms) {
        Ok(framed) => framed,
        Err(PushError::Limit(text)) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("nothing applied: {text}\n"),
            )
        }
        Err(PushError::Conflict(text)) => {
            return (StatusCode::CONFLICT, format!("nothing applied: {text}\n"))
        }
    };
    let message = SourceMsg::Bytes {
        source: door.source,
        wall_ms,
        bytes: framed.bytes,
    };
    match door.tx.try_send(message) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "nothing applied: the daemon's ingest queue is full; retry in a second\n".into(),
            )
        }
        Err(TrySendError::Disconnected(_)) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "nothing applied: the daemon is stopping\n".into(),
            )
        }
    }
    *nodes = next;
    let named: Vec<String> = framed
        .nodes
        .iter()
        .map(|(name, id)| format!("{name} (node {id})"))
        .collect();
    (
        StatusCode::OK,
        format!(
            "accepted {} value{} for {}\n",
            framed.values,
            if framed.values == 1 { "" } else { "s" },
            named.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn a_full_queue_is_503_and_changes_nothing() {
        let (tx, rx) = sync_channel(1);
        tx.send(SourceMsg::Connected { source: 0 }).unwrap();
        let door = PushDoor {
            tx,
            source: 1,
            nodes: Arc::new(Mutex::new(VirtualNodes::new(1))),
        };
        let body = Bytes::from_static(b"m{node=\"a\"} 1\n");
        let (status, text) = accept(Some(&door), &HeaderMap::new(), &body);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
        assert!(text.contains("retry"), "{text}");
        // Room again: the same series is still new (the refused push took none of the one
        // allowed), so its node is announced from the start.
        let _ = rx.try_recv();
        let (status, text) = accept(Some(&door), &HeaderMap::new(), &body);
        assert_eq!(status, StatusCode::OK, "{text}");
        let Ok(SourceMsg::Bytes { source, bytes, .. }) = rx.try_recv() else {
            panic!("no bytes sent")
        };
        assert_eq!(source, 1);
        let mut decoder: rackwatch_core::wire::Decoder<{ rackwatch_core::wire::MAX_ENCODED_LEN }> =
            rackwatch_core::wire::Decoder::new();
        let first = decoder.feed(&bytes).next().unwrap().unwrap();
        assert_eq!(first.body.kind(), rackwatch_core::wire::Kind::Hello);
        assert_eq!(first.header.seq, 0);
    }

    #[test]
    fn no_door_is_409_and_an_empty_body_is_400() {
        let (status, _) = accept(None, &HeaderMap::new(), &Bytes::from_static(b"m 1\n"));
        assert_eq!(status, StatusCode::CONFLICT);
        let (tx, _rx) = sync_channel(1);
        let door = PushDoor {
            tx,
            source: 0,
            nodes: Arc::new(Mutex::new(VirtualNodes::new(1))),
        };
        let (status, text) = accept(
            Some(&door),
            &HeaderMap::new(),
            &Bytes::from_static(b"# x\n"),
        );
        assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
        let (status, _) = accept(Some(&door), &HeaderMap::new(), &Bytes::from_static(b"\xff"));
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
