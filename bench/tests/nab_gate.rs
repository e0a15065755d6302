//! The NAB gate of CI: the core's anomaly score on a fixed subset of the NAB corpus must not fall more
//! than the recorded tolerance below the figures in `nab_subset_baseline.json`.
//!
//! The corpus is not in the repository. It is read from `$RACKWATCH_NAB_DATA` if set (then it must be
//! there), else from `<workspace>/../shared/data/nab`; when that default location is absent the gate
//! says so loudly and passes without scoring. When the data is present, a regression fails.

use rackwatch_bench::nab::{self, data::Corpus, detectors::Kind};
use serde_json::Value;
use std::path::Path;

fn baseline() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/nab_subset_baseline.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_core_detector_holds_its_recorded_nab_figures_on_the_ci_subset() {
    let (dir, explicit) = nab::data::data_dir(None);
    if !dir.join("labels").is_dir() {
        assert!(
            !explicit,
            "RACKWATCH_NAB_DATA={} holds no NAB corpus (data/ and labels/)",
            dir.display()
        );
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! NAB GATE SKIPPED: no NAB corpus at {}\n\
             !!! (set RACKWATCH_NAB_DATA to a copy of the NAB data and labels to run it)\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n",
            dir.display()
        );
        return;
    }
    let recorded = baseline();
    let files: Vec<String> = recorded["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f.as_str().expect("a file name").to_string())
        .collect();
    let corpus = Corpus::load(&dir, &files).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        corpus.files.len(),
        files.len(),
        "every listed file was read"
    );
    assert_eq!(
        corpus.windows() as u64,
        recorded["windows"].as_u64().expect("windows"),
        "the subset's windows"
    );
    let labels = nab::scorer::label_files(&corpus.files).unwrap_or_else(|e| panic!("{e}"));
    let evaluation = nab::evaluate(Kind::Core, &corpus, &labels).expect("windows to score");
    let tolerance = recorded["tolerance"].as_f64().expect("tolerance");
    let mut failures = Vec::new();
    for profile in &evaluation.profiles {
        let name = profile.profile.name;
        let want = recorded["scores"][name]
            .as_f64()
            .unwrap_or_else(|| panic!("no recorded figure for {name}"));
        eprintln!(
            "NAB gate {name}: {:.2} (recorded {want:.2}, threshold {:.4}, {}/{} windows, {} false-positive rows)",
            profile.normalised,
            profile.best.threshold,
            profile.best.detected_windows,
            profile.windows,
            profile.best.false_positives
        );
        if profile.normalised < want - tolerance {
            failures.push(format!(
                "{name}: {:.2} is more than {tolerance} below the recorded {want:.2}",
                profile.normalised
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "the core's NAB score regressed on the CI subset:\n  {}",
        failures.join("\n  ")
    );
}
