//! ELF writers (object::write::elf::Writer): the ET_CORE vmcore and the
//! ET_EXEC vmlinux.

use object::Endianness;
use object::elf;
use object::write::elf::{FileHeader, ProgramHeader, SectionHeader, Sym, Writer};

use super::SynthError;
use super::kernel::{Machine, START_KERNEL_MAP, Sect, SymKind};
use super::memory::PAGE;
use super::plan::{NoteStyle, Plan};

fn err(e: object::write::Error) -> SynthError {
    SynthError::Elf(e.to_string())
}

/// One ELF note, 4-byte padded.
pub fn note(name: &str, n_type: u32, desc: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&n_type.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v.extend_from_slice(desc);
    while v.len() % 4 != 0 {
        v.push(0);
    }
    v
}

/// x86-64 `struct elf_prstatus` (336 bytes): pr_pid at 32, pr_reg at 112
/// (user_regs_struct: rip is register 16, rsp 19).
pub fn prstatus(pid: u32, rip: u64, rsp: u64) -> Vec<u8> {
    let mut d = vec![0u8; 336];
    d[32..36].copy_from_slice(&pid.to_le_bytes());
    d[112 + 16 * 8..112 + 17 * 8].copy_from_slice(&rip.to_le_bytes());
    d[112 + 17 * 8..112 + 18 * 8].copy_from_slice(&0x10u64.to_le_bytes()); // cs
    d[112 + 19 * 8..112 + 20 * 8].copy_from_slice(&rsp.to_le_bytes());
    d[112 + 20 * 8..112 + 21 * 8].copy_from_slice(&0x18u64.to_le_bytes()); // ss
    d
}

/// QEMU's QEMUCPUState (target/i386/arch_dump.c), 440 bytes: version,
/// size, 18 registers, 10 segments of 24 bytes, `cr[5]`, kernel_gs_base.
pub fn qemu_cpu_state(rip: u64, rsp: u64, cr3: u64, gs_base: u64) -> Vec<u8> {
    let mut d = Vec::with_capacity(440);
    d.extend_from_slice(&1u32.to_le_bytes());
    d.extend_from_slice(&440u32.to_le_bytes());
    // rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags
    let mut regs = [0u64; 18];
    regs[6] = rsp;
    regs[16] = rip;
    regs[17] = 0x246;
    for r in regs {
        d.extend_from_slice(&r.to_le_bytes());
    }
    // cs ds es fs gs ss ldt tr gdt idt: {selector u32, limit u32, flags u32, pad u32, base u64}
    for (i, sel) in [0x10u32, 0x18, 0x18, 0, 0, 0x18, 0, 0x40, 0, 0]
        .iter()
        .enumerate()
    {
        d.extend_from_slice(&sel.to_le_bytes());
        d.extend_from_slice(&0xffff_ffffu32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        d.extend_from_slice(&0u32.to_le_bytes());
        let base = if i == 4 { gs_base } else { 0 };
        d.extend_from_slice(&base.to_le_bytes());
    }
    let cr = [
        0x8005_0033u64,
        0,
        0x7f00_dead_b000 & !0xfff,
        cr3,
        0x0035_06f0,
    ];
    for c in cr {
        d.extend_from_slice(&c.to_le_bytes());
    }
    d.extend_from_slice(&0u64.to_le_bytes());
    d
}

/// The notes every dump of the machine carries: NT_PRSTATUS per CPU, the
/// QEMU CPU states (QEMU style), VMCOREINFO.
pub fn notes(plan: &Plan, m: &Machine) -> Vec<u8> {
    let mut notes = Vec::new();
    for cpu in &m.cpus {
        notes.extend(note(
            "CORE",
            1,
            &prstatus(cpu.prstatus_pid, cpu.rip, cpu.rsp),
        ));
    }
    if plan.notes == NoteStyle::Qemu {
        for cpu in &m.cpus {
            notes.extend(note(
                "QEMU",
                0,
                &qemu_cpu_state(cpu.rip, cpu.rsp, cpu.cr3, 0),
            ));
        }
    }
    notes.extend(note("VMCOREINFO", 0, m.vmcoreinfo.as_bytes()));
    notes
}

/// The ET_CORE vmcore: one PT_NOTE, then PT_LOAD segments for runs of
/// dumped pages (trailing all-zero pages become p_memsz > p_filesz).
pub fn write_vmcore(plan: &Plan, m: &Machine) -> Result<Vec<u8>, SynthError> {
    let notes = notes(plan, m);

    write_core(&notes, m.mem.dumped_pages())
}

/// An ET_CORE file: one PT_NOTE holding `notes`, then PT_LOAD segments for
/// runs of consecutive pages (`(pfn, page)` in ascending pfn order).
pub fn write_core<'p>(
    notes: &[u8],
    pages: impl IntoIterator<Item = (u64, &'p [u8; 4096])>,
) -> Result<Vec<u8>, SynthError> {
    // Runs of consecutive dumped pages.
    struct Run {
        start: u64,
        pages: Vec<[u8; 4096]>,
    }
    let mut runs: Vec<Run> = Vec::new();
    for (pfn, page) in pages {
        match runs.last_mut() {
            Some(r) if r.start / PAGE + r.pages.len() as u64 == pfn => r.pages.push(*page),
            _ => runs.push(Run {
                start: pfn * PAGE,
                pages: vec![*page],
            }),
        }
    }

    let mut out = Vec::new();
    let mut w = Writer::new(Endianness::Little, true, &mut out);
    w.reserve_file_header();
    w.reserve_program_headers(1 + runs.len() as u32);
    let note_off = w.reserve(notes.len() as u64, 4);
    let mut loads = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        // Trailing zero pages are not in the file (p_filesz < p_memsz).
        let mut file_pages = r.pages.len();
        while file_pages > 0 && r.pages[file_pages - 1].iter().all(|&b| b == 0) {
            file_pages -= 1;
        }
        let filesz = file_pages as u64 * PAGE;
        let off = w.reserve(filesz, if i == 0 { PAGE } else { 1 });
        loads.push((off, filesz, r.pages.len() as u64 * PAGE));
    }
    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_CORE,
        e_machine: elf::EM_X86_64,
        e_entry: 0,
        e_flags: Default::default(),
    })
    .map_err(err)?;
    w.write_align_program_headers();
    w.write_program_header(&ProgramHeader {
        p_type: elf::PT_NOTE,
        p_flags: Default::default(),
        p_offset: note_off,
        p_vaddr: 0,
        p_paddr: 0,
        p_filesz: notes.len() as u64,
        p_memsz: notes.len() as u64,
        p_align: 0,
    });
    for (r, &(off, filesz, memsz)) in runs.iter().zip(&loads) {
        w.write_program_header(&ProgramHeader {
            p_type: elf::PT_LOAD,
            p_flags: elf::PF_R | elf::PF_W | elf::PF_X,
            p_offset: off,
            p_vaddr: 0,
            p_paddr: r.start,
            p_filesz: filesz,
            p_memsz: memsz,
            p_align: 0,
        });
    }
    w.write_align(4);
    w.write(notes);
    for (i, (r, &(off, filesz, _))) in runs.iter().zip(&loads).enumerate() {
        if i == 0 {
            w.pad_until(off);
        }
        for p in r.pages.iter().take((filesz / PAGE) as usize) {
            w.write(p);
        }
    }
    Ok(out)
}

/// SHF_COMPRESSED zlib section contents (Elf64_Chdr + zlib stream).
fn compress(data: &[u8]) -> Result<Vec<u8>, SynthError> {
    use std::io::Write;
    let mut out = Vec::new();
    out.extend_from_slice(&1u32.to_le_bytes()); // ELFCOMPRESS_ZLIB
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(data.len() as u64).to_le_bytes());
    out.extend_from_slice(&1u64.to_le_bytes());
    let mut enc = flate2::write::ZlibEncoder::new(out, flate2::Compression::new(6));
    enc.write_all(data)
        .map_err(|e| SynthError::Elf(e.to_string()))?;
    enc.finish().map_err(|e| SynthError::Elf(e.to_string()))
}

/// The ET_EXEC vmlinux: NOBITS .text/.data/.data..percpu/.bss headers at
/// link addresses, .note.gnu.build-id, DWARF, .symtab/.strtab.
pub fn write_vmlinux(
    plan: &Plan,
    m: &Machine,
    debug: &[(String, Vec<u8>)],
) -> Result<Vec<u8>, SynthError> {
    write_exec(
        &ExecImage {
            build_id: &m.build_id,
            syms: &m.syms,
            sections: &m.sections,
            compress_debug: plan.compress_debug,
        },
        debug,
    )
}

/// What an ET_EXEC vmlinux holds besides DWARF.
pub struct ExecImage<'a> {
    pub build_id: &'a [u8],
    pub syms: &'a [super::kernel::Sym],
    /// Link address and size of each allocated section (all NOBITS).
    pub sections: &'a std::collections::BTreeMap<Sect, (u64, u64)>,
    pub compress_debug: bool,
}

/// An ET_EXEC vmlinux: NOBITS section headers at link addresses,
/// .note.gnu.build-id, the given debug sections, .symtab/.strtab.
pub fn write_exec(m: &ExecImage<'_>, debug: &[(String, Vec<u8>)]) -> Result<Vec<u8>, SynthError> {
    let mut id_desc = Vec::new();
    id_desc.extend_from_slice(m.build_id);
    let build_note = note("GNU", elf::NT_GNU_BUILD_ID.0, &id_desc);
    let debug: Vec<(String, Vec<u8>, bool)> = debug
        .iter()
        .map(|(n, d)| {
            let c = m.compress_debug && n != ".debug_abbrev";
            Ok((n.clone(), if c { compress(d)? } else { d.clone() }, c))
        })
        .collect::<Result<_, SynthError>>()?;

    let alloc_sects = [
        (Sect::Text, ".text"),
        (Sect::Data, ".data"),
        (Sect::Percpu, ".data..percpu"),
        (Sect::Bss, ".bss"),
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
    w.reserve_strtab().map_err(err)?;
    w.reserve_shstrtab().map_err(err)?;
    w.reserve_section_headers();

    w.write_file_header(&FileHeader {
        os_abi: elf::ELFOSABI_NONE,
        abi_version: 0,
        e_type: elf::ET_EXEC,
        e_machine: elf::EM_X86_64,
        e_entry: 0x0100_0000,
        e_flags: Default::default(),
    })
    .map_err(err)?;
    w.write_align_program_headers();
    // The image spans .text to the end of .bss; an image without them (an
    // extracted reproduction) spans its kernel-address sections.
    let kernel_sects = || {
        m.sections
            .iter()
            .filter(|(s, _)| **s != Sect::Percpu)
            .map(|(_, v)| *v)
    };
    let text_link = m
        .sections
        .get(&Sect::Text)
        .map(|t| t.0)
        .or_else(|| kernel_sects().map(|v| v.0).min())
        .unwrap_or(START_KERNEL_MAP);
    let image_end = m
        .sections
        .get(&Sect::Bss)
        .map(|b| b.0 + b.1)
        .or_else(|| kernel_sects().map(|v| v.0 + v.1).max())
        .unwrap_or(text_link);
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
        let st_type = match s.kind {
            SymKind::Object => elf::STT_OBJECT,
            SymKind::Func => elf::STT_FUNC,
            SymKind::NoType => elf::STT_NOTYPE,
        };
        w.write_symbol(&Sym {
            section: idx,
            st_name: w.string_offset(Some(name)),
            st_info: elf::SymbolInfo::new(elf::STB_GLOBAL, st_type),
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
        let flags = match s {
            Sect::Text => elf::SHF_ALLOC | elf::SHF_EXECINSTR,
            _ => elf::SHF_ALLOC | elf::SHF_WRITE,
        };
        w.write_section_header(&SectionHeader {
            sh_name: w.section_name_offset(Some(*name)),
            sh_type: elf::SHT_NOBITS,
            sh_flags: flags,
            sh_addr: addr,
            sh_offset: 0,
            sh_size: size,
            sh_link: 0,
            sh_info: 0,
            sh_addralign: if *s == Sect::Text { 4096 } else { 64 },
            sh_entsize: 0,
        });
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
