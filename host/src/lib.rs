//! The `rackwatch` host: the library behind the command line, one module per subcommand in [`cmd`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod capture;
pub mod client;
pub mod cmd;
pub mod config;
pub mod daemon;
pub mod downsample;
pub mod ingest;
pub mod jobs;
pub mod line_out;
pub mod local;
pub mod logging;
pub mod metrics;
pub mod names;
pub mod node_log;
pub mod operator;
pub mod probe;
pub mod push;
pub mod render;
pub mod rules;
pub mod schedule;
pub mod sim;
pub mod sink;
pub mod source;
pub mod state;
pub mod store;
pub mod timefmt;
pub mod tui;
