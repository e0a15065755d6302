//! Hostile and mistaken configuration files through the real binary: each is refused by
//! `config check` (and so by `run`) with the file, the line, the column and the key.

use std::process::Command;

fn check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rackwatch.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(["config", "check", "-c"])
        .arg(&path)
        .env_remove("RACKWATCH_CONFIG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).replace(&*path.to_string_lossy(), "FILE");
    (out.status.success(), stderr)
}

#[test]
fn every_mistake_is_refused_with_its_place_and_key() {
    let cases = [
        // A wrong type names the key, not only the type.
        ("[store]\npath = 42\n", "FILE:2:8: store.path: invalid type"),
        ("[[source]]\nspec = \"tcp:a:1\"\nbogus = 1\n", "FILE:3:1: source.bogus: unknown field"),
        // Durations beyond any sensible setting are typos.
        ("[local]\ninterval = \"9999999w\"\n", "FILE:2:12: local.interval: 9999999w is longer"),
        ("[store]\nmax_age = \"9999999w\"\n", "FILE:2:11: store.max_age: 9999999w is longer"),
        ("[ingest]\ndefault_heartbeat = \"400d\"\n", "FILE:2:21: ingest.default_heartbeat: 400d"),
        // A size limit that would delete everything as it is written.
        ("[store]\nmax_size = \"0\"\n", "FILE:2:12: store.max_size: 0 would delete history"),
        // Inverted levels: the warning bound beyond the critical one.
        (
            "[[rules]]\nmetric = \"x\"\nrule.value.warning.above.raise = { value = 35.0, inclusive = false }\n\
             rule.value.critical.above.raise = { value = 30.0, inclusive = false }\n",
            "FILE:1:1: rules[0] (metric `x`): rule field `value.critical.above`",
        ),
    ];
    for (text, expected) in cases {
        let (ok, stderr) = check(text);
        assert!(!ok, "accepted:\n{text}");
        assert!(stderr.contains(expected), "{text}\n-> {stderr}");
    }
}
