//! Node logs: the defmt stream a node sends in its Log frames (wire kind 5), decoded to text with
//! the firmware's ELF (`defmt-decoder`'s table of format strings), for `rackwatch logs` and the
//! daemon's own log.
//!
//! A boot's Log bodies, concatenated in sequence order, are the firmware's defmt stream: rzcobs
//! frames, each ended by a `0x00` (defmt's default encoding, the one the board images use). A body
//! may end inside a frame; the next one continues it. [`LogStream`] splits the stream on the
//! delimiters itself and hands the decoder one whole frame at a time, so it knows each frame's raw
//! bytes and can keep a frame that does not decode.
//!
//! Invariants:
//! - Hostile bytes never panic and never make memory grow without bound: a frame is at most
//!   [`MAX_FRAME_BYTES`] (a longer one is cut off, kept raw and counted), and a panic inside the
//!   decoder is caught and the frame kept raw. The one bound not enforced here is the decoder's own
//!   pre-allocation for a `{=[?]}` slice argument, whose element count comes from the stream; the
//!   board images log no such argument.
//! - Nothing is lost silently: every frame becomes a [`NodeLine`], decoded or [`Undecodable`] with
//!   its raw bytes; a frame torn by a lost Log frame is undecodable, and the stream resynchronises
//!   at the next delimiter.
//! - Only rzcobs is decoded: defmt's raw encoding has no delimiters, so one lost Log frame would
//!   garble every line after it; an ELF built with it is refused with what to do.

use defmt_decoder::{Encoding, Table};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The longest encoded defmt frame decoded. The board images' log ring holds 1 KiB and drops a
/// frame that does not fit whole, so a longer one can only be corrupt.
pub const MAX_FRAME_BYTES: usize = 4096;
/// The largest firmware ELF read: images with full debug information are a few MiB.
const MAX_ELF_BYTES: u64 = 512 << 20;

/// A firmware image's defmt table, read from its ELF.
pub struct Firmware {
    path: PathBuf,
    table: Table,
}

/// Why a firmware ELF cannot decode node logs.
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    /// The file could not be read.
    #[error(
        "cannot read the firmware ELF {path}: {source}; build the image (firmware/README.md) or \
         name the right file"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is larger than any firmware image.
    #[error(
        "{path} is {size} bytes, not a firmware ELF (at most {MAX_ELF_BYTES} bytes); name the \
         image the node runs"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// The file is not an ELF defmt-decoder can read, or its defmt version is not this one's.
    #[error(
        "{path} is not a defmt firmware ELF rackwatch can read ({reason}); name the image the \
         node runs, e.g. firmware/boards/target/thumbv7em-none-eabihf/release/qemu"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the decoder said.
        reason: String,
    },
    /// An ELF without a `.defmt` section: not built with defmt.
    #[error(
        "{path} has no defmt table (no .defmt section): it is not the image of a rackwatch node; \
         name the ELF the node's firmware was built as"
    )]
    NoDefmt {
        /// The file.
        path: PathBuf,
    },
    /// An image built with defmt's raw encoding.
    #[error(
        "{path} uses defmt's raw encoding, which cannot resynchronise after a lost Log frame; \
         rebuild the firmware with defmt's default encoding (rzcobs)"
    )]
    RawEncoding {
        /// The file.
        path: PathBuf,
    },
}

impl Firmware {
    /// Reads the defmt table of the ELF at `path`.
    pub fn load(path: &Path) -> Result<Firmware, ElfError> {
        let bytes = read_bounded(path)?;
        Firmware::from_elf(path, &bytes)
    }

    /// The defmt table of `elf`, the contents of `path` (named in errors).
    pub fn from_elf(path: &Path, elf: &[u8]) -> Result<Firmware, ElfError> {
        let path = path.to_path_buf();
        // The ELF is the user's file, not the firmware's: a malformed one must not take the
        // daemon down with it.
        let parsed =
            panic::catch_unwind(|| Table::parse(elf)).map_err(|_| ElfError::Unreadable {
                path: path.clone(),
                reason: "the ELF parser failed on it".into(),
            })?;
        let table = match parsed {
            Ok(Some(table)) => table,
            Ok(None) => return Err(ElfError::NoDefmt { path }),
            Err(e) => {
                return Err(ElfError::Unreadable {
                    path,
                    reason: e.to_string(),
                })
            }
        };
        Firmware::from_table(path, table)
    }

    /// A firmware from a table already read (tests build small ones).
    pub fn from_table(path: PathBuf, table: Table) -> Result<Firmware, ElfError> {
        match table.encoding() {
            Encoding::Rzcobs => Ok(Firmware { path, table }),
            _ => Err(ElfError::RawEncoding { path }),
        }
    }

    /// The ELF it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One whole rzcobs frame (without its delimiter) decoded, or why not.
    fn decode(&self, frame: &[u8]) -> Result<(Severity, String), Undecodable> {
        let decoded = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut decoder = self.table.new_stream_decoder();
            decoder.received(frame);
            decoder.received(&[0]);
            let frame = decoder.decode().ok()?;
            let severity = frame.level().map_or(Severity::Print, |l| match l.as_str() {
                "trace" => Severity::Trace,
                "debug" => Severity::Debug,
                "info" => Severity::Info,
                "warn" => Severity::Warn,
                _ => Severity::Error,
            });
            Some((severity, frame.display_message().to_string()))
        }));
        match decoded {
            Ok(Some(line)) => Ok(line),
            Ok(None) => Err(Undecodable::Malformed),
            Err(_) => Err(Undecodable::DecoderFailed),
        }
    }
}

/// Reads `path`, refusing a file larger than any firmware image before allocating for it.
fn read_bounded(path: &Path) -> Result<Vec<u8>, ElfError> {
    use std::io::Read;
    let read_err = |source| ElfError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let size = file.metadata().map_err(read_err)?.len();
    if size > MAX_ELF_BYTES {
        return Err(ElfError::TooLarge {
            path: path.to_path_buf(),
            size,
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(MAX_ELF_BYTES)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    Ok(bytes)
}

/// A node log line's severity: defmt's levels, and `PRINT` for `defmt::println!`, which has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// `defmt::println!`: always logged, no level.
    Print,
    /// `trace!`.
    Trace,
    /// `debug!`.
    Debug,
    /// `info!`.
    Info,
    /// `warn!`.
    Warn,
    /// `error!`.
    Error,
}

impl Severity {
    /// The stored and printed name: `PRINT`, `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Print => "PRINT",
            Severity::Trace => "TRACE",
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// Why a frame was kept raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undecodable {
    /// Not a frame of this ELF's table: corrupt, torn by a lost Log frame, or another firmware's.
    Malformed,
    /// Longer than [`MAX_FRAME_BYTES`]; the bytes kept are its first ones.
    TooLong,
    /// The stream ended inside it (the rest was never received).
    Unfinished,
    /// The decoder failed on it (a bug in it, caught).
    DecoderFailed,
}

impl Undecodable {
    /// Why, in words.
    pub const fn as_str(self) -> &'static str {
        match self {
            Undecodable::Malformed => "not a frame of this ELF",
            Undecodable::TooLong => "longer than any frame the node can log",
            Undecodable::Unfinished => "unfinished",
            Undecodable::DecoderFailed => "the decoder failed on it",
        }
    }
}

/// One defmt frame of a node's stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeLine {
    /// Decoded with the ELF.
    Text {
        /// Its level.
        severity: Severity,
        /// The formatted message.
        text: String,
    },
    /// Kept as it came.
    Raw {
        /// The encoded frame (without its delimiter), at most [`MAX_FRAME_BYTES`].
        bytes: Vec<u8>,
        /// Why it is not text.
        why: Undecodable,
    },
}

/// Decodes one boot's defmt stream, fed a Log body at a time. See the [module docs](self).
pub struct LogStream {
    firmware: Arc<Firmware>,
    /// The bytes of the frame being received.
    frame: Vec<u8>,
    /// The frame being received passed [`MAX_FRAME_BYTES`].
    too_long: bool,
    /// Bytes up to the first delimiter belong to a frame that began before the stream was joined.
    joined_mid_frame: bool,
}

impl LogStream {
    /// A stream read from its first byte.
    pub fn new(firmware: Arc<Firmware>) -> LogStream {
        LogStream {
            firmware,
            frame: Vec::new(),
            too_long: false,
            joined_mid_frame: false,
        }
    }

    /// A stream joined in the middle (`rackwatch logs --since`): the tail of the frame before is
    /// skipped rather than shown as undecodable.
    pub fn joined_mid_stream(firmware: Arc<Firmware>) -> LogStream {
        LogStream {
            joined_mid_frame: true,
            ..LogStream::new(firmware)
        }
    }

    /// The firmware it decodes with.
    pub fn firmware(&self) -> &Firmware {
        &self.firmware
    }

    /// Takes the next bytes of the stream; each frame they finish goes to `line`.
    pub fn feed(&mut self, bytes: &[u8], mut line: impl FnMut(NodeLine)) {
        for &b in bytes {
            if b != 0 {
                self.push(b);
                continue;
            }
            if std::mem::take(&mut self.joined_mid_frame) {
                self.frame.clear();
                self.too_long = false;
                continue;
            }
            if let Some(done) = self.end_frame() {
                line(done);
            }
        }
    }

    /// The stream ends: a frame left unfinished is kept raw.
    pub fn finish(&mut self) -> Option<NodeLine> {
        if self.frame.is_empty() || std::mem::take(&mut self.joined_mid_frame) {
            self.frame.clear();
            return None;
        }
        self.too_long = false;
        Some(NodeLine::Raw {
            bytes: std::mem::take(&mut self.frame),
            why: Undecodable::Unfinished,
        })
    }

    fn push(&mut self, b: u8) {
        if self.frame.len() < MAX_FRAME_BYTES {
            self.frame.push(b);
        } else {
            self.too_long = true;
        }
    }

    /// The frame just ended by a delimiter; `None` for the empty frames between repeated ones.
    fn end_frame(&mut self) -> Option<NodeLine> {
        if self.frame.is_empty() {
            return None;
        }
        let bytes = std::mem::take(&mut self.frame);
        if std::mem::take(&mut self.too_long) {
            return Some(NodeLine::Raw {
                bytes,
                why: Undecodable::TooLong,
            });
        }
        Some(match self.firmware.decode(&bytes) {
            Ok((severity, text)) => NodeLine::Text { severity, text },
            Err(why) => NodeLine::Raw { bytes, why },
        })
    }
}

/// Which ELF decodes which node's logs: `[node_logs]` in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ElfSettings {
    /// `node_logs.elf`: the ELF for a boot whose firmware version has none of its own.
    pub elf: Option<PathBuf>,
    /// `[[node_logs.firmware]]`: an ELF per firmware version (as the node's Hello announces it).
    pub firmware: Vec<(String, PathBuf)>,
}

/// The ELFs in use, each read once: `--elf` first, then the boot's firmware version's, then
/// `node_logs.elf`.
pub struct Elves {
    command_line: Option<PathBuf>,
    settings: ElfSettings,
    /// Where the settings came from, for errors.
    config_file: Option<PathBuf>,
    loaded: Vec<(PathBuf, Arc<Firmware>)>,
}

impl Elves {
    /// The ELFs of `settings` (from `config_file`), overridden by `command_line` (`--elf`).
    pub fn new(
        command_line: Option<PathBuf>,
        settings: ElfSettings,
        config_file: Option<PathBuf>,
    ) -> Elves {
        Elves {
            command_line,
            settings,
            config_file,
            loaded: Vec::new(),
        }
    }

    /// Whether any ELF is named at all.
    pub fn any(&self) -> bool {
        self.command_line.is_some()
            || self.settings.elf.is_some()
            || !self.settings.firmware.is_empty()
    }

    /// Reads every ELF named, so that a wrong path is an error now rather than when a node of
    /// that version first logs.
    pub fn load_all(&mut self) -> anyhow::Result<()> {
        self.for_version(None)?;
        let versions: Vec<String> = self
            .settings
            .firmware
            .iter()
            .map(|(v, _)| v.clone())
            .collect();
        for version in versions {
            self.for_version(Some(&version))?;
        }
        Ok(())
    }

    /// The firmware to decode a boot running `version` with, or `None` when no ELF is named for
    /// it. An ELF named but unusable is an error saying which setting named it.
    pub fn for_version(&mut self, version: Option<&str>) -> anyhow::Result<Option<Arc<Firmware>>> {
        let (path, named_by) = match self.choose(version) {
            Some(choice) => choice,
            None => return Ok(None),
        };
        if let Some((_, firmware)) = self.loaded.iter().find(|(p, _)| *p == path) {
            return Ok(Some(Arc::clone(firmware)));
        }
        let firmware = Arc::new(
            Firmware::load(&path).map_err(|e| anyhow::anyhow!("{e} (named by {named_by})"))?,
        );
        self.loaded.push((path, Arc::clone(&firmware)));
        Ok(Some(firmware))
    }

    /// The path for `version` and what named it.
    fn choose(&self, version: Option<&str>) -> Option<(PathBuf, String)> {
        let file = self.config_file.as_ref().map_or_else(
            || "the configuration".to_string(),
            |f| f.display().to_string(),
        );
        if let Some(path) = &self.command_line {
            return Some((path.clone(), "--elf".into()));
        }
        if let Some((v, path)) =
            version.and_then(|v| self.settings.firmware.iter().find(|(known, _)| known == v))
        {
            return Some((
                path.clone(),
                format!("node_logs.firmware version `{v}` in {file}"),
            ));
        }
        let path = self.settings.elf.as_ref()?;
        Some((path.clone(), format!("node_logs.elf in {file}")))
    }
}

/// `text` safe to print on a terminal or in a log line: a node's strings are untrusted, so
/// control characters (escape sequences, newlines that would forge a line) are shown escaped.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

/// Lower-case hex of `bytes`, for raw frames.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests;
