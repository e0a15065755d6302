//! `rackwatch run`'s HTTP endpoint under hostile clients, through the real binary: a huge request
//! line, many idle connections, a client trickling one byte a second, wrong methods, and bodies
//! where none is taken. Each test runs its own daemon on its own loopback port.

use rackwatch::state::fetch;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon serving on its own port, killed when dropped (so a failed test leaves none behind).
struct Daemon {
    child: Child,
    addr: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    /// Starts `rackwatch run` with the `local` source (which keeps it running) and waits until it
    /// answers (at most 30 s: this bounds a hung test, it asserts no time).
    fn start() -> Daemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
            .env_remove("RACKWATCH_CONFIG")
            .env("XDG_CONFIG_HOME", "/nonexistent")
            .args(["run", "--no-store", "--listen", &addr, "--for", "10m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let daemon = Daemon { child, addr };
        daemon.wait_until_serving();
        daemon
    }

    fn wait_until_serving(&self) {
        let give_up = Instant::now() + Duration::from_secs(30);
        while fetch(&self.url(), Duration::from_secs(2)).is_err() {
            assert!(Instant::now() < give_up, "the daemon never answered");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://{}/state", self.addr)
    }

    fn connect(&self) -> TcpStream {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// A field of `/proc/PID/status`, in its own unit (kB for memory).
    fn status(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no {field} in the daemon's status"))
    }

    /// Sends `request` on a fresh connection and reads the answer until the server closes.
    fn exchange(&self, request: &[u8]) -> String {
        let mut stream = self.connect();
        stream.write_all(request).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// The status line's code, and the value of `header` (lower-case), of an answer.
fn parse(answer: &str) -> (u16, Option<String>) {
    let code = answer
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let header = |name: &str| {
        answer.lines().take_while(|l| !l.is_empty()).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    };
    (code, header("allow"))
}

#[test]
fn a_mebibyte_request_line_is_refused_without_growing_the_daemon() {
    let daemon = Daemon::start();
    let before = daemon.status("VmRSS");
    let mut stream = daemon.connect();
    let mut line = b"GET /".to_vec();
    line.resize(1 << 20, b'a');
    line.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    // The server may answer and close before taking it all: a failed write is part of the refusal.
    let _ = stream.write_all(&line);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    let (code, _) = parse(&answer);
    assert!(
        answer.is_empty() || code == 431 || code == 400,
        "answered {answer}"
    );
    let after = daemon.status("VmRSS");
    assert!(
        after < before + 8 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    assert!(fetch(&daemon.url(), Duration::from_secs(5)).is_ok());
}

#[test]
fn two_hundred_idle_connections_spawn_no_threads_and_never_keep_a_request_out() {
    let daemon = Daemon::start();
    let threads = daemon.status("Threads");
    let mut idle: Vec<TcpStream> = (0..200).map(|_| daemon.connect()).collect();
    // Far beyond the connection limit, a request is still answered: the connection idle the
    // longest is closed to make room for it.
    assert!(fetch(&daemon.url(), Duration::from_secs(5)).is_ok());
    let busy = daemon.status("Threads");
    assert!(
        busy <= threads + 2,
        "{threads} threads before, {busy} with 200 idle connections"
    );
    // The oldest ones were closed (end of stream, nothing sent); the newest are still open.
    let mut closed = Vec::new();
    idle[0]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert_eq!((&idle[0]).read_to_end(&mut closed).unwrap(), 0);
    idle[199]
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let still_open = (&idle[199]).read(&mut [0u8; 16]);
    assert!(
        still_open.is_err(),
        "the newest idle connection was closed: {still_open:?}"
    );
    // A connection with a request in flight is never the one closed: the newest idle one still
    // gets its answer.
    idle[199]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle[199]
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = [0u8; 12];
    idle[199].read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
}

#[test]
fn a_client_sending_a_byte_a_second_is_disconnected() {
    let daemon = Daemon::start();
    let mut stream = daemon.connect();
    stream
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let mut request = b"GET /state HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
    request.resize(100, b'a');
    let mut disconnected = false;
    // At most 100 s: generous against the head timeout, a bound on the test and no assertion of it.
    for byte in &request {
        if stream.write_all(&[*byte]).is_err() {
            disconnected = true;
            break;
        }
        let mut buf = [0u8; 512];
        match stream.read(&mut buf) {
            Ok(_) => {
                disconnected = true;
                break;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => {
                disconnected = true;
                break;
            }
        }
    }
    assert!(disconnected, "a trickling client kept its connection");
}

#[test]
fn wrong_methods_get_405_unknown_paths_404_and_head_works_where_get_does() {
    let daemon = Daemon::start();
    for method in ["POST", "DELETE", "FOO", "PUT"] {
        let answer = daemon.exchange(
            format!("{method} /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let (code, allow) = parse(&answer);
        assert_eq!(code, 405, "{method}: {answer}");
        let allow = allow.unwrap_or_default();
        assert!(allow.contains("GET") && allow.contains("HEAD"), "{answer}");
    }
    let answer = daemon.exchange(b"GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(parse(&answer).0, 404, "{answer}");
    assert!(
        answer.contains("/state") && answer.contains("/healthz"),
        "{answer}"
    );

    let answer = daemon.exchange(b"HEAD /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(parse(&answer).0, 200, "{answer}");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    assert!(body.is_empty(), "HEAD sent a body: {answer}");
    let answer = daemon.exchange(b"GET /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(parse(&answer).0, 200, "{answer}");
    assert!(answer.contains("application/json"), "{answer}");
}

#[test]
fn a_body_beyond_the_route_limit_gets_413() {
    let daemon = Daemon::start();
    let answer = daemon.exchange(
        b"GET /state HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1000000\r\n\r\n",
    );
    assert_eq!(parse(&answer).0, 413, "{answer}");
    assert!(fetch(&daemon.url(), Duration::from_secs(5)).is_ok());
}

#[test]
fn many_requests_on_one_kept_alive_connection_are_all_answered() {
    let daemon = Daemon::start();
    let mut stream = daemon.connect();
    for _ in 0..20 {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // One answer: read until its body (`ok`), whatever the segments.
        let mut answer = Vec::new();
        while !answer.ends_with(b"\r\n\r\nok\n") {
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).unwrap();
            assert!(n > 0, "closed after {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(parse(&answer).0, 200, "{answer}");
    }
}
