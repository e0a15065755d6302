//! The pipeline from line bytes to SQLite: dedupe, gaps, resets, decode errors, idempotent storage.

use rackwatch::ingest::{Event, Ingest, IngestSettings, NodeEventKind, Origin};
use rackwatch::rules::HostRules;
use rackwatch::store::{Query, Store};
use rackwatch_core::alert::{MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{
    Body, Frame, Header, Heartbeat, Hello, Readings, ResetReason, MAX_ENCODED_LEN,
};

/// A node's line: frames with consecutive sequence numbers.
struct Node {
    id: u16,
    boot: u32,
    seq: u16,
}

impl Node {
    fn line(&mut self, body: Body) -> Vec<u8> {
        let frame = Frame {
            header: Header {
                node_id: self.id,
                boot_id: self.boot,
                seq: self.seq,
            },
            body,
        };
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        out[..n].to_vec()
    }

    fn boot_frames(&mut self) -> Vec<u8> {
        let mut bytes = self.line(Body::Hello(Hello::new("0.1.0".try_into().unwrap())));
        let spec = MetricSpec::new(
            0,
            "inlet_temperature",
            "degC",
            Rule {
                missing: MissingData::unknown_after(60_000),
                ..Rule::above(30.0, 35.0)
            },
            AnomalyConfig::DEFAULT,
        )
        .unwrap();
        bytes.extend(self.line(Body::Metric(spec)));
        bytes
    }

    fn readings(&mut self, from_s: u64, values: &[f32]) -> Vec<u8> {
        let mut batch = Readings::new();
        for (i, v) in values.iter().enumerate() {
            batch.push(0, (from_s + i as u64) * 1000, *v).unwrap();
        }
        self.line(Body::Readings(batch))
    }

    fn heartbeat(&mut self, uptime_s: u64) -> Vec<u8> {
        self.line(Body::Heartbeat(Heartbeat {
            uptime_ms: uptime_s * 1000,
            reset: ResetReason::PowerOn,
            frames_sent: u32::from(self.seq),
            frames_dropped: 0,
            readings_dropped: 0,
            sensor_errors: 0,
        }))
    }
}

const T0: u64 = 1_800_000_000_000;

/// A session on one source: (wall time, bytes) chunks.
fn session() -> Vec<(u64, Vec<u8>)> {
    let mut node = Node {
        id: 3,
        boot: 0xB007,
        seq: 0,
    };
    let mut chunks = vec![(T0, node.boot_frames())];
    chunks.push((T0 + 10_000, node.readings(0, &[25.0; 10])));
    chunks.push((T0 + 11_000, node.heartbeat(11)));
    // A frame lost on the line.
    let _lost = node.readings(10, &[26.0; 10]);
    let mut bytes = node.readings(20, &[31.0; 10]);
    // The same frame twice (a second path to the node), and garbage.
    bytes.extend(bytes.clone());
    bytes.extend([0x55, 0x13, 0x00]);
    chunks.push((T0 + 30_000, bytes));
    // Reboot.
    let mut rebooted = Node {
        id: 3,
        boot: 0xB008,
        seq: 0,
    };
    chunks.push((T0 + 40_000, rebooted.boot_frames()));
    chunks.push((T0 + 45_000, rebooted.readings(0, &[20.0; 5])));
    chunks
}

fn ingest(chunks: &[(u64, Vec<u8>)]) -> (Ingest, Vec<Event>) {
    let mut ingest = Ingest::new(HostRules::default(), IngestSettings::default());
    let mut events = Vec::new();
    for (wall, bytes) in chunks {
        // Any chunking: split each chunk in two uneven pieces.
        let (a, b) = bytes.split_at(bytes.len() / 3);
        ingest.bytes("ttyACM0", *wall, a, &mut events);
        ingest.bytes("ttyACM0", *wall, b, &mut events);
        ingest.tick(*wall, &mut events);
    }
    (ingest, events)
}

#[test]
fn the_pipeline_counts_every_loss_and_names_the_source_of_errors() {
    let (ingest, events) = ingest(&session());
    let node = &ingest.nodes()[&3];
    assert_eq!(node.counters.lost, 1);
    assert_eq!(node.counters.duplicates, 1);
    assert_eq!(node.counters.resets, 1);
    assert_eq!(node.counters.readings, 25);
    assert_eq!(ingest.totals().decode_errors.values().sum::<u64>(), 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::NodeEvent {
            kind: NodeEventKind::Gap { lost: 1, .. },
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::NodeEvent {
            kind: NodeEventKind::Reset {
                previous_boot: 0xB007
            },
            ..
        }
    )));
    assert!(events.iter().any(|e| matches!(e,
        Event::DecodeError { source, .. } if source == "ttyACM0")));
    // The host judged the readings with the node's own rule: 31 °C is a warning.
    assert!(events.iter().any(|e| matches!(e,
        Event::Transition { origin: Origin::Host, transition, .. } if transition.to == rackwatch_core::Level::Warning)));
    // The new boot's monitor is fresh: 20 °C, OK.
    assert_eq!(node.host_level(0), Some(rackwatch_core::Level::Ok));
}

#[test]
fn ingesting_the_same_session_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    let mut store = Store::open(&path).unwrap();
    let (_, events) = ingest(&session());
    store.write(&events).unwrap();
    let first = store.dump().unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.readings, 25);
    assert_eq!(counts.boots, 2);
    assert_eq!(counts.decode_errors, 1);
    // Again, from a fresh pipeline (a second `rackwatch run` over the same capture).
    let (_, again) = ingest(&session());
    store.write(&again).unwrap();
    assert_eq!(store.dump().unwrap(), first);

    let readings = store
        .readings(&Query {
            node: Some(3),
            metric: Some("inlet_temperature".into()),
            ..Query::default()
        })
        .unwrap();
    assert_eq!(readings.len(), 25);
    assert_eq!(readings[0].unit, "degC");
    // Wall times follow the boot's anchor: the first batch arrived at T0 + 10 s with node time 9 s.
    assert_eq!(readings[0].wall_ms, T0 + 1_000);
    let transitions = store.transitions(&Query::default()).unwrap();
    assert!(transitions
        .iter()
        .any(|t| t.to == rackwatch_core::Level::Warning && t.origin == Origin::Host));
}

#[test]
fn retention_drops_the_oldest_data_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db")).unwrap();
    let (_, events) = ingest(&session());
    store.write(&events).unwrap();
    // Retention drops whole chunks: one goes when its newest reading is older than the cutoff.
    // Keep 35 s before T0 + 60 s: boot 1's chunk (anchor T0 + 1 s, t = 0..29 s) ends at T0 + 30 s,
    // after the cutoff, and stays whole with boot 2's.
    store.retain(T0 + 60_000, Some(35_000), None).unwrap();
    assert_eq!(store.readings(&Query::default()).unwrap().len(), 25);
    // Keep 29 s: boot 1's chunk is older than the cutoff; boot 2's (t = 0..4 s at anchor
    // T0 + 41 s) stays.
    store.retain(T0 + 60_000, Some(29_000), None).unwrap();
    let left = store.readings(&Query::default()).unwrap();
    assert!(left.iter().all(|r| r.wall_ms >= T0 + 41_000), "{left:?}");
    assert_eq!(left.len(), 5);
    // By size: a tiny limit empties the readings.
    store.retain(T0 + 60_000, None, Some(1)).unwrap();
    assert_eq!(store.counts().unwrap().readings, 0);
}

#[test]
fn retention_forgets_a_boot_once_none_of_its_rows_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db")).unwrap();
    let (_, events) = ingest(&session());
    store.write(&events).unwrap();
    assert_eq!(store.counts().unwrap().boots, 2);
    // Keep what happened from T0 + 41 s on: boot 1's rows all go, boot 2's stay.
    store.retain(T0 + 60_000, Some(19_000), None).unwrap();
    let counts = store.counts().unwrap();
    assert_eq!(counts.boots, 1, "{counts:?}");
    let anchors = store.boot_anchors().unwrap();
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    // The boot left keeps its metric names.
    let left = store.readings(&Query::default()).unwrap();
    assert!(!left.is_empty());
    assert!(
        left.iter().all(|r| !r.name.starts_with("metric_")),
        "{left:?}"
    );
}

#[test]
fn a_metric_the_hello_announced_is_stored_by_name_without_a_metric_frame() {
    let spec = MetricSpec::new(
        0,
        "inlet_temperature",
        "degC",
        Rule::above(30.0, 35.0),
        AnomalyConfig::DEFAULT,
    )
    .unwrap();
    let mut hello = Hello::new("0.0.9".try_into().unwrap());
    hello.metrics.push(spec.descriptor()).unwrap();
    let mut node = Node {
        id: 9,
        boot: 0xB009,
        seq: 0,
    };
    let mut bytes = node.line(Body::Hello(hello));
    bytes.extend(node.readings(1, &[21.0, 31.0, 31.5, 32.0]));
    let mut ingest = Ingest::new(HostRules::default(), IngestSettings::default());
    let mut events = Vec::new();
    ingest.bytes("old-firmware", T0, &bytes, &mut events);
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.db")).unwrap();
    store.write(&events).unwrap();
    let rows = store.readings(&Query::default()).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(rows
        .iter()
        .all(|r| r.name == "inlet_temperature" && r.unit == "degC"));
    // The node's own Metric frame, when it comes, replaces what the host derived.
    let mut again = node.line(Body::Metric(spec));
    again.extend(node.readings(5, &[22.0]));
    let mut events = Vec::new();
    ingest.bytes("old-firmware", T0 + 10_000, &again, &mut events);
    store.write(&events).unwrap();
    assert_eq!(store.counts().unwrap().metrics, 1);
}

#[test]
fn a_node_reset_mid_frame_costs_only_the_cut_frame() {
    // Injected 50 times: boot n sends ten frames and is cut off halfway through an eleventh; boot
    // n + 1 starts, as the firmware does, with a delimiter, then its Hello and readings.
    const RESETS: u32 = 50;
    let mut bytes = Vec::new();
    for boot in 0..=RESETS {
        let mut node = Node {
            id: 5,
            boot: 0xB000 + boot,
            seq: 0,
        };
        bytes.push(0);
        bytes.extend(node.boot_frames());
        for i in 0..8 {
            bytes.extend(node.readings(i, &[20.0]));
        }
        if boot < RESETS {
            let cut = node.readings(8, &[20.0, 21.0, 22.0]);
            bytes.extend(&cut[..cut.len() / 2]);
        }
    }
    let mut ingest = Ingest::new(HostRules::default(), IngestSettings::default());
    let mut events = Vec::new();
    ingest.bytes("ttyACM0", T0, &bytes, &mut events);
    let node = &ingest.nodes()[&5];
    assert_eq!(node.counters.resets, u64::from(RESETS));
    // Every whole frame of every boot arrived: 1 + 1 + 8 frames each, and nothing counted lost.
    assert_eq!(node.counters.frames, u64::from(RESETS + 1) * 10);
    assert_eq!(node.counters.lost, 0);
    assert_eq!(node.counters.readings, u64::from(RESETS + 1) * 8);
    // Each cut frame is one decode error, no more.
    assert_eq!(
        ingest.totals().decode_errors.values().sum::<u64>(),
        u64::from(RESETS)
    );
}
