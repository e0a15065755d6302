//! `rackwatch`: the host command line. Each subcommand lives in `rackwatch::cmd::<name>`.
use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Gathers rackwatch sensor nodes over serial, keeps their history, shows them live.
#[derive(Debug, Parser)]
#[command(name = "rackwatch", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Simulated nodes stream frames through the decoder into the core; no hardware needed.
    Demo(rackwatch::cmd::demo::DemoArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => rackwatch::cmd::demo::run(&args, &mut std::io::stdout().lock()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("rackwatch: {error:#}");
            ExitCode::FAILURE
        }
    }
}
