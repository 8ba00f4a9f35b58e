//! makedumpfile's kdump-compressed format ("KDUMP   ", diskdump_mod.h):
//! what kdump-tools, the kdump service and QEMU's `dump-guest-memory
//! -z/-l/-s` write. Also its flattened form (`makedumpfile -F`, QEMU 7.2)
//! and split dumps (`makedumpfile --split`, several files).
//!
//! Nothing is decompressed up front: on open the headers are checked against
//! the file length, the dumpable-page bitmap gets a rank table (8 bytes per
//! 4096 pfns) and the notes are parsed; each page is then found through its
//! descriptor and decoded on demand, with a small LRU cache of decoded pages.
//! Memory is independent of the dump's size apart from that table (and, for
//! a flattened file, the record index).

mod bitmap;
mod cache;
pub mod flattened;
#[doc(hidden)] // public for the kdump tests and fuzz bodies that build headers
pub mod header;
pub mod lzo;
mod open;
pub(crate) mod probe;
mod reader;
pub(crate) mod source;
mod sub_header;

use std::path::PathBuf;

pub use cache::{CACHE_PAGES, PAGE_SIZE};
pub use flattened::{FLAT_SIGNATURE, FlattenedSource};
pub use header::KDUMP_SIGNATURE;
pub use reader::KdumpReader;
pub(crate) use source::ByteSource;

use super::file::Access;
use super::notes::DumpNotes;
use super::{
    CrashDump, DumpError, DumpFile, DumpFormat, PhysAddr, PhysRange, PhysicalMemory, ReadError,
};

impl PhysicalMemory for KdumpReader {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let paddr = paddr.get();
        reader::for_each_page(paddr, buf, |pfn, off, dst| self.read_in_page(pfn, off, dst))
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.ram_ranges()
    }

    fn left_out_by_filter(&self, paddr: u64) -> bool {
        self.filtered_out(paddr / PAGE_SIZE as u64)
    }
}

/// True when `bytes` start like a kdump-compressed file.
pub(crate) fn is_kdump(bytes: &[u8]) -> bool {
    bytes.starts_with(KDUMP_SIGNATURE) || bytes.starts_with(header::DISKDUMP_SIGNATURE)
}

/// True when `bytes` start like a flattened makedumpfile stream.
pub(crate) fn is_flattened(bytes: &[u8]) -> bool {
    bytes.starts_with(FLAT_SIGNATURE)
}

/// Opens one file's kdump reader, whichever of the two layouts it uses.
fn open_reader(file: DumpFile, notes: &mut DumpNotes) -> Result<(KdumpReader, bool), DumpError> {
    if is_flattened(file.bytes()) {
        // The record index is built by a walk through the whole file.
        file.advise(Access::Normal);
        let src = FlattenedSource::open(file, &mut notes.warnings)?;
        Ok((flattened_reader(src, notes)?, true))
    } else {
        Ok((KdumpReader::open(Box::new(file), notes)?, false))
    }
}

/// The kdump reader over an indexed flattened stream, which must describe
/// a kdump-compressed file.
fn flattened_reader(src: FlattenedSource, notes: &mut DumpNotes) -> Result<KdumpReader, DumpError> {
    let mut magic = [0u8; 8];
    let _ = src.read_at(0, &mut magic);
    if !is_kdump(&magic) {
        return Err(src.file().malformed(
            flattened::FLAT_HEADER_SIZE,
            "the flattened stream does not describe a kdump-compressed file (no \"KDUMP   \" signature at its logical offset 0)",
        ));
    }
    KdumpReader::open(Box::new(src), notes)
}

fn warn_if_part(reader: &KdumpReader, notes: &mut DumpNotes) {
    if reader.split {
        notes.warnings.push(format!(
            "{}: this file is one part of a split dump (pfns {:#x}..{:#x} of {:#x}); pages of the other parts read as not in the dump: name all parts together",
            reader.source().path().display(),
            reader.start_pfn,
            reader.end_pfn,
            reader.max_mapnr
        ));
    }
}

/// The page kinds makedumpfile's `-d` bits leave out (makedumpfile.8,
/// "-d dump_level": 1 zero pages, 2 cache pages without private data, 4
/// cache pages with private data, 8 user process pages, 16 free pages).
/// Zero pages are found by content; the others by the page's flags and
/// `_mapcount`/`page_type`, read through the struct page layout
/// makedumpfile knows for the kernel version.
pub fn dump_level_excludes(dump_level: i32) -> Vec<&'static str> {
    const KINDS: [(i32, &str); 5] = [
        (1, "zero pages"),
        (2, "page cache"),
        (4, "private page cache"),
        (8, "user data"),
        (16, "free pages"),
    ];
    KINDS
        .iter()
        .filter(|(bit, _)| dump_level & bit != 0)
        .map(|&(_, name)| name)
        .collect()
}

/// The sub-header's `dump_level`, which header version 1 introduced.
fn recorded_dump_level(reader: &KdumpReader) -> Option<i32> {
    (reader.header.header_version >= 1).then_some(reader.sub.dump_level)
}

/// Opens a kdump-compressed file or a flattened stream.
pub fn open(file: DumpFile) -> Result<CrashDump, DumpError> {
    let path = file.path().to_path_buf();
    let mut notes = DumpNotes::default();
    let (reader, flat) = open_reader(file, &mut notes)?;
    finish_open(path, reader, flat, notes)
}

/// Opens the kdump-compressed file an already indexed flattened stream
/// describes; `notes` carries the indexing's warnings.
pub(crate) fn open_flattened(
    src: FlattenedSource,
    mut notes: DumpNotes,
) -> Result<CrashDump, DumpError> {
    let path = src.file().path().to_path_buf();
    let reader = flattened_reader(src, &mut notes)?;
    finish_open(path, reader, true, notes)
}

fn finish_open(
    path: PathBuf,
    reader: KdumpReader,
    flat: bool,
    mut notes: DumpNotes,
) -> Result<CrashDump, DumpError> {
    warn_if_part(&reader, &mut notes);
    let format = if flat {
        DumpFormat::KdumpFlattened
    } else {
        DumpFormat::Kdump
    };
    let dump_level = recorded_dump_level(&reader);
    let dump = CrashDump::new(
        path,
        format,
        Some(reader.compression()),
        Box::new(reader),
        notes,
    );
    Ok(match dump_level {
        Some(level) => dump.with_dump_level(level),
        None => dump,
    })
}

/// The parts of a split dump, sorted by pfn range.
pub(crate) struct SplitMemory {
    parts: Vec<KdumpReader>,
}

impl SplitMemory {
    fn part_for(&self, pfn: u64) -> Option<&KdumpReader> {
        let i = self
            .parts
            .partition_point(|p| p.start_pfn <= pfn)
            .checked_sub(1)?;
        self.parts.get(i).filter(|p| p.covers(pfn))
    }
}

impl PhysicalMemory for SplitMemory {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        let paddr = paddr.get();
        reader::for_each_page(paddr, buf, |pfn, off, dst| match self.part_for(pfn) {
            Some(p) => p.read_in_page(pfn, off, dst),
            None => Err(ReadError::NotInDump {
                paddr: PhysAddr::new(pfn * PAGE_SIZE as u64 + off as u64),
            }),
        })
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.parts
            .first()
            .map(|p| p.ram_ranges())
            .unwrap_or_default()
    }

    fn left_out_by_filter(&self, paddr: u64) -> bool {
        let pfn = paddr / PAGE_SIZE as u64;
        self.part_for(pfn).is_some_and(|p| p.filtered_out(pfn))
    }
}

/// What makes part `b` of a split dump not belong with part `a`: the
/// machine (utsname), the page size, or the pages the bitmaps describe.
fn part_mismatch(a: &KdumpReader, b: &KdumpReader) -> Option<String> {
    let (ha, hb) = (&a.header, &b.header);
    if ha.utsname != hb.utsname {
        Some(format!(
            "utsname differs ({:?} vs {:?})",
            ha.uts(2),
            hb.uts(2)
        ))
    } else if ha.block_size != hb.block_size {
        Some(format!(
            "block_size differs ({} vs {})",
            ha.block_size, hb.block_size
        ))
    } else if a.max_mapnr != b.max_mapnr {
        Some(format!(
            "max_mapnr differs ({:#x} vs {:#x})",
            a.max_mapnr, b.max_mapnr
        ))
    } else if ha.bitmap_blocks != hb.bitmap_blocks {
        Some(format!(
            "bitmap_blocks differs ({} vs {})",
            ha.bitmap_blocks, hb.bitmap_blocks
        ))
    } else {
        None
    }
}

/// Opens the parts of a split dump (each kdump-compressed or flattened).
/// They must describe one machine's memory (same utsname, block size,
/// page count and bitmap size) and hold disjoint pfn ranges; different
/// header timestamps are a warning (parts written by separate runs).
pub fn open_split(files: Vec<DumpFile>) -> Result<CrashDump, DumpError> {
    let mut parts: Vec<(KdumpReader, DumpNotes, PathBuf)> = Vec::new();
    for file in files {
        let path = file.path().to_path_buf();
        let mut notes = DumpNotes::default();
        let (reader, _) = open_reader(file, &mut notes)?;
        if !reader.split {
            return Err(DumpError::BadSplit {
                reason: format!(
                    "{} is not part of a split dump (its sub-header's split flag is 0): give a whole dump on its own",
                    path.display()
                ),
            });
        }
        parts.push((reader, notes, path));
    }
    let Some((first, _, first_path)) = parts.first() else {
        return Err(DumpError::BadSplit {
            reason: "no file was named".into(),
        });
    };
    let mut warnings = Vec::new();
    for (r, _, path) in &parts[1..] {
        let what = part_mismatch(first, r);
        if let Some(what) = what {
            return Err(DumpError::BadSplit {
                reason: format!(
                    "{} and {} are not parts of the same dump: {what}",
                    first_path.display(),
                    path.display()
                ),
            });
        }
        let (a, b) = (&first.header, &r.header);
        // Parts written by separate runs (libkdumpfile's generator, a part
        // rewritten later) carry different times; what must match did.
        if (a.timestamp_sec, a.timestamp_usec) != (b.timestamp_sec, b.timestamp_usec) {
            warnings.push(format!(
                "{} and {}: header timestamps differ ({}.{:06} vs {}.{:06}): the parts were written at different times; they agree on utsname, block size and page count, so they are read together",
                first_path.display(),
                path.display(),
                a.timestamp_sec,
                a.timestamp_usec,
                b.timestamp_sec,
                b.timestamp_usec
            ));
        }
    }
    parts.sort_by_key(|(r, _, _)| (r.start_pfn, r.end_pfn));
    let max_mapnr = parts[0].0.max_mapnr;
    let mut covered_to = 0u64;
    for (i, (r, _, path)) in parts.iter().enumerate() {
        if r.start_pfn < covered_to {
            let prev = &parts[i - 1];
            return Err(DumpError::BadSplit {
                reason: format!(
                    "{} (pfns {:#x}..{:#x}) and {} (pfns {:#x}..{:#x}) overlap: the same part given twice, or parts of different dumps",
                    prev.2.display(),
                    prev.0.start_pfn,
                    prev.0.end_pfn,
                    path.display(),
                    r.start_pfn,
                    r.end_pfn
                ),
            });
        }
        if r.start_pfn > covered_to {
            warnings.push(format!(
                "no part covers pfns {covered_to:#x}..{:#x}: a part of the split dump is missing; those pages read as not in the dump",
                r.start_pfn
            ));
        }
        covered_to = r.end_pfn;
    }
    if covered_to < max_mapnr {
        warnings.push(format!(
            "no part covers pfns {covered_to:#x}..{max_mapnr:#x}: a part of the split dump is missing; those pages read as not in the dump"
        ));
    }
    let compression = {
        let first = parts[0].0.compression();
        if parts.iter().all(|(r, _, _)| r.compression() == first) {
            first
        } else {
            "mixed"
        }
    };
    let path = parts[0].2.clone();
    let dump_level = recorded_dump_level(&parts[0].0);
    let mut readers = Vec::with_capacity(parts.len());
    let mut notes: Option<DumpNotes> = None;
    for (r, n, _) in parts {
        readers.push(r);
        match &mut notes {
            None => notes = Some(n),
            Some(all) => all.warnings.extend(n.warnings),
        }
    }
    let mut notes = notes.unwrap_or_default();
    notes.warnings.extend(warnings);
    let dump = CrashDump::new(
        path,
        DumpFormat::KdumpSplit,
        Some(compression),
        Box::new(SplitMemory { parts: readers }),
        notes,
    );
    Ok(match dump_level {
        Some(level) => dump.with_dump_level(level),
        None => dump,
    })
}
