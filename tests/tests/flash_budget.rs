//! The `hw` image (the real board's) fits its flash budget: at most 64 KiB of vector table, code,
//! read-only data and initialised data (issues 16 and 17; BENCHMARKS.md's firmware section, whose
//! figures come from `firmware/boards/measure`). The image is built with the documented command
//! into the boards' own target directory, the one `.ci/run`'s later "board images" step builds
//! into: CI builds `hw` once, here, and that step finds it up to date.

use rackwatch_tests::elf;
use rackwatch_tests::qemu::{self, TARGET};
use rackwatch_tests::require;

/// The budget, in bytes.
const FLASH_BUDGET: u64 = 64 * 1024;
/// The sections that occupy flash, as `firmware/boards/measure` counts them.
const FLASH_SECTIONS: [&str; 4] = [".vector_table", ".text", ".rodata", ".data"];

#[test]
fn the_hw_image_fits_in_64_kib_of_flash() {
    if let Err(missing) = require::rust_target(TARGET, &qemu::repo_root()) {
        missing.skip();
        return;
    }
    let path = qemu::board_elf("hw");
    let bytes = std::fs::read(&path).expect("the hw image was just built");
    let sections = elf::section_sizes(&bytes).expect("the hw image is an ELF file");
    let by_section: Vec<(&str, u64)> = FLASH_SECTIONS
        .iter()
        .map(|name| (*name, sections.get(*name).copied().unwrap_or(0)))
        .collect();
    let flash: u64 = by_section.iter().map(|(_, size)| size).sum();
    assert!(
        sections.contains_key(".text") && flash > 0,
        "no .text in {}",
        path.display()
    );
    assert!(
        flash <= FLASH_BUDGET,
        "the hw image takes {flash} B of flash, over its budget of {FLASH_BUDGET} B; by section: \
         {by_section:?} (find where the bytes went with `llvm-nm --print-size --size-sort` on {})",
        path.display()
    );
}
