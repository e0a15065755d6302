//! Arbitrary bytes as a stored chunk of the time-series codec. Properties: no panic; the samples a
//! chunk decodes to, encoded again with its coding, decode to the same times and value bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch_core::codec::{Decoder, Encoder, MAX_HEADER_LEN, MAX_SAMPLE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(decoder) = Decoder::new(data) else { return };
    let values = decoder.values();
    let mut samples = Vec::new();
    for sample in decoder {
        match sample {
            Ok((time, value)) => samples.push((time, value.to_bits())),
            Err(_) => return,
        }
    }
    let mut buffer = vec![0u8; MAX_HEADER_LEN + samples.len() * MAX_SAMPLE_LEN];
    let mut encoder = Encoder::new(&mut buffer, values).expect("room for the header");
    for &(time, bits) in &samples {
        encoder.push(time, f32::from_bits(bits)).expect("room for every sample");
    }
    let again: Vec<(u64, u32)> = Decoder::new(encoder.bytes())
        .expect("an encoded chunk decodes")
        .map(|sample| sample.map(|(t, v)| (t, v.to_bits())).expect("every sample decodes"))
        .collect();
    assert_eq!(again, samples);
});
