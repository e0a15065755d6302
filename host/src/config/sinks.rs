//! The `[[sink]]` tables: webhooks, commands and Alertmanagers, read into [`SinkSpec`]s.
//!
//! Invariants: every error names the file, line and column of the offending value and the key as
//! `sink[i].key`; a key that belongs to another kind of sink is an error (a `url` on a command
//! sink is a mistake, not something to ignore); names are unique; every value is checked by the
//! same functions the sinks' own tests use ([`crate::sink::spec`]).

use super::file::RawSink;
use super::{format_duration, ConfigError, Locator};
use crate::sink::spec::{
    self, AlertmanagerSettings, CommandSettings, DeliverySettings, HttpUrl, Secret, SinkKind,
    SinkSpec, WebhookSettings, MAX_PENDING, MAX_RETRY, MAX_TIMEOUT, MIN_TIMEOUT,
};
use std::time::Duration;
use toml::Spanned;

/// The default connection timeout, shortened to the total timeout when that is shorter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How often Alertmanager hears of a firing alert again by default: well inside its default
/// `resolve_timeout` of 5 minutes.
const RESEND: Duration = Duration::from_secs(60);
/// The shortest retry cap: retrying more often than every second is hammering.
const MIN_RETRY: Duration = Duration::from_secs(1);
/// The bounds of the resend interval.
const RESEND_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

/// Which keys each kind takes, besides the common ones.
const KIND_KEYS: [(&str, &[&str]); 3] = [
    (
        "webhook",
        &[
            "url",
            "secret",
            "secret_file",
            "secret_env",
            "connect_timeout",
        ],
    ),
    ("command", &["argv"]),
    (
        "alertmanager",
        &["url", "labels", "resend", "state_url", "connect_timeout"],
    ),
];

/// Every `[[sink]]`, checked.
pub(super) fn sinks(raw: &[Spanned<RawSink>], at: &Locator) -> Result<Vec<SinkSpec>, ConfigError> {
    let mut specs: Vec<SinkSpec> = Vec::new();
    let mut errors = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        let spec = match sink(i, s.get_ref(), at) {
            Ok(spec) => spec,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if specs.iter().any(|other| other.name == spec.name) {
            let name = &s.get_ref().name;
            errors.push(at.error(
                name.span().start,
                format!("sink[{i}].name: `{}` is used twice", spec.name),
            ));
        }
        specs.push(spec);
    }
    ConfigError::all(errors)?;
    Ok(specs)
}

/// One `[[sink]]`.
fn sink(i: usize, raw: &RawSink, at: &Locator) -> Result<SinkSpec, ConfigError> {
    let key = |k: &str| format!("sink[{i}].{k}");
    spec::check_name(raw.name.get_ref())
        .map_err(|m| at.error(raw.name.span().start, format!("{}: {m}", key("name"))))?;
    let kind_name = raw.kind.get_ref().as_str();
    let Some((_, allowed)) = KIND_KEYS.iter().find(|(k, _)| *k == kind_name) else {
        return Err(at.error(
            raw.kind.span().start,
            format!(
                "{}: `{kind_name}` is not a kind of sink; one of webhook, command, alertmanager",
                key("kind")
            ),
        ));
    };
    refuse_foreign_keys(i, raw, kind_name, allowed, at)?;
    let kind = match kind_name {
        "webhook" => SinkKind::Webhook(webhook(i, raw, at)?),
        "command" => SinkKind::Command(command(i, raw, at)?),
        _ => SinkKind::Alertmanager(alertmanager(i, raw, at)?),
    };
    Ok(SinkSpec {
        name: raw.name.get_ref().clone(),
        kind,
        delivery: delivery(i, raw, at)?,
    })
}

/// The kind-specific keys present, with where they stand.
fn kind_keys_present(raw: &RawSink) -> [(&'static str, Option<usize>); 9] {
    [
        ("url", raw.url.as_ref().map(|v| v.span().start)),
        ("argv", raw.argv.as_ref().map(|v| v.span().start)),
        ("secret", raw.secret.as_ref().map(|v| v.span().start)),
        (
            "secret_file",
            raw.secret_file.as_ref().map(|v| v.span().start),
        ),
        (
            "secret_env",
            raw.secret_env.as_ref().map(|v| v.span().start),
        ),
        ("labels", raw.labels.as_ref().map(|v| v.span().start)),
        ("resend", raw.resend.as_ref().map(|v| v.span().start)),
        ("state_url", raw.state_url.as_ref().map(|v| v.span().start)),
        (
            "connect_timeout",
            raw.connect_timeout.as_ref().map(|v| v.span().start),
        ),
    ]
}

fn refuse_foreign_keys(
    i: usize,
    raw: &RawSink,
    kind: &str,
    allowed: &[&str],
    at: &Locator,
) -> Result<(), ConfigError> {
    for (key, offset) in kind_keys_present(raw) {
        if let (Some(offset), false) = (offset, allowed.contains(&key)) {
            return Err(at.error(
                offset,
                format!(
                    "sink[{i}].{key}: {kind} sinks have no `{key}`; their keys are {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A required key's value, or an error at the sink's `kind` naming it.
fn required<'a, T>(
    value: &'a Option<Spanned<T>>,
    i: usize,
    key: &str,
    raw: &RawSink,
    at: &Locator,
) -> Result<&'a Spanned<T>, ConfigError> {
    value.as_ref().ok_or_else(|| {
        at.error(
            raw.kind.span().start,
            format!(
                "sink[{i}].{key}: a {} sink needs `{key}`",
                raw.kind.get_ref()
            ),
        )
    })
}

fn url(i: usize, raw: &RawSink, at: &Locator) -> Result<HttpUrl, ConfigError> {
    let url = required(&raw.url, i, "url", raw, at)?;
    HttpUrl::parse(url.get_ref())
        .map_err(|m| at.error(url.span().start, format!("sink[{i}].url: {m}")))
}

/// A timeout within [`MIN_TIMEOUT`]..=[`MAX_TIMEOUT`].
fn timeout(value: &Spanned<String>, key: &str, at: &Locator) -> Result<Duration, ConfigError> {
    let d = at.duration(value, key, MAX_TIMEOUT)?;
    if d < MIN_TIMEOUT {
        return Err(at.error(
            value.span().start,
            format!(
                "{key}: {} is shorter than the least it may be, {}",
                value.get_ref(),
                format_duration(MIN_TIMEOUT)
            ),
        ));
    }
    Ok(d)
}

fn connect_timeout(i: usize, raw: &RawSink, at: &Locator) -> Result<Duration, ConfigError> {
    let total = delivery(i, raw, at)?.timeout;
    match &raw.connect_timeout {
        None => Ok(CONNECT_TIMEOUT.min(total)),
        Some(v) => {
            let key = format!("sink[{i}].connect_timeout");
            let d = timeout(v, &key, at)?;
            if d > total {
                return Err(at.error(
                    v.span().start,
                    format!(
                        "{key}: {} is longer than the sink's whole timeout, {}",
                        v.get_ref(),
                        format_duration(total)
                    ),
                ));
            }
            Ok(d)
        }
    }
}

fn webhook(i: usize, raw: &RawSink, at: &Locator) -> Result<WebhookSettings, ConfigError> {
    let mut secrets = Vec::new();
    if let Some(s) = &raw.secret {
        secrets.push((s.span().start, Secret::Inline(s.get_ref().clone())));
    }
    if let Some(s) = &raw.secret_file {
        secrets.push((s.span().start, Secret::File(s.get_ref().clone())));
    }
    if let Some(s) = &raw.secret_env {
        secrets.push((s.span().start, Secret::Env(s.get_ref().clone())));
    }
    if let Some((offset, _)) = secrets.get(1) {
        return Err(at.error(
            *offset,
            format!("sink[{i}]: give one of secret, secret_file, secret_env, not several"),
        ));
    }
    let secret = secrets.pop().map(|(_, s)| s);
    let empty = match &secret {
        Some(Secret::Inline(s) | Secret::Env(s)) => s.is_empty(),
        Some(Secret::File(p)) => p.as_os_str().is_empty(),
        None => false,
    };
    if empty {
        return Err(at.error(
            raw.kind.span().start,
            format!("sink[{i}]: the secret is empty; remove it or give one"),
        ));
    }
    Ok(WebhookSettings {
        url: url(i, raw, at)?,
        connect_timeout: connect_timeout(i, raw, at)?,
        secret,
    })
}

fn command(i: usize, raw: &RawSink, at: &Locator) -> Result<CommandSettings, ConfigError> {
    let argv = required(&raw.argv, i, "argv", raw, at)?;
    spec::check_argv(argv.get_ref())
        .map_err(|m| at.error(argv.span().start, format!("sink[{i}].argv: {m}")))?;
    Ok(CommandSettings {
        argv: argv.get_ref().clone(),
    })
}

fn alertmanager(
    i: usize,
    raw: &RawSink,
    at: &Locator,
) -> Result<AlertmanagerSettings, ConfigError> {
    let labels = match &raw.labels {
        Some(l) => {
            spec::check_labels(l.get_ref())
                .map_err(|m| at.error(l.span().start, format!("sink[{i}].labels: {m}")))?;
            l.get_ref().clone()
        }
        None => Default::default(),
    };
    let resend = match &raw.resend {
        None => RESEND,
        Some(v) => {
            let key = format!("sink[{i}].resend");
            let d = at.duration(v, &key, RESEND_RANGE.1)?;
            if d < RESEND_RANGE.0 {
                return Err(at.error(
                    v.span().start,
                    format!("{key}: {} is shorter than 1s", v.get_ref()),
                ));
            }
            d
        }
    };
    let state_url = match &raw.state_url {
        Some(v) => {
            HttpUrl::parse(v.get_ref())
                .map_err(|m| at.error(v.span().start, format!("sink[{i}].state_url: {m}")))?;
            Some(v.get_ref().clone())
        }
        None => None,
    };
    Ok(AlertmanagerSettings {
        url: url(i, raw, at)?,
        connect_timeout: connect_timeout(i, raw, at)?,
        labels,
        resend,
        state_url,
    })
}

/// The common keys: `timeout`, `retry_max`, `max_pending`.
fn delivery(i: usize, raw: &RawSink, at: &Locator) -> Result<DeliverySettings, ConfigError> {
    let mut d = DeliverySettings::default();
    if let Some(v) = &raw.timeout {
        d.timeout = timeout(v, &format!("sink[{i}].timeout"), at)?;
    }
    if let Some(v) = &raw.retry_max {
        let key = format!("sink[{i}].retry_max");
        d.retry_max = at.duration(v, &key, MAX_RETRY)?;
        if d.retry_max < MIN_RETRY {
            return Err(at.error(
                v.span().start,
                format!("{key}: {} is shorter than 1s", v.get_ref()),
            ));
        }
    }
    if let Some(v) = &raw.max_pending {
        if !(1..=MAX_PENDING).contains(v.get_ref()) {
            return Err(at.error(
                v.span().start,
                format!(
                    "sink[{i}].max_pending: {} is outside 1 to {MAX_PENDING}",
                    v.get_ref()
                ),
            ));
        }
        d.max_pending = *v.get_ref();
    }
    Ok(d)
}

/// A sink written back as its table, every key filled in: `rackwatch config show`.
pub(super) fn raw_sink(spec: &SinkSpec) -> RawSink {
    let s = |v: String| Spanned::new(0..0, v);
    let d = &spec.delivery;
    let mut raw = RawSink {
        name: s(spec.name.clone()),
        kind: s(spec.kind.name().into()),
        url: None,
        argv: None,
        secret: None,
        secret_file: None,
        secret_env: None,
        labels: None,
        resend: None,
        state_url: None,
        timeout: Some(s(format_duration(d.timeout))),
        connect_timeout: None,
        retry_max: Some(s(format_duration(d.retry_max))),
        max_pending: Some(Spanned::new(0..0, d.max_pending)),
    };
    match &spec.kind {
        SinkKind::Webhook(w) => {
            raw.url = Some(s(w.url.as_str().into()));
            raw.connect_timeout = Some(s(format_duration(w.connect_timeout)));
            match &w.secret {
                Some(Secret::Inline(v)) => raw.secret = Some(s(v.clone())),
                Some(Secret::File(p)) => raw.secret_file = Some(Spanned::new(0..0, p.clone())),
                Some(Secret::Env(v)) => raw.secret_env = Some(s(v.clone())),
                None => {}
            }
        }
        SinkKind::Command(c) => raw.argv = Some(Spanned::new(0..0, c.argv.clone())),
        SinkKind::Alertmanager(a) => {
            raw.url = Some(s(a.url.as_str().into()));
            raw.connect_timeout = Some(s(format_duration(a.connect_timeout)));
            raw.labels = Some(Spanned::new(0..0, a.labels.clone()));
            raw.resend = Some(s(format_duration(a.resend)));
            raw.state_url = a.state_url.clone().map(s);
        }
    }
    raw
}
