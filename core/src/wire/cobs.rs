//! Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999), in place and without panics.
//!
//! The encoder follows the paper's reference code: a run of 254 non-zero bytes is closed by a `0xFF`
//! code and a new block starts, so input that ends exactly after such a run gets a final `0x01` code.
//! The decoder accepts that form and the shorter one without the final `0x01` (Wikipedia's), which
//! decode to the same bytes.

/// COBS-encoded length of `len` raw bytes at most, without the delimiter: `len + len / 254 + 1`
/// (saturating at `usize::MAX`).
pub const fn max_cobs_len(len: usize) -> usize {
    len.saturating_add(len / 254).saturating_add(1)
}

/// COBS-encodes `src` into `dst` (no delimiter) and returns the encoded length, or `None` if `dst` is
/// shorter than [`max_cobs_len`]`(src.len())` (that much room is needed even when the result is
/// shorter, because the encoder works in place inside `dst`).
pub fn cobs_encode(src: &[u8], dst: &mut [u8]) -> Option<usize> {
    if dst.len() < max_cobs_len(src.len()) {
        return None;
    }
    let start = dst.len() - src.len();
    dst.get_mut(start..)?.copy_from_slice(src);
    encode_in_place(dst, start, src.len())
}

/// COBS-encodes `buf[start..start + len]` into `buf[..]` and returns the encoded length. The write
/// position never passes the read position when `start >= len / 254 + 1`; any other input returns
/// `None` rather than overwrite unread bytes, as does a range outside `buf`.
pub(crate) fn encode_in_place(buf: &mut [u8], start: usize, len: usize) -> Option<usize> {
    let mut code_at = 0;
    let mut write = 1;
    let mut code: u8 = 1;
    for read in start..start.checked_add(len)? {
        let byte = *buf.get(read)?;
        if byte == 0 {
            *buf.get_mut(code_at)? = code;
            code_at = write;
            write += 1;
            code = 1;
        } else {
            *buf.get_mut(write)? = byte;
            write += 1;
            code += 1;
            if code == 0xFF {
                *buf.get_mut(code_at)? = code;
                code_at = write;
                write += 1;
                code = 1;
            }
        }
        // The next byte to read is at `read + 1`; the next write must not land beyond it.
        if write > read + 1 {
            return None;
        }
    }
    *buf.get_mut(code_at)? = code;
    Some(write)
}

/// COBS-decodes `buf` (the bytes between two delimiters) in place and returns the decoded length, or
/// `None` if the bytes are not valid COBS: a zero byte, or a code that runs past the end.
pub fn cobs_decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let mut read = 0;
    let mut write = 0;
    while read < buf.len() {
        let code = *buf.get(read)?;
        if code == 0 {
            return None;
        }
        read += 1;
        for _ in 1..code {
            let byte = *buf.get(read)?;
            if byte == 0 {
                return None;
            }
            // `write < read` here, so this never overwrites a byte not yet read.
            *buf.get_mut(write)? = byte;
            read += 1;
            write += 1;
        }
        // A code below 0xFF stands for a zero after its run, except at the very end.
        if code != 0xFF && read < buf.len() {
            *buf.get_mut(write)? = 0;
            write += 1;
        }
    }
    Some(write)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    fn encode(raw: &[u8]) -> Vec<u8> {
        let mut dst = std::vec![0u8; max_cobs_len(raw.len())];
        let n = cobs_encode(raw, &mut dst).unwrap();
        dst.truncate(n);
        dst
    }

    fn decode(encoded: &[u8]) -> Option<Vec<u8>> {
        let mut buf = encoded.to_vec();
        let n = cobs_decode_in_place(&mut buf)?;
        buf.truncate(n);
        Some(buf)
    }

    fn with_tail(head: &[u8], tail: &[u8]) -> Vec<u8> {
        head.iter().chain(tail).copied().collect()
    }

    #[test]
    fn known_vectors() {
        let run = |from: u8, to: u8| (from..=to).collect::<Vec<u8>>();
        // (raw, encoded): the examples of the COBS article on Wikipedia, with the paper's final 0x01
        // where a 254-byte run ends the input.
        let cases: Vec<(Vec<u8>, Vec<u8>)> = std::vec![
            (std::vec![], std::vec![0x01]),
            (std::vec![0x00], std::vec![0x01, 0x01]),
            (std::vec![0x00, 0x00], std::vec![0x01, 0x01, 0x01]),
            (
                std::vec![0x00, 0x11, 0x00],
                std::vec![0x01, 0x02, 0x11, 0x01]
            ),
            (
                std::vec![0x11, 0x22, 0x00, 0x33],
                std::vec![0x03, 0x11, 0x22, 0x02, 0x33]
            ),
            (
                std::vec![0x11, 0x22, 0x33, 0x44],
                std::vec![0x05, 0x11, 0x22, 0x33, 0x44]
            ),
            (
                std::vec![0x11, 0x00, 0x00, 0x00],
                std::vec![0x02, 0x11, 0x01, 0x01, 0x01]
            ),
            (
                run(1, 254),
                with_tail(&with_tail(&[0xFF], &run(1, 254)), &[0x01])
            ),
            (
                with_tail(&[0x00], &run(1, 254)),
                with_tail(&with_tail(&[0x01, 0xFF], &run(1, 254)), &[0x01])
            ),
            (
                run(1, 255),
                with_tail(&with_tail(&[0xFF], &run(1, 254)), &[0x02, 0xFF])
            ),
            (
                with_tail(&run(2, 255), &[0x00]),
                with_tail(&with_tail(&[0xFF], &run(2, 255)), &[0x01, 0x01])
            ),
            (
                with_tail(&run(3, 255), &[0x00, 0x01]),
                with_tail(&with_tail(&[0xFE], &run(3, 255)), &[0x02, 0x01])
            ),
        ];
        for (raw, encoded) in cases {
            assert_eq!(encode(&raw), encoded, "encoding {raw:02x?}");
            assert_eq!(decode(&encoded), Some(raw));
        }
        // Wikipedia's shorter form of a final 254-byte run decodes the same.
        assert_eq!(decode(&with_tail(&[0xFF], &run(1, 254))), Some(run(1, 254)));
    }

    #[test]
    fn edge_cases_round_trip_without_zeros() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for n in [0, 1, 2, 252, 253, 254, 255, 256, 507, 508, 509, 1024] {
            cases.push(std::iter::repeat_n(0xAB, n).collect());
            cases.push(std::iter::repeat_n(0x00, n).collect());
            cases.push((0..n).map(|i| (i % 256) as u8).collect());
            cases.push((0..n).map(|i| if i % 254 == 253 { 0 } else { 1 }).collect());
        }
        for raw in cases {
            let encoded = encode(&raw);
            assert!(encoded.len() <= max_cobs_len(raw.len()));
            assert!(!encoded.contains(&0), "encoded data contains a zero");
            assert_eq!(decode(&encoded), Some(raw));
        }
    }

    #[test]
    fn invalid_input_is_rejected() {
        assert_eq!(decode(&[0x03, 0x11]), None, "code runs past the end");
        assert_eq!(decode(&[0x02, 0x00]), None, "zero inside a run");
        assert_eq!(decode(&[0x00]), None, "zero code");
        assert_eq!(decode(&[0x01, 0x00, 0x01]), None, "zero code later");
        assert_eq!(decode(&[]), Some(Vec::new()));
    }

    #[test]
    fn encoder_refuses_too_little_room() {
        let raw = [1u8; 300];
        let mut dst = [0u8; 301];
        assert_eq!(cobs_encode(&raw, &mut dst), None);
        let mut buf = [1u8; 300];
        // Raw bytes at offset 1 of a buffer with no room for the extra code byte of the 254-run.
        assert_eq!(encode_in_place(&mut buf, 1, 299), None);
        assert_eq!(
            encode_in_place(&mut buf, 290, 20),
            None,
            "range past the end"
        );
        assert_eq!(encode_in_place(&mut buf, usize::MAX, 2), None);
    }
}
