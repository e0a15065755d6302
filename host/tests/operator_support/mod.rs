//! What the operator tests (acks, silences, inhibition, maintenance) share: a [`Rig`] (a home
//! directory, a webhook receiver, a config naming it), nodes the test drives frame by frame over
//! TCP sources (so every transition comes when the test says), the CLI, and a real Alertmanager.

#![allow(dead_code)]

use crate::sinks_support::*;
use rackwatch_core::alert::{Flapping, MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Cause, Frame, Header, Hello, Readings, Transition, MAX_ENCODED_LEN,
};
use rackwatch_core::Level;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The node the tests drive.
pub const NODE: u16 = 7;
/// Its one metric: WARNING above 30, CRITICAL above 35 (host and node judge alike).
pub const METRIC: &str = "inlet_temperature";
/// Readings that judge OK, WARNING, CRITICAL.
pub const OK: f32 = 20.0;
/// See [`OK`].
pub const WARNING: f32 = 32.0;
/// See [`OK`].
pub const CRITICAL: f32 = 37.0;

/// A node behind a TCP port the daemon connects to (`tcp:127.0.0.1:PORT`).
pub struct FakeNode {
    listener: TcpListener,
    stream: Option<TcpStream>,
    seq: u16,
    t_ms: u64,
    alert_seq: u32,
    id: u16,
    boot_id: u32,
    /// Its metrics, by id: each WARNING above 30, CRITICAL above 35.
    metrics: Vec<String>,
    /// How long without readings before the host's judge says UNKNOWN (never when `None`).
    missing_after_ms: Option<u32>,
    /// Nagios' flap detection on its metrics.
    flapping: bool,
}

impl FakeNode {
    /// Node [`NODE`] with [`METRIC`], listening; nothing sent yet.
    pub fn new() -> FakeNode {
        FakeNode::with(NODE, &[METRIC])
    }

    /// Node `id` with `metrics` (ids 0, 1, ...), listening; nothing sent yet.
    pub fn with(id: u16, metrics: &[&str]) -> FakeNode {
        FakeNode {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            stream: None,
            seq: 0,
            t_ms: 1_000,
            alert_seq: 1000,
            id,
            boot_id: 0xACC0,
            metrics: metrics.iter().map(|m| m.to_string()).collect(),
            missing_after_ms: None,
            flapping: false,
        }
    }

    /// The same node, whose metrics have Nagios' flap detection.
    pub fn flapping(mut self) -> FakeNode {
        self.flapping = true;
        self
    }

    /// Its clock jumps `ms` ahead without a reading: the next readings come after a gap.
    pub fn skip(&mut self, ms: u64) {
        self.t_ms += ms;
    }

    /// The same node, whose metrics go UNKNOWN after `ms` without readings.
    pub fn missing_after(mut self, ms: u32) -> FakeNode {
        self.missing_after_ms = Some(ms);
        self
    }

    /// The source spec.
    pub fn source(&self) -> String {
        format!("tcp:{}", self.listener.local_addr().unwrap())
    }

    /// Waits for `daemon` to connect (again, after a restart) and says who it is; fails the test,
    /// rather than hang, if the daemon has exited.
    pub fn accept(&mut self, daemon: &mut Daemon) {
        self.listener.set_nonblocking(true).unwrap();
        let stream = wait_until("the daemon's connection to the node", || {
            if let Ok(Some(status)) = daemon.child.try_wait() {
                panic!("rackwatch run exited early: {status}");
            }
            match self.listener.accept() {
                Ok((stream, _)) => Some(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
                Err(e) => panic!("accepting the daemon's connection: {e}"),
            }
        });
        stream.set_nonblocking(false).unwrap();
        self.stream = Some(stream);
        self.hello();
    }

    /// Reboots: a new boot id, its sequence and clock from the start, and says who it is.
    pub fn reboot(&mut self) {
        self.boot_id += 1;
        self.seq = 0;
        self.t_ms = 1_000;
        self.hello();
    }

    fn hello(&mut self) {
        let mut frames = self.frame(Body::Hello(Hello::new("test".try_into().unwrap())));
        for (id, name) in self.metrics.clone().iter().enumerate() {
            let mut rule = Rule::above(30.0, 35.0);
            if let Some(ms) = self.missing_after_ms {
                rule.missing = MissingData::unknown_after(ms);
            }
            if self.flapping {
                rule.flapping = Some(Flapping::NAGIOS);
            }
            let spec =
                MetricSpec::new(id as u16, name, "degC", rule, AnomalyConfig::DEFAULT).unwrap();
            frames.extend(self.frame(Body::Metric(spec)));
        }
        self.send(&frames);
    }

    fn frame(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: self.boot_id,
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn send(&mut self, bytes: &[u8]) {
        let stream = self.stream.as_mut().expect("accept first");
        stream.write_all(bytes).unwrap();
        stream.flush().unwrap();
    }

    /// Readings of metric 0 around `value` (a little noise, so no sensor-health finding), one a
    /// second of node time: the host's judge reaches the level `value` is in.
    pub fn readings(&mut self, value: f32) {
        self.readings_of(0, value);
    }

    /// The same for every metric at once.
    pub fn readings_of_all(&mut self, value: f32) {
        let mut r = Readings::new();
        for i in 0..3 {
            for metric in 0..self.metrics.len() {
                r.push(metric as u16, self.t_ms, value + 0.1 * i as f32)
                    .unwrap();
            }
            self.t_ms += 1000;
        }
        let frame = self.frame(Body::Readings(r));
        self.send(&frame);
    }

    /// The same for `metric` (its id).
    pub fn readings_of(&mut self, metric: u16, value: f32) {
        let mut r = Readings::new();
        for i in 0..3 {
            r.push(metric, self.t_ms, value + 0.1 * i as f32).unwrap();
            self.t_ms += 1000;
        }
        let frame = self.frame(Body::Readings(r));
        self.send(&frame);
    }

    /// A transition of the node's own judge (origin `node`).
    pub fn node_transition(&mut self, from: Level, to: Level) {
        self.alert_seq += 1;
        let t = Transition {
            metric: 0,
            from,
            to,
            at_ms: self.t_ms,
            cause: Cause::Value {
                value: WARNING,
                bound: 30.0,
            },
            alert_seq: self.alert_seq,
            suppressed: false,
        };
        self.t_ms += 1000;
        let frame = self.frame(Body::Transition(t));
        self.send(&frame);
    }
}

/// A config with one webhook sink to `receiver`.
pub fn webhook_config(home: &Path, receiver: &Receiver) -> PathBuf {
    let path = home.join("rackwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[[sink]]\nname = \"hook\"\nkind = \"webhook\"\n\
             url = \"http://127.0.0.1:{}/hook\"\ntimeout = \"2s\"\nretry_max = \"1s\"\n",
            receiver.port
        ),
    )
    .unwrap();
    path
}

/// Starts the daemon on `node`'s source and waits for its connection.
pub fn start(home: &Path, config: &Path, node: &mut FakeNode, log: &str) -> Daemon {
    start_nodes(home, config, &mut [node], log)
}

/// Starts the daemon on every node's source and waits for their connections.
pub fn start_nodes(home: &Path, config: &Path, nodes: &mut [&mut FakeNode], log: &str) -> Daemon {
    let sources: Vec<String> = nodes.iter().map(|n| n.source()).collect();
    let args: Vec<&str> = sources.iter().map(String::as_str).collect();
    let mut daemon = start_listening(home, config, &args, log);
    for node in nodes.iter_mut() {
        node.accept(&mut daemon);
    }
    daemon
}

/// Starts the daemon on `sources` and waits for its `/state`. The free port it was given may be
/// taken by another program before it binds it: then it is started again on another, a few times.
pub fn start_listening(home: &Path, config: &Path, sources: &[&str], log: &str) -> Daemon {
    for _ in 0..5 {
        let mut daemon = Daemon::start(home, config, sources, log, Stdio::null(), &[]);
        let up = wait_until("the daemon's /state, or its exit", || {
            if let Ok(Some(_)) = daemon.child.try_wait() {
                return Some(false);
            }
            rackwatch::state::fetch(&daemon.state_url, std::time::Duration::from_secs(2))
                .ok()
                .map(|_| true)
        });
        if up {
            return daemon;
        }
        let said = std::fs::read_to_string(home.join(log)).unwrap_or_default();
        assert!(
            said.contains("Address already in use"),
            "rackwatch run exited early: {said}"
        );
    }
    panic!("no free port for the daemon in five tries");
}

/// One test's world: a home directory, a webhook receiver, a configuration naming it (and what
/// the test adds), and the node [`NODE`].
pub struct Rig {
    _dir: tempfile::TempDir,
    /// The home directory (history, logs, the configuration).
    pub home: PathBuf,
    /// The webhook receiver.
    pub receiver: Receiver,
    /// The configuration file.
    pub config: PathBuf,
    /// The node.
    pub node: FakeNode,
}

impl Rig {
    /// A webhook sink and nothing else configured.
    pub fn new() -> Rig {
        Rig::with_config("")
    }

    /// A webhook sink and the TOML `extra`.
    pub fn with_config(extra: &str) -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_path_buf();
        let receiver = Receiver::start(false);
        let config = webhook_config(&home, &receiver);
        let mut text = std::fs::read_to_string(&config).unwrap();
        text.push_str(extra);
        std::fs::write(&config, text).unwrap();
        Rig {
            _dir: dir,
            home,
            receiver,
            config,
            node: FakeNode::new(),
        }
    }

    /// Starts the daemon on the node (`log`: its standard error, in the home directory).
    pub fn start(&mut self, log: &str) -> Daemon {
        start(&self.home, &self.config, &mut self.node, log)
    }

    /// The daemon's and the node's first steps: started, readings OK then WARNING, the WARNING
    /// notified.
    pub fn start_warning(&mut self) -> Daemon {
        let daemon = self.start("daemon.log");
        self.node.readings(OK);
        self.node.readings(WARNING);
        wait_received(&self.receiver, 1, "the host's WARNING");
        daemon
    }

    /// `rackwatch ARGS...` on the store (see [`cli`]).
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        cli(&self.home, args)
    }

    /// `rackwatch alerts --node N` contains `text` (waits for it).
    pub fn wait_alerts(&self, node: u16, text: &str) {
        wait_until(&format!("`{text}` in rackwatch alerts"), || {
            let alerts = self.cli(&["alerts", "--node", &node.to_string()]).ok()?;
            alerts.contains(text).then_some(())
        });
    }
}

/// The daemon's base URL.
pub fn base_url(daemon: &Daemon) -> String {
    daemon.state_url.trim_end_matches("/state").to_string()
}

/// `rackwatch ARGS... --db home/history.db` as `USER=operator`; its standard output, or its
/// standard error when it failed.
pub fn cli(home: &Path, args: &[&str]) -> Result<String, String> {
    let out = rackwatch(home)
        .env("USER", "operator")
        .args(args)
        .arg("--db")
        .arg(home.join("history.db"))
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The webhook documents received: (origin, from, to).
pub fn received(receiver: &Receiver) -> Vec<(String, String, String)> {
    receiver
        .taken()
        .iter()
        .map(|r| {
            let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            (
                doc["origin"].as_str().unwrap().to_string(),
                doc["from"].as_str().unwrap().to_string(),
                doc["to"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Waits until the receiver has `n` documents and returns them.
pub fn wait_received(receiver: &Receiver, n: usize, what: &str) -> Vec<(String, String, String)> {
    wait_until(what, || {
        let got = received(receiver);
        (got.len() >= n).then_some(got)
    })
}

/// The webhook documents received, each `NODE/METRIC ORIGIN FROM->TO`.
pub fn received_alerts(receiver: &Receiver) -> Vec<String> {
    receiver
        .taken()
        .iter()
        .map(|r| {
            let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            format!(
                "{}/{} {} {}->{}",
                doc["node"],
                doc["metric"].as_str().unwrap(),
                doc["origin"].as_str().unwrap(),
                doc["from"].as_str().unwrap(),
                doc["to"].as_str().unwrap()
            )
        })
        .collect()
}

/// Waits until the receiver has `n` documents and returns them as [`received_alerts`] does.
pub fn wait_alerts_received(receiver: &Receiver, n: usize, what: &str) -> Vec<String> {
    wait_until(what, || {
        let got = received_alerts(receiver);
        (got.len() >= n).then_some(got)
    })
}

/// The daemon's `/metrics`.
pub fn metrics(daemon: &Daemon) -> String {
    rackwatch::client::call(
        &base_url(daemon),
        &rackwatch::client::Call::get("/metrics"),
        std::time::Duration::from_secs(5),
    )
    .unwrap()
}

/// (origin, from, to) as owned strings.
pub fn doc(origin: &str, from: &str, to: &str) -> (String, String, String) {
    (origin.into(), from.into(), to.into())
}
