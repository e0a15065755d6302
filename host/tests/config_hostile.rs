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

/// A file with a mistake in several sections, and in several entries of one list, gets every one
/// reported at once, in file order: one edit, not one run per mistake.
#[test]
fn every_mistake_of_a_file_is_reported_at_once_in_file_order() {
    let text = "[store]\nmax_age = \"9999999w\"\n\
                [local]\ninterval = \"soon\"\n\
                [[rules]]\nmetric = \"a\"\nrule.value.warning.above.raise = { value = 35.0, inclusive = false }\n\
                rule.value.critical.above.raise = { value = 30.0, inclusive = false }\n\
                [[rules]]\nmetric = \"b\"\n\
                [[rules]]\nmetric = \"c\"\nrule.value.warning.above.raise = { value = 9.0, inclusive = false }\n\
                rule.value.critical.above.raise = { value = 1.0, inclusive = false }\n\
                [[sink]]\nname = \"h\"\nkind = \"pager\"\n\
                [[sink]]\nname = \"c\"\nkind = \"command\"\nargv = []\n";
    let (ok, stderr) = check(text);
    assert!(!ok, "accepted:\n{text}");
    let places: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("FILE:"))
        .map(|l| l.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        places,
        ["2:11", "4:12", "5:1", "11:1", "17:8", "21:8"],
        "{stderr}"
    );
    assert!(
        stderr.contains("6 mistakes in the configuration"),
        "{stderr}"
    );
    // A file with one mistake reads as before: one line, the place first.
    let (_, one) = check("[store]\nmax_age = \"9999999w\"\n");
    assert!(
        one.contains("FILE:2:11: store.max_age") && !one.contains("mistakes"),
        "{one}"
    );
}

/// The `[[sink]]` tables: each mistake refused with its place and key, before any delivery starts.
#[test]
fn every_sink_mistake_is_refused_with_its_place_and_key() {
    let hook = "[[sink]]\nname = \"h\"\nkind = \"webhook\"\n";
    let cases = [
        (
            format!("{hook}url = \"https://hooks.example/x\"\n"),
            "FILE:4:7: sink[0].url: `https://hooks.example/x`: https is not spoken here",
        ),
        (
            format!("{hook}url = \"hooks.example/x\"\n"),
            "FILE:4:7: sink[0].url:",
        ),
        (
            format!("{hook}url = \"http://h:99999/\"\n"),
            "FILE:4:7: sink[0].url:",
        ),
        (
            format!("{hook}url = \"http://u:p@h/\"\n"),
            "FILE:4:7: sink[0].url: `http://u:p@h/`: credentials",
        ),
        (
            format!("{hook}url = \"http://{}\"\n", "a".repeat(3000)),
            "FILE:4:7: sink[0].url: a URL of",
        ),
        (
            format!("{hook}\n"),
            "FILE:3:8: sink[0].url: a webhook sink needs `url`",
        ),
        (
            format!("{hook}url = \"http://h/\"\ntimeout = \"0s\"\n"),
            "FILE:5:11: sink[0].timeout: 0s is shorter than the least it may be, 100ms",
        ),
        (
            format!("{hook}url = \"http://h/\"\ntimeout = \"9999w\"\n"),
            "FILE:5:11: sink[0].timeout: 9999w is longer than the most it may be",
        ),
        (
            format!("{hook}url = \"http://h/\"\ntimeout = \"2s\"\nconnect_timeout = \"5s\"\n"),
            "FILE:6:19: sink[0].connect_timeout: 5s is longer than the sink's whole timeout, 2s",
        ),
        (
            format!("{hook}url = \"http://h/\"\nmax_pending = 0\n"),
            "FILE:5:15: sink[0].max_pending: 0 is outside 1 to 1000000",
        ),
        (
            format!("{hook}url = \"http://h/\"\nretry_max = \"10ms\"\n"),
            "FILE:5:13: sink[0].retry_max: 10ms is shorter than 1s",
        ),
        (
            format!("{hook}url = \"http://h/\"\nsecret = \"a\"\nsecret_env = \"B\"\n"),
            "FILE:6:14: sink[0]: give one of secret, secret_file, secret_env",
        ),
        (
            format!("{hook}url = \"http://h/\"\nsecret = \"\"\n"),
            "sink[0]: the secret is empty",
        ),
        (
            format!("{hook}url = \"http://h/\"\nargv = [\"x\"]\n"),
            "FILE:5:8: sink[0].argv: webhook sinks have no `argv`",
        ),
        (
            "[[sink]]\nname = \"c\"\nkind = \"command\"\nargv = []\n".into(),
            "FILE:4:8: sink[0].argv: the command is empty",
        ),
        (
            "[[sink]]\nname = \"c\"\nkind = \"command\"\nargv = [\"\"]\n".into(),
            "FILE:4:8: sink[0].argv: the program (argv[0]) is empty",
        ),
        (
            "[[sink]]\nname = \"c\"\nkind = \"shell\"\n".into(),
            "FILE:3:8: sink[0].kind: `shell` is not a kind of sink",
        ),
        (
            "[[sink]]\nname = \"history\"\nkind = \"command\"\nargv = [\"x\"]\n".into(),
            "FILE:2:8: sink[0].name: `history` is the history sink's own name",
        ),
        (
            "[[sink]]\nname = \"a b\"\nkind = \"command\"\nargv = [\"x\"]\n".into(),
            "FILE:2:8: sink[0].name: `a b` may hold only",
        ),
        (
            "[[sink]]\nname = \"c\"\nkind = \"command\"\nargv = [\"x\"]\n\
             [[sink]]\nname = \"c\"\nkind = \"command\"\nargv = [\"y\"]\n"
                .into(),
            "FILE:6:8: sink[1].name: `c` is used twice",
        ),
        (
            "[[sink]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://h:9093\"\n\
             labels = { severity = \"low\" }\n"
                .into(),
            "FILE:5:10: sink[0].labels: `severity` is set by rackwatch itself",
        ),
        (
            "[[sink]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://h:9093\"\n\
             resend = \"0s\"\n"
                .into(),
            "FILE:5:10: sink[0].resend: 0s is shorter than 1s",
        ),
        (
            "[[sink]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://h:9093\"\n\
             secret = \"x\"\n"
                .into(),
            "FILE:5:10: sink[0].secret: alertmanager sinks have no `secret`",
        ),
    ];
    for (text, expected) in cases {
        let (ok, stderr) = check(&text);
        assert!(!ok, "accepted:\n{text}");
        assert!(stderr.contains(expected), "{text}\n-> {stderr}");
    }
}
