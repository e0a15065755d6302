//! Raw captures: the bytes a source delivered, with the wall time each chunk arrived, so a session can
//! be replayed exactly (same times, same chunking) at any speed, and re-ingested idempotently.
//!
//! Format, version 1:
//! - a header line: `rackwatch-capture 1 <source name>\n` (the name is UTF-8 without a newline);
//! - records until the end of the file: `wall_ms` u64 LE, `len` u32 LE, then `len` bytes.
//!
//! The format has no sync marks, so after a defect (a length over [`MAX_RECORD_LEN`], a time that
//! jumps more than [`MAX_TIME_JUMP_MS`] from the record before, a file that ends mid-record) the
//! reader looks for the next offset where two plausible records follow each other (or one ends the
//! file) and reads on from there.
//!
//! Invariants: the reader never panics and never allocates more than [`MAX_RECORD_LEN`] per record
//! (plus a fixed scan window) on untrusted input; every complete record before a defect is delivered
//! before the error, which names the byte offset of the defect and where reading went on.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every capture.
pub const MAGIC: &[u8] = b"rackwatch-capture 1 ";
/// The largest record a reader accepts.
pub const MAX_RECORD_LEN: u32 = 1 << 20;

/// The largest gap between two records' times that a capture can hold: a recorder writes as bytes
/// arrive, so a bigger jump is a corrupt header, not a pause.
pub const MAX_TIME_JUMP_MS: u64 = 400 * 24 * 3_600_000;
/// How much of the file one step of the resynchronising scan holds in memory.
const SCAN_WINDOW: u64 = 1 << 16;

/// What is wrong with a capture file, and where.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be read or written.
    #[error("capture {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The file does not start with a capture header.
    #[error("{path} is not a rackwatch capture (it does not start with `rackwatch-capture 1`); to read raw line bytes, use the source `raw:{path}`")]
    NotACapture {
        /// The file.
        path: PathBuf,
    },
    /// A record is malformed.
    #[error("capture {path}: byte offset {offset}: {what}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// The longest source name a capture's header keeps, in bytes.
pub const MAX_SOURCE_NAME: usize = 4096;

/// `name` without newlines, cut at a character boundary to at most [`MAX_SOURCE_NAME`] bytes: the
/// one form of a source name that writer and reader both keep, so a capture copies exactly.
fn source_name(name: &str) -> String {
    let mut name: String = name.chars().filter(|&c| c != '\n').collect();
    let mut end = name.len().min(MAX_SOURCE_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

/// Writes a capture.
pub struct CaptureWriter {
    out: BufWriter<File>,
    path: PathBuf,
}

impl CaptureWriter {
    /// Creates (truncating) a capture of `source` at `path`.
    pub fn create(path: &Path, source: &str) -> Result<CaptureWriter, CaptureError> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut out = BufWriter::new(File::create(path).map_err(io)?);
        let name = source_name(source);
        out.write_all(MAGIC)
            .and_then(|()| out.write_all(name.as_bytes()))
            .and_then(|()| out.write_all(b"\n"))
            .map_err(io)?;
        Ok(CaptureWriter {
            out,
            path: path.to_path_buf(),
        })
    }

    /// Appends a chunk received at `wall_ms`. Chunks longer than [`MAX_RECORD_LEN`] are split.
    pub fn record(&mut self, wall_ms: u64, bytes: &[u8]) -> Result<(), CaptureError> {
        for chunk in bytes.chunks(MAX_RECORD_LEN as usize) {
            self.out
                .write_all(&wall_ms.to_le_bytes())
                .and_then(|()| self.out.write_all(&(chunk.len() as u32).to_le_bytes()))
                .and_then(|()| self.out.write_all(chunk))
                .map_err(|source| CaptureError::Io {
                    path: self.path.clone(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Flushes buffered records to the file.
    pub fn flush(&mut self) -> Result<(), CaptureError> {
        self.out.flush().map_err(|source| CaptureError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// Reads a capture, record by record.
pub struct CaptureReader {
    input: BufReader<File>,
    path: PathBuf,
    offset: u64,
    source: String,
    failed: bool,
    /// The time of the last good record, to tell a header from noise.
    last_wall: Option<u64>,
}

/// Why a record could not be read.
enum Defect {
    /// The file could not be read.
    Io(io::Error),
    /// The bytes are not a record: what is wrong.
    Bad(String),
}

/// A record header's time and length.
fn parse_header(head: &[u8]) -> (u64, u32) {
    let wall_ms = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
    let len = u32::from_le_bytes(head[8..12].try_into().unwrap_or_default());
    (wall_ms, len)
}

impl CaptureReader {
    /// Opens a capture and reads its header.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let io = |source| CaptureError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut input = BufReader::new(File::open(path).map_err(io)?);
        let mut magic = [0u8; MAGIC.len()];
        if input.read_exact(&mut magic).is_err() || magic != MAGIC {
            return Err(CaptureError::NotACapture {
                path: path.to_path_buf(),
            });
        }
        let mut name = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            input
                .read_exact(&mut byte)
                .map_err(|_| CaptureError::Corrupt {
                    path: path.to_path_buf(),
                    offset: MAGIC.len() as u64,
                    what: "the header line does not end".into(),
                })?;
            if byte[0] == b'\n' {
                break;
            }
            if name.len() >= MAX_SOURCE_NAME {
                return Err(CaptureError::Corrupt {
                    path: path.to_path_buf(),
                    offset: MAGIC.len() as u64,
                    what: format!("the source name is longer than {MAX_SOURCE_NAME} bytes"),
                });
            }
            name.push(byte[0]);
        }
        let offset = (MAGIC.len() + name.len() + 1) as u64;
        Ok(CaptureReader {
            input,
            path: path.to_path_buf(),
            offset,
            // Invalid UTF-8 read lossily can grow up to threefold: bounded again, as written.
            source: source_name(&String::from_utf8_lossy(&name)),
            failed: false,
            last_wall: None,
        })
    }

    /// The name of the source the capture was recorded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Why a header with these fields cannot start a record here, if it cannot.
    fn check_header(&self, wall_ms: u64, len: u32) -> Result<(), String> {
        if len > MAX_RECORD_LEN {
            return Err(format!(
                "a record claims {len} bytes, more than the {MAX_RECORD_LEN} allowed"
            ));
        }
        match self.last_wall {
            Some(last) if wall_ms.abs_diff(last) > MAX_TIME_JUMP_MS => Err(format!(
                "a record's time is {} days from the record before it",
                wall_ms.abs_diff(last) / 86_400_000
            )),
            _ => Ok(()),
        }
    }

    /// The record at the current offset; `None` at the end of the file.
    fn read_record(&mut self) -> Result<Option<(u64, Vec<u8>)>, Defect> {
        let mut head = [0u8; 12];
        let mut got = 0;
        while got < head.len() {
            match self.input.read(&mut head[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => {
                    return Err(Defect::Bad(format!(
                        "the file ends inside a record header ({got} of 12 bytes)"
                    )))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Defect::Io(e)),
            }
        }
        let (wall_ms, len) = parse_header(&head);
        self.check_header(wall_ms, len).map_err(Defect::Bad)?;
        let mut bytes = vec![0u8; len as usize];
        if self.input.read_exact(&mut bytes).is_err() {
            return Err(Defect::Bad(format!(
                "the file ends inside a record of {len} bytes (the recorder stopped mid-write)"
            )));
        }
        self.offset += 12 + u64::from(len);
        self.last_wall = Some(wall_ms);
        Ok(Some((wall_ms, bytes)))
    }

    /// Finds the first offset after `start` where a plausible record is followed by another (or
    /// by the end of the file), and reads on from there. `None`: no record follows.
    fn resync(&mut self, start: u64) -> io::Result<Option<u64>> {
        let file_len = self.input.get_ref().metadata()?.len();
        let mut base = start + 1;
        let mut window = Vec::new();
        while base + 12 <= file_len {
            self.input.seek(SeekFrom::Start(base))?;
            window.clear();
            (&mut self.input)
                .take(SCAN_WINDOW)
                .read_to_end(&mut window)?;
            for (i, head) in window.windows(12).enumerate() {
                let (wall_ms, len) = parse_header(head);
                // The writer never writes an empty record, and a run of zeros would pass for them.
                if len == 0 || self.check_header(wall_ms, len).is_err() {
                    continue;
                }
                let at = base + i as u64;
                if self.header_follows(at + 12 + u64::from(len), file_len)? {
                    self.input.seek(SeekFrom::Start(at))?;
                    self.offset = at;
                    return Ok(Some(at));
                }
            }
            // The next window starts at the first offset this one could not check.
            base += window.len().saturating_sub(11).max(1) as u64;
        }
        Ok(None)
    }

    /// Whether a plausible record (or the end of the file) is at `at`.
    fn header_follows(&mut self, at: u64, file_len: u64) -> io::Result<bool> {
        if at == file_len {
            return Ok(true);
        }
        if at + 12 > file_len {
            return Ok(false);
        }
        self.input.seek(SeekFrom::Start(at))?;
        let mut head = [0u8; 12];
        self.input.read_exact(&mut head)?;
        let (wall_ms, len) = parse_header(&head);
        Ok(len > 0
            && self.check_header(wall_ms, len).is_ok()
            && at + 12 + u64::from(len) <= file_len)
    }

    fn io_error(&mut self, source: io::Error) -> CaptureError {
        self.failed = true;
        CaptureError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Iterator for CaptureReader {
    type Item = Result<(u64, Vec<u8>), CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let start = self.offset;
        let defect = match self.read_record() {
            Ok(record) => return record.map(Ok),
            Err(Defect::Io(e)) => return Some(Err(self.io_error(e))),
            Err(Defect::Bad(what)) => what,
        };
        let what = match self.resync(start) {
            Ok(Some(next)) => format!(
                "{defect}; {} bytes skipped, reading on at byte offset {next}",
                next - start
            ),
            Ok(None) => {
                self.failed = true;
                format!("{defect}; no record follows it (the records before it were read)")
            }
            Err(e) => return Some(Err(self.io_error(e))),
        };
        Some(Err(CaptureError::Corrupt {
            path: self.path.clone(),
            offset: start,
            what,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/wire.md §11's example is the bytes the writer writes, and reads back as stated.
    #[test]
    fn the_documented_example_capture_is_what_the_writer_writes() {
        let doc = include_str!("../../docs/wire.md");
        let section = doc.split("## 11. Capture files").nth(1).unwrap();
        let example = section.split("Example:").nth(1).unwrap();
        let block = example.split("```").nth(1).unwrap();
        let documented: Vec<u8> = block
            .lines()
            .map(|line| line.split('#').next().unwrap_or(""))
            .flat_map(str::split_whitespace)
            .map(|byte| u8::from_str_radix(byte, 16).unwrap())
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.rwcap");
        let mut writer = CaptureWriter::create(&path, "serial:/dev/ttyUSB0").unwrap();
        writer.record(1_764_756_000_000, &[0x01, 0x00]).unwrap();
        writer.flush().unwrap();
        drop(writer);
        assert_eq!(std::fs::read(&path).unwrap(), documented);
        let reader = CaptureReader::open(&path).unwrap();
        assert_eq!(reader.source(), "serial:/dev/ttyUSB0");
        let records: Vec<_> = reader.map(Result::unwrap).collect();
        assert_eq!(records, [(1_764_756_000_000, vec![0x01, 0x00])]);
    }

    #[test]
    fn records_round_trip_and_a_truncated_tail_is_reported_after_the_good_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.rwcap");
        let mut w = CaptureWriter::create(&path, "tty\nACM0").unwrap();
        w.record(5, b"abc").unwrap();
        w.record(7, b"").unwrap(); // nothing to record
        w.record(8, b"x").unwrap();
        w.record(9, &[0u8; 10]).unwrap();
        w.flush().unwrap();
        drop(w);
        let r = CaptureReader::open(&path).unwrap();
        assert_eq!(r.source(), "ttyACM0");
        let records: Vec<_> = r.map(Result::unwrap).collect();
        assert_eq!(
            records,
            [(5, b"abc".to_vec()), (8, b"x".to_vec()), (9, vec![0; 10])]
        );

        // Cut the last record short.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let results: Vec<_> = CaptureReader::open(&path).unwrap().collect();
        assert_eq!(results.len(), 3);
        assert!(results[..2].iter().all(Result::is_ok));
        let err = results[2].as_ref().unwrap_err().to_string();
        assert!(
            err.contains("byte offset 56") && err.contains("ends inside a record"),
            "{err}"
        );
    }

    #[test]
    fn a_huge_length_is_refused_without_allocating_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.rwcap");
        let mut bytes = b"rackwatch-capture 1 x\n".to_vec();
        bytes.extend(1u64.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let err = CaptureReader::open(&path)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().contains("claims 4294967295 bytes"), "{err}");
        std::fs::write(&path, b"not a capture").unwrap();
        assert!(matches!(
            CaptureReader::open(&path),
            Err(CaptureError::NotACapture { .. })
        ));
    }

    /// A capture of `n` records of 100 bytes each, a second apart, and its bytes.
    fn hundred_byte_records(path: &Path, n: u64) -> Vec<u8> {
        let mut w = CaptureWriter::create(path, "tty").unwrap();
        for i in 0..n {
            w.record(1_800_000_000_000 + i * 1_000, &[i as u8; 100])
                .unwrap();
        }
        w.flush().unwrap();
        drop(w);
        std::fs::read(path).unwrap()
    }

    #[test]
    fn a_corrupt_record_in_the_middle_is_reported_where_it_is_and_the_rest_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.rwcap");
        let mut bytes = hundred_byte_records(&path, 10);
        let header = b"rackwatch-capture 1 tty\n".len();
        // Record 4's length claims 200 bytes: it swallows record 5's header and half its bytes.
        let fourth = header + 4 * 112;
        bytes[fourth + 8..fourth + 12].copy_from_slice(&200u32.to_le_bytes());
        // Record 8's time is garbage.
        let eighth = header + 8 * 112;
        bytes[eighth..eighth + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        std::fs::write(&path, &bytes).unwrap();
        let results: Vec<_> = CaptureReader::open(&path).unwrap().collect();
        let good: Vec<u8> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|(_, b)| b[0]))
            .collect();
        let errors: Vec<String> = results
            .iter()
            .filter_map(|r| r.as_ref().err().map(ToString::to_string))
            .collect();
        // Record 4 is read with the wrong length (a capture has no checksum); what follows it is
        // noise until record 6, found again; record 8 is lost, record 9 found again.
        assert_eq!(good, [0, 1, 2, 3, 4, 6, 7, 9], "{errors:?}");
        assert_eq!(errors.len(), 2, "{errors:?}");
        let after_fourth = fourth + 212;
        assert!(
            errors[0].contains(&format!("byte offset {after_fourth}"))
                && errors[0].contains(&format!("reading on at byte offset {}", header + 6 * 112)),
            "{errors:?}"
        );
        assert!(
            errors[1].contains(&format!("byte offset {eighth}"))
                && errors[1].contains("days from the record before"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_source_name_of_invalid_utf8_copies_exactly() {
        // Found by fuzzing: 1366 bytes of 0xff read lossily as 1366 three-byte replacement
        // characters, a name the writer then wrote and the reader refused.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odd.rwcap");
        let mut bytes = MAGIC.to_vec();
        bytes.extend(std::iter::repeat_n(0xffu8, 1366));
        bytes.push(b'\n');
        std::fs::write(&path, bytes).unwrap();
        let source = CaptureReader::open(&path).unwrap().source().to_string();
        assert!(source.len() <= MAX_SOURCE_NAME);
        let copy = dir.path().join("copy.rwcap");
        CaptureWriter::create(&copy, &source)
            .unwrap()
            .flush()
            .unwrap();
        assert_eq!(CaptureReader::open(&copy).unwrap().source(), source);
        assert_eq!(source_name(&"é".repeat(3000)).len(), 4096);
    }
}
