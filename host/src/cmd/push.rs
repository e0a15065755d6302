//! `rackwatch push METRIC VALUE [--node NAME] [--unit U] [--connect URL]`: one value to a running
//! daemon's `POST /push`, from a script or a cron line.
//!
//! Invariants: the name, node and unit are checked here by the daemon's own rules
//! ([`crate::push`]) before anything is sent; the bearer token is the configuration's
//! `[http] token_file` (or `--token-file`), sent only when there is one; the whole request has one
//! deadline; a refusal prints the daemon's own sentence and exits non-zero.

use crate::config::read_token;
use crate::push::{check_metric, check_node, check_unit, DEFAULT_NODE};
use clap::Args;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Options of `rackwatch push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The metric's name (letters, digits, `_`, `:`, `.`, `-`; at most 24 bytes).
    pub metric: String,
    /// The value: a number, or NaN, +Inf, -Inf.
    #[arg(allow_hyphen_values = true)]
    pub value: String,
    /// The virtual node the series lives under.
    #[arg(long, default_value = DEFAULT_NODE)]
    pub node: String,
    /// The series' unit (kept from its first push).
    #[arg(long)]
    pub unit: Option<String>,
    /// The daemon [default: http:// and the configuration's `http.listen`].
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,
    /// The file holding the bearer token [default: the configuration's `http.token_file`].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How long the whole request may take.
    #[arg(long, value_parser = crate::config::parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Which configuration names the listener and the token file.
    #[command(flatten)]
    pub config: super::ConfigArgs,
}

/// Sends the value; prints the daemon's answer.
pub fn run(args: &PushArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let line = line(args).map_err(anyhow::Error::msg)?;
    let config = args.config.load()?;
    let url = match &args.connect {
        Some(url) => url.clone(),
        None => default_url(config.listen.as_deref())?,
    };
    let token = match args.token_file.as_ref().or(config.http_token_file.as_ref()) {
        Some(path) => Some(read_token(path).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let answer = post(&url, &line, token.as_deref(), args.timeout).map_err(anyhow::Error::msg)?;
    out.write_all(answer.as_bytes())?;
    Ok(())
}

/// The Prometheus text line for the value, its parts checked.
fn line(args: &PushArgs) -> Result<String, String> {
    let metric = check_metric(&args.metric)?;
    let node = check_node(&args.node)?;
    let value: f64 = args
        .value
        .parse()
        .map_err(|_| format!("`{}` is not a number", args.value))?;
    let mut labels = format!("node=\"{node}\"");
    if let Some(unit) = &args.unit {
        labels.push_str(&format!(",unit=\"{}\"", check_unit(unit)?));
    }
    // `{:?}` of an f64 is a Rust float literal, which the Prometheus format reads back exactly
    // (`NaN`, `inf` included).
    Ok(format!("{metric}{{{labels}}} {value:?}\n"))
}

/// `http://` and the configured listener, a wildcard address asked on loopback.
fn default_url(listen: Option<&str>) -> anyhow::Result<String> {
    let listen = listen.ok_or_else(|| {
        anyhow::anyhow!(
            "the configuration's http.listen is off, so there is no daemon to push to; name one \
             with --connect http://HOST:PORT"
        )
    })?;
    let local = listen
        .strip_prefix("0.0.0.0:")
        .map(|port| format!("127.0.0.1:{port}"))
        .or_else(|| {
            listen
                .strip_prefix("[::]:")
                .map(|port| format!("[::1]:{port}"))
        })
        .unwrap_or_else(|| listen.to_string());
    Ok(format!("http://{local}"))
}

/// POSTs `body` to `url`'s `/push` (unless the URL has a path); the answer's text, or why not.
fn post(url: &str, body: &str, token: Option<&str>, timeout: Duration) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{url}`: only http:// URLs are served by `rackwatch run`"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) if i + 1 < rest.len() => (&rest[..i], &rest[i..]),
        Some(i) => (&rest[..i], "/push"),
        None => (rest, "/push"),
    };
    let addr = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(|e| format!("`{authority}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{authority}` has no address"))?;
    let deadline = Instant::now() + timeout;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        format!("cannot reach the daemon at {url}: {e}; is `rackwatch run` running?")
    })?;
    let _ = stream.set_write_timeout(Some(timeout));
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.0\r\nHost: {authority}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\n{authorization}\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("{url}: {e}"))?;
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("{url}: no complete answer within {timeout:?}"))?;
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut buf) {
            Ok(0) => break,
            // The daemon's answers are a line or two.
            Ok(n) if response.len() + n > 64 * 1024 => {
                return Err(format!("{url}: the answer is larger than 64 KiB"))
            }
            Ok(n) => response.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{url}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, answer) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(answer.to_string())
    } else {
        Err(format!("{url}: {status}: {}", answer.trim_end()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        push: PushArgs,
    }

    fn args(list: &[&str]) -> PushArgs {
        Cli::try_parse_from(std::iter::once("push").chain(list.iter().copied()))
            .unwrap()
            .push
    }

    #[test]
    fn the_line_names_node_and_unit() {
        assert_eq!(
            line(&args(&[
                "queue", "12.5", "--node", "batch", "--unit", "jobs"
            ]))
            .unwrap(),
            "queue{node=\"batch\",unit=\"jobs\"} 12.5\n"
        );
        assert_eq!(
            line(&args(&["t", "-3"])).unwrap(),
            "t{node=\"push\"} -3.0\n"
        );
        assert!(line(&args(&["t", "three"]))
            .unwrap_err()
            .contains("not a number"));
        assert!(line(&args(&["bad name", "1"])).is_err());
    }

    #[test]
    fn a_wildcard_listener_is_asked_on_loopback() {
        assert_eq!(
            default_url(Some("0.0.0.0:9187")).unwrap(),
            "http://127.0.0.1:9187"
        );
        assert_eq!(
            default_url(Some("127.0.0.1:1")).unwrap(),
            "http://127.0.0.1:1"
        );
        assert!(default_url(None).is_err());
    }
}
