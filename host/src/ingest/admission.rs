//! Admission, the pipeline's first stage after decoding: which boot a frame belongs to and whether
//! its sequence number makes it new, late, a duplicate or the first after a gap.
//!
//! Invariants:
//! - A frame is admitted at most once per (node, boot, sequence number) within the last
//!   [`SEQ_WINDOW`] numbers: duplicates are counted and dropped, never handed on.
//! - Every loss is counted: a gap adds its frames to `lost` (and a late frame takes one back), a
//!   frame from a boot older than the current one is counted as stale and dropped.
//! - A jump backwards beyond the window within one boot (a capture replayed into a running daemon)
//!   is a `SeqRestart` event, never a loss: only a forward jump counts frames as lost.
//! - Every gap and restart carries the boot's sequence epoch (wraps and restarts so far), so that
//!   `(epoch, sequence)` names one place in the boot's stream, derived from the data alone.
//! - A new boot id resets everything the host keeps for the node's previous boot (its Hello, specs,
//!   monitors, readings) and is announced as a `Boot` event, preceded by a `Reset` when the node had
//!   another boot before.
//! - Memory per node is fixed: a [`SeqWindow`] of 128 bytes and at most [`REMEMBERED_BOOTS`] old
//!   boot ids.

use super::event::{Event, NodeEventKind};
use super::node::NodeState;
use rackwatch_core::wire::{Header, SeqStep};
use std::collections::BTreeMap;

/// Old boot ids remembered per node, to recognise a late frame from before a reset.
pub const REMEMBERED_BOOTS: usize = 8;
/// Sequence numbers remembered per boot for duplicate detection.
pub const SEQ_WINDOW: u16 = 1024;

/// Whether a frame goes on through the pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// New (or late but not seen): handle its body, for this boot.
    Admit {
        /// The boot the frame belongs to.
        boot: u32,
        /// The frame's sequence epoch in that boot: with its sequence number, one place in the
        /// boot's stream.
        epoch: u32,
    },
    /// Seen already, or from a boot before the current one: counted and dropped.
    Drop,
}

/// Admits or drops the frame with `header`, arrived at `wall_ms`, updating the node's boot, sequence
/// window and counters. `anchors` are the wall-clock anchors of boots an earlier run stored.
pub fn admit(
    node: &mut NodeState,
    header: &Header,
    wall_ms: u64,
    anchors: &BTreeMap<(u16, u32), u64>,
    out: &mut Vec<Event>,
) -> Admission {
    node.last_frame_wall_ms = node.last_frame_wall_ms.max(wall_ms);
    mark_up(node, wall_ms, out);
    let admission = match &mut node.boot {
        Some(boot) if boot.id == header.boot_id => {
            let epoch = boot.seqs.epoch;
            let verdict = boot.seqs.accept(header.seq);
            count_sequence(node, header, verdict, epoch, wall_ms, out)
        }
        _ if node.old_boots.contains(&header.boot_id) => {
            node.counters.stale_boot_frames += 1;
            Admission::Drop
        }
        _ => {
            start_boot(node, header, wall_ms, anchors, out);
            Admission::Admit {
                boot: header.boot_id,
                epoch: 0,
            }
        }
    };
    let Admission::Admit { boot, .. } = admission else {
        return Admission::Drop;
    };
    node.counters.frames += 1;
    let epoch = node
        .boot
        .as_ref()
        .map_or(0, |b| b.seqs.epoch_of(header.seq));
    Admission::Admit { boot, epoch }
}

/// Any frame from a node that was down brings it back up.
fn mark_up(node: &mut NodeState, wall_ms: u64, out: &mut Vec<Event>) {
    if !node.down {
        return;
    }
    node.down = false;
    if let Some(boot) = &node.boot {
        out.push(Event::NodeEvent {
            node: node.id,
            boot: boot.id,
            wall_ms,
            kind: NodeEventKind::Up,
        });
    }
}

/// Counts what a sequence verdict means for the current boot; `epoch` is the window's before the
/// frame, the one its gap starts in.
fn count_sequence(
    node: &mut NodeState,
    header: &Header,
    verdict: SeqVerdict,
    epoch: u32,
    wall_ms: u64,
    out: &mut Vec<Event>,
) -> Admission {
    match verdict {
        SeqVerdict::New => {}
        SeqVerdict::Duplicate => {
            node.counters.duplicates += 1;
            return Admission::Drop;
        }
        SeqVerdict::Late => {
            node.counters.reordered += 1;
            node.counters.lost = node.counters.lost.saturating_sub(1);
        }
        SeqVerdict::Gap { lost } => {
            node.counters.lost += u64::from(lost);
            tracing::warn!(
                node = node.id,
                boot = header.boot_id,
                seq = header.seq,
                lost,
                "frames lost"
            );
            out.push(Event::NodeEvent {
                node: node.id,
                boot: header.boot_id,
                wall_ms,
                kind: NodeEventKind::Gap {
                    after_seq: header.seq.wrapping_sub(lost).wrapping_sub(1),
                    lost,
                    epoch,
                },
            });
        }
        SeqVerdict::Restart { from_seq, epoch } => {
            tracing::warn!(
                node = node.id,
                boot = header.boot_id,
                from_seq,
                to_seq = header.seq,
                "sequence restarted"
            );
            out.push(Event::NodeEvent {
                node: node.id,
                boot: header.boot_id,
                wall_ms,
                kind: NodeEventKind::SeqRestart {
                    from_seq,
                    to_seq: header.seq,
                    epoch,
                },
            });
        }
    }
    Admission::Admit {
        boot: header.boot_id,
        epoch: 0,
    }
}

/// A boot id the host has not seen: the node (re)started, or the host joined it now.
fn start_boot(
    node: &mut NodeState,
    header: &Header,
    wall_ms: u64,
    anchors: &BTreeMap<(u16, u32), u64>,
    out: &mut Vec<Event>,
) {
    if let Some(previous) = node.boot.take() {
        node.counters.resets += 1;
        node.old_boots.push_back(previous.id);
        if node.old_boots.len() > REMEMBERED_BOOTS {
            node.old_boots.pop_front();
        }
        tracing::info!(node = node.id, boot = header.boot_id, "node reset");
        out.push(Event::NodeEvent {
            node: node.id,
            boot: header.boot_id,
            wall_ms,
            kind: NodeEventKind::Reset {
                previous_boot: previous.id,
            },
        });
    }
    node.boot = Some(BootState {
        id: header.boot_id,
        boot_wall_ms: anchors.get(&(node.id, header.boot_id)).copied(),
        seqs: SeqWindow::starting_at(header.seq),
    });
    node.forget_boot_data();
    out.push(Event::NodeEvent {
        node: node.id,
        boot: header.boot_id,
        wall_ms,
        kind: NodeEventKind::Boot {
            first_seq: header.seq,
        },
    });
    out.push(Event::Boot {
        node: node.id,
        boot: header.boot_id,
        boot_wall_ms: None,
        hello: None,
    });
}

/// The host's view of one boot of a node.
#[derive(Debug, Clone)]
pub struct BootState {
    /// The boot id.
    pub id: u32,
    /// Wall time at which the node's clock read 0, once a timed frame arrived.
    pub boot_wall_ms: Option<u64>,
    pub(super) seqs: SeqWindow,
}

/// Recently seen sequence numbers: the highest, and a bitmap of the [`SEQ_WINDOW`] before it.
#[derive(Debug, Clone)]
pub(super) struct SeqWindow {
    highest: u16,
    /// How often `highest` wrapped past 65535 or restarted: with a sequence number, one place in
    /// the boot's stream.
    epoch: u32,
    /// Bit `i` set: `highest - i` was seen (bit 0 is `highest` itself).
    seen: [u64; (SEQ_WINDOW / 64) as usize],
}

/// What a sequence number means for a boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SeqVerdict {
    New,
    Gap {
        lost: u16,
    },
    Duplicate,
    Late,
    /// Far behind the highest: the stream started over at this frame (a replay), in a new epoch.
    Restart {
        from_seq: u16,
        epoch: u32,
    },
}

impl SeqWindow {
    /// The epoch of an admitted `seq`: the current one, or the one before for a late frame from
    /// before the last wrap (numerically above the highest).
    fn epoch_of(&self, seq: u16) -> u32 {
        if seq > self.highest {
            self.epoch.saturating_sub(1)
        } else {
            self.epoch
        }
    }

    fn starting_at(seq: u16) -> SeqWindow {
        let mut seen = [0; (SEQ_WINDOW / 64) as usize];
        seen[0] = 1;
        SeqWindow {
            highest: seq,
            epoch: 0,
            seen,
        }
    }

    /// `seq` becomes the highest, `by` after the one before.
    fn advance(&mut self, seq: u16, by: u16) {
        if seq < self.highest {
            self.epoch += 1;
        }
        self.shift(by);
        self.highest = seq;
        self.set(0);
    }

    fn bit(&self, back: u16) -> bool {
        let (word, bit) = (usize::from(back / 64), back % 64);
        self.seen.get(word).is_some_and(|w| w >> bit & 1 == 1)
    }

    fn set(&mut self, back: u16) {
        let (word, bit) = (usize::from(back / 64), back % 64);
        if let Some(w) = self.seen.get_mut(word) {
            *w |= 1 << bit;
        }
    }

    fn shift(&mut self, by: u16) {
        if by >= SEQ_WINDOW {
            self.seen = [0; (SEQ_WINDOW / 64) as usize];
            return;
        }
        let (words, bits) = (usize::from(by / 64), u32::from(by % 64));
        let n = self.seen.len();
        for i in (0..n).rev() {
            let from = i.checked_sub(words);
            let high = from.and_then(|f| self.seen.get(f)).copied().unwrap_or(0);
            let low = from
                .and_then(|f| f.checked_sub(1))
                .and_then(|f| self.seen.get(f))
                .copied()
                .unwrap_or(0);
            self.seen[i] = if bits == 0 {
                high
            } else {
                (high << bits) | (low >> (64 - bits))
            };
        }
    }

    fn accept(&mut self, seq: u16) -> SeqVerdict {
        match SeqStep::between(self.highest, seq) {
            SeqStep::Repeat => SeqVerdict::Duplicate,
            SeqStep::Next => {
                self.advance(seq, 1);
                SeqVerdict::New
            }
            SeqStep::Gap { lost } => {
                self.advance(seq, lost + 1);
                SeqVerdict::Gap { lost }
            }
            SeqStep::Behind { by } if by < SEQ_WINDOW => {
                if self.bit(by) {
                    SeqVerdict::Duplicate
                } else {
                    self.set(by);
                    SeqVerdict::Late
                }
            }
            // Older than anything remembered: within one boot a node's numbers only go forward, so
            // this is the stream starting over (a capture replayed), not 30 000 or more frames lost.
            // Taking it as the new position keeps the data flowing (the store drops what it already
            // holds); a new epoch keeps the replay's events apart from the first pass's.
            SeqStep::Behind { .. } => {
                let from_seq = self.highest;
                let epoch = self.epoch + 1;
                *self = SeqWindow::starting_at(seq);
                self.epoch = epoch;
                SeqVerdict::Restart { from_seq, epoch }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_window_classifies_next_gaps_duplicates_and_late_frames() {
        let mut w = SeqWindow::starting_at(65530);
        assert_eq!(w.accept(65531), SeqVerdict::New);
        assert_eq!(w.accept(65531), SeqVerdict::Duplicate);
        assert_eq!(w.accept(2), SeqVerdict::Gap { lost: 6 });
        assert_eq!(w.accept(65533), SeqVerdict::Late);
        assert_eq!(w.accept(65533), SeqVerdict::Duplicate);
        assert_eq!(w.accept(65530), SeqVerdict::Duplicate);
        assert_eq!(w.accept(3), SeqVerdict::New);
        // A jump of more than the window forgets everything before it.
        assert_eq!(w.accept(3000), SeqVerdict::Gap { lost: 2996 });
        assert_eq!(w.accept(2999), SeqVerdict::Late);
        // Beyond the window behind: the stream restarted there, in a new epoch, nothing lost.
        assert_eq!(
            w.accept(1000),
            SeqVerdict::Restart {
                from_seq: 3000,
                epoch: 2
            }
        );
        assert_eq!(w.accept(1001), SeqVerdict::New);
    }

    #[test]
    fn epochs_count_wraps_and_restarts() {
        let mut w = SeqWindow::starting_at(65534);
        assert_eq!(w.accept(65535), SeqVerdict::New);
        assert_eq!(w.epoch, 0);
        assert_eq!(w.accept(0), SeqVerdict::New);
        assert_eq!(w.epoch, 1);
        assert_eq!(w.accept(5), SeqVerdict::Gap { lost: 4 });
        assert_eq!(w.epoch, 1);
        assert_eq!(
            w.accept(40000),
            SeqVerdict::Restart {
                from_seq: 5,
                epoch: 2
            }
        );
        assert_eq!(w.accept(3), SeqVerdict::Gap { lost: 25538 });
        assert_eq!(w.epoch, 3);
    }

    #[test]
    fn a_replayed_sequence_is_restarts_and_duplicates_never_losses() {
        let mut w = SeqWindow::starting_at(1);
        let mut restarts = 0;
        for pass in 0..4 {
            for seq in 1..=2000u16 {
                if pass == 0 && seq == 1 {
                    continue;
                }
                match w.accept(seq) {
                    SeqVerdict::New => {}
                    SeqVerdict::Restart { from_seq: 2000, .. } => restarts += 1,
                    other => panic!("pass {pass} frame {seq}: {other:?}"),
                }
            }
        }
        assert_eq!(restarts, 3);
    }

    #[test]
    fn window_shift_moves_bits_across_words() {
        let mut w = SeqWindow::starting_at(0);
        for seq in 1..=200u16 {
            assert_eq!(w.accept(seq), SeqVerdict::New);
        }
        for back in 0..=200u16 {
            assert!(w.bit(back), "{back}");
        }
        assert!(!w.bit(201));
    }

    #[test]
    fn a_late_frame_from_before_a_wrap_keeps_the_epoch_it_was_sent_in() {
        let mut w = SeqWindow::starting_at(65530);
        assert_eq!(w.epoch_of(65530), 0);
        assert!(matches!(w.accept(2), SeqVerdict::Gap { .. }));
        assert_eq!(w.epoch_of(2), 1);
        assert_eq!(w.accept(65533), SeqVerdict::Late);
        assert_eq!(w.epoch_of(65533), 0);
    }
}
