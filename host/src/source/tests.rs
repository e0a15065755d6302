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
            SourceMsg::Finished { source } => format!("finished {source}"),
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
    assert_eq!(
        messages(&format!("raw:{}", missing.display())),
        ["finished 3"]
    );
    assert_eq!(
        messages(&format!("capture:{}", missing.display())),
        ["finished 3"]
    );
}
