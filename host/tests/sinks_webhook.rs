//! The webhook sink through the real binary: a receiver that refuses (503) for a while, a
//! `kill -9` of rackwatch while transitions are queued, a restart; then every transition arrives,
//! in the order the pipeline produced it, signed, duplicates only with the same id and body.

mod sinks_support;

use sinks_support::*;
use std::collections::BTreeMap;
use std::io::BufRead;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

const SECRET: &str = "test-signing-key";

fn config(home: &std::path::Path, receiver: &Receiver) -> std::path::PathBuf {
    let path = home.join("rackwatch.toml");
    std::fs::write(
        &path,
        format!(
            "[[sink]]\nname = \"hook\"\nkind = \"webhook\"\n\
             url = \"http://127.0.0.1:{}/rackwatch\"\nsecret_env = \"TEST_HOOK_SECRET\"\n\
             timeout = \"2s\"\nretry_max = \"1s\"\n",
            receiver.port
        ),
    )
    .unwrap();
    path
}

/// Collects the transitions `run --events` prints, in order, from a thread.
fn collect_transitions(daemon: &mut Daemon) -> Arc<Mutex<Vec<serde_json::Value>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let stdout = daemon.child.stdout.take().unwrap();
    let out = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if v["type"] == "transition" {
                    out.lock().unwrap().push(v);
                }
            }
        }
    });
    seen
}

#[test]
fn every_transition_arrives_in_order_across_refusals_and_a_kill_9() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let capture = sim_capture(home, &["--nodes", "6", "--for", "8h"]);
    let expected = transitions_of(home, &capture).len();
    assert!(
        expected >= 6,
        "the simulated rack made only {expected} transitions"
    );

    // The receiver refuses: everything is queued, retried, and survives a kill -9.
    let receiver = Receiver::start(true);
    let config = config(home, &receiver);
    let live = idle_live_source();
    let capture_arg = format!("capture:{}", capture.display());
    let mut first = Daemon::start(
        home,
        &config,
        &["--events", &capture_arg, &live],
        "first.log",
        Stdio::piped(),
        &[("TEST_HOOK_SECRET", SECRET)],
    );
    let printed = collect_transitions(&mut first);
    let queued = wait_until("every transition queued while the receiver refuses", || {
        let n = printed.lock().unwrap().len();
        let s = first.sink("hook")?;
        (n >= expected && s.pending == n as u64 && s.failures > 0 && receiver.attempts() > 1)
            .then_some(s)
    });
    assert_eq!(queued.level, rackwatch_core::Level::Critical);
    assert!(
        queued.last_error.as_deref().unwrap_or("").contains("503"),
        "{queued:?}"
    );
    assert!(receiver.taken().is_empty());
    first.kill9();
    let order: Vec<_> = printed
        .lock()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["node"].as_u64().unwrap(),
                v["boot"].as_u64().unwrap(),
                v["origin"].as_str().unwrap().to_string(),
                v["transition"]["alert_seq"].as_u64().unwrap(),
                v["transition"]["at_ms"].as_u64().unwrap(),
            )
        })
        .collect();

    // Restarted, with no new data, while the receiver still refuses for a while; then it accepts.
    let mut second = Daemon::start(
        home,
        &config,
        &[&live],
        "second.log",
        Stdio::null(),
        &[("TEST_HOOK_SECRET", SECRET)],
    );
    let attempts = receiver.attempts();
    wait_until("a retry after the restart", || {
        (receiver.attempts() > attempts).then_some(())
    });
    receiver.refuse(false);
    wait_until("every transition delivered", || {
        let s = second.sink("hook")?;
        (s.pending == 0 && receiver.taken().len() >= order.len()).then_some(())
    });
    let healthy = wait_until("the sink back to OK", || second.sink("hook"));
    assert_eq!(healthy.level, rackwatch_core::Level::Ok);
    assert_eq!(healthy.last_error, None);

    // In order, none lost; a duplicate is the same message (same id, same body).
    let mut first_seen: Vec<(u64, u64, String, u64, u64)> = Vec::new();
    let mut bodies: BTreeMap<String, String> = BTreeMap::new();
    for r in receiver.taken() {
        assert_eq!(r.path, "/rackwatch");
        assert_eq!(
            r.headers.get("x-rackwatch-signature").map(String::as_str),
            Some(rackwatch::sink::signature(SECRET.as_bytes(), r.body.as_bytes()).as_str()),
            "a body whose signature does not verify"
        );
        let doc: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(doc["schema_version"], 1);
        let id = doc["id"].as_str().unwrap().to_string();
        assert_eq!(r.headers.get("x-rackwatch-id"), Some(&id));
        match bodies.get(&id) {
            Some(body) => assert_eq!(*body, r.body, "two different messages share the id {id}"),
            None => {
                bodies.insert(id, r.body.clone());
                first_seen.push(key_of(&doc));
            }
        }
    }
    assert_eq!(first_seen, order);
}
