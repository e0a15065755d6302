//! `[local.disk]`, `[[service]]` and `[service.memory]`: what the local source watches beyond its
//! fixed figures, and when a filling figure is a problem.
//!
//! Invariants: every value is checked against its domain with an error naming the entry and the key
//! (`service[1].restarts`) at its place in the file; the writers ([`raw_fill`], [`raw_service`])
//! give back what parses to the same settings, every default spelled out.

use super::file::{RawFill, RawService};
use super::units::{format_duration, format_size, parse_size};
use super::{ConfigError, Locator};
use crate::local::rule::MAX_HORIZON;
use crate::local::{FillRule, ServiceSpec, Target, MAX_SERVICES};
use toml::Spanned;

/// `raw` over `base`; `key` is the table's dotted name (`local.disk`).
pub(super) fn fill(
    raw: &RawFill,
    base: FillRule,
    key: &str,
    at: &Locator,
) -> Result<FillRule, ConfigError> {
    let mut rule = base;
    if let Some(v) = &raw.warning_percent {
        rule.warning_percent = *v.get_ref();
    }
    if let Some(v) = &raw.critical_percent {
        rule.critical_percent = *v.get_ref();
    }
    if let Some(v) = &raw.warning_within {
        rule.warning_within = at.duration(v, &format!("{key}.warning_within"), MAX_HORIZON)?;
    }
    if let Some(v) = &raw.critical_within {
        rule.critical_within = at.duration(v, &format!("{key}.critical_within"), MAX_HORIZON)?;
    }
    rule.check().map_err(|message| {
        let place = [
            raw.warning_percent.as_ref().map(|v| v.span().start),
            raw.critical_percent.as_ref().map(|v| v.span().start),
            raw.warning_within.as_ref().map(|v| v.span().start),
            raw.critical_within.as_ref().map(|v| v.span().start),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(0);
        at.error(place, format!("{key}.{message}"))
    })?;
    Ok(rule)
}

/// The `[[service]]` list.
pub(super) fn services(
    raw: &[Spanned<RawService>],
    at: &Locator,
) -> Result<Vec<ServiceSpec>, ConfigError> {
    if let Some(extra) = raw.get(MAX_SERVICES) {
        return Err(at.error(
            extra.span().start,
            format!("service[{MAX_SERVICES}]: at most {MAX_SERVICES} services are watched"),
        ));
    }
    let mut specs: Vec<ServiceSpec> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        let spec = service(entry.get_ref(), i, at)?;
        if specs.iter().any(|s| s.name == spec.name) {
            return Err(at.error(
                entry.get_ref().name.span().start,
                format!(
                    "service[{i}].name: `{}` is used twice; names must be unique",
                    spec.name
                ),
            ));
        }
        specs.push(spec);
    }
    Ok(specs)
}

fn service(raw: &RawService, i: usize, at: &Locator) -> Result<ServiceSpec, ConfigError> {
    let key = |k: &str| format!("service[{i}].{k}");
    let name = crate::push::check_node(raw.name.get_ref())
        .map_err(|m| at.error(raw.name.span().start, format!("{}: {m}", key("name"))))?;
    let targets: Vec<Target> = [
        raw.unit.as_ref().map(|u| Target::Unit(u.get_ref().clone())),
        raw.process
            .as_ref()
            .map(|p| Target::Process(p.get_ref().clone())),
        raw.pid_file
            .as_ref()
            .map(|p| Target::PidFile(p.get_ref().clone())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let [target] = <[Target; 1]>::try_from(targets).map_err(|found| {
        at.error(
            raw.name.span().start,
            format!(
                "service[{i}] (`{name}`): name exactly one of `unit` (a systemd unit), `process` \
                 (a process name) or `pid_file`; {} given",
                found.len()
            ),
        )
    })?;
    if let Target::Unit(u) | Target::Process(u) = &target {
        if u.trim().is_empty() {
            return Err(at.error(
                raw.name.span().start,
                format!("service[{i}] (`{name}`): the unit or process name is empty"),
            ));
        }
    }
    if let (Target::Process(p), Some(at_process)) = (&target, &raw.process) {
        // The kernel keeps 15 bytes of a command name: a longer one would never match.
        if p.len() > 15 {
            return Err(at.error(
                at_process.span().start,
                format!(
                    "{}: `{p}` is longer than the 15 bytes /proc/<pid>/comm keeps; give `{}`",
                    key("process"),
                    &p[..p.floor_char_boundary(15)]
                ),
            ));
        }
    }
    let mut spec = ServiceSpec::new(&name, target);
    if let Some(n) = &raw.restarts {
        if *n.get_ref() == 0 {
            return Err(at.error(
                n.span().start,
                format!(
                    "{}: 0 restarts would always be a loop; give 1 or more",
                    key("restarts")
                ),
            ));
        }
        spec.restarts = *n.get_ref();
    }
    if let Some(v) = &raw.within {
        spec.within = at.duration(v, &key("within"), MAX_HORIZON)?;
    }
    if let Some(v) = &raw.memory_max {
        let bytes = at.value(v, &key("memory_max"), parse_size)?;
        if bytes == 0 {
            return Err(at.error(
                v.span().start,
                format!(
                    "{}: a limit of 0 bytes; give the most memory the service may use",
                    key("memory_max")
                ),
            ));
        }
        spec.memory_max = Some(bytes);
    }
    spec.memory = fill(&raw.memory, spec.memory, &key("memory"), at)?;
    Ok(spec)
}

fn unspanned<T>(value: T) -> Spanned<T> {
    Spanned::new(0..0, value)
}

/// `rule` as its table, every key written.
pub(super) fn raw_fill(rule: &FillRule) -> RawFill {
    RawFill {
        warning_percent: Some(unspanned(rule.warning_percent)),
        critical_percent: Some(unspanned(rule.critical_percent)),
        warning_within: Some(unspanned(format_duration(rule.warning_within))),
        critical_within: Some(unspanned(format_duration(rule.critical_within))),
    }
}

/// `spec` as its `[[service]]` entry; `memory_max` is left out when unset (the unit's limit, else
/// physical memory).
pub(super) fn raw_service(spec: &ServiceSpec) -> RawService {
    let (mut unit, mut process, mut pid_file) = (None, None, None);
    match &spec.target {
        Target::Unit(u) => unit = Some(unspanned(u.clone())),
        Target::Process(p) => process = Some(unspanned(p.clone())),
        Target::PidFile(p) => pid_file = Some(unspanned(p.clone())),
    }
    RawService {
        name: unspanned(spec.name.clone()),
        unit,
        process,
        pid_file,
        restarts: Some(unspanned(spec.restarts)),
        within: Some(unspanned(format_duration(spec.within))),
        memory_max: spec.memory_max.map(|b| unspanned(format_size(b))),
        memory: raw_fill(&spec.memory),
    }
}
