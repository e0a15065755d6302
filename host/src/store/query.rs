//! Queries over history: readings, transitions and node events by node, metric and time, as typed
//! rows.
//!
//! Invariants:
//! - Rows come back oldest first; with a limit, the newest `limit` rows, still oldest first.
//! - Stored names are parsed back to their types; a value this build cannot read is an error that
//!   names the column, never a silent default.

use super::{Store, StoreError};
use crate::ingest::{NodeEventKind, Origin};
use crate::names;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::Cause;
use rackwatch_core::Level;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// A filter for history queries. Times are wall-clock ms since the Unix epoch.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Only this node.
    pub node: Option<u16>,
    /// Only metrics of this name.
    pub metric: Option<String>,
    /// From this time (inclusive).
    pub since_ms: Option<u64>,
    /// Until this time (exclusive).
    pub until_ms: Option<u64>,
    /// At most this many rows (the newest when limited).
    pub limit: Option<u64>,
}

/// A stored reading. In JSON its value is a number, or the string `NaN`, `inf` or `-inf` (JSON has
/// no number for those, and `null` would read as a missing value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadingRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Metric id.
    pub metric: u16,
    /// Metric name (`metric_<id>` when the node did not describe it).
    pub name: String,
    /// Unit.
    pub unit: String,
    /// Node time.
    pub t_ms: u64,
    /// Wall time.
    pub wall_ms: u64,
    /// Value, exactly as the node sent it (NaN and infinities included).
    #[serde(serialize_with = "value_json")]
    pub value: f64,
}

/// A value in JSON as `history` writes readings' values: a number, or the string `NaN`, `inf` or
/// `-inf` (JSON has no number for those, and `null` would read as a missing value).
pub(crate) fn value_json<S: serde::Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    if value.is_finite() {
        s.serialize_f64(*value)
    } else {
        s.serialize_str(&format!("{}", *value as f32))
    }
}

/// A reading as [`Store::stored_readings`] lists it.
pub(super) type StoredReading = (u16, u32, u16, u64, u64, f32);

/// The series a chunk belongs to, with its metric's name and unit.
struct ChunkSeries {
    node: u16,
    boot: u32,
    metric: u16,
    name: String,
    unit: String,
}

/// A stored transition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// Metric id.
    pub metric: u16,
    /// Metric name.
    pub name: String,
    /// The metric's unit (empty when the node did not describe it).
    pub unit: String,
    /// Who judged it.
    pub origin: Origin,
    /// Per-alert sequence number.
    pub alert_seq: u32,
    /// Node time.
    pub at_ms: u64,
    /// Wall time.
    pub wall_ms: u64,
    /// Level before.
    #[serde(with = "crate::names::level")]
    pub from: Level,
    /// Level after.
    #[serde(with = "crate::names::level")]
    pub to: Level,
    /// Why.
    pub cause: Cause,
    /// Flapping: notifications suppressed.
    pub suppressed: bool,
}

/// A stored node event.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeEventRow {
    /// Node id.
    pub node: u16,
    /// Boot id.
    pub boot: u32,
    /// What happened, with its details.
    pub kind: NodeEventKind,
    /// Wall time.
    pub wall_ms: u64,
}

impl Serialize for NodeEventRow {
    /// `{"node", "boot", "kind": name, "wall_ms", "detail": {...}}`: the event's name beside its
    /// details, as `alerts --events --format json` has always printed it.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut row = s.serialize_struct("NodeEventRow", 5)?;
        row.serialize_field("node", &self.node)?;
        row.serialize_field("boot", &self.boot)?;
        row.serialize_field("kind", self.kind.name())?;
        row.serialize_field("wall_ms", &self.wall_ms)?;
        row.serialize_field("detail", &self.kind)?;
        row.end()
    }
}

impl Store {
    fn filter(q: &Query, time_column: &str) -> (String, Vec<rusqlite::types::Value>) {
        use rusqlite::types::Value;
        let mut clauses = Vec::new();
        let mut values = Vec::new();
        if let Some(node) = q.node {
            clauses.push("x.node = ?".to_string());
            values.push(Value::Integer(i64::from(node)));
        }
        if let Some(metric) = &q.metric {
            clauses.push("COALESCE(m.name, 'metric_' || x.metric) = ?".to_string());
            values.push(Value::Text(metric.clone()));
        }
        if let Some(since) = q.since_ms {
            clauses.push(format!("x.{time_column} >= ?"));
            values.push(Value::Integer(since as i64));
        }
        if let Some(until) = q.until_ms {
            clauses.push(format!("x.{time_column} < ?"));
            values.push(Value::Integer(until as i64));
        }
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        (filter, values)
    }

    /// Readings matching `q`, oldest first (the newest `limit` when limited): the chunks whose
    /// time range meets the query's, decoded, and their readings in it.
    pub fn readings(&self, q: &Query) -> Result<Vec<ReadingRow>, StoreError> {
        let (filter, mut values) = Self::filter(
            &Query {
                since_ms: None,
                until_ms: None,
                ..q.clone()
            },
            "last_wall_ms",
        );
        let mut clauses = vec![if filter.is_empty() {
            "WHERE 1".to_string()
        } else {
            filter
        }];
        if let Some(since) = q.since_ms {
            clauses.push("x.last_wall_ms >= ?".into());
            values.push(rusqlite::types::Value::Integer(since as i64));
        }
        if let Some(until) = q.until_ms {
            clauses.push("x.first_wall_ms < ?".into());
            values.push(rusqlite::types::Value::Integer(until as i64));
        }
        let sql = format!(
            "SELECT x.node, x.boot, x.metric, COALESCE(m.name, 'metric_' || x.metric),
               COALESCE(m.unit, ''), x.anchor_ms, x.data
             FROM chunks x LEFT JOIN metrics m
               ON m.node = x.node AND m.boot = x.boot AND m.metric = x.metric
             {}",
            clauses.join(" AND ")
        );
        let in_range =
            |wall: u64| q.since_ms.is_none_or(|s| wall >= s) && q.until_ms.is_none_or(|u| wall < u);
        let mut rows = Vec::new();
        self.each_chunk(&sql, values, |chunk, t_ms, wall_ms, value| {
            if in_range(wall_ms) {
                rows.push(ReadingRow {
                    node: chunk.node,
                    boot: chunk.boot,
                    metric: chunk.metric,
                    name: chunk.name.clone(),
                    unit: chunk.unit.clone(),
                    t_ms,
                    wall_ms,
                    value: f64::from(value),
                });
            }
        })?;
        rows.sort_by_key(|r| (r.wall_ms, r.node, r.metric, r.boot, r.t_ms));
        if let Some(limit) = q.limit {
            let drop = rows.len().saturating_sub(limit as usize);
            rows.drain(..drop);
        }
        Ok(rows)
    }

    /// Every stored reading in key order (node, boot, metric, node time): node, boot, metric,
    /// node time, wall time and the value as stored (a signalling NaN stays one, which an f64
    /// would not keep).
    pub(super) fn stored_readings(&self) -> Result<Vec<StoredReading>, StoreError> {
        let sql = "SELECT node, boot, metric, '', '', anchor_ms, data FROM chunks x
                   ORDER BY node, boot, metric, first_ms";
        let mut rows = Vec::new();
        self.each_chunk(sql, Vec::new(), |chunk, t_ms, wall_ms, value| {
            rows.push((chunk.node, chunk.boot, chunk.metric, t_ms, wall_ms, value))
        })?;
        Ok(rows)
    }

    /// Runs `sql` (columns node, boot, metric, name, unit, anchor, data) and calls `each` with
    /// every reading of every chunk it returns. A chunk that does not decode is an error naming
    /// its series: the database was damaged or written by something else.
    fn each_chunk(
        &self,
        sql: &str,
        values: Vec<rusqlite::types::Value>,
        mut each: impl FnMut(&ChunkSeries, u64, u64, f32),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(values))
            .map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let read = || -> rusqlite::Result<(ChunkSeries, i64, Vec<u8>)> {
                Ok((
                    ChunkSeries {
                        node: r.get(0)?,
                        boot: r.get(1)?,
                        metric: r.get(2)?,
                        name: r.get(3)?,
                        unit: r.get(4)?,
                    },
                    r.get(5)?,
                    r.get(6)?,
                ))
            };
            let (series, anchor, data) = read().map_err(|e| self.err(e))?;
            let samples = super::chunks::decode(&data).map_err(|e| {
                self.err(rusqlite::Error::FromSqlConversionFailure(
                    6,
                    rusqlite::types::Type::Blob,
                    format!(
                        "chunk of node {} boot {:08x} metric {}: {e}",
                        series.node, series.boot, series.metric
                    )
                    .into(),
                ))
            })?;
            for (t_ms, value) in samples {
                let wall_ms = anchor.wrapping_add(t_ms as i64) as u64;
                each(&series, t_ms, wall_ms, value);
            }
        }
        Ok(())
    }

    /// Transitions matching `q`, oldest first (the newest `limit` when limited).
    pub fn transitions(&self, q: &Query) -> Result<Vec<TransitionRow>, StoreError> {
        let (filter, values) = Self::filter(q, "wall_ms");
        let sql = format!(
            "SELECT * FROM (SELECT x.node, x.boot, x.metric, COALESCE(m.name, 'metric_' || x.metric),
               x.origin, x.alert_seq, x.at_ms, x.wall_ms, x.from_level, x.to_level, x.cause,
               x.suppressed, COALESCE(m.unit, '')
             FROM transitions x LEFT JOIN metrics m
               ON m.node = x.node AND m.boot = x.boot AND m.metric = x.metric
             {filter} ORDER BY x.wall_ms DESC, x.node, x.metric, x.origin, x.alert_seq DESC LIMIT {})
             ORDER BY 8, 1, 3, 5, 6",
            q.limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(TransitionRow {
                    node: r.get(0)?,
                    boot: r.get(1)?,
                    metric: r.get(2)?,
                    name: r.get(3)?,
                    origin: parsed(r, 4, Origin::from_name)?,
                    alert_seq: r.get(5)?,
                    at_ms: r.get::<_, i64>(6)? as u64,
                    wall_ms: r.get::<_, i64>(7)? as u64,
                    from: parsed(r, 8, names::parse_level)?,
                    to: parsed(r, 9, names::parse_level)?,
                    cause: parsed(r, 10, |s| serde_json::from_str(s).ok())?,
                    suppressed: r.get(11)?,
                    unit: r.get(12)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Node events matching `q` (the metric filter does not apply), oldest first.
    pub fn node_events(&self, q: &Query) -> Result<Vec<NodeEventRow>, StoreError> {
        let q = Query {
            metric: None,
            ..q.clone()
        };
        let (filter, values) = Self::filter(&q, "wall_ms");
        let sql = format!(
            "SELECT * FROM (SELECT x.node, x.boot, x.kind, x.wall_ms, x.detail FROM node_events x
             {filter} ORDER BY x.wall_ms DESC LIMIT {}) ORDER BY 4, 1",
            q.limit.map_or(-1, |l| l as i64)
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(NodeEventRow {
                    node: r.get(0)?,
                    boot: r.get(1)?,
                    kind: parsed(r, 4, |s| serde_json::from_str(s).ok())?,
                    wall_ms: r.get::<_, i64>(3)? as u64,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Why a probe was failing at `wall_ms`: the reason of its latest `probe_failed` event at or
    /// before then in `boot`, unless a `probe_ok` came after it ([`crate::probe`]).
    pub fn probe_failure_at(
        &self,
        node: u16,
        boot: u32,
        wall_ms: u64,
    ) -> Result<Option<String>, StoreError> {
        let detail: Option<String> = self
            .conn
            .query_row(
                "SELECT detail FROM node_events
                 WHERE node = ?1 AND boot = ?2 AND kind IN ('probe_failed', 'probe_ok')
                   AND wall_ms <= ?3
                 ORDER BY wall_ms DESC, kind ASC LIMIT 1",
                params![node, boot, wall_ms as i64],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let kind = detail.and_then(|d| serde_json::from_str::<NodeEventKind>(&d).ok());
        Ok(match kind {
            Some(NodeEventKind::ProbeFailed { reason }) => Some(reason),
            _ => None,
        })
    }

    /// The spec a node announced for a metric in its latest boot that has one.
    pub fn spec(&self, node: u16, metric: &str) -> Result<Option<MetricSpec>, StoreError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT m.spec FROM metrics m LEFT JOIN boots b ON b.node = m.node AND b.boot = m.boot
                 WHERE m.node = ?1 AND m.name = ?2 ORDER BY b.first_wall_ms DESC LIMIT 1",
                params![node, metric],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }
}

/// Column `i` of `row`, parsed from its stored text by `parse`; text it cannot read is an error
/// naming the column and the text.
fn parsed<T>(
    row: &rusqlite::Row<'_>,
    i: usize,
    parse: impl Fn(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(i)?;
    parse(&text).ok_or_else(|| {
        let column = row.as_ref().column_name(i).unwrap_or("?").to_string();
        rusqlite::Error::FromSqlConversionFailure(
            i,
            rusqlite::types::Type::Text,
            format!("column {column}: `{text}` is not a value this rackwatch knows").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::Event;

    #[test]
    fn readings_read_back_bit_for_bit_and_print_non_finite_values_as_strings() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(&dir.path().join("h.db")).unwrap();
        let sent = [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            -0.0,
            0.0,
            1.25,
            f32::from_bits(0x7fc0_1234),
            f32::from_bits(0xffc0_0001),
            f32::from_bits(1),
            -f32::MIN_POSITIVE / 2.0,
        ];
        let events: Vec<Event> = sent
            .iter()
            .enumerate()
            .map(|(i, &value)| Event::Reading {
                node: 1,
                boot: 2,
                metric: 0,
                t_ms: i as u64,
                wall_ms: 1000 + i as u64,
                value,
            })
            .collect();
        store.write(&events).unwrap();
        let rows = store.readings(&Query::default()).unwrap();
        let bits: Vec<u32> = rows.iter().map(|r| (r.value as f32).to_bits()).collect();
        let expected: Vec<u32> = sent.iter().map(|v| v.to_bits()).collect();
        assert_eq!(bits, expected);
        // Written again, in another batching: nothing changes.
        let dump = store.dump().unwrap();
        store.write(&events[3..]).unwrap();
        store.write(&events[..5]).unwrap();
        assert_eq!(store.dump().unwrap(), dump);
        // A signalling NaN keeps its bits in the store (an f64 row value would quiet it).
        store
            .write(&[Event::Reading {
                node: 1,
                boot: 2,
                metric: 1,
                t_ms: 0,
                wall_ms: 1000,
                value: f32::from_bits(0xff80_0001),
            }])
            .unwrap();
        assert!(store
            .dump()
            .unwrap()
            .contains(&"readings: 1 2 1 0 1000 ff800001".to_string()));
        let json: Vec<String> = rows
            .iter()
            .map(|r| serde_json::to_value(r).unwrap()["value"].to_string())
            .collect();
        assert_eq!(
            json,
            [
                r#""NaN""#,
                r#""inf""#,
                r#""-inf""#,
                "-0.0",
                "0.0",
                "1.25",
                r#""NaN""#,
                r#""NaN""#,
                "1.401298464324817e-45",
                "-5.877471754111438e-39"
            ]
        );
    }
}
