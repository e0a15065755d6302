//! Maintenance windows through the real binary: nodes fed frame by frame, a webhook receiver in
//! the test. A configured recurring window (cron, time zone) over a rack mutes its alerts, its
//! node going down and rebooting, and nothing else; a one-off window added with the CLI mutes,
//! survives a restart, and when it is removed over an alert still firing, one notification goes
//! out; every change is in the audit; data missing inside a window leaves no flapping behind. (Crossing midnight and the changes of daylight saving time
//! are the unit tests of `host/src/operator/maintenance.rs`, with injected times.)

mod operator_support;
mod sinks_support;

use operator_support::*;
use sinks_support::*;

/// Waits until `/state` lists `n` windows open now.
fn wait_open(daemon: &mut Daemon, n: usize) -> rackwatch::state::Snapshot {
    wait_until("the open windows in /state", || {
        let state = daemon.state()?;
        let open = state
            .operator
            .windows
            .iter()
            .filter(|w| w.open.is_some())
            .count();
        (open == n).then_some(state)
    })
}

/// Waits until `/state` shows node `id` down (or up).
fn wait_down(daemon: &mut Daemon, id: u16, down: bool) {
    wait_until("the node's liveness in /state", || {
        let state = daemon.state()?;
        let node = state.nodes.iter().find(|n| n.id == id)?;
        (node.down == down).then_some(())
    });
}

#[test]
fn a_recurring_window_mutes_its_racks_alerts_and_a_reboot_inside_it_and_nothing_else() {
    // Always open: every minute, for an hour, in a named zone. Node 7 is in rack r2; node 8 is
    // in no rack. A node is down after a second of silence.
    let rig = Rig::with_config(
        r#"
[ingest]
missed_heartbeats = 1
default_heartbeat = "1s"

[[node]]
id = 7
labels = { rack = "r2" }

[[maintenance]]
name = "rack 2"
matchers = ["rack=r2"]
schedule = "* * * * *"
duration = "1h"
time_zone = "Europe/Berlin"
comment = "recabling"
"#,
    );
    let mut in_rack = rig.node;
    let mut elsewhere = FakeNode::with(8, &[METRIC]);
    let sources = [in_rack.source(), elsewhere.source()];
    let mut daemon = start_listening(
        &rig.home,
        &rig.config,
        &[&sources[0], &sources[1]],
        "daemon.log",
    );
    in_rack.accept(&mut daemon);
    let state = wait_open(&mut daemon, 1);
    assert_eq!(state.operator.windows[0].window.name, "rack 2");

    // A WARNING inside the window: recorded, marked, not sent.
    in_rack.readings(OK);
    in_rack.readings(WARNING);
    let cli = |args: &[&str]| cli(&rig.home, args);
    let config = rig.config.to_str().unwrap();
    let alerts = wait_until("the muted WARNING in the history", || {
        let alerts = cli(&["alerts", "--node", "7", "-c", config]).ok()?;
        alerts
            .contains("maintenance (window rack 2)")
            .then_some(alerts)
    });
    assert!(
        alerts.contains("MAINTENANCE rack 2 open until") && alerts.contains("rack=r2: recabling"),
        "{alerts}"
    );
    let shown = wait_until("the metric in maintenance in /state", || {
        let state = daemon.state()?;
        state.operator.in_maintenance(NODE, METRIC).then_some(state)
    });
    assert!(shown.operator.windows[0].next_start_ms.is_some());
    assert!(
        metrics(&daemon).contains("rackwatch_maintenance_window_open{window=\"rack 2\"} 1"),
        "{}",
        metrics(&daemon)
    );
    let checked = rackwatch(&rig.home)
        .args(["config", "check", "-c", config])
        .output()
        .unwrap();
    let checked = String::from_utf8_lossy(&checked.stdout);
    assert!(
        checked
            .contains("maintenance rack 2: rack=r2, * * * * * for 1h (Europe/Berlin); open until"),
        "{checked}"
    );
    let listed = cli(&["maintenance", "list", "-c", config]).unwrap();
    assert!(
        listed.contains("rack 2") && listed.contains("open until") && listed.contains("config"),
        "{listed}"
    );

    // Silent, down, rebooted: expected inside the window, so nothing is sent.
    wait_down(&mut daemon, NODE, true);
    in_rack.reboot();
    in_rack.readings(OK);
    wait_down(&mut daemon, NODE, false);
    wait_until("the reboot logged as expected", || {
        let log = std::fs::read_to_string(rig.home.join("daemon.log")).ok()?;
        log.contains("node rebooted inside a maintenance window")
            .then_some(())
    });

    // A node outside the window notifies as usual, and is the first and only notification.
    elsewhere.accept(&mut daemon);
    elsewhere.readings(OK);
    elsewhere.readings(WARNING);
    let got = wait_alerts_received(&rig.receiver, 1, "the WARNING outside the window");
    assert_eq!(got, ["8/inlet_temperature host OK->WARNING"]);
}

#[test]
fn a_one_off_window_from_the_cli_survives_a_restart_and_its_removal_notifies_once() {
    let mut rig = Rig::new();
    let mut daemon = rig.start_warning();

    // Over HTTP, with the daemon up.
    let url = base_url(&daemon);
    let out = rig
        .cli(&[
            "maintenance",
            "add",
            "node=7",
            "metric=~inlet_.*",
            "--for",
            "1h",
            "--comment",
            "fan swap",
            "--connect",
            &url,
        ])
        .unwrap();
    assert!(
        out.starts_with("maintenance window 1 (window 1): "),
        "{out}"
    );
    let state = wait_open(&mut daemon, 1);
    assert_eq!(state.operator.windows[0].window.creator, "operator");
    rig.node.readings(CRITICAL);
    rig.wait_alerts(NODE, "maintenance (window window 1)");

    // A restart keeps it; the host's judge starts over at OK and raises CRITICAL again, muted.
    daemon.kill9();
    let mut daemon = rig.start("second.log");
    wait_open(&mut daemon, 1);
    rig.node.readings(CRITICAL);
    wait_until("the second muted CRITICAL", || {
        let alerts = rig.cli(&["alerts", "--node", "7"]).ok()?;
        (alerts.matches("maintenance (window window 1)").count() == 2).then_some(())
    });

    // Mistakes say what is wrong; nothing refused reaches the audit.
    let e = rig.cli(&["maintenance", "remove", "99"]).unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
    let add = |extra: &[&str]| {
        let mut args = vec!["maintenance", "add", "node=7", "--comment", "x"];
        args.extend(extra);
        rig.cli(&args).unwrap_err()
    };
    let e = add(&["--cron", "every 5m", "--for", "1h"]);
    assert!(e.contains("cron schedule"), "{e}");
    let e = add(&[
        "--cron",
        "0 22 * * *",
        "--tz",
        "Mars/Olympus_Mons",
        "--for",
        "1h",
    ]);
    assert!(e.contains("Mars/Olympus_Mons"), "{e}");
    let e = add(&["--until", "2001-01-01T00:00:00Z"]);
    assert!(e.contains("in the past"), "{e}");

    // Removed on the store while the daemon runs: the alert still fires, so its latest muted
    // transition (the current level) goes out, once; then it notifies as usual.
    let out = rig
        .cli(&["maintenance", "remove", "1", "--comment", "done early"])
        .unwrap();
    assert!(out.contains("removed"), "{out}");
    let got = wait_received(&rig.receiver, 2, "the one notification at the window's end");
    assert_eq!(got[1], doc("host", "OK", "CRITICAL"));
    wait_open(&mut daemon, 0);
    rig.node.readings(OK);
    let got = wait_received(&rig.receiver, 3, "the recovery");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2], doc("host", "CRITICAL", "OK"));

    let audit = rig.cli(&["audit"]).unwrap();
    let actions: Vec<&str> = audit
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(
        actions,
        ["maintenance_add", "maintenance_remove"],
        "{audit}"
    );
    assert!(
        audit.contains("fan swap") && audit.contains("done early"),
        "{audit}"
    );
}

/// The host's transitions of node `id` so far, and whether its metric flaps, from `/state`.
fn transitions_and_flapping(daemon: &mut Daemon, id: u16) -> Option<(u64, bool)> {
    let state = daemon.state()?;
    let node = state.nodes.iter().find(|n| n.id == id)?;
    Some((
        node.counters.host_transitions,
        node.metrics.first()?.flapping,
    ))
}

#[test]
fn data_missing_inside_a_window_does_not_make_the_alert_flap() {
    // Node 7 in an always-open window, node 8 outside it; the same gaps on both.
    let rig = Rig::with_config(
        r#"
[ingest]
missed_heartbeats = 1000

[[node]]
id = 7
labels = { rack = "r2" }

[[maintenance]]
name = "rack 2"
matchers = ["rack=r2"]
schedule = "@hourly"
duration = "1h"
time_zone = "UTC"
"#,
    );
    let mut nodes = [
        FakeNode::with(7, &[METRIC]).missing_after(2000).flapping(),
        FakeNode::with(8, &[METRIC]).missing_after(2000).flapping(),
    ];
    let [first, second] = &mut nodes;
    let mut daemon = start_nodes(&rig.home, &rig.config, &mut [first, second], "daemon.log");
    wait_until("node 7's metric in maintenance", || {
        daemon
            .state()?
            .operator
            .in_maintenance(NODE, METRIC)
            .then_some(())
    });
    // Six gaps, each long enough for UNKNOWN and followed by readings back to OK: on the judge's
    // clock, so they need no waiting.
    for _ in 0..6 {
        for node in nodes.iter_mut() {
            node.readings(OK);
            node.skip(10_000);
        }
    }
    for node in nodes.iter_mut() {
        node.readings(OK);
    }
    // Twelve transitions each (six UNKNOWNs, six recoveries): the outside node flaps, the one in
    // the window does not.
    let inside = wait_until("node 7's transitions", || {
        transitions_and_flapping(&mut daemon, 7).filter(|(n, _)| *n == 12)
    });
    let outside = wait_until("node 8's transitions", || {
        transitions_and_flapping(&mut daemon, 8).filter(|(n, _)| *n == 12)
    });
    assert_eq!((inside.1, outside.1), (false, true));
}
