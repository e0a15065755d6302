//! `/metrics` render time for 256 nodes × 16 metrics, against rendering `/state` (the same
//! snapshot as JSON, what the daemon serves today) in the same run. BENCHMARKS.md reports the
//! ratio; `cargo bench -p rackwatch --bench metrics` reproduces it.

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rackwatch::ingest::NodeCounters;
use rackwatch::sink::SinkStatus;
use rackwatch::state::{EtaView, MetricView, NodeView, Snapshot, SourceView, RECENT};
use rackwatch_core::Level;
use std::hint::black_box;
use std::sync::{Arc, Mutex};

const NODES: u16 = 256;
const METRICS: u16 = 16;

/// A metric as the rack's nodes send them: the rack's units in turn, a forecast on every third,
/// a warning on every seventh, a full sparkline.
fn metric(node: u16, id: u16) -> MetricView {
    let units = ["degC", "%", "hPa", "W", "V", "A"];
    let value = 20.0 + f32::from(node % 10) + f32::from(id) * 0.37;
    MetricView {
        id,
        name: format!("metric_{id}"),
        unit: units[usize::from(id) % units.len()].into(),
        value: Some(value),
        wall_ms: Some(1_764_000_000_000 + u64::from(node) * 1000),
        level: if (node + id).is_multiple_of(7) {
            Level::Warning
        } else {
            Level::Ok
        },
        node_level: Some(Level::Ok),
        flapping: false,
        score: Some(0.125),
        anomaly: None,
        slope_per_hour: Some(0.5),
        eta: id.is_multiple_of(3).then_some(EtaView {
            threshold: 32.0,
            above: true,
            ms: 5_400_000,
            accelerating: false,
        }),
        warning: Some(27.0),
        critical: Some(32.0),
        recent: (0..RECENT).map(|i| value + i as f32 * 0.01).collect(),
    }
}

fn snapshot() -> Snapshot {
    let nodes = (1..=NODES)
        .map(|id| NodeView {
            id,
            boot: Some(0xB00 + u32::from(id)),
            firmware: Some("0.1.0".into()),
            down: false,
            last_frame_ms: 1_764_000_000_000,
            uptime_ms: Some(3_600_000),
            reset: Some(rackwatch_core::wire::ResetReason::PowerOn),
            node_counters: Some([100, 0, 0, 0]),
            counters: NodeCounters {
                frames: 100,
                readings: 1600,
                ..NodeCounters::default()
            },
            metrics: (0..METRICS).map(|m| metric(id, m)).collect(),
        })
        .collect();
    Snapshot {
        generated_ms: 1_764_000_000_000,
        sources: vec![SourceView {
            name: "/dev/ttyACM0".into(),
            connected: true,
            ..SourceView::default()
        }],
        sinks: vec![SinkStatus {
            name: "history".into(),
            level: Level::Ok,
            pending: 0,
            dropped: 0,
            failures: 0,
            last_error: None,
        }],
        nodes,
        ..Snapshot::default()
    }
}

fn render(c: &mut Criterion) {
    let shared = Arc::new(Mutex::new(snapshot()));
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Elements(u64::from(NODES) * u64::from(METRICS)));
    group.bench_function("state_json", |b| {
        b.iter(|| {
            let snapshot = shared.lock().unwrap();
            black_box(serde_json::to_string(&*snapshot).unwrap())
        })
    });
    group.bench_function("prometheus", |b| {
        b.iter(|| black_box(rackwatch::metrics::render(&shared).unwrap()))
    });
    group.finish();
    let json = serde_json::to_string(&*shared.lock().unwrap()).unwrap();
    let text = rackwatch::metrics::render(&shared).unwrap();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "sizes: /state {} bytes; /metrics {} bytes, {series} series",
        json.len(),
        text.len()
    );
}

criterion_group!(benches, render);
criterion_main!(benches);
