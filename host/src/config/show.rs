//! A [`Config`] written back as the file that means it: `rackwatch config show`.
//!
//! Invariant: [`Config::parse`] of [`Config::to_toml`]'s output is equal to the configuration it
//! came from (its `file` aside), for the defaults and for every file the parser accepts. Every key is
//! written with its value, defaults included, so the output is also the complete effective
//! configuration; the only keys left out are those whose absence is itself the meaning
//! (`rules.node`: every node; `rules.rule`, `rules.anomaly`: the node's own; `node_logs.elf`: no ELF;
//! `local.mounts`: every real mount; `service.memory_max`: the unit's limit, else physical memory).

use super::file::{
    RawConfig, RawFirmwareElf, RawHttp, RawIngest, RawLocal, RawLog, RawLogs, RawPush, RawSource,
    RawStore,
};
use super::units::{format_duration, format_size};
use super::Config;
use crate::source::{Parity, SerialSettings, SourceKind, SourceSpec};
use std::time::Duration;
use toml::Spanned;

/// What `max_age`, `max_size` and `listen` say when they are off.
const OFF: &str = "none";

/// A value written by the program has no place in a file to point at.
fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

impl Config {
    /// The configuration as TOML, every default filled in. Fails only on a path that is not UTF-8,
    /// which TOML cannot hold.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(&self.to_raw())
    }

    fn to_raw(&self) -> RawConfig {
        let (local, listed) = split_local(&self.sources);
        let (node, inhibit) = super::operator::raw(&self.operator);
        let settings = local.cloned().unwrap_or_default();
        RawConfig {
            store: RawStore {
                path: Some(self.store_path.clone()),
                max_age: Some(unspanned(
                    self.max_age.map_or_else(|| OFF.into(), format_duration),
                )),
                max_size: Some(unspanned(
                    self.max_size.map_or_else(|| OFF.into(), format_size),
                )),
                heartbeat_every: Some(unspanned(format_duration(self.heartbeat_every))),
            },
            ingest: RawIngest {
                missed_heartbeats: Some(self.ingest.missed_heartbeats),
                default_heartbeat: Some(unspanned(format_duration(Duration::from_millis(
                    self.ingest.default_heartbeat_ms,
                )))),
                max_nodes: Some(self.ingest.max_nodes),
            },
            source: listed
                .iter()
                .map(|s| {
                    unspanned(RawSource {
                        spec: spec_text(&s.kind),
                        name: Some(s.name.clone()),
                    })
                })
                .collect(),
            local: RawLocal {
                enabled: Some(local.is_some()),
                node_id: Some(unspanned(settings.node_id)),
                interval: Some(unspanned(format_duration(settings.interval))),
                mounts: settings.mounts.clone(),
                processes: Some(settings.processes.clone()),
                disk: super::services::raw_fill(&settings.disk),
            },
            http: RawHttp {
                listen: Some(self.listen.clone().unwrap_or_else(|| OFF.into())),
                token_file: self.http_token_file.clone().map(unspanned),
                token: None,
            },
            push: RawPush {
                enabled: Some(self.push.enabled),
                max_series: Some(unspanned(self.push.max_series as u64)),
            },
            log: RawLog {
                level: Some(unspanned(self.log_level.clone())),
            },
            rules: self
                .rules
                .overrides()
                .iter()
                .cloned()
                .map(unspanned)
                .collect(),
            node_logs: RawLogs {
                elf: self.node_logs.elf.clone().map(unspanned),
                firmware: self
                    .node_logs
                    .firmware
                    .iter()
                    .map(|(version, elf)| {
                        unspanned(RawFirmwareElf {
                            version: unspanned(version.clone()),
                            elf: unspanned(elf.clone()),
                        })
                    })
                    .collect(),
            },
            sink: self
                .sinks
                .iter()
                .map(|s| unspanned(super::sinks::raw_sink(s)))
                .collect(),
            job: self
                .jobs
                .iter()
                .map(|j| unspanned(super::jobs::raw_job(j)))
                .collect(),
            service: settings
                .services
                .iter()
                .map(|s| unspanned(super::services::raw_service(s)))
                .collect(),
            probe: self
                .probes
                .iter()
                .map(|p| unspanned(super::probes::raw_probe(p)))
                .collect(),
            node,
            inhibit,
            maintenance: super::operator::raw_windows(&self.operator),
        }
    }
}

/// The `[local]` section's source and the `[[source]]` list. The parser appends `[local]`'s source
/// last, named `local`; a local source anywhere else came from a `[[source]]` spec and stays one.
fn split_local(sources: &[SourceSpec]) -> (Option<&crate::local::LocalSettings>, &[SourceSpec]) {
    match sources.split_last() {
        Some((last, rest)) if last.name == "local" => match &last.kind {
            SourceKind::Local(settings) => (Some(settings), rest),
            _ => (None, sources),
        },
        _ => (None, sources),
    }
}

/// The spec that parses back to `kind`: the serial framing is always spelled out, so the reader does
/// not need to know the defaults.
pub fn spec_text(kind: &SourceKind) -> String {
    match kind {
        SourceKind::Serial(s) => {
            format!("serial:{}@{},{}", s.path.display(), s.baud, framing(s))
        }
        SourceKind::Tcp(addr) => format!("tcp:{addr}"),
        SourceKind::Unix(path) => format!("unix:{}", path.display()),
        SourceKind::Capture(path) => format!("capture:{}", path.display()),
        SourceKind::Raw(path) => format!("raw:{}", path.display()),
        SourceKind::Stdin => "stdin".into(),
        // Never in a configuration: the daemon adds it when it accepts pushes.
        SourceKind::Push => "push".into(),
        // Never in a configuration: the daemon adds it for the `[[probe]]` entries.
        SourceKind::Probes => "probes".into(),
        SourceKind::Local(_) => "local".into(),
    }
}

/// The framing as the spec writes it: data bits, parity letter, stop bits (`8N1`).
pub fn framing(s: &SerialSettings) -> String {
    let parity = match s.parity {
        Parity::None => 'N',
        Parity::Even => 'E',
        Parity::Odd => 'O',
    };
    format!("{}{parity}{}", s.data_bits, s.stop_bits)
}
