//! Tests of the sources: spec parsing, reading, reconnection.
use super::*;

#[test]
fn specs_parse_with_defaults_and_explain_mistakes() {
    let s: SourceSpec = "serial:/dev/ttyACM0@9600,7E2".parse().unwrap();
    assert_eq!(s.name, "ttyACM0");
    assert_eq!(
        s.kind,
        SourceKind::Serial(SerialSettings {
            path: "/dev/ttyACM0".into(),
            baud: 9600,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: 2
        })
    );
    let s: SourceSpec = "/dev/pts/3".parse().unwrap();
    assert!(matches!(
        s.kind,
        SourceKind::Serial(SerialSettings { baud: 115_200, .. })
    ));
    assert_eq!(
        "tcp:10.0.0.5:4000".parse::<SourceSpec>().unwrap().kind,
        SourceKind::Tcp("10.0.0.5:4000".into())
    );
    assert_eq!("-".parse::<SourceSpec>().unwrap().kind, SourceKind::Stdin);
    assert!(matches!(
        "x.rwcap".parse::<SourceSpec>().unwrap().kind,
        SourceKind::Capture(_)
    ));
    for (bad, says) in [
        ("serial:/dev/x@fast", "baud rate `fast`"),
        ("serial:/dev/x@9600,9N1", "data bits"),
        ("tcp:localhost", "tcp:HOST:PORT"),
        ("ftp:x", "unknown source"),
    ] {
        let e = bad.parse::<SourceSpec>().unwrap_err().to_string();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

fn messages(spec: &str) -> Vec<String> {
    let (tx, rx) = std::sync::mpsc::sync_channel(16);
    let stop = Arc::new(AtomicBool::new(false));
    let spec: SourceSpec = spec.parse().unwrap();
    spawn(3, spec, tx, stop, Backoff::default())
        .unwrap()
        .join()
        .unwrap();
    rx.try_iter()
        .map(|msg| match msg {
            SourceMsg::Connected { source } => format!("connected {source}"),
            SourceMsg::Bytes { source, bytes, .. } => format!("{source}: {bytes:?}"),
            SourceMsg::Disconnected { source, reason } => format!("{source} gone: {reason}"),
            SourceMsg::Failed { source, reason } => format!("{source} failed: {reason}"),
            SourceMsg::Finished { source } => format!("finished {source}"),
            SourceMsg::NodeEvent { source, kind, .. } => format!("{source} event: {kind}"),
        })
        .collect()
}

#[test]
fn finite_sources_deliver_their_bytes_then_finish_even_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("line.bin");
    std::fs::write(&path, [1, 2, 0, 3]).unwrap();
    assert_eq!(
        messages(&format!("raw:{}", path.display())),
        ["connected 3", "3: [1, 2, 0, 3]", "finished 3"]
    );
    let missing = dir.path().join("missing");
    for kind in ["raw", "capture"] {
        let got = messages(&format!("{kind}:{}", missing.display()));
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(
            got[0].starts_with("3 failed: ") && got[0].contains("missing"),
            "an open failure says which file: {got:?}"
        );
        assert_eq!(got[1], "finished 3");
    }
    // Not a capture: the failure says so and how to read it instead.
    let got = messages(&format!("capture:{}", path.display()));
    assert!(
        got[0].contains("not a rackwatch capture") && got[0].contains("raw:"),
        "{got:?}"
    );
    assert_eq!(got.last().map(String::as_str), Some("finished 3"));
    // A directory opens but cannot be read: a read failure, not an empty file.
    let got = messages(&format!("raw:{}", dir.path().display()));
    assert!(
        got.iter()
            .any(|m| m.starts_with("3 failed: ") && m.contains("directory")),
        "{got:?}"
    );
}

#[test]
fn the_backoff_never_waits_long_enough_to_miss_a_replug_by_two_seconds() {
    let backoff = Backoff::default();
    let mut rng = XorShift64Star::new(7);
    let mut delay = backoff.initial;
    let mut longest = Duration::ZERO;
    let mut shortest_at_cap = Duration::MAX;
    for _ in 0..1_000 {
        let waited = backoff.jittered(delay, &mut rng);
        longest = longest.max(waited);
        if delay == backoff.max {
            shortest_at_cap = shortest_at_cap.min(waited);
        }
        delay = backoff.next(delay);
    }
    assert_eq!(delay, backoff.max, "the delay grows to the cap and stays");
    assert!(longest < Duration::from_secs(2), "{longest:?}");
    // The jitter spreads retries: at the cap, some waits are well under it.
    assert!(
        shortest_at_cap < backoff.max.mul_f64(0.8),
        "{shortest_at_cap:?}"
    );
}
