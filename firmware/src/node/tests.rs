//! The node on the host: a fake clock, a fake UART with a byte budget, the simulated rack, and the
//! core's decoder reading what the node wrote, as a host would.

use super::*;
use crate::hook::MetricHook;
use crate::sensors::{SensorSet, SimSensorSet};
use crate::sim::{Scenario, SimMetric, SimSensors};
use core::cell::Cell;
use rackwatch_core::alert::Rule;
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::wire::{Cause, DecodeError, Decoder, Frame, Kind, SCHEMA_HASH};
use rackwatch_core::Level;

struct FakeClock(Cell<u64>);

impl FakeClock {
    fn new() -> Self {
        FakeClock(Cell::new(0))
    }

    fn set(&self, t: u64) {
        self.0.set(t);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> u64 {
        self.0.get()
    }
}

/// A UART: takes `credit` bytes without blocking, refilled by the test; a blocking write (the
/// node's boot frames and transitions) waits for the line, which the fake counts in `waited`.
#[derive(Default)]
struct FakeLine {
    bytes: Vec<u8>,
    credit: Option<usize>,
    waited: usize,
    /// Fail the write call with this index (0-based), once.
    fail_call: Option<usize>,
    calls: usize,
}

impl ErrorType for FakeLine {
    type Error = embedded_io::ErrorKind;
}

impl Write for FakeLine {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        let call = self.calls;
        self.calls += 1;
        if self.fail_call == Some(call) {
            return Err(embedded_io::ErrorKind::Other);
        }
        let n = match self.credit {
            Some(0) => {
                self.waited += buf.len();
                buf.len()
            }
            Some(credit) => {
                let n = credit.min(buf.len());
                self.credit = Some(credit - n);
                n
            }
            None => buf.len(),
        };
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

impl WriteReady for FakeLine {
    fn write_ready(&mut self) -> Result<bool, Self::Error> {
        Ok(self.credit != Some(0))
    }
}

/// Records what the node hands the hook; optionally raises a transition for every `every`-th
/// reading of metric 0.
#[derive(Default)]
struct Recorder {
    readings: Vec<(u16, u64, f32)>,
    errors: Vec<(u16, u64)>,
    ticks: usize,
    every: Option<usize>,
    raised: Vec<Transition>,
    spec: Option<MetricSpec>,
}

impl MetricHook for Recorder {
    fn on_reading(
        &mut self,
        metric: u16,
        at_ms: u64,
        value: f32,
        emit: &mut dyn FnMut(Transition),
    ) {
        self.readings.push((metric, at_ms, value));
        let n = self.readings.iter().filter(|r| r.0 == 0).count();
        if let Some(every) = self.every {
            if metric == 0 && n % every == 0 {
                let t = Transition {
                    metric,
                    from: Level::Ok,
                    to: Level::Warning,
                    at_ms,
                    cause: Cause::Value { value, bound: 0.0 },
                    alert_seq: self.raised.len() as u32,
                    suppressed: false,
                };
                self.raised.push(t);
                emit(t);
            }
        }
    }

    fn on_sensor_error(&mut self, metric: u16, at_ms: u64, _: &mut dyn FnMut(Transition)) {
        self.errors.push((metric, at_ms));
    }

    fn on_tick(&mut self, _: u64, _: &mut dyn FnMut(Transition)) {
        self.ticks += 1;
    }

    fn rule_summary(&self, metric: u16) -> Option<RuleSummary> {
        (metric == 0).then_some(RuleSummary {
            crossing: Crossing::Above,
            warning: Some(30.0),
            critical: Some(35.0),
        })
    }

    fn metric_spec(&self, metric: u16) -> Option<MetricSpec> {
        self.spec.clone().filter(|s| s.id == metric)
    }
}

fn sim(scenario: Scenario) -> SimSensorSet {
    SimSensorSet::new(SimSensors::new(42, scenario, 30_000), 10_000)
}

fn config() -> NodeConfig {
    NodeConfig::new(7, 0xB007_1D00, ResetReason::Watchdog)
}

fn decode(bytes: &[u8]) -> (Vec<Frame>, Vec<DecodeError>) {
    let mut decoder: Decoder = Decoder::new();
    let (mut frames, mut errors) = (Vec::new(), Vec::new());
    for result in decoder.feed(bytes) {
        match result {
            Ok(frame) => frames.push(frame),
            Err(e) => errors.push(e),
        }
    }
    (frames, errors)
}

/// Runs the node from 0 to `until_ms` in steps of `step_ms`, giving the line `credit` bytes per
/// step (`None`: unlimited).
fn run<S: SensorSet, H: MetricHook>(
    node: &mut Node<S, FakeLine, &FakeClock, H>,
    clock: &FakeClock,
    until_ms: u64,
    step_ms: u64,
    credit: Option<usize>,
) {
    let mut t = clock.now_ms();
    while t <= until_ms {
        clock.set(t);
        node.writer_mut().credit = credit;
        node.poll();
        t += step_ms;
    }
}

fn readings_of(frames: &[Frame]) -> Vec<(u16, u64, f32)> {
    frames
        .iter()
        .filter_map(|f| f.body.readings().map(|r| r.iter().collect::<Vec<_>>()))
        .flatten()
        .collect()
}

fn heartbeats(frames: &[Frame]) -> Vec<(u16, Heartbeat)> {
    frames
        .iter()
        .filter_map(|f| match &f.body {
            Body::Heartbeat(h) => Some((f.header.seq, *h)),
            _ => None,
        })
        .collect()
}

fn assert_contiguous(frames: &[Frame]) {
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(usize::from(f.header.seq), i, "frame {i}: {f:?}");
        assert_eq!((f.header.node_id, f.header.boot_id), (7, 0xB007_1D00));
    }
}

#[test]
fn boot_sends_a_delimiter_then_the_hello_with_schema_hash_and_descriptors() {
    let clock = FakeClock::new();
    let mut node = Node::new(
        sim(Scenario::Nominal),
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    assert!(
        node.writer().bytes.is_empty(),
        "nothing before the first poll"
    );
    node.poll();
    let bytes = &node.writer().bytes;
    assert_eq!(bytes[0], 0x00, "a lone delimiter first");
    let (frames, errors) = decode(bytes);
    assert!(errors.is_empty(), "{errors:?}");
    let Body::Hello(hello) = &frames[0].body else {
        panic!("first frame is not a Hello: {:?}", frames[0]);
    };
    assert_eq!(frames[0].header.seq, 0);
    assert_eq!(hello.schema_hash, SCHEMA_HASH);
    assert_eq!(hello.firmware.as_str(), FIRMWARE_VERSION);
    let names: Vec<_> = hello
        .metrics
        .iter()
        .map(|m| (m.id, m.name.as_str(), m.unit.as_str()))
        .collect();
    assert_eq!(
        names,
        SimMetric::ALL
            .map(|m| (m.id(), m.name(), m.unit()))
            .to_vec()
    );
    assert_eq!(
        hello.metrics[0].rule.warning,
        Some(30.0),
        "the hook's rule summary"
    );
    assert_eq!(hello.metrics[1].rule, NO_RULE);
}

#[test]
fn a_metric_frame_follows_the_hello_for_each_spec_the_hook_has() {
    let clock = FakeClock::new();
    let spec = MetricSpec::new(
        0,
        "inlet_temperature",
        "degC",
        Rule::default(),
        AnomalyConfig::default(),
    )
    .unwrap();
    let hook = Recorder {
        spec: Some(spec.clone()),
        ..Recorder::default()
    };
    let mut node = Node::new(
        sim(Scenario::Nominal),
        FakeLine::default(),
        &clock,
        hook,
        config(),
    )
    .unwrap();
    node.poll();
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert!(matches!(frames[0].body, Body::Hello(_)));
    assert_eq!(frames[1].body, Body::Metric(spec));
    assert_eq!(frames[1].header.seq, 1);
}

#[test]
fn a_long_run_has_contiguous_frames_every_reading_and_honest_heartbeats() {
    let clock = FakeClock::new();
    let mut node = Node::new(
        sim(Scenario::Nominal),
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 120_000, 100, None);
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert_contiguous(&frames);

    // Every sensor every 10 s from 0: 13 readings each up to 120 s, all delivered but the last
    // batch, which is younger than its 10 s age.
    let readings = readings_of(&frames);
    for metric in SimMetric::ALL {
        let times: Vec<u64> = readings
            .iter()
            .filter(|r| r.0 == metric.id())
            .map(|r| r.1)
            .collect();
        assert_eq!(
            times,
            (0..12).map(|i| i * 10_000).collect::<Vec<_>>(),
            "{metric:?}"
        );
    }
    assert_eq!(node.counters().readings_taken, 13 * 4);

    // A heartbeat every 5 s; each counts exactly the frames before it.
    let beats = heartbeats(&frames);
    assert_eq!(beats.len(), 24);
    for (i, (seq, beat)) in beats.iter().enumerate() {
        assert_eq!(beat.uptime_ms, (i as u64 + 1) * 5_000);
        assert_eq!(beat.frames_sent, u32::from(*seq));
        assert_eq!(beat.reset, ResetReason::Watchdog);
        assert_eq!(
            (
                beat.frames_dropped,
                beat.readings_dropped,
                beat.sensor_errors
            ),
            (0, 0, 0)
        );
    }
}

#[test]
fn readings_are_the_simulation_read_in_slot_order_so_the_host_sim_agrees() {
    let clock = FakeClock::new();
    let mut node = Node::new(
        sim(Scenario::RisingInlet),
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 200_000, 1_000, None);
    let (frames, _) = decode(&node.writer().bytes);
    let mut reference = SimSensors::new(42, Scenario::RisingInlet, 30_000);
    let expected: Vec<(u16, u64, f32)> = (0..20u64)
        .flat_map(|i| SimMetric::ALL.map(|m| (m, i * 10_000)))
        .map(|(m, t)| (m.id(), t, reference.read(m, t).unwrap()))
        .collect();
    assert_eq!(readings_of(&frames), expected);
    // The hook saw the same readings, in the same order, and one tick per poll.
    assert_eq!(node.hook().readings[..expected.len()], expected[..]);
    assert_eq!(node.hook().ticks, 201);
}

#[test]
fn batches_go_packed_by_default_and_plain_on_request_with_the_same_readings() {
    let readings_sent = |readings: ReadingsKind| {
        let clock = FakeClock::new();
        let mut node = Node::new(
            sim(Scenario::RisingInlet),
            FakeLine::default(),
            &clock,
            Recorder::default(),
            NodeConfig {
                readings,
                ..config()
            },
        )
        .unwrap();
        run(&mut node, &clock, 600_000, 1_000, None);
        let (frames, errors) = decode(&node.writer().bytes);
        assert!(errors.is_empty(), "{errors:?}");
        let kinds: Vec<Kind> = frames
            .iter()
            .filter(|f| f.body.readings().is_some())
            .map(|f| f.body.kind())
            .collect();
        let bytes = node.writer().bytes.len();
        (readings_of(&frames), kinds, bytes)
    };
    assert_eq!(config().readings, ReadingsKind::Packed);
    let (packed, packed_kinds, packed_bytes) = readings_sent(ReadingsKind::Packed);
    let (plain, plain_kinds, plain_bytes) = readings_sent(ReadingsKind::Plain);
    // Packed unless a batch would be longer so (none is here: XOR values, four metrics).
    assert!(packed_kinds.iter().all(|&k| k == Kind::PackedReadings));
    assert!(plain_kinds.iter().all(|&k| k == Kind::Readings));
    assert_eq!(packed_kinds.len(), plain_kinds.len());
    let bits = |r: &[(u16, u64, f32)]| {
        r.iter()
            .map(|&(m, t, v)| (m, t, v.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&packed), bits(&plain));
    assert_eq!(packed.len(), 4 * 60);
    assert!(
        packed_bytes < plain_bytes,
        "{packed_bytes} vs {plain_bytes}"
    );
}

#[test]
fn a_batch_that_would_be_longer_packed_goes_plain() {
    let clock = FakeClock::new();
    // One reading a batch: its metric table and full first value cost more than postcard.
    let config = NodeConfig {
        batch_len: 1,
        ..config()
    };
    let mut node = Node::new(
        sim(Scenario::Nominal),
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config,
    )
    .unwrap();
    run(&mut node, &clock, 60_000, 1_000, None);
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    let kinds: Vec<Kind> = frames
        .iter()
        .filter(|f| f.body.readings().is_some())
        .map(|f| f.body.kind())
        .collect();
    assert!(kinds.len() >= 10, "{kinds:?}");
    assert!(kinds.iter().all(|&k| k == Kind::Readings), "{kinds:?}");
}

#[test]
fn a_slow_line_drops_readings_counts_them_and_keeps_frames_whole() {
    let clock = FakeClock::new();
    // Four readings every 10 ms (about 3.6 kB/s of batches) on a line of 1 byte per ms.
    let fast = SimSensorSet::new(SimSensors::new(1, Scenario::Nominal, 0), 10);
    let mut node = Node::new(
        fast,
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    node.poll(); // the boot frames, on a free line
    clock.set(1);
    run(&mut node, &clock, 20_000, 1, Some(1));
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert_contiguous(&frames);
    let c = node.counters();
    assert!(c.readings_dropped > 1000, "{c:?}");
    let delivered = readings_of(&frames).len() as u32;
    // Taken = delivered + dropped + what is still in the batch or on its way (two batches at most).
    let unaccounted = c.readings_taken - c.readings_dropped - delivered;
    assert!(
        unaccounted <= 2 * MAX_READINGS as u32,
        "{c:?}, delivered {delivered}"
    );
    // The hook judged every reading, dropped or not.
    assert_eq!(node.hook().readings.len() as u32, c.readings_taken);
    // Heartbeats kept going and told the host.
    let beats = heartbeats(&frames);
    assert!(beats.len() >= 3, "{beats:?}");
    assert!(beats.last().unwrap().1.readings_dropped > 0);
    assert_eq!(
        node.writer().waited,
        0,
        "nothing but the boot frames blocked"
    );
}

#[test]
fn transitions_go_out_at_once_and_whole_even_on_a_slow_line() {
    let clock = FakeClock::new();
    let fast = SimSensorSet::new(SimSensors::new(1, Scenario::Nominal, 0), 10);
    let hook = Recorder {
        every: Some(40),
        ..Recorder::default()
    };
    let mut node = Node::new(fast, FakeLine::default(), &clock, hook, config()).unwrap();
    run(&mut node, &clock, 10_000, 1, Some(1));
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert_contiguous(&frames);
    let sent: Vec<Transition> = frames
        .iter()
        .filter_map(|f| match f.body {
            Body::Transition(t) => Some(t),
            _ => None,
        })
        .collect();
    let raised = &node.hook().raised;
    assert!(raised.len() >= 20, "{}", raised.len());
    assert_eq!(&sent, raised, "every transition, in order, none dropped");
    assert_eq!(node.counters().transitions_sent as usize, raised.len());
    assert!(
        node.counters().readings_dropped > 0,
        "while readings were dropped"
    );
    assert!(node.writer().waited > 0, "the node waited for the line");
    // Each transition precedes the batch holding the reading that caused it.
    for t in &sent {
        let transition_at = frames
            .iter()
            .position(|f| f.body == Body::Transition(*t))
            .unwrap();
        if let Some(batch_at) = frames.iter().position(|f| {
            f.body
                .readings()
                .is_some_and(|r| r.iter().any(|(m, at, _)| m == t.metric && at == t.at_ms))
        }) {
            assert!(transition_at < batch_at, "{t:?}");
        }
    }
}

#[test]
fn sensor_errors_are_counted_reported_to_the_hook_and_leave_no_reading() {
    let clock = FakeClock::new();
    let mut node = Node::new(
        sim(Scenario::SensorDropout),
        FakeLine::default(),
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 100_000, 500, None);
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    // The temperature sensor stops answering at 30 s: readings at 0, 10 s, 20 s, then errors.
    let temperatures: Vec<u64> = readings_of(&frames)
        .iter()
        .filter(|r| r.0 == 0)
        .map(|r| r.1)
        .collect();
    assert_eq!(temperatures, [0, 10_000, 20_000]);
    let errors_seen: Vec<(u16, u64)> = node.hook().errors.clone();
    assert_eq!(
        errors_seen,
        (3..=10).map(|i| (0, i * 10_000)).collect::<Vec<_>>()
    );
    assert_eq!(node.counters().sensor_errors, 8);
    let beats = heartbeats(&frames);
    let at_95s = beats.iter().find(|(_, b)| b.uptime_ms == 95_000).unwrap().1;
    assert_eq!(at_95s.sensor_errors, 7);
}

#[test]
fn a_write_error_costs_one_frame_and_the_line_recovers() {
    let clock = FakeClock::new();
    let line = FakeLine {
        fail_call: Some(5),
        ..FakeLine::default()
    };
    let mut node = Node::new(
        sim(Scenario::Nominal),
        line,
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 60_000, 100, None);
    let (frames, errors) = decode(&node.writer().bytes);
    // The abandoned frame never reached the line whole; nothing else is lost or garbled.
    assert!(errors.is_empty(), "{errors:?}");
    let seqs: Vec<u16> = frames.iter().map(|f| f.header.seq).collect();
    let gaps: Vec<_> = seqs.windows(2).filter(|w| w[1] != w[0] + 1).collect();
    assert_eq!(gaps.len(), 1, "{seqs:?}");
    assert_eq!(gaps[0][1], gaps[0][0] + 2);
    assert_eq!(node.counters().frames_dropped, 1);
    assert_eq!(heartbeats(&frames).last().unwrap().1.frames_dropped, 1);
}

#[test]
fn a_partial_write_error_is_ended_by_a_delimiter_and_costs_only_that_frame() {
    let clock = FakeClock::new();
    // Three bytes per step: the failing call lands inside a frame.
    let line = FakeLine {
        fail_call: Some(40),
        ..FakeLine::default()
    };
    let mut node = Node::new(
        sim(Scenario::Nominal),
        line,
        &clock,
        Recorder::default(),
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 60_000, 10, Some(3));
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.len() <= 1, "{errors:?}");
    let seqs: Vec<u16> = frames.iter().map(|f| f.header.seq).collect();
    let lost: u16 = seqs.windows(2).map(|w| w[1] - w[0] - 1).sum();
    assert_eq!(lost, 1, "{seqs:?}");
    assert_eq!(node.counters().frames_dropped, 1);
}

#[test]
fn sleeping_until_next_due_gives_the_same_bytes_as_polling_every_millisecond() {
    let busy_clock = FakeClock::new();
    let mut busy = Node::new(
        sim(Scenario::PowerCreep),
        FakeLine::default(),
        &busy_clock,
        NoMonitors,
        config(),
    )
    .unwrap();
    run(&mut busy, &busy_clock, 60_000, 1, None);

    let lazy_clock = FakeClock::new();
    let mut lazy = Node::new(
        sim(Scenario::PowerCreep),
        FakeLine::default(),
        &lazy_clock,
        NoMonitors,
        config(),
    )
    .unwrap();
    let mut polls = 0;
    loop {
        lazy.poll();
        polls += 1;
        let due = lazy.next_due_ms().max(lazy_clock.now_ms() + 1);
        if due > 60_000 {
            break;
        }
        lazy_clock.set(due);
    }
    assert_eq!(lazy.writer().bytes, busy.writer().bytes);
    assert!(polls < 40, "{polls} polls");
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let clock = FakeClock::new();
    let build = |config: NodeConfig| {
        Node::new(
            sim(Scenario::Nominal),
            FakeLine::default(),
            &clock,
            NoMonitors,
            config,
        )
        .err()
    };
    assert_eq!(
        build(NodeConfig {
            batch_len: 0,
            ..config()
        }),
        Some(ConfigError::BatchLen)
    );
    assert_eq!(
        build(NodeConfig {
            batch_len: 65,
            ..config()
        }),
        Some(ConfigError::BatchLen)
    );
    assert_eq!(
        build(NodeConfig {
            heartbeat_ms: 0,
            ..config()
        }),
        Some(ConfigError::HeartbeatPeriod)
    );
    assert_eq!(
        build(NodeConfig {
            firmware: "0.1.0-a-very-long-tag",
            ..config()
        }),
        Some(ConfigError::FirmwareTooLong)
    );
    assert_eq!(build(config()), None);
}

#[test]
fn a_blocking_writer_never_drops() {
    let clock = FakeClock::new();
    let fast = SimSensorSet::new(SimSensors::new(1, Scenario::Nominal, 0), 10);
    let line = Blocking(FakeLine {
        credit: Some(0),
        ..FakeLine::default()
    });
    let mut node = Node::new(fast, line, &clock, NoMonitors, config()).unwrap();
    for t in 0..=2_000 {
        clock.set(t);
        node.poll();
    }
    assert_eq!(node.counters().readings_dropped, 0);
    let (frames, errors) = decode(&node.writer().0.bytes);
    assert!(errors.is_empty());
    assert_contiguous(&frames);
}

/// Log bytes go out in Log frames once the boot frames are out, in order and whole, only when the
/// line has nothing else due; readings and heartbeats are those of a node without a log.
#[test]
fn log_bytes_go_out_in_log_frames_when_the_line_is_idle() {
    use crate::log::LogRing;
    let mut written = Vec::new();
    let mut log_frame = |ring: &mut LogRing<512>, n: usize| {
        let bytes: Vec<u8> = (0..n).map(|i| (written.len() + i) as u8).collect();
        ring.begin_frame();
        ring.write(&bytes);
        ring.end_frame();
        written.extend_from_slice(&bytes);
    };
    let mut ring = LogRing::<512>::new();
    log_frame(&mut ring, 40);
    log_frame(&mut ring, 200);
    let (clock, twin_clock) = (FakeClock::new(), FakeClock::new());
    let new = |clock| {
        Node::new(
            sim(Scenario::Nominal),
            FakeLine::default(),
            clock,
            NoMonitors,
            config(),
        )
        .unwrap()
    };
    let mut node = new(&clock).with_log(&mut ring);
    let mut twin = new(&twin_clock);
    assert_eq!(node.next_due_ms(), 0);
    for t in (0..=60_000).step_by(1_000) {
        clock.set(t);
        twin_clock.set(t);
        node.poll();
        twin.poll();
        if t == 30_000 {
            // More log between polls: due at once.
            log_frame(node.log_mut(), 10);
            assert_eq!(node.next_due_ms(), 0);
        }
    }
    let (frames, errors) = decode(&node.writer().bytes);
    assert!(errors.is_empty(), "{errors:?}");
    assert_contiguous(&frames);
    assert!(matches!(frames[0].body, Body::Hello(_)));
    let sent: Vec<u8> = frames
        .iter()
        .filter_map(|f| match &f.body {
            Body::Log(l) => Some(l.defmt.iter().copied()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(sent, written);
    assert_eq!(node.log().pending(), 0);
    let (twin_frames, _) = decode(&twin.writer().bytes);
    assert!(twin_frames.iter().all(|f| !matches!(f.body, Body::Log(_))));
    assert_eq!(readings_of(&frames), readings_of(&twin_frames));
    let uptimes =
        |f: &[Frame]| -> Vec<u64> { heartbeats(f).iter().map(|h| h.1.uptime_ms).collect() };
    assert_eq!(uptimes(&frames), uptimes(&twin_frames));
    assert_eq!(node.counters().readings_dropped, 0);
}

#[test]
fn a_node_without_a_log_sends_no_log_frame() {
    let clock = FakeClock::new();
    let mut node = Node::new(
        sim(Scenario::Nominal),
        FakeLine::default(),
        &clock,
        NoMonitors,
        config(),
    )
    .unwrap();
    run(&mut node, &clock, 30_000, 1_000, None);
    let (frames, _) = decode(&node.writer().bytes);
    assert!(frames.iter().all(|f| !matches!(f.body, Body::Log(_))));
}
