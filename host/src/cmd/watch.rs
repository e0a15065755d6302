//! `rackwatch watch`: the live dashboard (see [`crate::tui`]). Reads a running daemon's `/state`
//! over HTTP (`--connect`), or reads sources itself with an in-process daemon (no history, no
//! endpoint) when they are named. `--once` prints one frame as plain text instead.
//!
//! Invariants: the terminal is restored on every exit (quit keys, errors, SIGINT/SIGTERM, panics);
//! a daemon that does not answer, or answers with something that is not a state, is shown as
//! unreachable and retried every `--interval`, never fatal; the HTTP poll runs on its own thread,
//! so keys work while it waits.

use super::ConfigArgs;
use crate::config::parse_duration;
use crate::daemon::{Daemon, DaemonOptions};
use crate::source::SourceSpec;
use crate::state::{fetch, Snapshot};
use crate::tui::dashboard::{self, View};
use anyhow::Context;
use clap::Args;
use crossterm::event::{self, Event, KeyEventKind};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The daemon's default state endpoint.
pub const DEFAULT_CONNECT: &str = "http://127.0.0.1:9187";

/// Options of `rackwatch watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Read these sources in-process instead of connecting to a daemon (same specs as `run`:
    /// serial:/dev/ttyACM0@115200, tcp:HOST:PORT, unix:PATH, capture:FILE.rwcap, raw:FILE, -,
    /// local). The configuration's rules apply; its sources are not read. Nothing is stored.
    #[arg(value_name = "SOURCE")]
    pub sources: Vec<SourceSpec>,
    /// The daemon's state endpoint (`/state` is appended unless the URL has a path).
    #[arg(long, value_name = "URL", default_value = DEFAULT_CONNECT, conflicts_with = "sources")]
    pub connect: String,
    /// The configuration file (for the rules of in-process sources).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// How often to refresh.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub interval: Duration,
    /// How long to wait for the daemon's answer; with SOURCEs and --once, how long to read live
    /// sources before printing.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "3s")]
    pub timeout: Duration,
    /// Print one frame of the dashboard as plain text on standard output and exit (status 1 when
    /// the daemon did not answer).
    #[arg(long)]
    pub once: bool,
    /// The frame's width with --once.
    #[arg(long, default_value_t = 80, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub width: u16,
    /// The frame's height with --once.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub height: u16,
}

/// Where snapshots come from.
enum Feed {
    /// A daemon polled by a thread; each attempt's outcome arrives here.
    Remote(Receiver<Result<Snapshot, String>>),
    /// An in-process daemon.
    Local(Daemon),
}

impl WatchArgs {
    fn interval(&self) -> Duration {
        self.interval.max(Duration::from_millis(100))
    }

    fn origin(&self) -> String {
        if self.sources.is_empty() {
            self.connect.clone()
        } else {
            let names: Vec<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
            names.join(" ")
        }
    }

    /// An in-process daemon on the named sources: the configuration's rules, no store, no
    /// endpoint, no events on standard output.
    fn start_daemon(&self) -> anyhow::Result<Daemon> {
        let mut config = self.config.load()?;
        config.sources.clear();
        for spec in &self.sources {
            if config.sources.iter().any(|s| s.name == spec.name) {
                anyhow::bail!("the source `{}` is named twice", spec.name);
            }
            config.sources.push(spec.clone());
        }
        config.listen = None;
        Daemon::start(
            config,
            DaemonOptions {
                store: false,
                run_for: None,
                print_events: false,
                record_dir: None,
                ..DaemonOptions::default()
            },
        )
    }

    fn start_feed(&self) -> anyhow::Result<Feed> {
        if !self.sources.is_empty() {
            return Ok(Feed::Local(self.start_daemon()?));
        }
        let (tx, rx) = mpsc::channel();
        let (url, timeout, interval) = (self.connect.clone(), self.timeout, self.interval());
        std::thread::Builder::new()
            .name("watch-poll".into())
            .spawn(move || loop {
                let started = Instant::now();
                // Ends when the dashboard has gone (the receiver is dropped).
                if tx.send(fetch(&url, timeout)).is_err() {
                    break;
                }
                std::thread::sleep(interval.saturating_sub(started.elapsed()));
            })
            .context("cannot start the polling thread")?;
        Ok(Feed::Remote(rx))
    }
}

impl Feed {
    /// Brings the view up to date; `last_ok` is when a snapshot last arrived.
    fn refresh(&mut self, view: &mut View, last_ok: &mut Option<Instant>) {
        match self {
            Feed::Remote(rx) => {
                while let Ok(result) = rx.try_recv() {
                    if result.is_ok() {
                        *last_ok = Some(Instant::now());
                    }
                    view.update(result);
                }
                view.age_ms = last_ok.map(|t| t.elapsed().as_millis() as u64);
            }
            Feed::Local(daemon) => {
                view.update(Ok(daemon.snapshot()));
                if daemon.is_finished() {
                    view.note = Some("every source read".into());
                }
            }
        }
    }

    fn stop(self) -> anyhow::Result<()> {
        if let Feed::Local(daemon) = self {
            daemon.stop();
            daemon.wait()?;
        }
        Ok(())
    }
}

/// Restores the terminal when dropped, whatever ends the dashboard.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Runs the dashboard until a quit key, Ctrl-C or SIGTERM; with `--once`, prints one frame.
pub fn run(args: &WatchArgs) -> anyhow::Result<()> {
    if args.once {
        let mut out = std::io::stdout().lock();
        return once(args, &mut out);
    }
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "standard output is not a terminal: run `rackwatch watch` in one, or print a single frame with --once"
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    // Raw mode turns Ctrl-C into a key; this catches SIGINT and SIGTERM sent from elsewhere. The
    // handler can be set once per process; if it was, the keys still work.
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    let mut feed = args.start_feed()?;
    let result = {
        // Installs a panic hook that restores the terminal, too.
        let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
        let _restore = Restore;
        event_loop(&mut terminal, &mut feed, args, &stop)
    };
    let stopped = feed.stop();
    result.and(stopped)
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    feed: &mut Feed,
    args: &WatchArgs,
    stop: &AtomicBool,
) -> anyhow::Result<()> {
    // Keys are read on their own thread: crossterm's read can block on the terminal even after a
    // poll said it was ready (seen under tmux), and the dashboard must keep refreshing, and keep
    // honouring SIGINT/SIGTERM, whatever the terminal does. The thread ends with the process.
    let (keys, key_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("watch-keys".into())
        .spawn(move || {
            while let Ok(event) = event::read() {
                if keys.send(event).is_err() {
                    break;
                }
            }
        })
        .context("cannot start the key reader")?;
    let mut view = View::new(args.origin());
    let mut last_ok = None;
    let mut next_refresh = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if Instant::now() >= next_refresh {
            feed.refresh(&mut view, &mut last_ok);
            next_refresh = Instant::now() + args.interval().min(Duration::from_millis(500));
        }
        terminal.draw(|frame| dashboard::draw(frame, &mut view))?;
        // A resize or any other event just leads to the next draw, at the new size.
        match key_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Key(key)) => {
                if key.kind != KeyEventKind::Release && view.handle_key(key) {
                    break;
                }
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the terminal stopped delivering keys")
            }
        }
    }
    Ok(())
}

/// One frame as text on `out`: the daemon's state, or the in-process sources' after they end
/// (finite ones) or after `--timeout` (live ones). Fails after printing when the daemon did not
/// answer, so scripts notice.
pub fn once(args: &WatchArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut view = View::new(args.origin());
    let failed = if args.sources.is_empty() {
        let result = fetch(&args.connect, args.timeout);
        let failed = result.as_ref().err().cloned();
        view.update(result);
        failed
    } else {
        let daemon = args.start_daemon()?;
        let started = Instant::now();
        while !daemon.is_finished() && started.elapsed() < args.timeout {
            std::thread::sleep(Duration::from_millis(20));
        }
        if daemon.is_finished() {
            view.note = Some("every source read".into());
        }
        daemon.stop();
        view.update(Ok(daemon.wait()?.snapshot));
        None
    };
    out.write_all(dashboard::render_text(&mut view, args.width, args.height).as_bytes())?;
    out.flush()?;
    match failed {
        Some(error) => Err(anyhow::anyhow!(error)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        watch: WatchArgs,
    }

    fn parse(args: &[&str]) -> Result<WatchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("watch").chain(args.iter().copied())).map(|c| c.watch)
    }

    #[test]
    fn arguments_default_to_the_local_daemon_at_80x24() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.connect, DEFAULT_CONNECT);
        assert!(a.sources.is_empty());
        assert_eq!((a.width, a.height), (80, 24));
        assert_eq!(a.interval, Duration::from_secs(1));
        assert!(parse(&["--connect", "http://h:1", "tcp:127.0.0.1:4000"]).is_err());
        assert!(parse(&["--width", "0"]).is_err());
        let a = parse(&["tcp:127.0.0.1:4000", "--once", "--width", "100"]).unwrap();
        assert_eq!(a.sources.len(), 1);
        assert_eq!(a.origin(), "tcp:127.0.0.1:4000");
    }

    /// Serves one canned HTTP response on a local port; returns the URL.
    fn serve_once(response: &'static [u8]) -> String {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                // The whole request, then the answer.
                let mut request = Vec::new();
                let mut chunk = [0u8; 1024];
                while !request.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = stream.write_all(response);
            }
        });
        format!("http://{addr}")
    }

    fn once_text(url: String) -> (String, anyhow::Result<()>) {
        let args = parse(&["--once", "--connect", &url, "--timeout", "2s"]).unwrap();
        let mut out = Vec::new();
        let result = once(&args, &mut out);
        (String::from_utf8(out).unwrap(), result)
    }

    #[test]
    fn once_prints_the_daemons_state() {
        let body = serde_json::to_string(&Snapshot {
            generated_ms: 1,
            ..Snapshot::default()
        })
        .unwrap();
        let response = format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}");
        let (text, result) = once_text(serve_once(response.leak().as_bytes()));
        result.unwrap();
        assert_eq!(text.lines().count(), 24);
        assert!(text.contains("live"), "{text}");
        assert!(text.contains("no nodes yet"), "{text}");
    }

    #[test]
    fn once_says_when_the_answer_is_not_a_state() {
        let (text, result) = once_text(serve_once(b"HTTP/1.0 200 OK\r\n\r\n{\"nodes\": [1, 2"));
        assert!(result.is_err());
        assert!(text.contains("UNREACHABLE"), "{text}");
        assert!(text.contains("not a rackwatch state"), "{text}");
        let (text, result) = once_text(serve_once(b"HTTP/1.0 404 Not Found\r\n\r\nno"));
        assert!(result.is_err());
        assert!(text.contains("404"), "{text}");
    }

    /// A capture of node 7: Hello, the inlet temperature's spec (WARNING above 30 degC, CRITICAL
    /// above 35) and a rise from 25 to 39.5 degC.
    fn capture(path: &std::path::Path) {
        use rackwatch_core::alert::Rule;
        use rackwatch_core::anomaly::AnomalyConfig;
        use rackwatch_core::monitor::MetricSpec;
        use rackwatch_core::wire::{Body, Frame, Header, Hello, Readings, MAX_ENCODED_LEN};
        let mut seq = 0u16;
        let mut frame = |body: Body| {
            let frame = Frame {
                header: Header {
                    node_id: 7,
                    boot_id: 1,
                    seq,
                },
                body,
            };
            seq += 1;
            let mut out = [0u8; MAX_ENCODED_LEN];
            let n = frame.encode(&mut out).unwrap();
            out[..n].to_vec()
        };
        let mut bytes = frame(Body::Hello(Hello::new("0.1.0".try_into().unwrap())));
        let rule = Rule::above(30.0, 35.0);
        let spec = MetricSpec::new(0, "inlet_temperature", "degC", rule, AnomalyConfig::DEFAULT);
        bytes.extend(frame(Body::Metric(spec.unwrap())));
        for chunk in 0..3u64 {
            let mut batch = Readings::new();
            for i in chunk * 10..chunk * 10 + 10 {
                batch.push(0, i * 1000, 25.0 + i as f32 * 0.5).unwrap();
            }
            bytes.extend(frame(Body::Readings(batch)));
        }
        let mut writer = crate::capture::CaptureWriter::create(path, "node").unwrap();
        writer.record(1_800_000_000_000, &bytes).unwrap();
        writer.flush().unwrap();
    }

    #[test]
    fn once_reads_sources_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let cap = dir.path().join("node.rwcap");
        capture(&cap);
        let config = dir.path().join("rackwatch.toml");
        std::fs::write(&config, "").unwrap();
        let source = format!("capture:{}", cap.display());
        let config = config.to_string_lossy();
        let args = parse(&["--once", "--timeout", "30s", "-c", &config, &source]).unwrap();
        let mut out = Vec::new();
        once(&args, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("every source read"), "{text}");
        assert!(text.contains("sources 0/1 (1 done)"), "{text}");
        assert!(text.lines().any(|l| l.starts_with("node 7 UP")), "{text}");
        let metric = text
            .lines()
            .find(|l| l.contains("inlet_temperature"))
            .unwrap_or_else(|| panic!("no metric in\n{text}"));
        assert!(metric.contains("39.50 degC"), "{metric}");
        assert!(metric.contains("CRITICAL"), "{metric}");
    }

    #[test]
    fn once_says_when_nothing_listens() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (text, result) = once_text(format!("http://127.0.0.1:{port}"));
        let error = result.unwrap_err().to_string();
        assert!(error.contains("cannot reach the daemon"), "{error}");
        assert!(text.contains("UNREACHABLE"), "{text}");
        assert!(text.contains("cannot reach the daemon"), "{text}");
    }
}
