//! The command sink through the real binary: a script gets each transition in `RACKWATCH_*`
//! variables and as JSON on its standard input, in order; a run that outlives the timeout is
//! killed (its process group with it) and the same transition is delivered again.

mod sinks_support;

use sinks_support::*;
use std::path::Path;
use std::process::Stdio;

/// A config with one command sink running `script` with `sh`.
fn config(home: &Path, script: &str, timeout: &str) -> std::path::PathBuf {
    let file = home.join("sink.sh");
    std::fs::write(&file, script).unwrap();
    let path = home.join("rackwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[[sink]]\nname = \"script\"\nkind = \"command\"\n\
             argv = [\"/bin/sh\", \"{}\", \"{}\"]\ntimeout = \"{timeout}\"\nretry_max = \"1s\"\n",
            file.display(),
            home.display()
        ),
    )
    .unwrap();
    path
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn a_script_gets_each_transition_in_its_environment_and_on_stdin_in_order() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let capture = sim_capture(home, &["--nodes", "3", "--for", "6h"]);
    let order = transitions_of(home, &capture);
    assert!(order.len() >= 3, "only {} transitions", order.len());
    // One line per run: the variables, then the document from stdin on the next line.
    let config = config(
        home,
        "printf '%s %s %s %s %s %s\\n' \"$RACKWATCH_ID\" \"$RACKWATCH_NODE\" \"$RACKWATCH_METRIC\" \
         \"$RACKWATCH_FROM_LEVEL\" \"$RACKWATCH_LEVEL\" \"$RACKWATCH_ORIGIN\" >> \"$1/env.txt\"\n\
         cat >> \"$1/stdin.txt\"; echo >> \"$1/stdin.txt\"\n\
         echo 'done' >&2\n",
        "5s",
    );
    let capture_arg = format!("capture:{}", capture.display());
    let mut daemon = Daemon::start(
        home,
        &config,
        &[&capture_arg, &idle_live_source()],
        "run.log",
        Stdio::null(),
        &[],
    );
    wait_until("every transition run through the script", || {
        let s = daemon.sink("script")?;
        (s.pending == 0 && lines(&home.join("stdin.txt")).len() >= order.len()).then_some(())
    });
    daemon.kill9();
    let docs: Vec<serde_json::Value> = lines(&home.join("stdin.txt"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let keys: Vec<_> = docs.iter().map(key_of).collect();
    assert_eq!(keys, order);
    let env = lines(&home.join("env.txt"));
    assert_eq!(env.len(), docs.len());
    for (vars, doc) in env.iter().zip(&docs) {
        let expected = format!(
            "{} {} {} {} {} {}",
            doc["id"].as_str().unwrap(),
            doc["node"],
            doc["metric"].as_str().unwrap(),
            doc["from"].as_str().unwrap(),
            doc["to"].as_str().unwrap(),
            doc["origin"].as_str().unwrap()
        );
        assert_eq!(*vars, expected);
    }
    assert!(docs
        .iter()
        .all(|d| ["OK", "WARNING", "CRITICAL", "UNKNOWN"].contains(&d["to"].as_str().unwrap())));
    let log = std::fs::read_to_string(home.join("run.log")).unwrap();
    assert!(log.contains("its standard error: done"), "{log}");
}

#[test]
fn a_command_past_its_timeout_is_killed_and_retried() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let capture = sim_capture(home, &["--nodes", "1", "--for", "3h"]);
    let order = transitions_of(home, &capture);
    assert!(!order.is_empty());
    // The first run hangs (with a child of its own); every later run delivers.
    let config = config(
        home,
        "if [ ! -e \"$1/hung\" ]; then\n\
           touch \"$1/hung\"; sleep 600 & echo $! > \"$1/sleeper.pid\"; wait; exit 0\n\
         fi\n\
         cat >> \"$1/stdin.txt\"; echo >> \"$1/stdin.txt\"\n",
        "1s",
    );
    let capture_arg = format!("capture:{}", capture.display());
    let mut daemon = Daemon::start(
        home,
        &config,
        &[&capture_arg, &idle_live_source()],
        "run.log",
        Stdio::null(),
        &[],
    );
    let failed = wait_until("the hung run killed", || {
        daemon.sink("script").filter(|s| s.failures > 0)
    });
    assert!(
        failed
            .last_error
            .as_deref()
            .is_none_or(|e| e.contains("was killed")),
        "{failed:?}"
    );
    wait_until("every transition delivered after the retry", || {
        let s = daemon.sink("script")?;
        (s.pending == 0 && lines(&home.join("stdin.txt")).len() >= order.len()).then_some(())
    });
    daemon.kill9();
    let keys: Vec<_> = lines(&home.join("stdin.txt"))
        .iter()
        .map(|l| key_of(&serde_json::from_str(l).unwrap()))
        .collect();
    // The message the hung run had is delivered again, first: nothing skipped, nothing reordered.
    assert_eq!(keys, order);
    let log = std::fs::read_to_string(home.join("run.log")).unwrap();
    assert!(
        log.contains("did not finish within 1s and was killed"),
        "{log}"
    );
    // The hung script's own child went with it: its process group was killed.
    let pid = std::fs::read_to_string(home.join("sleeper.pid")).unwrap();
    let proc_dir = Path::new("/proc").join(pid.trim());
    let stat = std::fs::read_to_string(proc_dir.join("stat")).unwrap_or_default();
    // Gone, or a zombie awaiting its (killed) parent's reaper.
    assert!(
        stat.is_empty() || stat.contains(") Z "),
        "the sleeper lives on: {stat}"
    );
}
