//! Outside oracle for the DWARF reader: gcc compiles kernel-like C
//! (tests/c/kernel_like.c + tests/c/second.c), the program prints what gcc
//! computes (`offsetof`, `sizeof`, bit positions), and every figure must
//! equal what `Vmlinux::types()` reads from the same executable's DWARF.
//! Variants: DWARF 2 (strict: block-form member locations, MSB-relative
//! bit offsets), 3, 4, 5, zlib-compressed sections, both link orders.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;

use pgsync_dump::debuginfo::{SymbolKind, TypeDesc, TypeError, Vmlinux};

fn c_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c")
}

fn gcc_available() -> bool {
    Command::new("gcc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Compiles the two units into `out` with `flags`; `None` if gcc rejects
/// the flags (e.g. no zlib support), panics on any other failure.
fn compile(out: &Path, flags: &[&str], second_first: bool) -> Option<()> {
    let c = c_dir();
    let (a, b) = (c.join("second.c"), c.join("kernel_like.c"));
    let units = if second_first { [a, b] } else { [b, a] };
    let status = Command::new("gcc")
        .args(["-O0", "-o"])
        .arg(out)
        .args(flags)
        .args(&units)
        .status()
        .expect("run gcc");
    status.success().then_some(())
}

struct Variant {
    name: &'static str,
    flags: &'static [&'static str],
    second_first: bool,
    /// Whether failing to compile is a skip (optional toolchain feature).
    optional: bool,
}

const VARIANTS: &[Variant] = &[
    Variant {
        name: "dwarf5",
        flags: &["-g", "-gdwarf-5"],
        second_first: true,
        optional: false,
    },
    Variant {
        name: "dwarf4",
        flags: &["-g", "-gdwarf-4"],
        second_first: true,
        optional: false,
    },
    Variant {
        name: "dwarf4-kernel-unit-first-nopie",
        flags: &["-g", "-gdwarf-4", "-no-pie"],
        second_first: false,
        optional: false,
    },
    Variant {
        name: "dwarf3-strict",
        flags: &["-g", "-gdwarf-3", "-gstrict-dwarf"],
        second_first: true,
        optional: false,
    },
    Variant {
        name: "dwarf2-strict",
        flags: &["-g", "-gdwarf-2", "-gstrict-dwarf"],
        second_first: true,
        optional: false,
    },
    Variant {
        name: "dwarf5-gz-zlib",
        flags: &["-g", "-gdwarf-5", "-gz=zlib"],
        second_first: true,
        optional: true,
    },
    // LTO: early-debug units plus LTRANS units referring to them with
    // DW_FORM_ref_addr.
    Variant {
        name: "dwarf5-lto",
        flags: &["-g", "-gdwarf-5", "-flto"],
        second_first: true,
        optional: true,
    },
    Variant {
        name: "dwarf4-gz-zlib",
        flags: &["-g", "-gdwarf-4", "-gz=zlib"],
        second_first: false,
        optional: true,
    },
];

fn field<'l>(it: &mut impl Iterator<Item = &'l str>, line: &str) -> &'l str {
    it.next()
        .unwrap_or_else(|| panic!("short oracle line: {line}"))
}

fn num(s: &str, line: &str) -> u64 {
    s.parse()
        .unwrap_or_else(|_| panic!("bad number {s:?} in oracle line: {line}"))
}

/// Checks every oracle line against the DWARF; returns the number checked.
fn check_oracle(exe: &Path, variant: &str) -> usize {
    let out = Command::new(exe).output().expect("run oracle program");
    assert!(
        out.status.success(),
        "{variant}: oracle program failed: {out:?}"
    );
    let text = String::from_utf8(out.stdout).expect("utf8");
    let vmlinux = Vmlinux::open(exe).expect("open gcc executable");
    let types = vmlinux.types().expect("types");
    let mut checked = 0;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let kind = field(&mut it, line);
        let name = field(&mut it, line);
        let st = types
            .struct_type(name)
            .unwrap_or_else(|e| panic!("{variant}: {line}: {e}"));
        match kind {
            "size" => {
                let size = num(field(&mut it, line), line);
                assert_eq!(st.size, size, "{variant}: {line}");
            }
            "off" | "offn" => {
                let path = field(&mut it, line);
                let off = num(field(&mut it, line), line);
                let m = st
                    .member(path)
                    .unwrap_or_else(|e| panic!("{variant}: {line}: {e}"));
                assert_eq!(m.offset, off, "{variant}: offset of {line}");
                assert!(m.bit_field.is_none(), "{variant}: {line}: not a bit-field");
                if kind == "off" {
                    let size = num(field(&mut it, line), line);
                    assert_eq!(m.ty.size(), Some(size), "{variant}: size of {line}: {m:?}");
                } else {
                    assert!(
                        matches!(m.ty, TypeDesc::Array { count: None, .. }),
                        "{variant}: {line}: flexible array, got {:?}",
                        m.ty
                    );
                }
            }
            "bit" => {
                let f = field(&mut it, line);
                let first = num(field(&mut it, line), line);
                let nbits = num(field(&mut it, line), line);
                let m = st
                    .member(f)
                    .unwrap_or_else(|e| panic!("{variant}: {line}: {e}"));
                let bf = m
                    .bit_field
                    .unwrap_or_else(|| panic!("{variant}: {line}: not seen as a bit-field"));
                assert_eq!(
                    m.offset * 8 + u64::from(bf.bit_offset),
                    first,
                    "{variant}: first bit of {line}: {m:?}"
                );
                assert_eq!(bf.bit_size, nbits, "{variant}: width of {line}");
                assert_eq!(m.offset, first / 8, "{variant}: byte floor of {line}");
            }
            other => panic!("unknown oracle line kind {other}: {line}"),
        }
        checked += 1;
    }
    checked
}

/// Assertions about kinds, names and errors that the oracle's numbers
/// cannot express.
fn check_kinds_and_errors(exe: &Path, variant: &str) {
    let vmlinux = Vmlinux::open(exe).unwrap();
    let types = vmlinux.types().unwrap();
    let task = types.struct_type("task_struct").unwrap();
    let kind = |p: &str| task.member(p).unwrap().ty;
    assert_eq!(
        kind("active_mm"),
        TypeDesc::Pointer { size: 8 },
        "{variant}"
    );
    assert_eq!(kind("mm"), TypeDesc::Pointer { size: 8 }, "{variant}");
    assert_eq!(kind("signal"), TypeDesc::Pointer { size: 8 }, "{variant}");
    assert_eq!(kind("fn"), TypeDesc::Pointer { size: 8 }, "{variant}");
    assert_eq!(
        kind("usage"),
        TypeDesc::Struct {
            name: None,
            size: 4
        },
        "{variant}: const volatile typedef stripped"
    );
    assert_eq!(
        kind("tasks"),
        TypeDesc::Struct {
            name: Some("list_head".into()),
            size: 16
        },
        "{variant}"
    );
    assert_eq!(
        kind("flags"),
        TypeDesc::Base {
            name: "unsigned int".into(),
            size: 4
        },
        "{variant}"
    );
    assert_eq!(
        kind("comm"),
        TypeDesc::Array {
            elem_size: 1,
            count: Some(16)
        },
        "{variant}"
    );
    assert_eq!(
        kind("matrix"),
        TypeDesc::Array {
            elem_size: 32,
            count: Some(3)
        },
        "{variant}"
    );
    assert_eq!(kind("small_enum"), TypeDesc::Enum { size: 4 }, "{variant}");
    assert_eq!(kind("rcu.func"), TypeDesc::Pointer { size: 8 }, "{variant}");
    assert!(task.has_member("thread_node"));
    assert!(!task.has_member("thread_head"));
    assert!(!task.has_member("tasks."));
    assert!(!task.has_member(""));

    match task.member("mm.pgd") {
        Err(TypeError::NotAggregate { prefix, kind, .. }) => {
            assert_eq!(prefix, "mm");
            assert_eq!(kind, "a pointer");
        }
        other => panic!("{variant}: walking through a pointer: {other:?}"),
    }
    match task.member("no_such_member") {
        Err(e @ TypeError::NoMember { .. }) => assert_eq!(
            e.to_string(),
            "struct task_struct has no member no_such_member"
        ),
        other => panic!("{variant}: {other:?}"),
    }
    match types.struct_type("no_such_struct") {
        Err(e @ TypeError::NotFound { .. }) => assert_eq!(
            e.to_string(),
            format!(
                "struct no_such_struct not found in DWARF of {}",
                exe.display()
            )
        ),
        other => panic!("{variant}: {other:?}"),
    }
    // Defined only in the other unit.
    let only = types.struct_type("only_in_second").unwrap();
    assert_eq!(only.size, 24, "{variant}");
    assert_eq!(only.member("mm").unwrap().offset, 16, "{variant}");
    // Unions by tag.
    assert!(types.struct_type("thread_union").unwrap().is_union);
    // A typedef to a base type is not a struct.
    assert!(matches!(
        types.struct_type("pgdval_t"),
        Err(TypeError::NotFound { .. })
    ));

    // Batch prefetch then lookups are served from the cache.
    let t2 = vmlinux.types().unwrap();
    t2.prefetch(&["task_struct", "mm_struct", "page", "list_head", "tlb_state"]);
    let scanned = t2.units_scanned();
    assert!(scanned >= 1);
    assert_eq!(t2.struct_type("page").unwrap().size, 64);
    assert_eq!(t2.units_scanned(), scanned, "cached after prefetch");
}

/// `nm -S` as the oracle for symbols (skipped if binutils' nm is absent).
fn check_symbols(exe: &Path, variant: &str) {
    let vmlinux = Vmlinux::open(exe).unwrap();
    let names = [
        "init_task",
        "init_mm",
        "main",
        "__per_cpu_offset",
        "cpu_tlbstate",
        "second_unit_marker",
        "definitely_not_a_symbol",
    ];
    let map = vmlinux.find_symbols(&names);
    assert!(map.get("definitely_not_a_symbol").is_none());
    assert_eq!(map.get("main").unwrap().kind, SymbolKind::Func);
    assert_eq!(map.get("init_task").unwrap().kind, SymbolKind::Object);
    assert_eq!(
        map.get("__per_cpu_offset").unwrap().size,
        64,
        "{variant}: unsigned long[8]"
    );
    let Ok(nm) = Command::new("nm").arg("-S").arg(exe).output() else {
        common::outside_tool_missing(&format!(
            "{variant}: nm not available; symbol addresses not cross-checked"
        ));
        return;
    };
    let text = String::from_utf8_lossy(&nm.stdout);
    let mut compared = 0;
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.len() != 4 || !names.contains(&parts[3]) {
            continue;
        }
        let sym = map.get(parts[3]).unwrap();
        assert_eq!(
            sym.address,
            u64::from_str_radix(parts[0], 16).unwrap(),
            "{line}"
        );
        assert_eq!(
            sym.size,
            u64::from_str_radix(parts[1], 16).unwrap(),
            "{line}"
        );
        compared += 1;
    }
    assert_eq!(compared, 6, "{variant}: nm listed every requested symbol");
}

fn check_build_id(exe: &Path, variant: &str) {
    let vmlinux = Vmlinux::open(exe).unwrap();
    let Ok(out) = Command::new("readelf").arg("-n").arg(exe).output() else {
        common::outside_tool_missing(&format!(
            "{variant}: readelf not available; build-id not cross-checked"
        ));
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Build ID: "))
        .map(|s| s.trim().to_string());
    assert_eq!(vmlinux.build_id(), expected, "{variant}");
}

#[test]
fn gcc_dwarf_matches_offsetof_and_sizeof() {
    if !gcc_available() {
        common::outside_tool_missing("gcc not found in PATH; the DWARF oracle test needs it");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debuginfo_gcc_oracle");
    std::fs::create_dir_all(&dir).unwrap();
    let mut ran = 0;
    for v in VARIANTS {
        let exe = dir.join(v.name);
        if compile(&exe, v.flags, v.second_first).is_none() {
            assert!(v.optional, "{}: gcc failed with {:?}", v.name, v.flags);
            common::outside_tool_missing(&format!(
                "variant {}: gcc does not support {:?}",
                v.name, v.flags
            ));
            continue;
        }
        let checked = check_oracle(&exe, v.name);
        assert!(checked >= 100, "{}: only {checked} oracle lines", v.name);
        check_kinds_and_errors(&exe, v.name);
        check_symbols(&exe, v.name);
        check_build_id(&exe, v.name);
        println!("{}: {checked} oracle lines match", v.name);
        ran += 1;
    }
    assert!(ran >= 5);
}

#[test]
fn compressed_sections_are_really_compressed() {
    if !gcc_available() {
        common::outside_tool_missing("gcc not found in PATH");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debuginfo_gcc_oracle_gz");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("gz");
    if compile(&exe, &["-g", "-gz=zlib"], true).is_none() {
        common::outside_tool_missing("gcc does not support -gz=zlib");
        return;
    }
    // SHF_COMPRESSED (0x800) on .debug_info: otherwise this variant would
    // silently test the uncompressed path.
    let out = Command::new("readelf")
        .args(["-S", "-W"])
        .arg(&exe)
        .output();
    if out.is_err() {
        common::outside_tool_missing("readelf not available; compression not cross-checked");
    }
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        let line = text
            .lines()
            .find(|l| l.contains(".debug_info"))
            .expect(".debug_info listed");
        assert!(line.contains(" C "), "not compressed: {line}");
    }
    let v = Vmlinux::open(&exe).unwrap();
    let t = v.types().unwrap();
    assert_eq!(
        t.struct_type("mm_struct")
            .unwrap()
            .member("pgd")
            .unwrap()
            .offset,
        72
    );
}

/// Corrupting the DWARF of a real gcc executable byte by byte: every
/// lookup returns (an answer or an error) and nothing panics or hangs.
#[test]
fn corrupted_gcc_dwarf_never_panics() {
    if !gcc_available() {
        common::outside_tool_missing("gcc not found in PATH");
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debuginfo_gcc_corrupt");
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("clean");
    compile(&exe, &["-g", "-gdwarf-4"], true).expect("gcc");
    let clean = std::fs::read(&exe).unwrap();
    let obj = object::File::parse(&*clean).unwrap();
    use object::{Object, ObjectSection};
    let ranges: Vec<(u64, u64)> = [".debug_info", ".debug_abbrev", ".debug_str"]
        .iter()
        .filter_map(|n| obj.section_by_name(n)?.file_range())
        .collect();
    assert_eq!(ranges.len(), 3);
    let bad = dir.join("corrupt");
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut errors = 0;
    for round in 0..400 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let (start, len) = ranges[round % 3];
        let mut bytes = clean.clone();
        // 1-4 corrupted bytes per round.
        for k in 0..=(seed % 4) {
            let at = (start + (seed >> (8 + k * 8)) % len) as usize;
            bytes[at] = (seed >> (k * 5)) as u8;
        }
        std::fs::write(&bad, &bytes).unwrap();
        let v = Vmlinux::open(&bad).unwrap();
        let t = v.types().unwrap();
        t.prefetch(&["page", "tlb_state"]);
        for name in ["task_struct", "mm_struct", "task_t", "rq", "nope"] {
            match t.struct_type(name) {
                Ok(s) => {
                    for p in ["tasks.next", "pgd", "deep_list.prev", "hot.current_task"] {
                        let _ = s.member(p);
                    }
                }
                Err(_) if name != "nope" => errors += 1,
                Err(_) => {}
            }
        }
    }
    // The corruption must actually have been noticed sometimes.
    println!("{errors} lookups of existing structs failed on corrupted DWARF");
    assert!(errors > 20, "only {errors} lookups failed");
}
