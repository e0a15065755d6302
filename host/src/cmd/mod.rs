//! One module per subcommand; each has an `Args` struct (clap) and a `run` function. The argument
//! groups several subcommands share live here.

pub mod config;
pub mod demo;
pub mod run;

use crate::config::{default_config_file, Config};
use clap::Args;
use std::path::PathBuf;

/// `--config`: which configuration file.
#[derive(Debug, Clone, Default, Args)]
pub struct ConfigArgs {
    /// The configuration file [default: $RACKWATCH_CONFIG, else ~/.config/rackwatch/rackwatch.toml
    /// if it exists, else built-in defaults].
    #[arg(long, short = 'c', value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,
}

impl ConfigArgs {
    /// The configuration: the named file, the default file, or the built-in defaults.
    pub fn load(&self) -> anyhow::Result<Config> {
        match self.config.clone().or_else(default_config_file) {
            Some(path) => Ok(Config::load(&path)?),
            None => Ok(Config::defaults()),
        }
    }
}

/// `--db`: which history database.
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// The history database [default: the configuration's `store.path`, else
    /// <data dir>/history.db].
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
}

impl StoreArgs {
    /// The database path, given the configuration.
    pub fn path(&self, config: &Config) -> PathBuf {
        self.db.clone().unwrap_or_else(|| config.store_path.clone())
    }
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// One JSON object per line, for scripts.
    Json,
    /// Comma-separated values with a header.
    Csv,
}
