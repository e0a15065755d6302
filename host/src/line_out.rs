//! Where `replay` and `sim` put line bytes: standard output, a pseudo-terminal a reader opens like a
//! serial port (optionally behind a stable symlink), a TCP client, or a file or device.

use serialport::{SerialPort, TTYPort};
use std::io::{self, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A line's far end.
pub enum LineOut {
    /// Standard output.
    Stdout(io::Stdout),
    /// A pty: written on the master side; readers open [`LineOut::path`].
    Pty {
        /// The master side.
        master: TTYPort,
        /// The slave side, held open so the line exists before a reader opens it.
        _slave: TTYPort,
        /// The slave's path.
        path: PathBuf,
        /// A symlink to the slave that this line maintains.
        link: Option<PathBuf>,
    },
    /// One TCP client, accepted on a listener.
    Tcp(TcpStream),
    /// A file, fifo or device.
    File(std::fs::File),
}

/// Replaces (atomically) `link` with a symlink to `target`.
fn relink(target: &Path, link: &Path) -> io::Result<()> {
    let tmp = link.with_extension("rwtmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)?;
    std::fs::rename(&tmp, link)
}

impl LineOut {
    /// A new pty; with `link`, a symlink at that path points to it (replaced if it exists).
    /// `write_timeout` bounds how long a write waits for a reader to make room.
    pub fn pty(link: Option<&Path>, write_timeout: Duration) -> io::Result<LineOut> {
        let (mut master, slave) = TTYPort::pair().map_err(io::Error::other)?;
        master
            .set_timeout(write_timeout)
            .map_err(io::Error::other)?;
        let path = PathBuf::from(
            slave
                .name()
                .ok_or_else(|| io::Error::other("the pty has no name"))?,
        );
        if let Some(link) = link {
            relink(&path, link)?;
        }
        Ok(LineOut::Pty {
            master,
            _slave: slave,
            path,
            link: link.map(Path::to_path_buf),
        })
    }

    /// Waits for one TCP client on `addr` and returns the line to it.
    pub fn tcp_listen(addr: &str) -> io::Result<LineOut> {
        let listener = TcpListener::bind(addr)?;
        tracing::info!("waiting for a client on {}", listener.local_addr()?);
        let (stream, peer) = listener.accept()?;
        tracing::info!(%peer, "client connected");
        Ok(LineOut::Tcp(stream))
    }

    /// Opens `spec`: `-` (stdout), `pty` or `pty:LINK`, `tcp-listen:ADDR`, or a path to write.
    pub fn open(spec: &str) -> io::Result<LineOut> {
        match spec {
            "-" => Ok(LineOut::Stdout(io::stdout())),
            "pty" => LineOut::pty(None, Duration::from_secs(1)),
            _ => {
                if let Some(link) = spec.strip_prefix("pty:") {
                    LineOut::pty(Some(Path::new(link)), Duration::from_secs(1))
                } else if let Some(addr) = spec.strip_prefix("tcp-listen:") {
                    LineOut::tcp_listen(addr)
                } else {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(spec)
                        .map(LineOut::File)
                }
            }
        }
    }

    /// The path a reader opens, for a pty (the symlink when there is one).
    pub fn path(&self) -> Option<&Path> {
        match self {
            LineOut::Pty { path, link, .. } => Some(link.as_deref().unwrap_or(path)),
            _ => None,
        }
    }

    /// The pty's own device path.
    pub fn device(&self) -> Option<&Path> {
        match self {
            LineOut::Pty { path, .. } => Some(path),
            _ => None,
        }
    }
}

impl Write for LineOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            LineOut::Stdout(s) => s.write(buf),
            LineOut::Pty { master, .. } => master.write(buf),
            LineOut::Tcp(s) => s.write(buf),
            LineOut::File(f) => f.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            LineOut::Stdout(s) => s.flush(),
            LineOut::Pty { master, .. } => master.flush(),
            LineOut::Tcp(s) => s.flush(),
            LineOut::File(f) => f.flush(),
        }
    }
}

impl Drop for LineOut {
    fn drop(&mut self) {
        // The symlink goes with the pty, unless it was pointed elsewhere meanwhile.
        if let LineOut::Pty {
            path,
            link: Some(link),
            ..
        } = self
        {
            if std::fs::read_link(&*link).is_ok_and(|target| &target == path) {
                let _ = std::fs::remove_file(&*link);
            }
        }
    }
}
