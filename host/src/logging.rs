//! Where the process's log lines go: standard error for people and pipes, or the systemd journal
//! with structured fields when rackwatch runs as a service. Also the one place that changes the
//! log filter while running (a configuration reload).
//!
//! # Journal fields
//!
//! Under journald every tracing field becomes a journal field of the same name in upper case,
//! without a prefix, beside the journal's own `MESSAGE`, `PRIORITY` (from the tracing level:
//! ERROR 3, WARN 4, INFO 5, DEBUG 6, TRACE 7), `SYSLOG_IDENTIFIER=rackwatch`, `TARGET`,
//! `CODE_FILE` and `CODE_LINE`. An event about a node names it with these fields, so that
//! `journalctl -u rackwatch NODE=7` finds everything about node 7:
//!
//! | tracing field | journal field | what it is |
//! |---|---|---|
//! | `node` | `NODE` | the node id (`u16`) |
//! | `boot` | `BOOT` | the node's boot id (`u32`), when the event belongs to one boot |
//! | `seq` | `SEQ` | the frame's sequence number (`u16`), when the event is about one frame |
//! | `level` | `LEVEL` | the node's own log level (`error` ... `trace`) for a node log line, or the alert level (`OK`, `WARNING`, `CRITICAL`, `UNKNOWN`) for a transition |
//! | `source` | `SOURCE` | the source's name (`ttyACM0`), for source and decode events |
//!
//! [`node_line`] writes a node's own log line (a decoded defmt Log frame) with all four node
//! fields; other events about a node write `node = id` (and `boot`, `seq` when known) themselves.
//!
//! Invariants:
//! - Journald is used when asked (`--log-target journald`) or, by default, when standard error is
//!   the journal stream systemd gave the service (`$JOURNAL_STREAM` names its device and inode);
//!   anything else (a terminal, a file, a pipe, a child that inherited the variable but not the
//!   stream) gets plain text on standard error.
//! - When the journal cannot be reached, the log goes to standard error and says why once: a log
//!   line is never lost to a missing socket.
//! - `--log` or `$RUST_LOG` pin the filter: the configuration's `log.level` then changes nothing,
//!   at start or on reload.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogTarget {
    /// The journal when standard error is systemd's journal stream, else standard error.
    #[default]
    Auto,
    /// The systemd journal, with structured fields (standard error if it cannot be reached).
    Journald,
    /// Standard error, as text.
    Stderr,
}

/// How log lines on standard error look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One line of text per event.
    #[default]
    Human,
    /// One JSON object per event.
    Json,
}

/// How to set logging up.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Where to.
    pub target: LogTarget,
    /// The text form on standard error.
    pub format: LogFormat,
    /// `--log FILTER`.
    pub filter: Option<String>,
    /// The filter when neither `--log` nor `$RUST_LOG` names one.
    pub default_filter: String,
}

/// The running filter and whether `--log` or `$RUST_LOG` pinned it.
struct Filter {
    handle: reload::Handle<EnvFilter, Registry>,
    pinned: bool,
}

static FILTER: OnceLock<Filter> = OnceLock::new();

/// Set once the journal layer is installed.
static TO_JOURNAL: OnceLock<()> = OnceLock::new();

/// Whether log lines go to the journal: then a fatal error is logged (with `PRIORITY=3`) rather
/// than printed, or the journal would file it as an ordinary line of standard error.
pub fn to_journal() -> bool {
    TO_JOURNAL.get().is_some()
}

/// Installs the process's logger. Call once, early in `main`.
pub fn init(options: &LogOptions) {
    let pinned_filter = options
        .filter
        .as_deref()
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok());
    let pinned = pinned_filter.is_some();
    let filter = pinned_filter.unwrap_or_else(|| EnvFilter::new(&options.default_filter));
    let (filter, handle) = reload::Layer::new(filter);
    let (journal, journal_error) = match wants_journal(options.target) {
        true => match journal_layer() {
            Ok(layer) => (Some(layer), None),
            Err(e) => (None, Some(e)),
        },
        false => (None, None),
    };
    let on_stderr = journal.is_none();
    // Colour only where a terminal renders it: `2>log` or a pipe gets plain text, and NO_COLOR
    // (set and not empty, as no-color.org asks) turns it off on a terminal too.
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // A closed standard error (`2>&1 | head`) drops log lines: the subscriber's own report of the
    // failure would be an `eprintln!` on that same closed pipe, which panics.
    let human = (on_stderr && options.format == LogFormat::Human).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_target(false)
            .log_internal_errors(false)
    });
    let json = (on_stderr && options.format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .log_internal_errors(false)
    });
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(journal)
        .with(human)
        .with(json)
        .try_init()
        .is_ok();
    if installed {
        let _ = FILTER.set(Filter { handle, pinned });
        if !on_stderr {
            let _ = TO_JOURNAL.set(());
        }
    }
    if let Some(e) = journal_error {
        tracing::warn!(
            "cannot write to the systemd journal ({e}); logging to standard error instead"
        );
    }
}

/// The journald layer: fields unprefixed, so that `node` becomes `NODE` (see the module docs).
fn journal_layer() -> std::io::Result<tracing_journald::Layer> {
    Ok(tracing_journald::layer()?
        .with_field_prefix(None)
        .with_syslog_identifier("rackwatch".into()))
}

/// Whether `target` means the journal here.
fn wants_journal(target: LogTarget) -> bool {
    match target {
        LogTarget::Journald => true,
        LogTarget::Stderr => false,
        LogTarget::Auto => stderr_is_journal_stream(
            std::env::var("JOURNAL_STREAM").ok().as_deref(),
            stderr_identity(),
        ),
    }
}

/// The device and inode of standard error, as `$JOURNAL_STREAM` writes them.
fn stderr_identity() -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(std::io::stderr()).ok()?;
    Some((stat.st_dev, stat.st_ino))
}

/// Whether standard error is the stream systemd connected to the journal: `$JOURNAL_STREAM` is
/// `DEVICE:INODE` (decimal) of that stream, and a process whose standard error was redirected
/// elsewhere (or a child that merely inherited the variable) has another one.
pub fn stderr_is_journal_stream(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(value), Some((dev, ino))) = (journal_stream, stderr) else {
        return false;
    };
    let Some((want_dev, want_ino)) = value.trim().split_once(':') else {
        return false;
    };
    want_dev.parse() == Ok(dev) && want_ino.parse() == Ok(ino)
}

/// What a change of the configuration's `log.level` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LevelChange {
    /// The filter is now this.
    Applied,
    /// `--log` or `$RUST_LOG` names the filter; the configuration's level does not apply.
    Pinned,
    /// No logger is installed (a library user, a test).
    NoLogger,
}

/// Applies the configuration's `log.level` (already checked by the configuration parser).
pub fn set_config_level(level: &str) -> Result<LevelChange, String> {
    let Some(filter) = FILTER.get() else {
        return Ok(LevelChange::NoLogger);
    };
    if filter.pinned {
        return Ok(LevelChange::Pinned);
    }
    let new = EnvFilter::try_new(level).map_err(|e| format!("log.level `{level}`: {e}"))?;
    filter
        .handle
        .reload(new)
        .map_err(|e| format!("cannot change the log level: {e}"))?;
    Ok(LevelChange::Applied)
}

/// The level of a node's own log line, as its firmware logged it (defmt's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeLogLevel {
    /// `defmt::error!`.
    Error,
    /// `defmt::warn!`.
    Warn,
    /// `defmt::info!`.
    Info,
    /// `defmt::debug!`.
    Debug,
    /// `defmt::trace!`.
    Trace,
}

impl NodeLogLevel {
    /// The name the `LEVEL` journal field carries.
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeLogLevel::Error => "error",
            NodeLogLevel::Warn => "warn",
            NodeLogLevel::Info => "info",
            NodeLogLevel::Debug => "debug",
            NodeLogLevel::Trace => "trace",
        }
    }
}

/// Where a node's log line comes from: the node, its boot and the frame's sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLogOrigin {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Sequence number of the Log frame.
    pub seq: u16,
}

/// Logs one of a node's own log lines (a decoded defmt Log frame) at the node's level, with the
/// `node`, `boot`, `seq` and `level` fields: in the journal `NODE`, `BOOT`, `SEQ`, `LEVEL` and a
/// `PRIORITY` from the level; on standard error `node=7 boot=... seq=... level=warn text`.
pub fn node_line(origin: NodeLogOrigin, level: NodeLogLevel, text: &str) {
    let NodeLogOrigin { node, boot, seq } = origin;
    let name = level.as_str();
    // One macro per level: tracing fixes an event's level at compile time.
    match level {
        NodeLogLevel::Error => tracing::error!(node, boot, seq, level = name, "{text}"),
        NodeLogLevel::Warn => tracing::warn!(node, boot, seq, level = name, "{text}"),
        NodeLogLevel::Info => tracing::info!(node, boot, seq, level = name, "{text}"),
        NodeLogLevel::Debug => tracing::debug!(node, boot, seq, level = name, "{text}"),
        NodeLogLevel::Trace => tracing::trace!(node, boot, seq, level = name, "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_journal_is_used_only_when_stderr_is_the_stream_systemd_named() {
        let ours = Some((2049, 7_654_321));
        assert!(stderr_is_journal_stream(Some("2049:7654321"), ours));
        assert!(stderr_is_journal_stream(Some("2049:7654321\n"), ours));
        // Redirected (`2>file`), or a child that inherited the variable but not the stream.
        assert!(!stderr_is_journal_stream(Some("2049:1"), ours));
        assert!(!stderr_is_journal_stream(Some("8:7654321"), ours));
        assert!(!stderr_is_journal_stream(None, ours));
        assert!(!stderr_is_journal_stream(Some("2049:7654321"), None));
        for garbage in ["", ":", "2049", "x:y", "2049:7654321:1", "-1:-1"] {
            assert!(!stderr_is_journal_stream(Some(garbage), ours), "{garbage}");
        }
    }

    /// Log output captured in memory.
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_node_line_carries_node_boot_seq_and_level_at_the_nodes_own_level() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new("info"))
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let origin = NodeLogOrigin {
                node: 7,
                boot: 0x5EED,
                seq: 42,
            };
            node_line(origin, NodeLogLevel::Warn, "fan 2 stalled");
            node_line(origin, NodeLogLevel::Debug, "below the filter");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        for part in [
            " WARN ",
            "node=7",
            "boot=24301",
            "seq=42",
            "level=\"warn\"",
            "fan 2 stalled",
        ] {
            assert!(lines[0].contains(part), "{part} in {text}");
        }
    }

    #[test]
    fn node_log_levels_carry_defmts_names() {
        let names: Vec<&str> = [
            NodeLogLevel::Error,
            NodeLogLevel::Warn,
            NodeLogLevel::Info,
            NodeLogLevel::Debug,
            NodeLogLevel::Trace,
        ]
        .into_iter()
        .map(NodeLogLevel::as_str)
        .collect();
        assert_eq!(names, ["error", "warn", "info", "debug", "trace"]);
    }
}
