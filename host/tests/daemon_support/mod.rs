//! A `rackwatch run` daemon for tests that talk to it over HTTP and the CLI: jobs, probes and pushed
//! values. Each test gets its own directory (configuration, history) and a free loopback port.
//!
//! Every wait polls and gives up after [`GIVE_UP`]: that bounds a hung test, it is not a measured
//! duration, and nothing here asserts how long anything took.

#![allow(dead_code)] // each test binary uses its own part of this module

use rackwatch::state::{fetch, MetricView, NodeView, Snapshot};
use rackwatch_tests::net::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long any one wait may take.
pub const GIVE_UP: Duration = Duration::from_secs(60);

/// A daemon with its configuration and history in a temporary directory, killed when dropped.
pub struct Daemon {
    child: Child,
    /// Where it answers: `127.0.0.1:PORT`.
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// `rackwatch run` on history in its directory and `config`, where `PORT` is the daemon's free
    /// port (`config` has the `[http]` table) and `DIR` its directory, after writing `files` (name,
    /// contents) there; waits until it answers.
    pub fn start(config: &str, files: &[(&str, &str)]) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        for (name, contents) in files {
            std::fs::write(dir.path().join(name), contents).unwrap();
        }
        let port = free_port();
        let config = format!(
            "[store]\npath = \"{}\"\n\n{}",
            dir.path().join("history.db").display(),
            config
                .replace("PORT", &port.to_string())
                .replace("DIR", &dir.path().display().to_string())
        );
        std::fs::write(dir.path().join("rackwatch.toml"), config).unwrap();
        let mut daemon = Daemon {
            child: spawn(&dir.path().join("rackwatch.toml")),
            addr: format!("127.0.0.1:{port}"),
            dir,
        };
        daemon.wait_answer();
        daemon
    }

    /// `kill -9`, then the same daemon again on the same configuration and history.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(&self.config());
        self.wait_answer();
    }

    fn wait_answer(&mut self) {
        let give_up = Instant::now() + GIVE_UP;
        while fetch(&self.url("/state"), Duration::from_secs(2)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the daemon exited ({status}) before answering");
            }
            assert!(Instant::now() < give_up, "the daemon never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The daemon's directory: configuration, history, the test's files.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The configuration file.
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("rackwatch.toml")
    }

    /// `/state` now.
    pub fn snapshot(&self) -> Snapshot {
        fetch(&self.url("/state"), Duration::from_secs(5)).unwrap()
    }

    /// Polls `/state` until `found` finds something.
    pub fn wait_for<T>(&self, what: &str, found: impl Fn(&Snapshot) -> Option<T>) -> T {
        let give_up = Instant::now() + GIVE_UP;
        loop {
            let snapshot = self.snapshot();
            if let Some(t) = found(&snapshot) {
                return t;
            }
            assert!(
                Instant::now() < give_up,
                "never in /state: {what}\n{snapshot:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `rackwatch ARGS -c CONFIG`.
    pub fn rackwatch(&self, args: &[&str]) -> Output {
        rackwatch_command()
            .args(args)
            .arg("-c")
            .arg(self.config())
            .output()
            .unwrap()
    }

    /// Runs `rackwatch ARGS -c CONFIG` until its standard output contains every one of `needles`.
    pub fn wait_output(&self, args: &[&str], needles: &[&str]) -> String {
        let give_up = Instant::now() + GIVE_UP;
        loop {
            let out = self.rackwatch(args);
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if needles.iter().all(|n| text.contains(n)) {
                return text;
            }
            assert!(
                Instant::now() < give_up,
                "`rackwatch {}` never showed {needles:?}:\n{text}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `METHOD path` with `headers` (each a full `Name: value`) and `body`, answered as (status,
    /// body).
    pub fn request(&self, method: &str, path: &str, headers: &[&str], body: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for header in headers {
            text.push_str(header);
            text.push_str("\r\n");
        }
        text.push_str("\r\n");
        text.push_str(body);
        // The server may refuse (413) before taking the whole body.
        let _ = stream.write_all(text.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    /// The body of `GET path`.
    pub fn get(&self, path: &str) -> String {
        let (code, body) = self.request("GET", path, &[], "");
        assert_eq!(code, 200, "GET {path}: {body}");
        body
    }
}

/// The `rackwatch` binary, ignoring the user's configuration.
pub fn rackwatch_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    command
        .env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent");
    command
}

fn spawn(config: &std::path::Path) -> Child {
    rackwatch_command()
        .args(["run", "-c"])
        .arg(config)
        .args(["--for", "10m"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The virtual node announcing `name` (a job, probe or pushed node announces its name as its
/// firmware).
pub fn node<'a>(snapshot: &'a Snapshot, name: &str) -> Option<&'a NodeView> {
    snapshot
        .nodes
        .iter()
        .find(|n| n.firmware.as_deref() == Some(name))
}

/// `name`'s metric `metric`, once it has a value.
pub fn metric<'a>(snapshot: &'a Snapshot, name: &str, metric: &str) -> Option<&'a MetricView> {
    node(snapshot, name)?
        .metrics
        .iter()
        .find(|m| m.name == metric && m.value.is_some())
}
