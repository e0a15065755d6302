//! The configuration a user reads about is the one the binary accepts: the shipped example passes
//! `rackwatch config check`, it and `docs/configuration.md` name exactly the same keys, and what
//! `rackwatch config show` prints passes `config check` and shows back unchanged.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rackwatch.example.toml")
}

/// The binary with no configuration or data location inherited from the environment.
fn rackwatch(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rackwatch"))
        .args(args)
        .env_remove("RACKWATCH_CONFIG")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env("HOME", home)
        .env("RACKWATCH_DATA_DIR", home.join("data"))
        .output()
        .expect("the rackwatch binary runs")
}

fn stdout_of(output: Output, what: &str) -> String {
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    assert!(
        output.status.success(),
        "{what} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Dotted paths of every value in a TOML document; entries of arrays of tables share their array's
/// path (`source.spec`), other arrays are values.
fn toml_keys(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        toml::Value::Table(table) => {
            for (key, v) in table {
                toml_keys(&join(key), v, out);
            }
        }
        toml::Value::Array(items)
            if items.iter().all(toml::Value::is_table) && !items.is_empty() =>
        {
            for item in items {
                toml_keys(prefix, item, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

/// The keys of the tables in `docs/configuration.md`: the first cell of a row, when it is a
/// backticked dotted path (source forms and flags have no such cell).
fn documented_keys() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(workspace().join("docs/configuration.md")).unwrap();
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `")?.split_once("` |"))
        .map(|(key, _)| key)
        .filter(|key| {
            key.contains('.')
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.<>".contains(c))
        })
        .map(str::to_string)
        .collect()
}

/// Whether the concrete `key` is an instance of the documented `pattern`.
fn matches(pattern: &str, key: &str) -> bool {
    let (p, k): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), key.split('.').collect());
    p.len() == k.len()
        && p.iter().zip(&k).all(|(p, k)| match *p {
            "<level>" => ["warning", "critical"].contains(k),
            "<side>" => ["above", "below"].contains(k),
            // A sink's static labels are the user's own names.
            "<label>" => true,
            other => {
                assert!(!other.starts_with('<'), "unknown placeholder {other}");
                other == *k
            }
        })
}

#[test]
fn the_example_passes_config_check() {
    let home = tempfile::tempdir().unwrap();
    let example = example();
    let out = stdout_of(
        rackwatch(
            home.path(),
            &["config", "check", "-c", example.to_str().unwrap()],
        ),
        "config check of the example",
    );
    assert!(out.contains(": valid"), "{out}");
    assert!(
        out.contains("history: /var/lib/rackwatch/history.db"),
        "{out}"
    );
    assert!(
        out.contains(
            "source rack-a: serial /dev/serial/by-id/usb-STMicroelectronics_STLINK-V3-if02 at \
             115200 baud, 8N1"
        ),
        "{out}"
    );
    assert!(out.contains("source rack-b: tcp 10.0.20.5:4000"), "{out}");
    assert!(!out.contains("Serial(") && !out.contains("Tcp("), "{out}");
}

#[test]
fn the_example_and_the_documentation_name_the_same_keys() {
    let documented = documented_keys();
    assert!(
        documented.len() > 50 && documented.contains("store.path"),
        "{documented:?}"
    );
    let text = std::fs::read_to_string(example()).unwrap();
    let mut in_example = BTreeSet::new();
    toml_keys(
        "",
        &toml::from_str::<toml::Value>(&text).unwrap(),
        &mut in_example,
    );
    let undocumented: Vec<_> = in_example
        .iter()
        .filter(|k| !documented.iter().any(|p| matches(p, k)))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/configuration.md: {undocumented:?}"
    );
    let missing: Vec<_> = documented
        .iter()
        .filter(|p| !in_example.iter().any(|k| matches(p, k)))
        .collect();
    assert!(missing.is_empty(), "not set in the example: {missing:?}");
}

/// `config show` of `args`, then `config check` and `config show` of what it printed.
fn show_round_trip(home: &Path, args: &[&str]) {
    let shown = stdout_of(rackwatch(home, args), "config show");
    assert!(toml::from_str::<toml::Table>(&shown).is_ok(), "{shown}");
    let file = home.join("shown.toml");
    std::fs::write(&file, &shown).unwrap();
    let file = file.to_str().unwrap();
    stdout_of(
        rackwatch(home, &["config", "check", "-c", file]),
        "config check of the shown file",
    );
    let again = stdout_of(
        rackwatch(home, &["config", "show", "-c", file]),
        "config show again",
    );
    let body = |text: &str| text.lines().skip(1).collect::<Vec<_>>().join("\n");
    assert_eq!(body(&again), body(&shown));
}

#[test]
fn config_show_prints_a_file_that_checks_and_shows_the_same() {
    let home = tempfile::tempdir().unwrap();
    let example = example();
    show_round_trip(
        home.path(),
        &["config", "show", "-c", example.to_str().unwrap()],
    );
    show_round_trip(home.path(), &["config", "show"]);
    let defaults = stdout_of(rackwatch(home.path(), &["config", "show"]), "config show");
    let data = home.path().join("data/history.db");
    assert!(
        defaults.contains(&format!("path = \"{}\"", data.display())),
        "{defaults}"
    );
    assert!(defaults.contains("max_size = \"none\""), "{defaults}");
}
