//! docs/chunks.md's worked example, encoded and decoded here byte for byte, so the document cannot
//! drift from the code: the fenced block with the info string `hex chunk` (anything after `#` on a
//! line is commentary) is the chunk of the samples listed below.

use rackwatch_core::codec::{Decoder, Encoder, Values};

const DOC: &str = include_str!("../../docs/chunks.md");

fn documented_bytes() -> Vec<u8> {
    let block = DOC
        .split("```hex chunk\n")
        .nth(1)
        .expect("a `hex chunk` block");
    let block = block.split("```").next().expect("a closed block");
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or(""))
        .flat_map(str::split_whitespace)
        .map(|byte| u8::from_str_radix(byte, 16).expect("hex bytes"))
        .collect()
}

const SAMPLES: [(u64, f32); 4] = [
    (1_000, 21.5),
    (2_000, 21.51),
    (3_000, 21.51),
    (4_000, f32::NAN),
];
const LATTICE: Values = Values::Lattice {
    offset: 0.0,
    step: 0.01,
};

#[test]
fn the_worked_example_is_what_the_encoder_writes() {
    let mut buffer = [0u8; 128];
    let mut encoder = Encoder::new(&mut buffer, LATTICE).unwrap();
    for (time, value) in SAMPLES {
        encoder.push(time, value).unwrap();
    }
    assert_eq!(encoder.bytes(), &documented_bytes()[..]);
}

#[test]
fn the_worked_example_decodes_to_its_samples() {
    let bytes = documented_bytes();
    let decoder = Decoder::new(&bytes).unwrap();
    assert_eq!(decoder.values(), LATTICE);
    let decoded: Vec<(u64, u32)> = decoder
        .map(|s| s.map(|(t, v)| (t, v.to_bits())).unwrap())
        .collect();
    let expected: Vec<(u64, u32)> = SAMPLES.iter().map(|&(t, v)| (t, v.to_bits())).collect();
    assert_eq!(decoded, expected);
}
