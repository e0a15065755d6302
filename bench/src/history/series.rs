//! The samples every storage format is measured on, as series of `(wall ms, f32)`, and the
//! captures that feed them to `rackwatch run`.
//!
//! Invariants:
//! - The samples are read back from what `rackwatch run` stored (`rackwatch history --format
//!   csv`), so Prometheus, Gorilla and the codec get exactly the readings rackwatch keeps, value
//!   bits included (the CSV writes each f32 in its shortest exact form), whatever the store's
//!   internals are.
//! - Each series is in time order; its key is the node, its boot and the metric's name.
//! - A NAB file becomes one node with one metric, its times shifted to start at a common instant
//!   (the corpus spans 2011–2015, more than a capture lets one record jump) and its rows sorted with
//!   repeated times dropped, so every format stores the same strictly increasing series.

use anyhow::Context;
use rackwatch::capture::{CaptureReader, CaptureWriter};
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::codec::Values;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Body, Frame, Header, Hello, Readings, MAX_ENCODED_LEN};
use std::collections::BTreeMap;
use std::path::Path;

/// A series' identity: node, boot, metric name.
pub type Key = (u16, u32, String);

/// Every stored sample, by series, each series oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Samples {
    /// The series.
    pub series: BTreeMap<Key, Vec<(u64, f32)>>,
}

impl Samples {
    /// How many samples in all.
    pub fn len(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }

    /// Whether there is no sample.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parses `rackwatch history --format csv` (`time,node,metric,value,unit,boot,node_ms`).
    pub fn from_history_csv(csv: &str) -> anyhow::Result<Samples> {
        let mut samples = Samples::default();
        for (n, line) in csv.lines().enumerate().skip(1) {
            let row = || format!("history CSV line {}: `{line}`", n + 1);
            let cells: Vec<&str> = line.split(',').collect();
            let [time, node, metric, value, _unit, boot, _node_ms] = cells[..] else {
                anyhow::bail!("{}: not 7 cells", row());
            };
            let wall_ms = rackwatch::timefmt::parse_rfc3339(time)
                .map_err(anyhow::Error::msg)
                .with_context(row)?;
            let key = (
                node.parse().with_context(row)?,
                u32::from_str_radix(boot, 16).with_context(row)?,
                metric.to_string(),
            );
            let value: f32 = value.parse().with_context(row)?;
            samples
                .series
                .entry(key)
                .or_default()
                .push((wall_ms, value));
        }
        for series in samples.series.values_mut() {
            series.sort_by_key(|&(t, _)| t);
        }
        Ok(samples)
    }
}

/// The value lattice each metric's node announced in its Hello, by node and metric name; metrics
/// without one are absent (the codec codes them with XOR).
pub fn lattices(capture: &Path) -> anyhow::Result<BTreeMap<(u16, String), Values>> {
    let mut found = BTreeMap::new();
    let mut decoder = rackwatch_core::wire::Decoder::<MAX_ENCODED_LEN>::new();
    for record in CaptureReader::open(capture)? {
        let Ok((_, bytes)) = record else { continue };
        for frame in decoder.feed(&bytes).flatten() {
            if let Body::Hello(hello) = &frame.body {
                for metric in &hello.metrics {
                    if let Some(values) = lattice_of(metric) {
                        found.insert((frame.header.node_id, metric.name.to_string()), values);
                    }
                }
            }
        }
    }
    Ok(found)
}

/// The codec's coding of a metric the node described: its lattice's, when it has one.
fn lattice_of(metric: &rackwatch_core::wire::MetricDescriptor) -> Option<Values> {
    metric.lattice.map(|lattice| lattice.values())
}

/// NAB's instant zero for every file: 2026-01-01T00:00:00Z.
const NAB_T0_MS: u64 = 1_767_225_600_000;

/// Writes the NAB corpus as a capture: file `i` (in the corpus' order) is node `i` measuring metric
/// `nab`, one batch of readings per record at the readings' own times.
pub fn write_nab_capture(corpus: &crate::nab::data::Corpus, path: &Path) -> anyhow::Result<usize> {
    let mut writer = CaptureWriter::create(path, "nab")?;
    let mut records: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut readings = 0;
    for (i, file) in corpus.files.iter().enumerate() {
        let node = u16::try_from(i).context("more NAB files than node ids")?;
        let rows = sorted_rows(file);
        readings += rows.len();
        let mut node = NabNode { id: node, seq: 0 };
        let Some(&(first_ms, _)) = rows.first() else {
            continue;
        };
        records.push((NAB_T0_MS, node.hello()?));
        for batch in rows.chunks(16) {
            let mut r = Readings::new();
            for &(t, v) in batch {
                r.push(0, t - first_ms, v)
                    .map_err(|_| anyhow::anyhow!("a readings batch has no room for 16"))?;
            }
            let newest = batch.last().map_or(0, |&(t, _)| t - first_ms);
            records.push((NAB_T0_MS + newest, node.frame(Body::Readings(r))?));
        }
    }
    // In time order, so no record jumps back further than a capture allows.
    records.sort_by_key(|(t, _)| *t);
    for (t, bytes) in &records {
        writer.record(*t, bytes)?;
    }
    writer.flush()?;
    Ok(readings)
}

/// A file's rows in time order, a repeated time keeping its first row, values as the f32 a node
/// sends.
fn sorted_rows(file: &crate::nab::data::DataFile) -> Vec<(u64, f32)> {
    let mut rows: Vec<(u64, f32)> = file
        .timestamps
        .iter()
        .zip(&file.values)
        .map(|(t, &v)| (t.as_ms(), v as f32))
        .collect();
    rows.sort_by_key(|&(t, _)| t);
    rows.dedup_by_key(|&mut (t, _)| t);
    rows
}

/// One NAB file as a node: its frames, numbered.
struct NabNode {
    id: u16,
    seq: u16,
}

impl NabNode {
    fn frame(&mut self, body: Body) -> anyhow::Result<Vec<u8>> {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: 0x0AB0_0000 + u32::from(self.id),
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame
            .encode(&mut out)
            .map_err(|e| anyhow::anyhow!("encoding a NAB frame: {e:?}"))?;
        Ok(out[..n].to_vec())
    }

    /// The node's hello and its one metric, with an empty rule (nothing to alert on): the figures are the
    /// readings' cost, not the alerts'.
    fn hello(&mut self) -> anyhow::Result<Vec<u8>> {
        let mut bytes = self.frame(Body::Hello(Hello::new(
            "nab"
                .try_into()
                .map_err(|_| anyhow::anyhow!("firmware name"))?,
        )))?;
        let spec = MetricSpec::new(0, "nab", "", Rule::EMPTY, AnomalyConfig::DEFAULT)
            .map_err(|e| anyhow::anyhow!("the NAB metric's spec: {e:?}"))?;
        bytes.extend(self.frame(Body::Metric(spec))?);
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_csv_parses_into_sorted_series_with_exact_values() {
        let csv = "time,node,metric,value,unit,boot,node_ms\n\
                   2026-12-02T14:05:09.500Z,1,t,NaN,C,0000abcd,5\n\
                   2026-12-02T14:05:09Z,1,t,0.1,C,0000abcd,4\n\
                   2026-12-02T14:05:10Z,2,t,-inf,C,00000001,4\n";
        let samples = Samples::from_history_csv(csv).unwrap();
        assert_eq!(samples.len(), 3);
        let one = &samples.series[&(1, 0xabcd, "t".to_string())];
        assert_eq!(one[0], (1_796_220_309_000, 0.1f32));
        assert!(one[1].1.is_nan() && one[1].0 == 1_796_220_309_500);
        let two = &samples.series[&(2, 1, "t".to_string())];
        assert_eq!(two[0].1, f32::NEG_INFINITY);
        assert!(Samples::from_history_csv("h\n1,2\n").is_err());
    }

    #[test]
    fn the_lattice_a_hello_announces_is_the_codec_s_coding_of_that_metric() {
        let spec =
            MetricSpec::new(0, "inlet", "degC", Rule::EMPTY, AnomalyConfig::DEFAULT).unwrap();
        let mut with = spec.descriptor();
        with.lattice = Some(rackwatch_core::wire::Lattice {
            offset: 0.0,
            step: 0.01,
        });
        let mut hello = Hello::new("t".try_into().unwrap());
        hello.metrics.push(with).unwrap();
        let mut other = MetricSpec::new(1, "fan", "rpm", Rule::EMPTY, AnomalyConfig::DEFAULT)
            .unwrap()
            .descriptor();
        other.lattice = None;
        hello.metrics.push(other).unwrap();
        let mut node = NabNode { id: 4, seq: 0 };
        let bytes = node.frame(Body::Hello(hello)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.rwcap");
        let mut w = CaptureWriter::create(&path, "t").unwrap();
        w.record(1000, &bytes).unwrap();
        w.flush().unwrap();
        let found = lattices(&path).unwrap();
        assert_eq!(
            found,
            BTreeMap::from([((4, "inlet".to_string()), Values::lattice(0.0, 0.01))])
        );
    }
}
