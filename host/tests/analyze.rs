//! `rackwatch analyze` on synthetic series, through the real binary.

use std::process::Command;

fn rackwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rackwatch"))
}

/// Deterministic noise in [-1, 1).
struct Noise(u64);
impl Noise {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

const T0_S: u64 = 1_796_000_000;

fn write_series(path: &std::path::Path, values: impl Iterator<Item = (u64, f64)>) {
    let mut text = String::from("timestamp,value\n");
    for (t, v) in values {
        text.push_str(&format!("{t},{v:.4}\n"));
    }
    std::fs::write(path, text).unwrap();
}

#[test]
fn a_disk_fill_gets_the_time_to_full_within_ten_percent_once_a_fifth_is_observed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.csv");
    // 10 % full, +0.05 % a minute (full after 30 h), ±0.2 % measurement noise, one sample a minute.
    let rate_per_min = 0.05;
    let mut noise = Noise(7);
    let minutes = 1800u64;
    write_series(
        &path,
        (0..minutes).map(|m| {
            (
                T0_S + m * 60,
                10.0 + rate_per_min * m as f64 + 0.2 * noise.next(),
            )
        }),
    );
    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--above",
            "100",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), minutes as usize);
    // From a fifth of the fill on (the fill spans 10 % to 100 %: a fifth is 18 % done, minute 360).
    let mut checked = 0;
    for m in (360..minutes).step_by(60) {
        let row = &rows[m as usize];
        let eta_ms: f64 = row[5]
            .parse()
            .unwrap_or_else(|_| panic!("no ETA at minute {m}: {row:?}"));
        let truth_ms = (100.0 - (10.0 + rate_per_min * m as f64)) / rate_per_min * 60_000.0;
        let error = (eta_ms - truth_ms).abs() / truth_ms;
        assert!(
            error < 0.10,
            "minute {m}: ETA {eta_ms} ms, truth {truth_ms} ms ({:.1} %)",
            100.0 * error
        );
        checked += 1;
    }
    assert!(checked >= 20);
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("reaches 100 in"), "{summary}");
    // Transitions are words, never Rust's Debug text of the cause.
    assert!(
        summary.contains("Z OK -> WARNING, reaches 100 in "),
        "{summary}"
    );
    assert!(!summary.contains(['{', '}']), "{summary}");
}

#[test]
fn pure_noise_gives_no_eta() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.csv");
    let mut noise = Noise(99);
    write_series(
        &path,
        (0..3000u64).map(|m| (T0_S + m * 60, 50.0 + 2.0 * noise.next())),
    );
    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--above",
            "90",
            "--format",
            "csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let csv = String::from_utf8(out.stdout).unwrap();
    let with_eta = csv
        .lines()
        .skip(1)
        .filter(|l| !l.split(',').nth(5).unwrap_or("").is_empty())
        .count();
    assert_eq!(with_eta, 0, "rows with an ETA on pure noise");
    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--above",
            "90",
            "--format",
            "json",
            "--summary-only",
        ])
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["eta_ms"], serde_json::Value::Null);
    assert_eq!(summary["rows"], 3000);
    assert!(
        summary["no_eta"].as_str().unwrap().contains("noise"),
        "{summary}"
    );
}

#[test]
fn bad_rows_are_named_skipped_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    std::fs::write(
        &path,
        "timestamp,value\n1796000000,1\n1796000060,oops\n1796000120,3\n1796000000,4\n",
    )
    .unwrap();
    let out = rackwatch()
        .args(["analyze", path.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 3: value `oops` is not a number"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 5:") && stderr.contains("earlier"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
    let strict = rackwatch()
        .args(["analyze", path.to_str().unwrap(), "--strict"])
        .output()
        .unwrap();
    assert!(!strict.status.success());
}

#[test]
fn a_corrupt_timestamp_is_skipped_with_its_line_and_does_not_skew_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.csv");
    let t0 = T0_S * 1000;
    let mut text = String::from("timestamp,value\n");
    for i in 0..10u64 {
        text.push_str(&format!("{},{}\n", t0 + i * 60_000, 50 + i));
        if i == 4 {
            text.push_str(&format!("{},{}\n", u64::MAX, 55));
        }
    }
    std::fs::write(&path, text).unwrap();
    let out = rackwatch().arg("analyze").arg(&path).output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 7: `18446744073709551615` is after the year 9999"),
        "{stderr}"
    );
    assert!(stderr.contains("10 rows (1 skipped)"), "{stderr}");
    // The rows after it keep their own times: the last is nine minutes after the first.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with(&rackwatch::timefmt::format_utc(t0 + 9 * 60_000)),
        "{last}"
    );
}

/// A temperature falling toward a negative limit, in a CSV whose header rackwatch has never seen:
/// the first column is the time, the second the value; a negative threshold needs no `=`; another
/// column is taken by `--value-col`.
#[test]
fn any_csv_header_negative_thresholds_and_a_named_value_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("freezer.csv");
    let mut text = String::from("timestamp_ms,temp_c,door_open\n");
    for m in 0..600u64 {
        let t_ms = (T0_S + m * 60) * 1000;
        text.push_str(&format!("{t_ms},{},{}\n", -15.0 - 0.01 * m as f64, m % 2));
    }
    std::fs::write(&path, text).unwrap();
    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--below",
            "-25",
            "--summary-only",
        ])
        .output()
        .unwrap();
    // The summary is on standard error.
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{summary}");
    assert!(summary.contains("600 rows (0 skipped)"), "{summary}");
    assert!(summary.contains("trend -0.6000/h"), "{summary}");
    assert!(summary.contains("reaches -25 in"), "{summary}");

    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--value-col",
            "door_open",
        ])
        .args(["--above", "2", "--summary-only"])
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("600 rows (0 skipped)"), "{summary}");
    assert!(
        summary.contains("not distinguishable from noise"),
        "{summary}"
    );
}

/// Runs `analyze --above 90 --format json --summary-only` (plus `extra`) on `path`: the summary.
fn summary_of(path: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = rackwatch()
        .args([
            "analyze",
            path.to_str().unwrap(),
            "--above",
            "90",
            "--format",
            "json",
            "--summary-only",
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_flat_stretch_is_not_a_sensor_fault_unless_sensor_health_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("idle.csv");
    // A busy queue, then idle at exactly 0 for 10 hours: real, not a broken sensor.
    let mut noise = Noise(5);
    write_series(
        &path,
        (0..1200u64).map(|m| {
            let v = if m < 500 {
                40.0 + 5.0 * noise.next()
            } else {
                0.0
            };
            (T0_S + m * 60, v)
        }),
    );
    let plain = summary_of(&path, &[]);
    assert_eq!(plain["level"], "OK", "{plain}");
    assert!(
        !plain.to_string().contains("SensorFault"),
        "a flat stretch judged a fault by default: {plain}"
    );
    let checked = summary_of(&path, &["--sensor-health"]);
    assert_eq!(checked["level"], "UNKNOWN", "{checked}");
}

/// Growth that doubles every 17 hours, a row every 5 minutes for three days: the node's forecast
/// (analyze's default) says it is accelerating and answers before the straight line would; with
/// a memory of only an hour (`--memory 1h`) the fit is too short to judge a curvature.
#[test]
fn accelerating_growth_is_forecast_as_such_with_the_nodes_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("growth.csv");
    let mut text = String::from("time,value_pct\n");
    for i in 0..=(72 * 12u64) {
        let hours = i as f64 / 12.0;
        let value = 5.0 + 2.0 * (hours / 24.0).exp();
        text.push_str(&format!("{},{value}\n", T0_S + i * 300));
    }
    std::fs::write(&path, text).unwrap();
    let node = summary_of(&path, &[]);
    assert_eq!(node["accelerating"], true, "{node}");
    // 90 % is reached at 90 h, 18 h after the last row; a straight line through the fit answers later.
    let eta_h = node["eta_ms"].as_u64().unwrap() as f64 / 3_600_000.0;
    assert!((12.0..24.0).contains(&eta_h), "{node}");
    let short = summary_of(&path, &["--memory", "1h"]);
    assert_eq!(short["accelerating"], false, "{short}");
}
