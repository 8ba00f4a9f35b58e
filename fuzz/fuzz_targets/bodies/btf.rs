//! The BTF reader on mutated blobs: the header and section bounds, the one
//! pass over the type section (every kind's trailing data, vlen, unknown
//! kinds), name lookups through typedefs and forward declarations,
//! typedef/qualifier chains and cycles, arrays, bit-fields (both
//! encodings), nested and anonymous members, dotted member paths.
//! Seeds: write::btf of the fixture builder's layouts (fuzz/corpus/btf:
//! the 14 scenarios and 10 random plans).

use pgsync_dump::debuginfo::btf::Btf;

const STRUCTS: &[&str] = &[
    "task_struct",
    "mm_struct",
    "list_head",
    "page",
    "ptdesc",
    "signal_struct",
    "tlb_state",
    "pcpu_hot",
    "printk_info",
    "prb_desc_ring",
    "printk_log",
    "pgd_t",
    "atomic_t",
    "no_such_struct",
];

const PATHS: &[&str] = &[
    "tasks.next",
    "pgd",
    "comm",
    "lru.prev",
    "thread_node",
    "level",
    "head_id.counter",
    "a..b",
    "",
];

pub fn run(data: &[u8]) {
    let Ok(btf) = Btf::parse(data.to_vec(), "fuzz.btf") else {
        return;
    };
    btf.prefetch(&STRUCTS[..4]);
    let _ = btf.type_count();
    for name in STRUCTS {
        if let Ok(s) = btf.struct_type(name) {
            let _ = s.member_names();
            for p in s.member_paths().iter().take(64) {
                let _ = s.member(p).map(|m| m.ty.size());
            }
            for p in PATHS {
                if let Ok(m) = s.member(p) {
                    let _ = m.ty.size();
                }
            }
        }
    }
}
