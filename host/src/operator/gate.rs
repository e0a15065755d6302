//! The daemon's judge of acks and silences: a [`Sink`] placed before the delivery sinks, which
//! read its [`Verdicts`] for the same batch.
//!
//! One handler per thing that happens:
//! - a transition: muted when an active silence matches its alert (held back to be released when
//!   the silence ends), else muted when its alert is acknowledged and the ack's kind says the
//!   change does not end it, else notified (and a normal ack, or a sticky one on recovery, ends);
//! - a node reset: its alerts start over at OK, so its acks end;
//! - the poll ([`POLL_EVERY`]): acks and silences are read again from the store (changes by the
//!   CLI or the HTTP API), acks past `--until` end, and a held transition whose silences have all
//!   ended is released, once, when its alert is still not OK and not acknowledged.
//!
//! Invariants:
//! - Muted transitions are still in the history (the history sink takes every event); that they
//!   were muted is a row in `transition_marks`.
//! - Time is the wall clock: a silence mutes what would be notified while it is active, whatever
//!   the time in the data (a replayed capture).
//! - Fails open: when the store cannot be read, nothing is muted (a page too many beats a page
//!   lost), and the failure is logged once per reason.

use super::store::OperatorStore;
use super::{Ack, AckKind, OperatorView, Silence, POLL_EVERY};
use crate::ingest::{Event, NodeEventKind};
use crate::sink::message::TransitionMessage;
use crate::sink::{Batch, Sink};
use rackwatch_core::Level;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the delivery sinks do with the batch's transitions.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// The ids of the batch's transitions that notify no delivery sink.
    pub muted: HashSet<String>,
    /// Transitions held back by silences that have ended: sent now, after the batch's own.
    pub released: Vec<TransitionMessage>,
}

/// The verdicts, shared with the delivery sinks (same thread, one batch at a time).
pub type SharedVerdicts = Arc<Mutex<Verdicts>>;

/// The gate sink.
pub struct Gate {
    store: OperatorStore,
    acks: Vec<Ack>,
    silences: Vec<Silence>,
    verdicts: SharedVerdicts,
    view: Arc<Mutex<OperatorView>>,
    last_poll: Option<Instant>,
    last_error: Option<String>,
    /// The alerts (node, metric, origin) with a transition held back, so that a transition of
    /// any other alert costs no write.
    held: HashSet<(u16, String, String)>,
}

impl Gate {
    /// The gate over the operator tables of the history database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Gate> {
        let store = OperatorStore::open(path)?;
        Ok(Gate {
            store,
            acks: Vec::new(),
            silences: Vec::new(),
            verdicts: SharedVerdicts::default(),
            view: Arc::default(),
            last_poll: None,
            last_error: None,
            held: HashSet::new(),
        })
    }

    /// The verdicts the delivery sinks read.
    pub fn verdicts(&self) -> SharedVerdicts {
        Arc::clone(&self.verdicts)
    }

    /// Acks and silences as `/state` shows them.
    pub fn view(&self) -> Arc<Mutex<OperatorView>> {
        Arc::clone(&self.view)
    }

    fn failed(&mut self, what: &str, e: impl std::fmt::Display) {
        let text = format!("{what}: {e}");
        if self.last_error.as_deref() != Some(text.as_str()) {
            tracing::warn!("acks and silences: {text}; nothing is muted meanwhile");
        }
        self.last_error = Some(text);
    }

    /// Reads acks and silences again, ends expired acks, releases what ended silences held.
    fn poll(&mut self, now_ms: u64, released: &mut Vec<TransitionMessage>) {
        self.last_poll = Some(Instant::now());
        match (self.store.acks(), self.store.silences(now_ms, false)) {
            (Ok(acks), Ok(silences)) => {
                self.acks = acks;
                self.silences = silences;
                self.last_error = None;
            }
            (Err(e), _) | (_, Err(e)) => {
                self.acks.clear();
                self.silences.clear();
                return self.failed("cannot read the store", e);
            }
        }
        let expired: Vec<Ack> = self
            .acks
            .iter()
            .filter(|a| a.until_ms.is_some_and(|u| u <= now_ms))
            .cloned()
            .collect();
        for ack in expired {
            self.end_ack(&ack, "ack_expired", "its --until passed", now_ms);
        }
        self.release(now_ms, released);
    }

    /// Held transitions whose alert no active silence matches any more: sent once if the alert
    /// still fires (and is not acknowledged), forgotten either way.
    fn release(&mut self, now_ms: u64, released: &mut Vec<TransitionMessage>) {
        let held = match self.store.held() {
            Ok(held) => held,
            Err(e) => return self.failed("cannot read held transitions", e),
        };
        self.held = held.iter().map(key).collect();
        for m in held {
            if self.silence_of(&m, now_ms).is_some() {
                continue;
            }
            if let Err(e) = self.store.hold(&m, false) {
                return self.failed("cannot release a held transition", e);
            }
            self.held.remove(&key(&m));
            let acked = self.ack_of(&m).is_some();
            if m.to != Level::Ok && !acked {
                tracing::info!(node = m.node, metric = %m.metric, level = m.to.as_str(),
                    "silence ended with the alert still firing: notifying once");
                released.push(m);
            }
        }
    }

    fn silence_of(&self, m: &TransitionMessage, now_ms: u64) -> Option<u64> {
        self.silences
            .iter()
            .find(|s| s.active(now_ms) && s.matches(m))
            .map(|s| s.id)
    }

    fn ack_of(&self, m: &TransitionMessage) -> Option<&Ack> {
        self.acks
            .iter()
            .find(|a| a.node == m.node && a.metric == m.metric)
    }

    fn end_ack(&mut self, ack: &Ack, action: &str, why: &str, now_ms: u64) {
        self.acks.retain(|a| a != ack);
        if let Err(e) = self.store.end_ack(ack, action, why, now_ms) {
            self.failed("cannot end an ack", e);
        }
    }

    /// One transition: the mark it gets, if it is muted.
    fn judge(&mut self, m: &TransitionMessage, now_ms: u64) -> Option<(&'static str, String)> {
        if let Some(id) = self.silence_of(m, now_ms) {
            match self.store.hold(m, true) {
                Ok(()) => _ = self.held.insert(key(m)),
                Err(e) => self.failed("cannot hold a silenced transition", e),
            }
            return Some(("silenced", format!("silence {id}")));
        }
        if self.held.remove(&key(m)) {
            if let Err(e) = self.store.hold(m, false) {
                self.failed("cannot forget a held transition", e);
            }
        }
        let ack = self.ack_of(m)?.clone();
        let ends = match ack.kind {
            AckKind::Normal => m.to != ack.level,
            AckKind::Sticky => m.to == Level::Ok,
        };
        if !ends {
            return Some(("acknowledged", format!("by {}", ack.author)));
        }
        let why = format!(
            "{} ack ended: {} went {} -> {}",
            ack.kind.as_str(),
            m.metric,
            m.from.as_str(),
            m.to.as_str()
        );
        self.end_ack(&ack, "ack_cleared", &why, now_ms);
        None
    }

    fn node_reset(&mut self, node: u16, now_ms: u64) {
        let ended: Vec<Ack> = self
            .acks
            .iter()
            .filter(|a| a.node == node)
            .cloned()
            .collect();
        for ack in ended {
            self.end_ack(
                &ack,
                "ack_cleared",
                "the node rebooted: its alerts start over at OK",
                now_ms,
            );
        }
    }

    fn publish_view(&self, now_ms: u64) {
        let view = OperatorView {
            acks: self.acks.clone(),
            silences: self.silences.clone(),
            silences_active: self.silences.iter().filter(|s| s.active(now_ms)).count() as u64,
        };
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}

fn key(m: &TransitionMessage) -> (u16, String, String) {
    (m.node, m.metric.clone(), m.origin.clone())
}

impl Sink for Gate {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        let now_ms = crate::source::now_ms();
        let mut verdicts = Verdicts::default();
        if self.last_poll.is_none_or(|t| t.elapsed() >= POLL_EVERY) {
            self.poll(now_ms, &mut verdicts.released);
        }
        let mut marks = Vec::new();
        for event in batch.events {
            if let Event::NodeEvent {
                node,
                kind: NodeEventKind::Reset { .. },
                ..
            } = event
            {
                self.node_reset(*node, now_ms);
                continue;
            }
            let Some(m) = TransitionMessage::from_event(event, batch.ingest) else {
                continue;
            };
            // A transition of an alert whose held one is about to be released supersedes it.
            verdicts
                .released
                .retain(|r| (r.node, &r.metric, &r.origin) != (m.node, &m.metric, &m.origin));
            if let Some((mark, detail)) = self.judge(&m, now_ms) {
                verdicts.muted.insert(m.id.clone());
                marks.push((m.id, m.wall_ms, mark, detail));
            }
        }
        if !marks.is_empty() {
            if let Err(e) = self.store.mark(&marks) {
                self.failed("cannot mark muted transitions", e);
            }
        }
        self.publish_view(now_ms);
        *self.verdicts.lock().unwrap_or_else(|e| e.into_inner()) = verdicts;
        Ok(())
    }

    /// Marks follow their transitions out of the history (the history's own upkeep runs first).
    fn maintain(&mut self, _now_ms: u64) -> anyhow::Result<()> {
        if let Err(e) = self.store.prune_marks() {
            self.failed("cannot prune transition marks", e);
        }
        Ok(())
    }
}
