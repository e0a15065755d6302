//! `rackwatch`: the host command line.
use clap::Parser;

/// Gathers rackwatch sensor nodes over serial, keeps their history, shows them live.
#[derive(Debug, Parser)]
#[command(name = "rackwatch", version, about)]
struct Cli {}

fn main() {
    let _cli = Cli::parse();
}
