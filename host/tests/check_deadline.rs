//! `rackwatch check --timeout` is a deadline for the whole request, through the real binary: a
//! server that trickles its answer a byte at a time cannot hold the plugin past it.

use std::io::Write;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn check_gives_up_on_a_trickling_server_at_its_timeout_and_says_unknown() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut client, _) = listener.accept().unwrap();
        // A byte every 500 ms for up to a minute: each read is quick, the answer never complete.
        for &b in b"HTTP/1.0 200 OK\r\n\r\n{".iter().cycle().take(120) {
            if client.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .args(["check", "--node", "1", "--timeout", "2s", "--connect", &url])
        .output()
        .unwrap();
    let took = started.elapsed();
    let line = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(3), "{line}");
    assert!(line.starts_with("RACKWATCH UNKNOWN"), "{line}");
    assert!(line.contains("no complete answer within 2.0 s"), "{line}");
    // Not a benchmark: a bound four times the timeout only tells a deadline from a per-read
    // timeout, which would wait out the whole minute of trickle.
    assert!(took < Duration::from_secs(8), "{took:?}");
    server.join().unwrap();
}
