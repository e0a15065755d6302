//! `rackwatch run`, the real binary: a capture ingested twice, a pty unplugged and plugged back
//! mid-stream, garbage on the line.

use rackwatch::capture::CaptureWriter;
use rackwatch::state::{fetch, Snapshot};
use rackwatch::store::Store;
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
};
use rackwatch_tests::net::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn rackwatch() -> Command {
    // No configuration file: the built-in defaults (the tests name every source).
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

/// A node that frames readings of one metric, inlet temperature, rising 1 °C per reading.
struct TestNode {
    id: u16,
    seq: u16,
    t_ms: u64,
}

impl TestNode {
    fn frame(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: 0x5EED,
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn hello(&mut self) -> Vec<u8> {
        let mut bytes = self.frame(Body::Hello(Hello::new("test".try_into().unwrap())));
        let spec = MetricSpec::new(
            0,
            "inlet_temperature",
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        bytes.extend(self.frame(Body::Metric(spec)));
        bytes
    }

    fn readings(&mut self, values: &[f32]) -> Vec<u8> {
        let mut r = Readings::new();
        for &v in values {
            r.push(0, self.t_ms, v).unwrap();
            self.t_ms += 1000;
        }
        self.frame(Body::Readings(r))
    }

    fn heartbeat(&mut self) -> Vec<u8> {
        self.frame(Body::Heartbeat(Heartbeat {
            uptime_ms: self.t_ms,
            reset: ResetReason::PowerOn,
            frames_sent: u32::from(self.seq),
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        }))
    }
}

/// Polls the daemon's state until `done` holds (at most 30 s; this bounds a hung test, it asserts no
/// time).
fn wait_for(url: &str, child: &mut Child, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let give_up = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("rackwatch run exited early: {status}");
        }
        if let Ok(s) = fetch(url, Duration::from_secs(2)) {
            if done(&s) {
                return s;
            }
            if Instant::now() > give_up {
                panic!("state never reached the expected condition: {s:#?}");
            }
        } else if Instant::now() > give_up {
            panic!("the daemon at {url} never answered");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_same_capture_ingested_twice_gives_identical_tables() {
    let dir = tempfile::tempdir().unwrap();
    let capture = dir.path().join("node.rwcap");
    let mut w = CaptureWriter::create(&capture, "ttyACM0").unwrap();
    let mut node = TestNode {
        id: 4,
        seq: 0,
        t_ms: 0,
    };
    let t0 = 1_800_000_000_000;
    w.record(t0, &node.hello()).unwrap();
    for i in 0..20u64 {
        let values: Vec<f32> = (0..5).map(|k| 20.0 + (i * 5 + k) as f32 * 0.2).collect();
        let mut bytes = node.readings(&values);
        bytes.extend(node.heartbeat());
        w.record(t0 + (i + 1) * 5000, &bytes).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let db = dir.path().join("history.db");
    let ingest = || {
        let out = rackwatch()
            .args([
                "run",
                &format!("capture:{}", capture.display()),
                "--no-local",
                "--listen",
                "none",
            ])
            .arg("--db")
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Store::open_read_only(&db).unwrap().dump().unwrap()
    };
    let first = ingest();
    assert!(first.iter().filter(|r| r.starts_with("readings:")).count() == 100);
    assert!(
        first
            .iter()
            .any(|r| r.starts_with("transitions:") && r.contains("WARNING")),
        "{first:#?}"
    );
    assert_eq!(ingest(), first);
}

/// Writes `chunks` as a capture at `path`.
fn capture(path: &std::path::Path, chunks: &[Vec<u8>]) {
    let mut w = CaptureWriter::create(path, "node").unwrap();
    for (i, bytes) in chunks.iter().enumerate() {
        w.record(1_800_000_000_000 + i as u64 * 1000, bytes)
            .unwrap();
    }
    w.flush().unwrap();
}

/// A replay onto a pty behind `link`, held open until killed: a node plugged in.
fn plug_in(capture: &std::path::Path, link: &std::path::Path) -> Child {
    rackwatch()
        .arg("replay")
        .arg(capture)
        .args(["--speed", "0", "--hold", "10m", "--to"])
        .arg(format!("pty:{}", link.display()))
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn a_pty_unplugged_and_plugged_back_is_reconnected_and_the_loss_is_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("ttyNODE");
    let db = dir.path().join("history.db");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    // The node's line: before the unplug, four batches lost while unplugged, then after.
    let mut node = TestNode {
        id: 9,
        seq: 0,
        t_ms: 0,
    };
    let mut before = vec![node.hello()];
    for _ in 0..3 {
        before.push(node.readings(&[20.0, 20.5]));
    }
    before.push(b"\x13\x37 line noise \x00".to_vec());
    for _ in 0..4 {
        let _lost = node.readings(&[21.0, 21.5]);
    }
    let after = vec![node.readings(&[36.0, 36.5])];
    capture(&dir.path().join("before.rwcap"), &before);
    capture(&dir.path().join("after.rwcap"), &after);

    // The daemon first: it waits for the port to appear, retrying with backoff.
    let mut daemon = rackwatch()
        .args(["run", &format!("serial:{}", link.display()), "--no-local"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--db")
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = plug_in(&dir.path().join("before.rwcap"), &link);
    wait_for(&url, &mut daemon, |s| {
        s.node(9).is_some_and(|n| n.counters.readings == 6)
    });

    // Unplug: the pty goes away.
    terminate(&mut first);
    first.wait().unwrap();
    wait_for(&url, &mut daemon, |s| s.sources[0].disconnects >= 1);
    // Plug back in: a new pty behind the same path.
    let mut second = plug_in(&dir.path().join("after.rwcap"), &link);
    let s = wait_for(&url, &mut daemon, |s| {
        s.node(9).is_some_and(|n| n.counters.readings == 8)
    });
    assert!(s.sources[0].connects >= 2, "{:?}", s.sources);
    let n = s.node(9).unwrap();
    assert_eq!(
        n.counters.lost, 4,
        "the frames sent while unplugged are counted lost"
    );
    assert_eq!(s.decode_errors.values().sum::<u64>(), 1);
    assert_eq!(n.metrics[0].level, rackwatch_core::Level::Critical);

    // The Nagios plugin reads the same state: exit status 2, one status line with perfdata.
    let check = rackwatch()
        .args(["check", "--node", "9", "--connect", &url])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(2), "{line}");
    assert!(
        line.starts_with("RACKWATCH CRITICAL - node 9: inlet_temperature 36.5 degC"),
        "{line}"
    );
    assert!(
        line.trim_end()
            .ends_with("| inlet_temperature=36.5;30;35;;"),
        "{line}"
    );
    assert_eq!(line.lines().count(), 1);
    let unknown = rackwatch()
        .args(["check", "--node", "99", "--connect", &url])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(3));

    terminate(&mut second);
    second.wait().unwrap();
    terminate(&mut daemon);
    let output = daemon.wait_with_output().unwrap();
    assert!(output.status.success(), "SIGTERM is a clean stop");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("decode error") && log.contains("ttyNODE"),
        "the decode error is logged with its source: {log}"
    );
    let store = Store::open_read_only(&db).unwrap();
    let events = store.node_events(&Default::default()).unwrap();
    assert!(
        events.iter().any(|e| matches!(
            e.kind,
            rackwatch::ingest::NodeEventKind::Gap { lost: 4, .. }
        )),
        "{events:#?}"
    );
    assert_eq!(store.counts().unwrap().decode_errors, 1);
}

/// Stops the daemon the way an operator does (SIGTERM via `kill`), so it writes what it has.
fn terminate(child: &mut Child) {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
