//! Pushed values through the real binary and a running daemon: `POST /push` in the Prometheus text
//! format and InfluxDB line protocol, and `rackwatch push`, reach `/state`, `/metrics` and history
//! under a virtual node; a malformed body is refused naming its line and applies nothing; the
//! series bound and the body limit hold; the bearer token is required once configured; a series
//! rising steadily gets a forecast as a sensor's would. Each test runs its own daemon on its own
//! port (one listens on every address, to show a daemon without a token refuses data there).

mod daemon_support;

use daemon_support::{metric, node, Daemon};
use rackwatch::state::fetch;
use std::path::Path;
use std::time::{Duration, Instant};

/// A daemon with the `local` source (which keeps it live), pushes on loopback, and `extra`
/// appended to its configuration.
fn start(extra: &str, token: Option<&str>) -> Daemon {
    start_on("127.0.0.1", extra, token)
}

/// The same, listening on `host` (asked on loopback all the same), with `token` in a token file.
fn start_on(host: &str, extra: &str, token: Option<&str>) -> Daemon {
    let mut http = format!("[http]\nlisten = \"{host}:PORT\"\n");
    let token_file = token.map(|token| format!("{token}\n"));
    let mut files = Vec::new();
    if let Some(contents) = &token_file {
        http.push_str("token_file = \"DIR/token\"\n");
        files.push(("token", contents.as_str()));
    }
    Daemon::start(
        &format!("[local]\ninterval = \"1s\"\n\n{http}\n{extra}"),
        &files,
    )
}

/// `POST /push` with `headers` (each a full `Name: value`), answered as (status, body).
fn push(daemon: &Daemon, body: &str, headers: &[&str]) -> (u16, String) {
    daemon.request("POST", "/push", headers, body)
}

/// The node id a push's answer names for `name`: `... name (node 61234) ...`.
fn id_in_answer(answer: &str, name: &str) -> u16 {
    let after = answer
        .split(&format!("{name} (node "))
        .nth(1)
        .unwrap_or_else(|| panic!("no id for {name} in {answer}"));
    after[..after.find(')').unwrap()].parse().unwrap()
}

#[test]
fn both_formats_and_the_command_reach_state_metrics_and_history() {
    let daemon = start("", None);
    let (code, answer) = push(
        &daemon,
        "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\n\
         queue_depth{node=\"batch\",unit=\"jobs\"} 12\n",
        &["Content-Type: text/plain; version=0.0.4"],
    );
    assert_eq!(code, 200, "{answer}");
    let batch = id_in_answer(&answer, "batch");
    assert!((0xF000..=0xFEFF).contains(&batch), "{answer}");
    // No Content-Type that names a format: sniffed as line protocol.
    let (code, answer) = push(
        &daemon,
        "latency,node=probe,unit=ms value=4.5,p99=9i\n",
        &[],
    );
    assert_eq!(code, 200, "{answer}");
    let probe = id_in_answer(&answer, "probe");
    let out = daemon.rackwatch(&[
        "push",
        "backup_age",
        "3600",
        "--node",
        "batch",
        "--unit",
        "s",
        "--connect",
        &daemon.url(""),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted 1 value for batch"));

    let snapshot = daemon.wait_for("the three series", |s| {
        Some((
            metric(s, "batch", "queue_depth")?.clone(),
            metric(s, "probe", "latency_p99")?.clone(),
            metric(s, "batch", "backup_age")?.clone(),
            node(s, "batch")?.id,
            node(s, "probe")?.id,
        ))
    });
    assert_eq!(snapshot.0.value, Some(12.0));
    assert_eq!(snapshot.0.unit, "jobs");
    assert_eq!(snapshot.1.value, Some(9.0));
    assert_eq!(snapshot.2.unit, "s");
    assert_eq!((snapshot.3, snapshot.4), (batch, probe));
    let pushes = daemon.snapshot();
    let source = pushes.sources.iter().find(|s| s.name == "push:http");
    assert!(
        source.is_some_and(|s| s.connected && s.bytes > 0),
        "{source:?}"
    );

    let metrics = daemon.get("/metrics");
    for needle in [
        format!("node=\"{batch}\",metric=\"queue_depth\""),
        format!("node=\"{probe}\",metric=\"latency\""),
    ] {
        assert!(metrics.contains(&needle), "{needle} not in /metrics");
    }

    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        let out = daemon.rackwatch(&["history", "--node", &probe.to_string(), "--format", "csv"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("latency,4.5") && text.contains("latency_p99,9") {
            break;
        }
        assert!(Instant::now() < give_up, "not in history: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_malformed_push_names_its_line_and_applies_nothing() {
    let daemon = start("", None);
    let (code, answer) = push(
        &daemon,
        "good_one{node=\"bad\"} 1\ngood_two{node=\"bad\"} 2\ngood_three{node=\"bad\"} three\n",
        &[],
    );
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("line 3"), "{answer}");
    assert!(answer.contains("`three` is not a number"), "{answer}");
    let (code, answer) = push(&daemon, "m,node=bad,host=a value=1\n", &[]);
    assert_eq!(code, 400, "{answer}");
    assert!(
        answer.contains("line 1") && answer.contains("tag `host`"),
        "{answer}"
    );
    // Not-a-number and infinities are values, judged as a sensor's would be.
    let (code, answer) = push(
        &daemon,
        "odd{node=\"odd\"} NaN\nodd{node=\"odd\"} +Inf\n",
        &[],
    );
    assert_eq!(code, 200, "{answer}");
    // A later good push shows the refused ones left nothing behind.
    let (code, answer) = push(&daemon, "after{node=\"bad\"} 5\n", &[]);
    assert_eq!(code, 200, "{answer}");
    let names = daemon.wait_for("the good push", |s| {
        let n = node(s, "bad")?;
        n.metrics
            .iter()
            .any(|m| m.value.is_some())
            .then(|| n.metrics.iter().map(|m| m.name.clone()).collect::<Vec<_>>())
    });
    assert_eq!(names, ["after"]);
}

#[test]
fn the_series_bound_and_the_body_limit_hold() {
    let daemon = start("[push]\nmax_series = 3\n", None);
    let body: String = (0..4)
        .map(|i| format!("s{i}{{node=\"n{i}\"}} 1\n"))
        .collect();
    let (code, answer) = push(&daemon, &body, &[]);
    assert_eq!(code, 422, "{answer}");
    assert!(answer.contains("max_series = 3"), "{answer}");
    // Nothing of it applied: three series still fit.
    let body: String = (0..3)
        .map(|i| format!("s{i}{{node=\"n{i}\"}} 1\n"))
        .collect();
    let (code, answer) = push(&daemon, &body, &[]);
    assert_eq!(code, 200, "{answer}");

    let huge = "x 1\n".repeat(20_000);
    let (code, answer) = push(&daemon, &huge, &[]);
    assert_eq!(code, 413, "{answer}");
    assert!(answer.contains("65536 bytes"), "{answer}");
}

#[test]
fn a_configured_token_is_required_and_accepted() {
    let daemon = start("", Some("s3cret-token"));
    let (code, answer) = push(&daemon, "m 1\n", &[]);
    assert_eq!(code, 401, "{answer}");
    assert!(answer.contains("Bearer"), "{answer}");
    let (code, answer) = push(&daemon, "m 1\n", &["Authorization: Bearer wrong"]);
    assert_eq!(code, 401, "{answer}");
    let (code, answer) = push(&daemon, "m 1\n", &["Authorization: Bearer s3cret-token"]);
    assert_eq!(code, 200, "{answer}");
    // Reading stays open.
    assert!(fetch(&daemon.url("/state"), Duration::from_secs(5)).is_ok());
    // The command finds the listener and the token in the configuration.
    let out = daemon.rackwatch(&["push", "cli_metric", "7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrong = daemon.dir().join("wrong");
    std::fs::write(&wrong, "nope\n").unwrap();
    let out = daemon.rackwatch(&["push", "cli_metric", "8", "--token-file", path(&wrong)]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("401"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn beyond_loopback_without_a_token_pushes_are_refused_saying_how_to_set_one() {
    let daemon = start_on("0.0.0.0", "", None);
    let (code, answer) = push(&daemon, "m 1\n", &[]);
    assert_eq!(code, 403, "{answer}");
    assert!(answer.contains("token_file"), "{answer}");
    // Reading stays open.
    assert!(fetch(&daemon.url("/state"), Duration::from_secs(5)).is_ok());
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_steadily_rising_pushed_series_gets_a_forecast() {
    let daemon = start(
        "[[rules]]\nmetric = \"spool_used\"\n\
         rule.value.critical.above.raise = { value = 100000.0, inclusive = true }\n",
        None,
    );
    // The value is the time since the first push, in tenths of a second: a straight line in the
    // time the daemon dates each value with, however the pushes happen to be spaced.
    let start = Instant::now();
    for _ in 0..30 {
        let tenths = start.elapsed().as_millis() as f64 / 100.0;
        let (code, answer) = push(
            &daemon,
            &format!("spool_used{{node=\"spool\"}} {tenths}\n"),
            &[],
        );
        assert_eq!(code, 200, "{answer}");
        std::thread::sleep(Duration::from_millis(30));
    }
    let eta = daemon.wait_for("a forecast", |s| metric(s, "spool", "spool_used")?.eta);
    assert_eq!(eta.threshold, 100000.0);
    assert!(eta.above);
    assert!(eta.ms > 0);
}
