//! `rackwatch config check`: validates a configuration file and shows what it means.

use super::ConfigArgs;
use clap::{Args, Subcommand};
use std::io::Write;

/// `rackwatch config`.
#[derive(Debug, Clone, Args)]
pub struct ConfigCmd {
    /// The action.
    #[command(subcommand)]
    pub action: ConfigAction,
}

/// What to do with the configuration.
#[derive(Debug, Clone, Subcommand)]
pub enum ConfigAction {
    /// Check the configuration; errors name the file, line and key. Exit status 0 when valid.
    Check(ConfigArgs),
}

/// Runs `config check`.
pub fn run(cmd: &ConfigCmd, out: &mut dyn Write) -> anyhow::Result<()> {
    match &cmd.action {
        ConfigAction::Check(args) => {
            let config = args.load()?;
            match &config.file {
                Some(file) => writeln!(out, "{}: valid", file.display())?,
                None => writeln!(out, "no configuration file: the built-in defaults")?,
            }
            writeln!(out, "history: {}", config.store_path.display())?;
            for source in &config.sources {
                writeln!(out, "source {}: {:?}", source.name, source.kind)?;
            }
            match &config.listen {
                Some(addr) => writeln!(out, "state endpoint: http://{addr}/state")?,
                None => writeln!(out, "state endpoint: off")?,
            }
            Ok(())
        }
    }
}
