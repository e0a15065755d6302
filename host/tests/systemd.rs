//! `rackwatch run` as a systemd service, through the real binary: the `sd_notify` messages a
//! service manager receives (READY, STATUS, WATCHDOG at the asked rate, STOPPING), a configuration
//! reload on SIGHUP, log lines in the journal with their structured fields, and the unit file in
//! `contrib/systemd` passing `systemd-analyze verify`.
//!
//! The service manager is played by a unix datagram socket bound in a temporary directory and
//! named by `NOTIFY_SOCKET`, as systemd does. The journal is played by a datagram socket mounted
//! over `/run` in a private mount namespace (`unshare`), because journald's socket path is fixed.

use rackwatch::capture::CaptureWriter;
use rackwatch::state::{fetch, Snapshot};
use rackwatch_core::wire::{Body, Frame, Header, Heartbeat, ResetReason, MAX_ENCODED_LEN};
use rackwatch_tests::net::free_port;
use rackwatch_tests::require::{self, Missing};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The longest any wait in these tests lasts: it bounds a hung test, it asserts no time.
const GIVE_UP: Duration = Duration::from_secs(30);

fn rackwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

/// Sends `signal` (`TERM`, `HUP`) the way an operator or systemd does.
fn signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// The service manager's end of `NOTIFY_SOCKET`.
struct Notifications {
    socket: UnixDatagram,
}

impl Notifications {
    fn bind(path: &Path) -> Notifications {
        let socket = UnixDatagram::bind(path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Notifications { socket }
    }

    /// The next message's `KEY=value` lines, or `None` after a quiet read timeout.
    fn next(&self) -> Option<Vec<String>> {
        let mut buf = [0u8; 4096];
        let n = self.socket.recv(&mut buf).ok()?;
        Some(
            String::from_utf8_lossy(&buf[..n])
                .lines()
                .map(str::to_string)
                .collect(),
        )
    }

    /// Messages until one has `line` (returned last), or panics after [`GIVE_UP`].
    fn until(&self, line: &str, child: &mut Child) -> Vec<Vec<String>> {
        let give_up = Instant::now() + GIVE_UP;
        let mut seen = Vec::new();
        loop {
            if let Some(message) = self.next() {
                let done = message.iter().any(|l| l == line);
                seen.push(message);
                if done {
                    return seen;
                }
            } else if let Ok(Some(status)) = child.try_wait() {
                panic!("rackwatch exited ({status}) before sending {line}: {seen:?}");
            }
            assert!(Instant::now() < give_up, "no {line} came: {seen:?}");
        }
    }
}

#[test]
fn the_service_manager_sees_ready_then_watchdog_pings_at_the_asked_rate_status_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = Notifications::bind(&dir.path().join("notify.sock"));
    let port = free_port();
    // A 400 ms watchdog: pings are due every 200 ms.
    let mut daemon = rackwatch()
        .args([
            "run",
            "--no-store",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .env("WATCHDOG_USEC", "400000")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let before_ready = notify.until("READY=1", &mut daemon);
    let ready = before_ready.last().unwrap();
    assert!(
        ready.iter().any(|l| l.starts_with("STATUS=")),
        "READY comes with a status line: {ready:?}"
    );
    // READY means the listener is bound: the state endpoint answers at once.
    fetch(&format!("http://127.0.0.1:{port}"), Duration::from_secs(5))
        .expect("the state endpoint answers once READY=1 is sent");
    assert!(
        before_ready.iter().flatten().all(|l| l != "WATCHDOG=1"),
        "no watchdog ping before READY: {before_ready:?}"
    );

    // Over the window until the first refreshed status (5 s), pings keep coming: 25 are due at
    // 200 ms; at least 8 must arrive, whatever the machine's load.
    let window = notify.until_status_refresh(&mut daemon);
    let pings = window
        .iter()
        .flatten()
        .filter(|l| *l == "WATCHDOG=1")
        .count();
    assert!(
        pings >= 8,
        "{pings} watchdog pings before the status refresh: {window:?}"
    );
    let status = window.last().unwrap();
    let status = status.iter().find(|l| l.starts_with("STATUS=")).unwrap();
    assert!(
        status.contains(" node") && status.contains("frames/s") && status.contains("worst"),
        "the status names nodes, rate and the worst level: {status}"
    );

    signal(&daemon, "TERM");
    notify.until("STOPPING=1", &mut daemon);
    let exit = daemon.wait().unwrap();
    assert!(exit.success(), "SIGTERM is a clean stop: {exit}");
}

impl Notifications {
    /// Messages until the first status line that comes without READY (the periodic refresh).
    fn until_status_refresh(&self, child: &mut Child) -> Vec<Vec<String>> {
        let give_up = Instant::now() + GIVE_UP;
        let mut seen = Vec::new();
        loop {
            if let Some(message) = self.next() {
                let refresh = message.iter().any(|l| l.starts_with("STATUS="))
                    && !message.iter().any(|l| l == "READY=1");
                seen.push(message);
                if refresh {
                    return seen;
                }
            } else if let Ok(Some(status)) = child.try_wait() {
                panic!("rackwatch exited ({status}): {seen:?}");
            }
            assert!(Instant::now() < give_up, "no status refresh: {seen:?}");
        }
    }
}

/// A configuration whose only source is this machine (`local`, node 65535, sampled every 100 ms),
/// judging `memory_used` with these bounds.
fn config_with_memory_bounds(port: u16, warning: f32, critical: f32) -> String {
    format!(
        r#"[local]
interval = "100ms"

[http]
listen = "127.0.0.1:{port}"

[[rules]]
node = 65535
metric = "memory_used"
rule.value.warning.above.raise = {{ value = {warning:.1}, inclusive = false }}
rule.value.critical.above.raise = {{ value = {critical:.1}, inclusive = false }}
"#
    )
}

fn memory_used(s: &Snapshot) -> Option<&rackwatch::state::MetricView> {
    s.node(65535)?
        .metrics
        .iter()
        .find(|m| m.name == "memory_used" && m.value.is_some())
}

/// Polls the state until `done` holds.
fn wait_for(url: &str, child: &mut Child, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let give_up = Instant::now() + GIVE_UP;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rackwatch run exited early: {status}");
        }
        match fetch(url, Duration::from_secs(2)) {
            Ok(s) if done(&s) => return s,
            Ok(s) => assert!(Instant::now() < give_up, "state never got there: {s:#?}"),
            Err(e) => assert!(Instant::now() < give_up, "{url} never answered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the log file has a line containing `text`; returns the whole log.
fn wait_for_log(log: &Path, text: &str) -> String {
    let give_up = Instant::now() + GIVE_UP;
    loop {
        let contents = std::fs::read_to_string(log).unwrap_or_default();
        if contents.contains(text) {
            return contents;
        }
        assert!(
            Instant::now() < give_up,
            "no `{text}` in the log: {contents}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_applies_new_rules_and_log_level_names_what_needs_a_restart_and_refuses_a_broken_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("rackwatch.toml");
    let log = dir.path().join("stderr.log");
    let notify = Notifications::bind(&dir.path().join("notify.sock"));
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    // Any machine's memory use is above 0.5 %: CRITICAL.
    std::fs::write(&config, config_with_memory_bounds(port, 0.2, 0.5)).unwrap();
    let mut daemon = rackwatch()
        .args(["run", "--no-store", "-c"])
        .arg(&config)
        .env("NOTIFY_SOCKET", dir.path().join("notify.sock"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    notify.until("READY=1", &mut daemon);
    wait_for(&url, &mut daemon, |s| {
        memory_used(s).is_some_and(|m| m.level == rackwatch_core::Level::Critical)
    });

    // New bounds no machine reaches, and a new listen address: the rules apply at once, the
    // address waits for a restart (the old one keeps answering).
    let moved = free_port();
    std::fs::write(&config, config_with_memory_bounds(moved, 99.8, 99.9)).unwrap();
    signal(&daemon, "HUP");
    let reload = notify.until("READY=1", &mut daemon);
    assert!(
        reload.iter().flatten().any(|l| l == "RELOADING=1"),
        "RELOADING=1 before READY=1: {reload:?}"
    );
    let s = wait_for(&url, &mut daemon, |s| {
        memory_used(s).is_some_and(|m| m.warning == Some(99.8))
    });
    let m = memory_used(&s).unwrap();
    assert_eq!(m.critical, Some(99.9));
    wait_for(&url, &mut daemon, |s| {
        memory_used(s).is_some_and(|m| m.level == rackwatch_core::Level::Ok)
    });
    let text = wait_for_log(&log, "configuration reloaded");
    assert!(
        text.contains("`http.listen` changed") && text.contains("restart"),
        "the listen address is named as needing a restart: {text}"
    );

    // A broken file: refused with its place, and the running rules stay.
    std::fs::write(
        &config,
        config_with_memory_bounds(port, 1.0, 2.0).replace(
            "inclusive = false }\nrule.value.critical",
            "inclusive = fals }\nrule.value.critical",
        ),
    )
    .unwrap();
    signal(&daemon, "HUP");
    let refused = notify.until("READY=1", &mut daemon);
    assert!(refused.iter().flatten().any(|l| l == "RELOADING=1"));
    let text = wait_for_log(&log, "reload refused");
    let place = format!("{}:10:", config.display());
    assert!(
        text.contains(&place),
        "the error names the file and line ({place}): {text}"
    );
    let s = fetch(&url, Duration::from_secs(2)).unwrap();
    assert_eq!(memory_used(&s).unwrap().warning, Some(99.8));

    // `log.level = "warn"` applies at once: the reload's own info line is no longer written.
    let reloaded = |log: &Path| {
        std::fs::read_to_string(log)
            .unwrap()
            .matches("configuration reloaded")
            .count()
    };
    let before = reloaded(&log);
    let quiet = config_with_memory_bounds(moved, 99.8, 99.9) + "\n[log]\nlevel = \"warn\"\n";
    std::fs::write(&config, quiet).unwrap();
    signal(&daemon, "HUP");
    notify.until("READY=1", &mut daemon);
    assert_eq!(reloaded(&log), before, "the info line is filtered out");

    signal(&daemon, "TERM");
    assert!(daemon.wait().unwrap().success());
}

/// A capture in which node 9 (boot 0x5EED) loses frames 2 to 4: a warning about the node.
fn capture_with_a_gap(path: &Path) {
    let mut w = CaptureWriter::create(path, "ttyNODE").unwrap();
    for (i, seq) in [0u16, 1, 5].into_iter().enumerate() {
        let frame = Frame {
            header: Header {
                node_id: 9,
                boot_id: 0x5EED,
                seq,
            },
            body: Body::Heartbeat(Heartbeat {
                uptime_ms: u64::from(seq) * 1000,
                reset: ResetReason::PowerOn,
                frames_sent: u32::from(seq),
                frames_dropped: 0,
                readings_dropped: 0,
                sensor_errors: 0,
            }),
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        w.record(1_800_000_000_000 + i as u64 * 1000, &out[..n])
            .unwrap();
    }
    w.flush().unwrap();
}

/// A journal: a datagram socket at `<root>/systemd/journal/socket`, to be mounted over `/run`.
struct Journal {
    root: PathBuf,
    socket: UnixDatagram,
}

impl Journal {
    fn bind(dir: &Path) -> Journal {
        let root = dir.join("run");
        std::fs::create_dir_all(root.join("systemd/journal")).unwrap();
        let socket = UnixDatagram::bind(root.join("systemd/journal/socket")).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Journal { root, socket }
    }

    /// Every entry received so far, each as its fields.
    fn entries(&self) -> Vec<BTreeMap<String, String>> {
        let mut entries = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        while let Ok(n) = self.socket.recv(&mut buf) {
            if n > 0 {
                entries.push(parse_journal_entry(&buf[..n]));
            }
        }
        entries
    }
}

/// journald's native protocol: `KEY=value\n`, or `KEY\n` + 64-bit little-endian length + value +
/// `\n` for values that may hold newlines.
fn parse_journal_entry(mut bytes: &[u8]) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::new();
    while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
        let line = &bytes[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            let key = String::from_utf8_lossy(&line[..eq]).into_owned();
            fields.insert(key, String::from_utf8_lossy(&line[eq + 1..]).into_owned());
            bytes = &bytes[nl + 1..];
        } else {
            let key = String::from_utf8_lossy(line).into_owned();
            let rest = &bytes[nl + 1..];
            let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
            let value = &rest[8..8 + len];
            fields.insert(key, String::from_utf8_lossy(value).into_owned());
            bytes = &rest[8 + len + 1..];
        }
    }
    fields
}

/// `unshare` that gives a private mount namespace (as root, or through a user namespace), or what
/// is missing.
fn mount_namespace() -> Result<Vec<&'static str>, Missing> {
    let unshare = require::program(
        "unshare",
        "install util-linux (Debian: apt-get install util-linux)",
    )?;
    for flags in [["-m"].as_slice(), ["-r", "-m"].as_slice()] {
        let works = Command::new(&unshare)
            .args(flags)
            .args(["sh", "-c", "mount -t tmpfs none /mnt"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if works {
            return Ok(flags.to_vec());
        }
    }
    Err(Missing::new(
        "this machine allows no private mount namespace (unshare -m, unshare -r -m)",
        "run the test as root, or enable unprivileged user namespaces",
    ))
}

/// `rackwatch ARGS` in a mount namespace where `/run` is `journal.root`, standard error to `log`.
fn run_with_journal(
    flags: &[&str],
    journal: &Journal,
    args: &[&str],
    log: &Path,
    env: &[(&str, String)],
) -> std::process::ExitStatus {
    let mut command = Command::new("unshare");
    command
        .args(flags)
        .args(["sh", "-c", r#"mount --bind "$0" /run && exec "$@""#])
        .arg(&journal.root)
        .arg(env!("CARGO_BIN_EXE_rackwatch"))
        .args(args)
        .env_remove("RACKWATCH_CONFIG")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    for (key, value) in env {
        command.env(key, value);
    }
    command.status().unwrap()
}

#[test]
fn under_systemd_log_lines_go_to_the_journal_with_node_fields_and_elsewhere_to_stderr() {
    let flags = match mount_namespace() {
        Ok(flags) => flags,
        Err(missing) => return missing.skip(),
    };
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("node.rwcap");
    capture_with_a_gap(&capture);
    let journal = Journal::bind(dir.path());
    let source = format!("capture:{}", capture.display());
    let run = |target: &str, log: &Path, env: &[(&str, String)]| {
        let args = [
            "run",
            &source,
            "--no-local",
            "--no-store",
            "--listen",
            "none",
            "--log-target",
            target,
        ];
        let status = run_with_journal(&flags, &journal, &args, log, env);
        assert!(
            status.success(),
            "{}",
            std::fs::read_to_string(log).unwrap()
        );
    };

    // Asked for the journal: the warning about node 9 is an entry with its fields.
    let log = dir.path().join("journald.log");
    run("journald", &log, &[]);
    let entries = journal.entries();
    let lost = entries
        .iter()
        .find(|e| e.get("MESSAGE").is_some_and(|m| m.contains("frames lost")))
        .unwrap_or_else(|| panic!("no `frames lost` entry: {entries:#?}"));
    assert_eq!(
        lost.get("PRIORITY").map(String::as_str),
        Some("4"),
        "{lost:?}"
    );
    assert_eq!(lost.get("NODE").map(String::as_str), Some("9"), "{lost:?}");
    assert_eq!(
        lost.get("BOOT").map(String::as_str),
        Some("24301"),
        "{lost:?}"
    );
    assert_eq!(lost.get("SEQ").map(String::as_str), Some("5"), "{lost:?}");
    assert_eq!(lost.get("LOST").map(String::as_str), Some("3"), "{lost:?}");
    assert_eq!(
        lost.get("SYSLOG_IDENTIFIER").map(String::as_str),
        Some("rackwatch")
    );
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        !stderr.contains("frames lost"),
        "a line in the journal is not also on stderr: {stderr}"
    );

    // A run that fails says why in the journal at PRIORITY=3 (err), not as a plain stderr line.
    let log = dir.path().join("failed.log");
    let missing = format!("capture:{}", dir.path().join("missing.rwcap").display());
    let args = [
        "run",
        &missing,
        "--no-local",
        "--no-store",
        "--listen",
        "none",
        "--log-target",
        "journald",
    ];
    let status = run_with_journal(&flags, &journal, &args, &log, &[]);
    assert!(!status.success());
    let entries = journal.entries();
    assert!(
        entries
            .iter()
            .any(|e| e.get("PRIORITY").map(String::as_str) == Some("3")
                && e.get("MESSAGE")
                    .is_some_and(|m| m.contains("missing.rwcap") && m.contains("read nothing"))),
        "{entries:#?}"
    );
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(!stderr.contains("read nothing"), "{stderr}");

    // `auto`: the journal when standard error is the stream `$JOURNAL_STREAM` names.
    let log = dir.path().join("auto.log");
    std::fs::File::create(&log).unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    run("auto", &log, &[("JOURNAL_STREAM", stream)]);
    assert!(
        journal
            .entries()
            .iter()
            .any(|e| e.get("NODE").map(String::as_str) == Some("9")),
        "auto with a matching JOURNAL_STREAM logs to the journal"
    );
    // ... and standard error when it is some other file (a child that inherited the variable).
    let log = dir.path().join("other.log");
    run("auto", &log, &[("JOURNAL_STREAM", "1:1".into())]);
    assert!(journal.entries().is_empty(), "nothing went to the journal");
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("frames lost") && stderr.contains("node=9"),
        "plain text on stderr: {stderr}"
    );
}

#[test]
fn the_unit_file_passes_systemd_analyze_verify() {
    let analyze = match require::program(
        "systemd-analyze",
        "install systemd (Debian: apt-get install systemd)",
    ) {
        Ok(path) => path,
        Err(missing) => return missing.skip(),
    };
    // `verify` checks that ExecStart's program exists: a copy of the unit runs the binary just
    // built instead of /usr/local/bin/rackwatch, everything else unchanged.
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd/rackwatch.service");
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(text.contains("ExecStart=/usr/local/bin/rackwatch run"));
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("rackwatch.service");
    std::fs::write(
        &copy,
        text.replace("/usr/local/bin/rackwatch", env!("CARGO_BIN_EXE_rackwatch")),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // An unknown or misspelt key is only a warning to `verify`: none may name the unit.
    let about_unit: Vec<&str> = stderr.lines().filter(|l| l.contains("rackwatch")).collect();
    assert!(about_unit.is_empty(), "{about_unit:#?}");
    for key in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "StartLimitIntervalSec=",
        "StartLimitBurst=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "StateDirectory=rackwatch",
        "SupplementaryGroups=dialout",
        "MemoryMax=",
        "NoNewPrivileges=yes",
    ] {
        assert!(text.contains(key), "the unit sets {key}");
    }
}

#[test]
fn the_configuration_shipped_for_the_unit_passes_config_check_and_keeps_history_in_the_state_directory(
) {
    let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/systemd");
    let out = rackwatch()
        .args(["config", "check", "-c"])
        .arg(contrib.join("rackwatch.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // StateDirectory=rackwatch is the one place the unit lets the service write.
    assert!(
        stdout.contains("history: /var/lib/rackwatch/history.db"),
        "{stdout}"
    );
    let unit = std::fs::read_to_string(contrib.join("rackwatch.service")).unwrap();
    assert!(unit.contains("--config /etc/rackwatch/rackwatch.toml"));
}
