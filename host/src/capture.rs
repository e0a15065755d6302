//! Raw captures: the bytes a source delivered, with the wall time each chunk arrived, so a session can
//! be replayed exactly (same times, same chunking) at any speed, and re-ingested idempotently.
//!
//! Format, version 1:
//! - a header line: `rackwatch-capture 1 <source name>\n` (the name is UTF-8 without a newline);
//! - records until the end of the file: `wall_ms` u64 LE, `len` u32 LE, then `len` bytes.
//!
//! Invariants: the reader never panics and never allocates more than [`MAX_RECORD_LEN`] per record on
//! untrusted input; every complete record before a defect is delivered before the error, which names
//! the byte offset.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// The first bytes of every capture.
pub const MAGIC: &[u8] = b"rackwatch-capture 1 ";
/// The largest record a reader accepts.
pub const MAX_RECORD_LEN: u32 = 1 << 20;

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
    #[error("capture {path}: byte offset {offset}: {what}; the records before it were read")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the bad record starts.
        offset: u64,
        /// What is wrong.
        what: String,
    },
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
        let name: String = source.chars().filter(|&c| c != '\n').collect();
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
            if name.len() >= 4096 {
                return Err(CaptureError::Corrupt {
                    path: path.to_path_buf(),
                    offset: MAGIC.len() as u64,
                    what: "the source name is longer than 4096 bytes".into(),
                });
            }
            name.push(byte[0]);
        }
        let offset = (MAGIC.len() + name.len() + 1) as u64;
        Ok(CaptureReader {
            input,
            path: path.to_path_buf(),
            offset,
            source: String::from_utf8_lossy(&name).into_owned(),
            failed: false,
        })
    }

    /// The name of the source the capture was recorded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn corrupt(
        &mut self,
        offset: u64,
        what: String,
    ) -> Option<Result<(u64, Vec<u8>), CaptureError>> {
        self.failed = true;
        Some(Err(CaptureError::Corrupt {
            path: self.path.clone(),
            offset,
            what,
        }))
    }
}

impl Iterator for CaptureReader {
    type Item = Result<(u64, Vec<u8>), CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let start = self.offset;
        let mut head = [0u8; 12];
        let mut got = 0;
        while got < head.len() {
            match self.input.read(&mut head[got..]) {
                Ok(0) if got == 0 => return None,
                Ok(0) => {
                    return self.corrupt(
                        start,
                        format!("the file ends inside a record header ({got} of 12 bytes)"),
                    )
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.failed = true;
                    return Some(Err(CaptureError::Io {
                        path: self.path.clone(),
                        source,
                    }));
                }
            }
        }
        let wall_ms = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(head[8..].try_into().unwrap_or_default());
        if len > MAX_RECORD_LEN {
            return self.corrupt(
                start,
                format!("a record claims {len} bytes, more than the {MAX_RECORD_LEN} allowed"),
            );
        }
        let mut bytes = vec![0u8; len as usize];
        if self.input.read_exact(&mut bytes).is_err() {
            return self.corrupt(
                start,
                format!(
                    "the file ends inside a record of {len} bytes (the recorder stopped mid-write)"
                ),
            );
        }
        self.offset += 12 + u64::from(len);
        Some(Ok((wall_ms, bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
