//! `rackwatch watch` in a real terminal: the daemon (`rackwatch run`) reads a node over TCP whose
//! inlet temperature crosses its critical bound; the dashboard runs in a detached 80×24 tmux pane
//! against the daemon's `/state`; the pane must show the node and the firing alert, and `q` must
//! end the dashboard cleanly and restore the screen.
//!
//! Needs `tmux`: without it the test says so and passes, except under `CI=true`, where it fails.

use rackwatch::state::{fetch, Snapshot};
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODE: u16 = 7;
const METRIC: &str = "inlet_temperature";

/// A node's line: frames with consecutive sequence numbers.
struct Node {
    seq: u16,
    t_ms: u64,
}

impl Node {
    fn frame(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: NODE,
                boot_id: 0x5EED,
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).expect("a frame encodes");
        out[..n].to_vec()
    }

    /// Hello, then the metric's spec: WARNING above 30 degC, CRITICAL above 35.
    fn boot(&mut self) -> Vec<u8> {
        let mut bytes = self.frame(Body::Hello(Hello::new("0.1.0".try_into().unwrap())));
        let spec = MetricSpec::new(
            0,
            METRIC,
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .expect("a valid spec");
        bytes.extend(self.frame(Body::Metric(spec)));
        bytes
    }

    /// One reading per second of node time.
    fn readings(&mut self, values: &[f32]) -> Vec<u8> {
        let mut batch = Readings::new();
        for &v in values {
            batch.push(0, self.t_ms, v).expect("room in the batch");
            self.t_ms += 1000;
        }
        self.frame(Body::Readings(batch))
    }

    fn heartbeat(&mut self) -> Vec<u8> {
        let frame = Body::Heartbeat(Heartbeat {
            uptime_ms: self.t_ms,
            reset: ResetReason::PowerOn,
            frames_sent: u32::from(self.seq),
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        });
        self.frame(frame)
    }
}

/// Serves the node on `listener` until `stop`: the boot frames, a rise from 25 to 39.5 degC, then
/// a reading at 40 and a heartbeat twice a second, so the node stays up and CRITICAL.
fn serve_node(listener: TcpListener, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).unwrap();
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        stream.set_nonblocking(false).unwrap();
        // A new connection is a new line for the daemon: start the node over.
        let _ = feed(stream, &stop);
    }
}

fn feed(mut stream: TcpStream, stop: &AtomicBool) -> std::io::Result<()> {
    let mut node = Node { seq: 0, t_ms: 0 };
    stream.write_all(&node.boot())?;
    let rise: Vec<f32> = (0..30).map(|i| 25.0 + i as f32 * 0.5).collect();
    for chunk in rise.chunks(10) {
        stream.write_all(&node.readings(chunk))?;
    }
    while !stop.load(Ordering::Relaxed) {
        stream.write_all(&node.readings(&[40.0]))?;
        stream.write_all(&node.heartbeat())?;
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

/// Kills what the test started, however it ends.
struct Cleanup {
    daemon: Option<Child>,
    tmux_socket: Option<String>,
    stop: Arc<AtomicBool>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
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
    Some(metric.level.clone())
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[test]
fn watch_shows_the_node_and_its_firing_alert_in_tmux() {
    let tmux_ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_ok {
        let message = "tmux is not installed, so the `rackwatch watch` terminal test cannot run; \
                       install tmux (apt-get install tmux; .ci/run does)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_rackwatch");
    let dir = tempfile::tempdir().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut cleanup = Cleanup {
        daemon: None,
        tmux_socket: None,
        stop: Arc::clone(&stop),
    };

    let line = TcpListener::bind("127.0.0.1:0").unwrap();
    let line_port = line.local_addr().unwrap().port();
    let feeder_stop = Arc::clone(&stop);
    std::thread::spawn(move || serve_node(line, feeder_stop));

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
    let command = format!("{} watch --connect {url}", shell_quote(bin));
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
    assert!(pane.contains("35 degC"), "no forecast or bound in:\n{pane}");
    assert!(
        pane.lines().all(|l| l.chars().count() <= 80),
        "a line is wider than the pane:\n{pane}"
    );

    let sent = tmux(&socket, &["send-keys", "-t", "watch", "q"]);
    assert!(sent.status.success());
    let status = wait_for(Duration::from_secs(10), || {
        let out = tmux(
            &socket,
            &[
                "display-message",
                "-p",
                "-t",
                "watch",
                "#{pane_dead} #{pane_dead_status}",
            ],
        );
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        text.strip_prefix("1 ").map(str::to_string)
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
