//! The configuration file: one TOML file with the store, the sources, the local source, the HTTP
//! endpoint, the host's rules and the delivery sinks. Every key is described in `docs/configuration.md`, and
//! `host/rackwatch.example.toml` sets each one (a test keeps the two in step).
//!
//! Invariants: every error names the file, the line and the key; an unknown key is an error, never
//! ignored; a file sets only what it names, everything else keeps [`Config::defaults`]; and
//! [`Config::to_toml`] writes a file that parses back to an equal configuration.
//!
//! Without a file, the defaults make a working setup: the local source (this machine's disks and
//! memory), history in `<data dir>/history.db`, the state endpoint on `127.0.0.1:9187`.

mod file;
mod jobs;
mod operator;
mod probes;
mod push;
mod services;
mod show;
mod sinks;
#[cfg(test)]
mod tests;
mod units;

pub use push::{read_token, PushSettings};
pub use show::{framing, spec_text};
pub use units::{format_duration, format_size, parse_duration, parse_size};

use crate::ingest::IngestSettings;
use crate::local::LocalSettings;
use crate::node_log::ElfSettings;
use crate::operator::OperatorSettings;
use crate::probe::ProbeSpec;
use crate::rules::{HostRules, RuleOverride};
use crate::sink::spec::SinkSpec;
use crate::source::{SourceKind, SourceSpec};
use file::{RawConfig, RawIngest, RawLocal, RawLog, RawLogs, RawSource, RawStore};
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

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
    /// Several places in the file are wrong: each [`ConfigError::Invalid`] on a line of its own,
    /// in the order of the file, so that one edit fixes them all.
    #[error("{}", lines(.0))]
    Several(Vec<ConfigError>),
}

/// `N mistakes in the configuration:` then each on a line of its own.
fn lines(errors: &[ConfigError]) -> String {
    let mut text = format!("{} mistakes in the configuration:", errors.len());
    for e in errors {
        text.push_str("\n  ");
        text.push_str(&e.to_string());
    }
    text
}

impl ConfigError {
    /// `errors` as one result: none is `Ok`, one is itself, more are [`ConfigError::Several`]
    /// sorted by place (nested lists flattened).
    fn all(errors: Vec<ConfigError>) -> Result<(), ConfigError> {
        let mut flat: Vec<ConfigError> = errors
            .into_iter()
            .flat_map(|e| match e {
                ConfigError::Several(inner) => inner,
                other => vec![other],
            })
            .collect();
        flat.sort_by_key(|e| match e {
            ConfigError::Invalid { line, column, .. } => (*line, *column),
            _ => (0, 0),
        });
        match flat.len() {
            0 => Ok(()),
            1 => Err(flat.remove(0)),
            _ => Err(ConfigError::Several(flat)),
        }
    }
}

/// Keeps `result`'s value, or its error in `errors`: for checking every section of a file.
fn checked<T>(errors: &mut Vec<ConfigError>, result: Result<T, ConfigError>) -> Option<T> {
    result.map_err(|e| errors.push(e)).ok()
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
    /// History keeps a heartbeat whose counters did not change once per this much node time.
    pub heartbeat_every: Duration,
    /// Liveness settings.
    pub ingest: IngestSettings,
    /// Sources, the local one included when enabled.
    pub sources: Vec<SourceSpec>,
    /// The state endpoint's address; `None`: off.
    pub listen: Option<String>,
    /// The file holding the bearer token of the routes that accept data (`[http] token_file`).
    pub http_token_file: Option<PathBuf>,
    /// What `POST /push` accepts (`[push]`).
    pub push: PushSettings,
    /// The host's rules.
    pub rules: HostRules,
    /// The log filter (`info`, `debug`, `rackwatch=trace`, ...), unless `--log` or `RUST_LOG` name
    /// one.
    pub log_level: String,
    /// The firmware ELFs node logs decode with.
    pub node_logs: ElfSettings,
    /// The delivery sinks (`[[sink]]`): webhooks, commands, Alertmanagers.
    pub sinks: Vec<SinkSpec>,
    /// The batch jobs that check in (`[[job]]`).
    pub jobs: Vec<crate::jobs::JobSpec>,
    /// The probes (`[[probe]]`): TCP, HTTP(S) and command checks.
    pub probes: Vec<ProbeSpec>,
    /// Node labels, inhibition rules and maintenance windows (`[[node]]`, `[[inhibit]]`,
    /// `[[maintenance]]`).
    pub operator: OperatorSettings,
}

/// The log filter when nothing names one.
pub const DEFAULT_LOG_LEVEL: &str = "info";

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

/// The longest sampling or heartbeat interval: a day.
const MAX_INTERVAL: Duration = Duration::from_secs(86_400);
/// The longest history kept by age: a hundred years.
const MAX_AGE: Duration = Duration::from_secs(100 * 365 * 86_400);
/// The smallest size limit of the history database: its schema and one batch fit in it.
const MIN_STORE_SIZE: u64 = 1 << 20;

/// What `store.max_age` and `store.max_size` say for "no limit".
const NO_LIMIT: [&str; 2] = ["none", "off"];

/// Turns a byte offset in the file into an error that names the file, line and column.
struct Locator<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Locator<'_> {
    fn error(&self, offset: usize, message: String) -> ConfigError {
        let before = &self.text[..offset.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            message,
        }
    }

    /// The dotted key whose value stands at `offset`: the table header above it (`[store]`,
    /// `[[source]]`) and the key on its line, as a person would name it (`store.path`).
    fn key_at(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset.min(self.text.len()))?;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let (key, _) = self.text.get(line_start..)?.split_once('=')?;
        let key = key.trim().trim_matches('"');
        if key.is_empty() || key.starts_with('[') || key.contains('\n') {
            return None;
        }
        let table = before[..line_start].lines().rev().find_map(|l| {
            let l = l.trim();
            l.starts_with('[')
                .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
        });
        Some(match table {
            Some(table) if !table.is_empty() => format!("{table}.{key}"),
            _ => key.to_string(),
        })
    }

    /// `value` read by `parse`; an error points at the value and names `key`.
    fn value<T>(
        &self,
        value: &Spanned<String>,
        key: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(value.get_ref()).map_err(|m| self.error(value.span().start, format!("{key}: {m}")))
    }

    /// A duration no longer than `max`: beyond it a value is a typo (`9999999w`), and times derived
    /// from it would overflow.
    fn duration(
        &self,
        value: &Spanned<String>,
        key: &str,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let d = self.value(value, key, parse_duration)?;
        if d > max {
            return Err(self.error(
                value.span().start,
                format!(
                    "{key}: {} is longer than the most it may be, {}",
                    value.get_ref(),
                    format_duration(max)
                ),
            ));
        }
        Ok(d)
    }

    /// A limit: `none` or `off`, else `value` read by `parse`.
    fn limit<T>(
        &self,
        value: &Spanned<String>,
        key: &str,
        parse: fn(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        if NO_LIMIT.contains(&value.get_ref().trim()) {
            return Ok(None);
        }
        self.value(value, key, parse).map(Some)
    }
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
            heartbeat_every: Duration::from_millis(crate::store::HEARTBEAT_EVERY_MS),
            ingest: IngestSettings::default(),
            sources: vec![SourceSpec {
                name: "local".into(),
                kind: SourceKind::Local(LocalSettings::default()),
            }],
            listen: Some("127.0.0.1:9187".into()),
            http_token_file: None,
            push: PushSettings::default(),
            rules: HostRules::default(),
            log_level: DEFAULT_LOG_LEVEL.into(),
            node_logs: ElfSettings::default(),
            sinks: Vec::new(),
            jobs: Vec::new(),
            probes: Vec::new(),
            operator: OperatorSettings::default(),
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
        let at = Locator { path, text };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = e.message().trim();
            match at.key_at(offset) {
                Some(key) => at.error(offset, format!("{key}: {message}")),
                None => at.error(offset, message.to_string()),
            }
        })?;
        let mut config = Config::defaults();
        config.file = Some(path.to_path_buf());
        let mut errors = Vec::new();
        if let Some(o) = checked(&mut errors, operator::operator(&raw, &at)) {
            config.operator = o;
        }
        // Every section is checked, so that a file with several mistakes is fixed in one go.
        checked(&mut errors, config.apply_store(&raw.store, &at));
        checked(&mut errors, config.apply_ingest(&raw.ingest, &at));
        if let Some(sources) = checked(
            &mut errors,
            sources(&raw.source, &raw.local, &raw.service, &at),
        ) {
            config.sources = sources;
        }
        match raw.http.listen.as_deref() {
            Some("" | "none" | "off") => config.listen = None,
            Some(addr) => config.listen = Some(addr.to_string()),
            None => {}
        }
        if let Some(token_file) = checked(&mut errors, push::token_file(&raw.http, &at)) {
            config.http_token_file = token_file;
        }
        if let Some(push) = checked(&mut errors, push::push(&raw.push, &at)) {
            config.push = push;
        }
        checked(&mut errors, config.apply_log(&raw.log, &at));
        if let Some(rules) = checked(&mut errors, rules(raw.rules, &at)) {
            config.rules = rules;
        }
        if let Some(node_logs) = checked(&mut errors, node_logs(&raw.node_logs, &at)) {
            config.node_logs = node_logs;
        }
        if let Some(sinks) = checked(&mut errors, sinks::sinks(&raw.sink, &at)) {
            config.sinks = sinks;
        }
        if let Some(jobs) = checked(&mut errors, jobs::jobs(&raw.job, &at)) {
            config.jobs = jobs;
        }
        if let Some(probes) = checked(&mut errors, probes::probes(&raw.probe, &at)) {
            config.probes = probes;
        }
        ConfigError::all(errors)?;
        Ok(config)
    }

    fn apply_store(&mut self, store: &RawStore, at: &Locator) -> Result<(), ConfigError> {
        if let Some(p) = &store.path {
            self.store_path = p.clone();
        }
        if let Some(v) = &store.max_age {
            self.max_age = match at.limit(v, "store.max_age", parse_duration)? {
                Some(_) => Some(at.duration(v, "store.max_age", MAX_AGE)?),
                None => None,
            };
        }
        if let Some(v) = &store.heartbeat_every {
            self.heartbeat_every = at.duration(v, "store.heartbeat_every", MAX_INTERVAL)?;
        }
        if let Some(v) = &store.max_size {
            self.max_size = at.limit(v, "store.max_size", parse_size)?;
            if self.max_size.is_some_and(|size| size < MIN_STORE_SIZE) {
                return Err(at.error(
                    v.span().start,
                    format!(
                        "store.max_size: {} would delete history as soon as it is written; \
                         give at least {} or `none`",
                        v.get_ref(),
                        format_size(MIN_STORE_SIZE)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn apply_log(&mut self, log: &RawLog, at: &Locator) -> Result<(), ConfigError> {
        if let Some(level) = &log.level {
            self.log_level = at.value(level, "log.level", parse_log_filter)?;
        }
        Ok(())
    }

    fn apply_ingest(&mut self, ingest: &RawIngest, at: &Locator) -> Result<(), ConfigError> {
        if let Some(n) = ingest.missed_heartbeats {
            self.ingest.missed_heartbeats = n.max(1);
        }
        if let Some(v) = &ingest.default_heartbeat {
            let d = at.duration(v, "ingest.default_heartbeat", MAX_INTERVAL)?;
            self.ingest.default_heartbeat_ms = d.as_millis().max(1) as u64;
        }
        if let Some(n) = ingest.max_nodes {
            self.ingest.max_nodes = n.max(1);
        }
        Ok(())
    }
}

/// Equal in every field; spelled out because [`IngestSettings`] has no `PartialEq` of its own, and
/// destructured so that a new field cannot be forgotten here.
impl PartialEq for Config {
    fn eq(&self, other: &Config) -> bool {
        let Config {
            file,
            store_path,
            max_age,
            max_size,
            heartbeat_every,
            ingest,
            sources,
            listen,
            http_token_file,
            push,
            rules,
            log_level,
            node_logs,
            sinks,
            jobs,
            probes,
            operator,
        } = self;
        let IngestSettings {
            missed_heartbeats,
            default_heartbeat_ms,
            max_nodes,
        } = ingest;
        *file == other.file
            && *store_path == other.store_path
            && *max_age == other.max_age
            && *max_size == other.max_size
            && *heartbeat_every == other.heartbeat_every
            && *missed_heartbeats == other.ingest.missed_heartbeats
            && *default_heartbeat_ms == other.ingest.default_heartbeat_ms
            && *max_nodes == other.ingest.max_nodes
            && *sources == other.sources
            && *listen == other.listen
            && *http_token_file == other.http_token_file
            && *push == other.push
            && *rules == other.rules
            && *log_level == other.log_level
            && *node_logs == other.node_logs
            && *sinks == other.sinks
            && *jobs == other.jobs
            && *probes == other.probes
            && *operator == other.operator
    }
}

/// The levels a log filter names.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A log filter: comma-separated directives, each a level or `module=level`. Stricter than the
/// logging library, which takes a lone word for a module name: `level = "verbose"` would silence
/// every line instead of being reported.
fn parse_log_filter(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "`{text}` is not a log filter; use one of {}, or `module=level` directives separated \
             by commas (`info,rackwatch::source=debug`)",
            LOG_LEVELS.join(", ")
        )
    };
    for directive in text.split(',') {
        let level = directive
            .rsplit_once('=')
            .map_or(
                directive,
                |(module, level)| {
                    if module.trim().is_empty() {
                        ""
                    } else {
                        level
                    }
                },
            );
        if !LOG_LEVELS.contains(&level.trim().to_ascii_lowercase().as_str()) {
            return Err(bad());
        }
    }
    tracing_subscriber::EnvFilter::try_new(text).map_err(|_| bad())?;
    Ok(text.trim().to_string())
}

/// The `[[source]]` list, then `[local]`'s source unless it is disabled; names must be unique.
fn sources(
    listed: &[Spanned<RawSource>],
    local: &RawLocal,
    services: &[Spanned<file::RawService>],
    at: &Locator,
) -> Result<Vec<SourceSpec>, ConfigError> {
    let mut sources = Vec::new();
    for (i, s) in listed.iter().enumerate() {
        let mut spec: SourceSpec = s
            .get_ref()
            .spec
            .parse()
            .map_err(|e| at.error(s.span().start, format!("source[{i}].spec: {e}")))?;
        if let Some(name) = &s.get_ref().name {
            spec.name = name.clone();
        }
        sources.push(spec);
    }
    // Checked even when disabled, so that a mistake does not wait for the day it is enabled.
    let settings = local_settings(local, services, at)?;
    if local.enabled.unwrap_or(true) {
        sources.push(SourceSpec {
            name: "local".into(),
            kind: SourceKind::Local(settings),
        });
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in sources.iter().enumerate() {
        let reserved = [crate::push::SOURCE_NAME, crate::probe::SOURCE_NAME];
        if reserved.contains(&s.name.as_str()) {
            let offset = listed.get(i).map_or(0, |r| r.span().start);
            return Err(at.error(
                offset,
                format!(
                    "source[{i}]: the name `{}` is the daemon's own (pushes and probes); give \
                     the source another `name`",
                    s.name
                ),
            ));
        }
        if !names.insert(s.name.clone()) {
            let offset = listed.get(i).map_or(0, |r| r.span().start);
            return Err(at.error(
                offset,
                format!(
                    "source[{i}]: the name `{}` is used twice; give one a `name`",
                    s.name
                ),
            ));
        }
    }
    Ok(sources)
}

fn local_settings(
    local: &RawLocal,
    services: &[Spanned<file::RawService>],
    at: &Locator,
) -> Result<LocalSettings, ConfigError> {
    let mut settings = LocalSettings::default();
    if let Some(id) = &local.node_id {
        settings.node_id = *id.get_ref();
    }
    settings.services = services::services(services, at)?;
    check_local_ids(&settings, local, at)?;
    if let Some(v) = &local.interval {
        settings.interval = at
            .duration(v, "local.interval", MAX_INTERVAL)?
            .max(Duration::from_millis(100));
    }
    if let Some(m) = &local.mounts {
        settings.mounts = Some(m.clone());
    }
    if let Some(p) = &local.processes {
        settings.processes = p.clone();
    }
    settings.disk = services::fill(&local.disk, settings.disk, "local.disk", at)?;
    Ok(settings)
}

/// The local nodes' ids (`node_id` and the ones below it, docs/host-metrics.md) stay above 0 and
/// clear of the ids reserved for pushed values.
fn check_local_ids(
    settings: &LocalSettings,
    local: &RawLocal,
    at: &Locator,
) -> Result<(), ConfigError> {
    let place = local.node_id.as_ref().map_or(0, |id| id.span().start);
    let reserved = crate::push::FIRST_NODE_ID..=crate::push::LAST_NODE_ID;
    match settings.node_ids() {
        Some((low, high)) if high < *reserved.start() || low > *reserved.end() => Ok(()),
        Some((low, high)) => Err(at.error(
            place,
            format!(
                "local.node_id: the local nodes take ids {low}..={high}, which meet {}..={}, the \
                 ids reserved for pushed values (docs/push.md); choose another node_id",
                reserved.start(),
                reserved.end()
            ),
        )),
        None => Err(at.error(
            place,
            format!(
                "local.node_id: {} leaves no room below it for the disk, process and {} service \
                 nodes (docs/host-metrics.md); choose a larger one",
                settings.node_id,
                settings.services.len()
            ),
        )),
    }
}

/// The `[[rules]]`, each checked against its documented domains.
fn rules(raw: Vec<Spanned<RuleOverride>>, at: &Locator) -> Result<HostRules, ConfigError> {
    let errors = raw
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let e = r.get_ref().rule.as_ref()?.check().err()?;
            Some(at.error(
                r.span().start,
                format!("rules[{i}] (metric `{}`): {e}", r.get_ref().metric),
            ))
        })
        .collect();
    ConfigError::all(errors)?;
    Ok(HostRules::new(
        raw.into_iter().map(Spanned::into_inner).collect(),
    ))
}

/// `[node_logs]`: paths must not be empty and a firmware version is named once.
fn node_logs(raw: &RawLogs, at: &Locator) -> Result<ElfSettings, ConfigError> {
    let path = |p: &Spanned<std::path::PathBuf>, key: &str| {
        if p.get_ref().as_os_str().is_empty() {
            Err(at.error(
                p.span().start,
                format!("{key}: the path is empty; name the firmware's ELF file"),
            ))
        } else {
            Ok(p.get_ref().clone())
        }
    };
    let mut settings = ElfSettings {
        elf: raw
            .elf
            .as_ref()
            .map(|p| path(p, "node_logs.elf"))
            .transpose()?,
        firmware: Vec::new(),
    };
    for (i, f) in raw.firmware.iter().enumerate() {
        let f = f.get_ref();
        let version = f.version.get_ref().trim();
        if version.is_empty() {
            return Err(at.error(
                f.version.span().start,
                format!(
                    "node_logs.firmware[{i}].version: empty; give the version the node's Hello \
                     announces (`firmware` in /state; `rackwatch logs` names it)"
                ),
            ));
        }
        if settings.firmware.iter().any(|(v, _)| v == version) {
            return Err(at.error(
                f.version.span().start,
                format!("node_logs.firmware[{i}].version: `{version}` is named twice; keep one"),
            ));
        }
        let elf = path(&f.elf, &format!("node_logs.firmware[{i}].elf"))?;
        settings.firmware.push((version.to_string(), elf));
    }
    Ok(settings)
}
