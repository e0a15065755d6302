//! `rackwatch push METRIC VALUE [--node NAME] [--unit U] [--connect URL]`: one value to a running
//! daemon's `POST /push`, from a script or a cron line.
//!
//! Invariants: the name, node and unit are checked here by the daemon's own rules
//! ([`crate::push`]) before anything is sent; the bearer token is the configuration's
//! `[http] token_file` (or `--token-file`), sent only when there is one; the whole request has one
//! deadline; a refusal prints the daemon's own sentence and exits non-zero.

use crate::client;
use crate::config::read_token;
use crate::push::{check_metric, check_node, check_unit, DEFAULT_NODE};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

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
pub(crate) fn default_url(listen: Option<&str>) -> anyhow::Result<String> {
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
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let path = match rest.find('/') {
        Some(i) if i + 1 < rest.len() => &rest[i..],
        _ => "/push",
    };
    let call = client::Call {
        method: "POST",
        path,
        content_type: "text/plain; version=0.0.4",
        body,
        token,
    };
    client::call(url, &call, timeout)
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
