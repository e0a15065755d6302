//! The Alertmanager sink: transitions become alerts posted to Alertmanager's API v2
//! (`POST <url>/api/v2/alerts`).
//!
//! An alert's identity is its labels: `alertname="rackwatch"`, `node`, `metric`, `origin`,
//! `severity` (`warning`, `critical`, `unknown`) and the sink's static labels. A transition to
//! WARNING, CRITICAL or UNKNOWN fires the alert of that severity (resolving the one of the former
//! severity, if any); a transition to OK resolves it (`endsAt` = the transition's time).
//!
//! Invariants:
//! - What fires is persisted with the messages announcing it (the outbox's `firing` table), and
//!   firing alerts are posted again every `resend` with unchanged labels and `startsAt`: a
//!   restart of rackwatch, or of Alertmanager, neither loses an alert nor pages it twice.
//! - A transition to the severity already firing for the same node, metric and origin (the host's
//!   monitor judging afresh after a restart) changes nothing: the first `startsAt` stays.
//! - A firing alert is sent with `endsAt` four resend intervals ahead (as Prometheus does), so an
//!   alert whose sender died resolves on its own instead of firing forever.
//! - A node that reboots has its alerts resolved (both origins): its alert machine and the host's
//!   monitor of it start over at OK, and would never say so with a transition.
//! - Suppressed transitions (a flapping alert) change nothing; the flapping's end reports the
//!   settled level.
//! - `startsAt` and `endsAt` are the transition's own time, but never later than the moment it is
//!   queued: Alertmanager compares them with its clock, and a node clock running ahead (or a
//!   simulation faster than real time) must not make a resolved alert look firing.

use super::delivery::{Render, Rendered, Transport};
use super::http_post::Poster;
use super::message::TransitionMessage;
use super::outbox::{FiringChange, Queued};
use super::spec::{AlertmanagerSettings, HttpUrl};
use crate::timefmt::format_utc;
use rackwatch_core::Level;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// The `alertname` of every alert.
pub const ALERTNAME: &str = "rackwatch";
/// How many resend intervals a firing alert's `endsAt` lies ahead.
const ENDS_AFTER_RESENDS: u32 = 4;

/// The severity label of a level that fires.
fn severity(level: Level) -> Option<&'static str> {
    match level {
        Level::Ok => None,
        Level::Warning => Some("warning"),
        Level::Critical => Some("critical"),
        Level::Unknown => Some("unknown"),
    }
}

/// Transitions to alerts (ingest thread): knows what fires.
pub struct Alerts {
    labels: BTreeMap<String, String>,
    state_url: Option<String>,
    /// Firing alerts by key (`node/metric/origin`): the alert as sent.
    firing: BTreeMap<String, Value>,
}

impl Alerts {
    /// The renderer of a sink, with the alerts that were firing when the daemon last stopped.
    pub fn new(
        settings: &AlertmanagerSettings,
        state_url: Option<String>,
        firing: Vec<(String, String)>,
    ) -> Alerts {
        let firing = firing
            .into_iter()
            .filter_map(|(k, a)| serde_json::from_str(&a).ok().map(|a| (k, a)))
            .collect();
        Alerts {
            labels: settings.labels.clone(),
            state_url: settings.state_url.clone().or(state_url),
            firing,
        }
    }

    /// The alert for `m`, firing at `severity`.
    fn alert(&self, m: &TransitionMessage, severity: &str) -> Value {
        let mut labels: Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
            .collect();
        labels.insert("alertname".into(), ALERTNAME.into());
        labels.insert("node".into(), m.node.to_string().into());
        labels.insert("metric".into(), m.metric.as_str().into());
        labels.insert("origin".into(), m.origin.as_str().into());
        labels.insert("severity".into(), severity.into());
        let mut annotations = Map::new();
        annotations.insert(
            "summary".into(),
            format!(
                "{} on node {} is {}: {}",
                m.metric,
                m.node,
                m.to.as_str(),
                m.summary
            )
            .into(),
        );
        annotations.insert("cause".into(), m.cause.as_str().into());
        let mut alert = json!({
            "labels": labels,
            "startsAt": format_utc(not_ahead(m.wall_ms)),
        });
        if let Some(url) = &self.state_url {
            annotations.insert("state".into(), url.as_str().into());
            alert["generatorURL"] = url.as_str().into();
        }
        alert["annotations"] = annotations.into();
        alert
    }
}

/// `wall_ms`, or now if that is earlier.
fn not_ahead(wall_ms: u64) -> u64 {
    wall_ms.min(crate::source::now_ms())
}

/// The alert `alert` resolved at `wall_ms`.
fn resolved(alert: &Value, wall_ms: u64) -> Value {
    let mut alert = alert.clone();
    alert["endsAt"] = format_utc(not_ahead(wall_ms)).into();
    alert
}

impl Render for Alerts {
    fn render(&mut self, m: &TransitionMessage) -> Rendered {
        let mut messages = Vec::new();
        let mut changes = Vec::new();
        if m.suppressed {
            return (messages, changes);
        }
        let key = format!("{}/{}/{}", m.node, m.metric, m.origin);
        let now_firing = severity(m.to);
        let was = self.firing.get(&key);
        let same = was.is_some_and(|a| a["labels"]["severity"].as_str() == now_firing);
        if same {
            return (messages, changes);
        }
        if let Some(old) = self.firing.remove(&key) {
            messages.push((
                format!("{}/resolve", m.id),
                resolved(&old, m.wall_ms).to_string(),
            ));
            changes.push(FiringChange::Resolve { key: key.clone() });
        }
        if let Some(severity) = now_firing {
            let alert = self.alert(m, severity);
            messages.push((format!("{}/fire", m.id), alert.to_string()));
            changes.push(FiringChange::Fire {
                key: key.clone(),
                alert: alert.to_string(),
            });
            self.firing.insert(key, alert);
        }
        (messages, changes)
    }

    fn node_reset(&mut self, node: u16, wall_ms: u64) -> Rendered {
        let prefix = format!("{node}/");
        let keys: Vec<String> = self
            .firing
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect();
        let mut messages = Vec::new();
        let mut changes = Vec::new();
        for key in keys {
            if let Some(old) = self.firing.remove(&key) {
                // The alert's own start tells this reset from another at the same time.
                let starts = old["startsAt"].as_str().unwrap_or_default().to_string();
                messages.push((
                    format!("reset-{key}-{starts}-{wall_ms}"),
                    resolved(&old, wall_ms).to_string(),
                ));
                changes.push(FiringChange::Resolve { key });
            }
        }
        (messages, changes)
    }
}

/// Posts alerts (worker thread).
pub struct AlertPoster {
    poster: Poster,
    url: HttpUrl,
    resend: Duration,
}

impl AlertPoster {
    /// A poster to `settings.url`'s `/api/v2/alerts`.
    pub fn new(settings: &AlertmanagerSettings, timeout: Duration) -> Result<AlertPoster, String> {
        Ok(AlertPoster {
            poster: Poster::new(settings.connect_timeout, timeout)
                .map_err(|e| format!("cannot start its HTTP client: {e}"))?,
            url: settings.url.join("/api/v2/alerts"),
            resend: settings.resend,
        })
    }

    /// A queued or firing alert as sent now: a firing one (no `endsAt`) ends a few resends ahead.
    fn as_sent(&self, alert: &str) -> Result<Value, String> {
        let mut alert: Value = serde_json::from_str(alert)
            .map_err(|e| format!("an alert in the outbox is not JSON: {e}"))?;
        if alert.get("endsAt").is_none() {
            let ends =
                crate::source::now_ms() + (self.resend * ENDS_AFTER_RESENDS).as_millis() as u64;
            alert["endsAt"] = format_utc(ends).into();
        }
        Ok(alert)
    }

    fn post(&self, alerts: Vec<Value>) -> Result<(), String> {
        self.poster
            .post(&self.url, &[], &Value::Array(alerts).to_string())
    }
}

impl Transport for AlertPoster {
    fn send(&mut self, message: &Queued) -> Result<(), String> {
        let alert = self.as_sent(&message.body)?;
        self.post(vec![alert])
    }

    fn refresh_every(&self) -> Option<Duration> {
        Some(self.resend)
    }

    fn refresh(&mut self, firing: &[(String, String)]) -> Result<(), String> {
        let alerts = firing
            .iter()
            .map(|(_, a)| self.as_sent(a))
            .collect::<Result<Vec<_>, _>>()?;
        self.post(alerts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Event, Ingest, Origin};
    use rackwatch_core::wire::{Cause, Transition};

    fn message(to: Level, seq: u32, wall_ms: u64) -> TransitionMessage {
        let ingest = Ingest::new(Default::default(), Default::default());
        let event = Event::Transition {
            node: 1,
            boot: 7,
            origin: Origin::Node,
            wall_ms,
            transition: Transition {
                metric: 0,
                from: Level::Ok,
                to,
                at_ms: wall_ms,
                cause: Cause::Value {
                    value: 31.0,
                    bound: 30.0,
                },
                alert_seq: seq,
                suppressed: false,
            },
        };
        TransitionMessage::from_event(&event, &ingest).unwrap()
    }

    fn settings() -> AlertmanagerSettings {
        AlertmanagerSettings {
            url: HttpUrl::parse("http://127.0.0.1:9093").unwrap(),
            connect_timeout: Duration::from_secs(1),
            labels: BTreeMap::from([("rack".into(), "r1".into())]),
            resend: Duration::from_secs(60),
            state_url: None,
        }
    }

    fn bodies(r: &Rendered) -> Vec<Value> {
        r.0.iter()
            .map(|(_, b)| serde_json::from_str(b).unwrap())
            .collect()
    }

    #[test]
    fn escalation_resolves_the_former_severity_and_recovery_ends_the_alert() {
        let mut alerts = Alerts::new(&settings(), Some("http://h:9187/state".into()), Vec::new());
        let fire = alerts.render(&message(Level::Warning, 0, 1_000));
        let warning = &bodies(&fire)[0];
        assert_eq!(warning["labels"]["severity"], "warning");
        assert_eq!(warning["labels"]["rack"], "r1");
        assert_eq!(warning["labels"]["alertname"], ALERTNAME);
        assert_eq!(warning["startsAt"], "1970-01-01T00:00:01Z");
        assert_eq!(warning["generatorURL"], "http://h:9187/state");
        assert!(warning.get("endsAt").is_none());
        // The same severity again (a restart's fresh judgement) changes nothing.
        assert!(alerts
            .render(&message(Level::Warning, 1, 2_000))
            .0
            .is_empty());
        let up = bodies(&alerts.render(&message(Level::Critical, 2, 3_000)));
        assert_eq!(up[0]["labels"]["severity"], "warning");
        assert_eq!(up[0]["endsAt"], "1970-01-01T00:00:03Z");
        assert_eq!(up[1]["labels"]["severity"], "critical");
        let ok = bodies(&alerts.render(&message(Level::Ok, 3, 4_000)));
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0]["labels"]["severity"], "critical");
        assert_eq!(ok[0]["startsAt"], "1970-01-01T00:00:03Z");
        assert_eq!(ok[0]["endsAt"], "1970-01-01T00:00:04Z");
        // Nothing fires: OK again is nothing to say.
        assert!(alerts.render(&message(Level::Ok, 4, 5_000)).0.is_empty());
    }

    #[test]
    fn a_reboot_resolves_what_fired_for_that_node_only() {
        let mut alerts = Alerts::new(&settings(), None, Vec::new());
        alerts.render(&message(Level::Critical, 0, 1_000));
        let mut other = message(Level::Warning, 0, 1_000);
        other.node = 2;
        alerts.render(&other);
        let (messages, changes) = alerts.node_reset(1, 5_000);
        assert_eq!(
            changes,
            [FiringChange::Resolve {
                key: "1/metric_0/node".into()
            }]
        );
        let ended: Value = serde_json::from_str(&messages[0].1).unwrap();
        assert_eq!(ended["labels"]["node"], "1");
        assert_eq!(ended["endsAt"], "1970-01-01T00:00:05Z");
        assert!(alerts.node_reset(1, 6_000).0.is_empty());
        assert_eq!(alerts.firing.len(), 1);
    }

    #[test]
    fn what_fired_before_a_restart_keeps_its_identity() {
        let mut before = Alerts::new(&settings(), None, Vec::new());
        let (_, changes) = before.render(&message(Level::Critical, 0, 1_000));
        let FiringChange::Fire { key, alert } = &changes[0] else {
            panic!("{changes:?}")
        };
        let mut after = Alerts::new(&settings(), None, vec![(key.clone(), alert.clone())]);
        assert!(after
            .render(&message(Level::Critical, 0, 9_000))
            .0
            .is_empty());
        let ok = bodies(&after.render(&message(Level::Ok, 1, 10_000)));
        assert_eq!(ok[0]["startsAt"], "1970-01-01T00:00:01Z");
    }
}
