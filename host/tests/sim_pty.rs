//! `rackwatch sim` nodes on ptys, read by `rackwatch run` as serial ports, into SQLite: the real
//! binaries end to end. The host, replaying the nodes' readings through the same core and rules,
//! must obtain exactly the nodes' own transitions.

use rackwatch::ingest::Origin;
use rackwatch::store::{Query, Store, TransitionRow};
use rackwatch_core::wire::Cause;
use rackwatch_core::Level;
use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rackwatch() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

fn key(t: &TransitionRow) -> (u16, u16, u32, u64, String, String, String) {
    (
        t.node,
        t.metric,
        t.alert_seq,
        t.at_ms,
        t.from.to_string(),
        t.to.to_string(),
        serde_json::to_string(&t.cause).unwrap(),
    )
}

#[test]
fn simulated_nodes_over_ptys_reach_sqlite_and_the_host_agrees_with_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let ptys = dir.path().join("ptys");
    let db = dir.path().join("history.db");
    // Three nodes: a rising inlet, a power creep, a stuck humidity sensor; 5 h of rack time at
    // 1 800× (10 s of real time).
    let mut sim = rackwatch()
        .args([
            "sim",
            "--nodes",
            "3",
            "--speed",
            "1800",
            "--for",
            "5h",
            "--pty-dir",
        ])
        .arg(&ptys)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The ptys exist once sim has printed their paths; the daemon would also retry until they do.
    let give_up = Instant::now() + Duration::from_secs(20);
    while !(1..=3).all(|i| ptys.join(format!("node-{i}")).exists()) {
        assert!(Instant::now() < give_up, "sim never created its ptys");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut run = rackwatch();
    run.arg("run");
    for i in 1..=3 {
        run.arg(format!(
            "serial:{}",
            ptys.join(format!("node-{i}")).display()
        ));
    }
    let daemon = run
        .args(["--no-local", "--listen", "none"])
        .arg("--db")
        .arg(&db)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let sim_status = sim.wait().unwrap();
    assert!(sim_status.success());
    // sim has exited: its ptys are gone, and the daemon has read everything they held.
    std::thread::sleep(Duration::from_millis(500));
    Command::new("kill")
        .arg("-TERM")
        .arg(daemon.id().to_string())
        .status()
        .unwrap();
    let out = daemon.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");

    let store = Store::open_read_only(&db).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.boots, 3, "{counts:?}");
    // 5 h at one sample per 10 s of 4 metrics, for 3 nodes (the boot frames and the first samples
    // may race the daemon's first open of each pty).
    assert!(counts.readings > 3 * 4 * 1700, "{counts:?}");
    assert_eq!(counts.decode_errors, 0, "{log}");
    let events = store.node_events(&Query::default()).unwrap();
    assert!(
        events.iter().all(|e| e.kind.name() != "gap"),
        "no frame lost on the ptys: {events:#?}"
    );

    let transitions = store.transitions(&Query::default()).unwrap();
    let by = |origin: Origin| -> BTreeSet<_> {
        transitions
            .iter()
            .filter(|t| t.origin == origin)
            .map(key)
            .collect()
    };
    let (node, host) = (by(Origin::Node), by(Origin::Host));
    assert!(!node.is_empty());
    assert_eq!(
        node, host,
        "the host's replay of the readings gives the nodes' transitions"
    );

    // The rising inlet (node 1): a forecast WARNING while still below 32 degC, then CRITICAL.
    let inlet: Vec<&TransitionRow> = transitions
        .iter()
        .filter(|t| t.origin == Origin::Node && t.node == 1 && t.name == "inlet_temperature")
        .collect();
    let warning = inlet
        .iter()
        .find(|t| t.to == Level::Warning)
        .expect("a warning");
    assert!(matches!(warning.cause, Cause::Eta { .. }), "{warning:?}");
    let critical = inlet
        .iter()
        .find(|t| t.to == Level::Critical)
        .expect("a critical");
    assert!(critical.at_ms > warning.at_ms);
    // The stuck humidity sensor (node 3) is reported.
    assert!(
        transitions
            .iter()
            .any(|t| t.node == 3 && t.name == "humidity" && t.to == Level::Unknown),
        "{transitions:#?}"
    );
}
