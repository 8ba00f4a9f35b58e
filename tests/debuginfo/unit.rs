//! Debuginfo unit tests on hand-built ELF files (no toolchain needed):
//! symbol lookup, build-id, the vmlinux finder's order and build-id checks,
//! and malformed inputs (errors, never panics).

use std::path::{Path, PathBuf};

use pgsync_dump::debuginfo::finder::candidate_paths;
use pgsync_dump::debuginfo::{
    DebugInfoError, SearchRoots, Symbol, SymbolKind, Vmlinux, find_vmlinux_in,
};
use pgsync_dump::write::notes::note;

/// A minimal ELF64 x86-64 writer: named sections with raw contents.
struct Sec {
    name: &'static str,
    sh_type: u32,
    flags: u64,
    data: Vec<u8>,
    link: u32,
    entsize: u64,
}

fn write_elf(e_type: u16, machine: u16, sections: &[Sec]) -> Vec<u8> {
    let mut shstrtab = vec![0u8];
    let mut name_offs = Vec::new();
    for s in sections {
        name_offs.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(s.name.as_bytes());
        shstrtab.push(0);
    }
    let shstr_name = shstrtab.len() as u32;
    shstrtab.extend_from_slice(b".shstrtab\0");

    let mut out = vec![0u8; 64];
    let mut placed = Vec::new();
    for s in sections {
        while out.len() % 8 != 0 {
            out.push(0);
        }
        placed.push(out.len() as u64);
        out.extend_from_slice(&s.data);
    }
    let shstr_off = out.len() as u64;
    out.extend_from_slice(&shstrtab);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    let shoff = out.len() as u64;
    // Section 0 (null), then ours, then .shstrtab.
    out.extend_from_slice(&[0u8; 64]);
    let mut header = |name: u32, t: u32, flags: u64, off: u64, size: u64, link: u32, es: u64| {
        let mut h = Vec::with_capacity(64);
        h.extend_from_slice(&name.to_le_bytes());
        h.extend_from_slice(&t.to_le_bytes());
        h.extend_from_slice(&flags.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes()); // addr
        h.extend_from_slice(&off.to_le_bytes());
        h.extend_from_slice(&size.to_le_bytes());
        h.extend_from_slice(&link.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes()); // info
        h.extend_from_slice(&1u64.to_le_bytes()); // align
        h.extend_from_slice(&es.to_le_bytes());
        out.extend_from_slice(&h);
    };
    for (i, s) in sections.iter().enumerate() {
        header(
            name_offs[i],
            s.sh_type,
            s.flags,
            placed[i],
            s.data.len() as u64,
            s.link,
            s.entsize,
        );
    }
    header(shstr_name, 3, 0, shstr_off, shstrtab.len() as u64, 0, 0);
    let shnum = sections.len() as u16 + 2;
    out[..4].copy_from_slice(b"\x7fELF");
    out[4] = 2; // ELFCLASS64
    out[5] = 1; // little-endian
    out[6] = 1; // EV_CURRENT
    out[16..18].copy_from_slice(&e_type.to_le_bytes());
    out[18..20].copy_from_slice(&machine.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[40..48].copy_from_slice(&shoff.to_le_bytes());
    out[52..54].copy_from_slice(&64u16.to_le_bytes());
    out[58..60].copy_from_slice(&64u16.to_le_bytes());
    out[60..62].copy_from_slice(&shnum.to_le_bytes());
    out[62..64].copy_from_slice(&(shnum - 1).to_le_bytes());
    out
}

fn build_id_note(id: &[u8]) -> Vec<u8> {
    note("GNU", 3, id) // NT_GNU_BUILD_ID
}

/// (name, value, size, st_info, shndx)
fn symtab(symbols: &[(&str, u64, u64, u8, u16)]) -> (Vec<u8>, Vec<u8>) {
    let mut strtab = vec![0u8];
    let mut syms = vec![0u8; 24]; // null symbol
    for (name, value, size, info, shndx) in symbols {
        let off = strtab.len() as u32;
        strtab.extend_from_slice(name.as_bytes());
        strtab.push(0);
        syms.extend_from_slice(&off.to_le_bytes());
        syms.push(*info);
        syms.push(0);
        syms.extend_from_slice(&shndx.to_le_bytes());
        syms.extend_from_slice(&value.to_le_bytes());
        syms.extend_from_slice(&size.to_le_bytes());
    }
    (syms, strtab)
}

const GLOBAL_OBJECT: u8 = 0x11;
const GLOBAL_FUNC: u8 = 0x12;
const LOCAL_OBJECT: u8 = 0x01;
const WEAK_NOTYPE: u8 = 0x20;

/// An ELF with a build-id (if given) and a small symbol table.
fn sample_elf(build_id: Option<&[u8]>) -> Vec<u8> {
    let (syms, strtab) = symtab(&[
        ("init_task", 0xffff_ffff_8281_0000, 0x2600, GLOBAL_OBJECT, 1),
        ("start_kernel", 0xffff_ffff_8100_1000, 0x300, GLOBAL_FUNC, 1),
        // A file-local static with the name of a later global: the global wins.
        ("pgd_list", 0x1111, 16, LOCAL_OBJECT, 1),
        ("pgd_list", 0xffff_ffff_82a3_a3f0, 16, GLOBAL_OBJECT, 1),
        // Undefined: never a match.
        ("init_mm", 0, 0, GLOBAL_OBJECT, 0),
        ("init_mm", 0xffff_ffff_82b5_a740, 0x350, LOCAL_OBJECT, 1),
        // Prefix of another name.
        ("nr_cpu", 0x5, 4, GLOBAL_OBJECT, 1),
        ("nr_cpu_ids", 0xffff_ffff_82c3_9f50, 4, GLOBAL_OBJECT, 1),
        ("weak_thing", 0x42, 0, WEAK_NOTYPE, 1),
        ("", 0x99, 0, GLOBAL_OBJECT, 1),
    ]);
    let mut sections = Vec::new();
    if let Some(id) = build_id {
        sections.push(Sec {
            name: ".note.gnu.build-id",
            sh_type: 7,
            flags: 2,
            data: build_id_note(id),
            link: 0,
            entsize: 0,
        });
    }
    let strtab_index = sections.len() as u32 + 2; // +1 null, +1 symtab before it
    sections.push(Sec {
        name: ".symtab",
        sh_type: 2,
        flags: 0,
        data: syms,
        link: strtab_index,
        entsize: 24,
    });
    sections.push(Sec {
        name: ".strtab",
        sh_type: 3,
        flags: 0,
        data: strtab,
        link: 0,
        entsize: 0,
    });
    write_elf(2, 62, &sections)
}

fn tmpdir(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("debuginfo_unit")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

const ID_A: [u8; 20] = [
    0x3b, 0x43, 0xfa, 0xd5, 0x03, 0x48, 0x74, 0x49, 0x04, 0x92, 0x49, 0x5d, 0x55, 0x2c, 0x0a, 0xf6,
    0xa5, 0xfa, 0xb2, 0x35,
];
const ID_A_HEX: &str = "3b43fad5034874490492495d552c0af6a5fab235";
const ID_B: [u8; 20] = [0xab; 20];
const ID_B_HEX: &str = "abababababababababababababababababababab";

#[test]
fn symbols_one_scan_exact_names() {
    let d = tmpdir("symbols");
    let p = d.join("vmlinux");
    write(&p, &sample_elf(Some(&ID_A)));
    let v = Vmlinux::open(&p).unwrap();
    let m = v.find_symbols(&[
        "init_task",
        "start_kernel",
        "pgd_list",
        "init_mm",
        "nr_cpu_ids",
        "weak_thing",
        "missing",
        "nr_cpu_id",
        "",
    ]);
    assert_eq!(
        m.get("init_task"),
        Some(Symbol {
            address: 0xffff_ffff_8281_0000,
            size: 0x2600,
            kind: SymbolKind::Object
        })
    );
    assert_eq!(m.get("start_kernel").unwrap().kind, SymbolKind::Func);
    assert_eq!(m.get("pgd_list").unwrap().address, 0xffff_ffff_82a3_a3f0);
    assert_eq!(m.get("init_mm").unwrap().address, 0xffff_ffff_82b5_a740);
    assert_eq!(m.get("nr_cpu_ids").unwrap().address, 0xffff_ffff_82c3_9f50);
    assert_eq!(m.get("weak_thing").unwrap().kind, SymbolKind::Other);
    assert_eq!(m.get("missing"), None);
    assert_eq!(
        m.get("nr_cpu_id"),
        None,
        "prefix of a symbol is not a match"
    );
    assert_eq!(m.get(""), None);
    assert_eq!(m.len(), 6);
    // Names not requested are not reported.
    assert_eq!(v.find_symbols(&["init_task"]).get("start_kernel"), None);
    assert!(v.find_symbols(&[]).is_empty());
}

#[test]
fn build_id_lowercase_hex() {
    let d = tmpdir("buildid");
    let p = d.join("vmlinux");
    write(&p, &sample_elf(Some(&ID_A)));
    assert_eq!(
        Vmlinux::open(&p).unwrap().build_id().as_deref(),
        Some(ID_A_HEX)
    );
    write(&p, &sample_elf(None));
    assert_eq!(Vmlinux::open(&p).unwrap().build_id(), None);
}

#[test]
fn no_dwarf_is_a_clear_error() {
    let d = tmpdir("nodwarf");
    let p = d.join("vmlinux");
    write(&p, &sample_elf(Some(&ID_A)));
    let v = Vmlinux::open(&p).unwrap();
    match v.types() {
        Err(e @ DebugInfoError::NoDwarf { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("vmlinux without DWARF"), "{msg}");
            assert!(msg.contains(&p.display().to_string()), "{msg}");
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("types() without .debug_info"),
    }
}

#[test]
fn not_elf_truncated_and_wrong_machine() {
    let d = tmpdir("malformed");
    let p = d.join("f");
    write(&p, b"this is not an ELF file at all, just text\n");
    assert!(matches!(
        Vmlinux::open(&p),
        Err(DebugInfoError::NotElf { .. })
    ));
    write(&p, b"");
    assert!(matches!(
        Vmlinux::open(&p),
        Err(DebugInfoError::NotElf { .. })
    ));
    write(&p, b"\x7fELF\x02\x01\x01");
    match Vmlinux::open(&p) {
        Err(DebugInfoError::Malformed { offset, .. }) => assert_eq!(offset, 7),
        other => panic!("{other:?}"),
    }
    let good = sample_elf(Some(&ID_A));
    // Truncated anywhere: an error or (if the cut spares everything we
    // read) a usable file; never a panic.
    for cut in (0..good.len()).step_by(7) {
        write(&p, &good[..cut]);
        if let Ok(v) = Vmlinux::open(&p) {
            let _ = v.build_id();
            let _ = v.find_symbols(&["init_task", "pgd_list"]);
            assert!(v.types().is_err());
        }
    }
    // Cut inside the section headers: names the offset, says truncated.
    write(&p, &good[..good.len() - 10]);
    match Vmlinux::open(&p) {
        Err(e @ DebugInfoError::Malformed { .. }) => {
            assert!(e.to_string().contains("truncated"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // 32-bit ARM.
    write(&p, &write_elf(2, 40, &[]));
    assert!(matches!(
        Vmlinux::open(&p),
        Err(DebugInfoError::Unsupported { offset: 18, .. })
    ));
    // ET_REL is not an executable.
    write(&p, &write_elf(1, 62, &[]));
    assert!(matches!(
        Vmlinux::open(&p),
        Err(DebugInfoError::Unsupported { offset: 16, .. })
    ));
    // Directory and missing file.
    assert!(matches!(Vmlinux::open(&d), Err(DebugInfoError::Io { .. })));
    assert!(matches!(
        Vmlinux::open(&d.join("absent")),
        Err(DebugInfoError::Io { .. })
    ));
}

#[test]
fn garbage_debug_sections_error_not_panic() {
    let d = tmpdir("garbage");
    let p = d.join("vmlinux");
    // Deterministic pseudo-random garbage of several shapes.
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let len = (next() % 300) as usize;
        let mut info: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if round % 2 == 0 && info.len() >= 11 {
            // A plausible DWARF 4 unit header so parsing goes deeper.
            let unit_len = (info.len() - 4) as u32;
            info[..4].copy_from_slice(&unit_len.to_le_bytes());
            info[4..6].copy_from_slice(&4u16.to_le_bytes());
            info[6..10].copy_from_slice(&0u32.to_le_bytes());
            info[10] = 8;
        }
        let abbrev: Vec<u8> = (0..(next() % 64)).map(|_| next() as u8 % 0x40).collect();
        let compressed = round % 5 == 0;
        let info_data = if compressed {
            // A SHF_COMPRESSED header claiming a size, then garbage.
            let mut c = Vec::new();
            c.extend_from_slice(&1u32.to_le_bytes());
            c.extend_from_slice(&0u32.to_le_bytes());
            c.extend_from_slice(&(next() % 100_000).to_le_bytes());
            c.extend_from_slice(&1u64.to_le_bytes());
            c.extend_from_slice(&info);
            c
        } else {
            info
        };
        let elf = write_elf(
            2,
            62,
            &[
                Sec {
                    name: ".debug_info",
                    sh_type: 1,
                    flags: if compressed { 0x800 } else { 0 },
                    data: info_data,
                    link: 0,
                    entsize: 0,
                },
                Sec {
                    name: ".debug_abbrev",
                    sh_type: 1,
                    flags: 0,
                    data: abbrev,
                    link: 0,
                    entsize: 0,
                },
            ],
        );
        write(&p, &elf);
        let v = Vmlinux::open(&p).unwrap();
        match v.types() {
            Ok(t) => {
                for name in ["task_struct", "mm_struct"] {
                    assert!(t.struct_type(name).is_err(), "round {round}");
                }
                t.prefetch(&["page"]);
            }
            // Empty sections count as absent.
            Err(e) => assert!(
                matches!(
                    e,
                    DebugInfoError::Decompress { .. } | DebugInfoError::NoDwarf { .. }
                ),
                "round {round}: {e}"
            ),
        }
    }
}

#[test]
fn finder_search_order() {
    let d = tmpdir("order");
    let roots = SearchRoots {
        root: d.join("sysroot"),
    };
    let dump = d.join("dumps/vmcore");
    let rel = "6.1.0-56-cloud-amd64";
    let c = candidate_paths(&roots, &dump, Some(rel), Some(ID_A_HEX));
    let r = &roots.root;
    let expected = vec![
        d.join("dumps/vmlinux"),
        d.join(format!("dumps/vmlinux-{rel}")),
        r.join(format!("usr/lib/debug/boot/vmlinux-{rel}")),
        r.join(format!("usr/lib/debug/lib/modules/{rel}/vmlinux")),
        r.join(format!("lib/modules/{rel}/build/vmlinux")),
        r.join(format!("boot/vmlinux-{rel}")),
        r.join(format!(
            "usr/lib/debug/.build-id/{}/{}.debug",
            &ID_A_HEX[..2],
            &ID_A_HEX[2..]
        )),
    ];
    assert_eq!(c, expected);
    // OSRELEASE from the dump cannot climb out of a directory.
    let c = candidate_paths(&roots, &dump, Some("../../etc"), None);
    assert_eq!(c, vec![d.join("dumps/vmlinux")]);
    // A dump path without a directory part searches the current directory.
    let c = candidate_paths(&roots, Path::new("vmcore"), None, None);
    assert_eq!(c, vec![PathBuf::from("./vmlinux")]);

    // Nothing there: the error lists every path tried.
    let err = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap_err();
    match &err {
        DebugInfoError::NotFound { tried, rejected } => {
            assert_eq!(tried, &expected);
            assert!(rejected.is_empty());
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    for p in &expected {
        assert!(msg.contains(&p.display().to_string()), "{msg}");
    }

    // Later candidates are found; earlier ones win when present.
    write(&expected[5], &sample_elf(Some(&ID_A)));
    let v = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), expected[5]);
    write(&expected[2], &sample_elf(Some(&ID_A)));
    let v = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), expected[2]);
    write(&expected[1], &sample_elf(Some(&ID_A)));
    let v = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), expected[1]);
    // The build-id path alone.
    let d2 = tmpdir("order_buildid");
    let roots2 = SearchRoots {
        root: d2.join("sysroot"),
    };
    let bid = roots2.root.join(format!(
        "usr/lib/debug/.build-id/{}/{}.debug",
        &ID_A_HEX[..2],
        &ID_A_HEX[2..]
    ));
    write(&bid, &sample_elf(Some(&ID_A)));
    let v = find_vmlinux_in(&roots2, None, &d2.join("vmcore"), None, Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), bid);
    // Upper-case dump build-id is normalized.
    let v = find_vmlinux_in(
        &roots2,
        None,
        &d2.join("vmcore"),
        None,
        Some(&ID_A_HEX.to_uppercase()),
    )
    .unwrap();
    assert_eq!(v.path(), bid);
}

#[test]
fn finder_build_id_mismatch() {
    let d = tmpdir("mismatch");
    let roots = SearchRoots {
        root: d.join("sysroot"),
    };
    let dump = d.join("vmcore");
    let rel = "6.1.0-56-cloud-amd64";
    let next_to_dump = d.join("vmlinux");
    let boot = roots.root.join(format!("boot/vmlinux-{rel}"));

    // Explicit --vmlinux with another build-id: refused, naming both ids.
    write(&next_to_dump, &sample_elf(Some(&ID_B)));
    let err = find_vmlinux_in(
        &roots,
        Some(&next_to_dump),
        &dump,
        Some(rel),
        Some(ID_A_HEX),
    )
    .unwrap_err();
    match &err {
        DebugInfoError::BuildIdMismatch {
            path,
            file_id,
            dump_id,
        } => {
            assert_eq!(path, &next_to_dump);
            assert_eq!(file_id, ID_B_HEX);
            assert_eq!(dump_id, ID_A_HEX);
        }
        other => panic!("{other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(ID_A_HEX) && msg.contains(ID_B_HEX), "{msg}");
    // Explicit with the right id, or when either side has none: accepted.
    assert!(find_vmlinux_in(&roots, Some(&next_to_dump), &dump, None, Some(ID_B_HEX)).is_ok());
    assert!(find_vmlinux_in(&roots, Some(&next_to_dump), &dump, None, None).is_ok());
    // Explicit path that does not exist: an I/O error, no search.
    assert!(matches!(
        find_vmlinux_in(&roots, Some(&d.join("nope")), &dump, None, None),
        Err(DebugInfoError::Io { .. })
    ));

    // Search: the mismatching file next to the dump is skipped for a
    // matching one further down the list.
    write(&boot, &sample_elf(Some(&ID_A)));
    let v = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), boot);

    // Only mismatching candidates: the error names each with its id.
    write(&boot, &sample_elf(Some(&ID_B)));
    let err = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap_err();
    match &err {
        DebugInfoError::NoMatchingBuildId {
            dump_id,
            candidates,
        } => {
            assert_eq!(dump_id, ID_A_HEX);
            assert_eq!(
                candidates,
                &vec![
                    (next_to_dump.clone(), ID_B_HEX.to_string()),
                    (boot.clone(), ID_B_HEX.to_string())
                ]
            );
        }
        other => panic!("{other}"),
    }

    // A candidate without build-id is accepted (nothing to compare).
    write(&boot, &sample_elf(None));
    let v = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap();
    assert_eq!(v.path(), boot);

    // An unusable candidate (not ELF) is reported, not fatal.
    std::fs::remove_file(&next_to_dump).unwrap();
    write(&boot, b"garbage");
    let err = find_vmlinux_in(&roots, None, &dump, Some(rel), Some(ID_A_HEX)).unwrap_err();
    match err {
        DebugInfoError::NotFound { rejected, .. } => {
            assert_eq!(rejected.len(), 1);
            assert_eq!(rejected[0].0, boot);
        }
        other => panic!("{other}"),
    }
}

/// DWARF written with gimli::write: cross-unit `DW_FORM_ref_addr` type
/// references, a declaration in the first unit with the definition in the
/// second, mixed DWARF versions, and a typedef cycle.
fn cross_unit_dwarf() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use gimli::write::{
        AttributeValue as V, DebugInfoRef, Dwarf, EndianVec, LineProgram, Sections, Unit,
    };
    use gimli::{Encoding, Format, LittleEndian};
    let s = |x: &str| V::String(x.as_bytes().to_vec());
    let mut dwarf = Dwarf::new();
    let enc = |version| Encoding {
        format: Format::Dwarf32,
        version,
        address_size: 8,
    };
    let ua = dwarf.units.add(Unit::new(enc(4), LineProgram::none()));
    let ub = dwarf.units.add(Unit::new(enc(5), LineProgram::none()));

    let (ulong, list_head) = {
        let u = dwarf.units.get_mut(ua);
        let root = u.root();
        let decl = u.add(root, gimli::DW_TAG_structure_type);
        u.get_mut(decl).set(gimli::DW_AT_name, s("mm_struct"));
        u.get_mut(decl).set(gimli::DW_AT_declaration, V::Flag(true));
        let ulong = u.add(root, gimli::DW_TAG_base_type);
        u.get_mut(ulong)
            .set(gimli::DW_AT_name, s("long unsigned int"));
        u.get_mut(ulong).set(gimli::DW_AT_byte_size, V::Data1(8));
        let lh = u.add(root, gimli::DW_TAG_structure_type);
        u.get_mut(lh).set(gimli::DW_AT_name, s("list_head"));
        u.get_mut(lh).set(gimli::DW_AT_byte_size, V::Data1(16));
        let ptr = u.add(root, gimli::DW_TAG_pointer_type);
        u.get_mut(ptr).set(gimli::DW_AT_byte_size, V::Data1(8));
        u.get_mut(ptr).set(gimli::DW_AT_type, V::UnitRef(lh));
        for (name, off) in [("next", 0u8), ("prev", 8)] {
            let m = u.add(lh, gimli::DW_TAG_member);
            u.get_mut(m).set(gimli::DW_AT_name, s(name));
            u.get_mut(m).set(gimli::DW_AT_type, V::UnitRef(ptr));
            u.get_mut(m)
                .set(gimli::DW_AT_data_member_location, V::Data1(off));
        }
        (ulong, lh)
    };
    {
        let u = dwarf.units.get_mut(ub);
        let root = u.root();
        let cross = |id| V::DebugInfoRef(DebugInfoRef::Entry(ua, id));
        let mm = u.add(root, gimli::DW_TAG_structure_type);
        u.get_mut(mm).set(gimli::DW_AT_name, s("mm_struct"));
        u.get_mut(mm).set(gimli::DW_AT_byte_size, V::Data1(48));
        let anon = u.add(mm, gimli::DW_TAG_member);
        u.get_mut(anon)
            .set(gimli::DW_AT_data_member_location, V::Data1(8));
        let inner = u.add(root, gimli::DW_TAG_union_type);
        u.get_mut(inner).set(gimli::DW_AT_byte_size, V::Data1(16));
        u.get_mut(anon).set(gimli::DW_AT_type, V::UnitRef(inner));
        let pgd = u.add(inner, gimli::DW_TAG_member);
        u.get_mut(pgd).set(gimli::DW_AT_name, s("pgd"));
        u.get_mut(pgd).set(gimli::DW_AT_type, cross(ulong));
        let list = u.add(inner, gimli::DW_TAG_member);
        u.get_mut(list).set(gimli::DW_AT_name, s("mmlist"));
        u.get_mut(list).set(gimli::DW_AT_type, cross(list_head));
        let tail = u.add(mm, gimli::DW_TAG_member);
        u.get_mut(tail).set(gimli::DW_AT_name, s("tail"));
        u.get_mut(tail).set(gimli::DW_AT_type, cross(list_head));
        u.get_mut(tail)
            .set(gimli::DW_AT_data_member_location, V::Udata(32));

        // typedef a_t -> b_t -> a_t: a cycle must end in an error.
        let cyc = u.add(root, gimli::DW_TAG_structure_type);
        u.get_mut(cyc).set(gimli::DW_AT_name, s("cyclic"));
        u.get_mut(cyc).set(gimli::DW_AT_byte_size, V::Data1(8));
        let ta = u.add(root, gimli::DW_TAG_typedef);
        let tb = u.add(root, gimli::DW_TAG_typedef);
        u.get_mut(ta).set(gimli::DW_AT_name, s("a_t"));
        u.get_mut(ta).set(gimli::DW_AT_type, V::UnitRef(tb));
        u.get_mut(tb).set(gimli::DW_AT_name, s("b_t"));
        u.get_mut(tb).set(gimli::DW_AT_type, V::UnitRef(ta));
        let m = u.add(cyc, gimli::DW_TAG_member);
        u.get_mut(m).set(gimli::DW_AT_name, s("loop"));
        u.get_mut(m).set(gimli::DW_AT_type, V::UnitRef(ta));
    }
    let mut sections = Sections::new(EndianVec::new(LittleEndian));
    dwarf.write(&mut sections).expect("write DWARF");
    (
        sections.debug_info.slice().to_vec(),
        sections.debug_abbrev.slice().to_vec(),
        sections.debug_str.slice().to_vec(),
    )
}

#[test]
fn cross_unit_references_and_cycles() {
    let (info, abbrev, strings) = cross_unit_dwarf();
    let sec = |name, data| Sec {
        name,
        sh_type: 1,
        flags: 0,
        data,
        link: 0,
        entsize: 0,
    };
    let elf = write_elf(
        2,
        62,
        &[
            sec(".debug_info", info),
            sec(".debug_abbrev", abbrev),
            sec(".debug_str", strings),
        ],
    );
    let d = tmpdir("crossunit");
    let p = d.join("vmlinux");
    write(&p, &elf);
    let v = Vmlinux::open(&p).unwrap();
    let t = v.types().unwrap();
    let mm = t.struct_type("mm_struct").unwrap();
    assert_eq!(mm.size, 48);
    assert_eq!(t.units_scanned(), 2, "the declaration in unit 1 is skipped");
    let pgd = mm.member("pgd").unwrap();
    assert_eq!(pgd.offset, 8);
    assert_eq!(
        pgd.ty,
        pgsync_dump::debuginfo::TypeDesc::Base {
            name: "long unsigned int".into(),
            size: 8
        }
    );
    assert_eq!(mm.member("mmlist.prev").unwrap().offset, 16);
    assert_eq!(mm.member("tail.next").unwrap().offset, 32);
    assert_eq!(mm.member("tail").unwrap().ty.size(), Some(16));
    // The cycle: an error naming the chain, not a hang or a panic.
    match t.struct_type("cyclic") {
        Err(e @ pgsync_dump::debuginfo::TypeError::Malformed { .. }) => {
            assert!(e.to_string().contains("hops"), "{e}")
        }
        other => panic!("{other:?}"),
    }
}

/// A vmlinux from a pipe (`--vmlinux <(zcat vmlinux.gz)`) is read, not
/// mapped, and works like the file.
#[test]
fn vmlinux_from_a_pipe_is_read() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/healthy-4l/vmlinux");
    let dir = std::env::temp_dir().join(format!("pgsync-fifo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("vmlinux");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let bytes = std::fs::read(&src).unwrap();
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::write(fifo, bytes))
    };
    let piped = Vmlinux::open(&fifo).expect("open the pipe");
    writer.join().unwrap().unwrap();
    let file = Vmlinux::open(&src).unwrap();
    assert_eq!(piped.build_id(), file.build_id());
    assert!(piped.build_id().is_some());
    assert!(piped.types().unwrap().struct_type("task_struct").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// DWARF 5 `DW_FORM_strx1` names (clang's default; gcc only with split
/// DWARF) go through the unit's `DW_AT_str_offsets_base`: the unit's
/// string offsets are the second contribution of `.debug_str_offsets`, so
/// reading from the section's first one would give the wrong names.
#[test]
fn strx_names_use_the_units_str_offsets_base() {
    // .debug_str: "task_struct" at 0, "pid" at 12, "int" at 16, "wrong" at 20.
    let strings = b"task_struct\0pid\0int\0wrong\0".to_vec();
    // .debug_str_offsets: two DWARF 5 contributions (header: length,
    // version 5, padding), the first naming "wrong" three times.
    let mut str_offsets = Vec::new();
    for offsets in [[20u32, 20, 20], [0, 12, 16]] {
        str_offsets.extend_from_slice(&16u32.to_le_bytes());
        str_offsets.extend_from_slice(&5u16.to_le_bytes());
        str_offsets.extend_from_slice(&0u16.to_le_bytes());
        for o in offsets {
            str_offsets.extend_from_slice(&o.to_le_bytes());
        }
    }
    let base = 20 + 8u32; // past the first contribution and the second's header
    // Abbreviations: 1 compile_unit (str_offsets_base sec_offset), 2 struct
    // (name strx1, byte_size data1), 3 member (name strx1, type ref4,
    // data_member_location data1), 4 base_type (name strx1, byte_size,
    // encoding data1).
    let abbrev = vec![
        1, 0x11, 1, 0x72, 0x17, 0, 0, //
        2, 0x13, 1, 0x03, 0x25, 0x0b, 0x0b, 0, 0, //
        3, 0x0d, 0, 0x03, 0x25, 0x49, 0x13, 0x38, 0x0b, 0, 0, //
        4, 0x24, 0, 0x03, 0x25, 0x0b, 0x0b, 0x3e, 0x0b, 0, 0, //
        0,
    ];
    // The unit: header (12 bytes), CU DIE at 12, struct at 17, member at
    // 20 (type: the base type at 28), end of struct at 27, base type at 28,
    // end of unit at 32.
    let mut info = Vec::new();
    info.extend_from_slice(&29u32.to_le_bytes());
    info.extend_from_slice(&5u16.to_le_bytes());
    info.extend_from_slice(&[1, 8]); // DW_UT_compile, address size 8
    info.extend_from_slice(&0u32.to_le_bytes());
    info.push(1);
    info.extend_from_slice(&base.to_le_bytes());
    info.extend_from_slice(&[2, 0, 8]);
    info.extend_from_slice(&[3, 1]);
    info.extend_from_slice(&28u32.to_le_bytes());
    info.extend_from_slice(&[4, 0]);
    info.extend_from_slice(&[4, 2, 4, 5, 0]);
    assert_eq!(info.len(), 33);
    let sec = |name, data| Sec {
        name,
        sh_type: 1,
        flags: 0,
        data,
        link: 0,
        entsize: 0,
    };
    let elf = write_elf(
        2,
        62,
        &[
            sec(".debug_info", info),
            sec(".debug_abbrev", abbrev),
            sec(".debug_str", strings),
            sec(".debug_str_offsets", str_offsets),
        ],
    );
    let v = Vmlinux::from_bytes("strx.vmlinux", elf).unwrap();
    let t = v.types().unwrap();
    let task = t.struct_type("task_struct").unwrap();
    assert_eq!(task.size, 8);
    assert_eq!(task.die_offset, 17);
    assert_eq!(task.member_names(), ["pid"]);
    let pid = task.member("pid").unwrap();
    assert_eq!(pid.offset, 4);
    assert_eq!(
        pid.ty,
        pgsync_dump::debuginfo::TypeDesc::Base {
            name: "int".into(),
            size: 4
        }
    );
    assert!(matches!(
        t.struct_type("wrong"),
        Err(pgsync_dump::debuginfo::TypeError::NotFound { .. })
    ));
}
