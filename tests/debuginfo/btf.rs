//! The BTF reader (src/debuginfo/btf) against the DWARF reader: BTF written
//! by `write::btf` and DWARF written by `write::dwarf` from the same
//! layouts must read back as the same structs, for every layout variation
//! the fixture builder produces and every query the kernel layer makes.

use std::collections::BTreeMap;

use pgsync_dump::debuginfo::btf::Btf;
use pgsync_dump::debuginfo::{StructType, TypeError, TypeInfo, TypeSource, Vmlinux};
use pgsync_dump::write::btf::write_btf;
use pgsync_dump::write::dwarf::write_dwarf;
use pgsync_dump::write::elf::{ExecImage, write_exec};
use pgsync_dump::write::layout::Layouts;

/// Every struct the kernel layer looks up (src/kernel/offsets.rs,
/// src/kernel/printk/{prb/layout.rs,legacy.rs}, src/extract.rs) with the
/// member paths it reads, plus typedef'd structs the layouts define.
pub const QUERIES: &[(&str, &[&str])] = &[
    (
        "task_struct",
        &[
            "thread_node",
            "thread_group",
            "comm",
            "flags",
            "tasks",
            "pid",
            "tgid",
            "mm",
            "active_mm",
            "signal",
        ],
    ),
    ("signal_struct", &["thread_head"]),
    ("mm_struct", &["pgd"]),
    ("list_head", &["next", "prev"]),
    ("page", &["lru", "pt_mm", "index"]),
    ("ptdesc", &["pt_list", "pt_mm"]),
    ("tlb_state", &["loaded_mm"]),
    ("pcpu_hot", &["current_task"]),
    ("printk_ringbuffer", &["desc_ring", "text_data_ring"]),
    (
        "prb_desc_ring",
        &[
            "count_bits",
            "descs",
            "infos",
            "head_id.counter",
            "tail_id.counter",
        ],
    ),
    (
        "prb_desc",
        &[
            "state_var.counter",
            "text_blk_lpos.begin",
            "text_blk_lpos.next",
        ],
    ),
    (
        "printk_info",
        &[
            "seq",
            "ts_nsec",
            "text_len",
            "facility",
            "level",
            "caller_id",
        ],
    ),
    (
        "prb_data_ring",
        &[
            "size_bits",
            "data",
            "head_lpos.counter",
            "tail_lpos.counter",
        ],
    ),
    (
        "printk_log",
        &[
            "ts_nsec",
            "len",
            "text_len",
            "dict_len",
            "facility",
            "level",
            "caller_id",
        ],
    ),
    ("pgd_t", &["pgd"]),
    ("atomic_t", &["counter"]),
    ("no_such_struct", &[]),
];

/// The queried paths of `name` where the two readers' answers differ
/// (`Result`s compared whole, NotFound by name only), as messages.
pub fn query_differences(
    dwarf: &TypeInfo<'_>,
    btf: &Btf,
    name: &str,
    paths: &[&str],
) -> Vec<String> {
    let (d, b) = (dwarf.struct_type(name), btf.struct_type(name));
    match (&d, &b) {
        (Ok(d), Ok(b)) => {
            let mut out = Vec::new();
            if (d.size, d.is_union) != (b.size, b.is_union) {
                out.push(format!(
                    "{name}: size/union DWARF {:?} BTF {:?}",
                    (d.size, d.is_union),
                    (b.size, b.is_union)
                ));
            }
            for p in paths {
                let (dm, bm) = (d.member(p), b.member(p));
                if dm != bm {
                    out.push(format!("{name}.{p}: DWARF {dm:?} BTF {bm:?}"));
                }
            }
            out
        }
        (
            Err(TypeError::NotFound {
                name: dn,
                format: TypeSource::Dwarf,
                ..
            }),
            Err(TypeError::NotFound {
                name: bn,
                format: TypeSource::Btf,
                ..
            }),
        ) if dn == bn => Vec::new(),
        _ => vec![format!("{name}: DWARF {d:?} BTF {b:?}")],
    }
}

/// Every member path either reader lists whose answers differ.
pub fn full_differences(d: &StructType, b: &StructType) -> Vec<String> {
    let mut paths = d.member_paths();
    paths.extend(b.member_paths());
    paths.sort();
    paths.dedup();
    paths
        .iter()
        .filter_map(|p| {
            let (dm, bm) = (d.member(p), b.member(p));
            (dm != bm).then(|| format!("{}.{p}: DWARF {dm:?} BTF {bm:?}", d.name))
        })
        .collect()
}

/// A vmlinux holding only the DWARF of `l` (no symbols, no image).
fn dwarf_vmlinux(l: &Layouts, version: u16) -> Vmlinux {
    let debug = write_dwarf(l, version).expect("write DWARF");
    let sections = BTreeMap::new();
    let image = ExecImage {
        build_id: &[0x42; 20],
        syms: &[],
        sections: &sections,
        compress_debug: false,
    };
    let elf = write_exec(&image, &debug).expect("write vmlinux");
    Vmlinux::from_bytes("synthetic.vmlinux", elf).expect("read vmlinux")
}

/// Layouts of every committed scenario and of random plans (their layout
/// seeds vary member order, holes, anonymous wrappers, pgd ownership,
/// thread lists and the log format).
fn all_layouts() -> Vec<(String, Layouts)> {
    let mut plans = pgsync_synth::scenarios();
    plans.extend((0..48).map(pgsync_synth::random_plan));
    plans
        .iter()
        .map(|p| {
            let l = pgsync_synth::layouts::generate(p).expect("layouts");
            (format!("{} (layout seed {:#x})", p.name, p.layout_seed), l)
        })
        .collect()
}

#[test]
fn btf_reads_back_what_dwarf_reads_back_for_every_layout_variation() {
    let mut compared = 0usize;
    let mut paths_compared = 0usize;
    for (what, l) in all_layouts() {
        let btf = Btf::parse(write_btf(&l).expect("write BTF"), "synthetic BTF").expect("parse");
        for version in [4, 5] {
            let v = dwarf_vmlinux(&l, version);
            let dwarf = v.types().expect("DWARF");
            for (name, paths) in QUERIES {
                let diff = query_differences(&dwarf, &btf, name, paths);
                assert!(diff.is_empty(), "{what} DWARF {version}: {diff:#?}");
                if let (Ok(d), Ok(b)) = (dwarf.struct_type(name), btf.struct_type(name)) {
                    assert!(
                        d.same_layout(&b),
                        "{what} DWARF {version}: {name}: {:#?}",
                        full_differences(&d, &b)
                    );
                    assert_eq!(d.member_paths(), b.member_paths(), "{what}: {name}");
                    paths_compared += d.member_paths().len();
                    compared += 1;
                }
            }
            // Every struct the layouts define, not just the queried ones.
            for s in l.structs.iter().filter_map(|s| s.name) {
                let d = dwarf.struct_type(s).expect("defined in DWARF");
                let b = btf.struct_type(s).expect("defined in BTF");
                assert!(
                    d.same_layout(&b),
                    "{what}: {s}: {:#?}",
                    full_differences(&d, &b)
                );
                // die_offset holds the BTF type id.
                assert!(b.die_offset > 0 && (b.die_offset as usize) < btf.type_count());
            }
        }
    }
    // 14 scenarios + 48 random plans, two DWARF versions, and at least the
    // always-present structs (task_struct, signal_struct, mm_struct,
    // list_head, page, tlb_state, pgd_t, atomic_t) each time.
    assert!(compared >= 62 * 2 * 8, "{compared} structs compared");
    assert!(
        paths_compared > compared * 5,
        "{paths_compared} paths compared"
    );
}

/// A missing struct names the BTF's origin; malformed member paths give the
/// same errors from both readers.
#[test]
fn btf_errors_match_the_dwarf_ones() {
    let plan = &pgsync_synth::scenarios()[0];
    let l = pgsync_synth::layouts::generate(plan).expect("layouts");
    let btf = Btf::parse(
        write_btf(&l).expect("BTF"),
        "vmcore BTF at 0xffffffff82a00000",
    )
    .expect("parse");
    assert_eq!(
        btf.struct_type("no_such_struct").unwrap_err().to_string(),
        "struct no_such_struct not found in BTF of vmcore BTF at 0xffffffff82a00000"
    );
    let v = dwarf_vmlinux(&l, 5);
    let dwarf = v.types().expect("DWARF");
    assert_eq!(
        dwarf.struct_type("no_such_struct").unwrap_err().to_string(),
        "struct no_such_struct not found in DWARF of synthetic.vmlinux"
    );
    let (d, b) = (
        dwarf.struct_type("task_struct").expect("DWARF task_struct"),
        btf.struct_type("task_struct").expect("BTF task_struct"),
    );
    for p in [
        "pid.x",
        "comm.x",
        "mm.pgd",
        "nope",
        "a..b",
        "",
        "tasks.next.x",
    ] {
        let (dm, bm) = (d.member(p), b.member(p));
        assert!(bm.is_err(), "{p}: {bm:?}");
        assert_eq!(dm, bm, "{p}");
    }
    assert_eq!(
        b.member("pid.x").unwrap_err().to_string(),
        "struct task_struct: member pid is a base type, not a struct or union: cannot resolve pid.x through it"
    );
}

/// Same layouts, same bytes; and the blob's header and sizes are what a
/// BTF reader expects.
#[test]
fn write_btf_is_deterministic() {
    let plan = &pgsync_synth::scenarios()[1];
    let l = pgsync_synth::layouts::generate(plan).expect("layouts");
    let a = write_btf(&l).expect("BTF");
    let b = write_btf(&pgsync_synth::layouts::generate(plan).expect("layouts")).expect("BTF");
    assert_eq!(a, b);
    assert_eq!(&a[..4], &[0x9f, 0xeb, 1, 0]);
    let type_len = u32::from_le_bytes([a[12], a[13], a[14], a[15]]) as usize;
    let str_len = u32::from_le_bytes([a[20], a[21], a[22], a[23]]) as usize;
    assert_eq!(a.len(), 24 + type_len + str_len);
    assert_eq!(a[24 + type_len], 0, "the string section starts with \"\"");
    assert_eq!(a.last(), Some(&0), "and ends with a NUL");
}
