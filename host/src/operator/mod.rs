//! The people in the loop: acknowledgements, silences, maintenance windows, inhibition and the
//! audit of every operator action (`docs/acks-and-silences.md`).
//!
//! - [`store`]: the state, in tables of the history database, so it survives restarts and the CLI
//!   can change it with the daemon down.
//! - [`gate`]: the daemon's judge, a sink placed before the delivery sinks: it decides for each
//!   transition whether it is muted (acknowledged, silenced, in a maintenance window, inhibited),
//!   records that, clears acks as their kind says and releases one notification when a silence or
//!   window ends over a firing alert.
//! - [`matcher`]: Alertmanager's matchers; [`inhibit`]: Alertmanager's inhibition rules and the
//!   labels of an alert; [`maintenance`]: windows, one-off or on a cron schedule in a time zone.
//! - [`client`]: the CLI's side of the daemon's HTTP API.
//!
//! Invariants:
//! - One way to change the state: every change (CLI on the store, or the daemon's HTTP API, which
//!   writes the same store) goes through [`store::OperatorStore`], which writes the change and its
//!   audit row in one transaction. The daemon reads the store every [`POLL_EVERY`], so a change made
//!   while it runs, by either path, takes effect within that.
//! - An alert is `(node, metric)`: an ack covers both origins' transitions of the metric.

pub mod gate;
pub mod inhibit;
pub mod maintenance;
pub mod matcher;
pub mod store;

use crate::sink::message::TransitionMessage;
use inhibit::{Labels, NodeLabels};
pub use maintenance::Window;
use matcher::Matcher;
use rackwatch_core::Level;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How often the daemon reads acks and silences from the store.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// The longest comment kept, in characters.
pub const MAX_COMMENT: usize = 1024;
/// The longest name of a person or token kept, in characters.
pub const MAX_AUTHOR: usize = 128;

/// How an acknowledgement ends (Nagios' two kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AckKind {
    /// Cleared by any level change of the alert.
    Normal,
    /// Cleared only by the alert's recovery to OK.
    Sticky,
}

impl AckKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AckKind::Normal => "normal",
            AckKind::Sticky => "sticky",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<AckKind> {
        [AckKind::Normal, AckKind::Sticky]
            .into_iter()
            .find(|k| k.as_str() == name)
    }
}

/// What the configuration says about the people in the loop: node labels (`[[node]]`),
/// inhibition rules (`[[inhibit]]`) and maintenance windows (`[[maintenance]]`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OperatorSettings {
    /// Each node's labels.
    pub node_labels: NodeLabels,
    /// The configured inhibition rules (the built-in one is not among them).
    pub inhibit: Vec<inhibit::InhibitRule>,
    /// The configured maintenance windows (id 0, creator `config`).
    pub maintenance: Vec<Window>,
}

/// An acknowledged alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// Node id.
    pub node: u16,
    /// Metric name.
    pub metric: String,
    /// The alert's level when it was acknowledged.
    #[serde(with = "crate::names::level")]
    pub level: Level,
    /// Normal or sticky.
    pub kind: AckKind,
    /// Who acknowledged it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When, ms since the Unix epoch.
    pub created_ms: u64,
    /// When it expires on its own, if ever.
    pub until_ms: Option<u64>,
}

/// A silence: transitions of the alerts its matchers all match, between start and end, notify no
/// delivery sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    /// Its id.
    pub id: u64,
    /// Every one must match.
    pub matchers: Vec<Matcher>,
    /// From, ms since the Unix epoch.
    pub starts_ms: u64,
    /// Until (exclusive).
    pub ends_ms: u64,
    /// Who made it.
    pub creator: String,
    /// Why.
    pub comment: String,
    /// When it was made.
    pub created_ms: u64,
}

impl Silence {
    /// Whether it mutes at `now_ms`.
    pub fn active(&self, now_ms: u64) -> bool {
        self.starts_ms <= now_ms && now_ms < self.ends_ms
    }

    /// Whether it matches an alert with `labels` ([`inhibit::labels`]).
    pub fn matches(&self, labels: &Labels) -> bool {
        inhibit::matches(&self.matchers, labels)
    }
}

/// The labels of a transition's alert: the Alertmanager sink's (`alertname`, `node`, `metric`,
/// `origin`, `severity`) and the node's configured ones.
pub fn message_labels(m: &TransitionMessage, node_labels: &NodeLabels) -> Labels {
    inhibit::labels(m.node, &m.metric, &m.origin, severity(m), node_labels)
}

/// The `severity` label of a transition's alert: the level it goes to, or for a recovery the level
/// it recovers from (as the Alertmanager sink labels a resolved alert), lower case.
pub fn severity(m: &TransitionMessage) -> &'static str {
    severity_name(if m.to == Level::Ok { m.from } else { m.to })
}

/// A level as the `severity` label names it.
pub fn severity_name(level: Level) -> &'static str {
    match level {
        Level::Ok => "ok",
        Level::Warning => "warning",
        Level::Critical => "critical",
        Level::Unknown => "unknown",
    }
}

/// One operator action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Its id (in order).
    pub id: u64,
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// Who (`$USER`, or the daemon for what it does on its own: an ack cleared by a level change).
    pub who: String,
    /// What: `ack (normal)`, `ack (sticky)`, `unack`, `silence_add`, `silence_expire`,
    /// `maintenance_add`, `maintenance_remove`, `ack_cleared`, `ack_expired`.
    pub action: String,
    /// On what: `NODE/METRIC`, or a silence's id and matchers.
    pub target: String,
    /// Why (the comment).
    pub comment: String,
}

/// Acks and silences as `/state` shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OperatorView {
    /// Acknowledged alerts.
    pub acks: Vec<Ack>,
    /// Silences active now or starting later.
    pub silences: Vec<Silence>,
    /// How many of them are active now.
    pub silences_active: u64,
    /// Maintenance windows (configured and added), each with when it is open.
    #[serde(default)]
    pub windows: Vec<WindowView>,
    /// Alerts whose latest problem was inhibited, and by what.
    #[serde(default)]
    pub inhibited: Vec<Inhibited>,
    /// The metrics an open maintenance window covers now, and which.
    #[serde(default)]
    pub in_maintenance: Vec<InMaintenance>,
}

/// A metric (or a node's own alert) in an open maintenance window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InMaintenance {
    /// Node id.
    pub node: u16,
    /// Metric name.
    pub metric: String,
    /// The window's name.
    pub window: String,
}

/// A maintenance window as `/state` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowView {
    /// The window.
    #[serde(flatten)]
    pub window: Window,
    /// The opening it is in now, as (start, end) ms since the Unix epoch.
    pub open: Option<(u64, u64)>,
    /// When it opens next, if ever.
    pub next_start_ms: Option<u64>,
}

/// An inhibited alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inhibited {
    /// Node id.
    pub node: u16,
    /// Metric name.
    pub metric: String,
    /// `node` or `host`.
    pub origin: String,
    /// `by NODE/METRIC (RULE)`.
    pub reason: String,
}

impl OperatorView {
    /// Why `node`/`metric` is inhibited, if it is (either judge).
    pub fn inhibited(&self, node: u16, metric: &str) -> Option<&Inhibited> {
        self.inhibited
            .iter()
            .find(|i| i.node == node && i.metric == metric)
    }

    /// Whether an open maintenance window covers `node`/`metric`.
    pub fn in_maintenance(&self, node: u16, metric: &str) -> bool {
        self.in_maintenance
            .iter()
            .any(|w| w.node == node && w.metric == metric)
    }

    /// The ack of `node`/`metric`, if any.
    pub fn ack(&self, node: u16, metric: &str) -> Option<&Ack> {
        self.acks
            .iter()
            .find(|a| a.node == node && a.metric == metric)
    }
}

/// `POST /api/acks`: acknowledge `node`'s `metric` (every alert of the node not OK, without one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AckRequest {
    /// Node id.
    pub node: u16,
    /// Metric name; every metric of the node not OK when absent.
    pub metric: Option<String>,
    /// Sticky (cleared only on OK) rather than normal.
    #[serde(default)]
    pub sticky: bool,
    /// Expires at, ms since the Unix epoch.
    pub until_ms: Option<u64>,
    /// Who.
    pub author: String,
    /// Why.
    pub comment: String,
}

/// `DELETE /api/acks`: remove the ack of `node`'s `metric` (every ack of the node, without one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnackRequest {
    /// Node id.
    pub node: u16,
    /// Metric name.
    pub metric: Option<String>,
    /// Who.
    pub author: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/silences`: a new silence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SilenceRequest {
    /// Every one must match.
    pub matchers: Vec<Matcher>,
    /// From (default: now).
    pub starts_ms: Option<u64>,
    /// Until.
    pub ends_ms: u64,
    /// Who.
    pub creator: String,
    /// Why.
    pub comment: String,
}

/// `DELETE /api/silences`: end silence `id` now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpireRequest {
    /// The silence.
    pub id: u64,
    /// Who.
    pub author: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/maintenance`: a new maintenance window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowRequest {
    /// Its name (default: `window ID`).
    pub name: Option<String>,
    /// Every one must match.
    pub matchers: Vec<Matcher>,
    /// When it is open.
    pub when: maintenance::When,
    /// Who.
    pub creator: String,
    /// Why.
    pub comment: String,
}

/// `DELETE /api/maintenance`: remove window `id`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveWindowRequest {
    /// The window.
    pub id: u64,
    /// Who.
    pub author: String,
    /// Why.
    #[serde(default)]
    pub comment: String,
}

/// `NODE` or `NODE/METRIC` from the command line.
pub fn parse_target(text: &str) -> Result<(u16, Option<String>), String> {
    let (node, metric) = match text.split_once('/') {
        Some((n, m)) => (n, Some(m.to_string())),
        None => (text, None),
    };
    let node = node.parse::<u16>().map_err(|_| {
        format!("`{text}`: name an alert as NODE or NODE/METRIC, NODE a node id (0-65535)")
    })?;
    if metric.as_deref().is_some_and(str::is_empty) {
        return Err(format!("`{text}`: the metric after / is empty"));
    }
    Ok((node, metric))
}

/// The operator's name for the audit: `$USER`, else `unknown`.
pub fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
