//! Bytes per reading on the line, measured on what simulated nodes send: reads a raw frame stream
//! (`rackwatch sim … --to -`) on stdin and prints BENCHMARKS.md's table of the same readings as sent
//! (PackedReadings, the node's default batching), as Readings frames of the same batches, both
//! re-batched per node into 64-reading batches, and as JSON lines. Line bytes include the header,
//! CRC, COBS and delimiter of every frame.
//! `rackwatch sim --nodes 16 --for 24h --speed 0 --to - | cargo run -p rackwatch --example wire_size`
//!
//! `-- --lattice METRIC=OFFSET,STEP …` first rounds each reading of METRIC to the nearest value of
//! that lattice and packs it there: what a sensor whose driver converts integer counts sends, for
//! a stream whose values are not yet on a lattice.

use rackwatch_core::codec::Values;
use rackwatch_core::wire::{
    cheaper_coding, Body, Decoder, Frame, Header, MetricCoding, PackedReadings, Readings,
    MAX_ENCODED_LEN, MAX_READINGS,
};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Read;

#[derive(Serialize)]
struct JsonReading {
    node: u16,
    metric: u16,
    t_ms: u64,
    value: f32,
}

/// Line bytes of `body` under `header`.
fn line_len(header: Header, body: Body) -> Result<usize, Box<dyn std::error::Error>> {
    let mut out = [0u8; MAX_ENCODED_LEN];
    Ok(Frame { header, body }.encode(&mut out)?)
}

/// One node's readings re-batched by 64, with the codings its packed frames announced.
#[derive(Default)]
struct Rebatch {
    header: Header,
    batch: Readings,
    codings: Vec<MetricCoding>,
    packed: usize,
    plain: usize,
}

impl Rebatch {
    fn push(
        &mut self,
        metric: u16,
        t_ms: u64,
        value: f32,
    ) -> Result<(), Box<dyn std::error::Error>> {
        if self.batch.len() == MAX_READINGS || self.batch.push(metric, t_ms, value).is_err() {
            self.flush()?;
            self.batch.push(metric, t_ms, value)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Box<dyn std::error::Error>> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut packed = PackedReadings {
            readings: self.batch.clone(),
            codings: heapless::Vec::new(),
        };
        for coding in &self.codings {
            if packed.readings.iter().any(|(m, _, _)| m == coding.metric) {
                // As the node chooses: the metric's lattice where it packs this batch shorter.
                let values = cheaper_coding(&packed.readings, coding.metric, coding.values);
                let metric = coding.metric;
                packed
                    .codings
                    .push(MetricCoding { metric, values })
                    .map_err(|_| "more than 16 metrics")?;
            }
        }
        self.packed += line_len(self.header, Body::PackedReadings(packed))?;
        self.plain += line_len(self.header, Body::Readings(self.batch.clone()))?;
        self.batch.clear();
        Ok(())
    }
}

/// `METRIC=OFFSET,STEP` arguments after `--lattice`.
fn lattices() -> Result<BTreeMap<u16, (f32, f32)>, Box<dyn std::error::Error>> {
    let mut out = BTreeMap::new();
    for arg in std::env::args().skip(1).filter(|a| a != "--lattice") {
        let (metric, lattice) = arg.split_once('=').ok_or("expected METRIC=OFFSET,STEP")?;
        let (offset, step) = lattice
            .split_once(',')
            .ok_or("expected METRIC=OFFSET,STEP")?;
        out.insert(metric.parse()?, (offset.parse()?, step.parse()?));
    }
    Ok(out)
}

/// `value` rounded to the lattice's nearest value, computed as the codec computes lattice values.
fn on_lattice(value: f32, (offset, step): (f32, f32)) -> f32 {
    let k = ((f64::from(value) - f64::from(offset)) / f64::from(step)).round();
    (f64::from(offset) + k * f64::from(step)) as f32
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quantise = lattices()?;
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input)?;
    let mut decoder = Decoder::<MAX_ENCODED_LEN>::new();
    let (mut readings, mut frames) = (0usize, 0usize);
    let (mut sent, mut plain, mut json) = (0usize, 0usize, 0usize);
    // What the node sends: each batch packed when that is no longer, else as Readings.
    let mut chosen = 0usize;
    let mut rebatched: BTreeMap<u16, Rebatch> = BTreeMap::new();
    let mut errors = 0usize;
    for frame in decoder.feed(&input) {
        let Ok(frame) = frame else {
            errors += 1;
            continue;
        };
        let Some(mut batch) = frame.body.readings().cloned() else {
            continue;
        };
        for reading in batch.readings.iter_mut() {
            if let Some(&lattice) = quantise.get(&reading.metric) {
                reading.value = on_lattice(reading.value, lattice);
            }
        }
        let mut packed = PackedReadings {
            readings: batch.clone(),
            codings: heapless::Vec::new(),
        };
        if let Body::PackedReadings(sent) = &frame.body {
            packed.codings = sent.codings.clone();
        }
        for coding in packed.codings.iter_mut() {
            if let Some(&(offset, step)) = quantise.get(&coding.metric) {
                coding.values = Values::lattice(offset, step);
            }
        }
        for (&metric, &(offset, step)) in &quantise {
            if batch.iter().any(|(m, _, _)| m == metric)
                && !packed.codings.iter().any(|c| c.metric == metric)
            {
                let values = Values::lattice(offset, step);
                packed
                    .codings
                    .push(MetricCoding { metric, values })
                    .map_err(|_| "16 metrics")?;
            }
        }
        let node = rebatched.entry(frame.header.node_id).or_default();
        node.header = frame.header;
        for coding in &packed.codings {
            if !node.codings.iter().any(|c| c.metric == coding.metric) {
                node.codings.push(*coding);
            }
        }
        for coding in packed.codings.iter_mut() {
            coding.values = cheaper_coding(&batch, coding.metric, coding.values);
        }
        frames += 1;
        readings += batch.len();
        let packed_len = line_len(frame.header, Body::PackedReadings(packed.clone()))?;
        let plain_len = line_len(frame.header, Body::Readings(batch.clone()))?;
        sent += packed_len;
        plain += plain_len;
        chosen += packed_len.min(plain_len);
        for (metric, t_ms, value) in batch.iter() {
            let line = serde_json::to_vec(&JsonReading {
                node: frame.header.node_id,
                metric,
                t_ms,
                value,
            })?;
            json += line.len() + 1;
            node.push(metric, t_ms, value)?;
        }
    }
    let (mut packed64, mut plain64) = (0, 0);
    for node in rebatched.values_mut() {
        node.flush()?;
        packed64 += node.packed;
        plain64 += node.plain;
    }
    let per = |bytes: usize| bytes as f64 / readings.max(1) as f64;
    println!(
        "{readings} readings of {} nodes in {frames} frames ({:.1} readings a frame as sent), \
         {errors} decode errors.",
        rebatched.len(),
        readings as f64 / frames.max(1) as f64
    );
    println!();
    println!("| encoding | bytes | bytes per reading | ÷ what the node sends | JSON lines ÷ it |");
    println!("|---|---:|---:|---:|---:|");
    for (name, bytes) in [
        (
            "the node's batches, each packed unless longer (what it sends)",
            chosen,
        ),
        ("PackedReadings, the node's batches", sent),
        ("Readings, the same batches", plain),
        ("PackedReadings, batches of 64", packed64),
        ("Readings, batches of 64", plain64),
        ("JSON lines (serde_json)", json),
    ] {
        println!(
            "| {name} | {bytes} | {:.2} | {:.2}× | {:.1}× |",
            per(bytes),
            bytes as f64 / chosen.max(1) as f64,
            json as f64 / bytes.max(1) as f64
        );
    }
    Ok(())
}
