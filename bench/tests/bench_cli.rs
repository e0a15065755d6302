//! `rackwatch-bench` through the real binary: a tiny NAB-shaped corpus, its errors, the marked
//! figures of `--update`, and the ETA run.

use std::path::Path;
use std::process::Command;

fn rackwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rackwatch-bench"))
}

/// A two-file corpus: `cat/a.csv` with one anomaly window around a step, `cat/b.csv` without.
fn corpus(root: &Path, a_csv: &str) {
    std::fs::create_dir_all(root.join("data/cat")).unwrap();
    std::fs::create_dir_all(root.join("labels")).unwrap();
    std::fs::write(root.join("data/cat/a.csv"), a_csv).unwrap();
    let mut b = String::from("timestamp,value\n");
    for i in 0..400 {
        b.push_str(&format!("{},{}\n", time(i), 10 + i % 3));
    }
    std::fs::write(root.join("data/cat/b.csv"), b).unwrap();
    let labels = format!(
        r#"{{"cat/a.csv": [["{}.000000", "{}.000000"]], "cat/b.csv": []}}"#,
        time(290),
        time(330)
    );
    std::fs::write(root.join("labels/combined_windows.json"), labels).unwrap();
}

fn time(i: u32) -> String {
    let minutes = i * 5;
    format!(
        "2014-04-0{} {:02}:{:02}:00",
        1 + minutes / 1440,
        minutes % 1440 / 60,
        minutes % 60
    )
}

fn stepped() -> String {
    let mut a = String::from("timestamp,value\r\n");
    for i in 0..400u32 {
        let noise = ((i * 7919) % 13) as f64 / 13.0;
        let v = if i < 300 { 20.0 } else { 80.0 } + noise;
        a.push_str(&format!("{},{v}\r\n", time(i)));
    }
    a
}

#[test]
fn nab_scores_a_corpus_and_finds_the_step() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), &stepped());
    let out = rackwatch()
        .args(["nab", "--json", "--detector", "core,null", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["detector"], "rackwatch");
    let standard = lines[0]["profiles"][0]["normalised"].as_f64().unwrap();
    assert!(
        standard > 50.0,
        "the step inside the window is found: {standard}"
    );
    assert_eq!(lines[1]["profiles"][0]["normalised"].as_f64(), Some(0.0));

    // NAB results files for NAB's own scorer.
    let results = dir.path().join("results");
    let out = rackwatch()
        .args(["nab", "--results"])
        .arg(&results)
        .arg("--data")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let written = std::fs::read_to_string(results.join("rackwatch/cat/rackwatch_a.csv")).unwrap();
    assert!(written.starts_with("timestamp,anomaly_score\n2014-04-01 00:00:00,"));
    assert_eq!(written.lines().count(), 401);
}

#[test]
fn nab_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    corpus(
        dir.path(),
        "timestamp,value\n2014-04-01 00:00:00,1\n2014-04-01 00:05:00,oops\n",
    );
    let out = rackwatch()
        .args(["nab", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.csv:3:") && err.contains("`oops` is not a number"),
        "{err}"
    );

    let out = rackwatch()
        .args(["nab", "--data", "/nonexistent/nab"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no NAB corpus at /nonexistent/nab"), "{err}");

    corpus(dir.path(), &stepped());
    let out = rackwatch()
        .args(["nab", "--files", "zzz", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no NAB file matches `zzz`"));
    // Only the file without windows: nothing to normalise against.
    let out = rackwatch()
        .args(["nab", "--files", "b", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no anomaly windows"));
}

/// A document with prose around every NAB marker pair, as `BENCHMARKS.md` has it.
fn marked_document() -> String {
    let mut doc = String::from("# Benchmarks\n\n<!-- core:begin -->\nkept\n<!-- core:end -->\n");
    for name in [
        "nab-command",
        "nab-scores",
        "nab-profiles",
        "nab-categories",
    ] {
        doc.push_str(&format!(
            "\nProse before {name}, *kept*.\n\n<!-- rackwatch-bench:{name}:begin -->\nold\n\
             <!-- rackwatch-bench:{name}:end -->\n"
        ));
    }
    doc.push_str("\nClosing prose.\n");
    doc
}

/// `rackwatch-bench nab --update doc --data data`.
fn update(doc: &Path, data: &Path) -> std::process::Output {
    rackwatch()
        .args(["nab", "--update"])
        .arg(doc)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

#[test]
fn update_rewrites_only_its_section() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), &stepped());
    let doc = dir.path().join("BENCHMARKS.md");
    std::fs::write(&doc, marked_document()).unwrap();
    let mut after_first = String::new();
    for round in 0..2 {
        let out = update(&doc, dir.path());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&doc).unwrap();
        if round == 0 {
            after_first = text;
        } else {
            // Only the run time may differ between two runs, and it sits in the command block.
            let strip = |t: &str| {
                t.lines()
                    .filter(|l| !l.starts_with("Command:"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(strip(&text), strip(&after_first));
        }
    }
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.contains("<!-- core:begin -->\nkept\n<!-- core:end -->"));
    assert_eq!(
        text.matches("<!-- rackwatch-bench:nab-scores:begin -->")
            .count(),
        1,
        "replaced, not appended twice"
    );
    assert!(text.contains("| **rackwatch core `AnomalyDetector`**"));
    assert!(!text.contains("\nold\n"), "every block was rewritten");
    // Everything outside the markers is byte for byte what it was.
    let outside = |t: &str| {
        let mut kept = String::new();
        let mut inside = false;
        for line in t.lines() {
            if line.starts_with("<!-- rackwatch-bench:") && line.ends_with(":end -->") {
                inside = false;
            }
            if !inside {
                kept.push_str(line);
                kept.push('\n');
            }
            if line.starts_with("<!-- rackwatch-bench:") && line.ends_with(":begin -->") {
                inside = true;
            }
        }
        kept
    };
    assert_eq!(outside(&text), outside(&marked_document()));
}

#[test]
fn update_fails_naming_a_missing_or_duplicated_marker_and_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    corpus(dir.path(), &stepped());
    let doc = dir.path().join("BENCHMARKS.md");
    let cases = [
        (
            marked_document().replace("<!-- rackwatch-bench:nab-profiles:end -->\n", ""),
            "marker `<!-- rackwatch-bench:nab-profiles:end -->` is missing",
        ),
        (
            format!(
                "{}<!-- rackwatch-bench:nab-scores:begin -->\n",
                marked_document()
            ),
            "marker `<!-- rackwatch-bench:nab-scores:begin -->` occurs 2 times",
        ),
    ];
    for (document, message) in cases {
        std::fs::write(&doc, &document).unwrap();
        let out = update(&doc, dir.path());
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(message) && err.contains("BENCHMARKS.md"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&doc).unwrap(), document);
    }
}

#[test]
fn eta_runs_and_reports_both_kinds_of_curve() {
    let out = rackwatch()
        .args(["eta", "--curves", "4", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    // Ten scenarios (plateau-leak and accelerating-cycle appended) by seven predictors.
    assert_eq!(rows.len(), 10 * 7, "every scenario with every predictor");
    assert!(rows.iter().any(|r| r["false_fill"].is_number()));
    assert!(rows.iter().any(|r| r["median_relative_error"]
        .as_array()
        .is_some_and(|e| e.len() == 3)));
}
