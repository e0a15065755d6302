//! Criterion benchmarks of the core. `scripts/bench-report` runs them and writes the ratios to
//! BENCHMARKS.md.
//!
//! - `per_sample/*/{64,1024,4096}`: one sample through the window + statistics + trend + anomaly update
//!   (`pipeline`), against recomputing the same aggregates over the window from scratch, as
//!   `predict_linear` does at every evaluation (`naive_recompute`), and against a bare ring-buffer push
//!   (`ring_push`).
//! - `per_sample/monitor/*`: one reading through [`Monitor::observe`]: the same window, trend and
//!   anomaly work plus the alert rule (value thresholds with hysteresis, a forecast horizon, N-of-M
//!   and `for` debounce, missing data, flap detection) and its state machine.
//! - `wire/*`: encoding and decoding a batch of readings as rackwatch frames and as JSON lines.

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use heapless::HistoryBuf;
use rackwatch_core::alert::{
    Bound, Debounce, Flapping, Horizon, Limit, Limits, MissingData, Predictive, Rule,
};
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector};
use rackwatch_core::codec::{self, Values};
use rackwatch_core::monitor::{MetricSpec, Monitor};
use rackwatch_core::stats::{EwStats, Smoothing};
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::window::Window;
use rackwatch_core::wire::{Body, Decoder, Frame, Header, Readings, MAX_ENCODED_LEN, MAX_READINGS};
use serde::{Deserialize, Serialize};
use std::hint::black_box;

/// A temperature-like series: slow rise, daily cycle, deterministic jitter.
fn reading(i: u64) -> (u64, f32) {
    let t = i * 10_000;
    let jitter = ((i.wrapping_mul(2_654_435_761) >> 7) % 1000) as f32 / 1000.0 - 0.5;
    (
        t,
        22.0 + i as f32 * 1e-4
            + 2.0 * libm::sinf(i as f32 / 8640.0 * std::f32::consts::TAU)
            + 0.2 * jitter,
    )
}

/// Everything the core keeps for one metric, updated per sample.
struct Pipeline<const N: usize> {
    window: Window<N>,
    baseline: EwStats,
    anomaly: AnomalyDetector,
}

impl<const N: usize> Pipeline<N> {
    fn new() -> Self {
        Pipeline {
            window: Window::new(),
            baseline: EwStats::new(Smoothing::TimeConstantMs(600_000)),
            anomaly: AnomalyDetector::new(AnomalyConfig::default()),
        }
    }

    fn observe(&mut self, t: u64, v: f32) -> (f32, bool) {
        let _ = self.window.push(t, v);
        let _ = self.baseline.update(t, v);
        let score = self.anomaly.update(t, v).map(|s| s.score).unwrap_or(0.0);
        let eta = self
            .window
            .time_to(t, 35.0, Crossing::Above, &EtaPolicy::DEFAULT);
        (score, matches!(eta, rackwatch_core::trend::TimeTo::Eta(_)))
    }
}

/// What a recompute-per-evaluation monitor does: keep the raw samples, rescan them all.
struct Naive<const N: usize> {
    samples: HistoryBuf<(u64, f32), N>,
}

impl<const N: usize> Naive<N> {
    fn observe(&mut self, t: u64, v: f32) -> (f64, f64, f32, f32, f64) {
        self.samples.write((t, v));
        let n = self.samples.len() as f64;
        let (mut sx, mut sy, mut min, mut max) = (0.0f64, 0.0f64, f32::INFINITY, f32::NEG_INFINITY);
        for &(ts, vs) in self.samples.iter() {
            sx += (ts - t) as f64;
            sy += f64::from(vs);
            min = min.min(vs);
            max = max.max(vs);
        }
        let (mx, my) = (sx / n, sy / n);
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for &(ts, vs) in self.samples.iter() {
            let dx = (ts - t) as f64 - mx;
            let dy = f64::from(vs) - my;
            sxx += dx * dx;
            sxy += dx * dy;
            syy += dy * dy;
        }
        (my, syy / n, min, max, sxy / sxx)
    }
}

/// An inlet-temperature rule with every kind of condition and debounce switched on.
fn full_rule() -> Rule {
    let limit = |raise: f32| Limits {
        above: Some(Limit::with_clear(
            Bound::strict(raise),
            Bound::inclusive(raise - 1.0),
        )),
        below: None,
    };
    let mut rule = Rule::EMPTY;
    rule.value.warning = limit(30.0);
    rule.value.critical = limit(35.0);
    rule.predictive = Some(Predictive {
        threshold: 35.0,
        crossing: Crossing::Above,
        warning: Some(Horizon {
            within_ms: 7_200_000,
            clear_beyond_ms: 10_800_000,
        }),
        critical: None,
        policy: EtaPolicy::DEFAULT,
        keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
    });
    rule.raise = Debounce {
        samples: 3,
        of_last: 5,
        for_ms: 30_000,
    };
    rule.clear = Debounce::time(60_000);
    rule.missing = MissingData::unknown_after(60_000);
    rule.flapping = Some(Flapping::NAGIOS);
    rule
}

fn per_sample_at<const N: usize>(c: &mut Criterion) {
    let mut group = c.benchmark_group("per_sample");
    group.throughput(Throughput::Elements(1));
    let warm = (N as u64) * 2;

    let mut ring: HistoryBuf<(u64, f32), N> = HistoryBuf::new();
    let mut i = 0;
    group.bench_with_input(BenchmarkId::new("ring_push", N), &N, |b, _| {
        b.iter(|| {
            i += 1;
            let (t, v) = reading(i);
            ring.write(black_box((t, v)));
        })
    });

    let mut pipeline = Box::new(Pipeline::<N>::new());
    for i in 0..warm {
        let (t, v) = reading(i);
        pipeline.observe(t, v);
    }
    let mut i = warm;
    group.bench_with_input(BenchmarkId::new("pipeline", N), &N, |b, _| {
        b.iter(|| {
            i += 1;
            let (t, v) = reading(i);
            black_box(pipeline.observe(black_box(t), black_box(v)))
        })
    });

    let spec = MetricSpec::new(1, "inlet", "degC", full_rule(), AnomalyConfig::default())
        .expect("a valid rule");
    let mut monitor = Box::new(Monitor::<N>::for_spec(&spec, 0));
    for i in 0..warm {
        let (t, v) = reading(i);
        let _ = monitor.observe(t, v);
    }
    let mut i = warm;
    group.bench_with_input(BenchmarkId::new("monitor", N), &N, |b, _| {
        b.iter(|| {
            i += 1;
            let (t, v) = reading(i);
            black_box(monitor.observe(black_box(t), black_box(v)))
        })
    });

    let mut naive = Box::new(Naive::<N> {
        samples: HistoryBuf::new(),
    });
    for i in 0..warm {
        let (t, v) = reading(i);
        naive.observe(t, v);
    }
    let mut i = warm;
    group.bench_with_input(BenchmarkId::new("naive_recompute", N), &N, |b, _| {
        b.iter(|| {
            i += 1;
            let (t, v) = reading(i);
            black_box(naive.observe(black_box(t), black_box(v)))
        })
    });
    group.finish();
}

fn per_sample(c: &mut Criterion) {
    per_sample_at::<64>(c);
    per_sample_at::<1024>(c);
    per_sample_at::<4096>(c);
}

/// One reading as a JSON line, the format a plain text pipeline would ship.
#[derive(Serialize, Deserialize)]
struct JsonReading {
    node: u16,
    metric: u16,
    t_ms: u64,
    value: f32,
}

fn batch() -> Frame {
    let mut readings = Readings::default();
    for i in 0..MAX_READINGS as u64 {
        let (t, v) = reading(i);
        readings
            .push((i % 4) as u16, t / 4, v)
            .expect("the batch holds MAX_READINGS");
    }
    Frame {
        header: Header {
            node_id: 3,
            boot_id: 0x1234_5678,
            seq: 42,
        },
        body: Body::Readings(readings),
    }
}

fn json_lines(frame: &Frame) -> Vec<u8> {
    let Body::Readings(readings) = &frame.body else {
        unreachable!("batch() builds readings")
    };
    let mut out = Vec::new();
    for (metric, t_ms, value) in readings.iter() {
        serde_json::to_writer(
            &mut out,
            &JsonReading {
                node: frame.header.node_id,
                metric,
                t_ms,
                value,
            },
        )
        .expect("writing to a Vec cannot fail");
        out.push(b'\n');
    }
    out
}

fn wire(c: &mut Criterion) {
    let frame = batch();
    let mut line = [0u8; MAX_ENCODED_LEN];
    let line_len = frame.encode(&mut line).expect("a batch fits a frame");
    let json = json_lines(&frame);
    // The byte counts go beside the timings for scripts/bench-report.
    let sizes = format!(
        r#"{{"readings": {MAX_READINGS}, "rackwatch": {line_len}, "json_lines": {}}}"#,
        json.len()
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join("wire-size.json"), sizes))
        .expect("target dir is writable");

    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(MAX_READINGS as u64));
    group.bench_function("encode_rackwatch", |b| {
        let mut out = [0u8; MAX_ENCODED_LEN];
        b.iter(|| black_box(&frame).encode(&mut out).expect("fits"))
    });
    group.bench_function("decode_rackwatch", |b| {
        let mut decoder = Decoder::<MAX_ENCODED_LEN>::new();
        b.iter(|| decoder.feed(black_box(&line[..line_len])).count())
    });
    group.bench_function("encode_json_lines", |b| {
        b.iter(|| json_lines(black_box(&frame)))
    });
    group.bench_function("decode_json_lines", |b| {
        b.iter(|| {
            let mut sum = 0.0f32;
            for line in black_box(&json)
                .split(|&byte| byte == b'\n')
                .filter(|line| !line.is_empty())
            {
                sum += serde_json::from_slice::<JsonReading>(line)
                    .expect("valid JSON")
                    .value;
            }
            sum
        })
    });
    group.finish();
}

/// A day of the temperature-like series at 10 s, as a driver reporting centi-degrees gives it.
fn quantised_day() -> Vec<(u64, f32)> {
    (0..8_640)
        .map(|i| {
            let (t, v) = reading(i);
            (1_764_000_000_000 + t, libm::roundf(v * 100.0) / 100.0)
        })
        .collect()
}

fn encode_chunk(samples: &[(u64, f32)], values: Values, out: &mut [u8]) -> usize {
    let mut encoder = codec::Encoder::new(out, values).expect("room for the header");
    for &(t, v) in samples {
        encoder.push(t, v).expect("room for the day");
    }
    encoder.len()
}

/// The chunk codec against the plainest storage, 12 raw bytes a sample, in the same run.
fn chunk_codec(c: &mut Criterion) {
    let day = quantised_day();
    let lattice = Values::Lattice {
        offset: 0.0,
        step: 0.01,
    };
    let mut out = vec![0u8; codec::MAX_HEADER_LEN + day.len() * codec::MAX_SAMPLE_LEN];
    let sizes: Vec<String> = [("lattice", lattice), ("xor", Values::Xor)]
        .iter()
        .map(|&(name, values)| format!(r#""{name}": {}"#, encode_chunk(&day, values, &mut out)))
        .collect();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/criterion");
    std::fs::create_dir_all(&dir)
        .and_then(|()| {
            let json = format!(r#"{{"samples": {}, {}}}"#, day.len(), sizes.join(", "));
            std::fs::write(dir.join("chunk-size.json"), json)
        })
        .expect("target dir is writable");

    let mut group = c.benchmark_group("chunk");
    group.throughput(Throughput::Elements(day.len() as u64));
    group.bench_function("copy_raw_12_bytes", |b| {
        b.iter(|| {
            for (slot, &(t, v)) in out.chunks_exact_mut(12).zip(black_box(&day)) {
                slot[..8].copy_from_slice(&t.to_le_bytes());
                slot[8..].copy_from_slice(&v.to_le_bytes());
            }
        })
    });
    for (name, values) in [("lattice", lattice), ("xor", Values::Xor)] {
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| encode_chunk(black_box(&day), values, &mut out))
        });
        let len = encode_chunk(&day, values, &mut out);
        let chunk = out[..len].to_vec();
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let decoder = codec::Decoder::new(black_box(&chunk)).expect("a chunk");
                decoder.map(|s| s.expect("decodes").1).sum::<f32>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, per_sample, wire, chunk_codec);
criterion_main!(benches);
