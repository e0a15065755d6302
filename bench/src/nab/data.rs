//! The NAB corpus on disk: `data/<category>/<file>.csv` (`timestamp,value`) and
//! `labels/combined_windows.json` (`{"<category>/<file>.csv": [["start", "end"], ...]}`).
//!
//! Everything read here is untrusted: a malformed row, timestamp or label is a [`DataError`] that
//! names the file and the line (or the label key), never a panic.

use rackwatch::timefmt::{civil_from_days, days_from_civil};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A problem with the corpus on disk.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of a data CSV is malformed.
    #[error("{}:{line}: {message}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The labels file is malformed.
    #[error("{}: {message}", path.display())]
    Labels {
        /// The labels file.
        path: PathBuf,
        /// What is wrong, with the JSON line and column or the key.
        message: String,
    },
    /// A window boundary names a time that is not a row of its data file.
    #[error("{file}: window {window} {edge} `{time}` is not the timestamp of any row")]
    WindowNotInData {
        /// The data file (`category/name.csv`).
        file: String,
        /// 0-based index of the window in the labels file.
        window: usize,
        /// `start` or `end`.
        edge: &'static str,
        /// The boundary as written.
        time: String,
    },
    /// A `--files` name matches no file of the corpus.
    #[error("no NAB file matches `{0}` (give `category/name.csv`, `name.csv` or `name`)")]
    UnknownFile(String),
}

/// A timestamp: microseconds since 1970-01-01 00:00:00 (NAB times carry no zone; read as UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the epoch, clamped at 0 (NAB's data starts in 2011).
    pub fn as_ms(self) -> u64 {
        u64::try_from(self.0.div_euclid(1000)).unwrap_or(0)
    }

    /// Parses `YYYY-MM-DD HH:MM:SS` with an optional fraction of up to 9 digits (`.000000` in the
    /// labels); a `T` may separate date and time.
    pub fn parse(text: &str) -> Result<Timestamp, String> {
        let bad = || format!("`{text}` is not a timestamp like 2014-07-01 00:00:00");
        let b = text.trim().as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return Err(bad());
        }
        if b[10] != b' ' && b[10] != b'T' {
            return Err(bad());
        }
        let num = |from: usize, to: usize| -> Result<i64, String> {
            let digits = &b[from..to];
            if digits.iter().all(u8::is_ascii_digit) {
                Ok(digits
                    .iter()
                    .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
            } else {
                Err(bad())
            }
        };
        let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
        let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
        if !(1..=12).contains(&month)
            || !(1..=days_in_month(year, month)).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return Err(bad());
        }
        let mut micros = 0i64;
        if b.len() > 19 {
            let fraction = &b[20..];
            if b[19] != b'.' || fraction.is_empty() || fraction.len() > 9 {
                return Err(bad());
            }
            let value = num(20, b.len())?;
            let scale = 10i64.pow(9 - fraction.len() as u32);
            micros = value * scale / 1000;
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
        Ok(Timestamp(seconds * 1_000_000 + micros))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.div_euclid(1_000_000);
        let (days, rem) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// One data file: its rows in file order, and its labelled anomaly windows.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// The corpus-relative name, `category/name.csv`, as keyed in the labels.
    pub name: String,
    /// The row timestamps, in file order (not necessarily increasing: NAB has repeats and one step
    /// back).
    pub timestamps: Vec<Timestamp>,
    /// The row values.
    pub values: Vec<f64>,
    /// The labelled windows `(start, end)`, inclusive, in the labels file's order.
    pub windows: Vec<(Timestamp, Timestamp)>,
}

impl DataFile {
    /// The category: the part of the name before the `/`.
    pub fn category(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the file has no rows.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Parses a data CSV: a header naming `timestamp` and `value` columns, then one row per line. Blank
/// lines are skipped; `\r\n` endings are accepted. `path` only names the file in errors.
pub fn parse_csv(path: &Path, text: &str) -> Result<(Vec<Timestamp>, Vec<f64>), DataError> {
    let error = |line: usize, message: String| DataError::Csv {
        path: path.to_path_buf(),
        line,
        message,
    };
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (header_line, header) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| error(1, "empty file: expected a `timestamp,value` header".into()))?;
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |name: &str| {
        columns.iter().position(|c| *c == name).ok_or_else(|| {
            error(
                header_line,
                format!("header `{header}` has no `{name}` column"),
            )
        })
    };
    let (t_col, v_col) = (find("timestamp")?, find("value")?);
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    for (line, row) in lines {
        if row.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = row.split(',').collect();
        if cells.len() != columns.len() {
            return Err(error(
                line,
                format!(
                    "{} fields, the header has {}: `{row}`",
                    cells.len(),
                    columns.len()
                ),
            ));
        }
        let t = Timestamp::parse(cells[t_col]).map_err(|m| error(line, m))?;
        let cell = cells[v_col].trim();
        let v: f64 = cell
            .parse()
            .map_err(|_| error(line, format!("value `{cell}` is not a number")))?;
        if !v.is_finite() {
            return Err(error(line, format!("value `{cell}` is not finite")));
        }
        timestamps.push(t);
        values.push(v);
    }
    Ok((timestamps, values))
}

/// Parses `combined_windows.json`: file name → list of `[start, end]`. `path` only names the file
/// in errors.
pub fn parse_windows(
    path: &Path,
    text: &str,
) -> Result<BTreeMap<String, Vec<(Timestamp, Timestamp)>>, DataError> {
    let error = |message: String| DataError::Labels {
        path: path.to_path_buf(),
        message,
    };
    let raw: BTreeMap<String, Vec<Vec<String>>> = serde_json::from_str(text).map_err(|e| {
        error(format!(
            "line {} column {}: {e} (expected {{\"category/file.csv\": [[\"start\", \"end\"], ...]}})",
            e.line(),
            e.column()
        ))
    })?;
    let mut windows = BTreeMap::new();
    for (name, list) in raw {
        let mut parsed = Vec::with_capacity(list.len());
        for (i, pair) in list.iter().enumerate() {
            let [start, end] = pair.as_slice() else {
                return Err(error(format!(
                    "`{name}` window {i}: expected [start, end], found {} strings",
                    pair.len()
                )));
            };
            let parse = |s: &str| {
                Timestamp::parse(s).map_err(|m| error(format!("`{name}` window {i}: {m}")))
            };
            let (start, end) = (parse(start)?, parse(end)?);
            if end < start {
                return Err(error(format!("`{name}` window {i}: ends before it starts")));
            }
            parsed.push((start, end));
        }
        windows.insert(name, parsed);
    }
    Ok(windows)
}

/// The corpus: every file named in the labels (or the selected ones), read and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    /// Where it was read from.
    pub root: PathBuf,
    /// The files, sorted by name.
    pub files: Vec<DataFile>,
}

impl Corpus {
    /// Reads `root/labels/combined_windows.json` and the data files it names under `root/data/`.
    ///
    /// `only` selects files (empty = all): each entry is a full name (`realTraffic/speed_7578.csv`),
    /// a file name (`speed_7578.csv`) or a stem (`speed_7578`); one that matches nothing is an error.
    /// Every window boundary must be the timestamp of a row of its file.
    pub fn load(root: &Path, only: &[String]) -> Result<Corpus, DataError> {
        let labels_path = root.join("labels").join("combined_windows.json");
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| DataError::Io {
                path: path.to_path_buf(),
                source,
            })
        };
        let labels = parse_windows(&labels_path, &read(&labels_path)?)?;
        let mut selected: Vec<&String> = Vec::new();
        if only.is_empty() {
            selected.extend(labels.keys());
        } else {
            for wanted in only {
                let matches: Vec<&String> = labels
                    .keys()
                    .filter(|name| file_matches(name, wanted))
                    .collect();
                if matches.is_empty() {
                    return Err(DataError::UnknownFile(wanted.clone()));
                }
                selected.extend(matches);
            }
            selected.sort();
            selected.dedup();
        }
        let mut files = Vec::with_capacity(selected.len());
        for name in selected {
            let path = root.join("data").join(name);
            let (timestamps, values) = parse_csv(&path, &read(&path)?)?;
            let windows = labels[name].clone();
            for (i, &(start, end)) in windows.iter().enumerate() {
                for (edge, time) in [("start", start), ("end", end)] {
                    if !timestamps.contains(&time) {
                        return Err(DataError::WindowNotInData {
                            file: name.clone(),
                            window: i,
                            edge,
                            time: time.to_string(),
                        });
                    }
                }
            }
            files.push(DataFile {
                name: name.clone(),
                timestamps,
                values,
                windows,
            });
        }
        Ok(Corpus {
            root: root.to_path_buf(),
            files,
        })
    }

    /// Total rows.
    pub fn rows(&self) -> usize {
        self.files.iter().map(DataFile::len).sum()
    }

    /// Total labelled windows.
    pub fn windows(&self) -> usize {
        self.files.iter().map(|f| f.windows.len()).sum()
    }
}

fn file_matches(name: &str, wanted: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    name == wanted || file == wanted || file.strip_suffix(".csv") == Some(wanted)
}

/// Where the corpus is: `--data` if given, else `$RACKWATCH_NAB_DATA`, else the shared copy beside
/// the workspace (`<workspace>/../shared/data/nab`). The second value says whether the location was
/// asked for explicitly (a missing explicit location is an error, a missing default one a skip).
pub fn data_dir(flag: Option<&Path>) -> (PathBuf, bool) {
    if let Some(path) = flag {
        return (path.to_path_buf(), true);
    }
    if let Some(path) = std::env::var_os("RACKWATCH_NAB_DATA").filter(|p| !p.is_empty()) {
        return (PathBuf::from(path), true);
    }
    (default_data_dir(), false)
}

/// `<workspace>/../shared/data/nab`, from where this crate was built.
pub fn default_data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("shared")
        .join("data")
        .join("nab")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_to_microseconds_and_print_back() {
        let t = Timestamp::parse("2014-07-01 00:30:00").unwrap();
        assert_eq!(t.0, 1_404_174_600_000_000);
        assert_eq!(t.to_string(), "2014-07-01 00:30:00");
        assert_eq!(Timestamp::parse("2014-07-01 00:30:00.000000"), Ok(t));
        assert_eq!(
            Timestamp::parse("2014-07-01T00:30:00.5").unwrap().0,
            t.0 + 500_000
        );
        assert_eq!(t.as_ms(), 1_404_174_600_000);
        assert_eq!(
            Timestamp::parse("2016-02-29 23:59:59").unwrap().to_string(),
            "2016-02-29 23:59:59"
        );
        for bad in [
            "",
            "2014-07-01",
            "2014-13-01 00:00:00",
            "2015-02-29 00:00:00",
            "2014-07-01 24:00:00",
            "2014-07-01 00:00:00Z",
            "2014-07-01 00:00:00.",
            "2014/07/01 00:00:00",
            "2014-07-01 0a:00:00",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn csv_rows_are_read_and_errors_name_the_line() {
        let p = Path::new("x.csv");
        let (t, v) = parse_csv(
            p,
            "timestamp,value\r\n2014-07-01 00:00:00,1.5\r\n\n2014-07-01 00:05:00,-2e3\n",
        )
        .unwrap();
        assert_eq!(v, [1.5, -2e3]);
        assert_eq!(t[1].0 - t[0].0, 300_000_000);
        // Columns are found by name.
        let (_, v) = parse_csv(p, "value,timestamp\n7,2014-07-01 00:00:00\n").unwrap();
        assert_eq!(v, [7.0]);
        let cases = [
            ("", 1, "empty file"),
            ("time,value\n", 1, "no `timestamp` column"),
            (
                "timestamp,value\n2014-07-01 00:00:00,abc\n",
                2,
                "not a number",
            ),
            (
                "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:00:00\n",
                3,
                "1 fields",
            ),
            (
                "timestamp,value\n2014-07-01 00:00:00,NaN\n",
                2,
                "not finite",
            ),
            ("timestamp,value\nyesterday,1\n", 2, "not a timestamp"),
        ];
        for (text, line, needle) in cases {
            let e = parse_csv(p, text).unwrap_err();
            let message = e.to_string();
            assert!(message.starts_with(&format!("x.csv:{line}: ")), "{message}");
            assert!(message.contains(needle), "{message}");
        }
    }

    #[test]
    fn windows_are_read_and_errors_name_the_key() {
        let p = Path::new("w.json");
        let w = parse_windows(
            p,
            r#"{"a/x.csv": [["2014-07-01 00:00:00.000000", "2014-07-01 01:00:00.000000"]], "b/y.csv": []}"#,
        )
        .unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w["a/x.csv"][0].1 .0 - w["a/x.csv"][0].0 .0, 3_600_000_000);
        let cases = [
            ("{", "line 1 column 1"),
            (
                r#"{"a/x.csv": [["2014-07-01 00:00:00"]]}"#,
                "`a/x.csv` window 0: expected [start, end]",
            ),
            (
                r#"{"a/x.csv": [["2014-07-01 00:00:00", "soon"]]}"#,
                "`soon` is not a timestamp",
            ),
            (
                r#"{"a/x.csv": [["2014-07-01 01:00:00", "2014-07-01 00:00:00"]]}"#,
                "ends before it starts",
            ),
            (r#"{"a/x.csv": 3}"#, "line 1"),
        ];
        for (text, needle) in cases {
            let message = parse_windows(p, text).unwrap_err().to_string();
            assert!(message.starts_with("w.json: "), "{message}");
            assert!(message.contains(needle), "{message}");
        }
    }

    #[test]
    fn a_corpus_on_disk_is_loaded_selected_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("data/cat")).unwrap();
        std::fs::create_dir_all(root.join("labels")).unwrap();
        let rows = "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-01 00:05:00,2\n2014-07-01 00:10:00,3\n";
        std::fs::write(root.join("data/cat/one.csv"), rows).unwrap();
        std::fs::write(root.join("data/cat/two.csv"), rows).unwrap();
        let labels = r#"{"cat/one.csv": [["2014-07-01 00:05:00.000000", "2014-07-01 00:10:00.000000"]], "cat/two.csv": []}"#;
        std::fs::write(root.join("labels/combined_windows.json"), labels).unwrap();

        let corpus = Corpus::load(root, &[]).unwrap();
        assert_eq!(
            (corpus.files.len(), corpus.rows(), corpus.windows()),
            (2, 6, 1)
        );
        assert_eq!(corpus.files[0].category(), "cat");
        for name in ["cat/two.csv", "two.csv", "two"] {
            let corpus = Corpus::load(root, &[name.to_string()]).unwrap();
            assert_eq!(corpus.files.len(), 1);
            assert_eq!(corpus.files[0].name, "cat/two.csv");
        }
        assert!(matches!(
            Corpus::load(root, &["three".into()]),
            Err(DataError::UnknownFile(_))
        ));

        let labels =
            r#"{"cat/one.csv": [["2014-07-01 00:05:00.000000", "2014-07-01 00:11:00.000000"]]}"#;
        std::fs::write(root.join("labels/combined_windows.json"), labels).unwrap();
        let message = Corpus::load(root, &[]).unwrap_err().to_string();
        assert!(
            message.contains("cat/one.csv: window 0 end `2014-07-01 00:11:00`"),
            "{message}"
        );

        let labels = r#"{"cat/missing.csv": []}"#;
        std::fs::write(root.join("labels/combined_windows.json"), labels).unwrap();
        let message = Corpus::load(root, &[]).unwrap_err().to_string();
        assert!(message.contains("missing.csv"), "{message}");
        assert!(Corpus::load(&root.join("nowhere"), &[]).is_err());
    }
}
