//! Property tests of the wire format: round trips of every body (up to the largest), a decoder that
//! never panics, does not care how bytes are chunked and recovers after garbage, and corruption that
//! never yields a different frame.

use proptest::prelude::*;
use rackwatch_core::alert::{
    AnomalyLevels, Bound, Debounce, Flapping, Health, Horizon, Limit, Limits, MissingData,
    MissingPolicy, Predictive, Rule, Thresholds,
};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::monitor::MetricSpec;
use rackwatch_core::trend::{Crossing, EtaPolicy};
use rackwatch_core::wire::*;
use rackwatch_core::Level;

fn any_f32() -> BoxedStrategy<f32> {
    prop_oneof![
        4 => any::<f32>(),
        1 => Just(f32::NAN),
        1 => Just(f32::from_bits(0xFFC0_0001)), // a negative NaN with a payload
        1 => Just(f32::INFINITY),
        1 => Just(f32::NEG_INFINITY),
        1 => Just(-0.0f32),
        1 => Just(f32::MIN_POSITIVE / 2.0), // subnormal
    ]
    .boxed()
}

/// Strings up to the capacity in bytes, including multi-byte characters and full ones.
fn any_string<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    let chars = prop_oneof![
        Just('a'),
        Just('µ'),
        Just('°'),
        Just('€'),
        Just('𝄞'),
        any::<char>()
    ];
    proptest::collection::vec(chars, 0..=N).prop_map(|chars| {
        let mut out = heapless::String::new();
        for c in chars {
            if out.push(c).is_err() {
                break;
            }
        }
        out
    })
}

fn crossing() -> impl Strategy<Value = Crossing> {
    prop_oneof![Just(Crossing::Above), Just(Crossing::Below)]
}

fn level() -> impl Strategy<Value = Level> {
    prop_oneof![
        Just(Level::Ok),
        Just(Level::Warning),
        Just(Level::Critical),
        Just(Level::Unknown)
    ]
}

/// Integers biased towards the varint length boundaries.
fn any_u64() -> BoxedStrategy<u64> {
    prop_oneof![
        any::<u64>(),
        (0u32..64).prop_map(|shift| 1u64 << shift),
        (0u32..64).prop_map(|shift| (1u64 << shift) - 1),
        Just(u64::MAX),
    ]
    .boxed()
}

fn any_u32() -> impl Strategy<Value = u32> {
    any_u64().prop_map(|v| v as u32)
}

fn any_u16() -> impl Strategy<Value = u16> {
    any_u64().prop_map(|v| v as u16)
}

fn hello() -> BoxedStrategy<Hello> {
    let descriptor = (
        any_u16(),
        any_string::<MAX_NAME_LEN>(),
        any_string::<MAX_UNIT_LEN>(),
        crossing(),
        proptest::option::of(any_f32()),
        proptest::option::of(any_f32()),
        proptest::option::of((any_f32(), any_f32())),
    )
        .prop_map(
            |(id, name, unit, crossing, warning, critical, lattice)| MetricDescriptor {
                id,
                name,
                unit,
                rule: RuleSummary {
                    crossing,
                    warning,
                    critical,
                },
                lattice: lattice.map(|(offset, step)| Lattice { offset, step }),
            },
        );
    (
        any_string::<MAX_FIRMWARE_LEN>(),
        any_u64(),
        proptest::collection::vec(descriptor, 0..=MAX_METRICS),
    )
        .prop_map(|(firmware, schema_hash, metrics)| Hello {
            firmware,
            schema_hash,
            metrics: heapless::Vec::from_slice(&metrics).unwrap(),
        })
        .boxed()
}

fn readings() -> BoxedStrategy<Readings> {
    (
        any_u64(),
        proptest::collection::vec((any_u16(), any_u32(), any_f32()), 0..=MAX_READINGS),
    )
        .prop_map(|(base_ms, rs)| Readings {
            base_ms,
            readings: rs
                .into_iter()
                .map(|(metric, offset_ms, value)| Reading {
                    metric,
                    offset_ms,
                    value,
                })
                .collect(),
        })
        .boxed()
}

fn cause() -> BoxedStrategy<Cause> {
    prop_oneof![
        (any_f32(), any_f32()).prop_map(|(value, bound)| Cause::Value { value, bound }),
        (any_u64(), any_f32()).prop_map(|(eta_ms, threshold)| Cause::Eta { eta_ms, threshold }),
        any_f32().prop_map(|score| Cause::Anomaly { score }),
        any_u64().prop_map(|last_seen_ms| Cause::MissingData { last_seen_ms }),
        Just(Cause::SensorFault),
        Just(Cause::FlappingStopped),
        (any_u64(), any::<u32>()).prop_map(|(eta_ms, horizon_ms)| Cause::ForecastReceded {
            outlook: Outlook::Beyond { eta_ms, horizon_ms }
        }),
        Just(Cause::ForecastReceded {
            outlook: Outlook::Never
        }),
        any::<u32>().prop_map(|for_ms| Cause::ForecastReceded {
            outlook: Outlook::Unsure { for_ms }
        }),
    ]
    .boxed()
}

fn reset() -> impl Strategy<Value = ResetReason> {
    prop_oneof![
        Just(ResetReason::PowerOn),
        Just(ResetReason::Pin),
        Just(ResetReason::Software),
        Just(ResetReason::Watchdog),
        Just(ResetReason::Brownout),
        Just(ResetReason::Unknown)
    ]
}

fn transition() -> BoxedStrategy<Transition> {
    (
        any_u16(),
        level(),
        level(),
        any_u64(),
        cause(),
        any_u32(),
        any::<bool>(),
    )
        .prop_map(
            |(metric, from, to, at_ms, cause, alert_seq, suppressed)| Transition {
                metric,
                from,
                to,
                at_ms,
                cause,
                alert_seq,
                suppressed,
            },
        )
        .boxed()
}

fn heartbeat() -> BoxedStrategy<Heartbeat> {
    (
        any_u64(),
        reset(),
        any_u32(),
        any_u32(),
        any_u32(),
        any_u32(),
    )
        .prop_map(|(uptime_ms, reset, a, b, c, d)| Heartbeat {
            uptime_ms,
            reset,
            frames_sent: a,
            frames_dropped: b,
            readings_dropped: c,
            sensor_errors: d,
        })
        .boxed()
}

fn log() -> BoxedStrategy<Log> {
    proptest::collection::vec(any::<u8>(), 0..=MAX_LOG_BYTES)
        .prop_map(|b| Log {
            defmt: heapless::Vec::from_slice(&b).unwrap(),
        })
        .boxed()
}

fn bound() -> impl Strategy<Value = Bound> {
    (any_f32(), any::<bool>()).prop_map(|(value, inclusive)| Bound { value, inclusive })
}

fn limit() -> impl Strategy<Value = Option<Limit>> {
    proptest::option::of(
        (bound(), proptest::option::of(bound())).prop_map(|(raise, clear)| Limit { raise, clear }),
    )
}

fn limits() -> impl Strategy<Value = Limits> {
    (limit(), limit()).prop_map(|(above, below)| Limits { above, below })
}

fn debounce() -> impl Strategy<Value = Debounce> {
    (any::<u8>(), any::<u8>(), any_u32()).prop_map(|(samples, of_last, for_ms)| Debounce {
        samples,
        of_last,
        for_ms,
    })
}

fn horizon() -> impl Strategy<Value = Option<Horizon>> {
    proptest::option::of(
        (any_u32(), any_u32()).prop_map(|(within_ms, clear_beyond_ms)| Horizon {
            within_ms,
            clear_beyond_ms,
        }),
    )
}

/// Any rule and anomaly configuration, valid or not: the wire carries data, [`Rule::check`] judges it.
fn metric() -> BoxedStrategy<MetricSpec> {
    let predictive = proptest::option::of(
        (
            any_f32(),
            crossing(),
            horizon(),
            horizon(),
            any_u32(),
            any_f32(),
            any_f32(),
        )
            .prop_map(
                |(threshold, crossing, warning, critical, min_samples, t, z)| Predictive {
                    threshold,
                    crossing,
                    warning,
                    critical,
                    policy: EtaPolicy {
                        min_samples,
                        min_t_statistic: t,
                        confidence_z: z,
                    },
                    keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
                },
            ),
    );
    let policy = prop_oneof![
        Just(MissingPolicy::Unknown),
        any_u32().prop_map(|for_ms| MissingPolicy::HoldLast { for_ms }),
        level().prop_map(|level| MissingPolicy::Violation { level }),
        Just(MissingPolicy::Ok),
    ];
    let missing = (proptest::option::of(any_u32()), policy, any_u32()).prop_map(
        |(deadline_ms, policy, startup_grace_ms)| MissingData {
            deadline_ms,
            policy,
            startup_grace_ms,
        },
    );
    let rule = (
        (limits(), limits(), predictive, (limit(), limit())),
        (any::<[bool; 3]>(), debounce(), debounce(), missing),
        proptest::option::of((any_f32(), any_f32())),
    )
        .prop_map(
            |(
                (warning, critical, predictive, anomaly),
                (health, raise, clear, missing),
                flapping,
            )| {
                Rule {
                    value: Thresholds { warning, critical },
                    predictive,
                    anomaly: (anomaly.0.is_some() || anomaly.1.is_some()).then_some(
                        AnomalyLevels {
                            warning: anomaly.0,
                            critical: anomaly.1,
                        },
                    ),
                    health: Health {
                        stuck: health[0],
                        out_of_range: health[1],
                        slew: health[2],
                    },
                    raise,
                    clear,
                    missing,
                    flapping: flapping.map(|(low_percent, high_percent)| Flapping {
                        low_percent,
                        high_percent,
                    }),
                }
            },
        );
    let anomaly = (
        (any_f32(), any_u16(), any_f32(), any_f32(), any_f32()),
        (any_f32(), any_f32(), any_u16(), any_f32(), any_f32()),
        (any::<bool>(), any_f32(), proptest::option::of(any_f32())),
        (
            proptest::option::of(any_f32()),
            proptest::option::of(any_f32()),
        ),
    )
        .prop_map(|(a, b, c, d)| AnomalyConfig {
            baseline_alpha: a.0,
            warmup_samples: a.1,
            z_low: a.2,
            fast_alpha: a.3,
            shift_low: a.4,
            shift_confirm: b.0,
            spike_low: b.1,
            stuck_samples: b.2,
            stuck_ratio: b.3,
            stuck_epsilon: b.4,
            stuck_from_start: c.0,
            min_std: c.1,
            min: c.2,
            max: d.0,
            max_slew_per_s: d.1,
        });
    (
        any_u16(),
        any_string::<MAX_NAME_LEN>(),
        any_string::<MAX_UNIT_LEN>(),
        rule,
        anomaly,
    )
        .prop_map(|(id, name, unit, rule, anomaly)| MetricSpec {
            id,
            name,
            unit,
            rule,
            anomaly,
        })
        .boxed()
}

fn body() -> BoxedStrategy<Body> {
    prop_oneof![
        metric().prop_map(Body::Metric),
        hello().prop_map(Body::Hello),
        readings().prop_map(Body::Readings),
        transition().prop_map(Body::Transition),
        heartbeat().prop_map(Body::Heartbeat),
        log().prop_map(Body::Log),
    ]
    .boxed()
}

fn header() -> BoxedStrategy<Header> {
    (any_u16(), any_u32(), any_u16())
        .prop_map(|(node_id, boot_id, seq)| Header {
            node_id,
            boot_id,
            seq,
        })
        .boxed()
}

fn frame() -> BoxedStrategy<Frame> {
    (header(), body())
        .prop_map(|(header, body)| Frame { header, body })
        .boxed()
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut out = [0u8; MAX_ENCODED_LEN];
    let n = f.encode(&mut out).unwrap();
    out[..n].to_vec()
}

fn raw(f: &Frame) -> Vec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = f.encode_raw(&mut out).unwrap();
    out[..n].to_vec()
}

/// A result with frames replaced by their raw bytes, so that floats compare bit for bit (NaN too).
type Outcome = Result<Vec<u8>, DecodeError>;

fn outcomes<'a>(
    results: impl IntoIterator<Item = Result<Frame, DecodeError>> + 'a,
) -> Vec<Outcome> {
    results.into_iter().map(|r| r.map(|f| raw(&f))).collect()
}

fn decode_whole<const N: usize>(bytes: &[u8]) -> Vec<Outcome> {
    outcomes(Decoder::<N>::new().feed(bytes))
}

/// Feeds `bytes` in chunks whose sizes come from `cuts` (1 to 97 bytes, then the rest).
fn decode_chunked<const N: usize>(bytes: &[u8], cuts: &[usize]) -> Vec<Outcome> {
    let mut decoder = Decoder::<N>::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut cuts = cuts.iter();
    while !rest.is_empty() {
        let size = cuts
            .next()
            .map_or(rest.len(), |c| c % 97 + 1)
            .min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        out.extend(outcomes(decoder.feed(chunk)));
        rest = tail;
    }
    out
}

/// Byte by byte through `push`.
fn decode_bytewise<const N: usize>(bytes: &[u8]) -> Vec<Outcome> {
    let mut decoder = Decoder::<N>::new();
    outcomes(bytes.iter().filter_map(|&b| decoder.push(b)))
}

/// Random bytes with many zeros and long non-zero runs, as line noise and COBS edge cases need.
fn noisy_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![3 => any::<u8>(), 1 => Just(0u8), 1 => Just(0xFFu8)],
        0..max,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_body_round_trips(f in frame()) {
        let line = encode(&f);
        prop_assert!(line.len() <= MAX_ENCODED_LEN);
        prop_assert_eq!(line.iter().filter(|&&b| b == 0).count(), 1, "only the delimiter is zero");
        prop_assert_eq!(line.last(), Some(&0));
        prop_assert_eq!(f.raw_len(), raw(&f).len());
        prop_assert_eq!(decode_whole::<MAX_ENCODED_LEN>(&line), vec![Ok(raw(&f))]);
        // The raw path and the typed path agree; the re-encoding is byte-identical.
        let decoded = Frame::decode_raw(&raw(&f)).unwrap();
        prop_assert_eq!(encode(&decoded), line);
    }

    #[test]
    fn encode_body_equals_frame_encode(h in header(), b in body()) {
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = match &b {
            Body::Hello(x) => encode_body(&h, x, &mut out),
            Body::Readings(x) => encode_body(&h, x, &mut out),
            Body::Transition(x) => encode_body(&h, x, &mut out),
            Body::Heartbeat(x) => encode_body(&h, x, &mut out),
            Body::Log(x) => encode_body(&h, x, &mut out),
            Body::Metric(x) => encode_body(&h, x, &mut out),
        }.unwrap();
        prop_assert_eq!(&out[..n], &encode(&Frame { header: h, body: b })[..]);
    }

    #[test]
    fn a_too_small_buffer_is_a_typed_error(f in frame(), cut in any::<usize>()) {
        let line = encode(&f);
        let needed = max_cobs_len(f.raw_len()) + 1;
        prop_assert!(line.len() <= needed);
        let size = cut % needed;
        let mut out = vec![0u8; size];
        prop_assert_eq!(f.encode(&mut out), Err(EncodeError::BufferTooSmall { needed, available: size }));
    }

    #[test]
    fn cobs_round_trips(raw in noisy_bytes(1200)) {
        let mut encoded = vec![0u8; max_cobs_len(raw.len())];
        let n = cobs_encode(&raw, &mut encoded).unwrap();
        encoded.truncate(n);
        prop_assert!(!encoded.contains(&0));
        let m = cobs_decode_in_place(&mut encoded).unwrap();
        prop_assert_eq!(&encoded[..m], &raw[..]);
    }

    #[test]
    fn bodies_behind_a_valid_crc_never_panic(mut bytes in noisy_bytes(MAX_FRAME_LEN - CRC_LEN), kind in 0u8..8) {
        // Random header and body bytes with a valid CRC, so that the body decoders see them.
        if bytes.len() >= HEADER_LEN {
            bytes[field::VERSION] = VERSION;
            bytes[field::FLAGS] = 0;
            bytes[field::KIND] = kind;
        }
        let crc = CRC.checksum(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        if let Ok(f) = Frame::decode_raw(&bytes) {
            // Whatever decodes re-encodes within the bounds and decodes to an equal frame.
            let again = raw(&f);
            prop_assert!(again.len() <= bytes.len(), "canonical is never longer");
            prop_assert_eq!(raw(&Frame::decode_raw(&again).unwrap()), again);
        }
    }

    #[test]
    fn garbage_without_a_delimiter_costs_at_most_the_first_frame(garbage in proptest::collection::vec(1u8..=255, 1..3000), frames in proptest::collection::vec(frame(), 2..6), cuts in proptest::collection::vec(any::<usize>(), 0..64)) {
        let mut line = garbage;
        for f in &frames {
            line.extend(encode(f));
        }
        let results = decode_chunked::<MAX_ENCODED_LEN>(&line, &cuts);
        prop_assert_eq!(results.len(), frames.len());
        let expected: Vec<Outcome> = frames[1..].iter().map(|f| Ok(raw(f))).collect();
        prop_assert_eq!(&results[1..], &expected[..]);
    }

    #[test]
    fn overlong_input_is_reported_once_then_frames_recover(extra in 1usize..2000, fill in 1u8..=255, frames in proptest::collection::vec(frame(), 1..4)) {
        // More non-zero bytes than the decoder holds, a delimiter, then frames.
        let overlong = MAX_ENCODED_LEN + extra;
        let mut line = vec![fill; overlong];
        line.push(0);
        for f in &frames {
            line.extend(encode(f));
        }
        let mut expected = vec![Err(DecodeError::Overlong { len: overlong })];
        expected.extend(frames.iter().map(|f| Ok(raw(f))));
        prop_assert_eq!(decode_whole::<MAX_ENCODED_LEN>(&line), expected);
    }

    #[test]
    fn a_flipped_bit_never_yields_a_different_frame(f in frame(), bit in any::<usize>()) {
        // In the raw frame, CRC-32 detects every single-bit error.
        let mut corrupt = raw(&f);
        let raw_bit = bit % (corrupt.len() * 8);
        corrupt[raw_bit / 8] ^= 1 << (raw_bit % 8);
        let crc_failed = matches!(Packet::new_checked(&corrupt[..]), Err(DecodeError::Crc { .. }));
        prop_assert!(crc_failed);
        // On the line a flipped bit may also break COBS or split the frame (a byte turned 0x00). The
        // only frame that may still come out is the original: a final COBS code 0x01 turned 0x00
        // just ends the frame early, and the two endings mean the same bytes.
        let mut line = encode(&f);
        let line_bit = bit % (line.len() * 8);
        line[line_bit / 8] ^= 1 << (line_bit % 8);
        for got in decode_whole::<MAX_ENCODED_LEN>(&line).into_iter().flatten() {
            prop_assert_eq!(got, raw(&f));
        }
    }
}

proptest! {
    // Kilobytes of input through several decoders per case: fewer cases keep the debug run short.
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn decoder_never_panics_and_chunking_does_not_matter(bytes in noisy_bytes(4000), cuts in proptest::collection::vec(any::<usize>(), 0..64)) {
        let whole = decode_whole::<MAX_ENCODED_LEN>(&bytes);
        prop_assert!(whole.len() <= bytes.iter().filter(|&&b| b == 0).count());
        prop_assert_eq!(&decode_chunked::<MAX_ENCODED_LEN>(&bytes, &cuts), &whole);
        prop_assert_eq!(&decode_bytewise::<MAX_ENCODED_LEN>(&bytes), &whole);
        // A small decoder too (its overflow path), and packets straight from the bytes.
        prop_assert_eq!(decode_chunked::<16>(&bytes, &cuts), decode_whole::<16>(&bytes));
        let _ = Frame::decode_raw(&bytes);
    }

    #[test]
    fn every_frame_after_garbage_and_a_delimiter_is_recovered(garbage in noisy_bytes(3000), frames in proptest::collection::vec(frame(), 1..6), cuts in proptest::collection::vec(any::<usize>(), 0..64)) {
        let mut line = garbage.clone();
        line.push(0);
        for f in &frames {
            line.extend(encode(f));
        }
        // Exactly: whatever the garbage yields on its own, then every frame.
        let mut expected = decode_whole::<MAX_ENCODED_LEN>(&[&garbage[..], &[0]].concat());
        expected.extend(frames.iter().map(|f| Ok(raw(f))));
        prop_assert_eq!(decode_chunked::<MAX_ENCODED_LEN>(&line, &cuts), expected);
    }
}
