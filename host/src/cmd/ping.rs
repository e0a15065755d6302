//! `rackwatch ping NAME [--start | --fail | --exit N] [--message TEXT]`: one check-in of a job
//! (`[[job]]`, docs/jobs.md) from a script, to a running daemon's `/ping/NAME...`.
//!
//! Invariants: the daemon is the configuration's listener unless `--connect` names one; the bearer
//! token is `--token-file`, else the job's own `token_file`, else `[http] token_file`, sent only
//! when there is one; the message is cut to its last [`crate::jobs::MAX_MESSAGE`] bytes before it is sent; the
//! whole request has one deadline; a refusal prints the daemon's own sentence and exits non-zero.

use crate::client;
use crate::config::{read_token, Config};
use crate::jobs::{bounded_tail, check_name, Signal};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Where check-ins go and with which token (shared by `ping` and `exec`).
#[derive(Debug, Clone, Args)]
pub struct DaemonArgs {
    /// The daemon [default: http:// and the configuration's `http.listen`].
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,
    /// The file holding the bearer token [default: the job's `token_file`, else the
    /// configuration's `http.token_file`].
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// How long each request to the daemon may take.
    #[arg(long, value_parser = crate::config::parse_duration, default_value = "10s")]
    pub timeout: Duration,
    /// Which configuration names the listener and the token files.
    #[command(flatten)]
    pub config: super::ConfigArgs,
}

/// A job's check-ins, ready to send.
pub struct Reporter {
    url: String,
    job: String,
    token: Option<String>,
    timeout: Duration,
}

impl Reporter {
    /// The daemon and token for `job`, by `args`.
    pub fn new(job: &str, args: &DaemonArgs) -> anyhow::Result<Reporter> {
        let job = check_name(job).map_err(anyhow::Error::msg)?;
        let config = args.config.load()?;
        let url = match &args.connect {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => super::push::default_url(config.listen.as_deref())?,
        };
        let token = match token_file(&config, &job, args) {
            Some(path) => Some(read_token(&path).map_err(anyhow::Error::msg)?),
            None => None,
        };
        Ok(Reporter {
            url,
            job,
            token,
            timeout: args.timeout,
        })
    }

    /// Sends `signal` with `message` (its last [`crate::jobs::MAX_MESSAGE`] bytes); the daemon's answer, or
    /// why not.
    pub fn send(&self, signal: Signal, message: &str) -> Result<String, String> {
        let suffix = match signal {
            Signal::Start => "/start".to_string(),
            Signal::End(0) => String::new(),
            Signal::End(status) => format!("/{status}"),
        };
        let path = format!("/ping/{}{suffix}", self.job);
        let body = bounded_tail(message);
        let call = client::Call {
            method: "POST",
            path: &path,
            content_type: "text/plain; charset=utf-8",
            body: &body,
            token: self.token.as_deref(),
        };
        client::call(&self.url, &call, self.timeout)
    }
}

fn token_file(config: &Config, job: &str, args: &DaemonArgs) -> Option<PathBuf> {
    let own = config
        .jobs
        .iter()
        .find(|j| j.name == job)
        .and_then(|j| j.token_file.clone());
    args.token_file
        .clone()
        .or(own)
        .or_else(|| config.http_token_file.clone())
}

/// Options of `rackwatch ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// The job's name, as its `[[job]]` names it.
    pub name: String,
    /// A run starts (its end, a later ping, then has a duration).
    #[arg(long, conflicts_with_all = ["fail", "exit"])]
    pub start: bool,
    /// A run failed (exit status 1).
    #[arg(long, conflicts_with = "exit")]
    pub fail: bool,
    /// A run ended with this exit status (0 is success).
    #[arg(long, value_name = "N")]
    pub exit: Option<u8>,
    /// A message kept with the run (a log tail, say); its last 10 KiB are sent.
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub message: String,
    /// The daemon and the token.
    #[command(flatten)]
    pub daemon: DaemonArgs,
}

/// Sends the check-in; prints the daemon's answer.
pub fn run(args: &PingArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let signal = match (args.start, args.fail, args.exit) {
        (true, _, _) => Signal::Start,
        (_, true, _) => Signal::End(1),
        (_, _, Some(status)) => Signal::End(status),
        _ => Signal::End(0),
    };
    let reporter = Reporter::new(&args.name, &args.daemon)?;
    let answer = reporter
        .send(signal, &args.message)
        .map_err(anyhow::Error::msg)?;
    out.write_all(answer.as_bytes())?;
    Ok(())
}
