//! docs/wire.md's worked examples are decoded and re-encoded here, byte for byte, so the document
//! cannot drift from the code.

use rackwatch_core::wire::*;
use rackwatch_core::Level;

/// The frames the document's examples show, in order.
fn documented_frames() -> Vec<Frame> {
    let header = |seq| Header {
        node_id: 1,
        boot_id: 0x0A0B_0C0D,
        seq,
    };
    let mut readings = Readings::default();
    readings.push(0, 3_600_000, 23.5).unwrap();
    readings.push(3, 3_610_000, 181.25).unwrap();
    vec![
        Frame {
            header: header(7),
            body: Body::Heartbeat(Heartbeat {
                uptime_ms: 60_000,
                reset: ResetReason::Watchdog,
                frames_sent: 12,
                frames_dropped: 0,
                readings_dropped: 3,
                sensor_errors: 1,
            }),
        },
        Frame {
            header: header(8),
            body: Body::Readings(readings),
        },
        Frame {
            header: header(9),
            body: Body::Transition(Transition {
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
            }),
        },
    ]
}

/// The contents of the fenced blocks whose info string is `info`, as bytes.
fn hex_blocks(doc: &str, info: &str) -> Vec<Vec<u8>> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in doc.lines() {
        match &mut current {
            None if line.trim() == format!("```{info}") => current = Some(String::new()),
            Some(text) if line.trim() == "```" => {
                let digits: String = text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
                assert!(
                    digits.len().is_multiple_of(2),
                    "odd number of hex digits in a {info} block"
                );
                blocks.push(
                    (0..digits.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
                        .collect(),
                );
                current = None;
            }
            Some(text) => {
                // Everything after `#` on a line is commentary.
                text.push_str(line.split('#').next().unwrap_or(""));
                text.push(' ');
            }
            None => {}
        }
    }
    blocks
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
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/wire.md"))
        .expect("docs/wire.md exists");
    let frames = documented_frames();
    let raws = hex_blocks(&doc, "hex raw");
    let lines = hex_blocks(&doc, "hex line");
    assert_eq!(
        (raws.len(), lines.len()),
        (frames.len(), frames.len()),
        "one raw and one line block per example"
    );
    for ((frame, raw), line) in frames.iter().zip(&raws).zip(&lines) {
        let mut out = [0u8; MAX_FRAME_LEN];
        let n = frame.encode_raw(&mut out).unwrap();
        assert_eq!(hex(&out[..n]), hex(raw), "raw bytes of {frame:?}");
        let mut out = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut out).unwrap();
        assert_eq!(hex(&out[..n]), hex(line), "line bytes of {frame:?}");
        let decoded: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(line).collect();
        assert_eq!(decoded, [Ok(frame.clone())]);
    }
}
