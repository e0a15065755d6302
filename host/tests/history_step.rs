//! `rackwatch history --step` through the real binary: readings a node sent (NaN and infinities
//! among them) downsampled into buckets, in every output format, on history written by
//! `rackwatch run` from a capture.

use rackwatch::capture::CaptureWriter;
use rackwatch::timefmt::format_utc;
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Body, Frame, Header, Hello, Readings, MAX_ENCODED_LEN};
use std::path::Path;
use std::process::Command;

/// A whole minute, so 10-s buckets start at it.
const T0: u64 = 1_800_000_000_000;

fn rackwatch(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(args)
        .env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn frame(seq: &mut u16, body: Body) -> Vec<u8> {
    let frame = Frame {
        header: Header {
            node_id: 3,
            boot_id: 0x5EED,
            seq: *seq,
        },
        body,
    };
    *seq += 1;
    let mut out = [0u8; MAX_ENCODED_LEN];
    let n = frame.encode(&mut out).unwrap();
    out[..n].to_vec()
}

/// Reading `i` is the value `i` at node time `i` s, except a few NaN and infinite ones.
fn value(i: u64) -> f32 {
    match i {
        3 | 28 => f32::NAN,
        12 => f32::INFINITY,
        13 => f32::NEG_INFINITY,
        _ => i as f32,
    }
}

/// History of one node's 30 readings, one a second, stored at wall times `T0 + 1 s + i s`.
fn history(dir: &Path) -> String {
    let mut seq = 0;
    let mut hello = frame(
        &mut seq,
        Body::Hello(Hello::new("test".try_into().unwrap())),
    );
    let spec = MetricSpec::new(
        0,
        "inlet_temperature",
        "degC",
        Rule::above(1000.0, 2000.0),
        AnomalyConfig::DEFAULT,
    )
    .unwrap();
    hello.extend(frame(&mut seq, Body::Metric(spec)));
    let cap = dir.join("node.rwcap");
    let mut w = CaptureWriter::create(&cap, "node").unwrap();
    w.record(T0, &hello).unwrap();
    for first in (0..30u64).step_by(5) {
        let mut r = Readings::new();
        for i in first..first + 5 {
            r.push(0, i * 1000, value(i)).unwrap();
        }
        // Arrives as its newest reading is taken: node time 0 is wall time T0 + 1 s.
        w.record(
            T0 + 1000 + (first + 4) * 1000,
            &frame(&mut seq, Body::Readings(r)),
        )
        .unwrap();
    }
    w.flush().unwrap();
    let db = dir.join("h.db");
    let run = rackwatch(&[
        "run",
        &format!("capture:{}", cap.display()),
        "--no-local",
        "--listen",
        "none",
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    db.to_str().unwrap().to_string()
}

fn stepped(db: &str, step: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "history",
        "--db",
        db,
        "--until",
        "2100-01-01T00:00:00Z",
        "--step",
        step,
    ];
    args.extend_from_slice(extra);
    let out = rackwatch(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn step_downsamples_into_min_max_mean_last_count_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let db = history(dir.path());
    let at = |s: u64| format_utc(T0 + s * 1000);

    // Readings 0..=8 (3 is NaN), 9..=18 (12 and 13 infinite), 19..=28 (28 NaN), 29.
    let csv = stepped(&db, "10s", &["--format", "csv"]);
    let expected = format!(
        "time,node,metric,min,max,mean,last,count,unit\n\
         {},3,inlet_temperature,0,8,4.125,8,9,degC\n\
         {},3,inlet_temperature,-inf,inf,NaN,18,10,degC\n\
         {},3,inlet_temperature,19,27,23,NaN,10,degC\n\
         {},3,inlet_temperature,29,29,29,29,1,degC\n",
        at(0),
        at(10),
        at(20),
        at(30)
    );
    assert_eq!(csv, expected);

    let json = stepped(&db, "10s", &["--format", "json"]);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[1],
        serde_json::json!({
            "node": 3, "name": "inlet_temperature", "unit": "degC",
            "wall_ms": T0 + 10_000, "step_ms": 10_000,
            "min": "-inf", "max": "inf", "mean": "NaN", "last": 18.0, "count": 10
        })
    );
    assert_eq!(rows[2]["last"], "NaN");
    assert_eq!(rows[0]["mean"], 4.125);
    assert!(!json.contains("null"), "{json}");

    let table = stepped(&db, "10s", &[]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 5, "{table}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        ["time", "node", "metric", "min", "max", "mean", "last", "count", "unit"]
    );
    let second: Vec<&str> = lines[2].split_whitespace().collect();
    assert_eq!(
        second[1..],
        [
            "3",
            "inlet_temperature",
            "-inf",
            "inf",
            "NaN",
            "18",
            "10",
            "degC"
        ]
    );

    // The limit keeps the newest buckets; a bucket's every reading is counted once.
    let newest = stepped(&db, "10s", &["--format", "csv", "--limit", "2"]);
    let tail: Vec<&str> = expected.lines().skip(3).collect();
    assert_eq!(newest.lines().skip(1).collect::<Vec<_>>(), tail);
    let wide = stepped(&db, "1h", &["--format", "csv"]);
    assert!(wide.ends_with(",-inf,inf,NaN,29,30,degC\n"), "{wide}");
}

#[test]
fn a_step_shorter_than_a_millisecond_or_with_jobs_is_refused() {
    for (args, said) in [
        (
            vec!["history", "--step", "0s"],
            "shorter than a millisecond",
        ),
        (vec!["history", "--step", "ten"], "--step"),
        (vec!["history", "--step", "1m", "--jobs"], "--jobs"),
    ] {
        let out = rackwatch(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(said), "{args:?}: {stderr}");
    }
}
