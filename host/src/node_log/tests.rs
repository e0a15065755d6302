//! The decoder wrapper on frames made here with defmt's own rzcobs encoding and a small table:
//! text and level, frames split anywhere, garbage, torn, unfinished and overlong frames, a table
//! that is not the stream's, and ELFs that are not firmware. The real image's stream is decoded in
//! `host/tests/node_logs_qemu.rs`.

use super::*;

/// A table as `Table::parse` builds it from an ELF: index 1 an `info!` with a `u8`, 2 a
/// `println!` with a `str`, 3 an `error!` without arguments.
fn table(encoding: &str) -> Table {
    let entry = |tag: &str, s: &str| serde_json::json!({ "string": { "tag": tag, "string": s }, "raw_symbol": "test" });
    serde_json::from_value(serde_json::json!({
        "timestamp": null,
        "entries": {
            "1": entry("Info", "reading {=u8} ok"),
            "2": entry("Println", "node says {=str}"),
            "3": entry("Error", "fault"),
        },
        "bitflags": {},
        "encoding": encoding,
    }))
    .expect("a table")
}

fn firmware() -> Arc<Firmware> {
    Arc::new(Firmware::from_table("test.elf".into(), table("Rzcobs")).expect("rzcobs"))
}

/// defmt's rzcobs encoder (defmt 1.2, `src/encoding/rzcobs.rs`): one frame, with its delimiter.
fn encode(payload: &[u8]) -> Vec<u8> {
    let (mut out, mut run, mut zeros) = (Vec::new(), 0u8, 0u8);
    for &byte in payload {
        if run < 7 {
            if byte == 0 {
                zeros |= 1 << run;
            } else {
                out.push(byte);
            }
            run += 1;
            if run == 7 && zeros != 0 {
                out.push(zeros);
                (run, zeros) = (0, 0);
            }
        } else if byte == 0 {
            out.push((run - 7) | 0x80);
            (run, zeros) = (0, 0);
        } else {
            out.push(byte);
            run += 1;
            if run == 134 {
                out.push(0xff);
                (run, zeros) = (0, 0);
            }
        }
    }
    match run {
        0 => {}
        1..=6 => out.push((zeros | (0xff << run)) & 0x7f),
        _ => out.push((run - 7) | 0x80),
    }
    out.push(0);
    out
}

fn reading(value: u8) -> Vec<u8> {
    encode(&[1, 0, value])
}

fn says(text: &str) -> Vec<u8> {
    let mut payload = vec![2, 0];
    payload.extend_from_slice(&(text.len() as u32).to_le_bytes());
    payload.extend_from_slice(text.as_bytes());
    encode(&payload)
}

fn lines(stream: &mut LogStream, chunks: &[&[u8]]) -> Vec<NodeLine> {
    let mut out = Vec::new();
    for chunk in chunks {
        stream.feed(chunk, |l| out.push(l));
    }
    out.extend(stream.finish());
    out
}

fn text(severity: Severity, text: &str) -> NodeLine {
    NodeLine::Text {
        severity,
        text: text.into(),
    }
}

#[test]
fn frames_decode_to_their_text_and_level() {
    let stream = [vec![0], reading(0), says("boot 0000abcd"), encode(&[3, 0])].concat();
    assert_eq!(
        lines(&mut LogStream::new(firmware()), &[&stream]),
        [
            text(Severity::Info, "reading 0 ok"),
            text(Severity::Print, "node says boot 0000abcd"),
            text(Severity::Error, "fault"),
        ]
    );
}

#[test]
fn a_stream_split_anywhere_gives_the_same_lines() {
    let stream = [
        reading(7),
        says("a longer line, past one rzcobs run"),
        reading(0),
    ]
    .concat();
    let whole = lines(&mut LogStream::new(firmware()), &[&stream]);
    assert_eq!(whole.len(), 3);
    for cut in 0..=stream.len() {
        let (a, b) = stream.split_at(cut);
        assert_eq!(
            lines(&mut LogStream::new(firmware()), &[a, b]),
            whole,
            "cut at {cut}"
        );
    }
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(lines(&mut LogStream::new(firmware()), &bytewise), whole);
}

#[test]
fn garbage_never_panics_and_every_frame_is_kept_bounded() {
    // xorshift: reproducible noise with zeros often enough to make many short frames, and
    // stretches without, to make overlong ones.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = Vec::new();
    for i in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = (x >> 24) as u8;
        noise.push(if i % 50_000 < 40_000 && b < 8 { 0 } else { b });
    }
    let mut stream = LogStream::new(firmware());
    let (mut raw, mut decoded) = (0, 0);
    for chunk in noise.chunks(97) {
        stream.feed(chunk, |line| match line {
            NodeLine::Raw { bytes, .. } => {
                assert!(!bytes.is_empty() && bytes.len() <= MAX_FRAME_BYTES);
                raw += 1;
            }
            NodeLine::Text { .. } => decoded += 1,
        });
    }
    assert!(raw > 1000, "{raw} raw frames");
    // Whatever the noise held, good frames after it decode again.
    let good = reading(42);
    let after = lines(&mut stream, &[&[0], &good]);
    assert_eq!(after.last(), Some(&text(Severity::Info, "reading 42 ok")));
    println!("{raw} raw frames, {decoded} decoded by chance");
}

#[test]
fn a_torn_frame_is_kept_raw_and_the_next_one_decodes() {
    // A lost Log frame: the first frame's tail and the second's head never arrived.
    let (first, second, third) = (says("first line"), says("second line"), reading(3));
    let torn = [&first[..4], &second[6..]].concat();
    let got = lines(&mut LogStream::new(firmware()), &[&torn, &third]);
    assert_eq!(
        got,
        [
            NodeLine::Raw {
                bytes: torn[..torn.len() - 1].to_vec(),
                why: Undecodable::Malformed
            },
            text(Severity::Info, "reading 3 ok"),
        ]
    );
}

#[test]
fn a_truncated_frame_at_the_end_is_kept_as_unfinished() {
    let frame = says("cut short");
    let got = lines(&mut LogStream::new(firmware()), &[&frame[..5]]);
    assert_eq!(
        got,
        [NodeLine::Raw {
            bytes: frame[..5].to_vec(),
            why: Undecodable::Unfinished
        }]
    );
    // Whole frames whose arguments are cut short: a string of 100 bytes with 3 of them, and
    // with none. (rzcobs pads a frame with zeros to its next 7 bytes, so a shorter cut of the
    // index alone can still decode as the entry whose index it leaves.)
    let got = lines(
        &mut LogStream::new(firmware()),
        &[
            &encode(&[2, 0, 100, 0, 0, 0, b'a', b'b', b'c']),
            &encode(&[2, 0, 100]),
        ],
    );
    assert!(
        got.iter().all(|l| matches!(
            l,
            NodeLine::Raw {
                why: Undecodable::Malformed,
                ..
            }
        )),
        "{got:?}"
    );
    assert_eq!(got.len(), 2);
}

#[test]
fn an_overlong_frame_is_cut_to_the_bound_and_kept() {
    let long = vec![0x55; 3 * MAX_FRAME_BYTES];
    let got = lines(&mut LogStream::new(firmware()), &[&long, &[0], &reading(1)]);
    assert_eq!(
        got,
        [
            NodeLine::Raw {
                bytes: vec![0x55; MAX_FRAME_BYTES],
                why: Undecodable::TooLong
            },
            text(Severity::Info, "reading 1 ok"),
        ]
    );
}

#[test]
fn a_stream_joined_mid_frame_skips_the_tail_before_the_first_delimiter() {
    let stream = [says("before"), reading(9)].concat();
    let got = lines(
        &mut LogStream::joined_mid_stream(firmware()),
        &[&stream[3..]],
    );
    assert_eq!(got, [text(Severity::Info, "reading 9 ok")]);
}

#[test]
fn frames_of_another_firmware_are_kept_raw() {
    // Index 9 is in no entry of this table: the stream came from an image with other strings.
    let other = encode(&[9, 0, 1, 2, 3]);
    let got = lines(&mut LogStream::new(firmware()), &[&other]);
    assert!(matches!(
        got.as_slice(),
        [NodeLine::Raw {
            why: Undecodable::Malformed,
            ..
        }]
    ));
}

#[test]
fn an_elf_that_cannot_decode_says_which_file_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such.elf");
    let err = Firmware::load(&missing).err().expect("missing file");
    assert!(matches!(err, ElfError::Read { .. }), "{err}");
    assert!(err.to_string().contains("no-such.elf"), "{err}");
    assert!(err.to_string().contains("build the image"), "{err}");

    let garbage = dir.path().join("garbage.elf");
    std::fs::write(&garbage, b"\x7fELF but not really an ELF file at all").unwrap();
    let err = Firmware::load(&garbage).err().expect("garbage");
    assert!(matches!(err, ElfError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("garbage.elf"), "{err}");

    // A real ELF, this test program, built without defmt.
    let exe = std::env::current_exe().unwrap();
    let err = Firmware::load(&exe).err().expect("no .defmt");
    assert!(matches!(err, ElfError::NoDefmt { .. }), "{err}");
    assert!(err.to_string().contains("no .defmt section"), "{err}");

    let err = Firmware::from_table("raw.elf".into(), table("Raw"))
        .err()
        .expect("raw encoding");
    assert!(matches!(err, ElfError::RawEncoding { .. }), "{err}");
}

#[test]
fn hex_is_lower_case_two_digits_a_byte() {
    assert_eq!(hex(&[0x00, 0x0a, 0xff]), "000aff");
}

#[test]
fn control_characters_from_a_node_are_printed_escaped() {
    assert_eq!(printable("plain text"), "plain text");
    assert_eq!(
        printable("x\n2026 node 9 forged\u{1b}[2J"),
        "x\\n2026 node 9 forged\\u{1b}[2J"
    );
}

#[test]
fn the_elf_is_chosen_by_flag_then_firmware_version_then_default_and_errors_say_which() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name);
    let settings = ElfSettings {
        elf: Some(path("default.elf")),
        firmware: vec![
            ("0.1.0".into(), path("v1.elf")),
            ("0.2.0".into(), path("v2.elf")),
        ],
    };
    let config = Some(PathBuf::from("/etc/rackwatch.toml"));
    let named_by = |elves: &mut Elves, version: Option<&str>| {
        let err = elves.for_version(version).err().expect("no such file");
        err.to_string()
    };
    let mut elves = Elves::new(None, settings.clone(), config.clone());
    let v2 = named_by(&mut elves, Some("0.2.0"));
    assert!(v2.contains("v2.elf"), "{v2}");
    assert!(
        v2.contains("named by node_logs.firmware version `0.2.0` in /etc/rackwatch.toml"),
        "{v2}"
    );
    let other = named_by(&mut elves, Some("9.9.9"));
    assert!(other.contains("default.elf"), "{other}");
    assert!(
        other.contains("named by node_logs.elf in /etc/rackwatch.toml"),
        "{other}"
    );
    assert!(named_by(&mut elves, None).contains("default.elf"));

    let mut flag = Elves::new(Some(path("flag.elf")), settings.clone(), config.clone());
    let err = named_by(&mut flag, Some("0.1.0"));
    assert!(
        err.contains("flag.elf") && err.contains("named by --elf"),
        "{err}"
    );

    let only_versions = ElfSettings {
        elf: None,
        ..settings
    };
    let mut elves = Elves::new(None, only_versions, config);
    assert!(elves.any());
    assert!(elves.for_version(Some("9.9.9")).unwrap().is_none());
    assert!(elves.for_version(None).unwrap().is_none());
    assert!(!Elves::new(None, ElfSettings::default(), None).any());
}
