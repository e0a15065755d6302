//! Property tests of the wire format: round trips of every body, a decoder that never panics and
//! recovers after garbage, and corruption that is always detected.

use proptest::prelude::*;
use rackwatch_core::trend::Crossing;
use rackwatch_core::wire::*;
use rackwatch_core::Level;

fn any_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<f32>(),
        Just(f32::NAN),
        Just(f32::INFINITY),
        Just(-0.0f32),
        Just(f32::MIN_POSITIVE)
    ]
}

fn any_string<const N: usize>() -> impl Strategy<Value = heapless::String<N>> {
    proptest::string::string_regex(".{0,8}")
        .unwrap()
        .prop_filter_map("fits", move |s| {
            let mut out = heapless::String::new();
            for c in s.chars() {
                if out.push(c).is_err() {
                    break;
                }
            }
            Some(out)
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

fn hello() -> impl Strategy<Value = Hello> {
    let descriptor = (
        any::<u16>(),
        any_string::<MAX_NAME_LEN>(),
        any_string::<MAX_UNIT_LEN>(),
        crossing(),
        proptest::option::of(any_f32()),
        proptest::option::of(any_f32()),
    )
        .prop_map(
            |(id, name, unit, crossing, warning, critical)| MetricDescriptor {
                id,
                name,
                unit,
                rule: RuleSummary {
                    crossing,
                    warning,
                    critical,
                },
            },
        );
    (
        any_string::<MAX_FIRMWARE_LEN>(),
        any::<u64>(),
        proptest::collection::vec(descriptor, 0..=MAX_METRICS),
    )
        .prop_map(|(firmware, schema_hash, metrics)| Hello {
            firmware,
            schema_hash,
            metrics: heapless::Vec::from_slice(&metrics).unwrap(),
        })
}

fn readings() -> impl Strategy<Value = Readings> {
    (
        any::<u64>(),
        proptest::collection::vec((any::<u16>(), any::<u32>(), any_f32()), 0..=MAX_READINGS),
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
}

fn cause() -> impl Strategy<Value = Cause> {
    prop_oneof![
        (any_f32(), any_f32()).prop_map(|(value, bound)| Cause::Value { value, bound }),
        (any::<u64>(), any_f32()).prop_map(|(eta_ms, threshold)| Cause::Eta { eta_ms, threshold }),
        any_f32().prop_map(|score| Cause::Anomaly { score }),
        any::<u64>().prop_map(|last_seen_ms| Cause::MissingData { last_seen_ms }),
        Just(Cause::SensorFault),
        Just(Cause::FlappingStopped),
    ]
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

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        hello().prop_map(Body::Hello),
        readings().prop_map(Body::Readings),
        (
            any::<u16>(),
            level(),
            level(),
            any::<u64>(),
            cause(),
            any::<u32>(),
            any::<bool>()
        )
            .prop_map(|(metric, from, to, at_ms, cause, alert_seq, suppressed)| {
                Body::Transition(Transition {
                    metric,
                    from,
                    to,
                    at_ms,
                    cause,
                    alert_seq,
                    suppressed,
                })
            }),
        (
            any::<u64>(),
            reset(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(|(uptime_ms, reset, a, b, c, d)| {
                Body::Heartbeat(Heartbeat {
                    uptime_ms,
                    reset,
                    frames_sent: a,
                    frames_dropped: b,
                    readings_dropped: c,
                    sensor_errors: d,
                })
            }),
        proptest::collection::vec(any::<u8>(), 0..=MAX_LOG_BYTES).prop_map(|b| Body::Log(Log {
            defmt: heapless::Vec::from_slice(&b).unwrap()
        })),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    (any::<u16>(), any::<u32>(), any::<u16>(), body()).prop_map(|(node_id, boot_id, seq, body)| {
        Frame {
            header: Header {
                node_id,
                boot_id,
                seq,
            },
            body,
        }
    })
}

fn encode(f: &Frame) -> Vec<u8> {
    let mut out = [0u8; MAX_ENCODED_LEN];
    let n = f.encode(&mut out).unwrap();
    out[..n].to_vec()
}

/// Frames compared through their encoding, so NaN payloads compare bit for bit.
fn same(a: &Frame, b: &Frame) -> bool {
    encode(a) == encode(b)
}

/// Feeds `bytes` in chunks whose sizes come from `cuts`.
fn feed_in_chunks(bytes: &[u8], cuts: &[usize]) -> Vec<Result<Frame, DecodeError>> {
    let mut decoder = Decoder::<MAX_ENCODED_LEN>::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let size = (cuts.get(i).copied().unwrap_or(rest.len()) % 97 + 1).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        out.extend(decoder.feed(chunk));
        rest = tail;
        i += 1;
    }
    out
}

proptest! {
    #[test]
    fn every_body_round_trips(f in frame()) {
        let line = encode(&f);
        prop_assert!(line.len() <= MAX_ENCODED_LEN);
        prop_assert_eq!(line.iter().filter(|&&b| b == 0).count(), 1, "only the delimiter is zero");
        let decoded: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(&line).collect();
        prop_assert_eq!(decoded.len(), 1);
        let got = decoded[0].as_ref().unwrap();
        prop_assert!(same(got, &f), "{:?} != {:?}", got, f);
    }

    #[test]
    fn decoder_never_panics_and_chunking_does_not_matter(bytes in proptest::collection::vec(any::<u8>(), 0..4000), cuts in proptest::collection::vec(any::<usize>(), 0..64)) {
        let whole: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(&bytes).collect();
        let chunked = feed_in_chunks(&bytes, &cuts);
        prop_assert_eq!(format!("{whole:?}"), format!("{chunked:?}"));
    }

    #[test]
    fn every_frame_after_garbage_and_a_delimiter_is_recovered(garbage in proptest::collection::vec(any::<u8>(), 0..3000), frames in proptest::collection::vec(frame(), 1..6), cuts in proptest::collection::vec(any::<usize>(), 0..64)) {
        let mut line = garbage.clone();
        line.push(0);
        for f in &frames {
            line.extend(encode(f));
        }
        let results = feed_in_chunks(&line, &cuts);
        let recovered: Vec<&Frame> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        // Garbage may itself hold something frame-like before its delimiter, never after.
        prop_assert!(recovered.len() >= frames.len());
        let tail = &recovered[recovered.len() - frames.len()..];
        for (got, want) in tail.iter().zip(&frames) {
            prop_assert!(same(got, want));
        }
    }

    #[test]
    fn garbage_without_a_delimiter_costs_at_most_the_first_frame(garbage in proptest::collection::vec(1u8..=255, 1..3000), frames in proptest::collection::vec(frame(), 2..6)) {
        let mut line = garbage;
        for f in &frames {
            line.extend(encode(f));
        }
        let results: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(&line).collect();
        prop_assert_eq!(results.len(), frames.len());
        prop_assert!(results[0].is_err());
        for (got, want) in results[1..].iter().zip(&frames[1..]) {
            prop_assert!(same(got.as_ref().unwrap(), want));
        }
    }

    #[test]
    fn a_flipped_bit_never_yields_a_different_valid_frame(f in frame(), bit in any::<usize>()) {
        let mut raw = [0u8; MAX_FRAME_LEN];
        let n = f.encode_raw(&mut raw).unwrap();
        let bit = bit % (n * 8);
        raw[bit / 8] ^= 1 << (bit % 8);
        // Any corruption of the raw frame fails the CRC (CRC-32 detects every single-bit error).
        let crc_failed = matches!(Packet::new_checked(&raw[..n]), Err(DecodeError::Crc { .. }));
        prop_assert!(crc_failed);
        // On the line, a flipped bit may also break COBS or split the frame; it never decodes to
        // another valid frame.
        let mut line = encode(&f);
        let bit = bit % ((line.len() - 1) * 8);
        line[bit / 8] ^= 1 << (bit % 8);
        for result in Decoder::<MAX_ENCODED_LEN>::new().feed(&line) {
            prop_assert!(result.is_err(), "corrupted line decoded to {:?}", result);
        }
    }
}
