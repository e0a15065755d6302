//! `kill -9` during ingest, through the real binary: however often the daemon is killed while it
//! writes history, what it committed is intact, and ingesting the same capture once more, to the
//! end, gives exactly the tables of one clean run — nothing lost, nothing duplicated.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills per run of this test (the short version of RELIABILITY.md's figure).
const KILLS: u64 = 25;

fn rackwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG");
    c
}

fn dump(db: &std::path::Path) -> Vec<String> {
    rackwatch::store::Store::open_read_only(db)
        .unwrap()
        .dump()
        .unwrap()
}

/// The rows no later write replaces: readings and kept heartbeats (a boot's newest heartbeat,
/// `kept = 0`, is replaced by the next), sorted.
fn settled(mut rows: Vec<String>) -> Vec<String> {
    rows.retain(|row| {
        row.starts_with("readings:") || (row.starts_with("heartbeats:") && row.ends_with(" 1"))
    });
    rows.sort();
    rows
}

#[test]
fn killing_the_daemon_mid_ingest_loses_and_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("rack.rwcap");
    let sim = rackwatch()
        .args(["sim", "--nodes", "8", "--speed", "0", "--for", "6h", "--to"])
        .arg(format!("capture:{}", capture.display()))
        .status()
        .unwrap();
    assert!(sim.success());
    let source = format!("capture:{}", capture.display());
    let ingest = |db: &std::path::Path| {
        rackwatch()
            .args(["run", "--no-local", "--listen", "none", "--db"])
            .arg(db)
            .arg(&source)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    let clean = dir.path().join("clean.db");
    assert!(ingest(&clean).wait().unwrap().success());
    let expected = dump(&clean);

    // Killed at spread-out moments: from start-up to deep into the writes.
    let killed = dir.path().join("killed.db");
    let started = Instant::now();
    let expected_sorted = settled(expected.clone());
    let mut committed: Vec<String> = Vec::new();
    for i in 0..KILLS {
        let mut child = ingest(&killed);
        std::thread::sleep(Duration::from_millis(20 + (i * 37) % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        // The file is sound, and whatever was committed reads back whole: every reading and
        // kept heartbeat the runs before committed is still there (each run ingests the capture
        // from its start, so it only adds), and each is one of the clean run's (nothing
        // duplicated or made up).
        drop(rackwatch::store::Store::open(&killed).unwrap());
        let integrity: String = rusqlite::Connection::open(&killed)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "after kill {i}");
        let now = settled(dump(&killed));
        assert!(
            committed.iter().all(|row| now.binary_search(row).is_ok()),
            "kill {i} lost rows committed before it"
        );
        assert!(
            now.iter()
                .all(|row| expected_sorted.binary_search(row).is_ok()),
            "kill {i} left a row a clean run does not have"
        );
        committed = now;
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "bounded in time"
        );
    }
    assert!(ingest(&killed).wait().unwrap().success());
    let after = dump(&killed);
    assert_eq!(after.len(), expected.len());
    assert!(after == expected, "the tables differ from one clean run");
}
