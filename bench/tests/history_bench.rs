//! `rackwatch-bench history` end to end at small sizes: the real `rackwatch` (sim, run, history)
//! and `promtool`, a two-file NAB-shaped corpus, and the marked blocks it rewrites.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>`, where this test's binary sits in `deps/`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// The `rackwatch` binary and the fleet example, built as this test is (a nested cargo build of
/// the same profile: nothing to do when `cargo test --workspace` built them already).
fn built_tools() -> (PathBuf, PathBuf) {
    let profile = profile_dir();
    let release = profile.file_name().is_some_and(|n| n == "release");
    let mut build = Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "-p",
            "rackwatch",
            "--bin",
            "rackwatch",
            "--example",
            "fleet",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if release {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "building rackwatch and its fleet example");
    (
        profile.join("rackwatch"),
        profile.join("examples").join("fleet"),
    )
}

/// A corpus of two small files in NAB's layout (5-minute rows, one with a repeated time).
fn corpus(root: &Path) {
    std::fs::create_dir_all(root.join("data/cat")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    for (name, step) in [("a", 0.5), ("b", 3.0)] {
        let mut csv = String::from("timestamp,value\n");
        for i in 0..300u32 {
            let minutes = i * 5;
            csv.push_str(&format!(
                "2014-04-0{} {:02}:{:02}:00,{}\n",
                1 + minutes / 1440,
                minutes % 1440 / 60,
                minutes % 60,
                f64::from(i % 17) * step
            ));
        }
        csv.push_str("2014-04-01 00:00:00,99\n");
        std::fs::write(root.join(format!("data/cat/{name}.csv")), csv).unwrap();
    }
    std::fs::write(
        root.join("labels/combined_windows.json"),
        r#"{"cat/a.csv": [], "cat/b.csv": []}"#,
    )
    .unwrap();
}

const DOC: &str = "# Benchmarks\n\nprose before\n\n\
<!-- rackwatch-bench:history-command:begin -->\n<!-- rackwatch-bench:history-command:end -->\n\
<!-- rackwatch-bench:history-storage:begin -->\nold\n<!-- rackwatch-bench:history-storage:end -->\n\
<!-- rackwatch-bench:history-ingest:begin -->\n<!-- rackwatch-bench:history-ingest:end -->\n\
<!-- rackwatch-bench:history-query:begin -->\n<!-- rackwatch-bench:history-query:end -->\n\
prose after\n";

#[test]
fn one_run_measures_every_format_ingest_and_query_and_fills_the_marked_blocks() {
    let promtool = match rackwatch_tests::require::program(
        "promtool",
        "install Prometheus' promtool (Debian: apt-get install prometheus)",
    ) {
        Ok(path) => path,
        Err(missing) => return missing.skip(),
    };
    let (rackwatch, fleet) = built_tools();
    let dir = tempfile::tempdir().unwrap();
    corpus(&dir.path().join("nab"));
    let doc = dir.path().join("BENCHMARKS.md");
    std::fs::write(&doc, DOC).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rackwatch-bench"))
        .arg("history")
        .arg("--rackwatch")
        .arg(&rackwatch)
        .arg("--fleet")
        .arg(&fleet)
        .arg("--promtool")
        .arg(&promtool)
        .arg("--nab")
        .arg(dir.path().join("nab"))
        .args(["--sim-nodes", "2", "--sim-for", "20m"])
        .args([
            "--fleet-nodes",
            "2",
            "--fleet-metrics",
            "3",
            "--fleet-seconds",
            "40",
        ])
        .args([
            "--query-points",
            "600",
            "--query-buckets",
            "10",
            "--tries",
            "1",
        ])
        .arg("--update")
        .arg(&doc)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.starts_with("# Benchmarks\n\nprose before\n"));
    assert!(text.ends_with("prose after\n"));
    assert!(!text.contains("\nold\n"), "{text}");

    // Storage: both data sets, every format, the NAB set with its 2 × 300 distinct times.
    for format in [
        "rackwatch history database",
        "Prometheus TSDB, 31-day blocks",
        "Gorilla (`tsz` crate, f64)",
        "rackwatch chunk codec alone",
    ] {
        assert_eq!(
            text.matches(format).count(),
            2,
            "{format} on both data sets:\n{text}"
        );
    }
    let nab_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| NAB corpus: 2 files as series (2 series)"))
        .collect();
    assert_eq!(nab_rows.len(), 4, "{text}");
    for row in &nab_rows {
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells[3], "600", "samples stored: {row}");
        assert!(!row.contains("**no**"), "lossy: {row}");
    }
    let sim_rows = text
        .lines()
        .filter(|l| l.starts_with("| simulated rack: `rackwatch sim --nodes 2 --for 20m` ("))
        .count();
    assert_eq!(sim_rows, 4, "{text}");

    // Ingest: the three runs; query: the three reads, 600 points in 10 buckets.
    assert!(
        text.contains("over 2 nodes × 3 metrics (240 readings"),
        "{text}"
    );
    assert!(text.contains("| fleet, with history |"));
    assert!(text.contains("One series of 600 points at 1 Hz"), "{text}");
    assert!(
        text.contains("`rackwatch history --step 60000ms` (10 buckets)"),
        "{text}"
    );
}

#[test]
fn a_missing_rackwatch_binary_says_how_to_build_it() {
    let out = Command::new(env!("CARGO_BIN_EXE_rackwatch-bench"))
        .args(["history", "--rackwatch", "/nonexistent/rackwatch"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/rackwatch")
            && stderr.contains("cargo build --release -p rackwatch --bin rackwatch"),
        "{stderr}"
    );
}
