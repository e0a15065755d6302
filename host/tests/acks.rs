//! Acknowledgements through the real binary: a daemon fed frame by frame, a webhook receiver in
//! the test. An ack mutes what its kind says (normal: the same level; sticky: everything but the
//! recovery), ends as its kind says, survives a restart, is shown in `/state` and `alerts`, is
//! made over HTTP or on the store, and every action is in the audit.

mod operator_support;
mod sinks_support;

use operator_support::*;
use rackwatch_core::Level;
use sinks_support::*;

fn target() -> String {
    format!("{NODE}/{METRIC}")
}

/// Waits until `/state` shows the ack as `kind` (or no ack, with `None`).
fn wait_ack(daemon: &mut Daemon, kind: Option<&str>) {
    wait_until("the ack in /state", || {
        let state = daemon.state()?;
        let ack = state.operator.ack(NODE, METRIC);
        (ack.map(|a| a.kind.as_str()) == kind).then_some(())
    });
}

#[test]
fn a_normal_ack_mutes_the_same_level_and_ends_on_a_level_change() {
    let mut rig = Rig::new();
    let mut daemon = rig.start_warning();

    // Acknowledged on the store while the daemon runs: it picks the ack up by polling.
    let out = rig
        .cli(&["ack", &target(), "--comment", "fan swap at 14:00"])
        .unwrap();
    assert!(
        out.contains("acknowledged 7/inlet_temperature at WARNING (normal)"),
        "{out}"
    );
    wait_ack(&mut daemon, Some("normal"));
    let state = daemon.state().unwrap();
    let ack = state.operator.ack(NODE, METRIC).unwrap();
    assert_eq!(
        (ack.author.as_str(), ack.comment.as_str()),
        ("operator", "fan swap at 14:00")
    );
    assert_eq!(ack.level, Level::Warning);

    // The node's own judge reaches the same level: muted. Then a level change: notified, and
    // the ack is over.
    rig.node.node_transition(Level::Ok, Level::Warning);
    rig.node.readings(CRITICAL);
    let got = wait_received(&rig.receiver, 2, "the CRITICAL");
    assert_eq!(
        got,
        vec![
            doc("host", "OK", "WARNING"),
            doc("host", "WARNING", "CRITICAL")
        ],
        "the node's WARNING was acknowledged and must not be sent"
    );
    wait_ack(&mut daemon, None);

    // Still in the history, marked.
    let alerts = rig.cli(&["alerts", "--node", "7"]).unwrap();
    let marked: Vec<&str> = alerts
        .lines()
        .filter(|l| l.contains("acknowledged"))
        .collect();
    assert_eq!(marked.len(), 1, "one transition is marked:\n{alerts}");
    assert!(
        marked[0].contains(" node ") && marked[0].contains("acknowledged (by operator)"),
        "the node's transition is marked:\n{alerts}"
    );

    // Without an ack, the next change notifies.
    rig.node.readings(OK);
    let got = wait_received(&rig.receiver, 3, "the recovery");
    assert_eq!(got[2], doc("host", "CRITICAL", "OK"));

    let audit = rig.cli(&["audit"]).unwrap();
    let actions: Vec<&str> = audit
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(actions, ["ack", "ack_cleared"], "{audit}");

    // The API's bounds: a body too large, one that is not a request, a method not served.
    let url = base_url(&daemon);
    let call = |method: &str, body: &str| {
        rackwatch::client::call(
            &url,
            &rackwatch::client::Call::json(method, "/api/acks", body),
            std::time::Duration::from_secs(5),
        )
        .unwrap_err()
    };
    let e = call("POST", &"x".repeat(20 * 1024));
    assert!(e.contains("413"), "{e}");
    let e = call("POST", "{\"node\": 7");
    assert!(
        e.contains("400") && e.contains("not a valid request"),
        "{e}"
    );
    let e = call("PUT", "{}");
    assert!(e.contains("405"), "{e}");
    assert!(
        audit.contains("fan swap at 14:00") && audit.contains("operator"),
        "{audit}"
    );
}

#[test]
fn a_sticky_ack_mutes_until_recovery_across_a_restart_and_over_http() {
    let mut rig = Rig::new();
    let mut daemon = rig.start_warning();

    // Over the daemon's HTTP API this time.
    let url = base_url(&daemon);
    let out = rig
        .cli(&[
            "ack",
            &target(),
            "--sticky",
            "--comment",
            "known, RMA open",
            "--connect",
            &url,
        ])
        .unwrap();
    assert!(out.contains("(sticky)"), "{out}");
    wait_ack(&mut daemon, Some("sticky"));

    let metrics = metrics(&daemon);
    assert!(
        metrics.contains(
            "rackwatch_alert_acknowledged{node=\"7\",metric=\"inlet_temperature\",kind=\"sticky\"} 1"
        ),
        "{metrics}"
    );
    let check = rackwatch(&rig.home)
        .args(["check", "--node", "7", "--connect", &url])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{line}");
    assert!(
        line.contains("WARNING")
            && line.contains("ACK inlet_temperature (sticky) by operator: known, RMA open"),
        "{line}"
    );

    // A restart: the ack is still there.
    daemon.kill9();
    let mut daemon = rig.start("second.log");
    wait_ack(&mut daemon, Some("sticky"));

    // Worse is muted; the recovery is sent and ends the ack; the next problem is sent.
    rig.node.readings(CRITICAL);
    rig.node.readings(OK);
    let got = wait_received(&rig.receiver, 2, "the recovery");
    assert_eq!(got[1].2, "OK", "{got:?}");
    assert!(
        got.iter().all(|d| d.2 != "CRITICAL"),
        "the CRITICAL was acknowledged (sticky) and must not be sent: {got:?}"
    );
    wait_ack(&mut daemon, None);
    rig.node.readings(WARNING);
    let got = wait_received(&rig.receiver, 3, "the next WARNING");
    assert_eq!(got[2].2, "WARNING");

    let audit = rig
        .cli(&["audit", "--connect", &base_url(&daemon)])
        .unwrap();
    assert!(
        audit.contains("ack (sticky)") && audit.contains("ack_cleared"),
        "{audit}"
    );
}

#[test]
fn acks_are_refused_with_reasons_and_removed_with_the_daemon_down() {
    let mut rig = Rig::new();
    let daemon = rig.start("daemon.log");
    rig.node.readings(OK);
    // An OK alert cannot be acknowledged.
    wait_until("the OK readings stored", || {
        rig.cli(&["history", "--node", "7"])
            .ok()
            .filter(|o| o.lines().count() > 1)
    });
    let e = rig.cli(&["ack", &target(), "--comment", "x"]).unwrap_err();
    assert!(e.contains("is OK"), "{e}");
    rig.node.readings(WARNING);
    wait_received(&rig.receiver, 1, "the WARNING");
    daemon.kill9();

    // Daemon down: on the store.
    let e = rig
        .cli(&[
            "ack",
            &target(),
            "--comment",
            "x",
            "--until",
            "2001-01-01T00:00:00Z",
        ])
        .unwrap_err();
    assert!(e.contains("in the past"), "{e}");
    rig.cli(&["ack", "7", "--comment", "all of node 7", "--until", "2h"])
        .unwrap();
    let out = rig
        .cli(&["unack", &target(), "--comment", "fixed"])
        .unwrap();
    assert!(out.contains("removed 1"), "{out}");
    let e = rig.cli(&["unack", &target()]).unwrap_err();
    assert!(e.contains("is not acknowledged"), "{e}");
    let e = rig.cli(&["ack", "node7", "--comment", "x"]).unwrap_err();
    assert!(e.contains("NODE/METRIC"), "{e}");

    // Over HTTP on a listener that is not loopback: refused until the token guards it.
    let port = free_port();
    let mut open = rackwatch(&rig.home)
        .args(["run", "--no-local", "--db"])
        .arg(rig.home.join("history.db"))
        .args(["--listen", &format!("0.0.0.0:{port}"), &rig.node.source()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let e = wait_until("the daemon's answer", || {
        let r = rig.cli(&["ack", &target(), "--comment", "x", "--connect", &url]);
        r.err().filter(|e| !e.contains("cannot reach"))
    });
    let _ = open.kill();
    let _ = open.wait();
    assert!(e.contains("403") && e.contains("loopback"), "{e}");
}

#[test]
fn an_ack_with_until_expires_on_its_own_and_the_alert_notifies_again() {
    let mut rig = Rig::new();
    let mut daemon = rig.start_warning();
    rig.cli(&[
        "ack",
        &target(),
        "--sticky",
        "--until",
        "1s",
        "--comment",
        "short",
    ])
    .unwrap();
    // Seen, then gone on its own (the test waits; it asserts no duration).
    wait_until("the ack expired", || {
        let audit = rig.cli(&["audit"]).ok()?;
        audit.contains("ack_expired").then_some(())
    });
    wait_ack(&mut daemon, None);
    rig.node.readings(CRITICAL);
    let got = wait_received(&rig.receiver, 2, "the CRITICAL after the expiry");
    assert_eq!(got[1], doc("host", "WARNING", "CRITICAL"));
}
