//! Arbitrary header and body bytes with a valid CRC appended, so that every input reaches the body
//! decoders (random line bytes almost never pass the CRC). Properties: no panic; a frame that parses
//! re-encodes to bytes that parse to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch_core::wire::{Frame, Packet, CRC, MAX_FRAME_LEN};

fuzz_target!(|data: &[u8]| {
    if data.len() + 4 > MAX_FRAME_LEN {
        return;
    }
    let mut raw = data.to_vec();
    if let Some(version) = raw.first_mut() {
        *version = 1;
    }
    raw.extend_from_slice(&CRC.checksum(&raw).to_le_bytes());
    let Ok(packet) = Packet::new_checked(&raw[..]) else { return };
    if let Ok(frame) = Frame::parse(&packet) {
        let mut again = [0u8; MAX_FRAME_LEN];
        let n = frame.encode_raw(&mut again).expect("a parsed frame fits");
        // postcard is canonical for these types except for non-minimal varints, which it accepts:
        // compare by parsing the re-encoding instead of the bytes.
        let reparsed = Packet::new_checked(&again[..n]).and_then(|p| Frame::parse(&p));
        assert_eq!(format!("{reparsed:?}"), format!("{:?}", Ok::<_, ()>(frame)));
    }
});
