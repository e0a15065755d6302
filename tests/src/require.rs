//! What a test needs from the machine beyond Rust, and what happens when it is not there.
//!
//! The README's `cargo test --workspace` must pass on a fresh machine, and CI must never pass by
//! skipping. So a test whose program or target is missing calls [`Missing::skip`]: on a developer's
//! machine that writes one line, `SKIPPED <test>: <what is missing>; <how to install it> (...)`, to
//! stderr past the test harness's capture (so it shows although the test passes) and the test
//! returns; under `CI=true` it panics with the same words instead.
//!
//! Invariants: checking never changes the machine, except that a missing Rust target is added
//! with `rustup target add` when rustup is there (cheap, and what the README asks for anyway).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Something a test needs that this machine lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// What is missing, e.g. "tmux is not installed".
    pub what: String,
    /// How to get it, e.g. "install tmux (Debian: apt-get install tmux)".
    pub install: String,
}

/// Whether this run is CI's, where a missing tool fails the test rather than skip it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

impl Missing {
    /// A missing thing and how to install it.
    pub fn new(what: impl Into<String>, install: impl Into<String>) -> Missing {
        Missing {
            what: what.into(),
            install: install.into(),
        }
    }

    /// What skipping `test` comes to: the line to print, or under CI the failure's message.
    pub fn verdict(&self, test: &str, ci: bool) -> Result<String, String> {
        if ci {
            Err(format!(
                "{test} cannot run under CI=true: {}; {}",
                self.what, self.install
            ))
        } else {
            Ok(format!(
                "SKIPPED {test}: {}; {} (CI=true makes this a failure)",
                self.what, self.install
            ))
        }
    }

    /// Skips the calling test (named by its thread, as the test harness names it): one loud line
    /// on stderr; under `CI=true`, a panic instead.
    pub fn skip(&self) {
        let thread = std::thread::current();
        match self.verdict(thread.name().unwrap_or("this test"), in_ci()) {
            // Past the harness's capture, so it shows although the test passes.
            Ok(line) => {
                let _ = writeln!(std::io::stderr(), "\n{line}");
            }
            Err(failure) => panic!("{failure}"),
        }
    }
}

/// `program` on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `program` on `PATH`, or what is missing with `install` as the way to get it.
pub fn program(program: &str, install: &str) -> Result<PathBuf, Missing> {
    which(program).ok_or_else(|| Missing::new(format!("{program} is not installed"), install))
}

/// The Rust standard library for `target` in the toolchain that builds from `dir` (its
/// `rust-toolchain.toml` applies). When it is missing and rustup is there, it is added with
/// `rustup target add`; otherwise, or if that fails, says what to run.
pub fn rust_target(target: &str, dir: &Path) -> Result<(), Missing> {
    if has_rust_target(target, dir) {
        return Ok(());
    }
    let command = format!("rustup target add {target}");
    let missing = |why: &str| {
        Missing::new(
            format!("the {target} Rust target is not installed{why}"),
            format!("run `{command}`"),
        )
    };
    if which("rustup").is_none() {
        return Err(missing(" and there is no rustup to add it"));
    }
    let _ = writeln!(
        std::io::stderr(),
        "the {target} Rust target is missing: running `{command}`"
    );
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .current_dir(dir)
        .stdin(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if added && has_rust_target(target, dir) {
        Ok(())
    } else {
        Err(missing(&format!(" and `{command}` did not add it")))
    }
}

/// Whether the sysroot of the `rustc` that builds in `dir` has `target`'s standard library.
fn has_rust_target(target: &str, dir: &Path) -> bool {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|sysroot| {
            sysroot
                .join("lib/rustlib")
                .join(target)
                .join("lib")
                .is_dir()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skip_is_one_line_naming_test_gap_and_fix_and_a_failure_under_ci() {
        let missing = Missing::new("tmux is not installed", "install tmux");
        assert_eq!(
            missing.verdict("watch_in_tmux", false),
            Ok(
                "SKIPPED watch_in_tmux: tmux is not installed; install tmux \
                (CI=true makes this a failure)"
                    .to_string()
            )
        );
        assert_eq!(
            missing.verdict("watch_in_tmux", true),
            Err(
                "watch_in_tmux cannot run under CI=true: tmux is not installed; install tmux"
                    .into()
            )
        );
    }

    #[test]
    fn a_program_not_on_the_path_is_missing_with_its_install_hint() {
        let missing = program("rackwatch-no-such-program", "install it").unwrap_err();
        assert_eq!(
            missing,
            Missing::new("rackwatch-no-such-program is not installed", "install it")
        );
    }

    #[test]
    fn the_target_check_finds_the_host_target_and_not_a_made_up_one() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        if cfg!(all(
            target_arch = "x86_64",
            target_os = "linux",
            target_env = "gnu"
        )) {
            assert!(has_rust_target("x86_64-unknown-linux-gnu", dir));
        }
        assert!(!has_rust_target("no-such-target", dir));
    }
}
