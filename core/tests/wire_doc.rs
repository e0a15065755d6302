//! docs/wire.md's worked examples are decoded and re-encoded here, byte for byte, so the document
//! cannot drift from the code.
//!
//! Markers: a heading `### Example: <name>` names an example; the fenced blocks after it with the info
//! strings `hex raw` (the raw frame, annotated: anything after `#` on a line is commentary) and
//! `hex line` (the bytes on the line) belong to it. `WIRE_DOC_PRINT=1 cargo test --test wire_doc --
//! --nocapture` prints the bytes of every example, for writing a new one.

use rackwatch_core::alert::{MissingData, Rule};
use rackwatch_core::anomaly::AnomalyConfig;
use rackwatch_core::codec::Values;
use rackwatch_core::trend::Crossing;
use rackwatch_core::wire::*;
use rackwatch_core::Level;
use std::collections::BTreeMap;

const DOC: &str = include_str!("../../docs/wire.md");

/// The frames the document's examples show, by name.
fn documented_frames() -> BTreeMap<&'static str, Frame> {
    let header = |seq| Header {
        node_id: 1,
        boot_id: 0x0A0B_0C0D,
        seq,
    };
    let mut hello = Hello::new(heapless::String::try_from("0.1.0").unwrap());
    hello
        .metrics
        .push(MetricDescriptor {
            id: 0,
            name: heapless::String::try_from("inlet_temp").unwrap(),
            unit: heapless::String::try_from("degC").unwrap(),
            rule: RuleSummary {
                crossing: Crossing::Above,
                warning: Some(30.0),
                critical: Some(35.0),
            },
            lattice: Some(Lattice {
                offset: 0.0,
                step: 0.015625,
            }),
        })
        .unwrap();
    let mut readings = Readings::new();
    readings.push(0, 3_600_000, 23.5).unwrap();
    readings.push(3, 3_610_000, 181.25).unwrap();
    let mut packed = PackedReadings::default();
    for (metric, t_ms, value) in [
        (0, 3_600_000, 23.5),
        (3, 3_600_000, 181.25),
        (0, 3_610_000, 23.51),
        (3, 3_610_000, 181.5),
        (0, 3_620_000, 23.5),
    ] {
        packed.readings.push(metric, t_ms, value).unwrap();
    }
    packed
        .codings
        .push(MetricCoding {
            metric: 0,
            values: Values::Lattice {
                offset: 0.0,
                step: 0.01,
            },
        })
        .unwrap();
    packed
        .codings
        .push(MetricCoding {
            metric: 3,
            values: Values::Xor,
        })
        .unwrap();
    let heartbeat = Heartbeat {
        uptime_ms: 60_000,
        reset: ResetReason::Watchdog,
        frames_sent: 12,
        frames_dropped: 0,
        readings_dropped: 3,
        sensor_errors: 1,
    };
    let transition = Transition {
        metric: 0,
        from: Level::Ok,
        to: Level::Warning,
        at_ms: 3_620_000,
        cause: Cause::Eta {
            eta_ms: 7_200_000,
            threshold: 35.0,
        },
        alert_seq: 1,
        suppressed: false,
    };
    let metric = rackwatch_core::monitor::MetricSpec::new(
        0,
        "inlet_temp",
        "degC",
        Rule {
            missing: MissingData::unknown_after(10_000),
            ..Rule::above(30.0, 35.0)
        },
        AnomalyConfig::with_limits(Some(-40.0), Some(85.0), None),
    )
    .unwrap();
    BTreeMap::from([
        (
            "metric",
            Frame {
                header: header(1),
                body: Body::Metric(metric),
            },
        ),
        (
            "hello",
            Frame {
                header: header(0),
                body: Body::Hello(hello),
            },
        ),
        (
            "heartbeat",
            Frame {
                header: header(7),
                body: Body::Heartbeat(heartbeat),
            },
        ),
        (
            "readings",
            Frame {
                header: header(8),
                body: Body::Readings(readings),
            },
        ),
        (
            "packed readings",
            Frame {
                header: header(10),
                body: Body::PackedReadings(packed),
            },
        ),
        (
            "transition",
            Frame {
                header: header(9),
                body: Body::Transition(transition),
            },
        ),
    ])
}

#[derive(Default, Debug)]
struct Example {
    raw: Option<Vec<u8>>,
    line: Option<Vec<u8>>,
}

fn parse_hex(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        digits.chars().all(|c| c.is_ascii_hexdigit()) && digits.len().is_multiple_of(2),
        "not hex bytes: {text:?}"
    );
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect()
}

/// The examples in the document, by name.
fn documented_examples(doc: &str) -> BTreeMap<String, Example> {
    let mut examples: BTreeMap<String, Example> = BTreeMap::new();
    let mut name: Option<String> = None;
    let mut block: Option<(&str, String)> = None;
    for line in doc.lines() {
        let trimmed = line.trim();
        match &mut block {
            Some((info, text)) if trimmed == "```" => {
                let name = name
                    .clone()
                    .expect("a hex block after an `### Example: name` heading");
                let example = examples.entry(name.clone()).or_default();
                let slot = if *info == "raw" {
                    &mut example.raw
                } else {
                    &mut example.line
                };
                assert!(slot.is_none(), "two `hex {info}` blocks in example {name}");
                *slot = Some(parse_hex(text));
                block = None;
            }
            Some((_, text)) => {
                text.push_str(line.split('#').next().unwrap_or(""));
                text.push(' ');
            }
            None if trimmed.starts_with("### ") => {
                name = trimmed
                    .strip_prefix("### Example:")
                    .map(|n| n.trim().to_string());
            }
            None if trimmed == "```hex raw" => block = Some(("raw", String::new())),
            None if trimmed == "```hex line" => block = Some(("line", String::new())),
            None => {}
        }
    }
    assert!(block.is_none(), "unterminated hex block");
    examples
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn worked_examples_in_docs_wire_md_match_the_code() {
    let frames = documented_frames();
    if std::env::var_os("WIRE_DOC_PRINT").is_some() {
        for (name, frame) in &frames {
            let mut out = [0u8; MAX_ENCODED_LEN];
            let n = frame.encode_raw(&mut out).unwrap();
            println!("{name} raw: {}", hex(&out[..n]));
            let n = frame.encode(&mut out).unwrap();
            println!("{name} line: {}", hex(&out[..n]));
        }
    }
    let examples = documented_examples(DOC);
    assert_eq!(
        examples.keys().map(String::as_str).collect::<Vec<_>>(),
        frames.keys().copied().collect::<Vec<_>>(),
        "every example in the document has a frame here, and every frame here is in the document"
    );
    for (name, frame) in &frames {
        let example = &examples[*name];
        let (Some(raw), Some(line)) = (&example.raw, &example.line) else {
            panic!("example {name} needs a `hex raw` and a `hex line` block");
        };
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode_raw(&mut out).unwrap();
        assert_eq!(hex(&out[..n]), hex(raw), "raw bytes of example {name}");
        let n = frame.encode(&mut out).unwrap();
        assert_eq!(hex(&out[..n]), hex(line), "line bytes of example {name}");
        let decoded: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(line).collect();
        assert_eq!(decoded, [Ok(frame.clone())], "decoding example {name}");
        assert_eq!(Frame::decode_raw(raw).as_ref(), Ok(frame));
    }
}

/// The numbers the document states are this build's.
#[test]
fn constants_in_docs_wire_md_match_the_code() {
    for stated in [
        format!("`SCHEMA_HASH` = `{SCHEMA_HASH:#018x}`"),
        format!("`MAX_FRAME_LEN` = {MAX_FRAME_LEN}"),
        format!("`MAX_ENCODED_LEN` = {MAX_ENCODED_LEN}"),
        format!("`MAX_BODY_LEN` = {MAX_BODY_LEN}"),
        format!("`MAX_PACKED_READINGS_LEN` = {MAX_PACKED_READINGS_LEN}"),
        format!("`HEADER_LEN` = {HEADER_LEN}"),
        format!(
            "check (`\"123456789\"`) | `{:#010X}`",
            CRC.checksum(b"123456789")
        )
        .replace("0X", "0x"),
    ] {
        assert!(DOC.contains(&stated), "docs/wire.md should state {stated}");
    }
    for (kind, len) in [
        ("Hello", MAX_HELLO_LEN),
        ("Readings", MAX_READINGS_LEN),
        ("Transition", MAX_TRANSITION_LEN),
        ("Heartbeat", MAX_HEARTBEAT_LEN),
        ("Log", MAX_LOG_LEN),
        ("Metric", MAX_METRIC_LEN),
        ("PackedReadings", MAX_PACKED_READINGS_LEN),
    ] {
        let row = format!("| {kind} | {len} |");
        assert!(
            DOC.contains(&row),
            "docs/wire.md's size table should have {row}"
        );
    }
    assert!(
        DOC.contains(SCHEMA_STRING),
        "docs/wire.md should quote SCHEMA_STRING"
    );
}

/// The header table (section 3) gives each field's offset and size as `wire::field` does.
#[test]
fn header_table_in_docs_wire_md_matches_the_field_offsets() {
    for (name, at) in field::ALL {
        let row = format!("| {} | {} | `{name}` |", at.start, at.end - at.start);
        assert!(
            DOC.contains(&row),
            "docs/wire.md's header table should have {row}"
        );
    }
}

/// A raw frame of node 1 with `kind` and `body`, its CRC appended.
fn raw_frame(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut raw = vec![1, 0, 1, 0, 0x0d, 0x0c, 0x0b, 0x0a, 0, 0, kind];
    raw.extend_from_slice(body);
    raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
    raw
}

fn body_decodes(kind: u8, body: &[u8]) -> bool {
    Frame::decode_raw(&raw_frame(kind, body)).is_ok()
}

/// Section 6's limits on varints, options and booleans, as the reference receiver applies them.
#[test]
fn varint_widths_options_and_booleans_are_as_section_6_states() {
    const HEARTBEAT: u8 = 4;
    const TRANSITION: u8 = 3;
    const HELLO: u8 = 1;
    // Heartbeat: uptime u64, reset enum index, four u32 counters.
    let heartbeat = |uptime: &[u8], reset: &[u8], counter: &[u8]| {
        let mut body = uptime.to_vec();
        body.extend_from_slice(reset);
        for _ in 0..4 {
            body.extend_from_slice(counter);
        }
        body
    };
    // u64: up to 10 bytes; u32 (and enum indexes): up to 5; longer forms of 0 are refused.
    assert!(body_decodes(
        HEARTBEAT,
        &heartbeat(
            &[0x80; 9].iter().copied().chain([0]).collect::<Vec<_>>(),
            &[0],
            &[0]
        )
    ));
    assert!(!body_decodes(
        HEARTBEAT,
        &heartbeat(
            &[0x80; 10].iter().copied().chain([0]).collect::<Vec<_>>(),
            &[0],
            &[0]
        )
    ));
    assert!(body_decodes(
        HEARTBEAT,
        &heartbeat(
            &[0],
            &[0x80, 0x80, 0x80, 0x80, 0],
            &[0x80, 0x80, 0x80, 0x80, 0]
        )
    ));
    assert!(!body_decodes(
        HEARTBEAT,
        &heartbeat(&[0], &[0x80, 0x80, 0x80, 0x80, 0x80, 0], &[0])
    ));
    assert!(!body_decodes(
        HEARTBEAT,
        &heartbeat(&[0], &[0], &[0x80, 0x80, 0x80, 0x80, 0x80, 0])
    ));
    // A u32 whose fifth byte carries bits beyond 32 overflows: refused.
    assert!(!body_decodes(
        HEARTBEAT,
        &heartbeat(&[0], &[0], &[0xff, 0xff, 0xff, 0xff, 0x1f])
    ));
    assert!(body_decodes(
        HEARTBEAT,
        &heartbeat(&[0], &[0], &[0xff, 0xff, 0xff, 0xff, 0x0f])
    ));
    // Transition: metric u16 (up to 3 bytes), from, to, at_ms, cause SensorFault (4), alert_seq, suppressed.
    let transition = |metric: &[u8], suppressed: u8| {
        let mut body = metric.to_vec();
        body.extend_from_slice(&[0, 1, 0, 4, 0, suppressed]);
        body
    };
    assert!(body_decodes(TRANSITION, &transition(&[0x80, 0x80, 0], 0)));
    assert!(!body_decodes(
        TRANSITION,
        &transition(&[0x80, 0x80, 0x80, 0], 0)
    ));
    assert!(!body_decodes(
        TRANSITION,
        &transition(&[0xff, 0xff, 0x04], 0)
    ));
    assert!(body_decodes(TRANSITION, &transition(&[0], 1)));
    assert!(!body_decodes(TRANSITION, &transition(&[0], 2)));
    // Hello: firmware string (length varint), schema hash, one metric whose RuleSummary's options
    // take the tags 00 and 01 only.
    let hello = |length: &[u8], warning_tag: u8| {
        let mut body = length.to_vec();
        body.push(b'1');
        body.extend_from_slice(&[0, 1, 0, 1, b'x', 1, b'C', 0]);
        body.push(warning_tag);
        if warning_tag == 1 {
            body.extend_from_slice(&30f32.to_le_bytes());
        }
        body.push(0); // critical: None
        body.push(0); // lattice: None
        body
    };
    assert!(body_decodes(HELLO, &hello(&[1], 1)));
    assert!(body_decodes(HELLO, &hello(&[1], 0)));
    assert!(!body_decodes(HELLO, &hello(&[1], 2)));
    // A length is a varint of up to 10 bytes on a 64-bit receiver (usize); the reference refuses
    // an 11th byte.
    assert!(body_decodes(
        HELLO,
        &hello(
            &[0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0],
            1
        )
    ));
    assert!(!body_decodes(
        HELLO,
        &hello(
            &[0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0],
            1
        )
    ));
}

/// Section 5's step 2: the reference decoder's buffer holds `MAX_ENCODED_LEN` bytes; one more byte
/// before a `00` is `Overlong` at the delimiter, while exactly that many fail a later check.
#[test]
fn the_overlong_threshold_is_max_encoded_len() {
    let mut decoder = Decoder::<MAX_ENCODED_LEN>::new();
    let mut line = vec![0x01; MAX_ENCODED_LEN];
    line.push(0);
    let exactly: Vec<_> = decoder.feed(&line).collect();
    assert!(
        matches!(
            exactly[..],
            [Err(DecodeError::Overlong { len: 1024.. })
                | Err(DecodeError::Cobs { .. })
                | Err(DecodeError::TooShort { .. })]
        ),
        "{exactly:?}"
    );
    assert!(!matches!(
        exactly[..],
        [Err(DecodeError::Overlong {
            len: MAX_ENCODED_LEN
        })]
    ));
    let mut line = vec![0x01; MAX_ENCODED_LEN + 1];
    line.push(0);
    let over: Vec<_> = decoder.feed(&line).collect();
    assert_eq!(
        over,
        [Err(DecodeError::Overlong {
            len: MAX_ENCODED_LEN + 1
        })]
    );
}

/// Section 7's PackedReadings rules, as the reference receiver applies them to bodies built by hand.
#[test]
fn packed_readings_limits_are_as_section_7_states() {
    const PACKED: u8 = 7;
    // base_ms 0, one reading of metric 5 (XOR): index of 0 bits, time `0`, 32 value bits, then
    // 7 bits of padding.
    let one = |padding: u8| {
        let mut body = vec![0, 1, 1, 5, 1];
        body.extend_from_slice(&[0x20, 0x00, 0x00, 0x00, padding]);
        body
    };
    // 1.0 = 0x3F800000: after the time bit `0`, the value bits shift one bit right.
    let mut good = vec![0, 1, 1, 5, 1];
    good.extend_from_slice(&[0x1f, 0xc0, 0x00, 0x00, 0x00]);
    let frame = Frame::decode_raw(&raw_frame(PACKED, &good)).unwrap();
    let Body::PackedReadings(packed) = frame.body else {
        panic!("kind 7 is PackedReadings")
    };
    assert_eq!(packed.readings.iter().collect::<Vec<_>>(), [(5, 0, 1.0)]);
    assert!(body_decodes(PACKED, &one(0)));
    assert!(!body_decodes(PACKED, &one(1)), "a padding bit set");
    let mut trailing = one(0);
    trailing.push(0);
    assert!(matches!(
        Frame::decode_raw(&raw_frame(PACKED, &trailing)),
        Err(DecodeError::TrailingBytes { len: 1, .. })
    ));
    // Counts: 64 readings at most, 16 metrics at most, none with readings is an error.
    assert!(body_decodes(PACKED, &[0, 0, 0]));
    assert!(!body_decodes(PACKED, &[0, 65, 1, 0, 1]));
    assert!(!body_decodes(PACKED, &[0, 1, 0]));
    let table: Vec<u8> = (0..17u8).flat_map(|id| [id, 1]).collect();
    assert!(!body_decodes(PACKED, &[&[0, 0, 17][..], &table].concat()));
    // Every entry is used, in the order of first use: a table nothing uses is an error, and so
    // are 16 entries for readings of metric 0 alone; readings of all 16, in order, decode.
    assert!(!body_decodes(
        PACKED,
        &[&[0, 0, 16][..], &table[..32]].concat()
    ));
    let mut sixteen = Readings::new();
    for id in 0..16u16 {
        sixteen.push(id, 0, 1.0).unwrap();
    }
    let mut packed16 = [0u8; 256];
    let n = pack_readings(&sixteen, |_| Values::Xor, &mut packed16).unwrap();
    assert_eq!(packed16[..3], [0, 16, 16]);
    assert_eq!(packed16[3..35], table[..32]);
    assert!(body_decodes(PACKED, &packed16[..n]));
    // Table entries: coding 01 or 02 only, a usable lattice, no id twice; ids are u16 varints.
    // Each body below has one reading of its one metric, as `one` has (XOR, 2.0).
    let xor_reading = [0x20, 0x00, 0x00, 0x00, 0x00];
    let with_reading = |table: &[u8]| [&[0, 1, 1][..], table, &xor_reading].concat();
    assert!(body_decodes(PACKED, &with_reading(&[0, 1])));
    assert!(!body_decodes(PACKED, &with_reading(&[0, 3])));
    assert!(!body_decodes(PACKED, &[0, 0, 2, 0, 1, 0, 1]));
    // A lattice entry: the reference packs a reading on the lattice of step 0.01, then the step
    // is replaced by unusable ones.
    let mut on_lattice = Readings::new();
    on_lattice.push(0, 0, 0.5).unwrap();
    let mut lattice_body = [0u8; 64];
    let n = pack_readings(
        &on_lattice,
        |_| Values::Lattice {
            offset: 0.0,
            step: 0.01,
        },
        &mut lattice_body,
    )
    .unwrap();
    assert_eq!(lattice_body[..5], [0, 1, 1, 0, 2]);
    assert!(body_decodes(PACKED, &lattice_body[..n]));
    for bad_step in [0f32, f32::INFINITY] {
        let mut body = lattice_body;
        body[9..13].copy_from_slice(&bad_step.to_le_bytes());
        assert!(!body_decodes(PACKED, &body[..n]), "step {bad_step}");
    }
    assert!(body_decodes(PACKED, &with_reading(&[0xff, 0xff, 0x03, 1])));
    assert!(!body_decodes(PACKED, &with_reading(&[0xff, 0xff, 0x04, 1])));
    assert!(!body_decodes(
        PACKED,
        &with_reading(&[0x80, 0x80, 0x80, 0, 1])
    ));
    // A reading whose time lands before base_ms is an error: base 1, time code `10` -2.
    let mut before = vec![1, 1, 1, 5, 1];
    before.extend_from_slice(&[0b1011_1111, 0b0000_0000, 0, 0, 0]);
    assert!(!body_decodes(PACKED, &before));
}
