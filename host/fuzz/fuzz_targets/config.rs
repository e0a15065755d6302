//! Arbitrary UTF-8 text as a configuration file. Properties: no panic; a refused file is an error
//! that names the file, a line and a column within the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch::config::{Config, ConfigError};
use std::path::Path;

fuzz_target!(|text: &str| {
    let path = Path::new("fuzz/rackwatch.toml");
    match Config::parse(path, text) {
        Ok(_) => {}
        Err(ConfigError::Invalid { line, column, .. }) => {
            assert!(
                line >= 1 && line <= text.lines().count().max(1) + 1,
                "line {line}"
            );
            assert!(column >= 1, "column {column}");
        }
        Err(e) => panic!("parsing text may only fail as Invalid, not: {e}"),
    }
});
