//! Node logs end to end: the real `qemu` firmware image under `qemu-system-arm`, its defmt stream
//! read twice, from semihosting stdout and from its Log frames on the UART, both decoded with the
//! image's ELF through `rackwatch::node_log` (defmt-decoder). The Log frames must read exactly as
//! the semihosting stream does; then the same frames, ingested by `rackwatch run`, are printed by
//! `rackwatch logs` and logged by the daemon with their node, boot and sequence.
//!
//! One QEMU run serves the file ([`run`]); without QEMU 10, socat or the thumbv7em target the
//! tests skip loudly (and fail under `CI=true`), as `tests/tests/qemu.rs` does.

use rackwatch::node_log::{Firmware, LogStream, NodeLine};
use rackwatch_core::wire::{Body, Frame, MAX_ENCODED_LEN};
use rackwatch_tests::qemu::{self, Capture, QemuRun, SharedRun};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// Log frames the run must hold: the boot line and several status lines (one per ten rack
/// minutes; the image plays rack time fast).
const LOG_FRAMES: usize = 12;
/// A guard against a hung image, not a timing check.
const LIMIT: Duration = Duration::from_secs(150);

/// What one QEMU run gave.
struct Run {
    elf: PathBuf,
    capture: Capture,
    /// The defmt stream on semihosting stdout.
    semihosting: Vec<u8>,
    qemu_stderr: String,
}

impl Run {
    /// The Log frames' bodies, in order.
    fn log_bytes(&self) -> Vec<u8> {
        self.capture
            .bodies(|b| match b {
                Body::Log(log) => Some(log.defmt.to_vec()),
                _ => None,
            })
            .concat()
    }
}

fn run() -> Option<&'static Run> {
    static RUN: SharedRun<Run> = SharedRun::new();
    qemu::shared_run(&RUN, || {
        let tools = qemu::tools()?;
        let elf = qemu::firmware_elf();
        let mut node = QemuRun::start(&tools, &elf);
        let capture = node.read(LIMIT, |c| {
            c.frames
                .iter()
                .filter(|f| matches!(f.body, Body::Log(_)))
                .count()
                >= LOG_FRAMES
        });
        Ok(Run {
            elf,
            capture,
            semihosting: node.defmt_stdout(),
            qemu_stderr: node.stderr(),
        })
    })
}

/// Every frame of `bytes`, decoded with the ELF at `elf`.
fn decode(elf: &Path, bytes: &[u8]) -> Vec<NodeLine> {
    let firmware = Arc::new(Firmware::load(elf).unwrap_or_else(|e| panic!("{e}")));
    let mut stream = LogStream::new(firmware);
    let mut lines = Vec::new();
    stream.feed(bytes, |l| lines.push(l));
    lines.extend(stream.finish());
    lines
}

fn texts(lines: &[NodeLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l {
            NodeLine::Text { severity, text } => format!("{} {text}", severity.as_str()),
            NodeLine::Raw { bytes, why } => {
                panic!("a frame did not decode ({why:?}): {bytes:02x?}")
            }
        })
        .collect()
}

#[test]
fn the_log_frames_decode_to_the_text_the_image_prints_over_semihosting() {
    let Some(run) = run() else { return };
    let context = format!(
        "{} frames, errors {:?}\nqemu stderr:\n{}",
        run.capture.frames.len(),
        run.capture.errors,
        run.qemu_stderr
    );
    let semihosting = texts(&decode(&run.elf, &run.semihosting));
    let logged = texts(&decode(&run.elf, &run.log_bytes()));
    assert!(logged.len() >= 3, "{logged:?}\n{context}");
    assert!(
        logged[0].starts_with("PRINT rackwatch-qemu: node "),
        "{logged:?}"
    );

    // Every frame the Log frames carry is the semihosting frame at its place: the ring drops a
    // frame whole when it is full, so the Log stream is the semihosting stream less the dropped
    // frames, in order.
    let mut next = 0;
    let mut dropped = 0;
    for line in &logged {
        let at = semihosting[next..]
            .iter()
            .position(|s| s == line)
            .unwrap_or_else(|| panic!("{line:?} is not on semihosting after frame {next}"));
        dropped += at;
        next += at + 1;
    }
    // The image counts what its ring dropped in each status line; the last one the Log frames
    // carry says how many of the frames before it never made it to the line.
    let counted: usize = logged
        .iter()
        .rev()
        .find_map(|l| {
            l.rsplit("log frames ")
                .next()?
                .strip_suffix(" dropped")?
                .parse()
                .ok()
        })
        .expect("a status line in the Log frames");
    assert_eq!(
        dropped, counted,
        "frames missing from the Log frames, against the image's count"
    );
    println!(
        "{} defmt frames on semihosting, {} in Log frames, identical in order; {dropped} dropped \
         by the ring (the image counted {counted}); {} sent only to semihosting so far",
        semihosting.len(),
        logged.len(),
        semihosting.len() - next
    );
}

/// The capture's frames back on the wire, as a raw file `rackwatch run raw:FILE` reads.
fn raw_file(run: &Run, dir: &Path) -> PathBuf {
    let mut bytes = Vec::new();
    for frame in &run.capture.frames {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let frame: &Frame = frame;
        let n = frame.encode(&mut out).expect("a decoded frame encodes");
        bytes.extend_from_slice(&out[..n]);
    }
    let path = dir.join("uart.raw");
    std::fs::write(&path, bytes).unwrap();
    path
}

fn rackwatch(data: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
    c.env_remove("RACKWATCH_CONFIG")
        .env_remove("RUST_LOG")
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("RACKWATCH_DATA_DIR", data)
        .env("NO_COLOR", "1");
    c
}

fn output(c: &mut Command) -> (String, String) {
    let out = c.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    (stdout, stderr)
}

#[test]
fn rackwatch_logs_prints_the_ingested_log_frames_decoded_and_the_daemon_logs_them() {
    let Some(run) = run() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let raw = raw_file(run, dir.path());
    let expected = texts(&decode(&run.elf, &run.log_bytes()));
    let node = run.capture.frames[0].header.node_id;
    let boot = format!("{:08x}", run.capture.frames[0].header.boot_id);

    // The daemon, told the ELF, logs each node line with its fields.
    let (_, stderr) = output(
        rackwatch(dir.path())
            .args(["run", "--no-local", "--listen", "none", "--elf"])
            .arg(&run.elf)
            .arg("--db")
            .arg(&db)
            .arg(format!("raw:{}", raw.display())),
    );
    let first_text = expected[0].split_once(' ').unwrap().1;
    let logged = stderr
        .lines()
        .find(|l| l.contains(first_text))
        .unwrap_or_else(|| panic!("the daemon did not log {first_text:?}:\n{stderr}"));
    for field in [
        format!("node={node}"),
        format!("boot={boot}"),
        "seq=".into(),
        "level=\"PRINT\"".into(),
    ] {
        assert!(logged.contains(&field), "{field} missing in {logged}");
    }

    // `rackwatch logs` with the ELF: every line, in order, with node, boot and sequence.
    let (stdout, stderr) = output(
        rackwatch(dir.path())
            .args(["logs", "--elf"])
            .arg(&run.elf)
            .arg("--db")
            .arg(&db),
    );
    let printed: Vec<String> = stdout
        .lines()
        .map(|l| {
            let prefix = format!(" node {node} boot {boot} seq ");
            let (_, rest) = l
                .split_once(&prefix)
                .unwrap_or_else(|| panic!("no node, boot and sequence in {l:?}"));
            let (seq, rest) = rest.split_once(' ').unwrap();
            seq.parse::<u16>()
                .unwrap_or_else(|_| panic!("sequence {seq:?} in {l:?}"));
            let (level, text) = rest.split_once(' ').unwrap();
            format!("{level} {}", text.trim_start())
        })
        .collect();
    assert_eq!(printed, expected, "{stderr}");
    println!(
        "rackwatch logs printed {} decoded lines:\n{stdout}",
        printed.len()
    );

    // Without an ELF: the stored frames as hex, and a note saying how to decode them.
    let (stdout, stderr) = output(rackwatch(dir.path()).args(["logs", "--db"]).arg(&db));
    let logs = run
        .capture
        .frames
        .iter()
        .filter(|f| matches!(f.body, Body::Log(_)))
        .count();
    assert_eq!(stdout.lines().count(), logs, "{stdout}");
    assert!(stdout.lines().all(|l| l.contains(" RAW ")), "{stdout}");
    assert!(stderr.contains("no ELF known"), "{stderr}");
    assert!(stderr.contains("--elf FILE"), "{stderr}");
}

#[test]
fn a_wrong_elf_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    rackwatch_store_once(&db);
    let not_firmware = std::env::current_exe().unwrap();
    let out = rackwatch(dir.path())
        .args(["logs", "--elf"])
        .arg(&not_firmware)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&not_firmware.display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("no defmt table"), "{stderr}");
}

/// An empty history database at `db`.
fn rackwatch_store_once(db: &Path) {
    rackwatch::store::Store::open(db).unwrap();
}

/// The image's real table against its own stream damaged every way one byte can be: each byte
/// flipped, each prefix cut off. Nothing panics, every frame comes back (decoded or raw, within the
/// bound), and the frames after the damage still decode as before.
#[test]
fn the_real_stream_damaged_anywhere_decodes_the_rest_and_keeps_the_damage_raw() {
    let Some(run) = run() else { return };
    let firmware = Arc::new(Firmware::load(&run.elf).unwrap_or_else(|e| panic!("{e}")));
    let stream = run.log_bytes();
    let clean = texts(&decode(&run.elf, &stream));
    let last = clean.last().unwrap().clone();
    let decode_with = |bytes: &[u8]| {
        let mut s = LogStream::new(Arc::clone(&firmware));
        let mut lines = Vec::new();
        s.feed(bytes, |l| lines.push(l));
        lines.extend(s.finish());
        lines
    };
    let mut raw = 0;
    for at in 0..stream.len() {
        for damaged in [
            {
                let mut d = stream.clone();
                d[at] ^= 0x5a;
                d
            },
            stream[..at].to_vec(),
        ] {
            let lines = decode_with(&damaged);
            for line in &lines {
                if let NodeLine::Raw { bytes, .. } = line {
                    assert!(bytes.len() <= rackwatch::node_log::MAX_FRAME_BYTES);
                    raw += 1;
                }
            }
            // The damage costs at most the frames it touches: the last line survives a flip
            // anywhere before its own frame.
            let last_frame_start = stream[..stream.len() - 1]
                .iter()
                .rposition(|&b| b == 0)
                .unwrap();
            if damaged.len() == stream.len() && at < last_frame_start {
                let got = match lines.last() {
                    Some(NodeLine::Text { severity, text }) => {
                        format!("{} {text}", severity.as_str())
                    }
                    other => panic!("flip at {at}: last line {other:?}"),
                };
                assert_eq!(got, last, "flip at {at}");
            }
        }
    }
    println!(
        "{} damaged streams decoded without a panic; {raw} frames kept raw",
        2 * stream.len()
    );
}
