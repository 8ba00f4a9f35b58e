//! Whether a file is a crash dump at all, from its first bytes (magic, not
//! name), and which split dump it is a part of: what a walk over a crash
//! archive needs before it opens anything. A probe reads a few hundred
//! bytes at most (a kdump header and sub-header), so a directory of
//! thousands of other files costs one small read each.

use std::fs::File;
use std::path::Path;

pub use super::kdump::probe::{SplitIdentity, SplitPart};
use super::kdump::{self, header::DISKDUMP_SIGNATURE};
use super::{DumpError, kdump::FLAT_SIGNATURE};

/// ELF `e_type` of a core file (vmcore, /proc/kcore); a vmlinux is ET_EXEC.
const ET_CORE: u16 = 4;

/// The dump formats [`probe`] recognizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpKind {
    /// An ELF core file (ET_CORE).
    Elf,
    /// kdump-compressed ("KDUMP   ").
    Kdump,
    /// makedumpfile's flattened stream ("makedumpfile").
    Flattened,
    /// The old diskdump facility ("DISKDUMP"): recognized, not supported.
    Diskdump,
}

/// What the first bytes of a file say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub kind: DumpKind,
    /// Set when the file is one part of a split dump.
    pub split: Option<SplitPart>,
}

/// The kind of dump `head` (a file's first bytes) starts like, if any. An
/// ELF file is a dump only when it is a core file; one too short to say is
/// taken as one, so that opening it reports the truncation.
pub fn kind_of(head: &[u8]) -> Option<DumpKind> {
    if head.starts_with(b"\x7fELF") {
        let e_type = match (head.get(5), head.get(16..18)) {
            (Some(2), Some(t)) => u16::from_be_bytes([t[0], t[1]]),
            (_, Some(t)) => u16::from_le_bytes([t[0], t[1]]),
            (_, None) => return Some(DumpKind::Elf),
        };
        return (e_type == ET_CORE).then_some(DumpKind::Elf);
    }
    if head.starts_with(kdump::KDUMP_SIGNATURE) {
        return Some(DumpKind::Kdump);
    }
    if head.starts_with(DISKDUMP_SIGNATURE) {
        return Some(DumpKind::Diskdump);
    }
    // The signature field is 16 bytes, zero-padded: a text file that
    // starts with the word "makedumpfile" (a log of it) is no dump.
    if head.starts_with(FLAT_SIGNATURE) {
        let padded = head.get(12..16).is_none_or(|pad| pad == [0; 4]);
        return padded.then_some(DumpKind::Flattened);
    }
    None
}

/// Probes the file at `path`: `None` when it is not a dump. The caller
/// makes sure `path` is a regular file: opening a FIFO would block.
pub fn probe(path: &Path) -> Result<Option<Probe>, DumpError> {
    let io = |source| DumpError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let mut head = [0u8; 24];
    let n = kdump::probe::read_up_to(&file, 0, &mut head).map_err(io)?;
    let Some(kind) = kind_of(&head[..n]) else {
        return Ok(None);
    };
    let split = match kind {
        DumpKind::Kdump | DumpKind::Flattened => kdump::probe::split_part(&file).map_err(io)?,
        DumpKind::Elf | DumpKind::Diskdump => None,
    };
    Ok(Some(Probe { kind, split }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_magic_bytes() {
        let mut core = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0".to_vec();
        let mut exec = core.clone();
        core.extend([4, 0]);
        exec.extend([2, 0]);
        assert_eq!(kind_of(&core), Some(DumpKind::Elf));
        assert_eq!(kind_of(&exec), None, "a vmlinux is no dump");
        assert_eq!(
            kind_of(b"\x7fELF"),
            Some(DumpKind::Elf),
            "too short to tell"
        );
        assert_eq!(kind_of(b"KDUMP   \x06\0\0\0"), Some(DumpKind::Kdump));
        assert_eq!(kind_of(b"DISKDUMP"), Some(DumpKind::Diskdump));
        assert_eq!(
            kind_of(b"makedumpfile\0\0\0\0\0\0\0\0\0\0\0\x01"),
            Some(DumpKind::Flattened)
        );
        assert_eq!(kind_of(b"makedumpfile: 1.2 s elapsed\n"), None);
        assert_eq!(kind_of(b"vmcore"), None);
        assert_eq!(kind_of(b""), None);
    }
}
