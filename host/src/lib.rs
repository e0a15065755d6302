//! The `rackwatch` host: the library behind the command line, one module per subcommand in [`cmd`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod cmd;
pub mod ingest;
pub mod rules;
pub mod store;
