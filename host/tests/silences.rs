//! Silences through the real binary: a daemon fed frame by frame, a webhook receiver in the test.
//! A silence matching by regex mutes (the transition still in the history, marked silenced),
//! survives a restart, and when it ends over a firing alert exactly one notification goes out;
//! made with the daemon up (HTTP) or down (store); every action in the audit. Against a real
//! Alertmanager, a silenced change is not posted and the current level is when the silence ends.

mod operator_support;
mod sinks_support;

use operator_support::*;
use sinks_support::*;

/// Waits until `/state` shows `n` active silences.
fn wait_active(daemon: &mut Daemon, n: u64) -> rackwatch::state::Snapshot {
    wait_until("the silences in /state", || {
        let state = daemon.state()?;
        (state.operator.silences_active == n).then_some(state)
    })
}

#[test]
fn a_regex_silence_mutes_survives_a_restart_and_notifies_once_at_its_end() {
    let mut rig = Rig::new();
    let mut daemon = rig.start_warning();

    // Over HTTP. A regex is anchored: `temperature` alone would match nothing.
    let url = base_url(&daemon);
    let out = rig
        .cli(&[
            "silence",
            "add",
            "node=7",
            "metric=~inlet_.*",
            "origin!~node",
            "--for",
            "1h",
            "--comment",
            "recabling rack 2",
            "--connect",
            &url,
        ])
        .unwrap();
    let id: u64 = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let state = wait_active(&mut daemon, 1);
    assert_eq!(state.operator.silences[0].creator, "operator");
    let metrics = metrics(&daemon);
    assert!(metrics.contains("rackwatch_silences_active 1"), "{metrics}");
    let listed = rig.cli(&["silence", "list", "--connect", &url]).unwrap();
    assert!(
        listed.contains("metric=~inlet_.*") && listed.contains("active"),
        "{listed}"
    );

    // CRITICAL while silenced: recorded, marked, not sent.
    rig.node.readings(CRITICAL);
    rig.wait_alerts(NODE, &format!("silenced (silence {id})"));
    assert_eq!(received(&rig.receiver).len(), 1);

    // A restart keeps the silence. The host's judge starts over at OK after a restart, so it
    // raises CRITICAL again: silenced too, and now the latest held transition of the alert.
    daemon.kill9();
    let mut daemon = rig.start("second.log");
    wait_active(&mut daemon, 1);
    rig.node.readings(CRITICAL);
    wait_until("the second silenced CRITICAL in the history", || {
        let alerts = rig.cli(&["alerts", "--node", "7"]).ok()?;
        (alerts.matches(&format!("silenced (silence {id})")).count() == 2).then_some(())
    });

    // Expired on the store while the daemon runs: the alert still fires, so its latest held
    // transition (the current level) goes out, once.
    let out = rig
        .cli(&["silence", "expire", &id.to_string(), "--comment", "done"])
        .unwrap();
    assert!(out.contains("expired"), "{out}");
    let got = wait_received(
        &rig.receiver,
        2,
        "the one notification at the silence's end",
    );
    assert_eq!(got[1], doc("host", "OK", "CRITICAL"));
    wait_active(&mut daemon, 0);
    // Then the alert notifies as usual; nothing else came in between.
    rig.node.readings(OK);
    let got = wait_received(&rig.receiver, 3, "the recovery");
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[2].2, "OK");

    let audit = rig.cli(&["audit"]).unwrap();
    assert!(
        audit.contains("silence_add") && audit.contains("silence_expire"),
        "{audit}"
    );
    assert!(audit.contains("recabling rack 2"), "{audit}");
}

#[test]
fn a_silence_made_with_the_daemon_down_applies_when_it_starts_and_one_that_does_not_match_mutes_nothing(
) {
    let mut rig = Rig::new();

    // Daemon down: on the store. One silence matches (the host's judge), one does not (anchored).
    let out = rig
        .cli(&[
            "silence",
            "add",
            "origin=host",
            "severity=~crit.*",
            "--until",
            "1h",
            "--comment",
            "maintenance",
        ])
        .unwrap();
    assert!(out.starts_with("silence 1 "), "{out}");
    rig.cli(&[
        "silence",
        "add",
        "metric=~temperature",
        "--for",
        "1h",
        "--comment",
        "never matches",
    ])
    .unwrap();
    let e = rig
        .cli(&[
            "silence",
            "add",
            "metric=~(",
            "--for",
            "1h",
            "--comment",
            "x",
        ])
        .unwrap_err();
    assert!(e.contains("not a regex"), "{e}");
    let e = rig.cli(&["silence", "expire", "99"]).unwrap_err();
    assert!(e.contains("does not exist"), "{e}");

    let mut daemon = rig.start("daemon.log");
    wait_active(&mut daemon, 2);
    rig.node.readings(OK);
    rig.node.readings(WARNING);
    rig.node.readings(CRITICAL);
    rig.node.readings(WARNING);
    let got = wait_received(&rig.receiver, 2, "the WARNINGs");
    // The CRITICAL is silenced (severity=~crit.*); the WARNING after it is its own transition
    // and is sent (it supersedes the held CRITICAL, which is then never sent).
    assert_eq!(
        got,
        vec![
            doc("host", "OK", "WARNING"),
            doc("host", "CRITICAL", "WARNING")
        ]
    );
    let listed = rig.cli(&["silence", "list", "--all"]).unwrap();
    assert_eq!(listed.lines().count(), 3, "{listed}");
}

#[test]
fn a_silence_starting_later_is_pending_then_mutes() {
    let mut rig = Rig::new();
    let mut daemon = rig.start("daemon.log");
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 1500;
    let out = rig
        .cli(&[
            "silence",
            "add",
            "node=7",
            "--start",
            &start.to_string(),
            "--for",
            "1h",
            "--comment",
            "later",
        ])
        .unwrap();
    assert!(out.starts_with("silence 1 "), "{out}");
    // Listed as pending until it starts (if the listing is slow it may already be active).
    let listed = rig.cli(&["silence", "list"]).unwrap();
    assert!(
        listed.contains("pending") || listed.contains("active"),
        "{listed}"
    );
    wait_active(&mut daemon, 1);
    rig.node.readings(OK);
    rig.node.readings(WARNING);
    rig.wait_alerts(NODE, "silenced (silence 1)");
    assert!(received(&rig.receiver).is_empty());
}

/// The severities of Alertmanager's alerts (`/api/v2/alerts`) for node 7.
fn am_alerts(port: u16) -> Option<Vec<String>> {
    Some(
        am_alert_fields(port, "severity")?
            .into_iter()
            .map(|(s, _)| s)
            .collect(),
    )
}

/// (severity, `field`) of Alertmanager's alerts for node 7.
fn am_alert_fields(port: u16, field: &str) -> Option<Vec<(String, String)>> {
    let url = format!("http://127.0.0.1:{port}");
    let body = rackwatch::client::call(
        &url,
        &rackwatch::client::Call::get("/api/v2/alerts"),
        std::time::Duration::from_secs(5),
    )
    .ok()?;
    let alerts: serde_json::Value = serde_json::from_str(&body).ok()?;
    Some(
        alerts
            .as_array()?
            .iter()
            .filter(|a| a["labels"]["node"] == "7")
            .filter_map(|a| {
                let severity = a["labels"]["severity"].as_str()?.to_string();
                Some((severity, a[field].as_str().unwrap_or_default().to_string()))
            })
            .collect(),
    )
}

#[test]
fn alertmanager_gets_no_silenced_alert_and_the_current_one_when_the_silence_ends() {
    use rackwatch_tests::require::{self, Missing};
    let bin = match require::program("prometheus-alertmanager", ALERTMANAGER_INSTALL) {
        Ok(bin) => bin,
        Err(missing) => return Missing::skip(&missing),
    };
    let am_port = free_port();
    let mut rig = Rig::with_config(&format!(
        "[[sink]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:{am_port}\"\n\
         resend = \"2s\"\ntimeout = \"2s\"\nretry_max = \"1s\"\n"
    ));
    // Alertmanager's notifications go to a receiver of their own.
    let notified = Receiver::start(false);
    let _am = alertmanager(&bin, &rig.home, am_port, &notified);
    wait_until("Alertmanager ready", || am_alerts(am_port));
    let mut daemon = rig.start("daemon.log");
    rig.node.readings(OK);
    rig.node.readings(WARNING);
    wait_until("the WARNING in Alertmanager", || {
        (am_alerts(am_port)? == ["warning"]).then_some(())
    });

    let out = rig
        .cli(&[
            "silence",
            "add",
            "node=7",
            "severity=critical",
            "--for",
            "1h",
            "--comment",
            "am",
        ])
        .unwrap();
    let id = out.split_whitespace().nth(1).unwrap().to_string();
    wait_active(&mut daemon, 1);
    rig.node.readings(CRITICAL);
    rig.wait_alerts(NODE, "silenced (silence 1)");
    // A resend later (the WARNING's endsAt moves on), Alertmanager still knows only the WARNING
    // from before the silence: the silenced CRITICAL was not posted.
    let before = am_alert_fields(am_port, "endsAt").unwrap();
    wait_until("a resend", || {
        let now = am_alert_fields(am_port, "endsAt")?;
        (now != before).then_some(())
    });
    assert_eq!(am_alerts(am_port).unwrap(), ["warning"]);

    // The silence ends: the CRITICAL (the current level) is posted, and notified.
    rig.cli(&["silence", "expire", &id]).unwrap();
    wait_until("the CRITICAL in Alertmanager", || {
        am_alerts(am_port)?
            .contains(&"critical".to_string())
            .then_some(())
    });
    wait_until("the CRITICAL notified", || {
        notified
            .taken()
            .iter()
            .any(|r| r.body.contains("\"severity\":\"critical\""))
            .then_some(())
    });
}
