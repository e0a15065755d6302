//! Simulated nodes: the real firmware application ([`rackwatch_firmware::node::Node`]) with the
//! simulated rack's sensors and the rack's monitors, run on the host in rack time.
//!
//! A [`SimRack`] steps a shared rack clock from one due sample to the next, polls every node at
//! that time and hands out each node's line bytes, so the nodes produce exactly what a board would
//! (Hello, Metric frames, batched readings, transitions, heartbeats) at any speed: paced to real time,
//! faster, or as fast as the machine goes (for captures).
//!
//! Invariants: deterministic for a given seed, boot ids and step sequence; bytes come out in whole
//! frames per node (the node's line never blocks here), so nodes sharing one stream interleave at
//! frame boundaries.

use rackwatch_core::wire::ResetReason;
use rackwatch_firmware::node::{Blocking, Clock, Node, NodeConfig};
use rackwatch_firmware::rack::{RackMonitors, RACK};
use rackwatch_firmware::sensors::SimSensorSet;
use rackwatch_firmware::sim::{Scenario, SimSensors};
use std::cell::Cell;
use std::rc::Rc;

/// The rack clock, shared by every simulated node: ms since the nodes booted.
#[derive(Debug, Clone, Default)]
pub struct RackClock(Rc<Cell<u64>>);

impl RackClock {
    /// Moves the clock to `t_ms` (never backwards).
    pub fn set(&self, t_ms: u64) {
        self.0.set(self.0.get().max(t_ms));
    }
}

impl Clock for RackClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// The bytes a node wrote since they were last taken.
#[derive(Debug, Default)]
pub struct LineBuffer(pub Vec<u8>);

impl embedded_io::ErrorType for LineBuffer {
    type Error = core::convert::Infallible;
}

impl embedded_io::Write for LineBuffer {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// A simulated node: the firmware's node application with the rack's monitors.
pub type SimNode = Node<SimSensorSet, Blocking<LineBuffer>, RackClock, RackMonitors<4>>;

/// What a simulated rack plays.
#[derive(Debug, Clone)]
pub struct SimSettings {
    /// Nodes, with ids 1 to `nodes`.
    pub nodes: u16,
    /// Seed of the noise; node `i` uses `seed + i`.
    pub seed: u64,
    /// Milliseconds between two samples of each sensor.
    pub period_ms: u32,
    /// When the failures start, rack ms after boot.
    pub onset_ms: u64,
    /// Scenarios, assigned round-robin to the nodes.
    pub scenarios: Vec<Scenario>,
    /// Added to every boot id, so two runs of the same rack are different boots.
    pub boot_salt: u32,
}

impl Default for SimSettings {
    fn default() -> Self {
        SimSettings {
            nodes: 6,
            seed: 1,
            period_ms: 10_000,
            onset_ms: 10 * 60_000,
            scenarios: Scenario::ALL.to_vec(),
            boot_salt: 0,
        }
    }
}

/// Simulated nodes on one rack clock.
pub struct SimRack {
    clock: RackClock,
    nodes: Vec<SimNode>,
    scenarios: Vec<Scenario>,
}

impl SimRack {
    /// Boots the rack's nodes at rack time 0.
    pub fn new(settings: &SimSettings) -> SimRack {
        let clock = RackClock::default();
        let scenarios: Vec<Scenario> = if settings.scenarios.is_empty() {
            vec![Scenario::Nominal]
        } else {
            settings.scenarios.clone()
        };
        let mut nodes = Vec::new();
        let mut played = Vec::new();
        for i in 0..settings.nodes {
            let scenario = scenarios[usize::from(i) % scenarios.len()];
            let seed = settings.seed.wrapping_add(u64::from(i));
            let sensors = SimSensorSet::new(
                SimSensors::new(seed, scenario, settings.onset_ms),
                settings.period_ms,
            );
            let id = i + 1;
            let boot_id = (seed as u32)
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(u32::from(id))
                .wrapping_add(settings.boot_salt);
            let config = NodeConfig::new(id, boot_id, ResetReason::PowerOn);
            // The configuration is the firmware's own defaults with simulated sensors: valid.
            if let Ok(node) = Node::new(
                sensors,
                Blocking(LineBuffer::default()),
                clock.clone(),
                RackMonitors::new(&RACK, 0),
                config,
            ) {
                nodes.push(node);
                played.push(scenario);
            }
        }
        SimRack {
            clock,
            nodes,
            scenarios: played,
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[SimNode] {
        &self.nodes
    }

    /// The scenario node `index` plays.
    pub fn scenario(&self, index: usize) -> Option<Scenario> {
        self.scenarios.get(index).copied()
    }

    /// The rack time.
    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    /// When the next node has something to do.
    pub fn next_due_ms(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| n.next_due_ms())
            .min()
            .unwrap_or(u64::MAX)
            .max(self.now_ms())
    }

    /// Moves the clock to `t_ms`, polls every node, and hands each node's new line bytes to `out`
    /// (node index, bytes).
    pub fn step_to(&mut self, t_ms: u64, mut out: impl FnMut(usize, &[u8])) {
        self.clock.set(t_ms);
        for (i, node) in self.nodes.iter_mut().enumerate() {
            node.poll();
            let line = &mut node.writer_mut().0 .0;
            if !line.is_empty() {
                out(i, line);
                line.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rackwatch_core::wire::{Body, Decoder, MAX_ENCODED_LEN};

    #[test]
    fn simulated_nodes_speak_the_wire_format_deterministically() {
        let run = || {
            let mut rack = SimRack::new(&SimSettings {
                nodes: 3,
                ..SimSettings::default()
            });
            let mut bytes = vec![Vec::new(); 3];
            while rack.now_ms() < 30 * 60_000 {
                let t = rack.next_due_ms();
                rack.step_to(t, |i, b| bytes[i].extend_from_slice(b));
            }
            bytes
        };
        let bytes = run();
        assert_eq!(bytes, run());
        for (i, line) in bytes.iter().enumerate() {
            let frames: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new()
                .feed(line)
                .collect::<Result<_, _>>()
                .unwrap();
            assert!(matches!(frames[0].body, Body::Hello(_)), "node {i}");
            assert_eq!(
                frames
                    .iter()
                    .filter(|f| matches!(f.body, Body::Metric(_)))
                    .count(),
                4
            );
            // The node sends its batches packed (kind 7) by default.
            assert!(frames
                .iter()
                .any(|f| matches!(f.body, Body::PackedReadings(_))));
            assert!(frames.iter().any(|f| matches!(f.body, Body::Heartbeat(_))));
            for (seq, f) in frames.iter().enumerate() {
                assert_eq!(
                    usize::from(f.header.seq),
                    seq,
                    "node {i}: contiguous sequence"
                );
            }
        }
    }

    /// What a host reads off the line: each metric's lattice in the Hello, and readings that lie
    /// on it (within the one ulp the codec corrects), as a real board's would.
    #[test]
    fn simulated_nodes_announce_the_lattice_their_readings_lie_on() {
        let mut rack = SimRack::new(&SimSettings {
            nodes: 2,
            ..SimSettings::default()
        });
        let mut line = Vec::new();
        while rack.now_ms() < 30 * 60_000 {
            let t = rack.next_due_ms();
            rack.step_to(t, |i, b| {
                if i == 0 {
                    line.extend_from_slice(b)
                }
            });
        }
        let frames: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new()
            .feed(&line)
            .collect::<Result<_, _>>()
            .unwrap();
        let Body::Hello(hello) = &frames[0].body else {
            panic!("the first frame is the Hello: {:?}", frames[0]);
        };
        let lattices: std::collections::HashMap<u16, _> = hello
            .metrics
            .iter()
            .map(|m| {
                (
                    m.id,
                    m.lattice.expect("every simulated metric has a lattice"),
                )
            })
            .collect();
        let mut checked = 0;
        for frame in &frames {
            let Some(batch) = frame.body.readings() else {
                continue;
            };
            for reading in &batch.readings {
                let lattice = lattices[&reading.metric];
                let (offset, step) = (f64::from(lattice.offset), f64::from(lattice.step));
                let k = ((f64::from(reading.value) - offset) / step).round();
                let on = (offset + k * step) as f32;
                let ulps = (i64::from(on.to_bits()) - i64::from(reading.value.to_bits())).abs();
                assert!(ulps <= 1, "{reading:?} is {ulps} ulps off {lattice:?}");
                checked += 1;
            }
        }
        assert!(checked >= 4 * 150, "{checked} readings");
    }
}
