//! Links rackwatch-core into a Cortex-M image with no global allocator, calling every public entry
//! point through `black_box` so none is optimised away. A link error here means core needs `alloc`.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;
use rackwatch_core::alert::{
    AlertMachine, AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Judgement, Limit, Limits,
    MissingData, MissingPolicy, Predictive, Rule, Standing, Thresholds,
};
use rackwatch_core::anomaly::{AnomalyConfig, AnomalyDetector, AnomalyScore};
use rackwatch_core::monitor::{MetricSpec, Monitor, Registry};
use rackwatch_core::stats::{EwStats, RateOfChange, Smoothing, Welford};
use rackwatch_core::trend::{Crossing, EtaPolicy, ForgettingTrend, TimeTo};
use rackwatch_core::window::Window;
use rackwatch_core::wire::{
    cobs_decode_in_place, max_cobs_len, seq_distance, Body, Cause, Decoder, Frame, Header, Heartbeat, Hello,
    Kind, Log, MetricDescriptor, Packet, Readings, ResetReason, RuleSummary, Transition, MAX_ENCODED_LEN,
    MAX_FRAME_LEN, SCHEMA_HASH,
};
use rackwatch_core::{Level, SampleError};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

fn consume<T>(value: T) {
    black_box(value);
}

fn statistics(t: u64, v: f32) {
    let mut welford = Welford::new();
    let _ = welford.push(v);
    let mut other = Welford::new();
    let _ = other.push(v * 2.0);
    welford.merge(&other);
    consume((welford.mean(), welford.variance(), welford.sample_variance(), welford.std_dev()));
    consume((welford.min(), welford.max(), welford.count()));

    let mut ew = EwStats::new(black_box(Smoothing::TimeConstantMs(60_000)));
    let _ = ew.update(t, v);
    consume((ew.mean(), ew.variance(), ew.std_dev(), ew.count(), ew.smoothing().is_valid(), ew.last_ms()));
    consume(EwStats::seeded(Smoothing::Alpha(0.1), t, v, 1.0));
    consume(Smoothing::Alpha(0.1).weight(t));

    let mut rate = RateOfChange::new();
    consume((rate.update(t, v), rate.last()));
}

fn trends(t: u64, v: f32) {
    let policy = black_box(EtaPolicy::DEFAULT);
    let mut window = black_box(Window::<64>::new());
    for i in 0..80u64 {
        consume(window.push(t + i * 1000, v + i as f32));
    }
    consume((window.len(), window.capacity(), window.is_empty(), window.is_full(), window.span_ms()));
    consume((window.sum(), window.mean(), window.variance(), window.std_dev(), window.min(), window.max()));
    consume((window.newest(), window.oldest(), window.iter().count()));
    consume(window.time_to(t, 100.0, Crossing::Above, &policy));
    if let Some(fit) = window.fit() {
        consume((fit.slope_per_ms(), fit.slope_per_second(), fit.slope_std_error(), fit.residual_std_dev()));
        consume((fit.samples(), fit.effective_samples(), fit.value_at(t), fit.intercept(t)));
        consume((fit.predict(t, 3_600_000), fit.time_to(t, 1.0, Crossing::Below, &policy)));
    }
    window.clear();

    let mut forgetting = ForgettingTrend::new(black_box(600_000));
    consume(forgetting.update(t, v));
    consume((forgetting.fit(), forgetting.time_to(t, 5.0, Crossing::Above, &policy)));
    consume((forgetting.tau_ms(), forgetting.samples()));
}

fn anomaly(t: u64, v: f32) {
    let mut detector = AnomalyDetector::new(black_box(AnomalyConfig::with_limits(Some(-40.0), Some(85.0), None)));
    if let Ok(score) = detector.update(t, v) {
        consume((score.score, score.dominant()));
    }
    consume((detector.config(), detector.samples(), detector.baseline()));
    consume(AnomalyConfig::default());
}

fn wire(t: u64, v: f32) {
    let header = Header { node_id: black_box(1), boot_id: 2, seq: 3 };
    let mut readings = Readings::default();
    consume(readings.push(0, t, v));
    consume(readings.iter().count());
    let mut hello = Hello { firmware: heapless::String::new(), schema_hash: SCHEMA_HASH, metrics: heapless::Vec::new() };
    let rule = RuleSummary { crossing: Crossing::Above, warning: Some(30.0), critical: None };
    consume(hello.metrics.push(MetricDescriptor { id: 0, name: heapless::String::new(), unit: heapless::String::new(), rule, lattice: None }));
    let transition = Transition {
        metric: 0,
        from: Level::Ok,
        to: Level::Warning,
        at_ms: t,
        cause: Cause::Value { value: v, bound: 30.0 },
        alert_seq: 1,
        suppressed: false,
    };
    let heartbeat = Heartbeat {
        uptime_ms: t,
        reset: ResetReason::PowerOn,
        frames_sent: 1,
        frames_dropped: 0,
        readings_dropped: 0,
        sensor_errors: 0,
    };
    let bodies = [
        Body::Hello(hello),
        Body::Readings(readings),
        Body::Transition(transition),
        Body::Heartbeat(heartbeat),
        Body::Log(Log::default()),
        Body::Metric(MetricSpec {
            id: 0,
            name: heapless::String::new(),
            unit: heapless::String::new(),
            rule: Rule::above(30.0, 35.0),
            anomaly: AnomalyConfig::DEFAULT,
        }),
    ];
    let mut line = [0u8; MAX_ENCODED_LEN];
    let mut raw = [0u8; MAX_FRAME_LEN];
    let mut decoder: Decoder = Decoder::new();
    for body in bodies {
        let frame = Frame { header, body: black_box(body) };
        consume(frame.body.kind());
        if let Ok(n) = frame.encode_raw(&mut raw) {
            if let Ok(packet) = Packet::new_checked(&raw[..n]) {
                consume((packet.version(), packet.header(), packet.kind_byte(), packet.payload().len()));
                consume(Frame::parse(&packet));
            }
        }
        if let Ok(n) = frame.encode(&mut line) {
            for result in decoder.feed(&line[..n]) {
                consume(result.map_err(|e| (e.name(), e.header())));
            }
            consume(decoder.push(0));
            consume(cobs_decode_in_place(&mut line[..n - 1]));
        }
    }
    consume((decoder.pending(), Kind::from_byte(black_box(2)), seq_distance(1, 2), max_cobs_len(10)));
}

fn alerts(t: u64, v: f32) {
    let limit = Limit::with_clear(Bound::strict(30.0), Bound::inclusive(29.0));
    let rule = Rule {
        value: Thresholds { warning: Limits { above: Some(limit), below: None }, critical: Limits::NONE },
        predictive: Some(Predictive {
            threshold: 35.0,
            crossing: Crossing::Above,
            warning: Some(Horizon { within_ms: 1, clear_beyond_ms: 2 }),
            critical: None,
            policy: EtaPolicy::DEFAULT,
            keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
        }),
        anomaly: Some(AnomalyLevels { warning: Some(Limit::at(Bound::inclusive(0.5))), critical: None }),
        health: Health::ALL,
        raise: Debounce::count(2, 3),
        clear: Debounce::time(1000),
        missing: MissingData {
            deadline_ms: Some(5000),
            policy: MissingPolicy::HoldLast { for_ms: 1 },
            startup_grace_ms: 0,
        },
        flapping: Some(Flapping::NAGIOS),
    };
    let rule = black_box(rule);
    consume((rule.check(), rule.summary(), rule.needs_forecast(), Rule::below(1.0, 0.0)));
    let mut machine = AlertMachine::new(t);
    let judgement = rule.judge(&machine.standing(t), v, TimeTo::NotEnoughData, &AnomalyScore::ZERO);
    consume((judgement.level(), judgement.cause(), Judgement::Invalid));
    consume(machine.observe(&rule, 1, t, |_| judgement));
    consume(machine.poll(&rule, 1, t + 10_000));
    consume((machine.level(), machine.is_flapping(), machine.percent_state_change(), machine.next_seq()));
    consume((machine.last_reading_ms(), machine.pending(t).count(), machine.check_time(t)));
    consume((machine.standing(t), machine.is_stale(), Standing::at(Level::Warning).backed_ago(Level::Warning)));

    if let Ok(spec) = MetricSpec::new(1, "inlet", "degC", rule, AnomalyConfig::DEFAULT) {
        consume(spec.descriptor());
        let mut monitor = Monitor::<64>::for_spec(&spec, t);
        consume((monitor.observe(t, v), monitor.poll(t + 1)));
        consume((monitor.id(), monitor.rule().needs_forecast(), monitor.level(), monitor.window().len()));
        consume((monitor.anomaly().samples(), monitor.last_score(), monitor.alert().level(), monitor.invalid_values()));
        static RULE: Rule = Rule::above(30.0, 35.0);
        let mut registry = Registry::<4, 64, &'static Rule>::new();
        consume(registry.add(spec.id, &RULE, spec.anomaly, t));
        consume(registry.observe(1, t, v));
        registry.poll(t + 1, consume);
        consume((registry.get(1).is_some(), registry.iter().count(), registry.len(), registry.is_empty()));
    }
}

fn vocabulary(t: u64, v: f32) {
    let level = Level::from_exit_code(black_box(2)).unwrap_or_default();
    consume((level.exit_code(), level.as_str()));
    consume(SampleError::check(Some(t), t + 1, v));
}

#[entry]
fn main() -> ! {
    let t = black_box(1_000u64);
    let v = black_box(21.5f32);
    statistics(t, v);
    trends(t, v);
    anomaly(t, v);
    wire(t, v);
    alerts(t, v);
    vocabulary(t, v);
    // CI only links this image; on a board it would idle here.
    loop {
        core::hint::spin_loop();
    }
}
