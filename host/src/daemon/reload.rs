//! A configuration reload (`SIGHUP`, `systemctl reload rackwatch`): what a re-read file changes in
//! the running daemon, and what waits for a restart.
//!
//! Invariants:
//! - Every key of [`Config`] is either live or restart-only, decided here in one place: [`plan`]
//!   destructures the configuration, so a new field does not compile until it is sorted.
//! - Live: the rules (`[[rules]]`) and the log filter (`log.level`). Restart-only: the store
//!   (`store.*`), liveness and node limits (`ingest.*`), the sources (`[[source]]`, `[local]`) and
//!   the listener (`http.listen`, `http.token_file`, `[push]`, `[[job]]`), the probes
//!   (`[[probe]]`): they are owned by threads and open files set up at start.
//! - A file that does not load changes nothing; the caller keeps the running configuration.

use crate::config::Config;
use crate::ingest::IngestSettings;
use crate::rules::HostRules;

/// What a reloaded configuration changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadPlan {
    /// New rules to judge by, when they changed.
    pub rules: Option<HostRules>,
    /// A new log filter, when it changed.
    pub log_level: Option<String>,
    /// Keys (or sections) that changed but take effect only after a restart.
    pub needs_restart: Vec<&'static str>,
}

impl ReloadPlan {
    /// Nothing that applies live changed.
    pub fn changes_nothing_live(&self) -> bool {
        self.rules.is_none() && self.log_level.is_none()
    }
}

/// What going from the `running` configuration to the re-read `new` one changes.
pub fn plan(running: &Config, new: &Config) -> ReloadPlan {
    let Config {
        file: _,
        store_path,
        max_age,
        max_size,
        heartbeat_every,
        ingest,
        sources,
        listen,
        http_token_file,
        push,
        rules,
        log_level,
        node_logs,
        sinks,
        jobs,
        probes,
        operator,
    } = new;
    let IngestSettings {
        missed_heartbeats,
        default_heartbeat_ms,
        max_nodes,
    } = ingest;
    let mut needs_restart = Vec::new();
    let mut restart_if = |changed: bool, key: &'static str| {
        if changed {
            needs_restart.push(key);
        }
    };
    restart_if(*store_path != running.store_path, "store.path");
    restart_if(*max_age != running.max_age, "store.max_age");
    restart_if(*max_size != running.max_size, "store.max_size");
    restart_if(
        *heartbeat_every != running.heartbeat_every,
        "store.heartbeat_every",
    );
    restart_if(
        *missed_heartbeats != running.ingest.missed_heartbeats,
        "ingest.missed_heartbeats",
    );
    restart_if(
        *default_heartbeat_ms != running.ingest.default_heartbeat_ms,
        "ingest.default_heartbeat",
    );
    restart_if(*max_nodes != running.ingest.max_nodes, "ingest.max_nodes");
    restart_if(
        *sources != running.sources,
        "[[source]], [local] and [[service]]",
    );
    restart_if(*listen != running.listen, "http.listen");
    restart_if(
        *http_token_file != running.http_token_file,
        "http.token_file",
    );
    restart_if(*push != running.push, "[push]");
    restart_if(*jobs != running.jobs, "[[job]]");
    restart_if(*node_logs != running.node_logs, "[node_logs]");
    restart_if(*sinks != running.sinks, "[[sink]]");
    restart_if(*probes != running.probes, "[[probe]]");
    restart_if(
        *operator != running.operator,
        "[[node]], [[inhibit]] and [[maintenance]]",
    );
    ReloadPlan {
        rules: (*rules != running.rules).then(|| rules.clone()),
        log_level: (*log_level != running.log_level).then(|| log_level.clone()),
        needs_restart,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleOverride;
    use rackwatch_core::alert::Rule;
    use std::path::PathBuf;

    fn rule(warning: f32) -> HostRules {
        HostRules::new(vec![RuleOverride {
            node: None,
            metric: "inlet_temperature".into(),
            rule: Some(Rule::above(warning, warning + 5.0)),
            anomaly: None,
        }])
    }

    #[test]
    fn rules_and_the_log_level_apply_live_and_the_rest_waits_for_a_restart() {
        let running = Config::defaults();
        let same = plan(&running, &running.clone());
        assert_eq!(
            same,
            ReloadPlan {
                rules: None,
                log_level: None,
                needs_restart: vec![]
            }
        );
        assert!(same.changes_nothing_live());

        let mut new = running.clone();
        new.file = Some(PathBuf::from("/etc/rackwatch/rackwatch.toml"));
        new.rules = rule(27.0);
        new.log_level = "debug".into();
        new.listen = Some("0.0.0.0:9187".into());
        new.store_path = PathBuf::from("/var/lib/rackwatch/history.db");
        new.ingest.max_nodes = 16;
        new.sources.clear();
        let changed = plan(&running, &new);
        assert_eq!(changed.rules, Some(rule(27.0)));
        assert_eq!(changed.log_level.as_deref(), Some("debug"));
        assert_eq!(
            changed.needs_restart,
            [
                "store.path",
                "ingest.max_nodes",
                "[[source]], [local] and [[service]]",
                "http.listen"
            ]
        );
    }
}
