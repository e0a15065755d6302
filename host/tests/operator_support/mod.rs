//! What the ack and silence tests share: a node the test drives frame by frame over a TCP source
//! (so every transition comes when the test says), a webhook config, the CLI.

#![allow(dead_code)]

use crate::sinks_support::*;
use rackwatch_core::alert::Rule;
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
}

impl FakeNode {
    /// Listening; nothing sent yet.
    pub fn new() -> FakeNode {
        FakeNode {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            stream: None,
            seq: 0,
            t_ms: 1_000,
            alert_seq: 1000,
        }
    }

    /// The source spec.
    pub fn source(&self) -> String {
        format!("tcp:{}", self.listener.local_addr().unwrap())
    }

    /// Waits for the daemon to connect (again, after a restart) and says who it is.
    pub fn accept(&mut self) {
        let (stream, _) = self.listener.accept().unwrap();
        self.stream = Some(stream);
        let hello = self.frame(Body::Hello(Hello::new("test".try_into().unwrap())));
        let spec = MetricSpec::new(
            0,
            METRIC,
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        let metric = self.frame(Body::Metric(spec));
        self.send(&[hello, metric].concat());
    }

    fn frame(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: NODE,
                boot_id: 0xACC0,
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

    /// Readings around `value` (a little noise, so no sensor-health finding), one a second of
    /// node time: the host's judge reaches the level `value` is in.
    pub fn readings(&mut self, value: f32) {
        let mut r = Readings::new();
        for i in 0..3 {
            r.push(0, self.t_ms, value + 0.1 * i as f32).unwrap();
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
    let mut daemon = Daemon::start(home, config, &[&node.source()], log, Stdio::null(), &[]);
    node.accept();
    wait_until("the daemon's /state", || daemon.state());
    daemon
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

/// (origin, from, to) as owned strings.
pub fn doc(origin: &str, from: &str, to: &str) -> (String, String, String) {
    (origin.into(), from.into(), to.into())
}
