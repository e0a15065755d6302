//! The CLI's side of the daemon's HTTP API (`rackwatch push`, `ack`, `silence`, `audit` with
//! `--connect`): one request, one answer.
//!
//! Invariants:
//! - One deadline for the whole exchange, as [`crate::state::fetch`] has; the answer read is
//!   bounded ([`MAX_ANSWER`]).
//! - A refusal comes back as the daemon's own sentence (it says what to do), never as Debug text.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// The most of an answer read, in bytes.
pub const MAX_ANSWER: usize = 1 << 20;

/// One request to the daemon: `method` `path`, a body of `content_type`, the bearer token when
/// there is one.
pub struct Call<'a> {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'a str,
    /// `/push`, `/api/acks`, ...
    pub path: &'a str,
    /// The body's media type.
    pub content_type: &'a str,
    /// The body.
    pub body: &'a str,
    /// `[http] token_file`'s token, for the routes that take data.
    pub token: Option<&'a str>,
}

impl<'a> Call<'a> {
    /// `GET path`, no body, no token.
    pub fn get(path: &'a str) -> Call<'a> {
        Call::json("GET", path, "")
    }

    /// `method path` with a JSON body, no token.
    pub fn json(method: &'a str, path: &'a str, body: &'a str) -> Call<'a> {
        Call {
            method,
            path,
            content_type: "application/json",
            body,
            token: None,
        }
    }
}

/// Sends `call` to the daemon at `url` (`http://HOST:PORT`); returns the answer's body on a 2xx,
/// else the daemon's sentence.
pub fn call(url: &str, call: &Call<'_>, timeout: Duration) -> Result<String, String> {
    let Call {
        method,
        path,
        content_type,
        body,
        token,
    } = call;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs are served by `rackwatch run`"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("`{authority}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{authority}` has no address"))?;
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                format!(
                    "{url}: no complete answer within {:.1} s",
                    timeout.as_secs_f64()
                )
            })
    };
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        format!("cannot reach the daemon at {url}: {e}; is `rackwatch run` running?")
    })?;
    stream
        .set_write_timeout(Some(left()?))
        .map_err(|e| format!("{url}: {e}"))?;
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\n{authorization}\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8 * 1024];
    loop {
        stream
            .set_read_timeout(Some(left()?))
            .map_err(|e| format!("{url}: {e}"))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) if answer.len() + n > MAX_ANSWER => {
                return Err(format!(
                    "{url}: the answer is larger than {MAX_ANSWER} bytes"
                ))
            }
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if code.starts_with('2') {
        Ok(body.to_string())
    } else {
        Err(format!(
            "the daemon at {url} answered {code}: {}",
            body.trim()
        ))
    }
}
