//! Jobs (a dead man's switch) through the real binary and a running daemon: a job pinged on
//! schedule stays OK; a missed run turns CRITICAL once its schedule and grace have passed, and a
//! run clears it; a failing `rackwatch exec` is CRITICAL with its exit status and stderr tail in
//! `rackwatch alerts`, and its status passes through, also when the daemon is unreachable; a run
//! ten times its usual duration is WARNING (above `slow_factor` 3 with room for a loaded machine
//! stretching the short usual runs); the healthchecks.io-shaped URLs work from curl (or,
//! without curl, from a plain HTTP request), with a job's own token and the body limit.
//!
//! Time is scaled, not slept: schedules of a few seconds, and every wait polls `/state` for the
//! level it expects (bounded at 30 s, which only a hung test reaches). Nothing asserts how long
//! anything took.

mod daemon_support;

use daemon_support::{metric, rackwatch_command, Daemon};
use rackwatch::state::MetricView;
use rackwatch_core::Level;
use std::process::{Command, Output};
use std::time::Duration;

/// The configuration every test starts from: the `local` source (which keeps the daemon live) and
/// the HTTP server, then `jobs`.
fn config(jobs: &str) -> String {
    format!("[local]\ninterval = \"1s\"\n\n[http]\nlisten = \"127.0.0.1:PORT\"\n\n{jobs}")
}

/// A daemon running `jobs` (TOML), with `files` (name, contents) written first into the directory
/// `DIR` in `jobs` names.
fn start(jobs: &str, files: &[(&str, &str)]) -> Daemon {
    Daemon::start(&config(jobs), files)
}

/// Waits until `job`'s `metric` is at `level`.
fn wait_level(daemon: &Daemon, job: &str, metric_name: &str, level: Level) -> MetricView {
    daemon.wait_for(&format!("{job} {metric_name} at {level}"), |s| {
        metric(s, job, metric_name)
            .filter(|m| m.level == level)
            .cloned()
    })
}

/// `rackwatch exec --job JOB -c CONFIG -- COMMAND...`.
fn exec(daemon: &Daemon, job: &str, command: &[&str]) -> Output {
    rackwatch_command()
        .args(["exec", "--job", job, "-c"])
        .arg(daemon.config())
        .arg("--")
        .args(command)
        .output()
        .unwrap()
}

#[test]
fn a_job_pinged_on_schedule_stays_ok() {
    // Due every 3 s, late after 2 s more; pinged about every half second for longer than that
    // (16 pings, over 6.4 s of pauses alone), so a daemon that ignored the pings would turn it
    // CRITICAL within the loop, and the gap between two pings has room to spare on a busy machine.
    let daemon = start(
        "[[job]]\nname = \"sync\"\nschedule = \"every 3s\"\ngrace = \"2s\"\n",
        &[],
    );
    let pings = 16;
    for _ in 0..pings {
        let out = daemon.rackwatch(&["ping", "sync"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "OK\n");
        let snapshot = daemon.snapshot();
        if let Some(overdue) = metric(&snapshot, "sync", "overdue") {
            assert_eq!(overdue.level, Level::Ok, "{overdue:?}");
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let runs = daemon.wait_output(&["history", "--jobs", "sync", "--format", "csv"], &["sync"]);
    assert_eq!(runs.matches(",sync,success,0,").count(), pings, "{runs}");
    let alerts = daemon.rackwatch(&["alerts", "--format", "csv"]);
    let alerts = String::from_utf8_lossy(&alerts.stdout);
    assert!(!alerts.contains("overdue"), "{alerts}");
    let snapshot = daemon.snapshot();
    let overdue = metric(&snapshot, "sync", "overdue").expect("announced");
    assert_eq!(overdue.level, Level::Ok);
}

#[test]
fn a_missed_run_turns_critical_after_its_schedule_and_grace_and_a_run_clears_it() {
    let daemon = start(
        "[[job]]\nname = \"report\"\nschedule = \"every 1s\"\ngrace = \"1s\"\n",
        &[],
    );
    let out = daemon.rackwatch(&["ping", "report"]);
    assert!(out.status.success());
    let late = wait_level(&daemon, "report", "overdue", Level::Critical);
    assert!(late.value.is_some_and(|v| v > 0.0), "{late:?}");
    // The transition is never earlier than the ping plus schedule and grace.
    let runs = daemon.wait_output(
        &["history", "--jobs", "report", "--format", "json"],
        &["success"],
    );
    let ping_ms = serde_json::from_str::<serde_json::Value>(runs.lines().next().unwrap()).unwrap()
        ["wall_ms"]
        .as_u64()
        .unwrap();
    let alerts = daemon.wait_output(&["alerts", "--format", "json"], &["\"overdue\""]);
    let raised = alerts
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|t| t["name"] == "overdue" && t["to"] == "CRITICAL")
        .expect("a transition to CRITICAL");
    assert!(
        raised["wall_ms"].as_u64().unwrap() >= ping_ms + 2_000,
        "{raised} {runs}"
    );
    // A run ends: back to OK.
    assert!(daemon.rackwatch(&["ping", "report"]).status.success());
    wait_level(&daemon, "report", "overdue", Level::Ok);
}

#[test]
fn a_failing_exec_is_critical_with_its_exit_status_and_stderr_tail_in_alerts() {
    let daemon = start(
        "[[job]]\nname = \"nightly\"\nschedule = \"every 1h\"\ngrace = \"1h\"\n",
        &[],
    );
    let out = exec(
        &daemon,
        "nightly",
        &[
            "sh",
            "-c",
            "echo copying; echo 'rsync: write failed: No space left on device' >&2; exit 3",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "the command's status passes through"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "copying\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(!stderr.contains("not reported"), "{stderr}");
    let failed = wait_level(&daemon, "nightly", "exit_status", Level::Critical);
    assert_eq!(failed.value, Some(3.0));
    let alerts = daemon.wait_output(
        &["alerts"],
        &[
            "exit_status",
            "CRITICAL",
            "JOB nightly failed",
            "exit status 3 after",
        ],
    );
    assert!(
        alerts.contains("    rsync: write failed: No space left on device"),
        "{alerts}"
    );
    // A run that succeeds clears it.
    let out = exec(&daemon, "nightly", &["true"]);
    assert_eq!(out.status.code(), Some(0));
    wait_level(&daemon, "nightly", "exit_status", Level::Ok);
    // And /metrics has the job's series.
    let (code, metrics) = daemon.request("GET", "/metrics", &[], "");
    assert_eq!(code, 200);
    assert!(metrics.contains("metric=\"exit_status\""), "{metrics}");
    assert!(metrics.contains("metric=\"duration\""), "{metrics}");
}

#[test]
fn a_failed_job_stays_critical_across_a_restart() {
    let mut daemon = start(
        "[[job]]\nname = \"nightly\"\nschedule = \"every 1h\"\ngrace = \"1h\"\n",
        &[],
    );
    let out = exec(&daemon, "nightly", &["sh", "-c", "exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    wait_level(&daemon, "nightly", "exit_status", Level::Critical);
    daemon.restart();
    let failed = wait_level(&daemon, "nightly", "exit_status", Level::Critical);
    assert_eq!(failed.value, Some(4.0));
}

#[test]
fn exec_runs_the_command_and_passes_its_status_when_the_daemon_is_unreachable() {
    // A port nothing listens on: bound, then released.
    let port = rackwatch_tests::net::free_port();
    let out = rackwatch_command()
        .args(["exec", "--job", "nightly", "--connect"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--", "sh", "-c", "echo done; exit 5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "done\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.matches("not reported").count(), 1, "{stderr}");
    // A command that cannot start is 127, as from a shell.
    let out = rackwatch_command()
        .args(["exec", "--job", "nightly", "--connect"])
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--", "/nonexistent/command"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn a_run_ten_times_its_usual_duration_is_warning() {
    let daemon = start(
        "[[job]]\nname = \"etl\"\nschedule = \"every 1h\"\ngrace = \"1h\"\n",
        &[],
    );
    for _ in 0..3 {
        let out = exec(&daemon, "etl", &["sleep", "0.2"]);
        assert_eq!(out.status.code(), Some(0));
    }
    let usual = wait_level(&daemon, "etl", "duration", Level::Ok);
    assert!(usual.value.is_some());
    let out = exec(&daemon, "etl", &["sleep", "2"]);
    assert_eq!(out.status.code(), Some(0), "a slow run still succeeds");
    let slow = wait_level(&daemon, "etl", "slowness", Level::Warning);
    assert!(slow.value.is_some_and(|v| v > 3.0), "{slow:?}");
    let failed = metric(&daemon.snapshot(), "etl", "exit_status").cloned();
    assert_eq!(
        failed.map(|m| m.level),
        Some(Level::Ok),
        "slow is not failed"
    );
    let runs = daemon.wait_output(&["history", "--jobs", "etl", "--format", "csv"], &["etl"]);
    assert_eq!(runs.matches(",etl,start,").count(), 4, "{runs}");
    assert_eq!(runs.matches(",etl,success,0,").count(), 4, "{runs}");
}

#[test]
fn the_healthchecks_urls_work_from_curl_with_a_job_token_and_a_body_limit() {
    let daemon = start(
        "[[job]]\nname = \"web\"\nschedule = \"every 1h\"\n\n\
         [[job]]\nname = \"db-dump\"\nschedule = \"every 1h\"\ntoken_file = \"DIR/db.token\"\n",
        &[("db.token", "s3cret\n")],
    );
    let curl = rackwatch_tests::require::which("curl");
    // Each check-in: (method, path, token, body) → status.
    let send = |method: &str, path: &str, token: Option<&str>, body: &str| -> u16 {
        match &curl {
            Some(curl) => {
                let mut command = Command::new(curl);
                command
                    .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-m", "10"])
                    .args(["-X", method]);
                if let Some(token) = token {
                    command.args(["-H", &format!("Authorization: Bearer {token}")]);
                }
                if !body.is_empty() {
                    command.args(["--data-binary", body]);
                }
                let out = command.arg(daemon.url(path)).output().unwrap();
                String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
            }
            None => {
                let header = token.map(|t| format!("Authorization: Bearer {t}"));
                let headers: Vec<&str> = header.iter().map(String::as_str).collect();
                daemon.request(method, path, &headers, body).0
            }
        }
    };
    // A cron line's `curl -fsS -m 10 --retry 5 -o /dev/null URL` is a GET.
    assert_eq!(send("GET", "/ping/web/start", None, ""), 200);
    assert_eq!(
        send("POST", "/ping/web/fail", None, "upstream timed out"),
        200
    );
    let failed = wait_level(&daemon, "web", "exit_status", Level::Critical);
    assert_eq!(failed.value, Some(1.0));
    assert_eq!(send("GET", "/ping/web/0", None, ""), 200);
    wait_level(&daemon, "web", "exit_status", Level::Ok);
    assert_eq!(send("POST", "/ping/web/7", None, "exit seven"), 200);
    let failed = wait_level(&daemon, "web", "exit_status", Level::Critical);
    assert_eq!(failed.value, Some(7.0));
    // Unknown jobs and shapes are 404; a body over the limit is 413.
    assert_eq!(send("GET", "/ping/nope", None, ""), 404);
    assert_eq!(send("GET", "/ping/web/log", None, ""), 404);
    assert_eq!(send("POST", "/ping/web", None, &"x".repeat(11 * 1024)), 413);
    // The job with a token of its own: refused without it or with another, served with it.
    assert_eq!(send("GET", "/ping/db-dump", None, ""), 401);
    assert_eq!(send("GET", "/ping/db-dump", Some("wrong"), ""), 401);
    assert_eq!(send("GET", "/ping/db-dump", Some("s3cret"), ""), 200);
    wait_level(&daemon, "db-dump", "exit_status", Level::Ok);
    let runs = daemon.wait_output(
        &["history", "--jobs", "web", "--format", "csv"],
        &["exit seven"],
    );
    assert!(runs.contains("upstream timed out"), "{runs}");
}
