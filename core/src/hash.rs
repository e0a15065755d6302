//! FNV-1a, the 32- and 64-bit variants: the one hash every part of rackwatch uses where it needs a
//! short, stable fingerprint of some bytes (the wire schema hash, a board's boot id, the seed of the
//! host's reconnection jitter).
//!
//! Invariants: `const fn`, so a hash can be a compile-time constant (the schema hash is); the result
//! is the published FNV-1a value (reference vectors in the tests) on every target; no allocation.
//! Not cryptographic: collisions are easy to make on purpose.

/// FNV-1a 64-bit offset basis.
const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
/// FNV-1a 64-bit prime, 2⁴⁰ + 2⁸ + 0xb3.
const PRIME_64: u64 = 0x0000_0100_0000_01b3;
/// FNV-1a 32-bit offset basis.
const OFFSET_32: u32 = 0x811c_9dc5;
/// FNV-1a 32-bit prime, 2²⁴ + 2⁸ + 0x93.
const PRIME_32: u32 = 0x0100_0193;

/// FNV-1a, 64-bit: offset basis `0xcbf29ce484222325`, prime `0x100000001b3`.
pub const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash = OFFSET_64;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64; // In bounds: `i < bytes.len()`; const fn cannot use `get` in a loop.
        hash = hash.wrapping_mul(PRIME_64);
        i += 1;
    }
    hash
}

/// FNV-1a, 32-bit: offset basis `0x811c9dc5`, prime `0x01000193`.
pub const fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut hash = OFFSET_32;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u32; // In bounds: `i < bytes.len()`.
        hash = hash.wrapping_mul(PRIME_32);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors from the FNV reference test suite (Noll's `test_fnv.c`).
    #[test]
    fn matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn usable_in_a_const() {
        const H: u32 = fnv1a32(b"rackwatch");
        assert_eq!(H, fnv1a32(b"rackwatch"));
    }
}
