use super::*;
use rackwatch_core::wire::{Decoder, Kind};

fn frames(
    node: &mut LocalNode,
    wall_ms: u64,
    decoder: &mut Decoder<MAX_ENCODED_LEN>,
) -> Vec<Frame> {
    decoder
        .feed(&node.sample(wall_ms))
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_local_nodes_frame_their_figures_like_boards() {
    let mut node = LocalNode::new(LocalSettings {
        mounts: Some(vec!["/".into()]),
        processes: vec!["no-such-process-rw".into()],
        ..LocalSettings::default()
    });
    let mut decoder = Decoder::new();
    let first = frames(&mut node, 1000, &mut decoder);
    let ids: std::collections::BTreeSet<u16> = first.iter().map(|f| f.header.node_id).collect();
    assert_eq!(
        ids.into_iter().collect::<Vec<_>>(),
        [0xFFFF - 5, 0xFFFF - 1, 0xFFFF]
    );
    let hellos: Vec<_> = first
        .iter()
        .filter_map(|f| match &f.body {
            Body::Hello(h) => Some((f.header.node_id, h.firmware.to_string(), h.metrics.len())),
            _ => None,
        })
        .collect();
    assert_eq!(hellos[0].1, "local");
    assert_eq!((hellos[1].1.as_str(), hellos[1].2), ("local-disks", 2));
    assert_eq!((hellos[2].1.as_str(), hellos[2].2), ("local-procs", 1));
    // The disk node: space and inodes of `/` read; the absent process is a sensor error.
    let disks: Vec<_> = first
        .iter()
        .filter(|f| f.header.node_id == 0xFFFE)
        .collect();
    let Body::Readings(r) = &disks[disks.len() - 2].body else {
        panic!("readings before the heartbeat")
    };
    assert_eq!(r.len(), 2);
    for (_, _, v) in r.iter() {
        assert!((0.0..=100.0).contains(&v));
    }
    let procs = first.iter().rfind(|f| f.header.node_id == 0xFFFA).unwrap();
    let Body::Heartbeat(h) = procs.body else {
        panic!()
    };
    assert_eq!(h.sensor_errors, 1);
    let second = frames(&mut node, 11_000, &mut decoder);
    assert!(
        second.iter().all(|f| f.body.kind() != Kind::Hello),
        "no Hello after the first sample"
    );
}

#[test]
fn with_no_settings_every_real_mount_has_space_and_inodes() {
    let real = mounts::discover();
    let mut node = LocalNode::new(LocalSettings::default());
    let mut decoder = Decoder::new();
    let names: Vec<String> = frames(&mut node, 1000, &mut decoder)
        .iter()
        .filter_map(|f| match &f.body {
            Body::Metric(m) => Some(m.name.to_string()),
            _ => None,
        })
        .collect();
    for mount in real.iter().take(MAX_MOUNTS) {
        for prefix in ["disk:", "inodes:"] {
            let name = metric_name(prefix, &mount.to_string_lossy());
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
    }
    for name in ["memory_used", "swap_used", "load1", "fds_used"] {
        assert!(names.iter().any(|n| n == name), "{name} missing");
    }
}

#[test]
fn services_take_ids_below_the_reserved_ones() {
    let settings = LocalSettings {
        services: vec![ServiceSpec::new("web", Target::Process("web".into()))],
        ..LocalSettings::default()
    };
    assert_eq!(settings.node_ids(), Some((0xFFFF - 6, 0xFFFF)));
    let low = LocalSettings {
        node_id: 3,
        ..settings
    };
    assert_eq!(low.node_ids(), None);
}

#[test]
fn long_names_keep_their_end() {
    let name = metric_name("disk:", "/var/lib/postgresql/16/main");
    assert!(name.len() <= MAX_NAME_LEN);
    assert!(
        name.starts_with("disk:") && name.ends_with("16/main"),
        "{name}"
    );
}
