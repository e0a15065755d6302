//! `/metrics` as Prometheus sees it, through the real programs: a daemon fed by `rackwatch sim`
//! over TCP, its live exposition checked by `promtool check metrics`, a real `prometheus`
//! scraping it and answering queries for the nodes' readings and alerts, and every file in
//! `contrib/prometheus/` checked by `promtool check config` / `check rules`, the rules' unit tests
//! run by `promtool test rules`. Each program runs on a loopback port of its own, never a default
//! one.
//!
//! Prometheus and promtool come with Debian's `prometheus` package; without them the tests say what
//! they skipped on one line, and under `CI=true` they fail instead.

use rackwatch_tests::net::free_port;
use rackwatch_tests::require::program;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const INSTALL: &str = "install Debian's prometheus package, which brings promtool \
                       (apt-get install prometheus)";

/// Bounds a hung test; asserts no time.
const GIVE_UP: Duration = Duration::from_secs(90);

/// A child process killed when dropped, so a failed test leaves none behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Running {
    fn assert_alive(&mut self, what: &str) {
        if let Ok(Some(status)) = self.0.try_wait() {
            let mut stderr = String::new();
            if let Some(pipe) = self.0.stderr.as_mut() {
                let _ = pipe.read_to_string(&mut stderr);
            }
            panic!("{what} exited early ({status}): {stderr}");
        }
    }
}

/// An HTTP answer.
struct Answer {
    /// The status line.
    status: String,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: String,
}

/// `GET path` from `addr`.
fn get(addr: &str, path: &str) -> Option<Answer> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.to_string();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// A daemon fed by `rackwatch sim` over TCP, both on ports of their own.
struct FedDaemon {
    _sim: Running,
    daemon: Running,
    addr: String,
    _dir: tempfile::TempDir,
}

impl FedDaemon {
    /// Three simulated nodes, ten minutes of rack time a second, so alerts fire within seconds.
    fn start() -> FedDaemon {
        let bin = env!("CARGO_BIN_EXE_rackwatch");
        let dir = tempfile::tempdir().unwrap();
        let (line, http) = (free_port(), free_port());
        let sim = Command::new(bin)
            .args(["sim", "--nodes", "3", "--speed", "600", "--to"])
            .arg(format!("tcp-listen:127.0.0.1:{line}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{http}");
        let daemon = Command::new(bin)
            .args(["run", "--no-local", "--listen", &addr, "--db"])
            .arg(dir.path().join("history.db"))
            .arg(format!("tcp:127.0.0.1:{line}"))
            .env_remove("RACKWATCH_CONFIG")
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        FedDaemon {
            _sim: Running(sim),
            daemon: Running(daemon),
            addr,
            _dir: dir,
        }
    }

    /// Scrapes `/metrics` until `done` holds for its body; returns the last answer.
    fn scrape_until(&mut self, done: impl Fn(&str) -> bool) -> Answer {
        let give_up = Instant::now() + GIVE_UP;
        loop {
            self.daemon.assert_alive("rackwatch run");
            if let Some(answer) = get(&self.addr, "/metrics") {
                let (status, body) = (&answer.status, &answer.body);
                assert!(status.contains(" 200"), "{status}: {body}");
                if done(body) {
                    return answer;
                }
                assert!(Instant::now() < give_up, "never reached:\n{body}");
            }
            assert!(Instant::now() < give_up, "{} never answered", self.addr);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Sample lines of `family` in an exposition.
fn samples<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(family))
        .collect()
}

/// Runs promtool with `args`, `stdin` on its standard input.
fn promtool(promtool: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// `promtool check metrics` on `text`: no error, and not one line of lint.
fn assert_promtool_accepts(promtool_path: &Path, text: &str) {
    let out = promtool(promtool_path, &["check", "metrics"], text.as_bytes());
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}\n{said}\non:\n{text}",
        out.status
    );
}

#[test]
fn promtool_accepts_the_live_metrics_of_a_daemon_fed_by_sim_without_a_lint() {
    let promtool_path = match program("promtool", INSTALL) {
        Ok(p) => p,
        Err(missing) => return missing.skip(),
    };
    let mut daemon = FedDaemon::start();
    let Answer {
        headers,
        body: text,
        ..
    } = daemon.scrape_until(|text| {
        !samples(text, "rackwatch_reading_celsius").is_empty()
            && !samples(text, "rackwatch_alerts").is_empty()
            && !samples(text, "rackwatch_forecast_eta_seconds").is_empty()
    });
    let content_type = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        content_type,
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert_eq!(samples(&text, "rackwatch_node_up").len(), 3, "{text}");
    assert!(text.contains("rackwatch_node_frames_received_total{node=\"1\"}"));
    assert!(text.contains("process_resident_memory_bytes "), "{text}");
    assert!(
        text.lines().all(|l| !l.contains('{') || !l.ends_with('}')),
        "a sample without a value:\n{text}"
    );
    assert_promtool_accepts(&promtool_path, &text);
}

#[test]
fn promtool_accepts_the_metrics_of_nodes_with_hostile_names() {
    let promtool_path = match program("promtool", INSTALL) {
        Ok(p) => p,
        Err(missing) => return missing.skip(),
    };
    let names = [
        "a\"b\\c\nd} 1\nrackwatch_node_up{node=\"9\"} 0",
        "# TYPE x counter",
        "ünïcödé ✓",
        "",
        "t",
        "t",
    ];
    let metrics = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut view = hostile_metric(i as u16, name);
            view.unit = ["\"", "%", "K", "\n", "degC", "degC"][i].into();
            view
        })
        .collect();
    let snapshot = rackwatch::state::Snapshot {
        nodes: vec![hostile_node(65535, metrics)],
        ..Default::default()
    };
    let shared = std::sync::Arc::new(std::sync::Mutex::new(snapshot));
    let text = rackwatch::metrics::render(&shared).unwrap();
    assert_promtool_accepts(&promtool_path, &text);
}

fn hostile_metric(id: u16, name: &str) -> rackwatch::state::MetricView {
    rackwatch::state::MetricView {
        id,
        name: name.into(),
        unit: String::new(),
        value: Some(f32::NAN),
        wall_ms: Some(0),
        level: rackwatch_core::Level::Unknown,
        node_level: Some(rackwatch_core::Level::Critical),
        flapping: true,
        score: Some(f32::INFINITY),
        anomaly: None,
        slope_per_hour: Some(f64::NEG_INFINITY),
        eta: Some(rackwatch::state::EtaView {
            threshold: f32::MAX,
            above: false,
            ms: u64::MAX,
            accelerating: false,
        }),
        warning: Some(f32::MIN),
        critical: Some(-0.0),
        recent: Vec::new(),
    }
}

fn hostile_node(id: u16, metrics: Vec<rackwatch::state::MetricView>) -> rackwatch::state::NodeView {
    rackwatch::state::NodeView {
        id,
        boot: Some(u32::MAX),
        firmware: Some("v\"1\n\\".into()),
        down: true,
        last_frame_ms: u64::MAX,
        uptime_ms: Some(u64::MAX),
        reset: Some(rackwatch_core::wire::ResetReason::Watchdog),
        node_counters: Some([u32::MAX; 4]),
        counters: Default::default(),
        metrics,
    }
}

/// A Prometheus server of its own: its config and storage in a temporary directory.
struct Prometheus {
    server: Running,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: rackwatch\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let server = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Prometheus {
            server: Running(server),
            addr,
            _dir: dir,
        }
    }

    /// Queries `/api/v1/query` until `query` returns at least one series; returns their labels.
    fn query_until_found(&mut self, query: &str) -> Vec<serde_json::Value> {
        let give_up = Instant::now() + GIVE_UP;
        let mut last = String::new();
        loop {
            self.server.assert_alive("prometheus");
            if let Some(Answer { body, .. }) =
                get(&self.addr, &format!("/api/v1/query?query={query}"))
            {
                if let Ok(answer) = serde_json::from_str::<serde_json::Value>(&body) {
                    let result = answer["data"]["result"].as_array().cloned();
                    if let Some(series) = result.filter(|r| !r.is_empty()) {
                        return series.into_iter().map(|s| s["metric"].clone()).collect();
                    }
                }
                last = body;
            }
            assert!(
                Instant::now() < give_up,
                "prometheus never returned {query}; last answer: {last}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

#[test]
fn a_real_prometheus_scraping_the_daemon_returns_the_readings_and_the_alerts() {
    let binary = match program("prometheus", INSTALL) {
        Ok(p) => p,
        Err(missing) => return missing.skip(),
    };
    let mut daemon = FedDaemon::start();
    daemon.scrape_until(|text| !samples(text, "rackwatch_alerts").is_empty());
    let mut prometheus = Prometheus::start(&binary, &daemon.addr);

    let readings = prometheus.query_until_found("rackwatch_reading_celsius");
    let nodes: BTreeSet<&str> = readings.iter().filter_map(|m| m["node"].as_str()).collect();
    assert!(nodes.contains("1"), "{readings:?}");
    assert!(
        readings
            .iter()
            .all(|m| m["job"] == "rackwatch" && m["metric"].is_string()),
        "{readings:?}"
    );
    let alerts = prometheus.query_until_found("rackwatch_alerts");
    for alert in &alerts {
        assert_eq!(alert["alertstate"], "firing", "{alerts:?}");
        assert_eq!(alert["alertname"], "rackwatch", "{alerts:?}");
        let severity = alert["severity"].as_str().unwrap_or_default();
        assert!(
            ["warning", "critical", "unknown"].contains(&severity),
            "{alerts:?}"
        );
    }
    let up = prometheus.query_until_found("up");
    assert!(
        up.iter().all(|m| m["instance"] == daemon.addr.as_str()),
        "{up:?}"
    );
}

fn contrib() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib")
}

#[test]
fn promtool_checks_every_prometheus_file_in_contrib() {
    let promtool_path = match program("promtool", INSTALL) {
        Ok(p) => p,
        Err(missing) => return missing.skip(),
    };
    let dir = contrib().join("prometheus");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        // The scrape configuration, the rules' unit tests (run, not only parsed), the rules.
        let command = if name == "prometheus.yml" {
            ["check", "config"]
        } else if name.ends_with(".test.yml") {
            ["test", "rules"]
        } else {
            ["check", "rules"]
        };
        let out = Command::new(&promtool_path)
            .args(command)
            .arg(file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {} {name}: {}{}",
            command.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every `rackwatch_*` family named in `text`.
fn families_named(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("rackwatch_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        found.insert(name);
    }
    found
}

/// The families `docs/prometheus.md` documents: the first column of its tables.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(contrib().join("../docs/prometheus.md")).unwrap();
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|name| name.starts_with("rackwatch_") || name.starts_with("process_"))
        .map(|name| name.split('{').next().unwrap_or(name).to_string())
        .collect()
}

/// Whether `name` is documented: as itself, or as a unit-named family (`rackwatch_reading_celsius`)
/// documented as `rackwatch_reading_<unit>` with a unit from the table (none for unitless).
fn is_documented(name: &str, documented: &BTreeSet<String>) -> bool {
    documented.iter().any(|d| match d.split_once("_<unit>") {
        None => d == name,
        Some((stem, tail)) => rackwatch::metrics::unit_table().any(|(_, suffix)| {
            let unit = if suffix.is_empty() {
                String::new()
            } else {
                format!("_{suffix}")
            };
            name == format!("{stem}{unit}{tail}")
        }),
    })
}

#[test]
fn the_dashboard_and_the_rules_name_only_documented_families_and_the_daemon_only_serves_those() {
    let documented = documented();
    assert!(documented.len() > 30, "{documented:?}");
    let dashboard = std::fs::read_to_string(contrib().join("grafana/rackwatch.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).expect("valid JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| !p.is_empty()));
    let rules = std::fs::read_to_string(contrib().join("prometheus/rackwatch-rules.yml")).unwrap();
    for (file, text) in [("grafana/rackwatch.json", &dashboard), ("rules", &rules)] {
        for name in families_named(text) {
            assert!(
                is_documented(&name, &documented),
                "{file} names {name}, which docs/prometheus.md does not list"
            );
        }
    }
    let snapshot = rackwatch::state::Snapshot {
        nodes: vec![hostile_node(
            1,
            vec![hostile_metric(1, "t"), {
                let mut m = hostile_metric(2, "h");
                m.unit = "%".into();
                m
            }],
        )],
        sinks: vec![rackwatch::sink::SinkStatus {
            name: "history".into(),
            level: rackwatch_core::Level::Ok,
            pending: 0,
            dropped: 0,
            failures: 0,
            last_error: None,
        }],
        sources: vec![Default::default()],
        ..Default::default()
    };
    let shared = std::sync::Arc::new(std::sync::Mutex::new(snapshot));
    let text = rackwatch::metrics::render(&shared).unwrap();
    let served: BTreeSet<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .collect();
    for name in served {
        assert!(
            is_documented(name, &documented),
            "the daemon serves {name}, which docs/prometheus.md does not list"
        );
    }
}

#[test]
fn every_unit_rackwatch_converts_is_in_the_docs_unit_table() {
    let doc = std::fs::read_to_string(contrib().join("../docs/prometheus.md")).unwrap();
    for (unit, suffix) in rackwatch::metrics::unit_table().filter(|(u, _)| !u.is_empty()) {
        let row = doc.lines().filter(|l| l.starts_with("| `")).find(|l| {
            l.split('|')
                .nth(1)
                .is_some_and(|c| c.contains(&format!("`{unit}`")))
        });
        let row = row.unwrap_or_else(|| panic!("docs/prometheus.md has no row for `{unit}`"));
        assert!(
            row.contains(&format!("| `{suffix}` |")),
            "docs/prometheus.md maps `{unit}` elsewhere than `{suffix}`: {row}"
        );
    }
}
