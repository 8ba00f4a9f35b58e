//! ELF vmcores: `/proc/vmcore` copies, `makedumpfile -E`, QEMU
//! `dump-guest-memory` ELF. PT_LOAD segments carry physical addresses in
//! `p_paddr`; PT_NOTE segments carry VMCOREINFO and per-CPU state.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf::note::NoteDataIterator;
use goblin::elf::program_header::{self, ProgramHeader};

use super::file::Access;
use super::notes::{DumpNotes, RawNote};
use super::{CrashDump, DumpError, DumpFile, DumpFormat, PhysRange, PhysicalMemory, ReadError};

/// One PT_LOAD segment: `[paddr, paddr + memsz)`, the first `filesz` bytes
/// of which are in the file at `offset`; the tail reads as zeros.
#[derive(Debug, Clone, Copy)]
struct LoadSegment {
    paddr: u64,
    memsz: u64,
    filesz: u64,
    offset: u64,
}

/// Physical memory backed by an ELF core file.
pub struct ElfCore {
    file: DumpFile,
    /// Sorted by `paddr`; overlaps resolved in favour of the earlier segment.
    segments: Vec<LoadSegment>,
}

impl ElfCore {
    /// Parses the headers and notes. Program headers are found through
    /// `e_phoff` (QEMU 7.2 puts them at 192, not 64).
    pub fn open(file: DumpFile) -> Result<CrashDump, DumpError> {
        let bytes = file.bytes();
        if bytes.len() < goblin::elf64::header::SIZEOF_EHDR {
            return Err(file.malformed(0, "file too short for an ELF header: truncated"));
        }
        if bytes[header::EI_CLASS] != header::ELFCLASS64 {
            return Err(file.malformed(4, "not a 64-bit ELF file: x86-64 vmcores are ELFCLASS64"));
        }
        if bytes[header::EI_DATA] != header::ELFDATA2LSB {
            return Err(file.malformed(5, "not a little-endian ELF file"));
        }
        let hdr = goblin::elf::Elf::parse_header(bytes)
            .map_err(|e| file.malformed(0, format!("bad ELF header: {e}")))?;
        if hdr.e_type != header::ET_CORE {
            return Err(file.malformed(
                0x10,
                format!(
                    "ELF type {} is not a core file (ET_CORE); is this a vmlinux or a program?",
                    header::et_to_str(hdr.e_type)
                ),
            ));
        }
        if hdr.e_machine != header::EM_X86_64 {
            return Err(
                file.malformed(0x12, format!("ELF machine {} is not x86-64", hdr.e_machine))
            );
        }
        let ctx = Ctx::new(Container::Big, Endian::Little);
        let phentsize = goblin::elf64::program_header::SIZEOF_PHDR as u64;
        if hdr.e_phnum != 0 && u64::from(hdr.e_phentsize) != phentsize {
            return Err(file.malformed(
                0x36,
                format!("e_phentsize {} is not {phentsize}", hdr.e_phentsize),
            ));
        }
        let table_end = u64::from(hdr.e_phnum)
            .checked_mul(phentsize)
            .and_then(|n| n.checked_add(hdr.e_phoff));
        match table_end {
            Some(end) if end <= file.len() => {}
            _ => {
                return Err(file.malformed(
                    hdr.e_phoff,
                    format!(
                        "program header table ({} entries at offset {:#x}) runs past the end of the file ({:#x} bytes): truncated",
                        hdr.e_phnum,
                        hdr.e_phoff,
                        file.len()
                    ),
                ));
            }
        }
        let phdrs = ProgramHeader::parse(bytes, hdr.e_phoff as usize, hdr.e_phnum as usize, ctx)
            .map_err(|e| file.malformed(hdr.e_phoff, format!("bad program headers: {e}")))?;

        let mut notes = DumpNotes::default();
        let mut segments = Vec::new();
        for (i, ph) in phdrs.iter().enumerate() {
            let ph_off = hdr.e_phoff + i as u64 * phentsize;
            match ph.p_type {
                program_header::PT_LOAD => {
                    if ph.p_filesz > ph.p_memsz {
                        return Err(file.malformed(
                            ph_off,
                            format!(
                                "PT_LOAD #{i}: p_filesz {:#x} exceeds p_memsz {:#x}",
                                ph.p_filesz, ph.p_memsz
                            ),
                        ));
                    }
                    if ph.p_paddr.checked_add(ph.p_memsz).is_none() {
                        return Err(file
                            .malformed(ph_off, format!("PT_LOAD #{i}: physical range overflows")));
                    }
                    if ph.p_memsz == 0 {
                        continue;
                    }
                    let end = ph.p_offset.checked_add(ph.p_filesz);
                    if end.is_none_or(|e| e > file.len()) {
                        notes.warnings.push(format!(
                            "{}: PT_LOAD #{i} (physical {:#x}..{:#x}) needs file bytes up to {:#x} but the file has {:#x}: the dump is truncated; pages past the end read as 'truncated'",
                            file.path().display(),
                            ph.p_paddr,
                            ph.p_paddr + ph.p_memsz,
                            ph.p_offset.saturating_add(ph.p_filesz),
                            file.len()
                        ));
                    }
                    segments.push(LoadSegment {
                        paddr: ph.p_paddr,
                        memsz: ph.p_memsz,
                        filesz: ph.p_filesz,
                        offset: ph.p_offset,
                    });
                }
                program_header::PT_NOTE => {
                    read_notes(&file, ph, &mut notes);
                }
                _ => {}
            }
        }
        let segments = without_overlaps(segments);
        let core = ElfCore { file, segments };
        let path = core.file.path().to_path_buf();
        Ok(CrashDump::new(
            path,
            DumpFormat::Elf,
            None,
            Box::new(core),
            notes,
        ))
    }

    fn segment_for(&self, paddr: u64) -> Option<&LoadSegment> {
        let idx = self.segments.partition_point(|s| s.paddr <= paddr);
        let seg = self.segments.get(idx.checked_sub(1)?)?;
        (paddr - seg.paddr < seg.memsz).then_some(seg)
    }
}

/// Sorts segments by physical address and trims overlaps (the earlier
/// segment wins), so that one binary search finds the only candidate.
fn without_overlaps(mut segments: Vec<LoadSegment>) -> Vec<LoadSegment> {
    segments.sort_by_key(|s| s.paddr);
    let mut out: Vec<LoadSegment> = Vec::with_capacity(segments.len());
    for mut s in segments {
        if let Some(prev) = out.last() {
            let prev_end = prev.paddr + prev.memsz;
            if s.paddr < prev_end {
                let cut = prev_end - s.paddr;
                if cut >= s.memsz {
                    continue;
                }
                s.paddr += cut;
                s.memsz -= cut;
                s.offset = s.offset.saturating_add(cut);
                s.filesz = s.filesz.saturating_sub(cut);
            }
        }
        out.push(s);
    }
    out
}

fn read_notes(file: &DumpFile, ph: &ProgramHeader, notes: &mut DumpNotes) {
    let end = ph.p_offset.saturating_add(ph.p_filesz);
    if end > file.len() {
        notes.warnings.push(format!(
            "{}: PT_NOTE at file offset {:#x} (size {:#x}) runs past the end of the file: notes not read",
            file.path().display(),
            ph.p_offset,
            ph.p_filesz
        ));
        return;
    }
    // Linux and QEMU pad note names and descriptors to 4 bytes whatever
    // p_align says, so the alignment is fixed here rather than taken from
    // the header (some producers write p_align 0 or 8).
    let iter = NoteDataIterator {
        data: file.bytes(),
        offset: ph.p_offset as usize,
        size: end as usize,
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
                    file.path().display(),
                    ph.p_offset
                ));
                break;
            }
        }
    }
}

impl PhysicalMemory for ElfCore {
    fn read(&self, paddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let cur = paddr
                .checked_add(done as u64)
                .ok_or(ReadError::NotInDump { paddr: u64::MAX })?;
            let seg = self
                .segment_for(cur)
                .ok_or(ReadError::NotInDump { paddr: cur })?;
            let in_seg = cur - seg.paddr;
            let n = ((seg.memsz - in_seg) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            // Bytes in [filesz, memsz) are not in the file: zeros by ELF rule.
            let from_file = if in_seg < seg.filesz {
                ((seg.filesz - in_seg) as usize).min(n)
            } else {
                0
            };
            if from_file > 0 {
                // p_offset comes from the file: near u64::MAX the sum must
                // not wrap (a wrapped offset would read the wrong bytes, or
                // panic with overflow checks). Found by fuzz/elf_vmcore.
                let off = seg.offset.checked_add(in_seg);
                let bytes = self.file.bytes();
                let src = off
                    .and_then(|off| usize::try_from(off).ok())
                    .and_then(|o| bytes.get(o..o.checked_add(from_file)?))
                    .ok_or(ReadError::Truncated {
                        paddr: cur,
                        offset: off.unwrap_or(u64::MAX),
                        file_len: self.file.len(),
                    })?;
                out[..from_file].copy_from_slice(src);
            }
            out[from_file..].fill(0);
            done += n;
        }
        Ok(())
    }

    fn will_need(&self, paddr: u64, len: u64) {
        let end = paddr.saturating_add(len);
        let mut cur = paddr;
        // Each step moves to the end of a segment's file bytes or stops,
        // so the loop ends.
        while cur < end {
            let Some(seg) = self.segment_for(cur) else {
                return;
            };
            let in_seg = cur - seg.paddr;
            if in_seg >= seg.filesz {
                return;
            }
            let n = (seg.filesz - in_seg).min(end - cur);
            if let Some(off) = seg.offset.checked_add(in_seg) {
                self.file.advise_range(Access::WillNeed, off, n);
            }
            cur += n;
        }
    }

    fn ranges(&self) -> Vec<PhysRange> {
        self.segments
            .iter()
            .map(|s| PhysRange {
                start: s.paddr,
                end: s.paddr + s.memsz,
            })
            .collect()
    }
}
