//! `[[node]]` (a node's labels), `[[inhibit]]` (inhibition rules), `[[maintenance]]`
//! (maintenance windows): the configuration's part of the people in the loop
//! (`docs/acks-and-silences.md`), checked with spans like every section.
//!
//! Invariants:
//! - A node is labelled once; a label name is a label name (as matchers take them) and names none
//!   of the labels every alert carries already (`node`, `metric`, ...), which would be ambiguous.
//! - Every matcher parses (the matcher's own error, at the rule), a rule has at least one target
//!   matcher (an empty one would inhibit every alert) and `equal` names label names.
//! - A window is recurring (`schedule` and `duration`, `time_zone` optional) or one-off (`start`
//!   and `end`), never both, has at least one matcher and a name of its own, and computes
//!   ([`Window::compile`]: the schedule parses, the zone exists).

use super::file::{RawConfig, RawInhibit, RawMaintenance, RawNode};
use super::{ConfigError, Locator};
use crate::operator::inhibit::{InhibitRule, NodeLabels};
use crate::operator::maintenance::{When, Window, MAX_DURATION};
use crate::operator::matcher::{Matcher, MAX_MATCHERS};
use crate::operator::OperatorSettings;
use toml::Spanned;

/// The labels rackwatch gives every alert itself.
pub const ALERT_LABELS: [&str; 5] = ["alertname", "node", "metric", "origin", "severity"];

/// `[[node]]`, `[[inhibit]]` and `[[maintenance]]`, checked.
pub(super) fn operator(raw: &RawConfig, at: &Locator) -> Result<OperatorSettings, ConfigError> {
    let mut errors = Vec::new();
    let node_labels = super::checked(&mut errors, node_labels(&raw.node, at)).unwrap_or_default();
    let mut rules = Vec::new();
    for (i, r) in raw.inhibit.iter().enumerate() {
        if let Some(rule) = super::checked(&mut errors, rule(i, r.get_ref(), at)) {
            rules.push(rule);
        }
    }
    let mut windows: Vec<Window> = Vec::new();
    for (i, w) in raw.maintenance.iter().enumerate() {
        if let Some(window) = super::checked(&mut errors, window(i, w, at)) {
            if windows.iter().any(|o| o.name == window.name) {
                errors.push(at.error(
                    w.get_ref().name.span().start,
                    format!(
                        "maintenance[{i}].name: `{}` names another window already; give each \
                         its own name",
                        window.name
                    ),
                ));
                continue;
            }
            windows.push(window);
        }
    }
    ConfigError::all(errors)?;
    Ok(OperatorSettings {
        node_labels,
        inhibit: rules,
        maintenance: windows,
    })
}

fn window(i: usize, raw: &Spanned<RawMaintenance>, at: &Locator) -> Result<Window, ConfigError> {
    let w = raw.get_ref();
    let key = |k: &str| format!("maintenance[{i}].{k}");
    let name = w.name.get_ref().trim().to_string();
    if name.is_empty() {
        return Err(at.error(
            w.name.span().start,
            format!(
                "{}: empty; name the window (\"rack 2 recabling\")",
                key("name")
            ),
        ));
    }
    let matchers = matchers(&w.matchers, &key("matchers"), at)?;
    if matchers.is_empty() {
        return Err(at.error(
            w.matchers.span().start,
            format!(
                "{}: empty; say what the window covers (node=3, rack=r2)",
                key("matchers")
            ),
        ));
    }
    let when = match (&w.schedule, &w.duration, &w.start, &w.end) {
        (Some(schedule), Some(duration), None, None) => When::Recurring {
            schedule: schedule.get_ref().trim().to_string(),
            time_zone: w.time_zone.as_ref().map(|z| z.get_ref().trim().to_string()),
            duration_ms: at
                .duration(duration, &key("duration"), MAX_DURATION)?
                .as_millis() as u64,
        },
        (None, None, Some(start), Some(end)) => {
            let time = |t: &Spanned<String>, k: &str| {
                crate::timefmt::parse_rfc3339(t.get_ref().trim())
                    .map_err(|m| at.error(t.span().start, format!("{}: {m}", key(k))))
            };
            if let Some(zone) = &w.time_zone {
                return Err(at.error(
                    zone.span().start,
                    format!(
                        "{}: a one-off window's start and end carry their own offset \
                         (RFC 3339); time_zone is for a schedule",
                        key("time_zone")
                    ),
                ));
            }
            When::Once {
                starts_ms: time(start, "start")?,
                ends_ms: time(end, "end")?,
            }
        }
        _ => {
            return Err(at.error(
                raw.span().start,
                format!(
                    "maintenance[{i}] (`{name}`): give either `schedule` and `duration` (a \
                     recurring window, `time_zone` optional) or `start` and `end` (a one-off one)"
                ),
            ))
        }
    };
    let window = Window {
        id: 0,
        name,
        matchers,
        when,
        creator: "config".into(),
        comment: w.comment.clone().unwrap_or_default(),
    };
    let offset = w
        .schedule
        .as_ref()
        .map_or(raw.span().start, |s| s.span().start);
    window.compile().map(|c| c.window).map_err(|m| {
        at.error(
            offset,
            format!("maintenance[{i}] (`{}`): {m}", w.name.get_ref().trim()),
        )
    })
}

fn node_labels(nodes: &[Spanned<RawNode>], at: &Locator) -> Result<NodeLabels, ConfigError> {
    let mut labels = NodeLabels::new();
    for (i, n) in nodes.iter().enumerate() {
        let n = n.get_ref();
        let id = *n.id.get_ref();
        if labels.contains_key(&id) {
            return Err(at.error(
                n.id.span().start,
                format!("node[{i}].id: node {id} is labelled twice; keep one [[node]] for it"),
            ));
        }
        for name in n.labels.get_ref().keys() {
            label_name(name)
                .map_err(|m| at.error(n.labels.span().start, format!("node[{i}].labels: {m}")))?;
            if ALERT_LABELS.contains(&name.as_str()) {
                return Err(at.error(
                    n.labels.span().start,
                    format!(
                        "node[{i}].labels: `{name}` is a label every alert has already ({}); \
                         choose another name",
                        ALERT_LABELS.join(", ")
                    ),
                ));
            }
        }
        labels.insert(id, n.labels.get_ref().clone());
    }
    Ok(labels)
}

fn label_name(name: &str) -> Result<(), String> {
    // A matcher on the label parses exactly when the name is a label name.
    Matcher::parse(&format!("{name}=x"))
        .map(|_| ())
        .map_err(|_| {
            format!(
                "`{name}` is not a label name (letters, digits and _, not starting with a digit)"
            )
        })
}

fn matchers(
    list: &Spanned<Vec<String>>,
    key: &str,
    at: &Locator,
) -> Result<Vec<Matcher>, ConfigError> {
    let error = |m: String| at.error(list.span().start, format!("{key}: {m}"));
    if list.get_ref().len() > MAX_MATCHERS {
        return Err(error(format!("at most {MAX_MATCHERS} matchers")));
    }
    list.get_ref()
        .iter()
        .map(|m| Matcher::parse(m).map_err(&error))
        .collect()
}

fn rule(i: usize, raw: &RawInhibit, at: &Locator) -> Result<InhibitRule, ConfigError> {
    let key = |k: &str| format!("inhibit[{i}].{k}");
    let source_matchers = matchers(&raw.source_matchers, &key("source_matchers"), at)?;
    let target_matchers = matchers(&raw.target_matchers, &key("target_matchers"), at)?;
    if target_matchers.is_empty() {
        return Err(at.error(
            raw.target_matchers.span().start,
            format!(
                "{}: empty, so the rule would inhibit every alert; name what it inhibits \
                 (metric=~\".*temp.*\")",
                key("target_matchers")
            ),
        ));
    }
    for name in &raw.equal {
        label_name(name).map_err(|m| {
            at.error(
                raw.target_matchers.span().start,
                format!("{}: {m}", key("equal")),
            )
        })?;
    }
    let name = match &raw.name {
        Some(n) if !n.get_ref().trim().is_empty() => n.get_ref().trim().to_string(),
        _ => format!("inhibit[{i}]"),
    };
    Ok(InhibitRule {
        name,
        source_matchers,
        target_matchers,
        equal: raw.equal.clone(),
    })
}

/// The windows as written, for `config show`.
pub(super) fn raw_windows(settings: &OperatorSettings) -> Vec<Spanned<RawMaintenance>> {
    let s = |v: String| Spanned::new(0..0, v);
    settings
        .maintenance
        .iter()
        .map(|w| {
            let (schedule, duration, time_zone, start, end) = match &w.when {
                When::Recurring {
                    schedule,
                    time_zone,
                    duration_ms,
                } => (
                    Some(s(schedule.clone())),
                    Some(s(super::format_duration(std::time::Duration::from_millis(
                        *duration_ms,
                    )))),
                    time_zone.clone().map(s),
                    None,
                    None,
                ),
                When::Once { starts_ms, ends_ms } => (
                    None,
                    None,
                    None,
                    Some(s(crate::timefmt::format_utc(*starts_ms))),
                    Some(s(crate::timefmt::format_utc(*ends_ms))),
                ),
            };
            Spanned::new(
                0..0,
                RawMaintenance {
                    name: s(w.name.clone()),
                    matchers: Spanned::new(
                        0..0,
                        w.matchers.iter().map(|m| m.to_string()).collect(),
                    ),
                    schedule,
                    duration,
                    time_zone,
                    start,
                    end,
                    comment: Some(w.comment.clone()),
                },
            )
        })
        .collect()
}

/// The sections as written, for `config show`.
pub(super) fn raw(
    settings: &OperatorSettings,
) -> (Vec<Spanned<RawNode>>, Vec<Spanned<RawInhibit>>) {
    let unspanned = |v| Spanned::new(0..0, v);
    let nodes = settings
        .node_labels
        .iter()
        .map(|(id, labels)| {
            Spanned::new(
                0..0,
                RawNode {
                    id: Spanned::new(0..0, *id),
                    labels: Spanned::new(0..0, labels.clone()),
                },
            )
        })
        .collect();
    let strings = |ms: &[Matcher]| ms.iter().map(|m| m.to_string()).collect::<Vec<_>>();
    let rules = settings
        .inhibit
        .iter()
        .map(|r| {
            Spanned::new(
                0..0,
                RawInhibit {
                    name: Some(unspanned(r.name.clone())),
                    source_matchers: Spanned::new(0..0, strings(&r.source_matchers)),
                    target_matchers: Spanned::new(0..0, strings(&r.target_matchers)),
                    equal: r.equal.clone(),
                },
            )
        })
        .collect();
    (nodes, rules)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::path::Path;

    fn error(text: &str) -> String {
        Config::parse(Path::new("rw.toml"), text)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn mistakes_are_located_and_say_what_to_do() {
        let e = error("[[node]]\nid = 3\nlabels = { node = \"x\" }\n");
        assert!(
            e.starts_with("rw.toml:3:10: node[0].labels: `node` is a label every alert has"),
            "{e}"
        );
        let e = error("[[node]]\nid = 3\nlabels = { \"3rack\" = \"x\" }\n");
        assert!(
            e.contains("node[0].labels: `3rack` is not a label name"),
            "{e}"
        );
        let e = error("[[node]]\nid = 3\nlabels = {}\n[[node]]\nid = 3\nlabels = {}\n");
        assert!(
            e.starts_with("rw.toml:5:6: node[1].id: node 3 is labelled twice"),
            "{e}"
        );
        let e =
            error("[[inhibit]]\nsource_matchers = [\"metric=~(\"]\ntarget_matchers = [\"a=b\"]\n");
        assert!(
            e.starts_with("rw.toml:2:19: inhibit[0].source_matchers:") && e.contains("not a regex"),
            "{e}"
        );
        let e = error("[[inhibit]]\nsource_matchers = [\"a=b\"]\ntarget_matchers = []\n");
        assert!(e.contains("inhibit[0].target_matchers: empty"), "{e}");
        let e = error(
            "[[maintenance]]\nname = \"w\"\nmatchers = [\"rack=r2\"]\nschedule = \"0 22 * * *\"\n",
        );
        assert!(e.contains("give either `schedule` and `duration`"), "{e}");
        let e = error(
            "[[maintenance]]\nname = \"w\"\nmatchers = [\"rack=r2\"]\nstart = \"2026-12-05T22:00:00Z\"\nend = \"yesterday\"\n",
        );
        assert!(e.starts_with("rw.toml:5:7: maintenance[0].end:"), "{e}");
        let e = error("[[maintenance]]\nname = \"w\"\nmatchers = [\"rack=r2\"]\nschedule = \"0 22 * * *\"\nduration = \"8d\"\n");
        assert!(e.contains("maintenance[0].duration"), "{e}");
    }

    #[test]
    fn rules_labels_and_one_off_windows_load_and_show_back() {
        let text = r#"
[[node]]
id = 1
labels = { rack = "r1" }

[[inhibit]]
source_matchers = ["metric=power_feed"]
target_matchers = ["metric=~\".*temp.*\""]
equal = ["rack"]

[[maintenance]]
name = "power work"
matchers = ["rack=r1"]
start = "2026-12-05T22:00:00+01:00"
end = "2026-12-06T04:00:00+01:00"
"#;
        let config = Config::parse(Path::new("rw.toml"), text).unwrap();
        let o = &config.operator;
        assert_eq!(o.node_labels[&1]["rack"], "r1");
        assert_eq!(o.inhibit[0].name, "inhibit[0]");
        assert_eq!(o.inhibit[0].target_matchers[0].value, ".*temp.*");
        assert_eq!(o.maintenance[0].creator, "config");
        let shown = config.to_toml().unwrap();
        let again = Config::parse(Path::new("rw.toml"), &shown).unwrap();
        assert_eq!(again.operator, config.operator);
    }
}
