//! Ingest throughput, single core: line bytes of many nodes through decode → dedupe → host monitors
//! → SQLite, against decode alone, in readings per second. `scripts/bench-report` writes the ratios
//! to BENCHMARKS.md.

// criterion_group! and criterion_main! generate undocumented functions.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use rackwatch::ingest::{Ingest, IngestSettings};
use rackwatch::rules::HostRules;
use rackwatch::store::Store;
use rackwatch_core::alert::{MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Decoder, Frame, Header, Hello, Readings, MAX_ENCODED_LEN, MAX_READINGS,
};
use std::hint::black_box;

const NODES: u16 = 16;
const METRICS: u16 = 16;
/// Batches per node: each batch carries MAX_READINGS readings (4 per metric).
const BATCHES: u64 = 40;

/// Line bytes of `NODES` nodes: Hello and Metric frames, then readings batches.
fn capture() -> (Vec<u8>, u64) {
    let mut line = Vec::new();
    let mut readings = 0;
    let mut out = [0u8; MAX_ENCODED_LEN];
    let mut emit = |node: u16, seq: &mut u16, body: Body, line: &mut Vec<u8>| {
        let frame = Frame {
            header: Header {
                node_id: node,
                boot_id: 0xB00 + u32::from(node),
                seq: *seq,
            },
            body,
        };
        *seq = seq.wrapping_add(1);
        let n = frame.encode(&mut out).expect("fits");
        line.extend_from_slice(&out[..n]);
    };
    let mut seqs = vec![0u16; NODES as usize];
    for node in 0..NODES {
        let seq = &mut seqs[node as usize];
        emit(
            node,
            seq,
            Body::Hello(Hello::new("0.1.0".try_into().unwrap())),
            &mut line,
        );
        for metric in 0..METRICS {
            let spec = MetricSpec::new(
                metric,
                &format!("metric_{metric}"),
                "u",
                Rule {
                    missing: MissingData::unknown_after(60_000),
                    ..Rule::above(80.0, 90.0)
                },
                AnomalyConfig::DEFAULT,
            )
            .unwrap();
            emit(node, seq, Body::Metric(spec), &mut line);
        }
    }
    for batch in 0..BATCHES {
        for node in 0..NODES {
            let mut r = Readings::new();
            for i in 0..MAX_READINGS as u64 {
                let metric = (i % u64::from(METRICS)) as u16;
                let sample =
                    batch * (MAX_READINGS as u64 / u64::from(METRICS)) + i / u64::from(METRICS);
                let t = sample * 1000;
                let v = 50.0
                    + 10.0 * libm::sin(sample as f64 / 50.0 + f64::from(metric))
                    + (i % 7) as f64 * 0.1;
                r.push(metric, t, v as f32).unwrap();
                readings += 1;
            }
            emit(node, &mut seqs[node as usize], Body::Readings(r), &mut line);
        }
    }
    (line, readings)
}

fn ingest(c: &mut Criterion) {
    let (line, readings) = capture();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(readings));
    group.sample_size(20);
    group.bench_function("decode", |b| {
        b.iter(|| {
            let mut decoder: Decoder<MAX_ENCODED_LEN> = Decoder::new();
            black_box(decoder.feed(black_box(&line)).filter(Result::is_ok).count())
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            let mut ingest = Ingest::new(HostRules::default(), IngestSettings::default());
            let mut events = Vec::new();
            ingest.bytes("bench", 1_800_000_000_000, black_box(&line), &mut events);
            black_box(events.len())
        })
    });
    let dir = tempfile::tempdir().expect("a temporary directory");
    group.bench_function("pipeline_sqlite", |b| {
        b.iter_batched(
            || {
                let path = dir.path().join(format!("{}.db", rand_name()));
                Store::open(&path).expect("a database")
            },
            |mut store| {
                let mut ingest = Ingest::new(HostRules::default(), IngestSettings::default());
                let mut events = Vec::new();
                // The daemon writes a transaction per batch of at most 5000 events.
                for chunk in line.chunks(64 * 1024) {
                    ingest.bytes("bench", 1_800_000_000_000, chunk, &mut events);
                    if events.len() >= 5000 {
                        store.write(&events).expect("write");
                        events.clear();
                    }
                }
                store.write(&events).expect("write");
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    std::fs::write(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/criterion/ingest-size.json"),
        format!(
            r#"{{"readings": {readings}, "nodes": {NODES}, "metrics": {METRICS}, "bytes": {}}}"#,
            line.len()
        ),
    )
    .expect("target dir is writable");
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

criterion_group!(benches, ingest);
criterion_main!(benches);
