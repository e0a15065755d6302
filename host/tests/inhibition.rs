//! Inhibition through the real binary: nodes fed frame by frame, a webhook receiver in the test.
//! A node going down is one notification (its own alert), not one per metric, and its metrics'
//! UNKNOWNs stay visible, marked inhibited; a configured rule with `equal = ["rack"]` mutes only
//! the same rack's alerts, keeps doing so after a restart, and when the inhibiting alert ends the
//! inhibited one still firing is notified once.

mod operator_support;
mod sinks_support;

use operator_support::*;
use sinks_support::*;

/// Waits until `/state` lists `n` inhibited alerts and returns their `node/metric: reason`.
fn wait_inhibited(daemon: &mut Daemon, n: usize) -> Vec<String> {
    wait_until("the inhibited alerts in /state", || {
        let state = daemon.state()?;
        let listed: Vec<String> = state
            .operator
            .inhibited
            .iter()
            .map(|i| format!("{}/{}: {}", i.node, i.metric, i.reason))
            .collect();
        (listed.len() == n).then_some(listed)
    })
}

/// The host's level of each metric of `node` in `/state`.
fn levels(daemon: &mut Daemon, node: u16) -> Option<Vec<String>> {
    let state = daemon.state()?;
    let node = state.nodes.iter().find(|n| n.id == node)?;
    Some(
        node.metrics
            .iter()
            .map(|m| m.level.as_str().to_string())
            .collect(),
    )
}

#[test]
fn a_node_going_down_is_one_notification_not_one_per_metric() {
    // Down after three seconds of silence; its metrics go UNKNOWN later (three seconds of the
    // node's clock, judged by the host five seconds behind it).
    let mut rig = Rig::with_config("[ingest]\nmissed_heartbeats = 1\ndefault_heartbeat = \"3s\"\n");
    rig.node = FakeNode::with(NODE, &["inlet_temperature", "outlet_temperature", "fan"])
        .missing_after(3000);
    let mut daemon = rig.start("daemon.log");
    rig.node.readings_of_all(OK);

    // Silence: the node goes down, then its three metrics go UNKNOWN, each inhibited.
    let inhibited = wait_inhibited(&mut daemon, 3);
    assert!(
        inhibited
            .iter()
            .all(|i| i.ends_with(": by 7/node_down (built-in: node down)")),
        "{inhibited:?}"
    );
    rig.wait_alerts(NODE, "inhibited (by 7/node_down (built-in: node down))");
    assert!(
        metrics(&daemon)
            .contains("rackwatch_alert_inhibited{node=\"7\",metric=\"fan\",origin=\"host\"} 1"),
        "{}",
        metrics(&daemon)
    );

    // Back: the node's recovery is notified; its metrics' recoveries are not (their problem
    // never was). A WARNING afterwards is, and closes the list: nothing else came in between.
    rig.node.readings_of_all(OK);
    wait_until("the metrics OK again", || {
        let levels = levels(&mut daemon, NODE)?;
        levels.iter().all(|l| l == "OK").then_some(())
    });
    rig.node.readings(WARNING);
    let got = wait_alerts_received(&rig.receiver, 3, "the WARNING after the node's return");
    assert_eq!(
        got,
        [
            "7/node_down host OK->CRITICAL",
            "7/node_down host CRITICAL->OK",
            "7/inlet_temperature host OK->WARNING",
        ]
    );
    wait_inhibited(&mut daemon, 0);
}

const RACKS: &str = r#"
[ingest]
missed_heartbeats = 1000

[[node]]
id = 1
labels = { rack = "r1" }

[[node]]
id = 2
labels = { rack = "r1" }

[[node]]
id = 3
labels = { rack = "r2" }

[[inhibit]]
name = "rack power"
source_matchers = ["metric=power_feed", "severity=critical"]
target_matchers = ["metric=~inlet_.*"]
equal = ["rack"]
"#;

#[test]
fn a_rack_power_alarm_inhibits_only_its_own_racks_thermal_alerts_across_a_restart() {
    let rig = Rig::with_config(RACKS);
    let mut power = FakeNode::with(1, &["power_feed"]);
    let mut same_rack = FakeNode::with(2, &["inlet_temperature"]);
    let mut other_rack = FakeNode::with(3, &["inlet_temperature"]);
    let (home, config) = (rig.home.clone(), rig.config.clone());
    let mut nodes = [&mut power, &mut same_rack, &mut other_rack];
    let mut daemon = start_nodes(&home, &config, &mut nodes, "first.log");
    for node in nodes.iter_mut() {
        node.readings(OK);
    }

    // Rack r1's power alarms: node 2's inlet (rack r1) is inhibited, node 3's (rack r2) is not.
    power.readings(CRITICAL);
    wait_alerts_received(&rig.receiver, 1, "the power alarm");
    same_rack.readings(WARNING);
    let inhibited = wait_inhibited(&mut daemon, 1);
    assert_eq!(
        inhibited,
        ["2/inlet_temperature: by 1/power_feed (rack power)"]
    );
    other_rack.readings(WARNING);
    let got = wait_alerts_received(&rig.receiver, 2, "the other rack's WARNING");
    assert_eq!(
        got,
        [
            "1/power_feed host OK->CRITICAL",
            "3/inlet_temperature host OK->WARNING",
        ]
    );
    rig.wait_alerts(2, "inhibited (by 1/power_feed (rack power))");

    // A restart: the rule holds again (the host's judges start over at OK, so the alarms are
    // raised again by the same readings).
    daemon.kill9();
    let mut nodes = [&mut power, &mut same_rack, &mut other_rack];
    let mut daemon = start_nodes(&home, &config, &mut nodes, "second.log");
    power.readings(CRITICAL);
    wait_alerts_received(&rig.receiver, 3, "the power alarm after the restart");
    same_rack.readings(WARNING);
    wait_inhibited(&mut daemon, 1);
    other_rack.readings(CRITICAL);
    wait_alerts_received(&rig.receiver, 4, "the other rack's CRITICAL");

    // The power comes back with node 2 still WARNING: notified once, now.
    power.readings(OK);
    let got = wait_alerts_received(&rig.receiver, 6, "the end of the inhibition");
    assert_eq!(
        got[2..],
        [
            "1/power_feed host OK->CRITICAL",
            "3/inlet_temperature host OK->CRITICAL",
            "1/power_feed host CRITICAL->OK",
            "2/inlet_temperature host OK->WARNING",
        ]
    );
    wait_inhibited(&mut daemon, 0);
}
