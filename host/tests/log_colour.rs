//! The log on stderr carries no terminal colour codes when stderr is not a terminal
//! (`rackwatch run 2>log`), whatever `NO_COLOR` says.

use std::process::{Command, Stdio};

#[test]
fn a_log_written_to_a_pipe_has_no_escape_codes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-line.bin");
    let output = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args([
            "run",
            "--no-local",
            "--no-store",
            "--listen",
            "none",
            "--for",
            "5s",
        ])
        .arg(format!("raw:{}", missing.display()))
        // No configuration file, the default log level, colour not switched off by the environment.
        .env_remove("RACKWATCH_CONFIG")
        .env("XDG_CONFIG_HOME", dir.path())
        .env("RACKWATCH_DATA_DIR", dir.path())
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A run that read nothing fails (issue 11); its log is what this test is about.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // The missing file is logged as a warning: there is a log line to colour.
    assert!(
        stderr.contains("WARN") && stderr.contains("no-such-line.bin"),
        "{stderr}"
    );
    assert!(!stderr.contains('\x1b'), "escape codes in: {stderr}");
}
