//! One module per subcommand; each has an `Args` struct (clap) and a `run` function. The argument
//! groups several subcommands share live here.

pub mod ack;
pub mod alerts;
pub mod analyze;
pub mod audit;
pub mod check;
pub mod config;
pub mod demo;
pub mod exec;
pub mod history;
pub mod logs;
pub mod maintenance;
pub mod ping;
pub mod push;
pub mod record;
pub mod replay;
pub mod run;
pub mod silence;
pub mod sim;
pub mod unack;
pub mod watch;

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

/// Prints rows as an aligned table, CSV, or JSON lines (`json` gives each row's object).
pub fn print_rows<T: serde::Serialize>(
    out: &mut dyn std::io::Write,
    format: Format,
    headers: &[&str],
    rows: &[T],
    cells: impl Fn(&T) -> Vec<String>,
) -> std::io::Result<()> {
    match format {
        Format::Json => {
            for row in rows {
                writeln!(out, "{}", serde_json::to_string(row).unwrap_or_default())?;
            }
        }
        Format::Csv => {
            writeln!(out, "{}", headers.join(","))?;
            for row in rows {
                let cells: Vec<String> = cells(row)
                    .into_iter()
                    .map(|c| {
                        if c.contains([',', '"', '\n']) {
                            format!("\"{}\"", c.replace('"', "\"\""))
                        } else {
                            c
                        }
                    })
                    .collect();
                writeln!(out, "{}", cells.join(","))?;
            }
        }
        Format::Table => {
            let body: Vec<Vec<String>> = rows.iter().map(&cells).collect();
            let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
            for row in &body {
                for (w, cell) in widths.iter_mut().zip(row) {
                    *w = (*w).max(cell.chars().count());
                }
            }
            let line = |cells: Vec<String>| {
                cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect::<Vec<_>>()
                    .join("  ")
                    .trim_end()
                    .to_string()
            };
            writeln!(
                out,
                "{}",
                line(headers.iter().map(|h| h.to_string()).collect())
            )?;
            for row in body {
                writeln!(out, "{}", line(row))?;
            }
        }
    }
    Ok(())
}

/// `--node`, `--metric`, `--since`, `--until`, `--limit`: which history rows.
#[derive(Debug, Clone, Default, Args)]
pub struct QueryArgs {
    /// Only this node.
    #[arg(long)]
    pub node: Option<u16>,
    /// Only this metric (its name, e.g. `inlet_temperature`).
    #[arg(long)]
    pub metric: Option<String>,
    /// From this time: RFC 3339, epoch seconds or ms, or a duration ago (`2h`) [default: all].
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Until this time (exclusive), same forms as --since [default: now].
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// At most this many rows (the newest).
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

impl QueryArgs {
    /// The store query these arguments mean at `now_ms`.
    pub fn query(&self, now_ms: u64) -> anyhow::Result<crate::store::Query> {
        let time = |t: &Option<String>, flag: &str| -> anyhow::Result<Option<u64>> {
            t.as_deref()
                .map(|t| crate::timefmt::parse_time(t, now_ms))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
        };
        Ok(crate::store::Query {
            node: self.node,
            metric: self.metric.clone(),
            since_ms: time(&self.since, "since")?,
            until_ms: time(&self.until, "until")?,
            limit: self.limit,
        })
    }
}

/// Opens the history database for queries, explaining what to do when it does not exist.
pub fn open_history(config: &ConfigArgs, store: &StoreArgs) -> anyhow::Result<crate::store::Store> {
    let config = config.load()?;
    let path = store.path(&config);
    if !path.exists() {
        anyhow::bail!(
            "no history at {}: start `rackwatch run` to record some, or name the database with --db",
            path.display()
        );
    }
    Ok(crate::store::Store::open_read_only(&path)?)
}

/// Where an operator change goes (`ack`, `unack`, `silence`, `maintenance`): the running daemon over HTTP with
/// `--connect`, else the history database directly (the daemon reads it every few seconds).
#[derive(Debug, Clone, Default, Args)]
pub struct OperatorArgs {
    /// Change the running daemon at URL (http://127.0.0.1:9187, say) over its HTTP API instead of
    /// the history database directly.
    #[arg(long, value_name = "URL")]
    pub connect: Option<String>,
    /// How long to wait for the daemon's answer.
    #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration, default_value = "5s")]
    pub timeout: std::time::Duration,
    /// The configuration file.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The history database.
    #[command(flatten)]
    pub store: StoreArgs,
}

impl OperatorArgs {
    /// Sends `request` to the daemon (`method` `path`) with `--connect`, else applies `local` to
    /// the store; returns the answer.
    pub fn change<T: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        request: &T,
        local: impl FnOnce(
            &mut crate::operator::store::OperatorStore,
            &T,
            u64,
        ) -> Result<R, crate::operator::store::OperatorError>,
    ) -> anyhow::Result<R> {
        if let Some(url) = &self.connect {
            let body = serde_json::to_string(request)?;
            let answer = self.call(url, method, path, &body)?;
            return serde_json::from_str(&answer).map_err(|e| {
                anyhow::anyhow!("{url}: the daemon's answer is not what this rackwatch expects ({e}): is it another version?")
            });
        }
        let mut store = self.open_store()?;
        Ok(local(&mut store, request, crate::source::now_ms())?)
    }

    /// Sends `method` `path` with the JSON `body` to the daemon at `url`, with the configuration's
    /// bearer token (`http.token_file`) when it names one.
    pub fn call(&self, url: &str, method: &str, path: &str, body: &str) -> anyhow::Result<String> {
        let config = self.config.load()?;
        let token = match &config.http_token_file {
            Some(path) => Some(crate::config::read_token(path).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let call = crate::client::Call {
            token: token.as_deref(),
            ..crate::client::Call::json(method, path, body)
        };
        crate::client::call(url, &call, self.timeout).map_err(anyhow::Error::msg)
    }

    /// The history database's operator tables (created with the database if need be).
    pub fn open_store(&self) -> anyhow::Result<crate::operator::store::OperatorStore> {
        let config = self.config.load()?;
        let path = self.store.path(&config);
        Ok(crate::operator::store::OperatorStore::open(&path)?)
    }
}

/// A time in the future on the command line: a duration from now (`2h`), or an absolute time as
/// [`crate::timefmt::parse_time`] reads it.
pub fn parse_future(text: &str, now_ms: u64) -> anyhow::Result<u64> {
    if let Ok(d) = crate::config::parse_duration(text) {
        return Ok(now_ms.saturating_add(d.as_millis() as u64));
    }
    crate::timefmt::parse_time(text, now_ms).map_err(anyhow::Error::msg)
}
