//! The firmware under QEMU, read over a pty.
//!
//! The wiring is the one `docs/embedded-qemu.md` measured to lose nothing: QEMU waits for a
//! client on a socket (`-chardev socket,...,server=on,wait=on -serial chardev:uart0`), socat
//! makes a pty and connects to the socket only once the pty's other side is opened
//! (`pty,...,wait-slave`), so the node's first byte is already read by the test. The socket is TCP
//! on the loopback rather than the README's unix socket: QEMU's USART writes one byte per send, and
//! a unix socket accounts a whole buffer per send, so it holds only a few hundred bytes and a
//! reader a few milliseconds late stalls the USART; TCP coalesces them into megabytes. QEMU's stdout
//! (the image's defmt stream over semihosting, binary, the same bytes its Log frames carry) and
//! stderr (QEMU's messages and the image's stack reports) go to files in the run's scratch
//! directory.
//!
//! QEMU runs with `-icount shift=0,sleep=off`: the guest's clock advances one nanosecond per
//! instruction and jumps to the next timer when the guest sleeps. The image's rack time is a
//! multiple of that clock, so hours of rack time take seconds, the frames are those a real-time
//! run sends, and a descheduled QEMU cannot stretch the node's time between two polls. A stalled
//! reader only fills the TCP socket's buffer; were the USART held up, the guest would spin on it
//! and its clock would run on (the node would then rightly count missed Heartbeats).
//!
//! [`tools`] finds `qemu-system-arm` with the `b-l475e-iot01a` machine (QEMU 10; Debian bookworm's
//! own 7.2 lacks it), socat and the `thumbv7em-none-eabihf` Rust target (added with rustup when
//! missing). If one is missing a test skips with one loud line saying what to install, except under
//! `CI=true`, where it fails: CI installs them all (`.ci/run`); see [`crate::require`].

use crate::require::{self, Missing};
use rackwatch_core::wire::{Body, DecodeError, Decoder, Frame};
use serialport::TTYPort;
use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a test file's tests share: one QEMU run, made by the first test that asks.
pub type SharedRun<T> = std::sync::OnceLock<Result<Result<T, Missing>, String>>;

/// The run in `cell`, made by `make` on first use. `None` after the calling test was skipped
/// because a tool is missing (a failure under `CI=true`: [`Missing::skip`]); a run that panicked
/// fails every test that asks for it with its message, instead of poisoning the others silently.
pub fn shared_run<T>(
    cell: &'static SharedRun<T>,
    make: impl FnOnce() -> Result<T, Missing>,
) -> Option<&'static T> {
    let result = cell.get_or_init(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(make)).map_err(|e| {
            e.downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        })
    });
    match result {
        Ok(Ok(run)) => Some(run),
        Ok(Err(missing)) => {
            missing.skip();
            None
        }
        Err(why) => panic!("the QEMU run failed: {why}"),
    }
}

/// The QEMU machine of the B-L475E-IOT01A.
pub const MACHINE: &str = "b-l475e-iot01a";

/// The programs a QEMU test needs.
#[derive(Debug, Clone)]
pub struct Tools {
    /// `qemu-system-arm`, with the [`MACHINE`].
    pub qemu: PathBuf,
    /// `socat`.
    pub socat: PathBuf,
}

/// The Rust target the image is built for.
pub const TARGET: &str = "thumbv7em-none-eabihf";

/// The tools, or what is missing and how to install it (for [`Missing::skip`]).
pub fn tools() -> Result<Tools, Missing> {
    const QEMU_10: &str =
        "install QEMU 10 (Debian: qemu-system-arm from bookworm-backports; .ci/run does)";
    let qemu = require::program("qemu-system-arm", QEMU_10)?;
    let machines = Command::new(&qemu)
        .args(["-M", "help"])
        .output()
        .map_err(|e| Missing::new(format!("{} does not run: {e}", qemu.display()), QEMU_10))?;
    if !String::from_utf8_lossy(&machines.stdout).contains(MACHINE) {
        let version = Command::new(&qemu)
            .arg("--version")
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned()
            })
            .unwrap_or_default();
        return Err(Missing::new(
            format!(
                "{} ({version}) has no {MACHINE} machine (QEMU 7.2 lacks it, QEMU 10 has it)",
                qemu.display()
            ),
            QEMU_10,
        ));
    }
    let socat = require::program("socat", "install socat (Debian: apt-get install socat)")?;
    require::rust_target(TARGET, &repo_root())?;
    Ok(Tools { qemu, socat })
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository")
        .to_path_buf()
}

/// The `qemu` firmware ELF: `RACKWATCH_QEMU_ELF` if set, else built now by [`board_elf`].
pub fn firmware_elf() -> PathBuf {
    if let Some(elf) = std::env::var_os("RACKWATCH_QEMU_ELF") {
        return PathBuf::from(elf);
    }
    board_elf("qemu")
}

/// The board image `bin` (`qemu` or `hw`, each with the feature of its name), built now with the
/// documented command (a no-op when it is up to date, as after CI's own build of the images). The
/// build gets its own target directory (`firmware/boards/target`, or `$CARGO_TARGET_DIR/boards`),
/// so it never waits for the lock of the `cargo test` that runs this.
pub fn board_elf(bin: &str) -> PathBuf {
    let root = repo_root();
    let target_dir = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir).join("boards"),
        None => root.join("firmware/boards/target"),
    };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--release",
            "--manifest-path",
            "firmware/boards/Cargo.toml",
            "--target",
            TARGET,
            "--features",
            bin,
            "--bin",
            bin,
            "--target-dir",
        ])
        .arg(&target_dir)
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the {bin} firmware failed");
    target_dir.join(TARGET).join("release").join(bin)
}

/// What came over the line.
#[derive(Debug, Default)]
pub struct Capture {
    /// Frames, in the order received.
    pub frames: Vec<Frame>,
    /// Decode errors, in the order met.
    pub errors: Vec<DecodeError>,
    /// Bytes read.
    pub bytes: usize,
}

impl Capture {
    /// Frames of one kind, selected by `pick`.
    pub fn bodies<'a, T: 'a>(&'a self, pick: impl Fn(&'a Body) -> Option<T> + 'a) -> Vec<T> {
        self.frames.iter().filter_map(|f| pick(&f.body)).collect()
    }
}

/// A running QEMU node. Dropping it ends QEMU and socat and removes the scratch directory.
pub struct QemuRun {
    qemu: Child,
    socat: Child,
    port: TTYPort,
    dir: PathBuf,
}

impl QemuRun {
    /// Starts `elf` under QEMU and opens its USART1 through socat's pty.
    pub fn start(tools: &Tools, elf: &Path) -> QemuRun {
        assert!(elf.is_file(), "no firmware at {}", elf.display());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("rackwatch-qemu-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).expect("scratch directory");
        let port = free_port();
        let tty = dir.join("ttyFW");
        let qemu = Command::new(&tools.qemu)
            .args(["-M", MACHINE, "-display", "none", "-monitor", "none"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=uart0,host=127.0.0.1,port={port},server=on,wait=on"
            ))
            .args(["-serial", "chardev:uart0"])
            .args(["-semihosting-config", "enable=on,target=native"])
            // Guest time moves with the guest only; idle time is skipped (module docs).
            .args(["-icount", "shift=0,sleep=off"])
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(File::create(dir.join("defmt.bin")).expect("scratch file"))
            .stderr(File::create(dir.join("qemu.err")).expect("scratch file"))
            .spawn()
            .expect("qemu-system-arm starts");
        let mut socat = None;
        let run = |socat: &mut Option<Child>| -> Result<TTYPort, String> {
            *socat = Some(
                Command::new(&tools.socat)
                    .arg(format!("pty,raw,echo=0,link={},wait-slave", tty.display()))
                    // QEMU may not listen yet: socat retries until it does.
                    .arg(format!("tcp:127.0.0.1:{port},retry=400,interval=0.05"))
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(File::create(dir.join("socat.err")).map_err(|e| e.to_string())?)
                    .spawn()
                    .map_err(|e| format!("socat does not start: {e}"))?,
            );
            wait_for(|| tty.exists(), "socat's pty")?;
            serialport::new(tty.to_string_lossy(), 115_200)
                .timeout(Duration::from_millis(100))
                .open_native()
                .map_err(|e| format!("opening {}: {e}", tty.display()))
        };
        let result = run(&mut socat);
        match (result, socat) {
            (Ok(port), Some(socat)) => QemuRun {
                qemu,
                socat,
                port,
                dir,
            },
            (result, socat) => {
                let mut qemu = qemu;
                let _ = qemu.kill();
                let _ = qemu.wait();
                if let Some(mut socat) = socat {
                    let _ = socat.kill();
                    let _ = socat.wait();
                }
                let err = fs::read_to_string(dir.join("qemu.err")).unwrap_or_default();
                let _ = fs::remove_dir_all(&dir);
                panic!(
                    "QEMU run did not start: {:?}\nqemu stderr:\n{err}",
                    result.err()
                );
            }
        }
    }

    /// Reads and decodes the line until `done` says so or `limit` passes (a guard against a hung
    /// image, not a timing check: the caller asserts on what was captured).
    pub fn read(&mut self, limit: Duration, mut done: impl FnMut(&Capture) -> bool) -> Capture {
        let mut decoder: Decoder = Decoder::new();
        let mut capture = Capture::default();
        let mut buf = [0u8; 1024];
        let start = Instant::now();
        while !done(&capture) && start.elapsed() < limit {
            match self.port.read(&mut buf) {
                Ok(n) => {
                    capture.bytes += n;
                    for result in decoder.feed(&buf[..n]) {
                        match result {
                            Ok(frame) => capture.frames.push(frame),
                            Err(e) => capture.errors.push(e),
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {
                }
                Err(e) => panic!("reading the pty: {e}"),
            }
        }
        capture
    }

    /// What the image wrote on semihosting stdout so far: its defmt stream, binary.
    pub fn defmt_stdout(&self) -> Vec<u8> {
        fs::read(self.dir.join("defmt.bin")).unwrap_or_default()
    }

    /// What QEMU and the image wrote on stderr so far (the image's stack reports among it).
    pub fn stderr(&self) -> String {
        fs::read_to_string(self.dir.join("qemu.err")).unwrap_or_default()
    }
}

impl Drop for QemuRun {
    fn drop(&mut self) {
        for child in [&mut self.qemu, &mut self.socat] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A loopback TCP port nobody listens on now (the kernel's pick; QEMU binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `ready` for up to 20 s.
fn wait_for(ready: impl Fn() -> bool, what: &str) -> Result<(), String> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > Duration::from_secs(20) {
            return Err(format!("{what} did not appear"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// The highest stack high-water mark the image reported on stderr, in bytes.
pub fn stack_high_water(stderr: &str) -> Option<usize> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("rackwatch-qemu: stack high-water "))
        .filter_map(|rest| rest.split(' ').next()?.parse().ok())
        .max()
}
