//! The delivery sinks as configured (`[[sink]]` tables): what each one sends, where, and how hard
//! it tries. Parsed and checked by `config::sinks`; started by [`super::delivery`].
//!
//! Invariants: a [`SinkSpec`] that exists is valid: its URL is an `http://` URL with a host, its
//! argv has a program, its timeouts and bounds lie within the limits below, its name is unique and
//! not `history`. The checks live here, next to the types, so the parser and the tests share them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// The shortest timeout of one delivery: below it a healthy receiver fails.
pub const MIN_TIMEOUT: Duration = Duration::from_millis(100);
/// The longest timeout of one delivery: beyond it a hung receiver holds the queue for too long.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(3600);
/// The most transitions one sink's outbox may hold.
pub const MAX_PENDING: u64 = 1_000_000;
/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The most arguments of a command.
pub const MAX_ARGV: usize = 256;
/// The most static labels of an Alertmanager sink.
pub const MAX_LABELS: usize = 64;
/// Labels rackwatch sets itself on every alert: a static label may not replace them.
pub const OWN_LABELS: [&str; 5] = ["alertname", "node", "metric", "severity", "origin"];

/// One configured delivery sink.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkSpec {
    /// Its name: in logs, in `/state`'s sink list and in the outbox.
    pub name: String,
    /// What it sends, where.
    pub kind: SinkKind,
    /// How it delivers.
    pub delivery: DeliverySettings,
}

/// How hard a sink tries.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliverySettings {
    /// The most transitions held in the outbox; beyond it the oldest are dropped and counted.
    pub max_pending: u64,
    /// The longest one delivery may take, connection included; a command is killed at it.
    pub timeout: Duration,
    /// The longest wait between two attempts (the backoff doubles up to it).
    pub retry_max: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            max_pending: 10_000,
            timeout: Duration::from_secs(10),
            retry_max: Duration::from_secs(300),
        }
    }
}

/// The kinds of sink.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkKind {
    /// A JSON POST per transition.
    Webhook(WebhookSettings),
    /// A program run per transition.
    Command(CommandSettings),
    /// Alerts posted to Alertmanager's API v2.
    Alertmanager(AlertmanagerSettings),
}

impl SinkKind {
    /// The kind as the file names it.
    pub const fn name(&self) -> &'static str {
        match self {
            SinkKind::Webhook(_) => "webhook",
            SinkKind::Command(_) => "command",
            SinkKind::Alertmanager(_) => "alertmanager",
        }
    }
}

/// A webhook receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// Where to POST.
    pub url: HttpUrl,
    /// The longest wait for the connection.
    pub connect_timeout: Duration,
    /// The HMAC-SHA256 key that signs each body, if any.
    pub secret: Option<Secret>,
}

/// A program run per transition.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandSettings {
    /// The program and its arguments; never a shell string.
    pub argv: Vec<String>,
}

/// An Alertmanager.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerSettings {
    /// Its base URL (`http://127.0.0.1:9093`); alerts go to `<url>/api/v2/alerts`.
    pub url: HttpUrl,
    /// The longest wait for the connection.
    pub connect_timeout: Duration,
    /// Labels added to every alert (`rack`, `host`, ...).
    pub labels: BTreeMap<String, String>,
    /// How often firing alerts are sent again: shorter than Alertmanager's `resolve_timeout`.
    pub resend: Duration,
    /// The link to the daemon's `/state` in each alert; `None`: derived from `http.listen`.
    pub state_url: Option<String>,
}

/// Where a webhook's signing key comes from: never needs to sit in the TOML.
#[derive(Debug, Clone, PartialEq)]
pub enum Secret {
    /// Written in the file.
    Inline(String),
    /// The first line of a file.
    File(PathBuf),
    /// An environment variable of the daemon.
    Env(String),
}

impl Secret {
    /// The key's bytes, read now: a missing file or variable is an error naming it.
    pub fn read(&self) -> Result<Vec<u8>, String> {
        let key = match self {
            Secret::Inline(text) => text.clone(),
            Secret::File(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
            Secret::Env(var) => std::env::var(var).map_err(|_| {
                format!("the environment variable {var} (the sink's secret_env) is not set")
            })?,
        };
        if key.is_empty() {
            return Err("the signing secret is empty".into());
        }
        Ok(key.into_bytes())
    }
}

/// An `http://host:port/path` URL, checked: the only form the sinks speak (put a TLS proxy on the
/// same machine in front of an `https://` receiver).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    text: String,
    /// `host:port`, the port filled in.
    pub authority: String,
    /// The path and query, at least `/`.
    pub path: String,
}

impl HttpUrl {
    /// `text` checked as an `http://` URL.
    pub fn parse(text: &str) -> Result<HttpUrl, String> {
        if text.len() > MAX_URL_LEN {
            return Err(format!(
                "a URL of {} bytes is too long (at most {MAX_URL_LEN})",
                text.len()
            ));
        }
        let uri: hyper::Uri = text
            .parse()
            .map_err(|_| format!("`{text}` is not a URL like `http://127.0.0.1:9093/path`"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(format!(
                    "`{text}`: https is not spoken here; point the sink at a local TLS proxy \
                     (`http://127.0.0.1:PORT/...`)"
                ))
            }
            _ => return Err(format!("`{text}` is not an http:// URL")),
        }
        let authority = uri
            .authority()
            .filter(|a| !a.host().is_empty())
            .ok_or_else(|| format!("`{text}` names no host"))?;
        if authority.as_str().contains('@') {
            return Err(format!(
                "`{text}`: credentials in the URL are not supported"
            ));
        }
        let after_host = &authority.as_str()[authority.host().len()..];
        let port = match after_host.strip_prefix(':') {
            None | Some("") => 80,
            Some(digits) => digits
                .parse::<u16>()
                .map_err(|_| format!("`{text}`: `{digits}` is not a port (1 to 65535)"))?,
        };
        if port == 0 {
            return Err(format!("`{text}`: port 0 is not a port to send to"));
        }
        Ok(HttpUrl {
            text: text.to_string(),
            authority: format!("{}:{port}", authority.host()),
            path: uri
                .path_and_query()
                .map_or_else(|| "/".into(), |p| p.as_str().to_string()),
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// This URL with `suffix` appended to its path (`/api/v2/alerts`).
    pub fn join(&self, suffix: &str) -> HttpUrl {
        let base = self.path.trim_end_matches('/');
        HttpUrl {
            text: format!("{}{suffix}", self.text.trim_end_matches('/')),
            authority: self.authority.clone(),
            path: format!("{base}{suffix}"),
        }
    }
}

/// A sink's name: letters, digits, `-`, `_`, `.`; at most 64; not `history`.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a sink's name has 1 to 64 characters".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}` may hold only letters, digits, `-`, `_` and `.`"
        ));
    }
    if name == "history" {
        return Err("`history` is the history sink's own name; choose another".into());
    }
    Ok(())
}

/// A command's argv: a program, no NUL bytes, at most [`MAX_ARGV`] arguments.
pub fn check_argv(argv: &[String]) -> Result<(), String> {
    match argv.first() {
        None => return Err("the command is empty; give the program and its arguments".into()),
        Some(program) if program.trim().is_empty() => {
            return Err("the program (argv[0]) is empty".into())
        }
        Some(_) => {}
    }
    if argv.len() > MAX_ARGV {
        return Err(format!("{} arguments, more than {MAX_ARGV}", argv.len()));
    }
    if let Some(i) = argv.iter().position(|a| a.contains('\0')) {
        return Err(format!("argv[{i}] holds a NUL byte"));
    }
    Ok(())
}

/// Static labels: Prometheus label names, none of rackwatch's own, values of at most 1 KiB.
pub fn check_labels(labels: &BTreeMap<String, String>) -> Result<(), String> {
    if labels.len() > MAX_LABELS {
        return Err(format!("{} labels, more than {MAX_LABELS}", labels.len()));
    }
    for (name, value) in labels {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || name.starts_with("__") {
            return Err(format!(
                "`{name}` is not a label name (a letter or `_`, then letters, digits, `_`)"
            ));
        }
        if OWN_LABELS.contains(&name.as_str()) {
            return Err(format!(
                "`{name}` is set by rackwatch itself on every alert"
            ));
        }
        if value.is_empty() || value.len() > 1024 {
            return Err(format!("label `{name}`: a value has 1 to 1024 bytes"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_http_with_a_host() {
        let u = HttpUrl::parse("http://127.0.0.1:9093").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("127.0.0.1:9093", "/")
        );
        let j = u.join("/api/v2/alerts");
        assert_eq!(j.path, "/api/v2/alerts");
        assert_eq!(j.as_str(), "http://127.0.0.1:9093/api/v2/alerts");
        let u = HttpUrl::parse("http://hooks.example/a/b?x=1").unwrap();
        assert_eq!(
            (u.authority.as_str(), u.path.as_str()),
            ("hooks.example:80", "/a/b?x=1")
        );
        for bad in [
            "",
            "hooks.example/x",
            "ftp://a/",
            "https://a/",
            "http://",
            "http://u:p@a/",
            "http://a:0/",
            "http://a:99999/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(HttpUrl::parse(&format!("http://a/{}", "x".repeat(3000))).is_err());
    }

    #[test]
    fn names_argv_and_labels_are_checked() {
        assert!(check_name("ops-hook_1.a").is_ok());
        for bad in ["", "history", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert!(check_argv(&["/bin/true".into()]).is_ok());
        assert!(check_argv(&[]).is_err());
        assert!(check_argv(&[" ".into()]).is_err());
        assert!(check_argv(&["a".into(), "b\0".into()]).is_err());
        let labels = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(check_labels(&labels("rack", "r1")).is_ok());
        for (k, v) in [
            ("severity", "x"),
            ("1a", "x"),
            ("__x", "x"),
            ("a-b", "x"),
            ("rack", ""),
        ] {
            assert!(check_labels(&labels(k, v)).is_err(), "{k}={v}");
        }
    }
}
