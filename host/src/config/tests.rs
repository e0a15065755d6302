//! The parser's located errors, and the round trip `config show` depends on: defaults, the
//! shipped example file and a file naming every source form all load back equal from their TOML.

use super::*;
use crate::source::{Parity, SerialSettings};

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(Path::new("rackwatch.toml"), text).map_err(|e| e.to_string())
}

#[test]
fn a_full_file_parses() {
    let c = parse(
        r#"
[store]
path = "/tmp/h.db"
max_age = "7d"
max_size = "1GiB"
heartbeat_every = "1m"

[[source]]
spec = "serial:/dev/ttyACM0@115200"
name = "rack-a"

[[source]]
spec = "tcp:10.0.0.5:4000"

[local]
mounts = ["/", "/var"]
interval = "30s"

[http]
listen = "none"

[[rules]]
metric = "inlet_temperature"
rule.value.warning.above.raise = { value = 30.0, inclusive = false }
rule.raise = { samples = 3, of_last = 5 }
"#,
    )
    .unwrap();
    assert_eq!(c.store_path, PathBuf::from("/tmp/h.db"));
    assert_eq!(c.max_age, Some(Duration::from_secs(7 * 86_400)));
    assert_eq!(c.max_size, Some(1 << 30));
    assert_eq!(c.heartbeat_every, Duration::from_secs(60));
    let names: Vec<_> = c.sources.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["rack-a", "tcp:10.0.0.5:4000", "local"]);
    assert_eq!(c.listen, None);
}

#[test]
fn errors_name_the_file_line_and_key() {
    let e = parse("[store]\nmax_age = \"7 fortnights\"\n").unwrap_err();
    assert!(e.starts_with("rackwatch.toml:2:11: store.max_age:"), "{e}");
    let e = parse("[store]\nheartbeat_every = \"often\"\n").unwrap_err();
    assert!(
        e.starts_with("rackwatch.toml:2:19: store.heartbeat_every:"),
        "{e}"
    );
    let e = parse("[local]\nmounts = [\"/\"]\nintervall = \"5s\"\n").unwrap_err();
    assert!(
        e.starts_with("rackwatch.toml:3:1:") && e.contains("intervall"),
        "{e}"
    );
    let e = parse("[[source]]\nspec = \"ftp:x\"\n").unwrap_err();
    assert!(
        e.starts_with("rackwatch.toml:1:1: source[0].spec:") && e.contains("unknown source"),
        "{e}"
    );
    let e = parse("[[rules]]\nmetric = \"t\"\nrule.raise = { samples = 6, of_last = 5 }\n")
        .unwrap_err();
    assert!(
        e.starts_with("rackwatch.toml:1:1: rules[0] (metric `t`): rule field `raise`"),
        "{e}"
    );
    let e = parse("[[rules]]\nmetric = \"t\"\nrule.value.warning.above.raise = { value = 1 }\n")
        .unwrap_err();
    assert!(e.contains("inclusive"), "{e}");
}

/// `config`'s TOML parsed as if it were the file `shown.toml`.
fn round_trip(config: &Config) -> Config {
    let text = config.to_toml().expect("UTF-8 paths");
    Config::parse(Path::new("shown.toml"), &text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn as_if_from(mut config: Config, file: &str) -> Config {
    config.file = Some(PathBuf::from(file));
    config
}

#[test]
fn the_defaults_show_and_load_back_equal() {
    let defaults = Config::defaults();
    assert_eq!(round_trip(&defaults), as_if_from(defaults, "shown.toml"));
}

#[test]
fn the_example_file_shows_and_loads_back_equal() {
    let example = Config::parse(
        Path::new("rackwatch.example.toml"),
        include_str!("../../rackwatch.example.toml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(!example.rules.overrides().is_empty());
    assert!(example.max_size.is_some());
    assert_eq!(round_trip(&example), as_if_from(example, "shown.toml"));
}

#[test]
fn every_source_form_and_every_off_switch_load_back_equal() {
    let c = parse(
        r#"
[store]
max_age = "none"
max_size = "1500000B"

[ingest]
missed_heartbeats = 0
default_heartbeat = "1.5s"

[[source]]
spec = "/dev/ttyUSB1@9600,7E2"

[[source]]
spec = "tcp:[::1]:4000"

[[source]]
spec = "unix:/run/rackwatch.sock"

[[source]]
spec = "night.rwcap"

[[source]]
spec = "raw:dump.bin"

[[source]]
spec = "-"

[[source]]
spec = "local"
name = "second-look"

[local]
enabled = false
interval = "10ms"

[http]
listen = "off"
"#,
    )
    .unwrap();
    assert_eq!((c.max_age, c.max_size), (None, Some(1_500_000)));
    assert_eq!(c.ingest.missed_heartbeats, 1);
    assert_eq!(
        c.sources[0].kind,
        SourceKind::Serial(SerialSettings {
            path: "/dev/ttyUSB1".into(),
            baud: 9600,
            data_bits: 7,
            parity: Parity::Even,
            stop_bits: 2,
        })
    );
    assert_eq!(c.sources.len(), 7);
    assert_eq!(round_trip(&c), as_if_from(c, "shown.toml"));
}

#[test]
fn show_writes_every_key_with_its_default() {
    let text = Config::defaults().to_toml().unwrap();
    let value: toml::Table = toml::from_str(&text).unwrap();
    let keys = |section: &str| -> Vec<String> {
        value[section].as_table().unwrap().keys().cloned().collect()
    };
    assert_eq!(
        keys("store"),
        ["heartbeat_every", "max_age", "max_size", "path"]
    );
    assert_eq!(
        keys("ingest"),
        ["default_heartbeat", "max_nodes", "missed_heartbeats"]
    );
    assert_eq!(
        keys("local"),
        ["disk", "enabled", "interval", "node_id", "processes"]
    );
    assert_eq!(value["store"]["max_age"].as_str(), Some("30d"));
    assert_eq!(value["store"]["max_size"].as_str(), Some("none"));
    assert_eq!(value["ingest"]["default_heartbeat"].as_str(), Some("5s"));
    assert_eq!(value["ingest"]["max_nodes"].as_integer(), Some(1024));
    assert_eq!(value["http"]["listen"].as_str(), Some("127.0.0.1:9187"));
}

#[test]
fn the_log_level_is_a_checked_filter_and_a_bad_one_is_located() {
    let c = parse("[log]\nlevel = \"info,rackwatch::source=debug\"\n").unwrap();
    assert_eq!(c.log_level, "info,rackwatch::source=debug");
    assert_eq!(Config::defaults().log_level, DEFAULT_LOG_LEVEL);
    for bad in ["verbose", "loud=", "info,rackwatch=loud", "=debug", ""] {
        let e = parse(&format!("[log]\nlevel = \"{bad}\"\n")).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "rackwatch.toml:2:9: log.level: `{bad}` is not a log filter"
            )),
            "{e}"
        );
        assert!(e.contains("off, error, warn, info, debug, trace"), "{e}");
    }
}

#[test]
fn logs_name_an_elf_per_firmware_version_and_errors_point_at_the_entry() {
    let c = parse(
        r#"
[node_logs]
elf = "/fw/any.elf"

[[node_logs.firmware]]
version = "0.1.0"
elf = "/fw/a.elf"

[[node_logs.firmware]]
version = "0.2.0"
elf = "/fw/b.elf"
"#,
    )
    .unwrap();
    assert_eq!(c.node_logs.elf, Some(PathBuf::from("/fw/any.elf")));
    assert_eq!(
        c.node_logs.firmware,
        [
            ("0.1.0".to_string(), PathBuf::from("/fw/a.elf")),
            ("0.2.0".to_string(), PathBuf::from("/fw/b.elf"))
        ]
    );
    assert_eq!(round_trip(&c), as_if_from(c, "shown.toml"));

    let twice = "[[node_logs.firmware]]\nversion = \"1\"\nelf = \"a\"\n\
                 [[node_logs.firmware]]\nversion = \"1\"\nelf = \"b\"\n";
    assert_eq!(
        parse(twice).unwrap_err(),
        "rackwatch.toml:5:11: node_logs.firmware[1].version: `1` is named twice; keep one"
    );
    let empty = "[node_logs]\nelf = \"\"\n";
    assert_eq!(
        parse(empty).unwrap_err(),
        "rackwatch.toml:2:7: node_logs.elf: the path is empty; name the firmware's ELF file"
    );
    let no_version = "[[node_logs.firmware]]\nversion = \" \"\nelf = \"a\"\n";
    assert!(
        parse(no_version)
            .unwrap_err()
            .starts_with("rackwatch.toml:2:11: node_logs.firmware[0].version: empty;"),
        "{}",
        parse(no_version).unwrap_err()
    );
    let unknown = "[node_logs]\nelfs = \"a\"\n";
    let err = parse(unknown).unwrap_err();
    assert!(
        err.starts_with("rackwatch.toml:2:1: node_logs.elfs: unknown field"),
        "{err}"
    );
}

#[test]
fn services_and_disk_rules_are_read_checked_and_shown_back() {
    let c = parse(
        "[local.disk]\nwarning_percent = 80\ncritical_within = \"2h\"\n\n[[service]]\nname = \"web\"\n\
         process = \"nginx\"\nrestarts = 5\nwithin = \"5m\"\nmemory_max = \"1GiB\"\n\n\
         [service.memory]\nwarning_within = \"12h\"\n\n[[service]]\nname = \"db\"\n\
         unit = \"postgresql.service\"\n",
    )
    .unwrap();
    let SourceKind::Local(local) = &c.sources.last().unwrap().kind else {
        panic!("no local source")
    };
    assert_eq!(local.disk.warning_percent, 80.0);
    assert_eq!(local.disk.critical_within, Duration::from_secs(7200));
    assert_eq!(local.services.len(), 2);
    let web = &local.services[0];
    assert_eq!(web.target, crate::local::Target::Process("nginx".into()));
    assert_eq!((web.restarts, web.within), (5, Duration::from_secs(300)));
    assert_eq!(web.memory_max, Some(1 << 30));
    assert_eq!(web.memory.warning_within, Duration::from_secs(12 * 3600));
    assert_eq!(local.services[1].memory_max, None);
    assert_eq!(round_trip(&c), as_if_from(c, "shown.toml"));
}

#[test]
fn service_mistakes_name_the_entry_and_the_key() {
    for (text, start) in [
        (
            "[[service]]\nname = \"web\"\n",
            "rackwatch.toml:2:8: service[0] (`web`): name exactly one of `unit`",
        ),
        (
            "[[service]]\nname = \"web\"\nunit = \"a\"\npid_file = \"/p\"\n",
            "rackwatch.toml:2:8: service[0] (`web`): name exactly one of",
        ),
        (
            "[[service]]\nname = \"web server\"\nunit = \"a\"\n",
            "rackwatch.toml:2:8: service[0].name: node name `web server`",
        ),
        (
            "[[service]]\nname = \"web\"\nunit = \"a\"\nrestarts = 0\n",
            "rackwatch.toml:4:12: service[0].restarts: 0 restarts",
        ),
        (
            "[[service]]\nname = \"web\"\nunit = \"a\"\n[service.memory]\ncritical_percent = 50\n",
            "rackwatch.toml:5:20: service[0].memory.critical_percent: 50 is below",
        ),
        (
            "[[service]]\nname = \"w\"\nprocess = \"a-very-long-worker\"\n",
            "rackwatch.toml:3:11: service[0].process: `a-very-long-worker` is longer than the 15 \
             bytes /proc/<pid>/comm keeps; give `a-very-long-wor`",
        ),
        (
            "[local.disk]\nwarning_within = \"1h\"\n",
            "rackwatch.toml:2:18: local.disk.critical_within: longer than warning_within",
        ),
        (
            "[[service]]\nname = \"a\"\nunit = \"a\"\n[[service]]\nname = \"a\"\nunit = \"b\"\n",
            "rackwatch.toml:5:8: service[1].name: `a` is used twice",
        ),
    ] {
        let e = parse(text).unwrap_err();
        assert!(e.starts_with(start), "{e}\nexpected: {start}");
    }
}
