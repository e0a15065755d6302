//! Labelled KPI corpora: a directory tree of CSV files, each `time,value,label` (header first), as
//! WSD (`timestamp,value,label`, unix seconds) and Microsoft's cloud-monitoring dataset
//! (`"TimeStamp","Value","Label"`, ISO 8601) ship them.
//!
//! Columns are found by name (`time`/`timestamp`, `value`, `label`, any case, quotes stripped),
//! else by position (first, second, third). A time is unix seconds, unix milliseconds (a number
//! ≥ 10¹¹) or `YYYY-MM-DD[ T]HH:MM:SS[.fff][Z]`. A label is 0 or 1. An empty value is a missing
//! reading (kept as NaN, so the row keeps its label).
//!
//! Invariants: files are read in path order (so a run is reproducible); a malformed row is an error
//! naming file and line, never skipped; a `*-metadata.json` or other non-CSV file is ignored.

use crate::nab::data::Timestamp;
use std::path::{Path, PathBuf};

/// One labelled series.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its path relative to the corpus directory.
    pub name: String,
    /// Milliseconds since the epoch, in file order.
    pub times_ms: Vec<u64>,
    /// Its values; NaN for a row whose value is missing (empty).
    pub values: Vec<f64>,
    /// Whether each row is labelled anomalous.
    pub labels: Vec<bool>,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file or directory could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// What was read.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A CSV row or header is malformed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The directory holds no CSV file.
    #[error("{0} holds no labelled CSV file (time,value,label)")]
    Empty(PathBuf),
}

/// Reads every `*.csv` under `dir` (recursively), in path order.
pub fn load(dir: &Path) -> Result<Vec<Series>, CorpusError> {
    let mut paths = Vec::new();
    collect_csv(dir, &mut paths)?;
    paths.sort_by_key(|p| natural_key(p));
    if paths.is_empty() {
        return Err(CorpusError::Empty(dir.to_path_buf()));
    }
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| CorpusError::Io {
                path: path.clone(),
                source,
            })?;
            let name = path
                .strip_prefix(dir)
                .unwrap_or(path)
                .to_string_lossy()
                .into_owned();
            parse(path, name, &text)
        })
        .collect()
}

/// Orders `9.csv` before `10.csv`: digits compare as numbers.
fn natural_key(path: &Path) -> Vec<(String, u64)> {
    path.components()
        .map(|c| {
            let text = c.as_os_str().to_string_lossy();
            let digits: String = text.chars().filter(char::is_ascii_digit).collect();
            let letters: String = text.chars().filter(|c| !c.is_ascii_digit()).collect();
            (letters, digits.parse().unwrap_or(0))
        })
        .collect()
}

fn collect_csv(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), CorpusError> {
    let io = |source| CorpusError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_csv(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "csv") {
            out.push(path);
        }
    }
    Ok(())
}

fn unquote(cell: &str) -> &str {
    cell.trim().trim_matches('"').trim()
}

/// Parses one labelled CSV; `path` only names it in errors.
pub fn parse(path: &Path, name: String, text: &str) -> Result<Series, CorpusError> {
    let error = |line: usize, message: String| CorpusError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines
        .next()
        .ok_or_else(|| error(1, "empty file: expected a `time,value,label` header".into()))?;
    let columns: Vec<String> = header
        .split(',')
        .map(|c| unquote(c).to_ascii_lowercase())
        .collect();
    let named = |names: &[&str], fallback: usize| {
        columns
            .iter()
            .position(|c| names.contains(&c.as_str()))
            .unwrap_or(fallback)
    };
    let (t_col, v_col, l_col) = (
        named(&["timestamp", "time"], 0),
        named(&["value"], 1),
        named(&["label", "is_anomaly"], 2),
    );
    if columns.len() <= t_col.max(v_col).max(l_col) {
        return Err(error(
            header_line,
            format!("header `{header}` needs three columns: time, value, label"),
        ));
    }
    let mut series = Series {
        name,
        times_ms: Vec::new(),
        values: Vec::new(),
        labels: Vec::new(),
    };
    for (line, row) in lines {
        let cells: Vec<&str> = row.split(',').map(unquote).collect();
        if cells.len() != columns.len() {
            return Err(error(
                line,
                format!("{} fields, the header has {}", cells.len(), columns.len()),
            ));
        }
        let t = parse_time(cells[t_col]).map_err(|m| error(line, m))?;
        // An empty value is a reading that never arrived (Microsoft's crash rates have some).
        let v: f64 = if cells[v_col].is_empty() {
            f64::NAN
        } else {
            cells[v_col]
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    error(
                        line,
                        format!("value `{}` is not a finite number", cells[v_col]),
                    )
                })?
        };
        let label = match cells[l_col] {
            // WSD leaves both value and label empty on a missing reading: nothing anomalous was seen.
            "" | "0" | "0.0" => false,
            "1" | "1.0" => true,
            other => return Err(error(line, format!("label `{other}` is neither 0 nor 1"))),
        };
        series.times_ms.push(t);
        series.values.push(v);
        series.labels.push(label);
    }
    Ok(series)
}

/// Unix seconds, unix milliseconds (≥ 10¹¹) or an ISO 8601 time (UTC, a trailing `Z` allowed).
fn parse_time(cell: &str) -> Result<u64, String> {
    if let Ok(n) = cell.parse::<f64>() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(format!("time `{cell}` is not a unix time"));
        }
        return Ok(if n >= 1e11 {
            n as u64
        } else {
            (n * 1000.0) as u64
        });
    }
    let text = cell.trim_end_matches('Z');
    Timestamp::parse(text).map(Timestamp::as_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wsd_and_microsoft_layouts() {
        let wsd = parse(
            Path::new("w.csv"),
            "w".into(),
            "timestamp,value,label\n1493568000,27.5,0\n1493568060,29.0,1\n",
        )
        .expect("valid");
        assert_eq!(wsd.times_ms, vec![1_493_568_000_000, 1_493_568_060_000]);
        assert_eq!(wsd.labels, vec![false, true]);
        let ms = parse(
            Path::new("m.csv"),
            "m".into(),
            "\"TimeStamp\",\"Value\",\"Label\"\r\n\"2018-04-25T00:01:00Z\",\"3\",\"1\"\r\n",
        )
        .expect("valid");
        assert_eq!(ms.times_ms, vec![1_524_614_460_000]);
        assert_eq!(ms.values, vec![3.0]);
        assert_eq!(ms.labels, vec![true]);
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let error = parse(
            Path::new("x.csv"),
            "x".into(),
            "timestamp,value,label\n1,2,0\n2,oops,0\n",
        )
        .expect_err("a bad value");
        assert_eq!(
            error.to_string(),
            "x.csv:3: value `oops` is not a finite number"
        );
        let gap = parse(
            Path::new("x.csv"),
            "x".into(),
            "timestamp,value,label\n1,,1\n",
        )
        .expect("a missing value is allowed");
        assert!(gap.values[0].is_nan() && gap.labels[0]);
        let error = parse(
            Path::new("x.csv"),
            "x".into(),
            "timestamp,value,label\n1,2,7\n",
        )
        .expect_err("a bad label");
        assert_eq!(error.to_string(), "x.csv:2: label `7` is neither 0 nor 1");
    }
}
