//! The two text formats `POST /push` reads: the Prometheus text exposition format and InfluxDB
//! line protocol, into typed [`Sample`]s.
//!
//! Invariants:
//! - A body parses whole or not at all: the first bad line is a [`LineError`] naming its 1-based
//!   line number and what is wrong with it, and no sample of the body is returned.
//! - Never panics and allocates at most in proportion to the body (which the route bounds).
//! - Only two labels / tags mean something: `node` (the virtual node) and `unit`; any other is
//!   refused by name, since a series here is one node's metric, not a label set.
//! - Timestamps are checked (an integer) and not used: a value is dated when the daemon receives it
//!   (`docs/push.md` says why).

use super::{check_metric, check_node, check_unit, Sample, DEFAULT_NODE};

/// Which format a body is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `metric{labels} value [timestamp]`.
    Prometheus,
    /// `measurement,tags fields [timestamp]`.
    Influx,
}

/// A line that is not what its format says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {problem}")]
pub struct LineError {
    /// 1-based.
    pub line: usize,
    /// What is wrong, and what would be right.
    pub problem: String,
}

/// The format a `Content-Type` names, if it names one.
pub fn format_of_content_type(content_type: &str) -> Option<Format> {
    let lower = content_type.to_ascii_lowercase();
    if lower.contains("influx") {
        Some(Format::Influx)
    } else if lower.contains("version=0.0.4") || lower.starts_with("application/openmetrics-text") {
        Some(Format::Prometheus)
    } else {
        None
    }
}

/// The format of a body whose type says nothing: its first line that is not blank or a comment is
/// Influx when a space-separated field set (`key=value`) follows the measurement, Prometheus
/// otherwise.
pub fn sniff(body: &str) -> Format {
    let Some(line) = body
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
    else {
        return Format::Prometheus;
    };
    let head = line.split([' ', '\t']).next().unwrap_or_default();
    if head.contains('{') {
        return Format::Prometheus;
    }
    match line.split_whitespace().nth(1) {
        Some(second) if second.contains('=') => Format::Influx,
        _ => Format::Prometheus,
    }
}

/// Every sample of `body`, or the first bad line.
pub fn parse(body: &str, format: Format) -> Result<Vec<Sample>, LineError> {
    let mut samples = Vec::new();
    for (index, raw) in body.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |problem: String| LineError {
            line: index + 1,
            problem,
        };
        match format {
            Format::Prometheus => samples.push(prometheus_line(line).map_err(at)?),
            Format::Influx => samples.extend(influx_line(line).map_err(at)?),
        }
    }
    Ok(samples)
}

/// A value as both formats write it: a decimal or `NaN`, `+Inf`, `-Inf`.
fn value(text: &str) -> Result<f32, String> {
    let parsed: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    // Beyond f32's range a finite value becomes infinite, as a sensor's overflow would.
    Ok(parsed as f32)
}

fn timestamp(text: Option<&str>) -> Result<(), String> {
    match text {
        Some(t) if t.parse::<i64>().is_err() => Err(format!("timestamp `{t}` is not an integer")),
        _ => Ok(()),
    }
}

/// The `node` and `unit` of a label set; any other key is refused.
fn meaning(pairs: Vec<(String, String)>, word: &str) -> Result<(String, Option<String>), String> {
    let mut node = None;
    let mut unit = None;
    for (key, value) in pairs {
        match key.as_str() {
            "node" => node = Some(check_node(&value)?),
            "unit" => unit = Some(check_unit(&value)?),
            other => {
                return Err(format!(
                    "{word} `{other}` is not understood: only `node` (the virtual node) and \
                     `unit` are; fold the rest into the metric's name"
                ))
            }
        }
    }
    Ok((node.unwrap_or_else(|| DEFAULT_NODE.to_string()), unit))
}

// ---------------------------------------------------------------------------------------------
// Prometheus

fn prometheus_line(line: &str) -> Result<Sample, String> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or_else(|| format!("`{line}` has a name but no value; write `name value`"))?;
    let name = check_metric(&line[..name_end])?;
    let mut rest = &line[name_end..];
    let mut pairs = Vec::new();
    if let Some(after_brace) = rest.strip_prefix('{') {
        let (labels, after) = prometheus_labels(after_brace)?;
        pairs = labels;
        rest = after;
    }
    let mut words = rest.split_whitespace();
    let value = value(
        words
            .next()
            .ok_or_else(|| format!("`{name}` has no value; write `{name} 42`"))?,
    )?;
    timestamp(words.next())?;
    if let Some(extra) = words.next() {
        return Err(format!(
            "`{extra}` after the value and timestamp is not understood"
        ));
    }
    let (node, unit) = meaning(pairs, "label")?;
    Ok(Sample {
        node,
        metric: name,
        unit,
        value,
    })
}

/// A label set as written: `(key, value)` in order.
type Labels = Vec<(String, String)>;

/// `key="value",...}` and what follows the closing brace.
fn prometheus_labels(mut text: &str) -> Result<(Labels, &str), String> {
    let mut pairs = Vec::new();
    loop {
        text = text.trim_start();
        if let Some(after) = text.strip_prefix('}') {
            return Ok((pairs, after));
        }
        let (key, after_key) = text
            .split_once('=')
            .ok_or("a label without `=`; write `{node=\"rack1\"}`")?;
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{key}` is not a label name"));
        }
        let quoted = after_key
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| format!("the value of label `{key}` is not in double quotes"))?;
        let (value, after_value) = quoted_string(quoted)
            .ok_or_else(|| format!("the value of label `{key}` has no closing quote"))?;
        pairs.push((key.to_string(), value));
        text = after_value.trim_start();
        text = text.strip_prefix(',').unwrap_or(text);
        if text.is_empty() {
            return Err("the label set has no closing `}`".into());
        }
    }
}

/// The text up to the closing `"` (with `\\`, `\"` and `\n` escapes) and what follows it.
fn quoted_string(text: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            other => out.push(other),
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// InfluxDB line protocol

fn influx_line(line: &str) -> Result<Vec<Sample>, String> {
    let parts = split_unescaped(line, ' ');
    let (series, fields, stamp) = match parts.as_slice() {
        [series, fields] => (series, fields, None),
        [series, fields, stamp] => (series, fields, Some(stamp.as_str())),
        [_] => return Err("no field set; write `measurement,node=rack1 value=1.5`".into()),
        _ => {
            return Err(
                "too many space-separated parts: `measurement[,tags] fields [timestamp]`".into(),
            )
        }
    };
    timestamp(stamp)?;
    let mut series_parts = split_unescaped(series, ',').into_iter();
    let measurement = series_parts.next().unwrap_or_default();
    if measurement.is_empty() {
        return Err("the measurement is empty".into());
    }
    let tags = series_parts
        .map(|tag| pair(&tag, "tag"))
        .collect::<Result<Vec<_>, _>>()?;
    let (node, unit) = meaning(tags, "tag")?;
    let mut samples = Vec::new();
    for field in split_unescaped(fields, ',') {
        let (key, text) = pair(&field, "field")?;
        let name = if key == "value" {
            measurement.clone()
        } else {
            format!("{measurement}_{key}")
        };
        samples.push(Sample {
            node: node.clone(),
            metric: check_metric(&name)?,
            unit: unit.clone(),
            value: influx_value(&key, &text)?,
        });
    }
    Ok(samples)
}

/// A field's value: a float, or an integer with `i` or `u`; strings and booleans are not numbers.
fn influx_value(key: &str, text: &str) -> Result<f32, String> {
    if text.starts_with('"') {
        return Err(format!(
            "field `{key}` is a string; only numbers are pushed"
        ));
    }
    if matches!(
        text,
        "t" | "T" | "true" | "True" | "TRUE" | "f" | "F" | "false" | "False" | "FALSE"
    ) {
        return Err(format!("field `{key}` is a boolean; push 1 or 0 instead"));
    }
    let digits = text
        .strip_suffix('i')
        .or_else(|| text.strip_suffix('u'))
        .unwrap_or(text);
    value(digits).map_err(|e| format!("field `{key}`: {e}"))
}

/// `key=value`, unescaped.
fn pair(text: &str, word: &str) -> Result<(String, String), String> {
    let parts = split_unescaped(text, '=');
    match parts.as_slice() {
        [key, value] if !key.is_empty() && !value.is_empty() => Ok((key.clone(), value.clone())),
        _ => Err(format!("{word} `{text}` is not `key=value`")),
    }
}

/// `text` split on `separator` where it is neither escaped by `\` nor inside double quotes; the
/// escapes are removed from the parts.
fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let current = parts.last_mut().expect("parts is never empty");
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    if next != separator && next != ' ' && next != ',' && next != '=' {
                        current.push('\\');
                    }
                    current.push(next);
                }
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c == separator && !quoted => parts.push(String::new()),
            c => current.push(c),
        }
    }
    if separator == ' ' {
        parts.retain(|p| !p.is_empty());
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str, format: Format) -> Sample {
        let mut samples = parse(line, format).unwrap();
        assert_eq!(samples.len(), 1, "{samples:?}");
        samples.remove(0)
    }

    #[test]
    fn prometheus_lines_with_and_without_labels() {
        let body = "# HELP queue_depth Jobs waiting.\n# TYPE queue_depth gauge\n\
                    queue_depth 12\nqueue_depth{node=\"batch\",unit=\"jobs\"} 13.5 1700000000000\n";
        let samples = parse(body, Format::Prometheus).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].node, DEFAULT_NODE);
        assert_eq!(samples[0].value, 12.0);
        assert_eq!(samples[1].node, "batch");
        assert_eq!(samples[1].unit.as_deref(), Some("jobs"));
        assert_eq!(samples[1].value, 13.5);
        assert!(one("x +Inf", Format::Prometheus).value.is_infinite());
        assert!(one("x NaN", Format::Prometheus).value.is_nan());
    }

    #[test]
    fn influx_lines_become_one_sample_per_field() {
        let samples = parse(
            "latency,node=probe,unit=ms value=1.5,p99=7i 1700000000000000000\n",
            Format::Influx,
        )
        .unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].metric, "latency");
        assert_eq!(samples[1].metric, "latency_p99");
        assert_eq!(samples[1].value, 7.0);
        assert_eq!(samples[0].node, "probe");
    }

    #[test]
    fn a_bad_line_is_named_and_nothing_else_is_returned() {
        let error = parse("a 1\nb 2\nc two\n", Format::Prometheus).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.problem.contains("`two` is not a number"), "{error}");
        let error = parse("a value=1\nb,host=x value=2\n", Format::Influx).unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.problem.contains("tag `host`"), "{error}");
        let error = parse("a value=\"up\"\n", Format::Influx).unwrap_err();
        assert!(error.problem.contains("string"), "{error}");
        let error = parse("a{node=\"x} 1\n", Format::Prometheus).unwrap_err();
        assert!(error.problem.contains("closing"), "{error}");
        let error = parse("bad-name! 1\n", Format::Prometheus).unwrap_err();
        assert!(error.problem.contains("bad-name!"), "{error}");
    }

    #[test]
    fn the_format_is_sniffed_from_the_first_data_line() {
        assert_eq!(sniff("# c\n\nm,node=a value=1\n"), Format::Influx);
        assert_eq!(sniff("m value=1\n"), Format::Influx);
        assert_eq!(sniff("m{a=\"b c\"} 1\n"), Format::Prometheus);
        assert_eq!(sniff("m 1 1700\n"), Format::Prometheus);
        assert_eq!(
            format_of_content_type("text/plain; version=0.0.4"),
            Some(Format::Prometheus)
        );
        assert_eq!(
            format_of_content_type("application/x-influxdb-line-protocol"),
            Some(Format::Influx)
        );
        assert_eq!(format_of_content_type("text/plain"), None);
    }

    #[test]
    fn hostile_lines_do_not_panic() {
        for line in [
            "{",
            "}",
            "a{",
            "a{=",
            "a{b=\"\\",
            "a,=",
            "a,b",
            "a b",
            "a \"",
            "a,b=c d=\"x y\" 1",
            "\\",
            "a\\",
            "é{é=\"é\"} 1",
            "a 1 2 3",
        ] {
            let _ = parse(line, Format::Prometheus);
            let _ = parse(line, Format::Influx);
        }
    }
}
