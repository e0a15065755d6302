//! The daemon on a full disk, through the real binary: it starts with no room for its history,
//! keeps ingesting and serving `/state` (its history sink CRITICAL, the events held in memory),
//! and when space returns writes everything it held, losing and duplicating nothing.
//!
//! A full disk is a small tmpfs mounted by the test, which needs root (CI runs as root). Elsewhere
//! the test says what it skipped on one line; under `CI=true` it fails instead.

use rackwatch::state::{fetch, Snapshot};
use rackwatch_tests::net::free_port;
use rackwatch_tests::require::Missing;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A tmpfs of `size`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// A tmpfs of `size` at `disk/` in a fresh temporary directory (which outlives it).
    fn in_tempdir(size: &str) -> Result<(tempfile::TempDir, Tmpfs), Missing> {
        let dir = tempfile::tempdir().unwrap();
        let mount = dir.path().join("disk");
        std::fs::create_dir(&mount).unwrap();
        let tmpfs = Tmpfs::mount(&mount, size)?;
        Ok((dir, tmpfs))
    }

    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, Missing> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            Ok(Tmpfs(dir.to_path_buf()))
        } else {
            Err(Missing::new(
                "mounting a small tmpfs (a full disk) needs root",
                "run the tests as root, as CI does",
            ))
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system at `dir` with one file until it refuses another byte.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    while file.write_all(&[0]).is_ok() {}
    filler
}

/// Polls the daemon's state until `done` holds (at most 60 s: this bounds a hung test, it asserts
/// no time).
fn wait_for(url: &str, daemon: &mut Child, done: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = daemon.try_wait() {
            panic!("rackwatch run exited early: {status}");
        }
        if let Ok(s) = fetch(url, Duration::from_secs(2)) {
            if done(&s) {
                return s;
            }
            assert!(Instant::now() < give_up, "never reached: {s:#?}");
        }
        assert!(
            Instant::now() < give_up,
            "the daemon at {url} never answered"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn history(s: &Snapshot) -> &rackwatch::sink::SinkStatus {
    s.sinks
        .iter()
        .find(|s| s.name == "history")
        .expect("a history sink")
}

#[test]
fn the_daemon_starts_on_a_full_disk_keeps_monitoring_and_writes_everything_when_space_returns() {
    let (_dir, tmpfs) = match Tmpfs::in_tempdir("8m") {
        Ok(t) => t,
        Err(missing) => return missing.skip(),
    };
    let mount = tmpfs.0.clone();
    let filler = fill(&mount);
    let db = mount.join("history.db");
    let bin = env!("CARGO_BIN_EXE_rackwatch");
    let (line, http) = (free_port(), free_port());
    let mut sim = Command::new(bin)
        .args(["sim", "--nodes", "2", "--speed", "600", "--to"])
        .arg(format!("tcp-listen:127.0.0.1:{line}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut daemon = Command::new(bin)
        .args([
            "run",
            "--no-local",
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--db",
        ])
        .arg(&db)
        .arg(format!("tcp:127.0.0.1:{line}"))
        .env_remove("RACKWATCH_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{http}");

    // Full: the daemon runs, judges and serves; its history is CRITICAL and held in memory.
    let full = wait_for(&url, &mut daemon, |s| {
        s.frames > 200 && history(s).pending > 0 && history(s).failures > 1
    });
    assert_eq!(history(&full).level, rackwatch_core::Level::Critical);
    assert!(history(&full)
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("disk is full"));
    assert_eq!(full.nodes.len(), 2);

    // Space returns: what was held is written, and history keeps up again.
    std::fs::remove_file(&filler).unwrap();
    let recovered = wait_for(&url, &mut daemon, |s| {
        history(s).level == rackwatch_core::Level::Ok
            && history(s).pending == 0
            && s.frames > full.frames + 100
    });
    assert_eq!(history(&recovered).dropped, 0);

    // Stop, and count: every reading the daemon received is in the database, once.
    let _ = Command::new("kill").arg(daemon.id().to_string()).status();
    let status = daemon.wait().unwrap();
    let _ = sim.kill();
    let _ = sim.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("free some space"), "{stderr}");
    let received: u64 = stderr
        .lines()
        .filter_map(|l| {
            l.split(" readings,")
                .next()?
                .rsplit(' ')
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    let store = rackwatch::store::Store::open_read_only(&db).unwrap();
    let counts = store.counts().unwrap();
    assert!(received > 0, "{stderr}");
    assert_eq!(counts.readings, received, "{stderr}");
}

/// `rackwatch run` of `capture` into `db` with the configuration file `config`: its exit status
/// and standard error.
fn ingest(capture: &Path, db: &Path, config: &Path) -> (std::process::ExitStatus, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(["run", "--no-local", "--listen", "none", "--config"])
        .arg(config)
        .arg("--db")
        .arg(db)
        .arg(format!("capture:{}", capture.display()))
        .env_remove("RACKWATCH_CONFIG")
        .output()
        .unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Bytes of the database and what SQLite keeps beside it (the write-ahead log).
fn store_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("history.db"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_size_limit_keeps_the_store_under_it_so_the_disk_never_fills() {
    let (dir, tmpfs) = match Tmpfs::in_tempdir("8m") {
        Ok(t) => t,
        Err(missing) => return missing.skip(),
    };
    let mount = tmpfs.0.clone();
    // Two hours of 16 nodes sampling every second: more history than the 1 MiB limit (30 MB as
    // rows before schema 4), and a write-ahead log that fills the disk without a limit.
    let capture = dir.path().join("fleet.rwcap");
    let sim = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(["sim", "--nodes", "16", "--period", "1s", "--speed", "0"])
        .args(["--for", "2h", "--to"])
        .arg(format!("capture:{}", capture.display()))
        .status()
        .unwrap();
    assert!(sim.success());
    let db = mount.join("history.db");
    let unlimited = dir.path().join("unlimited.toml");
    std::fs::write(&unlimited, "[store]\nmax_age = \"none\"\n").unwrap();
    let limited = dir.path().join("limited.toml");
    std::fs::write(
        &limited,
        "[store]\nmax_age = \"none\"\nmax_size = \"1MiB\"\n",
    )
    .unwrap();

    // Without a limit, the 8 MiB disk fills, and the run says what it could not store.
    let (status, stderr) = ingest(&capture, &db, &unlimited);
    assert!(stderr.contains("disk is full"), "{stderr}");
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("history dropped"), "{stderr}");
    for entry in std::fs::read_dir(&mount).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }

    // With a limit below the free space, the oldest data goes and the disk never fills.
    let (status, stderr) = ingest(&capture, &db, &limited);
    assert!(status.success(), "{stderr}");
    assert!(!stderr.contains("full"), "{stderr}");
    assert!(
        store_bytes(&mount) <= 1 << 20,
        "{} bytes",
        store_bytes(&mount)
    );
    let store = rackwatch::store::Store::open_read_only(&db).unwrap();
    let newest = store.readings(&Default::default()).unwrap();
    let last_t = newest.iter().map(|r| r.t_ms).max().unwrap();
    assert!(last_t >= 7_199_000, "the newest reading is kept: {last_t}");
    let first_t = newest.iter().map(|r| r.t_ms).min().unwrap();
    assert!(first_t > 0, "the oldest readings are the ones deleted");
}
