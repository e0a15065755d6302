//! Arbitrary bytes as a PackedReadings body (`docs/wire.md` §7). Properties: no panic; a body that
//! unpacks, packed again with its table's codings, unpacks to the same base, metric ids, offsets and
//! value bits, and packing that once more gives the same bytes (the encoder's form is a fixed point).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch_core::wire::{pack_readings, unpack_readings, PackedReadings};

fn bits(packed: &PackedReadings) -> (u64, Vec<(u16, u32, u32)>) {
    let readings = &packed.readings;
    let list = readings
        .readings
        .iter()
        .map(|r| (r.metric, r.offset_ms, r.value.to_bits()))
        .collect();
    (readings.base_ms, list)
}

fuzz_target!(|data: &[u8]| {
    let Ok((packed, _trailing)) = unpack_readings(data) else { return };
    // Room for any batch: 64 readings of at most 150 bits each, after a full table.
    let mut first = vec![0u8; 4096];
    let len = pack_readings(&packed.readings, |m| packed.coding(m), &mut first)
        .expect("a batch that unpacked packs again");
    let (again, trailing) = unpack_readings(&first[..len]).expect("packed bytes unpack");
    assert_eq!(trailing, 0);
    assert_eq!(bits(&again), bits(&packed));
    let mut second = vec![0u8; 4096];
    let len2 = pack_readings(&again.readings, |m| again.coding(m), &mut second)
        .expect("and pack once more");
    assert_eq!(&second[..len2], &first[..len]);
});
