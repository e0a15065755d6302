//! The `[[probe]]` tables: TCP, HTTP(S) and command probes, read into [`ProbeSpec`]s.
//!
//! Invariants: every error names the file, line and column of the offending value and the key as
//! `probe[i].key`; a probe has exactly one of `tcp`, `http`, `command`, and a key that belongs to
//! another kind is an error, not something ignored; names are unique and are valid virtual node
//! names ([`crate::push::check_node`]); [`raw_probe`] writes back what parses to the same spec.

use super::file::RawProbe;
use super::{format_duration, ConfigError, Locator};
use crate::probe::check::{Check, ExpectStatus, HttpCheck};
use crate::probe::{
    ProbeSpec, DEFAULT_INTERVAL, DEFAULT_TIMEOUT, MAX_INTERVAL, MAX_PROBES, MIN_INTERVAL,
};
use std::time::Duration;
use toml::Spanned;

/// The keys only an HTTP probe takes.
const HTTP_KEYS: [&str; 4] = ["status", "body_contains", "ca_file", "insecure"];

/// Every `[[probe]]`, checked.
pub(super) fn probes(
    raw: &[Spanned<RawProbe>],
    at: &Locator,
) -> Result<Vec<ProbeSpec>, ConfigError> {
    if raw.len() > MAX_PROBES {
        return Err(at.error(
            raw[MAX_PROBES].span().start,
            format!(
                "probe[{MAX_PROBES}]: at most {MAX_PROBES} probes; run another daemon for more"
            ),
        ));
    }
    let mut specs: Vec<ProbeSpec> = Vec::new();
    let mut errors = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        match probe(i, p, at) {
            Ok(spec) if specs.iter().any(|s| s.name == spec.name) => errors.push(at.error(
                p.get_ref().name.span().start,
                format!("probe[{i}].name: `{}` is used twice", spec.name),
            )),
            Ok(spec) => specs.push(spec),
            Err(e) => errors.push(e),
        }
    }
    ConfigError::all(errors)?;
    Ok(specs)
}

/// One `[[probe]]`.
fn probe(i: usize, p: &Spanned<RawProbe>, at: &Locator) -> Result<ProbeSpec, ConfigError> {
    let raw = p.get_ref();
    let key = |k: &str| format!("probe[{i}].{k}");
    let name = crate::push::check_node(raw.name.get_ref())
        .map_err(|m| at.error(raw.name.span().start, format!("{}: {m}", key("name"))))?;
    let check = check(i, p, at)?;
    let interval = match &raw.interval {
        Some(v) => bounded(v, &key("interval"), MIN_INTERVAL, at)?,
        None => DEFAULT_INTERVAL,
    };
    let timeout = match &raw.timeout {
        Some(v) => {
            let d = bounded(v, &key("timeout"), Duration::from_millis(1), at)?;
            if d > interval {
                return Err(at.error(
                    v.span().start,
                    format!(
                        "{}: {} is longer than the interval, {}; a round must end before the \
                         next begins",
                        key("timeout"),
                        v.get_ref(),
                        format_duration(interval)
                    ),
                ));
            }
            d
        }
        None => DEFAULT_TIMEOUT.min(interval),
    };
    let latency = |v: &Option<Spanned<String>>, k: &str| {
        v.as_ref()
            .map(|v| bounded(v, &key(k), Duration::from_nanos(1), at))
            .transpose()
    };
    let warn_latency = latency(&raw.warn_latency, "warn_latency")?;
    let crit_latency = latency(&raw.crit_latency, "crit_latency")?;
    if let (Some(w), Some(c), Some(v)) = (warn_latency, crit_latency, &raw.crit_latency) {
        if c < w {
            return Err(at.error(
                v.span().start,
                format!(
                    "{}: {} is below warn_latency, {}; CRITICAL must be at or beyond WARNING",
                    key("crit_latency"),
                    v.get_ref(),
                    format_duration(w)
                ),
            ));
        }
    }
    let unit = unit(i, raw, &check, at)?;
    Ok(ProbeSpec {
        name,
        check,
        interval,
        timeout,
        warn_latency,
        crit_latency,
        unit,
    })
}

/// A duration from `least` to [`MAX_INTERVAL`].
fn bounded(
    value: &Spanned<String>,
    key: &str,
    least: Duration,
    at: &Locator,
) -> Result<Duration, ConfigError> {
    let d = at.duration(value, key, MAX_INTERVAL)?;
    if d < least {
        return Err(at.error(
            value.span().start,
            format!(
                "{key}: {} is shorter than the least it may be, {}",
                value.get_ref(),
                format_duration(least)
            ),
        ));
    }
    Ok(d)
}

/// The one check the probe names, with its kind's keys.
fn check(i: usize, p: &Spanned<RawProbe>, at: &Locator) -> Result<Check, ConfigError> {
    let raw = p.get_ref();
    let named = [
        raw.tcp.as_ref().map(|v| v.span().start),
        raw.http.as_ref().map(|v| v.span().start),
        raw.command.as_ref().map(|v| v.span().start),
    ];
    match named.iter().flatten().count() {
        1 => {}
        0 => {
            return Err(at.error(
                p.span().start,
                format!(
                    "probe[{i}]: say what it checks: `tcp = \"host:port\"`, `http = \
                     \"https://...\"` or `command = [\"program\", \"arg\"]`"
                ),
            ))
        }
        _ => {
            let second = named.iter().flatten().nth(1).copied().unwrap_or(0);
            return Err(at.error(
                second,
                format!("probe[{i}]: one probe checks one thing: keep one of tcp, http, command"),
            ));
        }
    }
    if raw.http.is_none() {
        refuse_http_keys(i, raw, at)?;
    }
    if let Some(address) = &raw.tcp {
        return tcp(i, address, at).map(Check::Tcp);
    }
    if let Some(url) = &raw.http {
        return http(i, url, raw, at).map(Check::Http);
    }
    let argv = raw.command.as_ref().expect("counted above");
    if argv.get_ref().first().is_none_or(|p| p.is_empty()) {
        return Err(at.error(
            argv.span().start,
            format!(
                "probe[{i}].command: name the program first: `command = [\"sh\", \"-c\", \
                 \"...\"]`"
            ),
        ));
    }
    Ok(Check::Command(argv.get_ref().clone()))
}

/// `status`, `body_contains`, `ca_file` and `insecure` outside an HTTP probe.
fn refuse_http_keys(i: usize, raw: &RawProbe, at: &Locator) -> Result<(), ConfigError> {
    let present = [
        raw.status.as_ref().map(|v| v.span().start),
        raw.body_contains.as_ref().map(|v| v.span().start),
        raw.ca_file.as_ref().map(|v| v.span().start),
        raw.insecure.as_ref().map(|v| v.span().start),
    ];
    for (key, offset) in HTTP_KEYS.iter().zip(present) {
        if let Some(offset) = offset {
            return Err(at.error(
                offset,
                format!("probe[{i}].{key}: only an `http` probe takes `{key}`"),
            ));
        }
    }
    Ok(())
}

/// `host:port`, the port a number from 1.
fn tcp(i: usize, address: &Spanned<String>, at: &Locator) -> Result<String, ConfigError> {
    let text = address.get_ref().trim();
    let port = text
        .rsplit_once(':')
        .filter(|(host, _)| !host.is_empty())
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .filter(|port| *port != 0);
    match port {
        Some(_) => Ok(text.to_string()),
        None => Err(at.error(
            address.span().start,
            format!("probe[{i}].tcp: `{text}` is not `host:port` (`db.lan:5432`, `[::1]:22`)"),
        )),
    }
}

/// The URL and the HTTP keys.
fn http(
    i: usize,
    url: &Spanned<String>,
    raw: &RawProbe,
    at: &Locator,
) -> Result<HttpCheck, ConfigError> {
    let text = url.get_ref().trim();
    let uri: hyper::Uri = text.parse().map_err(|_| {
        at.error(
            url.span().start,
            format!("probe[{i}].http: `{text}` is not a URL like `https://example.lan/health`"),
        )
    })?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(at.error(
                url.span().start,
                format!("probe[{i}].http: `{text}` is neither an http:// nor an https:// URL"),
            ))
        }
    };
    if uri.host().is_none_or(str::is_empty) {
        return Err(at.error(
            url.span().start,
            format!("probe[{i}].http: `{text}` names no host"),
        ));
    }
    let tls_key = [
        ("ca_file", raw.ca_file.as_ref().map(|v| v.span().start)),
        ("insecure", raw.insecure.as_ref().map(|v| v.span().start)),
    ];
    for (key, offset) in tls_key {
        if let (Some(offset), false) = (offset, https) {
            return Err(at.error(
                offset,
                format!("probe[{i}].{key}: only an https:// URL has a certificate to check"),
            ));
        }
    }
    if let Some(path) = raw
        .ca_file
        .as_ref()
        .filter(|p| p.get_ref().as_os_str().is_empty())
    {
        return Err(at.error(
            path.span().start,
            format!("probe[{i}].ca_file: the path is empty; name a PEM file of certificates"),
        ));
    }
    Ok(HttpCheck {
        url: text.to_string(),
        status: status(i, raw, at)?,
        body_contains: body_contains(i, raw, at)?,
        ca_file: raw.ca_file.as_ref().map(|p| p.get_ref().clone()),
        insecure: raw.insecure.as_ref().is_some_and(|v| *v.get_ref()),
    })
}

fn status(i: usize, raw: &RawProbe, at: &Locator) -> Result<ExpectStatus, ConfigError> {
    let Some(v) = &raw.status else {
        return Ok(ExpectStatus::Success);
    };
    match u16::try_from(*v.get_ref()) {
        Ok(code) if (100..=599).contains(&code) => Ok(ExpectStatus::Exactly(code)),
        _ => Err(at.error(
            v.span().start,
            format!(
                "probe[{i}].status: {} is not an HTTP status (100 to 599); leave it out to \
                 accept any 2xx",
                v.get_ref()
            ),
        )),
    }
}

fn body_contains(i: usize, raw: &RawProbe, at: &Locator) -> Result<Option<String>, ConfigError> {
    match &raw.body_contains {
        Some(v) if v.get_ref().is_empty() => Err(at.error(
            v.span().start,
            format!("probe[{i}].body_contains: empty text is in every body; remove the key"),
        )),
        Some(v) => Ok(Some(v.get_ref().clone())),
        None => Ok(None),
    }
}

/// A command's value's unit (the wire's unit rules); only a command has a value.
fn unit(i: usize, raw: &RawProbe, check: &Check, at: &Locator) -> Result<String, ConfigError> {
    let Some(v) = &raw.unit else {
        return Ok(String::new());
    };
    if !matches!(check, Check::Command(_)) {
        return Err(at.error(
            v.span().start,
            format!(
                "probe[{i}].unit: only a `command` probe has a value with a unit (latency is in \
                 seconds)"
            ),
        ));
    }
    crate::push::check_unit(v.get_ref())
        .map_err(|m| at.error(v.span().start, format!("probe[{i}].unit: {m}")))
}

/// `spec` as the table that parses back to it.
pub(super) fn raw_probe(spec: &ProbeSpec) -> RawProbe {
    let text = |d: Duration| Spanned::new(0..0, format_duration(d));
    let mut raw = RawProbe {
        name: Spanned::new(0..0, spec.name.clone()),
        tcp: None,
        http: None,
        command: None,
        interval: Some(text(spec.interval)),
        timeout: Some(text(spec.timeout)),
        status: None,
        body_contains: None,
        ca_file: None,
        insecure: None,
        warn_latency: spec.warn_latency.map(text),
        crit_latency: spec.crit_latency.map(text),
        unit: None,
    };
    match &spec.check {
        Check::Tcp(address) => raw.tcp = Some(Spanned::new(0..0, address.clone())),
        Check::Command(argv) => {
            raw.command = Some(Spanned::new(0..0, argv.clone()));
            raw.unit = Some(Spanned::new(0..0, spec.unit.clone()));
        }
        Check::Http(http) => {
            raw.http = Some(Spanned::new(0..0, http.url.clone()));
            if let ExpectStatus::Exactly(code) = http.status {
                raw.status = Some(Spanned::new(0..0, u64::from(code)));
            }
            raw.body_contains = http.body_contains.clone().map(|b| Spanned::new(0..0, b));
            raw.ca_file = http.ca_file.clone().map(|p| Spanned::new(0..0, p));
            raw.insecure = Some(Spanned::new(0..0, http.insecure));
        }
    }
    raw
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::probe::check::{Check, ExpectStatus};
    use std::path::Path;
    use std::time::Duration;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("rw.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn each_kind_loads_with_its_defaults_and_shows_back_equal() {
        let config = parse(
            "[[probe]]\nname = \"db\"\ntcp = \"db.lan:5432\"\n\
             [[probe]]\nname = \"web\"\nhttp = \"https://web.lan/health\"\nbody_contains = \"ok\"\n\
             ca_file = \"/etc/ca.pem\"\ninterval = \"10s\"\nwarn_latency = \"250ms\"\n\
             crit_latency = \"2s\"\n\
             [[probe]]\nname = \"queue\"\ncommand = [\"sh\", \"-c\", \"echo 3\"]\nunit = \"jobs\"\n",
        )
        .unwrap();
        let [db, web, queue] = &config.probes[..] else {
            panic!("three probes")
        };
        assert_eq!(db.check, Check::Tcp("db.lan:5432".into()));
        assert_eq!(
            (db.interval, db.timeout),
            (Duration::from_secs(30), Duration::from_secs(5))
        );
        let Check::Http(http) = &web.check else {
            panic!()
        };
        assert_eq!(http.status, ExpectStatus::Success);
        assert_eq!(http.body_contains.as_deref(), Some("ok"));
        assert_eq!(web.warn_latency, Some(Duration::from_millis(250)));
        assert_eq!(queue.unit, "jobs");
        let shown = config.to_toml().unwrap();
        let again = Config::parse(Path::new("rw.toml"), &shown).unwrap();
        assert_eq!(again.probes, config.probes);
    }

    #[test]
    fn mistakes_are_located_and_say_what_to_do() {
        let cases = [
            ("[[probe]]\nname = \"a\"\n", "rw.toml:1:1: probe[0]: say what it checks"),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\nhttp = \"http://a/\"\n",
                "rw.toml:4:8: probe[0]: one probe checks one thing",
            ),
            ("[[probe]]\nname = \"a\"\ntcp = \"nohost\"\n", "rw.toml:3:7: probe[0].tcp:"),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\nbody_contains = \"x\"\n",
                "rw.toml:4:17: probe[0].body_contains: only an `http` probe",
            ),
            (
                "[[probe]]\nname = \"a\"\nhttp = \"http://a/\"\ninsecure = true\n",
                "rw.toml:4:12: probe[0].insecure: only an https:// URL",
            ),
            (
                "[[probe]]\nname = \"a b\"\ntcp = \"a:1\"\n",
                "rw.toml:2:8: probe[0].name: node name `a b`",
            ),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\ninterval = \"1s\"\ntimeout = \"5s\"\n",
                "rw.toml:5:11: probe[0].timeout: 5s is longer than the interval",
            ),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\nwarn_latency = \"2s\"\ncrit_latency = \"1s\"\n",
                "rw.toml:5:16: probe[0].crit_latency: 1s is below warn_latency",
            ),
            (
                "[[probe]]\nname = \"a\"\nhttp = \"https://a/\"\nstatus = 99\n",
                "rw.toml:4:10: probe[0].status: 99 is not an HTTP status",
            ),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\nunit = \"ms\"\n",
                "rw.toml:4:8: probe[0].unit: only a `command` probe",
            ),
            (
                "[[probe]]\nname = \"a\"\ncommand = []\n",
                "rw.toml:3:11: probe[0].command: name the program first",
            ),
            (
                "[[probe]]\nname = \"a\"\ntcp = \"a:1\"\n[[probe]]\nname = \"a\"\ntcp = \"b:1\"\n",
                "rw.toml:5:8: probe[1].name: `a` is used twice",
            ),
        ];
        for (text, expected) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.starts_with(expected), "{text}\n{e}\nexpected: {expected}");
        }
        // The probes' source name is the daemon's: a board's source may not claim it.
        let e = parse("[[source]]\nspec = \"tcp:a:1\"\nname = \"probes\"\n").unwrap_err();
        assert!(
            e.contains("source[0]: the name `probes` is the daemon's own"),
            "{e}"
        );
    }
}
