//! The real `qemu` firmware image under `qemu-system-arm -M b-l475e-iot01a`, read through a pty as a
//! user reads `/dev/ttyACM0`, decoded with the core's decoder.
//!
//! One QEMU run serves every test here ([`story`]): the node plays `sim::qemu_rack` (from ten rack
//! minutes on the inlet temperature rises 3 °C/h and the humidity sensor sticks) until its inlet
//! reading passes [`STORY_END_C`], a few rack hours that the image's speed-up plays in seconds. The
//! tests assert what came over the line, never how long it took.

use rackwatch_core::monitor::{MetricSpec, Registry, DEFAULT_WINDOW};
use rackwatch_core::wire::{Body, Cause, Heartbeat, Transition, MAX_METRICS, SCHEMA_HASH};
use rackwatch_core::Level;
use rackwatch_firmware::node::FIRMWARE_VERSION;
use rackwatch_firmware::rack::RACK;
use rackwatch_firmware::sim::{self, SimMetric};
use rackwatch_tests::qemu::{self, Capture, QemuRun, SharedRun};
use std::time::Duration;

/// Readings per metric and heartbeats the run must hold at the least.
const ROUNDS: usize = 6;
/// The rising inlet's CRITICAL threshold (`RACK[0]`: critical above 32 °C).
const THRESHOLD_C: f32 = 32.0;
/// The run ends once an inlet reading passes this: past the threshold, with a CRITICAL due.
const STORY_END_C: f32 = 32.5;
/// A guard against a hung image, not a timing check.
const LIMIT: Duration = Duration::from_secs(150);

/// What one QEMU run of the image sent.
struct Story {
    capture: Capture,
    stderr: String,
    /// The image's defmt stream on semihosting stdout.
    defmt: Vec<u8>,
}

impl Story {
    /// Every reading, in the order the node took them: `(metric, at_ms, value)`.
    fn readings(&self) -> Vec<(u16, u64, f32)> {
        self.capture
            .bodies(|b| b.readings().map(|r| r.iter().collect::<Vec<_>>()))
            .into_iter()
            .flatten()
            .collect()
    }

    /// Every transition the node sent, in order.
    fn transitions(&self) -> Vec<Transition> {
        self.capture.bodies(|b| match b {
            Body::Transition(t) => Some(*t),
            _ => None,
        })
    }

    /// The node's Metric frames (kind 6), in order.
    fn specs(&self) -> Vec<MetricSpec> {
        self.capture.bodies(|b| match b {
            Body::Metric(spec) => Some(spec.clone()),
            _ => None,
        })
    }

    /// The Heartbeats with their sequence numbers.
    fn heartbeats(&self) -> Vec<(u16, Heartbeat)> {
        self.capture
            .frames
            .iter()
            .filter_map(|f| match f.body {
                Body::Heartbeat(h) => Some((f.header.seq, h)),
                _ => None,
            })
            .collect()
    }

    /// For assertion messages: the capture's shape and what QEMU printed.
    fn context(&self) -> String {
        format!(
            "{} bytes, {} frames, decode errors {:?}\nqemu stderr:\n{}",
            self.capture.bytes,
            self.capture.frames.len(),
            self.capture.errors,
            self.stderr
        )
    }
}

/// The shared run, or `None` after the calling test was skipped because a tool is missing (a
/// failure under `CI=true`: [`Missing::skip`]). A run that failed fails every test with its message.
fn story() -> Option<&'static Story> {
    static STORY: SharedRun<Story> = SharedRun::new();
    qemu::shared_run(&STORY, || {
        let tools = qemu::tools()?;
        let elf = qemu::firmware_elf();
        let mut run = QemuRun::start(&tools, &elf);
        let capture = run.read(LIMIT, story_told());
        let (stderr, defmt) = (run.stderr(), run.defmt_stdout());
        Ok(Story {
            capture,
            stderr,
            defmt,
        })
    })
}

/// Whether the run has told the whole story: an inlet reading past [`STORY_END_C`], at least
/// [`ROUNDS`] heartbeats. Looks at each frame once.
fn story_told() -> impl FnMut(&Capture) -> bool {
    let (mut seen, mut hot, mut beats) = (0, false, 0);
    move |c: &Capture| {
        for frame in &c.frames[seen..] {
            if let Some(r) = frame.body.readings() {
                hot |= r
                    .iter()
                    .any(|(m, _, v)| m == SimMetric::InletTemperature.id() && v > STORY_END_C);
            }
            if matches!(frame.body, Body::Heartbeat(_)) {
                beats += 1;
            }
        }
        seen = c.frames.len();
        hot && beats >= ROUNDS
    }
}

#[test]
fn qemu_node_sends_hello_then_contiguous_frames_with_readings_of_every_metric() {
    let Some(story) = story() else { return };
    let capture = &story.capture;
    let context = story.context();

    // Nothing garbled: no CRC, COBS or body errors on the line.
    assert!(capture.errors.is_empty(), "{context}");
    assert!(!capture.frames.is_empty(), "{context}");

    // The Hello comes first, with this build's schema hash, the simulated rack's metrics and the
    // rack's thresholds.
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
    for (descriptor, rack) in hello.metrics.iter().zip(&RACK) {
        assert_eq!(descriptor.rule, rack.rule.summary(), "{}", rack.name);
    }

    // Right after the Hello, a Metric frame per metric: the node's rules, exactly the rack's.
    let metric_frames: Vec<&Body> = capture.frames[1..=RACK.len()]
        .iter()
        .map(|f| &f.body)
        .collect();
    let rack_specs: Vec<Body> = RACK
        .iter()
        .map(|m| Body::Metric(m.spec().expect("RACK's specs are valid")))
        .collect();
    assert_eq!(metric_frames, rack_specs.iter().collect::<Vec<_>>());

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
    let readings = story.readings();
    for m in &hello.metrics {
        let n = readings.iter().filter(|r| r.0 == m.id).count();
        assert!(n >= ROUNDS, "{} readings of {}", n, m.name);
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
    let beats = story.heartbeats();
    assert!(beats.len() >= ROUNDS, "{context}");
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

    if let Some(stack) = qemu::stack_high_water(&story.stderr) {
        println!("stack high-water under QEMU: {stack} bytes");
    }
}

/// The inlet climbs toward 32 °C: the node's forecast warns (cause `Eta`) while every reading is
/// still below the threshold, and the alert is CRITICAL after, through the crossing and beyond.
#[test]
fn qemu_node_forecasts_the_rising_inlet_before_the_threshold_then_goes_critical() {
    let Some(story) = story() else { return };
    let context = story.context();
    let inlet = SimMetric::InletTemperature.id();
    let transitions: Vec<Transition> = story
        .transitions()
        .into_iter()
        .filter(|t| t.metric == inlet)
        .collect();
    let readings: Vec<(u64, f32)> = story
        .readings()
        .into_iter()
        .filter(|r| r.0 == inlet)
        .map(|r| (r.1, r.2))
        .collect();
    let crossed_ms = readings
        .iter()
        .find(|r| r.1 > THRESHOLD_C)
        .map(|r| r.0)
        .unwrap_or_else(|| panic!("the inlet never passed {THRESHOLD_C} °C: {context}"));

    // The first inlet alert is the forecast's WARNING, toward 32 °C within its 2 h horizon, raised
    // before any reading reached the threshold.
    let warning = transitions
        .first()
        .unwrap_or_else(|| panic!("no inlet transition: {context}"));
    assert_eq!(
        (warning.from, warning.to),
        (Level::Ok, Level::Warning),
        "{warning:?}"
    );
    let Cause::Eta { eta_ms, threshold } = warning.cause else {
        panic!("the first inlet WARNING is not predictive: {warning:?}");
    };
    assert_eq!(threshold, THRESHOLD_C, "{warning:?}");
    let horizon = RACK[0]
        .rule
        .predictive
        .and_then(|p| p.warning)
        .expect("a warning horizon");
    assert!(eta_ms <= u64::from(horizon.within_ms), "{warning:?}");
    assert!(warning.at_ms >= sim::QEMU_ONSET_MS, "{warning:?}");
    assert!(
        warning.at_ms < crossed_ms,
        "warned at {} ms, crossed at {crossed_ms} ms",
        warning.at_ms
    );
    assert!(
        readings
            .iter()
            .filter(|r| r.0 <= warning.at_ms)
            .all(|r| r.1 < THRESHOLD_C),
        "{warning:?}"
    );

    // Then CRITICAL, and CRITICAL it stays: at the crossing and to the end of the run.
    let critical = transitions
        .iter()
        .position(|t| t.to == Level::Critical)
        .unwrap_or_else(|| panic!("no inlet CRITICAL: {transitions:?}"));
    assert!(transitions[critical].at_ms > warning.at_ms);
    assert!(transitions[critical].at_ms <= crossed_ms, "{transitions:?}");
    assert_eq!(
        transitions.last().map(|t| t.to),
        Some(Level::Critical),
        "the inlet left CRITICAL: {transitions:?}"
    );
    assert!(
        transitions[critical..]
            .iter()
            .all(|t| t.to == Level::Critical),
        "{transitions:?}"
    );
}

/// The humidity sensor sticks at the onset: its readings freeze and the node reports the sensor,
/// a transition to UNKNOWN with cause `SensorFault`, and nothing about humidity before.
#[test]
fn qemu_node_reports_the_stuck_humidity_sensor() {
    let Some(story) = story() else { return };
    let humidity = SimMetric::Humidity.id();
    let transitions: Vec<Transition> = story
        .transitions()
        .into_iter()
        .filter(|t| t.metric == humidity)
        .collect();
    let stuck: Vec<f32> = story
        .readings()
        .into_iter()
        .filter(|r| r.0 == humidity && r.1 >= sim::QEMU_ONSET_MS)
        .map(|r| r.2)
        .collect();
    assert!(stuck.len() > 30, "{} readings after the onset", stuck.len());
    assert!(stuck.iter().all(|v| v.to_bits() == stuck[0].to_bits()));

    let report = transitions
        .iter()
        .find(|t| t.to == Level::Unknown && t.cause == Cause::SensorFault)
        .unwrap_or_else(|| panic!("the stuck sensor was not reported: {transitions:?}"));
    assert_eq!(report.from, Level::Ok, "{report:?}");
    assert!(report.at_ms > sim::QEMU_ONSET_MS, "{report:?}");
    assert!(
        transitions.iter().all(|t| t.at_ms >= report.at_ms),
        "{transitions:?}"
    );
    assert_eq!(transitions.last().map(|t| t.to), Some(Level::Unknown));
}

/// The host decodes the node's own rules from its Metric frames, builds the core's monitors with
/// them and replays the node's readings in order, polling at the node's times: it obtains the
/// node's transitions exactly (time, levels, cause bit for bit, alert sequence), so the core judges
/// alike on thumbv7em and x86_64.
#[test]
fn host_replaying_the_node_readings_obtains_the_node_transitions() {
    let Some(story) = story() else { return };
    let specs = story.specs();
    assert_eq!(specs.len(), RACK.len(), "{}", story.context());

    // The host's monitors: rules held by value, from the wire; the node's clock starts at boot.
    let mut host: Registry<MAX_METRICS, DEFAULT_WINDOW> = Registry::new();
    for spec in &specs {
        host.add(spec.id, spec.rule, spec.anomaly, 0)
            .expect("the node's specs are valid");
    }

    // The node polls after the readings of each pass; its passes are at least the reading times
    // and the heartbeat times.
    let readings = story.readings();
    let mut polls: Vec<u64> = readings
        .iter()
        .map(|r| r.1)
        .chain(story.heartbeats().iter().map(|(_, h)| h.uptime_ms))
        .collect();
    polls.sort_unstable();
    polls.dedup();
    let mut replayed = Vec::new();
    let mut next = readings.iter().peekable();
    for &now in &polls {
        while let Some(&&(metric, at_ms, value)) = next.peek() {
            if at_ms > now {
                break;
            }
            next.next();
            let transitions = host
                .observe(metric, at_ms, value)
                .unwrap_or_else(|e| panic!("metric {metric} at {at_ms} ms: {e}"));
            replayed.extend(transitions);
        }
        host.poll(now, |t| replayed.push(t));
    }

    // What the node sent for the times the host has seen.
    let last = polls.last().copied().unwrap_or(0);
    let sent: Vec<Transition> = story
        .transitions()
        .into_iter()
        .filter(|t| t.at_ms <= last)
        .collect();
    assert!(sent.len() >= 3, "{sent:?}");
    // Debug prints every f32 exactly (shortest round trip), so equal text is equal bits.
    let text = |ts: &[Transition]| ts.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>();
    assert_eq!(
        text(&replayed),
        text(&sent),
        "host (left) against node (right)"
    );
    println!(
        "host replay: {} readings, {} transitions, identical to the node's",
        readings.len(),
        replayed.len()
    );
}

/// The node's defmt log travels in its Log frames (kind 5): their bytes, in order, are the very
/// stream the image wrote to semihosting, so `defmt-print -e <ELF>` decodes either the same way.
#[test]
fn qemu_node_sends_its_defmt_log_in_log_frames() {
    let Some(story) = story() else { return };
    let logged: Vec<u8> = story
        .capture
        .bodies(|b| match b {
            Body::Log(log) => Some(log.defmt.to_vec()),
            _ => None,
        })
        .concat();
    // The boot line and a status line every ten rack minutes, a few hundred bytes.
    assert!(logged.len() > 100, "{} log bytes", logged.len());
    assert!(
        story.defmt.starts_with(&logged),
        "Log frames: {} bytes, semihosting: {} bytes, first difference at {:?}",
        logged.len(),
        story.defmt.len(),
        logged.iter().zip(&story.defmt).position(|(a, b)| a != b)
    );
    // The log is not a substitute for frames the node owes: the Hello and its Metric frames
    // come before any Log frame.
    let first_log = story
        .capture
        .frames
        .iter()
        .position(|f| matches!(f.body, Body::Log(_)))
        .expect("a Log frame");
    assert!(first_log > RACK.len(), "Log frame at {first_log}");
}
