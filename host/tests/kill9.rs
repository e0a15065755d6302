//! `kill -9` during ingest, through the real binary: however often the daemon is killed while it
//! writes history, what it committed is intact, and ingesting the same capture once more, to the
//! end, gives exactly the tables of one clean run — nothing lost, nothing duplicated.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kills per run of this test (the short version of RELIABILITY.md's figure).
const KILLS: u64 = 50;

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
    for i in 0..KILLS {
        let mut child = ingest(&killed);
        std::thread::sleep(Duration::from_millis(20 + (i * 37) % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever was committed reads back whole.
        let _ = rackwatch::store::Store::open(&killed)
            .unwrap()
            .counts()
            .unwrap();
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
