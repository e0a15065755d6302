//! Arbitrary bytes, split into chunks the input chooses, through the streaming frame decoder.
//! Properties: no panic; chunking never changes the results; every frame that decodes re-encodes to
//! bytes that decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rackwatch_core::wire::{Decoder, Frame, MAX_ENCODED_LEN};

fn describe(results: &[Result<Frame, rackwatch_core::wire::DecodeError>]) -> Vec<String> {
    results.iter().map(|r| format!("{r:?}")).collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else { return };
    let whole: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(bytes).collect();

    let mut decoder = Decoder::<MAX_ENCODED_LEN>::new();
    let step = usize::from(split % 64) + 1;
    let chunked: Vec<_> = bytes.chunks(step).flat_map(|chunk| decoder.feed(chunk).collect::<Vec<_>>()).collect();
    assert_eq!(describe(&whole), describe(&chunked));

    for frame in whole.into_iter().flatten() {
        let mut line = [0u8; MAX_ENCODED_LEN];
        let n = frame.encode(&mut line).expect("a decoded frame fits the maximum");
        let again: Vec<_> = Decoder::<MAX_ENCODED_LEN>::new().feed(&line[..n]).collect();
        assert_eq!(describe(&again), describe(&[Ok(frame)]));
    }
});
