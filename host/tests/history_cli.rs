//! `rackwatch history` through the real binary, on history written by `rackwatch run` from a
//! simulated node's capture.

use std::process::Command;

fn rackwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(args)
        .env_remove("RACKWATCH_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn until_now_is_accepted_as_the_help_says() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("node.rwcap");
    let db = dir.path().join("h.db");
    let (capture, db) = (capture.to_str().unwrap(), db.to_str().unwrap());
    let sim = rackwatch(&[
        "sim",
        "--nodes",
        "1",
        "--speed",
        "0",
        "--for",
        "10m",
        "--to",
        &format!("capture:{capture}"),
    ]);
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let run = rackwatch(&[
        "run",
        &format!("capture:{capture}"),
        "--no-local",
        "--listen",
        "none",
        "--db",
        db,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let all = rackwatch(&["history", "--db", db, "--format", "csv"]);
    let until_now = rackwatch(&["history", "--db", db, "--format", "csv", "--until", "now"]);
    assert!(
        until_now.status.success(),
        "{}",
        String::from_utf8_lossy(&until_now.stderr)
    );
    // The capture is stamped in rack time from its creation, so its ten minutes run into the
    // future: `--until now` gives the rows before now, the oldest first, as without it.
    let (all, until_now) = (
        String::from_utf8_lossy(&all.stdout).into_owned(),
        String::from_utf8_lossy(&until_now.stdout).into_owned(),
    );
    assert!(until_now.lines().count() > 1, "{until_now}");
    assert!(all.starts_with(&until_now), "not a prefix of all the rows");
    assert!(all.lines().count() > until_now.lines().count());
}
