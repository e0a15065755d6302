//! `rackwatch demo`: simulated rack nodes stream rackwatch frames over an in-memory "serial line" into
//! the host, which decodes them with the streaming decoder and judges every reading with the same core
//! the nodes run: window statistics, trend with time-to-threshold, anomaly score.
//!
//! Rack time runs as fast as the machine allows, so hours of a failing rack play out in a second.
//! Garbage is injected into one node's line to show the decoder resynchronising and counting errors.

use clap::Args;
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyKind};
use rackwatch_core::trend::{Crossing, EtaPolicy, ForgettingTrend, TimeTo};
use rackwatch_core::window::Window;
use rackwatch_core::wire::{
    seq_distance, Body, Decoder, Frame, Header, Heartbeat, Hello, MetricDescriptor, Readings,
    ResetReason, RuleSummary, MAX_ENCODED_LEN, SCHEMA_HASH,
};
use rackwatch_firmware::sim::{Scenario, SimMetric, SimSensors};
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Options of `rackwatch demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Simulated nodes; each plays one failure scenario, round-robin.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub nodes: u16,
    /// Hours of rack time to simulate.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=24 * 365))]
    pub hours: u32,
    /// Seconds between two readings of a sensor.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub interval_s: u32,
    /// Seed of the simulated noise: the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Minutes between two status tables.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=24 * 60))]
    pub report_every_min: u32,
}

/// What the host judges each metric against.
struct MetricRule {
    /// Where the metric turns bad, for its time-to-threshold.
    threshold: f32,
    crossing: Crossing,
    /// Physical limits of the sensor.
    min: f32,
    max: f32,
}

fn rule(metric: SimMetric) -> MetricRule {
    match metric {
        SimMetric::InletTemperature => MetricRule {
            threshold: 35.0,
            crossing: Crossing::Above,
            min: -20.0,
            max: 80.0,
        },
        SimMetric::Humidity => MetricRule {
            threshold: 80.0,
            crossing: Crossing::Above,
            min: 0.0,
            max: 100.0,
        },
        SimMetric::Pressure => MetricRule {
            threshold: 950.0,
            crossing: Crossing::Below,
            min: 300.0,
            max: 1100.0,
        },
        SimMetric::Power => MetricRule {
            threshold: 300.0,
            crossing: Crossing::Above,
            min: 0.0,
            max: 5000.0,
        },
    }
}

/// Frames an ETA is announced within.
const ETA_HORIZON_MS: u64 = 6 * 3_600_000;
/// A metric with no reading for this long is reported missing.
const MISSING_AFTER_MS: u64 = 5 * 60_000;
/// Readings are batched for this long before a frame goes out.
const BATCH_MS: u64 = 60_000;
const HEARTBEAT_MS: u64 = 5 * 60_000;
/// When the scenarios start.
const ONSET_MS: u64 = 3_600_000;

/// A simulated node: its sensors and what it has put on its line.
struct SimNode {
    id: u16,
    boot_id: u32,
    sensors: SimSensors,
    seq: u16,
    batch: Readings,
    line: Vec<u8>,
    frames_sent: u32,
    sensor_errors: u32,
}

impl SimNode {
    fn send(&mut self, body: Body) {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: self.boot_id,
                seq: self.seq,
            },
            body,
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        // Every body the demo builds is within the wire capacities, so encoding cannot fail.
        if let Ok(n) = frame.encode(&mut out) {
            self.line.extend_from_slice(&out[..n]);
            self.seq = self.seq.wrapping_add(1);
            self.frames_sent += 1;
        }
    }

    fn hello(&mut self) {
        let metrics = SimMetric::ALL
            .iter()
            .map(|&m| {
                let r = rule(m);
                MetricDescriptor {
                    id: m.id(),
                    name: m.name().try_into().unwrap_or_default(),
                    unit: m.unit().try_into().unwrap_or_default(),
                    rule: RuleSummary {
                        crossing: r.crossing,
                        warning: None,
                        critical: Some(r.threshold),
                    },
                }
            })
            .collect();
        let firmware = env!("CARGO_PKG_VERSION").try_into().unwrap_or_default();
        self.send(Body::Hello(Hello {
            firmware,
            schema_hash: SCHEMA_HASH,
            metrics,
        }));
    }

    fn sample(&mut self, now_ms: u64) {
        for metric in SimMetric::ALL {
            match self.sensors.read(metric, now_ms) {
                Ok(value) => {
                    if self.batch.push(metric.id(), now_ms, value).is_err() {
                        self.flush();
                        let _ = self.batch.push(metric.id(), now_ms, value);
                    }
                }
                Err(_) => self.sensor_errors += 1,
            }
        }
    }

    fn flush(&mut self) {
        if !self.batch.readings.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.send(Body::Readings(batch));
        }
    }
}

/// The host's view of one metric of one node.
struct MetricView {
    window: Window<64>,
    trend: ForgettingTrend,
    anomaly: AnomalyDetector,
    last: Option<(u64, f32)>,
    score: f32,
    kind: AnomalyKind,
    flagged: bool,
    eta_announced: bool,
    missing_announced: bool,
}

impl MetricView {
    fn new(metric: SimMetric) -> Self {
        let r = rule(metric);
        MetricView {
            window: Window::new(),
            // Half an hour of memory: long enough to see through noise, short enough to follow a change.
            trend: ForgettingTrend::new(30 * 60_000),
            anomaly: AnomalyDetector::new(AnomalyConfig::with_limits(
                Some(r.min),
                Some(r.max),
                None,
            )),
            last: None,
            score: 0.0,
            kind: AnomalyKind::None,
            flagged: false,
            eta_announced: false,
            missing_announced: false,
        }
    }

    fn eta(&self, now_ms: u64, metric: SimMetric) -> TimeTo {
        let r = rule(metric);
        self.trend.time_to(
            now_ms,
            f64::from(r.threshold),
            r.crossing,
            &EtaPolicy::DEFAULT,
        )
    }
}

/// The host's view of one node: its line decoder and what came through it.
struct HostNode {
    scenario: Scenario,
    decoder: Box<Decoder>,
    metrics: Vec<MetricView>,
    last_seq: Option<u16>,
    frames: u64,
    lost: u64,
    readings: u64,
    errors: BTreeMap<&'static str, u64>,
    hello: Option<Hello>,
    heartbeat: Option<Heartbeat>,
}

/// Decode and judgement totals, for the summary and the tests.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DemoTotals {
    /// Frames decoded.
    pub frames: u64,
    /// Frames lost, from sequence gaps.
    pub lost: u64,
    /// Decode errors by kind.
    pub errors: BTreeMap<&'static str, u64>,
    /// Readings judged.
    pub readings: u64,
    /// Bytes the nodes put on their lines.
    pub line_bytes: u64,
    /// Events printed.
    pub events: u64,
}

fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn duration(ms: u64) -> String {
    let m = ms / 60_000;
    if m >= 60 {
        format!("{}h{:02}m", m / 60, m % 60)
    } else {
        format!("{m}m")
    }
}

fn kind_name(kind: AnomalyKind) -> &'static str {
    match kind {
        AnomalyKind::None => "normal",
        AnomalyKind::Deviation => "deviation",
        AnomalyKind::LevelShift => "level shift",
        AnomalyKind::Spike => "spike",
        AnomalyKind::Stuck => "stuck sensor",
        AnomalyKind::OutOfRange => "out of range",
        AnomalyKind::SlewRate => "slew rate",
    }
}

impl HostNode {
    fn receive(
        &mut self,
        id: u16,
        bytes: &[u8],
        out: &mut impl Write,
        totals: &mut DemoTotals,
    ) -> io::Result<()> {
        let results: Vec<_> = self.decoder.feed(bytes).collect();
        for result in results {
            match result {
                Err(error) => {
                    *self.errors.entry(error.name()).or_default() += 1;
                    writeln!(
                        out,
                        "  node {id}: decode error: {error}; resynchronised at the next frame"
                    )?;
                    totals.events += 1;
                }
                Ok(frame) => self.frame(id, frame, out, totals)?,
            }
        }
        Ok(())
    }

    fn frame(
        &mut self,
        id: u16,
        frame: Frame,
        out: &mut impl Write,
        totals: &mut DemoTotals,
    ) -> io::Result<()> {
        self.frames += 1;
        if let Some(last) = self.last_seq {
            let lost = u64::from(seq_distance(last, frame.header.seq).wrapping_sub(1));
            if lost > 0 {
                self.lost += lost;
                writeln!(
                    out,
                    "  node {id}: {lost} frame(s) lost before seq {}",
                    frame.header.seq
                )?;
                totals.events += 1;
            }
        }
        self.last_seq = Some(frame.header.seq);
        match frame.body {
            Body::Hello(hello) => {
                if hello.schema_hash != SCHEMA_HASH {
                    writeln!(
                        out,
                        "  node {id}: schema hash {:#x} differs from ours",
                        hello.schema_hash
                    )?;
                }
                self.hello = Some(hello);
            }
            Body::Heartbeat(heartbeat) => self.heartbeat = Some(heartbeat),
            Body::Readings(readings) => {
                for (metric, t, value) in readings.iter() {
                    self.reading(id, metric, t, value, out, totals)?;
                }
            }
            Body::Transition(_) | Body::Log(_) | Body::Metric(_) => {}
        }
        Ok(())
    }

    fn reading(
        &mut self,
        id: u16,
        metric_id: u16,
        t: u64,
        value: f32,
        out: &mut impl Write,
        totals: &mut DemoTotals,
    ) -> io::Result<()> {
        let Some(&metric) = SimMetric::ALL.get(usize::from(metric_id)) else {
            return Ok(());
        };
        let Some(view) = self.metrics.get_mut(usize::from(metric_id)) else {
            return Ok(());
        };
        self.readings += 1;
        // The simulated nodes send ordered, finite readings; a refused one would be skipped here.
        let _ = view.window.push(t, value);
        let _ = view.trend.update(t, value);
        if let Ok(score) = view.anomaly.update(t, value) {
            view.score = score.score;
            view.kind = score.dominant();
        }
        view.last = Some((t, value));
        view.missing_announced = false;
        let name = metric.name();
        if view.score >= 0.9 && !view.flagged {
            view.flagged = true;
            writeln!(
                out,
                "  {} node {id} {name}: {} (score {:.2}, value {value:.2} {})",
                clock(t),
                kind_name(view.kind),
                view.score,
                metric.unit()
            )?;
            totals.events += 1;
        } else if view.score < 0.3 {
            view.flagged = false;
        }
        if let TimeTo::Eta(eta) = view.eta(t, metric) {
            if eta.ms <= ETA_HORIZON_MS && !view.eta_announced {
                view.eta_announced = true;
                let slope = view
                    .trend
                    .fit()
                    .map_or(0.0, |f| f.slope_per_second() * 3600.0);
                writeln!(
                    out,
                    "  {} node {id} {name}: {:+.1} {}/h, reaches {} {} in {} (between {} and {})",
                    clock(t),
                    slope,
                    metric.unit(),
                    rule(metric).threshold,
                    metric.unit(),
                    duration(eta.ms),
                    duration(eta.earliest_ms),
                    eta.latest_ms.map_or_else(|| "never".into(), duration),
                )?;
                totals.events += 1;
            }
        }
        Ok(())
    }

    fn check_missing(
        &mut self,
        id: u16,
        now_ms: u64,
        out: &mut impl Write,
        totals: &mut DemoTotals,
    ) -> io::Result<()> {
        for (metric, view) in SimMetric::ALL.iter().zip(&mut self.metrics) {
            if let Some((t, _)) = view.last {
                if now_ms - t > MISSING_AFTER_MS && !view.missing_announced {
                    view.missing_announced = true;
                    let errors = self.heartbeat.map_or(0, |h| h.sensor_errors);
                    writeln!(
                        out,
                        "  {} node {id} {}: no data since {} (node reports {errors} sensor errors)",
                        clock(now_ms),
                        metric.name(),
                        clock(t)
                    )?;
                    totals.events += 1;
                }
            }
        }
        Ok(())
    }
}

fn cell(view: &MetricView, now_ms: u64, metric: SimMetric, with_trend: bool) -> String {
    let Some((t, value)) = view.last else {
        return "-".into();
    };
    if now_ms - t > MISSING_AFTER_MS {
        return "no data".into();
    }
    if !with_trend {
        return format!("{value:.1}");
    }
    let slope = view
        .trend
        .fit()
        .map_or(0.0, |f| f.slope_per_second() * 3600.0);
    match view.eta(now_ms, metric) {
        TimeTo::Eta(eta) => format!("{value:.1} {slope:+.1}/h ETA {}", duration(eta.ms)),
        TimeTo::AlreadyCrossed => format!("{value:.1} CROSSED"),
        _ => format!("{value:.1}"),
    }
}

fn table(nodes: &[HostNode], now_ms: u64, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "\n── rack time {} ──", clock(now_ms))?;
    writeln!(
        out,
        "{:>4}  {:<15} {:<24} {:>10} {:>8} {:<22} {:>7}",
        "node", "scenario", "inlet degC", "humid %", "hPa", "power W", "anomaly"
    )?;
    for (i, node) in nodes.iter().enumerate() {
        let m = &node.metrics;
        let worst = m.iter().map(|v| v.score).fold(0.0f32, f32::max);
        writeln!(
            out,
            "{:>4}  {:<15} {:<24} {:>10} {:>8} {:<22} {:>7.2}",
            i + 1,
            node.scenario.name(),
            cell(&m[0], now_ms, SimMetric::InletTemperature, true),
            cell(&m[1], now_ms, SimMetric::Humidity, false),
            cell(&m[2], now_ms, SimMetric::Pressure, false),
            cell(&m[3], now_ms, SimMetric::Power, true),
            worst,
        )?;
    }
    writeln!(out)
}

/// Runs the demo, writing to `out`; returns the totals.
pub fn simulate(args: &DemoArgs, out: &mut impl Write) -> io::Result<DemoTotals> {
    let interval_ms = u64::from(args.interval_s) * 1000;
    let end_ms = u64::from(args.hours) * 3_600_000;
    let report_ms = u64::from(args.report_every_min) * 60_000;
    let mut nodes: Vec<SimNode> = (1..=args.nodes)
        .map(|id| {
            let scenario = Scenario::ALL[usize::from(id - 1) % Scenario::ALL.len()];
            SimNode {
                id,
                boot_id: (args.seed as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(u32::from(id)),
                sensors: SimSensors::new(args.seed.wrapping_add(u64::from(id)), scenario, ONSET_MS),
                seq: 0,
                batch: Readings::default(),
                line: Vec::new(),
                frames_sent: 0,
                sensor_errors: 0,
            }
        })
        .collect();
    let mut host: Vec<HostNode> = nodes
        .iter()
        .map(|n| HostNode {
            scenario: n.sensors.scenario(),
            decoder: Box::new(Decoder::new()),
            metrics: SimMetric::ALL.iter().map(|&m| MetricView::new(m)).collect(),
            last_seq: None,
            frames: 0,
            lost: 0,
            readings: 0,
            errors: BTreeMap::new(),
            hello: None,
            heartbeat: None,
        })
        .collect();
    let mut totals = DemoTotals::default();

    writeln!(
        out,
        "rackwatch demo: {} simulated nodes, a reading every {} s, {} h of rack time (seed {}).\n\
         Each node streams rackwatch frames; the host decodes them and judges every reading with the\n\
         same core the nodes run. Scenarios start at 01:00:00. Noise hits node 2's line at 02:00:00.\n",
        args.nodes, args.interval_s, args.hours, args.seed
    )?;
    for node in &mut nodes {
        // A leading delimiter ends any partial frame the host holds, as a real node does at boot.
        node.line.push(0);
        node.hello();
    }
    let mut now = 0;
    while now <= end_ms {
        for node in nodes.iter_mut() {
            node.sample(now);
            if now % BATCH_MS == BATCH_MS - interval_ms.min(BATCH_MS) {
                node.flush();
            }
            if now % HEARTBEAT_MS == 0 {
                let heartbeat = Heartbeat {
                    uptime_ms: now,
                    reset: ResetReason::PowerOn,
                    frames_sent: node.frames_sent,
                    frames_dropped: 0,
                    readings_dropped: 0,
                    sensor_errors: node.sensor_errors,
                };
                node.send(Body::Heartbeat(heartbeat));
            }
            if node.id == 2 && now == 2 * 3_600_000 {
                // Line noise with no zero byte: it runs into the next frame, which fails its CRC.
                node.line.extend((0u8..40).map(|i| i.wrapping_mul(37) | 1));
            }
            // The host reads whatever arrived, in odd-sized chunks, as a serial port hands them over.
            let line = std::mem::take(&mut node.line);
            totals.line_bytes += line.len() as u64;
            if let Some(view) = host.get_mut(usize::from(node.id - 1)) {
                for chunk in line.chunks(37) {
                    view.receive(node.id, chunk, out, &mut totals)?;
                }
                view.check_missing(node.id, now, out, &mut totals)?;
            }
        }
        if now > 0 && now % report_ms == 0 {
            table(&host, now, out)?;
        }
        now += interval_ms;
    }

    for node in &host {
        totals.frames += node.frames;
        totals.lost += node.lost;
        totals.readings += node.readings;
        for (kind, count) in &node.errors {
            *totals.errors.entry(kind).or_default() += count;
        }
    }
    let errors: Vec<String> = totals
        .errors
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    writeln!(
        out,
        "summary: {} frames decoded, {} decode error(s) ({}), {} frame(s) lost, {} readings judged, \
         {:.1} bytes per reading on the line.",
        totals.frames,
        totals.errors.values().sum::<u64>(),
        if errors.is_empty() { "none".to_string() } else { errors.join(", ") },
        totals.lost,
        totals.readings,
        totals.line_bytes as f64 / totals.readings.max(1) as f64,
    )?;
    Ok(totals)
}

/// `rackwatch demo`.
pub fn run(args: &DemoArgs, out: &mut impl Write) -> io::Result<()> {
    simulate(args, out).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DemoArgs {
        DemoArgs {
            nodes: 6,
            hours: 4,
            interval_s: 10,
            seed: 1,
            report_every_min: 60,
        }
    }

    fn output() -> (String, DemoTotals) {
        let mut out = Vec::new();
        let totals = simulate(&args(), &mut out).unwrap();
        (String::from_utf8(out).unwrap(), totals)
    }

    #[test]
    fn every_scenario_is_seen_by_the_host() {
        let (text, totals) = output();
        let has = |needle: &str| text.lines().any(|l| l.contains(needle));
        assert!(
            has("node 1 inlet_temperature:") && has("reaches 35 degC in"),
            "rising inlet forecast\n{text}"
        );
        assert!(
            has("node 2 power:") && has("reaches 300 W in"),
            "power creep forecast\n{text}"
        );
        assert!(has("node 3 humidity: stuck sensor"), "stuck sensor\n{text}");
        assert!(
            has("node 4 humidity: spike") || has("node 4 humidity: deviation"),
            "humidity spike\n{text}"
        );
        assert!(
            has("node 5 inlet_temperature: no data since"),
            "sensor dropout\n{text}"
        );
        assert!(!has("node 6 "), "the nominal node stays quiet\n{text}");
        // The injected noise costs exactly one frame, reported as one CRC or COBS error and one gap.
        assert_eq!(
            totals.errors.values().sum::<u64>(),
            1,
            "{:?}",
            totals.errors
        );
        assert_eq!(totals.lost, 1);
        assert!(has("node 2: decode error"));
    }

    #[test]
    fn same_seed_same_output() {
        assert_eq!(output().0, output().0);
    }
}
