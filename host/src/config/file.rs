//! The configuration file's schema, as written: every key, each optional.
//!
//! Invariant: this one schema serves both directions. [`Config::parse`](super::Config::parse) reads
//! it (unknown keys are errors) and [`Config::to_toml`](super::Config::to_toml) writes it, so the
//! output of `rackwatch config show` cannot name a key the parser rejects. Values that need checking
//! (durations, sizes, source specs) stay strings here, spanned so that errors can point at them.

use crate::rules::RuleOverride;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub ingest: RawIngest,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source: Vec<Spanned<RawSource>>,
    #[serde(default)]
    pub local: RawLocal,
    #[serde(default)]
    pub http: RawHttp,
    #[serde(default)]
    pub push: RawPush,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<Spanned<RuleOverride>>,
    #[serde(default)]
    pub node_logs: RawLogs,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sink: Vec<Spanned<RawSink>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job: Vec<Spanned<RawJob>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service: Vec<Spanned<RawService>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub probe: Vec<Spanned<RawProbe>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node: Vec<Spanned<RawNode>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inhibit: Vec<Spanned<RawInhibit>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub maintenance: Vec<Spanned<RawMaintenance>>,
}

/// One `[[maintenance]]`: a window, recurring (`schedule`, `duration`, `time_zone`) or one-off
/// (`start`, `end`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintenance {
    pub name: Spanned<String>,
    pub matchers: Spanned<Vec<String>>,
    pub schedule: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub time_zone: Option<Spanned<String>>,
    pub start: Option<Spanned<String>>,
    pub end: Option<Spanned<String>>,
    pub comment: Option<String>,
}

/// One `[[node]]`: a node's labels.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub id: Spanned<u16>,
    pub labels: Spanned<BTreeMap<String, String>>,
}

/// One `[[inhibit]]`: an Alertmanager inhibition rule.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInhibit {
    pub name: Option<Spanned<String>>,
    pub source_matchers: Spanned<Vec<String>>,
    pub target_matchers: Spanned<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equal: Vec<String>,
}

/// `[store]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    pub path: Option<PathBuf>,
    pub max_age: Option<Spanned<String>>,
    pub max_size: Option<Spanned<String>>,
    pub heartbeat_every: Option<Spanned<String>>,
}

/// `[ingest]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIngest {
    pub missed_heartbeats: Option<u32>,
    pub default_heartbeat: Option<Spanned<String>>,
    pub max_nodes: Option<u32>,
}

/// One `[[source]]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSource {
    pub spec: String,
    pub name: Option<String>,
}

/// `[local]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLocal {
    pub enabled: Option<bool>,
    pub node_id: Option<Spanned<u16>>,
    pub interval: Option<Spanned<String>>,
    pub mounts: Option<Vec<PathBuf>>,
    pub processes: Option<Vec<String>>,
    #[serde(default)]
    pub disk: RawFill,
}

/// `[local.disk]` and `[service.memory]`: when something that fills up is a problem.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFill {
    pub warning_percent: Option<Spanned<f32>>,
    pub critical_percent: Option<Spanned<f32>>,
    pub warning_within: Option<Spanned<String>>,
    pub critical_within: Option<Spanned<String>>,
}

/// One `[[service]]`: a systemd unit, a process name or a pid file.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawService {
    pub name: Spanned<String>,
    pub unit: Option<Spanned<String>>,
    pub process: Option<Spanned<String>>,
    pub pid_file: Option<Spanned<PathBuf>>,
    pub restarts: Option<Spanned<u32>>,
    pub within: Option<Spanned<String>>,
    pub memory_max: Option<Spanned<String>>,
    #[serde(default)]
    pub memory: RawFill,
}

/// `[http]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub listen: Option<String>,
    pub token_file: Option<Spanned<PathBuf>>,
    /// Never accepted: read only to say where the token belongs.
    pub token: Option<Spanned<String>>,
}

/// `[push]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPush {
    pub enabled: Option<bool>,
    pub max_series: Option<Spanned<u64>>,
}

/// `[log]`.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub level: Option<Spanned<String>>,
}

/// `[node_logs]`: the firmware ELFs node logs decode with.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLogs {
    pub elf: Option<Spanned<PathBuf>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub firmware: Vec<Spanned<RawFirmwareElf>>,
}

/// One `[[node_logs.firmware]]`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFirmwareElf {
    pub version: Spanned<String>,
    pub elf: Spanned<PathBuf>,
}

/// One `[[sink]]`: the keys of every kind, each checked against the kind by `config::sinks`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSink {
    pub name: Spanned<String>,
    pub kind: Spanned<String>,
    pub url: Option<Spanned<String>>,
    pub argv: Option<Spanned<Vec<String>>>,
    pub secret: Option<Spanned<String>>,
    pub secret_file: Option<Spanned<PathBuf>>,
    pub secret_env: Option<Spanned<String>>,
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    pub resend: Option<Spanned<String>>,
    pub state_url: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub retry_max: Option<Spanned<String>>,
    pub max_pending: Option<Spanned<u64>>,
}

/// One `[[job]]`: a batch job that checks in.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJob {
    pub name: Spanned<String>,
    pub schedule: Spanned<String>,
    pub time_zone: Option<Spanned<String>>,
    pub grace: Option<Spanned<String>>,
    pub slow_factor: Option<Spanned<f64>>,
    pub token_file: Option<Spanned<std::path::PathBuf>>,
    /// Never accepted: read only to say where the token belongs.
    pub token: Option<Spanned<String>>,
}

/// One `[[probe]]`: the keys of every kind, each checked against the kind by `config::probes`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawProbe {
    pub name: Spanned<String>,
    pub tcp: Option<Spanned<String>>,
    pub http: Option<Spanned<String>>,
    pub command: Option<Spanned<Vec<String>>>,
    pub interval: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub status: Option<Spanned<u64>>,
    pub body_contains: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<PathBuf>>,
    pub insecure: Option<Spanned<bool>>,
    pub warn_latency: Option<Spanned<String>>,
    pub crit_latency: Option<Spanned<String>>,
    pub unit: Option<Spanned<String>>,
}
