//! The real `qemu` firmware image under `qemu-system-arm -M b-l475e-iot01a`, read through a pty as a
//! user reads `/dev/ttyACM0`, decoded with the core's decoder.

use rackwatch_core::wire::{Body, Heartbeat, SCHEMA_HASH};
use rackwatch_firmware::node::FIRMWARE_VERSION;
use rackwatch_firmware::sim::{self, SimMetric};
use rackwatch_tests::qemu::{self, QemuRun};
use std::time::Duration;

/// Readings per metric and heartbeats to wait for: a few of each.
const ROUNDS: usize = 6;

#[test]
fn qemu_node_sends_hello_then_contiguous_frames_with_readings_of_every_metric() {
    let Some(tools) = qemu::tools() else { return };
    let elf = qemu::firmware_elf();
    let mut run = QemuRun::start(&tools, &elf);
    let enough = |c: &rackwatch_tests::qemu::Capture| {
        let readings = c.bodies(|b| match b {
            Body::Readings(r) => Some(r.len()),
            _ => None,
        });
        let heartbeats = c.bodies(|b| matches!(b, Body::Heartbeat(_)).then_some(()));
        readings.iter().sum::<usize>() >= ROUNDS * SimMetric::ALL.len()
            && heartbeats.len() >= ROUNDS
    };
    let capture = run.read(Duration::from_secs(120), enough);
    let stderr = run.stderr();
    drop(run);
    let context = format!(
        "{} bytes, {} frames, errors {:?}\nqemu stderr:\n{stderr}",
        capture.bytes,
        capture.frames.len(),
        capture.errors
    );

    // Nothing garbled: no CRC, COBS or body errors on the line.
    assert!(capture.errors.is_empty(), "{context}");
    assert!(enough(&capture), "the node did not send enough: {context}");

    // The Hello comes first, with this build's schema hash and the simulated rack's metrics.
    let first = &capture.frames[0];
    let Body::Hello(hello) = &first.body else {
        panic!("the first frame is not a Hello: {first:?}\n{context}");
    };
    assert_eq!(first.header.seq, 0);
    assert_eq!(hello.schema_hash, SCHEMA_HASH, "schema hash");
    assert_eq!(hello.firmware.as_str(), FIRMWARE_VERSION);
    let announced: Vec<(u16, &str, &str)> = hello
        .metrics
        .iter()
        .map(|m| (m.id, m.name.as_str(), m.unit.as_str()))
        .collect();
    let expected: Vec<(u16, &str, &str)> = SimMetric::ALL
        .iter()
        .map(|m| (m.id(), m.name(), m.unit()))
        .collect();
    assert_eq!(announced, expected);

    // One node, one boot, sequence numbers 0, 1, 2, ... without a gap.
    for (i, frame) in capture.frames.iter().enumerate() {
        assert_eq!(usize::from(frame.header.seq), i, "frame {i}: {frame:?}");
        assert_eq!(
            (frame.header.node_id, frame.header.boot_id),
            (first.header.node_id, first.header.boot_id)
        );
    }

    // Readings of every announced metric, and they are the simulation's values bit for bit: the
    // node computed them on a Cortex-M4F, the reference here on the host, with the same libm.
    let readings: Vec<(u16, u64, f32)> = capture
        .bodies(|b| match b {
            Body::Readings(r) => Some(r.iter().collect::<Vec<_>>()),
            _ => None,
        })
        .into_iter()
        .flatten()
        .collect();
    for m in &hello.metrics {
        let n = readings.iter().filter(|r| r.0 == m.id).count();
        assert!(n >= ROUNDS - 1, "{} readings of {}", n, m.name);
    }
    let mut reference = sim::qemu_rack();
    for &(metric, at_ms, value) in &readings {
        let m = SimMetric::ALL[usize::from(metric)];
        let want = reference
            .read(m, at_ms)
            .expect("the qemu rack's sensors all answer");
        assert_eq!(
            value.to_bits(),
            want.to_bits(),
            "{m:?} at {at_ms} ms: node {value}, host {want}"
        );
    }

    // Heartbeats count what the host saw: every frame before them sent, nothing dropped.
    let beats: Vec<(u16, Heartbeat)> = capture
        .frames
        .iter()
        .filter_map(|f| match f.body {
            Body::Heartbeat(h) => Some((f.header.seq, h)),
            _ => None,
        })
        .collect();
    for (seq, beat) in &beats {
        assert_eq!(beat.frames_sent, u32::from(*seq), "{beat:?}");
        assert_eq!(
            (
                beat.frames_dropped,
                beat.readings_dropped,
                beat.sensor_errors
            ),
            (0, 0, 0),
            "{beat:?}"
        );
    }
    assert!(beats
        .windows(2)
        .all(|w| w[0].1.uptime_ms < w[1].1.uptime_ms));

    if let Some(stack) = qemu::stack_high_water(&stderr) {
        println!("stack high-water under QEMU: {stack} bytes");
    }
}
