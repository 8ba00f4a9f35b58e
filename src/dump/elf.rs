//! ELF vmcores: `/proc/vmcore` copies, `makedumpfile -E` (also flattened,
//! `-E -F`), QEMU `dump-guest-memory` ELF. PT_LOAD segments carry physical
//! addresses in `p_paddr`; PT_NOTE segments carry VMCOREINFO and per-CPU
//! state.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf::note::NoteDataIterator;
use goblin::elf::program_header::{self, ProgramHeader};

mod kcore;
mod layout;

pub use kcore::{PROC_KCORE, open_kcore, open_kcore_with};

use layout::{Backing, LoadSegment, Piece};

use super::kdump::ByteSource;
use super::notes::{DumpNotes, RawNote};
use super::{
    CrashDump, DumpError, DumpFile, DumpFormat, PhysAddr, PhysRange, PhysicalMemory, ReadError,
};

/// Bound on one PT_NOTE segment copied out of a flattened stream (a mapped
/// file is parsed in place, unbounded): a real dump holds a few hundred
/// bytes per CPU plus VMCOREINFO.
const MAX_FLATTENED_NOTES: u64 = 64 << 20;

/// Physical memory backed by an ELF core file (or by the ELF file a
/// flattened stream describes).
pub(crate) struct ElfCore {
    src: Box<dyn ByteSource>,
    /// Sorted by `paddr`, non-overlapping: see [`layout`] for the rule.
    pieces: Vec<Piece>,
    ranges: Vec<PhysRange>,
}

impl ElfCore {
    /// Parses the headers and notes of an ELF file.
    pub(crate) fn open(file: DumpFile) -> Result<CrashDump, DumpError> {
        ElfCore::open_source(Box::new(file), DumpFormat::Elf, DumpNotes::default())
    }

    /// Parses the headers and notes of the ELF file `src` holds; `notes`
    /// may already carry warnings (from indexing a flattened stream). A
    /// file whose headers have kcore's shape (or `format` [`DumpFormat::Kcore`])
    /// is read as `/proc/kcore` ([`kcore`]).
    pub(crate) fn open_source(
        src: Box<dyn ByteSource>,
        format: DumpFormat,
        mut notes: DumpNotes,
    ) -> Result<CrashDump, DumpError> {
        let (phoff, phdrs) = read_headers(&*src)?;
        if format == DumpFormat::Kcore || kcore::looks_like_kcore(&phdrs) {
            return kcore::open(src, &phdrs, phoff, notes);
        }
        let phentsize = goblin::elf64::program_header::SIZEOF_PHDR as u64;
        let mut segments = Vec::new();
        for (i, ph) in phdrs.iter().enumerate() {
            let ph_off = phoff + i as u64 * phentsize;
            match ph.p_type {
                program_header::PT_LOAD => {
                    if let Some(s) = load_segment(&*src, i, ph, ph_off, &mut notes.warnings)? {
                        segments.push(s);
                    }
                }
                program_header::PT_NOTE => {
                    read_notes(&*src, ph, &mut notes);
                }
                _ => {}
            }
        }
        let layout = layout::resolve(&segments, &*src, &mut notes.warnings);
        let path = src.path().to_path_buf();
        let core = ElfCore {
            src,
            pieces: layout.pieces,
            ranges: layout.ranges,
        };
        Ok(CrashDump::new(path, format, None, Box::new(core), notes))
    }

    fn piece_for(&self, paddr: u64) -> Option<&Piece> {
        layout::piece_for(&self.pieces, paddr)
    }
}

/// Reads and checks the ELF header and the program header table of `src`:
/// (the table's file offset, its entries). Program headers are found
/// through `e_phoff` (QEMU 7.2 puts them at 192, not 64).
pub(crate) fn read_headers(src: &dyn ByteSource) -> Result<(u64, Vec<ProgramHeader>), DumpError> {
    let malformed = |offset: u64, reason: String| DumpError::Malformed {
        path: src.path().to_path_buf(),
        offset,
        reason,
    };
    let mut ehdr = [0u8; goblin::elf64::header::SIZEOF_EHDR];
    if src.read_at(0, &mut ehdr).is_err() {
        return Err(malformed(
            0,
            "file too short for an ELF header: truncated".into(),
        ));
    }
    if ehdr[header::EI_CLASS] != header::ELFCLASS64 {
        return Err(malformed(
            4,
            "not a 64-bit ELF file: x86-64 vmcores are ELFCLASS64".into(),
        ));
    }
    if ehdr[header::EI_DATA] != header::ELFDATA2LSB {
        return Err(malformed(5, "not a little-endian ELF file".into()));
    }
    let hdr = goblin::elf::Elf::parse_header(&ehdr)
        .map_err(|e| malformed(0, format!("bad ELF header: {e}")))?;
    if hdr.e_type != header::ET_CORE {
        return Err(malformed(
            0x10,
            format!(
                "ELF type {} is not a core file (ET_CORE); is this a vmlinux or a program?",
                header::et_to_str(hdr.e_type)
            ),
        ));
    }
    if hdr.e_machine != header::EM_X86_64 {
        return Err(malformed(
            0x12,
            format!("ELF machine {} is not x86-64", hdr.e_machine),
        ));
    }
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phentsize = goblin::elf64::program_header::SIZEOF_PHDR as u64;
    if hdr.e_phnum != 0 && u64::from(hdr.e_phentsize) != phentsize {
        return Err(malformed(
            0x36,
            format!("e_phentsize {} is not {phentsize}", hdr.e_phentsize),
        ));
    }
    // At most 65535 entries of 56 bytes: bounded whatever the header says.
    let table_len = u64::from(hdr.e_phnum) * phentsize;
    let mut table = vec![0u8; table_len as usize];
    if src.read_at(hdr.e_phoff, &mut table).is_err() {
        // A positioned-read source (kcore) has no trustworthy size to quote.
        let size = match src.len() {
            u64::MAX => String::new(),
            n => format!(" ({n:#x} bytes)"),
        };
        return Err(malformed(
            hdr.e_phoff,
            format!(
                "program header table ({} entries at offset {:#x}) runs past the end of the file{size}: truncated",
                hdr.e_phnum, hdr.e_phoff,
            ),
        ));
    }
    let phdrs = ProgramHeader::parse(&table, 0, hdr.e_phnum as usize, ctx)
        .map_err(|e| malformed(hdr.e_phoff, format!("bad program headers: {e}")))?;

    Ok((hdr.e_phoff, phdrs))
}

/// Checks one PT_LOAD (table entry `i` at file offset `ph_off`); `None` for
/// an empty one. A segment whose file bytes run past the end of the file is
/// kept, with a warning: its pages there read as truncated.
fn load_segment(
    src: &dyn ByteSource,
    i: usize,
    ph: &ProgramHeader,
    ph_off: u64,
    warnings: &mut Vec<String>,
) -> Result<Option<LoadSegment>, DumpError> {
    let malformed = |reason: String| DumpError::Malformed {
        path: src.path().to_path_buf(),
        offset: ph_off,
        reason,
    };
    if ph.p_filesz > ph.p_memsz {
        return Err(malformed(format!(
            "PT_LOAD #{i}: p_filesz {:#x} exceeds p_memsz {:#x}",
            ph.p_filesz, ph.p_memsz
        )));
    }
    if ph.p_paddr.checked_add(ph.p_memsz).is_none() {
        return Err(malformed(format!("PT_LOAD #{i}: physical range overflows")));
    }
    if ph.p_memsz == 0 {
        return Ok(None);
    }
    let end = ph.p_offset.checked_add(ph.p_filesz);
    if end.is_none_or(|e| e > src.len()) {
        warnings.push(format!(
            "{}: PT_LOAD #{i} (physical {:#x}..{:#x}) needs file bytes up to {:#x} but the file has {:#x}: the dump is truncated; pages past the end read as 'truncated'",
            src.path().display(),
            ph.p_paddr,
            ph.p_paddr + ph.p_memsz,
            ph.p_offset.saturating_add(ph.p_filesz),
            src.len()
        ));
    }
    Ok(Some(LoadSegment::from_header(i, ph)))
}

pub(super) fn read_notes(src: &dyn ByteSource, ph: &ProgramHeader, notes: &mut DumpNotes) {
    let end = ph.p_offset.saturating_add(ph.p_filesz);
    if end > src.len() {
        notes.warnings.push(format!(
            "{}: PT_NOTE at file offset {:#x} (size {:#x}) runs past the end of the file: notes not read",
            src.path().display(),
            ph.p_offset,
            ph.p_filesz
        ));
        return;
    }
    // A mapped file is parsed in place; a flattened stream's notes are
    // copied out, bounded (its holes read as zeros but take no space, so
    // the size must also fit in what the file stores).
    let copy: Vec<u8>;
    let (data, start, stop) = match src.as_bytes() {
        Some(bytes) => (bytes, ph.p_offset as usize, end as usize),
        None => {
            if ph.p_filesz > MAX_FLATTENED_NOTES || ph.p_filesz > src.stored_len() {
                notes.warnings.push(format!(
                    "{}: PT_NOTE at file offset {:#x} is {:#x} bytes, over the {MAX_FLATTENED_NOTES:#x}-byte limit or larger than the stream's data: notes not read",
                    src.path().display(),
                    ph.p_offset,
                    ph.p_filesz
                ));
                return;
            }
            let mut v = vec![0u8; ph.p_filesz as usize];
            if src.read_at(ph.p_offset, &mut v).is_err() {
                return;
            }
            copy = v;
            (&copy[..], 0, copy.len())
        }
    };
    // Linux and QEMU pad note names and descriptors to 4 bytes whatever
    // p_align says, so the alignment is fixed here rather than taken from
    // the header (some producers write p_align 0 or 8).
    let iter = NoteDataIterator {
        data,
        offset: start,
        size: stop,
        ctx: (4, Ctx::new(Container::Big, Endian::Little)),
    };
    for (n, note) in iter.enumerate() {
        match note {
            Ok(note) => notes.add(RawNote {
                name: note.name,
                n_type: note.n_type,
                desc: note.desc,
            }),
            Err(e) => {
                notes.warnings.push(format!(
                    "{}: note #{n} in PT_NOTE at file offset {:#x} is malformed ({e}); later notes skipped",
                    src.path().display(),
                    ph.p_offset
                ));
                break;
            }
        }
    }
}

impl PhysicalMemory for ElfCore {
    fn read(&self, paddr: PhysAddr, buf: &mut [u8]) -> Result<(), ReadError> {
        layout::read_pieces(&self.pieces, paddr.get(), buf, |cur, off, out| {
            off.and_then(|off| self.src.read_at(off, out).ok())
                .ok_or(ReadError::Truncated {
                    paddr: PhysAddr::new(cur),
                    offset: off.unwrap_or(u64::MAX),
                    file_len: self.src.len(),
                })
        })
    }

    fn will_need(&self, paddr: PhysAddr, len: u64) {
        let paddr = paddr.get();
        let end = paddr.saturating_add(len);
        let mut cur = paddr;
        // Each step moves to the end of a piece or stops, so the loop ends.
        while cur < end {
            let Some(piece) = self.piece_for(cur) else {
                return;
            };
            let in_piece = cur - piece.paddr;
            let n = (piece.len - in_piece).min(end - cur);
            if let Backing::File { offset } = piece.backing {
                if let Some(off) = offset.checked_add(in_piece) {
                    self.src.will_need(off, n);
                }
            }
            cur += n;
        }
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.ranges.clone()
    }
}
