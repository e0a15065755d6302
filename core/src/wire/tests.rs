//! Unit tests across the wire layers: encoding, packets, the decoder's errors, sizes.

use super::*;
use crate::trend::Crossing;
use crate::Level;
use heapless::{String, Vec};
use std::vec::Vec as StdVec;

fn header() -> Header {
    Header {
        node_id: 7,
        boot_id: 0xDEAD_BEEF,
        seq: 65535,
    }
}

fn frame(body: Body) -> Frame {
    Frame {
        header: header(),
        body,
    }
}

fn heartbeat() -> Heartbeat {
    Heartbeat {
        uptime_ms: 5,
        reset: ResetReason::Watchdog,
        frames_sent: 1,
        frames_dropped: 2,
        readings_dropped: 3,
        sensor_errors: 4,
    }
}

fn line(f: &Frame) -> StdVec<u8> {
    let mut out = [0u8; MAX_ENCODED_LEN];
    let n = f.encode(&mut out).unwrap();
    out[..n].to_vec()
}

fn raw(f: &Frame) -> StdVec<u8> {
    let mut out = [0u8; MAX_FRAME_LEN];
    let n = f.encode_raw(&mut out).unwrap();
    out[..n].to_vec()
}

/// COBS-encodes a raw frame and appends the delimiter.
fn line_for(raw: &[u8]) -> StdVec<u8> {
    let mut out = std::vec![0u8; max_cobs_len(raw.len())];
    let n = cobs_encode(raw, &mut out).unwrap();
    out.truncate(n);
    out.push(0);
    out
}

/// Recomputes the CRC of a raw frame after an edit.
fn with_crc(mut raw: StdVec<u8>) -> StdVec<u8> {
    let len = raw.len();
    let crc = frame::CRC.checksum(&raw[..len - CRC_LEN]);
    raw[len - CRC_LEN..].copy_from_slice(&crc.to_le_bytes());
    raw
}

fn decode_all(bytes: &[u8]) -> StdVec<Result<Frame, DecodeError>> {
    Decoder::<MAX_ENCODED_LEN>::new().feed(bytes).collect()
}

fn string<const N: usize>(c: char) -> String<N> {
    let mut s = String::new();
    while s.push(c).is_ok() {}
    s
}

/// The largest body of each kind: every varint at its longest, every option present, every string and
/// vector full.
fn largest_metric() -> crate::monitor::MetricSpec {
    use crate::alert::*;
    use crate::anomaly::AnomalyConfig;
    use crate::trend::EtaPolicy;
    let limit = Some(Limit::with_clear(
        Bound::inclusive(f32::MAX),
        Bound::strict(f32::MIN),
    ));
    let limits = Limits {
        above: limit,
        below: limit,
    };
    let horizon = Some(Horizon {
        within_ms: u32::MAX,
        clear_beyond_ms: u32::MAX,
    });
    let debounce = Debounce {
        samples: u8::MAX,
        of_last: u8::MAX,
        for_ms: u32::MAX,
    };
    crate::monitor::MetricSpec {
        id: u16::MAX,
        name: string('n'),
        unit: string('u'),
        rule: Rule {
            value: Thresholds {
                warning: limits,
                critical: limits,
            },
            predictive: Some(Predictive {
                threshold: 1.0,
                crossing: Crossing::Below,
                warning: horizon,
                critical: horizon,
                policy: EtaPolicy {
                    min_samples: u32::MAX,
                    min_t_statistic: 1.0,
                    confidence_z: 1.0,
                },
                keep_for_ms: Predictive::DEFAULT_KEEP_FOR_MS,
            }),
            anomaly: Some(AnomalyLevels {
                warning: limit,
                critical: limit,
            }),
            health: Health::ALL,
            raise: debounce,
            clear: debounce,
            missing: MissingData {
                deadline_ms: Some(u32::MAX),
                policy: MissingPolicy::HoldLast { for_ms: u32::MAX },
                startup_grace_ms: u32::MAX,
            },
            flapping: Some(Flapping::NAGIOS),
        },
        anomaly: AnomalyConfig {
            warmup_samples: u16::MAX,
            stuck_samples: u16::MAX,
            min: Some(0.0),
            max: Some(0.0),
            max_slew_per_s: Some(0.0),
            ..AnomalyConfig::DEFAULT
        },
    }
}

fn largest_bodies() -> [Body; 6] {
    let descriptor = MetricDescriptor {
        id: u16::MAX,
        name: string('n'),
        unit: string('u'),
        rule: RuleSummary {
            crossing: Crossing::Below,
            warning: Some(f32::MAX),
            critical: Some(f32::NAN),
        },
        lattice: Some(Lattice {
            offset: f32::MIN,
            step: f32::MAX,
        }),
    };
    let hello = Hello {
        firmware: string('v'),
        schema_hash: u64::MAX,
        metrics: core::iter::repeat_n(descriptor, MAX_METRICS).collect(),
    };
    let reading = Reading {
        metric: u16::MAX,
        offset_ms: u32::MAX,
        value: f32::MIN,
    };
    let readings = Readings {
        base_ms: u64::MAX,
        readings: core::iter::repeat_n(reading, MAX_READINGS).collect(),
    };
    let transition = Transition {
        metric: u16::MAX,
        from: Level::Unknown,
        to: Level::Critical,
        at_ms: u64::MAX,
        cause: Cause::ForecastReceded {
            outlook: super::Outlook::Beyond {
                eta_ms: u64::MAX,
                horizon_ms: u32::MAX,
            },
        },
        alert_seq: u32::MAX,
        suppressed: true,
    };
    let heartbeat = Heartbeat {
        uptime_ms: u64::MAX,
        reset: ResetReason::Unknown,
        frames_sent: u32::MAX,
        frames_dropped: u32::MAX,
        readings_dropped: u32::MAX,
        sensor_errors: u32::MAX,
    };
    let log = Log {
        defmt: Vec::from_slice(&[0xFF; MAX_LOG_BYTES]).unwrap(),
    };
    [
        Body::Hello(hello),
        Body::Readings(readings),
        Body::Transition(transition),
        Body::Heartbeat(heartbeat),
        Body::Log(log),
        Body::Metric(largest_metric()),
    ]
}

#[test]
fn crc_is_iso_hdlc() {
    assert_eq!(frame::CRC.checksum(b"123456789"), 0xCBF4_3926);
}

#[test]
fn largest_bodies_reach_the_computed_bounds_and_fit() {
    for body in largest_bodies() {
        let kind = body.kind();
        assert_eq!(body.encoded_len(), kind.max_body_len(), "{kind:?}");
        let f = frame(body);
        let raw = raw(&f);
        assert_eq!(raw.len(), HEADER_LEN + kind.max_body_len() + CRC_LEN);
        assert!(raw.len() <= MAX_FRAME_LEN);
        assert_eq!(f.raw_len(), raw.len());
        let line = line(&f);
        assert!(line.len() <= MAX_ENCODED_LEN);
        let decoded = decode_all(&line);
        assert_eq!(decoded.len(), 1);
        // NaN thresholds: compare through the encoding.
        assert_eq!(self::raw(decoded[0].as_ref().unwrap()), raw);
    }
}

#[test]
fn header_fields_at_their_extremes_round_trip() {
    for (node_id, boot_id, seq) in [
        (0, 0, 0),
        (u16::MAX, u32::MAX, u16::MAX),
        (1, 0x8000_0000, 0x8000),
    ] {
        let f = Frame {
            header: Header {
                node_id,
                boot_id,
                seq,
            },
            body: Body::Heartbeat(heartbeat()),
        };
        let raw = raw(&f);
        let packet = Packet::new_checked(&raw[..]).unwrap();
        assert_eq!(packet.header(), f.header);
        assert_eq!((packet.version(), packet.flags()), (VERSION, 0));
        assert_eq!(packet.kind(), Some(Kind::Heartbeat));
        assert_eq!(packet.payload().len(), raw.len() - MIN_FRAME_LEN);
        assert_eq!(
            packet.crc(),
            frame::CRC.checksum(&raw[..raw.len() - CRC_LEN])
        );
        assert_eq!(packet.as_bytes(), &raw[..]);
        assert_eq!(decode_all(&line(&f)), [Ok(f)]);
    }
}

#[test]
fn encode_body_matches_frame_encode() {
    let mut readings = Readings::new();
    readings.push(3, 1000, 1.5).unwrap();
    readings.push(4, 1010, -2.0).unwrap();
    let f = frame(Body::Readings(readings.clone()));
    let mut out = [0u8; MAX_ENCODED_LEN];
    let n = encode_body(&f.header, &readings, &mut out).unwrap();
    assert_eq!(out[..n], line(&f)[..]);
    let mut small = [0u8; 20];
    assert_eq!(
        encode_body(&f.header, &readings, &mut small),
        Err(EncodeError::BufferTooSmall {
            needed: max_cobs_len(f.raw_len()) + 1,
            available: 20
        })
    );
}

#[test]
fn encoder_reports_a_small_buffer_with_the_size_needed() {
    let f = frame(largest_bodies()[0].clone());
    let raw_len = f.raw_len();
    let needed = max_cobs_len(raw_len) + 1;
    for size in [0, 5, 64, raw_len - 1, raw_len, needed - 1] {
        let mut out = std::vec![0u8; size];
        assert_eq!(
            f.encode(&mut out),
            Err(EncodeError::BufferTooSmall {
                needed,
                available: size
            })
        );
    }
    let mut exact = std::vec![0u8; needed];
    let n = f.encode(&mut exact).unwrap();
    assert_eq!(exact[..n], line(&f)[..]);
    let mut short_raw = std::vec![0u8; raw_len - 1];
    assert_eq!(
        f.encode_raw(&mut short_raw),
        Err(EncodeError::BufferTooSmall {
            needed: raw_len,
            available: raw_len - 1
        })
    );
}

#[test]
fn packet_checks_run_in_order() {
    let good = raw(&frame(Body::Heartbeat(heartbeat())));
    assert_eq!(
        Packet::new_checked(&good[..MIN_FRAME_LEN - 1]),
        Err(DecodeError::TooShort {
            len: MIN_FRAME_LEN - 1
        })
    );
    assert_eq!(
        Packet::new_checked(&[1u8; MAX_FRAME_LEN + 1][..]),
        Err(DecodeError::Overlong {
            len: MAX_FRAME_LEN + 1
        })
    );
    // A wrong version with a wrong CRC is noise, not a newer sender.
    let mut v2 = good.clone();
    v2[field::VERSION] = 2;
    assert!(matches!(
        Packet::new_checked(&v2[..]),
        Err(DecodeError::Crc { .. })
    ));
    assert_eq!(
        Packet::new_checked(&with_crc(v2)[..]),
        Err(DecodeError::UnsupportedVersion { version: 2 })
    );
    // Unknown incompatible flags are refused; compatible ones are ignored.
    let mut flagged = good.clone();
    flagged[field::FLAGS] = 0x01;
    assert_eq!(
        Packet::new_checked(&with_crc(flagged)[..]),
        Err(DecodeError::UnsupportedFlags {
            header: header(),
            flags: 0x01
        })
    );
    let mut compat = good.clone();
    compat[field::FLAGS] = 0xF0;
    let compat = with_crc(compat);
    assert_eq!(
        Frame::decode_raw(&compat),
        Ok(frame(Body::Heartbeat(heartbeat())))
    );
}

#[test]
fn decoder_reports_each_error_kind() {
    let hb = frame(Body::Heartbeat(heartbeat()));
    let good = raw(&hb);

    let mut corrupt = good.clone();
    corrupt[12] ^= 0x01;
    assert!(matches!(
        decode_all(&line_for(&corrupt))[..],
        [Err(DecodeError::Crc { .. })]
    ));
    let mut k9 = good.clone();
    k9[field::KIND] = 9;
    assert_eq!(
        decode_all(&line_for(&with_crc(k9))),
        [Err(DecodeError::UnknownKind {
            header: hb.header,
            kind: 9
        })]
    );
    // A Heartbeat body under the Hello kind does not decode.
    let mut wrong = good.clone();
    wrong[field::KIND] = Kind::Hello.byte();
    assert_eq!(
        decode_all(&line_for(&with_crc(wrong))),
        [Err(DecodeError::Body {
            header: hb.header,
            kind: Kind::Hello
        })]
    );
    let mut long = good[..good.len() - CRC_LEN].to_vec();
    long.extend_from_slice(&[1, 2, 0, 0, 0, 0]);
    assert_eq!(
        decode_all(&line_for(&with_crc(long))),
        [Err(DecodeError::TrailingBytes {
            header: hb.header,
            kind: Kind::Heartbeat,
            len: 2
        })]
    );
    // A Log claiming more than MAX_LOG_BYTES is refused, not truncated.
    let mut over = std::vec![
        VERSION,
        0,
        7,
        0,
        0xEF,
        0xBE,
        0xAD,
        0xDE,
        0xFF,
        0xFF,
        Kind::Log.byte()
    ];
    over.extend_from_slice(&[0x81, 0x01]); // length 129
    over.extend_from_slice(&[0xAA; 129]);
    over.extend_from_slice(&[0; CRC_LEN]);
    assert_eq!(
        decode_all(&line_for(&with_crc(over))),
        [Err(DecodeError::Body {
            header: hb.header,
            kind: Kind::Log
        })]
    );
    assert_eq!(
        decode_all(&[0x03, 0x01, 0x02, 0x00]),
        [Err(DecodeError::TooShort { len: 2 })]
    );
    assert_eq!(
        decode_all(&[0x05, 0x01, 0x00]),
        [Err(DecodeError::Cobs { len: 2 })]
    );
    // Empty frames are skipped; every error has a stable name and a message.
    assert_eq!(decode_all(&[0, 0, 0]), []);
    for result in decode_all(&[0x05, 0x01, 0x00]) {
        let error = result.unwrap_err();
        assert_eq!(error.name(), "cobs");
        assert!(error.header().is_none());
        assert!(!std::format!("{error}").is_empty());
    }
}

#[test]
fn overlong_input_is_reported_once_and_followed_by_recovery() {
    let mut d = Decoder::<64>::new();
    assert_eq!(d.capacity(), 64);
    assert_eq!(d.feed(&[0x55u8; 200]).count(), 0);
    assert_eq!(d.pending(), 200);
    let hb = frame(Body::Heartbeat(heartbeat()));
    let mut bytes = std::vec![0u8];
    bytes.extend(line(&hb));
    let results: StdVec<_> = d.feed(&bytes).collect();
    assert_eq!(
        results,
        [Err(DecodeError::Overlong { len: 200 }), Ok(hb.clone())]
    );
    // A frame longer than a small decoder's buffer is Overlong; the next one decodes.
    let big = frame(largest_bodies()[4].clone());
    let mut bytes = line(&big);
    bytes.extend(line(&hb));
    let results: StdVec<_> = d.feed(&bytes).collect();
    assert_eq!(
        results,
        [
            Err(DecodeError::Overlong {
                len: line(&big).len() - 1
            }),
            Ok(hb)
        ]
    );
}

#[test]
fn a_frame_filling_the_buffer_exactly_decodes() {
    let hb = frame(Body::Heartbeat(heartbeat()));
    let bytes = line(&hb);
    assert_eq!(bytes.len() - 1, 22, "the line frame without its delimiter");
    // Exactly as long as the buffer: accepted; one byte more: Overlong, then recovery.
    let mut exact = Decoder::<22>::new();
    assert_eq!(exact.feed(&bytes).collect::<StdVec<_>>(), [Ok(hb.clone())]);
    let mut short = Decoder::<21>::new();
    let mut twice = bytes.clone();
    twice.extend(&bytes);
    assert_eq!(
        short.feed(&twice).collect::<StdVec<_>>(),
        [
            Err(DecodeError::Overlong { len: 22 }),
            Err(DecodeError::Overlong { len: 22 })
        ]
    );
    let mut none = Decoder::<0>::new();
    assert_eq!(
        none.feed(&bytes).collect::<StdVec<_>>(),
        [Err(DecodeError::Overlong { len: 22 })]
    );
}

#[test]
fn reset_and_remaining() {
    let hb = frame(Body::Heartbeat(heartbeat()));
    let bytes = line(&hb);
    let mut d: Decoder = Decoder::new();
    assert_eq!(d.feed(&[1, 2, 3]).count(), 0);
    d.reset();
    assert_eq!(d.pending(), 0);
    let mut twice = bytes.clone();
    twice.extend(&bytes);
    let mut feed = d.feed(&twice);
    assert_eq!(feed.next(), Some(Ok(hb.clone())));
    assert_eq!(feed.remaining(), &bytes[..]);
    assert_eq!(feed.next(), Some(Ok(hb)));
    assert_eq!(feed.next(), None);
    assert_eq!(feed.next(), None);
}

#[test]
fn sizes_are_part_of_the_contract() {
    let word = core::mem::size_of::<usize>();
    assert_eq!(core::mem::size_of::<Decoder<64>>(), 64 + 2 * word);
    assert_eq!(
        core::mem::size_of::<Decoder>(),
        (MAX_ENCODED_LEN + 2 * word).div_ceil(word) * word
    );
    #[cfg(target_pointer_width = "64")]
    {
        assert_eq!(core::mem::size_of::<Decoder>(), 1048);
        assert_eq!(core::mem::size_of::<Body>(), 1456);
        assert_eq!(core::mem::size_of::<Frame>(), 1464);
        assert_eq!(core::mem::size_of::<DecodeError>(), 24);
    }
}

#[test]
fn non_canonical_varints_decode_and_re_encode_canonically() {
    // Heartbeat with uptime 0 written as the two-byte varint `80 00`.
    let mut raw = std::vec![
        VERSION,
        0,
        7,
        0,
        0xEF,
        0xBE,
        0xAD,
        0xDE,
        0xFF,
        0xFF,
        Kind::Heartbeat.byte()
    ];
    raw.extend_from_slice(&[0x80, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04]);
    raw.extend_from_slice(&[0; CRC_LEN]);
    let raw = with_crc(raw);
    let f = Frame::decode_raw(&raw).unwrap();
    let Body::Heartbeat(hb) = &f.body else {
        panic!("a heartbeat: {f:?}")
    };
    assert_eq!(
        (hb.uptime_ms, hb.reset, hb.sensor_errors),
        (0, ResetReason::PowerOn, 4)
    );
    assert_eq!(
        self::raw(&f).len(),
        raw.len() - 1,
        "re-encoded with the shortest varint"
    );
}
