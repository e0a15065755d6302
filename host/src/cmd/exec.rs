//! `rackwatch exec --job NAME -- CMD ARGS…`: runs a command as a run of a job (`[[job]]`,
//! docs/jobs.md), reporting its start, its end with the exit status, and the last lines of its
//! standard error to the daemon.
//!
//! Invariants:
//! - The command runs whatever the daemon says: unreachable, refusing or slow (each report has
//!   the `--timeout` deadline), the run goes on, and one line on standard error says the job is
//!   not being reported.
//! - The exit status passes through: the command's own, or 128 + the signal that ended it (as a
//!   shell reports it), or 127 when it could not be started at all.
//! - Standard output and input are the command's own; standard error is copied through as it
//!   comes, and only its last [`MAX_MESSAGE`] bytes are held, so a chatty command costs bounded
//!   memory; of those, the last `--tail-lines` lines are sent.

use super::ping::{DaemonArgs, Reporter};
use crate::jobs::{Signal, MAX_MESSAGE};
use clap::Args;
use std::io::{Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};

/// Options of `rackwatch exec`.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// The job this command is a run of, as its `[[job]]` names it.
    #[arg(long, value_name = "NAME")]
    pub job: String,
    /// How many of the last lines of standard error go with the report.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub tail_lines: usize,
    /// The daemon and the token.
    #[command(flatten)]
    pub daemon: DaemonArgs,
    /// The command and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

/// Reports what it can, at most one complaint.
struct Reports {
    reporter: Option<Reporter>,
    complained: bool,
}

impl Reports {
    fn send(&mut self, signal: Signal, message: &str) {
        let result = match &self.reporter {
            Some(reporter) => reporter.send(signal, message),
            None => return,
        };
        if let Err(why) = result {
            self.complain(&why);
        }
    }

    fn complain(&mut self, why: &str) {
        if self.complained {
            return;
        }
        self.complained = true;
        // Not `eprintln!`: it panics when standard error is a closed pipe.
        let _ = writeln!(
            std::io::stderr(),
            "rackwatch exec: this run is not reported to the daemon: {why}"
        );
    }
}

/// Runs the command; returns the exit status to leave with.
pub fn run(args: &ExecArgs) -> anyhow::Result<u8> {
    let mut reports = Reports {
        reporter: None,
        complained: false,
    };
    match Reporter::new(&args.job, &args.daemon) {
        Ok(reporter) => reports.reporter = Some(reporter),
        Err(e) => reports.complain(&crate::render::error_chain(&e)),
    }
    reports.send(Signal::Start, "");
    let (status, tail) = match spawn_and_wait(&args.command) {
        Ok((status, stderr)) => (exit_code(status), last_lines(&stderr, args.tail_lines)),
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "rackwatch exec: {why}");
            (127, why)
        }
    };
    reports.send(Signal::End(status), &tail);
    Ok(status)
}

/// The command run to its end, its standard error copied through and its tail kept.
fn spawn_and_wait(command: &[String]) -> Result<(ExitStatus, Vec<u8>), String> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| "no command given: write it after `--`".to_string())?;
    let mut child = Command::new(program)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let tail = Arc::new(Mutex::new(Vec::new()));
    let copier = child.stderr.take().map(|stderr| {
        let tail = Arc::clone(&tail);
        std::thread::spawn(move || copy_through(stderr, &tail))
    });
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for `{program}`: {e}"))?;
    if let Some(copier) = copier {
        let _ = copier.join();
    }
    let tail = tail.lock().map(|t| t.clone()).unwrap_or_default();
    Ok((status, tail))
}

/// Copies `from` to standard error as it comes, keeping its last [`MAX_MESSAGE`] bytes in `tail`.
fn copy_through(mut from: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 8 * 1024];
    let mut stderr = std::io::stderr();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        // A closed standard error must not stop the command: its output is still kept.
        let _ = stderr.write_all(&buf[..n]);
        if let Ok(mut tail) = tail.lock() {
            tail.extend_from_slice(&buf[..n]);
            // Trimmed only past twice the bound, so the copy is amortised.
            if tail.len() > 2 * MAX_MESSAGE {
                let cut = tail.len() - MAX_MESSAGE;
                tail.drain(..cut);
            }
        }
    }
}

/// The status a shell would report: the exit code, or 128 + the signal.
fn exit_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return code.clamp(0, 255) as u8;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return (128 + signal).clamp(0, 255) as u8;
        }
    }
    255
}

/// The last `lines` lines of `bytes` (at most its last [`MAX_MESSAGE`] bytes), as text.
fn last_lines(bytes: &[u8], lines: usize) -> String {
    let start = bytes.len().saturating_sub(MAX_MESSAGE);
    let text = String::from_utf8_lossy(&bytes[start..]);
    let text = text.trim_end_matches('\n');
    let kept: Vec<&str> = text.rsplit('\n').take(lines).collect();
    kept.into_iter().rev().collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_last_lines() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines(b"a\nb", 5), "a\nb");
        assert_eq!(last_lines(b"", 5), "");
        let long = vec![b'x'; 3 * MAX_MESSAGE];
        assert_eq!(last_lines(&long, 1).len(), MAX_MESSAGE);
    }

    #[test]
    fn a_signal_is_128_plus_its_number() {
        let status = Command::new("sh")
            .args(["-c", "kill -TERM $$"])
            .status()
            .unwrap();
        assert_eq!(exit_code(status), 128 + 15);
        let status = Command::new("sh").args(["-c", "exit 3"]).status().unwrap();
        assert_eq!(exit_code(status), 3);
    }
}
