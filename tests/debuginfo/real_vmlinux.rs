//! Timing and sanity on a real Debian vmlinux (ignored by default: needs the
//! 589 MB -dbg file). Run with
//!   PGSYNC_VMLINUX=/path/to/vmlinux-6.1... cargo test --release \
//!       --test debuginfo -- --ignored --nocapture real_vmlinux::
//! Without PGSYNC_VMLINUX it looks under /work/.cache/pgsync-harness.

use std::path::{Path, PathBuf};
use std::time::Instant;

use pgsync_dump::debuginfo::Vmlinux;

fn find_real_vmlinux() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGSYNC_VMLINUX") {
        return Some(PathBuf::from(p));
    }
    let kernels = Path::new("/work/.cache/pgsync-harness/kernels");
    let mut found = Vec::new();
    for k in std::fs::read_dir(kernels).ok()?.flatten() {
        let boot = k.path().join("dbg/usr/lib/debug/boot");
        for f in std::fs::read_dir(boot).into_iter().flatten().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.starts_with("vmlinux-6.1") || name.starts_with("vmlinux-") {
                found.push(f.path());
            }
        }
    }
    found.sort();
    found.into_iter().next()
}

const SYMBOLS: &[&str] = &[
    "init_task",
    "init_mm",
    "pgd_list",
    "page_offset_base",
    "vmalloc_base",
    "vmemmap_base",
    "__per_cpu_offset",
    "nr_cpu_ids",
    "cpu_tlbstate",
    "pcpu_hot",
    "current_task",
    "arch_sync_kernel_mappings",
];

const MEMBERS: &[(&str, &[&str])] = &[
    (
        "task_struct",
        &[
            "tasks",
            "pid",
            "tgid",
            "comm",
            "mm",
            "active_mm",
            "flags",
            "signal",
        ],
    ),
    ("mm_struct", &["pgd"]),
    ("page", &["lru", "index"]),
    ("list_head", &["next", "prev"]),
    ("tlb_state", &["loaded_mm"]),
    ("signal_struct", &["thread_head"]),
];

#[test]
#[ignore = "needs a real vmlinux (PGSYNC_VMLINUX or the harness cache)"]
fn real_vmlinux_timing() {
    let Some(path) = find_real_vmlinux() else {
        println!("SKIPPED: no real vmlinux found");
        return;
    };
    println!("vmlinux: {}", path.display());
    let t0 = Instant::now();
    let v = Vmlinux::open(&path).expect("open");
    let t_open = t0.elapsed();
    let t1 = Instant::now();
    let id = v.build_id();
    let t_id = t1.elapsed();
    let t2 = Instant::now();
    let syms = v.find_symbols(SYMBOLS);
    let t_syms = t2.elapsed();
    let t3 = Instant::now();
    let types = v.types().expect("types");
    let t_types_open = t3.elapsed();
    let t4 = Instant::now();
    let names: Vec<&str> = MEMBERS.iter().map(|(n, _)| *n).collect();
    types.prefetch(&names);
    let t_prefetch = t4.elapsed();
    let t5 = Instant::now();
    let mut report = Vec::new();
    for (s, members) in MEMBERS {
        let st = types.struct_type(s).expect("struct");
        for m in *members {
            let mm = st.member(m).unwrap_or_else(|e| panic!("{s}.{m}: {e}"));
            report.push(format!("  {s}.{m} @ {} {:?}", mm.offset, mm.ty));
        }
        report.push(format!(
            "  struct {s}: size {} (DIE {:#x})",
            st.size, st.die_offset
        ));
    }
    let task = types.struct_type("task_struct").unwrap();
    for alt in ["thread_node", "thread_group"] {
        if let Ok(m) = task.member(alt) {
            report.push(format!("  task_struct.{alt} @ {}", m.offset));
        }
    }
    let page = types.struct_type("page").unwrap();
    for alt in ["pt_mm", "index", "lru.next"] {
        if let Ok(m) = page.member(alt) {
            report.push(format!("  page.{alt} @ {}", m.offset));
        }
    }
    if let Ok(hot) = types.struct_type("pcpu_hot") {
        if let Ok(m) = hot.member("current_task") {
            report.push(format!("  pcpu_hot.current_task @ {}", m.offset));
        }
    }
    let t_members = t5.elapsed();
    let t6 = Instant::now();
    let far = types.struct_type("printk_ringbuffer");
    let t_far = t6.elapsed();

    println!("build-id: {id:?}");
    for s in SYMBOLS {
        println!("  symbol {s}: {:x?}", syms.get(s));
    }
    for r in &report {
        println!("{r}");
    }
    println!(
        "printk_ringbuffer: {:?} after {} units",
        far.as_ref().map(|s| s.size),
        types.units_scanned()
    );
    println!(
        "open {:?}, build-id {:?}, {} symbols {:?}, types() {:?}, prefetch {} structs {:?}, members {:?}, printk_ringbuffer {:?}",
        t_open,
        t_id,
        SYMBOLS.len(),
        t_syms,
        t_types_open,
        names.len(),
        t_prefetch,
        t_members,
        t_far
    );
    // Another view of the same file answers from its type index.
    let t8 = Instant::now();
    let again = v.types().unwrap();
    assert_eq!(
        again.struct_type("printk_ringbuffer").map(|s| s.size),
        far.as_ref().map(|s| s.size).map_err(Clone::clone)
    );
    println!(
        "printk_ringbuffer again through a second types(): {:?}",
        t8.elapsed()
    );
    // A freshly opened file: the cost of reaching a struct deep in it.
    let fresh_file = Vmlinux::open(&path).unwrap();
    let fresh = fresh_file.types().unwrap();
    let t7 = Instant::now();
    let prb = fresh.struct_type("printk_ringbuffer").map(|s| s.size);
    println!(
        "fresh lookup of printk_ringbuffer: {prb:?} in {:?} ({} units scanned)",
        t7.elapsed(),
        fresh.units_scanned()
    );
    for s in &SYMBOLS[..9] {
        assert!(syms.get(s).is_some(), "symbol {s}");
    }
    assert!(id.is_some());
}
