//! The series `rackwatch analyze` reads: `timestamp,value` rows from CSV (header optional) or JSON
//! lines, one at a time.
//!
//! Invariants: a row that cannot be read is an error naming its line, and the reader goes on with
//! the next one; blank lines and `#` comments are not rows; the first row decides between CSV and
//! JSON for the whole input. A CSV's first row is its header when it is not data (its time or its
//! value does not read): columns named like a time and a value are taken, else the first column is
//! the time and the second the value, whatever their names (`timestamp_ms,value_pct`), unless
//! [`Columns`] names them.

use crate::timefmt::parse_rfc3339;
use std::io::BufRead;

/// Field and column names a time may go by.
const TIME_NAMES: [&str; 4] = ["timestamp", "time", "t", "ts"];
/// Field and column names a value may go by.
const VALUE_NAMES: [&str; 2] = ["value", "v"];

/// Which CSV columns hold the time and the value, as the user named them (`--time-col`,
/// `--value-col`): a header name or a 1-based position. `None`: found from the header, else the
/// first and the second.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// The time column.
    pub time: Option<String>,
    /// The value column.
    pub value: Option<String>,
}

impl Columns {
    /// The 0-based position `wanted` names among the header `cells` (a name, case-insensitive,
    /// or a 1-based number); `fallback` when not named.
    fn position(
        wanted: Option<&str>,
        cells: Option<&[String]>,
        fallback: Option<usize>,
        what: &str,
    ) -> Result<usize, String> {
        let Some(wanted) = wanted else {
            return fallback.ok_or_else(|| format!("no {what} column"));
        };
        if let Ok(n) = wanted.parse::<usize>() {
            return n
                .checked_sub(1)
                .ok_or_else(|| format!("{what} column 0: columns count from 1"));
        }
        let wanted_lower = wanted.to_ascii_lowercase();
        cells
            .and_then(|cells| cells.iter().position(|c| *c == wanted_lower))
            .ok_or_else(|| match cells {
                Some(cells) => format!(
                    "no {what} column named `{wanted}`: the header has {}",
                    cells.join(", ")
                ),
                None => format!(
                    "no {what} column named `{wanted}`: the input has no header (name the column by its number)"
                ),
            })
    }
}

/// Reads `timestamp,value` rows from CSV or JSON lines.
pub struct SeriesReader<R> {
    input: R,
    line: usize,
    wanted: Columns,
    columns: Option<(usize, usize)>,
    /// The columns asked for are not in the input: no row can be read, so reading ends.
    no_columns: bool,
    json: Option<bool>,
    buf: Vec<u8>,
    /// Bytes read so far.
    pub bytes: u64,
}

/// The latest time a series may carry: 9999-12-31T23:59:59.999Z. Beyond it a timestamp is
/// corrupt, and taking it would skew every forecast after it.
const LATEST_MS: u64 = 253_402_300_799_999;

/// A timestamp in any accepted form, as ms since the epoch, up to the year 9999.
fn parse_timestamp(text: &str) -> Result<u64, String> {
    let t = text.trim().trim_matches('"');
    let ms = if let Ok(n) = t.parse::<f64>() {
        if !(n.is_finite() && n >= 0.0) {
            return Err(format!("`{t}` is not a time"));
        }
        // Epoch milliseconds from 1973 on are > 1e11; seconds stay below until the year 5138.
        if n >= 1e11 {
            n as u64
        } else {
            (n * 1000.0) as u64
        }
    } else {
        parse_rfc3339(t)?
    };
    if ms > LATEST_MS {
        return Err(format!(
            "`{t}` is after the year 9999: not a time this series can have"
        ));
    }
    Ok(ms)
}

/// Whether a CSV row is data: its first two cells read as a time and a number.
fn is_data(cells: &[&str]) -> bool {
    let number = |c: &str| c.trim_matches('"').parse::<f32>().is_ok();
    cells.first().is_some_and(|t| parse_timestamp(t).is_ok())
        && cells.get(1).is_some_and(|v| number(v))
}

/// The time and value columns for `wanted`, given the first row's `cells`; whether that row is a
/// header (then it is no data).
fn choose_columns(cells: &[&str], wanted: &Columns) -> Result<((usize, usize), bool), String> {
    let lower: Vec<String> = cells
        .iter()
        .map(|c| c.trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| lower.iter().position(|c| names.contains(&c.as_str()));
    let named = (find(&TIME_NAMES), find(&VALUE_NAMES));
    // A header: it names a time and a value column, or its first two cells are not data.
    let header = matches!(named, (Some(_), Some(_))) || !is_data(cells);
    let (cells, fallback) = if header {
        (
            Some(lower.as_slice()),
            (named.0.or(Some(0)), named.1.or(Some(1))),
        )
    } else {
        (None, (Some(0), Some(1)))
    };
    let time = Columns::position(wanted.time.as_deref(), cells, fallback.0, "time")?;
    let value = Columns::position(wanted.value.as_deref(), cells, fallback.1, "value")?;
    Ok(((time, value), header))
}

/// One JSON-lines row: an object with a time and a value field, either as a number or a string.
fn json_row(text: &str) -> Result<(u64, f32), String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let field = |names: &[&str]| names.iter().find_map(|n| v.get(*n)).cloned();
    let t = field(&TIME_NAMES).ok_or("no `timestamp` field")?;
    let value = field(&VALUE_NAMES).ok_or("no `value` field")?;
    let t = match &t {
        serde_json::Value::String(s) => parse_timestamp(s)?,
        other => parse_timestamp(&other.to_string())?,
    };
    let value = match &value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN) as f32,
        serde_json::Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("value `{s}` is not a number"))?,
        other => return Err(format!("value `{other}` is not a number")),
    };
    Ok((t, value))
}

impl<R: BufRead> SeriesReader<R> {
    /// A reader over `input`, its CSV columns found from the header.
    pub fn new(input: R) -> SeriesReader<R> {
        SeriesReader::with_columns(input, Columns::default())
    }

    /// A reader over `input` taking the CSV columns `wanted`.
    pub fn with_columns(input: R, wanted: Columns) -> SeriesReader<R> {
        SeriesReader {
            input,
            line: 0,
            wanted,
            columns: None,
            no_columns: false,
            json: None,
            buf: Vec::new(),
            bytes: 0,
        }
    }

    fn row(&mut self, text: &str) -> Result<Option<(u64, f32)>, String> {
        if *self.json.get_or_insert(text.starts_with('{')) {
            return json_row(text).map(Some);
        }
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        let (tc, vc) = match self.columns {
            Some(columns) => columns,
            None => {
                let (columns, header) = choose_columns(&cells, &self.wanted).inspect_err(|_| {
                    self.no_columns = true;
                })?;
                self.columns = Some(columns);
                if header {
                    return Ok(None);
                }
                columns
            }
        };
        let t = cells.get(tc).ok_or("no timestamp column")?;
        let v = cells.get(vc).ok_or("no value column")?;
        let value = v
            .trim_matches('"')
            .parse::<f32>()
            .map_err(|_| format!("value `{v}` is not a number"))?;
        Ok(Some((parse_timestamp(t)?, value)))
    }

    /// The next row: `Some(Ok((line, t_ms, value)))`, `Some(Err(message))` naming the line, `None`
    /// at the end.
    pub fn next_row(&mut self) -> Option<Result<(usize, u64, f32), String>> {
        loop {
            if self.no_columns {
                return None;
            }
            self.buf.clear();
            // Bytes, not `read_line`: a line that is not UTF-8 must still count as a line (and its
            // bytes as read), or every later error would name the line before its own.
            match self.input.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) => self.bytes += n as u64,
                Err(e) => return Some(Err(format!("line {}: {e}", self.line + 1))),
            }
            self.line += 1;
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                return Some(Err(format!("line {}: not UTF-8 text", self.line)));
            };
            let text = text.trim().to_string();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            match self.row(&text) {
                Ok(Some((t, v))) => return Some(Ok((self.line, t, v))),
                Ok(None) => continue,
                Err(e) => return Some(Err(format!("line {}: {e}", self.line))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, wanted: Columns) -> Vec<Result<(usize, u64, f32), String>> {
        let mut r = SeriesReader::with_columns(text.as_bytes(), wanted);
        std::iter::from_fn(|| r.next_row()).collect()
    }

    #[test]
    fn any_two_column_header_is_a_header_and_columns_can_be_named() {
        // Names rackwatch does not know: the first column is the time, the second the value.
        for header in [
            "timestamp_ms,value",
            "time,value_pct",
            "when,disk_used_percent",
        ] {
            let text = format!("{header}\n1796219603566,-1.5\n1796219604566,2\n");
            assert_eq!(
                rows(&text, Columns::default()),
                [
                    Ok((2, 1_796_219_603_566, -1.5)),
                    Ok((3, 1_796_219_604_566, 2.0))
                ],
                "{header}"
            );
        }
        // Without a header the first row is data.
        assert_eq!(
            rows("1796219603566,4\n", Columns::default()),
            [Ok((1, 1_796_219_603_566, 4.0))]
        );
        // Columns by name (case-insensitive) or by 1-based number.
        let text = "host,ts,iops,latency_ms\na,1796219603566,10,2.5\n";
        let by_name = Columns {
            time: Some("TS".into()),
            value: Some("latency_ms".into()),
        };
        assert_eq!(rows(text, by_name), [Ok((2, 1_796_219_603_566, 2.5))]);
        let by_number = Columns {
            time: Some("2".into()),
            value: Some("3".into()),
        };
        assert_eq!(rows(text, by_number), [Ok((2, 1_796_219_603_566, 10.0))]);
        let missing = Columns {
            time: None,
            value: Some("cpu".into()),
        };
        assert_eq!(
            rows(text, missing),
            [Err(
                "line 1: no value column named `cpu`: the header has host, ts, iops, latency_ms"
                    .into()
            )]
        );
    }

    #[test]
    fn rows_in_every_accepted_form() {
        let text = "timestamp,value\n2026-12-02 10:00:00,1.5\n# comment\n\n1796219603,2\n1796219603566,3\n2026-12-02T10:00:00Z,x\n";
        let mut r = SeriesReader::new(text.as_bytes());
        assert_eq!(r.next_row(), Some(Ok((2, 1_796_205_600_000, 1.5))));
        assert_eq!(r.next_row(), Some(Ok((5, 1_796_219_603_000, 2.0))));
        assert_eq!(r.next_row(), Some(Ok((6, 1_796_219_603_566, 3.0))));
        assert_eq!(
            r.next_row(),
            Some(Err("line 7: value `x` is not a number".into()))
        );
        assert_eq!(r.next_row(), None);
        let json = "{\"timestamp\": \"2026-12-02T10:00:00Z\", \"value\": 4}\n{\"t\": 1796219603, \"v\": \"5\"}\n{\"value\": 1}\n";
        let mut r = SeriesReader::new(json.as_bytes());
        assert_eq!(r.next_row(), Some(Ok((1, 1_796_205_600_000, 4.0))));
        assert_eq!(r.next_row(), Some(Ok((2, 1_796_219_603_000, 5.0))));
        assert_eq!(
            r.next_row(),
            Some(Err("line 3: no `timestamp` field".into()))
        );
    }

    #[test]
    fn a_timestamp_past_the_year_9999_is_an_error_on_its_line() {
        let text = "timestamp,value\n1796219603566,1\n18446744073709551615,2\n1796219613566,3\n";
        let mut r = SeriesReader::new(text.as_bytes());
        assert_eq!(r.next_row(), Some(Ok((2, 1_796_219_603_566, 1.0))));
        let Some(Err(e)) = r.next_row() else {
            panic!("u64::MAX ms was taken as a time");
        };
        assert!(
            e.starts_with("line 3: `18446744073709551615` is after the year 9999"),
            "{e}"
        );
        assert_eq!(r.next_row(), Some(Ok((4, 1_796_219_613_566, 3.0))));
        assert_eq!(parse_timestamp("9999-12-31T23:59:59Z"), Ok(LATEST_MS - 999));
    }

    #[test]
    fn a_line_that_is_not_utf8_is_an_error_on_its_line_and_the_next_keeps_its_number() {
        // Found by the `series` fuzz target: the bad line was not counted, so the next row was
        // numbered as the bad one and the byte count fell short.
        let text = b"1796219603566,1\n\xdb,2\n1796219613566,3\n";
        let mut r = SeriesReader::new(&text[..]);
        assert_eq!(r.next_row(), Some(Ok((1, 1_796_219_603_566, 1.0))));
        assert_eq!(r.next_row(), Some(Err("line 2: not UTF-8 text".into())));
        assert_eq!(r.next_row(), Some(Ok((3, 1_796_219_613_566, 3.0))));
        assert_eq!(r.next_row(), None);
        assert_eq!(r.bytes, text.len() as u64);
    }
}
