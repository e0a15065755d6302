//! Which mounts are real: the file systems a disk-full alert is about.
//!
//! The rule follows node_exporter's defaults (its `fs-types-exclude` and `mount-points-exclude`),
//! with two choices of our own, both what `findmnt --real` also does:
//! - `tmpfs` and `ramfs` are skipped: they are memory, watched as `memory_used`, and a machine has
//!   many of them (`/run`, `/dev/shm`, per-user runtime dirs);
//! - `overlay` is skipped except at `/`: in a container the root is an overlay, and it is the disk
//!   the programs there fill; elsewhere an overlay is a container's, counted on its backing disk.
//!
//! Invariants: the list is sorted by mount point and names each mount point once (the last mount on
//! a point is the visible one) and each file system once, so node and metric ids derived from it are the same on every start
//! with the same mounts; reading never fails: an unreadable mount table is an empty list.

use std::path::PathBuf;

/// File system types that hold no user data on a disk of their own.
const PSEUDO_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "erofs",
    "fuse.gvfsd-fuse",
    "fuse.lxcfs",
    "fuse.portal",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Mount points (and everything below them) that belong to the kernel or to container runtimes.
const PSEUDO_PLACES: &[&str] = &["/dev", "/proc", "/sys", "/run/credentials"];

/// Mount points strictly below these are container layers.
const CONTAINER_PLACES: &[&str] = &["/var/lib/docker", "/var/lib/containers/storage"];

/// One line of `/proc/self/mounts`: mount point and type (the kernel escapes spaces as `\040`).
fn parse_line(line: &str) -> Option<(PathBuf, &str)> {
    let mut fields = line.split_whitespace();
    let _device = fields.next()?;
    let place = fields.next()?;
    let kind = fields.next()?;
    Some((PathBuf::from(unescape(place)), kind))
}

/// The kernel's octal escapes (`\040` space, `\011` tab, `\012` newline, `\134` backslash).
fn unescape(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|b| (b'0'..=b'7').contains(b)))
            .map(|d| d.iter().fold(0u32, |n, b| n * 8 + u32::from(b - b'0')));
        match octal.and_then(|n| u8::try_from(n).ok()) {
            Some(b) => {
                out.push(b);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a mount of `kind` at `place` is one whose fullness matters.
pub fn is_real(place: &std::path::Path, kind: &str) -> bool {
    if kind == "overlay" && place == std::path::Path::new("/") {
        return true;
    }
    if PSEUDO_TYPES.contains(&kind) {
        return false;
    }
    let under = |root: &str| place.starts_with(root);
    let strictly_under =
        |root: &str| place.starts_with(root) && place != std::path::Path::new(root);
    !PSEUDO_PLACES.iter().any(|p| under(p)) && !CONTAINER_PLACES.iter().any(|p| strictly_under(p))
}

/// The real mounts in a mount table's text, sorted, each once.
pub fn real_mounts(table: &str) -> Vec<PathBuf> {
    let mut last_kind: std::collections::BTreeMap<PathBuf, String> = Default::default();
    for (place, kind) in table.lines().filter_map(parse_line) {
        last_kind.insert(place, kind.to_string());
    }
    last_kind
        .into_iter()
        .filter(|(place, kind)| is_real(place, kind))
        .map(|(place, _)| place)
        .collect()
}

/// This machine's real mounts now. A file mounted over a file (a container's `/etc/hosts`) is not
/// a disk of its own: only directories count. A file system mounted at several places (bind mounts,
/// a service's private `/tmp`) is watched once, at its shortest mount point: the figures of every
/// place would be the same.
pub fn discover() -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let mut mounts = real_mounts(&std::fs::read_to_string("/proc/self/mounts").unwrap_or_default());
    mounts.sort_by_key(|m| m.as_os_str().len());
    let mut devices = std::collections::BTreeSet::new();
    mounts.retain(|m| {
        std::fs::metadata(m).is_ok_and(|meta| meta.is_dir() && devices.insert(meta.dev()))
    });
    mounts.sort();
    mounts
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw 0 0
tmpfs /dev/shm tmpfs rw 0 0
/dev/vda / ext4 rw,relatime 0 0
/dev/vdb1 /srv/my\\040data xfs rw 0 0
tmpfs /run tmpfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
/dev/vdc /var/lib/docker ext4 rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
/dev/vdd /var/lib/docker/volumes/x ext4 rw 0 0
nfs.example:/export /home nfs4 rw 0 0
/dev/vde /home ext4 rw 0 0
";

    #[test]
    fn pseudo_file_systems_and_container_layers_are_skipped() {
        let mounts = real_mounts(TABLE);
        let names: Vec<_> = mounts.iter().map(|p| p.to_string_lossy()).collect();
        assert_eq!(names, ["/", "/home", "/srv/my data", "/var/lib/docker"]);
    }

    #[test]
    fn a_containers_overlay_root_is_its_disk() {
        assert!(is_real(std::path::Path::new("/"), "overlay"));
        assert!(!is_real(std::path::Path::new("/merged"), "overlay"));
    }

    #[test]
    fn a_garbled_table_gives_what_it_can() {
        assert!(
            real_mounts("garbage\n\n\\\\\\ \n/dev/x /data ext4").contains(&PathBuf::from("/data"))
        );
        assert_eq!(unescape("a\\0b\\999\\"), "a\\0b\\999\\");
    }
}
