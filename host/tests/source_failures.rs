//! Failures are never silent, through the real binary: a source that cannot be opened or read is a
//! warning, a counter and `last_error` in `/state`, and a run that ends by itself with a source that
//! gave nothing (or a capture with a corrupt record) exits non-zero saying which and why.

use rackwatch::state::{fetch, Snapshot};
use serialport::SerialPort;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn rackwatch() -> Command {
    // No configuration file: the built-in defaults (the tests name every source).
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("NO_COLOR", "1")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

/// `rackwatch run SOURCE` without history, the local source or the state endpoint.
fn run_alone(source: &str, extra: &[&str]) -> (Output, String) {
    let output = rackwatch()
        .args([
            "run",
            source,
            "--no-local",
            "--no-store",
            "--listen",
            "none",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output, stderr)
}

/// The frame count in a run's summary line.
fn frames(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("rackwatch: ") && l.contains(" frames,"))
        .unwrap_or_else(|| panic!("no summary: {stderr}"));
    let before = line.split(" frames,").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_missing_device_in_a_finite_run_is_a_warning_and_a_failed_exit() {
    let (output, stderr) = run_alone("/dev/rackwatch-does-not-exist", &["--for", "1s"]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("WARN") && stderr.contains("cannot open /dev/rackwatch-does-not-exist"),
        "the first failure is a warning at once: {stderr}"
    );
    assert!(
        stderr.contains("rackwatch: source `rackwatch-does-not-exist` read nothing: cannot open"),
        "{stderr}"
    );
}

#[test]
fn a_missing_raw_file_and_a_file_that_is_not_a_capture_fail_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.bin");
    let (output, stderr) = run_alone(&format!("raw:{}", missing.display()), &[]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("source `missing.bin` read nothing: cannot open"),
        "{stderr}"
    );

    let text = dir.path().join("notes.rwcap");
    std::fs::write(&text, "not a capture\n").unwrap();
    let (output, stderr) = run_alone(&format!("capture:{}", text.display()), &[]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("source `notes.rwcap` read nothing")
            && stderr.contains("is not a rackwatch capture")
            && stderr.contains("raw:"),
        "the message says what to use instead: {stderr}"
    );
}

/// The byte offsets of a capture's records.
fn record_offsets(bytes: &[u8]) -> Vec<usize> {
    let mut at = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let mut offsets = Vec::new();
    while at < bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
        at += 12 + len as usize;
    }
    offsets
}

#[test]
fn a_capture_with_a_corrupt_record_is_read_past_it_and_the_run_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.rwcap");
    let sim = rackwatch()
        .args([
            "sim", "--nodes", "3", "--for", "30m", "--speed", "0", "--to",
        ])
        .arg(format!("capture:{}", good.display()))
        .status()
        .unwrap();
    assert!(sim.success());
    let (output, stderr) = run_alone(&format!("capture:{}", good.display()), &[]);
    assert!(output.status.success(), "{stderr}");
    let all = frames(&stderr);

    // The middle record's length grows by 50: it swallows the next record's header.
    let mut bytes = std::fs::read(&good).unwrap();
    let offsets = record_offsets(&bytes);
    let middle = offsets[offsets.len() / 2];
    let len = u32::from_le_bytes(bytes[middle + 8..middle + 12].try_into().unwrap());
    bytes[middle + 8..middle + 12].copy_from_slice(&(len + 50).to_le_bytes());
    let bad = dir.path().join("bad.rwcap");
    std::fs::write(&bad, &bytes).unwrap();
    let (output, stderr) = run_alone(&format!("capture:{}", bad.display()), &[]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let defect = middle + 12 + len as usize + 50;
    assert!(
        stderr.contains("rackwatch: source `bad.rwcap` failed after ")
            && stderr.contains(&format!("capture {}: byte offset {defect}", bad.display()))
            && stderr.contains("reading on at byte offset"),
        "{stderr}"
    );
    // Only the frames around the defect are lost, not the second half of the capture.
    let read = frames(&stderr);
    assert!(read + 5 >= all && read < all, "{read} of {all}: {stderr}");
}

#[test]
fn a_device_held_by_another_process_fails_the_run_and_the_daemon_shows_it_in_state() {
    let dir = tempfile::tempdir().unwrap();
    // A pty opened for exclusive use, as a serial port another program has open.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = slave.name().unwrap();
    let _holder = serialport::new(&path, 115_200).open_native().unwrap();
    drop(slave);
    let source = format!("serial:{path}");
    let (output, stderr) = run_alone(&source, &["--for", "1s"]);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let name = Path::new(&path)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        stderr.contains(&format!("source `{name}` read nothing: cannot open {path}")),
        "{stderr}"
    );

    // A daemon keeps retrying, and says so in /state.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut daemon = rackwatch()
        .args(["run", &source, "--no-local", "--no-store"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // At most 30 s: this bounds a hung test, it asserts no time.
    let give_up = Instant::now() + Duration::from_secs(30);
    let state: Snapshot = loop {
        if let Ok(s) = fetch(&url, Duration::from_secs(2)) {
            if s.sources.first().is_some_and(|v| v.failures >= 2) {
                break s;
            }
        }
        assert!(Instant::now() < give_up, "no failures counted in /state");
        std::thread::sleep(Duration::from_millis(100));
    };
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let view = &state.sources[0];
    assert!(!view.connected);
    assert!(
        view.last_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("cannot open {path}"))),
        "{view:?}"
    );
}

#[test]
fn three_hours_of_a_raw_file_land_before_the_time_it_was_read_not_after() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("line.bin");
    let sim = rackwatch()
        .args(["sim", "--nodes", "2", "--for", "3h", "--speed", "0"])
        .stdout(std::fs::File::create(&raw).unwrap())
        .status()
        .unwrap();
    assert!(sim.success());
    let db = dir.path().join("history.db");
    let before = rackwatch::source::now_ms();
    let output = rackwatch()
        .args(["run", &format!("raw:{}", raw.display()), "--no-local"])
        .args(["--listen", "none", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let after = rackwatch::source::now_ms();
    assert!(output.status.success(), "{output:?}");
    let store = rackwatch::store::Store::open_read_only(&db).unwrap();
    let readings = store.readings(&Default::default()).unwrap();
    let newest = readings.iter().map(|r| r.wall_ms).max().unwrap();
    let oldest = readings.iter().map(|r| r.wall_ms).min().unwrap();
    assert!(
        newest <= after,
        "{} s in the future",
        (newest - after) / 1000
    );
    // The file's own spacing is kept: its three hours end about when it was read.
    assert!(
        newest + 60_000 >= before,
        "{} s before the read",
        (before - newest) / 1000
    );
    assert!(
        oldest + 2 * 3_600_000 < before,
        "the oldest reading is not hours back"
    );
}
