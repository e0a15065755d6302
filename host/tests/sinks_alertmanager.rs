//! The Alertmanager sink against a real Alertmanager (`prometheus-alertmanager`) on a port of its
//! own, whose webhook receiver is this test: a simulated rack's WARNING and CRITICAL reach the
//! receiver as notifications with rackwatch's labels and the sink's static ones, the WARNING
//! resolves when it escalates; an Alertmanager down while the alert fires gets it when it is back;
//! and a `kill -9` and restart of rackwatch re-sends the same alert identity (labels, `startsAt`)
//! so that nothing is notified twice.

mod sinks_support;

use rackwatch_tests::require::{self, Missing};
use serde_json::Value;
use sinks_support::*;
use std::path::Path;
use std::process::{Command, Stdio};

/// Every alert in every notification received, with the notification's index.
fn notified(receiver: &Receiver) -> Vec<(usize, Value)> {
    receiver
        .taken()
        .iter()
        .enumerate()
        .filter_map(|(i, r)| Some((i, serde_json::from_str::<Value>(&r.body).ok()?)))
        .flat_map(|(i, n)| {
            n["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |a| (i, a))
        })
        .collect()
}

/// The alerts notified for node 1's inlet temperature judged by `origin`, at `severity`, with
/// `status` (`firing` or `resolved`).
fn inlet_alerts(receiver: &Receiver, origin: &str, severity: &str, status: &str) -> Vec<Value> {
    notified(receiver)
        .into_iter()
        .map(|(_, a)| a)
        .filter(|a| {
            let l = &a["labels"];
            l["node"] == "1"
                && l["metric"] == "inlet_temperature"
                && l["origin"] == origin
                && l["severity"] == severity
                && a["status"] == status
        })
        .collect()
}

/// The alert Alertmanager holds for node 1's critical inlet temperature (origin node).
fn held_critical(am_port: u16) -> Option<Value> {
    let body = http_get(am_port, "/api/v2/alerts")?;
    let alerts: Value = serde_json::from_str(&body).ok()?;
    alerts.as_array()?.iter().find_map(|a| {
        let l = &a["labels"];
        (l["node"] == "1" && l["origin"] == "node" && l["severity"] == "critical")
            .then(|| a.clone())
    })
}

fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    // Chunked or not, the JSON array is the body's bracketed part.
    Some(body[body.find('[')?..=body.rfind(']')?].to_string())
}

#[test]
fn warning_and_critical_page_once_through_restarts_of_both() {
    let bin = match require::program("prometheus-alertmanager", ALERTMANAGER_INSTALL) {
        Ok(bin) => bin,
        Err(missing) => return Missing::skip(&missing),
    };
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let receiver = Receiver::start(false);
    let am_port = free_port();
    // Up, then down before anything fires.
    drop(alertmanager(&bin, home, am_port, &receiver));

    let sim_port = free_port();
    let _sim = Killed(
        rackwatch(home)
            .args([
                "sim",
                "--nodes",
                "2",
                "--scenario",
                "rising-inlet,power-creep",
            ])
            .args(["--speed", "300", "--for", "24h"])
            .args(["--to", &format!("tcp-listen:127.0.0.1:{sim_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let config = home.join("rackwatch.toml");
    std::fs::write(
        &config,
        format!(
            "[[sink]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://127.0.0.1:{am_port}\"\n\
             resend = \"2s\"\ntimeout = \"2s\"\nretry_max = \"1s\"\nlabels = {{ rack = \"r1\" }}\n"
        ),
    )
    .unwrap();
    let source = format!("tcp:127.0.0.1:{sim_port}");
    let mut daemon = Daemon::start(home, &config, &[&source], "first.log", Stdio::null(), &[]);

    // The WARNING fires while Alertmanager is down: queued, retried.
    wait_until("the WARNING queued while Alertmanager is down", || {
        daemon
            .sink("am")
            .filter(|s| s.pending > 0 && s.failures > 0)
    });
    let _am = alertmanager(&bin, home, am_port, &receiver);
    let warning = wait_until("the WARNING notified", || {
        inlet_alerts(&receiver, "node", "warning", "firing")
            .into_iter()
            .next()
    });
    let labels = &warning["labels"];
    assert_eq!(labels["alertname"], "rackwatch");
    assert_eq!(labels["rack"], "r1");
    let summary = warning["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("inlet_temperature on node 1 is WARNING: reaches 32 degC in"),
        "{summary}"
    );
    assert_eq!(warning["annotations"]["cause"], "eta");
    assert!(warning["generatorURL"]
        .as_str()
        .unwrap()
        .ends_with("/state"));

    // It escalates: CRITICAL fires, the WARNING resolves.
    let critical = wait_until("the CRITICAL notified", || {
        inlet_alerts(&receiver, "node", "critical", "firing")
            .into_iter()
            .next()
    });
    assert!(critical["annotations"]["summary"]
        .as_str()
        .unwrap()
        .contains("is CRITICAL"));
    wait_until("the WARNING resolved", || {
        inlet_alerts(&receiver, "node", "warning", "resolved")
            .into_iter()
            .next()
    });

    // kill -9 while it fires; restarted, rackwatch re-sends the same alert, and nothing new is
    // notified for it.
    let before = held_critical(am_port).expect("Alertmanager holds the critical alert");
    daemon.kill9();
    let mut restarted = Daemon::start(
        home,
        &config,
        &[&idle_live_source()],
        "second.log",
        Stdio::null(),
        &[],
    );
    wait_until("the restarted daemon up", || restarted.state());
    // Two renewals after the restart: Alertmanager's end for the alert has moved on twice the
    // resend interval, its start has not.
    let renewed = wait_until("the alert renewed by the restarted daemon", || {
        let now = held_critical(am_port)?;
        let ends = |a: &Value| rackwatch::timefmt::parse_rfc3339(a["endsAt"].as_str()?).ok();
        (ends(&now)? >= ends(&before)? + 4_000).then_some(now)
    });
    assert_eq!(renewed["startsAt"], before["startsAt"]);
    assert_eq!(renewed["labels"], before["labels"]);
    assert_eq!(renewed["fingerprint"], before["fingerprint"]);
    assert_eq!(
        inlet_alerts(&receiver, "node", "critical", "firing").len(),
        1,
        "the critical alert was notified again after the restart"
    );
    assert!(inlet_alerts(&receiver, "node", "critical", "resolved").is_empty());
    let s = restarted.sink("am").unwrap();
    assert_eq!(
        (s.pending, s.level),
        (0, rackwatch_core::Level::Ok),
        "{s:?}"
    );
}

#[test]
fn the_contrib_configuration_passes_amtool_check_config() {
    let amtool = match require::program("amtool", ALERTMANAGER_INSTALL) {
        Ok(bin) => bin,
        Err(missing) => return Missing::skip(&missing),
    };
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/alertmanager/alertmanager.yml");
    let out = Command::new(amtool)
        .args(["check-config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // It routes rackwatch's own labels.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("alertname = \"rackwatch\"") && text.contains("severity"));
}
