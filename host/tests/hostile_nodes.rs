//! A line that names ever new node ids (corruption that passes the CRC, or a hostile sender) cannot
//! grow the daemon's node table past `ingest.max_nodes`, through the real binary.

use rackwatch_core::wire::{Body, Frame, Header, Heartbeat, ResetReason, MAX_ENCODED_LEN};
use std::process::Command;

#[test]
fn nodes_beyond_max_nodes_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("many-nodes.bin");
    let mut bytes = Vec::new();
    for node_id in 1..=2_000u16 {
        let frame = Frame {
            header: Header {
                node_id,
                boot_id: 0xB007,
                seq: 0,
            },
            body: Body::Heartbeat(Heartbeat {
                uptime_ms: 1_000,
                reset: ResetReason::PowerOn,
                frames_sent: 1,
                frames_dropped: 0,
                readings_dropped: 0,
                sensor_errors: 0,
            }),
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        bytes.extend_from_slice(&out[..n]);
    }
    std::fs::write(&raw, bytes).unwrap();
    let config = dir.path().join("rackwatch.toml");
    std::fs::write(&config, "[ingest]\nmax_nodes = 16\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(["run", "--no-local", "--no-store", "--listen", "none", "-c"])
        .arg(&config)
        .arg(format!("raw:{}", raw.display()))
        .env_remove("RACKWATCH_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2000 frames"), "{stderr}");
    assert!(stderr.contains("from 16 nodes"), "{stderr}");
    // The first refused node ids are logged, naming the setting to raise; then the log stops
    // rather than flood.
    let warnings = stderr.matches("already tracking ingest.max_nodes").count();
    assert_eq!(warnings, 10, "{stderr}");
    assert!(stderr.contains("further refused nodes are counted in /state"));
}
