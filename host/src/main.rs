//! `rackwatch`: the host command line. Each subcommand lives in `rackwatch::cmd::<name>`.
use clap::{CommandFactory, Parser, Subcommand};
use rackwatch::cmd;
use rackwatch::logging::{LogFormat, LogOptions, LogTarget};
use std::io::Write;
use std::process::ExitCode;

/// Early warning for racks and hosts: gathers rackwatch sensor nodes over serial, keeps their
/// history, shows them live, and watches this machine too.
#[derive(Debug, Parser)]
#[command(name = "rackwatch", version, propagate_version = true)]
struct Cli {
    /// Log format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Human, global = true)]
    log_format: LogFormat,
    /// Where log lines go: `auto` writes to the systemd journal (with NODE, BOOT, SEQ, LEVEL fields)
    /// when standard error is the service's journal stream, else to standard error.
    #[arg(long, value_enum, default_value_t = LogTarget::Auto, global = true, value_name = "TARGET")]
    log_target: LogTarget,
    /// Log level filter, e.g. `debug` or `rackwatch=trace` [default: $RUST_LOG, else `info`].
    #[arg(long, value_name = "FILTER", global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon: read sources, keep history, serve /state.
    Run(cmd::run::RunArgs),
    /// Simulated nodes stream frames through the decoder into the core; no hardware needed.
    Demo(cmd::demo::DemoArgs),
    /// Run the core over a CSV or JSON-lines series offline: trend, ETA, anomaly score, alerts.
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Stored readings, by node, metric and time.
    History(cmd::history::HistoryArgs),
    /// Stored alert transitions, or node events with --events.
    Alerts(cmd::alerts::AlertsArgs),
    /// Acknowledge an alert: no notification until its level changes (or, --sticky, it recovers).
    Ack(cmd::ack::AckArgs),
    /// Remove an acknowledgement.
    Unack(cmd::unack::UnackArgs),
    /// Silences: mute the alerts matchers select, for a while.
    Silence(cmd::silence::SilenceCmd),
    /// Maintenance windows: mute the alerts matchers select while a window is open, once or on a
    /// schedule.
    Maintenance(cmd::maintenance::MaintenanceCmd),
    /// Every operator action (acks, silences, maintenance windows): who, what, when, why.
    Audit(cmd::audit::AuditArgs),
    /// The nodes' defmt logs from history, decoded with the firmware ELF.
    Logs(cmd::logs::LogsArgs),
    /// A Nagios/Icinga plugin: one status line with perfdata; exit 0 OK, 1 WARNING, 2 CRITICAL,
    /// 3 UNKNOWN.
    Check(cmd::check::CheckArgs),
    /// Push one value to a running daemon, as a series of a virtual node (docs/push.md).
    Push(cmd::push::PushArgs),
    /// Run a command as a run of a job: its start, end, exit status and stderr tail reported
    /// (docs/jobs.md); exits with the command's status.
    Exec(cmd::exec::ExecArgs),
    /// One check-in of a job from a script: a success, --start, --fail or --exit N (docs/jobs.md).
    Ping(cmd::ping::PingArgs),
    /// Record sources' raw bytes with their times into captures.
    Record(cmd::record::RecordArgs),
    /// Play a capture back at any speed, to stdout, a pty, a TCP client or a device.
    Replay(cmd::replay::ReplayArgs),
    /// Simulated rack nodes (the firmware with simulated sensors) on ptys, a stream or a capture.
    Sim(cmd::sim::SimArgs),
    /// Check the configuration file, or show it with every default filled in.
    Config(cmd::config::ConfigCmd),
    /// The live dashboard: nodes, metrics, trends, forecasts and alerts, from a daemon or sources.
    Watch(cmd::watch::WatchArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

fn init_logging(cli: &Cli) {
    rackwatch::logging::init(&LogOptions {
        target: cli.log_target,
        format: cli.log_format,
        filter: cli.log.clone(),
        // The demo tells its own story; its line noise is counted in its summary, not logged.
        default_filter: if matches!(cli.command, Command::Demo(_)) {
            "error".into()
        } else {
            rackwatch::config::DEFAULT_LOG_LEVEL.into()
        },
    });
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The interactive dashboard owns the terminal: log lines would tear through it.
    if !matches!(&cli.command, Command::Watch(w) if !w.once)
        && !matches!(&cli.command, Command::Demo(d) if !d.text && std::io::IsTerminal::is_terminal(&std::io::stdout()))
    {
        init_logging(&cli);
    }
    // Not locked: the daemon's ingest thread prints events (`run --events`) while main waits.
    let mut stdout = std::io::stdout();
    let result = match &cli.command {
        Command::Run(args) => cmd::run::run(args),
        Command::Demo(args) => cmd::demo::run(args, &mut stdout),
        Command::Analyze(args) => cmd::analyze::run(args, &mut stdout),
        Command::History(args) => cmd::history::run(args, &mut stdout),
        Command::Alerts(args) => cmd::alerts::run(args, &mut stdout),
        Command::Ack(args) => cmd::ack::run(args, &mut stdout),
        Command::Unack(args) => cmd::unack::run(args, &mut stdout),
        Command::Silence(args) => cmd::silence::run(args, &mut stdout),
        Command::Maintenance(args) => cmd::maintenance::run(args, &mut stdout),
        Command::Audit(args) => cmd::audit::run(args, &mut stdout),
        Command::Logs(args) => cmd::logs::run(args, &mut stdout),
        Command::Push(args) => cmd::push::run(args, &mut stdout),
        Command::Ping(args) => cmd::ping::run(args, &mut stdout),
        Command::Exec(args) => {
            // The command's status passes through, whatever the daemon said.
            return match cmd::exec::run(args) {
                Ok(code) => ExitCode::from(code),
                Err(error) => {
                    let text = rackwatch::render::error_chain(&error);
                    let _ = writeln!(std::io::stderr(), "rackwatch: {text}");
                    ExitCode::from(127)
                }
            };
        }
        Command::Config(args) => cmd::config::run(args, &mut stdout),
        Command::Record(args) => cmd::record::run(args, &mut stdout),
        Command::Replay(args) => cmd::replay::run(args),
        Command::Sim(args) => cmd::sim::run(args),
        Command::Watch(args) => cmd::watch::run(args),
        Command::Check(args) => {
            // The plugin contract: the exit status is the level, whatever happened.
            return match cmd::check::run(args, &mut stdout) {
                Ok(code) => ExitCode::from(code),
                Err(_) => ExitCode::from(3),
            };
        }
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "rackwatch", &mut stdout);
            Ok(())
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut stdout)
            .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`rackwatch history | head`) is not an error.
        Err(error)
            if error
                .downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(error) => {
            let text = rackwatch::render::error_chain(&error);
            if rackwatch::logging::to_journal() {
                tracing::error!("{text}");
                return ExitCode::FAILURE;
            }
            // Not `eprintln!`: it panics when standard error is a closed pipe.
            let _ = writeln!(std::io::stderr(), "rackwatch: {text}");
            ExitCode::FAILURE
        }
    }
}
