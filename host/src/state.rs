//! A snapshot of what the daemon knows, for the dashboard, the Nagios check and scripts: every node,
//! every metric with its latest value, levels, trend and ETA, and every counter. Served as JSON by
//! `rackwatch run` at `/state`; `watch` and `check` read it.

use crate::ingest::{Ingest, MetricState, NodeCounters, NodeState};
use rackwatch_core::anomaly::AnomalyKind;
use rackwatch_core::trend::{Crossing, EtaPolicy, TimeTo};
use rackwatch_core::wire::ResetReason;
use rackwatch_core::Level;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Values kept per metric for sparklines.
pub const RECENT: usize = 48;

/// How a source is doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceView {
    /// Its name.
    pub name: String,
    /// Connected now.
    pub connected: bool,
    /// A finite source that has delivered everything.
    pub finished: bool,
    /// Bytes received.
    pub bytes: u64,
    /// Connections made.
    pub connects: u64,
    /// Connections lost.
    pub disconnects: u64,
    /// Why the last connection ended, or the last open or read failed.
    pub last_error: Option<String>,
    /// Opens and reads that failed (a missing device counts once per retry); absent in the state
    /// of older daemons, hence the default.
    #[serde(default)]
    pub failures: u64,
}

/// A forecast.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EtaView {
    /// The threshold it is about.
    pub threshold: f32,
    /// Which side is bad.
    pub above: bool,
    /// Milliseconds until the fit reaches it; 0: already there.
    pub ms: u64,
    /// The trend bends toward the threshold significantly and `ms` follows the bend (earlier than
    /// a straight line would say); absent in the state of older daemons, hence the default.
    #[serde(default)]
    pub accelerating: bool,
}

/// One metric of a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricView {
    /// Metric id.
    pub id: u16,
    /// Name.
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Latest value.
    pub value: Option<f32>,
    /// Its wall time.
    pub wall_ms: Option<u64>,
    /// The host's alert level (`OK`, `WARNING`, `CRITICAL`, `UNKNOWN`).
    #[serde(with = "crate::names::level")]
    pub level: Level,
    /// The level the node last reported, if it did.
    #[serde(with = "crate::names::level::option")]
    pub node_level: Option<Level>,
    /// The flapping flag of the host's alert.
    pub flapping: bool,
    /// Latest anomaly score, 0 to 1.
    pub score: Option<f32>,
    /// What drove it.
    pub anomaly: Option<AnomalyKind>,
    /// Trend over the window, units per hour.
    pub slope_per_hour: Option<f64>,
    /// Time to the critical threshold (or the predictive one), when the fit gives one.
    pub eta: Option<EtaView>,
    /// The warning and critical bounds on the bad side, for display.
    pub warning: Option<f32>,
    /// See `warning`.
    pub critical: Option<f32>,
    /// The latest values, oldest first, at most [`RECENT`].
    pub recent: Vec<f32>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// Node id.
    pub id: u16,
    /// Current boot id.
    pub boot: Option<u32>,
    /// Firmware version from its Hello.
    pub firmware: Option<String>,
    /// Silent for longer than its liveness limit.
    pub down: bool,
    /// When its last frame arrived.
    pub last_frame_ms: u64,
    /// Its uptime, from the last heartbeat.
    pub uptime_ms: Option<u64>,
    /// Why it last reset, from the last heartbeat.
    pub reset: Option<ResetReason>,
    /// Its own counters from the last heartbeat: frames sent, dropped, readings dropped, sensor
    /// errors.
    pub node_counters: Option<[u32; 4]>,
    /// The host's counters for it.
    pub counters: NodeCounters,
    /// Its metrics.
    pub metrics: Vec<MetricView>,
}

/// Everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// When it was taken.
    pub generated_ms: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Frames decoded.
    pub frames: u64,
    /// Decode errors by kind.
    pub decode_errors: BTreeMap<String, u64>,
    /// Bytes of partial frames lost at disconnections.
    pub truncated_bytes: u64,
    /// Frames dropped because their node was beyond `ingest.max_nodes`.
    #[serde(default)]
    pub refused_node_frames: u64,
    /// How the sinks that can fall behind (history) are doing.
    #[serde(default)]
    pub sinks: Vec<crate::sink::SinkStatus>,
    /// Sources.
    pub sources: Vec<SourceView>,
    /// Nodes, by id.
    pub nodes: Vec<NodeView>,
    /// Acknowledged alerts and silences (`docs/acks-and-silences.md`).
    #[serde(default)]
    pub operator: crate::operator::OperatorView,
    /// The probes failing now, with why (`docs/probes.md`), by node.
    #[serde(default)]
    pub probe_failures: Vec<ProbeFailure>,
}

/// A probe failing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeFailure {
    /// The probe's node.
    pub node: u16,
    /// Why its latest round failed.
    pub reason: String,
    /// When its failing rounds began (wall ms).
    pub since_ms: u64,
}

impl Snapshot {
    /// A snapshot of `ingest` and the sources at `now_ms`.
    pub fn build(ingest: &Ingest, sources: &[SourceView], now_ms: u64) -> Snapshot {
        let totals = ingest.totals();
        Snapshot {
            generated_ms: now_ms,
            bytes: totals.bytes,
            frames: totals.frames,
            decode_errors: totals
                .decode_errors
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
            truncated_bytes: totals.truncated_bytes,
            refused_node_frames: totals.refused_node_frames,
            sinks: Vec::new(),
            sources: sources.to_vec(),
            nodes: ingest.nodes().values().map(node_view).collect(),
            operator: Default::default(),
            probe_failures: Vec::new(),
        }
    }

    /// The node with this id.
    pub fn node(&self, id: u16) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.id == id)
    }
}

fn node_view(node: &NodeState) -> NodeView {
    let heartbeat = node.last_heartbeat.map(|(_, h)| h);
    NodeView {
        id: node.id,
        boot: node.boot.as_ref().map(|b| b.id),
        firmware: node.hello.as_ref().map(|h| h.firmware.to_string()),
        down: node.down,
        last_frame_ms: node.last_frame_wall_ms,
        uptime_ms: heartbeat.map(|h| h.uptime_ms),
        reset: heartbeat.map(|h| h.reset),
        node_counters: heartbeat.map(|h| {
            [
                h.frames_sent,
                h.frames_dropped,
                h.readings_dropped,
                h.sensor_errors,
            ]
        }),
        counters: node.counters,
        metrics: node
            .metrics
            .iter()
            .map(|(id, m)| metric_view(node, id, m))
            .collect(),
    }
}

/// The metric's forecast toward its predictive threshold (else its worst static bound), when its
/// latest judgement is of a value: a forecast from before the readings stopped or turned invalid is
/// no forecast.
fn forecast(metric: &MetricState) -> Option<EtaView> {
    let m = &*metric.monitor;
    if m.level() == Level::Unknown || m.alert().is_stale() {
        return None;
    }
    let last = metric.last.as_ref()?;
    let rule = m.rule();
    let (threshold, crossing, policy) = match (&rule.predictive, rule.summary()) {
        (Some(p), _) => (p.threshold, p.crossing, p.policy),
        (None, s) => (s.critical.or(s.warning)?, s.crossing, EtaPolicy::DEFAULT),
    };
    let forecast = m.forecast(last.t_ms, f64::from(threshold), crossing, &policy);
    let ms = match forecast.time_to {
        TimeTo::Eta(eta) => eta.ms,
        TimeTo::AlreadyCrossed => 0,
        _ => return None,
    };
    Some(EtaView {
        threshold,
        above: crossing == Crossing::Above,
        ms,
        accelerating: forecast.accelerating,
    })
}

fn metric_view(node: &NodeState, id: u16, metric: &MetricState) -> MetricView {
    let spec = Some(&metric.spec);
    let monitor = Some(&*metric.monitor);
    let last = metric.last.as_ref();
    let summary = spec.map(|s| s.rule.summary());
    let fit = monitor.and_then(|m| m.trend().line());
    let eta = forecast(metric);
    let recent: Vec<f32> = monitor.map_or_else(Vec::new, |m| {
        let w = m.window();
        w.iter()
            .skip(w.len().saturating_sub(RECENT))
            .map(|(_, v)| v)
            .collect()
    });
    let score = monitor.and_then(|m| m.last_score());
    MetricView {
        id,
        name: node.metric_name(id),
        unit: spec.map_or_else(String::new, |s| s.unit.to_string()),
        value: last.map(|r| r.value),
        wall_ms: last.map(|r| r.wall_ms),
        level: metric.monitor.level(),
        node_level: metric.node_level,
        flapping: monitor.is_some_and(|m| m.alert().is_flapping()),
        score: score.map(|s| s.score),
        anomaly: score.filter(|s| s.score > 0.0).map(|s| s.dominant()),
        slope_per_hour: fit.map(|f| f.slope_per_second() * 3600.0),
        eta,
        warning: summary.and_then(|s| s.warning),
        critical: summary.and_then(|s| s.critical),
        recent,
    }
}

/// Fetches a daemon's snapshot from `url` (`http://HOST:PORT`, `/state` appended unless the URL has
/// a path), within `timeout` for the whole request. HTTP/1.0, no redirects: the daemon's endpoint is
/// local and simple.
pub fn fetch(url: &str, timeout: std::time::Duration) -> Result<Snapshot, String> {
    use std::io::{Read, Write};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs are served by `rackwatch run`"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/state"),
    };
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("`{authority}`: {e}"))?
        .collect();
    let addr = addrs
        .first()
        .ok_or_else(|| format!("`{authority}` has no address"))?;
    // One deadline for the whole request: a server that trickles its answer a byte at a time
    // would otherwise reset a per-read timeout forever.
    let deadline = std::time::Instant::now() + timeout;
    let too_slow = || {
        format!(
            "{url}: no complete answer within {:.1} s",
            timeout.as_secs_f64()
        )
    };
    let remaining = || {
        deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
    };
    let mut stream = std::net::TcpStream::connect_timeout(addr, timeout).map_err(|e| {
        format!("cannot reach the daemon at {url}: {e}; is `rackwatch run` running?")
    })?;
    let _ = stream.set_write_timeout(remaining());
    // One write: some servers answer (and close) after the first packet.
    let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = remaining().ok_or_else(too_slow)?;
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| format!("{url}: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if response.len() + n > 64 << 20 => {
                return Err(format!("{url}: the answer is larger than 64 MiB"))
            }
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(too_slow())
            }
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200") {
        return Err(format!("{url}: {status}"));
    }
    serde_json::from_str(body).map_err(|e| format!("{url}: not a rackwatch state: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    /// The rack's inlet temperature rule, fed a steady rise of 3 degC an hour for an hour, a reading
    /// every 10 s.
    fn rising_inlet() -> MetricState {
        use crate::ingest::LastReading;
        let rack = &rackwatch_firmware::rack::RACK[0];
        let mut metric = MetricState::new(rack.spec().unwrap(), 0);
        for i in 0..360u64 {
            let (t_ms, value) = (i * 10_000, 22.0 + 3.0 * i as f32 / 360.0);
            metric.monitor.observe(t_ms, value).unwrap();
            metric.last = Some(LastReading {
                t_ms,
                wall_ms: t_ms,
                value,
            });
        }
        metric
    }

    #[test]
    fn a_metric_whose_readings_stopped_or_turned_invalid_shows_no_forecast() {
        let metric = rising_inlet();
        assert!(forecast(&metric).is_some_and(|e| e.threshold == 32.0));

        let mut stopped = rising_inlet();
        let last = stopped.last.unwrap().t_ms;
        stopped.monitor.poll(last + 2 * 60_000).unwrap();
        assert_eq!(stopped.monitor.level(), Level::Unknown);
        assert_eq!(forecast(&stopped), None);

        // A reading out of the sensor's physical range: judged invalid, before any level change.
        let mut invalid = rising_inlet();
        invalid.monitor.observe(last + 10_000, 500.0).unwrap();
        assert!(invalid.monitor.alert().is_stale());
        assert_eq!(forecast(&invalid), None);
    }

    #[test]
    fn a_source_view_from_a_daemon_without_the_failure_counter_still_parses() {
        let old = r#"{"name":"ttyACM0","connected":false,"finished":false,"bytes":0,
            "connects":0,"disconnects":0,"last_error":null}"#;
        let view: SourceView = serde_json::from_str(old).unwrap();
        assert_eq!(view.failures, 0);
        assert_eq!(view.name, "ttyACM0");
    }

    #[test]
    fn a_server_that_trickles_its_answer_is_given_up_on_at_the_deadline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let (mut client, _) = listener.accept().unwrap();
            // A byte every 50 ms, each well within any per-read timeout, for up to 10 s.
            for &b in b"HTTP/1.0 200 OK\r\n\r\n".iter().cycle().take(200) {
                if client.write_all(&[b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let err = fetch(&url, Duration::from_millis(300)).unwrap_err();
        assert!(err.contains("no complete answer within 0.3 s"), "{err}");
        server.join().unwrap();
    }
}
