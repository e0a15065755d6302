//! Loopback ports for tests that start servers of their own (a daemon, Prometheus, Alertmanager, a
//! receiver), never the programs' default ports.

use std::net::TcpListener;

/// A port free on 127.0.0.1 right now: the kernel's pick, released for the caller's server to
/// bind. Another process could take it in between; on a test machine that does not happen.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}
