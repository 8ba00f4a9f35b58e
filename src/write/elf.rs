//! ELF writers (object::write::elf::Writer): ET_CORE vmcores and ET_EXEC
//! vmlinux files. The one ELF writer of the workspace: `extract`, the
//! fixture builder and the tests that need a hand-shaped core use it.

use std::collections::BTreeMap;

use object::Endianness;
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Sym, Writer};

use super::WriteError;
use super::notes::note;
use crate::arch::x86_64::layout::START_KERNEL_MAP;

const PAGE: u64 = 4096;

/// One PT_LOAD of an ET_CORE file: `data` in the file, `memsz` in memory
/// (the bytes past `data.len()` read as zeros).
#[derive(Debug, Clone, Copy)]
pub struct CoreSegment<'a> {
    pub paddr: u64,
    pub vaddr: u64,
    pub data: &'a [u8],
    pub memsz: u64,
}

/// Where an ET_CORE file puts things. The default is [`write_core`]'s
/// (makedumpfile's): program headers after the file header, page-aligned
/// first segment, the others packed after it.
#[derive(Debug, Clone, Copy)]
pub struct CoreLayout {
    /// File offset of the program headers (QEMU puts them at 192); `None`:
    /// right after the file header.
    pub program_headers_at: Option<u64>,
    /// File alignment of the first PT_LOAD's data and of the later ones'.
    pub first_segment_align: u64,
    pub segment_align: u64,
    /// `p_align` of the PT_NOTE and of the PT_LOADs.
    pub note_p_align: u64,
    pub load_p_align: u64,
}

impl Default for CoreLayout {
    fn default() -> Self {
        CoreLayout {
            program_headers_at: None,
            first_segment_align: PAGE,
            segment_align: 1,
            note_p_align: 0,
            load_p_align: 0,
        }
    }
}

/// An ET_CORE file: one PT_NOTE holding `notes`, then PT_LOAD segments for
/// runs of consecutive pages (`(pfn, page)` in ascending pfn order); a run's
/// trailing all-zero pages are left out of the file (p_filesz < p_memsz).
pub fn write_core<'p>(
    notes: &[u8],
    pages: impl IntoIterator<Item = (u64, &'p [u8; 4096])>,
) -> Result<Vec<u8>, WriteError> {
    // Runs of consecutive dumped pages: (first pfn, pages, bytes).
    let mut runs: Vec<(u64, u64, Vec<u8>)> = Vec::new();
    for (pfn, page) in pages {
        match runs.last_mut() {
            Some((start, n, bytes)) if *start + *n == pfn => {
                *n += 1;
                bytes.extend_from_slice(page);
            }
            _ => runs.push((pfn, 1, page.to_vec())),
        }
    }
    let segments: Vec<CoreSegment<'_>> = runs
        .iter()
        .map(|(start, n, bytes)| {
            // Trailing zero pages are not in the file.
            let mut file_len = bytes.len();
            while file_len > 0
                && bytes[file_len - PAGE as usize..file_len]
                    .iter()
                    .all(|&b| b == 0)
            {
                file_len -= PAGE as usize;
            }
            CoreSegment {
                paddr: start * PAGE,
                vaddr: 0,
                data: &bytes[..file_len],
                memsz: n * PAGE,
            }
        })
        .collect();
    write_core_segments(notes, &segments, &CoreLayout::default())
}

/// An ET_CORE file for x86-64: one PT_NOTE holding `notes`, then one PT_LOAD
/// per segment, in the given order, laid out as `layout` says.
pub fn write_core_segments(
    notes: &[u8],
    segments: &[CoreSegment<'_>],
    layout: &CoreLayout,
) -> Result<Vec<u8>, WriteError> {
    let mut out = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut out);
    w.reserve_file_header();
    if let Some(at) = layout.program_headers_at {
        w.reserve_until(at.max(64));
    }
    w.reserve_program_headers(1 + segments.len() as u32);
    let note_off = w.reserve(notes.len() as u64, 4);
    let offsets: Vec<u64> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let align = if i == 0 {
                layout.first_segment_align
            } else {
                layout.segment_align
            };
            w.reserve(s.data.len() as u64, align)
        })
        .collect();
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_CORE,
        e_machine: elf::EM_X86_64,
        e_entry: 0,
        e_flags: Default::default(),
    })?;
    if let Some(at) = layout.program_headers_at {
        w.pad_until(at.max(64));
    }
    w.write_align_program_headers();
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_NOTE,
        p_flags: Default::default(),
        p_offset: note_off,
        p_vaddr: 0,
        p_paddr: 0,
        p_filesz: notes.len() as u64,
        p_memsz: notes.len() as u64,
        p_align: layout.note_p_align,
    });
    for (s, &off) in segments.iter().zip(&offsets) {
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
            p_offset: off,
            p_vaddr: s.vaddr,
            p_paddr: s.paddr,
            p_filesz: s.data.len() as u64,
            p_memsz: s.memsz,
            p_align: layout.load_p_align,
        });
    }
    w.write_align(4);
    w.write(notes);
    for (s, &off) in segments.iter().zip(&offsets) {
        w.pad_until(off);
        w.write(s.data);
    }
    Ok(out)
}

/// SHF_COMPRESSED zlib section contents (Elf64_Chdr + zlib stream).
fn compress(data: &[u8]) -> Result<Vec<u8>, WriteError> {
    use std::io::Write;
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_le_bytes()); // ELFCOMPRESS_ZLIB
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(6));
    enc.write_all(data).map_err(WriteError::Compress)?;
    enc.finish().map_err(WriteError::Compress)
}

/// An allocated section of an ET_EXEC vmlinux (written NOBITS at its link
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ExecSection {
    Text,
    Data,
    Percpu,
    Bss,
}

/// The ELF type of an [`ExecSymbol`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExecSymbolKind {
    Object,
    Func,
    NoType,
}

impl ExecSymbolKind {
    fn st_type(self) -> elf::SymbolType {
        match self {
            ExecSymbolKind::Object => elf::STT_OBJECT,
            ExecSymbolKind::Func => elf::STT_FUNC,
            ExecSymbolKind::NoType => elf::STT_NOTYPE,
        }
    }
}

impl ExecSection {
    /// Its NOBITS section header at link address `addr`.
    fn header(self, sh_name: u32, addr: u64, size: u64) -> SectionHeader {
        SectionHeader {
            sh_name,
            sh_type: elf::SHT_NOBITS,
            sh_flags: match self {
                ExecSection::Text => elf::SHF_ALLOC | elf::SHF_EXECINSTR,
                _ => elf::SHF_ALLOC | elf::SHF_WRITE,
            },
            sh_addr: addr,
            sh_offset: 0,
            sh_size: size,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: if self == ExecSection::Text { 4096 } else { 64 },
            sh_entsize: 0,
        }
    }
}

/// One symbol of an ET_EXEC vmlinux.
#[derive(Debug, Clone)]
pub struct ExecSymbol {
    pub name: String,
    /// Link-time address (vmlinux value).
    pub link: u64,
    pub size: u64,
    pub kind: ExecSymbolKind,
    pub sect: ExecSection,
}

/// What an ET_EXEC vmlinux holds besides DWARF.
pub struct ExecImage<'a> {
    pub build_id: &'a [u8],
    pub syms: &'a [ExecSymbol],
    /// Link address and size of each allocated section (all NOBITS).
    pub sections: &'a BTreeMap<ExecSection, (u64, u64)>,
    pub compress_debug: bool,
}

/// The link addresses the image's PT_LOAD spans: .text to the end of .bss;
/// an image without them (an extracted reproduction) spans its
/// kernel-address sections (all but the per-cpu one, linked at 0).
fn image_span(sections: &BTreeMap<ExecSection, (u64, u64)>) -> (u64, u64) {
    let kernel_sects = || {
        sections
            .iter()
            .filter(|(s, _)| **s != ExecSection::Percpu)
            .map(|(_, v)| *v)
    };
    let text_link = sections
        .get(&ExecSection::Text)
        .map(|t| t.0)
        .or_else(|| kernel_sects().map(|v| v.0).min())
        .unwrap_or(START_KERNEL_MAP);
    let image_end = sections
        .get(&ExecSection::Bss)
        .map(|b| b.0 + b.1)
        .or_else(|| kernel_sects().map(|v| v.0 + v.1).max())
        .unwrap_or(text_link);
    (text_link, image_end)
}

/// An ET_EXEC vmlinux: NOBITS section headers at link addresses,
/// .note.gnu.build-id, the given debug sections, .symtab/.strtab.
pub fn write_exec(m: &ExecImage<'_>, debug: &[(String, Vec<u8>)]) -> Result<Vec<u8>, WriteError> {
    let mut id_desc = Vec::new();
    id_desc.extend_from_slice(m.build_id);
    let build_note = note("GNU", elf::NT_GNU_BUILD_ID.0, &id_desc);
    let debug: Vec<(String, Vec<u8>, bool)> = debug
        .iter()
        .map(|(n, d)| {
            let c = m.compress_debug && n != ".debug_abbrev";
            Ok((n.clone(), if c { compress(d)? } else { d.clone() }, c))
        })
        .collect::<Result<_, WriteError>>()?;

    let alloc_sects = [
        (ExecSection::Text, ".text"),
        (ExecSection::Data, ".data"),
        (ExecSection::Percpu, ".data..percpu"),
        (ExecSection::Bss, ".bss"),
    ];
    let mut out = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut out);
    // Section names and indices.
    w.reserve_null_section_index();
    let mut alloc_idx = Vec::new();
    for (s, name) in alloc_sects {
        let n = w.add_section_name(name.as_bytes());
        alloc_idx.push((s, n, w.reserve_section_index()));
    }
    let note_name = w.add_section_name(b".note.gnu.build-id");
    let note_idx = w.reserve_section_index();
    let mut debug_idx = Vec::new();
    for (n, _, _) in &debug {
        let id = w.add_section_name(n.as_bytes());
        debug_idx.push((id, w.reserve_section_index()));
    }
    // Symbols.
    let mut sym_names = Vec::new();
    for s in m.syms {
        sym_names.push(w.add_string(s.name.as_bytes()));
    }
    w.reserve_null_symbol_index();
    for s in m.syms {
        let idx = alloc_idx.iter().find(|a| a.0 == s.sect).map(|a| a.2);
        w.reserve_symbol_index(idx);
    }
    w.reserve_symtab_section_index();
    w.reserve_strtab_section_index();
    w.reserve_shstrtab_section_index();

    w.reserve_file_header();
    w.reserve_program_headers(2);
    let note_off = w.reserve(build_note.len() as u64, 4);
    let mut debug_off = Vec::new();
    for (_, d, c) in &debug {
        debug_off.push(w.reserve(d.len() as u64, if *c { 8 } else { 1 }));
    }
    w.reserve_symtab();
    w.reserve_strtab()?;
    w.reserve_shstrtab()?;
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: elf::EM_X86_64,
        e_entry: 0x0100_0000,
        e_flags: Default::default(),
    })?;
    w.write_align_program_headers();
    let (text_link, image_end) = image_span(m.sections);
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_LOAD,
        p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
        p_offset: 0,
        p_vaddr: text_link,
        p_paddr: text_link.wrapping_sub(START_KERNEL_MAP),
        p_filesz: 0,
        p_memsz: image_end.saturating_sub(text_link),
        p_align: 0x20_0000,
    });
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_NOTE,
        p_flags: elf::PF_R,
        p_offset: note_off,
        p_vaddr: 0,
        p_paddr: 0,
        p_filesz: build_note.len() as u64,
        p_memsz: build_note.len() as u64,
        p_align: 4,
    });
    w.write_align(4);
    w.write(&build_note);
    for (_, d, c) in &debug {
        w.write_align(if *c { 8 } else { 1 });
        w.write(d);
    }
    w.write_null_symbol();
    for (s, &name) in m.syms.iter().zip(&sym_names) {
        let idx = alloc_idx.iter().find(|a| a.0 == s.sect).map(|a| a.2.0);
        w.write_symbol(&Sym {
            section: idx,
            st_name: w.string_offset(Some(name)),
            st_info: elf::SymbolInfo::new(elf::STB_GLOBAL, s.kind.st_type()),
            st_other: elf::STV_DEFAULT.into(),
            st_shndx: Default::default(),
            st_value: s.link,
            st_size: s.size,
        });
    }
    w.write_strtab();
    w.write_shstrtab();
    w.write_null_section_header();
    for (s, name, _) in &alloc_idx {
        let (addr, size) = m.sections.get(s).copied().unwrap_or_default();
        w.write_section_header(&s.header(w.section_name_offset(Some(*name)), addr, size));
    }
    w.write_section_header(&SectionHeader {
        sh_name: w.section_name_offset(Some(note_name)),
        sh_type: elf::SHT_NOTE,
        sh_flags: elf::SHF_ALLOC,
        sh_addr: 0,
        sh_offset: note_off,
        sh_size: build_note.len() as u64,
        sh_link: 0,
        sh_info: 0,
        sh_addralign: 4,
        sh_entsize: 0,
    });
    let _ = note_idx;
    for ((id, _), ((_, d, compressed), off)) in debug_idx.iter().zip(debug.iter().zip(&debug_off)) {
        w.write_section_header(&SectionHeader {
            sh_name: w.section_name_offset(Some(*id)),
            sh_type: elf::SHT_PROGBITS,
            sh_flags: if *compressed {
                elf::SHF_COMPRESSED
            } else {
                Default::default()
            },
            sh_addr: 0,
            sh_offset: *off,
            sh_size: d.len() as u64,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: if *compressed { 8 } else { 1 },
            sh_entsize: 0,
        });
    }
    w.write_symtab_section_header(1);
    w.write_strtab_section_header();
    w.write_shstrtab_section_header();
    Ok(out)
}
