//! `rackwatch-bench`: the detection-quality benchmarks of the rackwatch core, kept out of the
//! `rackwatch` product binary.
//!
//! - [`nab`]: the core's anomaly score on the Numenta Anomaly Benchmark, scored as NAB scores
//!   (`docs/nab.md`).
//! - [`kpi`]: point-adjusted F1 (delay 7) on labelled KPI corpora (WSD, Microsoft's
//!   cloud-monitoring dataset) beside an EWMA z-score baseline.
//! - [`eta`]: the core's time-to-threshold on generated fill curves against a `predict_linear`
//!   baseline.
//! - [`history`]: what keeping history costs (bytes per reading against Prometheus' TSDB and
//!   Gorilla, ingest and query times), through the real `rackwatch` and `promtool`.
//! - [`markers`]: how a run's figures replace, and only replace, the marked blocks of
//!   `BENCHMARKS.md`.
//! - [`cli`]: the `rackwatch-bench` command line; [`rng`]: the generator the ETA curves draw from.
//!
//! Invariants: the benchmarks run the core exactly as a node does (same types, same `f32` inputs,
//! same default configurations); the prose of `BENCHMARKS.md` lives in that file, and the code
//! writes only figures between markers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cli;
pub mod eta;
pub mod history;
pub mod kpi;
pub mod markers;
pub mod nab;
pub mod rng;
