use super::*;
use proptest::prelude::*;

/// Encodes `samples` into one chunk (a buffer large enough) and decodes it again.
fn round_trip(values: Values, samples: &[(u64, f32)]) -> Result<(Vec<u8>, Bits), String> {
    let mut buffer = vec![0u8; MAX_HEADER_LEN + samples.len() * MAX_SAMPLE_LEN];
    let mut encoder = Encoder::new(&mut buffer, values).map_err(|e| e.to_string())?;
    for &(time, value) in samples {
        encoder.push(time, value).map_err(|e| e.to_string())?;
    }
    let bytes = encoder.bytes().to_vec();
    let decoded = decode_bits(&bytes)?;
    Ok((bytes, decoded))
}

/// Samples with their values as bits, so NaN payloads compare exactly.
type Bits = Vec<(u64, u32)>;

/// A chunk's samples, values as bits.
fn decode_bits(bytes: &[u8]) -> Result<Bits, String> {
    let decoder = Decoder::new(bytes).map_err(|e| e.to_string())?;
    decoder
        .map(|sample| {
            sample
                .map(|(t, v)| (t, v.to_bits()))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn as_bits(samples: &[(u64, f32)]) -> Bits {
    samples.iter().map(|&(t, v)| (t, v.to_bits())).collect()
}

const CENTI: Values = Values::Lattice {
    offset: 0.0,
    step: 0.01,
};

/// Every class of f32 bit pattern a store must give back unchanged.
fn awkward_values() -> Vec<f32> {
    vec![
        0.0,
        -0.0,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001), // quiet NaN with a payload
        f32::from_bits(0x7f80_0001), // signalling NaN
        f32::from_bits(0xffff_ffff),
        f32::from_bits(1),           // smallest subnormal
        f32::from_bits(0x007f_ffff), // largest subnormal
        -f32::from_bits(1),
        f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        f32::EPSILON,
        21.37,
        -40.0,
        1e30,
    ]
}

#[test]
fn every_class_of_bit_pattern_round_trips_in_both_codings() -> Result<(), String> {
    let samples: Vec<(u64, f32)> = awkward_values()
        .into_iter()
        .enumerate()
        .map(|(i, v)| (1_000 * i as u64, v))
        .collect();
    for values in [
        Values::Xor,
        CENTI,
        Values::Lattice {
            offset: -40.0,
            step: 0.25,
        },
    ] {
        let (_, decoded) = round_trip(values, &samples)?;
        assert_eq!(decoded, as_bits(&samples), "{values:?}");
    }
    Ok(())
}

#[test]
fn any_times_round_trip_backwards_and_at_the_ends_of_the_range() -> Result<(), String> {
    let times = [
        u64::MAX,
        0,
        5,
        5,
        4,
        1 << 63,
        1_764_000_000_000,
        1_764_000_000_000 + (1 << 40),
        17,
    ];
    let samples: Vec<(u64, f32)> = times.iter().map(|&t| (t, 1.0)).collect();
    let (_, decoded) = round_trip(Values::Xor, &samples)?;
    assert_eq!(decoded, as_bits(&samples));
    Ok(())
}

/// A sensor sampled every second, reading centi-degrees with a little noise: about a byte a
/// sample, most of it the noise.
#[test]
fn regular_lattice_readings_take_about_a_byte() -> Result<(), String> {
    let mut rng = crate::rng::XorShift64Star::new(7);
    let samples: Vec<(u64, f32)> = (0..3_600u64)
        .map(|i| {
            let counts = 2_150 + (rng.next_u64() % 9) as i64 - 4;
            (1_764_000_000_000 + i * 1_000, counts as f32 / 100.0)
        })
        .collect();
    let (bytes, decoded) = round_trip(CENTI, &samples)?;
    assert_eq!(decoded, as_bits(&samples));
    let per_sample = bytes.len() as f64 / samples.len() as f64;
    assert!(per_sample < 1.1, "{per_sample} bytes a sample");
    // The same values XOR-coded take several times more: the lattice is what pays.
    let (xor_bytes, _) = round_trip(Values::Xor, &samples)?;
    assert!(
        xor_bytes.len() > 2 * bytes.len(),
        "xor {} lattice {}",
        xor_bytes.len(),
        bytes.len()
    );
    Ok(())
}

#[test]
fn a_steady_value_on_a_steady_period_takes_two_or_three_bits() -> Result<(), String> {
    // One bit for the unchanged period; XOR one for the unchanged bits, the lattice one for
    // "exact" and one for "same step".
    let samples: Vec<(u64, f32)> = (0..8_000u64).map(|i| (i * 5_000, 3.3)).collect();
    for (values, bits) in [(Values::Xor, 2), (CENTI, 3)] {
        let (bytes, _) = round_trip(values, &samples)?;
        // The header, the first time in full, the first value's step and the first period.
        let header_and_first = 13 + 8 + 3 + 5;
        assert!(
            bytes.len() <= 8_000 * bits / 8 + header_and_first,
            "{values:?}: {} bytes",
            bytes.len()
        );
    }
    Ok(())
}

#[test]
fn values_a_ulp_off_the_lattice_cost_two_bits_more_and_stay_exact() -> Result<(), String> {
    let exact = 21.37f32;
    let samples = [
        (0, exact),
        (1, f32::from_bits(exact.to_bits() + 1)),
        (2, f32::from_bits(exact.to_bits() - 1)),
    ];
    let (_, decoded) = round_trip(CENTI, &samples)?;
    assert_eq!(decoded, as_bits(&samples));
    // 0.001 is far off a 0.01 lattice: escaped, exact.
    let off = [(0, 0.001f32), (1, 0.011), (2, 0.02)];
    assert_eq!(round_trip(CENTI, &off)?.1, as_bits(&off));
    Ok(())
}

#[test]
fn a_full_buffer_refuses_the_sample_and_keeps_every_earlier_one() -> Result<(), String> {
    let mut buffer = [0u8; 40];
    let mut encoder = Encoder::new(&mut buffer, Values::Xor).map_err(|e| e.to_string())?;
    let mut pushed = Vec::new();
    let mut rng = crate::rng::XorShift64Star::new(1);
    loop {
        let sample = (
            pushed.len() as u64 * 977,
            f32::from_bits(rng.next_u64() as u32),
        );
        let before = (encoder.bytes().to_vec(), encoder.count());
        match encoder.push(sample.0, sample.1) {
            Ok(()) => pushed.push(sample),
            Err(Full) => {
                assert_eq!((encoder.bytes().to_vec(), encoder.count()), before);
                break;
            }
        }
    }
    assert!(pushed.len() >= 3);
    assert_eq!(decode_bits(encoder.bytes())?, as_bits(&pushed));
    assert!(Encoder::new(&mut [0u8; 4], Values::Xor).is_err());
    Ok(())
}

#[test]
fn a_resumed_chunk_continues_bit_for_bit() -> Result<(), String> {
    let samples: Vec<(u64, f32)> = (0..200u64)
        .map(|i| (i * 1_000 + i % 3, (i % 17) as f32 * 0.25))
        .collect();
    for values in [
        Values::Xor,
        Values::Lattice {
            offset: 0.0,
            step: 0.25,
        },
    ] {
        let (whole, _) = round_trip(values, &samples)?;
        let mut buffer = vec![0u8; 8_000];
        let len = {
            let mut first = Encoder::new(&mut buffer, values).map_err(|e| e.to_string())?;
            for &(t, v) in &samples[..120] {
                first.push(t, v).map_err(|e| e.to_string())?;
            }
            first.len()
        };
        let mut resumed = Encoder::resume(&mut buffer, len).map_err(|e| e.to_string())?;
        for &(t, v) in &samples[120..] {
            resumed.push(t, v).map_err(|e| e.to_string())?;
        }
        assert_eq!(resumed.bytes(), &whole[..], "{values:?}");
    }
    Ok(())
}

#[test]
fn broken_chunks_are_named() -> Result<(), String> {
    assert_eq!(
        Decoder::new(&[]).err(),
        Some(DecodeError::ShortHeader { len: 0, needed: 5 })
    );
    assert_eq!(
        Decoder::new(&[9, 0, 0, 0, 0]).err(),
        Some(DecodeError::UnknownCoding { byte: 9 })
    );
    assert_eq!(
        Decoder::new(&[2, 0, 0, 0, 0, 0]).err(),
        Some(DecodeError::ShortHeader { len: 6, needed: 13 })
    );
    let zero_step = [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        Decoder::new(&zero_step).err(),
        Some(DecodeError::BadLattice)
    );
    // A header promising two samples over the bits of one.
    let mut buffer = [0u8; 64];
    let mut encoder = Encoder::new(&mut buffer, Values::Xor).map_err(|e| e.to_string())?;
    encoder.push(1, 1.0).map_err(|e| e.to_string())?;
    let mut lying = encoder.bytes().to_vec();
    lying[1] = 2;
    let decoded: Vec<_> = Decoder::new(&lying)
        .map(|d| d.collect())
        .unwrap_or_default();
    assert_eq!(decoded.len(), 2);
    assert_eq!(
        decoded[1],
        Err(DecodeError::Broken {
            sample: 1,
            at_byte: lying.len()
        })
    );
    Ok(())
}

proptest! {
    #[test]
    fn any_samples_round_trip_to_the_bit(
        samples in proptest::collection::vec((any::<u64>(), any::<u32>()), 0..200),
        step in prop_oneof![Just(0.01f32), Just(0.5), Just(1.0), Just(1e-7)],
        offset in prop_oneof![Just(0.0f32), Just(-40.0), Just(273.15)],
    ) {
        let samples: Vec<(u64, f32)> = samples.into_iter().map(|(t, b)| (t, f32::from_bits(b))).collect();
        for values in [Values::Xor, Values::Lattice { offset, step }] {
            let decoded = round_trip(values, &samples).map(|(_, d)| d);
            prop_assert_eq!(decoded, Ok(as_bits(&samples)));
        }
    }

    #[test]
    fn lattice_readings_round_trip_to_the_bit(
        counts in proptest::collection::vec(-5_000i32..5_000, 0..300),
        period in 1u64..100_000,
    ) {
        let samples: Vec<(u64, f32)> =
            counts.iter().enumerate().map(|(i, &c)| (i as u64 * period, c as f32 * 0.0625 - 40.0)).collect();
        let decoded = round_trip(Values::Lattice { offset: -40.0, step: 0.0625 }, &samples).map(|(_, d)| d);
        prop_assert_eq!(decoded, Ok(as_bits(&samples)));
    }

    #[test]
    fn arbitrary_bytes_decode_or_are_refused_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(decoder) = Decoder::new(&bytes) {
            // The count may be huge; the decoder stops at the first broken sample.
            let mut seen = 0u64;
            for sample in decoder {
                seen += 1;
                if sample.is_err() { break; }
                prop_assert!(seen <= bytes.len() as u64 * 8);
            }
        }
    }
}
