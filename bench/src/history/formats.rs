//! Bytes per stored sample of one set of samples in each format: rackwatch's history database, a
//! Prometheus TSDB written by `promtool`, Gorilla (the `tsz` crate) and the core's chunk codec.
//!
//! Invariants:
//! - Every format gets the same samples ([`super::series::Samples`]); a format that cannot give
//!   them back bit for bit (Gorilla, the codec: decoded and compared here) is reported as lossy, not
//!   silently measured.
//! - A database or block directory is measured whole: every file in it, the SQLite WAL after a
//!   checkpoint included.

use super::series::Samples;
use anyhow::Context;
use rackwatch_core::codec::{Decoder, Encoder, Values};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One format's size for a set of samples.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Size {
    /// The format, as the report names it.
    pub format: String,
    /// Bytes on disk (or encoded).
    pub bytes: u64,
    /// Samples stored.
    pub samples: u64,
    /// Whether every sample came back with the same time and value bits (`None`: not checked).
    pub exact: Option<bool>,
}

impl Size {
    /// Bytes per stored sample.
    pub fn per_sample(&self) -> f64 {
        self.bytes as f64 / self.samples.max(1) as f64
    }
}

/// The history database `db` as it sits on disk after a full checkpoint: its file, WAL and
/// shared-memory file together.
pub fn sqlite_bytes(db: &Path) -> anyhow::Result<u64> {
    let conn =
        rusqlite::Connection::open(db).with_context(|| format!("opening {}", db.display()))?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .with_context(|| format!("checkpointing {}", db.display()))?;
    drop(conn);
    let mut total = 0;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut path = db.as_os_str().to_owned();
        path.push(suffix);
        if let Ok(meta) = std::fs::metadata(PathBuf::from(path)) {
            total += meta.len();
        }
    }
    Ok(total)
}

/// Bytes of every file under `dir`.
pub fn tree_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            tree_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Writes `samples` as OpenMetrics (one gauge family, a series per key, values as the exact f64
/// of each f32, times in seconds with milliseconds).
pub fn write_openmetrics(samples: &Samples, path: &Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "# TYPE reading gauge")?;
    for ((node, boot, metric), series) in &samples.series {
        for &(ms, value) in series {
            writeln!(
                out,
                "reading{{node=\"{node}\",boot=\"{boot:08x}\",metric=\"{metric}\"}} {} {}.{:03}",
                openmetrics_value(value),
                ms / 1000,
                ms % 1000
            )?;
        }
    }
    writeln!(out, "# EOF")?;
    out.flush()?;
    Ok(())
}

/// An f32 as OpenMetrics writes a float: its exact value (Rust's shortest form of the f64, which
/// parses back to the same bits), `NaN`, `+Inf` or `-Inf`.
fn openmetrics_value(value: f32) -> String {
    match value {
        v if v.is_nan() => "NaN".into(),
        f32::INFINITY => "+Inf".into(),
        f32::NEG_INFINITY => "-Inf".into(),
        v => format!("{}", f64::from(v)),
    }
}

/// Prometheus' TSDB for `samples`: `promtool tsdb create-blocks-from openmetrics` with 31-day
/// blocks (its hidden `--max-block-duration`), about what a long-running Prometheus compacts its
/// 2-hour blocks into. (Its default 2-hour backfill blocks are left out: promtool reads the whole
/// input once per block, hours for the NAB corpus' months.)
pub fn prometheus(samples: &Samples, promtool: &Path, work: &Path) -> anyhow::Result<Size> {
    let input = work.join("samples.om");
    write_openmetrics(samples, &input)?;
    let compacted = promtool_blocks(
        promtool,
        &input,
        &work.join("prometheus-31d"),
        &["--max-block-duration=744h"],
    )?;
    std::fs::remove_file(&input)?;
    Ok(Size {
        format: "Prometheus TSDB, 31-day blocks".into(),
        bytes: compacted,
        samples: samples.len() as u64,
        exact: None,
    })
}

/// The bytes of the blocks `promtool` writes for `input` into `blocks` (removed after).
fn promtool_blocks(
    promtool: &Path,
    input: &Path,
    blocks: &Path,
    flags: &[&str],
) -> anyhow::Result<u64> {
    std::fs::create_dir_all(blocks)?;
    let out = Command::new(promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
        .args(flags)
        .arg(input)
        .arg(blocks)
        .output()
        .with_context(|| format!("running {}", promtool.display()))?;
    if !out.status.success() {
        anyhow::bail!(
            "promtool tsdb create-blocks-from openmetrics {} failed: {}",
            flags.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let bytes = tree_bytes(blocks)?;
    std::fs::remove_dir_all(blocks)?;
    Ok(bytes)
}

/// Gorilla as the `tsz` crate implements it (f64 values, each f32 widened exactly): one stream per
/// series, no index or labels. Times in seconds where all of a series' times are whole seconds
/// (Gorilla's own unit), else in ms; each stream is decoded again and compared.
pub fn gorilla(samples: &Samples) -> Size {
    use tsz::stream::{BufferedReader, BufferedWriter};
    use tsz::{DataPoint, Decode, Encode, StdDecoder, StdEncoder};
    let (mut bytes, mut exact) = (0u64, true);
    for series in samples.series.values() {
        let unit = if series.iter().all(|&(t, _)| t % 1000 == 0) {
            1000
        } else {
            1
        };
        let Some(&(first, _)) = series.first() else {
            continue;
        };
        let mut encoder = StdEncoder::new(first / unit, BufferedWriter::new());
        for &(t, v) in series {
            encoder.encode(DataPoint::new(t / unit, f64::from(v)));
        }
        let stream = encoder.close();
        bytes += stream.len() as u64;
        let mut decoder = StdDecoder::new(BufferedReader::new(stream));
        for &(t, v) in series {
            let same = decoder.next().is_ok_and(|p| {
                p.get_time() == t / unit && p.get_value().to_bits() == f64::from(v).to_bits()
            });
            exact &= same;
        }
    }
    Size {
        format: "Gorilla (`tsz` crate, f64)".into(),
        bytes,
        samples: samples.len() as u64,
        exact: Some(exact),
    }
}

/// The core's chunk codec alone: each series in chunks of at most `chunk_bytes`, coded with the
/// lattice its node announced (`lattices`), else XOR; every chunk decoded again and compared.
pub fn codec(
    samples: &Samples,
    lattices: &BTreeMap<(u16, String), Values>,
    chunk_bytes: usize,
) -> Size {
    let (mut bytes, mut exact) = (0u64, true);
    let mut buffer = vec![0u8; chunk_bytes];
    let mut lattice_series = 0;
    for ((node, _, metric), series) in &samples.series {
        let values = lattices
            .get(&(*node, metric.clone()))
            .copied()
            .unwrap_or(Values::Xor);
        lattice_series += usize::from(values != Values::Xor);
        let mut rest: &[(u64, f32)] = series;
        while !rest.is_empty() {
            let (used, chunk) = fill_chunk(&mut buffer, values, rest);
            bytes += chunk.len() as u64;
            exact &= decodes_to(&chunk, &rest[..used]);
            rest = &rest[used..];
        }
    }
    Size {
        format: format!(
            "rackwatch chunk codec alone ({chunk_bytes}-byte chunks; lattice on {lattice_series} of {} series)",
            samples.series.len()
        ),
        bytes,
        samples: samples.len() as u64,
        exact: Some(exact),
    }
}

/// Codes as many of `samples` as fit one chunk: how many, and the chunk's bytes.
fn fill_chunk(buffer: &mut [u8], values: Values, samples: &[(u64, f32)]) -> (usize, Vec<u8>) {
    let Ok(mut encoder) = Encoder::new(buffer, values) else {
        return (samples.len(), Vec::new());
    };
    let mut used = 0;
    for &(t, v) in samples {
        if encoder.push(t, v).is_err() {
            break;
        }
        used += 1;
    }
    // An empty chunk cannot take a sample: too small a buffer; count them all as lost.
    if used == 0 {
        return (samples.len(), Vec::new());
    }
    (used, encoder.bytes().to_vec())
}

fn decodes_to(chunk: &[u8], samples: &[(u64, f32)]) -> bool {
    let Ok(decoder) = Decoder::new(chunk) else {
        return false;
    };
    let decoded: Vec<(u64, u32)> = decoder
        .map_while(Result::ok)
        .map(|(t, v)| (t, v.to_bits()))
        .collect();
    let sent: Vec<(u64, u32)> = samples.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    decoded == sent
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Samples {
        let mut s = Samples::default();
        // A sensor's readings: counts of 0.01 on a walk, converted as a driver converts them.
        let mut k = 2000i64;
        let series: Vec<(u64, f32)> = (0..5000u64)
            .map(|i| {
                k += [-1, 0, 1, 0, 2, -2, 0][(i * 7919 % 7) as usize];
                let value = (k as f64 * f64::from(0.01f32)) as f32;
                (1_800_000_000_000 + i * 1000, value)
            })
            .collect();
        s.series.insert((1, 2, "t".into()), series);
        s.series.insert(
            (1, 2, "odd".into()),
            vec![
                (5, f32::NAN),
                (6, -0.0),
                (8, f32::INFINITY),
                (9, f32::MIN_POSITIVE / 2.0),
            ],
        );
        s
    }

    #[test]
    fn gorilla_and_the_codec_give_every_sample_back_and_compress_a_regular_series() {
        let s = samples();
        let g = gorilla(&s);
        assert_eq!((g.samples, g.exact), (5004, Some(true)));
        assert!(g.per_sample() < 4.0, "{}", g.per_sample());
        let lattice = BTreeMap::from([((1, "t".to_string()), Values::lattice(0.0, 0.01))]);
        let c = codec(&s, &lattice, 960);
        assert_eq!((c.samples, c.exact), (5004, Some(true)));
        let xor = codec(&s, &BTreeMap::new(), 960);
        assert_eq!(xor.exact, Some(true));
        assert!(c.bytes < xor.bytes, "{} vs {}", c.bytes, xor.bytes);
        assert!(
            c.format.contains("lattice on 1 of 2 series"),
            "{}",
            c.format
        );
    }

    #[test]
    fn openmetrics_values_are_exact_and_non_finite_ones_spelled_as_openmetrics_does() {
        assert_eq!(openmetrics_value(0.1), "0.10000000149011612");
        assert_eq!(openmetrics_value(f32::NEG_INFINITY), "-Inf");
        assert_eq!(openmetrics_value(f32::INFINITY), "+Inf");
        assert_eq!(openmetrics_value(f32::NAN), "NaN");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.om");
        write_openmetrics(&samples(), &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# TYPE reading gauge\n"));
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("reading{node=\"1\",boot=\"00000002\",metric=\"odd\"} NaN 0.005\n"));
        let first = samples().series[&(1, 2, "t".to_string())][0].1;
        let line = format!(
            "reading{{node=\"1\",boot=\"00000002\",metric=\"t\"}} {} 1800000000.000\n",
            f64::from(first)
        );
        assert!(text.contains(&line), "{line}");
    }
}
