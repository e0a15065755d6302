//! A reader that goes away (`rackwatch … | head`) ends a command quietly, through the real binary:
//! exit status 0, never a panic (101) from a write on the closed pipe, be it standard output or the
//! log on standard error.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

fn rackwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

#[test]
fn run_with_its_log_piped_into_head_exits_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let noise = dir.path().join("noise.bin");
    // Every chunk is a decode error, each a warning: far more log than a pipe buffer holds.
    std::fs::write(&noise, b"\x13\x37 line noise\x00".repeat(5_000)).unwrap();
    let mut child = rackwatch()
        .arg("run")
        .arg(format!("raw:{}", noise.display()))
        .args(["--no-local", "--no-store", "--listen", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        log.read_line(&mut line).unwrap();
        assert!(
            line.contains("rackwatch") || line.contains("noise"),
            "{line}"
        );
    }
    drop(log);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn sim_piped_into_head_exits_quietly() {
    let mut child = rackwatch()
        .args(["sim", "--nodes", "2", "--speed", "0", "--for", "24h"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.is_empty(),
        "a reader going away is not an error: {stderr}"
    );
}
