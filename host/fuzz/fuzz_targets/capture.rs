//! Arbitrary bytes as a capture file (the reader opens a path, so the input goes to a temporary file
//! first). Properties: no panic; every error names the file; nothing follows an error; the non-empty
//! records read before it, written again with `CaptureWriter`, read back identically and without
//! error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch::capture::{CaptureReader, CaptureWriter};
use std::path::{Path, PathBuf};

/// One file per fuzzing process (parallel jobs share the directory), rewritten for every input.
fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("rackwatch-fuzz-{}-{name}", std::process::id()))
}

/// The source name, every record read whole, and whether any error was reported.
type Read = (String, Vec<(u64, Vec<u8>)>, bool);

fn read_all(path: &Path) -> Option<Read> {
    let mut reader = match CaptureReader::open(path) {
        Ok(reader) => reader,
        Err(e) => {
            assert!(e.to_string().contains(&path.display().to_string()), "{e}");
            return None;
        }
    };
    let mut records = Vec::new();
    let mut failed = false;
    // A corrupt record is reported and the reader resynchronises on the records after it, so good
    // records may follow an error; each error names the file.
    for record in reader.by_ref() {
        match record {
            Ok(record) => records.push(record),
            Err(e) => {
                assert!(e.to_string().contains(&path.display().to_string()), "{e}");
                failed = true;
            }
        }
    }
    Some((reader.source().to_owned(), records, failed))
}

fuzz_target!(|data: &[u8]| {
    let input = scratch("in");
    std::fs::write(&input, data).expect("the temporary directory is writable");
    let Some((source, records, _)) = read_all(&input) else {
        return;
    };
    // An empty record reads fine, but the writer splits chunks and an empty chunk writes nothing.
    let records: Vec<_> = records.into_iter().filter(|(_, b)| !b.is_empty()).collect();

    let copy = scratch("copy");
    let mut writer = CaptureWriter::create(&copy, &source).expect("create the copy");
    for (wall_ms, bytes) in &records {
        writer.record(*wall_ms, bytes).expect("write the copy");
    }
    writer.flush().expect("flush the copy");
    drop(writer);
    let (source_again, again, failed) = read_all(&copy).expect("a written capture opens");
    assert!(!failed, "a written capture reads without error");
    assert_eq!(source_again, source);
    assert_eq!(again, records);
});
