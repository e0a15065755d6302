//! Downsampling for dashboards: readings into fixed-width time buckets, per series, each bucket's
//! minimum, maximum, mean, last value and count (`rackwatch history --step`).
//!
//! A [`Bucketer`] streams over readings in time order (as every history query returns them) and
//! works the same whatever the store keeps underneath: it sees only `(series, time, value)`.
//!
//! Invariants:
//! - Buckets are aligned to multiples of the step since the Unix epoch, so the same data gives the
//!   same buckets whatever `--since` says; a bucket `[start, start + step)` holds the readings whose
//!   wall time falls in it. Empty buckets are not emitted.
//! - Memory is O(1) per series (one open bucket each) plus the buckets not yet handed out: a bucket
//!   is complete, and emitted, as soon as a reading of a later bucket arrives, and buckets come out
//!   ordered by start, node, metric.
//! - `count` counts every reading; `min`, `max` and `mean` are over the readings that are not NaN
//!   (NaN when all were), with infinities taken as IEEE arithmetic takes them (a bucket holding
//!   `inf` has `max` and `mean` `inf`; one holding both infinities has a NaN mean); `last` is the
//!   bucket's last reading exactly as stored, NaN included.
//! - A reading older than the newest bucket seen (queries return readings oldest first, so only a
//!   clock that jumped back makes one) is counted in its series' bucket at that newest start: an
//!   emitted bucket is never re-opened, and the output stays in order.

use serde::Serialize;
use std::collections::BTreeMap;

/// Which series a reading belongs to: its node and metric name (boots of a node join up).
pub type SeriesKey = (u16, String);

/// The aggregate of one series over one bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    /// Node id.
    pub node: u16,
    /// Metric name.
    pub name: String,
    /// The metric's unit (of its last reading in the bucket).
    pub unit: String,
    /// Start of the bucket, wall time in ms since the epoch (inclusive).
    pub wall_ms: u64,
    /// The bucket's width in ms.
    pub step_ms: u64,
    /// Smallest reading that is not NaN (NaN when all were).
    #[serde(serialize_with = "crate::store::value_json")]
    pub min: f64,
    /// Largest reading that is not NaN (NaN when all were).
    #[serde(serialize_with = "crate::store::value_json")]
    pub max: f64,
    /// Mean of the readings that are not NaN (NaN when all were), rounded to an f32 like them.
    #[serde(serialize_with = "crate::store::value_json")]
    pub mean: f64,
    /// The last reading of the bucket, exactly as stored.
    #[serde(serialize_with = "crate::store::value_json")]
    pub last: f64,
    /// How many readings fell in the bucket, NaN ones included.
    pub count: u64,
}

/// One series' bucket being filled.
#[derive(Debug, Clone)]
struct Open {
    start_ms: u64,
    unit: String,
    min: f64,
    max: f64,
    sum: f64,
    numeric: u64,
    last: f64,
    count: u64,
}

impl Open {
    fn new(start_ms: u64) -> Open {
        Open {
            start_ms,
            unit: String::new(),
            min: f64::NAN,
            max: f64::NAN,
            sum: 0.0,
            numeric: 0,
            last: f64::NAN,
            count: 0,
        }
    }

    fn add(&mut self, value: f64, unit: &str) {
        self.count += 1;
        self.last = value;
        if self.unit != unit {
            self.unit = unit.to_string();
        }
        if value.is_nan() {
            return;
        }
        // `f64::min`/`max` ignore a NaN operand, so the first numeric reading replaces the start.
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        self.sum += value;
        self.numeric += 1;
    }

    fn close(self, (node, name): SeriesKey, step_ms: u64) -> Bucket {
        let mean = match self.numeric {
            0 => f64::NAN,
            // At the readings' own precision: the table prints it as it prints them.
            n => f64::from((self.sum / n as f64) as f32),
        };
        Bucket {
            node,
            name,
            unit: self.unit,
            wall_ms: self.start_ms,
            step_ms,
            min: self.min,
            max: self.max,
            mean,
            last: self.last,
            count: self.count,
        }
    }
}

/// Buckets readings of any number of series as they stream past, oldest first.
#[derive(Debug)]
pub struct Bucketer {
    step_ms: u64,
    /// By node, then metric name: a reading finds its bucket without building a key.
    open: BTreeMap<u16, BTreeMap<String, Open>>,
    /// The start of the newest bucket seen: every open bucket before it is complete.
    newest_start_ms: u64,
}

impl Bucketer {
    /// Buckets of `step_ms` milliseconds (at least 1).
    pub fn new(step_ms: u64) -> Bucketer {
        Bucketer {
            step_ms: step_ms.max(1),
            open: BTreeMap::new(),
            newest_start_ms: 0,
        }
    }

    /// The bucket width in ms.
    pub fn step_ms(&self) -> u64 {
        self.step_ms
    }

    /// Adds one reading of `series` at `wall_ms`; hands every bucket it completes to `emit`, ordered
    /// by start, node and metric.
    pub fn push(
        &mut self,
        series: (u16, &str),
        unit: &str,
        wall_ms: u64,
        value: f64,
        emit: &mut impl FnMut(Bucket),
    ) {
        // A reading behind the newest bucket (a clock that jumped back) joins the open one.
        let start = (wall_ms - wall_ms % self.step_ms).max(self.newest_start_ms);
        if start > self.newest_start_ms {
            self.newest_start_ms = start;
            self.emit_before(Some(start), emit);
        }
        // Every open bucket starts at `newest_start_ms` now: the older ones were just emitted.
        let metrics = self.open.entry(series.0).or_default();
        match metrics.get_mut(series.1) {
            Some(open) => open.add(value, unit),
            None => {
                let mut open = Open::new(start);
                open.add(value, unit);
                metrics.insert(series.1.to_string(), open);
            }
        }
    }

    /// Hands out every bucket still open, ordered by start, node and metric: the readings ended.
    pub fn finish(mut self, emit: &mut impl FnMut(Bucket)) {
        self.emit_before(None, emit);
    }

    /// Emits the open buckets that start before `start_ms` (all of them with `None`).
    fn emit_before(&mut self, start_ms: Option<u64>, emit: &mut impl FnMut(Bucket)) {
        let mut done: Vec<(SeriesKey, Open)> = Vec::new();
        for (&node, metrics) in &mut self.open {
            metrics.retain(|name, open| {
                let complete = start_ms.is_none_or(|start| open.start_ms < start);
                if complete {
                    done.push(((node, name.clone()), open.clone()));
                }
                !complete
            });
        }
        done.sort_by(|(a_key, a), (b_key, b)| (a.start_ms, a_key).cmp(&(b.start_ms, b_key)));
        for (key, open) in done {
            emit(open.close(key, self.step_ms));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(step_ms: u64, readings: &[(u16, &str, u64, f64)]) -> Vec<Bucket> {
        let mut out = Vec::new();
        let mut bucketer = Bucketer::new(step_ms);
        for &(node, name, wall_ms, value) in readings {
            bucketer.push((node, name), "C", wall_ms, value, &mut |b| out.push(b));
        }
        bucketer.finish(&mut |b| out.push(b));
        out
    }

    fn summary(b: &Bucket) -> (u16, &str, u64, f64, f64, f64, f64, u64) {
        (
            b.node, &b.name, b.wall_ms, b.min, b.max, b.mean, b.last, b.count,
        )
    }

    #[test]
    fn buckets_are_aligned_to_the_step_and_hold_min_max_mean_last_count() {
        let out = run(
            10,
            &[
                (1, "t", 12, 4.0),
                (1, "t", 15, 1.0),
                (1, "t", 19, 7.0),
                (1, "t", 20, 2.0),
                (1, "t", 41, 3.0),
            ],
        );
        let rows: Vec<_> = out.iter().map(summary).collect();
        assert_eq!(
            rows,
            [
                (1, "t", 10, 1.0, 7.0, 4.0, 7.0, 3),
                (1, "t", 20, 2.0, 2.0, 2.0, 2.0, 1),
                (1, "t", 40, 3.0, 3.0, 3.0, 3.0, 1),
            ]
        );
        assert!(out.iter().all(|b| b.step_ms == 10 && b.unit == "C"));
    }

    #[test]
    fn interleaved_series_come_out_ordered_by_start_node_and_metric() {
        let out = run(
            100,
            &[
                (2, "b", 0, 1.0),
                (1, "z", 10, 1.0),
                (1, "a", 50, 1.0),
                (2, "b", 120, 5.0),
                (1, "a", 199, 6.0),
                (1, "z", 300, 7.0),
            ],
        );
        let keys: Vec<_> = out.iter().map(|b| (b.wall_ms, b.node, &*b.name)).collect();
        assert_eq!(
            keys,
            [
                (0, 1, "a"),
                (0, 1, "z"),
                (0, 2, "b"),
                (100, 1, "a"),
                (100, 2, "b"),
                (300, 1, "z"),
            ]
        );
    }

    #[test]
    fn nan_is_counted_but_not_averaged_and_infinities_follow_ieee() {
        let nan = f64::NAN;
        let out = run(
            10,
            &[
                (1, "t", 0, nan),
                (1, "t", 1, 2.0),
                (1, "t", 2, nan),
                (1, "t", 10, nan),
                (1, "t", 20, f64::INFINITY),
                (1, "t", 21, 1.0),
                (1, "t", 30, f64::INFINITY),
                (1, "t", 31, f64::NEG_INFINITY),
            ],
        );
        let first = &out[0];
        assert_eq!((first.min, first.max, first.mean), (2.0, 2.0, 2.0));
        assert!(first.last.is_nan());
        assert_eq!(first.count, 3);
        let all_nan = &out[1];
        assert!(all_nan.min.is_nan() && all_nan.max.is_nan() && all_nan.mean.is_nan());
        assert_eq!(all_nan.count, 1);
        let with_inf = &out[2];
        assert_eq!((with_inf.min, with_inf.max), (1.0, f64::INFINITY));
        assert_eq!((with_inf.mean, with_inf.last), (f64::INFINITY, 1.0));
        let both = &out[3];
        assert_eq!((both.min, both.max), (f64::NEG_INFINITY, f64::INFINITY));
        assert!(both.mean.is_nan());
        assert_eq!(both.last, f64::NEG_INFINITY);
    }

    #[test]
    fn a_reading_behind_its_series_joins_the_open_bucket() {
        let out = run(
            10,
            &[(1, "t", 25, 1.0), (1, "t", 5, 3.0), (1, "t", 31, 0.0)],
        );
        let rows: Vec<_> = out.iter().map(summary).collect();
        assert_eq!(
            rows,
            [
                (1, "t", 20, 1.0, 3.0, 2.0, 3.0, 2),
                (1, "t", 30, 0.0, 0.0, 0.0, 0.0, 1)
            ]
        );
    }

    #[test]
    fn open_buckets_stay_one_per_series() {
        let mut bucketer = Bucketer::new(1000);
        let mut emitted = 0u64;
        for i in 0..100_000u64 {
            let node = (i % 4) as u16;
            bucketer.push((node, "m"), "", i * 10, i as f64, &mut |_| emitted += 1);
            assert!(bucketer.open.len() <= 4);
        }
        bucketer.finish(&mut |_| emitted += 1);
        assert_eq!(emitted, 4 * 1000);
    }

    #[test]
    fn a_step_of_zero_is_one_millisecond_and_the_last_instant_has_a_bucket() {
        let out = run(0, &[(1, "t", u64::MAX, 1.0), (1, "t", u64::MAX, 2.0)]);
        assert_eq!(out.len(), 1);
        assert_eq!((out[0].wall_ms, out[0].count), (u64::MAX, 2));
    }
}
