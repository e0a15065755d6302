//! `rackwatch config check` and `rackwatch config show`: what a configuration means, in words and as
//! the complete file.
//!
//! Invariant: `show` prints TOML that `check` accepts and that loads to the same configuration, so a
//! user can start from its output; `check` describes sources in words, never in Rust's syntax.

use super::ConfigArgs;
use crate::config::{format_duration, framing};
use crate::local::LocalSettings;
use crate::source::SourceKind;
use crate::timefmt::format_utc;
use clap::{Args, Subcommand};
use std::io::Write;

/// `rackwatch config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigCmd {
    /// The action.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// What to do with the configuration.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Check the configuration; errors name the file, line and key. Exit status 0 when valid.
    Check(ConfigArgs),
    /// Print the effective configuration as TOML, every default filled in (a valid configuration
    /// file; docs/configuration.md describes each key).
    Show(ConfigArgs),
}

/// Runs `config check` or `config show`.
pub fn run(cmd: &ConfigCmd, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cmd.action {
        ConfigAction::Check(args) => check(args, out),
        ConfigAction::Show(args) => show(args, out),
    }
}

fn check(args: &ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.load()?;
    match &config.file {
        Some(file) => writeln!(out, "{}: valid", file.display())?,
        None => writeln!(out, "no configuration file: the built-in defaults")?,
    }
    writeln!(out, "history: {}", config.store_path.display())?;
    for source in &config.sources {
        writeln!(out, "source {}: {}", source.name, describe(&source.kind))?;
    }
    match &config.listen {
        Some(addr) => writeln!(out, "state endpoint: http://{addr}/state")?,
        None => writeln!(out, "state endpoint: off")?,
    }
    if let Some(line) = describe_push(&config) {
        writeln!(out, "{line}")?;
    }
    if !config.sinks.is_empty() {
        let outbox = crate::sink::outbox::path_for(&config.store_path);
        writeln!(out, "outbox: {}", outbox.display())?;
    }
    for sink in &config.sinks {
        writeln!(out, "sink {}: {}", sink.name, describe_sink(&sink.kind))?;
    }
    for job in &config.jobs {
        writeln!(out, "job {}: {}", job.name, describe_job(&config, job))?;
    }
    let ids = crate::probe::node_ids(&config.probes);
    for (probe, id) in config.probes.iter().zip(ids) {
        writeln!(
            out,
            "probe {} (node {id}): {}",
            probe.name,
            describe_probe(probe)
        )?;
    }
    describe_operator(&config.operator, out)
}

/// Labelled nodes, inhibition rules, and each maintenance window with its next opening (so a
/// schedule in the wrong zone shows before the night it matters).
fn describe_operator(
    operator: &crate::operator::OperatorSettings,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let joined = crate::operator::matcher::join;
    if !operator.node_labels.is_empty() {
        writeln!(out, "labelled nodes: {}", operator.node_labels.len())?;
    }
    for rule in &operator.inhibit {
        writeln!(
            out,
            "inhibit {}: {} mutes {} (equal: {})",
            rule.name,
            joined(&rule.source_matchers),
            joined(&rule.target_matchers),
            rule.equal.join(", ")
        )?;
    }
    let now = crate::source::now_ms();
    for window in &operator.maintenance {
        let Ok(w) = window.clone().compile() else {
            continue;
        };
        let next = match (w.open_at(now), w.next_start(now)) {
            (Some((_, end)), _) => format!("open until {}", format_utc(end)),
            (None, Some(start)) => format!("next opens {}", format_utc(start)),
            (None, None) => "over".into(),
        };
        writeln!(
            out,
            "maintenance {}: {}, {}; {next}",
            window.name,
            joined(&window.matchers),
            crate::operator::maintenance::describe(&window.when)
        )?;
    }
    Ok(())
}

/// A job in words: its schedule, grace, where it checks in and with which token.
fn describe_job(config: &crate::config::Config, job: &crate::jobs::JobSpec) -> String {
    let url = match &config.listen {
        Some(addr) => format!("checks in at http://{addr}/ping/{}", job.name),
        None => "cannot check in: http.listen is off".into(),
    };
    let token = match (&job.token_file, &config.http_token_file) {
        (Some(file), _) => format!("its own token from {}", file.display()),
        (None, Some(file)) => format!("the daemon's token from {}", file.display()),
        (None, None) => "no token: open on a loopback listener, refused on any other".into(),
    };
    let zone = job
        .time_zone
        .as_deref()
        .map(|z| format!(" ({z})"))
        .unwrap_or_default();
    format!(
        "{}{zone}, late after {} more, slow beyond {}x its usual duration; {url}, {token}",
        job.schedule_text,
        crate::config::format_duration(job.grace),
        job.slow_factor
    )
}

/// A probe in words: what it checks, how often, within how long.
fn describe_probe(probe: &crate::probe::ProbeSpec) -> String {
    use crate::probe::check::Check;
    let what = match &probe.check {
        Check::Tcp(address) => format!("tcp connect to {address}"),
        Check::Http(http) => format!("GET {}", http.url),
        Check::Command(argv) => format!("command {}", argv.join(" ")),
    };
    format!(
        "{what} every {}, timeout {}",
        crate::config::format_duration(probe.interval),
        crate::config::format_duration(probe.timeout)
    )
}

/// A delivery sink in words: its kind and where it delivers.
fn describe_sink(kind: &crate::sink::spec::SinkKind) -> String {
    use crate::sink::spec::SinkKind;
    match kind {
        SinkKind::Webhook(w) => format!(
            "webhook to {}{}",
            w.url.as_str(),
            if w.secret.is_some() { ", signed" } else { "" }
        ),
        SinkKind::Command(c) => format!("command {}", c.argv.join(" ")),
        SinkKind::Alertmanager(a) => format!("alertmanager at {}", a.url.as_str()),
    }
}

fn show(args: &ConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.load()?;
    let origin = config.file.as_ref().map_or_else(
        || "the built-in defaults".to_string(),
        |f| f.display().to_string(),
    );
    let text = config
        .to_toml()
        .map_err(|e| anyhow::anyhow!("cannot write the configuration as TOML: {e}"))?;
    writeln!(
        out,
        "# rackwatch: the effective configuration of {origin}, every default filled in"
    )?;
    write!(out, "{text}")?;
    Ok(())
}

/// A source in words: `serial /dev/ttyACM0 at 115200 baud, 8N1`, `tcp 10.0.0.5:4000`.
pub fn describe(kind: &SourceKind) -> String {
    match kind {
        SourceKind::Serial(s) => format!(
            "serial {} at {} baud, {}",
            s.path.display(),
            s.baud,
            framing(s)
        ),
        SourceKind::Tcp(addr) => format!("tcp {addr}"),
        SourceKind::Unix(path) => format!("unix socket {}", path.display()),
        SourceKind::Capture(path) => format!("capture {}", path.display()),
        SourceKind::Raw(path) => format!("raw line bytes from {}", path.display()),
        SourceKind::Stdin => "standard input".into(),
        SourceKind::Local(settings) => describe_local(settings),
        SourceKind::Push => "values pushed to POST /push".into(),
        SourceKind::Probes => "the [[probe]] checks".into(),
    }
}

/// Where pushes go and who may send them, when the daemon listens and takes them.
fn describe_push(config: &crate::config::Config) -> Option<String> {
    let addr = config.listen.as_ref().filter(|_| config.push.enabled)?;
    let token = match &config.http_token_file {
        Some(file) => format!("bearer token from {}", file.display()),
        None => "no token: open on a loopback listener, refused on any other".into(),
    };
    Some(format!(
        "pushes: http://{addr}/push, at most {} series, {token}",
        config.push.max_series
    ))
}

fn describe_local(settings: &LocalSettings) -> String {
    let mounts = match &settings.mounts {
        None => "every real mount".to_string(),
        Some(m) if m.is_empty() => "no mounts".to_string(),
        Some(m) => m
            .iter()
            .map(|m| m.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut text = format!(
        "this machine as node {}, every {}: disk use of {mounts}, memory, swap, load, pressure, \
         network errors, file descriptors",
        settings.node_id,
        format_duration(settings.interval),
    );
    if !settings.processes.is_empty() {
        text.push_str(&format!(
            ", memory of processes {}",
            settings.processes.join(", ")
        ));
    }
    if !settings.services.is_empty() {
        let names: Vec<&str> = settings.services.iter().map(|s| s.name.as_str()).collect();
        text.push_str(&format!(", services {}", names.join(", ")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceSpec;

    fn words(spec: &str) -> String {
        describe(&spec.parse::<SourceSpec>().unwrap().kind)
    }

    #[test]
    fn sources_are_described_in_words() {
        assert_eq!(
            words("/dev/ttyACM0"),
            "serial /dev/ttyACM0 at 115200 baud, 8N1"
        );
        assert_eq!(
            words("serial:/dev/ttyUSB0@9600,7E2"),
            "serial /dev/ttyUSB0 at 9600 baud, 7E2"
        );
        assert_eq!(words("tcp:10.0.0.5:4000"), "tcp 10.0.0.5:4000");
        assert_eq!(words("unix:/run/r.sock"), "unix socket /run/r.sock");
        assert_eq!(words("night.rwcap"), "capture night.rwcap");
        assert_eq!(words("raw:dump.bin"), "raw line bytes from dump.bin");
        assert_eq!(words("-"), "standard input");
        assert_eq!(
            words("local"),
            "this machine as node 65535, every 10s: disk use of every real mount, memory, swap, load, \
             pressure, network errors, file descriptors"
        );
    }
}
