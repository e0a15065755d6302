//! One run of a probe's check: a TCP connect, an HTTP(S) GET, or a command whose standard output
//! is a number. Each returns an [`Outcome`]: how long it took and, when it failed, why in words.
//!
//! Invariants:
//! - Every check ends by its deadline or soon after: the TCP connect and the HTTP exchange carry
//!   the timeout themselves; a command is killed (its whole process group) at the deadline. The
//!   caller runs the check on a worker thread of its own and stops waiting at the deadline
//!   anyway ([`super::Runner`]), so even a name lookup that hangs cannot hold a probe up.
//! - What is read from a target is bounded: [`MAX_BODY`] bytes of an HTTP body, [`MAX_OUTPUT`]
//!   bytes of a command's output.
//! - A failure reason is one line of words that says what was expected and what came, never
//!   Debug text.

use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The most of an HTTP body searched for `body_contains`, in bytes.
pub const MAX_BODY: u64 = 1 << 20;
/// The most of a command's standard output or error kept, in bytes.
pub const MAX_OUTPUT: u64 = 4096;
/// The longest failure reason kept, in characters.
const MAX_REASON: usize = 300;

/// Which HTTP status counts as success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectStatus {
    /// Any 2xx.
    Success,
    /// Exactly this one.
    Exactly(u16),
}

impl ExpectStatus {
    fn accepts(self, status: u16) -> bool {
        match self {
            ExpectStatus::Success => (200..300).contains(&status),
            ExpectStatus::Exactly(code) => status == code,
        }
    }
}

impl std::fmt::Display for ExpectStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExpectStatus::Success => f.write_str("2xx"),
            ExpectStatus::Exactly(code) => write!(f, "{code}"),
        }
    }
}

/// An HTTP(S) GET and what its answer must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheck {
    /// `http://…` or `https://…`.
    pub url: String,
    /// The status that counts as success.
    pub status: ExpectStatus,
    /// Text the body must contain.
    pub body_contains: Option<String>,
    /// PEM file of the certificate authorities trusted for this URL, instead of the built-in ones.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (self-signed, expired, another name): the exchange is still
    /// encrypted, but the server is not authenticated.
    pub insecure: bool,
}

/// What a probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A TCP connect to `host:port`.
    Tcp(String),
    /// An HTTP(S) GET.
    Http(HttpCheck),
    /// A command (no shell unless named) whose standard output is a number.
    Command(Vec<String>),
}

/// How one run went.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// From the start of the check to its answer, in seconds.
    pub latency_s: f32,
    /// A command's number.
    pub value: Option<f32>,
    /// Why it failed; `None`: it succeeded.
    pub failure: Option<String>,
}

impl Outcome {
    fn since(started: Instant, failure: Option<String>) -> Outcome {
        Outcome {
            latency_s: started.elapsed().as_secs_f32(),
            value: None,
            failure: failure.map(|reason| one_line(&reason)),
        }
    }
}

/// `text` on one line, control characters escaped, at most [`MAX_REASON`] characters.
fn one_line(text: &str) -> String {
    let flat: String = text
        .trim()
        .chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect();
    match flat.char_indices().nth(MAX_REASON) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// A check made ready to run: the HTTP client built once (its trusted roots read then).
#[derive(Clone)]
pub enum Ready {
    /// A TCP connect.
    Tcp(String),
    /// An HTTP(S) GET with its client.
    Http(HttpCheck, ureq::Agent),
    /// A command.
    Command(Vec<String>),
}

impl Ready {
    /// `check` ready to run with `timeout`; an unreadable or empty `ca_file` is an error naming it.
    pub fn new(check: &Check, timeout: Duration) -> Result<Ready, String> {
        Ok(match check {
            Check::Tcp(address) => Ready::Tcp(address.clone()),
            Check::Http(http) => Ready::Http(http.clone(), agent(http, timeout)?),
            Check::Command(argv) => Ready::Command(argv.clone()),
        })
    }

    /// Runs the check once, ending by `timeout`.
    pub fn run(&self, timeout: Duration) -> Outcome {
        match self {
            Ready::Tcp(address) => tcp(address, timeout),
            Ready::Http(http, agent) => get(http, agent),
            Ready::Command(argv) => command(argv, timeout),
        }
    }
}

/// Connects to `address` and closes at once.
fn tcp(address: &str, timeout: Duration) -> Outcome {
    let started = Instant::now();
    let addrs: Vec<_> = match address.to_socket_addrs() {
        Ok(addrs) => addrs.collect(),
        Err(e) => return Outcome::since(started, Some(format!("cannot resolve {address}: {e}"))),
    };
    let mut last = format!("{address} resolves to no address");
    for addr in addrs {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            last = format!("no connection to {address} within {}", secs(timeout));
            break;
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(_) => return Outcome::since(started, None),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("no connection to {addr} within {}", secs(timeout));
            }
            Err(e) => last = format!("cannot connect to {addr}: {e}"),
        }
    }
    Outcome::since(started, Some(last))
}

/// `2.5 s`.
fn secs(d: Duration) -> String {
    crate::config::format_duration(d)
}

/// The HTTP client of `http`: its timeout, every status handed back as an answer, and the roots
/// it trusts.
fn agent(http: &HttpCheck, timeout: Duration) -> Result<ureq::Agent, String> {
    use ureq::tls::{RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder().disable_verification(http.insecure);
    if let Some(path) = &http.ca_file {
        tls = tls.root_certs(RootCerts::new_with_certs(&read_ca_file(path)?));
    }
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        // A probe asks the service itself: `http_proxy` and the like in the daemon's environment
        // would make it measure the proxy.
        .proxy(None)
        .user_agent(concat!("rackwatch-probe/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls.build())
        .build();
    Ok(config.into())
}

/// The certificates of a PEM file; none, or an unreadable file, is an error naming it.
fn read_ca_file(path: &std::path::Path) -> Result<Vec<ureq::tls::Certificate<'static>>, String> {
    let bytes = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&bytes) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => certs.push(cert.to_owned()),
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "the CA file {} is not PEM certificates: {e}",
                    path.display()
                ))
            }
        }
    }
    if certs.is_empty() {
        return Err(format!(
            "the CA file {} holds no certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        ));
    }
    Ok(certs)
}

/// GETs `http.url` and judges the answer.
fn get(http: &HttpCheck, agent: &ureq::Agent) -> Outcome {
    let started = Instant::now();
    let mut answer = match agent.get(&http.url).call() {
        Ok(answer) => answer,
        Err(e) => return Outcome::since(started, Some(http_error(&http.url, &e))),
    };
    let status = answer.status().as_u16();
    if !http.status.accepts(status) {
        return Outcome::since(
            started,
            Some(format!(
                "{} answered status {status}, expected {}",
                http.url, http.status
            )),
        );
    }
    let Some(wanted) = &http.body_contains else {
        return Outcome::since(started, None);
    };
    let mut body = Vec::new();
    if let Err(e) = answer
        .body_mut()
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
    {
        return Outcome::since(
            started,
            Some(format!("{}: reading the body failed: {e}", http.url)),
        );
    }
    let found = String::from_utf8_lossy(&body).contains(wanted.as_str());
    let failure = (!found).then(|| {
        format!(
            "{} answered {status} but its body ({} bytes{}) does not contain \"{wanted}\"",
            http.url,
            body.len(),
            if body.len() as u64 == MAX_BODY {
                " read"
            } else {
                ""
            }
        )
    });
    Outcome::since(started, failure)
}

/// An HTTP failure in words, saying what to do about a certificate that is not trusted.
fn http_error(url: &str, error: &ureq::Error) -> String {
    let text = error.to_string();
    let certificate = matches!(error, ureq::Error::Rustls(_)) || text.contains("certificate");
    if certificate {
        return format!(
            "{url}: the server's TLS certificate is not trusted ({text}); name the CA that \
             signed it with `ca_file`, or set `insecure = true` to skip the check"
        );
    }
    match error {
        ureq::Error::Timeout(_) => format!("{url}: no answer in time ({text})"),
        _ => format!("{url}: {text}"),
    }
}

/// Runs `argv` and reads its standard output as a number.
fn command(argv: &[String], timeout: Duration) -> Outcome {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let Some((program, args)) = argv.split_first() else {
        return Outcome::since(started, Some("the command is empty".into()));
    };
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so the deadline ends whatever it started, too.
        .process_group(0)
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return Outcome::since(started, Some(format!("cannot run `{program}`: {e}"))),
    };
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            _ => break None,
        }
    };
    let Some(status) = status else {
        kill_group(&mut child);
        return Outcome::since(
            started,
            Some(format!("`{program}` did not end within {}", secs(timeout))),
        );
    };
    let latency = started.elapsed();
    let grace = Duration::from_millis(200);
    let out = stdout.recv_timeout(grace).unwrap_or_default();
    let err = stderr.recv_timeout(grace).unwrap_or_default();
    let mut outcome = judge_output(program, status, &out, &err);
    outcome.latency_s = latency.as_secs_f32();
    outcome
}

/// The number a command printed, or why there is none.
fn judge_output(
    program: &str,
    status: std::process::ExitStatus,
    out: &[u8],
    err: &[u8],
) -> Outcome {
    let last_err = String::from_utf8_lossy(err)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default();
    let failure = |reason: String| Outcome {
        latency_s: 0.0,
        value: None,
        failure: Some(one_line(&reason)),
    };
    if !status.success() {
        let how = match status.code() {
            Some(code) => format!("exited with status {code}"),
            None => "was killed by a signal".into(),
        };
        return failure(format!("`{program}` {how}{last_err}"));
    }
    let text = String::from_utf8_lossy(out);
    let first = text.split_whitespace().next().unwrap_or("");
    match first.parse::<f32>() {
        Ok(value) if value.is_finite() => Outcome {
            latency_s: 0.0,
            value: Some(value),
            failure: None,
        },
        _ if first.is_empty() => failure(format!("`{program}` printed no number{last_err}")),
        _ => failure(format!(
            "`{program}` printed `{first}`, which is not a number"
        )),
    }
}

/// Reads up to [`MAX_OUTPUT`] bytes of `pipe` on a thread of its own, then discards the rest;
/// the bytes arrive on the channel when the pipe closes.
fn drain(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let _ = (&mut pipe).take(MAX_OUTPUT).read_to_end(&mut kept);
            let _ = std::io::copy(&mut pipe, &mut std::io::sink());
            let _ = tx.send(kept);
        });
    }
    rx
}

/// Kills the child's process group (it leads it) and reaps the child.
fn kill_group(child: &mut std::process::Child) {
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Outcome {
        command(
            &["sh".into(), "-c".into(), script.into()],
            Duration::from_secs(5),
        )
    }

    #[test]
    fn a_command_prints_a_number_or_says_why_not() {
        let ok = sh("echo 42.5");
        assert_eq!((ok.value, ok.failure), (Some(42.5), None));
        let e = sh("echo many; exit 0").failure.unwrap();
        assert!(e.contains("`many`, which is not a number"), "{e}");
        let e = sh("echo oops >&2; exit 3").failure.unwrap();
        assert_eq!(e, "`sh` exited with status 3: oops");
        let e = sh("true").failure.unwrap();
        assert!(e.contains("printed no number"), "{e}");
        let e = command(&["/no/such/program".into()], Duration::from_secs(1))
            .failure
            .unwrap();
        assert!(e.starts_with("cannot run `/no/such/program`"), "{e}");
    }

    #[test]
    fn a_command_past_its_deadline_is_killed_with_what_it_started() {
        let started = Instant::now();
        let out = command(
            &["sh".into(), "-c".into(), "sleep 30; echo 1".into()],
            Duration::from_millis(200),
        );
        assert!(out.failure.unwrap().contains("did not end within"));
        // The grandchild `sleep` held the pipes; killed with its group, nothing waits for it.
        assert!(started.elapsed() < Duration::from_secs(20));
    }

    #[test]
    fn a_refused_connection_and_a_bad_ca_file_are_named() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert_eq!(tcp(&addr, Duration::from_secs(2)).failure, None);
        drop(listener);
        let e = tcp(&addr, Duration::from_secs(2)).failure.unwrap();
        assert!(e.starts_with(&format!("cannot connect to {addr}")), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("ca.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let e = read_ca_file(&file).unwrap_err();
        assert!(e.contains("holds no certificate"), "{e}");
        let e = read_ca_file(&dir.path().join("none.pem")).unwrap_err();
        assert!(e.starts_with("cannot read the CA file"), "{e}");
    }

    #[test]
    fn a_server_that_never_answers_fails_the_round_at_its_deadline() {
        // Connections complete in the kernel's backlog, but nothing ever reads or answers.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let check = Check::Http(HttpCheck {
            url: format!("http://{}/health", listener.local_addr().unwrap()),
            status: ExpectStatus::Success,
            body_contains: None,
            ca_file: None,
            insecure: false,
        });
        let timeout = Duration::from_millis(300);
        let outcome = Ready::new(&check, timeout).unwrap().run(timeout);
        let e = outcome.failure.unwrap();
        assert!(e.contains("no answer in time"), "{e}");
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(one_line("a\nb"), "a\\nb");
        assert!(one_line(&"x".repeat(1000)).chars().count() <= MAX_REASON + 1);
    }
}
