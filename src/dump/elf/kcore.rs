//! `/proc/kcore`: a running kernel's memory as an ELF core
//! (fs/proc/kcore.c). Unlike a vmcore, its PT_LOADs are *virtual* ranges:
//! one per direct-map RAM range (`KCORE_RAM`, `p_paddr` = `__pa(p_vaddr)`),
//! the kernel text (`KCORE_TEXT`, `p_paddr` = `__pa_symbol(p_vaddr)`), and
//! vmalloc, modules and vmemmap (`p_paddr` all ones: no physical address).
//! Since 4.19 it carries the VMCOREINFO note. Physical memory is read through
//! the direct-map segments only: the kernel text is RAM the direct map also
//! covers, and the rest has no physical address.
//!
//! The file's size (`st_size`, ~128 TiB on x86-64) describes the virtual
//! layout, not bytes to map: the live file is never mapped and its size never
//! trusted. It is read with positioned reads ([`PreadFile`]), each bounded by
//! a program header.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use goblin::elf::program_header::{self, ProgramHeader};

use super::super::kdump::ByteSource;
use super::super::kdump::source::OutOfRange;
use super::super::notes::DumpNotes;
use super::super::{
    CrashDump, DumpError, DumpFormat, PhysAddr, PhysRange, PhysicalMemory, ReadError,
};
use super::layout::{self, LoadSegment, Piece};

/// Where the running kernel's memory is.
pub const PROC_KCORE: &str = "/proc/kcore";
/// Where the kernel says which lockdown mode is on (`none integrity
/// [confidentiality]`).
const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

/// `__START_KERNEL_map`: the kernel text and modules are mapped from here
/// up. (The dump layer sits below `arch::x86_64`, which has the same constant.)
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
/// The lowest direct-map base x86-64 can have (5-level paging's
/// `__PAGE_OFFSET_BASE_L5`, before KASLR moves it up): a direct-map segment's
/// `p_vaddr - p_paddr` is at least this.
const MIN_DIRECT_MAP_BASE: u64 = 0xff11_0000_0000_0000;

/// True when the program headers have kcore's shape: a PT_LOAD with an
/// all-ones `p_paddr` (memory without a physical address). No vmcore has
/// one: its `p_paddr + p_memsz` would overflow.
pub(super) fn looks_like_kcore(phdrs: &[ProgramHeader]) -> bool {
    phdrs
        .iter()
        .any(|ph| ph.p_type == program_header::PT_LOAD && ph.p_paddr == u64::MAX)
}

/// A file read with positioned reads: `/proc/kcore`, whose size is not a
/// bound and which must not be mapped. [`ByteSource::len`] is `u64::MAX`
/// ("unknown"): every read is bounded by a program header instead.
struct PreadFile {
    file: File,
    path: PathBuf,
}

impl ByteSource for PreadFile {
    fn len(&self) -> u64 {
        u64::MAX
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), OutOfRange> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|_| OutOfRange {
                offset,
                len: buf.len() as u64,
                file_len: u64::MAX,
            })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

/// Opens `path` as a kcore with positioned reads (never mapped, its size
/// never read), whatever its name: `/proc/kcore`, or a file of the same shape.
pub fn open_kcore(path: &Path) -> Result<CrashDump, DumpError> {
    open_kcore_with(path, Path::new(LOCKDOWN), |p| File::open(p))
}

/// [`open_kcore`] with the lockdown file and the opener given, so that a
/// test can make the open fail as it fails on a locked-down machine.
pub fn open_kcore_with(
    path: &Path,
    lockdown: &Path,
    open: impl FnOnce(&Path) -> io::Result<File>,
) -> Result<CrashDump, DumpError> {
    let file = open(path).map_err(|source| open_error(path, lockdown, source))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(DumpError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    let src = PreadFile {
        file,
        path: path.to_path_buf(),
    };
    super::ElfCore::open_source(Box::new(src), DumpFormat::Kcore, DumpNotes::default())
}

/// Why the kcore could not be opened, in the words its reader needs: the
/// kernel refuses `/proc/kcore` to a process without CAP_SYS_RAWIO, and to
/// everyone under lockdown=confidentiality (security_locked_down(LOCKDOWN_KCORE)).
fn open_error(path: &Path, lockdown: &Path, source: io::Error) -> DumpError {
    // EPERM (lockdown, no CAP_SYS_RAWIO) and EACCES (file mode) alike.
    if source.kind() != io::ErrorKind::PermissionDenied {
        return DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
    }
    let mode = std::fs::read_to_string(lockdown).unwrap_or_default();
    let reason = if mode.contains("[confidentiality]") {
        "kernel lockdown (confidentiality) forbids reading /proc/kcore".to_string()
    } else {
        "permission denied: reading the running kernel's memory needs root (CAP_SYS_RAWIO)"
            .to_string()
    };
    DumpError::Denied {
        path: path.to_path_buf(),
        reason,
        source,
    }
}

/// Reads a kcore's notes and direct-map segments. `phoff` is the program
/// header table's file offset (for messages).
pub(super) fn open(
    src: Box<dyn ByteSource>,
    phdrs: &[ProgramHeader],
    phoff: u64,
    mut notes: DumpNotes,
) -> Result<CrashDump, DumpError> {
    let phentsize = goblin::elf64::program_header::SIZEOF_PHDR as u64;
    let malformed = |i: usize, reason: String| DumpError::Malformed {
        path: src.path().to_path_buf(),
        offset: phoff.saturating_add(i as u64 * phentsize),
        reason,
    };
    for ph in phdrs
        .iter()
        .filter(|ph| ph.p_type == program_header::PT_NOTE)
    {
        super::read_notes(&*src, ph, &mut notes);
    }
    // kcore's one NT_PRSTATUS is a zeroed placeholder, not a CPU's state.
    notes.cpus.clear();
    let base = direct_map_base(phdrs).ok_or_else(|| DumpError::Unsupported {
        path: src.path().to_path_buf(),
        reason: "kcore without a direct-map PT_LOAD (p_vaddr = page_offset_base + p_paddr): physical memory cannot be found (kernels before 4.x leave p_paddr 0)".into(),
    })?;
    let mut segments = Vec::new();
    for (i, ph) in phdrs.iter().enumerate() {
        if ph.p_type != program_header::PT_LOAD || !is_direct_map(ph, base) {
            continue;
        }
        if ph.p_filesz > ph.p_memsz {
            return Err(malformed(
                i,
                format!(
                    "PT_LOAD #{i}: p_filesz {:#x} exceeds p_memsz {:#x}",
                    ph.p_filesz, ph.p_memsz
                ),
            ));
        }
        if ph.p_paddr.checked_add(ph.p_memsz).is_none()
            || ph.p_offset.checked_add(ph.p_filesz).is_none()
        {
            return Err(malformed(
                i,
                format!("PT_LOAD #{i}: physical or file range overflows"),
            ));
        }
        if ph.p_memsz > 0 {
            segments.push(LoadSegment::from_header(i, ph));
        }
    }
    let layout = layout::resolve(&segments, &*src, &mut notes.warnings);
    let path = src.path().to_path_buf();
    let memory = KcoreMemory {
        src,
        pieces: layout.pieces,
        ranges: layout.ranges,
    };
    Ok(CrashDump::new(
        path,
        DumpFormat::Kcore,
        None,
        Box::new(memory),
        notes,
    ))
}

/// `p_vaddr - p_paddr` of the direct map: the smallest such difference in
/// the kernel half among segments with a physical address below
/// `__START_KERNEL_map` (the kernel text and modules are mapped from there
/// up; the direct map never is).
fn direct_map_base(phdrs: &[ProgramHeader]) -> Option<u64> {
    phdrs
        .iter()
        .filter(|ph| {
            ph.p_type == program_header::PT_LOAD
                && ph.p_paddr != u64::MAX
                && ph.p_vaddr < START_KERNEL_MAP
        })
        .map(|ph| ph.p_vaddr.wrapping_sub(ph.p_paddr))
        .filter(|&d| d >= MIN_DIRECT_MAP_BASE)
        .min()
}

fn is_direct_map(ph: &ProgramHeader, base: u64) -> bool {
    ph.p_paddr != u64::MAX
        && ph.p_vaddr < START_KERNEL_MAP
        && ph.p_vaddr.wrapping_sub(ph.p_paddr) == base
}

/// Physical memory read through a kcore's direct-map segments.
struct KcoreMemory {
    src: Box<dyn ByteSource>,
    /// Sorted by `paddr`, non-overlapping (the ELF overlap rule).
    pieces: Vec<Piece>,
    ranges: Vec<PhysRange>,
}

impl PhysicalMemory for KcoreMemory {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        // The file's size is bogus, so a failed read says what failed, not
        // that the file is short.
        layout::read_pieces(&self.pieces, paddr.get(), buf, |cur, off, out| {
            let n = out.len();
            off.and_then(|off| self.src.read_at(off, out).ok())
                .ok_or_else(|| ReadError::Corrupt {
                    paddr: PhysAddr::new(cur),
                    reason: format!(
                        "{}: reading {n:#x} bytes at offset {:#x} failed",
                        self.src.path().display(),
                        off.unwrap_or(u64::MAX)
                    ),
                })
        })
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.ranges.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vaddr: u64, paddr: u64, size: u64) -> ProgramHeader {
        ProgramHeader {
            p_type: program_header::PT_LOAD,
            p_vaddr: vaddr,
            p_paddr: paddr,
            p_filesz: size,
            p_memsz: size,
            ..ProgramHeader::default()
        }
    }

    #[test]
    fn the_direct_map_is_the_lowest_kernel_half_offset() {
        let pob = 0xffff_8880_0000_0000;
        let phdrs = [
            load(0xffff_ffff_8100_0000, 0x0100_0000, 0x10_0000), // text
            load(pob + 0x10_0000, 0x10_0000, 0x1000_0000),       // RAM
            load(0xffff_c900_0000_0000, u64::MAX, 0x1000),       // vmalloc
            load(pob + 0x1_0000_0000, 0x1_0000_0000, 0x1000),    // RAM
        ];
        assert!(looks_like_kcore(&phdrs));
        assert_eq!(direct_map_base(&phdrs), Some(pob));
        let direct: Vec<bool> = phdrs.iter().map(|p| is_direct_map(p, pob)).collect();
        assert_eq!(direct, [false, true, false, true]);
        assert!(!looks_like_kcore(&phdrs[..2]));
    }

    #[test]
    fn a_denied_open_names_lockdown_or_root() {
        let dir = std::env::temp_dir().join(format!("pgsync-kcore-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lockdown = dir.join("lockdown");
        let kcore = Path::new("/proc/kcore");
        let denied = || io::Error::from_raw_os_error(1);
        std::fs::write(&lockdown, "none integrity [confidentiality]\n").unwrap();
        let e = open_kcore_with(kcore, &lockdown, |_| Err(denied()))
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "/proc/kcore: kernel lockdown (confidentiality) forbids reading /proc/kcore"
        );
        std::fs::write(&lockdown, "none [integrity] confidentiality\n").unwrap();
        let e = open_kcore_with(kcore, &lockdown, |_| {
            Err(io::Error::from(io::ErrorKind::PermissionDenied))
        })
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "/proc/kcore: permission denied: reading the running kernel's memory needs root (CAP_SYS_RAWIO)"
        );
        let e = open_kcore_with(kcore, &dir.join("absent"), |_| {
            Err(io::Error::from(io::ErrorKind::NotFound))
        })
        .err()
        .unwrap();
        assert!(matches!(e, DumpError::Io { .. }), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
