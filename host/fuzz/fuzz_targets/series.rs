//! Arbitrary bytes as `rackwatch analyze`'s input series (CSV or JSON lines). Properties: no panic;
//! the reader ends; rows and errors come in line order, each error naming its line; it reads every
//! byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch::cmd::analyze::SeriesReader;

fuzz_target!(|data: &[u8]| {
    let lines = data.split(|&b| b == b'\n').count();
    let mut reader = SeriesReader::new(data);
    let mut last = 0;
    while let Some(row) = reader.next_row() {
        let line = match row {
            Ok((line, _, _)) => line,
            Err(message) => {
                let number = message
                    .strip_prefix("line ")
                    .and_then(|rest| rest.split(':').next())
                    .and_then(|n| n.parse::<usize>().ok());
                number.unwrap_or_else(|| panic!("an error names no line: {message}"))
            }
        };
        assert!(
            line > last && line <= lines,
            "line {line} after {last} of {lines}"
        );
        last = line;
    }
    assert_eq!(reader.bytes, data.len() as u64);
});
