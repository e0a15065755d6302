//! What the pipeline hands to the sinks: [`Event`], and the typed parts of it that are stored and
//! shown ([`Origin`], [`NodeEventKind`]).
//!
//! Invariants:
//! - Every event carries the node, the boot and a wall time estimated from the data itself (never
//!   the time it was processed), so re-ingesting a capture gives equal events.
//! - Names written to history and to JSON ([`Origin::as_str`], [`NodeEventKind::name`]) are stable:
//!   a test pins them, since databases and scripts outlive a build.

use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{DecodeError, Heartbeat, Hello, Transition};
use serde::{Deserialize, Serialize};

/// Which side judged a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// The node's own alert machine, reported in a Transition frame.
    Node,
    /// The host's monitor, replaying the node's readings.
    Host,
}

impl Origin {
    /// `node` or `host`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Origin::Node => "node",
            Origin::Host => "host",
        }
    }
}

/// Something that happened to a node, other than its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NodeEventKind {
    /// The first frame of a boot the host had not seen.
    Boot {
        /// The first sequence number seen (0 if the host saw the boot from the start).
        first_seq: u16,
    },
    /// The node rebooted: its boot id changed.
    Reset {
        /// The boot before.
        previous_boot: u32,
    },
    /// Frames are missing in the sequence.
    Gap {
        /// The last sequence number before the gap.
        after_seq: u16,
        /// Frames lost.
        lost: u16,
        /// The boot's sequence epoch at `after_seq` (wraps and restarts before it): with
        /// `after_seq`, the gap's place in the boot's stream. 0 in rows written before it existed.
        #[serde(default)]
        epoch: u32,
    },
    /// The node's sequence numbers went back beyond the duplicate window within one boot: the
    /// stream started over (a capture replayed into a running daemon), nothing lost.
    SeqRestart {
        /// The highest sequence number before.
        from_seq: u16,
        /// The first sequence number after.
        to_seq: u16,
        /// The boot's new sequence epoch: one per restart, the restart's identity in the boot.
        epoch: u32,
    },
    /// The node sent nothing for longer than its liveness limit.
    Down {
        /// Milliseconds since its last frame.
        silent_ms: u64,
    },
    /// A node that was down sends again.
    Up,
    /// The node's Hello carries another schema hash than this host's.
    SchemaMismatch {
        /// The node's hash.
        node_hash: u64,
    },
    /// A probe's check failed, the first time or for another reason than the round before.
    ProbeFailed {
        /// Why, in words.
        reason: String,
    },
    /// A probe's check succeeds again after failing.
    ProbeOk,
}

impl NodeEventKind {
    /// The event's name, as stored.
    pub const fn name(&self) -> &'static str {
        match self {
            NodeEventKind::Boot { .. } => "boot",
            NodeEventKind::Reset { .. } => "reset",
            NodeEventKind::Gap { .. } => "gap",
            NodeEventKind::SeqRestart { .. } => "seq_restart",
            NodeEventKind::Down { .. } => "down",
            NodeEventKind::Up => "up",
            NodeEventKind::SchemaMismatch { .. } => "schema_mismatch",
            NodeEventKind::ProbeFailed { .. } => "probe_failed",
            NodeEventKind::ProbeOk => "probe_ok",
        }
    }
}

/// What the pipeline hands to the sinks.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A boot's identity, once known (from its Hello) or first seen.
    Boot {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Wall time at which the node's clock read 0 (estimated from the first timed frame).
        boot_wall_ms: Option<u64>,
        /// The Hello, when it has been received.
        hello: Option<Box<Hello>>,
    },
    /// A metric's specification, from the node's Metric frame.
    Metric {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// The spec.
        spec: Box<MetricSpec>,
    },
    /// One reading.
    Reading {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Metric id.
        metric: u16,
        /// Node time, ms since boot.
        t_ms: u64,
        /// Estimated wall time.
        wall_ms: u64,
        /// The value.
        value: f32,
    },
    /// An alert transition.
    Transition {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// Who judged it.
        origin: Origin,
        /// Estimated wall time of the transition.
        wall_ms: u64,
        /// The transition.
        transition: Transition,
    },
    /// A heartbeat.
    Heartbeat {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it arrived.
        wall_ms: u64,
        /// Its content.
        heartbeat: Heartbeat,
    },
    /// A node event.
    NodeEvent {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it happened.
        wall_ms: u64,
        /// What happened.
        kind: NodeEventKind,
    },
    /// Log bytes (defmt) from a node.
    Log {
        /// Node id.
        node: u16,
        /// Boot id.
        boot: u32,
        /// When it arrived.
        wall_ms: u64,
        /// The frame's sequence epoch in the boot: with `seq`, the log's place in the boot.
        epoch: u32,
        /// The frame's sequence number: the order of log frames within an epoch.
        seq: u16,
        /// The defmt bytes.
        bytes: Vec<u8>,
    },
    /// A frame that could not be decoded.
    DecodeError {
        /// The source's name.
        source: String,
        /// When.
        wall_ms: u64,
        /// Byte offset in the source's stream (since it was connected) of the delimiter that ended
        /// the bad frame.
        position: u64,
        /// The error.
        error: DecodeError,
    },
}

impl Origin {
    /// The origin named `name` (`node` or `host`, as [`Origin::as_str`] writes).
    pub fn from_name(name: &str) -> Option<Origin> {
        [Origin::Node, Origin::Host]
            .into_iter()
            .find(|o| o.as_str() == name)
    }
}

impl std::fmt::Display for NodeEventKind {
    /// The event's details in words, for `alerts --events`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeEventKind::Boot { first_seq: 0 } => f.write_str("first frame of the boot seen"),
            NodeEventKind::Boot { first_seq } => write!(f, "joined the boot at frame {first_seq}"),
            NodeEventKind::Reset { previous_boot } => {
                write!(f, "rebooted (previous boot {previous_boot:08x})")
            }
            NodeEventKind::Gap {
                after_seq, lost, ..
            } => {
                write!(f, "{lost} frames lost after frame {after_seq}")
            }
            NodeEventKind::SeqRestart {
                from_seq, to_seq, ..
            } => write!(
                f,
                "sequence started over at frame {to_seq} after frame {from_seq} (a replay)"
            ),
            NodeEventKind::Down { silent_ms } => {
                write!(f, "silent for {}", crate::timefmt::format_span(*silent_ms))
            }
            NodeEventKind::Up => f.write_str("sending again"),
            NodeEventKind::SchemaMismatch { node_hash } => write!(
                f,
                "wire schema {node_hash:#018x} differs from this host's {:#018x}",
                rackwatch_core::wire::SCHEMA_HASH
            ),
            NodeEventKind::ProbeFailed { reason } => write!(f, "probe failed: {reason}"),
            NodeEventKind::ProbeOk => f.write_str("probe succeeds again"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_event_names_are_pinned_and_details_read_as_words() {
        let cases = [
            (
                NodeEventKind::Boot { first_seq: 0 },
                "boot",
                "first frame of the boot seen",
            ),
            (
                NodeEventKind::Reset {
                    previous_boot: 0xB007,
                },
                "reset",
                "rebooted (previous boot 0000b007)",
            ),
            (
                NodeEventKind::Gap {
                    after_seq: 12,
                    lost: 4,
                    epoch: 0,
                },
                "gap",
                "4 frames lost after frame 12",
            ),
            (
                NodeEventKind::SeqRestart {
                    from_seq: 2000,
                    to_seq: 1,
                    epoch: 3,
                },
                "seq_restart",
                "sequence started over at frame 1 after frame 2000 (a replay)",
            ),
            (
                NodeEventKind::Down { silent_ms: 30_000 },
                "down",
                "silent for 30s",
            ),
            (NodeEventKind::Up, "up", "sending again"),
            (
                NodeEventKind::ProbeFailed {
                    reason: "cannot connect to 10.0.0.7:5432: Connection refused".into(),
                },
                "probe_failed",
                "probe failed: cannot connect to 10.0.0.7:5432: Connection refused",
            ),
            (NodeEventKind::ProbeOk, "probe_ok", "probe succeeds again"),
        ];
        for (kind, name, text) in cases {
            assert_eq!(kind.name(), name);
            assert_eq!(kind.to_string(), text);
            // The stored detail is tagged with the same name and reads back to the same event.
            let json = serde_json::to_string(&kind).unwrap();
            assert!(json.contains(&format!("\"kind\":\"{name}\"")), "{json}");
            assert_eq!(serde_json::from_str::<NodeEventKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            NodeEventKind::SchemaMismatch { node_hash: 1 }.name(),
            "schema_mismatch"
        );
        // A gap stored before epochs existed reads back in epoch 0.
        assert_eq!(
            serde_json::from_str::<NodeEventKind>(r#"{"kind":"gap","after_seq":7,"lost":2}"#)
                .unwrap(),
            NodeEventKind::Gap {
                after_seq: 7,
                lost: 2,
                epoch: 0
            }
        );
    }
}
