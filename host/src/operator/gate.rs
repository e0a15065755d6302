//! The daemon's judge of acks, silences, maintenance windows and inhibition: a [`Sink`] placed
//! before the delivery sinks, which read its [`Verdicts`] for the same batch.
//!
//! One handler per thing that happens:
//! - a transition: muted when an active silence or an open maintenance window matches its alert
//!   (held back to be released when it ends), else muted when an inhibition rule covers it
//!   (remembered, see below), else muted when its alert is acknowledged and the ack's kind says the
//!   change does not end it, else notified (and a normal ack, or a sticky one on recovery, ends);
//! - a node going down or up: the node's own alert ([`NODE_DOWN`]), judged like a transition and,
//!   when not muted, handed to the delivery sinks ([`Verdicts::node_alerts`]);
//! - a node reset: its alerts start over at OK, so its acks end (inside a maintenance window that
//!   covers the node the reboot is expected: its down alert was muted by the window, and the log
//!   says so);
//! - the end of the batch: inhibited alerts whose inhibitor stopped firing are looked at: one still
//!   at the inhibited level (not UNKNOWN: data that is back is not news) is notified once; the
//!   others wait for their next transition, and a recovery to OK of a problem never notified is
//!   muted too (as Alertmanager sends no resolution for an alert it never sent);
//! - the poll ([`POLL_EVERY`]): acks, silences and maintenance windows are read again from the
//!   store (changes by the CLI or the HTTP API), acks past `--until` end, and a held transition
//!   whose silences and windows have all ended is released, once, when its alert is still not OK
//!   and not acknowledged.
//!
//! Invariants:
//! - Muted transitions are still in the history (the history sink takes every event); that they
//!   were muted is a row in `transition_marks`.
//! - Time is the wall clock: a silence or a window mutes what would be notified while it is
//!   active, whatever the time in the data (a replayed capture).
//! - What inhibits is what fires in the pipeline's state after the batch ([`inhibit::firing`]),
//!   never a memory of past transitions; only the inhibited alerts' latest problems are kept, in
//!   memory, for their one release or their muted recovery.
//! - Fails open: when the store cannot be read, nothing is muted (a page too many beats a page
//!   lost), and the failure is logged once per reason.

use super::inhibit::{self, FiringAlert, InhibitRule, Labels, NodeLabels, NODE_DOWN};
use super::maintenance::Compiled;
use super::store::OperatorStore;
use super::{
    message_labels, Ack, AckKind, InMaintenance, Inhibited, OperatorSettings, OperatorView,
    Silence, WindowView, POLL_EVERY,
};
use crate::ingest::{Event, Ingest, NodeEventKind};
use crate::sink::message::TransitionMessage;
use crate::sink::{Batch, Sink};
use rackwatch_core::Level;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the delivery sinks do with the batch's transitions.
#[derive(Debug, Clone, Default)]
pub struct Verdicts {
    /// The ids of the batch's transitions that notify no delivery sink.
    pub muted: HashSet<String>,
    /// Transitions held back by silences, windows or inhibitions that have ended: sent now, after
    /// the batch's own.
    pub released: Vec<TransitionMessage>,
    /// The nodes' own alerts ([`NODE_DOWN`]) that notify, in the batch's order.
    pub node_alerts: Vec<TransitionMessage>,
}

/// An alert whose latest problem was inhibited.
struct InhibitedAlert {
    /// That transition.
    message: TransitionMessage,
    /// Its reason, while the inhibition lasts; `None` once it ended with the alert unnotified.
    reason: Option<String>,
}

type AlertKey = (u16, String, String);

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
    held: HashSet<AlertKey>,
    node_labels: NodeLabels,
    /// The built-in rule first, then the configured ones.
    rules: Vec<InhibitRule>,
    inhibited: BTreeMap<AlertKey, InhibitedAlert>,
    /// The configured maintenance windows.
    config_windows: Vec<Compiled>,
    /// The configured ones and the store's, as of the last poll.
    windows: Vec<Compiled>,
}

impl Gate {
    /// The gate over the operator tables of the history database at `path`, with the
    /// configuration's labels and inhibition rules.
    pub fn open(path: &Path, settings: &OperatorSettings) -> anyhow::Result<Gate> {
        let store = OperatorStore::open(path)?;
        let mut rules = vec![InhibitRule::node_down()];
        rules.extend(settings.inhibit.iter().cloned());
        // The configuration was checked when it was read, so every window compiles.
        let config_windows: Vec<Compiled> = settings
            .maintenance
            .iter()
            .filter_map(|w| w.clone().compile().ok())
            .collect();
        Ok(Gate {
            store,
            acks: Vec::new(),
            silences: Vec::new(),
            verdicts: SharedVerdicts::default(),
            view: Arc::default(),
            last_poll: None,
            last_error: None,
            held: HashSet::new(),
            node_labels: settings.node_labels.clone(),
            rules,
            inhibited: BTreeMap::new(),
            windows: config_windows.clone(),
            config_windows,
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
        let read = (
            self.store.acks(),
            self.store.silences(now_ms, false),
            self.store.windows(),
        );
        match read {
            (Ok(acks), Ok(silences), Ok(windows)) => {
                self.acks = acks;
                self.silences = silences;
                self.windows = self.config_windows.clone();
                self.windows
                    .extend(windows.into_iter().filter_map(|w| w.compile().ok()));
                self.last_error = None;
            }
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                self.acks.clear();
                self.silences.clear();
                self.windows = self.config_windows.clone();
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
            if self.silence_of(&m, now_ms).is_some() || self.window_of(&m, now_ms).is_some() {
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
        let labels = self.labels(m);
        self.silences
            .iter()
            .find(|s| s.active(now_ms) && s.matches(&labels))
            .map(|s| s.id)
    }

    /// The name of an open maintenance window that covers the alert of `m`.
    fn window_of(&self, m: &TransitionMessage, now_ms: u64) -> Option<String> {
        let labels = self.labels(m);
        self.windows
            .iter()
            .find(|w| inhibit::matches(&w.window.matchers, &labels) && w.open_at(now_ms).is_some())
            .map(|w| w.window.name.clone())
    }

    fn labels(&self, m: &TransitionMessage) -> Labels {
        message_labels(m, &self.node_labels)
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
    fn judge(
        &mut self,
        m: &TransitionMessage,
        now_ms: u64,
        firing: &[FiringAlert],
    ) -> Option<(&'static str, String)> {
        // A recovery of a problem inhibition kept from the receivers is no news to them either.
        if let Some(before) = self.inhibited.remove(&key(m)) {
            if m.to == Level::Ok {
                let why = before.reason.unwrap_or_else(|| "by an inhibition".into());
                return Some(("inhibited", format!("its problem was inhibited {why}")));
            }
        }
        if let Some(id) = self.silence_of(m, now_ms) {
            match self.store.hold(m, true) {
                Ok(()) => _ = self.held.insert(key(m)),
                Err(e) => self.failed("cannot hold a silenced transition", e),
            }
            return Some(("silenced", format!("silence {id}")));
        }
        if let Some(name) = self.window_of(m, now_ms) {
            match self.store.hold(m, true) {
                Ok(()) => _ = self.held.insert(key(m)),
                Err(e) => self.failed("cannot hold a transition in maintenance", e),
            }
            return Some(("maintenance", format!("window {name}")));
        }
        if self.held.remove(&key(m)) {
            if let Err(e) = self.store.hold(m, false) {
                self.failed("cannot forget a held transition", e);
            }
        }
        if let Some(reason) = inhibit::inhibitor(&self.rules, firing, &key(m), &self.labels(m)) {
            self.inhibited.insert(
                key(m),
                InhibitedAlert {
                    message: m.clone(),
                    reason: Some(reason.clone()),
                },
            );
            return Some(("inhibited", reason));
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
        self.inhibited.retain(|k, _| k.0 != node);
        let labels = inhibit::labels(node, NODE_DOWN, "host", "critical", &self.node_labels);
        let window = self
            .windows
            .iter()
            .find(|w| inhibit::matches(&w.window.matchers, &labels) && w.open_at(now_ms).is_some());
        if let Some(w) = window {
            tracing::info!(node, window = %w.window.name,
                "node rebooted inside a maintenance window: expected, not notified");
        }
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

    fn publish_view(&self, ingest: &Ingest, now_ms: u64) {
        let windows: Vec<WindowView> = self
            .windows
            .iter()
            .map(|w| WindowView {
                window: w.window.clone(),
                open: w.open_at(now_ms),
                next_start_ms: w.next_start(now_ms),
            })
            .collect();
        let view = OperatorView {
            in_maintenance: self.in_maintenance(ingest, now_ms),
            windows,
            acks: self.acks.clone(),
            silences: self.silences.clone(),
            silences_active: self.silences.iter().filter(|s| s.active(now_ms)).count() as u64,
            inhibited: self
                .inhibited
                .iter()
                .filter_map(|((node, metric, origin), a)| {
                    Some(Inhibited {
                        node: *node,
                        metric: metric.clone(),
                        origin: origin.clone(),
                        reason: a.reason.clone()?,
                    })
                })
                .collect(),
        };
        *self.view.lock().unwrap_or_else(|e| e.into_inner()) = view;
    }
}

impl Gate {
    /// Every metric (and node) an open window covers now.
    fn in_maintenance(&self, ingest: &Ingest, now_ms: u64) -> Vec<InMaintenance> {
        let open: Vec<&Compiled> = self
            .windows
            .iter()
            .filter(|w| w.open_at(now_ms).is_some())
            .collect();
        if open.is_empty() {
            return Vec::new();
        }
        let mut covered = Vec::new();
        for (id, node) in ingest.nodes() {
            let metrics = node.metrics.iter().map(|(_, m)| {
                let level = m.monitor.level();
                (m.spec.name.to_string(), super::severity_name(level))
            });
            let down = node.down.then(|| (NODE_DOWN.to_string(), "critical"));
            for (metric, severity) in metrics.chain(down) {
                let labels = inhibit::labels(*id, &metric, "host", severity, &self.node_labels);
                if let Some(w) = open
                    .iter()
                    .find(|w| inhibit::matches(&w.window.matchers, &labels))
                {
                    covered.push(InMaintenance {
                        node: *id,
                        metric,
                        window: w.window.name.clone(),
                    });
                }
            }
        }
        covered
    }
}

fn key(m: &TransitionMessage) -> AlertKey {
    (m.node, m.metric.clone(), m.origin.clone())
}

/// The level the alert `key` is at now, by its judge.
fn current_level(ingest: &Ingest, key: &AlertKey) -> Option<Level> {
    let node = ingest.nodes().get(&key.0)?;
    if key.1 == NODE_DOWN {
        return Some(if node.down {
            Level::Critical
        } else {
            Level::Ok
        });
    }
    let (_, metric) = node
        .metrics
        .iter()
        .find(|(_, m)| m.spec.name.as_str() == key.1)?;
    match key.2.as_str() {
        "node" => metric.node_level,
        _ => Some(metric.monitor.level()),
    }
}

impl Gate {
    /// Inhibitions whose inhibitor stopped firing: one still at its inhibited level (and not
    /// UNKNOWN) is notified once; the others wait for their next transition.
    fn end_inhibitions(
        &mut self,
        ingest: &Ingest,
        firing: &[FiringAlert],
        now_ms: u64,
        released: &mut Vec<TransitionMessage>,
    ) {
        let mut ended = Vec::new();
        for (k, a) in &self.inhibited {
            let labels = message_labels(&a.message, &self.node_labels);
            if a.reason.is_some() && inhibit::inhibitor(&self.rules, firing, k, &labels).is_none() {
                ended.push(k.clone());
            }
        }
        for k in ended {
            let Some(a) = self.inhibited.get_mut(&k) else {
                continue;
            };
            a.reason = None;
            let m = a.message.clone();
            let still = current_level(ingest, &k) == Some(m.to);
            if still
                && !matches!(m.to, Level::Ok | Level::Unknown)
                && self.silence_of(&m, now_ms).is_none()
                && self.window_of(&m, now_ms).is_none()
                && self.ack_of(&m).is_none()
            {
                tracing::info!(node = m.node, metric = %m.metric, level = m.to.as_str(),
                    "inhibition ended with the alert still firing: notifying once");
                self.inhibited.remove(&k);
                released.push(m);
            }
        }
    }
}

impl Sink for Gate {
    fn deliver(&mut self, batch: &Batch<'_>) -> anyhow::Result<()> {
        let now_ms = crate::source::now_ms();
        let mut verdicts = Verdicts::default();
        if self.last_poll.is_none_or(|t| t.elapsed() >= POLL_EVERY) {
            self.poll(now_ms, &mut verdicts.released);
        }
        // The alerts firing after the batch: what inhibits (computed only when it can matter).
        let firing = if batch.events.is_empty() && self.inhibited.is_empty() {
            Vec::new()
        } else {
            inhibit::firing(batch.ingest, &self.node_labels)
        };
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
            if let Some(m) = TransitionMessage::node_alert(event) {
                match self.judge(&m, now_ms, &firing) {
                    Some((mark, detail)) => {
                        tracing::info!(
                            node = m.node,
                            "node {} {}: {mark} ({detail})",
                            m.node,
                            if m.to == Level::Ok { "up" } else { "down" }
                        );
                    }
                    None => verdicts.node_alerts.push(m),
                }
                continue;
            }
            let Some(m) = TransitionMessage::from_event(event, batch.ingest) else {
                continue;
            };
            // A transition of an alert whose held one is about to be released supersedes it.
            verdicts
                .released
                .retain(|r| (r.node, &r.metric, &r.origin) != (m.node, &m.metric, &m.origin));
            if let Some((mark, detail)) = self.judge(&m, now_ms, &firing) {
                verdicts.muted.insert(m.id.clone());
                marks.push((m.id, m.wall_ms, mark, detail));
            }
        }
        if !self.inhibited.is_empty() {
            self.end_inhibitions(batch.ingest, &firing, now_ms, &mut verdicts.released);
        }
        if !marks.is_empty() {
            if let Err(e) = self.store.mark(&marks) {
                self.failed("cannot mark muted transitions", e);
            }
        }
        self.publish_view(batch.ingest, now_ms);
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
