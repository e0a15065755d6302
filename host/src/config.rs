//! The configuration file: one TOML file with the store, the sources, the local source, the HTTP
//! endpoint and the host's rules. Every error names the file, the line and the key.
//!
//! Without a file, the defaults make a working setup: the local source (this machine's disks and
//! memory), history in `<data dir>/history.db`, the state endpoint on `127.0.0.1:9187`.
//!
//! ```toml
//! [store]
//! path = "/var/lib/rackwatch/history.db"
//! max_age = "30d"
//! max_size = "2GiB"
//!
//! [[source]]
//! spec = "serial:/dev/ttyACM0@115200"
//! name = "rack-a"
//!
//! [local]
//! mounts = ["/", "/var"]
//! processes = ["postgres"]
//! interval = "10s"
//!
//! [[rules]]
//! metric = "inlet_temperature"
//! rule.value.warning.above.raise = { value = 30.0, inclusive = false }
//! rule.value.critical.above.raise = { value = 35.0, inclusive = false }
//! rule.raise = { samples = 3, of_last = 5 }
//! ```

use crate::ingest::IngestSettings;
use crate::local::LocalSettings;
use crate::rules::{HostRules, RuleOverride};
use crate::source::{SourceKind, SourceSpec};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration error, located.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid, at a place in it.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
}

/// The file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    ingest: RawIngest,
    #[serde(default)]
    source: Vec<toml::Spanned<RawSource>>,
    #[serde(default)]
    local: RawLocal,
    #[serde(default)]
    http: RawHttp,
    #[serde(default)]
    rules: Vec<toml::Spanned<RuleOverride>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStore {
    path: Option<PathBuf>,
    max_age: Option<toml::Spanned<String>>,
    max_size: Option<toml::Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIngest {
    missed_heartbeats: Option<u32>,
    default_heartbeat: Option<toml::Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    spec: String,
    name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLocal {
    enabled: Option<bool>,
    node_id: Option<u16>,
    interval: Option<toml::Spanned<String>>,
    mounts: Option<Vec<PathBuf>>,
    processes: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    listen: Option<String>,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where it came from (`None`: the defaults).
    pub file: Option<PathBuf>,
    /// The history database.
    pub store_path: PathBuf,
    /// Retention by age.
    pub max_age: Option<Duration>,
    /// Retention by size, bytes.
    pub max_size: Option<u64>,
    /// Liveness settings.
    pub ingest: IngestSettings,
    /// Sources, the local one included when enabled.
    pub sources: Vec<SourceSpec>,
    /// The state endpoint's address; `None`: off.
    pub listen: Option<String>,
    /// The host's rules.
    pub rules: HostRules,
}

/// The directory rackwatch keeps its data in: `$RACKWATCH_DATA_DIR`, else
/// `$XDG_DATA_HOME/rackwatch`, else `~/.local/share/rackwatch`.
pub fn data_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("RACKWATCH_DATA_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("rackwatch")))
        .or_else(|| env("HOME").map(|h| h.join(".local/share/rackwatch")))
        .unwrap_or_else(|| PathBuf::from("rackwatch-data"))
}

/// The configuration file used when none is named: `$RACKWATCH_CONFIG`, else
/// `$XDG_CONFIG_HOME/rackwatch/rackwatch.toml` or `~/.config/rackwatch/rackwatch.toml` if it exists.
pub fn default_config_file() -> Option<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(path) = env("RACKWATCH_CONFIG") {
        return Some(path);
    }
    let dir = env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))?;
    Some(dir.join("rackwatch/rackwatch.toml")).filter(|p| p.exists())
}

/// `30d`, `12h`, `10m`, `5s`, `250ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| {
        format!("`{text}` is not a duration like `30d`, `12h`, `10m`, `5s` or `250ms`")
    })?;
    let seconds = match unit.trim() {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86_400.0,
        "w" => n * 7.0 * 86_400.0,
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit of time (ms, s, m, h, d, w)"
            ))
        }
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("`{text}` is out of range"))
}

/// `2GiB`, `500MB`, `64KiB`, `1000` (bytes).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size like `2GiB` or `500MB`"))?;
    let factor: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0f64.powi(4),
        other => {
            return Err(format!(
                "`{other}` in `{text}` is not a unit of size (B, KB, MB, GB, KiB, MiB, GiB, TiB)"
            ))
        }
    };
    Ok((n * factor) as u64)
}

fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

impl Config {
    /// The defaults: the local source, history in the data dir, the state endpoint on
    /// `127.0.0.1:9187`.
    pub fn defaults() -> Config {
        Config {
            file: None,
            store_path: data_dir().join("history.db"),
            max_age: Some(Duration::from_secs(30 * 86_400)),
            max_size: None,
            ingest: IngestSettings::default(),
            sources: vec![SourceSpec {
                name: "local".into(),
                kind: SourceKind::Local(LocalSettings::default()),
            }],
            listen: Some("127.0.0.1:9187".into()),
            rules: HostRules::default(),
        }
    }

    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(path, &text)
    }

    /// Validates `text`, the contents of `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let at = |offset: usize, message: String| {
            let (line, column) = position(text, offset);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            at(offset, e.message().trim().to_string())
        })?;
        fn spanned<T>(
            at: &dyn Fn(usize, String) -> ConfigError,
            value: &toml::Spanned<String>,
            key: &str,
            parse: fn(&str) -> Result<T, String>,
        ) -> Result<T, ConfigError> {
            parse(value.get_ref()).map_err(|m| at(value.span().start, format!("{key}: {m}")))
        }
        let spanned_duration = |v, key| spanned(&at, v, key, parse_duration);
        let mut config = Config::defaults();
        config.file = Some(path.to_path_buf());
        if let Some(p) = raw.store.path {
            config.store_path = p;
        }
        if let Some(v) = &raw.store.max_age {
            config.max_age = Some(spanned_duration(v, "store.max_age")?);
        }
        if let Some(v) = &raw.store.max_size {
            config.max_size = Some(spanned(&at, v, "store.max_size", parse_size)?);
        }
        if let Some(n) = raw.ingest.missed_heartbeats {
            config.ingest.missed_heartbeats = n.max(1);
        }
        if let Some(v) = &raw.ingest.default_heartbeat {
            let d = spanned_duration(v, "ingest.default_heartbeat")?;
            config.ingest.default_heartbeat_ms = d.as_millis().max(1) as u64;
        }
        let mut sources = Vec::new();
        for (i, s) in raw.source.iter().enumerate() {
            let mut spec: SourceSpec = s
                .get_ref()
                .spec
                .parse()
                .map_err(|e| at(s.span().start, format!("source[{i}].spec: {e}")))?;
            if let Some(name) = &s.get_ref().name {
                spec.name = name.clone();
            }
            sources.push(spec);
        }
        let mut local = LocalSettings::default();
        if let Some(id) = raw.local.node_id {
            local.node_id = id;
        }
        if let Some(v) = &raw.local.interval {
            local.interval = spanned_duration(v, "local.interval")?.max(Duration::from_millis(100));
        }
        if let Some(m) = raw.local.mounts {
            local.mounts = m;
        }
        if let Some(p) = raw.local.processes {
            local.processes = p;
        }
        if raw.local.enabled.unwrap_or(true) {
            sources.push(SourceSpec {
                name: "local".into(),
                kind: SourceKind::Local(local),
            });
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, s) in sources.iter().enumerate() {
            if !names.insert(s.name.clone()) {
                let offset = raw.source.get(i).map_or(0, |r| r.span().start);
                return Err(at(
                    offset,
                    format!(
                        "source[{i}]: the name `{}` is used twice; give one a `name`",
                        s.name
                    ),
                ));
            }
        }
        config.sources = sources;
        match raw.http.listen.as_deref() {
            Some("" | "none" | "off") => config.listen = None,
            Some(addr) => config.listen = Some(addr.to_string()),
            None => {}
        }
        for (i, r) in raw.rules.iter().enumerate() {
            if let Some(rule) = &r.get_ref().rule {
                rule.check().map_err(|e| {
                    at(
                        r.span().start,
                        format!("rules[{i}] (metric `{}`): {e}", r.get_ref().metric),
                    )
                })?;
            }
        }
        config.rules = HostRules::new(raw.rules.into_iter().map(|r| r.into_inner()).collect());
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("rackwatch.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_full_file_parses() {
        let c = parse(
            r#"
[store]
path = "/tmp/h.db"
max_age = "7d"
max_size = "1GiB"

[[source]]
spec = "serial:/dev/ttyACM0@115200"
name = "rack-a"

[[source]]
spec = "tcp:10.0.0.5:4000"

[local]
mounts = ["/", "/var"]
interval = "30s"

[http]
listen = "none"

[[rules]]
metric = "inlet_temperature"
rule.value.warning.above.raise = { value = 30.0, inclusive = false }
rule.raise = { samples = 3, of_last = 5 }
"#,
        )
        .unwrap();
        assert_eq!(c.store_path, PathBuf::from("/tmp/h.db"));
        assert_eq!(c.max_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(c.max_size, Some(1 << 30));
        let names: Vec<_> = c.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["rack-a", "tcp:10.0.0.5:4000", "local"]);
        assert_eq!(c.listen, None);
    }

    #[test]
    fn errors_name_the_file_line_and_key() {
        let e = parse("[store]\nmax_age = \"7 fortnights\"\n").unwrap_err();
        assert!(e.starts_with("rackwatch.toml:2:11: store.max_age:"), "{e}");
        let e = parse("[local]\nmounts = [\"/\"]\nintervall = \"5s\"\n").unwrap_err();
        assert!(
            e.starts_with("rackwatch.toml:3:1:") && e.contains("intervall"),
            "{e}"
        );
        let e = parse("[[source]]\nspec = \"ftp:x\"\n").unwrap_err();
        assert!(
            e.starts_with("rackwatch.toml:1:1: source[0].spec:") && e.contains("unknown source"),
            "{e}"
        );
        let e = parse("[[rules]]\nmetric = \"t\"\nrule.raise = { samples = 6, of_last = 5 }\n")
            .unwrap_err();
        assert!(
            e.starts_with("rackwatch.toml:1:1: rules[0] (metric `t`): rule field `raise`"),
            "{e}"
        );
        let e =
            parse("[[rules]]\nmetric = \"t\"\nrule.value.warning.above.raise = { value = 1 }\n")
                .unwrap_err();
        assert!(e.contains("inclusive"), "{e}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_size("500MB"), Ok(500_000_000));
        assert!(parse_size("5 parsecs").unwrap_err().contains("parsecs"));
    }
}
