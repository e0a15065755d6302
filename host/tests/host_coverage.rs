//! What the daemon watches on its own machine, through the real binary and `/state`: with no
//! configuration at all, every real mount (as `findmnt --real` lists them), memory, swap and load;
//! a `[[service]]` whose process the test kills and restarts raises the restart-loop alert at its
//! N-th restart and not before; a process whose memory grows steadily gets a forecast, and a
//! WARNING from it, while its memory is still far below the configured limit; `[local.disk]`
//! bounds are the ones a disk is judged by. Each test runs its own daemon on its own port and waits
//! on `/state`, never on the clock.

use rackwatch::state::{fetch, MetricView, Snapshot};
use rackwatch_core::Level;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A daemon killed (with its helpers) when dropped.
struct Daemon {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Daemon {
    /// `rackwatch run` with `config` as its file (`None`: no file anywhere, only the defaults and
    /// `--listen`); waits until it answers (at most 30 s: this bounds a hung test).
    fn start(config: Option<&str>) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_rackwatch"));
        command
            .env_remove("RACKWATCH_CONFIG")
            .env_remove("XDG_DATA_HOME")
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .env("HOME", dir.path())
            .env("RACKWATCH_DATA_DIR", dir.path().join("data"))
            .args(["run", "--listen", &addr, "--for", "10m"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(text) = config {
            let file = dir.path().join("rackwatch.toml");
            std::fs::write(&file, text).unwrap();
            command.arg("-c").arg(file);
        }
        let child = command.spawn().unwrap();
        let daemon = Daemon { child, addr, dir };
        daemon.wait_for("an answer", |_| Some(()));
        daemon
    }

    /// Polls `/state` until `found` finds something (at most 60 s: this bounds a hung test).
    fn wait_for<T>(&self, what: &str, found: impl Fn(&Snapshot) -> Option<T>) -> T {
        let give_up = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(snapshot) = fetch(
                &format!("http://{}/state", self.addr),
                Duration::from_secs(5),
            ) {
                if let Some(t) = found(&snapshot) {
                    return t;
                }
            }
            assert!(Instant::now() < give_up, "never in /state: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every metric with a value, by name, across all nodes.
fn metrics(s: &Snapshot) -> Vec<&MetricView> {
    s.nodes
        .iter()
        .flat_map(|n| &n.metrics)
        .filter(|m| m.value.is_some())
        .collect()
}

/// `name`'s metric of the node announced as `node`.
fn metric<'a>(s: &'a Snapshot, node: &str, name: &str) -> Option<&'a MetricView> {
    s.nodes
        .iter()
        .find(|n| n.firmware.as_deref() == Some(node))?
        .metrics
        .iter()
        .find(|m| m.name == name && m.value.is_some())
}

/// The metric name the daemon gives a mount: the prefix and, past 24 bytes, the end of the path.
fn mount_metric(prefix: &str, mount: &str) -> String {
    let room = 24 - prefix.len();
    let start = mount.len().saturating_sub(room);
    format!("{prefix}{}", &mount[start..])
}

/// The real mounts `findmnt --real` lists that hold a directory and are not read-only images
/// (docs/host-metrics.md says why those are skipped), with `findmnt`'s escapes undone.
fn findmnt_real() -> Option<Vec<String>> {
    let findmnt = match rackwatch_tests::require::program("findmnt", "install util-linux") {
        Ok(path) => path,
        Err(missing) => {
            missing.skip();
            return None;
        }
    };
    let out = Command::new(findmnt)
        .args([
            "--real",
            "--raw",
            "--noheadings",
            "--output",
            "TARGET,FSTYPE",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let unescape = |t: &str| t.replace("\\x20", " ").replace("\\x5c", "\\");
    Some(
        text.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(_, kind)| !["squashfs", "iso9660", "erofs"].contains(kind))
            .map(|(target, _)| unescape(target))
            .filter(|t| Path::new(t).is_dir())
            .filter(|t| {
                !t.starts_with("/var/lib/docker/") && !t.starts_with("/var/lib/containers/")
            })
            .collect(),
    )
}

#[test]
fn with_no_configuration_every_real_mount_memory_swap_and_load_are_watched() {
    let Some(real) = findmnt_real() else { return };
    let daemon = Daemon::start(None);
    let names: Vec<String> = daemon.wait_for("memory, swap and load", |s| {
        let names: Vec<String> = metrics(s).iter().map(|m| m.name.clone()).collect();
        ["memory_used", "swap_used", "load1"]
            .iter()
            .all(|n| names.iter().any(|m| m == n))
            .then_some(names)
    });
    assert!(!real.is_empty() || Path::new("/").is_dir());
    // A file system mounted at several places is watched once, at its shortest mount point.
    let device = |mount: &str| std::fs::metadata(mount).map(|m| m.dev()).ok();
    for mount in &real {
        let first = real
            .iter()
            .filter(|other| device(other) == device(mount))
            .min_by_key(|other| (other.len(), other.as_str()))
            .unwrap();
        for prefix in ["disk:", "inodes:"] {
            let name = mount_metric(prefix, first);
            assert!(
                names.contains(&name),
                "{name} ({mount}, real by findmnt) is not watched: {names:?}"
            );
        }
    }
    for pseudo in ["/proc", "/sys", "/dev"] {
        assert!(
            !names.iter().any(
                |n| n == &format!("disk:{pseudo}") || n.starts_with(&format!("disk:{pseudo}/"))
            ),
            "a pseudo file system is watched: {names:?}"
        );
    }
}

/// A process the test owns: `sleep`, its pid written to `pid_file`.
fn spawn_sleeper(pid_file: &Path) -> Child {
    let child = Command::new("sleep").arg("600").spawn().unwrap();
    std::fs::write(pid_file, format!("{}\n", child.id())).unwrap();
    child
}

fn service_config(local: &str, service: &str) -> String {
    format!("[local]\nmounts = []\n{local}\n\n[[service]]\n{service}\n")
}

#[test]
fn a_process_restarted_in_a_loop_raises_the_restart_loop_alert_at_its_nth_restart() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("flappy.pid");
    let mut child = spawn_sleeper(&pid_file);
    let config = service_config(
        "interval = \"100ms\"",
        &format!(
            "name = \"flappy\"\npid_file = \"{}\"\nrestarts = 3\nwithin = \"10m\"",
            pid_file.display()
        ),
    );
    let daemon = Daemon::start(Some(&config));
    daemon.wait_for("flappy active", |s| {
        metric(s, "flappy", "active")
            .filter(|m| m.value == Some(1.0))
            .map(|_| ())
    });
    for restart in 1..=3u32 {
        let _ = child.kill();
        let _ = child.wait();
        child = spawn_sleeper(&pid_file);
        let loop_metric = daemon.wait_for(&format!("restart {restart} seen"), |s| {
            metric(s, "flappy", "restart_loop")
                .filter(|m| m.value == Some(restart as f32))
                .cloned()
        });
        if restart < 3 {
            assert_ne!(
                loop_metric.level,
                Level::Critical,
                "{restart} restarts are not yet a loop"
            );
        }
    }
    let restarts = daemon.wait_for("the restart-loop alert", |s| {
        let m = metric(s, "flappy", "restart_loop")?;
        (m.level == Level::Critical).then(|| metric(s, "flappy", "restarts").and_then(|r| r.value))
    });
    assert_eq!(restarts, Some(3.0));
    let _ = child.kill();
    let _ = child.wait();
    daemon.wait_for("flappy down", |s| {
        metric(s, "flappy", "active")
            .filter(|m| m.value == Some(0.0) && m.level == Level::Critical)
            .map(|_| ())
    });
}

/// `perl` growing its memory by 2 MiB every 50 ms up to `cap_mib`, then holding it.
fn spawn_grower(cap_mib: u32) -> Option<Child> {
    let perl = match rackwatch_tests::require::program("perl", "install perl (Debian: perl-base)") {
        Ok(path) => path,
        Err(missing) => {
            missing.skip();
            return None;
        }
    };
    let script = format!(
        "my @a; for (1..{}) {{ push @a, 'x' x 2097152; select(undef, undef, undef, 0.05) }} sleep 600",
        cap_mib / 2
    );
    Some(Command::new(perl).args(["-e", &script]).spawn().unwrap())
}

#[test]
fn a_growing_process_gets_a_forecast_and_a_warning_before_its_limit() {
    let Some(mut grower) = spawn_grower(160) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pid_file: PathBuf = dir.path().join("grower.pid");
    std::fs::write(&pid_file, format!("{}\n", grower.id())).unwrap();
    let config = service_config(
        "interval = \"100ms\"",
        &format!(
            "name = \"grower\"\npid_file = \"{}\"\nmemory_max = \"512MiB\"",
            pid_file.display()
        ),
    );
    let daemon = Daemon::start(Some(&config));
    let (warned, mib) = daemon.wait_for("a forecast toward the limit", |s| {
        let m = metric(s, "grower", "memory_used")?;
        let mib = metric(s, "grower", "memory")?.value?;
        (matches!(m.level, Level::Warning | Level::Critical) && m.eta.is_some())
            .then(|| (m.clone(), mib))
    });
    let _ = grower.kill();
    let _ = grower.wait();
    let eta = warned.eta.unwrap();
    assert_eq!(eta.threshold, 100.0, "the forecast is toward the limit");
    assert!(
        eta.ms > 0,
        "announced before it reached the limit: {warned:?}"
    );
    // The share is of the configured 512 MiB, not of the machine's memory (same sample: both are
    // one reading's).
    let share = warned.value.unwrap();
    assert!(
        (share - mib / 512.0 * 100.0).abs() < 0.01,
        "{share} % of 512 MiB is not {mib} MiB"
    );
    // The grower stops at 160 MiB, under a third of the limit: nothing but the forecast raised it.
    assert!(share < 90.0, "{warned:?}");
}

#[test]
fn a_systemd_unit_is_read_where_systemd_runs() {
    let state = Command::new("systemctl")
        .arg("is-system-running")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|e| format!("no systemctl ({e})"));
    if !["running", "degraded"].contains(&state.as_str()) {
        // Not the skip helper: a CI container has no systemd to install, and the unit's reading
        // is covered by the parser's unit test; this only checks it against a live systemd.
        // Past the harness's capture, as the skip helper writes, so it shows although it passes.
        let _ = writeln!(
            std::io::stderr(),
            "\nSKIPPED a_systemd_unit_is_read_where_systemd_runs: systemd is `{state}` here, not \
             running; the unit reading is covered by its parser's unit test only"
        );
        return;
    }
    let config = service_config(
        "interval = \"200ms\"",
        "name = \"journald\"\nunit = \"systemd-journald.service\"",
    );
    let daemon = Daemon::start(Some(&config));
    daemon.wait_for("journald active with its memory", |s| {
        let active = metric(s, "journald", "active")?.value == Some(1.0);
        let memory = metric(s, "journald", "memory")?.value? > 0.0;
        (active && memory).then_some(())
    });
    let _ = &daemon.dir;
}

#[test]
fn the_disk_rule_is_the_configurations() {
    let config = "[local]\nmounts = [\"/\"]\n\n[local.disk]\nwarning_percent = 0.001\n\
                  critical_percent = 100\nwarning_within = \"2d\"\ncritical_within = \"1h\"\n";
    let daemon = Daemon::start(Some(config));
    let disk = daemon.wait_for("disk:/ judged", |s| {
        metric(s, "local-disks", "disk:/")
            .filter(|m| m.level != Level::Ok)
            .cloned()
    });
    // Any used space is over 0.001 %, and a disk cannot pass 100 %: WARNING, by the file's bounds.
    assert_eq!(disk.level, Level::Warning, "{disk:?}");
    assert_eq!((disk.warning, disk.critical), (Some(0.001), Some(100.0)));
}
