//! The command sink: a program run per transition, from an argv (never through a shell), with the
//! transition in `RACKWATCH_*` environment variables and as the webhook's JSON document on its
//! standard input.
//!
//! Invariants:
//! - Exit status 0 is delivered; anything else (a nonzero status, a signal, a failure to start,
//!   the timeout) is a failed delivery, retried with the same message.
//! - The program runs in a process group of its own, and the whole group is killed when the
//!   timeout expires, so a script's children do not outlive it.
//! - At most [`STDERR_KEPT`] bytes of its standard error are kept (logged, and in the sink's
//!   `last_error` on failure); the rest is read and discarded, so a chatty program never blocks
//!   on a full pipe nor grows the daemon's memory. Its standard output is discarded.

use super::delivery::Transport;
use super::message::TransitionMessage;
use super::outbox::Queued;
use super::spec::CommandSettings;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// The most of a program's standard error kept.
pub const STDERR_KEPT: usize = 2048;
/// How often a running program is looked at: soon after it started (most hooks take a few
/// milliseconds), then less and less often, up to this.
const POLL_MAX: Duration = Duration::from_millis(20);
/// How long the standard error reader is waited for once the program ended (a grandchild may
/// hold the pipe open).
const STDERR_WAIT: Duration = Duration::from_millis(200);

/// Runs the configured program.
pub struct CommandRunner {
    argv: Vec<String>,
    timeout: Duration,
}

impl CommandRunner {
    /// A runner of `settings.argv`, each run killed after `timeout`.
    pub fn new(settings: &CommandSettings, timeout: Duration) -> CommandRunner {
        CommandRunner {
            argv: settings.argv.clone(),
            timeout,
        }
    }

    fn spawn(&self, message: &TransitionMessage) -> Result<Child, String> {
        let (program, args) = self
            .argv
            .split_first()
            .ok_or_else(|| "the command is empty".to_string())?;
        Command::new(program)
            .args(args)
            .envs(message.environment())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))
    }
}

/// Reads a pipe to its end on a thread of its own, keeping the first [`STDERR_KEPT`] bytes.
fn read_bounded(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            let room = STDERR_KEPT.saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        let _ = tx.send(kept);
    });
    rx
}

/// Waits for `child` until `deadline`; past it, kills its process group. `None`: timed out.
fn wait_until(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>, String> {
    let mut poll = Duration::from_micros(500);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
                let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        std::thread::sleep(poll.min(deadline.saturating_duration_since(Instant::now())));
        poll = (poll * 2).min(POLL_MAX);
    }
}

impl Transport for CommandRunner {
    fn send(&mut self, queued: &Queued) -> Result<(), String> {
        let message: TransitionMessage = serde_json::from_str(&queued.body).map_err(|e| {
            format!(
                "message {} in the outbox is not a transition: {e}",
                queued.id
            )
        })?;
        let program = &self.argv[0];
        let deadline = Instant::now() + self.timeout;
        let mut child = self.spawn(&message)?;
        let stderr = child.stderr.take().map(read_bounded);
        if let Some(mut stdin) = child.stdin.take() {
            // A program that does not read its input closes the pipe: not a failure of ours.
            let body = queued.body.clone();
            std::thread::spawn(move || {
                let _ = stdin.write_all(body.as_bytes());
            });
        }
        let status = wait_until(&mut child, deadline)?;
        let stderr = stderr
            .and_then(|rx| rx.recv_timeout(STDERR_WAIT).ok())
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        let said = if stderr.is_empty() {
            String::new()
        } else {
            format!("; its standard error: {stderr}")
        };
        match status {
            Some(s) if s.success() => {
                if !stderr.is_empty() {
                    tracing::info!(id = %queued.id, "{program} succeeded; its standard error: {stderr}");
                }
                Ok(())
            }
            Some(s) => Err(format!("{program} failed ({s}){said}")),
            None => Err(format!(
                "{program} did not finish within {} and was killed{said}",
                crate::config::format_duration(self.timeout)
            )),
        }
    }
}
