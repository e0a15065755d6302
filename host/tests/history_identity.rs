//! History that neither loses nor duplicates rows, through the real `rackwatch run`: NaN and
//! infinite readings, hundreds of gaps in one millisecond, a raw file ingested twice, a capture
//! replayed into one run. Each test prints what it injected and what was stored (`--nocapture`).

use rackwatch::capture::CaptureWriter;
use rackwatch::store::{Query, Store};
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
};
use std::path::Path;
use std::process::Command;

const T0: u64 = 1_800_000_000_000;

fn rackwatch() -> Command {
    // No configuration file: the built-in defaults (the tests name every source).
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env(
            "RACKWATCH_DATA_DIR",
            std::env::temp_dir().join("rackwatch-test-data"),
        );
    c
}

/// Runs `rackwatch run SOURCE --db DB` to the source's end; returns its standard error.
fn run(source: &str, db: &Path) -> String {
    let out = rackwatch()
        .args(["run", source, "--no-local", "--listen", "none", "--db"])
        .arg(db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    stderr
}

/// `N lost` from the run's summary line for node `id`.
fn lost(stderr: &str, id: u16) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("node {id}:")))
        .unwrap_or_else(|| panic!("no summary for node {id}: {stderr}"));
    let before = line.split(" lost").next().unwrap();
    before.rsplit(' ').next().unwrap().parse().unwrap()
}

/// Node events of kind `kind` in `db`.
fn node_events(db: &Path, kind: &str) -> usize {
    Store::open_read_only(db)
        .unwrap()
        .node_events(&Query::default())
        .unwrap()
        .iter()
        .filter(|e| e.kind.name() == kind)
        .count()
}

/// A node whose frames carry any sequence number the test sets.
struct Node {
    id: u16,
    seq: u16,
}

impl Node {
    fn frame(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: 0x5EED,
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn hello(&mut self) -> Vec<u8> {
        let mut bytes = self.frame(Body::Hello(Hello::new("test".try_into().unwrap())));
        let spec = MetricSpec::new(
            0,
            "inlet_temperature",
            "degC",
            Rule::above(30.0, 35.0),
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        bytes.extend(self.frame(Body::Metric(spec)));
        bytes
    }

    fn readings(&mut self, t_ms: u64, values: &[f32]) -> Vec<u8> {
        let mut r = Readings::new();
        for (i, &v) in values.iter().enumerate() {
            r.push(0, t_ms + i as u64 * 1000, v).unwrap();
        }
        self.frame(Body::Readings(r))
    }

    fn heartbeat(&mut self, uptime_ms: u64) -> Vec<u8> {
        self.frame(Body::Heartbeat(Heartbeat {
            uptime_ms,
            reset: ResetReason::PowerOn,
            frames_sent: u32::from(self.seq),
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        }))
    }
}

fn capture(path: &Path, chunks: &[(u64, Vec<u8>)]) {
    let mut w = CaptureWriter::create(path, "node").unwrap();
    for (t, bytes) in chunks {
        w.record(*t, bytes).unwrap();
    }
    w.flush().unwrap();
}

#[test]
fn nan_and_infinite_readings_are_stored_and_shown_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node { id: 6, seq: 0 };
    let mut chunks = vec![(T0, node.hello())];
    // 2000 readings, 1900 of them NaN; the others of every other class of f32: infinite,
    // negative zero, subnormal, the extremes of the normals, plain, and NaNs with payloads.
    let odd = [
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        21.5,
        f32::from_bits(1),
        f32::from_bits(0x807f_ffff),
        f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(0x7fc0_1234),
        f32::from_bits(0xffc0_0001),
    ];
    let values: Vec<f32> = (0..2000)
        .map(|i| {
            if i % 20 < 19 {
                f32::NAN
            } else {
                odd[i / 20 % odd.len()]
            }
        })
        .collect();
    for (k, five) in values.chunks(5).enumerate() {
        let t_ms = k as u64 * 5000;
        chunks.push((T0 + t_ms + 5000, node.readings(t_ms, five)));
    }
    let cap = dir.path().join("nan.rwcap");
    capture(&cap, &chunks);
    let db = dir.path().join("history.db");
    run(&format!("capture:{}", cap.display()), &db);

    let rows = Store::open_read_only(&db)
        .unwrap()
        .readings(&Query::default())
        .unwrap();
    eprintln!(
        "NaN readings: {} injected, {} stored",
        values.len(),
        rows.len()
    );
    assert_eq!(rows.len(), values.len());
    for (row, sent) in rows.iter().zip(&values) {
        assert_eq!((row.value as f32).to_bits(), sent.to_bits(), "{}", row.t_ms);
    }

    let history = |format: &str| {
        let out = rackwatch()
            .args([
                "history",
                "--format",
                format,
                "--until",
                "2100-01-01T00:00:00Z",
                "--db",
            ])
            .arg(&db)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let csv = history("csv");
    for shown in [",NaN,", ",inf,", ",-inf,", ",-0,", ",21.5,"] {
        assert!(csv.contains(shown), "{shown} missing from {csv}");
    }
    let json = history("json");
    assert!(!json.contains("null"), "{json}");
    for shown in [r#""value":"NaN""#, r#""value":"inf""#, r#""value":"-inf""#] {
        assert!(json.contains(shown), "{shown} missing from the JSON");
    }
    // Read back from the text, every value is the one sent, to the bit; a NaN is printed as
    // `NaN` (its payload is not printed, in CSV or JSON).
    let same = |shown: f32, sent: f32| {
        if sent.is_nan() {
            shown.is_nan()
        } else {
            shown.to_bits() == sent.to_bits()
        }
    };
    let from_csv: Vec<f32> = csv
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    let from_json: Vec<f32> = json
        .lines()
        .map(|line| {
            let row: serde_json::Value = serde_json::from_str(line).unwrap();
            match &row["value"] {
                serde_json::Value::String(word) => word.parse().unwrap(),
                number => number.as_f64().unwrap() as f32,
            }
        })
        .collect();
    for shown in [&from_csv, &from_json] {
        assert_eq!(shown.len(), values.len());
        for (i, (&shown, &sent)) in shown.iter().zip(&values).enumerate() {
            assert!(
                same(shown, sent),
                "reading {i}: {sent:e} printed as {shown:e}"
            );
        }
    }
}

#[test]
fn gaps_in_one_millisecond_are_one_row_each() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node { id: 7, seq: 0 };
    let mut bytes = node.hello();
    // Every other frame lost: 507 gaps of one frame, all arriving in the same millisecond.
    for i in 0..508u64 {
        bytes.extend(node.heartbeat(i * 1000));
        node.seq = node.seq.wrapping_add(1);
    }
    let cap = dir.path().join("gaps.rwcap");
    capture(&cap, &[(T0, bytes)]);
    let db = dir.path().join("history.db");
    let stderr = run(&format!("capture:{}", cap.display()), &db);
    let gaps = node_events(&db, "gap");
    eprintln!(
        "gaps in one ms: 507 injected, {gaps} rows, lost counter {}",
        lost(&stderr, 7)
    );
    assert_eq!(gaps, 507);
    assert_eq!(lost(&stderr, 7), 507);
    // And the same capture again changes nothing.
    let first = Store::open_read_only(&db).unwrap().dump().unwrap();
    run(&format!("capture:{}", cap.display()), &db);
    assert_eq!(Store::open_read_only(&db).unwrap().dump().unwrap(), first);
}

#[test]
fn a_raw_file_ingested_twice_adds_nothing_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node { id: 8, seq: 0 };
    let mut bytes = node.hello();
    for i in 0..40u64 {
        bytes.extend(node.readings(i * 5000, &[20.0, 20.5, 21.0, 21.5, 22.0]));
        if i % 10 == 9 {
            // A frame lost, and a garbled one on the line.
            node.seq = node.seq.wrapping_add(1);
            bytes.extend([0x55, 0x13, 0x02, 0x00]);
        }
    }
    let raw = dir.path().join("line.raw");
    std::fs::write(&raw, &bytes).unwrap();
    let db = dir.path().join("history.db");
    run(&format!("raw:{}", raw.display()), &db);
    let first = Store::open_read_only(&db).unwrap().counts().unwrap();
    let first_dump = Store::open_read_only(&db).unwrap().dump().unwrap();
    // The wall clock moves between the two runs: a raw file has no times of its own.
    std::thread::sleep(std::time::Duration::from_millis(20));
    run(&format!("raw:{}", raw.display()), &db);
    let second = Store::open_read_only(&db).unwrap().counts().unwrap();
    eprintln!(
        "raw twice: 3 gaps and 4 decode errors injected; node events {} then {}, decode errors {} then {}",
        first.node_events, second.node_events, first.decode_errors, second.decode_errors
    );
    assert_eq!((first.decode_errors, node_events(&db, "gap")), (4, 3));
    assert_eq!(second, first);
    assert_eq!(
        Store::open_read_only(&db).unwrap().dump().unwrap(),
        first_dump
    );
}

#[test]
fn a_replayed_sequence_is_counted_as_restarts_not_lost_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node { id: 9, seq: 1 };
    let mut chunks = vec![(T0, node.hello())];
    // The same 2000 frames three times over, as a capture replayed into a running daemon.
    for pass in 0..3u64 {
        node.seq = 3;
        let mut bytes = Vec::new();
        for i in 3..=2000u64 {
            bytes.extend(node.heartbeat(i * 1000));
        }
        chunks.push((T0 + 1000 + pass, bytes));
    }
    let cap = dir.path().join("replay.rwcap");
    capture(&cap, &chunks);
    let db = dir.path().join("history.db");
    let stderr = run(&format!("capture:{}", cap.display()), &db);
    let (lost, restarts) = (lost(&stderr, 9), node_events(&db, "seq_restart"));
    eprintln!(
        "replay 1..2000 x3: 0 lost injected, lost counter {lost}, {restarts} restart rows, {} gap rows, {} heartbeats stored",
        node_events(&db, "gap"),
        Store::open_read_only(&db).unwrap().counts().unwrap().heartbeats
    );
    assert_eq!(lost, 0);
    assert_eq!(restarts, 2);
    assert_eq!(node_events(&db, "gap"), 0);
    // Uptimes 3 s to 2000 s, counters unchanged: the first, one per 5 minutes of uptime
    // (303 s, 603 s, ... 1803 s) and the newest are stored, the same however often replayed.
    assert_eq!(
        Store::open_read_only(&db)
            .unwrap()
            .counts()
            .unwrap()
            .heartbeats,
        8
    );
}
