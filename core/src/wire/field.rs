//! Where each header field sits in a raw frame (`docs/wire.md` §3), as smoltcp's `field` modules
//! do: the parser ([`Packet`](super::Packet)), the writer, the schema string's header description
//! and the document's table all follow these constants, so the layout is written down once.
//!
//! Invariants, checked at compile time below: the fields are in order, contiguous, start at offset
//! 0 and end at [`HEADER_LEN`](super::HEADER_LEN); every multi-byte field is little-endian.

/// A multi-byte field: its offsets in the raw frame.
pub type Field = core::ops::Range<usize>;

/// Format version, one byte.
pub const VERSION: usize = 0;
/// Flags, one byte: bits 0 to 3 incompatible, 4 to 7 compatible.
pub const FLAGS: usize = 1;
/// Node id, u16 LE.
pub const NODE_ID: Field = 2..4;
/// Boot id, u32 LE.
pub const BOOT_ID: Field = 4..8;
/// Sequence number, u16 LE.
pub const SEQ: Field = 8..10;
/// Kind, one byte: the header's last.
pub const KIND: usize = 10;

/// Every field by its name in `docs/wire.md` and in `SCHEMA_STRING`, in order, single bytes as
/// one-byte ranges: what the schema and document checks walk.
pub const ALL: [(&str, Field); 6] = [
    ("version", VERSION..VERSION + 1),
    ("flags", FLAGS..FLAGS + 1),
    ("node_id", NODE_ID),
    ("boot_id", BOOT_ID),
    ("seq", SEQ),
    ("kind", KIND..KIND + 1),
];

// The fields tile the header exactly, and each has its type's width.
const _: () = {
    let mut end = 0;
    let mut i = 0;
    while i < ALL.len() {
        assert!(ALL[i].1.start == end && ALL[i].1.end > ALL[i].1.start);
        end = ALL[i].1.end;
        i += 1;
    }
    assert!(end == super::HEADER_LEN && KIND + 1 == super::HEADER_LEN);
    assert!(NODE_ID.end - NODE_ID.start == 2 && SEQ.end - SEQ.start == 2);
    assert!(BOOT_ID.end - BOOT_ID.start == 4);
};
