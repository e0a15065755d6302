//! The series `rackwatch analyze` reads: `timestamp,value` rows from CSV (header optional) or JSON
//! lines, one at a time.
//!
//! Invariants: a row that cannot be read is an error naming its line, and the reader goes on with
//! the next one; blank lines and `#` comments are not rows; the first row decides between CSV and
//! JSON for the whole input, and a CSV's first row is its header only when it names both columns.

use crate::timefmt::parse_rfc3339;
use std::io::BufRead;

/// Field and column names a time may go by.
const TIME_NAMES: [&str; 4] = ["timestamp", "time", "t", "ts"];
/// Field and column names a value may go by.
const VALUE_NAMES: [&str; 2] = ["value", "v"];

/// Reads `timestamp,value` rows from CSV or JSON lines.
pub struct SeriesReader<R> {
    input: R,
    line: usize,
    columns: Option<(usize, usize)>,
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

/// The timestamp and value columns a CSV header names, if the first row is a header.
fn header_columns(cells: &[&str]) -> Option<(usize, usize)> {
    let lower: Vec<String> = cells
        .iter()
        .map(|c| c.trim_matches('"').to_ascii_lowercase())
        .collect();
    let find = |names: &[&str]| lower.iter().position(|c| names.contains(&c.as_str()));
    Some((find(&TIME_NAMES)?, find(&VALUE_NAMES)?))
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
    /// A reader over `input`.
    pub fn new(input: R) -> SeriesReader<R> {
        SeriesReader {
            input,
            line: 0,
            columns: None,
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
                let header = header_columns(&cells);
                self.columns = Some(header.unwrap_or((0, 1)));
                if header.is_some() {
                    return Ok(None);
                }
                (0, 1)
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
