//! The section sizes of a 32-bit little-endian ELF file (the firmware images), read from its
//! section header table: what `llvm-size -A` prints, without needing LLVM's tools.
//!
//! Invariants: a file that is not such an ELF, or whose tables point outside it, is an error naming
//! what was wrong, never a panic.

use std::collections::BTreeMap;

/// Section name to size in bytes.
pub type Sections = BTreeMap<String, u64>;

/// The sections of the ELF image `bytes`.
pub fn section_sizes(bytes: &[u8]) -> Result<Sections, String> {
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 1, 1][..]) {
        return Err("not a 32-bit little-endian ELF file".into());
    }
    let table = field(bytes, 0x20, 4)? as usize;
    let entry_len = field(bytes, 0x2e, 2)? as usize;
    let count = field(bytes, 0x30, 2)? as usize;
    let names_index = field(bytes, 0x32, 2)? as usize;
    let header = |i: usize| table + i * entry_len;
    let names_at = field(bytes, header(names_index) + 0x10, 4)? as usize;
    let mut sections = Sections::new();
    for i in 0..count {
        let name_at = names_at + field(bytes, header(i), 4)? as usize;
        let name = bytes
            .get(name_at..)
            .and_then(|rest| rest.split(|&b| b == 0).next())
            .ok_or_else(|| format!("section {i}'s name lies outside the file"))?;
        let size = field(bytes, header(i) + 0x14, 4)?;
        sections.insert(String::from_utf8_lossy(name).into_owned(), size);
    }
    Ok(sections)
}

/// The little-endian unsigned integer of `len` bytes at `at`.
fn field(bytes: &[u8], at: usize, len: usize) -> Result<u64, String> {
    let raw = bytes
        .get(at..at + len)
        .ok_or_else(|| format!("the ELF headers point past the file's end (offset {at})"))?;
    Ok(raw
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}
