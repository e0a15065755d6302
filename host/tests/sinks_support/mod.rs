//! What the delivery-sink tests share: an HTTP receiver that can refuse, the real `rackwatch`
//! binary started on ports of its own, and polling that bounds a hung test (it asserts no time).

#![allow(dead_code)]

use rackwatch::state::{fetch, Snapshot};
pub use rackwatch_tests::net::free_port;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The longest any wait lasts before the test fails: bounds a hang, asserts no duration.
pub const GIVE_UP: Duration = Duration::from_secs(90);

/// Polls `done` every 100 ms until it gives `Some`; fails the test after [`GIVE_UP`].
pub fn wait_until<T>(what: &str, mut done: impl FnMut() -> Option<T>) -> T {
    let give_up = Instant::now() + GIVE_UP;
    loop {
        if let Some(v) = done() {
            return v;
        }
        assert!(Instant::now() < give_up, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One request the receiver took.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
}

/// An HTTP receiver on a loopback port: answers 503 while refusing, 200 otherwise, and keeps
/// every request it answered 200.
#[derive(Clone)]
pub struct Receiver {
    /// Its port.
    pub port: u16,
    refusing: Arc<AtomicBool>,
    attempts: Arc<AtomicUsize>,
    taken: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Starts one, refusing or not.
    pub fn start(refusing: bool) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let receiver = Receiver {
            port: listener.local_addr().unwrap().port(),
            refusing: Arc::new(AtomicBool::new(refusing)),
            attempts: Arc::default(),
            taken: Arc::default(),
        };
        let r = receiver.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                r.serve(stream);
            }
        });
        receiver
    }

    /// Refuse (503) from now on, or accept.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
    }

    /// Requests seen, refused ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// The requests answered 200, in arrival order.
    pub fn taken(&self) -> Vec<Received> {
        self.taken.lock().unwrap().clone()
    }

    fn serve(&self, stream: TcpStream) {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut first = String::new();
        if reader.read_line(&mut first).is_err() {
            return;
        }
        let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len.min(1 << 20)];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let refusing = self.refusing.load(Ordering::SeqCst);
        let status = if refusing {
            "503 Service Unavailable"
        } else {
            // Kept before the answer: a request answered 200 is one the sender may forget.
            self.taken.lock().unwrap().push(Received {
                path,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            "200 OK"
        };
        let mut stream = stream;
        let _ = write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    }
}

/// The real binary, with no configuration but what the test writes and data in `home`.
pub fn rackwatch(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("RACKWATCH_DATA_DIR", home);
    c
}

/// A running `rackwatch run`, killed (SIGKILL) when dropped.
pub struct Daemon {
    /// The process.
    pub child: Child,
    /// Its `/state`.
    pub state_url: String,
}

impl Daemon {
    /// `rackwatch run -c config --db home/history.db --no-local --listen <free port> args...`,
    /// standard output to `stdout`, standard error to `home/<log>`, with the variables `env`.
    pub fn start(
        home: &Path,
        config: &Path,
        args: &[&str],
        log: &str,
        stdout: Stdio,
        env: &[(&str, &str)],
    ) -> Daemon {
        let port = free_port();
        let child = rackwatch(home)
            .envs(env.iter().copied())
            .args(["run", "-c"])
            .arg(config)
            .arg("--db")
            .arg(home.join("history.db"))
            .args(["--no-local", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(std::fs::File::create(home.join(log)).unwrap())
            .spawn()
            .unwrap();
        Daemon {
            child,
            state_url: format!("http://127.0.0.1:{port}/state"),
        }
    }

    /// The state, once the daemon answers.
    pub fn state(&mut self) -> Option<Snapshot> {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("rackwatch run exited early: {status}");
        }
        fetch(&self.state_url, Duration::from_secs(2)).ok()
    }

    /// The named sink's status, once the daemon answers.
    pub fn sink(&mut self, name: &str) -> Option<rackwatch::sink::SinkStatus> {
        self.state()?.sinks.into_iter().find(|s| s.name == name)
    }

    /// `kill -9`.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port with nothing behind it, as a live source: keeps the daemon running (reconnecting) until
/// it is killed, and makes its time the wall clock's.
pub fn idle_live_source() -> String {
    format!("tcp:127.0.0.1:{}", free_port())
}

/// A capture of a simulated rack: `rackwatch sim ... --to capture:FILE`.
pub fn sim_capture(home: &Path, args: &[&str]) -> PathBuf {
    let file = home.join("rack.rwcap");
    let status = rackwatch(home)
        .arg("sim")
        .args(args)
        .args(["--speed", "0", "--to"])
        .arg(format!("capture:{}", file.display()))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "rackwatch sim failed");
    file
}

/// The transitions of a capture, in pipeline order, as `run --events` prints them:
/// (node, boot, origin, alert_seq, at_ms).
pub fn transitions_of(home: &Path, capture: &Path) -> Vec<(u64, u64, String, u64, u64)> {
    let out = rackwatch(home)
        .args([
            "run",
            "--no-store",
            "--no-local",
            "--listen",
            "none",
            "--events",
        ])
        .arg(format!("capture:{}", capture.display()))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "transition")
        .map(|v| {
            (
                v["node"].as_u64().unwrap(),
                v["boot"].as_u64().unwrap(),
                v["origin"].as_str().unwrap().to_string(),
                v["transition"]["alert_seq"].as_u64().unwrap(),
                v["transition"]["at_ms"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The same key of a received webhook document.
pub fn key_of(doc: &serde_json::Value) -> (u64, u64, String, u64, u64) {
    (
        doc["node"].as_u64().unwrap(),
        u64::from_str_radix(doc["boot"].as_str().unwrap(), 16).unwrap(),
        doc["origin"].as_str().unwrap().to_string(),
        doc["alert_seq"].as_u64().unwrap(),
        doc["at_ms"].as_u64().unwrap(),
    )
}

/// How to get Alertmanager, for the skip line.
pub const ALERTMANAGER_INSTALL: &str =
    "install prometheus-alertmanager (Debian: apt-get install prometheus-alertmanager; .ci/run does)";

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Alertmanager on `port`, keeping its state in `home/am`, notifying `receiver` per alert.
pub fn alertmanager(bin: &Path, home: &Path, port: u16, receiver: &Receiver) -> Killed {
    let config = home.join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: test\n  group_by: [alertname, node, metric, origin, severity]\n\
             \x20 group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n\
             receivers:\n  - name: test\n    webhook_configs:\n\
             \x20     - url: http://127.0.0.1:{}/notify\n        send_resolved: true\n",
            receiver.port
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", home.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(home.join("alertmanager.log")).unwrap())
        .spawn()
        .unwrap();
    let am = Killed(child);
    wait_until("Alertmanager ready", || {
        std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(drop)
    });
    am
}
