//! Probes through the real binary and a running daemon: TCP and HTTP probes against a server the
//! test starts measure latency (in `/state` and `/metrics`) and go CRITICAL when it stops, with the
//! reason in `rackwatch alerts`; an HTTP probe whose body lacks its text fails saying so; a command
//! probe's number reaches history; an HTTPS probe against a server with a certificate from a
//! private CA succeeds with that CA configured (or `insecure`) and fails, naming the certificate,
//! without. Every server listens on a free loopback port (`rackwatch_tests::net::free_port`).

mod daemon_support;

use daemon_support::{metric, node, Daemon};
use rackwatch::state::Snapshot;
use rackwatch_tests::net::free_port;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A daemon with history, no local source, and `probes` as its configuration's `[[probe]]` tables.
fn start(probes: &str) -> Daemon {
    Daemon::start(
        &format!("[local]\nenabled = false\n\n[http]\nlisten = \"127.0.0.1:PORT\"\n\n{probes}"),
        &[],
    )
}

/// The level `name`'s `success` is at, once it has a value.
fn success_level(snapshot: &Snapshot, name: &str) -> Option<String> {
    metric(snapshot, name, "success").map(|m| m.level.to_string())
}

/// A TLS server configuration from the committed test certificates.
fn tls_config() -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let data = data_dir();
    let certs = CertificateDer::pem_file_iter(data.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(data.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/probe-tls")
}

/// An HTTP (or, with a TLS configuration, HTTPS) server answering every request `200` with
/// `body`, on its own thread; it stops listening when dropped.
struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(body: &'static str, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
        let port = free_port();
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopping.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => serve(stream, body, tls.as_ref()),
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Server {
            port,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops listening: connections are refused from now on.
    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One exchange: the request head read, the answer written; a client that hangs up early (a TCP
/// probe, a TLS client refusing the certificate) is not an error.
fn serve(stream: TcpStream, body: &str, tls: Option<&Arc<rustls::ServerConfig>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: \
         close\r\n\r\n{body}",
        body.len()
    );
    match tls {
        None => exchange(stream, &answer),
        Some(config) => {
            let Ok(conn) = rustls::ServerConnection::new(Arc::clone(config)) else {
                return;
            };
            let mut tls = rustls::StreamOwned::new(conn, stream);
            if read_head(&mut tls) {
                let _ = tls.write_all(answer.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    }
}

fn exchange(mut stream: TcpStream, answer: &str) {
    if read_head(&mut stream) {
        let _ = stream.write_all(answer.as_bytes());
    }
}

/// Reads until the end of a request head; false when the client left first.
fn read_head(stream: &mut impl Read) -> bool {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return false,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        if head.len() > 64 * 1024 {
            return false;
        }
    }
    true
}

/// A `[[probe]]` table, a round every 500 ms.
fn probe(name: &str, what: &str) -> String {
    format!("[[probe]]\nname = \"{name}\"\n{what}\ninterval = \"500ms\"\ntimeout = \"500ms\"\n\n")
}

#[test]
fn tcp_http_and_command_probes_measure_and_go_critical_with_their_reason() {
    let mut server = Server::start("status: ok\n", None);
    let port = server.port;
    let probes = [
        probe("tcp", &format!("tcp = \"127.0.0.1:{port}\"")),
        probe(
            "web",
            &format!("http = \"http://127.0.0.1:{port}/health\"\nbody_contains = \"ok\""),
        ),
        probe(
            "ready",
            &format!("http = \"http://127.0.0.1:{port}/health\"\nbody_contains = \"ready\""),
        ),
        probe(
            "queue",
            "command = [\"sh\", \"-c\", \"echo 42\"]\nunit = \"jobs\"",
        ),
    ]
    .concat();
    let daemon = start(&probes);

    // Latency measured, in seconds, and the probes OK.
    let (tcp, web, queue) = daemon.wait_for("both probes' latency and the value", |s| {
        let ok = |name: &str| success_level(s, name).filter(|l| l == "OK");
        ok("tcp")?;
        ok("web")?;
        let latency = |name: &str| metric(s, name, "latency").map(|m| (m.value, m.unit.clone()));
        let (tcp_latency, unit) = latency("tcp")?;
        let (web_latency, _) = latency("web")?;
        assert_eq!(unit, "s");
        assert!(tcp_latency.unwrap() > 0.0 && web_latency.unwrap() > 0.0);
        metric(s, "queue", "value")?;
        Some((node(s, "tcp")?.id, node(s, "web")?.id, node(s, "queue")?.id))
    });
    for id in [tcp, web, queue] {
        assert!((0xF000..=0xFEFF).contains(&id), "a virtual node id: {id}");
    }
    let metrics = daemon.get("/metrics");
    for needle in [
        format!("node=\"{tcp}\",metric=\"latency\""),
        format!("node=\"{web}\",metric=\"latency\""),
        format!("node=\"{web}\",metric=\"success\""),
    ] {
        assert!(metrics.contains(&needle), "{needle} not in /metrics");
    }
    daemon.wait_output(
        &["history", "--node", &queue.to_string(), "--format", "csv"],
        &["value,42"],
    );

    // The body without `ready` fails, and `alerts` says why.
    daemon.wait_for("`ready` CRITICAL", |s| {
        success_level(s, "ready").filter(|l| l == "CRITICAL")
    });
    daemon.wait_output(&["alerts"], &["does not contain \"ready\""]);
    let ready = daemon.wait_for("`ready`'s reason in /state", |s| {
        let id = node(s, "ready")?.id;
        s.probe_failures.iter().find(|f| f.node == id).cloned()
    });
    assert!(
        ready.reason.contains("does not contain \"ready\""),
        "{ready:?}"
    );

    // The server stops: both probes fail and turn CRITICAL, the reason in `alerts`.
    server.stop();
    daemon.wait_for("tcp and web CRITICAL", |s| {
        let critical = |name: &str| success_level(s, name).filter(|l| l == "CRITICAL");
        Some((critical("tcp")?, critical("web")?))
    });
    let connect = format!("cannot connect to 127.0.0.1:{port}");
    let alerts = daemon.wait_output(&["alerts"], &[connect.as_str()]);
    let web_row = alerts
        .lines()
        .find(|l| l.contains(&format!("http://127.0.0.1:{port}/health: ")))
        .unwrap_or_else(|| panic!("no row naming the web probe's failure:\n{alerts}"));
    assert!(web_row.contains("CRITICAL"), "{web_row}");
    daemon.wait_output(&["alerts", "--events"], &["probe_failed"]);
    // Only the failing probes are listed: the command probe is not.
    let failing = daemon.snapshot().probe_failures;
    assert!(failing.iter().all(|f| f.node != queue), "{failing:?}");
    assert!(failing.iter().any(|f| f.node == tcp), "{failing:?}");
}

#[test]
fn an_https_probe_trusts_its_ca_file_and_names_an_untrusted_certificate() {
    let server = Server::start("ok\n", Some(tls_config()));
    let url = format!("https://127.0.0.1:{}/", server.port);
    let ca = data_dir().join("ca.pem");
    let probes = [
        probe(
            "with-ca",
            &format!("http = \"{url}\"\nca_file = \"{}\"", ca.display()),
        ),
        probe("insecure", &format!("http = \"{url}\"\ninsecure = true")),
        probe("no-ca", &format!("http = \"{url}\"")),
    ]
    .concat();
    let daemon = start(&probes);
    daemon.wait_for("the trusted probes OK, the other CRITICAL", |s| {
        let trusted = |name: &str| {
            success_level(s, name).filter(|l| l == "OK")?;
            metric(s, name, "latency")?.value.filter(|v| *v > 0.0)
        };
        trusted("with-ca")?;
        trusted("insecure")?;
        success_level(s, "no-ca").filter(|l| l == "CRITICAL")
    });
    let alerts = daemon.wait_output(&["alerts"], &["certificate is not trusted"]);
    assert!(alerts.contains("ca_file"), "{alerts}");
}
