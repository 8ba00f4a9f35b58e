//! Physical memory of the crashed machine, as recorded in a dump file.
//!
//! Every dump format implements [`PhysicalMemory`]; nothing in this layer
//! knows about kernels, page tables or debuginfo. [`open`] detects the format
//! from the magic bytes (never from the file name) and also returns what the
//! dump says about itself: VMCOREINFO and per-CPU notes.

pub(crate) mod elf;
pub(crate) mod file;
mod hints;
pub mod kdump;
pub mod notes;
pub(crate) mod pread;
pub mod probe;
pub mod progress;
// What the analysis reads, for `extract` only (feature `write`).
#[cfg_attr(not(feature = "write"), allow(dead_code))]
pub(crate) mod recording;
pub mod sparse;
pub(crate) mod vmcoreinfo;

use std::path::{Path, PathBuf};

pub use crate::addr::PhysAddr;
pub use elf::{PROC_KCORE, open_kcore, open_kcore_with};
pub use file::DumpFile;
pub(crate) use hints::will_need_pages;
pub use notes::CpuNote;
pub use vmcoreinfo::VmcoreInfo;

/// Why a physical read failed. "Not in dump" (the dump never recorded that
/// page: filtered, excluded, beyond RAM) is distinct from a broken dump.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    #[error("physical address {paddr:#x} is not in the dump")]
    NotInDump { paddr: PhysAddr },
    #[error(
        "physical address {paddr:#x} maps to file offset {offset:#x}, past the end of the file ({file_len:#x} bytes): the dump is truncated"
    )]
    Truncated {
        paddr: PhysAddr,
        offset: u64,
        file_len: u64,
    },
    #[error("physical address {paddr:#x}: {reason}")]
    Corrupt { paddr: PhysAddr, reason: String },
}

impl ReadError {
    /// The physical address the failed read started at.
    pub fn paddr(&self) -> PhysAddr {
        match self {
            ReadError::NotInDump { paddr }
            | ReadError::Truncated { paddr, .. }
            | ReadError::Corrupt { paddr, .. } => *paddr,
        }
    }
}

/// A contiguous range of physical memory held by the dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhysRange {
    pub start: u64,
    pub end: u64,
}

/// Read access to the physical memory a dump recorded.
///
/// Implementations read exactly `buf.len()` bytes or fail; a read that spans
/// a gap fails with [`ReadError::NotInDump`] at the first missing address.
pub trait PhysicalMemory: Send + Sync {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError>;

    /// The physical ranges the dump describes (sorted, for sizing the direct
    /// map when the kernel's own `max_pfn` cannot be read).
    fn ranges(&self) -> Vec<PhysRange>;

    /// A hint that `len` bytes at `paddr` will be read soon: a dump mapped
    /// from a file asks the kernel to start reading those pages now, so that
    /// with a cold page cache many reads wait on the disk together instead
    /// of one after another. Changes no result; does nothing by default.
    fn will_need(&self, paddr: PhysAddr, len: u64) {
        let _ = (paddr, len);
    }

    /// Whether the page at `paddr` was RAM that the dump's producer left
    /// out on purpose: a kdump file's first bitmap marks it, its second
    /// (makedumpfile's `-d` filter) does not. False where a format cannot
    /// tell (ELF) or the page is simply beyond what the dump describes.
    fn left_out_by_filter(&self, paddr: u64) -> bool {
        let _ = paddr;
        false
    }
}

impl<T: PhysicalMemory + ?Sized> PhysicalMemory for &T {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(paddr, buf)
    }
    fn ranges(&self) -> Vec<PhysRange> {
        (**self).ranges()
    }
    fn will_need(&self, paddr: PhysAddr, len: u64) {
        (**self).will_need(paddr, len)
    }
    fn left_out_by_filter(&self, paddr: u64) -> bool {
        (**self).left_out_by_filter(paddr)
    }
}

/// Helpers every reader of physical memory wants.
pub trait PhysicalMemoryExt: PhysicalMemory {
    fn read_u64(&self, paddr: PhysAddr) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(paddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
impl<T: PhysicalMemory + ?Sized> PhysicalMemoryExt for T {}

/// On-disk format of a dump, as named in the JSON report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DumpFormat {
    Elf,
    /// An ELF file in makedumpfile's flattened format (`makedumpfile -E -F`).
    ElfFlattened,
    Kdump,
    KdumpFlattened,
    KdumpSplit,
    /// A running kernel's `/proc/kcore` (or a file of the same shape):
    /// virtual PT_LOADs, physical memory read through the direct map.
    Kcore,
}

impl DumpFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::Elf => "elf",
            DumpFormat::ElfFlattened => "elf-flattened",
            DumpFormat::Kdump => "kdump",
            DumpFormat::KdumpFlattened => "kdump-flattened",
            DumpFormat::KdumpSplit => "kdump-split",
            DumpFormat::Kcore => "kcore",
        }
    }
}

/// Why a dump could not be opened at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DumpError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: is a directory, not a dump file")]
    IsDirectory { path: PathBuf },
    #[error("{path}: empty file")]
    Empty { path: PathBuf },
    #[error("{path}: not a crash dump: unknown magic bytes {magic:02x?} at offset 0x0")]
    UnknownFormat { path: PathBuf, magic: Vec<u8> },
    #[error("{path}: at file offset {offset:#x}: {reason}")]
    Malformed {
        path: PathBuf,
        offset: u64,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    /// The input exists but the kernel refuses to let it be read
    /// (`/proc/kcore` without root, or under lockdown).
    #[error("{path}: {reason}")]
    Denied {
        path: PathBuf,
        reason: String,
        #[source]
        source: std::io::Error,
    },
    #[error("several dump files were given but {reason}")]
    BadSplit { reason: String },
}

/// An opened dump: its physical memory plus what it says about itself.
pub struct CrashDump {
    pub(crate) path: PathBuf,
    pub(crate) format: DumpFormat,
    /// Page compression: `None` for formats without it (ELF).
    pub(crate) compression: Option<&'static str>,
    pub(crate) vmcoreinfo: Option<VmcoreInfo>,
    /// One entry per CPU whose state the dump holds, in note order.
    pub(crate) cpus: Vec<CpuNote>,
    /// Non-fatal problems met while opening (e.g. an unreadable note).
    pub(crate) warnings: Vec<String>,
    /// makedumpfile's page filter (`-d`), from the kdump header: which
    /// kinds of pages were left out ([`kdump::dump_level_excludes`]).
    /// `None` for ELF, which does not record it.
    pub(crate) dump_level: Option<i32>,
    memory: Box<dyn PhysicalMemory>,
}

impl CrashDump {
    /// The dump's physical memory: every page read goes through it.
    pub fn memory(&self) -> &dyn PhysicalMemory {
        &*self.memory
    }

    /// The file the dump was opened from (the first part of a split dump).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container format: ELF, kdump-compressed, flattened, ...
    pub fn format(&self) -> DumpFormat {
        self.format
    }

    /// Page compression ("zlib", "lzo", "snappy", "zstd", ...): `None` for
    /// formats without it (ELF).
    pub fn compression(&self) -> Option<&'static str> {
        self.compression
    }

    /// The VMCOREINFO note, when the dump holds a readable one.
    pub fn vmcoreinfo(&self) -> Option<&VmcoreInfo> {
        self.vmcoreinfo.as_ref()
    }

    /// One entry per CPU whose state the dump holds, in note order.
    pub fn cpus(&self) -> &[CpuNote] {
        &self.cpus
    }

    /// Non-fatal problems met while opening (e.g. an unreadable note).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// makedumpfile's page filter (`-d`) from the kdump header: which kinds
    /// of pages were left out ([`kdump::dump_level_excludes`]). `None` for
    /// ELF, which does not record it.
    pub fn dump_level(&self) -> Option<i32> {
        self.dump_level
    }

    pub fn new(
        path: PathBuf,
        format: DumpFormat,
        compression: Option<&'static str>,
        memory: Box<dyn PhysicalMemory>,
        notes: notes::DumpNotes,
    ) -> CrashDump {
        CrashDump {
            path,
            format,
            compression,
            vmcoreinfo: notes.vmcoreinfo,
            cpus: notes.cpus,
            warnings: notes.warnings,
            dump_level: None,
            memory,
        }
    }

    /// The same dump, recording the kdump header's `dump_level`.
    pub fn with_dump_level(mut self, dump_level: i32) -> CrashDump {
        self.dump_level = Some(dump_level);
        self
    }
}

/// Opens one dump (or the parts of one split dump), detecting the format.
pub fn open(paths: &[PathBuf]) -> Result<CrashDump, DumpError> {
    let Some(first) = paths.first() else {
        return Err(DumpError::BadSplit {
            reason: "no file was named".into(),
        });
    };
    if paths.len() > 1 {
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let file = DumpFile::open(path)?;
            if !kdump::is_kdump(file.bytes()) && !kdump::is_flattened(file.bytes()) {
                let magic = file.bytes().get(..8).unwrap_or(file.bytes());
                return Err(DumpError::BadSplit {
                    reason: format!(
                        "{} is not a kdump-compressed file (magic {magic:02x?}); only kdump-compressed dumps (makedumpfile --split) come in several files",
                        path.display()
                    ),
                });
            }
            files.push(file);
        }
        return kdump::open_split(files);
    }
    open_one(first)
}

fn open_one(path: &Path) -> Result<CrashDump, DumpError> {
    // The running kernel's memory: never mapped, its size never trusted.
    if path == Path::new(PROC_KCORE)
        || path
            .canonicalize()
            .is_ok_and(|p| p == Path::new(PROC_KCORE))
    {
        return open_kcore(path);
    }
    match file::DumpFile::open_any(path)? {
        file::Opened::Mapped(file) => open_file(file),
        file::Opened::Unmapped { file, map_error } => open_unmapped(file, map_error),
    }
}

/// A dump the kernel would not map (a /proc/vmcore whose kernel lacks
/// `mmap_vmcore`): an ELF file is read by offset, with a warning; any
/// other format fails with the mapping's error (their readers parse
/// headers in place).
pub(crate) fn open_unmapped(
    file: pread::PreadFile,
    map_error: std::io::Error,
) -> Result<CrashDump, DumpError> {
    use kdump::ByteSource;
    let mut magic = [0u8; 4];
    if file.read_at(0, &mut magic).is_ok() && &magic == b"\x7fELF" {
        let mut notes = notes::DumpNotes::default();
        notes.warnings.push(format!(
            "{}: cannot be memory-mapped ({map_error}): read by offset instead",
            file.path().display()
        ));
        return elf::ElfCore::open_source(Box::new(file), DumpFormat::Elf, notes);
    }
    Err(DumpError::Io {
        path: file.path().to_path_buf(),
        source: map_error,
    })
}

/// Opens a dump whose bytes are already in memory, exactly as [`open`]
/// would open the same bytes from a file (format detection included).
/// `name` only names the input in messages.
pub fn open_bytes(name: &Path, bytes: Vec<u8>) -> Result<CrashDump, DumpError> {
    open_file(DumpFile::from_bytes(name, bytes)?)
}

/// Detects the format of one opened file and reads it.
pub(crate) fn open_file(file: DumpFile) -> Result<CrashDump, DumpError> {
    let path = file.path().to_path_buf();
    let magic = file.bytes().get(..8).unwrap_or(file.bytes());
    if magic.starts_with(b"\x7fELF") {
        return elf::ElfCore::open(file);
    }
    if kdump::is_flattened(file.bytes()) {
        // The stream says nothing of what it describes: index it, then
        // look at the logical file's own magic.
        let mut notes = notes::DumpNotes::default();
        let src = kdump::FlattenedSource::open(file, &mut notes.warnings)?;
        let mut inner = [0u8; 4];
        let _ = kdump::ByteSource::read_at(&src, 0, &mut inner);
        if &inner == b"\x7fELF" {
            return elf::ElfCore::open_source(Box::new(src), DumpFormat::ElfFlattened, notes);
        }
        return kdump::open_flattened(src, notes);
    }
    if kdump::is_kdump(file.bytes()) {
        return kdump::open(file);
    }
    Err(DumpError::UnknownFormat {
        path,
        magic: magic.to_vec(),
    })
}
