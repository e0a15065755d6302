//! `rackwatch watch` in a real terminal: the daemon (`rackwatch run`) reads a simulated node over TCP
//! (`rackwatch sim`, the rising-inlet scenario at an hour of rack time per second), whose forecast
//! and then value go critical; the dashboard runs in a detached 80×24 tmux pane
//! against the daemon's `/state`; the pane must show the node and the firing alert, and `q` must
//! end the dashboard cleanly and restore the screen.
//!
//! Needs `tmux`: without it the test skips with one loud line saying what to install, except under
//! `CI=true`, where it fails (`rackwatch_tests::require`).

use rackwatch::state::{fetch, Snapshot};
use rackwatch_tests::net::free_port;
use rackwatch_tests::require::{self, Missing};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The simulated node (`rackwatch sim --nodes 1`) and the metric its scenario drives.
const NODE: u16 = 1;
const METRIC: &str = "inlet_temperature";

/// Kills what the test started, however it ends.
struct Cleanup {
    daemon: Option<Child>,
    sim: Option<Child>,
    tmux_socket: Option<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(sim) = &mut self.sim {
            let _ = sim.kill();
            let _ = sim.wait();
        }
        if let Some(socket) = &self.tmux_socket {
            let _ = Command::new("tmux")
                .args(["-L", socket, "kill-server"])
                .stderr(Stdio::null())
                .status();
        }
        if let Some(daemon) = &mut self.daemon {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }
}

fn tmux(socket: &str, args: &[&str]) -> Output {
    Command::new("tmux")
        .args(["-L", socket])
        .args(args)
        .env("TERM", "xterm-256color")
        .output()
        .expect("tmux runs")
}

fn capture(socket: &str) -> String {
    String::from_utf8_lossy(&tmux(socket, &["capture-pane", "-p", "-t", "watch"]).stdout)
        .into_owned()
}

fn shows_the_firing_alert(pane: &str) -> bool {
    let node = pane.lines().any(|l| l.contains(&format!("node {NODE} ")));
    let alert = pane
        .lines()
        .any(|l| l.contains(METRIC) && (l.contains("CRITICAL") || l.contains("WARNING")));
    node && alert
}

/// Polls `check` every 100 ms until it gives `Some`, for at most `limit`.
fn wait_for<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(t) = check() {
            return Some(t);
        }
        if start.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn level(snapshot: &Snapshot) -> Option<String> {
    let node = snapshot.node(NODE)?;
    let metric = node.metrics.iter().find(|m| m.name == METRIC)?;
    Some(metric.level.as_str().to_string())
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// tmux is on the `PATH` and runs.
fn tmux_runs() -> Result<(), Missing> {
    const INSTALL: &str = "install tmux (Debian: apt-get install tmux; .ci/run does)";
    let tmux = require::program("tmux", INSTALL)?;
    let runs = Command::new(&tmux)
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        Ok(())
    } else {
        Err(Missing::new(
            format!("{} -V fails", tmux.display()),
            INSTALL,
        ))
    }
}

#[test]
fn watch_shows_the_node_and_its_firing_alert_in_tmux() {
    if let Err(missing) = tmux_runs() {
        missing.skip();
        return;
    }
    let bin = env!("CARGO_BIN_EXE_rackwatch");
    let dir = tempfile::tempdir().unwrap();
    let mut cleanup = Cleanup {
        daemon: None,
        sim: None,
        tmux_socket: None,
    };

    // The node: the firmware application with the simulated rising inlet, its failure from rack
    // minute 1, an hour of rack time per second, on a TCP line the daemon connects to.
    let line_port = free_port();
    cleanup.sim = Some(
        Command::new(bin)
            .args([
                "sim",
                "--nodes",
                "1",
                "--scenario",
                "rising-inlet",
                "--onset",
                "1m",
            ])
            .args(["--speed", "3600", "--for", "72h", "--to"])
            .arg(format!("tcp-listen:127.0.0.1:{line_port}"))
            .stderr(Stdio::null())
            .spawn()
            .expect("rackwatch sim starts"),
    );

    let http_port = free_port();
    let url = format!("http://127.0.0.1:{http_port}");
    let log = dir.path().join("daemon.log");
    cleanup.daemon = Some(
        Command::new(bin)
            .args(["run", "--no-local", "--no-store", "--listen"])
            .arg(format!("127.0.0.1:{http_port}"))
            .arg(format!("tcp:127.0.0.1:{line_port}"))
            // No configuration of the machine's user: the built-in defaults.
            .env("HOME", dir.path())
            .env_remove("RACKWATCH_CONFIG")
            .env_remove("XDG_CONFIG_HOME")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("rackwatch run starts"),
    );
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();

    // The daemon's own judgement first, so a failure below is the dashboard's.
    let judged = wait_for(Duration::from_secs(20), || {
        let snapshot = fetch(&url, Duration::from_secs(2)).ok()?;
        level(&snapshot).filter(|l| l == "CRITICAL")
    });
    assert!(
        judged.is_some(),
        "the daemon never judged node {NODE} CRITICAL; its log:\n{}",
        daemon_log()
    );

    let socket = format!("rackwatch-watch-test-{}", std::process::id());
    cleanup.tmux_socket = Some(socket.clone());
    let conf = dir.path().join("tmux.conf");
    // Keep the pane after the dashboard exits, to read its exit status.
    std::fs::write(&conf, "set -g remain-on-exit on\n").unwrap();
    // The dashboard's exit status goes to a file; the pane then stays open for the screen check.
    let status_file = dir.path().join("watch.status");
    let command = format!(
        "{} watch --connect {url}; echo $? > {}; sleep 60",
        shell_quote(bin),
        shell_quote(&status_file.to_string_lossy())
    );
    let started = tmux(
        &socket,
        &[
            "-u",
            "-f",
            &conf.to_string_lossy(),
            "new-session",
            "-d",
            "-s",
            "watch",
            "-x",
            "80",
            "-y",
            "24",
            &command,
        ],
    );
    assert!(
        started.status.success(),
        "tmux new-session failed: {}",
        String::from_utf8_lossy(&started.stderr)
    );

    let mut pane = String::new();
    let shown = wait_for(Duration::from_secs(20), || {
        pane = capture(&socket);
        shows_the_firing_alert(&pane).then_some(())
    });
    assert!(
        shown.is_some(),
        "the dashboard never showed node {NODE} with {METRIC} CRITICAL or WARNING; the pane:\n{pane}\ndaemon log:\n{}",
        daemon_log()
    );
    eprintln!("the pane:\n{pane}");
    assert!(pane.contains("rackwatch watch"), "{pane}");
    assert!(pane.contains("live"), "{pane}");
    assert!(pane.contains("32 degC"), "no forecast or bound in:\n{pane}");
    assert!(
        pane.lines().all(|l| l.chars().count() <= 80),
        "a line is wider than the pane:\n{pane}"
    );

    // `q` quits: the dashboard must end with status 0 and restore the screen.
    let sent = tmux(&socket, &["send-keys", "-t", "watch", "q"]);
    assert!(sent.status.success());
    let status = wait_for(Duration::from_secs(15), || {
        std::fs::read_to_string(&status_file)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    });
    let after = capture(&socket);
    assert_eq!(
        status.as_deref(),
        Some("0"),
        "`q` did not end the dashboard with status 0; the pane:\n{after}"
    );
    // The alternate screen is gone: the dashboard no longer covers the pane.
    assert!(
        !after.contains(METRIC) && !after.contains("rackwatch watch"),
        "the terminal was not restored:\n{after}"
    );
}
