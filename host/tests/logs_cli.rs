//! `rackwatch logs` without QEMU, on a history written here: `--node` and `--since` choose the
//! rows, `--follow` prints rows stored after it started, and an ELF named in the configuration that
//! cannot decode stops `logs` and the daemon with an error naming the file and the setting. (The
//! decoded text of a real image is checked in `node_logs_qemu.rs`.)

use rackwatch::ingest::Event;
use rackwatch::store::Store;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const T0: u64 = 1_800_000_000_000;
const HOUR: u64 = 3_600_000;

fn rackwatch(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("RACKWATCH_DATA_DIR", dir);
    c
}

fn log(node: u16, seq: u16, wall_ms: u64, bytes: &[u8]) -> Event {
    Event::Log {
        node,
        boot: 0xB007,
        wall_ms,
        epoch: 0,
        seq,
        bytes: bytes.to_vec(),
    }
}

fn store(db: &Path, events: &[Event]) {
    Store::open(db).unwrap().write(events).unwrap();
}

fn logs(dir: &Path, db: &Path, args: &[&str]) -> (Vec<String>, String) {
    let out = rackwatch(dir)
        .arg("logs")
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    (stdout.lines().map(str::to_string).collect(), stderr)
}

#[test]
fn node_and_since_choose_the_rows_and_raw_frames_show_as_hex() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    store(
        &db,
        &[
            log(1, 10, T0, &[0x01, 0x02]),
            log(2, 20, T0 + HOUR, &[0xab]),
            log(1, 11, T0 + 2 * HOUR, &[0xcd, 0x00]),
        ],
    );
    let (all, stderr) = logs(dir.path(), &db, &[]);
    assert_eq!(
        all,
        [
            "2027-01-15T08:00:00Z node 1 boot 0000b007 seq 10 RAW   0102 (no ELF)",
            "2027-01-15T09:00:00Z node 2 boot 0000b007 seq 20 RAW   ab (no ELF)",
            "2027-01-15T10:00:00Z node 1 boot 0000b007 seq 11 RAW   cd00 (no ELF)",
        ]
    );
    assert!(stderr.contains("note: node 1 boot 0000b007"), "{stderr}");
    assert!(stderr.contains("no ELF known"), "{stderr}");

    let (node_1, _) = logs(dir.path(), &db, &["--node", "1"]);
    assert_eq!(node_1, [all[0].clone(), all[2].clone()]);
    let since = (T0 + HOUR).to_string();
    let (later, _) = logs(dir.path(), &db, &["--since", &since]);
    assert_eq!(later, all[1..]);
}

#[test]
fn follow_prints_rows_stored_after_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    store(&db, &[log(1, 0, T0, &[0x11])]);
    let mut child = rackwatch(dir.path())
        .args(["logs", "--follow", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Guards against a hung process, not timing checks.
    let next = || rx.recv_timeout(Duration::from_secs(30));
    let first = next();
    store(
        &db,
        &[log(1, 1, T0 + 1000, &[0x22]), log(3, 7, T0 + 2000, &[0x33])],
    );
    let (second, third) = (next(), next());
    let _ = child.kill();
    let _ = child.wait();
    assert!(first
        .as_deref()
        .unwrap()
        .ends_with("seq 0 RAW   11 (no ELF)"));
    assert!(second
        .as_deref()
        .unwrap()
        .ends_with("seq 1 RAW   22 (no ELF)"));
    assert!(third
        .as_deref()
        .unwrap()
        .contains("node 3 boot 0000b007 seq 7 RAW   33"));
}

#[test]
fn an_elf_in_the_configuration_that_cannot_decode_stops_logs_and_run_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    store(&db, &[log(1, 0, T0, &[0x11])]);
    let missing = dir.path().join("gone.elf");
    let config = dir.path().join("rackwatch.toml");
    std::fs::write(
        &config,
        format!("[node_logs]\nelf = \"{}\"\n", missing.display()),
    )
    .unwrap();

    let out = rackwatch(dir.path())
        .args(["logs", "-c"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(stderr.contains("named by node_logs.elf in"), "{stderr}");

    let empty = dir.path().join("empty.raw");
    std::fs::write(&empty, b"").unwrap();
    let out = rackwatch(dir.path())
        .args(["run", "--no-local", "--listen", "none", "-c"])
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .arg(format!("raw:{}", empty.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot read the firmware ELF"), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
